/**
 * Incremental framing of an iSCSI byte stream into PDUs (BHS, AHS, data segment), for either side.
 *
 * Rules (RFC 7143 §11.1, §11.2):
 * - A PDU is the 48-byte BHS, TotalAHSLength × 4 bytes of AHS, a 4-byte header digest if
 *   negotiated, then, only if DataSegmentLength > 0, the data segment padded to a multiple of 4
 *   and a 4-byte data digest if negotiated. Its length is a pure function of the BHS and of the
 *   options passed in here; `pduWireBytes` in bhs.ts computes it.
 * - DataSegmentLength is checked against maxRecvDataSegmentLength as soon as it can be trusted:
 *   right after the BHS without header digests, right after the header digest verifies with them.
 *   The framer never waits for more than 48 + 1020 + 4 bytes before that check, so it never holds
 *   more than one PDU's worth (`pduWireBytesMax`) of an incomplete PDU.
 *
 * Errors are values (`kind: 'error'`), each with the raw BHS, a summary of it, and `fatal`:
 * - ISCSI_ERR_HEADER_DIGEST (fatal): the lengths cannot be trusted, so the stream cannot be
 *   resynchronised. RFC 7143 §7.8 lets a target discard up to a later PDU or close; without
 *   sync markers the only safe choice is to close the connection, which the caller does.
 * - ISCSI_ERR_DATA_DIGEST (not fatal): the header was good, the bytes are consumed, the stream
 *   stays in sync. The caller Rejects with reason 0x02 (`error.answer`) using `bhs`, or recovers.
 * - ISCSI_ERR_OVERSIZE_DATA_SEGMENT: a data segment beyond MaxRecvDataSegmentLength is a
 *   protocol error. With `oversizeDataSegment: 'skip'` (the default) the framer reports it
 *   and then drops the data segment, padding and digest as they arrive, never buffering them;
 *   the caller Rejects (reason 0x04) and may go on. With 'stop' the error is fatal.
 * After a fatal error the framer is stopped: `next()` returns undefined, `push()` discards, and
 * the buffered bytes are released.
 *
 * Negotiated values (HeaderDigest, DataDigest, MaxRecvDataSegmentLength) apply from the first PDU
 * after the final Login Response (the one moving to Full Feature Phase, §13.1, §13.12): login PDUs
 * are framed with digests off and the login-time limit. The setters below take effect from the
 * next PDU whose BHS `next()` has not started to read, so the caller must call them before the
 * next `next()` once it has decided (target) or received (initiator) that final Login Response.
 *
 * Theory of operation: `push()` appends chunks; `next()` returns at most one frame or error per
 * call and undefined when it needs more bytes; call it until undefined after every push. The
 * byte mechanics (views or copies, skipping, stream offset) are ChunkQueue's (core/chunk-queue.ts).
 *
 * Ownership: a frame's `bhs`, `ahs` and `data` are subarrays of a pushed chunk when they lie in
 * one chunk, and fresh copies only when they span chunks. The framer keeps references to chunks
 * until their bytes are consumed. Callers must not modify a chunk after pushing it and must copy
 * a frame's buffers if they keep them while the chunk's memory could be reused (Node socket 'data'
 * chunks are fresh buffers, so a transport can push them as they come). Holding a small frame
 * keeps its whole chunk alive; copy it if that matters.
 *
 * Memory: at most one incomplete PDU plus the not yet framed bytes the caller pushed;
 * `bufferedBytes` exposes the total so a transport can pause reading above a watermark. Every
 * length read from the wire is bounded before anything is allocated for it: TotalAHSLength by its
 * 8-bit field (1020 bytes), DataSegmentLength by maxRecvDataSegmentLength (checked above), so
 * a lying length costs nothing. `pduInProgress` tells a receiver that a PDU is half-received (it
 * times out a peer that stalls there; docs/limits.md).
 *
 * Recycling: a caller that is done with a frame's `data` (it copied the bytes, as a target does
 * with Data-Out) may hand it back with `recycle(data)`. If it is the framer's own copy of a large
 * segment that spanned chunks, the next such copy reuses its memory instead of allocating: large
 * short-lived allocations are what drive the garbage collector on a write-heavy connection.
 * Views of pushed chunks are never reused (other frames may share the chunk).
 */
