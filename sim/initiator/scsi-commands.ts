/**
 * The SCSI side of the simulated initiator: CDBs for the commands it issues (SBC-3, SPC-4), the
 * SAM-5 LUN encoding of the iSCSI LUN field, and readers for the answers it looks at (sense data,
 * READ CAPACITY (16), REPORT LUNS).
 *
 * Written from the standards, sharing no code with Collie's target, so tests built on it check
 * the target rather than agree with it.
 */

/** Operation codes used here (SPC-4 / SBC-3). */
export const ScsiOpcode = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  INQUIRY: 0x12,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  SYNCHRONIZE_CACHE_10: 0x35,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  SYNCHRONIZE_CACHE_16: 0x91,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
} as const;

/** SERVICE ACTION IN (16) service action of READ CAPACITY (16). */
const READ_CAPACITY_16_SERVICE_ACTION = 0x10;
/** FUA bit in byte 1 of READ/WRITE (10/16). */
const FUA_BIT = 0x08;
/** IMMED bit in byte 1 of SYNCHRONIZE CACHE. */
const IMMED_BIT = 0x02;

/** SAM-5 status codes an initiator looks at. */
export const ScsiStatusCode = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  TASK_ABORTED: 0x40,
} as const;

/** The LUN field lives with the codec; re-exported for the initiator's callers. */
export { LUN_NUMBER_MAX, lunToWire } from '../../src/iscsi/pdu/lun.js';

export function testUnitReadyCdb(): Buffer {
  return Buffer.alloc(6);
}

export function inquiryCdb(options: { allocationLengthBytes: number; pageCode?: number }): Buffer {
  const cdb = Buffer.alloc(6);
  cdb[0] = ScsiOpcode.INQUIRY;
  if (options.pageCode !== undefined) {
    cdb[1] = 0x01; // EVPD
    cdb[2] = options.pageCode;
  }
  cdb.writeUInt16BE(options.allocationLengthBytes, 3);
  return cdb;
}

export function read16Cdb(lba: number, blocks: number, options: { fua?: boolean } = {}): Buffer {
  return readWrite16(ScsiOpcode.READ_16, lba, blocks, options.fua ?? false);
}

export function write16Cdb(lba: number, blocks: number, options: { fua?: boolean } = {}): Buffer {
  return readWrite16(ScsiOpcode.WRITE_16, lba, blocks, options.fua ?? false);
}

/** READ (10) / WRITE (10): for tests that need the 10-byte forms. */
export function readWrite10Cdb(opcode: 0x28 | 0x2a, lba: number, blocks: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = opcode;
  cdb.writeUInt32BE(lba, 2);
  cdb.writeUInt16BE(blocks, 7);
  return cdb;
}

function readWrite16(opcode: number, lba: number, blocks: number, fua: boolean): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = opcode;
  cdb[1] = fua ? FUA_BIT : 0;
  cdb.writeBigUInt64BE(BigInt(lba), 2);
  cdb.writeUInt32BE(blocks, 10);
  return cdb;
}

export function readCapacity16Cdb(allocationLengthBytes = 32): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = ScsiOpcode.SERVICE_ACTION_IN_16;
  cdb[1] = READ_CAPACITY_16_SERVICE_ACTION;
  cdb.writeUInt32BE(allocationLengthBytes, 10);
  return cdb;
}

/** SYNCHRONIZE CACHE (16); 0 blocks means "to the end of the medium". */
export function synchronizeCache16Cdb(
  options: { lba?: number; blocks?: number; immed?: boolean } = {},
): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = ScsiOpcode.SYNCHRONIZE_CACHE_16;
  cdb[1] = options.immed ? IMMED_BIT : 0;
  cdb.writeBigUInt64BE(BigInt(options.lba ?? 0), 2);
  cdb.writeUInt32BE(options.blocks ?? 0, 10);
  return cdb;
}

export function reportLunsCdb(allocationLengthBytes = 4096): Buffer {
  const cdb = Buffer.alloc(12);
  cdb[0] = ScsiOpcode.REPORT_LUNS;
  cdb.writeUInt32BE(allocationLengthBytes, 6);
  return cdb;
}

/** The parts of sense data an initiator acts on. */
export interface SenseSummary {
  readonly format: 'fixed' | 'descriptor';
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
}

/** Reads fixed (70h/71h) or descriptor (72h/73h) sense data; undefined for anything else. */
export function parseSense(sense: Buffer | undefined): SenseSummary | undefined {
  if (sense === undefined || sense.length === 0) return undefined;
  const responseCode = sense[0]! & 0x7f;
  if ((responseCode === 0x70 || responseCode === 0x71) && sense.length >= 14) {
    return { format: 'fixed', key: sense[2]! & 0x0f, asc: sense[12]!, ascq: sense[13]! };
  }
  if ((responseCode === 0x72 || responseCode === 0x73) && sense.length >= 4) {
    return { format: 'descriptor', key: sense[1]! & 0x0f, asc: sense[2]!, ascq: sense[3]! };
  }
  return undefined;
}

export interface Capacity {
  /** Blocks on the medium (RETURNED LOGICAL BLOCK ADDRESS + 1). */
  readonly blockCount: number;
  readonly blockSizeBytes: number;
}

/** READ CAPACITY (16) parameter data (SBC-3 §5.16.2); undefined when too short. */
export function parseReadCapacity16(data: Buffer): Capacity | undefined {
  if (data.length < 12) return undefined;
  return { blockCount: Number(data.readBigUInt64BE(0)) + 1, blockSizeBytes: data.readUInt32BE(8) };
}

/** REPORT LUNS parameter data (SPC-4 §6.33): the LUN numbers of peripheral and flat addressing. */
export function parseReportLuns(data: Buffer): number[] {
  if (data.length < 8) return [];
  const listBytes = Math.min(data.readUInt32BE(0), data.length - 8);
  const luns: number[] = [];
  for (let at = 8; at + 8 <= 8 + listBytes; at += 8) {
    const first = data.readUInt16BE(at);
    const method = first >> 14;
    if (method === 0) luns.push(first & 0xff);
    else if (method === 1) luns.push(first & 0x3fff);
  }
  return luns;
}
