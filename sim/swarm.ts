/**
 * Many seeds of one scenario (by default the swarm scenario), in this process or in `jobs`
 * worker processes (node:child_process fork of swarm-worker.js), with progress on stderr and one
 * summary line:
 *   swarm: N seeds, P passed, F failed (first failing seed S: collie sim run ...)
 * Results do not depend on `jobs`: each seed's run is the same wherever it runs, and the first
 * failing seed is the lowest one.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestOnlyClientBug } from '../src/sheepdog/client/io-runner.js';
import type { FaultClass } from './faults.js';
import { runScenario } from './run.js';
import { wallNowMs } from './wallclock.js';

export interface SwarmOptions {
  readonly scenario?: string;
  readonly seeds: number;
  readonly seedFirst?: number;
  readonly jobs?: number;
  readonly coherence?: boolean;
  readonly clientBug?: TestOnlyClientBug;
  readonly faults?: readonly FaultClass[];
  /** A mistake put in on purpose (sim/mutants.ts): the swarm is expected to find it. */
  readonly mutant?: string;
  /**
   * Stop handing out seeds above the first one that fails; seeds below it still run, so the
   * failing seed reported is still the lowest (seeds are handed out in order).
   */
  readonly stopAtFirstFailure?: boolean;
  /** Called after each seed (in completion order). */
  readonly progress?: (done: number, total: number, failed: number) => void;
}

/** What a worker sends back for one seed. */
export interface SeedOutcome {
  readonly seed: number;
  readonly outcome: 'pass' | 'violation' | 'stuck';
  readonly digest: string;
  readonly simulatedMs: number;
  readonly realMs: number;
  readonly ios: number;
  readonly replayCommand: string;
  readonly firstProblem: string | null;
}

export interface SwarmSummary {
  readonly scenario: string;
  readonly seeds: number;
  readonly passed: number;
  readonly failed: number;
  readonly stuck: number;
  readonly firstFailure: SeedOutcome | undefined;
  readonly realMs: number;
  readonly simulatedMs: number;
  readonly ios: number;
  readonly outcomes: readonly SeedOutcome[];
}

export interface SeedRequest {
  readonly scenario: string;
  readonly seed: number;
  readonly coherence: boolean;
  readonly clientBug: TestOnlyClientBug | null;
  readonly faults: readonly FaultClass[] | null;
  readonly mutant: string | null;
}

export async function runOneSeed(request: SeedRequest): Promise<SeedOutcome> {
  const result = await runScenario({
    scenario: request.scenario,
    seed: request.seed,
    coherence: request.coherence,
    ...(request.clientBug === null ? {} : { clientBug: request.clientBug }),
    ...(request.faults === null ? {} : { faults: request.faults }),
    ...(request.mutant === null ? {} : { mutant: request.mutant }),
  });
  return {
    seed: request.seed,
    outcome: result.outcome,
    digest: result.digest,
    simulatedMs: result.stats.simulatedMs,
    realMs: result.stats.realMs,
    ios: result.stats.ios,
    replayCommand: result.replayCommand,
    firstProblem: result.violations[0]?.message ?? result.pending,
  };
}

export async function runSwarm(options: SwarmOptions): Promise<SwarmSummary> {
  const scenario = options.scenario ?? 'swarm';
  const seedFirst = options.seedFirst ?? 1;
  const requests: SeedRequest[] = Array.from({ length: options.seeds }, (_, index) => ({
    scenario,
    seed: seedFirst + index,
    coherence: options.coherence ?? true,
    clientBug: options.clientBug ?? null,
    faults: options.faults === undefined ? null : [...options.faults],
    mutant: options.mutant ?? null,
  }));
  const startMs = wallNowMs();
  const outcomes: SeedOutcome[] = [];
  let failed = 0;
  let lowestFailing = Number.POSITIVE_INFINITY;
  const record = (outcome: SeedOutcome) => {
    outcomes.push(outcome);
    if (outcome.outcome !== 'pass') {
      failed += 1;
      lowestFailing = Math.min(lowestFailing, outcome.seed);
    }
    options.progress?.(outcomes.length, requests.length, failed);
  };
  const wanted = (request: SeedRequest) => !options.stopAtFirstFailure || request.seed < lowestFailing;
  const jobs = Math.max(1, Math.min(options.jobs ?? 1, requests.length));
  if (jobs === 1) {
    for (const request of requests) if (wanted(request)) record(await runOneSeed(request));
  } else {
    await runInWorkers(requests, jobs, record, wanted);
  }
  outcomes.sort((a, b) => a.seed - b.seed);
  const failures = outcomes.filter((outcome) => outcome.outcome !== 'pass');
  return {
    scenario,
    seeds: outcomes.length,
    passed: outcomes.length - failures.length,
    failed: failures.length,
    stuck: failures.filter((outcome) => outcome.outcome === 'stuck').length,
    firstFailure: failures[0],
    realMs: wallNowMs() - startMs,
    simulatedMs: outcomes.reduce((sum, outcome) => sum + outcome.simulatedMs, 0),
    ios: outcomes.reduce((sum, outcome) => sum + outcome.ios, 0),
    outcomes,
  };
}

export function summaryLine(summary: SwarmSummary): string {
  const first = summary.firstFailure;
  const tail = first ? ` (first failing seed ${first.seed}: ${first.replayCommand})` : '';
  const stuck = summary.stuck > 0 ? `, ${summary.stuck} of them stuck` : '';
  return `swarm: ${summary.seeds} seeds, ${summary.passed} passed, ${summary.failed} failed${stuck}${tail}`;
}

/** The compiled worker: next to this file in dist/, or dist/sim/ when this runs from source. */
function workerPath(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return join(dirname(here), 'swarm-worker.js');
  const compiled = join(dirname(here), '..', 'dist', 'sim', 'swarm-worker.js');
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: build first (npm run build)`);
  return compiled;
}

async function runInWorkers(
  requests: readonly SeedRequest[],
  jobs: number,
  record: (outcome: SeedOutcome) => void,
  wanted: (request: SeedRequest) => boolean,
): Promise<void> {
  const path = workerPath();
  let next = 0;
  const workers: ChildProcess[] = [];
  try {
    await Promise.all(
      Array.from({ length: jobs }, async () => {
        const worker = fork(path, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        workers.push(worker);
        for (;;) {
          const request = requests[next];
          if (request === undefined || !wanted(request)) break;
          next += 1;
          record(await ask(worker, request));
        }
        worker.disconnect();
      }),
    );
  } finally {
    for (const worker of workers) if (worker.exitCode === null && worker.connected) worker.kill();
  }
}

function ask(worker: ChildProcess, request: SeedRequest): Promise<SeedOutcome> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: SeedOutcome | { error: string }) => {
      cleanup();
      if ('error' in message) reject(new Error(`seed ${request.seed}: ${message.error}`));
      else resolve(message);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`a swarm worker exited (code ${code}) while running seed ${request.seed}`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('exit', onExit);
    worker.send(request);
  });
}
