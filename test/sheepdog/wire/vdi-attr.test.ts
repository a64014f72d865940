/**
 * Goal: sheepdog_vdi_attr (GET_VDI_ATTR payload, attr objects) matches section 3.2, and the attr
 * id is computed over the same 772 bytes sheep hashes.
 * Method: a struct built with the naive builder at the documented offsets; decode, re-encode;
 * the hash input is checked against its spelled-out concatenation.
 */
import { describe, expect, test } from 'vitest';
import {
  attrHashInput,
  decodeVdiAttr,
  encodeVdiAttr,
  type VdiAttr,
  vdiAttrId,
} from '../../../src/sheepdog/wire/vdi-attr.js';
import { fnv1a64 } from '../../../src/sheepdog/wire/vdi-hash.js';
import { bytes, cstr, layout, le32, le64 } from '../../support/bytes.js';

const ATTR: VdiAttr = {
  name: 'test',
  tag: '',
  ctime: 0x1234n,
  snapId: 1,
  key: 'owner',
  value: Buffer.from('collie'),
};

const IMAGE = layout(66_320, [
  [0, cstr('test', 256)],
  [512, le64(0x1234n)],
  [520, le32(1)],
  [524, le32(6)],
  [528, cstr('owner', 256)],
  [784, Buffer.from('collie')],
]);

describe('sheepdog_vdi_attr', () => {
  test('encodes the 66,320-byte layout', () => {
    expect(encodeVdiAttr(ATTR)).toEqual(IMAGE);
  });

  test('decodes it back', () => {
    expect(decodeVdiAttr(IMAGE)).toEqual({ ok: true, value: ATTR });
  });

  test('only the head and value_len bytes of value are needed', () => {
    expect(decodeVdiAttr(IMAGE.subarray(0, 790))).toEqual({ ok: true, value: ATTR });
    expect(decodeVdiAttr(IMAGE.subarray(0, 789))).toMatchObject({
      ok: false,
      error: { code: 'SD_ERR_SHORT_BUFFER' },
    });
    expect(decodeVdiAttr(IMAGE.subarray(0, 783))).toMatchObject({
      ok: false,
      error: { code: 'SD_ERR_SHORT_BUFFER' },
    });
  });

  test('value_len above 65,536 is a SD_ERR_BAD_FIELD value', () => {
    const bad = Buffer.from(IMAGE);
    bad.writeUInt32LE(65_537, 524);
    expect(decodeVdiAttr(bad)).toMatchObject({ ok: false, error: { code: 'SD_ERR_BAD_FIELD', offset: 524 } });
  });

  test('hash input: name[256] ‖ tag[256] ‖ snap_id ‖ key[256] = 772 bytes, from bytes or fields', () => {
    const expected = bytes(cstr('test', 256), cstr('', 256), le32(1), cstr('owner', 256));
    expect(expected.length).toBe(772);
    expect(attrHashInput(IMAGE)).toEqual(expected);
    expect(attrHashInput(ATTR)).toEqual(expected);
    expect(vdiAttrId(ATTR)).toBe(Number(fnv1a64(expected) & 0xffffffffn));
  });

  test('hashing raw bytes keeps garbage after a NUL, as sheep does', () => {
    const dirty = Buffer.from(IMAGE);
    dirty[300] = 0x41; // inside tag[], after its NUL
    expect(vdiAttrId(dirty)).not.toBe(vdiAttrId(ATTR));
  });
});
