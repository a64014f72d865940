/**
 * Goal: the coherence checker flags two MODIFIED participants, a state list that disagrees with
 * the joins, an IO served through a node that left and came back, and a final table that differs
 * from the followed states; and stays quiet on a normal history. Method: hand-built event streams.
 */
import { describe, expect, test } from 'vitest';
import { CoherenceChecker } from '../../sim/checkers/coherence-checker.js';
import type { LogEvent } from '../../src/core/event.js';

function feed(checker: CoherenceChecker, events: Array<[string, string, Record<string, unknown>]>): void {
  events.forEach(([actor, type, data], index) => {
    const event: LogEvent = { seq: index + 1, t: index, actor, type, data };
    checker.write(event);
  });
}

const VDI = 'store/vdi/00abcd';
const IO_A = 'sheepdog/vol@store:7000/io';

describe('coherence checker', () => {
  test('a normal join, invalidate, validate history passes', () => {
    const checker = new CoherenceChecker({ locking: true });
    feed(checker, [
      [VDI, 'coherence.joined', { node: 'store:7000', state: 'modified' }],
      [VDI, 'coherence.joined', { node: 'store:7001', state: 'invalidated' }],
      [
        VDI,
        'coherence.validated',
        { by: 'store:7001', states: { 'store:7000': 'shared', 'store:7001': 'shared' } },
      ],
      [
        VDI,
        'coherence.invalidated',
        { by: 'store:7000', states: { 'store:7000': 'modified', 'store:7001': 'invalidated' } },
      ],
      [IO_A, 'io.transition', { io: 1, event: 'SEND', vid: 0xabcd, to: 'sending' }],
      [IO_A, 'io.transition', { io: 1, event: 'RESULT', to: 'done' }],
    ]);
    checker.finish(
      [
        {
          vid: 0xabcd,
          state: 'shared',
          owner: undefined,
          participants: [
            { node: 'store:7000', state: 'modified' },
            { node: 'store:7001', state: 'invalidated' },
          ],
        },
      ],
      6,
    );
    expect(checker.violations).toEqual([]);
  });

  test('two MODIFIED participants and an inconsistent state list are reported', () => {
    const checker = new CoherenceChecker({ locking: true });
    feed(checker, [
      [VDI, 'coherence.joined', { node: 'store:7000', state: 'modified' }],
      [
        VDI,
        'coherence.invalidated',
        { by: 'store:7001', states: { 'store:7000': 'modified', 'store:7001': 'modified' } },
      ],
    ]);
    expect(checker.violations.map((violation) => violation.kind)).toEqual([
      'consistent-states',
      'single-writer',
    ]);
  });

  test('an IO completed through a node that left and listened again is reported', () => {
    const checker = new CoherenceChecker({ locking: true });
    feed(checker, [
      [VDI, 'coherence.joined', { node: 'store:7000', state: 'modified' }],
      [VDI, 'lock.node_left', { node: 'store:7000', state: 'shared' }],
      [VDI, 'coherence.left', { node: 'store:7000' }],
      ['store/node/store:7000', 'node.listening', {}],
      [IO_A, 'io.transition', { io: 4, event: 'SEND', vid: 0xabcd, to: 'sending' }],
      [IO_A, 'io.transition', { io: 4, event: 'RESULT', to: 'done' }],
    ]);
    expect(checker.violations.map((violation) => violation.kind)).toEqual(['served-by-participant']);
    expect(checker.violations[0]?.windowSeqs).toEqual([2, 6]);
  });

  test('a round sent before the node left, answered after it listened again, was served by the participant', () => {
    const checker = new CoherenceChecker({ locking: true });
    feed(checker, [
      [VDI, 'coherence.joined', { node: 'store:7000', state: 'modified' }],
      [IO_A, 'io.transition', { io: 5, event: 'SEND', vid: 0xabcd, to: 'sending' }],
      [VDI, 'lock.node_left', { node: 'store:7000', state: 'shared' }],
      [VDI, 'coherence.left', { node: 'store:7000' }],
      ['store/node/store:7000', 'node.listening', {}],
      [IO_A, 'io.transition', { io: 5, event: 'RESULT', to: 'done' }],
    ]);
    expect(checker.violations).toEqual([]);
  });

  test('followed states that differ from the store at the end are reported', () => {
    const checker = new CoherenceChecker({ locking: true });
    feed(checker, [[VDI, 'coherence.joined', { node: 'store:7000', state: 'modified' }]]);
    checker.finish([], 1);
    expect(checker.violations.map((violation) => violation.kind)).toEqual(['final-agreement']);
  });
});
