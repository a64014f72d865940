/**
 * Reads exact-size pieces from a stream of chunks (stdin, a file, a Buffer): `read(n)` returns n
 * bytes, or fewer only when the source has ended. At most one piece plus one source chunk is
 * held, so a VDI write from stdin needs memory for a few objects, not for the whole input.
 */
import { assert } from '../core/assert.js';

export class ByteSource {
  readonly #iterator: AsyncIterator<Buffer | Uint8Array | string> | undefined;
  #head: Buffer = Buffer.alloc(0);
  #ended = false;

  constructor(source: Buffer | AsyncIterable<Buffer | Uint8Array | string>) {
    if (Buffer.isBuffer(source)) {
      this.#head = source;
      this.#ended = true;
      this.#iterator = undefined;
    } else {
      this.#iterator = source[Symbol.asyncIterator]();
    }
  }

  /** True once the source has ended and every byte has been read. */
  get done(): boolean {
    return this.#ended && this.#head.length === 0;
  }

  async read(lengthBytes: number): Promise<Buffer> {
    assert(
      Number.isSafeInteger(lengthBytes) && lengthBytes >= 0,
      `read length ${lengthBytes} is not a byte count`,
    );
    const pieces: Buffer[] = [];
    let haveBytes = 0;
    while (haveBytes < lengthBytes) {
      if (this.#head.length === 0) {
        if (this.#ended || this.#iterator === undefined) break;
        const next = await this.#iterator.next();
        if (next.done === true) {
          this.#ended = true;
          break;
        }
        const value = next.value;
        this.#head =
          typeof value === 'string'
            ? Buffer.from(value)
            : Buffer.from(value.buffer, value.byteOffset, value.length);
        continue;
      }
      const takeBytes = Math.min(lengthBytes - haveBytes, this.#head.length);
      pieces.push(this.#head.subarray(0, takeBytes));
      this.#head = this.#head.subarray(takeBytes);
      haveBytes += takeBytes;
    }
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, haveBytes);
  }
}
