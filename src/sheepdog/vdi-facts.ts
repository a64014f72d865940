/**
 * What a VDI list entry and a VDI lock state say, read one way for `collie vdi list/lock list`
 * (src/cli/vdi-format.ts) and the admin API's VDI and lock rows (src/admin/vdi-control.ts).
 */
import type { VdiListEntry } from './sheep-admin.js';
import { LockState, ParticipantState } from './wire/constants.js';
import { nodeIdKey } from './wire/node-id.js';
import type { VdiState } from './wire/vdi-state.js';

/** The snapshot id `vdi list` shows: the inode's snap_id for a snapshot, 0 for the working VDI. */
export function listedSnapId(entry: VdiListEntry): number {
  return entry.snapshot ? entry.header.snapId : 0;
}

/** When the inode was created, in seconds since the epoch (create_time's high 32 bits). */
export function createdSeconds(entry: VdiListEntry): number {
  return Number(entry.header.createTime >> 32n);
}

const PARTICIPANT_STATE_NAMES: Readonly<Record<number, string>> = {
  [ParticipantState.MODIFIED]: 'MODIFIED',
  [ParticipantState.SHARED]: 'SHARED',
  [ParticipantState.INVALIDATED]: 'INVALIDATED',
};

export function participantStateName(state: number): string {
  return PARTICIPANT_STATE_NAMES[state] ?? `UNKNOWN(${state})`;
}

/** ["127.0.0.1:7000 (MODIFIED)", "127.0.0.1:7001 (INVALIDATED)"], or the normal-lock owner; [] for none. */
export function lockHolderNames(state: VdiState): string[] {
  if (state.lockState === LockState.LOCKED) return state.lockOwner ? [nodeIdKey(state.lockOwner)] : [];
  return state.participants.map((p) => `${nodeIdKey(p.node)} (${participantStateName(p.state)})`);
}
