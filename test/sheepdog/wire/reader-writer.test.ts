/**
 * Goal: the cursor reader and fixed writer agree with the naive builder and never leak stale
 * memory. Method: write every field type at known offsets and compare with hand-built bytes;
 * read them back; check NUL handling and the assertions that guard Collie's own bugs.
 */
import { describe, expect, test } from 'vitest';
import { WireReader } from '../../../src/sheepdog/wire/reader.js';
import { FixedWriter, fixedStringFits } from '../../../src/sheepdog/wire/writer.js';
import { bytes, cstr, le16, le32, le64 } from '../../support/bytes.js';

describe('FixedWriter', () => {
  test('little-endian fields, NUL-padded strings, zero fill everywhere else', () => {
    const w = new FixedWriter(32);
    w.u8(0xab).u16(0x1234).u32(0xdeadbeef).u64(0x0102030405060708n).fixedString('hi', 8).seek(30).u8(1);
    expect(w.finish()).toEqual(
      bytes(
        [0xab],
        le16(0x1234),
        le32(0xdeadbeef),
        le64(0x0102030405060708n),
        cstr('hi', 8),
        [0, 0, 0, 0, 0, 0, 0],
        [1, 0],
      ),
    );
  });

  test('out-of-range values and overruns assert', () => {
    expect(() => new FixedWriter(4).u8(256)).toThrow();
    expect(() => new FixedWriter(4).u16(-1)).toThrow();
    expect(() => new FixedWriter(4).u32(1.5)).toThrow();
    expect(() => new FixedWriter(8).u64(1n << 64n)).toThrow();
    expect(() => new FixedWriter(4).u64(0n)).toThrow();
    expect(() => new FixedWriter(4).fixedString('abcd', 4)).toThrow();
  });

  test('fixedStringFits leaves room for the NUL and rejects embedded NULs', () => {
    expect(fixedStringFits('x'.repeat(255), 256)).toBe(true);
    expect(fixedStringFits('x'.repeat(256), 256)).toBe(false);
    expect(fixedStringFits('é'.repeat(128), 256)).toBe(false);
    expect(fixedStringFits('a\0b', 256)).toBe(false);
  });
});

describe('WireReader', () => {
  test('reads what the builder wrote', () => {
    const r = new WireReader(
      bytes([0xab], le16(0x1234), le32(0xdeadbeef), le64(0xffffffffffffffffn), cstr('name', 8)),
    );
    expect([r.u8(), r.u16(), r.u32(), r.u64(), r.fixedString(8)]).toEqual([
      0xab,
      0x1234,
      0xdeadbeef,
      0xffffffffffffffffn,
      'name',
    ]);
    expect(r.remainingBytes).toBe(0);
  });

  test('a string field without a NUL is read whole', () => {
    expect(new WireReader(Buffer.from('abcd')).fixedString(4)).toBe('abcd');
  });

  test('reading past the end asserts (decoders check lengths first)', () => {
    expect(() => new WireReader(Buffer.alloc(3)).u32()).toThrow();
    expect(() => new WireReader(Buffer.alloc(3)).seek(4)).toThrow();
  });

  test('bytes() aliases the buffer', () => {
    const buf = Buffer.from([1, 2, 3, 4]);
    const view = new WireReader(buf, 1).bytes(2);
    buf[1] = 9;
    expect(view).toEqual(Buffer.from([9, 3]));
  });
});
