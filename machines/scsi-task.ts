/**
 * The lifecycle of one SCSI command in an iSCSI session (RFC 7143 §4.2.5, §11.3-§11.8), target
 * side. The definition is the drawing and the source of truth; the session runs the table
 * compiled from it (src/iscsi/target/scsi-task-table.ts), one per command, because an actor per
 * command would cost more than the command.
 *
 *   collecting ──DATA_COMPLETE──▶ executing ──EXECUTED──▶ responding ──SENT──▶ done
 *       │  └──DATA_ERROR──────────────────────────────────────────────────────▶ done (CHECK CONDITION)
 *       └──────────── ABORT (any non-final state) ───────────────────────────▶ aborted
 *   A command with nothing to collect starts with DATA_COMPLETE at once.
 *
 * Outputs (effects the task performs): sendR2ts, execute, sendData, sendStatus, failDataPhase,
 * stopWork. Context counts Data-Out PDUs and R2Ts, for the event log.
 */
import { assign, setup } from 'xstate';

export type ScsiTaskStateName = 'collecting' | 'executing' | 'responding' | 'done' | 'aborted';

export type ScsiTaskEvent =
  | { readonly type: 'DATA_OUT' }
  | { readonly type: 'DATA_COMPLETE' }
  | { readonly type: 'DATA_ERROR' }
  | { readonly type: 'EXECUTED' }
  | { readonly type: 'SENT' }
  | { readonly type: 'ABORT' };

export interface ScsiTaskContext {
  dataOutPdus: number;
}

export const SCSI_TASK_OUTPUTS = [
  'sendR2ts',
  'execute',
  'sendData',
  'sendStatus',
  'failDataPhase',
  'stopWork',
] as const;
export type ScsiTaskOutput = (typeof SCSI_TASK_OUTPUTS)[number];

export const scsiTaskGuards = {};

export const scsiTaskUpdates = {
  countDataOut: (context: ScsiTaskContext) => {
    context.dataOutPdus++;
  },
};

export function initialScsiTaskContext(): ScsiTaskContext {
  return { dataOutPdus: 0 };
}

export const scsiTaskMachine = setup({
  types: {
    context: {} as ScsiTaskContext,
    events: {} as ScsiTaskEvent,
  },
  actions: {
    countDataOut: assign(({ context }) => ({ dataOutPdus: context.dataOutPdus + 1 })),
    sendR2ts: () => {},
    execute: () => {},
    sendData: () => {},
    sendStatus: () => {},
    failDataPhase: () => {},
    stopWork: () => {},
  },
}).createMachine({
  id: 'scsiTask',
  context: initialScsiTaskContext,
  initial: 'collecting',
  states: {
    collecting: {
      on: {
        DATA_OUT: { actions: ['countDataOut', 'sendR2ts'] },
        DATA_COMPLETE: { target: 'executing', actions: ['execute'] },
        DATA_ERROR: { target: 'done', actions: ['failDataPhase'] },
        ABORT: { target: 'aborted', actions: ['stopWork'] },
      },
    },
    executing: {
      on: {
        EXECUTED: { target: 'responding', actions: ['sendData'] },
        ABORT: { target: 'aborted', actions: ['stopWork'] },
      },
    },
    responding: {
      on: {
        SENT: { target: 'done', actions: ['sendStatus'] },
        ABORT: { target: 'aborted', actions: ['stopWork'] },
      },
    },
    done: { type: 'final' },
    aborted: { type: 'final' },
  },
});
