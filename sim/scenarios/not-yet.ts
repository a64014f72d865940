/**
 * The field scenarios of multipath.md §8 that need features Collie does not have yet. They are
 * listed by `collie sim list` as "not yet", with what is missing, and `collie sim run` refuses
 * them.
 */
import type { Scenario } from './scenario.js';

function notYet(name: string, field: number, description: string, why: string): Scenario {
  return {
    name,
    field,
    description,
    notYet: why,
    run: async () => {
      throw new Error(`scenario ${name} is not supported yet: ${why}`);
    },
  };
}

export const notYetScenarios: readonly Scenario[] = [
  notYet(
    'partition-old-owner-alive',
    2,
    'the host-A link is cut while A keeps its store link; the new owner must fence A first',
    'needs ALUA ownership with an epoch and fencing of the old owner',
  ),
  notYet(
    'lost-ack-caw-retry',
    5,
    'a COMPARE AND WRITE whose answer is lost is retried on the other path: MISCOMPARE, no double write',
    'the workload has no COMPARE AND WRITE yet, and CAW is atomic only inside one target node',
  ),
  notYet(
    'concurrent-caw',
    6,
    'COMPARE AND WRITE on one LBA through two nodes at once: exactly one succeeds',
    'COMPARE AND WRITE is atomic only inside one target node (no cluster-wide CAW)',
  ),
  notYet(
    'pr-preempt-across-nodes',
    9,
    'PR through B preempts a holder registered through A: A gets RESERVATION CONFLICT and UA 2A/05',
    'persistent reservations live in each target node (no shared PR state)',
  ),
  notYet(
    'lun-reset-all-paths',
    10,
    'LUN RESET or a target restart on one node: a UA on every path, identity unchanged',
    'unit attentions and LUN reset are per target node (no cluster-wide UA)',
  ),
];
