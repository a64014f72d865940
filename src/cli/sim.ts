/**
 * `collie sim`: the deterministic multipath simulator (docs/simulation.md).
 *
 *   collie sim list
 *   collie sim run --scenario NAME [--seed N] [--no-coherence] [--events FILE] [--client-bug BUG] [--faults LIST]
 *                  [--inspect [HOST:]PORT]   (serves the run's events; keeps serving after it until Ctrl-C)
 *   collie sim swarm --seeds N [--jobs K] [--scenario NAME] [--seed-first S] [--no-coherence] ...
 *   collie sim replay FILE
 *   collie sim mutants [--seeds N] [--jobs K] [--only LIST]
 *   collie sim bench [--scenario NAME] [--seeds N]
 *
 * Exit codes: 0 the checkers passed, 1 a violation, 2 a usage error, 3 a liveness failure (the
 * run did not converge after healing). A `run` that switched a safety mechanism off on purpose
 * (--no-coherence, --client-bug, --mutant) demonstrates a failure: its violation is reported and
 * recorded like any other, and it exits 0. Thin: parse, check, hand over to sim/.
 */
import { type Command, type CommanderError, InvalidArgumentError } from 'commander';
import { describeBench, runBench } from '../../sim/bench.js';
import { FAULT_CLASSES, type FaultClass } from '../../sim/faults.js';
import { allMutants, describeMutants, resolveMutant, runMutants } from '../../sim/mutants.js';
import { replayFile } from '../../sim/replay.js';
import { ReplayFileError } from '../../sim/replay-header.js';
import { type RunResult, runScenario } from '../../sim/run.js';
import { findScenario, SCENARIOS } from '../../sim/scenarios/index.js';
import { runSwarm, summaryLine } from '../../sim/swarm.js';
import type { ListenSpec } from '../inspect/inspector-server.js';
import { TEST_ONLY_CLIENT_BUGS, type TestOnlyClientBug } from '../sheepdog/client/io-runner.js';
import { inspectOption, type LiveInspector, startLiveInspector, untilStopped } from './inspect.js';
import { noProgressOption, Progress } from './progress.js';

export const SIM_EXIT = { pass: 0, violation: 1, usage: 2, stuck: 3 } as const;

interface RunFlags {
  mutant?: string;
  scenario: string;
  seed?: number;
  coherence: boolean;
  events?: string;
  clientBug?: TestOnlyClientBug;
  faults?: FaultClass[];
  inspect?: ListenSpec;
}

interface SwarmFlags {
  mutant?: string;
  scenario: string;
  seeds: number;
  seedFirst: number;
  jobs: number;
  coherence: boolean;
  clientBug?: TestOnlyClientBug;
  faults?: FaultClass[];
  /** false with --no-progress. */
  progress: boolean;
}

function integer(flag: string, min: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < min)
      throw new InvalidArgumentError(`${flag} needs a whole number >= ${min}, got "${value}"`);
    return parsed;
  };
}

function scenarioName(value: string): string {
  const scenario = findScenario(value);
  if (scenario === undefined)
    throw new InvalidArgumentError(`no scenario "${value}"; see the list with: collie sim list`);
  if (scenario.notYet !== undefined)
    throw new InvalidArgumentError(`scenario "${value}" is not supported yet: ${scenario.notYet}`);
  return value;
}

