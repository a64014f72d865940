/**
 * Goal: the multipath failover of sheepdog-protocol.md §8.5 works end to end with two Collie
 * targets (Collie's own sheepdog client, src/sheepdog/client/sheepdog-backend.ts) on one VDI of
 * Collie's store, driven by a real initiator (qemu-io over iSCSI); and the same run on a store
 * without locks shows that the result comes from the coherence protocol, not from luck.
 * Method: one `collie sheep` with endpoints P1 and P2 (two sheep nodes); `collie target` A exports
 * the VDI through P1, B through P2, both open before anything is written. A writes 0xab into a
 * never-allocated object (40 MiB, object 10) and is SIGKILLed. Then B reads the area, or B first
 * writes 4 KiB elsewhere in the same object (with a stale inode that would be a clobbering CREATE)
 * and reads. `collie vdi lock list`, B's event file and `collie vdi read` are checked at each step.
 * Skipped when qemu-io is missing, except in CI.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { readPattern, writePattern } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import {
  A_WRITE,
  B_WRITE,
  bytesOf,
  describeEvents,
  eventsFileOf,
  expectReadThrough,
  expectStoreBytes,
  isInodeReloaded,
  isInvalidatedAnswer,
  isInvalidationSeen,
  isIoDone,
  openPair,
  readEvents,
  waitForEvent,
  writeThroughAThenKillA,
} from './multipath-failover-steps.js';
import { StoreRig } from './sheep-store-rig.js';

const hasTools = requireTool('qemu-io');

const TEST_TIMEOUT_MS = 60_000;

describe.skipIf(!hasTools)('failover between two collie targets on one collie sheep', () => {
  let rig: StoreRig | undefined;

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && rig) console.log(rig.diagnostics());
    await rig?.dispose();
    rig = undefined;
  });

  test(
    'with locks, B reads what A wrote before dying',
    async () => {
      rig = await StoreRig.start({ label: 'collie-mp-read', endpointCount: 2 });
      const pair = await openPair(rig, ['collie', 'collie']);
      const afterWrite = await writeThroughAThenKillA(rig, pair);
      expect(afterWrite).toEqual({ [pair.p1]: 'MODIFIED', [pair.p2]: 'INVALIDATED' });

      await expectReadThrough(pair.b, A_WRITE, "A's write");
      // B's probe got INODE_INVALIDATED, its reload (the refresh read) validated it and demoted A.
      expect(await rig.participants()).toEqual({ [pair.p1]: 'SHARED', [pair.p2]: 'SHARED' });
      const bEvents = eventsFileOf(pair.b);
      expect(await waitForEvent(bEvents, isInvalidationSeen), 'B saw INODE_INVALIDATED').toBeDefined();
      expect(await waitForEvent(bEvents, isInodeReloaded), 'B reloaded its inode').toBeDefined();
      await expectStoreBytes(rig, A_WRITE.offset, bytesOf(A_WRITE), "A's write");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "with locks, B's first write after the failover keeps A's data in the same object",
    async () => {
      rig = await StoreRig.start({ label: 'collie-mp-write', endpointCount: 2 });
      const pair = await openPair(rig, ['collie', 'collie']);
      const afterWrite = await writeThroughAThenKillA(rig, pair);
      expect(afterWrite).toEqual({ [pair.p1]: 'MODIFIED', [pair.p2]: 'INVALIDATED' });

      const wrote = await writePattern(pair.b.url, B_WRITE);
      expect(wrote.ok, wrote.output).toBe(true);
      // B's CREATE got INODE_INVALIDATED; the reload validated B, the retry was a WRITE_OBJ.
      expect(await rig.participants()).toEqual({ [pair.p1]: 'SHARED', [pair.p2]: 'SHARED' });
      expect(
        await waitForEvent(eventsFileOf(pair.b), isInvalidationSeen),
        'B saw INODE_INVALIDATED',
      ).toBeDefined();

      await expectReadThrough(pair.b, A_WRITE, "A's data after B's write");
      await expectReadThrough(pair.b, B_WRITE, "B's write");
      await expectStoreBytes(rig, A_WRITE.offset, bytesOf(A_WRITE), "A's write");
      await expectStoreBytes(rig, B_WRITE.offset, bytesOf(B_WRITE), "B's write");
    },
    TEST_TIMEOUT_MS,
  );

  // Contrast. Collie's client does everything it does with locks: it sets SD_FLAG_CMD_TGT and
  // probes the inode before serving zeros for an unallocated area. But a store without locks
  // keeps no participants, so it never answers INODE_INVALIDATED: the probe succeeds, B trusts
  // the inode it loaded at open (object 10 unallocated) and serves zeros, exactly like tgt does
  // in sheep-store-tgt-failover.test.ts. The client alone cannot see another target's writes;
  // the protocol between store and clients is what makes failover safe.
  test(
    'without locks (--no-lock), B reads zeros where A wrote, like tgt',
    async () => {
      rig = await StoreRig.start({ label: 'collie-mp-read-nolock', endpointCount: 2, noLock: true });
      const pair = await openPair(rig, ['collie', 'collie']);
      expect(await writeThroughAThenKillA(rig, pair)).toEqual({});

      const read = await readPattern(pair.b.url, A_WRITE);
      expect(read.ok, `B was expected to miss A's write: ${read.output}`).toBe(false);
      expect(read.result.patternFailures, read.output).toHaveLength(1);
      const zeros = await readPattern(pair.b.url, { ...A_WRITE, pattern: 0 });
      expect(zeros.ok, `B was expected to read zeros: ${zeros.output}`).toBe(true);

      const bEvents = eventsFileOf(pair.b);
      // Both reads completed without a single INODE_INVALIDATED answer and without a reload.
      // Wait for the second LU IO to finish (the shared cell's IO is numbered among them).
      const deadlineMs = Date.now() + 3_000;
      let events = await readEvents(bEvents);
      while (events.filter(isIoDone).length < 2 && Date.now() < deadlineMs) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        events = await readEvents(bEvents);
      }
      expect(events.filter(isIoDone), describeEvents(events)).toHaveLength(2);
      expect(events.filter(isInvalidatedAnswer), describeEvents(events)).toEqual([]);
      expect(events.filter(isInodeReloaded), describeEvents(events)).toEqual([]);
      // The data is in the store; only B's cached inode says the object is unallocated.
      await expectStoreBytes(rig, A_WRITE.offset, bytesOf(A_WRITE), "A's write");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "without locks (--no-lock), B's first write after the failover keeps A's data: the store never replaces an object",
    async () => {
      rig = await StoreRig.start({ label: 'collie-mp-write-nolock', endpointCount: 2, noLock: true });
      const pair = await openPair(rig, ['collie', 'collie']);
      expect(await writeThroughAThenKillA(rig, pair)).toEqual({});

      // B's stale cache calls the object unallocated, so B CREATEs it; sheep 1.0 would replace
      // A's object, Collie's store writes B's range into it (docs/multipath-safety.md, rule 1).
      const wrote = await writePattern(pair.b.url, B_WRITE);
      expect(wrote.ok, wrote.output).toBe(true);
      await expectReadThrough(pair.b, A_WRITE, "A's write (kept)");
      await expectReadThrough(pair.b, B_WRITE, "B's write");
      await expectStoreBytes(rig, A_WRITE.offset, bytesOf(A_WRITE), "A's write");
      await expectStoreBytes(rig, B_WRITE.offset, bytesOf(B_WRITE), "B's write");
    },
    TEST_TIMEOUT_MS,
  );
});
