/**
 * A fixed-size little-endian writer for sheep structures. The buffer is allocated zero-filled
 * and never grows, so every byte the caller does not write (padding, reserved fields, the tail
 * of a NUL-padded string) is zero on the wire: no "buffer bleeds" of old memory.
 *
 * Writes are chainable and move a cursor; `seek()` jumps to an absolute offset so encoders can
 * follow the offset tables of the protocol doc literally. Out-of-range values and writes past
 * the end are Collie's bugs and assert. Each writer owns its buffer (no shared module-level
 * writer), so encoders are re-entrant.
 */
import { assert } from '../../core/assert.js';

const U64_LIMIT = 1n << 64n;

/** True if `text` fits a C string field of `lengthBytes` (UTF-8, room for the NUL, no NUL inside). */
export function fixedStringFits(text: string, lengthBytes: number): boolean {
  return !text.includes('\0') && Buffer.byteLength(text, 'utf8') < lengthBytes;
}

export class FixedWriter {
  readonly #buf: Buffer;
  #offset = 0;

  constructor(sizeBytes: number) {
    assert(Number.isInteger(sizeBytes) && sizeBytes >= 0, `writer size ${sizeBytes} is not a byte count`);
    this.#buf = Buffer.alloc(sizeBytes);
  }

  get offset(): number {
    return this.#offset;
  }

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

  u8(value: number): this {
    assertUint(value, 0xff, 'u8');
    this.#buf.writeUInt8(value, this.#take(1));
    return this;
  }

  u16(value: number): this {
    assertUint(value, 0xffff, 'u16');
    this.#buf.writeUInt16LE(value, this.#take(2));
    return this;
  }

  u32(value: number): this {
    assertUint(value, 0xffff_ffff, 'u32');
    this.#buf.writeUInt32LE(value, this.#take(4));
    return this;
  }

  u64(value: bigint): this {
    assert(
      typeof value === 'bigint' && value >= 0n && value < U64_LIMIT,
      `u64 value ${value} is out of range`,
    );
    this.#buf.writeBigUInt64LE(value, this.#take(8));
    return this;
  }

  /**
   * A C string in a fixed field: UTF-8 bytes, then zeros to the end of the field. The text must
   * leave room for the terminating NUL (sheep compares these with strcmp); callers validate user
   * input with `fixedStringFits` and answer the user before encoding.
   */
  fixedString(text: string, lengthBytes: number): this {
    assert(
      fixedStringFits(text, lengthBytes),
      `string of ${Buffer.byteLength(text, 'utf8')} bytes does not fit a ${lengthBytes}-byte C string field (validate it first)`,
    );
    const at = this.#take(lengthBytes);
    this.#buf.write(text, at, 'utf8');
    return this;
  }

  bytes(source: Uint8Array): this {
    const at = this.#take(source.length);
    this.#buf.set(source, at);
    return this;
  }

  /** The finished buffer; the writer must not be used afterwards. */
  finish(): Buffer {
    return this.#buf;
  }

  #take(lengthBytes: number): number {
    const at = this.#offset;
    assert(
      at + lengthBytes <= this.#buf.length,
      `write of ${lengthBytes} bytes at ${at} runs past the ${this.#buf.length}-byte buffer`,
    );
    this.#offset = at + lengthBytes;
    return at;
  }
}

function assertUint(value: number, max: number, what: string): void {
  assert(
    Number.isInteger(value) && value >= 0 && value <= max,
    `${what} value ${value} is out of range 0..${max}`,
  );
}
