/**
 * Releasing a VDI's locks by name, as dog's `vdi lock unlock` does, for `collie vdi lock unlock`
 * (src/cli/vdi.ts) and the admin API's unlock (src/admin/vdi-control.ts): one implementation of the rule.
 *
 * Find the VDI's lock states (GET_VDI_COPIES) and send RELEASE_VDI with the type that matches
 * each, NORMAL for a LOCKED vid and SHARED for a SHARED one. Why not always NORMAL: sheep's
 * RELEASE_VDI(NORMAL) on a shared lock does nothing, and why not always both: a shared release
 * removes only the *sender node's* participation (the sheep we are connected to), never anyone
 * else's. So a shared lock held through another node can only be broken through that node;
 * callers say which. Every locked vid carrying the name is released (the working VDI and any
 * snapshot a crashed target still held), because after a snapshot the lock can sit on the old vid.
 */
import { getVdiCopies, getVdiInfo, listVdis, releaseVdi } from './sheep-admin.js';
import type { SheepConnection } from './sheep-connection.js';
import { LockState, LockType } from './wire/constants.js';
import type { VdiState } from './wire/vdi-state.js';

export interface LockRelease {
  /** The name's locked vids before the release; empty: nothing was locked, nothing was sent. */
  readonly locked: readonly VdiState[];
  /** The name's vids still shared-locked afterwards (participations through other sheep nodes). */
  readonly stillShared: readonly VdiState[];
}

/** The vids carrying `name`: its working VDI and its snapshots (sheep's NO_VDI when there is none). */
export async function vidsNamed(conn: SheepConnection, name: string): Promise<Set<number>> {
  const vids = new Set(
    (await listVdis(conn, { usage: false })).filter((e) => e.header.name === name).map((e) => e.vid),
  );
  // No live inode has the name: let sheep say so (NO_VDI, the usual "not found").
  if (vids.size === 0) vids.add((await getVdiInfo(conn, { name })).vid);
  return vids;
}

/** The locked (normal or shared) states among `vids`. */
export async function lockedStates(conn: SheepConnection, vids: ReadonlySet<number>): Promise<VdiState[]> {
  return (await getVdiCopies(conn)).filter((s) => vids.has(s.vid) && s.lockState !== LockState.UNLOCKED);
}

/** Releases every lock of the vids named `name` through the sheep node `conn` talks to. */
export async function releaseLocksNamed(conn: SheepConnection, name: string): Promise<LockRelease> {
  const vids = await vidsNamed(conn, name);
  const locked = await lockedStates(conn, vids);
  if (locked.length === 0) return { locked, stillShared: [] };
  for (const state of locked) {
    const type = state.lockState === LockState.SHARED ? LockType.SHARED : LockType.NORMAL;
    await releaseVdi(conn, { vid: state.vid, type });
  }
  const stillShared = (await getVdiCopies(conn)).filter(
    (s) => vids.has(s.vid) && s.lockState === LockState.SHARED && s.participants.length > 0,
  );
  return { locked, stillShared };
}
