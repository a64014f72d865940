/**
 * The client's view of one VDI's inode (its cached data_vdi_id[] and header), as a tgt-like
 * target keeps it. This is the client half of sheep's coherence protocol (protocol doc §8): the
 * server runs machines/participant.ts per (VDI, node); this machine is what the client believes.
 *
 *   loading      open: LOCK_VDI shared, then the refresh read (offset 0, 4,198,968 bytes).
 *   shared       loaded by a refresh read and not changed by us since: valid as far as we know.
 *   modified     we changed data_vdi_id since (our inode update succeeded): still valid, and
 *                sheep now counts us as the MODIFIED participant.
 *   reloading    a request was answered INODE_INVALIDATED (reason 'invalidated': refresh read
 *                again) or READONLY (reason 'readonly': a snapshot was taken under us; re-resolve
 *                the working VDI by name with LOCK_VDI shared, then refresh read it).
 *   invalidated  a reload failed; the cache is known to be stale and the next request reloads.
 *   closed       RELEASE_VDI sent (or open failed); final.
 *
 * "Valid" (tag 'valid') never means sheep agrees: sheep may already have invalidated us. It means
 * no answer has told us otherwise; every TGT-flagged request is the check (and reads of areas we
 * do not own add a probe, because sheep checks those against another vid).
 *
 * Events a state does not handle are ignored: RELOAD_NEEDED during a reload joins that reload
 * (one reload for N requests that hit 0x1D, like tgt's inode_version), and an inode update
 * acknowledged during a reload (INODE_WRITTEN) changes nothing here; the cache replays it onto
 * the reloaded table.
 */
import { assign, setup } from 'xstate';

export type InodeReloadReason = 'invalidated' | 'readonly';

export type InodeViewEvent =
  | { type: 'LOADED'; vid: number }
  | { type: 'LOAD_FAILED' }
  | { type: 'INODE_WRITTEN' }
  | { type: 'RELOAD_NEEDED'; reason: InodeReloadReason }
  | { type: 'RELOADED'; vid: number }
  | { type: 'RELOAD_FAILED' }
  | { type: 'CLOSE' };

export interface InodeViewContext {
  readonly vdiName: string;
  /** The working VDI's id as we know it (0 until loaded). */
  readonly vid: number;
  /** Completed loads and reloads; a request that saw generation g needs no reload once it moved. */
  readonly generation: number;
  readonly reason: InodeReloadReason | undefined;
}

export type InodeViewStateName = 'loading' | 'shared' | 'modified' | 'reloading' | 'invalidated' | 'closed';

export const inodeViewMachine = setup({
  types: {
    context: {} as InodeViewContext,
    events: {} as InodeViewEvent,
    input: {} as { vdiName: string },
  },
  actions: {
    recordLoad: assign(({ context, event }) => ({
      vid: event.type === 'LOADED' || event.type === 'RELOADED' ? event.vid : context.vid,
      generation: context.generation + 1,
      reason: undefined,
    })),
    recordReason: assign(({ context, event }) => ({
      reason: event.type === 'RELOAD_NEEDED' ? event.reason : context.reason,
    })),
  },
}).createMachine({
  id: 'inodeView',
  context: ({ input }) => ({ vdiName: input.vdiName, vid: 0, generation: 0, reason: undefined }),
  initial: 'loading',
  states: {
    loading: {
      on: {
        LOADED: { target: 'shared', actions: 'recordLoad' },
        LOAD_FAILED: { target: 'closed' },
      },
    },
    shared: {
      tags: ['valid'],
      on: {
        INODE_WRITTEN: { target: 'modified' },
        RELOAD_NEEDED: { target: 'reloading', actions: 'recordReason' },
      },
    },
    modified: {
      tags: ['valid'],
      on: {
        RELOAD_NEEDED: { target: 'reloading', actions: 'recordReason' },
      },
    },
    reloading: {
      on: {
        RELOADED: { target: 'shared', actions: 'recordLoad' },
        RELOAD_FAILED: { target: 'invalidated' },
      },
    },
    invalidated: {
      on: {
        RELOAD_NEEDED: { target: 'reloading', actions: 'recordReason' },
      },
    },
    closed: { type: 'final' },
  },
  on: {
    CLOSE: { target: '.closed' },
  },
});
