/**
 * The metrics of one target node: its iSCSI/SCSI counters and its sheepdog clients', in the
 * registry of its process (TargetEnvironment.metrics). Several nodes in one registry (`collie up
 * --nodes N`) each get a `node` label, or their numbers would add up; a single node gets none.
 */
import type { MetricsRegistry } from './metrics-registry.js';
import { SheepClientMetrics } from './sheep-metrics.js';
import { TargetMetrics } from './target-metrics.js';

export interface NodeMetrics {
  readonly target: TargetMetrics;
  readonly sheep: SheepClientMetrics;
}

/** `node`: the node's label when the registry holds several nodes; undefined for a lone node. */
export function nodeMetrics(registry: MetricsRegistry, node: string | undefined): NodeMetrics {
  const options = node === undefined ? {} : { node };
  return { target: new TargetMetrics(registry, options), sheep: new SheepClientMetrics(registry, options) };
}