import { assert } from '../../core/assert.js';
import { ChunkQueue } from '../../core/chunk-queue.js';
import {
  BHS_BYTES,
  type BhsSummary,
  DATA_SEGMENT_LENGTH_MAX,
  DIGEST_BYTES,
  type DigestOptions,
  dataSegmentWireBytes,
  padded4,
  pduWireBytesMax,
  readDataSegmentLength,
  readTotalAhsBytes,
  summarizeBhs,
} from './bhs.js';
import { crc32c, readDigest } from './digest.js';
import type { PduError } from './errors.js';
import { EMPTY_DATA } from './messages.js';
import { opcodeName, RejectReason } from './opcodes.js';

export interface PduFramerOptions extends DigestOptions {
  /** The MaxRecvDataSegmentLength we declared (8192 until negotiated, §13.12). */
  readonly maxRecvDataSegmentLength: number;
  /** What follows an oversize data segment: skip its bytes and go on (default), or stop. */
  readonly oversizeDataSegment?: 'skip' | 'stop';
}

/** A whole PDU: pass it to `decodePdu`. */
export interface Frame {
  readonly kind: 'frame';
  /** Exactly 48 bytes. */
  readonly bhs: Buffer;
  /** TotalAHSLength × 4 bytes (usually empty). */
  readonly ahs: Buffer;
  /** DataSegmentLength bytes, without padding or digest. */
  readonly data: Buffer;
}

export interface FramingError {
  readonly kind: 'error';
  readonly error: PduError;
  /** True when the stream cannot continue: the framer has stopped and the caller closes. */
  readonly fatal: boolean;
  /** The PDU's BHS, for `rejectFor` and logs (untrustworthy after a header digest error). */
  readonly bhs: Buffer;
  /** The AHS area when it was read, else empty. */
  readonly ahs: Buffer;
  readonly header: BhsSummary;
}

/** A header whose data segment is still to come. */
interface PendingData {
  readonly bhs: Buffer;
  readonly ahs: Buffer;
  readonly dataBytes: number;
}

export class PduFramer {
  /** Options for the PDU being framed; copied from #next at each PDU boundary. */
  #current: Required<PduFramerOptions>;
  #next: Required<PduFramerOptions>;
  /** Pushed bytes not yet framed; its pending skip drops an oversize data segment as it arrives. */
  readonly #queue = new ChunkQueue();
  /** BHS read, waiting for AHS and header digest. */
  #pendingBhs: Buffer | undefined = undefined;
  /** Header complete, waiting for the data segment. */
  #pendingData: PendingData | undefined = undefined;
  #stopped = false;
  /** Stream position of the current PDU's BHS (for error offsets). */
  #pduOffset = 0;
  /** The last large span copy #take made: the only buffer recycle() takes back. */
  #lastSpanCopy: Buffer | undefined = undefined;
  /** A span copy the caller gave back, for the next large span. */
  #spareSpanCopy: Buffer | undefined = undefined;
  /** Made once: a closure per take would allocate on every spanning take. */
  readonly #allocateSpan = (lengthBytes: number): Buffer => this.#spanBuffer(lengthBytes);

  constructor(opts: PduFramerOptions) {
    const options = withDefaults(opts);
    this.#current = options;
    this.#next = options;
  }

  /** The options the next PDU will be framed with. */
  get options(): Required<PduFramerOptions> {
    return this.#next;
  }

  /** Bytes held in memory (pushed, not yet returned by `next()` nor skipped). */
  get bufferedBytes(): number {
    return this.#queue.bufferedBytes;
  }

  /** Bytes of an oversize data segment still to be skipped when they arrive. */
  get skipPendingBytes(): number {
    return this.#queue.skipPendingBytes;
  }

  /**
   * True while a PDU is under way: some of its bytes came, not all (or an oversize data segment
   * is still being skipped). A receiver times this out (a peer that stalls mid-PDU); it is false
   * at every PDU boundary.
   */
  get pduInProgress(): boolean {
    return (
      this.#pendingBhs !== undefined ||
      this.#pendingData !== undefined ||
      this.#queue.bufferedBytes > 0 ||
      this.#queue.skipPendingBytes > 0
    );
  }

