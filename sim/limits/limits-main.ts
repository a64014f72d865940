/**
 * `npm run limits`: runs every hostile scenario of limits-scenarios.ts against a real target on
 * the memory network in virtual time, a healthy session beside each, and prints per scenario what
 * the target did, the healthy session's IOs, the peak queued bytes and PASS/FAIL. Exit code 1 when
 * a scenario fails. `--short` runs the scaled-down form CI runs (test/limits/limits-short.test.ts);
 * names after the flags pick scenarios.
 *
 * Rules: the scenarios are deterministic (virtual time, seeded); only the "s real" figures read
 * the wall clock (sim/wallclock.ts), to show how long a run took.
 */
import { pathToFileURL } from 'node:url';
import { wallNowMs } from '../wallclock.js';
import { describeReport, runLimits, SCENARIO_NAMES } from './limits-scenarios.js';

export async function limitsMain(argv: readonly string[]): Promise<number> {
  const short = argv.includes('--short');
  const only = argv.filter((arg) => !arg.startsWith('--'));
  const unknown = only.filter((name) => !SCENARIO_NAMES.includes(name));
  if (unknown.length > 0) {
    console.error(
      `limits: no scenario ${unknown.join(', ')}; the scenarios are ${SCENARIO_NAMES.join(', ')}`,
    );
    return 2;
  }
  console.log(
    `limits: ${short ? 'short form' : 'full form'}, target defaults (src/iscsi/target/target-limits.ts)`,
  );
  const startMs = wallNowMs();
  let scenarioStartMs = startMs;
  const reports = await runLimits({
    short,
    only,
    onReport: (report) => {
      const nowMs = wallNowMs();
      for (const line of describeReport(report, nowMs - scenarioStartMs)) console.log(line);
      scenarioStartMs = nowMs;
    },
  });
  const failed = reports.filter((report) => !report.pass);
  console.log(
    `limits: ${reports.length - failed.length}/${reports.length} scenarios passed in ${((wallNowMs() - startMs) / 1000).toFixed(1)} s real` +
      (failed.length > 0 ? `; FAILED: ${failed.map((report) => report.name).join(', ')}` : ''),
  );
  return failed.length > 0 ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await limitsMain(process.argv.slice(2));
}
