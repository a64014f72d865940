/**
 * The SCSI task machine (machines/scsi-task.ts) compiled into a table: what each ScsiTask runs
 * to know its state. A property test checks it against the machine.
 */
import {
  initialScsiTaskContext,
  SCSI_TASK_OUTPUTS,
  type ScsiTaskContext,
  type ScsiTaskEvent,
  type ScsiTaskOutput,
  type ScsiTaskStateName,
  scsiTaskGuards,
  scsiTaskMachine,
  scsiTaskUpdates,
} from '../../../machines/scsi-task.js';
import { compileMachineTable, type TableRun } from '../../core/machine-table.js';

export type ScsiTaskRun = TableRun<ScsiTaskContext>;

export const scsiTaskTable = compileMachineTable<
  ScsiTaskStateName,
  ScsiTaskContext,
  ScsiTaskEvent,
  ScsiTaskOutput
>(scsiTaskMachine, { guards: scsiTaskGuards, updates: scsiTaskUpdates, outputs: SCSI_TASK_OUTPUTS });

export function startScsiTaskRun(): ScsiTaskRun {
  return scsiTaskTable.run(initialScsiTaskContext());
}
