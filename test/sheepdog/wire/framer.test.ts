/**
 * Goal: SheepFramer cuts a byte stream into the same frames however the stream is chunked,
 * follows the payload rules of section 1.6 on each side, and survives hostile length claims
 * without buffering them.
 * Method: the section 2.8 fixtures (with their payloads) form a request stream that is split at
 * every byte offset, and at random offsets by a property test; an oversize claim of 4 GiB is
 * streamed in small and large chunks while the framer's buffered byte count is watched.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { SdFlag, SdOp, SdRes } from '../../../src/sheepdog/wire/constants.js';
import { type Frame, type FramerSide, SheepFramer } from '../../../src/sheepdog/wire/framer.js';
import { hex, layout, le16, le32 } from '../../support/bytes.js';
import {
  CREATE_DATA_IDX10,
  DATA_PAYLOAD_4K,
  INODE_UPDATE_PAYLOAD,
  LOCK_PAYLOAD,
  LOCK_VDI_SHARED,
  READ_OBJ_REFRESH,
  RELEASE_VDI_SHARED,
  RSP_GET_VDI_INFO,
  RSP_READ_INODE_INVALIDATED,
  WRITE_INODE_IDX10,
} from './fixtures.js';

const PAYLOAD_MAX = 16 * 1024 * 1024;

interface Expected {
  header: Buffer;
  payload: Buffer | undefined;
}

/** The request stream of section 8.5 steps 1, 2, 5, 6 and a close. */
const REQUESTS: Expected[] = [
  { header: LOCK_VDI_SHARED, payload: LOCK_PAYLOAD },
  { header: READ_OBJ_REFRESH, payload: undefined }, // no WRITE: data_length is a read length
  { header: CREATE_DATA_IDX10, payload: DATA_PAYLOAD_4K },
  { header: WRITE_INODE_IDX10, payload: INODE_UPDATE_PAYLOAD },
  { header: RELEASE_VDI_SHARED, payload: undefined },
];

/** A READ_OBJ answer carrying 8 bytes, then an error answer without payload. */
const READ_ANSWER = layout(48, [
  [1, [SdOp.READ_OBJ]],
  [4, le32(1)],
  [8, le32(7)],
  [12, le32(8)],
]);
const RESPONSES: Expected[] = [
  { header: READ_ANSWER, payload: hex('01 02 03 04 05 06 07 08') },
  { header: RSP_READ_INODE_INVALIDATED, payload: undefined },
  { header: RSP_GET_VDI_INFO, payload: undefined },
];

function streamOf(messages: Expected[]): Buffer {
  return Buffer.concat(messages.flatMap((m) => (m.payload ? [m.header, m.payload] : [m.header])));
}

function drain(framer: SheepFramer, into: Frame[]): void {
  for (let frame = framer.next(); frame !== undefined; frame = framer.next()) into.push(frame);
}

/**
 * Frames as hex strings: comparing strings is fast, while deep equality on thousands of
 * Buffer elements (once per split offset) would dominate the run time.
 */
type FrameText = { kind: string; header: string; payload: string | undefined };

function asText(frames: Frame[]): FrameText[] {
  return frames.map((f) =>
    f.kind === 'message'
      ? { kind: f.kind, header: f.header.toString('hex'), payload: f.payload?.toString('hex') }
      : { kind: f.kind, header: f.header.toString('hex'), payload: `skip ${f.payloadBytes}` },
  );
}

function frameAll(side: FramerSide, chunks: Buffer[], payloadBytesMax = PAYLOAD_MAX): FrameText[] {
  const framer = new SheepFramer({ side, payloadBytesMax });
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    framer.push(chunk);
    drain(framer, frames);
  }
  expect(framer.bufferedBytes).toBe(0);
  return asText(frames);
}

function asMessages(expected: Expected[]): FrameText[] {
  return asText(expected.map((m) => ({ kind: 'message', header: m.header, payload: m.payload })));
}

function cutAt(stream: Buffer, offsets: number[]): Buffer[] {
  const sorted = [...offsets].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const offset of sorted) {
    chunks.push(stream.subarray(start, offset));
    start = offset;
  }
  chunks.push(stream.subarray(start));
  return chunks;
}

