/**
 * Before a lock-less write (`collie vdi write`): refuse when it would leave a lock holder's
 * cached inode stale. A lock-less writer's inode update (data_vdi_id) is what tells the VDI's
 * targets to reload; whether it does depends on the store:
 *
 * - Collie's store (COLLIE_FEATURES bit LOCKLESS_WRITERS_INVALIDATE) invalidates every
 *   participant for such an update, so a share-locked VDI (targets serving it) may be written.
 * - Sheep 1.0 invalidates nobody for a node that does not participate, and through a node a
 *   target uses it makes that target's participant MODIFIED as if the target had written: the
 *   targets would keep serving the old mapping. A share-locked VDI is refused there.
 * - A normally locked VDI (qemu's exclusive lock) is refused on every store: its holder keeps
 *   its inode without any coherence protocol, so nothing could tell it to reload.
 *
 * The check reads GET_VDI_COPIES once, before the write: a target that locks the VDI after it
 * is not seen (on sheep 1.0 that target's open then reads the inode as it is, which is fine,
 * but one that locks during a long write may serve stale areas the write allocated later).
 * Refusals are SheepAdminError 'VDI_IN_USE' naming the VDI, the holders and the fix.
 */
import { storeInvalidatesLocklessWriters } from './collie-features.js';
import { getVdiCopies, getVdiInfo, SheepAdminError } from './sheep-admin.js';
import type { SheepConnection } from './sheep-connection.js';
import { LockState } from './wire/constants.js';
import { type NodeId, nodeIdKey } from './wire/node-id.js';

/** What the check found; the write may go ahead. */
export interface LocklessWriteClearance {
  /** The working VDI's vid at the time of the check. */
  readonly vid: number;
  /** Nodes whose targets the write will invalidate (Collie's store only); empty when unlocked. */
  readonly participants: readonly string[];
}

/** Throws SheepAdminError 'VDI_IN_USE' when a lock-less write to VDI `name` is unsafe. */
export async function checkLocklessWrite(
  conn: SheepConnection,
  name: string,
): Promise<LocklessWriteClearance> {
  const { vid } = await getVdiInfo(conn, { name });
  const state = (await getVdiCopies(conn)).find((candidate) => candidate.vid === vid);
  if (state === undefined || state.lockState === LockState.UNLOCKED) return { vid, participants: [] };
  const unlock = (node: NodeId | undefined) =>
    node === undefined
      ? `collie vdi lock unlock ${name}`
      : `collie vdi lock unlock ${name} -a ${node.host} -p ${node.port}`;
  if (state.lockState === LockState.LOCKED) {
    const owner = state.lockOwner === undefined ? 'a node' : nodeIdKey(state.lockOwner);
    throw new SheepAdminError(
      'VDI_IN_USE',
      `VDI "${name}" is locked exclusively (normal lock, e.g. qemu) through ${owner}: its holder keeps the inode cached and nothing would tell it about this write; stop it (or, if it is gone, release the lock: ${unlock(state.lockOwner)}) and retry`,
    );
  }
  const participants = state.participants.map((participant) => nodeIdKey(participant.node));
  if (participants.length === 0) return { vid, participants };
  if (await storeInvalidatesLocklessWriters(conn)) return { vid, participants };
  const releases = state.participants.map((participant) => unlock(participant.node)).join(' ; ');
  throw new SheepAdminError(
    'VDI_IN_USE',
    `VDI "${name}" is shared-locked by targets through ${participants.join(', ')}, and sheep at ${conn.endpoint} does not invalidate them for a write that holds no lock (sheep 1.0 does not), so they would keep serving stale data; write through one of those targets instead, or stop them (locks a crashed target left: ${releases}) and retry`,
  );
}
