/**
 * The lock of one VDI in the store, as sheep keeps it (vdi_state_entry.lock_state):
 *
 *   unlocked  nobody holds it.
 *   locked    a NORMAL lock (qemu's) held by `owner`, a node. Any second LOCK fails.
 *   shared    SHARED participation (tgt's); `participants` are nodes in join order, at most
 *             SD_MAX_COPIES (31). Each participant's coherence state lives in its own
 *             participant machine (participant.ts); this machine only knows who is in.
 *
 * Owners and participants are store *nodes* (endpoints), never client connections: a client
 * that disconnects or crashes releases nothing (sheep 1.0 behaves so). A node leaving the
 * cluster leaves every VDI it participates in; a NORMAL lock it owned stays, as in sheep.
 * RELEASE of a NORMAL lock does not check the owner (dog vdi lock unlock relies on that).
 *
 * A LOCK that the current state refuses has no transition: the caller asks `can()` first and
 * answers VDI_LOCKED when it is false.
 */
import { assign, setup } from 'xstate';

export const PARTICIPANTS_MAX = 31;

export type VdiLockEvent =
  | { type: 'LOCK_NORMAL'; node: string }
  | { type: 'LOCK_SHARED'; node: string }
  | { type: 'RELEASE_NORMAL'; node: string }
  | { type: 'RELEASE_SHARED'; node: string }
  | { type: 'NODE_LEFT'; node: string };

export interface VdiLockContext {
  readonly vid: number;
  readonly owner: string | undefined;
  readonly participants: readonly string[];
}

export type VdiLockStateName = 'unlocked' | 'locked' | 'shared';

export const vdiLockMachine = setup({
  types: {
    context: {} as VdiLockContext,
    events: {} as VdiLockEvent,
    input: {} as { vid: number },
  },
  guards: {
    isNewParticipant: ({ context, event }) =>
      !context.participants.includes(event.node) && context.participants.length < PARTICIPANTS_MAX,
    isParticipant: ({ context, event }) => context.participants.includes(event.node),
    isLastParticipant: ({ context, event }) =>
      context.participants.length === 1 && context.participants[0] === event.node,
  },
  actions: {
    setOwner: assign({ owner: ({ event }) => event.node }),
    clearOwner: assign({ owner: () => undefined }),
    addParticipant: assign({ participants: ({ context, event }) => [...context.participants, event.node] }),
    removeParticipant: assign({
      participants: ({ context, event }) => context.participants.filter((node) => node !== event.node),
    }),
  },
}).createMachine({
  id: 'vdiLock',
  context: ({ input }) => ({ vid: input.vid, owner: undefined, participants: [] }),
  initial: 'unlocked',
  states: {
    unlocked: {
      on: {
        LOCK_NORMAL: { target: 'locked', actions: 'setOwner' },
        LOCK_SHARED: { target: 'shared', actions: 'addParticipant' },
        // Releasing an unlocked VDI succeeds and changes nothing (sheep answers SUCCESS).
        RELEASE_NORMAL: {},
        RELEASE_SHARED: {},
      },
    },
    locked: {
      on: {
        RELEASE_NORMAL: { target: 'unlocked', actions: 'clearOwner' },
        RELEASE_SHARED: {},
      },
    },
    shared: {
      on: {
        LOCK_SHARED: { guard: 'isNewParticipant', actions: 'addParticipant' },
        RELEASE_NORMAL: {},
        RELEASE_SHARED: [
          { guard: 'isLastParticipant', target: 'unlocked', actions: 'removeParticipant' },
          { guard: 'isParticipant', actions: 'removeParticipant' },
          {},
        ],
        NODE_LEFT: [
          { guard: 'isLastParticipant', target: 'unlocked', actions: 'removeParticipant' },
          { guard: 'isParticipant', actions: 'removeParticipant' },
        ],
      },
    },
  },
});
