/**
 * Goal: a snapshot taken with `collie vdi snapshot` while a real tgtd has the VDI open freezes the
 * snapshot's contents, and tgt keeps writing to the new working VDI (copy on write) without
 * losing the rest of a COWed object.
 * Method: one store endpoint, tgtd exporting the VDI. Through tgt: X at 8 MiB (64 KiB) and W at
 * 16 MiB. Snapshot with tag `before`. Through tgt: Y over the first 32 KiB of X's range (tgt's write
 * gets READONLY, it re-resolves the working VDI and COWs object 2) and Z at 24 MiB (never written
 * before the snapshot). Then tgt, `collie vdi read vol` and `collie vdi read -s before vol` must
 * show Y+X / W / Z, Y+X / W / Z and X / W / zeros. Skipped when tgt or qemu-io are missing, except
 * in CI.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { readPattern, writePattern } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import { filled, firstDifference, KiB, MiB, StoreRig } from './sheep-store-rig.js';

const hasTools = ['tgtd', 'tgtadm', 'qemu-io'].map(requireTool).every(Boolean);

const TAG = 'before';
/** Before the snapshot; later partly overwritten by Y. */
const X = { pattern: 0x58, offset: 8 * MiB, length: 64 * KiB };
/** Before the snapshot only. */
const W = { pattern: 0x57, offset: 16 * MiB, length: 64 * KiB };
/** After the snapshot, at X's offset, half its length. */
const Y = { pattern: 0x59, offset: 8 * MiB, length: 32 * KiB };
/** After the snapshot, in an object never written before it. */
const Z = { pattern: 0x5a, offset: 24 * MiB, length: 64 * KiB };

describe.skipIf(!hasTools)('snapshot while tgt has the VDI open', () => {
  let rig: StoreRig | undefined;

  afterEach(async () => {
    await rig?.dispose();
    rig = undefined;
  });

  test('the snapshot keeps the old bytes, tgt and collie see the new ones', async () => {
    rig = await StoreRig.start({ label: 'tgt-snapshot' });
    const tgt = await rig.exportThrough(0);
    for (const range of [X, W]) {
      const wrote = await writePattern(tgt.url, range);
      expect(wrote.ok, wrote.output).toBe(true);
    }

    await rig.vdiOk(['snapshot', '-s', TAG, rig.vdiName]);
    // tgt still reads through its old mapping, which now belongs to the snapshot: same bytes.
    const stillX = await readPattern(tgt.url, X);
    expect(stillX.ok, stillX.output).toBe(true);

    for (const range of [Y, Z]) {
      const wrote = await writePattern(tgt.url, range);
      expect(wrote.ok, wrote.output).toBe(true);
    }

    const restOfX = { ...X, offset: X.offset + Y.length, length: X.length - Y.length };
    for (const [what, range] of [
      ['Y', Y],
      ['rest of X (copied on write)', restOfX],
      ['W', W],
      ['Z', Z],
    ] as const) {
      const read = await readPattern(tgt.url, range);
      expect(read.ok, `${what} through tgt: ${read.output}`).toBe(true);
    }

    const xRangeNow = Buffer.concat([filled(Y.pattern, Y.length), filled(X.pattern, restOfX.length)]);
    const expectations: [what: string, offset: number, expected: Buffer, tag?: string][] = [
      ['working VDI at X', X.offset, xRangeNow],
      ['working VDI at W', W.offset, filled(W.pattern, W.length)],
      ['working VDI at Z', Z.offset, filled(Z.pattern, Z.length)],
      ['snapshot at X', X.offset, filled(X.pattern, X.length), TAG],
      ['snapshot at W', W.offset, filled(W.pattern, W.length), TAG],
      ['snapshot at Z', Z.offset, filled(0, Z.length), TAG],
    ];
    for (const [what, offset, expected, tag] of expectations) {
      const bytes = await rig.readVdi(offset, expected.length, tag);
      expect(bytes.equals(expected), `${what}: ${firstDifference(bytes, expected)}`).toBe(true);
    }
    // tgt re-resolved the name with a shared LOCK_VDI, so it participates in the new working VDI,
    // and its inode update for Z made it MODIFIED there.
    const listed = (await rig.vdiOk(['list', '-r', rig.vdiName])).toString();
    const workingVid = /^= \S+ 0 \S+ \S+ \S+ \d+ ([0-9a-f]+) /m.exec(listed)?.[1];
    expect(workingVid, listed).toBeDefined();
    const workingLock = (await rig.lockRows()).find((row) => row.vid === workingVid);
    expect(workingLock).toMatchObject({ lock: 'shared', holders: { [rig.endpointKey(0)]: 'MODIFIED' } });
  });
});
