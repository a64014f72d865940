/**
 * The metrics clock of a real process: performance.now, monotonic and finer than a millisecond,
 * so the 50 µs buckets of the latency histograms mean something (the real Clock is Date.now:
 * whole milliseconds, and it steps when the wall clock is set).
 *
 * Rules: only a MetricsRegistry reads it, and nothing decides on what metrics say, so it cannot
 * make a run differ; the simulator gives its registry the virtual Clock instead.
 */
import type { MetricsClock } from './metrics-registry.js';

export const realMetricsClock: MetricsClock = {
  now(): number {
    return performance.now();
  },
};
