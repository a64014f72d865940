/**
 * Goal: the client's view of the inode follows machines/inode-view.ts and logs every transition:
 * loading -> shared at open, shared -> modified after our inode update, reloading on 0x1D, back
 * to shared on success, invalidated when a reload fails (and the next IO reloads before it sends
 * anything), closed at close; and an allocation acknowledged during a reload survives it.
 * Method: the machine alone through xstate's pure transition(), then backends on scripted store
 * nodes: one that can answer as if the VDI were deleted (refresh read NO_OBJ, LOCK_VDI NO_VDI,
 * TGT IO INODE_INVALIDATED), one that delays the refresh read's answer so an inode update is
 * acknowledged in between; the view's path and the IO plans are read from the event log. The
 * view's one input is the cache's `inputs$` stream: a cache opened on a real store is watched
 * through it.
 */
import { describe, expect, test } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { type InodeViewEvent, inodeViewMachine } from '../../../machines/inode-view.js';
import { BackendError } from '../../../src/backends/block-backend.js';
import { createRng } from '../../../src/core/rng.js';
import { InodeCache } from '../../../src/sheepdog/client/inode-cache.js';
import { SheepPool } from '../../../src/sheepdog/client/sheep-pool.js';
import { SD_INODE_DATA_END, SdOp, SdRes } from '../../../src/sheepdog/wire/constants.js';
import { responseFor } from '../../../src/sheepdog/wire/header.js';
import {
  clientWorld,
  isTgtObjectIo,
  MiB,
  OBJECT_BYTES,
  pattern,
  STORE_HOST,
  scriptedEndpoint,
} from './client-world.js';

describe('the inode-view machine', () => {
  test('valid states, reloads that join, failed reloads, close', () => {
    let [snapshot] = initialTransition(inodeViewMachine, { vdiName: 'vol' });
    const path: string[] = [String(snapshot.value)];
    const events: InodeViewEvent[] = [
      { type: 'LOADED', vid: 7 },
      { type: 'INODE_WRITTEN' },
      { type: 'RELOAD_NEEDED', reason: 'invalidated' },
      { type: 'RELOAD_NEEDED', reason: 'readonly' },
      { type: 'INODE_WRITTEN' },
      { type: 'RELOAD_FAILED' },
      { type: 'RELOAD_NEEDED', reason: 'readonly' },
      { type: 'RELOADED', vid: 8 },
      { type: 'CLOSE' },
    ];
    for (const event of events) {
      [snapshot] = transition(inodeViewMachine, snapshot, event);
      path.push(String(snapshot.value));
    }
    expect(path).toEqual([
      'loading',
      'shared',
      'modified',
      'reloading',
      'reloading',
      'reloading',
      'invalidated',
      'reloading',
      'shared',
      'closed',
    ]);
    expect(snapshot.context).toMatchObject({ vid: 8, generation: 2 });
    expect(snapshot.status).toBe('done');
  });
});

describe('the view on its input stream', () => {
  test('what the cache pushes on inputs$ moves the view (seen after it moved) and is logged; close completes it', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    const actor = 'viewer/inode';
    const pool = await world.settle(
      SheepPool.open({
        transport: world.network.transport('viewer'),
        endpoint: { host: STORE_HOST, port: 7000 },
        clock: world.clock,
        rng: createRng('viewer/pool'),
        eventLog: world.eventLog,
        actor: 'viewer/pool',
      }),
    );
    const cache = await world.settle(
      InodeCache.open({
        pool,
        vdiName: 'vol',
        clock: world.clock,
        rng: createRng('viewer'),
        eventLog: world.eventLog,
        actor,
      }),
    );
    expect(cache.state).toBe('shared');
    const seen: string[] = [];
    let completed = false;
    cache.inputs$.subscribe({
      next: (event) => seen.push(`${event.type} -> ${cache.state}`),
      complete: () => {
        completed = true;
      },
    });
    cache.recordAllocation(vid, 0, 0);
    expect(seen).toEqual(['INODE_WRITTEN -> modified']);
    await world.settle(cache.reload('invalidated', cache.generation));
    await world.settle(cache.releaseAll());
    cache.close();
    expect(seen).toEqual([
      'INODE_WRITTEN -> modified',
      'RELOAD_NEEDED -> reloading',
      'RELOADED -> shared',
      'CLOSE -> closed',
    ]);
    expect(completed).toBe(true);
    expect(world.eventsOf('inode.transition', actor).map((e) => `${e.data.event} -> ${e.data.to}`)).toEqual([
      'LOADED -> shared',
      ...seen,
    ]);
    pool.close();
  });
});

