/**
 * Goal: the LBA range lock lets shared holders overlap, serialises exclusive ones against any
 * overlap, leaves disjoint ranges alone, and is first come, first served.
 * Method: acquire in a scripted order and record when each request is granted (microtask turns).
 */
import { describe, expect, test } from 'vitest';
import { LbaRangeLock } from '../../src/scsi/lba-range-lock.js';

async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await Promise.resolve();
}

describe('LbaRangeLock', () => {
  test('shared holders overlap; an exclusive one waits for them and blocks later shared ones', async () => {
    const lock = new LbaRangeLock();
    const granted: string[] = [];
    const track = (name: string, promise: Promise<() => void>) =>
      promise.then((release) => {
        granted.push(name);
        return release;
      });
    const shared1 = track('shared1', lock.acquire(0, 10, 'shared'));
    const shared2 = track('shared2', lock.acquire(5, 10, 'shared'));
    const exclusive = track('exclusive', lock.acquire(8, 1, 'exclusive'));
    const shared3 = track('shared3', lock.acquire(8, 2, 'shared'));
    const disjoint = track('disjoint', lock.acquire(100, 1, 'exclusive'));
    await settle();
    expect(granted).toEqual(['shared1', 'shared2', 'disjoint']);
    (await shared1)();
    await settle();
    expect(granted).toEqual(['shared1', 'shared2', 'disjoint']);
    (await shared2)();
    await settle();
    expect(granted).toEqual(['shared1', 'shared2', 'disjoint', 'exclusive']);
    (await exclusive)();
    await settle();
    expect(granted).toEqual(['shared1', 'shared2', 'disjoint', 'exclusive', 'shared3']);
    (await shared3)();
    (await disjoint)();
    expect(lock.size).toBe(0);
  });

  test('run releases on failure; a zero-length range conflicts with nothing', async () => {
    const lock = new LbaRangeLock();
    await expect(lock.run(0, 4, 'exclusive', async () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    expect(lock.size).toBe(0);
    const holder = await lock.acquire(0, 4, 'exclusive');
    const empty = await lock.acquire(2, 0, 'exclusive');
    empty();
    holder();
    expect(lock.size).toBe(0);
  });
});
