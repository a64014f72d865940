/**
 * Goal: the simulator's store disk is slow on demand and crashes like a disk under a dying
 * process: operations held at the crash are dropped, applied whole, or (WRITE only) torn at a
 * 512-byte sector boundary of the object; CREATE never tears; the dead process's handle and
 * everything it waited for never settle and never touch the disk; a new process's handle works.
 * Method: a SlowObjectStore over a MemoryObjectStore on a virtual clock; crash fates forced with
 * a scripted Rng (pick chooses), or drawn from seeded ones.
 */
import { describe, expect, test } from 'vitest';
import { SECTOR_BYTES, SlowObjectStore, tearPoints } from '../../sim/slow-object-store.js';
import { createRng } from '../../src/core/rng.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { MemoryObjectStore } from '../../src/store/memory-object-store.js';
import { scriptedRng as scripted } from './scripted-rng.js';

const OID = 0x00abcdef00000001n;
const OBJECT_BYTES = 8 * SECTOR_BYTES;

async function setUp() {
  const clock = new VirtualClock(0);
  const disk = new MemoryObjectStore();
  const slow = new SlowObjectStore(disk, clock, createRng(1).fork('slow'));
  await disk.create(OID, { sizeBytes: OBJECT_BYTES, data: Buffer.alloc(OBJECT_BYTES, 0xaa), offset: 0 });
  return { clock, disk, slow };
}

/** Starts `op`, then lets virtual time run until the store holds something. */
async function startHeld<T>(clock: VirtualClock, slow: SlowObjectStore, op: () => Promise<T>) {
  const state = { settled: false };
  const promise = op().then((value) => {
    state.settled = true;
    return value;
  });
  await clock.runUntilIdle({ stepsMax: 0 });
  expect(slow.heldOperations().length).toBeGreaterThan(0);
  return { promise, state };
}

