/**
 * The wall clock, for the one thing the simulator measures in real time: how fast it runs
 * (simulated-to-real time ratio, seeds per minute). Never used to decide anything in a run.
 */
import { performance } from 'node:perf_hooks';

export function wallNowMs(): number {
  return performance.now();
}
