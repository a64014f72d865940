/**
 * Goal: a backend whose sheep node leaves the cluster and comes back rejoins the coherence
 * protocol before it serves IO again. A node that leaves drops its participation in every VDI;
 * a client that kept its cached inode and never LOCKed again would be invalidated by nobody and
 * serve stale mappings (found by `collie sim run --scenario swarm --seed 1 --faults
 * storeEndpointLoss`). The pool cannot tell a restart from a dropped connection, so a plain
 * connection reset rejoins too: on Collie's store the LOCK carries the backend's client id and is
 * answered SUCCESS (the lock is provably ours); on sheep 1.0 (emulated: the id ignored) it is
 * answered VDI_LOCKED for a vid this backend locked through that node, which is adopted.
 * Method: backends A (host targetA, store node 7000) and B (targetB, node 7001) on the real
 * embedded store in virtual time; B's node leaves and rejoins with store.leave/store.join of the
 * same endpoint (or B's streams are reset); then A allocates and writes (or B does), and the
 * other reads. The data read, the store's participant table and the event log are checked.
 */
import { describe, expect, test } from 'vitest';
import { STORE_HOST } from '../../support/store-world.js';
import {
  type ClientWorld,
  clientWorld,
  MiB,
  OBJECT_BYTES,
  pattern,
  scriptedEndpoint,
  sheep10Answer,
} from './client-world.js';

const A = 'sheepdog/vol@store:7000';
const B = 'sheepdog/vol@store:7001';

async function pair(world: ClientWorld) {
  const vid = await world.createVdi('vol', 64 * MiB);
  const a = await world.open('targetA', 7000);
  const b = await world.open('targetB', 7001);
  return { vid, a, b };
}

/** B's sheep node leaves the cluster (dropping its participants) and listens again. */
async function restartNode(world: ClientWorld, port: number): Promise<void> {
  expect(await world.settle(world.store.leave(world.node(port)))).toBe(true);
  await world.clock.runUntilIdle({ stepsMax: 1000 });
  await world.settle(world.store.join({ host: STORE_HOST, port }));
}

function lockReasons(world: ClientWorld, actor: string): unknown[] {
  return world.eventsOf('inode.locked', `${actor}/inode`).map((event) => event.data.why);
}

/**
 * Opened, then LOCKed again only to rejoin. Each pooled connection that opens counts as a
 * reconnect, so a rejoin may LOCK more than once (with our id, each answers SUCCESS).
 */
function expectRejoined(world: ClientWorld, actor: string): void {
  const reasons = lockReasons(world, actor);
  expect(reasons[0]).toBe('open');
  expect(reasons.length).toBeGreaterThanOrEqual(2);
  expect(new Set(reasons.slice(1))).toEqual(new Set(['rejoin']));
  expect(world.eventsOf('inode.rejoining', `${actor}/inode`).length).toBeGreaterThanOrEqual(1);
  expect(world.eventsOf('inode.lock_already_held', `${actor}/inode`)).toEqual([]);
}

/** Resets every connection of `host`; returns how many. */
async function resetStreamsOf(world: ClientWorld, host: string): Promise<number> {
  let resets = 0;
  for (const stream of world.network.streams()) {
    if (stream.client.host === host && world.network.reset(stream.id)) resets += 1;
  }
  await world.clock.runUntilIdle({ stepsMax: 1000 });
  return resets;
}

