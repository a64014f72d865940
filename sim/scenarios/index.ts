/**
 * Every scenario `collie sim list` shows, in that order: Collie's own failover scenarios, the ten
 * field scenarios of multipath.md §8 (run when the current features support them, listed as
 * "not yet" with the reason otherwise), then the swarm.
 */
import { delayedWriteAfterRetry } from './delayed-write-after-retry.js';
import { failback } from './failback.js';
import { failoverAfterSnapshot } from './failover-after-snapshot.js';
import { failoverBWritesFirst } from './failover-b-writes-first.js';
import { lostAckRetry } from './lost-ack-retry.js';
import { notYetScenarios } from './not-yet.js';
import { ownerCrashMidWrite } from './owner-crash-mid-write.js';
import { pathFlapping } from './path-flapping.js';
import type { Scenario } from './scenario.js';
import { seedFailover } from './seed-failover.js';
import { swarm } from './swarm.js';

const FIELD: readonly Scenario[] = [
  ownerCrashMidWrite,
  delayedWriteAfterRetry,
  lostAckRetry,
  pathFlapping,
  failback,
  ...notYetScenarios,
].sort((a, b) => (a.field ?? 0) - (b.field ?? 0));

export const SCENARIOS: readonly Scenario[] = [
  seedFailover,
  failoverAfterSnapshot,
  failoverBWritesFirst,
  ...FIELD,
  swarm,
];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((scenario) => scenario.name === name);
}

/** Scenarios that run (not "not yet"). */
export function runnableScenarios(): Scenario[] {
  return SCENARIOS.filter((scenario) => scenario.notYet === undefined);
}
