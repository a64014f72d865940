/**
 * Bugs the simulator injects into the sheepdog client on purpose, to prove that its checkers and
 * swarm find them (`collie sim run --client-bug NAME`, `collie sim mutants`). Each is a realistic
 * one-line mistake behind a switch that is off unless a test or the simulator sets it; none is
 * ever set in production. io-runner.ts re-exports these names for older importers.
 */
export const TEST_ONLY_CLIENT_BUG_DESCRIPTIONS = {
  /** A read of an area the cached inode calls unallocated returns zeros without the probe. */
  'skip-unallocated-probe': 'a read of an unallocated area returns zeros without the coherence probe',
  /** Every read IO fails (BackendError 'medium'): proves the simulator checks that reads succeed. */
  'reads-fail': 'every read IO fails with a medium error',
  /** On INODE_INVALIDATED the IO replans and resends without reloading the inode. */
  'retry-without-reload': 'INODE_INVALIDATED is retried without reloading the inode',
  /** A write that created objects is acknowledged first; its inode update is sent later. */
  'ack-before-inode-update': 'an allocating write completes before its inode update is sent',
  /** After a pool reconnect the rejoin skips LOCK_VDI and only refresh-reads the inode. */
  'no-relock-after-reconnect': 'the rejoin after a reconnect refresh-reads without LOCK_VDI',
  /** A copy-on-write CREATE names cow_oid in the working vid instead of the ancestor's. */
  'wrong-cow-oid': "a copy-on-write CREATE copies from the working vid's object, not the ancestor's",
  /** A write whose connection failed is resent, and the old copy is sent again one timeout later. */
  'late-resend': 'a write whose connection failed lands again one request timeout after its resend',
} as const;

export type TestOnlyClientBug = keyof typeof TEST_ONLY_CLIENT_BUG_DESCRIPTIONS;

/** Every switch, for `--client-bug` and the mutation table. */
export const TEST_ONLY_CLIENT_BUGS: readonly TestOnlyClientBug[] = Object.keys(
  TEST_ONLY_CLIENT_BUG_DESCRIPTIONS,
) as TestOnlyClientBug[];

export function isTestOnlyClientBug(name: string): name is TestOnlyClientBug {
  return Object.hasOwn(TEST_ONLY_CLIENT_BUG_DESCRIPTIONS, name);
}
