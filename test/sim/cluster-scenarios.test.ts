/**
 * Goal: the five field scenarios that need the cluster-wide SCSI state (multipath.md §8: 2, 5, 6,
 * 9, 10) pass for more seeds than simulator.test.ts runs (seeds 5..10 here; their drawn variants:
 * policies, a lost path, reset or restart), and the one built for the 'no-fencing' mistake finds
 * it through the register checker, not only through its own expectations.
 * Method: runScenario in this process; each seed takes well under a second of real time.
 */
import { describe, expect, test } from 'vitest';
import { runScenario } from '../../sim/run.js';

const CLUSTER_SCENARIOS = [
  'partition-old-owner-alive',
  'lost-ack-caw-retry',
  'concurrent-caw',
  'pr-preempt-across-nodes',
  'lun-reset-all-paths',
];

describe('collie sim: the cluster field scenarios', () => {
  test.each(CLUSTER_SCENARIOS)('%s passes seeds 5..10', async (name) => {
    for (let seed = 5; seed <= 10; seed++) {
      const result = await runScenario({ scenario: name, seed });
      expect(
        result.violations.map((violation) => violation.message),
        `seed ${seed}`,
      ).toEqual([]);
      expect(result.pending, `seed ${seed}`).toBeNull();
    }
  });

  test("no-fencing: the old owner's held write lands after B's newer one, and the register checker sees it", async () => {
    const result = await runScenario({
      scenario: 'partition-old-owner-alive',
      seed: 1,
      mutant: 'no-fencing',
    });
    expect(result.outcome).toBe('violation');
    expect(
      result.violations.some(
        (violation) => violation.checker === 'register' && violation.kind === 'stale-read',
      ),
    ).toBe(true);
    expect(result.replayCommand).toBe(
      'collie sim run --scenario partition-old-owner-alive --seed 1 --mutant no-fencing',
    );
    expect((await runScenario({ scenario: 'partition-old-owner-alive', seed: 1 })).ok).toBe(true);
  });
});
