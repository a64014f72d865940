/**
 * Goal: the compiled SCSI task table and the xstate machine it comes from agree on every event
 * sequence: same state, same context, same outputs. Method: fast-check random sequences run
 * through both (the machine with xstate's pure transition()), plus the reachable-state walk.
 */
import { fc, test as propertyTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { type ScsiTaskEvent, scsiTaskMachine } from '../../machines/scsi-task.js';
import { scsiTaskTable, startScsiTaskRun } from '../../src/iscsi/target/scsi-task-table.js';

const EVENTS: ScsiTaskEvent[] = [
  { type: 'DATA_OUT' },
  { type: 'DATA_COMPLETE' },
  { type: 'DATA_ERROR' },
  { type: 'EXECUTED' },
  { type: 'SENT' },
  { type: 'ABORT' },
];

function machineOutputs(actions: ReadonlyArray<{ type: string }>): string[] {
  return actions
    .map((action) => action.type)
    .filter((type) => type !== 'countDataOut' && !type.startsWith('xstate.'));
}

describe('SCSI task table', () => {
  propertyTest.prop([fc.array(fc.constantFrom(...EVENTS), { maxLength: 30 })])(
    'agrees with the machine on random event sequences',
    (events) => {
      let [snapshot] = initialTransition(scsiTaskMachine);
      const run = startScsiTaskRun();
      for (const event of events) {
        const [next, actions] = transition(scsiTaskMachine, snapshot, event);
        const outputs = scsiTaskTable.step(run, event);
        expect(scsiTaskTable.stateName(run.state)).toBe(next.value);
        expect([...outputs]).toEqual(machineOutputs(actions as Array<{ type: string }>));
        expect(run.context.dataOutPdus).toBe(next.context.dataOutPdus);
        snapshot = next;
      }
    },
  );

  test('a write collects, executes, responds; an abort ends it from any live state', () => {
    const run = startScsiTaskRun();
    expect(scsiTaskTable.step(run, { type: 'DATA_OUT' })).toEqual(['sendR2ts']);
    expect(scsiTaskTable.step(run, { type: 'DATA_COMPLETE' })).toEqual(['execute']);
    expect(scsiTaskTable.step(run, { type: 'EXECUTED' })).toEqual(['sendData']);
    expect(scsiTaskTable.step(run, { type: 'ABORT' })).toEqual(['stopWork']);
    expect(scsiTaskTable.stateName(run.state)).toBe('aborted');
    expect(scsiTaskTable.isFinal(run.state)).toBe(true);
    expect(scsiTaskTable.step(run, { type: 'SENT' })).toEqual([]);
  });
});
