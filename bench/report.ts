/**
 * Benchmark figures and how they are printed: each (workload, target) cell keeps every round's
 * rate and CPU use; the tables show medians. CPU use is in cores: CPU seconds of the target
 * process over the run's wall seconds.
 */

export interface Sample {
  readonly rate: number;
  readonly targetCores: number;
  /** CPU of the target's helper processes (the sheep store); 0 when it has none. */
  readonly helperCores: number;
}

export class Results {
  readonly #cells = new Map<string, Sample[]>();
  readonly #errors = new Map<string, string>();

  add(workload: string, target: string, sample: Sample): void {
    const key = `${workload}\u0000${target}`;
    const samples = this.#cells.get(key) ?? [];
    samples.push(sample);
    this.#cells.set(key, samples);
  }

  fail(workload: string, target: string, error: string): void {
    this.#errors.set(`${workload}\u0000${target}`, error);
  }

  samples(workload: string, target: string): Sample[] {
    return this.#cells.get(`${workload}\u0000${target}`) ?? [];
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

function formatRate(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return value >= 100 ? Math.round(value).toString() : value.toFixed(1);
}

function formatTable(rows: string[][]): string {
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

/**
 * Two tables: rates (the last column is the first Collie column over tgt, both on a file LUN)
 * and CPU cores of the target process (plus the sheep store's, after a '+').
 */
export function renderTables(
  results: Results,
  workloads: ReadonlyArray<{ name: string; unit: string }>,
  targets: readonly string[],
  ratio: { numerator: string; denominator: string } | undefined,
): string {
  const rateRows = [
    ['workload', 'unit', ...targets, ...(ratio ? [`${ratio.numerator}/${ratio.denominator}`] : [])],
  ];
  const cpuRows = [['workload (target CPU, cores)', ...targets]];
  for (const workload of workloads) {
    const rate = (target: string) => median(results.samples(workload.name, target).map((s) => s.rate));
    const row = [workload.name, workload.unit, ...targets.map((target) => formatRate(rate(target)))];
    if (ratio) {
      const value = rate(ratio.numerator) / rate(ratio.denominator);
      row.push(Number.isFinite(value) ? value.toFixed(2) : '-');
    }
    rateRows.push(row);
    cpuRows.push([
      workload.name,
      ...targets.map((target) => {
        const samples = results.samples(workload.name, target);
        if (samples.length === 0) return '-';
        const cores = median(samples.map((s) => s.targetCores)).toFixed(2);
        const helper = median(samples.map((s) => s.helperCores));
        return helper > 0 ? `${cores}+${helper.toFixed(2)}` : cores;
      }),
    ]);
  }
  return `${formatTable(rateRows)}\n\n${formatTable(cpuRows)}`;
}
