/**
 * Goal: the range queue grants exactly what the rule says, in the same order as the plain
 * statement of it (an entry runs once no earlier present entry conflicts), whatever the sequence
 * of entries and leaves; and a large queue of disjoint ranges is granted at once.
 * Method: fast-check sequences of enter/leave steps run against FifoRangeQueue and against a
 * reference model that re-checks every waiter against every earlier entry after each step; the
 * grant order of both must be equal after every step.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { FifoRangeQueue, type RangeMode } from '../../src/core/fifo-range-queue.js';

interface ModelEntry {
  readonly id: number;
  readonly start: number;
  readonly end: number;
  readonly mode: RangeMode;
  granted: boolean;
}

function conflicts(a: ModelEntry, b: ModelEntry): boolean {
  if (a.mode === 'shared' && b.mode === 'shared') return false;
  if (a.start === a.end || b.start === b.end) return false;
  return a.start < b.end && b.start < a.end;
}

/** The rule, stated plainly: after every change, grant each waiter no earlier entry conflicts with. */
class ReferenceQueue {
  entries: ModelEntry[] = [];
  constructor(private readonly granted: number[]) {}
  enter(entry: ModelEntry): void {
    this.entries.push(entry);
    this.settle();
  }
  leave(id: number): void {
    this.entries = this.entries.filter((entry) => entry.id !== id);
    this.settle();
  }
  private settle(): void {
    this.entries.forEach((entry, index) => {
      if (entry.granted) return;
      if (this.entries.slice(0, index).some((earlier) => conflicts(earlier, entry))) return;
      entry.granted = true;
      this.granted.push(entry.id);
    });
  }
}

const step = fc.oneof(
  fc.record({
    kind: fc.constant('enter' as const),
    start: fc.integer({ min: 0, max: 20 }),
    length: fc.integer({ min: 0, max: 6 }),
    mode: fc.constantFrom<RangeMode>('shared', 'exclusive'),
  }),
  fc.record({ kind: fc.constant('leave' as const), pick: fc.nat() }),
);

describe('FifoRangeQueue', () => {
  test.prop([fc.array(step, { maxLength: 80 })], { numRuns: 500 })(
    'grants in the same order as the rule stated plainly',
    (steps) => {
      const grantedQueue: number[] = [];
      const grantedModel: number[] = [];
      const queue = new FifoRangeQueue();
      const model = new ReferenceQueue(grantedModel);
      const leaves = new Map<number, () => void>();
      let nextId = 0;
      for (const s of steps) {
        if (s.kind === 'enter') {
          const id = nextId++;
          leaves.set(
            id,
            queue.enter(s.start, s.start + s.length, s.mode, () => grantedQueue.push(id)),
          );
          model.enter({ id, start: s.start, end: s.start + s.length, mode: s.mode, granted: false });
        } else {
          // Only granted entries leave (the locks hand out the leave function after the grant).
          const holders = model.entries.filter((entry) => entry.granted);
          if (holders.length === 0) continue;
          const id = holders[s.pick % holders.length]!.id;
          leaves.get(id)!();
          leaves.get(id)!(); // a second call does nothing
          model.leave(id);
        }
        expect(grantedQueue).toEqual(grantedModel);
        expect(queue.size).toBe(model.entries.length);
      }
    },
  );

  test('4,096 disjoint exclusive ranges are all granted on entry', () => {
    const queue = new FifoRangeQueue();
    let granted = 0;
    for (let n = 0; n < 4096; n++) queue.enter(n * 2, n * 2 + 1, 'exclusive', () => granted++);
    expect(granted).toBe(4096);
  });
});
