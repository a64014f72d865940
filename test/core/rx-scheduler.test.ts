/**
 * Goal: rxjs time operators run on an injected Clock, so the simulator's virtual time drives them;
 * a subscriber's exception stays on that clock too (rethrowOnClock).
 * Method: build timer/interval/delay/debounceTime pipelines with clockScheduler(VirtualClock),
 * advance the clock, and check what was emitted at which virtual time.
 */
import { delay, interval, debounceTime as rxDebounceTime, Subject, take, timer } from 'rxjs';
import { describe, expect, test } from 'vitest';
import { clockScheduler, rethrowOnClock } from '../../src/core/rx-scheduler.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';

describe('clockScheduler', () => {
  test('timer(1000, scheduler) fires at virtual 1000 ms', () => {
    const clock = new VirtualClock();
    const scheduler = clockScheduler(clock);
    const firedAt: number[] = [];
    timer(1000, scheduler).subscribe(() => firedAt.push(clock.now()));
    clock.advanceTo(999);
    expect(firedAt).toEqual([]);
    clock.advanceTo(1000);
    expect(firedAt).toEqual([1000]);
    expect(clock.pendingCount).toBe(0);
    expect(scheduler.now()).toBe(1000);
  });

  test('periodic timer and interval reschedule on the clock', () => {
    const clock = new VirtualClock();
    const scheduler = clockScheduler(clock);
    const seen: string[] = [];
    timer(100, 50, scheduler)
      .pipe(take(3))
      .subscribe((n) => seen.push(`t${n}@${clock.now()}`));
    interval(70, scheduler)
      .pipe(take(2))
      .subscribe((n) => seen.push(`i${n}@${clock.now()}`));
    clock.advanceTo(1000);
    expect(seen).toEqual(['i0@70', 't0@100', 'i1@140', 't1@150', 't2@200']);
    expect(clock.pendingCount).toBe(0);
  });

  test('delay and debounceTime follow virtual time', () => {
    const clock = new VirtualClock();
    const scheduler = clockScheduler(clock);
    const input = new Subject<string>();
    const delayed: string[] = [];
    const debounced: string[] = [];
    input.pipe(delay(30, scheduler)).subscribe((v) => delayed.push(`${v}@${clock.now()}`));
    input.pipe(rxDebounceTime(20, scheduler)).subscribe((v) => debounced.push(`${v}@${clock.now()}`));
    input.next('a');
    clock.advanceBy(10);
    input.next('b');
    clock.advanceBy(50);
    input.next('c');
    clock.advanceBy(100);
    expect(delayed).toEqual(['a@30', 'b@40', 'c@90']);
    expect(debounced).toEqual(['b@30', 'c@80']);
  });

  test('unsubscribing cancels the clock timer', () => {
    const clock = new VirtualClock();
    const subscription = timer(500, clockScheduler(clock)).subscribe(() => {
      throw new Error('must not fire');
    });
    expect(clock.pendingCount).toBe(1);
    subscription.unsubscribe();
    expect(clock.pendingCount).toBe(0);
    clock.advanceTo(1000);
  });

  test('rethrowOnClock: a subscriber that throws fails the clock step due now, not a real timer', () => {
    const clock = new VirtualClock(50);
    const input = new Subject<number>();
    const seen: number[] = [];
    input.subscribe(
      rethrowOnClock(clock, (n) => {
        if (n === 2) throw new Error('bad input 2');
        seen.push(n);
      }),
    );
    input.next(1);
    input.next(2);
    input.next(3);
    expect(seen).toEqual([1, 3]);
    expect(clock.nextDueMs()).toBe(50);
    expect(() => clock.step()).toThrow('bad input 2');
    expect(clock.pendingCount).toBe(0);
  });
});
