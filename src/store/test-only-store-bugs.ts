/**
 * Mistakes put into the store on purpose, one at a time, so the simulator can show that it finds
 * each (`collie sim mutants`). Every one undoes a rule that keeps multipath safe; none is ever set
 * outside tests and the simulator.
 */
export const TEST_ONLY_STORE_BUGS = {
  /** A data_vdi_id write (or DISCARD) invalidates nobody: the other targets keep stale caches. */
  'no-invalidation-on-inode-update': 'a data_vdi_id write invalidates no participant',
  /** TGT-flagged IO of an INVALIDATED participant is served instead of refused. */
  'no-invalidated-refusal': 'an INVALIDATED participant is served instead of answered INODE_INVALIDATED',
  /** Writes into a snapshot (data objects, or an allocation into its inode) are accepted. */
  'no-readonly-refusal': 'writes into a snapshot are accepted instead of answered READONLY',
  /** A CREATE of an object that exists replaces it (sheep 1.0), losing the first writer's bytes. */
  'create-replaces': 'a second CREATE of an object replaces it',
  /** A snapshot copies data_vdi_id outside the inode section: an allocation can fall in between. */
  'snapshot-copies-stale-map': 'a snapshot copies data_vdi_id without holding the inode section',
  /** Writes to one object are not ordered: a slow, abandoned copy can land after a newer write. */
  'no-object-order': 'writes to one object are not kept in arrival order',
} as const;

export type TestOnlyStoreBug = keyof typeof TEST_ONLY_STORE_BUGS;

export function isTestOnlyStoreBug(name: string): name is TestOnlyStoreBug {
  return Object.hasOwn(TEST_ONLY_STORE_BUGS, name);
}
