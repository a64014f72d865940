/**
 * The metrics of one process, or of one simulated node (the simulator runs several targets in
 * one process, so there is no global default registry: whoever builds a target or a backend
 * hands it the registry it reports to, or none). It renders the Prometheus text format for
 * `/metrics` and satisfies the admin API's `MetricsText` (src/admin/admin-api.ts) by shape.
 *
 * Rules
 * - Families are made once (counter, gauge, histogram) with fixed label names; a labelled child
 *   (one series) is resolved with `child(...values)` once per LU, session or connection and kept.
 *   Children are plain objects whose numbers are updated in place: nothing on the IO path builds
 *   a label set, hashes one or allocates. (That is why this is not prom-client: its labelled
 *   updates look the series up by its labels on every call.)
 * - Asking again for a family with the same name, type, label names (and buckets) returns the
 *   one that exists, so several targets or backends can share a registry; a different shape
 *   under a used name is a Collie bug and throws, naming both.
 * - A collected gauge (`gauge(name, help, collect)`) is read at scrape time; a collect that throws
 *   renders as a comment naming the metric and the error, and the rest of the scrape goes on.
 * - Histograms are in seconds; the default buckets (SECONDS_BUCKETS_DEFAULT, 50 µs .. 10 s)
 *   suit storage latencies. `le` is inclusive; rendered buckets are cumulative and end in +Inf.
 * - Time for latencies comes from the clock the registry is given (`nowMs()`), never from the
 *   wall clock: the node's Clock in the simulator (virtual milliseconds), and in a real process
 *   that Clock (whole milliseconds: Date.now) or a finer monotonic source (real-metrics-clock.ts).
 *   Metrics only report: nothing decides on their values.
 * - Output order is registration order (families) and creation order (children): a simulated
 *   run renders the same text every time.
 */
import type { Clock } from '../core/clock.js';
import {
  familyHeader,
  LABEL_NAME,
  labelSet,
  METRIC_NAME,
  type MetricType,
  PROMETHEUS_TEXT_CONTENT_TYPE,
  sampleLine,
} from './prometheus-text.js';

/** Where latencies are timed from: milliseconds, any origin, never going backwards (ideally). */
export type MetricsClock = Pick<Clock, 'now'>;

/** Histogram upper bounds in seconds for storage latencies: 50 µs .. 10 s (+Inf is implicit). */
export const SECONDS_BUCKETS_DEFAULT: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** One counter series: only goes up. */
export class Counter {
  #value = 0;

  inc(by = 1): void {
    if (!(by >= 0)) throw new Error(`a counter goes up only; inc(${by}) is a Collie bug`);
    this.#value += by;
  }

  get value(): number {
    return this.#value;
  }
}

/** One gauge series: set, or moved up and down. */
export class Gauge {
  #value = 0;

  set(value: number): void {
    this.#value = value;
  }

  inc(by = 1): void {
    this.#value += by;
  }

  dec(by = 1): void {
    this.#value -= by;
  }

  get value(): number {
    return this.#value;
  }
}

/** One histogram series: observations in seconds counted into fixed buckets. */
export class Histogram {
  /** Upper bounds, increasing; shared by every series of the family. */
  readonly #bounds: readonly number[];
  /** Per bucket, not cumulative; the last slot counts what is above every bound (+Inf). */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /** A negative or NaN duration (a wall clock stepped back) counts as 0. */
  observe(seconds: number): void {
    const value = seconds >= 0 ? seconds : 0;
    const bounds = this.#bounds;
    let index = 0;
    while (index < bounds.length && value > bounds[index]!) index++;
    this.#counts[index]! += 1;
    this.#sum += value;
    this.#count += 1;
  }

  get count(): number {
    return this.#count;
  }

  get sum(): number {
    return this.#sum;
  }

  /** Cumulative counts per bound, then the +Inf count (= count). */
  cumulativeCounts(): number[] {
    const cumulative: number[] = [];
    let running = 0;
    for (const count of this.#counts) {
      running += count;
      cumulative.push(running);
    }
    return cumulative;
  }
}

