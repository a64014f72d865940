/**
 * `npm run fuzz -- --cases N [--seed S] [--only codec,target,store,client] [--case K] [--strict]`
 *
 * Runs the fuzz targets (sim/fuzz/*-fuzz.ts) and prints, per target, its cases, rate, peak
 * memory and outcomes by kind (protocol answers, drops, decode errors); on a failure, the seed,
 * the case and the line that replays it, and exits 1.
 *
 * --cases N is the total for the run, split over the chosen targets by CASE_SHARES (the live
 * targets cost far more per case than the codec; the split is printed). --case K replays case K
 * of the one target --only names (its batch's earlier cases run first: they built its world).
 * --strict fails on the known bugs too (KNOWN_BUGS in fuzz-common.ts), which are otherwise counted.
 */
import {
  check,
  FUZZ_TARGETS,
  type FuzzTarget,
  type FuzzTargetName,
  setStrictKnownBugs,
} from './fuzz-common.js';
import { describeReports, runFuzz } from './fuzz-run.js';
import { allFuzzTargets } from './fuzz-targets.js';

/**
 * Shares of --cases per target (normalised over the targets chosen), set by cost: on this
 * project's 2-core machine a codec case takes ~0.12 ms, a store case ~0.5 ms, a live-target
 * case ~2.6 ms (a login, a hostile session, a verified IO) and a client case ~11 ms (tens of
 * virtual seconds against a hostile sheep, 4 MiB inode reads), so a million cases run in about
 * ten minutes.
 */
export const CASE_SHARES: Readonly<Record<FuzzTargetName, number>> = {
  codec: 80,
  store: 12,
  target: 5,
  client: 3,
};

export function splitCases(total: number, names: readonly FuzzTargetName[]): Map<FuzzTargetName, number> {
  const weight = names.reduce((sum, name) => sum + CASE_SHARES[name], 0);
  const split = new Map<FuzzTargetName, number>();
  let given = 0;
  names.forEach((name, index) => {
    const cases =
      index === names.length - 1 ? total - given : Math.floor((total * CASE_SHARES[name]) / weight);
    split.set(name, cases);
    given += cases;
  });
  return split;
}

interface MainArgs {
  cases: number;
  seed: string;
  only: FuzzTargetName[];
  caseIndex?: number;
  memoryMb?: number;
  strict: boolean;
}

function usage(problem: string): never {
  console.error(`fuzz: ${problem}`);
  console.error(
    'usage: npm run fuzz -- --cases N [--seed S] [--only codec,target,store,client] [--case K] [--memory-mb M] [--strict]',
  );
  process.exit(2);
}

function parseArgs(argv: readonly string[]): MainArgs {
  const args: MainArgs = { cases: 10_000, seed: '1', only: [...FUZZ_TARGETS], strict: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    const number = (): number => {
      const parsed = Number(value);
      if (value === undefined || !Number.isSafeInteger(parsed) || parsed < 0)
        usage(`${flag} needs a whole number, got ${value ?? 'nothing'}`);
      i++;
      return parsed;
    };
    switch (flag) {
      case '--cases':
        args.cases = number();
        break;
      case '--case':
        args.caseIndex = number();
        break;
      case '--memory-mb':
        args.memoryMb = number();
        break;
      case '--strict':
        args.strict = true;
        break;
      case '--seed':
        if (value === undefined) usage('--seed needs a value');
        args.seed = value;
        i++;
        break;
      case '--only': {
        if (value === undefined) usage('--only needs a list');
        const names = value.split(',').map((name) => name.trim());
        for (const name of names)
          if (!FUZZ_TARGETS.includes(name as FuzzTargetName))
            usage(`--only: no target "${name}" (targets: ${FUZZ_TARGETS.join(', ')})`);
        args.only = names as FuzzTargetName[];
        i++;
        break;
      }
      default:
        usage(`unknown argument ${flag}`);
    }
  }
  if (args.caseIndex !== undefined && args.only.length !== 1) usage('--case K needs --only with one target');
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  setStrictKnownBugs(args.strict);
  const targets: FuzzTarget[] = allFuzzTargets().filter((target) => args.only.includes(target.name));
  check(targets.length > 0, 'no target chosen');
  const split = splitCases(
    args.cases,
    targets.map((target) => target.name),
  );
  if (args.caseIndex === undefined) {
    console.log(
      `fuzz: seed ${args.seed}, ${args.cases} cases: ${[...split].map(([name, n]) => `${name} ${n}`).join(', ')}`,
    );
  } else {
    console.log(`fuzz: seed ${args.seed}, replaying ${args.only[0]} case ${args.caseIndex}`);
  }
  const reports = await runFuzz({
    seed: args.seed,
    cases: split,
    targets,
    ...(args.caseIndex === undefined ? {} : { caseIndex: args.caseIndex }),
    ...(args.memoryMb === undefined ? {} : { memoryMbMax: args.memoryMb }),
    onProgress: (line) => console.log(line),
  });
  for (const line of describeReports(reports)) console.log(line);
  const total = reports.reduce((sum, report) => sum + report.cases, 0);
  const failed = reports.filter((report) => report.failure !== undefined);
  console.log(
    `fuzz: ${total} cases, ${failed.length === 0 ? 'no failures' : `${failed.length} target(s) FAILED`}`,
  );
  // Worlds may leave handles (none should); the verdict is the exit code.
  process.exit(failed.length === 0 ? 0 : 1);
}

await main();
