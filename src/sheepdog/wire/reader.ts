/**
 * A cursor over a Buffer for little-endian sheep structures: each read returns a value and moves
 * the cursor. Decoders check a structure's length before they read it (and return a WireError
 * when it is short), so reading past the end here is Collie's bug and asserts.
 *
 * `bytes()` returns a subarray: it aliases the underlying buffer and is not a copy.
 */
import { assert } from '../../core/assert.js';

export class WireReader {
  readonly #buf: Buffer;
  #offset: number;

  constructor(buf: Buffer, offset = 0) {
    assert(
      Number.isInteger(offset) && offset >= 0 && offset <= buf.length,
      `reader offset ${offset} is outside the buffer`,
    );
    this.#buf = buf;
    this.#offset = offset;
  }

  get offset(): number {
    return this.#offset;
  }

  get remainingBytes(): number {
    return this.#buf.length - this.#offset;
  }

  /** Moves the cursor to an absolute offset (the layout tables in the protocol doc are absolute). */
  seek(offset: number): this {
    assert(
      Number.isInteger(offset) && offset >= 0 && offset <= this.#buf.length,
      `seek to ${offset} is outside the buffer`,
    );
    this.#offset = offset;
    return this;
  }

  skip(lengthBytes: number): this {
    return this.seek(this.#offset + lengthBytes);
  }

  u8(): number {
    const at = this.#take(1);
    return this.#buf.readUInt8(at);
  }

  u16(): number {
    const at = this.#take(2);
    return this.#buf.readUInt16LE(at);
  }

  u32(): number {
    const at = this.#take(4);
    return this.#buf.readUInt32LE(at);
  }

  u64(): bigint {
    const at = this.#take(8);
    return this.#buf.readBigUInt64LE(at);
  }

  /**
   * A C string in a fixed-size field: the bytes up to the first NUL (or the whole field if there
   * is none), decoded as UTF-8. Invalid UTF-8 becomes U+FFFD rather than an error, because names
   * are only compared and logged.
   */
  fixedString(lengthBytes: number): string {
    const at = this.#take(lengthBytes);
    const field = this.#buf.subarray(at, at + lengthBytes);
    const nul = field.indexOf(0);
    return field.toString('utf8', 0, nul === -1 ? lengthBytes : nul);
  }

  /** The next `lengthBytes` bytes as a subarray that aliases the underlying buffer. */
  bytes(lengthBytes: number): Buffer {
    const at = this.#take(lengthBytes);
    return this.#buf.subarray(at, at + lengthBytes);
  }

  #take(lengthBytes: number): number {
    assert(
      Number.isInteger(lengthBytes) && lengthBytes >= 0,
      `read length ${lengthBytes} is not a byte count`,
    );
    const at = this.#offset;
    assert(
      at + lengthBytes <= this.#buf.length,
      `read of ${lengthBytes} bytes at ${at} runs past the ${this.#buf.length}-byte buffer (check the length first)`,
    );
    this.#offset = at + lengthBytes;
    return at;
  }
}