interface FamilyShape {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  /** Histograms only. */
  readonly buckets?: readonly number[];
}

/** A metric family: its series by label values. */
export class Family<Series> {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[] | undefined;
  readonly #make: () => Series;
  readonly #children = new Map<string, { readonly values: readonly string[]; readonly series: Series }>();

  constructor(shape: FamilyShape, make: () => Series) {
    this.name = shape.name;
    this.help = shape.help;
    this.type = shape.type;
    this.labelNames = shape.labelNames;
    this.buckets = shape.buckets;
    this.#make = make;
    // An unlabelled family has its one series from the start, so it renders 0 before it moves.
    if (shape.labelNames.length === 0) this.child();
  }

  /**
   * The series for these label values (one per label name, in order), made on first use. Resolve
   * it once and keep it: this builds a key string.
   */
  child(...values: string[]): Series {
    if (values.length !== this.labelNames.length) {
      throw new Error(
        `metric ${this.name} has labels [${this.labelNames.join(', ')}] but was given ${values.length} value(s) [${values.join(', ')}]; pass one value per label`,
      );
    }
    const key = JSON.stringify(values);
    let entry = this.#children.get(key);
    if (entry === undefined) {
      entry = { values: [...values], series: this.#make() };
      this.#children.set(key, entry);
    }
    return entry.series;
  }

  /** Every series made so far, in creation order. */
  series(): Array<{ readonly values: readonly string[]; readonly series: Series }> {
    return [...this.#children.values()];
  }
}

interface CollectedGauge {
  readonly name: string;
  readonly help: string;
  readonly collect: () => number;
}

type Registered =
  | { readonly kind: 'family'; readonly family: Family<Counter | Gauge | Histogram> }
  | { readonly kind: 'collected'; readonly gauge: CollectedGauge };

export interface MetricsRegistryOptions {
  /** What latencies are timed with (see the file comment). */
  readonly clock: MetricsClock;
}

export class MetricsRegistry {
  /** The Content-Type of render()'s text (Prometheus text format 0.0.4). */
  readonly contentType = PROMETHEUS_TEXT_CONTENT_TYPE;
  readonly #clock: MetricsClock;
  readonly #registered = new Map<string, Registered>();

  constructor(options: MetricsRegistryOptions) {
    this.#clock = options.clock;
  }

  /** Milliseconds from the registry's clock (latency = difference of two readings). */
  nowMs(): number {
    return this.#clock.now();
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Family<Counter> {
    return this.#family({ name, help, type: 'counter', labelNames }, () => new Counter()) as Family<Counter>;
  }

  /**
   * A gauge family whose series the code sets; or, given `collect`, one unlabelled gauge read at
   * scrape time (e.g. `registry.gauge('collie_scsi_tasks_active', 'help', () => server.activeTaskCount)`).
   */
  gauge(name: string, help: string, labelNames?: readonly string[]): Family<Gauge>;
  gauge(name: string, help: string, collect: () => number): void;
  gauge(
    name: string,
    help: string,
    labelsOrCollect: readonly string[] | (() => number) = [],
  ): Family<Gauge> | undefined {
    if (typeof labelsOrCollect === 'function') {
      this.#checkName(name, help);
      if (this.#registered.has(name)) {
        throw new Error(
          `metric ${name} is registered already; a collected gauge needs a name of its own (pick another name or drop the second registration)`,
        );
      }
      this.#registered.set(name, { kind: 'collected', gauge: { name, help, collect: labelsOrCollect } });
      return undefined;
    }
    return this.#family(
      { name, help, type: 'gauge', labelNames: labelsOrCollect },
      () => new Gauge(),
    ) as Family<Gauge>;
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets: readonly number[] = SECONDS_BUCKETS_DEFAULT,
  ): Family<Histogram> {
    for (let i = 0; i < buckets.length; i++) {
      const bound = buckets[i]!;
      if (!Number.isFinite(bound) || (i > 0 && bound <= buckets[i - 1]!)) {
        throw new Error(
          `histogram ${name}: buckets [${buckets.join(', ')}] must be finite and strictly increasing (+Inf is added by itself)`,
        );
      }
    }
    if (buckets.length === 0) throw new Error(`histogram ${name}: give it at least one bucket bound`);
    if (labelNames.includes('le'))
      throw new Error(`histogram ${name}: 'le' is the bucket label; rename yours`);
    const bounds = [...buckets];
    return this.#family(
      { name, help, type: 'histogram', labelNames, buckets: bounds },
      () => new Histogram(bounds),
    ) as Family<Histogram>;
  }

  /** The Prometheus text of every metric (MetricsText.render). */
  render(): Promise<string> {
    return Promise.resolve(this.renderText());
  }

  /** As render(), synchronously. */
  renderText(): string {
    let text = '';
    for (const registered of this.#registered.values()) {
      text +=
        registered.kind === 'family' ? renderFamily(registered.family) : renderCollected(registered.gauge);
    }
    return text;
  }

  #family(shape: FamilyShape, make: () => Counter | Gauge | Histogram): Family<Counter | Gauge | Histogram> {
    this.#checkName(shape.name, shape.help);
    for (const label of shape.labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__')) {
        throw new Error(
          `metric ${shape.name}: label name "${label}" is not valid (letters, digits, _; not starting with a digit or __)`,
        );
      }
    }
    if (new Set(shape.labelNames).size !== shape.labelNames.length) {
      throw new Error(`metric ${shape.name}: label names [${shape.labelNames.join(', ')}] repeat one`);
    }
    const existing = this.#registered.get(shape.name);
    if (existing === undefined) {
      const family = new Family(shape, make);
      this.#registered.set(shape.name, { kind: 'family', family });
      return family;
    }
    if (existing.kind === 'family' && sameShape(existing.family, shape)) return existing.family;
    const was =
      existing.kind === 'family'
        ? `${existing.family.type} [${existing.family.labelNames.join(', ')}]`
        : 'collected gauge';
    throw new Error(
      `metric ${shape.name} is registered as a ${was}, now asked for as a ${shape.type} [${shape.labelNames.join(', ')}]; one name, one shape: rename one of them`,
    );
  }

  #checkName(name: string, help: string): void {
    if (!METRIC_NAME.test(name)) {
      throw new Error(
        `metric name "${name}" is not valid (letters, digits, _ and :, not starting with a digit)`,
      );
    }
    if (help.trim() === '') throw new Error(`metric ${name}: give it HELP text saying what it counts`);
  }
}

