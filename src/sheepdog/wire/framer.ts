/**
 * Incremental framing of a sheep byte stream into (header, payload) messages, for either side.
 *
 * Rules (sections 1.1, 1.6):
 * - Every message is a 48-byte header, then maybe a payload. The payload length is a pure
 *   function of the header and the side: a request carries `data_length` bytes iff
 *   SD_FLAG_CMD_WRITE is set and data_length > 0 (otherwise data_length is only the size the
 *   client wants back); a response carries `data_length` bytes iff data_length > 0.
 * - The limit is checked as soon as the header is complete, before any payload is awaited. A
 *   declared payload above `payloadBytesMax` yields an `oversize` frame at once, and those
 *   bytes are then *skipped* as they arrive, never buffered: a 4 GiB claim costs nothing and
 *   the stream stays in sync for the next message.
 *
 * Theory of operation: `push()` appends chunks to a list (after dropping any bytes still owed
 * to a skip); `next()` returns at most one frame per call and `undefined` when it needs more
 * bytes. Call `next()` until it returns undefined after every push. Bytes are concatenated only
 * when a header or payload spans chunks; a header or payload lying inside one chunk is returned
 * as a subarray.
 *
 * Ownership: frames may alias the pushed chunks (subarrays), and the framer keeps references to
 * chunks until their bytes are consumed. Callers must not modify a chunk after pushing it; copy
 * a frame's buffers if they are kept while the chunk's memory could be reused. (Node socket
 * 'data' chunks are fresh buffers, so a transport can push them as they come.)
 *
 * Memory: the framer holds at most one incomplete message (48 + payloadBytesMax bytes) plus
 * whatever complete messages the caller has not yet taken with `next()`; `bufferedBytes` exposes
 * the total so a transport can pause reading above a watermark.
 */
import { assert } from '../../core/assert.js';
import { SD_HEADER_SIZE, SdFlag, SdRes } from './constants.js';
import type { WireError } from './errors.js';

/** Offsets of the two header fields framing depends on (section 1.2). */
const FLAGS_OFFSET = 2;
const DATA_LENGTH_OFFSET = 12;

export type FramerSide = 'request' | 'response';

export interface SheepFramerOptions {
  /** 'request': we are the server reading requests; 'response': we are the client. */
  readonly side: FramerSide;
  /** Largest payload accepted; larger declared payloads are skipped and reported. */
  readonly payloadBytesMax: number;
}

export type Frame =
  | {
      readonly kind: 'message';
      /** Exactly 48 bytes; may alias a pushed chunk. */
      readonly header: Buffer;
      /** The payload (may alias a pushed chunk), or undefined when the header declares none. */
      readonly payload: Buffer | undefined;
    }
  | {
      readonly kind: 'oversize';
      /** Exactly 48 bytes; may alias a pushed chunk. */
      readonly header: Buffer;
      /** Declared payload size, which the framer skips. */
      readonly payloadBytes: number;
      /** SD_ERR_OVERSIZE_PAYLOAD; `answer` is set on the request side (the server replies). */
      readonly error: WireError;
    };

/** Payload bytes that follow a header with these flags and data_length on this side. */
export function declaredPayloadBytes(side: FramerSide, flags: number, dataLength: number): number {
  if (side === 'response') return dataLength;
  return (flags & SdFlag.WRITE) !== 0 ? dataLength : 0;
}

export class SheepFramer {
  readonly #side: FramerSide;
  readonly #payloadBytesMax: number;
  /** Unconsumed chunks; the first one is consumed from #headOffset on. */
  #chunks: Buffer[] = [];
  #headOffset = 0;
  #bufferedBytes = 0;
  /** Bytes of an oversize payload still to drop as they arrive. */
  #skipBytes = 0;
  /** Header of the message whose payload is still arriving. */
  #pendingHeader: Buffer | undefined = undefined;
  #pendingPayloadBytes = 0;
  /** Stream position of the next unconsumed byte (for error offsets). */
  #streamOffset = 0;

  constructor(opts: SheepFramerOptions) {
    assert(
      Number.isSafeInteger(opts.payloadBytesMax) && opts.payloadBytesMax >= 0,
      `payloadBytesMax ${opts.payloadBytesMax} is not a byte count`,
    );
    this.#side = opts.side;
    this.#payloadBytesMax = opts.payloadBytesMax;
  }

  /** Bytes held in memory (pushed, not yet returned by `next()` nor skipped). */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Bytes of an oversize payload that are still to be skipped when they arrive. */
  get skipPendingBytes(): number {
    return this.#skipBytes;
  }

