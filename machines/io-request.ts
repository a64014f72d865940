/**
 * The lifecycle of one block IO on a sheepdog VDI, as the client (a tgt-like target) runs it.
 * This definition is the source of truth and the drawing; the hot path runs the table compiled
 * from it (src/sheepdog/client/io-table.ts), and a property test shows both agree.
 *
 *   planned         the driver split the IO into object requests against the cached inode.
 *   sending         object requests (reads, WRITE_OBJ, CREATE_AND_WRITE with or without COW,
 *                   plus the coherence probe for reads of areas not owned by the working VDI)
 *                   are on the wire; one aggregated RESULT comes back.
 *   updatingInode   every create succeeded; the partial inode update (data_vdi_id[min..max]) is
 *                   on the wire. The IO is acknowledged only after it succeeds (protocol §6.1).
 *   waitingForReload sheep said INODE_INVALIDATED (our cached inode may be stale) or READONLY
 *                   (a snapshot was taken under us); the inode cache reloads, then the IO is
 *                   planned again from the fresh mapping and resent.
 *   done / failed   final.
 *
 * Rules
 * - Retries are bounded: at most `reloadsMax` futile reloads per IO (the inode had not changed),
 *   and RELOADS_TOTAL_FACTOR × reloadsMax in all, then failRetriesExhausted. Sheep answering
 *   INODE_INVALIDATED forever must end in a clear error, never a loop. A reload that found the
 *   inode changed is progress (another writer allocated): it does not use up the budget, or two
 *   targets allocating side by side would fail each other's writes (found with two qemu-io
 *   writers through tgt and Collie: 10-56 of 128 writes aborted after 8 reloads).
 * - A result the client cannot fix by reloading (EIO, NO_SPACE, ...) fails at once.
 * - UNAVAILABLE means the connection pool gave up (sheep unreachable past its time bound).
 * - Effects are named outputs only (sendObjects, sendInodeUpdate, reload*, replan, complete,
 *   fail*); whoever runs the machine performs them. The only context changes are the two named
 *   updates in `ioRequestUpdates`, which the compiled table applies too.
 * - Flat states, transition actions only (no entry/exit, delays or invokes): that is what the
 *   table compiler accepts, and it says so at module load if this file grows beyond it.
 * - Unexpected events are ignored (the state stays), as xstate does; the driver never sends
 *   them, and the property test checks that both the machine and the table ignore them alike.
 *
 * Outcomes are abstract (ok / invalidated / readonly / error): the driver maps sheep's result
 * codes (SD_RES_*) onto them, so this file imports nothing above src/core.
 */
import { assign, setup } from 'xstate';

/** What one round of object requests (or the inode update) came back with, for the machine. */
export type IoOutcome = 'ok' | 'invalidated' | 'readonly' | 'error';

export type IoRequestEvent =
  /** The plan is ready; `creates` = objects it creates or copies-on-write (0 for reads). */
  | { type: 'SEND'; creates: number }
  | { type: 'RESULT'; outcome: IoOutcome }
  /**
   * The inode was reloaded. `progress`: it differs from the one this IO planned with (another
   * writer allocated, a snapshot moved the working VDI): that reload does not use up the IO's
   * budget, because the cluster moved forward; a futile one (nothing changed) does.
   */
  | { type: 'RELOADED'; progress: boolean }
  /** The reload itself failed with a sheep result (e.g. the VDI is gone). */
  | { type: 'RELOAD_FAILED' }
  /** The connection pool gave up: sheep unreachable for longer than its bound. */
  | { type: 'UNAVAILABLE' };

export type IoRequestEventType = IoRequestEvent['type'];

export interface IoRequestContext {
  /** Futile reloads (the inode had not changed) this IO has asked for so far. */
  reloads: number;
  readonly reloadsMax: number;
  /** Every reload this IO has asked for, futile or not; bounded by RELOADS_TOTAL_FACTOR × reloadsMax. */
  reloadsTotal: number;
  /** Objects the current plan creates; > 0 means an inode update follows the object round. */
  creates: number;
}

export interface IoRequestInput {
  readonly reloadsMax: number;
}

export type IoRequestStateName =
  | 'planned'
  | 'sending'
  | 'updatingInode'
  | 'waitingForReload'
  | 'done'
  | 'failed';

/** The effects the driver performs, in the order a transition lists them. */
export const IO_REQUEST_OUTPUTS = [
  'sendObjects',
  'sendInodeUpdate',
  'reloadInvalidated',
  'reloadReadonly',
  'replan',
  'recordAllocation',
  'complete',
  'failRetriesExhausted',
  'failResult',
  'failUnavailable',
  'failReload',
] as const;
export type IoRequestOutput = (typeof IO_REQUEST_OUTPUTS)[number];

type Guard = (context: IoRequestContext, event: IoRequestEvent) => boolean;
type Update = (context: IoRequestContext, event: IoRequestEvent) => void;

function outcomeOf(event: IoRequestEvent): IoOutcome | undefined {
  return event.type === 'RESULT' ? event.outcome : undefined;
}

/**
 * A hard bound on all reloads of one IO, progress or not: every progress reload means another
 * writer changed the inode (allocations are bounded by the VDI's objects), but an IO must still
 * end even if the inode changes forever (snapshots in a loop).
 */
export const RELOADS_TOTAL_FACTOR = 32;

function reloadsLeft(context: IoRequestContext): boolean {
  return (
    context.reloads < context.reloadsMax &&
    context.reloadsTotal < RELOADS_TOTAL_FACTOR * Math.max(1, context.reloadsMax)
  );
}

