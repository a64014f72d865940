/**
 * Runs fuzz targets case by case and reports counts and the first failure of each, with the line
 * that replays it.
 *
 * Rules
 * - Case K of target T under seed S draws from createRng(`${S}/${T}/${K}`) only; its world is
 *   its batch's (cases K - K % batchSize .. K share one), so `--case K` runs that batch from its
 *   first case up to K and reports K.
 * - Failures: a throw from a case (a failed oracle, a crash of the code under test), an unhandled
 *   promise rejection while a case ran, or memory above the cap. The first failure stops the
 *   target; the other targets still run.
 * - Memory is sampled every MEMORY_SAMPLE_EVERY cases (process.memoryUsage is not cheap); the cap applies to
 *   the process's heap plus its array buffers (where Buffers live).
 */
import { createRng } from '../../src/core/rng.js';
import { drainMicrotasks } from '../../src/core/virtual-clock.js';
import { wallNowMs } from '../wallclock.js';
import {
  describeError,
  type FuzzBatch,
  type FuzzTarget,
  type FuzzTargetName,
  KNOWN_BUGS,
  type KnownBugId,
  Tally,
} from './fuzz-common.js';

export interface FuzzRunOptions {
  readonly seed: string;
  /** Cases per target, by target. */
  readonly cases: ReadonlyMap<FuzzTargetName, number>;
  readonly targets: readonly FuzzTarget[];
  /** Replay one case (with its batch's earlier cases) instead of running from 0. */
  readonly caseIndex?: number;
  /** Heap + array buffers above this many MiB is a failure (unbounded memory). Default 3072. */
  readonly memoryMbMax?: number;
  /** Called now and then with progress, for long runs. */
  readonly onProgress?: (line: string) => void;
  /** How to spell the replay command in failure reports. */
  readonly replayPrefix?: string;
}

export interface FuzzFailureReport {
  readonly target: FuzzTargetName;
  readonly seed: string;
  readonly caseIndex: number;
  readonly message: string;
  readonly replay: string;
}

export interface FuzzTargetReport {
  readonly target: FuzzTargetName;
  readonly cases: number;
  readonly tally: Tally;
  readonly elapsedMs: number;
  readonly memoryMbMax: number;
  readonly failure?: FuzzFailureReport;
}

const MEMORY_SAMPLE_EVERY = 256;
const PROGRESS_EVERY_MS = 10_000;

/** Rejections nobody handled, while a case runs (process-wide: one runner at a time). */
const unhandled: unknown[] = [];
let listening = 0;
const onUnhandled = (reason: unknown) => {
  unhandled.push(reason);
};

function memoryMb(): number {
  const usage = process.memoryUsage();
  return Math.round((usage.heapUsed + usage.arrayBuffers) / (1024 * 1024));
}

/** The fuzzer's own speed, on the wall clock (sim/wallclock.ts); nothing it measures feeds a case. */
const wallNow = wallNowMs;

export async function runFuzz(options: FuzzRunOptions): Promise<FuzzTargetReport[]> {
  if (listening++ === 0) process.on('unhandledRejection', onUnhandled);
  try {
    const reports: FuzzTargetReport[] = [];
    for (const target of options.targets) reports.push(await runTarget(target, options));
    return reports;
  } finally {
    if (--listening === 0) process.off('unhandledRejection', onUnhandled);
  }
}

