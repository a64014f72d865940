/**
 * The Basic Header Segment fields every PDU shares, PDU length arithmetic, and the checked
 * big-endian field writers the encoder uses (RFC 7143 §11.2).
 *
 * Layout of the fields common to all opcodes (§11.2.1):
 *   byte 0      bit 7 reserved, bit 6 I (immediate), bits 5-0 opcode
 *   byte 1      bit 7 F (final) for most opcodes, the rest opcode-specific
 *   bytes 2-3   opcode-specific
 *   byte 4      TotalAHSLength, in 4-byte words
 *   bytes 5-7   DataSegmentLength, in bytes, without padding (24-bit big-endian)
 *   bytes 8-15  LUN or opcode-specific
 *   bytes 16-19 Initiator Task Tag (or opcode-specific)
 *   bytes 20-47 opcode-specific
 *
 * A PDU on the wire (§11.1, §11.2.3): BHS, AHS (TotalAHSLength × 4 bytes), header digest if
 * negotiated, then, only if DataSegmentLength > 0, the data segment padded with zeros to a
 * multiple of 4 and the data digest if negotiated. Digests cover the padding.
 */
import { AssertionError, assert } from '../../core/assert.js';
import { FINAL_BIT, IMMEDIATE_BIT, OPCODE_MASK } from './opcodes.js';

export const BHS_BYTES = 48;
/** A CRC32C header or data digest (§11.2.3). */
export const DIGEST_BYTES = 4;
/** TotalAHSLength is one byte of 4-byte words. */
export const AHS_BYTES_MAX = 255 * 4;
/** DataSegmentLength is 24 bits. */
export const DATA_SEGMENT_LENGTH_MAX = 0xff_ffff;

export const BhsOffset = {
  OPCODE: 0,
  FLAGS: 1,
  TOTAL_AHS_LENGTH: 4,
  DATA_SEGMENT_LENGTH: 5,
  LUN: 8,
  INITIATOR_TASK_TAG: 16,
} as const;

/** Which digests are on for a direction of a connection. */
export interface DigestOptions {
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
}

/** `lengthBytes` rounded up to a multiple of 4 (exact: padding is 0-3 bytes). */
export function padded4(lengthBytes: number): number {
  return lengthBytes + paddingBytes(lengthBytes);
}

/** Zero bytes that follow a segment of `lengthBytes` to reach a 4-byte boundary. */
export function paddingBytes(lengthBytes: number): number {
  return (4 - (lengthBytes % 4)) % 4;
}

export function readOpcode(bhs: Buffer): number {
  return bhs[BhsOffset.OPCODE]! & OPCODE_MASK;
}

export function readTotalAhsBytes(bhs: Buffer): number {
  return bhs[BhsOffset.TOTAL_AHS_LENGTH]! * 4;
}

export function readDataSegmentLength(bhs: Buffer): number {
  return bhs.readUIntBE(BhsOffset.DATA_SEGMENT_LENGTH, 3);
}

/** Header bytes on the wire: BHS + AHS + header digest. */
export function headerBytes(totalAhsBytes: number, digests: DigestOptions): number {
  return BHS_BYTES + totalAhsBytes + (digests.headerDigest ? DIGEST_BYTES : 0);
}

/** Bytes after the header: padded data segment + data digest, or nothing for an empty segment. */
export function dataSegmentWireBytes(dataSegmentLength: number, digests: DigestOptions): number {
  if (dataSegmentLength === 0) return 0;
  return padded4(dataSegmentLength) + (digests.dataDigest ? DIGEST_BYTES : 0);
}

/** Total wire length of the PDU whose BHS is `bhs`, a pure function of the header and digests. */
export function pduWireBytes(bhs: Buffer, digests: DigestOptions): number {
  return (
    headerBytes(readTotalAhsBytes(bhs), digests) + dataSegmentWireBytes(readDataSegmentLength(bhs), digests)
  );
}

/** The largest PDU a receiver with this MaxRecvDataSegmentLength can be sent. */
export function pduWireBytesMax(maxRecvDataSegmentLength: number, digests: DigestOptions): number {
  return headerBytes(AHS_BYTES_MAX, digests) + dataSegmentWireBytes(maxRecvDataSegmentLength, digests);
}

/** The BHS fields a caller needs to log or Reject a PDU it could not decode fully. */
export interface BhsSummary {
  readonly opcode: number;
  readonly immediate: boolean;
  /** Bit 7 of byte 1; the F bit for most opcodes. */
  readonly final: boolean;
  readonly totalAhsBytes: number;
  readonly dataSegmentLength: number;
  readonly initiatorTaskTag: number;
}

export function summarizeBhs(bhs: Buffer): BhsSummary {
  assert(bhs.length >= BHS_BYTES, `BHS summary needs ${BHS_BYTES} bytes but got ${bhs.length}`);
  return {
    opcode: readOpcode(bhs),
    immediate: (bhs[BhsOffset.OPCODE]! & IMMEDIATE_BIT) !== 0,
    final: (bhs[BhsOffset.FLAGS]! & FINAL_BIT) !== 0,
    totalAhsBytes: readTotalAhsBytes(bhs),
    dataSegmentLength: readDataSegmentLength(bhs),
    initiatorTaskTag: bhs.readUInt32BE(BhsOffset.INITIATOR_TASK_TAG),
  };
}

// ---- ISID (§11.12.5: 6 bytes) as 12 lowercase hex digits ----

const ISID_BYTES = 6;
const ISID_PATTERN = /^[0-9a-f]{12}$/;

export function readIsid(buf: Buffer, offset: number): string {
  return buf.toString('hex', offset, offset + ISID_BYTES);
}

export function isIsid(text: string): boolean {
  return ISID_PATTERN.test(text);
}

export function writeIsid(buf: Buffer, offset: number, isid: string): void {
  assert(isIsid(isid), `isid "${isid}" is not 12 lowercase hex digits`);
  buf.write(isid, offset, ISID_BYTES, 'hex');
}

// ---- Checked big-endian writers: a value out of range is Collie's bug ----
// They run for every field of every PDU sent, so the error text is built only on failure.

const U64_LIMIT = 1n << 64n;

function assertUint(value: number, max: number, field: string): void {
  if (!(Number.isInteger(value) && value >= 0 && value <= max)) {
    throw new AssertionError(`${field} ${value} is out of range 0..${max}`);
  }
}

/** Checks that `value` fits `bits` bits (for sub-byte fields such as ATTR or CSG). */
export function checkBits(value: number, bits: number, field: string): number {
  assertUint(value, 2 ** bits - 1, field);
  return value;
}

export function putU8(buf: Buffer, offset: number, value: number, field: string): void {
  assertUint(value, 0xff, field);
  buf[offset] = value;
}

export function putU16(buf: Buffer, offset: number, value: number, field: string): void {
  assertUint(value, 0xffff, field);
  buf.writeUInt16BE(value, offset);
}

export function putU24(buf: Buffer, offset: number, value: number, field: string): void {
  assertUint(value, 0xff_ffff, field);
  buf.writeUIntBE(value, offset, 3);
}

export function putU32(buf: Buffer, offset: number, value: number, field: string): void {
  assertUint(value, 0xffff_ffff, field);
  buf.writeUInt32BE(value, offset);
}

export function putU64(buf: Buffer, offset: number, value: bigint, field: string): void {
  if (!(typeof value === 'bigint' && value >= 0n && value < U64_LIMIT)) {
    throw new AssertionError(`${field} ${value} is out of range 0..2^64-1`);
  }
  buf.writeBigUInt64BE(value, offset);
}
