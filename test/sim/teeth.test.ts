/**
 * Goal: the simulator has teeth against a backend that cannot read (issue 8: "a backend whose
 * reads all fail makes seed-failover and the swarm fail"). Before the liveness checks, failed
 * reads were never judged, so such a backend passed. Method: the test-only client bug
 * 'reads-fail' (every read IO of the targets' sheepdog client fails with a medium error, in the
 * backend, not in the simulator) on a few seeds of seed-failover and of the swarm; every run must
 * fail, and through the new checks (liveness, and seed-failover's "B reads" expectation).
 */
import { describe, expect, test } from 'vitest';
import { runScenario } from '../../sim/run.js';

const SEEDS = [1, 2, 3, 4];

describe('a backend whose reads all fail', () => {
  test.each(SEEDS)('fails seed-failover seed %i', async (seed) => {
    const result = await runScenario({ scenario: 'seed-failover', seed, clientBug: 'reads-fail' });
    expect(result.outcome).not.toBe('pass');
    const found = result.violations.map((violation) => `${violation.checker}/${violation.kind}`);
    expect(found).toContain('liveness/read-back-failed');
    expect(found).toContain('scenario/expectation');
  });

  test.each(SEEDS)(
    'fails the swarm seed %i',
    async (seed) => {
      const result = await runScenario({ scenario: 'swarm', seed, clientBug: 'reads-fail' });
      expect(result.outcome).not.toBe('pass');
      const found = result.violations.map((violation) => `${violation.checker}/${violation.kind}`);
      expect(found).toContain('liveness/read-back-failed');
    },
    30_000,
  );

  test('with no fault at all, its failed workload reads are failures outside any fault window', async () => {
    const result = await runScenario({ scenario: 'swarm', seed: 1, clientBug: 'reads-fail', faults: [] });
    expect(result.settings).toContain('faults=none');
    const found = result.violations.map((violation) => `${violation.checker}/${violation.kind}`);
    expect(found).toContain('liveness/failed-outside-fault');
  });

  test('the same seeds pass with a backend that reads', async () => {
    for (const seed of SEEDS) {
      const failover = await runScenario({ scenario: 'seed-failover', seed });
      expect(failover.violations.map((violation) => violation.message)).toEqual([]);
      expect(failover.outcome).toBe('pass');
    }
  });
});
