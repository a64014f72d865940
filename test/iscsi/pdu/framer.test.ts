/**
 * Goal: PduFramer cuts an iSCSI byte stream into the same PDUs however it is chunked, with and
 * without digests; it tells header digest errors (fatal) from data digest errors (Reject and go
 * on); it refuses oversize data segments as soon as the length can be trusted, without buffering
 * them; and negotiated options apply from the next PDU.
 * Method: the codec fixtures (both directions, all 18 kinds, odd data lengths, AHS) are laid out
 * with the independent builder and split at every byte offset, one byte at a time, and at random
 * offsets (property test); corrupted and oversize streams are built by hand and their error
 * values checked by code. Frames are compared as hex strings to keep thousands of splits fast.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import type { DigestOptions } from '../../../src/iscsi/pdu/bhs.js';
import { encodePduBytes } from '../../../src/iscsi/pdu/encode.js';
import { type Frame, type FramingError, PduFramer } from '../../../src/iscsi/pdu/framer.js';
import type { Pdu } from '../../../src/iscsi/pdu/messages.js';
import { RejectReason } from '../../../src/iscsi/pdu/opcodes.js';
import { be32, layout } from '../../support/bytes.js';
import { SAMPLES, wire } from './fixtures.js';

const LIMIT = 8192;
const DIGEST_CASES: DigestOptions[] = [
  { headerDigest: false, dataDigest: false },
  { headerDigest: true, dataDigest: false },
  { headerDigest: false, dataDigest: true },
  { headerDigest: true, dataDigest: true },
];

function describeDigests(digests: DigestOptions): string {
  return `headerDigest=${digests.headerDigest}, dataDigest=${digests.dataDigest}`;
}

type Output = Frame | FramingError;

function drain(framer: PduFramer, into: Output[]): void {
  // Bounded: each call consumes bytes or returns undefined.
  for (let out = framer.next(); out !== undefined; out = framer.next()) into.push(out);
}

function asText(outputs: Output[]): string[] {
  return outputs.map((o) =>
    o.kind === 'frame'
      ? `frame ${o.bhs.toString('hex')} ${o.ahs.toString('hex')} ${o.data.toString('hex')}`
      : `error ${o.error.code} ${o.bhs.toString('hex')}`,
  );
}

function frameChunks(chunks: Buffer[], digests: DigestOptions, limit = LIMIT): Output[] {
  const framer = new PduFramer({ ...digests, maxRecvDataSegmentLength: limit });
  const outputs: Output[] = [];
  for (const chunk of chunks) {
    framer.push(chunk);
    drain(framer, outputs);
  }
  expect(framer.bufferedBytes).toBe(0);
  return outputs;
}

function streamOf(digests: DigestOptions): Buffer {
  return Buffer.concat(SAMPLES.map((s) => wire(s.bhs, s.ahs, s.pdu.data, digests)));
}

const EXPECTED = asText(
  SAMPLES.map((s) => ({ kind: 'frame', bhs: s.bhs, ahs: s.ahs, data: s.pdu.data }) satisfies Frame),
);

describe('framing is independent of chunking', () => {
  for (const digests of DIGEST_CASES) {
    const stream = streamOf(digests);

    test(`one chunk (${describeDigests(digests)})`, () => {
      expect(asText(frameChunks([stream], digests))).toEqual(EXPECTED);
    });

    test(`split in two at every byte offset (${describeDigests(digests)})`, () => {
      for (let at = 0; at <= stream.length; at++) {
        const outputs = frameChunks([stream.subarray(0, at), stream.subarray(at)], digests);
        expect(asText(outputs), `split at ${at}`).toEqual(EXPECTED);
      }
    });

    test(`one byte at a time (${describeDigests(digests)})`, () => {
      const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
      expect(asText(frameChunks(chunks, digests))).toEqual(EXPECTED);
    });

    propTest.prop([fc.array(fc.nat(), { maxLength: 12 })], { numRuns: 60 })(
      `random cuts (${describeDigests(digests)})`,
      (cuts) => {
        const offsets = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let from = 0;
        for (const offset of [...offsets, stream.length]) {
          chunks.push(stream.subarray(from, offset));
          from = offset;
        }
        expect(asText(frameChunks(chunks, digests))).toEqual(EXPECTED);
      },
    );
  }

  test('a PDU inside one chunk is returned as views of that chunk, not copies', () => {
    const stream = streamOf({ headerDigest: true, dataDigest: true });
    const outputs = frameChunks([stream], { headerDigest: true, dataDigest: true });
    for (const output of outputs) {
      expect(output.kind).toBe('frame');
      if (output.kind === 'frame') expect(output.bhs.buffer).toBe(stream.buffer);
    }
  });
});

/** The Data-Out sample: 5 data bytes, so 3 padding bytes. */
const DATA_OUT = SAMPLES.find((s) => s.pdu.kind === 'data-out')!;
const NOP_OUT = SAMPLES.find((s) => s.pdu.kind === 'nop-out')!;
const COMMAND_WITH_AHS = SAMPLES[1]!;

