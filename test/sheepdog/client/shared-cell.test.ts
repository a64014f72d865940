/**
 * Goal: the sheepdog backend's shared cell (src/sheepdog/client/sheep-shared-cell.ts) keeps the
 * SharedCell contract (src/backends/shared-cell.ts) across two target nodes: linearizable
 * updates, learning of another node's update (validate, listeners), guarded IO that never lands
 * after another node's update, exclusive sections in which exactly one of two COMPARE AND WRITEs
 * wins, a cell that follows snapshots, and an LU that cannot reach the cell's area.
 * Method: two SheepdogBackends (A through store node 7000, B through 7001) on the real embedded
 * store over the memory transport, in virtual time, in compat 'collie' and 'sheep-1.0' (where
 * every object is claimed before it is created). The cell's test-only switches (no bump, a write
 * that reloads and resends, no announce) show which test each step is for: each broken cell
 * fails it.
 */
import { describe, expect, test } from 'vitest';
import { BackendError } from '../../../src/backends/block-backend.js';
import {
  CellContention,
  type CellSnapshot,
  type IoGuard,
  IoRestart,
} from '../../../src/backends/shared-cell.js';
import { silentLogger } from '../../../src/core/logger.js';
import { createRng } from '../../../src/core/rng.js';
import { sleepMs } from '../../../src/core/sleep.js';
import {
  CELL_ATTEMPTS_MAX_DEFAULT,
  CELL_OBJECT_IDX,
  decodeCell,
  type SharedCellTestOnlyBug,
} from '../../../src/sheepdog/client/sheep-shared-cell.js';
import { SheepdogBackend } from '../../../src/sheepdog/client/sheepdog-backend.js';
import { SdOp } from '../../../src/sheepdog/wire/constants.js';
import { dataOidToIdx, isDataOid, vidToDataOid } from '../../../src/sheepdog/wire/oid.js';
import type { StoreCompat } from '../../../src/store/store-rules.js';
import {
  type ClientWorld,
  clientWorld,
  MiB,
  OBJECT_BYTES,
  STORE_HOST,
  scriptedEndpoint,
} from './client-world.js';

const COMPATS: readonly StoreCompat[] = ['collie', 'sheep-1.0'];

/** The counter the increment tests keep in the cell: a u32 LE (empty content: 0). */
function counterOf(snapshot: CellSnapshot): number {
  return snapshot.bytes.length === 0 ? 0 : snapshot.bytes.readUInt32LE(0);
}

function increment(current: CellSnapshot): { next: Buffer; value: number } {
  const value = counterOf(current) + 1;
  const next = Buffer.alloc(4);
  next.writeUInt32LE(value);
  return { next, value };
}

async function twoNodes(compat: StoreCompat, bug?: SharedCellTestOnlyBug) {
  const world = await clientWorld({ compat });
  const vid = await world.createVdi('vol', 64 * MiB);
  const options = bug === undefined ? {} : { testOnlyCellBug: bug };
  const a = await world.open('targetA', 7000, options);
  const b = await world.open('targetB', 7001, options);
  return { world, vid, a, b };
}

/** 50 increments on each node at once; every value each update returned, and the final counter. */
async function hundredIncrements(compat: StoreCompat, bug?: SharedCellTestOnlyBug) {
  const { world, a, b } = await twoNodes(compat, bug);
  const updates: Array<Promise<number>> = [];
  for (let i = 0; i < 50; i++) {
    updates.push(a.sharedCell.update(increment));
    updates.push(b.sharedCell.update(increment));
  }
  const values = await world.settle(Promise.all(updates));
  const finalA = await world.settle(a.sharedCell.validate());
  const finalB = await world.settle(b.sharedCell.validate());
  return { world, values, finalA, finalB };
}

/** A guard that answers `decision` and counts how often it was asked. */
function countingGuard(decision: 'continue' | 'restart', onAsk?: () => void): IoGuard & { asked: number } {
  const guard = {
    asked: 0,
    afterChange: async () => {
      guard.asked += 1;
      onAsk?.();
      return decision;
    },
  };
  return guard;
}