function clientBug(value: string): TestOnlyClientBug {
  if (!(TEST_ONLY_CLIENT_BUGS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`--client-bug: one of ${TEST_ONLY_CLIENT_BUGS.join(', ')}`);
  return value as TestOnlyClientBug;
}

function mutantName(value: string): string {
  if (resolveMutant(value) === undefined)
    throw new InvalidArgumentError(
      `--mutant: one of ${allMutants()
        .map((mutant) => mutant.name)
        .join(', ')}`,
    );
  return value;
}

function faultList(value: string): FaultClass[] {
  if (value === 'none') return [];
  const faults = value === 'all' ? [...FAULT_CLASSES] : value.split(',').map((name) => name.trim());
  for (const fault of faults) {
    if (!(FAULT_CLASSES as readonly string[]).includes(fault))
      throw new InvalidArgumentError(
        `--faults: "${fault}" is not one of ${FAULT_CLASSES.join(', ')} (or all, none)`,
      );
  }
  return faults as FaultClass[];
}

const print = (line: string) => process.stdout.write(`${line}\n`);

/**
 * What a `sim run` switched off on purpose (the store's coherence, a test-only bug): such a run
 * demonstrates a failure, so the violation it shows is its expected result, not an error.
 */
function safetyOffOnPurpose(flags: RunFlags): string | undefined {
  const off = [
    ...(flags.coherence ? [] : ["the store's coherence (--no-coherence)"]),
    ...(flags.clientBug === undefined ? [] : [`--client-bug ${flags.clientBug}`]),
    ...(flags.mutant === undefined ? [] : [`--mutant ${flags.mutant}`]),
  ];
  return off.length === 0 ? undefined : off.join(', ');
}

function exitFor(result: RunResult): number {
  return result.outcome === 'pass'
    ? SIM_EXIT.pass
    : result.outcome === 'violation'
      ? SIM_EXIT.violation
      : SIM_EXIT.stuck;
}

export function registerSimCommand(program: Command): void {
  const sim = program
    .command('sim')
    .description('deterministic multipath simulator: scenarios, swarm, replay, bench')
    .exitOverride((error: CommanderError) => {
      // Help and version are not errors; everything else commander rejects is a usage error.
      process.exit(error.exitCode === 0 ? 0 : SIM_EXIT.usage);
    });

  sim
    .command('list')
    .description('list the scenarios')
    .action(() => {
      for (const scenario of SCENARIOS) {
        const field = scenario.field === undefined ? '' : ` [field ${scenario.field}]`;
        const state = scenario.notYet === undefined ? '' : ` -- not yet: ${scenario.notYet}`;
        print(`${scenario.name.padEnd(28)}${scenario.description}${field}${state}`);
      }
    });

  sim
    .command('run')
    .description('run one scenario for one seed; exit 0 pass, 1 violation, 3 stuck')
    .requiredOption('--scenario <name>', 'scenario (collie sim list)', scenarioName)
    .option('--seed <n>', 'seed (default: a random one, printed first)', integer('--seed', 0))
    .option('--no-coherence', 'store without locks and inode coherence (sheep without --lock)')
    .option('--events <file>', 'write the ordered event log here (JSONL, a header line first)')
    .option(
      '--client-bug <bug>',
      `test only: inject a client bug (${TEST_ONLY_CLIENT_BUGS.join(', ')})`,
      clientBug,
    )
    .option(
      '--mutant <name>',
      'test only: turn on one switch of the mutation table (collie sim mutants)',
      mutantName,
    )
    .option(
      '--faults <list>',
      `fault classes the swarm may use: comma list of ${FAULT_CLASSES.join(', ')}, all or none`,
      faultList,
    )
    .addOption(inspectOption())
    .action(async (flags: RunFlags) => {
      // A run without --seed still replays: the seed drawn here is printed first.
      const seed = flags.seed ?? Math.floor(Math.random() * 2 ** 31); // determinism-ok: the CLI's random seed, printed
      // The simulator has no IO path to protect: its inspector projects every event.
      let inspector: LiveInspector | undefined;
      try {
        inspector =
          flags.inspect &&
          (await startLiveInspector(flags.inspect, {
            title: `collie sim run --scenario ${flags.scenario} --seed ${seed}`,
            header: {
              scenario: flags.scenario,
              seed,
              coherence: flags.coherence,
              mutant: flags.mutant ?? null,
            },
            deferWhileIdle: null,
            keepAlive: true,
          }));
      } catch (error) {
        process.stderr.write(`collie sim run: --inspect: ${(error as Error).message}\n`);
        process.exitCode = SIM_EXIT.usage;
        return;
      }
      const result = await runScenario({
        scenario: flags.scenario,
        seed,
        coherence: flags.coherence,
        ...(flags.events === undefined ? {} : { events: flags.events }),
        ...(flags.clientBug === undefined ? {} : { clientBug: flags.clientBug }),
        ...(flags.mutant === undefined ? {} : { mutant: flags.mutant }),
        ...(flags.faults === undefined ? {} : { faults: flags.faults }),
        ...(inspector ? { extraSinks: [inspector.sink] } : {}),
        print,
      });
      process.exitCode = exitFor(result);
      const offOnPurpose = safetyOffOnPurpose(flags);
      if (result.outcome === 'violation' && offOnPurpose !== undefined) {
        // Exit 1 is kept for violations of a run with every safety mechanism on.
        print(`expected: this run switched off ${offOnPurpose}; the violation is what it shows (exit 0)`);
        process.exitCode = SIM_EXIT.pass;
      }
      if (flags.events !== undefined) print(`inspect it: collie inspect ${flags.events}`);
      if (inspector) {
        inspector.source.dispose(); // no more events: meta says live false
        print(`inspector: the run is over; still serving ${inspector.url} until Ctrl-C`);
        await untilStopped();
        await inspector.close();
      }
    });

  sim
    .command('swarm')
    .description('run many seeds (in parallel with --jobs); prints one summary line')
    .requiredOption('--seeds <n>', 'how many seeds', integer('--seeds', 1))
    .option('--seed-first <n>', 'first seed', integer('--seed-first', 0), 1)
    .option('--jobs <k>', 'worker processes', integer('--jobs', 1), 1)
    .option('--scenario <name>', 'scenario', scenarioName, 'swarm')
    .option('--no-coherence', 'store without locks and inode coherence')
    .option(
      '--client-bug <bug>',
      `test only: inject a client bug (${TEST_ONLY_CLIENT_BUGS.join(', ')})`,
      clientBug,
    )
    .option(
      '--mutant <name>',
      'test only: turn on one switch of the mutation table (collie sim mutants)',
      mutantName,
    )
    .option('--faults <list>', 'fault classes the swarm may use (comma list, all or none)', faultList)
    .addOption(noProgressOption())
    .action(async (flags: SwarmFlags) => {
      // One line on a terminal (seeds done, rate, time left, failures); nothing in a pipe.
      const progress = new Progress({
        label: 'swarm',
        unit: 'seeds',
        total: flags.seeds,
        enabled: flags.progress,
      });
      const summary = await runSwarm({
        scenario: flags.scenario,
        seeds: flags.seeds,
        seedFirst: flags.seedFirst,
        jobs: flags.jobs,
        coherence: flags.coherence,
        ...(flags.clientBug === undefined ? {} : { clientBug: flags.clientBug }),
        ...(flags.mutant === undefined ? {} : { mutant: flags.mutant }),
        ...(flags.faults === undefined ? {} : { faults: flags.faults }),
        progress: (done, _total, failed) => progress.update(done, `${failed} failed`),
      });
      progress.finish();
      const seconds = summary.realMs / 1000;
      print(
        `swarm: ${flags.scenario}, ${(summary.seeds / seconds) * 60 >= 1 ? ((summary.seeds / seconds) * 60).toFixed(0) : '<1'} seeds/min with ${flags.jobs} job(s), simulated ${(summary.simulatedMs / 1000).toFixed(0)} s in ${seconds.toFixed(1)} s real`,
      );
      if (summary.firstFailure?.firstProblem) print(`first failure: ${summary.firstFailure.firstProblem}`);
      print(summaryLine(summary));
      process.exitCode =
        summary.failed === 0
          ? SIM_EXIT.pass
          : summary.stuck === summary.failed
            ? SIM_EXIT.stuck
            : SIM_EXIT.violation;
    });

  sim
    .command('replay <file>')
    .description('re-run the run an --events file recorded and compare the event logs')
    .action(async (file: string) => {
      let replay: Awaited<ReturnType<typeof replayFile>>;
      try {
        replay = await replayFile(file, print);
      } catch (error) {
        if (!(error instanceof ReplayFileError)) throw error;
        process.stderr.write(`collie sim replay: ${error.message}\n`);
        process.exitCode = SIM_EXIT.usage;
        return;
      }
      if (replay.same) {
        print(`replay: the same event log (digest ${replay.recordedDigest})`);
        process.exitCode = exitFor(replay.run);
        return;
      }
      print(`replay: DIFFERENT event log: recorded ${replay.recordedDigest}, replayed ${replay.run.digest}`);
      if (replay.firstDifference) {
        print(`  first difference at event line ${replay.firstDifference.line}:`);
        print(`    recorded: ${replay.firstDifference.recorded}`);
        print(`    replayed: ${replay.firstDifference.replayed}`);
      }
      process.exitCode = SIM_EXIT.violation;
    });

  sim
    .command('mutants')
    .description(
      'run each test-only bug switch in the default swarm (or the scenario that names it); every one must be found',
    )
    .option('--seeds <n>', 'seeds per switch (it stops at the first failing one)', integer('--seeds', 1), 300)
    .option('--jobs <k>', 'worker processes', integer('--jobs', 1), 2)
    .option('--only <list>', 'comma list of switch names (default: all)')
    .action(async (flags: { seeds: number; jobs: number; only?: string }) => {
      const only = flags.only?.split(',').map((name) => name.trim());
      for (const name of only ?? []) {
        if (resolveMutant(name) === undefined) {
          process.stderr.write(
            `collie sim mutants: no switch "${name}"; one of ${allMutants()
              .map((mutant) => mutant.name)
              .join(', ')}\n`,
          );
          process.exitCode = SIM_EXIT.usage;
          return;
        }
      }
      const results = await runMutants({
        seeds: flags.seeds,
        jobs: flags.jobs,
        ...(only === undefined ? {} : { only }),
        progress: (result) =>
          process.stderr.write(
            `mutants: ${result.mutant.name} ${result.foundAtSeed === undefined ? 'not found' : `found at seed ${result.foundAtSeed}`}\n`,
          ),
      });
      for (const line of describeMutants(results, flags.seeds)) print(line);
      // Every switch must be found: one that is not means the simulator lacks teeth there.
      process.exitCode = results.every((result) => result.foundAtSeed !== undefined)
        ? SIM_EXIT.pass
        : SIM_EXIT.violation;
    });

  sim
    .command('bench')
    .description('simulated-to-real time and simulated IOs per second of a scenario (one core)')
    .option('--scenario <name>', 'scenario', scenarioName, 'seed-failover')
    .option('--seeds <n>', 'seeds to run', integer('--seeds', 1), 200)
    .action(async (flags: { scenario: string; seeds: number }) => {
      const result = await runBench({ scenario: flags.scenario, seeds: flags.seeds });
      for (const line of describeBench(result)) print(line);
    });
}