describe('digest errors', () => {
  const both = { headerDigest: true, dataDigest: true };

  test('a flipped BHS bit is a fatal header digest error; the framer stops and frees its buffer', () => {
    const first = wire(NOP_OUT.bhs, NOP_OUT.ahs, NOP_OUT.pdu.data, both);
    const second = wire(DATA_OUT.bhs, DATA_OUT.ahs, DATA_OUT.pdu.data, both);
    second[20] = second[20]! ^ 0x01;
    const framer = new PduFramer({ ...both, maxRecvDataSegmentLength: LIMIT });
    framer.push(Buffer.concat([first, second, first]));
    const outputs: Output[] = [];
    drain(framer, outputs);
    expect(outputs.map((o) => o.kind)).toEqual(['frame', 'error']);
    const error = outputs[1] as FramingError;
    expect(error.error.code).toBe('ISCSI_ERR_HEADER_DIGEST');
    expect(error.error.offset).toBe(first.length);
    expect(error.error.answer).toBeUndefined();
    expect(error.fatal).toBe(true);
    expect(framer.stopped).toBe(true);
    expect(framer.bufferedBytes).toBe(0);
    framer.push(first);
    expect(framer.next()).toBeUndefined();
    expect(framer.bufferedBytes).toBe(0);
  });

  test('a flipped AHS bit is a header digest error too', () => {
    const bytes = wire(COMMAND_WITH_AHS.bhs, COMMAND_WITH_AHS.ahs, COMMAND_WITH_AHS.pdu.data, both);
    bytes[48 + 6] = bytes[48 + 6]! ^ 0x80;
    const outputs = frameAllowingLeftovers([bytes], both);
    expect(outputs.map((o) => (o.kind === 'error' ? o.error.code : o.kind))).toEqual([
      'ISCSI_ERR_HEADER_DIGEST',
    ]);
  });

  test('a flipped data bit is a data digest error carrying the BHS; the next PDU still frames', () => {
    const bad = wire(DATA_OUT.bhs, DATA_OUT.ahs, DATA_OUT.pdu.data, both);
    bad[48 + 4 + 2] = bad[48 + 4 + 2]! ^ 0x10;
    const good = wire(NOP_OUT.bhs, NOP_OUT.ahs, NOP_OUT.pdu.data, both);
    const outputs = frameChunks([Buffer.concat([bad, good])], both);
    expect(outputs.map((o) => o.kind)).toEqual(['error', 'frame']);
    const error = outputs[0] as FramingError;
    expect(error).toMatchObject({
      fatal: false,
      error: { code: 'ISCSI_ERR_DATA_DIGEST', answer: RejectReason.DATA_DIGEST_ERROR, offset: 0 },
      header: { opcode: 0x05, initiatorTaskTag: 0x31, dataSegmentLength: 5 },
    });
    expect(error.bhs.toString('hex')).toBe(DATA_OUT.bhs.toString('hex'));
    expect(asText(outputs.slice(1))).toEqual(asText([{ kind: 'frame', ...piecesOfSample(NOP_OUT) }]));
  });

  test('the data digest covers the padding', () => {
    const bad = wire(DATA_OUT.bhs, DATA_OUT.ahs, DATA_OUT.pdu.data, both);
    const paddingAt = 48 + 4 + DATA_OUT.pdu.data.length;
    bad[paddingAt] = 0x01;
    const outputs = frameChunks([bad], both);
    expect(outputs.map((o) => (o.kind === 'error' ? o.error.code : o.kind))).toEqual([
      'ISCSI_ERR_DATA_DIGEST',
    ]);
  });

  test('without digests the same corruption goes unnoticed (the digests are what catch it)', () => {
    const none = { headerDigest: false, dataDigest: false };
    const bytes = wire(DATA_OUT.bhs, DATA_OUT.ahs, DATA_OUT.pdu.data, none);
    bytes[48 + 2] = bytes[48 + 2]! ^ 0x10;
    expect(frameChunks([bytes], none).map((o) => o.kind)).toEqual(['frame']);
  });
});

