/**
 * Goal: concurrent IO on one backend is safe and still concurrent: overlapping writes end in the
 * content of their serial (arrival) order with no allocation lost, even when sheep answers out of
 * order; IOs on disjoint objects overlap in time while IOs on shared objects do not.
 * Method: many writes issued at once (random offsets and lengths from a seeded Rng, several
 * spanning object boundaries, all in three objects) through a scripted store node with random
 * answer delays; a byte model applies the writes in issue order; the result is read back through
 * the backend, through a second backend on another node, and with dog's reader. Timing claims are
 * read off the event log's io.transition order.
 */
import { describe, expect, test } from 'vitest';
import { createRng } from '../../../src/core/rng.js';
import { readVdiBytes } from '../../../src/sheepdog/sheep-admin.js';
import {
  clientWorld,
  firstDifference,
  MiB,
  OBJECT_BYTES,
  pattern,
  scriptedEndpoint,
} from './client-world.js';

const REGION_BYTES = 3 * OBJECT_BYTES;

describe('overlapping writes', () => {
  test('final content equals the serial order of issue; every allocation survives', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const rng = createRng('overlap');
    await scriptedEndpoint(world, 7002, { delayMs: () => rng.int(0, 25) });
    const backend = await world.open('targetA', 7002, { ioEvents: false });
    const model = Buffer.alloc(REGION_BYTES);
    const writes: Promise<void>[] = [];
    const boundaries = [0, OBJECT_BYTES, 2 * OBJECT_BYTES];
    for (let i = 0; i < 60; i++) {
      const around = rng.pick(boundaries);
      const lengthBytes = rng.int(1, 65) * 512;
      const offsetBytes = Math.min(
        REGION_BYTES - lengthBytes,
        Math.max(0, around - 32 * 1024 + rng.int(0, 128) * 512),
      );
      const data = pattern(i + 1, offsetBytes, lengthBytes);
      data.copy(model, offsetBytes);
      writes.push(backend.write(offsetBytes, data));
    }
    await world.settle(Promise.all(writes));

    expect(firstDifference(await world.settle(backend.read(0, REGION_BYTES)), model)).toBe(-1);
    const other = await world.open('targetB', 7001, { ioEvents: false });
    expect(firstDifference(await world.settle(other.read(0, REGION_BYTES)), model)).toBe(-1);
    const viaDog = await world.settle(
      readVdiBytes(world.admin, { name: 'vol', offset: 0, lengthBytes: REGION_BYTES }),
    );
    expect(firstDifference(viaDog, model)).toBe(-1);
  });
});

describe('concurrency where it is safe', () => {
  test('writes to disjoint objects run together; writes to one object run one after another', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const backend = await world.open('targetA', 7000);
    const firstIo = world.eventsOf('io.transition').length;
    await world.settle(
      Promise.all([
        backend.write(0, pattern(1, 0, 4096)),
        backend.write(OBJECT_BYTES, pattern(2, OBJECT_BYTES, 4096)),
        backend.write(8192, pattern(3, 8192, 4096)),
      ]),
    );
    const order = world
      .eventsOf('io.transition')
      .slice(firstIo)
      .map((e) => `${e.data.io}:${e.data.event}->${e.data.to}`);
    // io 1 (object 0) and io 2 (object 1) are both sending before either finishes ...
    expect(order.indexOf('2:SEND->sending')).toBeLessThan(order.indexOf('1:RESULT->done'));
    // ... but io 3 (object 0 again) is only planned after io 1 is done, and sees its allocation.
    expect(order.indexOf('3:SEND->sending')).toBeGreaterThan(order.indexOf('1:RESULT->done'));
    const sends = world
      .eventsOf('io.transition')
      .slice(firstIo)
      .filter((e) => e.data.event === 'SEND')
      .map((e) => [e.data.io, e.data.creates]);
    expect(sends).toEqual([
      [1, 1],
      [2, 1],
      [3, 0],
    ]);
  });

  test('reads of one object share it', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const backend = await world.open('targetA', 7000);
    await world.settle(backend.write(0, pattern(1, 0, 8192)));
    const firstIo = world.eventsOf('io.transition').length;
    await world.settle(Promise.all([backend.read(0, 4096), backend.read(4096, 4096)]));
    const order = world
      .eventsOf('io.transition')
      .slice(firstIo)
      .map((e) => `${e.data.io}:${e.data.event}->${e.data.to}`);
    expect(order.indexOf('3:SEND->sending')).toBeLessThan(order.indexOf('2:RESULT->done'));
  });
});
