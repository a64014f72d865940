/**
 * Goal: IO is split per data object by the VDI's object size and each piece gets the operation
 * protocol doc §6.1 prescribes (read / zeros; WRITE_OBJ / CREATE / CREATE with COW), with the
 * coherence probe exactly when a read touches an area the working VDI does not own (never for
 * a lock-less client).
 * Method: plans computed against a hand-made mapping, compared field by field.
 */
import { describe, expect, test } from 'vitest';
import {
  type InodeMapping,
  objectRange,
  planProbe,
  planRead,
  planWrite,
} from '../../../src/sheepdog/client/io-plan.js';

const OBJECT = 1024 * 1024;
const VID = 0x20;
const PARENT = 0x10;

function mapping(owners: Record<number, number>): InodeMapping {
  return { vid: VID, objectBytes: OBJECT, generation: 3, owner: (idx) => owners[idx] ?? 0 };
}

describe('objectRange', () => {
  test('inclusive object indexes touched', () => {
    expect(objectRange(0, 512, OBJECT)).toEqual({ firstIdx: 0, lastIdx: 0 });
    expect(objectRange(OBJECT - 512, 1024, OBJECT)).toEqual({ firstIdx: 0, lastIdx: 1 });
    expect(objectRange(OBJECT, OBJECT, OBJECT)).toEqual({ firstIdx: 1, lastIdx: 1 });
  });
});

describe('reads', () => {
  test('own objects are read without a probe', () => {
    const plan = planRead(mapping({ 0: VID }), 512, 1024);
    expect(plan).toMatchObject({ vid: VID, generation: 3, probe: false, createCount: 0 });
    expect(plan.pieces).toEqual([
      { action: 'read', idx: 0, offset: 512, lengthBytes: 1024, bufferOffset: 0, sourceVid: VID },
    ]);
  });

  test('unallocated areas are zeros plus the probe; parent areas are read from the parent plus the probe', () => {
    const plan = planRead(mapping({ 1: PARENT, 2: VID }), OBJECT - 512, OBJECT + 1024);
    expect(plan.probe).toBe(true);
    expect(
      plan.pieces.map((p) => [p.action, p.idx, p.offset, p.lengthBytes, p.bufferOffset, p.sourceVid]),
    ).toEqual([
      ['zero', 0, OBJECT - 512, 512, 0, 0],
      ['read', 1, 0, OBJECT, 512, PARENT],
      ['read', 2, 0, 512, OBJECT + 512, VID],
    ]);
  });

  test("probe 'always' adds the probe to reads of own objects", () => {
    expect(planRead(mapping({ 0: VID }), 0, 512, { probe: 'always' }).probe).toBe(true);
    expect(planProbe(mapping({})).pieces).toEqual([]);
  });

  test("probe 'never' (a lock-less client) plans the same pieces without the probe", () => {
    const owners = { 1: PARENT, 2: VID };
    const probed = planRead(mapping(owners), OBJECT - 512, OBJECT + 1024);
    const plain = planRead(mapping(owners), OBJECT - 512, OBJECT + 1024, { probe: 'never' });
    expect(plain.probe).toBe(false);
    expect(plain.pieces).toEqual(probed.pieces);
  });
});

describe('writes', () => {
  test('WRITE_OBJ into own objects, CREATE into unallocated ones, COW from a parent', () => {
    const plan = planWrite(mapping({ 0: VID, 2: PARENT }), OBJECT - 512, OBJECT + 1024);
    expect(plan.pieces.map((p) => [p.action, p.idx, p.sourceVid])).toEqual([
      ['write', 0, VID],
      ['create', 1, 0],
      ['create', 2, PARENT],
    ]);
    expect(plan).toMatchObject({ createCount: 2, createMinIdx: 1, createMaxIdx: 2, probe: false });
  });

  test('no creates: no inode update range', () => {
    expect(planWrite(mapping({ 0: VID }), 0, 512)).toMatchObject({
      createCount: 0,
      createMinIdx: -1,
      createMaxIdx: -1,
    });
  });
});