describe('rejoin after the sheep node left and came back', () => {
  test('A allocates and writes after B node rejoined: B reads A data, not its stale mapping', async () => {
    const world = await clientWorld();
    const { vid, a, b } = await pair(world);
    const offset = 5 * OBJECT_BYTES;
    expect(await world.settle(b.read(offset, 4096))).toEqual(Buffer.alloc(4096));

    await restartNode(world, 7001);
    expect(world.store.locks.participantState(vid, world.node(7001))).toBeUndefined();
    const data = pattern(0xa1, offset, 4096);
    await world.settle(a.write(offset, data));

    expect(await world.settle(b.read(offset, 4096))).toEqual(data);
    expectRejoined(world, B);
    expect(world.store.locks.participantState(vid, world.node(7001))).toBe('shared');
    await world.settle(Promise.all([a.close(), b.close()]));
  });

  test('A writes before B notices: B rejoins at its next IO and reads A data', async () => {
    const world = await clientWorld();
    const { vid, a, b } = await pair(world);
    await restartNode(world, 7001);
    const offset = 2 * OBJECT_BYTES + 8192;
    const data = pattern(0xa2, offset, 8192);
    await world.settle(a.write(offset, data));
    // Another allocation later: B has rejoined by then and is invalidated as usual.
    expect(await world.settle(b.read(offset, 8192))).toEqual(data);
    const later = pattern(0xa3, 7 * OBJECT_BYTES, 4096);
    await world.settle(a.write(7 * OBJECT_BYTES, later));
    expect(world.store.locks.participantState(vid, world.node(7001))).toBe('invalidated');
    expect(await world.settle(b.read(7 * OBJECT_BYTES, 4096))).toEqual(later);
    expectRejoined(world, B);
    await world.settle(Promise.all([a.close(), b.close()]));
  });

  test('B allocates after its node rejoined: its inode update invalidates A, which reads B data', async () => {
    const world = await clientWorld();
    const { vid, a, b } = await pair(world);
    const offset = 9 * OBJECT_BYTES;
    expect(await world.settle(a.read(offset, 4096))).toEqual(Buffer.alloc(4096));
    await restartNode(world, 7001);
    const data = pattern(0xb1, offset, 4096);
    await world.settle(b.write(offset, data));
    expect(world.store.locks.participantState(vid, world.node(7000))).toBe('invalidated');
    expect(await world.settle(a.read(offset, 4096))).toEqual(data);
    expect(lockReasons(world, A)).toEqual(['open']);
    await world.settle(Promise.all([a.close(), b.close()]));
  });

  test('a reset without a restart rejoins too: the LOCK with our client id answers SUCCESS, IO goes on', async () => {
    const world = await clientWorld();
    const { vid, a, b } = await pair(world);
    expect(await resetStreamsOf(world, 'targetB')).toBe(4);
    const offset = 3 * OBJECT_BYTES;
    const data = pattern(0xc1, offset, 4096);
    await world.settle(a.write(offset, data));
    expect(await world.settle(b.read(offset, 4096))).toEqual(data);
    expectRejoined(world, B);
    // The store saw the same client lock again and changed nothing.
    const reaffirmed = world.events
      .toArray()
      .filter(
        (event) =>
          event.type === 'lock.reaffirmed' && (event.data as { node: string }).node === world.node(7001),
      );
    expect(reaffirmed.length).toBeGreaterThanOrEqual(1);
    expect(world.store.locks.participantState(vid, world.node(7001))).toBe('shared');
    await world.settle(Promise.all([a.close(), b.close()]));
  });

  test('on sheep 1.0 (ids ignored) a reset rejoins by adopting VDI_LOCKED for the vid it locked through that node', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    await scriptedEndpoint(world, 7002, { answer: sheep10Answer(world) });
    const a = await world.open('targetA', 7000);
    const b = await world.open('targetB', 7002);
    expect(await resetStreamsOf(world, 'targetB')).toBe(4);
    const offset = 3 * OBJECT_BYTES;
    const data = pattern(0xc2, offset, 4096);
    await world.settle(a.write(offset, data));
    expect(await world.settle(b.read(offset, 4096))).toEqual(data);
    const held = world.eventsOf('inode.lock_already_held', 'sheepdog/vol@store:7002/inode');
    expect(held.length).toBeGreaterThanOrEqual(1);
    expect(new Set(held.map((event) => event.data.why))).toEqual(new Set(['rejoin']));
    expect(lockReasons(world, 'sheepdog/vol@store:7002')).toEqual(['open']);
    expect(world.store.locks.participantState(vid, world.node(7002))).toBe('shared');
    await world.settle(Promise.all([a.close(), b.close()]));
  });

  test('a rejoin straight onto a new working VDI leaves the retired one: reads of its objects are served', async () => {
    const world = await clientWorld();
    const { vid, a, b } = await pair(world);
    const offset = 3 * OBJECT_BYTES;
    const data = pattern(0xa4, offset, 4096);
    await world.settle(a.write(offset, data));
    expect(await world.settle(b.read(offset, 4096))).toEqual(data);
    // A snapshot retires vid (every participant of it is invalidated), then B's connections drop
    // before B notices: B's next IO rejoins by name and lands on the new working VDI directly,
    // never refresh-reading the retired one.
    const { workingVid } = await world.snapshot('vol', 'snap1');
    expect(world.store.locks.participantState(vid, world.node(7001))).toBe('invalidated');
    expect(await resetStreamsOf(world, 'targetB')).toBeGreaterThan(0);
    // Object 3 still belongs to the retired vid (an ancestor now): B must read it, not loop.
    expect(await world.settle(b.read(offset, 4096))).toEqual(data);
    expect(b.vid).toBe(workingVid);
    expect(world.store.locks.participantState(vid, world.node(7001))).toBeUndefined();
    await world.settle(Promise.all([a.close(), b.close()]));
  });
});
