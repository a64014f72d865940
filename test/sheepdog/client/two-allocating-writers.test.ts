/**
 * Goal: two targets that allocate side by side (active/active, every write into a new object)
 * both get every write acknowledged: each allocation by one invalidates the other, and a reload
 * that finds the inode changed is progress, not a futile retry, so it does not use up the IO's
 * reload budget (before this rule, the real-peer two-writer test through tgt A and Collie B saw
 * 10-56 of 128 writes aborted after 8 reloads).
 * Method: two SheepdogBackends (reload budget 1) through two store endpoints of the real store
 * (memory transport, virtual time); each issues 48 concurrent 4 KiB writes into 48 distinct unallocated objects,
 * interleaved with the other's; then every write reads back through both.
 */
import { expect, test } from 'vitest';
import { clientWorld, MiB, pattern } from './client-world.js';

const OBJECT = 1 * MiB;
const WRITES = 48;

test('two backends allocating side by side both complete every write', async () => {
  const world = await clientWorld({ ports: [7000, 7001] });
  await world.settle(
    (async () => {
      const { newVdi } = await import('../../../src/sheepdog/sheep-admin.js');
      await newVdi(world.admin, { name: 'vol', sizeBytes: 2 * WRITES * OBJECT, blockSizeShift: 20 });
    })(),
  );
  // A small budget makes the point with few writes: progress reloads must not count at all.
  const a = await world.open('target-a', 7000, { reloadsMax: 1 });
  const b = await world.open('target-b', 7001, { reloadsMax: 1 });
  const writes: Promise<void>[] = [];
  for (let k = 0; k < WRITES; k++) {
    writes.push(a.write(2 * k * OBJECT, pattern(0xa1, 2 * k * OBJECT, 4096)));
    writes.push(b.write((2 * k + 1) * OBJECT, pattern(0xb2, (2 * k + 1) * OBJECT, 4096)));
  }
  const outcomes = await world.settle(Promise.allSettled(writes));
  const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
  expect(failed.map((outcome) => String((outcome as PromiseRejectedResult).reason)).slice(0, 3)).toEqual([]);
  for (let k = 0; k < 2 * WRITES; k++) {
    const expected = pattern(k % 2 === 0 ? 0xa1 : 0xb2, k * OBJECT, 4096);
    for (const backend of [a, b]) {
      expect((await world.settle(backend.read(k * OBJECT, 4096))).equals(expected), `object ${k}`).toBe(true);
    }
  }
  await world.settle(Promise.all([a.close(), b.close()]));
});

test("a write keeps going while the other target's allocations keep invalidating it", async () => {
  const world = await clientWorld({ ports: [7000, 7001] });
  await world.settle(
    (async () => {
      const { newVdi } = await import('../../../src/sheepdog/sheep-admin.js');
      await newVdi(world.admin, { name: 'vol', sizeBytes: 64 * OBJECT, blockSizeShift: 20 });
    })(),
  );
  const a = await world.open('target-a', 7000);
  const b = await world.open('target-b', 7001, { reloadsMax: 1 });
  await world.settle(b.read(0, 4096));
  // Every time B starts to reload, A allocates one more object: B's next round is refused again.
  const allocationsMax = 12;
  let allocations = 0;
  const aWrites: Promise<void>[] = [];
  world.eventLog.addSink({
    write: (event) => {
      const data = event.data as { to?: string };
      if (
        event.type !== 'inode.transition' ||
        !event.actor.includes('@store:7001') ||
        data.to !== 'reloading'
      )
        return;
      if (allocations >= allocationsMax) return;
      allocations += 1;
      aWrites.push(a.write((allocations + 1) * OBJECT, pattern(0xa1, (allocations + 1) * OBJECT, 4096)));
    },
  });
  // A allocates first, so B's first round is refused; each reload of B then triggers another.
  await world.settle(a.write(OBJECT, pattern(0xa1, OBJECT, 4096)));
  const written = b.write(0, pattern(0xb2, 0, 4096));
  await world.settle(written);
  await world.settle(Promise.all(aWrites));
  expect(allocations).toBeGreaterThan(1);
  expect((await world.settle(a.read(0, 4096))).equals(pattern(0xb2, 0, 4096))).toBe(true);
});
