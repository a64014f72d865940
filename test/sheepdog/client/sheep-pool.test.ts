/**
 * Goal: the connection pool pipelines and matches answers by id even when sheep answers out of
 * order, spreads load over its connections, reconnects with a jittered exponential backoff, and
 * gives up within its time bound with an error naming the endpoint, leaving no timers behind.
 * Method: a scripted store node (the real store's handler behind a listener whose answers the
 * test delays or stops) on the memory network in virtual time; requests are READ_OBJs of single
 * bytes of an inode whose name spells distinct letters, so a mismatched answer would show.
 */
import { describe, expect, test } from 'vitest';
import { createRng } from '../../../src/core/rng.js';
import { SheepPool, SheepUnavailableError } from '../../../src/sheepdog/client/sheep-pool.js';
import { SdOp } from '../../../src/sheepdog/wire/constants.js';
import { objRequest } from '../../../src/sheepdog/wire/header.js';
import { vidToVdiOid } from '../../../src/sheepdog/wire/oid.js';
import { type ClientWorld, clientWorld, STORE_HOST, scriptedEndpoint } from './client-world.js';

const NAME = 'abcdefghijklmnopqrstuvwxyz';

function openPool(world: ClientWorld, port: number, options: { size?: number; seed?: string } = {}) {
  return world.settle(
    SheepPool.open({
      transport: world.network.transport('client'),
      endpoint: { host: STORE_HOST, port },
      clock: world.clock,
      rng: createRng(options.seed ?? 'pool'),
      eventLog: world.eventLog,
      actor: 'test/pool',
      size: options.size ?? 1,
    }),
  );
}

function readNameByte(pool: SheepPool, vid: number, index: number) {
  return pool.request(
    objRequest({ opcode: SdOp.READ_OBJ, oid: vidToVdiOid(vid), offset: index, dataLength: 1 }),
  );
}

describe('pipelining', () => {
  test('answers written in reverse arrival order reach the right requests', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi(NAME);
    let arrival = 0;
    const endpoint = await scriptedEndpoint(world, 7002, {
      delayMs: () => {
        arrival += 1;
        return 1000 - 10 * arrival;
      },
    });
    const pool = await openPool(world, 7002);
    const answers = await world.settle(
      Promise.all(Array.from({ length: 20 }, (_, index) => readNameByte(pool, vid, index))),
    );
    expect(answers.map((answer) => answer.payload.toString())).toEqual([...NAME.slice(0, 20)]);
    expect(endpoint.answeredIds).toEqual([...endpoint.arrivedIds].reverse());
    expect(new Set(endpoint.arrivedStreams).size).toBe(1);
    pool.close();
  });

  test('requests go to the least-loaded connection', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi(NAME);
    const endpoint = await scriptedEndpoint(world, 7002, { delayMs: () => 50 });
    const pool = await openPool(world, 7002, { size: 3 });
    expect(pool.liveCount).toBe(3);
    await world.settle(Promise.all(Array.from({ length: 9 }, (_, index) => readNameByte(pool, vid, index))));
    const perStream = new Map<string, number>();
    for (const stream of endpoint.arrivedStreams) perStream.set(stream, (perStream.get(stream) ?? 0) + 1);
    expect([...perStream.values()]).toEqual([3, 3, 3]);
    pool.close();
  });
});

describe('reconnects', () => {
  test('after a reset the pool reconnects on demand and resends what was in flight', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi(NAME);
    await scriptedEndpoint(world, 7002, { delayMs: () => 20 });
    const pool = await openPool(world, 7002, { size: 2 });
    const answer = readNameByte(pool, vid, 3);
    world.clock.setTimeout(() => {
      for (const stream of world.network.streams())
        if (stream.client.host === 'client') world.network.reset(stream.id);
    }, 5);
    expect((await world.settle(answer)).payload.toString()).toBe('d');
    const lost = world.events
      .toArray()
      .filter((e) => e.actor === 'test/pool' && e.type === 'pool.connection_lost');
    const resent = world.events
      .toArray()
      .filter((e) => e.actor === 'test/pool' && e.type === 'pool.request_resent');
    expect(lost.length).toBeGreaterThanOrEqual(1);
    expect(resent.length).toBeGreaterThanOrEqual(1);
    pool.close();
  });

  test('an endpoint that went away: jittered exponential backoff, then unavailable within the bound, no timers left', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi(NAME);
    const endpoint = await scriptedEndpoint(world, 7002);
    const pool = await openPool(world, 7002, { size: 1 });
    await world.settle(endpoint.close());
    for (const stream of world.network.streams())
      if (stream.client.host === 'client') world.network.reset(stream.id);
    const startMs = world.clock.now();
    const failure = world.settle(readNameByte(pool, vid, 0));
    await expect(failure).rejects.toBeInstanceOf(SheepUnavailableError);
    await expect(failure).rejects.toThrow(
      /sheep at store:7002 unreachable for 30\d\d\d ms.*check that sheep runs there/,
    );
    const gaveUp = world.events.toArray().find((e) => e.type === 'pool.unavailable');
    expect(gaveUp?.data).toMatchObject({ waitedMs: 30_000, what: 'no connection' });
    expect(gaveUp!.t - startMs).toBe(30_000);
    const delays = world.events
      .toArray()
      .filter((e) => e.actor === 'test/pool' && e.type === 'pool.connect_failed')
      .map((e) => (e.data as { retryInMs: number }).retryInMs);
    expect(delays.length).toBeGreaterThan(5);
    delays.forEach((delayMs, index) => {
      const capMs = Math.min(5000, 100 * 2 ** index);
      expect(delayMs).toBeGreaterThanOrEqual(capMs / 2);
      expect(delayMs).toBeLessThanOrEqual(capMs);
    });
    // Nobody waits any more: the slot's last backoff ends and it stays idle.
    await world.clock.runUntilIdle({ stepsMax: 1000 });
    expect(world.clock.pendingCount).toBe(0);
    pool.close();
  });

  test('the same seed gives the same backoff delays', async () => {
    const runDelays = async () => {
      const world = await clientWorld();
      const vid = await world.createVdi(NAME);
      const endpoint = await scriptedEndpoint(world, 7002);
      const pool = await openPool(world, 7002, { seed: 'same' });
      await world.settle(endpoint.close());
      for (const stream of world.network.streams()) world.network.reset(stream.id);
      await world.settle(readNameByte(pool, vid, 0)).catch(() => undefined);
      pool.close();
      return world.events
        .toArray()
        .filter((e) => e.type === 'pool.connect_failed')
        .map((e) => (e.data as { retryInMs: number }).retryInMs);
    };
    expect(await runDelays()).toEqual(await runDelays());
  });

  test('a pool that cannot connect at all fails at open, naming the endpoint', async () => {
    const world = await clientWorld();
    await expect(openPool(world, 7999, { size: 2 })).rejects.toThrow(/cannot connect to sheep at store:7999/);
  });
});