  push(chunk: Buffer): void {
    let rest = chunk;
    if (this.#skipBytes > 0) {
      const skipped = Math.min(this.#skipBytes, rest.length);
      this.#skipBytes -= skipped;
      this.#streamOffset += skipped;
      rest = rest.subarray(skipped);
    }
    if (rest.length === 0) return;
    this.#chunks.push(rest);
    this.#bufferedBytes += rest.length;
  }

  next(): Frame | undefined {
    if (this.#skipBytes > 0) {
      // Bytes of a skipped payload may already be buffered (pushed with its header).
      this.#skip(Math.min(this.#skipBytes, this.#bufferedBytes));
      if (this.#skipBytes > 0) return undefined;
    }
    if (this.#pendingHeader === undefined) {
      if (this.#bufferedBytes < SD_HEADER_SIZE) return undefined;
      const headerOffset = this.#streamOffset;
      const header = this.#take(SD_HEADER_SIZE);
      const flags = header.readUInt16LE(FLAGS_OFFSET);
      const dataLength = header.readUInt32LE(DATA_LENGTH_OFFSET);
      const payloadBytes = declaredPayloadBytes(this.#side, flags, dataLength);
      if (payloadBytes > this.#payloadBytesMax) {
        this.#skipBytes = payloadBytes;
        this.#skip(Math.min(this.#skipBytes, this.#bufferedBytes));
        return {
          kind: 'oversize',
          header,
          payloadBytes,
          error: this.#oversizeError(payloadBytes, headerOffset),
        };
      }
      if (payloadBytes === 0) return { kind: 'message', header, payload: undefined };
      this.#pendingHeader = header;
      this.#pendingPayloadBytes = payloadBytes;
    }
    if (this.#bufferedBytes < this.#pendingPayloadBytes) return undefined;
    const header = this.#pendingHeader;
    const payload = this.#take(this.#pendingPayloadBytes);
    this.#pendingHeader = undefined;
    this.#pendingPayloadBytes = 0;
    return { kind: 'message', header, payload };
  }

  #oversizeError(payloadBytes: number, headerOffset: number): WireError {
    const message =
      `sheep ${this.#side} declares a ${payloadBytes}-byte payload, above the ${this.#payloadBytesMax}-byte limit; ` +
      'skipped it (raise payloadBytesMax if such payloads are legitimate)';
    return this.#side === 'request'
      ? { code: 'SD_ERR_OVERSIZE_PAYLOAD', message, offset: headerOffset, answer: SdRes.INVALID_PARMS }
      : { code: 'SD_ERR_OVERSIZE_PAYLOAD', message, offset: headerOffset };
  }

  /** Removes and returns the next `lengthBytes` buffered bytes; copies only if they span chunks. */
  #take(lengthBytes: number): Buffer {
    assert(
      lengthBytes > 0 && lengthBytes <= this.#bufferedBytes,
      `take of ${lengthBytes} bytes exceeds the buffer`,
    );
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length - this.#headOffset >= lengthBytes) {
      out = first.subarray(this.#headOffset, this.#headOffset + lengthBytes);
      this.#headOffset += lengthBytes;
      if (this.#headOffset === first.length) {
        this.#chunks.shift();
        this.#headOffset = 0;
      }
    } else {
      // Every byte of `out` is overwritten below, so uninitialised memory never escapes.
      out = Buffer.allocUnsafe(lengthBytes);
      const copiedBytes = this.#consume(lengthBytes, (chunk, start, end, at) =>
        chunk.copy(out, at, start, end),
      );
      assert(copiedBytes === lengthBytes, 'framer copied fewer bytes than it took');
    }
    this.#bufferedBytes -= lengthBytes;
    this.#streamOffset += lengthBytes;
    return out;
  }

  /** Drops the next `lengthBytes` buffered bytes that belong to an oversize payload. */
  #skip(lengthBytes: number): void {
    if (lengthBytes === 0) return;
    this.#consume(lengthBytes, () => {});
    this.#bufferedBytes -= lengthBytes;
    this.#streamOffset += lengthBytes;
    this.#skipBytes -= lengthBytes;
  }

  /**
   * Walks `lengthBytes` from the head of the chunk list, calling `visit` per piece, and removes
   * fully consumed chunks with one splice (not one shift per chunk, which is quadratic when a
   * peer sends many tiny chunks). Returns the number of bytes visited.
   */
  #consume(
    lengthBytes: number,
    visit: (chunk: Buffer, start: number, end: number, at: number) => void,
  ): number {
    let doneBytes = 0;
    let index = 0;
    let start = this.#headOffset;
    while (doneBytes < lengthBytes) {
      const chunk = this.#chunks[index]!;
      const pieceBytes = Math.min(chunk.length - start, lengthBytes - doneBytes);
      visit(chunk, start, start + pieceBytes, doneBytes);
      doneBytes += pieceBytes;
      if (start + pieceBytes === chunk.length) {
        index += 1;
        start = 0;
      } else {
        start += pieceBytes;
      }
    }
    this.#chunks.splice(0, index);
    this.#headOffset = start;
    return doneBytes;
  }
}
