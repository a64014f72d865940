/**
 * Goal: the hot-path table (io-table.ts) behaves exactly like the xstate IO request machine it is
 * compiled from: same next state, same context, same effects in the same order, for any event in
 * any state, including events the machine ignores and events after a final state.
 * Method: (1) exhaustive: every reachable (state, context) for reloadsMax 0..3 against every
 * event variant, stepping both with xstate's pure transition(); (2) fast-check: random event
 * sequences (any order, any payload) fed to both; (3) the compiler refuses machine features its
 * interpreter does not implement, naming the state.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { initialTransition, type SnapshotFrom, transition } from 'xstate';
import {
  type IoRequestEvent,
  type IoRequestOutput,
  ioRequestMachine,
  RELOADS_TOTAL_FACTOR,
} from '../../../machines/io-request.js';
import { AssertionError } from '../../../src/core/assert.js';
import { type IoRun, IoTable, ioTable } from '../../../src/sheepdog/client/io-table.js';

type MachineSnapshot = SnapshotFrom<typeof ioRequestMachine>;

const ALL_EVENTS: readonly IoRequestEvent[] = [
  { type: 'SEND', creates: 0 },
  { type: 'SEND', creates: 2 },
  { type: 'RESULT', outcome: 'ok' },
  { type: 'RESULT', outcome: 'invalidated' },
  { type: 'RESULT', outcome: 'readonly' },
  { type: 'RESULT', outcome: 'error' },
  { type: 'RELOADED', progress: false },
  { type: 'RELOADED', progress: true },
  { type: 'RELOAD_FAILED' },
  { type: 'UNAVAILABLE' },
];

function machineStep(snapshot: MachineSnapshot, event: IoRequestEvent): [MachineSnapshot, IoRequestOutput[]] {
  const [next, actions] = transition(ioRequestMachine, snapshot, event);
  return [next, actions.map((action) => action.type as IoRequestOutput)];
}

function expectSame(run: IoRun, snapshot: MachineSnapshot): void {
  expect(ioTable.stateName(run.state)).toBe(snapshot.value);
  expect(run.context).toEqual(snapshot.context);
  expect(ioTable.isFinal(run.state)).toBe(snapshot.status === 'done');
}

function cloneRun(run: IoRun): IoRun {
  return { state: run.state, context: { ...run.context } };
}

describe('the compiled table agrees with the machine', () => {
  test('it has the machine states and starts where the machine starts', () => {
    expect([...ioTable.stateNames].sort()).toEqual(Object.keys(ioRequestMachine.root.states).sort());
    for (let reloadsMax = 0; reloadsMax < 3; reloadsMax++) {
      const [snapshot] = initialTransition(ioRequestMachine, { reloadsMax });
      expectSame(ioTable.start({ reloadsMax }), snapshot);
    }
  });

  test('exhaustively: every reachable state and context, every event', () => {
    let compared = 0;
    for (let reloadsMax = 0; reloadsMax <= 3; reloadsMax++) {
      const [initial] = initialTransition(ioRequestMachine, { reloadsMax });
      const queue: Array<{ snapshot: MachineSnapshot; run: IoRun }> = [
        { snapshot: initial, run: ioTable.start({ reloadsMax }) },
      ];
      const seen = new Set<string>();
      while (queue.length > 0) {
        const { snapshot, run } = queue.shift()!;
        const key = JSON.stringify([snapshot.value, snapshot.context]);
        if (seen.has(key)) continue;
        seen.add(key);
        for (const event of ALL_EVENTS) {
          const [next, actions] = machineStep(snapshot, event);
          const nextRun = cloneRun(run);
          expect([...ioTable.step(nextRun, event)]).toEqual(actions);
          expectSame(nextRun, next);
          compared += 1;
          queue.push({ snapshot: next, run: nextRun });
        }
      }
    }
    expect(compared).toBeGreaterThan(200);
  });

  const eventArbitrary: fc.Arbitrary<IoRequestEvent> = fc.oneof(
    fc.record({ type: fc.constant('SEND' as const), creates: fc.integer({ min: 0, max: 4 }) }),
    fc.record({
      type: fc.constant('RESULT' as const),
      outcome: fc.constantFrom('ok' as const, 'invalidated' as const, 'readonly' as const, 'error' as const),
    }),
    fc.constantFrom<IoRequestEvent>(
      { type: 'RELOADED', progress: false },
      { type: 'RELOADED', progress: true },
      { type: 'RELOAD_FAILED' },
      { type: 'UNAVAILABLE' },
    ),
  );

  propTest.prop([fc.integer({ min: 0, max: 10 }), fc.array(eventArbitrary, { maxLength: 60 })], {
    numRuns: 2000,
  })('random event sequences give the same states, contexts and outputs', (reloadsMax, events) => {
    let [snapshot] = initialTransition(ioRequestMachine, { reloadsMax });
    const run = ioTable.start({ reloadsMax });
    for (const event of events) {
      const [next, actions] = machineStep(snapshot, event);
      snapshot = next;
      expect([...ioTable.step(run, event)]).toEqual(actions);
      expectSame(run, snapshot);
    }
  });

  test('a driver-like run: invalidated twice, then ok with creates, inode update ok', () => {
    const run = ioTable.start({ reloadsMax: 8 });
    const steps: Array<[IoRequestEvent, string[], string]> = [
      [{ type: 'SEND', creates: 1 }, ['sendObjects'], 'sending'],
      [{ type: 'RESULT', outcome: 'invalidated' }, ['reloadInvalidated'], 'waitingForReload'],
      [{ type: 'RELOADED', progress: false }, ['replan'], 'planned'],
      [{ type: 'SEND', creates: 1 }, ['sendObjects'], 'sending'],
      [{ type: 'RESULT', outcome: 'ok' }, ['sendInodeUpdate'], 'updatingInode'],
      [{ type: 'RESULT', outcome: 'invalidated' }, ['reloadInvalidated'], 'waitingForReload'],
      [{ type: 'RELOADED', progress: true }, ['replan'], 'planned'],
      [{ type: 'SEND', creates: 0 }, ['sendObjects'], 'sending'],
      [{ type: 'RESULT', outcome: 'ok' }, ['complete'], 'done'],
    ];
    for (const [event, outputs, state] of steps) {
      expect([...ioTable.step(run, event)]).toEqual(outputs);
      expect(ioTable.stateName(run.state)).toBe(state);
    }
    // The second reload found the inode changed (progress): only the first counts as futile.
    expect(run.context).toEqual({ reloads: 1, reloadsMax: 8, reloadsTotal: 2, creates: 0 });
  });

  test('progress reloads do not use up the budget, but every IO still ends', () => {
    const run = ioTable.start({ reloadsMax: 2 });
    let outputs: readonly string[] = ioTable.step(run, { type: 'SEND', creates: 1 });
    let reloads = 0;
    for (; reloads < 1000 && !outputs.includes('failRetriesExhausted'); reloads++) {
      outputs = ioTable.step(run, { type: 'RESULT', outcome: 'invalidated' });
      if (outputs.includes('failRetriesExhausted')) break;
      ioTable.step(run, { type: 'RELOADED', progress: true });
      outputs = ioTable.step(run, { type: 'SEND', creates: 1 });
    }
    expect(reloads).toBe(RELOADS_TOTAL_FACTOR * 2);
    expect(ioTable.stateName(run.state)).toBe('failed');
  });
});

describe('the compiler refuses what its interpreter cannot run', () => {
  const base = JSON.parse(JSON.stringify(ioRequestMachine.definition));

  test('entry actions', () => {
    const definition = structuredClone(base);
    definition.states.sending.entry = ['sendObjects'];
    expect(() => new IoTable(definition, 'ioRequest')).toThrow(AssertionError);
    expect(() => new IoTable(definition, 'ioRequest')).toThrow(/state sending has entry\/exit actions/);
  });

  test('nested states', () => {
    const definition = structuredClone(base);
    definition.states.sending.states = { inner: structuredClone(base.states.done) };
    expect(() => new IoTable(definition, 'ioRequest')).toThrow(/state sending has child states/);
  });

  test('an action that is neither an update nor a declared output', () => {
    const definition = structuredClone(base);
    definition.states.planned.on.SEND[0].actions = ['launchMissiles'];
    expect(() => new IoTable(definition, 'ioRequest')).toThrow(/launchMissiles is neither/);
  });

  test('delayed transitions', () => {
    const definition = structuredClone(base);
    definition.states.sending.on['xstate.after.1000.ioRequest.sending'] = [
      { eventType: 'xstate.after.1000.ioRequest.sending', target: ['#ioRequest.failed'], actions: [] },
    ];
    expect(() => new IoTable(definition, 'ioRequest')).toThrow(/are not compiled/);
  });
});
