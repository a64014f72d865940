/**
 * Goal: every test-only client bug switch (test-only-client-bugs.ts) is off by default and, when
 * set, changes the client's behaviour the way its description says, so the simulator's mutation
 * table has a real mistake to find. One small scenario per switch, run with and without it.
 * Method: backends on the real embedded store over the memory network in virtual time
 * (client-world.ts); target A (node 7000) and target B (node 7001, or a scripted node) share the
 * VDI; outcomes are the bytes read, the errors and the store's participant table.
 */
import { describe, expect, test } from 'vitest';
import { TEST_ONLY_CLIENT_BUGS as FROM_IO_RUNNER } from '../../../src/sheepdog/client/io-runner.js';
import {
  TEST_ONLY_CLIENT_BUG_DESCRIPTIONS,
  TEST_ONLY_CLIENT_BUGS,
  type TestOnlyClientBug,
} from '../../../src/sheepdog/client/test-only-client-bugs.js';
import { SdOp } from '../../../src/sheepdog/wire/constants.js';
import { isDataOid } from '../../../src/sheepdog/wire/oid.js';
import { STORE_HOST } from '../../support/store-world.js';
import {
  type ClientWorld,
  clientWorld,
  MiB,
  OBJECT_BYTES,
  pattern,
  scriptedEndpoint,
} from './client-world.js';

const X = 6 * OBJECT_BYTES;

/** A on 7000 (no bug) and B on 7001 (`bug` or none) share "vol". */
async function pair(bug: TestOnlyClientBug | undefined, bugOn: 'a' | 'b' = 'b') {
  const world = await clientWorld();
  const vid = await world.createVdi('vol', 64 * MiB);
  const options = bug === undefined ? {} : { testOnlyBug: bug };
  const a = await world.open('targetA', 7000, bugOn === 'a' ? options : {});
  const b = await world.open('targetB', 7001, bugOn === 'b' ? options : {});
  return { world, vid, a, b };
}

/** The outcome of a read as a comparable value: the bytes, or the error kind. */
async function outcome(world: ClientWorld, read: Promise<Buffer>): Promise<Buffer | string> {
  try {
    return await world.settle(read);
  } catch (error) {
    return `${(error as { kind?: string }).kind ?? 'error'}: ${(error as Error).message}`;
  }
}

