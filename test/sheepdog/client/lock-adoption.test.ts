/**
 * Goal: a lock is adopted only when it is provably this client's (issue 8). Each backend sends a
 * random client id in LOCK_VDI's and RELEASE_VDI's vdi_size. On Collie's store a LOCK whose
 * answer was lost is simply sent again and answered SUCCESS when it had taken; VDI_LOCKED means
 * another client holds the node's participation and is never adopted, whether the first LOCK's
 * outcome is unknown or the client rejoins after a reconnect. On sheep 1.0 (emulated: ids
 * ignored, COLLIE_FEATURES unknown) VDI_LOCKED after a LOCK of unknown outcome is ambiguous and
 * fails with the fix named.
 * Method: the real store on the memory network (client-world.ts); a scripted node loses the
 * answer of a chosen LOCK_VDI by resetting its connection, before or after the store applied it.
 * The store's participant table (and its client ids, through lock.reaffirmed events) is checked.
 */
import { describe, expect, test } from 'vitest';
import { BackendError } from '../../../src/backends/block-backend.js';
import { SdOp } from '../../../src/sheepdog/wire/constants.js';
import type { Reply } from '../../../src/store/sheep-server.js';
import { STORE_HOST } from '../../support/store-world.js';
import {
  type Answer,
  type ClientWorld,
  clientHostOf,
  clientWorld,
  MiB,
  OBJECT_BYTES,
  pattern,
  scriptedEndpoint,
  sheep10Answer,
} from './client-world.js';

/**
 * Answers through `inner`, except the first LOCK_VDI from `host`: its connection is reset, after
 * the store applied it (`applied`) or before it reached the store. Its answer is never sent.
 */
function losingFirstLock(world: ClientWorld, host: string, applied: boolean, inner: Answer): Answer {
  let lost = false;
  return async (request, payload, node, streamId) => {
    if (!lost && request.opcode === SdOp.LOCK_VDI && clientHostOf(world, streamId) === host) {
      lost = true;
      if (applied) await inner(request, payload, node, streamId);
      world.network.reset(streamId);
      return new Promise<Reply>(() => {});
    }
    return inner(request, payload, node, streamId);
  };
}

const storeAnswer =
  (world: ClientWorld): Answer =>
  (request, payload, node) =>
    world.store.server.handle(request, payload, node);

function reaffirmations(world: ClientWorld, node: string): number {
  return world.events
    .toArray()
    .filter((event) => event.type === 'lock.reaffirmed' && (event.data as { node: string }).node === node)
    .length;
}

describe("on Collie's store (client ids honoured)", () => {
  test('a LOCK whose answer was lost after it took is sent again and answered SUCCESS: the lock is ours', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    await scriptedEndpoint(world, 7002, {
      answer: losingFirstLock(world, 'targetB', true, storeAnswer(world)),
    });
    const b = await world.open('targetB', 7002);
    expect(reaffirmations(world, world.node(7002))).toBe(1);
    expect(world.store.locks.view(vid).participants).toEqual([{ node: world.node(7002), state: 'modified' }]);
    const data = pattern(1, OBJECT_BYTES, 4096);
    await world.settle(b.write(OBJECT_BYTES, data));
    expect(await world.settle(b.read(OBJECT_BYTES, 4096))).toEqual(data);
    await world.settle(b.close());
    expect(world.store.locks.view(vid).state).toBe('unlocked');
  });

  test('another client holds the node: VDI_LOCKED after a lost LOCK is refused, and the holder keeps its lock', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    await scriptedEndpoint(world, 7002, {
      answer: losingFirstLock(world, 'targetB', false, storeAnswer(world)),
    });
    const c = await world.open('targetC', 7002);
    const opening = world.open('targetB', 7002);
    await expect(opening).rejects.toBeInstanceOf(BackendError);
    await expect(opening).rejects.toThrow(
      /VDI "vol" is already locked through sheep at store:7002 by another client.*collie vdi lock unlock vol -a store -p 7002, or dog vdi lock unlock vol/,
    );
    // B did not adopt, so it released nothing: C is still the node's participant and works.
    expect(world.store.locks.view(vid).participants).toEqual([{ node: world.node(7002), state: 'modified' }]);
    const a = await world.open('targetA', 7000);
    const data = pattern(2, 2 * OBJECT_BYTES, 4096);
    await world.settle(a.write(2 * OBJECT_BYTES, data));
    expect(world.store.locks.participantState(vid, world.node(7002))).toBe('invalidated');
    expect(await world.settle(c.read(2 * OBJECT_BYTES, 4096))).toEqual(data);
    await world.settle(Promise.all([a.close(), c.close()]));
  });

  test('a rejoin after a node restart finds another client on the node: VDI_LOCKED is refused, not adopted', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    const a = await world.open('targetA', 7000);
    const b = await world.open('targetB', 7001);
    expect(await world.settle(world.store.leave(world.node(7001)))).toBe(true);
    await world.clock.runUntilIdle({ stepsMax: 1000 });
    await world.settle(world.store.join({ host: STORE_HOST, port: 7001 }));
    // Another target takes the node's participation before B notices the restart.
    const c = await world.open('targetC', 7001);
    const data = pattern(3, 4 * OBJECT_BYTES, 4096);
    await world.settle(a.write(4 * OBJECT_BYTES, data));
    const reading = world.settle(b.read(4 * OBJECT_BYTES, 4096));
    await expect(reading).rejects.toThrow(/already locked through sheep at store:7001 by another client/);
    expect(world.eventsOf('inode.lock_already_held', 'sheepdog/vol@store:7001/inode')).toEqual([]);
    expect(await world.settle(c.read(4 * OBJECT_BYTES, 4096))).toEqual(data);
    expect(world.store.locks.participantState(vid, world.node(7001))).toBe('shared');
    await world.settle(Promise.all([a.close(), c.close()]));
  });
});

describe('on sheep 1.0 (client ids ignored)', () => {
  test('VDI_LOCKED after a LOCK of unknown outcome is ambiguous: the open fails and names the fix', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    await scriptedEndpoint(world, 7002, {
      answer: losingFirstLock(world, 'targetB', true, sheep10Answer(world)),
    });
    const opening = world.open('targetB', 7002);
    await expect(opening).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(opening).rejects.toThrow(
      /lost its answer and the retry was answered VDI_LOCKED; this store \(sheep 1\.0\) cannot tell.*collie vdi lock unlock vol -a store -p 7002, or dog vdi lock unlock vol\) and retry/,
    );
    // The lock its first LOCK took stays (as a crashed tgt's would) until someone releases it.
    expect(world.store.locks.participantState(vid, world.node(7002))).toBe('modified');
  });
});
