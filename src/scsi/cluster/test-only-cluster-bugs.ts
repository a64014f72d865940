/**
 * Bugs the simulator injects into a clustered logical unit on purpose, to prove that its checkers
 * find what they cost (LogicalUnitOptions.testOnlyBug). Each is a realistic mistake behind a
 * switch that is off unless a test or the simulator sets it; none is ever set in production.
 */
export const TEST_ONLY_CLUSTER_BUG_DESCRIPTIONS = {
  /**
   * The IO guard always answers 'continue' and a command is never re-checked against the
   * ownership epoch it was admitted under: a write admitted by the old owner lands after the new
   * owner took over and served newer writes (a ghost write).
   */
  'no-fencing': 'medium IO is not fenced by ownership changes: the old owner lands stale writes',
} as const;

export type TestOnlyClusterBug = keyof typeof TEST_ONLY_CLUSTER_BUG_DESCRIPTIONS;

/** Every switch, for the simulator's options and the mutation table. */
export const TEST_ONLY_CLUSTER_BUGS: readonly TestOnlyClusterBug[] = Object.keys(
  TEST_ONLY_CLUSTER_BUG_DESCRIPTIONS,
) as TestOnlyClusterBug[];

export function isTestOnlyClusterBug(name: string): name is TestOnlyClusterBug {
  return Object.hasOwn(TEST_ONLY_CLUSTER_BUG_DESCRIPTIONS, name);
}
