/**
 * `collie sim bench`: how fast the simulator runs a scenario, in this process: simulated time
 * over real time, simulated IOs per real second, and seeds per minute (one core).
 */
import { runScenario } from './run.js';
import { wallNowMs } from './wallclock.js';

export interface BenchResult {
  readonly scenario: string;
  readonly seeds: number;
  readonly realMs: number;
  readonly simulatedMs: number;
  readonly ios: number;
  readonly events: number;
}

export async function runBench(options: {
  scenario: string;
  seeds: number;
  seedFirst?: number;
}): Promise<BenchResult> {
  const startMs = wallNowMs();
  let simulatedMs = 0;
  let ios = 0;
  let events = 0;
  for (let index = 0; index < options.seeds; index++) {
    const result = await runScenario({ scenario: options.scenario, seed: (options.seedFirst ?? 1) + index });
    simulatedMs += result.stats.simulatedMs;
    ios += result.stats.ios;
    events += result.stats.events;
  }
  return {
    scenario: options.scenario,
    seeds: options.seeds,
    realMs: wallNowMs() - startMs,
    simulatedMs,
    ios,
    events,
  };
}

export function describeBench(result: BenchResult): string[] {
  const realSeconds = result.realMs / 1000;
  return [
    `bench: ${result.scenario}, ${result.seeds} seeds in ${realSeconds.toFixed(2)} s real (one core)`,
    `simulated-to-real time: ${(result.simulatedMs / result.realMs).toFixed(1)}x (${(result.simulatedMs / 1000).toFixed(1)} s simulated)`,
    `simulated IOs per real second: ${(result.ios / realSeconds).toFixed(0)} (${result.ios} IOs)`,
    `events per real second: ${(result.events / realSeconds).toFixed(0)}`,
    `seeds per minute: ${((result.seeds / realSeconds) * 60).toFixed(0)}`,
  ];
}
