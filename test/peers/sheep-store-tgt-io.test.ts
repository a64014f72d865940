/**
 * Goal: a real tgtd serves a VDI of `collie sheep` correctly: what qemu-io writes through tgt reads
 * back through tgt and, byte for byte, through a second client (`collie vdi read`).
 * Method: one store endpoint, a 64 MiB VDI made with `collie vdi create`, a tgtd with a sheepdog LUN
 * on it; qemu-io writes patterns at several offsets (the first object, a range crossing the 4 MiB
 * object boundary, a sector-aligned but not 4 KiB-aligned range, the last bytes of the VDI), reads
 * them back, and reads zeros from a never-allocated object and from an unwritten part of an
 * allocated one. Skipped when tgt or qemu-io are missing, except in CI.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { readPattern, writePattern } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import { filled, firstDifference, KiB, MiB, OBJECT_SIZE_BYTES, StoreRig } from './sheep-store-rig.js';

const hasTools = ['tgtd', 'tgtadm', 'qemu-io'].map(requireTool).every(Boolean);

const VDI_SIZE_BYTES = 64 * MiB;

/** Written through tgt; every range is read back through tgt and through `collie vdi read`. */
const WRITES = [
  { what: 'start of object 0', pattern: 0x11, offset: 0, length: 4 * KiB },
  {
    what: 'across the object 0/1 boundary',
    pattern: 0x22,
    offset: OBJECT_SIZE_BYTES - 32 * KiB,
    length: 64 * KiB,
  },
  { what: 'sector- but not 4 KiB-aligned', pattern: 0x33, offset: 20 * MiB + 512, length: 3 * KiB },
  { what: 'last bytes of the VDI', pattern: 0x44, offset: VDI_SIZE_BYTES - 64 * KiB, length: 64 * KiB },
];

/** Never written: zeros through both clients. */
const ZERO_RANGES = [
  { what: 'a never-allocated object', offset: 40 * MiB, length: 1 * MiB },
  { what: 'an unwritten part of allocated object 0', offset: 8 * KiB, length: 8 * KiB },
];

describe.skipIf(!hasTools)('tgt serves a VDI on collie sheep', () => {
  let rig: StoreRig | undefined;

  afterEach(async () => {
    await rig?.dispose();
    rig = undefined;
  });

  test('qemu-io writes through tgt read back through tgt and through collie vdi read', async () => {
    rig = await StoreRig.start({ label: 'tgt-io', vdiSizeBytes: VDI_SIZE_BYTES });
    const tgt = await rig.exportThrough(0);

    for (const range of WRITES) {
      const wrote = await writePattern(tgt.url, range);
      expect(wrote.ok, `${range.what}: ${wrote.output}`).toBe(true);
    }
    for (const range of WRITES) {
      const read = await readPattern(tgt.url, range);
      expect(read.ok, `${range.what}: ${read.output}`).toBe(true);
    }
    for (const range of ZERO_RANGES) {
      const read = await readPattern(tgt.url, { ...range, pattern: 0 });
      expect(read.ok, `${range.what}: ${read.output}`).toBe(true);
    }

    // The second client sees the same bytes, including the zeros around the written ranges.
    for (const { what, pattern, offset, length } of WRITES) {
      const bytes = await rig.readVdi(offset, length);
      const expected = filled(pattern, length);
      expect(bytes.equals(expected), `${what}: ${firstDifference(bytes, expected)}`).toBe(true);
    }
    for (const { what, offset, length } of ZERO_RANGES) {
      const bytes = await rig.readVdi(offset, length);
      expect(bytes.equals(filled(0, length)), `${what}: ${firstDifference(bytes, filled(0, length))}`).toBe(
        true,
      );
    }
    const aroundBoundary = await rig.readVdi(OBJECT_SIZE_BYTES - 64 * KiB, 128 * KiB);
    const expected = Buffer.concat([filled(0, 32 * KiB), filled(0x22, 64 * KiB), filled(0, 32 * KiB)]);
    expect(aroundBoundary.equals(expected), firstDifference(aroundBoundary, expected)).toBe(true);
  });
});
