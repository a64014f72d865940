/**
 * iSCSI PDU generators for the fuzzers, driven by an Rng: valid PDUs of every kind with random
 * field values (built as random BHS bytes with a chosen opcode, well-formed AHS and a data
 * segment, then read by the real decoder, so every field the decoder knows gets random values),
 * and mutations of their wire bytes that aim at the framing: bit flips, lying TotalAHSLength and
 * DataSegmentLength, random opcodes, truncation at the segment boundaries, garbage data
 * segments, two PDUs run together.
 */
import type { Rng } from '../../src/core/rng.js';
import { writeAhsArea } from '../../src/iscsi/pdu/ahs.js';
import {
  AHS_BYTES_MAX,
  BHS_BYTES,
  type DigestOptions,
  headerBytes,
  padded4,
} from '../../src/iscsi/pdu/bhs.js';
import { decodePdu } from '../../src/iscsi/pdu/decode.js';
import type { AdditionalHeaderSegment, Pdu } from '../../src/iscsi/pdu/messages.js';
import { AhsType, IMMEDIATE_BIT, InitiatorOpcode, TargetOpcode } from '../../src/iscsi/pdu/opcodes.js';
import { encodeTextData } from '../../src/iscsi/pdu/text.js';
import { check, flipBits, hostileU32, INTERESTING_U8, rngBytes, setBytes, truncate } from './fuzz-common.js';

export const INITIATOR_OPCODES: readonly number[] = Object.values(InitiatorOpcode);
export const TARGET_OPCODES: readonly number[] = Object.values(TargetOpcode);
export const ALL_OPCODES: readonly number[] = [...INITIATOR_OPCODES, ...TARGET_OPCODES];

/** A data segment length: mostly small, every padding class, sometimes a few KiB. */
export function dataLength(rng: Rng): number {
  switch (rng.int(0, 12)) {
    case 0:
    case 1:
    case 2:
      return 0;
    case 3:
    case 4:
      return rng.int(1, 8);
    case 5:
    case 6:
    case 7:
    case 8:
      return rng.int(1, 80);
    case 9:
    case 10:
      return rng.int(80, 600);
    default:
      return rng.int(600, 9000);
  }
}

/** Well-formed AHS for a PDU of `opcode` (Extended CDB and Bidirectional Read Length for commands). */
export function randomAhs(rng: Rng, opcode: number): AdditionalHeaderSegment[] {
  const segments: AdditionalHeaderSegment[] = [];
  if (!rng.chance(0.3)) return segments;
  let budget = AHS_BYTES_MAX;
  const push = (segment: AdditionalHeaderSegment) => {
    const bytes = padded4(3 + segment.ahsSpecific.length);
    if (bytes > budget) return;
    budget -= bytes;
    segments.push(segment);
  };
  if (opcode === InitiatorOpcode.SCSI_COMMAND) {
    if (rng.chance(0.5)) push({ ahsType: AhsType.EXTENDED_CDB, ahsSpecific: rngBytes(rng, rng.int(2, 240)) });
    if (rng.chance(0.3)) {
      const specific = rngBytes(rng, 5);
      push({ ahsType: AhsType.BIDIRECTIONAL_READ_LENGTH, ahsSpecific: specific });
    }
  }
  const others = rng.int(0, 3);
  for (let i = 0; i < others; i++) {
    let type = rng.int(0, 256);
    // A SCSI Command lifts types 1 and 2 into named fields: one of each at most.
    if (opcode === InitiatorOpcode.SCSI_COMMAND && ((type & 0x3f) === 1 || (type & 0x3f) === 2)) type = 0x3f;
    push({ ahsType: type, ahsSpecific: rngBytes(rng, rng.int(1, 60)) });
  }
  return rng.shuffle(segments);
}

export interface GeneratedPdu {
  readonly pdu: Pdu;
  /** The frame it was decoded from (random reserved bits included). */
  readonly frame: { bhs: Buffer; ahs: Buffer; data: Buffer };
}

