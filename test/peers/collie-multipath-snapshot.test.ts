/**
 * Goal: the multipath failover of sheepdog-protocol.md §8.5 stays correct when a snapshot was
 * taken under the two targets before A's write (A's write gets READONLY, A re-resolves the new
 * working VDI and copies the object on write): B reads A's new data, and the snapshot keeps the
 * old bytes (`collie vdi read -s TAG`).
 * Method: one `collie sheep` with endpoints P1 and P2; `collie target` A through P1, B through P2,
 * both open before anything is written. Variants:
 *   - A writes an area nobody allocated (no COW: A creates the object in the new working VDI);
 *   - A first writes X (0x11, 64 KiB at 40 MiB), the snapshot follows, then A writes Y (0xab) over
 *     the first 32 KiB of X: a COW of object 10 from the snapshot. B is INVALIDATED at the
 *     snapshot (it never loaded the inode after A's first write), or B read X before the
 *     snapshot, so its cached mapping of object 10 is valid and names the old vid (now the
 *     snapshot); in that state B either reads or first writes.
 * After A's write A is SIGKILLed; reads go through B (qemu-io) and to the store (`collie vdi read`
 * of the VDI and of the snapshot). The lock rows of the old vid (now the snapshot) and of the new
 * working vid are checked where they tell the story. Skipped when qemu-io is missing, except in CI.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { writePattern } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import {
  A_WRITE,
  B_WRITE,
  bytesOf,
  expectReadThrough,
  expectStoreBytes,
  openPair,
  writeThroughAThenKillA,
} from './multipath-failover-steps.js';
import { filled, KiB, MiB, StoreRig } from './sheep-store-rig.js';

const hasTools = requireTool('qemu-io');

const TEST_TIMEOUT_MS = 60_000;
const TAG = 'before';

/** Written through A before the snapshot. */
const X = { pattern: 0x11, offset: 40 * MiB, length: 64 * KiB };
/** Written through A after the snapshot, over the first half of X: a COW of object 10. */
const Y = { pattern: 0xab, offset: 40 * MiB, length: 32 * KiB };
/** The half of X that Y leaves; after the COW it must still read 0x11 in the working VDI. */
const REST_OF_X = { pattern: X.pattern, offset: X.offset + Y.length, length: X.length - Y.length };

/** Takes the snapshot TAG; returns the vid the targets opened, which became the snapshot (hex). */
async function snapshot(rig: StoreRig): Promise<string> {
  const before = await rig.vids();
  await rig.vdiOk(['snapshot', '-s', TAG, rig.vdiName]);
  const after = await rig.vids();
  expect(after.byTag[TAG], 'the snapshot took the old working vid').toBe(before.working);
  expect(after.working).not.toBe(before.working);
  return after.byTag[TAG] ?? '';
}

/** The new working vid's participants. */
async function workingParticipants(rig: StoreRig): Promise<Record<string, string>> {
  const { working } = await rig.vids();
  expect(working).toBeDefined();
  return rig.participantsOfVid(working ?? '');
}

