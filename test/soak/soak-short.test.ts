/**
 * Goal: the short form of `npm run soak` in CI: one minute of mixed load on two real target nodes
 * exporting one VDI, with path kills every ~15 s and a store endpoint loss, every write read back
 * at once through a random node, every block verified through each node and against the store at
 * the end: zero violations, and no Collie process's RSS more than doubling from the middle to the
 * end.
 * Method: runSoak({ short: true, minutes: 1 }) from a fixed seed (sim/real/soak-run.ts); the
 * summary (with the RSS table) is printed; a failure keeps the run directory and prints the
 * reproduction.
 */
import { expect, test } from 'vitest';
import { describeSoakReport, runSoak } from '../../sim/real/soak-run.js';

test('soak --short: a minute of faults on two nodes, zero violations, RSS flat', {
  timeout: 180_000,
}, async () => {
  const report = await runSoak({ seed: 'ci', minutes: 1, short: true });
  const text = describeSoakReport(report).join('\n');
  console.log(text);
  expect(report.harnessError, text).toBeUndefined();
  expect(report.violationTotal, text).toBe(0);
  expect(report.rssFailures, text).toEqual([]);
  expect(report.pathKills, text).toBeGreaterThanOrEqual(3);
  expect(report.endpointLosses, text).toBeGreaterThanOrEqual(1);
  expect(report.load.readBacks, text).toBeGreaterThan(100);
});