describe('request side', () => {
  const stream = streamOf(REQUESTS);

  test('the whole stream in one chunk gives the five messages', () => {
    expect(frameAll('request', [stream])).toEqual(asMessages(REQUESTS));
  });

  test('a split at every byte offset gives the same frames', () => {
    for (let offset = 0; offset <= stream.length; offset++) {
      expect(frameAll('request', cutAt(stream, [offset]))).toEqual(asMessages(REQUESTS));
    }
  });

  test('one byte at a time gives the same frames', () => {
    const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    expect(frameAll('request', chunks)).toEqual(asMessages(REQUESTS));
  });

  test('two messages back to back in one chunk', () => {
    const pair = Buffer.concat([WRITE_INODE_IDX10, INODE_UPDATE_PAYLOAD, RELEASE_VDI_SHARED]);
    expect(frameAll('request', [pair])).toEqual(asMessages(REQUESTS.slice(3)));
  });

  test('without WRITE, a data_length of 4 MiB carries no payload', () => {
    const read4m = layout(48, [
      [0, [1, SdOp.READ_OBJ]],
      [2, le16(SdFlag.TGT)],
      [12, le32(4 * 1024 * 1024)],
    ]);
    const frames = frameAll('request', [Buffer.concat([read4m, RELEASE_VDI_SHARED])]);
    expect(frames).toEqual(
      asMessages([
        { header: read4m, payload: undefined },
        { header: RELEASE_VDI_SHARED, payload: undefined },
      ]),
    );
  });

  test('WRITE with data_length 0 carries no payload', () => {
    const emptyWrite = layout(48, [
      [0, [1, SdOp.WRITE_OBJ]],
      [2, le16(SdFlag.WRITE)],
    ]);
    expect(frameAll('request', [emptyWrite])).toEqual(
      asMessages([{ header: emptyWrite, payload: undefined }]),
    );
  });

  test('a payload inside one chunk is a subarray of it, not a copy', () => {
    const chunk = Buffer.concat([CREATE_DATA_IDX10, DATA_PAYLOAD_4K]);
    const framer = new SheepFramer({ side: 'request', payloadBytesMax: PAYLOAD_MAX });
    framer.push(chunk);
    const frame = framer.next();
    expect(frame?.kind).toBe('message');
    if (frame?.kind !== 'message' || frame.payload === undefined) throw new Error('expected a payload');
    expect(frame.payload.buffer).toBe(chunk.buffer);
    expect(frame.payload.byteOffset).toBe(chunk.byteOffset + 48);
    expect(frame.header.buffer).toBe(chunk.buffer);
  });

  test('next() waits for the rest of a payload and keeps only what arrived', () => {
    const framer = new SheepFramer({ side: 'request', payloadBytesMax: PAYLOAD_MAX });
    framer.push(CREATE_DATA_IDX10);
    framer.push(DATA_PAYLOAD_4K.subarray(0, 100));
    expect(framer.next()).toBeUndefined();
    expect(framer.bufferedBytes).toBe(100);
    framer.push(DATA_PAYLOAD_4K.subarray(100));
    expect(framer.next()).toEqual({ kind: 'message', header: CREATE_DATA_IDX10, payload: DATA_PAYLOAD_4K });
    expect(framer.next()).toBeUndefined();
  });
});

describe('response side', () => {
  const stream = streamOf(RESPONSES);

  test('a payload follows iff data_length > 0, whatever the flags', () => {
    expect(frameAll('response', [stream])).toEqual(asMessages(RESPONSES));
  });

  test('a split at every byte offset gives the same frames', () => {
    for (let offset = 0; offset <= stream.length; offset++) {
      expect(frameAll('response', cutAt(stream, [offset]))).toEqual(asMessages(RESPONSES));
    }
  });
});

