/**
 * The Prometheus text exposition format, version 0.0.4: the few pieces every metric family is
 * written with (HELP and TYPE lines, one sample line, label escaping, numbers).
 *
 * Rules (https://prometheus.io/docs/instrumenting/exposition_formats/)
 * - A family is `# HELP name text`, `# TYPE name type`, then its samples, one per line, each
 *   `name{label="value",...} number`; the output ends with a newline.
 * - HELP text escapes `\` and newline; a label value escapes `\`, `"` and newline.
 * - Numbers are Go float syntax: `+Inf`, `-Inf`, `NaN`, else JavaScript's shortest decimal form
 *   (which may carry an exponent, e.g. `5e-7`, which Go's ParseFloat reads).
 * - Names are checked where families are made (metrics-registry.ts), not here: this file only
 *   formats.
 */

export const PROMETHEUS_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** A metric name: letters, digits, `_` and `:`, not starting with a digit. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** A label name: letters, digits and `_`, not starting with a digit (`__` prefixes are reserved). */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function formatNumber(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

/** `# HELP ...` and `# TYPE ...`, each ending in a newline. */
export function familyHeader(name: string, help: string, type: MetricType): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/**
 * The `{a="x",b="y"}` part for `names` and `values` (the same length), or '' without labels.
 * `extra` is one more pair written last (a histogram bucket's `le`).
 */
export function labelSet(
  names: readonly string[],
  values: readonly string[],
  extra?: readonly [string, string],
): string {
  const pairs: string[] = [];
  for (let i = 0; i < names.length; i++) pairs.push(`${names[i]}="${escapeLabelValue(values[i] ?? '')}"`);
  if (extra !== undefined) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** One sample line, ending in a newline. `labels` is what labelSet made. */
export function sampleLine(name: string, labels: string, value: number): string {
  return `${name}${labels} ${formatNumber(value)}\n`;
}