function piecesOfSample(sample: (typeof SAMPLES)[number]): { bhs: Buffer; ahs: Buffer; data: Buffer } {
  return { bhs: sample.bhs, ahs: sample.ahs, data: sample.pdu.data };
}

function frameAllowingLeftovers(chunks: Buffer[], digests: DigestOptions): Output[] {
  const framer = new PduFramer({ ...digests, maxRecvDataSegmentLength: LIMIT });
  const outputs: Output[] = [];
  for (const chunk of chunks) {
    framer.push(chunk);
    drain(framer, outputs);
  }
  return outputs;
}

/** A Data-Out BHS declaring `dataBytes` of data (and `ahsWords` of AHS). */
function dataOutBhs(dataBytes: number, ahsWords = 0): Buffer {
  return layout(48, [
    [0, [0x05, 0x80]],
    [4, [ahsWords, (dataBytes >> 16) & 0xff, (dataBytes >> 8) & 0xff, dataBytes & 0xff]],
    [16, be32(0x99)],
  ]);
}

describe('oversize data segments', () => {
  const CLAIM_BYTES = 0xff_ffff; // the largest DataSegmentLength: 16 MiB - 1, padded to 16 MiB

  for (const digests of DIGEST_CASES) {
    test(`reported at once and skipped without buffering (${describeDigests(digests)})`, () => {
      const framer = new PduFramer({ ...digests, maxRecvDataSegmentLength: LIMIT });
      const header = wire(dataOutBhs(CLAIM_BYTES), Buffer.alloc(0), Buffer.alloc(0), digests);
      framer.push(header);
      const first = framer.next();
      expect(first).toMatchObject({
        kind: 'error',
        fatal: false,
        error: { code: 'ISCSI_ERR_OVERSIZE_DATA_SEGMENT', answer: RejectReason.PROTOCOL_ERROR },
        header: { dataSegmentLength: CLAIM_BYTES, initiatorTaskTag: 0x99 },
      });
      const skipBytes = CLAIM_BYTES + 1 + (digests.dataDigest ? 4 : 0);
      expect(framer.skipPendingBytes).toBe(skipBytes);
      const chunk = Buffer.alloc(64 * 1024, 0xee);
      let sentBytes = 0;
      // The claimed bytes arrive; none may be held.
      for (let round = 0; round < 1024 && sentBytes < skipBytes; round++) {
        const piece = chunk.subarray(0, Math.min(chunk.length, skipBytes - sentBytes));
        framer.push(piece);
        sentBytes += piece.length;
        expect(framer.next()).toBeUndefined();
        expect(framer.bufferedBytes).toBe(0);
      }
      expect(framer.skipPendingBytes).toBe(0);
      framer.push(wire(NOP_OUT.bhs, NOP_OUT.ahs, NOP_OUT.pdu.data, digests));
      expect(asText([framer.next()!])).toEqual(asText([{ kind: 'frame', ...piecesOfSample(NOP_OUT) }]));
    });
  }

  test('without header digest it is reported from the 48-byte BHS alone, AHS included in the skip', () => {
    const none = { headerDigest: false, dataDigest: false };
    const framer = new PduFramer({ ...none, maxRecvDataSegmentLength: LIMIT });
    framer.push(dataOutBhs(LIMIT + 1, 2));
    expect(framer.next()).toMatchObject({
      kind: 'error',
      error: { code: 'ISCSI_ERR_OVERSIZE_DATA_SEGMENT' },
    });
    expect(framer.skipPendingBytes).toBe(8 + LIMIT + 1 + 3);
  });

  test('with header digest it waits for the digest to vouch for the length', () => {
    const hd = { headerDigest: true, dataDigest: false };
    const framer = new PduFramer({ ...hd, maxRecvDataSegmentLength: LIMIT });
    const bytes = wire(dataOutBhs(LIMIT + 1), Buffer.alloc(0), Buffer.alloc(0), hd);
    framer.push(bytes.subarray(0, 48));
    expect(framer.next()).toBeUndefined();
    framer.push(bytes.subarray(48));
    expect(framer.next()).toMatchObject({
      kind: 'error',
      error: { code: 'ISCSI_ERR_OVERSIZE_DATA_SEGMENT' },
    });
  });

  test('exactly MaxRecvDataSegmentLength is accepted', () => {
    const none = { headerDigest: false, dataDigest: false };
    const bytes = wire(dataOutBhs(LIMIT), Buffer.alloc(0), Buffer.alloc(LIMIT, 1), none);
    expect(frameChunks([bytes], none).map((o) => o.kind)).toEqual(['frame']);
  });

  test("with oversizeDataSegment 'stop' the error is fatal and the framer stops", () => {
    const framer = new PduFramer({
      headerDigest: false,
      dataDigest: false,
      maxRecvDataSegmentLength: LIMIT,
      oversizeDataSegment: 'stop',
    });
    framer.push(Buffer.concat([dataOutBhs(LIMIT + 4), Buffer.alloc(LIMIT + 4)]));
    expect(framer.next()).toMatchObject({ kind: 'error', fatal: true });
    expect(framer.stopped).toBe(true);
    expect(framer.bufferedBytes).toBe(0);
  });

  test('the largest incomplete PDU it waits for is one PDU: 48 + 1020 + digests + padded limit', () => {
    const framer = new PduFramer({ headerDigest: true, dataDigest: true, maxRecvDataSegmentLength: 8191 });
    expect(framer.pduBytesMax).toBe(48 + 1020 + 4 + 8192 + 4);
  });
});

