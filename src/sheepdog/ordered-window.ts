/**
 * Bounded pipelining with in-order delivery: start `run(item)` for up to `windowMax` items at
 * once, and hand results to `deliver` strictly in item order. This is how the admin code keeps
 * a pipelined sheep connection busy (reads of many objects or inodes) while still writing
 * output in order, without ever holding more than `windowMax` results in memory.
 *
 * The first failure (from `run` or `deliver`) stops new work; the promises already started are
 * awaited (so nothing rejects unobserved), then that first error is thrown.
 */
import { assert } from '../core/assert.js';

export async function forEachOrdered<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  windowMax: number,
  run: (item: T) => Promise<R>,
  deliver: (result: R, item: T) => void | Promise<void>,
): Promise<void> {
  assert(Number.isSafeInteger(windowMax) && windowMax >= 1, `windowMax ${windowMax} must be >= 1`);
  const iterator = toAsyncIterator(items);
  const window: { item: T; promise: Promise<R> }[] = [];
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && window.length < windowMax) {
        const next = await iterator.next();
        if (next.done === true) {
          exhausted = true;
          break;
        }
        const promise = run(next.value);
        // Observed here so a rejection while an earlier item is awaited is not "unhandled";
        // it is still rethrown when this item reaches the head of the window.
        promise.catch(() => {});
        window.push({ item: next.value, promise });
      }
      const head = window.shift();
      if (head === undefined) return;
      await deliver(await head.promise, head.item);
    }
  } finally {
    await Promise.allSettled(window.map((entry) => entry.promise));
    if (!exhausted) await iterator.return?.();
  }
}

function toAsyncIterator<T>(items: Iterable<T> | AsyncIterable<T>): AsyncIterator<T> {
  if (Symbol.asyncIterator in items) return items[Symbol.asyncIterator]();
  const sync = items[Symbol.iterator]();
  return {
    next: async () => sync.next(),
    return: async () => sync.return?.() ?? { done: true, value: undefined },
  };
}
