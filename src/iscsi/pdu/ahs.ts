/**
 * Additional Header Segments (RFC 7143 §11.2.2).
 *
 * Each AHS is: AHSLength (2 bytes, big-endian), AHSType (1 byte), then AHSLength bytes of
 * AHS-specific data, padded with zeros to a 4-byte boundary. AHSLength counts neither itself nor
 * the type byte, but does count the first AHS-specific byte (which the two defined types reserve):
 * an Extended CDB AHS has AHSLength = CDB length - 15, a Bidirectional Read Length AHS has 5.
 * The AHS area is TotalAHSLength × 4 bytes, so at most 1020.
 */
import { AssertionError, assert } from '../../core/assert.js';
import { AHS_BYTES_MAX, BHS_BYTES, padded4 } from './bhs.js';
import { type DecodeResult, decoded, decodeFailed } from './errors.js';
import type { AdditionalHeaderSegment } from './messages.js';
import { AhsType, RejectReason } from './opcodes.js';

/** AHSLength and AHSType. */
const AHS_PREFIX_BYTES = 3;
/** AHSType bits 5-0 carry the type; bits 7-6 are reserved. */
const AHS_TYPE_MASK = 0x3f;

/** The type code of an AHS, without the reserved bits. */
export function ahsTypeCode(segment: AdditionalHeaderSegment): number {
  return segment.ahsType & AHS_TYPE_MASK;
}

/** Wire bytes of one AHS, with its padding. */
export function ahsWireBytes(segment: AdditionalHeaderSegment): number {
  return padded4(AHS_PREFIX_BYTES + segment.ahsSpecific.length);
}

/**
 * Splits an AHS area into segments; `area` is exactly TotalAHSLength × 4 bytes. Error offsets
 * count from the start of the PDU (the area starts right after the BHS).
 */
export function parseAhsArea(area: Buffer): DecodeResult<AdditionalHeaderSegment[]> {
  const segments: AdditionalHeaderSegment[] = [];
  let at = 0;
  // Each segment takes at least 4 bytes, so this ends after at most 255 rounds.
  while (at < area.length) {
    if (area.length - at < AHS_PREFIX_BYTES) return badAhs(`AHS header at ${at} is truncated`, at);
    const ahsLength = area.readUInt16BE(at);
    const ahsType = area[at + 2]!;
    const end = at + AHS_PREFIX_BYTES + ahsLength;
    if (ahsLength === 0 || end > area.length) {
      return badAhs(`AHS at ${at} declares AHSLength ${ahsLength}, which does not fit TotalAHSLength`, at);
    }
    segments.push({ ahsType, ahsSpecific: area.subarray(at + AHS_PREFIX_BYTES, end) });
    at = at + padded4(AHS_PREFIX_BYTES + ahsLength);
  }
  return decoded(segments);
}

/** Total wire bytes of `segments`; asserts they fit TotalAHSLength. */
export function ahsAreaBytes(segments: readonly AdditionalHeaderSegment[]): number {
  let total = 0;
  for (const segment of segments) total += ahsWireBytes(segment);
  if (total > AHS_BYTES_MAX) {
    // Built only on failure: every PDU sent comes through here.
    throw new AssertionError(`AHS of ${total} bytes exceeds the ${AHS_BYTES_MAX}-byte TotalAHSLength limit`);
  }
  return total;
}

/** Writes `segments` at `offset` of a zero-filled `target` (padding stays zero). */
export function writeAhsArea(
  target: Buffer,
  offset: number,
  segments: readonly AdditionalHeaderSegment[],
): void {
  let at = offset;
  for (const segment of segments) {
    assert(
      segment.ahsSpecific.length >= 1 && segment.ahsSpecific.length <= 0xffff,
      `AHS of type ${segment.ahsType} has ${segment.ahsSpecific.length} specific bytes; it needs 1..65535`,
    );
    assert(
      Number.isInteger(segment.ahsType) && segment.ahsType >= 0 && segment.ahsType <= 0xff,
      `AHSType ${segment.ahsType} does not fit a byte`,
    );
    target.writeUInt16BE(segment.ahsSpecific.length, at);
    target[at + 2] = segment.ahsType;
    target.set(segment.ahsSpecific, at + AHS_PREFIX_BYTES);
    at += ahsWireBytes(segment);
  }
}

/** The Extended CDB AHS carrying `cdb` bytes beyond the first 16 (§11.2.2.3). */
export function extendedCdbAhs(cdbTail: Buffer): AdditionalHeaderSegment {
  const ahsSpecific = Buffer.alloc(1 + cdbTail.length); // first byte reserved
  cdbTail.copy(ahsSpecific, 1);
  return { ahsType: AhsType.EXTENDED_CDB, ahsSpecific };
}

/** The Bidirectional Read Expected Data Transfer Length AHS (§11.2.2.4). */
export function bidirectionalReadLengthAhs(lengthBytes: number): AdditionalHeaderSegment {
  const ahsSpecific = Buffer.alloc(5); // first byte reserved
  ahsSpecific.writeUInt32BE(lengthBytes, 1);
  return { ahsType: AhsType.BIDIRECTIONAL_READ_LENGTH, ahsSpecific };
}

function badAhs<T>(message: string, offset: number): DecodeResult<T> {
  return decodeFailed({
    code: 'ISCSI_ERR_BAD_AHS',
    message: `${message}; the initiator must send well-formed AHS (RFC 7143 §11.2.2)`,
    offset: BHS_BYTES + offset,
    answer: RejectReason.INVALID_PDU_FIELD,
  });
}