describe.each(COMPATS)('compat %s', (compat) => {
  test('two nodes doing 50 concurrent increments each end at 100, each value returned once', async () => {
    const { values, finalA, finalB } = await hundredIncrements(compat);
    expect(counterOf(finalA)).toBe(100);
    expect(counterOf(finalB)).toBe(100);
    expect(finalA.version).toBe(100);
    expect([...values].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  test("B's validate() after A's update calls B's listener and returns A's content; B's cached is stale before", async () => {
    const { world, a, b } = await twoNodes(compat);
    expect((await world.settle(b.sharedCell.validate())).version).toBe(0);
    const heard: CellSnapshot[] = [];
    b.sharedCell.onChange((snapshot) => heard.push(snapshot));
    await world.settle(a.sharedCell.update(() => ({ next: Buffer.from('reserved by A'), value: undefined })));
    expect(a.sharedCell.cached.bytes.toString()).toBe('reserved by A');
    // B did no IO since: nothing told it yet.
    expect(b.sharedCell.cached.version).toBe(0);
    expect(heard).toEqual([]);
    const seen = await world.settle(b.sharedCell.validate());
    expect(seen.bytes.toString()).toBe('reserved by A');
    expect(seen.version).toBe(1);
    expect(heard.map((snapshot) => snapshot.bytes.toString())).toEqual(['reserved by A']);
    expect(b.sharedCell.cached).toBe(seen);
  });

  test('a listener hears of the change once the node reloads for any reason (an LU read here)', async () => {
    const { world, a, b } = await twoNodes(compat);
    await world.settle(b.write(0, Buffer.alloc(4096, 0xb0)));
    await world.settle(b.sharedCell.validate());
    const heard: number[] = [];
    b.sharedCell.onChange((snapshot) => heard.push(snapshot.version));
    await world.settle(a.sharedCell.update(increment));
    // B's read of its own object is refused INODE_INVALIDATED (A's bumps); B reloads and re-reads.
    await world.settle(b.read(0, 4096));
    await world.clock.runUntilIdle({ stepsMax: 100_000, untilMs: world.clock.now() + 100 });
    expect(heard).toEqual([1]);
    expect(counterOf(b.sharedCell.cached)).toBe(1);
  });

  test("a guarded write on B racing A's update lands before it (A's read after its bump sees it) or rejects IoRestart, never lands after", async () => {
    const { world, vid, a, b } = await twoNodes(compat);
    const block = 4096;
    await world.settle(b.write(0, Buffer.alloc(block, 0xee)));
    const oid = vidToDataOid(vid, 0);
    const outcomes = { landedBefore: 0, restarted: 0 };
    for (let round = 1; round <= 24; round++) {
      await world.settle(b.sharedCell.validate());
      const mine = Buffer.alloc(block, round);
      /** What the store held in B's block when A's (last) mutate ran, after A's bump and read. */
      let atUpdate: Promise<Buffer | undefined> | undefined;
      const guard = countingGuard('restart');
      const written = sleepMs(world.clock, round % 4).then(() =>
        b.write(0, mine, { guard }).then(
          () => 'landed' as const,
          (error: unknown) => {
            if (error instanceof IoRestart) return 'restarted' as const;
            throw error;
          },
        ),
      );
      const updated = sleepMs(world.clock, (round >> 2) % 3).then(() =>
        a.sharedCell.update((current) => {
          // The memory store copies the bytes at the call, before this returns.
          atUpdate = world.objects.read(oid, 0, block);
          return increment(current);
        }),
      );
      const [outcome] = await world.settle(Promise.all([written, updated]));
      const stored = await world.settle(world.objects.read(oid, 0, block));
      if (outcome === 'landed') {
        outcomes.landedBefore += 1;
        const seen = await world.settle(atUpdate!);
        expect(seen?.equals(mine), `round ${round}: B's write landed after A's update`).toBe(true);
      } else {
        outcomes.restarted += 1;
        expect(guard.asked).toBeGreaterThan(0);
        expect(stored?.equals(mine), `round ${round}: a restarted write landed`).toBe(false);
      }
    }
    // Both ways happened: the race was run, not avoided.
    expect(outcomes.landedBefore).toBeGreaterThan(0);
    expect(outcomes.restarted).toBeGreaterThan(0);
  });

  test("a guarded IO consults its guard after another IO's reload, with the cell re-read first", async () => {
    const { world, a, b } = await twoNodes(compat);
    await world.settle(b.write(0, Buffer.alloc(4096, 0xb0)));
    await world.settle(b.sharedCell.validate());
    await world.settle(a.sharedCell.update(() => ({ next: Buffer.from('fenced'), value: undefined })));
    // An unguarded read reloads B's cache (INODE_INVALIDATED) and re-validates B's node, so the
    // guarded write below would pass the store's check: only the guard can stop it now.
    await world.settle(b.read(0, 4096));
    let seenByGuard = '';
    const guard = countingGuard('restart', () => {
      seenByGuard = b.sharedCell.cached.bytes.toString();
    });
    await expect(world.settle(b.write(0, Buffer.alloc(4096, 0xb1), { guard }))).rejects.toBeInstanceOf(
      IoRestart,
    );
    expect(guard.asked).toBe(1);
    expect(seenByGuard).toBe('fenced');
    expect((await world.settle(b.read(0, 4096))).equals(Buffer.alloc(4096, 0xb0))).toBe(true);
    // A guard that says 'continue' lets the IO go on.
    const lenient = countingGuard('continue');
    await world.settle(a.sharedCell.update(increment));
    await world.settle(b.write(0, Buffer.alloc(4096, 0xb2), { guard: lenient }));
    expect(lenient.asked).toBe(1);
    expect((await world.settle(a.read(0, 4096))).equals(Buffer.alloc(4096, 0xb2))).toBe(true);
  });

  test('exclusive on two nodes at once, each a read-compare-write of one block: exactly one wins per round', async () => {
    const { world, a, b } = await twoNodes(compat);
    const rounds = await compareAndWriteRounds(world, a, b, 12);
    expect(rounds.map((round) => round.winners)).toEqual(Array.from({ length: 12 }, () => 1));
    expect(rounds.every((round) => round.errors.length === 0)).toBe(true);
    expect((await world.settle(b.read(5 * OBJECT_BYTES + 4096, 512))).readUInt32LE(0)).toBe(12);
  });

  test('the cell survives a snapshot of the VDI: both nodes see what both wrote, and go on from it', async () => {
    const { world, vid, a, b } = await twoNodes(compat);
    const before: Array<Promise<number>> = [];
    for (let i = 0; i < 3; i++) before.push(a.sharedCell.update(increment), b.sharedCell.update(increment));
    await world.settle(Promise.all(before));
    const { snapshotVid, workingVid } = await world.snapshot('vol', 'snap1');
    expect(snapshotVid).toBe(vid);
    expect(counterOf(await world.settle(a.sharedCell.validate()))).toBe(6);
    expect(counterOf(await world.settle(b.sharedCell.validate()))).toBe(6);
    const after: Array<Promise<number>> = [];
    for (let i = 0; i < 5; i++) after.push(a.sharedCell.update(increment), b.sharedCell.update(increment));
    await world.settle(Promise.all(after));
    expect(a.vid).toBe(workingVid);
    expect(counterOf(await world.settle(b.sharedCell.validate()))).toBe(16);
    expect(counterOf(await world.settle(a.sharedCell.validate()))).toBe(16);
    // The snapshot keeps the cell as it was when it was taken.
    const kept = await world.settle(world.objects.read(vidToDataOid(snapshotVid, CELL_OBJECT_IDX), 0, 4096));
    expect(counterOf(decodeCell(kept!)!)).toBe(6);
  });

  test("the LU's read and write refuse the cell's area", async () => {
    const { world, a } = await twoNodes(compat);
    const cellOffset = CELL_OBJECT_IDX * OBJECT_BYTES;
    await expect(world.settle(a.read(a.sizeBytes, 512))).rejects.toThrow(/inside the/);
    await expect(world.settle(a.read(cellOffset, 512))).rejects.toThrow(/inside the/);
    await expect(world.settle(a.write(cellOffset, Buffer.alloc(512)))).rejects.toThrow(/inside the/);
    await world.settle(a.sharedCell.update(() => ({ next: Buffer.from('cell'), value: undefined })));
    // The last block of the LU is its own, and reads as never written.
    expect((await world.settle(a.read(a.sizeBytes - 512, 512))).equals(Buffer.alloc(512))).toBe(true);
  });
});

/** Rounds of two concurrent exclusive read-compare-writes of one 512-byte block (value: the round). */
async function compareAndWriteRounds(
  world: ClientWorld,
  a: SheepdogBackend,
  b: SheepdogBackend,
  count: number,
) {
  // Object 5, never written: the first round's writes allocate it (first, without bytes).
  const offset = 5 * OBJECT_BYTES + 4096;
  const results: Array<{ winners: number; errors: unknown[] }> = [];
  for (let round = 0; round < count; round++) {
    const attempt = (node: SheepdogBackend, name: string, delayMs: number) =>
      sleepMs(world.clock, delayMs).then(() =>
        node.sharedCell.exclusive(async (guard) => {
          const current = await node.read(offset, 512, { guard });
          if (current.readUInt32LE(0) !== round) return false;
          const next = Buffer.alloc(512);
          next.writeUInt32LE(round + 1);
          next.write(name, 4);
          await node.write(offset, next, { guard });
          return true;
        }),
      );
    const settled = await world.settle(
      Promise.allSettled([attempt(a, 'A', round % 2), attempt(b, 'B', (round >> 1) % 2)]),
    );
    results.push({
      winners: settled.filter((outcome) => outcome.status === 'fulfilled' && outcome.value).length,
      errors: settled.filter((outcome) => outcome.status === 'rejected').map((outcome) => outcome.reason),
    });
  }
  return results;
}

describe('each step of the cell is needed (test-only switches break one at a time)', () => {
  // Without the bump both nodes read the same counter and both write it plus one; with a write
  // that reloads and resends after INODE_INVALIDATED, a write lands after the other node's bump
  // and read, so the other's increment overwrites it. Either way some value comes back twice.
  for (const bug of ['no-bump', 'lenient-write'] as const) {
    test(`${bug}: concurrent increments lose updates`, async () => {
      const { values, finalA } = await hundredIncrements('collie', bug);
      expect(new Set(values).size).toBeLessThan(100);
      expect(counterOf(finalA)).toBeLessThan(100);
    });
  }

  test('no-bump: two exclusive read-compare-writes both win a round', async () => {
    const { world, a, b } = await twoNodes('collie', 'no-bump');
    const rounds = await compareAndWriteRounds(world, a, b, 12);
    expect(rounds.some((round) => round.winners === 2)).toBe(true);
  });

  // B validates between A's bump and A's write (its refresh read re-validates it, with the old
  // content); A's write then lands without invalidating anybody. Only the announce after the
  // write tells B; without it B's next validate() passes its probe and returns stale content.
  for (const bug of [undefined, 'no-announce'] as const) {
    test(`${bug ?? 'with the announce'}: B, validated in the middle of A's update, learns of it`, async () => {
      const world = await clientWorld();
      await world.createVdi('vol', 64 * MiB);
      let holdCellWrites = false;
      // A talks to node 7002, which holds A's writes of the cell object 20 ms before applying them.
      await scriptedEndpoint(world, 7002, {
        answer: async (request, payload, node) => {
          const cellWrite =
            request.opcode === SdOp.WRITE_OBJ &&
            request.args.kind === 'obj' &&
            isDataOid(request.args.oid) &&
            dataOidToIdx(request.args.oid) === CELL_OBJECT_IDX;
          if (cellWrite && holdCellWrites) await sleepMs(world.clock, 20);
          return world.store.server.handle(request, payload, node);
        },
      });
      const options = bug === undefined ? {} : { testOnlyCellBug: bug };
      const a = await world.settle(
        SheepdogBackend.open({
          transport: world.network.transport('targetA'),
          endpoint: { host: STORE_HOST, port: 7002 },
          vdiName: 'vol',
          clock: world.clock,
          rng: createRng('backend/targetA'),
          eventLog: world.eventLog,
          logger: silentLogger,
          options,
        }),
      );
      const b = await world.open('targetB', 7001, options);
      // The cell object exists (so A's next write is one WRITE_OBJ, not an allocation, which
      // would invalidate B by itself); B has read it.
      await world.settle(a.sharedCell.update(increment));
      expect(counterOf(await world.settle(b.sharedCell.validate()))).toBe(1);
      holdCellWrites = true;
      const updated = a.sharedCell.update(increment);
      await world.clock.runUntilIdle({ stepsMax: 100_000, untilMs: world.clock.now() + 10 });
      // A bumped and read; its write is held. B validates: INODE_INVALIDATED, reload, re-read.
      expect(counterOf(await world.settle(b.sharedCell.validate()))).toBe(1);
      expect(await world.settle(updated)).toBe(2);
      const seen = await world.settle(b.sharedCell.validate());
      if (bug === undefined) expect(counterOf(seen)).toBe(2);
      else expect(counterOf(seen)).toBe(1);
    });
  }
});

describe('a VDI without a cell', () => {
  test('of the maximum size (its objects reach the bump slot): every operation says why', async () => {
    const world = await clientWorld();
    await world.createVdi('big', 2 ** 20 * OBJECT_BYTES);
    const big = await world.open('targetA', 7000, {}, 'big');
    await expect(world.settle(big.sharedCell.update(increment))).rejects.toThrow(
      /has 1048576 data objects: the shared cell needs data_vdi_id slots 1048574 and 1048575/,
    );
    await expect(world.settle(big.sharedCell.validate())).rejects.toBeInstanceOf(BackendError);
    await expect(world.settle(big.sharedCell.exclusive(async () => 1))).rejects.toBeInstanceOf(BackendError);
    // The LU itself is served as before.
    await world.settle(big.write(0, Buffer.alloc(512, 1)));
  });

  test('contention past attemptsMax rejects with CellContention', async () => {
    const { world, a, b } = await twoNodes('collie');
    // Every attempt of A's exclusive section is restarted by B's update inside it.
    const attempts = { count: 0 };
    const work = async (guard: IoGuard) => {
      attempts.count += 1;
      await b.sharedCell.update(increment);
      await a.read(0, 512, { guard });
      return 'done';
    };
    await expect(world.settle(a.sharedCell.exclusive(work))).rejects.toBeInstanceOf(CellContention);
    expect(attempts.count).toBe(CELL_ATTEMPTS_MAX_DEFAULT);
  });
});