describe('the switches', () => {
  test('each has a description; io-runner.ts still exports the same list', () => {
    expect([...TEST_ONLY_CLIENT_BUGS].sort()).toEqual(
      [
        'ack-before-inode-update',
        'late-resend',
        'no-relock-after-reconnect',
        'reads-fail',
        'retry-without-reload',
        'skip-unallocated-probe',
        'wrong-cow-oid',
      ].sort(),
    );
    for (const bug of TEST_ONLY_CLIENT_BUGS)
      expect(TEST_ONLY_CLIENT_BUG_DESCRIPTIONS[bug].length).toBeGreaterThan(10);
    expect(FROM_IO_RUNNER).toBe(TEST_ONLY_CLIENT_BUGS);
  });

  test('reads-fail: every read fails with a medium error; writes still work', async () => {
    for (const bug of [undefined, 'reads-fail'] as const) {
      const { world, a, b } = await pair(bug);
      const data = pattern(1, X, 4096);
      await world.settle(b.write(X, data));
      const read = await outcome(world, b.read(X, 4096));
      if (bug === undefined) expect(read).toEqual(data);
      else expect(read).toMatch(/^medium: .*reads-fail/);
      await world.settle(Promise.all([a.close(), b.close()]));
    }
  });

  test('skip-unallocated-probe: a stale "unallocated" is served as zeros', async () => {
    for (const bug of [undefined, 'skip-unallocated-probe'] as const) {
      const { world, a, b } = await pair(bug);
      expect(await world.settle(b.read(X, 4096))).toEqual(Buffer.alloc(4096));
      const data = pattern(2, X, 4096);
      await world.settle(a.write(X, data));
      expect(await outcome(world, b.read(X, 4096))).toEqual(bug === undefined ? data : Buffer.alloc(4096));
      await world.settle(Promise.all([a.close(), b.close()]));
    }
  });

  test('retry-without-reload: INODE_INVALIDATED is resent from the stale cache until the IO gives up', async () => {
    for (const bug of [undefined, 'retry-without-reload'] as const) {
      const { world, a, b } = await pair(bug);
      expect(await world.settle(b.read(X, 4096))).toEqual(Buffer.alloc(4096));
      const data = pattern(3, X, 4096);
      await world.settle(a.write(X, data));
      const read = await outcome(world, b.read(X, 4096));
      if (bug === undefined) expect(read).toEqual(data);
      else expect(read).toMatch(/^retries-exhausted: .*INODE_INVALIDATED/);
      await world.settle(Promise.all([a.close(), b.close()]));
    }
  });

  test('ack-before-inode-update: the write completes before its inode update, so another target reads zeros meanwhile', async () => {
    for (const bug of [undefined, 'ack-before-inode-update'] as const) {
      const { world, a, b } = await pair(bug, 'a');
      expect(await world.settle(b.read(X, 4096))).toEqual(Buffer.alloc(4096));
      const data = pattern(4, X, 4096);
      await world.settle(a.write(X, data));
      expect(await outcome(world, b.read(X, 4096))).toEqual(bug === undefined ? data : Buffer.alloc(4096));
      // The update goes out later after all: then B is invalidated and reads the data.
      await world.clock.runUntilIdle({ stepsMax: 10_000, untilMs: world.clock.now() + 1_000 });
      expect(await outcome(world, b.read(X, 4096))).toEqual(data);
      await world.settle(Promise.all([a.close(), b.close()]));
    }
  });

  test('no-relock-after-reconnect: after its node restarted, B never rejoins and misses the invalidation', async () => {
    for (const bug of [undefined, 'no-relock-after-reconnect'] as const) {
      const { world, vid, a, b } = await pair(bug);
      expect(await world.settle(b.read(X, 4096))).toEqual(Buffer.alloc(4096));
      expect(await world.settle(world.store.leave(world.node(7001)))).toBe(true);
      await world.clock.runUntilIdle({ stepsMax: 1000 });
      await world.settle(world.store.join({ host: STORE_HOST, port: 7001 }));
      // B's next IO notices the reconnect (and rejoins, unless the bug is on).
      expect(await world.settle(b.read(0, 4096))).toEqual(Buffer.alloc(4096));
      expect(world.store.locks.participantState(vid, world.node(7001))).toBe(
        bug === undefined ? 'shared' : undefined,
      );
      const data = pattern(5, X, 4096);
      await world.settle(a.write(X, data));
      expect(await outcome(world, b.read(X, 4096))).toEqual(bug === undefined ? data : Buffer.alloc(4096));
      await world.settle(Promise.all([a.close(), b.close()]));
    }
  });

  test("wrong-cow-oid: a copy-on-write CREATE copies from the working vid's (missing) object and fails", async () => {
    for (const bug of [undefined, 'wrong-cow-oid'] as const) {
      const world = await clientWorld();
      await world.createVdi('vol', 64 * MiB);
      const before = pattern(6, 0, OBJECT_BYTES);
      const writer = await world.open('targetA', 7000);
      await world.settle(writer.write(0, before));
      await world.settle(writer.close());
      await world.snapshot('vol', 'snap1');
      const b = await world.open('targetB', 7001, bug === undefined ? {} : { testOnlyBug: bug });
      const data = pattern(7, 8192, 4096);
      const wrote = await world.settle(b.write(8192, data)).then(
        () => 'ok',
        (error: unknown) => (error as { kind: string }).kind,
      );
      expect(wrote).toBe(bug === undefined ? 'ok' : 'medium');
      if (bug === undefined) {
        const expected = Buffer.from(before.subarray(0, 16384));
        data.copy(expected, 8192);
        expect(await world.settle(b.read(0, 16384))).toEqual(expected);
      }
      await world.settle(b.close());
    }
  });

  test('late-resend: a write whose connection timed out lands again after a newer write to the same bytes', async () => {
    for (const bug of [undefined, 'late-resend'] as const) {
      const world = await clientWorld();
      await world.createVdi('vol', 64 * MiB);
      let delayNextDataWrite = false;
      await scriptedEndpoint(world, 7002, {
        delayMs: (request) => {
          const dataWrite =
            request.opcode === SdOp.WRITE_OBJ && request.args.kind === 'obj' && isDataOid(request.args.oid);
          if (!delayNextDataWrite || !dataWrite) return 0;
          delayNextDataWrite = false;
          return 1_000;
        },
      });
      const b = await world.open('targetB', 7002, {
        requestTimeoutMs: 100,
        ...(bug === undefined ? {} : { testOnlyBug: bug }),
      });
      await world.settle(b.write(X, pattern(8, X, 4096)));
      const old = pattern(9, X, 4096);
      const newer = pattern(10, X, 4096);
      delayNextDataWrite = true;
      // Its first copy's answer is late: the connection times out and the write is resent.
      await world.settle(b.write(X, old));
      await world.settle(b.write(X, newer));
      await world.clock.runUntilIdle({ stepsMax: 10_000, untilMs: world.clock.now() + 2_000 });
      expect(await world.settle(b.read(X, 4096))).toEqual(bug === undefined ? newer : old);
      expect(world.eventsOf('pool.request_resent', 'sheepdog/vol@store:7002/pool')).toHaveLength(1);
      const late = world.eventsOf('pool.test_only_late_resend', 'sheepdog/vol@store:7002/pool');
      expect(late).toHaveLength(bug === undefined ? 0 : 1);
      await world.settle(b.close());
    }
  });
});