describe('the inode cache in a backend', () => {
  test('an allocation acknowledged while a reload is in flight survives the reload (no clobbering CREATE later)', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    const a = await world.open('targetA', 7000);
    let slowRefresh = false;
    await scriptedEndpoint(world, 7002, {
      // The refresh read is served when it arrives (it sees the inode as it is then) but its
      // answer comes 50 ms later, after the allocation below was acknowledged.
      delayMs: (request) =>
        slowRefresh && request.opcode === SdOp.READ_OBJ && request.dataLength === SD_INODE_DATA_END ? 50 : 0,
    });
    const b = await world.open('targetB', 7002);
    await world.settle(a.write(0, pattern(1, 0, 512)));
    expect(world.store.locks.participantState(vid, world.node(7002))).toBe('invalidated');

    slowRefresh = true;
    const offset = 9 * OBJECT_BYTES;
    const first = pattern(2, offset, 8192);
    const read = b.read(12 * OBJECT_BYTES, 512);
    let write: Promise<void> | undefined;
    world.clock.setTimeout(() => {
      write = b.write(offset, first);
    }, 10);
    await world.settle(read);
    await world.settle(write!);
    slowRefresh = false;
    const reloads = world
      .eventsOf('inode.transition', 'sheepdog/vol@store:7002/inode')
      .map((e) => e.data.event);
    // The write waits for the reload before it sends (a reload and the rounds planned from the
    // old mapping never overlap), so its allocation is recorded after RELOADED.
    expect(reloads).toEqual(['LOADED', 'RELOAD_NEEDED', 'RELOADED', 'INODE_WRITTEN']);

    const second = pattern(3, offset + 8192, 512);
    await world.settle(b.write(offset + 8192, second));
    const sends = world
      .eventsOf('io.transition', 'sheepdog/vol@store:7002/io')
      .filter((e) => e.data.event === 'SEND' && e.data.op === 'write')
      .map((e) => e.data.creates);
    // The write's first plan (made during the reload) is dropped unsent and made again after
    // it; the next write finds the object allocated and does not CREATE over it.
    expect(sends).toEqual([1, 1, 0]);
    const expected = Buffer.concat([first, second]);
    expect(await world.settle(a.read(offset, 8192 + 512))).toEqual(expected);
  });

  test('a failed reload leaves the view invalidated; the next IO reloads first and succeeds', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    let broken = false;
    await scriptedEndpoint(world, 7002, {
      answer: async (request, payload, node) => {
        if (broken) {
          const refresh = request.opcode === SdOp.READ_OBJ && request.dataLength === SD_INODE_DATA_END;
          if (refresh) return { header: responseFor(request, SdRes.NO_OBJ, { epoch: 1 }) };
          if (request.opcode === SdOp.LOCK_VDI)
            return { header: responseFor(request, SdRes.NO_VDI, { epoch: 1 }) };
          if (isTgtObjectIo(request))
            return { header: responseFor(request, SdRes.INODE_INVALIDATED, { epoch: 1 }) };
        }
        return world.store.server.handle(request, payload, node);
      },
    });
    const backend = await world.open('targetB', 7002);
    const data = pattern(1, 0, 4096);
    await world.settle(backend.write(0, data));
    expect(backend.inodeState).toBe('modified');

    broken = true;
    const failure = world.settle(backend.read(0, 4096));
    await expect(failure).rejects.toBeInstanceOf(BackendError);
    await expect(failure).rejects.toThrow(/VDI "vol" not found on sheep at store:7002/);
    expect(backend.inodeState).toBe('invalidated');

    broken = false;
    expect(await world.settle(backend.read(0, 4096))).toEqual(data);
    await world.settle(backend.close());
    const path = world
      .eventsOf('inode.transition', 'sheepdog/vol@store:7002/inode')
      .map((e) => `${e.data.event}->${e.data.to}`);
    expect(path).toEqual([
      'LOADED->shared',
      'INODE_WRITTEN->modified',
      'RELOAD_NEEDED->reloading',
      'RELOAD_FAILED->invalidated',
      'RELOAD_NEEDED->reloading',
      'RELOADED->shared',
      'CLOSE->closed',
    ]);
    const lastRead = world
      .eventsOf('io.transition', 'sheepdog/vol@store:7002/io')
      .filter((e) => e.data.event === 'RESULT')
      .at(-2);
    expect(lastRead?.data).toMatchObject({
      outcome: 'invalidated',
      answeredBy: 'the inode cache (an earlier reload failed)',
    });
  });
});