describe('SlowObjectStore', () => {
  test('tear points are the sector boundaries strictly inside the written range', () => {
    expect(tearPoints(0, 512)).toEqual([]);
    expect(tearPoints(0, 2048)).toEqual([512, 1024, 1536]);
    expect(tearPoints(100, 1000)).toEqual([412, 924]);
    expect(tearPoints(4664, 8)).toEqual([]);
  });

  test('holds operations while slow and performs them once after the delay', async () => {
    const { clock, disk, slow } = await setUp();
    slow.delayMsMax = 1000;
    // A delay of 0 is drawn sometimes: retry until one is held.
    let held = false;
    for (let attempt = 0; attempt < 10 && !held; attempt++) {
      const writing = slow.write(OID, 0, Buffer.alloc(SECTOR_BYTES, attempt));
      await clock.runUntilIdle({ stepsMax: 0 });
      held = slow.heldOperations().length === 1;
      expect(await clock.settle(writing)).toBe(true);
    }
    expect(held).toBe(true);
    expect(slow.heldOperations()).toEqual([]);
    expect((await disk.read(OID, 0, 1))![0]).not.toBe(0xaa);
  });

  test("stalls hold a share of operations for a time in stallMs (past the clients' request timeout)", async () => {
    const { clock, slow } = await setUp();
    slow.delayMsMax = 10;
    slow.stallRatio = 1;
    slow.stallMs = [2_000, 2_500];
    const started = clock.now();
    let doneAt = 0;
    void slow.write(OID, 0, Buffer.alloc(SECTOR_BYTES, 1)).then(() => {
      doneAt = clock.now();
    });
    await clock.runUntilIdle({ stepsMax: 100 });
    expect(doneAt - started).toBeGreaterThanOrEqual(2_000);
    expect(doneAt - started).toBeLessThanOrEqual(2_500);
  });

  test('a crash tears a held WRITE at a sector boundary: a prefix of whole sectors lands, the rest stays', async () => {
    const { clock, disk, slow } = await setUp();
    const proc = slow.process();
    slow.delayMsMax = 1000;
    const data = Buffer.alloc(6 * SECTOR_BYTES, 0xbb);
    const { promise, state } = await startHeld(clock, slow, async () => {
      // Keep drawing until a nonzero delay holds it (the first few draws may be 0).
      for (;;) {
        const writing = proc.write(OID, SECTOR_BYTES, data);
        await Promise.resolve();
        if (slow.heldOperations().length > 0) return writing;
        await writing;
      }
    });
    const report = await slow.crash(scripted((items) => (items.includes('torn') ? 'torn' : items[1])));
    expect(report).toHaveLength(1);
    expect(report[0]).toMatchObject({
      kind: 'write',
      fate: 'torn',
      offset: SECTOR_BYTES,
      appliedBytes: 1024,
    });
    const bytes = (await disk.read(OID, 0, OBJECT_BYTES))!;
    expect(bytes.subarray(0, SECTOR_BYTES).every((byte) => byte === 0xaa)).toBe(true);
    expect(bytes.subarray(SECTOR_BYTES, 3 * SECTOR_BYTES).every((byte) => byte === 0xbb)).toBe(true);
    expect(bytes.subarray(3 * SECTOR_BYTES).every((byte) => byte === 0xaa)).toBe(true);
    // The dead process never hears back, even after its delay would have ended.
    await clock.runUntilIdle({ stepsMax: 100, untilMs: clock.now() + 5_000 });
    expect(state.settled).toBe(false);
    void promise;
  });

  test('a crash drops or applies a held WRITE whole when told so', async () => {
    for (const fate of ['dropped', 'applied'] as const) {
      const { clock, disk, slow } = await setUp();
      slow.delayMsMax = 1000;
      const proc = slow.process();
      const data = Buffer.alloc(2 * SECTOR_BYTES, 0xcc);
      await startHeld(clock, slow, async () => {
        for (;;) {
          const writing = proc.write(OID, 0, data);
          await Promise.resolve();
          if (slow.heldOperations().length > 0) return writing;
          await writing;
        }
      });
      const before = (await disk.read(OID, 0, 2 * SECTOR_BYTES))!;
      const [outcome] = await slow.crash(scripted(() => fate));
      expect(outcome).toMatchObject({ fate, appliedBytes: fate === 'applied' ? data.length : 0 });
      const after = (await disk.read(OID, 0, 2 * SECTOR_BYTES))!;
      expect(after.equals(fate === 'applied' ? data : before)).toBe(true);
    }
  });

  test('a held CREATE is never torn: it is dropped or replaces the object whole', async () => {
    const { clock, disk, slow } = await setUp();
    slow.delayMsMax = 1000;
    const proc = slow.process();
    const offered: unknown[][] = [];
    const object = { sizeBytes: OBJECT_BYTES, data: Buffer.alloc(4 * SECTOR_BYTES, 0xdd), offset: 0 };
    await startHeld(clock, slow, async () => {
      for (;;) {
        const creating = proc.create(OID, object);
        await Promise.resolve();
        if (slow.heldOperations().length > 0) return creating;
        await creating;
      }
    });
    const [outcome] = await slow.crash(
      scripted((items) => {
        offered.push([...items]);
        return items[items.length - 1];
      }),
    );
    expect(offered.flat()).not.toContain('torn');
    expect(outcome).toMatchObject({ kind: 'create', fate: 'applied' });
    const bytes = (await disk.read(OID, 0, OBJECT_BYTES))!;
    expect(bytes.subarray(0, 4 * SECTOR_BYTES).every((byte) => byte === 0xdd)).toBe(true);
    expect(bytes.subarray(4 * SECTOR_BYTES).every((byte) => byte === 0)).toBe(true);
  });

  test('seeded fates over many held writes include every fate, and torn ones end on a sector boundary', async () => {
    const fates = new Set<string>();
    for (let seed = 1; seed <= 12; seed++) {
      const { clock, slow } = await setUp();
      slow.delayMsMax = 1000;
      const proc = slow.process();
      for (let index = 0; index < 8; index++) void proc.write(OID, 0, Buffer.alloc(4 * SECTOR_BYTES, index));
      await clock.runUntilIdle({ stepsMax: 0 });
      for (const outcome of await slow.crash(createRng(seed).fork('crash'))) {
        fates.add(outcome.fate!);
        if (outcome.fate === 'torn') {
          expect(outcome.appliedBytes % SECTOR_BYTES).toBe(0);
          expect(outcome.appliedBytes).toBeGreaterThan(0);
          expect(outcome.appliedBytes).toBeLessThan(4 * SECTOR_BYTES);
        }
      }
    }
    expect([...fates].sort()).toEqual(['applied', 'dropped', 'torn']);
  });

  test("the dead process's handle never settles nor touches the disk; a new process's handle works", async () => {
    const { clock, disk, slow } = await setUp();
    const dead = slow.process();
    await slow.crash(createRng(1));
    let settled = false;
    void dead.write(OID, 0, Buffer.alloc(SECTOR_BYTES, 0x11)).then(() => {
      settled = true;
    });
    void dead.remove(OID).then(() => {
      settled = true;
    });
    await clock.runUntilIdle({ stepsMax: 100 });
    expect(settled).toBe(false);
    expect((await disk.read(OID, 0, 1))![0]).toBe(0xaa);
    expect(await disk.exists(OID)).toBe(true);
    const next = slow.process();
    expect(await clock.settle(next.write(OID, 0, Buffer.alloc(SECTOR_BYTES, 0x22)))).toBe(true);
    expect((await disk.read(OID, 0, 1))![0]).toBe(0x22);
  });

  test('an answer the disk gave after the crash never reaches the dead process', async () => {
    const { clock, slow } = await setUp();
    const proc = slow.process();
    let settled = false;
    // Not held (no delay): the disk applies it at once; the crash lands before the answer.
    void proc.read(OID, 0, 1).then(() => {
      settled = true;
    });
    await slow.crash(createRng(2));
    await clock.runUntilIdle({ stepsMax: 10 });
    expect(settled).toBe(false);
  });
});