async function runTarget(target: FuzzTarget, options: FuzzRunOptions): Promise<FuzzTargetReport> {
  const tally = new Tally();
  const startedMs = wallNow();
  let lastProgressMs = startedMs;
  const memoryCap = options.memoryMbMax ?? 3072;
  let memoryMax = memoryMb();
  const replay = (caseIndex: number) =>
    `${options.replayPrefix ?? 'npm run fuzz --'} --seed ${options.seed} --only ${target.name} --case ${caseIndex}`;
  const first =
    options.caseIndex === undefined ? 0 : options.caseIndex - (options.caseIndex % target.batchSize);
  const end = options.caseIndex === undefined ? (options.cases.get(target.name) ?? 0) : options.caseIndex + 1;
  let batch: FuzzBatch | undefined;
  let batchIndex = -1;
  let ran = 0;
  let failure: FuzzFailureReport | undefined;
  const fail = (caseIndex: number, message: string) => {
    failure = { target: target.name, seed: options.seed, caseIndex, message, replay: replay(caseIndex) };
  };
  unhandled.length = 0;
  for (let caseIndex = first; caseIndex < end && failure === undefined; caseIndex++) {
    const wanted = Math.floor(caseIndex / target.batchSize);
    try {
      if (batchIndex !== wanted) {
        if (batch !== undefined) await batch.close();
        batch = undefined;
        batch = await target.openBatch(options.seed, wanted);
        batchIndex = wanted;
      }
      await batch!.runCase(createRng(`${options.seed}/${target.name}/${caseIndex}`), caseIndex, tally);
      await drainMicrotasks();
    } catch (error) {
      fail(caseIndex, describeError(error, 14));
      break;
    }
    ran++;
    if (unhandled.length > 0) {
      fail(caseIndex, `unhandled promise rejection: ${describeError(unhandled[0], 14)}`);
      break;
    }
    if (ran % MEMORY_SAMPLE_EVERY === 0) {
      const mb = memoryMb();
      memoryMax = Math.max(memoryMax, mb);
      if (mb > memoryCap) {
        fail(
          caseIndex,
          `memory: heap + buffers at ${mb} MiB, above the ${memoryCap} MiB cap (unbounded memory)`,
        );
        break;
      }
    }
    const nowMs = wallNow();
    if (options.onProgress && nowMs - lastProgressMs > PROGRESS_EVERY_MS) {
      lastProgressMs = nowMs;
      const rate = Math.round((ran * 1000) / (nowMs - startedMs));
      options.onProgress(`fuzz ${target.name}: ${ran}/${end - first} cases (${rate}/s), ${mb()} MiB`);
    }
  }
  try {
    if (batch !== undefined) await batch.close();
    await drainMicrotasks();
    if (failure === undefined && unhandled.length > 0)
      fail(end - 1, `unhandled promise rejection while closing: ${describeError(unhandled[0], 14)}`);
  } catch (error) {
    if (failure === undefined) fail(end - 1, `closing the last batch: ${describeError(error, 14)}`);
  }
  memoryMax = Math.max(memoryMax, memoryMb());
  return {
    target: target.name,
    cases: ran,
    tally,
    elapsedMs: Math.round(wallNow() - startedMs),
    memoryMbMax: memoryMax,
    ...(failure === undefined ? {} : { failure }),
  };
}

function mb(): number {
  return memoryMb();
}

/** Outcome kinds by what they say: the target's protocol answers, connections dropped, known bugs. */
const ANSWER_PREFIXES = ['answer:', 'scsi:', 'io:', 'open:', 'good:'];
const DROP_PREFIXES = ['drop:', 'closed-by-store', 'stop:'];

function pick(tally: Tally, prefixes: readonly string[]): Tally {
  const picked = new Tally();
  for (const [kind, count] of tally.counts)
    if (prefixes.some((p) => kind.startsWith(p))) picked.add(kind, count);
  return picked;
}

/** The report as text lines: per target its counts, then each failure with its replay line. */
export function describeReports(reports: readonly FuzzTargetReport[]): string[] {
  const lines: string[] = [];
  for (const report of reports) {
    const rate = report.elapsedMs > 0 ? Math.round((report.cases * 1000) / report.elapsedMs) : report.cases;
    lines.push(
      `fuzz ${report.target}: ${report.cases} cases in ${(report.elapsedMs / 1000).toFixed(1)} s ` +
        `(${rate}/s, memory max ${report.memoryMbMax} MiB)${report.failure ? ' FAILED' : ' ok'}`,
    );
    const answers = pick(report.tally, ANSWER_PREFIXES);
    const drops = pick(report.tally, DROP_PREFIXES);
    const known = pick(report.tally, ['known-bug:']);
    const other = new Tally();
    for (const [kind, count] of report.tally.counts)
      if (!answers.counts.has(kind) && !drops.counts.has(kind) && !known.counts.has(kind))
        other.add(kind, count);
    if (answers.counts.size > 0) lines.push(`  answers: ${answers.describe(30)}`);
    if (drops.counts.size > 0) lines.push(`  drops and stops: ${drops.describe(20)}`);
    if (known.counts.size > 0) {
      const described = [...known.counts].map(([kind, count]) => {
        const id = kind.slice('known-bug:'.length) as KnownBugId;
        return `${id}=${count} (${KNOWN_BUGS[id]?.test ?? 'no test'})`;
      });
      lines.push(`  known bugs hit (counted, not failed; --strict fails on them): ${described.join(' ')}`);
    }
    lines.push(`  inputs and other outcomes: ${other.describe(25)}`);
  }
  for (const report of reports) {
    const failure = report.failure;
    if (!failure) continue;
    lines.push(`FAILURE in ${failure.target}, seed ${failure.seed}, case ${failure.caseIndex}:`);
    for (const line of failure.message.split('\n')) lines.push(`  ${line}`);
    lines.push(`  replay: ${failure.replay}`);
  }
  return lines;
}