/** Data that looks like the opcode's: text pairs for login/text, a sense segment for responses. */
function dataFor(rng: Rng, opcode: number): Buffer {
  const textual =
    opcode === InitiatorOpcode.LOGIN_REQUEST ||
    opcode === InitiatorOpcode.TEXT_REQUEST ||
    opcode === TargetOpcode.LOGIN_RESPONSE ||
    opcode === TargetOpcode.TEXT_RESPONSE;
  if (textual && rng.chance(0.7)) return randomTextData(rng);
  if (opcode === TargetOpcode.SCSI_RESPONSE && rng.chance(0.7)) {
    const sense = rngBytes(rng, rng.int(0, 40));
    const out = Buffer.alloc(2 + sense.length + rng.int(0, 8));
    out.writeUInt16BE(rng.chance(0.8) ? sense.length : rng.int(0, 0x10000), 0);
    sense.copy(out, 2);
    return out;
  }
  return rngBytes(rng, dataLength(rng));
}

const TEXT_KEYS = [
  'InitiatorName',
  'TargetName',
  'SessionType',
  'HeaderDigest',
  'DataDigest',
  'MaxRecvDataSegmentLength',
  'MaxBurstLength',
  'FirstBurstLength',
  'InitialR2T',
  'ImmediateData',
  'MaxOutstandingR2T',
  'MaxConnections',
  'ErrorRecoveryLevel',
  'DefaultTime2Wait',
  'DefaultTime2Retain',
  'DataPDUInOrder',
  'DataSequenceInOrder',
  'AuthMethod',
  'CHAP_A',
  'CHAP_I',
  'CHAP_C',
  'CHAP_N',
  'CHAP_R',
  'SendTargets',
  'TargetAlias',
  'X-com.example.vendor',
  'X#private',
];
const TEXT_VALUES = [
  '',
  'None',
  'CRC32C',
  'CRC32C,None',
  'Yes',
  'No',
  'Normal',
  'Discovery',
  'All',
  '0',
  '1',
  '512',
  '8192',
  '262144',
  '16777215',
  '16777216',
  '4294967296',
  '-1',
  '0x10',
  '0b101',
  'CHAP,None',
  'iqn.2026-01.test.collie:disk',
  'Reject',
  'NotUnderstood',
  'Irrelevant',
];

/** key=value\0 text: known keys and values, random ones, overlong ones, garbage bytes. */
export function randomTextData(rng: Rng): Buffer {
  const pairs: Array<[string, string]> = [];
  const count = rng.int(0, 12);
  for (let i = 0; i < count; i++) {
    const key = rng.chance(0.85) ? rng.pick(TEXT_KEYS) : `K${rng.nextUint32().toString(36)}`;
    const style = rng.int(0, 10);
    const value =
      style === 0
        ? 'v'.repeat(rng.int(0, 9000))
        : style === 1
          ? String(rng.nextUint32())
          : rng.pick(TEXT_VALUES);
    pairs.push([key, value]);
  }
  let data = encodeTextData(pairs);
  if (rng.chance(0.15)) data = setBytes(rng, data.length === 0 ? Buffer.alloc(1) : data);
  return data;
}

/**
 * A valid PDU of a random (or the given) opcode: random BHS bytes, well-formed AHS, a data
 * segment, decoded by the real decoder. Every opcode decodes once its AHS is well formed.
 */
