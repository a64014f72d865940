/**
 * Every scenario `collie sim list` shows, in that order: Collie's own failover scenarios, the ten
 * field scenarios of multipath.md §8 in their order, then the swarm. (A scenario that needs a
 * feature Collie lacks sets `notYet`; `collie sim list` shows the reason and `run` refuses it.
 * None does now.)
 */

import { concurrentCaw } from './concurrent-caw.js';
import { delayedWriteAfterRetry } from './delayed-write-after-retry.js';
import { failback } from './failback.js';
import { failoverAfterSnapshot } from './failover-after-snapshot.js';
import { failoverBWritesFirst } from './failover-b-writes-first.js';
import { lostAckCawRetry } from './lost-ack-caw-retry.js';
import { lostAckRetry } from './lost-ack-retry.js';
import { lunResetAllPaths } from './lun-reset-all-paths.js';
import { ownerCrashMidWrite } from './owner-crash-mid-write.js';
import { partitionOldOwnerAlive } from './partition-old-owner-alive.js';
import { pathFlapping } from './path-flapping.js';
import { prPreemptAcrossNodes } from './pr-preempt-across-nodes.js';
import type { Scenario } from './scenario.js';
import { seedFailover } from './seed-failover.js';
import { swarm } from './swarm.js';

const FIELD: readonly Scenario[] = [
  ownerCrashMidWrite,
  delayedWriteAfterRetry,
  lostAckRetry,
  pathFlapping,
  failback,
  partitionOldOwnerAlive,
  lostAckCawRetry,
  concurrentCaw,
  prPreemptAcrossNodes,
  lunResetAllPaths,
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
