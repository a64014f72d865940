/**
 * Goal: ChunkQueue hands out the stream's bytes in order however the stream is chunked, returns a
 * view exactly when the bytes lie in one chunk (a copy otherwise), skips bytes across chunks and
 * across later pushes without buffering them, and counts every consumed byte in `streamOffset`.
 * Method: a numbered byte stream is split at every offset and taken in pieces of several sizes;
 * a stream of one-byte chunks is taken in headers; skips are checked against what arrives after
 * them; a property test runs random chunkings and random take/skip sequences against a model that
 * is just the concatenated stream and a cursor.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { AssertionError } from '../../src/core/assert.js';
import { ChunkQueue } from '../../src/core/chunk-queue.js';

/** Bytes 0, 1, 2, ... (mod 251, so no period divides the piece sizes used below). */
function numbered(lengthBytes: number, first = 0): Buffer {
  const out = Buffer.alloc(lengthBytes);
  for (let i = 0; i < lengthBytes; i += 1) out[i] = (first + i) % 251;
  return out;
}

/** True when `piece` is a view of `chunk`'s memory rather than a copy (small buffers share pools). */
function aliases(piece: Buffer, chunk: Buffer): boolean {
  return (
    piece.buffer === chunk.buffer &&
    piece.byteOffset >= chunk.byteOffset &&
    piece.byteOffset + piece.length <= chunk.byteOffset + chunk.length
  );
}

describe('ChunkQueue: split at every offset', () => {
  const STREAM_BYTES = 64;
  const stream = numbered(STREAM_BYTES);

  test.each([1, 7, 16, 48, 64])(
    'pieces of %i bytes come out whole wherever the stream is cut',
    (pieceBytes) => {
      for (let cut = 0; cut <= STREAM_BYTES; cut += 1) {
        const queue = new ChunkQueue();
        const first = Buffer.from(stream.subarray(0, cut));
        const second = Buffer.from(stream.subarray(cut));
        queue.push(first);
        queue.push(second);
        expect(queue.bufferedBytes).toBe(STREAM_BYTES);
        for (let at = 0; at < STREAM_BYTES; at += pieceBytes) {
          const lengthBytes = Math.min(pieceBytes, STREAM_BYTES - at);
          expect(queue.streamOffset).toBe(at);
          const piece = queue.take(lengthBytes);
          expect(piece.equals(stream.subarray(at, at + lengthBytes))).toBe(true);
          const spans = at < cut && at + lengthBytes > cut;
          expect(aliases(piece, first) || aliases(piece, second)).toBe(!spans);
        }
        expect(queue.bufferedBytes).toBe(0);
        expect(queue.streamOffset).toBe(STREAM_BYTES);
      }
    },
  );

  test('a copy does not change when the chunks it came from are reused', () => {
    const queue = new ChunkQueue();
    const first = numbered(10);
    const second = numbered(10, 10);
    queue.push(first);
    queue.push(second);
    const piece = queue.take(20);
    first.fill(0);
    second.fill(0);
    expect(piece.equals(numbered(20))).toBe(true);
  });
});

describe('ChunkQueue: many tiny chunks', () => {
  test('96 017 one-byte chunks come out as 48-byte headers, in order', () => {
    const STREAM_BYTES = 48 * 2000 + 17;
    const stream = numbered(STREAM_BYTES);
    const queue = new ChunkQueue();
    for (let i = 0; i < STREAM_BYTES; i += 1) queue.push(Buffer.from(stream.subarray(i, i + 1)));
    for (let at = 0; at + 48 <= STREAM_BYTES; at += 48) {
      expect(queue.take(48).equals(stream.subarray(at, at + 48))).toBe(true);
    }
    expect(queue.bufferedBytes).toBe(17);
    expect(queue.take(17).equals(stream.subarray(STREAM_BYTES - 17))).toBe(true);
  });

  test('empty chunks are ignored', () => {
    const queue = new ChunkQueue();
    queue.push(Buffer.alloc(0));
    queue.push(numbered(3));
    queue.push(Buffer.alloc(0));
    queue.push(numbered(3, 3));
    expect(queue.bufferedBytes).toBe(6);
    expect(queue.take(6).equals(numbered(6))).toBe(true);
  });
});

