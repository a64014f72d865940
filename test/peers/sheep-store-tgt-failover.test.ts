/**
 * Goal: the multipath failover of sheepdog-protocol.md §8.5 works end to end on Collie's store
 * with two real tgtds, and the same scenario without locks (--no-lock) shows the data loss the
 * coherence protocol exists to prevent, so the first result is known to come from the protocol.
 * Method: one store with endpoints P1 and P2 (two sheep nodes); tgtd A exports the VDI through P1,
 * tgtd B through P2, both open it before anything is written. A writes 0xab into a never-allocated
 * object (40 MiB, object 10) and is SIGKILLed. Then either B reads the area, or B first writes
 * 4 KiB elsewhere in the same object (which, with a stale inode, is a clobbering CREATE) and reads.
 * `collie vdi lock list` is checked at each step and `collie vdi read` cross-checks the store.
 * Skipped when tgt or qemu-io are missing, except in CI.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { readPattern, writePattern } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import { filled, firstDifference, KiB, MiB, StoreRig } from './sheep-store-rig.js';

const hasTools = ['tgtd', 'tgtadm', 'qemu-io'].map(requireTool).every(Boolean);

/** A's write: 64 KiB at the start of object 10, which nobody has allocated. */
const A_WRITE = { pattern: 0xab, offset: 40 * MiB, length: 64 * KiB };
/** B's write after the failover: 4 KiB further into the same 4 MiB object. */
const B_WRITE = { pattern: 0xcd, offset: 41 * MiB, length: 4 * KiB };

interface FailoverWorld {
  rig: StoreRig;
  aUrl: string;
  bUrl: string;
  p1: string;
  p2: string;
}

/** Store with two endpoints, A and B open on the VDI, A's write acknowledged, A killed. */
async function writeThroughAThenKillA(
  rig: StoreRig,
  locking: boolean,
): Promise<FailoverWorld & { afterWrite: Record<string, string> }> {
  const p1 = rig.endpointKey(0);
  const p2 = rig.endpointKey(1);
  const a = await rig.exportThrough(0, 'a');
  if (locking) expect(await rig.participants()).toEqual({ [p1]: 'MODIFIED' });
  const b = await rig.exportThrough(1, 'b');
  // B joined INVALIDATED (A was MODIFIED); its open's refresh read validated it, demoting A.
  expect(await rig.participants()).toEqual(locking ? { [p1]: 'SHARED', [p2]: 'SHARED' } : {});

  const wrote = await writePattern(a.url, A_WRITE);
  expect(wrote.ok, wrote.output).toBe(true);
  const afterWrite = await rig.participants();

  await a.tgtd.kill9();
  // A crashed tgtd releases nothing: its node stays a participant in the same state.
  expect(await rig.participants()).toEqual(afterWrite);
  return { rig, aUrl: a.url, bUrl: b.url, p1, p2, afterWrite };
}

async function expectStoreBytes(
  rig: StoreRig,
  offset: number,
  expected: Buffer,
  what: string,
): Promise<void> {
  const bytes = await rig.readVdi(offset, expected.length);
  expect(
    bytes.equals(expected),
    `${what}: collie vdi read ${offset}: ${firstDifference(bytes, expected)}`,
  ).toBe(true);
}

describe.skipIf(!hasTools)('seed failover between two real tgtds on one collie sheep', () => {
  let rig: StoreRig | undefined;

  afterEach(async () => {
    await rig?.dispose();
    rig = undefined;
  });

  test('with locks, B reads what A wrote before dying', async () => {
    rig = await StoreRig.start({ label: 'failover-read', endpointCount: 2 });
    const world = await writeThroughAThenKillA(rig, true);
    expect(world.afterWrite).toEqual({ [world.p1]: 'MODIFIED', [world.p2]: 'INVALIDATED' });

    const read = await readPattern(world.bUrl, A_WRITE);
    expect(read.ok, read.output).toBe(true);
    // B's probe got INODE_INVALIDATED, its reload validated it and demoted A.
    expect(await rig.participants()).toEqual({ [world.p1]: 'SHARED', [world.p2]: 'SHARED' });
    await expectStoreBytes(rig, A_WRITE.offset, filled(A_WRITE.pattern, A_WRITE.length), "A's write");
  });

  test('without locks (--no-lock), B reads zeros where A wrote', async () => {
    rig = await StoreRig.start({ label: 'failover-read-nolock', endpointCount: 2, noLock: true });
    const world = await writeThroughAThenKillA(rig, false);
    expect(world.afterWrite).toEqual({});

    const read = await readPattern(world.bUrl, A_WRITE);
    expect(read.ok, `B was expected to miss A's write: ${read.output}`).toBe(false);
    expect(read.result.patternFailures, read.output).toHaveLength(1);
    const zeros = await readPattern(world.bUrl, { ...A_WRITE, pattern: 0 });
    expect(zeros.ok, `B was expected to read zeros: ${zeros.output}`).toBe(true);
    // The data is in the store; only B's cached inode says the object is unallocated.
    await expectStoreBytes(rig, A_WRITE.offset, filled(A_WRITE.pattern, A_WRITE.length), "A's write");
  });

  test("with locks, B's first write after the failover keeps A's data in the same object", async () => {
    rig = await StoreRig.start({ label: 'failover-write', endpointCount: 2 });
    const world = await writeThroughAThenKillA(rig, true);
    expect(world.afterWrite).toEqual({ [world.p1]: 'MODIFIED', [world.p2]: 'INVALIDATED' });

    const wrote = await writePattern(world.bUrl, B_WRITE);
    expect(wrote.ok, wrote.output).toBe(true);
    // B's CREATE got INODE_INVALIDATED; the reload validated B, the retry was a WRITE_OBJ.
    expect(await rig.participants()).toEqual({ [world.p1]: 'SHARED', [world.p2]: 'SHARED' });

    const readA = await readPattern(world.bUrl, A_WRITE);
    expect(readA.ok, `A's data must survive B's write: ${readA.output}`).toBe(true);
    const readB = await readPattern(world.bUrl, B_WRITE);
    expect(readB.ok, readB.output).toBe(true);
    await expectStoreBytes(rig, A_WRITE.offset, filled(A_WRITE.pattern, A_WRITE.length), "A's write");
    await expectStoreBytes(rig, B_WRITE.offset, filled(B_WRITE.pattern, B_WRITE.length), "B's write");
  });

  test("without locks (--no-lock), B's first write after the failover keeps A's data: the store never replaces an object", async () => {
    rig = await StoreRig.start({ label: 'failover-write-nolock', endpointCount: 2, noLock: true });
    const { bUrl } = await writeThroughAThenKillA(rig, false);

    // tgt B still thinks the object is unallocated and CREATEs it (sheep 1.0 would replace A's
    // object with zeros around B's bytes); Collie's store writes B's range into A's object.
    const wrote = await writePattern(bUrl, B_WRITE);
    expect(wrote.ok, wrote.output).toBe(true);
    const kept = await readPattern(bUrl, A_WRITE);
    expect(kept.ok, `A's bytes were expected to survive B's CREATE: ${kept.output}`).toBe(true);
    const readB = await readPattern(bUrl, B_WRITE);
    expect(readB.ok, readB.output).toBe(true);
    await expectStoreBytes(rig, A_WRITE.offset, filled(A_WRITE.pattern, A_WRITE.length), "A's write");
    await expectStoreBytes(rig, B_WRITE.offset, filled(B_WRITE.pattern, B_WRITE.length), "B's write");
  });
});
