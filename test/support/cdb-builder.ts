/**
 * CDB and parameter-list builders for SCSI tests, written byte by byte from the CDB layouts in
 * SPC-4 and SBC-3, sharing nothing with src/scsi/. Each builder names its command.
 */
import { be16, be32, be64, zeros } from './bytes.js';

export const CONTROL = 0x00;

/** READ(6)/WRITE(6) (SBC-3): 21-bit LBA in bytes 1-3, TRANSFER LENGTH byte 4. */
export function rw6(opcode: number, lba: number, blocks: number): Buffer {
  return Buffer.from([opcode, (lba >> 16) & 0x1f, (lba >> 8) & 0xff, lba & 0xff, blocks & 0xff, CONTROL]);
}

/** 10-byte READ/WRITE/VERIFY/WRITE AND VERIFY/PRE-FETCH/SYNCHRONIZE CACHE shape (SBC-3). */
export function rw10(opcode: number, lba: number, blocks: number, byte1 = 0, group = 0): Buffer {
  return Buffer.from([opcode, byte1, ...be32(lba), group, ...be16(blocks), CONTROL]);
}

/** 12-byte shape (SBC-3): LBA bytes 2-5, TRANSFER LENGTH bytes 6-9, GROUP byte 10. */
export function rw12(opcode: number, lba: number, blocks: number, byte1 = 0, group = 0): Buffer {
  return Buffer.from([opcode, byte1, ...be32(lba), ...be32(blocks), group, CONTROL]);
}

/** 16-byte shape (SBC-3): LBA bytes 2-9, TRANSFER LENGTH bytes 10-13, GROUP byte 14. */
export function rw16(opcode: number, lba: bigint, blocks: number, byte1 = 0, group = 0): Buffer {
  return Buffer.from([opcode, byte1, ...be64(lba), ...be32(blocks), group, CONTROL]);
}

/** COMPARE AND WRITE (SBC-3): NUMBER OF LOGICAL BLOCKS in byte 13. */
export function compareAndWriteCdb(lba: bigint, blocks: number, byte1 = 0): Buffer {
  return Buffer.from([0x89, byte1, ...be64(lba), 0, 0, 0, blocks & 0xff, 0, CONTROL]);
}

/** INQUIRY (SPC-4). */
export function inquiryCdb(evpd: boolean, pageCode: number, allocationLength: number): Buffer {
  return Buffer.from([0x12, evpd ? 1 : 0, pageCode, ...be16(allocationLength), CONTROL]);
}

/** MODE SENSE(6) (SPC-4). */
export function modeSense6(options: {
  dbd?: boolean;
  pc?: number;
  page: number;
  subpage?: number;
  alloc: number;
}): Buffer {
  return Buffer.from([
    0x1a,
    options.dbd ? 0x08 : 0,
    ((options.pc ?? 0) << 6) | options.page,
    options.subpage ?? 0,
    options.alloc,
    CONTROL,
  ]);
}

/** MODE SENSE(10) (SPC-4). */
export function modeSense10(options: {
  llbaa?: boolean;
  dbd?: boolean;
  pc?: number;
  page: number;
  subpage?: number;
  alloc: number;
}): Buffer {
  return Buffer.from([
    0x5a,
    (options.llbaa ? 0x10 : 0) | (options.dbd ? 0x08 : 0),
    ((options.pc ?? 0) << 6) | options.page,
    options.subpage ?? 0,
    0,
    0,
    0,
    ...be16(options.alloc),
    CONTROL,
  ]);
}

/** MODE SELECT(6) (SPC-4): PF byte 1 bit 4, SP bit 0, PARAMETER LIST LENGTH byte 4. */
export function modeSelect6(listLength: number, pf = true, sp = false): Buffer {
  return Buffer.from([0x15, (pf ? 0x10 : 0) | (sp ? 1 : 0), 0, 0, listLength, CONTROL]);
}

/** MODE SELECT(10) (SPC-4). */
export function modeSelect10(listLength: number, pf = true): Buffer {
  return Buffer.from([0x55, pf ? 0x10 : 0, 0, 0, 0, 0, 0, ...be16(listLength), CONTROL]);
}

/** READ CAPACITY(10) (SBC-3). */
export function readCapacity10Cdb(lba = 0, pmi = false): Buffer {
  return Buffer.from([0x25, 0, ...be32(lba), 0, 0, pmi ? 1 : 0, CONTROL]);
}

/** READ CAPACITY(16) (SBC-3): SERVICE ACTION IN(16) 9Eh, SA 10h. */
export function readCapacity16Cdb(allocationLength: number): Buffer {
  return Buffer.from([0x9e, 0x10, ...zeros(8), ...be32(allocationLength), 0, CONTROL]);
}

