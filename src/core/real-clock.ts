/**
 * The wall clock: Date.now and the global timers, for real runs (the daemon, the CLI, TCP tests).
 * Timers are not unref()ed: a pending timer keeps the process alive, as with the globals.
 *
 * Clock ids are numbers, Node's timers are objects: a Map translates, and an entry is removed
 * when its timer fires or is cleared, so the map holds only pending timers.
 */
import type { Clock, TimerId } from './clock.js';

const pendingTimers = new Map<TimerId, NodeJS.Timeout>();
let timerIdLast = 0;

export const realClock: Clock = {
  now(): number {
    return Date.now();
  },
  setTimeout(fn: () => void, delayMs: number): TimerId {
    timerIdLast += 1;
    const id = timerIdLast;
    const timeout = setTimeout(() => {
      pendingTimers.delete(id);
      fn();
    }, delayMs);
    pendingTimers.set(id, timeout);
    return id;
  },
  clearTimeout(id: TimerId): void {
    const timeout = pendingTimers.get(id);
    if (timeout === undefined) return;
    pendingTimers.delete(id);
    clearTimeout(timeout);
  },
};