function sameShape(family: Family<unknown>, shape: FamilyShape): boolean {
  return (
    family.type === shape.type &&
    family.labelNames.length === shape.labelNames.length &&
    family.labelNames.every((label, i) => label === shape.labelNames[i]) &&
    (family.buckets ?? []).join(',') === (shape.buckets ?? []).join(',')
  );
}

function renderFamily(family: Family<Counter | Gauge | Histogram>): string {
  let text = familyHeader(family.name, family.help, family.type);
  for (const { values, series } of family.series()) {
    if (series instanceof Histogram) {
      const bounds = family.buckets ?? [];
      const cumulative = series.cumulativeCounts();
      for (let i = 0; i < bounds.length; i++) {
        const le = labelSet(family.labelNames, values, ['le', String(bounds[i])]);
        text += sampleLine(`${family.name}_bucket`, le, cumulative[i]!);
      }
      text += sampleLine(
        `${family.name}_bucket`,
        labelSet(family.labelNames, values, ['le', '+Inf']),
        series.count,
      );
      const labels = labelSet(family.labelNames, values);
      text += sampleLine(`${family.name}_sum`, labels, series.sum);
      text += sampleLine(`${family.name}_count`, labels, series.count);
    } else {
      text += sampleLine(family.name, labelSet(family.labelNames, values), series.value);
    }
  }
  return text;
}

function renderCollected(gauge: CollectedGauge): string {
  let value: number;
  try {
    value = gauge.collect();
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).replace(/\n/g, ' ');
    return `# collecting ${gauge.name} failed: ${why}\n`;
  }
  return familyHeader(gauge.name, gauge.help, 'gauge') + sampleLine(gauge.name, '', value);
}
