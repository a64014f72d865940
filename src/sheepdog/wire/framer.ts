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
 * as a subarray. These byte mechanics are ChunkQueue's (core/chunk-queue.ts).
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
import { ChunkQueue } from '../../core/chunk-queue.js';
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
  /** Pushed bytes not yet framed; its pending skip drops an oversize payload as it arrives. */
  readonly #queue = new ChunkQueue();
  /** Header of the message whose payload is still arriving. */
  #pendingHeader: Buffer | undefined = undefined;
  #pendingPayloadBytes = 0;

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
    return this.#queue.bufferedBytes;
  }

  /** Bytes of an oversize payload that are still to be skipped when they arrive. */
  get skipPendingBytes(): number {
    return this.#queue.skipPendingBytes;
  }

  push(chunk: Buffer): void {
    this.#queue.push(chunk);
  }

  next(): Frame | undefined {
    // A skip drops what is buffered at once, so while bytes are owed to it nothing is buffered.
    if (this.#queue.skipPendingBytes > 0) return undefined;
    if (this.#pendingHeader === undefined) {
      if (this.#queue.bufferedBytes < SD_HEADER_SIZE) return undefined;
      const headerOffset = this.#queue.streamOffset;
      const header = this.#queue.take(SD_HEADER_SIZE);
      const flags = header.readUInt16LE(FLAGS_OFFSET);
      const dataLength = header.readUInt32LE(DATA_LENGTH_OFFSET);
      const payloadBytes = declaredPayloadBytes(this.#side, flags, dataLength);
      if (payloadBytes > this.#payloadBytesMax) {
        this.#queue.skip(payloadBytes);
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
    if (this.#queue.bufferedBytes < this.#pendingPayloadBytes) return undefined;
    const header = this.#pendingHeader;
    const payload = this.#queue.take(this.#pendingPayloadBytes);
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
}
