/**
 * Goal: the object range lock serialises overlapping IOs in arrival order (writes exclusive,
 * reads shared) and lets disjoint ones run at once, without letting reads starve a write.
 * Method: acquire ranges in a chosen order and record which grants have happened after each
 * microtask turn.
 */
import { describe, expect, test } from 'vitest';
import { ObjectRangeLock } from '../../../src/sheepdog/client/range-lock.js';

type Mode = 'shared' | 'exclusive';

/** Acquires and records the grant under `name`. */
function take(
  lock: ObjectRangeLock,
  granted: string[],
  name: string,
  first: number,
  last: number,
  mode: Mode,
) {
  return lock.acquire(first, last, mode).then((release) => {
    granted.push(name);
    return release;
  });
}

async function turn(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('ObjectRangeLock', () => {
  test('disjoint ranges run together; an overlapping writer waits for the holder', async () => {
    const lock = new ObjectRangeLock();
    const granted: string[] = [];
    const a = take(lock, granted, 'a', 0, 1, 'exclusive');
    const b = take(lock, granted, 'b', 2, 3, 'exclusive');
    const c = take(lock, granted, 'c', 1, 2, 'exclusive');
    await turn();
    expect(granted).toEqual(['a', 'b']);
    (await a)();
    await turn();
    expect(granted).toEqual(['a', 'b']);
    (await b)();
    await turn();
    expect(granted).toEqual(['a', 'b', 'c']);
    (await c)();
    expect(lock.size).toBe(0);
  });

  test('readers share; a queued writer is not overtaken by later readers', async () => {
    const lock = new ObjectRangeLock();
    const granted: string[] = [];
    const r1 = take(lock, granted, 'r1', 0, 0, 'shared');
    const r2 = take(lock, granted, 'r2', 0, 0, 'shared');
    const w = take(lock, granted, 'w', 0, 0, 'exclusive');
    const r3 = take(lock, granted, 'r3', 0, 0, 'shared');
    await turn();
    expect(granted).toEqual(['r1', 'r2']);
    (await r1)();
    (await r2)();
    await turn();
    expect(granted).toEqual(['r1', 'r2', 'w']);
    const release = await w;
    release();
    release();
    await turn();
    expect(granted).toEqual(['r1', 'r2', 'w', 'r3']);
    (await r3)();
    expect(lock.size).toBe(0);
  });
});
