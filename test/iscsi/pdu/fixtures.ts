/**
 * Byte-exact PDUs built independently of the codec: each BHS is laid out field by field from the
 * RFC 7143 §11 tables with the naive builder in test/support/bytes.ts, next to the typed PDU it
 * must decode to. Field values are all different, so a field written at the wrong offset shows.
 * A bit-at-a-time CRC32C (no tables) gives digests that share no code with digest.ts.
 */
import { EMPTY_DATA, type Pdu } from '../../../src/iscsi/pdu/messages.js';
import { be16, be32, be64, bytes, layout, zeros } from '../../support/bytes.js';

export const LUN = 0x0102_0304_0506_0708n;
export const ISID = '80123456789a';
export const ISID_BYTES = [0x80, 0x12, 0x34, 0x56, 0x78, 0x9a];

/** CRC32C one bit at a time: the slowest, most obviously correct form (reflected, poly 0x82F63B78). */
export function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffff_ffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f6_3b78 : crc >>> 1;
  }
  return (crc ^ 0xffff_ffff) >>> 0;
}

/** The digest as the RFC 3720 B.4 examples print it: least significant byte first. */
export function digestBytes(data: Uint8Array): number[] {
  const crc = crc32cBitwise(data);
  return [crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24];
}

/** Wire bytes of a PDU from its pieces, padding and digests computed here. */
export function wire(
  bhs: Buffer,
  ahs: Buffer,
  data: Buffer,
  digests: { headerDigest: boolean; dataDigest: boolean },
): Buffer {
  const header = bytes(bhs, ahs);
  const parts: (number[] | Uint8Array)[] = [header];
  if (digests.headerDigest) parts.push(digestBytes(header));
  if (data.length > 0) {
    const paddedData = bytes(data, zeros((4 - (data.length % 4)) % 4));
    parts.push(paddedData);
    if (digests.dataDigest) parts.push(digestBytes(paddedData));
  }
  return bytes(...parts);
}

export interface Sample {
  readonly name: string;
  readonly pdu: Pdu;
  /** The 48-byte BHS. */
  readonly bhs: Buffer;
  /** The AHS area. */
  readonly ahs: Buffer;
}

const TEXT = Buffer.from('InitiatorName=iqn.2024-01.org.example:host\0SessionType=Normal\0');
const PING = Buffer.from('ping!'); // 5 bytes: needs 3 bytes of padding
const SENSE_SEGMENT = Buffer.from([
  0x00, 0x12, 0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0,
]);
const CDB_READ10 = Buffer.from([0x28, 0, 0, 0, 0x10, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0]);