/** Guards, shared verbatim by the machine and the compiled table. */
export const ioRequestGuards = {
  okWithCreates: (context, event) => outcomeOf(event) === 'ok' && context.creates > 0,
  isOk: (_context, event) => outcomeOf(event) === 'ok',
  invalidatedWithReloadsLeft: (context, event) => outcomeOf(event) === 'invalidated' && reloadsLeft(context),
  readonlyWithReloadsLeft: (context, event) => outcomeOf(event) === 'readonly' && reloadsLeft(context),
  /** Reloading would help, but this IO has used all its reloads. */
  isRetryable: (_context, event) => {
    const outcome = outcomeOf(event);
    return outcome === 'invalidated' || outcome === 'readonly';
  },
} satisfies Record<string, Guard>;

/** Context updates (mutating a context the caller owns), shared by the machine and the table. */
export const ioRequestUpdates = {
  recordPlan: (context, event) => {
    context.creates = event.type === 'SEND' ? event.creates : context.creates;
  },
  countReload: (context, _event) => {
    context.reloads += 1;
    context.reloadsTotal += 1;
  },
  /** A reload that found the inode changed gives its count back (see RELOADED). */
  refundProgress: (context, event) => {
    if (event.type === 'RELOADED' && event.progress && context.reloads > 0) context.reloads -= 1;
  },
} satisfies Record<string, Update>;

export function initialIoRequestContext(input: IoRequestInput): IoRequestContext {
  return { reloads: 0, reloadsMax: input.reloadsMax, reloadsTotal: 0, creates: 0 };
}

const noop = () => {};

export const ioRequestMachine = setup({
  types: {
    context: {} as IoRequestContext,
    events: {} as IoRequestEvent,
    input: {} as IoRequestInput,
  },
  guards: {
    okWithCreates: ({ context, event }) => ioRequestGuards.okWithCreates(context, event),
    isOk: ({ context, event }) => ioRequestGuards.isOk(context, event),
    invalidatedWithReloadsLeft: ({ context, event }) =>
      ioRequestGuards.invalidatedWithReloadsLeft(context, event),
    readonlyWithReloadsLeft: ({ context, event }) => ioRequestGuards.readonlyWithReloadsLeft(context, event),
    isRetryable: ({ context, event }) => ioRequestGuards.isRetryable(context, event),
  },
  actions: {
    // xstate contexts are immutable: each update runs on a copy, which assign() then installs.
    recordPlan: assign(({ context, event }) => {
      const next = { ...context };
      ioRequestUpdates.recordPlan(next, event);
      return next;
    }),
    countReload: assign(({ context, event }) => {
      const next = { ...context };
      ioRequestUpdates.countReload(next, event);
      return next;
    }),
    refundProgress: assign(({ context, event }) => {
      const next = { ...context };
      ioRequestUpdates.refundProgress(next, event);
      return next;
    }),
    // Effects: the driver (or a test, through machine.provide) supplies these.
    sendObjects: noop,
    sendInodeUpdate: noop,
    reloadInvalidated: noop,
    reloadReadonly: noop,
    replan: noop,
    recordAllocation: noop,
    complete: noop,
    failRetriesExhausted: noop,
    failResult: noop,
    failUnavailable: noop,
    failReload: noop,
  },
}).createMachine({
  id: 'ioRequest',
  context: ({ input }) => initialIoRequestContext(input),
  initial: 'planned',
  states: {
    planned: {
      on: {
        SEND: { target: 'sending', actions: ['recordPlan', 'sendObjects'] },
      },
    },
    sending: {
      on: {
        RESULT: [
          { guard: 'okWithCreates', target: 'updatingInode', actions: ['sendInodeUpdate'] },
          { guard: 'isOk', target: 'done', actions: ['complete'] },
          {
            guard: 'invalidatedWithReloadsLeft',
            target: 'waitingForReload',
            actions: ['countReload', 'reloadInvalidated'],
          },
          {
            guard: 'readonlyWithReloadsLeft',
            target: 'waitingForReload',
            actions: ['countReload', 'reloadReadonly'],
          },
          { guard: 'isRetryable', target: 'failed', actions: ['failRetriesExhausted'] },
          { target: 'failed', actions: ['failResult'] },
        ],
        UNAVAILABLE: { target: 'failed', actions: ['failUnavailable'] },
      },
    },
    updatingInode: {
      on: {
        RESULT: [
          // The creates are recorded in the cache only now that sheep has them in the inode.
          { guard: 'isOk', target: 'done', actions: ['recordAllocation', 'complete'] },
          {
            guard: 'invalidatedWithReloadsLeft',
            target: 'waitingForReload',
            actions: ['countReload', 'reloadInvalidated'],
          },
          {
            guard: 'readonlyWithReloadsLeft',
            target: 'waitingForReload',
            actions: ['countReload', 'reloadReadonly'],
          },
          { guard: 'isRetryable', target: 'failed', actions: ['failRetriesExhausted'] },
          { target: 'failed', actions: ['failResult'] },
        ],
        UNAVAILABLE: { target: 'failed', actions: ['failUnavailable'] },
      },
    },
    waitingForReload: {
      on: {
        // Replanning recomputes create/COW/write per object from the fresh mapping, so a create
        // that another target already made becomes a WRITE_OBJ instead of a clobbering CREATE.
        RELOADED: { target: 'planned', actions: ['refundProgress', 'replan'] },
        RELOAD_FAILED: { target: 'failed', actions: ['failReload'] },
        UNAVAILABLE: { target: 'failed', actions: ['failUnavailable'] },
      },
    },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
});
