/**
 * `npm run soak -- [--minutes M] [--short] [--seed S] [--keep]`: the soak harness (soak-run.ts).
 * M minutes of load (default 10; --short: 1 minute with faults twice as often, the form CI
 * runs). Prints the faults as they happen, RSS at the start, middle and end, and the summary;
 * exits 0 on a pass, 1 on a violation or an RSS growth past the rule, 2 when the harness itself
 * could not run.
 */
import { parseHarnessArgs } from './harness-args.js';
import { describeSoakReport, runSoak, soakPassed } from './soak-run.js';

const args = parseHarnessArgs(process.argv.slice(2), {
  usage: 'npm run soak -- [--minutes M] [--short] [--seed S] [--keep]',
  numbers: ['--minutes'],
  flags: ['--short', '--keep'],
  strings: ['--seed'],
});
const short = args.flags.has('--short');
const report = await runSoak({
  seed: args.strings.get('--seed') ?? '1',
  minutes: args.numbers.get('--minutes') ?? (short ? 1 : 10),
  short,
  keep: args.flags.has('--keep'),
  log: (line) => console.log(line),
});
for (const line of describeSoakReport(report)) console.log(line);
const failedOnlyToRun =
  report.harnessError !== undefined && report.violationTotal === 0 && report.rssFailures.length === 0;
process.exitCode = soakPassed(report) ? 0 : failedOnlyToRun ? 2 : 1;
