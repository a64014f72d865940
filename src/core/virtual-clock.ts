/**
 * Simulated time. Timers live in a binary min-heap ordered by (dueMs, sequence): the sequence is
 * the order in which setTimeout was called, so timers due at the same instant fire in scheduling
 * order, never in an order that depends on heap shape or sort stability. Time moves only when a
 * timer fires (to that timer's due time, so each callback sees `now()` equal to its own due time)
 * or when advanceTo() is told to move it; it never goes backwards.
 *
 * Each heap entry knows its own index, so clearTimeout removes it in O(log n) and leaves no
 * garbage behind (IO timeouts are usually cleared, and there are millions of them).
 *
 * Microtasks. Promise continuations do not run inside a timer callback; they run when the
 * callback returns to the event loop. runUntilIdle() therefore awaits drainMicrotasks() after
 * every timer: that waits for one setImmediate, and a macrotask only runs once the microtask
 * queue (and process.nextTick's queue) is empty, including microtasks queued by other
 * microtasks. So when it resolves, every promise chain the timer started has run as far as it can
 * without more time passing, whatever its depth. It costs about 1 µs per timer. (Awaiting a fixed
 * number of resolved promises instead would be cheaper but would stop short in deep async chains.)
 * The synchronous step(), advanceBy() and advanceTo() do not drain.
 */
import { assert } from './assert.js';
import type { Clock, TimerId } from './clock.js';

interface Timer {
  readonly dueMs: number;
  readonly sequence: number;
  readonly fn: () => void;
  /** Position in the heap array; -1 once removed. */
  index: number;
}

export interface RunUntilIdleOptions {
  /** Fires at most this many timers, then returns even if timers remain (see pendingCount). */
  readonly stepsMax: number;
  /** Fires only timers due at or before this time, then moves time to it (if it is later). */
  readonly untilMs?: number;
}

/**
 * Resolves once the microtask queue is empty: every promise continuation queued before the call,
 * and every one those queue in turn, has run. See the file comment for why setImmediate is exact.
 */
export function drainMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => {
    setImmediate(resolve); // determinism-ok: one event-loop turn drains microtasks; reads no time
  });
}

export class VirtualClock implements Clock {
  private nowMs: number;
  private sequenceLast = 0;
  private readonly heap: Timer[] = [];
  private readonly timersById = new Map<TimerId, Timer>();

