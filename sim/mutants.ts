/**
 * The mutation table: realistic mistakes, each behind a test-only switch in the layer where it
 * would be made (the store, the sheepdog client, the clustered SCSI logical unit, the
 * simulator's own checking), and the proof that the simulator has teeth: `collie sim mutants`
 * runs the default swarm (or, for a mistake only a scripted scenario reaches, that scenario)
 * with each switch on and reports whether it failed, and at which seed. A switch not found
 * within the seed budget is a hole in the simulator (a fault class, workload, scenario or
 * checker missing), not a pass.
 *
 * A mutant names one switch; sim/run.ts resolves it to its layer (RunOptions.mutant).
 */
import {
  TEST_ONLY_CLUSTER_BUGS,
  type TestOnlyClusterBug,
} from '../src/scsi/cluster/test-only-cluster-bugs.js';
import { TEST_ONLY_CLIENT_BUGS, type TestOnlyClientBug } from '../src/sheepdog/client/io-runner.js';
import { TEST_ONLY_STORE_BUGS, type TestOnlyStoreBug } from '../src/store/test-only-store-bugs.js';
import { runOneSeed, runSwarm, type SeedOutcome } from './swarm.js';
import { wallNowMs } from './wallclock.js';

/** Mistakes in the simulator's own checking: the swarm must notice it stopped looking. */
export const TEST_ONLY_SIM_BUGS = {
  'skip-final-read-back': "the run's final read-back of every written block is skipped",
} as const;
export type TestOnlySimBug = keyof typeof TEST_ONLY_SIM_BUGS;

export type MutantLayer = 'store' | 'client' | 'cluster' | 'sim';

export interface Mutant {
  readonly name: string;
  readonly layer: MutantLayer;
  /** The scenario whose seeds must find it (default: the swarm). */
  readonly scenario: string;
}

/**
 * Mutants the default swarm cannot reach, and the scenario built to find each. A clustered-LU
 * mistake needs ALUA ownership and a write held past the takeover, which only the scripted
 * field scenario sets up.
 */
const MUTANT_SCENARIOS: Readonly<Record<string, string>> = {
  'no-fencing': 'partition-old-owner-alive',
};

/** Client switches that are guards rather than mistakes the swarm should hunt. */
const NOT_MUTANTS: readonly string[] = ['reads-fail'];

/** Every switch of every layer, in a stable order (store, client, cluster, simulator). */
export function allMutants(): Mutant[] {
  const mutant = (name: string, layer: MutantLayer): Mutant => ({
    name,
    layer,
    scenario: MUTANT_SCENARIOS[name] ?? 'swarm',
  });
  return [
    ...Object.keys(TEST_ONLY_STORE_BUGS).map((name) => mutant(name, 'store')),
    ...(TEST_ONLY_CLIENT_BUGS as readonly string[])
      .filter((name) => !NOT_MUTANTS.includes(name))
      .map((name) => mutant(name, 'client')),
    ...(TEST_ONLY_CLUSTER_BUGS as readonly string[]).map((name) => mutant(name, 'cluster')),
    ...Object.keys(TEST_ONLY_SIM_BUGS).map((name) => mutant(name, 'sim')),
  ];
}

/** The switch a mutant name turns on, by layer; undefined for an unknown name. */
export function resolveMutant(name: string):
  | {
      readonly storeBug?: TestOnlyStoreBug;
      readonly clientBug?: TestOnlyClientBug;
      readonly clusterBug?: TestOnlyClusterBug;
      readonly simBug?: TestOnlySimBug;
    }
  | undefined {
  if (Object.hasOwn(TEST_ONLY_STORE_BUGS, name)) return { storeBug: name as TestOnlyStoreBug };
  if ((TEST_ONLY_CLIENT_BUGS as readonly string[]).includes(name))
    return { clientBug: name as TestOnlyClientBug };
  if ((TEST_ONLY_CLUSTER_BUGS as readonly string[]).includes(name))
    return { clusterBug: name as TestOnlyClusterBug };
  if (Object.hasOwn(TEST_ONLY_SIM_BUGS, name)) return { simBug: name as TestOnlySimBug };
  return undefined;
}

export interface MutantResult {
  readonly mutant: Mutant;
  /** The lowest seed whose run failed, or undefined when every seed passed. */
  readonly foundAtSeed: number | undefined;
  readonly seedsRun: number;
  readonly realMs: number;
  readonly firstFailure: SeedOutcome | undefined;
}

export interface MutantsOptions {
  readonly seeds: number;
  readonly jobs?: number;
  readonly only?: readonly string[];
  /** Called as each mutant's search ends. */
  readonly progress?: (result: MutantResult) => void;
}

/**
 * For each mutant, its scenario (the default swarm unless MUTANT_SCENARIOS names another) from
 * seed 1 up to `seeds`, stopping at the first seed that fails with the switch on and passes
 * without it.
 */
export async function runMutants(options: MutantsOptions): Promise<MutantResult[]> {
  const mutants = allMutants().filter(
    (mutant) => options.only === undefined || options.only.includes(mutant.name),
  );
  const results: MutantResult[] = [];
  for (const mutant of mutants) {
    const startMs = wallNowMs();
    let seedFirst = 1;
    let seedsRun = 0;
    let found: SeedOutcome | undefined;
    // A seed counts only if the swarm passes it without the switch: otherwise the failure says
    // nothing about the mutant (it is a bug of its own, reported by the plain swarm).
    while (found === undefined && seedFirst <= options.seeds) {
      const summary = await runSwarm({
        scenario: mutant.scenario,
        seeds: options.seeds - seedFirst + 1,
        seedFirst,
        jobs: options.jobs ?? 1,
        mutant: mutant.name,
        stopAtFirstFailure: true,
      });
      seedsRun += summary.seeds;
      const failure = summary.firstFailure;
      if (failure === undefined) break;
      const plain = await runOneSeed({
        scenario: mutant.scenario,
        seed: failure.seed,
        coherence: true,
        clientBug: null,
        faults: null,
        mutant: null,
      });
      if (plain.outcome === 'pass') found = failure;
      else seedFirst = failure.seed + 1;
    }
    const result: MutantResult = {
      mutant,
      foundAtSeed: found?.seed,
      seedsRun,
      realMs: wallNowMs() - startMs,
      firstFailure: found,
    };
    options.progress?.(result);
    results.push(result);
  }
  return results;
}

/** One line per mutant, then a summary line: `mutants: N switches, F found within S seeds`. */
export function describeMutants(results: readonly MutantResult[], seeds: number): string[] {
  const width = Math.max(...results.map((result) => result.mutant.name.length), 8);
  const lines = results.map((result) => {
    const where = `${result.mutant.layer.padEnd(7)} ${result.mutant.name.padEnd(width)}`;
    if (result.foundAtSeed === undefined)
      return `${where}  NOT FOUND in ${result.seedsRun} seeds (${(result.realMs / 1000).toFixed(1)} s)`;
    const why = result.firstFailure?.firstProblem ?? result.firstFailure?.outcome ?? '';
    return `${where}  found at seed ${result.foundAtSeed} (${(result.realMs / 1000).toFixed(1)} s): ${why.slice(0, 160)}`;
  });
  const found = results.filter((result) => result.foundAtSeed !== undefined).length;
  lines.push(`mutants: ${results.length} switches, ${found} found within ${seeds} seeds`);
  return lines;
}