describe('negotiated options apply from the next PDU', () => {
  const login = SAMPLES.find((s) => s.pdu.kind === 'login-response')!;
  const nopIn: Pdu = { ...NOP_OUT.pdu, kind: 'nop-in', statSN: 1, expCmdSN: 2, maxCmdSN: 3 } as Pdu;

  test('digests switched on after the final Login Response frame the next PDU with digests', () => {
    const digests = { headerDigest: true, dataDigest: true };
    const stream = Buffer.concat([
      wire(login.bhs, login.ahs, login.pdu.data, { headerDigest: false, dataDigest: false }),
      encodePduBytes(nopIn, digests),
    ]);
    const framer = new PduFramer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: LIMIT });
    framer.push(stream);
    expect(framer.next()).toMatchObject({ kind: 'frame' });
    framer.setDigests(digests);
    framer.setMaxRecvDataSegmentLength(65_536);
    expect(framer.options).toMatchObject({ ...digests, maxRecvDataSegmentLength: 65_536 });
    const next = framer.next();
    expect(next).toMatchObject({ kind: 'frame', data: NOP_OUT.pdu.data });
    expect(framer.bufferedBytes).toBe(0);
  });

  test('a change made while a PDU is half read waits for the PDU boundary', () => {
    const none = { headerDigest: false, dataDigest: false };
    const bytes = wire(DATA_OUT.bhs, DATA_OUT.ahs, DATA_OUT.pdu.data, none);
    const framer = new PduFramer({ ...none, maxRecvDataSegmentLength: LIMIT });
    framer.push(bytes.subarray(0, 50));
    expect(framer.next()).toBeUndefined();
    framer.setDigests({ headerDigest: true, dataDigest: true });
    framer.push(bytes.subarray(50));
    expect(framer.next()).toMatchObject({ kind: 'frame', data: DATA_OUT.pdu.data });
  });
});