  constructor(startMs = 0) {
    assert(Number.isFinite(startMs), `VirtualClock start time must be finite, got ${startMs}`);
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerId {
    assert(
      Number.isFinite(delayMs) && delayMs >= 0,
      `VirtualClock.setTimeout needs a finite delay >= 0 ms, got ${delayMs}`,
    );
    this.sequenceLast += 1;
    const timer: Timer = { dueMs: this.nowMs + delayMs, sequence: this.sequenceLast, fn, index: -1 };
    this.timersById.set(timer.sequence, timer);
    this.heapPush(timer);
    return timer.sequence;
  }

  clearTimeout(id: TimerId): void {
    const timer = this.timersById.get(id);
    if (timer === undefined) return;
    this.timersById.delete(id);
    this.heapRemove(timer);
  }

  /** Timers scheduled and neither fired nor cleared. */
  get pendingCount(): number {
    return this.heap.length;
  }

  /** Due time of the next timer, or undefined when none is pending. */
  nextDueMs(): number | undefined {
    return this.heap[0]?.dueMs;
  }

  /**
   * Fires the next timer, moving time to its due time first. Returns false when none is pending.
   * An exception from the callback propagates; the clock is consistent (timer gone, time moved).
   */
  step(): boolean {
    const timer = this.heap[0];
    if (timer === undefined) return false;
    this.heapRemove(timer);
    this.timersById.delete(timer.sequence);
    assert(timer.dueMs >= this.nowMs, 'VirtualClock: a timer is due in the past');
    this.nowMs = timer.dueMs;
    timer.fn();
    return true;
  }

  /** Fires, in order, every timer due at or before `targetMs` (including ones scheduled meanwhile). */
  advanceTo(targetMs: number): void {
    assert(
      Number.isFinite(targetMs) && targetMs >= this.nowMs,
      `VirtualClock.advanceTo(${targetMs}): time never goes backwards (now ${this.nowMs})`,
    );
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.dueMs > targetMs) break;
      this.step();
    }
    this.nowMs = targetMs;
  }

  advanceBy(ms: number): void {
    assert(Number.isFinite(ms) && ms >= 0, `VirtualClock.advanceBy(${ms}): needs a finite ms >= 0`);
    this.advanceTo(this.nowMs + ms);
  }

  /**
   * Fires timers one at a time, draining microtasks before the first and after each one, until no
   * timer is pending, the next is due after `untilMs`, or `stepsMax` timers have fired. Returns the
   * number of timers fired.
   */
  async runUntilIdle(options: RunUntilIdleOptions): Promise<number> {
    const { stepsMax, untilMs } = options;
    assert(Number.isInteger(stepsMax) && stepsMax >= 0, `runUntilIdle: stepsMax must be an integer >= 0`);
    assert(
      untilMs === undefined || untilMs >= this.nowMs,
      `runUntilIdle: untilMs ${untilMs} is before now ${this.nowMs}; time never goes backwards`,
    );
    let steps = 0;
    await drainMicrotasks();
    while (steps < stepsMax) {
      const next = this.heap[0];
      if (next === undefined) break;
      if (untilMs !== undefined && next.dueMs > untilMs) break;
      this.step();
      steps += 1;
      await drainMicrotasks();
    }
    if (untilMs !== undefined && steps < stepsMax && untilMs > this.nowMs) this.nowMs = untilMs;
    return steps;
  }

  /**
   * Fires timers one at a time (draining microtasks before the first and after each) until
   * `promise` settles, and returns it. Throws instead of hanging when it cannot settle: nothing
   * left to fire, the next timer due after `withinMs` of virtual time, or `stepsMax` timers fired.
   */
  async settle<T>(promise: Promise<T>, options: { withinMs?: number; stepsMax?: number } = {}): Promise<T> {
    let done = false;
    const watched = promise.finally(() => {
      done = true;
    });
    watched.catch(() => undefined);
    const limitMs = options.withinMs === undefined ? Number.POSITIVE_INFINITY : this.nowMs + options.withinMs;
    const stepsMax = options.stepsMax ?? 50_000_000;
    await drainMicrotasks();
    for (let steps = 0; !done; steps++) {
      const next = this.heap[0];
      if (next === undefined) {
        throw new Error(
          `settle: still pending at ${this.nowMs} ms with no timer left (a wait that no timer ends)`,
        );
      }
      if (next.dueMs > limitMs)
        throw new Error(`settle: not settled within ${options.withinMs} ms of virtual time`);
      if (steps >= stepsMax) throw new Error(`settle: not settled after ${stepsMax} timers`);
      this.step();
      await drainMicrotasks();
    }
    return watched;
  }

  private static before(a: Timer, b: Timer): boolean {
    return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.sequence < b.sequence);
  }

  private heapPush(timer: Timer): void {
    timer.index = this.heap.length;
    this.heap.push(timer);
    this.siftUp(timer.index);
  }

  private heapRemove(timer: Timer): void {
    const index = timer.index;
    assert(this.heap[index] === timer, 'VirtualClock heap index out of sync');
    const last = this.heap.pop()!;
    timer.index = -1;
    if (last === timer) return;
    this.heap[index] = last;
    last.index = index;
    this.siftUp(index);
    this.siftDown(last.index);
  }

  private siftUp(start: number): void {
    const heap = this.heap;
    let index = start;
    const timer = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!VirtualClock.before(timer, parent)) break;
      heap[index] = parent;
      parent.index = index;
      index = parentIndex;
    }
    heap[index] = timer;
    timer.index = index;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const length = heap.length;
    let index = start;
    const timer = heap[index]!;
    for (;;) {
      const leftIndex = 2 * index + 1;
      if (leftIndex >= length) break;
      const rightIndex = leftIndex + 1;
      let childIndex = leftIndex;
      if (rightIndex < length && VirtualClock.before(heap[rightIndex]!, heap[leftIndex]!))
        childIndex = rightIndex;
      const child = heap[childIndex]!;
      if (!VirtualClock.before(child, timer)) break;
      heap[index] = child;
      child.index = index;
      index = childIndex;
    }
    heap[index] = timer;
    timer.index = index;
  }
}
