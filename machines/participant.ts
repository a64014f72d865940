/**
 * One participant of a VDI's shared lock, as the store sees it: the inode coherence state of one
 * node (store endpoint) for one VDI. This is sheep's MSI scheme (sheep/vdi.c), one machine per
 * (VDI, node):
 *
 *   modified    this node's client has changed the inode; its cached inode is authoritative.
 *   shared      its cached inode is valid; nobody changed the inode since it loaded it.
 *   invalidated its cached inode may be stale; its TGT-flagged IO is answered INODE_INVALIDATED
 *               until it re-reads the inode with the exact refresh read.
 *
 * Events come from the lock table (src/store/lock-table.ts), which applies each coherence message to
 * every participant of the VDI: the writer gets LOCAL_INODE_WRITE and the others PEER_INODE_WRITE;
 * the validating node gets LOCAL_REFRESH and the others PEER_REFRESH. Sheep's rules, literally:
 * - invalidate(S): S -> modified; every other participant -> invalidated.
 * - validate(S):   S -> shared; others that are not invalidated -> shared (a modified owner is
 *                  demoted); invalidated others stay invalidated ("they validate by themselves").
 * Events that do not apply in a state are ignored (the state is unchanged), as sheep does.
 *
 * One rule goes past sheep 1.0: when a share-locked VDI becomes a snapshot, every participant is
 * invalidated (VDI_SNAPSHOTTED). Sheep leaves them valid, so a target that only reads keeps
 * serving objects its cache maps to the old vid after another target copied them on write (the
 * "parent-snapshot gap" of the protocol reference §8.3). Invalidated, its next TGT request gets
 * INODE_INVALIDATED, its reload sees snap_ctime and it re-resolves the working VDI, as tgt does.
 * A second one: a data_vdi_id write by an outside writer (dog, `collie vdi write`, any client
 * that does not participate or sends no TGT flag) invalidates every participant
 * (OUTSIDE_INODE_WRITE); sheep 1.0 would leave them serving zeros for the new allocation.
 */
import { setup } from 'xstate';

export type ParticipantStateName = 'modified' | 'shared' | 'invalidated';

export type ParticipantEvent =
  | { type: 'LOCAL_INODE_WRITE' }
  | { type: 'PEER_INODE_WRITE' }
  | { type: 'LOCAL_REFRESH' }
  | { type: 'PEER_REFRESH' }
  /** The VDI became a snapshot: every cached copy of its inode must be re-read (Collie's store). */
  | { type: 'VDI_SNAPSHOTTED' }
  /**
   * data_vdi_id changed by an outside writer (a node that does not participate, or a write
   * without the TGT flag): every participant's cache is stale (Collie's store).
   */
  | { type: 'OUTSIDE_INODE_WRITE' };

export interface ParticipantInput {
  readonly vid: number;
  readonly node: string;
  readonly initial: ParticipantStateName;
}

export const participantMachine = setup({
  types: {
    context: {} as ParticipantInput,
    events: {} as ParticipantEvent,
    input: {} as ParticipantInput,
  },
  guards: {
    joinsModified: ({ context }) => context.initial === 'modified',
    joinsInvalidated: ({ context }) => context.initial === 'invalidated',
  },
}).createMachine({
  id: 'participant',
  context: ({ input }) => ({ ...input }),
  initial: 'joining',
  states: {
    // Transient: the first state comes from the input, because sheep decides it at LOCK time
    // from the other participants (first one modified; invalidated if someone is modified).
    joining: {
      always: [
        { target: 'modified', guard: 'joinsModified' },
        { target: 'invalidated', guard: 'joinsInvalidated' },
        { target: 'shared' },
      ],
    },
    modified: {
      on: {
        LOCAL_INODE_WRITE: { target: 'modified' },
        PEER_INODE_WRITE: { target: 'invalidated' },
        PEER_REFRESH: { target: 'shared' },
        VDI_SNAPSHOTTED: { target: 'invalidated' },
        OUTSIDE_INODE_WRITE: { target: 'invalidated' },
      },
    },
    shared: {
      on: {
        LOCAL_INODE_WRITE: { target: 'modified' },
        PEER_INODE_WRITE: { target: 'invalidated' },
        VDI_SNAPSHOTTED: { target: 'invalidated' },
        OUTSIDE_INODE_WRITE: { target: 'invalidated' },
      },
    },
    invalidated: {
      on: {
        // Reachable only without the TGT flag: with it the request was refused before this.
        LOCAL_INODE_WRITE: { target: 'modified' },
        LOCAL_REFRESH: { target: 'shared' },
      },
    },
  },
});
