/**
 * Benchmark figures and how they are printed. Each (workload, column) cell keeps every round's
 * sample; tables show the median over rounds and the spread (min–max). Per pair:
 * - rates: IOPS or MiB/s (spread), each Collie column over the pair's tgt, p50/p99 latency (µs, or
 *   ms when p99 reaches 10 ms);
 * - resources: target CPU seconds per GiB moved (utime + stime over the bytes the run moved;
 *   `target+store` for sheepdog LUs) and the target's peak RSS during the run (MiB; `+store`).
 * Then the loopback ceiling with each column's share of it, and the QD256 × 16 memory point.
 */

export interface Sample {
  readonly rate: number;
  readonly bytes: number;
  readonly p50Us?: number;
  readonly p99Us?: number;
  /** CPU seconds of the target process during the run. */
  readonly cpuSeconds: number;
  /** CPU seconds of its helpers (the sheep store); 0 when it has none. */
  readonly helperCpuSeconds: number;
  /** Peak VmRSS during the run, KiB. */
  readonly rssKiB: number;
  /** Peak VmRSS of the helpers, KiB; 0 when none. */
  readonly helperRssKiB: number;
}

export class Results {
  readonly #cells = new Map<string, Sample[]>();
  readonly #errors = new Map<string, string>();

  add(workload: string, column: string, sample: Sample): void {
    const key = `${workload}\u0000${column}`;
    const samples = this.#cells.get(key) ?? [];
    samples.push(sample);
    this.#cells.set(key, samples);
  }

  fail(workload: string, column: string, error: string): void {
    this.#errors.set(`${workload}\u0000${column}`, error);
  }

  samples(workload: string, column: string): Sample[] {
    return this.#cells.get(`${workload}\u0000${column}`) ?? [];
  }

  errors(): Array<[string, string]> {
    return [...this.#errors].map(([key, error]) => [key.replace('\u0000', ' on '), error]);
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (value >= 100) return Math.round(value).toString();
  return value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)));
  const [head, ...body] = rows;
  return [
    line(head!).join(' | '),
    widths.map((width) => '-'.repeat(width)).join('-|-'),
    ...body.map((row) => line(row).join(' | ')),
  ].join('\n');
}

/** "median (min–max)", or the value alone for one round. */
function rateCell(samples: readonly Sample[]): string {
  if (samples.length === 0) return '-';
  const rates = samples.map((s) => s.rate);
  const middle = formatNumber(median(rates));
  if (samples.length === 1) return middle;
  return `${middle} (${formatNumber(Math.min(...rates))}–${formatNumber(Math.max(...rates))})`;
}

/** "p50/p99 µs", or in ms when p99 reaches 10 ms. */
export function formatLatency(p50Us: number, p99Us: number): string {
  if (!Number.isFinite(p50Us) || !Number.isFinite(p99Us)) return '-';
  if (p99Us >= 10_000) return `${formatNumber(p50Us / 1000)}/${formatNumber(p99Us / 1000)} ms`;
  return `${formatNumber(p50Us)}/${formatNumber(p99Us)} µs`;
}

function latencyCell(samples: readonly Sample[]): string {
  const p50 = samples.flatMap((s) => (s.p50Us === undefined ? [] : [s.p50Us]));
  const p99 = samples.flatMap((s) => (s.p99Us === undefined ? [] : [s.p99Us]));
  if (p50.length === 0 || p99.length === 0) return '-';
  return formatLatency(median(p50), median(p99));
}

const GIB = 1024 ** 3;

function cpuPerGibCell(samples: readonly Sample[]): string {
  const moved = samples.filter((s) => s.bytes > 0);
  if (moved.length === 0) return '-';
  const own = formatNumber(median(moved.map((s) => s.cpuSeconds / (s.bytes / GIB))));
  const helper = median(moved.map((s) => s.helperCpuSeconds / (s.bytes / GIB)));
  return moved.some((s) => s.helperCpuSeconds > 0) ? `${own}+${formatNumber(helper)}` : own;
}

function rssCell(samples: readonly Sample[]): string {
  if (samples.length === 0) return '-';
  const own = Math.round(median(samples.map((s) => s.rssKiB)) / 1024).toString();
  const helpers = samples.map((s) => s.helperRssKiB);
  return helpers.some((kib) => kib > 0) ? `${own}+${Math.round(median(helpers) / 1024)}` : own;
}

