/**
 * `npm run crash -- [--kills N] [--short] [--seed S] [--keep]`: the crash-safety harness
 * (crash-run.ts). N SIGKILLs of the target and N of the store (default 20 each; --short: 3 each
 * on a smaller VDI, the form CI runs). Prints one line per cycle and the summary; exits 0 when
 * no violation was found, 1 on a violation, 2 when the harness itself could not run.
 */
import { crashPassed, describeCrashReport, runCrash } from './crash-run.js';
import { parseHarnessArgs } from './harness-args.js';

const args = parseHarnessArgs(process.argv.slice(2), {
  usage: 'npm run crash -- [--kills N] [--short] [--seed S] [--keep]',
  numbers: ['--kills'],
  flags: ['--short', '--keep'],
  strings: ['--seed'],
});
const short = args.flags.has('--short');
const report = await runCrash({
  seed: args.strings.get('--seed') ?? '1',
  killsEach: args.numbers.get('--kills') ?? (short ? 3 : 20),
  short,
  keep: args.flags.has('--keep'),
  log: (line) => console.log(line),
});
for (const line of describeCrashReport(report)) console.log(line);
process.exitCode = crashPassed(report)
  ? 0
  : report.harnessError !== undefined && report.violationTotal === 0
    ? 2
    : 1;
