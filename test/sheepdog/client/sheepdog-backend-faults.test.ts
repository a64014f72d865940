/**
 * Goal: the backend survives the network the way a target must: connections reset while idle or
 * with IO in flight, partitions that heal, and answers that overtake each other; and when sheep
 * stays away it ends in a clear 'unavailable' error within its time bound instead of hanging.
 * Method: backends on the real embedded store over the memory network in virtual time; faults
 * come from the network's reset/partition/heal at chosen virtual instants (clock timers), and
 * out-of-order answers from a scripted store node with random per-request delays.
 */
import { describe, expect, test } from 'vitest';
import { createRng } from '../../../src/core/rng.js';
import { drainMicrotasks } from '../../../src/core/virtual-clock.js';
import {
  type ClientWorld,
  clientWorld,
  MiB,
  OBJECT_BYTES,
  pattern,
  STORE_HOST,
  scriptedEndpoint,
} from './client-world.js';

function resetStreamsOf(world: ClientWorld, host: string): number {
  let count = 0;
  for (const stream of world.network.streams()) {
    if (stream.client.host === host && world.network.reset(stream.id)) count += 1;
  }
  return count;
}

function countEvents(world: ClientWorld, type: string, actorPrefix: string): number {
  return world.eventsOf(type, actorPrefix).length;
}

describe('reconnects', () => {
  test('after the store drops every connection (network reset), the next IO reconnects and works', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const backend = await world.open('targetA', 7000);
    const data = pattern(1, 0, 4096);
    await world.settle(backend.write(0, data));
    expect(resetStreamsOf(world, 'targetA')).toBe(4);
    await world.clock.runUntilIdle({ stepsMax: 100 });
    expect(await world.settle(backend.read(0, 4096))).toEqual(data);
    expect(countEvents(world, 'pool.connection_lost', 'sheepdog/vol@store:7000/pool')).toBeGreaterThanOrEqual(
      1,
    );
    expect(countEvents(world, 'pool.connected', 'sheepdog/vol@store:7000/pool')).toBeGreaterThanOrEqual(5);
    await world.settle(backend.close());
  });

  test('a reset with a write in flight: the write is resent and completes once, correctly', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const backend = await world.open('targetA', 7000);
    const data = pattern(2, OBJECT_BYTES, 8192);
    const write = backend.write(OBJECT_BYTES, data);
    await drainMicrotasks();
    expect(resetStreamsOf(world, 'targetA')).toBe(4);
    await world.settle(write);
    expect(countEvents(world, 'pool.request_resent', 'sheepdog/vol@store:7000/pool')).toBeGreaterThanOrEqual(
      1,
    );
    expect(await world.settle(backend.read(OBJECT_BYTES, 8192))).toEqual(data);
    await world.settle(backend.close());
  });

  test('a partition that heals after 5 s: the IO waits and completes', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const backend = await world.open('targetA', 7000);
    const data = pattern(3, 0, 4096);
    await world.settle(backend.write(0, data));
    world.network.partition('targetA', STORE_HOST);
    const startMs = world.clock.now();
    let doneMs = 0;
    world.clock.setTimeout(() => world.network.heal(), 5000);
    const read = backend.read(0, 4096).then((bytes) => {
      doneMs = world.clock.now();
      return bytes;
    });
    expect(await world.settle(read)).toEqual(data);
    expect(doneMs - startMs).toBeGreaterThanOrEqual(5000);
    expect(doneMs - startMs).toBeLessThan(6000);
    await world.settle(backend.close());
  });

  test('a partition that outlasts the bound: the IO fails "unavailable" naming the endpoint, then recovers', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const backend = await world.open('targetA', 7000);
    world.network.partition('targetA', STORE_HOST);
    const startMs = world.clock.now();
    let failedMs = 0;
    const write = backend.write(0, pattern(4, 0, 512)).catch((error: unknown) => {
      failedMs = world.clock.now();
      throw error;
    });
    await expect(world.settle(write)).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(write).rejects.toThrow(/VDI "vol".*sheep at store:7000 unreachable/);
    // 30 s bound, plus at most one request timeout (15 s) for the request already on the wire.
    expect(failedMs - startMs).toBeGreaterThanOrEqual(30_000);
    expect(failedMs - startMs).toBeLessThanOrEqual(45_000 + 1000);
    world.network.heal();
    const data = pattern(5, 0, 512);
    await world.settle(backend.write(0, data));
    expect(await world.settle(backend.read(0, 512))).toEqual(data);
    await world.settle(backend.close());
  });
});

describe('out-of-order answers', () => {
  test('random answer delays on a scripted node: concurrent IO still returns the right bytes', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const rng = createRng('delays');
    const endpoint = await scriptedEndpoint(world, 7002, { delayMs: () => rng.int(0, 30) });
    const backend = await world.open('targetA', 7002, { poolSize: 2 });
    const writes = Array.from({ length: 16 }, (_, i) => {
      const offset = (i % 4) * OBJECT_BYTES + 65536 * i;
      return { offset, data: pattern(i + 1, offset, 4096) };
    });
    await world.settle(Promise.all(writes.map(({ offset, data }) => backend.write(offset, data))));
    const reads = await world.settle(Promise.all(writes.map(({ offset }) => backend.read(offset, 4096))));
    expect(reads).toEqual(writes.map(({ data }) => data));
    // The answers really did overtake each other on some connection.
    let overtaken = false;
    for (const stream of new Set(endpoint.arrivedStreams)) {
      const arrived = endpoint.arrivedIds.filter((_, i) => endpoint.arrivedStreams[i] === stream);
      const answered = endpoint.answeredIds.filter((id) => arrived.includes(id));
      if (answered.join() !== arrived.join()) overtaken = true;
    }
    expect(overtaken).toBe(true);
    await world.settle(backend.close());
  });
});