export interface Pair {
  readonly title: string;
  /** Result labels; the first is the baseline (tgt), every other column gets a ratio over it. */
  readonly columns: readonly string[];
  /** The same columns' headers inside the pair's tables ('tgt', 'Collie', ...). */
  readonly headers: readonly string[];
}

type WorkloadRow = { readonly name: string; readonly unit: string };

/** Has any sample (or failure) in these columns. */
function present(results: Results, workload: string, columns: readonly string[]): boolean {
  return columns.some((column) => results.samples(workload, column).length > 0);
}

/** A pair's two tables: rates, ratios and latency; CPU per GiB and RSS. */
export function renderPair(results: Results, workloads: readonly WorkloadRow[], pair: Pair): string {
  const [baseline, ...others] = pair.headers;
  const rateRows = [
    [
      'workload',
      'unit',
      ...pair.headers,
      ...others.map((header) => `${header}/${baseline}`),
      ...pair.headers.map((header) => `${header} p50/p99`),
    ],
  ];
  const resourceRows = [
    [
      'workload',
      ...pair.headers.map((header) => `${header} CPU s/GiB`),
      ...pair.headers.map((header) => `${header} RSS MiB`),
    ],
  ];
  for (const workload of workloads) {
    if (!present(results, workload.name, pair.columns)) continue;
    const cells = pair.columns.map((column) => results.samples(workload.name, column));
    const rate = (samples: readonly Sample[]) => median(samples.map((s) => s.rate));
    const base = rate(cells[0]!);
    rateRows.push([
      workload.name,
      workload.unit,
      ...cells.map(rateCell),
      ...cells.slice(1).map((samples) => {
        const value = rate(samples) / base;
        return Number.isFinite(value) ? value.toFixed(2) : '-';
      }),
      ...cells.map(latencyCell),
    ]);
    resourceRows.push([workload.name, ...cells.map(cpuPerGibCell), ...cells.map(rssCell)]);
  }
  return `${pair.title}\n\n${formatTable(rateRows)}\n\n${formatTable(resourceRows)}`;
}

/** The loopback ceiling per workload and what share of it each column reaches (median rates). */
export function renderLoopback(
  results: Results,
  workloads: ReadonlyArray<WorkloadRow & { loopback: boolean }>,
  loopback: string,
  columns: readonly string[],
): string {
  const rows = [['workload', 'unit', loopback, 'p50/p99', ...columns.map((column) => `${column} share`)]];
  for (const workload of workloads) {
    if (!workload.loopback) continue;
    const ceiling = results.samples(workload.name, loopback);
    if (ceiling.length === 0) continue;
    const top = median(ceiling.map((s) => s.rate));
    rows.push([
      workload.name,
      workload.unit,
      rateCell(ceiling),
      latencyCell(ceiling),
      ...columns.map((column) => {
        const samples = results.samples(workload.name, column);
        return samples.length === 0
          ? '-'
          : `${Math.round((median(samples.map((s) => s.rate)) / top) * 100)} %`;
      }),
    ]);
  }
  return formatTable(rows);
}

export interface MemoryRow {
  readonly column: string;
  readonly beforeKiB: number;
  readonly peakKiB: number;
  readonly afterKiB: number;
  /** The store's RSS before and at its peak, for sheepdog LUs. */
  readonly storeBeforeKiB?: number;
  readonly storePeakKiB?: number;
  readonly mibps?: number;
  readonly p99Us?: number;
  readonly error?: string;
}

export function renderMemory(rows: readonly MemoryRow[]): string {
  const mib = (kib: number | undefined) => (kib === undefined ? '-' : Math.round(kib / 1024).toString());
  return formatTable([
    ['target', 'RSS MiB before', 'peak', 'after', 'store RSS MiB before', 'store peak', 'MiB/s', 'p99'],
    ...rows.map((row) => [
      row.column,
      mib(row.beforeKiB),
      mib(row.peakKiB),
      mib(row.afterKiB),
      mib(row.storeBeforeKiB),
      mib(row.storePeakKiB),
      row.error ? 'FAILED' : formatNumber(row.mibps ?? Number.NaN),
      row.error || row.p99Us === undefined
        ? '-'
        : formatLatency(row.p99Us, row.p99Us).replace(/^[^/]*\//, ''),
    ]),
  ]);
}