describe.skipIf(!hasTools)('failover between two collie targets after a snapshot', () => {
  let rig: StoreRig | undefined;

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && rig) console.log(rig.diagnostics());
    await rig?.dispose();
    rig = undefined;
  });

  test(
    "A writes a never-allocated area after the snapshot: B reads A's data, the snapshot zeros",
    async () => {
      rig = await StoreRig.start({ label: 'collie-mp-snap-new', endpointCount: 2 });
      const pair = await openPair(rig, ['collie', 'collie']);
      const oldVid = await snapshot(rig);
      const { p1, p2 } = pair;

      // A's CREATE in the snapshot got READONLY; A re-resolved the name with a shared LOCK_VDI
      // (first participant of the new vid: MODIFIED) and created the object there.
      await writeThroughAThenKillA(rig, pair);
      expect(await workingParticipants(rig)).toEqual({ [p1]: 'MODIFIED' });
      // Collie's store invalidated every participant of the vid that became a snapshot; A
      // re-validated it on its reload, then left it once it moved to the new working VDI (a
      // client leaves the vids a snapshot retired); B has not touched it since.
      expect(await rig.participantsOfVid(oldVid)).toEqual({ [p2]: 'INVALIDATED' });

      // B's probe found its vid snapshotted (snap_ctime != 0): it re-resolved and joined the
      // new vid INVALIDATED, and its refresh read validated it.
      await expectReadThrough(pair.b, A_WRITE, "A's write");
      expect(await workingParticipants(rig)).toEqual({ [p1]: 'SHARED', [p2]: 'SHARED' });
      await expectStoreBytes(rig, A_WRITE.offset, bytesOf(A_WRITE), "A's write");
      await expectStoreBytes(rig, A_WRITE.offset, filled(0, A_WRITE.length), 'the snapshot', TAG);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "A copies on write an object B never loaded: B reads A's new data, the snapshot the old",
    async () => {
      rig = await StoreRig.start({ label: 'collie-mp-snap-cow', endpointCount: 2 });
      const pair = await openPair(rig, ['collie', 'collie']);
      const { p1, p2 } = pair;
      const wroteX = await writePattern(pair.a.url, X);
      expect(wroteX.ok, wroteX.output).toBe(true);
      expect(await rig.participants()).toEqual({ [p1]: 'MODIFIED', [p2]: 'INVALIDATED' });
      const oldVid = await snapshot(rig);

      await writeThroughAThenKillA(rig, pair, Y);
      expect(await workingParticipants(rig)).toEqual({ [p1]: 'MODIFIED' });

      // B's probe got INODE_INVALIDATED on the old vid; the reload showed a snapshot, so B
      // re-resolved the working VDI and loaded its inode (object 10 = the new vid).
      await expectReadThrough(pair.b, Y, "A's new data");
      await expectReadThrough(pair.b, REST_OF_X, 'the rest of X (copied on write)');
      expect(await workingParticipants(rig)).toEqual({ [p1]: 'SHARED', [p2]: 'SHARED' });
      // Both moved to the new working VDI and left the vid that became a snapshot.
      expect(await rig.participantsOfVid(oldVid)).toEqual({});
      await expectStoreBytes(rig, X.offset, Buffer.concat([bytesOf(Y), bytesOf(REST_OF_X)]), 'the VDI');
      await expectStoreBytes(rig, X.offset, bytesOf(X), 'the snapshot', TAG);
    },
    TEST_TIMEOUT_MS,
  );

  // Expected to FAIL with today's Collie (left failing on purpose, see the report of this test's
  // author): B loaded object 10's mapping (the old vid) and is SHARED on the old vid. The snapshot
  // moves the working VDI to a new vid; A's COW and inode update happen there, where B is not a
  // participant, so nobody invalidates B. B's read of object 10 goes to the old vid's object,
  // which sheep serves (the "important gap" of sheepdog-protocol.md §8.3): B returns X where the
  // initiator wrote Y. Collie's backend can close this with probeEveryRead (a snap_ctime probe
  // on every read), but it is off by default and `collie target` cannot turn it on.
  test(
    "A copies on write an object B had read: B reads A's new data, the snapshot the old",
    async () => {
      rig = await StoreRig.start({ label: 'collie-mp-snap-stale', endpointCount: 2 });
      const pair = await openPair(rig, ['collie', 'collie']);
      const { p1, p2 } = pair;
      const wroteX = await writePattern(pair.a.url, X);
      expect(wroteX.ok, wroteX.output).toBe(true);
      await expectReadThrough(pair.b, X, 'X before the snapshot');
      expect(await rig.participants()).toEqual({ [p1]: 'SHARED', [p2]: 'SHARED' });
      const oldVid = await snapshot(rig);

      await writeThroughAThenKillA(rig, pair, Y);
      expect(await workingParticipants(rig)).toEqual({ [p1]: 'MODIFIED' });
      // Collie's store invalidated every participant of the vid that became a snapshot; A
      // re-validated it on its reload, then left it once it moved to the new working VDI (a
      // client leaves the vids a snapshot retired); B has not touched it since.
      expect(await rig.participantsOfVid(oldVid)).toEqual({ [p2]: 'INVALIDATED' });

      await expectStoreBytes(rig, X.offset, Buffer.concat([bytesOf(Y), bytesOf(REST_OF_X)]), 'the VDI');
      await expectStoreBytes(rig, X.offset, bytesOf(X), 'the snapshot', TAG);
      await expectReadThrough(pair.b, Y, "A's new data");
      await expectReadThrough(pair.b, REST_OF_X, 'the rest of X');
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "B writes first into an object it had read, after A's COW: A's new data survives",
    async () => {
      rig = await StoreRig.start({ label: 'collie-mp-snap-bwrite', endpointCount: 2 });
      const pair = await openPair(rig, ['collie', 'collie']);
      const { p1, p2 } = pair;
      const wroteX = await writePattern(pair.a.url, X);
      expect(wroteX.ok, wroteX.output).toBe(true);
      await expectReadThrough(pair.b, X, 'X before the snapshot');
      await snapshot(rig);
      await writeThroughAThenKillA(rig, pair, Y);

      // B's WRITE_OBJ into the old vid's object got READONLY: B re-resolved, joined the new vid,
      // reloaded its whole inode (object 10 = the new vid) and wrote into A's copy instead of
      // copying the snapshot's object again.
      const wrote = await writePattern(pair.b.url, B_WRITE);
      expect(wrote.ok, wrote.output).toBe(true);
      expect(await workingParticipants(rig)).toEqual({ [p1]: 'SHARED', [p2]: 'SHARED' });
      await expectReadThrough(pair.b, Y, "A's new data");
      await expectReadThrough(pair.b, REST_OF_X, 'the rest of X');
      await expectReadThrough(pair.b, B_WRITE, "B's write");
      await expectStoreBytes(rig, X.offset, Buffer.concat([bytesOf(Y), bytesOf(REST_OF_X)]), 'the VDI');
      await expectStoreBytes(rig, B_WRITE.offset, bytesOf(B_WRITE), "B's write");
      await expectStoreBytes(rig, X.offset, bytesOf(X), 'the snapshot', TAG);
      await expectStoreBytes(rig, B_WRITE.offset, filled(0, B_WRITE.length), 'the snapshot at B', TAG);
    },
    TEST_TIMEOUT_MS,
  );
});
