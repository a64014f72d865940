/**
 * Which rules the embedded store keeps, decided in one place: the compat mode and the test-only
 * bug go in, one flag per rule comes out, and the request handler (sheep-server.ts) only reads
 * the flags.
 *
 * - compat 'collie' (the default): every rule past sheep 1.0 is on (docs/multipath-safety.md).
 * - compat 'sheep-1.0': every rule past sheep 1.0 is off, so the store answers as a real sheep
 *   1.0 cluster does. It exists to test Collie's client against sheep 1.0's semantics (the
 *   allocation claims, src/sheepdog/client/allocation-claims.ts) with the real store.
 * - A test-only bug (test-only-store-bugs.ts) breaks one rule while the store still promises it:
 *   COLLIE_FEATURES answers what the compat mode promises, never what a bug leaves, so a client
 *   relies on the rule and the simulator finds the lie.
 *
 * Rules sheep 1.0 keeps too (READONLY for writes into a snapshot's data objects, INODE_INVALIDATED
 * for an INVALIDATED participant, invalidation on data_vdi_id writes) stay on in both modes; only
 * a test-only bug turns them off.
 */
import { CollieFeature } from '../sheepdog/wire/constants.js';
import type { TestOnlyStoreBug } from './test-only-store-bugs.js';

/** What the store behaves as: Collie's own rules, or sheep 1.0's. */
export type StoreCompat = 'collie' | 'sheep-1.0';

export const STORE_COMPATS: readonly StoreCompat[] = ['collie', 'sheep-1.0'];

export interface StoreRules {
  readonly compat: StoreCompat;
  // ---- past sheep 1.0 (off in 'sheep-1.0') ----
  /** CREATE/WRITE/DISCARD/REMOVE of one object run one at a time in arrival order; a dead connection's queue is dropped. */
  readonly objectOrder: boolean;
  /** A CREATE of a data object that exists writes its range into it (sheep 1.0 replaces the object). */
  readonly createNeverReplaces: boolean;
  /** A snapshot or rollback holds the retired VDI's inode section from its copy of data_vdi_id through its mark. */
  readonly snapshotHoldsInodeSection: boolean;
  /** An inode update that maps an entry of a snapshot's inode to a vid is refused READONLY. */
  readonly readonlyAllocationIntoSnapshot: boolean;
  /**
   * An inode update that maps entry idx of VDI V to V itself is refused NO_OBJ unless object
   * (V, idx) exists (a DISCARD removed it after its writer created it: mapped, every read of it
   * would fail).
   */
  readonly inodeMapsExistingObjectsOnly: boolean;
  /**
   * A data_vdi_id write from an outside writer (no participant, or no TGT flag) invalidates every
   * participant. Off: sheep's rule, a participant's write invalidates the others, a
   * non-participant's nobody.
   */
  readonly outsideWritersInvalidate: boolean;
  /** DISCARD passes the write refusals and invalidates like an inode update (sheep 1.0: neither). */
  readonly discardIsAWrite: boolean;
  /** A snapshot invalidates every participant of the VDI it retires. */
  readonly snapshotInvalidates: boolean;
  /**
   * An invalidation (a data_vdi_id write, a DISCARD) waits until every data write of the VDI
   * that passed its INODE_INVALIDATED check has landed, so a write checked before it is in every
   * read after it, and one checked after it is refused. Sheep 1.0 forwards a checked write to the
   * replicas and invalidates without waiting for it: such a write can land after a later reader's
   * invalidating write was answered.
   */
  readonly invalidationDrainsCheckedWrites: boolean;
  /** LOCK_VDI / RELEASE_VDI honour the client id in vdi_size. */
  readonly lockClientIds: boolean;
  /** COLLIE_FEATURES is answered; sheep 1.0 answers INVALID_PARMS, as for any unknown opcode. */
  readonly collieFeatures: boolean;
  // ---- sheep 1.0 keeps these too (only a test-only bug turns them off) ----
  /** TGT-flagged I/O of an INVALIDATED participant is refused INODE_INVALIDATED. */
  readonly invalidatedRefusal: boolean;
  /** Writes into a snapshot's data objects are refused READONLY. */
  readonly readonlyDataWriteIntoSnapshot: boolean;
  /** A data_vdi_id write invalidates participants at all. */
  readonly inodeUpdateInvalidates: boolean;
  /** The CollieFeature bits COLLIE_FEATURES answers (what compat promises, whatever a bug breaks). */
  readonly features: number;
}

export interface StoreRulesOptions {
  readonly compat?: StoreCompat;
  /** Locks and coherence on: only then can lock-less writers invalidate anybody. */
  readonly locking: boolean;
  /** Default: on for 'collie', off for 'sheep-1.0' (on there is a contradiction and throws). */
  readonly snapshotInvalidates?: boolean;
  readonly testOnlyBug?: TestOnlyStoreBug;
}

/** Decides every rule (see the file comment). Throws on options that contradict each other. */
export function storeRules(options: StoreRulesOptions): StoreRules {
  const compat = options.compat ?? 'collie';
  if (!STORE_COMPATS.includes(compat)) {
    throw new Error(`store compat "${String(compat)}" is unknown; use one of ${STORE_COMPATS.join(', ')}`);
  }
  const past = compat === 'collie';
  if (!past && options.snapshotInvalidates === true) {
    throw new Error(
      "store options: snapshotInvalidates true contradicts compat 'sheep-1.0' (sheep 1.0 invalidates nobody when a snapshot is taken); drop one of the two",
    );
  }
  const bug = options.testOnlyBug;
  const features = past
    ? (options.locking ? CollieFeature.LOCKLESS_WRITERS_INVALIDATE : 0) |
      CollieFeature.CREATE_NEVER_REPLACES |
      CollieFeature.LOCK_CLIENT_IDS
    : 0;
  return {
    compat,
    objectOrder: past && bug !== 'no-object-order',
    createNeverReplaces: past && bug !== 'create-replaces',
    snapshotHoldsInodeSection: past && bug !== 'snapshot-copies-stale-map',
    readonlyAllocationIntoSnapshot: past && bug !== 'no-readonly-refusal',
    inodeMapsExistingObjectsOnly: past,
    outsideWritersInvalidate: past,
    discardIsAWrite: past,
    snapshotInvalidates: options.snapshotInvalidates ?? past,
    invalidationDrainsCheckedWrites: past,
    lockClientIds: past,
    collieFeatures: past,
    invalidatedRefusal: bug !== 'no-invalidated-refusal',
    readonlyDataWriteIntoSnapshot: bug !== 'no-readonly-refusal',
    inodeUpdateInvalidates: bug !== 'no-invalidation-on-inode-update',
    features,
  };
}
