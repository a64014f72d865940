/**
 * Goal: the sd_inode header codec places every field at its section-6 offset and reads
 * data_vdi_id[] where tgt and dog write it.
 * Method: an inode image built field by field with the naive byte builder from the doc's table;
 * decode it, re-encode it and compare; check short-buffer errors and the time encoding.
 */
import { describe, expect, test } from 'vitest';
import {
  decodeInodeHeader,
  encodeInodeHeader,
  type InodeHeader,
  isDeleted,
  isSnapshot,
  readDataVdiId,
  sdTimeFromMs,
  sdTimeToMs,
  writeDataVdiId,
} from '../../../src/sheepdog/wire/inode.js';
import { cstr, layout, le32, le64 } from '../../support/bytes.js';

const HEADER: InodeHeader = {
  name: 'test',
  tag: 'snap1',
  createTime: 0x5b34_8a00_1234_5678n,
  snapCtime: 0n,
  vmClockNsec: 7n,
  vdiSize: 10n * 1024n * 1024n * 1024n,
  vmStateSize: 0n,
  copyPolicy: 0,
  storePolicy: 0,
  nrCopies: 1,
  blockSizeShift: 22,
  snapId: 1,
  vdiId: 0x7c2b25,
  parentVdiId: 0x7c2b24,
  btreeCounter: 5,
};

const IMAGE = layout(4664, [
  [0, cstr('test', 256)],
  [256, cstr('snap1', 256)],
  [512, le64(0x5b34_8a00_1234_5678n)],
  [520, le64(0n)],
  [528, le64(7n)],
  [536, le64(10n * 1024n * 1024n * 1024n)],
  [544, le64(0n)],
  [552, [0, 0, 1, 22]],
  [556, le32(1)],
  [560, le32(0x7c2b25)],
  [564, le32(0x7c2b24)],
  [568, le32(5)],
]);

describe('sd_inode header', () => {
  test('decodes the doc layout', () => {
    expect(decodeInodeHeader(IMAGE)).toEqual({ ok: true, value: HEADER });
  });

  test('encodes the same 4664 bytes, zero padded', () => {
    const bytes = encodeInodeHeader(HEADER);
    expect(bytes.length).toBe(4664);
    expect(bytes).toEqual(IMAGE);
  });

  test('568 bytes (what sheep reads for a name lookup) are enough; btree_counter then reads 0', () => {
    const result = decodeInodeHeader(IMAGE.subarray(0, 568));
    expect(result).toEqual({ ok: true, value: { ...HEADER, btreeCounter: 0 } });
  });

  test('fewer than 568 bytes is a SD_ERR_SHORT_BUFFER value, not an exception', () => {
    const result = decodeInodeHeader(IMAGE.subarray(0, 567));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('SD_ERR_SHORT_BUFFER');
  });

  test('snapshot and deleted predicates', () => {
    expect(isSnapshot(HEADER)).toBe(false);
    expect(isSnapshot({ ...HEADER, snapCtime: 1n })).toBe(true);
    expect(isDeleted(HEADER)).toBe(false);
    const deleted = decodeInodeHeader(layout(4664, [[560, le32(9)]]));
    expect(deleted.ok && isDeleted(deleted.value)).toBe(true);
  });

  test('a name longer than 255 bytes is refused before encoding (Collie bug)', () => {
    expect(() => encodeInodeHeader({ ...HEADER, name: 'x'.repeat(256) })).toThrow();
  });
});

describe('data_vdi_id[]', () => {
  test('entry 10 lives at 4704 in a 4,198,968-byte tgt-sized inode', () => {
    const inode = Buffer.alloc(4_198_968);
    writeDataVdiId(inode, 10, 0x7c2b25);
    expect(inode.subarray(4704, 4708)).toEqual(Buffer.from([0x25, 0x2b, 0x7c, 0x00]));
    expect(readDataVdiId(inode, 10)).toBe(0x7c2b25);
    writeDataVdiId(inode, (1 << 20) - 1, 3);
    expect(inode.readUInt32LE(4_198_964)).toBe(3);
  });

  test('reading past a header-only buffer asserts', () => {
    expect(() => readDataVdiId(Buffer.alloc(4664), 0)).toThrow();
    expect(() => readDataVdiId(Buffer.alloc(4_198_968), 1 << 20)).toThrow();
  });
});

describe('time encoding (sec << 32) | nsec', () => {
  test('milliseconds to sheep time and back', () => {
    const t = sdTimeFromMs(1_530_144_000_123);
    expect(t >> 32n).toBe(1_530_144_000n);
    expect(t & 0xffff_ffffn).toBe(123_000_000n);
    expect(sdTimeToMs(t)).toBe(1_530_144_000_123);
    expect(sdTimeFromMs(0)).toBe(0n);
  });
});
