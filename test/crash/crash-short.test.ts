/**
 * Goal: the short form of `npm run crash` in CI: real `collie sheep` and `collie target`
 * processes, each SIGKILLed 3 times during a stamped write load with FUA and SYNCHRONIZE CACHE,
 * restarted, and every block checked after each restart through the target and against the
 * store's own copy: no acknowledged-and-flushed write lost, no acknowledged write lost with no
 * store kill, no torn, misplaced or ghost block, no process exiting on its own.
 * Method: runCrash({ short: true }) from a fixed seed (sim/real/crash-run.ts); the summary is
 * printed; a failure keeps the run directory (logs, store) and prints the reproduction.
 */
import { expect, test } from 'vitest';
import { describeCrashReport, runCrash } from '../../sim/real/crash-run.js';

test('crash --short: 3 target kills and 3 store kills lose and tear nothing', {
  timeout: 180_000,
}, async () => {
  const report = await runCrash({ seed: 'ci', killsEach: 3, short: true });
  const text = describeCrashReport(report).join('\n');
  console.log(text);
  expect(report.harnessError, text).toBeUndefined();
  expect(report.violationTotal, text).toBe(0);
  expect(report.kills).toEqual({ target: 3, store: 3 });
  expect(report.verifications).toBe(6);
  expect(report.ledger.writesAcked, text).toBeGreaterThan(100);
  expect(report.ledger.syncsAcked, text).toBeGreaterThan(0);
});