export const SAMPLES: readonly Sample[] = [
  {
    name: 'SCSI Command (§11.3)',
    pdu: {
      kind: 'scsi-command',
      immediate: true,
      final: true,
      read: true,
      write: false,
      attr: 1,
      lun: LUN,
      initiatorTaskTag: 0x1122_3344,
      expectedDataTransferLength: 4096,
      cmdSN: 0x0a0b_0c0d,
      expStatSN: 0x0e0f_1011,
      cdb: CDB_READ10,
      ahs: [],
      data: EMPTY_DATA,
    },
    bhs: layout(48, [
      [0, [0x41, 0xc1]],
      [8, be64(LUN)],
      [16, be32(0x1122_3344)],
      [20, be32(4096)],
      [24, be32(0x0a0b_0c0d)],
      [28, be32(0x0e0f_1011)],
      [32, CDB_READ10],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'SCSI Command with write data and a 32-byte CDB + bidirectional read length (§11.2.2.3-4)',
    pdu: {
      kind: 'scsi-command',
      immediate: false,
      final: false,
      read: true,
      write: true,
      attr: 2,
      lun: LUN,
      initiatorTaskTag: 7,
      expectedDataTransferLength: 512,
      cmdSN: 8,
      expStatSN: 9,
      cdb: Buffer.from(Array.from({ length: 32 }, (_, i) => 0x7f - i)),
      bidirectionalReadExpectedDataTransferLength: 0x0001_0000,
      ahs: [],
      data: PING,
    },
    bhs: layout(48, [
      [0, [0x01, 0x62]],
      [4, [7, 0, 0, PING.length]], // TotalAHSLength = (20 + 8) / 4
      [8, be64(LUN)],
      [16, be32(7)],
      [20, be32(512)],
      [24, be32(8)],
      [28, be32(9)],
      [32, Array.from({ length: 16 }, (_, i) => 0x7f - i)],
    ]),
    ahs: bytes(
      // Extended CDB: AHSLength = 32 - 15 = 17, type 1, reserved, 16 CDB bytes; 20 bytes, no padding.
      be16(17),
      [1, 0],
      Array.from({ length: 16 }, (_, i) => 0x7f - 16 - i),
      // Bidirectional read length: AHSLength 5, type 2, reserved, 4-byte length.
      be16(5),
      [2, 0],
      be32(0x0001_0000),
    ),
  },
  {
    name: 'SCSI Response with sense data (§11.4)',
    pdu: {
      kind: 'scsi-response',
      bidirectionalReadResidualOverflow: true,
      bidirectionalReadResidualUnderflow: false,
      residualOverflow: false,
      residualUnderflow: true,
      response: 0x00,
      status: 0x02,
      initiatorTaskTag: 0x1122_3344,
      snackTag: 0x5566_7788,
      statSN: 0x0101_0101,
      expCmdSN: 0x0202_0202,
      maxCmdSN: 0x0303_0303,
      expDataSN: 0x0404_0404,
      bidirectionalReadResidualCount: 0x0505_0505,
      residualCount: 0x0606_0606,
      ahs: [],
      data: SENSE_SEGMENT,
    },
    bhs: layout(48, [
      [0, [0x21, 0x92, 0x00, 0x02]],
      [4, [0, 0, 0, SENSE_SEGMENT.length]],
      [16, be32(0x1122_3344)],
      [20, be32(0x5566_7788)],
      [24, be32(0x0101_0101)],
      [28, be32(0x0202_0202)],
      [32, be32(0x0303_0303)],
      [36, be32(0x0404_0404)],
      [40, be32(0x0505_0505)],
      [44, be32(0x0606_0606)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'SCSI Data-Out (§11.7)',
    pdu: {
      kind: 'data-out',
      final: true,
      lun: LUN,
      initiatorTaskTag: 0x0000_0031,
      targetTransferTag: 0x0000_0032,
      expStatSN: 0x0000_0033,
      dataSN: 0x0000_0034,
      bufferOffset: 0x0000_0035,
      ahs: [],
      data: PING,
    },
    bhs: layout(48, [
      [0, [0x05, 0x80]],
      [4, [0, 0, 0, PING.length]],
      [8, be64(LUN)],
      [16, be32(0x31)],
      [20, be32(0x32)],
      [28, be32(0x33)],
      [36, be32(0x34)],
      [40, be32(0x35)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'SCSI Data-In with status (§11.7)',
    pdu: {
      kind: 'data-in',
      final: true,
      acknowledge: true,
      residualOverflow: true,
      residualUnderflow: false,
      statusPresent: true,
      status: 0x00,
      lun: LUN,
      initiatorTaskTag: 0x41,
      targetTransferTag: 0xffff_ffff,
      statSN: 0x42,
      expCmdSN: 0x43,
      maxCmdSN: 0x44,
      dataSN: 0x45,
      bufferOffset: 0x46,
      residualCount: 0x47,
      ahs: [],
      data: Buffer.alloc(512, 0xa5),
    },
    bhs: layout(48, [
      [0, [0x25, 0xc5, 0x00, 0x00]],
      [4, [0, 0, 0x02, 0x00]],
      [8, be64(LUN)],
      [16, be32(0x41)],
      [20, be32(0xffff_ffff)],
      [24, be32(0x42)],
      [28, be32(0x43)],
      [32, be32(0x44)],
      [36, be32(0x45)],
      [40, be32(0x46)],
      [44, be32(0x47)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'R2T (§11.8)',
    pdu: {
      kind: 'r2t',
      lun: LUN,
      initiatorTaskTag: 0x51,
      targetTransferTag: 0x52,
      statSN: 0x53,
      expCmdSN: 0x54,
      maxCmdSN: 0x55,
      r2tSN: 0x56,
      bufferOffset: 0x57,
      desiredDataTransferLength: 0x58,
      ahs: [],
      data: EMPTY_DATA,
    },
    bhs: layout(48, [
      [0, [0x31, 0x80]],
      [8, be64(LUN)],
      [16, be32(0x51)],
      [20, be32(0x52)],
      [24, be32(0x53)],
      [28, be32(0x54)],
      [32, be32(0x55)],
      [36, be32(0x56)],
      [40, be32(0x57)],
      [44, be32(0x58)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'Login Request (§11.12)',
    pdu: {
      kind: 'login-request',
      transit: true,
      continue: false,
      csg: 1,
      nsg: 3,
      versionMax: 0,
      versionMin: 0,
      isid: ISID,
      tsih: 0x6162,
      initiatorTaskTag: 0x63,
      cid: 0x6465,
      cmdSN: 0x66,
      expStatSN: 0x67,
      ahs: [],
      data: TEXT,
    },
    bhs: layout(48, [
      [0, [0x43, 0x87, 0x00, 0x00]],
      [4, [0, 0, 0, TEXT.length]],
      [8, ISID_BYTES],
      [14, be16(0x6162)],
      [16, be32(0x63)],
      [20, be16(0x6465)],
      [24, be32(0x66)],
      [28, be32(0x67)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'Login Response (§11.13)',
    pdu: {
      kind: 'login-response',
      transit: false,
      continue: true,
      csg: 0,
      nsg: 1,
      versionMax: 0,
      versionActive: 0,
      isid: ISID,
      tsih: 0x7172,
      initiatorTaskTag: 0x73,
      statSN: 0x74,
      expCmdSN: 0x75,
      maxCmdSN: 0x76,
      statusClass: 0x02,
      statusDetail: 0x01,
      ahs: [],
      data: TEXT,
    },
    bhs: layout(48, [
      [0, [0x23, 0x41, 0x00, 0x00]],
      [4, [0, 0, 0, TEXT.length]],
      [8, ISID_BYTES],
      [14, be16(0x7172)],
      [16, be32(0x73)],
      [24, be32(0x74)],
      [28, be32(0x75)],
      [32, be32(0x76)],
      [36, [0x02, 0x01]],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'Text Request (§11.10)',
    pdu: {
      kind: 'text-request',
      immediate: true,
      final: false,
      continue: true,
      lun: LUN,
      initiatorTaskTag: 0x81,
      targetTransferTag: 0xffff_ffff,
      cmdSN: 0x82,
      expStatSN: 0x83,
      ahs: [],
      data: TEXT,
    },
    bhs: layout(48, [
      [0, [0x44, 0x40]],
      [4, [0, 0, 0, TEXT.length]],
      [8, be64(LUN)],
      [16, be32(0x81)],
      [20, be32(0xffff_ffff)],
      [24, be32(0x82)],
      [28, be32(0x83)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'Text Response (§11.11)',
    pdu: {
      kind: 'text-response',
      final: true,
      continue: false,
      lun: LUN,
      initiatorTaskTag: 0x91,
      targetTransferTag: 0x92,
      statSN: 0x93,
      expCmdSN: 0x94,
      maxCmdSN: 0x95,
      ahs: [],
      data: TEXT,
    },
    bhs: layout(48, [
      [0, [0x24, 0x80]],
      [4, [0, 0, 0, TEXT.length]],
      [8, be64(LUN)],
      [16, be32(0x91)],
      [20, be32(0x92)],
      [24, be32(0x93)],
      [28, be32(0x94)],
      [32, be32(0x95)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'NOP-Out with ping data (§11.18)',
    pdu: {
      kind: 'nop-out',
      immediate: true,
      lun: LUN,
      initiatorTaskTag: 0xa1,
      targetTransferTag: 0xffff_ffff,
      cmdSN: 0xa2,
      expStatSN: 0xa3,
      ahs: [],
      data: PING,
    },
    bhs: layout(48, [
      [0, [0x40, 0x80]],
      [4, [0, 0, 0, PING.length]],
      [8, be64(LUN)],
      [16, be32(0xa1)],
      [20, be32(0xffff_ffff)],
      [24, be32(0xa2)],
      [28, be32(0xa3)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'NOP-In (§11.19)',
    pdu: {
      kind: 'nop-in',
      lun: LUN,
      initiatorTaskTag: 0xffff_ffff,
      targetTransferTag: 0xb2,
      statSN: 0xb3,
      expCmdSN: 0xb4,
      maxCmdSN: 0xb5,
      ahs: [],
      data: EMPTY_DATA,
    },
    bhs: layout(48, [
      [0, [0x20, 0x80]],
      [8, be64(LUN)],
      [16, be32(0xffff_ffff)],
      [20, be32(0xb2)],
      [24, be32(0xb3)],
      [28, be32(0xb4)],
      [32, be32(0xb5)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'Task Management Function Request (§11.5)',
    pdu: {
      kind: 'tmf-request',
      immediate: true,
      function: 1,
      lun: LUN,
      initiatorTaskTag: 0xc1,
      referencedTaskTag: 0xc2,
      cmdSN: 0xc3,
      expStatSN: 0xc4,
      refCmdSN: 0xc5,
      expDataSN: 0xc6,
      ahs: [],
      data: EMPTY_DATA,
    },
    bhs: layout(48, [
      [0, [0x42, 0x81]],
      [8, be64(LUN)],
      [16, be32(0xc1)],
      [20, be32(0xc2)],
      [24, be32(0xc3)],
      [28, be32(0xc4)],
      [32, be32(0xc5)],
      [36, be32(0xc6)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'Task Management Function Response (§11.6)',
    pdu: {
      kind: 'tmf-response',
      response: 5,
      initiatorTaskTag: 0xd1,
      statSN: 0xd2,
      expCmdSN: 0xd3,
      maxCmdSN: 0xd4,
      ahs: [],
      data: EMPTY_DATA,
    },
    bhs: layout(48, [
      [0, [0x22, 0x80, 0x05]],
      [16, be32(0xd1)],
      [24, be32(0xd2)],
      [28, be32(0xd3)],
      [32, be32(0xd4)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'Logout Request (§11.14)',
    pdu: {
      kind: 'logout-request',
      immediate: true,
      reasonCode: 1,
      initiatorTaskTag: 0xe1,
      cid: 0xe2e3,
      cmdSN: 0xe4,
      expStatSN: 0xe5,
      ahs: [],
      data: EMPTY_DATA,
    },
    bhs: layout(48, [
      [0, [0x46, 0x81]],
      [16, be32(0xe1)],
      [20, be16(0xe2e3)],
      [24, be32(0xe4)],
      [28, be32(0xe5)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'Logout Response (§11.15)',
    pdu: {
      kind: 'logout-response',
      response: 2,
      initiatorTaskTag: 0xf1,
      statSN: 0xf2,
      expCmdSN: 0xf3,
      maxCmdSN: 0xf4,
      time2Wait: 0x0102,
      time2Retain: 0x0304,
      ahs: [],
      data: EMPTY_DATA,
    },
    bhs: layout(48, [
      [0, [0x26, 0x80, 0x02]],
      [16, be32(0xf1)],
      [24, be32(0xf2)],
      [28, be32(0xf3)],
      [32, be32(0xf4)],
      [40, be16(0x0102)],
      [42, be16(0x0304)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'Reject (§11.17)',
    pdu: {
      kind: 'reject',
      reason: 0x09,
      statSN: 0x0111,
      expCmdSN: 0x0112,
      maxCmdSN: 0x0113,
      dataSN: 0x0114,
      ahs: [],
      data: layout(48, [[0, [0x07, 0x80]]]),
    },
    bhs: layout(48, [
      [0, [0x3f, 0x80, 0x09]],
      [4, [0, 0, 0, 48]],
      [16, be32(0xffff_ffff)],
      [24, be32(0x0111)],
      [28, be32(0x0112)],
      [32, be32(0x0113)],
      [36, be32(0x0114)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'Asynchronous Message (§11.9)',
    pdu: {
      kind: 'async-message',
      lun: LUN,
      statSN: 0x0121,
      expCmdSN: 0x0122,
      maxCmdSN: 0x0123,
      asyncEvent: 1,
      asyncVCode: 0x7e,
      parameter1: 0x0124,
      parameter2: 0x0125,
      parameter3: 0x0126,
      ahs: [],
      data: EMPTY_DATA,
    },
    bhs: layout(48, [
      [0, [0x32, 0x80]],
      [8, be64(LUN)],
      [16, be32(0xffff_ffff)],
      [24, be32(0x0121)],
      [28, be32(0x0122)],
      [32, be32(0x0123)],
      [36, [0x01, 0x7e]],
      [38, be16(0x0124)],
      [40, be16(0x0125)],
      [42, be16(0x0126)],
    ]),
    ahs: EMPTY_DATA,
  },
  {
    name: 'SNACK Request (§11.16)',
    pdu: {
      kind: 'snack',
      type: 3,
      lun: LUN,
      initiatorTaskTag: 0x0131,
      targetTransferTag: 0x0132,
      expStatSN: 0x0133,
      begRun: 0x0134,
      runLength: 0x0135,
      ahs: [],
      data: EMPTY_DATA,
    },
    bhs: layout(48, [
      [0, [0x10, 0x83]],
      [8, be64(LUN)],
      [16, be32(0x0131)],
      [20, be32(0x0132)],
      [28, be32(0x0133)],
      [40, be32(0x0134)],
      [44, be32(0x0135)],
    ]),
    ahs: EMPTY_DATA,
  },
];

/**
 * RFC 3720 Appendix B.4 (RFC 7143 Appendix A.4): "An iSCSI - SCSI Read (10) Command PDU", and
 * its CRC as printed there, in transmission order.
 */
export const RFC_READ10_BHS = Buffer.from([
  0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
]);
export const RFC_READ10_DIGEST_WIRE = Buffer.from([0x56, 0x3a, 0x96, 0xd9]);
