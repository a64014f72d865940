/**
 * A FIFO of received byte chunks that a framer cuts into pieces: the byte-level mechanics shared
 * by the iSCSI and sheep framers, which add only their protocol's rules on top.
 *
 * Rules:
 * - `take(n)` removes the next n bytes. When they lie in one chunk it returns a subarray of that
 *   chunk (no copy); when they span chunks it copies them into one buffer, which the caller may
 *   supply (`allocateSpan`, e.g. to reuse memory) or which is allocated here.
 * - `skip(n)` drops the next n bytes of the stream without buffering them: the bytes already held
 *   are dropped now and the rest are cut off future pushes as they arrive, so a peer declaring a
 *   4 GiB payload costs nothing. While bytes are owed to a skip nothing is buffered.
 * - `streamOffset` counts every byte consumed from the stream, taken or skipped, so a framer can
 *   name where a message began.
 *
 * Consumed chunks are removed with one splice per take or skip, not one shift per chunk, which
 * would be quadratic when a peer sends many tiny chunks.
 *
 * Ownership: subarrays returned by `take` alias the pushed chunks, and the queue keeps references
 * to chunks until all their bytes are consumed. Callers must not modify a chunk after pushing it,
 * and must copy a taken buffer they keep while the chunk's memory could be reused (Node socket
 * 'data' chunks are fresh buffers, so a transport can push them as they come). A small piece
 * taken as a view keeps its whole chunk alive.
 */
import { AssertionError } from './assert.js';

export class ChunkQueue {
  /** Unconsumed chunks; the first one is consumed from #headOffset on. */
  #chunks: Buffer[] = [];
  #headOffset = 0;
  #bufferedBytes = 0;
  /** Bytes still owed to a skip, cut off future pushes. Nonzero only while nothing is buffered. */
  #skipPendingBytes = 0;
  #streamOffset = 0;

  /** Bytes held (pushed, not yet taken nor skipped). */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Bytes of a skip still to be dropped as they arrive. */
  get skipPendingBytes(): number {
    return this.#skipPendingBytes;
  }

  /** Stream position of the next unconsumed byte: all bytes taken or skipped so far. */
  get streamOffset(): number {
    return this.#streamOffset;
  }

  /** Appends `chunk` (after dropping any bytes still owed to a skip). Empty chunks are ignored. */
  push(chunk: Buffer): void {
    let rest = chunk;
    if (this.#skipPendingBytes > 0) {
      const skippedBytes = Math.min(this.#skipPendingBytes, rest.length);
      this.#skipPendingBytes -= skippedBytes;
      this.#streamOffset += skippedBytes;
      rest = rest.subarray(skippedBytes);
    }
    if (rest.length === 0) return;
    this.#chunks.push(rest);
    this.#bufferedBytes += rest.length;
  }

  /**
   * Removes and returns the next `lengthBytes` (1 to `bufferedBytes`) bytes: a view of a pushed
   * chunk when they lie in one, else a copy into `allocateSpan(lengthBytes)` (default: a new
   * buffer), which must return exactly `lengthBytes` bytes that the copy then fully overwrites.
   */
  take(lengthBytes: number, allocateSpan: (lengthBytes: number) => Buffer = allocateUnsafe): Buffer {
    if (!(lengthBytes > 0 && lengthBytes <= this.#bufferedBytes)) {
      // Built only on failure: take runs several times per message.
      throw new AssertionError(
        `take of ${lengthBytes} bytes from a queue holding ${this.#bufferedBytes}; check bufferedBytes first`,
      );
    }
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
      out = allocateSpan(lengthBytes);
      if (out.length !== lengthBytes) {
        throw new AssertionError(`allocateSpan returned ${out.length} bytes for a ${lengthBytes}-byte take`);
      }
      this.#consume(lengthBytes, out);
    }
    this.#bufferedBytes -= lengthBytes;
    this.#streamOffset += lengthBytes;
    return out;
  }

  /**
   * Drops the next `lengthBytes` bytes of the stream: those buffered now, and the rest from future
   * pushes as they arrive (see `skipPendingBytes`).
   */
  skip(lengthBytes: number): void {
    if (!(Number.isSafeInteger(lengthBytes) && lengthBytes >= 0)) {
      throw new AssertionError(`skip of ${lengthBytes} bytes; pass a byte count`);
    }
    const nowBytes = Math.min(lengthBytes, this.#bufferedBytes);
    if (nowBytes > 0) {
      this.#consume(nowBytes, undefined);
      this.#bufferedBytes -= nowBytes;
      this.#streamOffset += nowBytes;
    }
    this.#skipPendingBytes += lengthBytes - nowBytes;
  }

  /** Releases every buffered chunk and forgets any pending skip; `streamOffset` stays. */
  clear(): void {
    this.#chunks = [];
    this.#headOffset = 0;
    this.#bufferedBytes = 0;
    this.#skipPendingBytes = 0;
  }

  /**
   * Consumes `lengthBytes` (at most `bufferedBytes`) from the head of the chunk list, copying them
   * into `out` when given, and removes the fully consumed chunks with one splice.
   */
  #consume(lengthBytes: number, out: Buffer | undefined): void {
    let doneBytes = 0;
    let index = 0;
    let start = this.#headOffset;
    while (doneBytes < lengthBytes) {
      const chunk = this.#chunks[index]!;
      const pieceBytes = Math.min(chunk.length - start, lengthBytes - doneBytes);
      if (out !== undefined) chunk.copy(out, doneBytes, start, start + pieceBytes);
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
  }
}

function allocateUnsafe(lengthBytes: number): Buffer {
  // Safe: take overwrites every byte, so uninitialised memory never escapes.
  return Buffer.allocUnsafe(lengthBytes);
}