/** GET LBA STATUS (SBC-3): SERVICE ACTION IN(16) 9Eh, SA 12h. */
export function getLbaStatusCdb(lba: bigint, allocationLength: number): Buffer {
  return Buffer.from([0x9e, 0x12, ...be64(lba), ...be32(allocationLength), 0, CONTROL]);
}

/** WRITE SAME(10) (SBC-3): byte 1 ANCHOR 10h, UNMAP 08h, PBDATA 04h, LBDATA 02h. */
export function writeSame10Cdb(lba: number, blocks: number, byte1 = 0): Buffer {
  return Buffer.from([0x41, byte1, ...be32(lba), 0, ...be16(blocks), CONTROL]);
}

/** WRITE SAME(16) (SBC-3): byte 1 as WRITE SAME(10) plus NDOB 01h. */
export function writeSame16Cdb(lba: bigint, blocks: number, byte1 = 0): Buffer {
  return Buffer.from([0x93, byte1, ...be64(lba), ...be32(blocks), 0, CONTROL]);
}

/** UNMAP (SBC-3): PARAMETER LIST LENGTH bytes 7-8. */
export function unmapCdb(listLength: number, anchor = false): Buffer {
  return Buffer.from([0x42, anchor ? 1 : 0, 0, 0, 0, 0, 0, ...be16(listLength), CONTROL]);
}

/** UNMAP parameter list (SBC-3). */
export function unmapList(extents: ReadonlyArray<{ lba: bigint; blocks: number }>): Buffer {
  const descriptors = extents.flatMap((extent) => [...be64(extent.lba), ...be32(extent.blocks), 0, 0, 0, 0]);
  return Buffer.from([
    ...be16(6 + descriptors.length),
    ...be16(descriptors.length),
    0,
    0,
    0,
    0,
    ...descriptors,
  ]);
}

/** REPORT SUPPORTED OPERATION CODES (SPC-4): MAINTENANCE IN A3h, SA 0Ch. */
export function reportSupportedOpcodesCdb(options: {
  rctd?: boolean;
  reportingOptions: number;
  opcode?: number;
  serviceAction?: number;
  alloc: number;
}): Buffer {
  return Buffer.from([
    0xa3,
    0x0c,
    (options.rctd ? 0x80 : 0) | options.reportingOptions,
    options.opcode ?? 0,
    ...be16(options.serviceAction ?? 0),
    ...be32(options.alloc),
    0,
    CONTROL,
  ]);
}

/** REPORT TARGET PORT GROUPS (SPC-4): MAINTENANCE IN A3h, SA 0Ah, format in bits 7:5. */
export function reportTargetPortGroupsCdb(format: number, allocationLength: number): Buffer {
  return Buffer.from([0xa3, (format << 5) | 0x0a, 0, 0, 0, 0, ...be32(allocationLength), 0, CONTROL]);
}

/** REPORT LUNS (SPC-4). */
export function reportLunsCdb(selectReport: number, allocationLength: number): Buffer {
  return Buffer.from([0xa0, 0, selectReport, 0, 0, 0, ...be32(allocationLength), 0, CONTROL]);
}

/** REQUEST SENSE (SPC-4): DESC byte 1 bit 0. */
export function requestSenseCdb(descriptor: boolean, allocationLength: number): Buffer {
  return Buffer.from([0x03, descriptor ? 1 : 0, 0, 0, allocationLength, CONTROL]);
}

/** START STOP UNIT (SBC-3): byte 4 POWER CONDITION 7:4, NO_FLUSH 2, LOEJ 1, START 0. */
export function startStopUnitCdb(options: {
  immed?: boolean;
  powerCondition?: number;
  loej?: boolean;
  start?: boolean;
}): Buffer {
  return Buffer.from([
    0x1b,
    options.immed ? 1 : 0,
    0,
    0,
    ((options.powerCondition ?? 0) << 4) | (options.loej ? 0x02 : 0) | (options.start ? 0x01 : 0),
    CONTROL,
  ]);
}

/** PREVENT ALLOW MEDIUM REMOVAL (SBC-3): PREVENT byte 4 bits 1:0. */
export function preventAllowCdb(prevent: number): Buffer {
  return Buffer.from([0x1e, 0, 0, 0, prevent, CONTROL]);
}

/** SEND DIAGNOSTIC (SPC-4). */
export function sendDiagnosticCdb(byte1: number, listLength = 0): Buffer {
  return Buffer.from([0x1d, byte1, 0, ...be16(listLength), CONTROL]);
}

/** TEST UNIT READY (SPC-4). */
export function testUnitReadyCdb(): Buffer {
  return Buffer.from([0x00, 0, 0, 0, 0, CONTROL]);
}