export function randomPdu(rng: Rng, opcodes: readonly number[] = ALL_OPCODES): GeneratedPdu {
  const opcode = rng.pick(opcodes);
  const bhs = rngBytes(rng, BHS_BYTES);
  bhs[0] = (rng.chance(0.5) ? IMMEDIATE_BIT : 0) | (rng.chance(0.1) ? 0x80 : 0) | opcode;
  const segments = randomAhs(rng, opcode);
  let ahsBytes = 0;
  for (const segment of segments) ahsBytes += padded4(3 + segment.ahsSpecific.length);
  const ahs = Buffer.alloc(ahsBytes);
  writeAhsArea(ahs, 0, segments);
  const data = dataFor(rng, opcode);
  bhs[4] = ahsBytes / 4;
  bhs.writeUIntBE(data.length, 5, 3);
  const frame = { bhs, ahs, data };
  const decoded = decodePdu(frame);
  check(
    decoded.ok,
    `generator: a well-formed ${opcode.toString(16)} PDU did not decode: ${decoded.ok ? '' : decoded.error.message}`,
  );
  return { pdu: decoded.value, frame };
}

/** Names of the mutations, for the tally. */
export type WireMutation =
  | 'none'
  | 'bit-flips'
  | 'bhs-bytes'
  | 'opcode'
  | 'ahs-length'
  | 'data-length'
  | 'truncated'
  | 'garbage-data'
  | 'appended'
  | 'two-pdus'
  | 'random-bytes'
  | 'digest-flip';

/**
 * Mutates the wire bytes of one PDU whose header is `headerBytesCount` long (BHS+AHS+digest).
 * `other` is the wire bytes of another PDU, for runs of two.
 */
export function mutateWire(
  rng: Rng,
  wire: Buffer,
  digests: DigestOptions,
  other: Buffer,
): { bytes: Buffer; mutation: WireMutation } {
  const ahsBytes = wire[4]! * 4;
  const header = headerBytes(ahsBytes, digests);
  switch (rng.int(0, 12)) {
    case 0:
      return { bytes: wire, mutation: 'none' };
    case 1:
      return { bytes: flipBits(rng, wire, 8), mutation: 'bit-flips' };
    case 2:
      return { bytes: setBytes(rng, wire, 0, BHS_BYTES), mutation: 'bhs-bytes' };
    case 3: {
      const out = Buffer.from(wire);
      out[0] = (out[0]! & 0xc0) | rng.int(0, 0x40);
      return { bytes: out, mutation: 'opcode' };
    }
    case 4: {
      const out = Buffer.from(wire);
      out[4] = rng.chance(0.5) ? rng.pick(INTERESTING_U8) : Math.max(0, out[4]! + rng.int(-2, 3));
      return { bytes: out, mutation: 'ahs-length' };
    }
    case 5: {
      const out = Buffer.from(wire);
      const declared = out.readUIntBE(5, 3);
      const lie = rng.chance(0.5)
        ? hostileU32(rng, declared) & 0xffffff
        : Math.max(0, declared + rng.int(-5, 6));
      out.writeUIntBE(lie, 5, 3);
      return { bytes: out, mutation: 'data-length' };
    }
    case 6:
      return {
        bytes: truncate(rng, wire, [1, 4, 8, BHS_BYTES, BHS_BYTES + ahsBytes, header, wire.length - 1]),
        mutation: 'truncated',
      };
    case 7: {
      const out = Buffer.from(wire);
      rngBytes(rng, out.length - header).copy(out, header);
      return { bytes: out, mutation: 'garbage-data' };
    }
    case 8:
      return { bytes: Buffer.concat([wire, rngBytes(rng, rng.int(1, 100))]), mutation: 'appended' };
    case 9: {
      const first = rng.chance(0.5) ? flipBits(rng, wire, 2) : wire;
      return { bytes: Buffer.concat([first, other]), mutation: 'two-pdus' };
    }
    case 10:
      return { bytes: rngBytes(rng, rng.int(0, 200)), mutation: 'random-bytes' };
    default: {
      // A flip in a digest (or, without digests, in the data or padding).
      const from = Math.max(0, rng.chance(0.5) ? header - 4 : wire.length - 4);
      return { bytes: flipBits(rng, wire, 1, from, wire.length), mutation: 'digest-flip' };
    }
  }
}
