/**
 * Goal: sd_hash_vdi and FNV-1a-64 give sheep's values.
 * Method: the vectors of section 5.3 (one verified as the id `dog vdi create test` got), and a
 * property test against qemu's shift-and-add form of the FNV multiply, written out here.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { FNV1A_64_INIT, fnv1a64, sdHashVdi } from '../../../src/sheepdog/wire/vdi-hash.js';
import { cstr } from '../../support/bytes.js';

/** qemu's fnv_64a_buf: hval += (h<<1)+(h<<4)+(h<<5)+(h<<7)+(h<<8)+(h<<40), i.e. h * 0x100000001b3. */
function qemuFnv(bytes: Uint8Array): bigint {
  const mask = (1n << 64n) - 1n;
  let h = 0xcbf29ce484222325n;
  for (const byte of bytes) {
    h ^= BigInt(byte);
    h = (h + (h << 1n) + (h << 4n) + (h << 5n) + (h << 7n) + (h << 8n) + (h << 40n)) & mask;
  }
  return h;
}

describe('section 5.3 vectors', () => {
  test('"test": FNV 0xf9e6e6ef197c2b25, vid 0x7c2b25', () => {
    expect(fnv1a64(Buffer.from('test'))).toBe(0xf9e6e6ef197c2b25n);
    expect(sdHashVdi('test')).toBe(0x7c2b25);
  });

  test('"alice" -> 0xa03907, "vol0" -> 0x83d61e', () => {
    expect(sdHashVdi('alice')).toBe(0xa03907);
    expect(sdHashVdi('vol0')).toBe(0x83d61e);
  });

  test('a NUL-padded name field hashes like the bare name (strlen semantics)', () => {
    expect(sdHashVdi(Buffer.from(cstr('test', 256)))).toBe(0x7c2b25);
  });

  test('the empty input is the offset basis; a seed continues a hash', () => {
    expect(fnv1a64(new Uint8Array())).toBe(FNV1A_64_INIT);
    const whole = fnv1a64(Buffer.from('name|tag'));
    expect(fnv1a64(Buffer.from('|tag'), fnv1a64(Buffer.from('name')))).toBe(whole);
  });
});

propTest.prop([fc.uint8Array({ maxLength: 64 })])('fnv1a64 agrees with qemu shift-and-add form', (bytes) => {
  expect(fnv1a64(bytes)).toBe(qemuFnv(bytes));
});

propTest.prop([fc.string({ maxLength: 40 })])('sdHashVdi is a 24-bit non-zero id', (name) => {
  const vid = sdHashVdi(name);
  expect(vid).toBeGreaterThanOrEqual(1);
  expect(vid).toBeLessThanOrEqual(0xffffff);
});