describe('ChunkQueue: skip', () => {
  test('a skip across buffered chunks drops exactly its bytes', () => {
    const stream = numbered(40);
    const queue = new ChunkQueue();
    for (let at = 0; at < 40; at += 5) queue.push(Buffer.from(stream.subarray(at, at + 5)));
    queue.take(3);
    queue.skip(24);
    expect(queue.skipPendingBytes).toBe(0);
    expect(queue.bufferedBytes).toBe(13);
    expect(queue.streamOffset).toBe(27);
    expect(queue.take(13).equals(stream.subarray(27))).toBe(true);
  });

  test('a skip beyond the buffered bytes is cut off later pushes, which are never buffered', () => {
    const queue = new ChunkQueue();
    queue.push(numbered(10));
    queue.take(4);
    queue.skip(6 + 1000);
    expect(queue.bufferedBytes).toBe(0);
    expect(queue.skipPendingBytes).toBe(1000);
    for (let i = 0; i < 9; i += 1) {
      queue.push(numbered(100, 10 + i * 100));
      expect(queue.bufferedBytes).toBe(0);
    }
    expect(queue.skipPendingBytes).toBe(100);
    // The next push ends the skip: its first 100 bytes are dropped, the rest is kept.
    queue.push(numbered(130, 910));
    expect(queue.skipPendingBytes).toBe(0);
    expect(queue.streamOffset).toBe(1010);
    expect(queue.bufferedBytes).toBe(30);
    expect(queue.take(30).equals(numbered(30, 1010))).toBe(true);
  });

  test('a huge skip costs nothing while its bytes stream through', () => {
    const queue = new ChunkQueue();
    queue.skip(4 * 1024 * 1024 * 1024);
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 64; i += 1) queue.push(chunk);
    expect(queue.bufferedBytes).toBe(0);
    expect(queue.skipPendingBytes).toBe(4 * 1024 * 1024 * 1024 - 64 * 1024 * 1024);
  });

  test('a skip of zero changes nothing', () => {
    const queue = new ChunkQueue();
    queue.push(numbered(4));
    queue.skip(0);
    expect(queue.bufferedBytes).toBe(4);
    expect(queue.skipPendingBytes).toBe(0);
    expect(queue.streamOffset).toBe(0);
  });
});

describe('ChunkQueue: span memory, clear and misuse', () => {
  test('allocateSpan is asked only for copies, and its memory carries the bytes', () => {
    const queue = new ChunkQueue();
    const asked: number[] = [];
    const memory = Buffer.alloc(8, 0xee);
    const allocate = (lengthBytes: number): Buffer => {
      asked.push(lengthBytes);
      return memory.subarray(0, lengthBytes);
    };
    queue.push(numbered(4));
    queue.push(numbered(4, 4));
    expect(queue.take(2, allocate).equals(numbered(2))).toBe(true);
    const span = queue.take(4, allocate);
    expect(asked).toEqual([4]);
    expect(span.buffer).toBe(memory.buffer);
    expect(span.equals(numbered(4, 2))).toBe(true);
  });

  test('an allocateSpan answer of the wrong size is a bug', () => {
    const queue = new ChunkQueue();
    queue.push(numbered(4));
    queue.push(numbered(4, 4));
    expect(() => queue.take(6, () => Buffer.alloc(8))).toThrow(AssertionError);
  });

  test('taking nothing, or more than is buffered, is a bug', () => {
    const queue = new ChunkQueue();
    queue.push(numbered(4));
    expect(() => queue.take(0)).toThrow(AssertionError);
    expect(() => queue.take(5)).toThrow(/holding 4/);
    expect(() => queue.skip(-1)).toThrow(AssertionError);
  });

  test('clear drops buffered bytes and a pending skip, and keeps the stream offset', () => {
    const queue = new ChunkQueue();
    queue.push(numbered(10));
    queue.take(3);
    queue.skip(20);
    queue.clear();
    expect(queue.bufferedBytes).toBe(0);
    expect(queue.skipPendingBytes).toBe(0);
    expect(queue.streamOffset).toBe(10);
    queue.push(numbered(5));
    expect(queue.take(5).equals(numbered(5))).toBe(true);
  });
});

describe('ChunkQueue: against a model', () => {
  const op = fc.record({
    kind: fc.constantFrom('take', 'skip'),
    lengthBytes: fc.integer({ min: 0, max: 70 }),
  });

  propTest.prop([
    fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 30 }),
    fc.array(op, { maxLength: 40 }),
  ])('random chunkings and take/skip sequences match the flat stream', (chunkSizes, ops) => {
    const totalBytes = chunkSizes.reduce((sum, size) => sum + size, 0);
    const stream = numbered(totalBytes);
    const queue = new ChunkQueue();
    let pushedBytes = 0;
    let nextChunk = 0;
    let cursor = 0; // the model: bytes consumed (taken or skipped) from `stream`
    let owedBytes = 0; // the model's pending skip
    const pushOne = (): void => {
      const size = chunkSizes[nextChunk]!;
      queue.push(Buffer.from(stream.subarray(pushedBytes, pushedBytes + size)));
      const droppedBytes = Math.min(owedBytes, size);
      owedBytes -= droppedBytes;
      cursor += droppedBytes;
      pushedBytes += size;
      nextChunk += 1;
    };
    for (const { kind, lengthBytes } of ops) {
      if (nextChunk < chunkSizes.length) pushOne();
      const available = pushedBytes - cursor;
      expect(queue.bufferedBytes).toBe(available);
      if (kind === 'take') {
        if (lengthBytes === 0 || lengthBytes > available) continue;
        expect(queue.take(lengthBytes).equals(stream.subarray(cursor, cursor + lengthBytes))).toBe(true);
        cursor += lengthBytes;
      } else {
        queue.skip(lengthBytes);
        const nowBytes = Math.min(lengthBytes, available);
        cursor += nowBytes;
        owedBytes += lengthBytes - nowBytes;
      }
      expect(queue.streamOffset).toBe(cursor);
      expect(queue.skipPendingBytes).toBe(owedBytes);
    }
    while (nextChunk < chunkSizes.length) pushOne();
    const restBytes = pushedBytes - cursor;
    expect(queue.bufferedBytes).toBe(restBytes);
    if (restBytes > 0) expect(queue.take(restBytes).equals(stream.subarray(cursor))).toBe(true);
  });
});