  /** True after a fatal error: the connection must be closed. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The largest incomplete PDU the framer will wait for with the options now set. */
  get pduBytesMax(): number {
    return pduWireBytesMax(this.#next.maxRecvDataSegmentLength, this.#next);
  }

  /** Turns digests on or off from the next PDU on (see the file comment for when). */
  setDigests(digests: DigestOptions): void {
    this.#next = { ...this.#next, headerDigest: digests.headerDigest, dataDigest: digests.dataDigest };
  }

  /** Changes the data segment limit from the next PDU on (see the file comment for when). */
  setMaxRecvDataSegmentLength(lengthBytes: number): void {
    this.#next = withDefaults({ ...this.#next, maxRecvDataSegmentLength: lengthBytes });
  }

  /**
   * The caller no longer uses `data`, a frame's data segment (see the file comment). Anything
   * but the framer's last large span copy is ignored, so passing any frame's data is safe.
   */
  recycle(data: Buffer): void {
    const copy = this.#lastSpanCopy;
    if (copy === undefined || data.buffer !== copy.buffer || data.byteOffset !== copy.byteOffset) return;
    this.#lastSpanCopy = undefined;
    this.#spareSpanCopy = copy;
  }

  push(chunk: Buffer): void {
    if (this.#stopped) return;
    this.#queue.push(chunk);
  }

  next(): Frame | FramingError | undefined {
    if (this.#stopped) return undefined;
    // A skip drops what is buffered at once, so while bytes are owed to it nothing is buffered.
    if (this.#queue.skipPendingBytes > 0) return undefined;
    if (this.#pendingBhs === undefined && this.#pendingData === undefined) {
      if (this.#queue.bufferedBytes < BHS_BYTES) return undefined;
      this.#current = this.#next;
      this.#pduOffset = this.#queue.streamOffset;
      const bhs = this.#take(BHS_BYTES);
      if (!this.#current.headerDigest) {
        const oversize = this.#checkOversize(bhs, EMPTY_DATA);
        if (oversize !== undefined) return oversize;
      }
      this.#pendingBhs = bhs;
    }
    if (this.#pendingBhs !== undefined) {
      const header = this.#readHeaderRest(this.#pendingBhs);
      if (header === undefined || 'kind' in header) return header;
      if (header.dataBytes === 0) {
        return { kind: 'frame', bhs: header.bhs, ahs: header.ahs, data: EMPTY_DATA };
      }
      this.#pendingData = header;
    }
    return this.#readData();
  }

  /** Reads the AHS and header digest after `bhs`: undefined (need bytes), an error, or the header. */
  #readHeaderRest(bhs: Buffer): PendingData | FramingError | undefined {
    const ahsBytes = readTotalAhsBytes(bhs);
    const digestBytes = this.#current.headerDigest ? DIGEST_BYTES : 0;
    if (this.#queue.bufferedBytes < ahsBytes + digestBytes) return undefined;
    const rest = ahsBytes + digestBytes > 0 ? this.#take(ahsBytes + digestBytes) : EMPTY_DATA;
    // No view is made for an empty AHS area (nearly every PDU): Buffer views cost allocations.
    const ahs = ahsBytes === 0 ? EMPTY_DATA : rest.subarray(0, ahsBytes);
    this.#pendingBhs = undefined;
    if (this.#current.headerDigest) {
      const expected = crc32c([bhs, ahs]);
      const received = readDigest(rest, ahsBytes);
      if (expected !== received) return this.#headerDigestError(bhs, ahs, expected, received);
      const oversize = this.#checkOversize(bhs, ahs);
      if (oversize !== undefined) return oversize;
    }
    return { bhs, ahs, dataBytes: readDataSegmentLength(bhs) };
  }

  #readData(): Frame | FramingError | undefined {
    const pending = this.#pendingData;
    if (pending === undefined) return undefined;
    const wireBytes = dataSegmentWireBytes(pending.dataBytes, this.#current);
    if (this.#queue.bufferedBytes < wireBytes) return undefined;
    this.#pendingData = undefined;
    const span = this.#take(wireBytes);
    const data = wireBytes === pending.dataBytes ? span : span.subarray(0, pending.dataBytes);
    if (this.#current.dataDigest) {
      const paddedBytes = padded4(pending.dataBytes);
      const expected = crc32c(span.subarray(0, paddedBytes));
      const received = readDigest(span, paddedBytes);
      if (expected !== received) return this.#dataDigestError(pending, expected, received);
    }
    return { kind: 'frame', bhs: pending.bhs, ahs: pending.ahs, data };
  }

  /** An oversize error (and the skip or stop that follows it), or undefined if the size is fine. */
  #checkOversize(bhs: Buffer, ahs: Buffer): FramingError | undefined {
    const dataBytes = readDataSegmentLength(bhs);
    const limitBytes = this.#current.maxRecvDataSegmentLength;
    if (dataBytes <= limitBytes) return undefined;
    const stop = this.#current.oversizeDataSegment === 'stop';
    const error: PduError = {
      code: 'ISCSI_ERR_OVERSIZE_DATA_SEGMENT',
      message:
        `${opcodeName(bhs[0]! & 0x3f)} declares a ${dataBytes}-byte data segment, above our ` +
        `MaxRecvDataSegmentLength of ${limitBytes}; ${stop ? 'stopped' : 'skipped it'} ` +
        '(the peer must respect the MaxRecvDataSegmentLength we declared)',
      offset: this.#pduOffset,
      answer: RejectReason.PROTOCOL_ERROR,
    };
    this.#pendingBhs = undefined;
    if (stop) {
      this.#stop();
    } else {
      // Without a header digest the AHS and header digest bytes are unread: skip them too.
      const headerRestBytes = this.#current.headerDigest ? 0 : readTotalAhsBytes(bhs);
      this.#queue.skip(headerRestBytes + dataSegmentWireBytes(dataBytes, this.#current));
    }
    return { kind: 'error', error, fatal: stop, bhs, ahs, header: summarizeBhs(bhs) };
  }

  #headerDigestError(bhs: Buffer, ahs: Buffer, expected: number, received: number): FramingError {
    this.#stop();
    const error: PduError = {
      code: 'ISCSI_ERR_HEADER_DIGEST',
      message:
        `header digest of the PDU at stream offset ${this.#pduOffset} is 0x${hex32(received)}, ` +
        `expected 0x${hex32(expected)}; its lengths cannot be trusted, close the connection (RFC 7143 §7.8)`,
      offset: this.#pduOffset,
    };
    return { kind: 'error', error, fatal: true, bhs, ahs, header: summarizeBhs(bhs) };
  }

  #dataDigestError(pending: PendingData, expected: number, received: number): FramingError {
    const error: PduError = {
      code: 'ISCSI_ERR_DATA_DIGEST',
      message:
        `data digest of ${opcodeName(pending.bhs[0]! & 0x3f)} at stream offset ${this.#pduOffset} is ` +
        `0x${hex32(received)}, expected 0x${hex32(expected)}; Reject it (reason 0x02) or recover (RFC 7143 §7.8)`,
      offset: this.#pduOffset,
      answer: RejectReason.DATA_DIGEST_ERROR,
    };
    return {
      kind: 'error',
      error,
      fatal: false,
      bhs: pending.bhs,
      ahs: pending.ahs,
      header: summarizeBhs(pending.bhs),
    };
  }

  #stop(): void {
    this.#stopped = true;
    this.#queue.clear();
    this.#pendingBhs = undefined;
    this.#pendingData = undefined;
  }

  /** Removes and returns the next `lengthBytes` buffered bytes; copies only if they span chunks. */
  #take(lengthBytes: number): Buffer {
    return this.#queue.take(lengthBytes, this.#allocateSpan);
  }

  /** Memory for a span copy: the recycled spare when it is big enough, else a new buffer. */
  #spanBuffer(lengthBytes: number): Buffer {
    if (lengthBytes < SPAN_RECYCLE_BYTES_MIN) return Buffer.allocUnsafe(lengthBytes);
    const spare = this.#spareSpanCopy;
    this.#spareSpanCopy = undefined;
    const copy = spare !== undefined && spare.length >= lengthBytes ? spare : Buffer.allocUnsafe(lengthBytes);
    this.#lastSpanCopy = copy;
    return copy.length === lengthBytes ? copy : copy.subarray(0, lengthBytes);
  }
}

/** Span copies below this size come from Node's pool and are cheap: they are never recycled. */
const SPAN_RECYCLE_BYTES_MIN = 64 * 1024;

function withDefaults(opts: PduFramerOptions): Required<PduFramerOptions> {
  assert(
    Number.isSafeInteger(opts.maxRecvDataSegmentLength) &&
      opts.maxRecvDataSegmentLength >= 0 &&
      opts.maxRecvDataSegmentLength <= DATA_SEGMENT_LENGTH_MAX,
    `maxRecvDataSegmentLength ${opts.maxRecvDataSegmentLength} is not a byte count up to 2^24-1`,
  );
  return {
    headerDigest: opts.headerDigest,
    dataDigest: opts.dataDigest,
    maxRecvDataSegmentLength: opts.maxRecvDataSegmentLength,
    oversizeDataSegment: opts.oversizeDataSegment ?? 'skip',
  };
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0');
}