describe('oversize claims', () => {
  const HUGE = 0xffff_ffff;
  const hugeWrite = layout(48, [
    [0, [1, SdOp.WRITE_OBJ]],
    [2, le16(SdFlag.WRITE)],
    [8, le32(42)],
    [12, le32(HUGE)],
  ]);

  test('a 4 GiB WRITE claim is reported at once, skipped without buffering, and the next message frames', () => {
    const framer = new SheepFramer({ side: 'request', payloadBytesMax: PAYLOAD_MAX });
    framer.push(hugeWrite);
    const frame = framer.next();
    expect(frame).toMatchObject({ kind: 'oversize', header: hugeWrite, payloadBytes: HUGE });
    expect(frame?.kind === 'oversize' && frame.error).toMatchObject({
      code: 'SD_ERR_OVERSIZE_PAYLOAD',
      offset: 0,
      answer: SdRes.INVALID_PARMS,
    });

    let remaining = HUGE;
    let bufferedMax = 0;
    const push = (chunk: Buffer): void => {
      framer.push(chunk);
      // Measured before next(): push() itself must drop skipped bytes, not keep the chunk.
      bufferedMax = Math.max(bufferedMax, framer.bufferedBytes);
      expect(framer.next()).toBeUndefined();
    };
    // Small, irregular chunks first...
    const small = Buffer.alloc(13, 0xee);
    for (let i = 0; i < 1000; i++) push(small.subarray(0, 1 + (i % 13)));
    remaining -= Array.from({ length: 1000 }, (_, i) => 1 + (i % 13)).reduce((a, b) => a + b, 0);
    expect(framer.skipPendingBytes).toBe(remaining);
    // ...then 1 MiB chunks (the same buffer, pushed repeatedly: nothing is copied or kept).
    const big = Buffer.alloc(1024 * 1024, 0xee);
    while (remaining > big.length) {
      push(big);
      remaining -= big.length;
    }
    expect(bufferedMax).toBe(0);
    // The last skipped bytes share a chunk with the next message.
    const tail = Buffer.concat([Buffer.alloc(remaining, 0xee), RELEASE_VDI_SHARED]);
    framer.push(tail.subarray(0, remaining + 10));
    expect(framer.next()).toBeUndefined();
    framer.push(tail.subarray(remaining + 10));
    expect(framer.next()).toEqual({ kind: 'message', header: RELEASE_VDI_SHARED, payload: undefined });
    expect(framer.skipPendingBytes).toBe(0);
    expect(framer.bufferedBytes).toBe(0);
  });

  test('oversize bytes already buffered with the header are dropped at once', () => {
    const framer = new SheepFramer({ side: 'request', payloadBytesMax: 8 });
    const claim = layout(48, [
      [0, [1, SdOp.WRITE_OBJ]],
      [2, le16(SdFlag.WRITE)],
      [12, le32(16)],
    ]);
    framer.push(Buffer.concat([claim, Buffer.alloc(16, 0xaa), LOCK_VDI_SHARED, LOCK_PAYLOAD.subarray(0, 8)]));
    expect(framer.next()).toMatchObject({ kind: 'oversize', payloadBytes: 16 });
    // The claim's 16 bytes are gone; the LOCK (512-byte payload, also above the 8-byte limit) follows.
    expect(framer.next()).toMatchObject({ kind: 'oversize', header: LOCK_VDI_SHARED, payloadBytes: 512 });
    expect(framer.bufferedBytes).toBe(0);
    expect(framer.skipPendingBytes).toBe(504);
  });

  test('on the response side the error carries no answer (the client just fails the request)', () => {
    const framer = new SheepFramer({ side: 'response', payloadBytesMax: 4 });
    framer.push(READ_ANSWER);
    const frame = framer.next();
    expect(frame).toMatchObject({ kind: 'oversize', payloadBytes: 8 });
    expect(frame?.kind === 'oversize' && frame.error.answer).toBeUndefined();
  });

  test('a payload exactly at the limit is accepted', () => {
    expect(frameAll('request', [streamOf(REQUESTS.slice(2, 3))], 4096)).toEqual(
      asMessages(REQUESTS.slice(2, 3)),
    );
  });
});

describe('properties', () => {
  const requestStream = streamOf(REQUESTS);
  const offsets = fc.array(fc.integer({ min: 0, max: requestStream.length }), { maxLength: 40 });

  propTest.prop([offsets])('random chunking of the request stream gives the same frames', (cuts) => {
    expect(frameAll('request', cutAt(requestStream, cuts))).toEqual(asMessages(REQUESTS));
  });

  const message = fc.record({
    opcode: fc.integer({ min: 0, max: 0xff }),
    write: fc.boolean(),
    payload: fc.uint8Array({ maxLength: 300 }),
    readLength: fc.integer({ min: 0, max: 0xffff_ffff }),
  });

  propTest.prop([
    fc.array(message, { maxLength: 8 }),
    fc.array(fc.integer({ min: 0, max: 4000 }), { maxLength: 30 }),
  ])('random request streams: split anywhere, frame identically', (messages, cuts) => {
    const expected: Expected[] = messages.map((m) => {
      const dataLength = m.write ? m.payload.length : m.readLength;
      const header = layout(48, [
        [0, [1, m.opcode]],
        [2, le16(m.write ? SdFlag.WRITE : 0)],
        [12, le32(dataLength)],
      ]);
      const payload = m.write && m.payload.length > 0 ? Buffer.from(m.payload) : undefined;
      return { header, payload };
    });
    const stream = streamOf(expected);
    const inRange = cuts.map((c) => Math.min(c, stream.length));
    expect(frameAll('request', cutAt(stream, inRange))).toEqual(asMessages(expected));
  });
});
