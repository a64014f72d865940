/**
 * Goal: the VirtualClock fires timers in (due time, scheduling order) order, shows each callback
 * its own due time, never moves backwards, and that runUntilIdle lets promise chains of any depth
 * finish between timers.
 * Method: schedule timers with known delays (ties, cancellations, timers scheduled from inside
 * callbacks), record (label, now()) as they fire and compare with the expected sequence; a
 * fast-check property compares the firing order with a plain sort of (due, sequence).
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test, vi } from 'vitest';
import { AssertionError } from '../../src/core/assert.js';
import { sleepMs } from '../../src/core/sleep.js';
import { drainMicrotasks, VirtualClock } from '../../src/core/virtual-clock.js';

describe('VirtualClock', () => {
  test('fires in due order, ties in scheduling order, each at its own due time', () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    const at = (label: string) => () => fired.push(`${label}@${clock.now()}`);
    clock.setTimeout(at('c'), 30);
    clock.setTimeout(at('a1'), 10);
    clock.setTimeout(at('b'), 20);
    clock.setTimeout(at('a2'), 10);
    clock.setTimeout(at('a3'), 10);
    expect(clock.pendingCount).toBe(5);
    expect(clock.nextDueMs()).toBe(10);
    clock.advanceTo(100);
    expect(fired).toEqual(['a1@10', 'a2@10', 'a3@10', 'b@20', 'c@30']);
    expect(clock.now()).toBe(100);
    expect(clock.pendingCount).toBe(0);
    expect(clock.nextDueMs()).toBeUndefined();
  });

  test('clearTimeout removes a timer; unknown and fired ids are ignored', () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    const ids = [5, 1, 4, 2, 3].map((d) => clock.setTimeout(() => fired.push(d), d));
    clock.clearTimeout(ids[2]!); // the 4 ms timer
    clock.clearTimeout(9999);
    expect(clock.pendingCount).toBe(4);
    while (clock.step()) {}
    expect(fired).toEqual([1, 2, 3, 5]);
    clock.clearTimeout(ids[0]!);
    expect(clock.step()).toBe(false);
  });

  test('timers scheduled from callbacks, including 0 ms ones, fire within advanceTo when due', () => {
    const clock = new VirtualClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push(`outer@${clock.now()}`);
      clock.setTimeout(() => fired.push(`zero@${clock.now()}`), 0);
      clock.setTimeout(() => fired.push(`later@${clock.now()}`), 50);
    }, 10);
    clock.setTimeout(() => fired.push(`same@${clock.now()}`), 10);
    clock.advanceBy(40);
    // The 0 ms timer was scheduled after 'same', so it fires after it, at the same instant.
    expect(fired).toEqual(['outer@1010', 'same@1010', 'zero@1010']);
    expect(clock.now()).toBe(1040);
    clock.advanceBy(20);
    expect(fired.at(-1)).toBe('later@1060');
  });

  test('time never goes backwards; bad delays are Collie bugs', () => {
    const clock = new VirtualClock();
    clock.advanceTo(50);
    expect(() => clock.advanceTo(49)).toThrow(AssertionError);
    expect(() => clock.advanceBy(-1)).toThrow(AssertionError);
    expect(() => clock.setTimeout(() => {}, -1)).toThrow(AssertionError);
    expect(() => clock.setTimeout(() => {}, Number.NaN)).toThrow(AssertionError);
  });

  test('runUntilIdle drains deep promise chains after every timer', async () => {
    const clock = new VirtualClock();
    const trace: string[] = [];
    async function deep(depth: number): Promise<number> {
      if (depth === 0) return 0;
      await Promise.resolve();
      return 1 + (await deep(depth - 1));
    }
    async function worker(): Promise<void> {
      await sleepMs(clock, 100);
      trace.push(`woke@${clock.now()} depth=${await deep(50)}`);
      await sleepMs(clock, 100);
      trace.push(`woke again@${clock.now()}`);
    }
    const done = worker();
    // A competing timer due at 150 must see the first continuation already done.
    clock.setTimeout(() => trace.push(`timer@${clock.now()}`), 150);
    const steps = await clock.runUntilIdle({ stepsMax: 100 });
    await done;
    expect(trace).toEqual(['woke@100 depth=50', 'timer@150', 'woke again@200']);
    expect(steps).toBe(3);
  });

  test('runUntilIdle stops at untilMs (moving time there) and at stepsMax', async () => {
    const clock = new VirtualClock();
    let ticks = 0;
    const tick = () => {
      ticks += 1;
      clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    expect(await clock.runUntilIdle({ stepsMax: 1000, untilMs: 55 })).toBe(5);
    expect(clock.now()).toBe(55);
    expect(await clock.runUntilIdle({ stepsMax: 3 })).toBe(3);
    expect(clock.now()).toBe(80);
    expect(ticks).toBe(8);
    expect(clock.pendingCount).toBe(1);
  });

  test('drainMicrotasks waits for microtasks queued by microtasks and nextTick', async () => {
    const seen: string[] = [];
    queueMicrotask(() => queueMicrotask(() => process.nextTick(() => seen.push('nested'))));
    await drainMicrotasks();
    expect(seen).toEqual(['nested']);
  });

  propTest.prop([fc.array(fc.tuple(fc.nat(50), fc.boolean()), { maxLength: 200 })])(
    'firing order equals a sort of (due, sequence) over the timers not cleared',
    (timers) => {
      const clock = new VirtualClock();
      const fired: number[] = [];
      const ids = timers.map(([delayMs], sequence) => clock.setTimeout(() => fired.push(sequence), delayMs));
      timers.forEach(([, cleared], sequence) => {
        if (cleared) clock.clearTimeout(ids[sequence]!);
      });
      const expected = timers
        .map(([delayMs, cleared], sequence) => ({ delayMs, cleared, sequence }))
        .filter((t) => !t.cleared)
        .sort((x, y) => x.delayMs - y.delayMs || x.sequence - y.sequence)
        .map((t) => t.sequence);
      expect(clock.pendingCount).toBe(expected.length);
      clock.advanceTo(100);
      expect(fired).toEqual(expected);
    },
  );
});

describe('settle', () => {
  test('fires timers until the promise settles, and no further', async () => {
    const clock = new VirtualClock(0);
    const late = vi.fn();
    clock.setTimeout(late, 500);
    const value = await clock.settle(
      new Promise<number>((resolve) => clock.setTimeout(() => resolve(7), 100)),
    );
    expect(value).toBe(7);
    expect(clock.now()).toBe(100);
    expect(late).not.toHaveBeenCalled();
  });

  test('throws instead of hanging: nothing left to fire, past withinMs, or too many timers', async () => {
    const clock = new VirtualClock(0);
    await expect(clock.settle(new Promise(() => undefined))).rejects.toThrow(/no timer left/);
    clock.setTimeout(() => undefined, 1000);
    await expect(clock.settle(new Promise(() => undefined), { withinMs: 999 })).rejects.toThrow(
      /within 999 ms/,
    );
    const tick = (): void => void clock.setTimeout(tick, 1);
    tick();
    await expect(clock.settle(new Promise(() => undefined), { stepsMax: 10 })).rejects.toThrow(
      /after 10 timers/,
    );
  });
});
