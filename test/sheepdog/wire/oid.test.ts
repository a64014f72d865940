/**
 * Goal: oid helpers follow section 5.1 bit for bit, and inode offsets match section 6.
 * Method: the doc's worked examples, the constants it derives, plus a property test that
 * vid/idx survive a trip through an oid and its 16-digit file name.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import {
  SD_INODE_DATA_END,
  SD_INODE_HEADER_SIZE,
  SD_INODE_SIZE,
} from '../../../src/sheepdog/wire/constants.js';
import {
  dataOidToIdx,
  dataOidToLedgerOid,
  dataVidOffset,
  isAttrOid,
  isBtreeOid,
  isDataOid,
  isLedgerOid,
  isVdiOid,
  isVmstateOid,
  oidFromHex,
  oidToHex,
  oidToVid,
  vidToAttrOid,
  vidToBtreeOid,
  vidToDataOid,
  vidToVdiOid,
  vidToVmstateOid,
} from '../../../src/sheepdog/wire/oid.js';

const V = 0x7c2b25;

describe('section 5.1 examples', () => {
  test('vid 0x7c2b25 -> inode oid 0x807c2b2500000000, file name 807c2b2500000000', () => {
    expect(vidToVdiOid(V)).toBe(0x807c2b2500000000n);
    expect(oidToHex(vidToVdiOid(V))).toBe('807c2b2500000000');
  });

  test('data object 5 -> 0x007c2b2500000005', () => {
    expect(vidToDataOid(V, 5)).toBe(0x007c2b2500000005n);
    expect(oidToHex(vidToDataOid(V, 5))).toBe('007c2b2500000005');
  });

  test('type bits: vmstate 62, attr 61, btree 60, ledger 59', () => {
    expect(vidToVmstateOid(V, 1)).toBe(0x407c2b2500000001n);
    expect(vidToAttrOid(V, 0xdeadbeef)).toBe(0x207c2b25deadbeefn);
    expect(vidToBtreeOid(V, 2)).toBe(0x107c2b2500000002n);
    expect(dataOidToLedgerOid(vidToDataOid(V, 3))).toBe(0x087c2b2500000003n);
  });

  test('classification', () => {
    const data = vidToDataOid(V, 10);
    expect([isDataOid(data), isVdiOid(data), isVmstateOid(data), isAttrOid(data)]).toEqual([
      true,
      false,
      false,
      false,
    ]);
    expect(isVdiOid(vidToVdiOid(V))).toBe(true);
    expect(isDataOid(vidToVdiOid(V))).toBe(false);
    expect(isVmstateOid(vidToVmstateOid(V, 0))).toBe(true);
    expect(isAttrOid(vidToAttrOid(V, 0))).toBe(true);
    expect(isBtreeOid(vidToBtreeOid(V, 0))).toBe(true);
    expect(isLedgerOid(dataOidToLedgerOid(data))).toBe(true);
    expect(isDataOid(dataOidToLedgerOid(data))).toBe(false);
  });

  test('oid -> vid and index (32-bit index since v0.8)', () => {
    expect(oidToVid(0x807c2b2500000000n)).toBe(V);
    expect(oidToVid(vidToAttrOid(0xffffff, 0xffffffff))).toBe(0xffffff);
    expect(dataOidToIdx(vidToDataOid(V, 0xfffff))).toBe(0xfffff);
    expect(dataOidToIdx(vidToDataOid(V, 0xffffffff))).toBe(0xffffffff);
  });
});

describe('file names', () => {
  test('oidFromHex accepts exactly 16 lowercase hex digits', () => {
    expect(oidFromHex('807c2b2500000000')).toBe(0x807c2b2500000000n);
    expect(oidFromHex('0000000000000000')).toBe(0n);
    for (const bad of [
      '807C2B2500000000',
      '807c2b250000000',
      '807c2b25000000000',
      '807c2b250000000g',
      '',
      'x'.repeat(16),
    ]) {
      expect(oidFromHex(bad)).toBeUndefined();
    }
  });

  propTest.prop([fc.integer({ min: 0, max: 0xffffff }), fc.integer({ min: 0, max: 0xffffffff })])(
    'vid and idx survive oid -> hex -> oid',
    (vid, idx) => {
      const oid = vidToDataOid(vid, idx);
      const back = oidFromHex(oidToHex(oid));
      expect(back).toBe(oid);
      expect(oidToVid(back!)).toBe(vid);
      expect(dataOidToIdx(back!)).toBe(idx);
    },
  );
});

describe('inode offsets (section 6)', () => {
  test('header 4664, data_vdi_id[10] at 4704, end of data_vdi_id 4,198,968, full inode 12,587,576', () => {
    expect(SD_INODE_HEADER_SIZE).toBe(4664);
    expect(dataVidOffset(0)).toBe(4664);
    expect(dataVidOffset(10)).toBe(4704);
    expect(dataVidOffset(1 << 20)).toBe(4_198_968);
    expect(SD_INODE_DATA_END).toBe(4_198_968);
    expect(SD_INODE_SIZE).toBe(12_587_576);
  });

  test('out-of-range vids are Collie bugs and assert', () => {
    expect(() => vidToVdiOid(1 << 24)).toThrow();
    expect(() => vidToDataOid(-1, 0)).toThrow();
    expect(() => vidToDataOid(1, 2 ** 32)).toThrow();
  });
});
