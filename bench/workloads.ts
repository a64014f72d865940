/**
 * The benchmark's workloads, run by the two real initiators on this machine:
 * - libiscsi's `iscsi-perf` runs until SIGINT (`timeout -s INT`); its figure is the last
 *   "iops average N" it printed (progress lines end in \r, so the whole output is searched).
 * - `qemu-img bench` (QEMU's block-iscsi driver) does a fixed count of sequential requests and
 *   prints "Run completed in S seconds".
 * Each run yields a rate (IOPS or MiB/s, as the workload says) or an error with the tool's output.
 */
import { runCommand } from './processes.js';

export interface Workload {
  readonly name: string;
  readonly unit: 'IOPS' | 'MiB/s';
  /** Runs once against `url`; the rate in `unit`. */
  run(url: string): Promise<number>;
}

export interface WorkloadSettings {
  /** How long each iscsi-perf run lasts. */
  readonly perfSeconds: number;
  /** Requests per qemu-img bench run, by workload. */
  readonly readCount1M: number;
  readonly writeCount1M: number;
  readonly writeCount4k: number;
}

export const DEFAULT_SETTINGS: WorkloadSettings = {
  perfSeconds: 10,
  readCount1M: 3000,
  writeCount1M: 1500,
  writeCount4k: 50_000,
};

function failure(tool: string, output: string): Error {
  const tail = output.replaceAll('\r', '\n').trim().split('\n').slice(-5).join('\n  ');
  return new Error(`${tool} gave no figure; its last output:\n  ${tail}`);
}

/** `timeout -s INT S iscsi-perf ARGS URL`: the last "iops average". */
async function iscsiPerf(seconds: number, args: readonly string[], url: string): Promise<number> {
  const result = await runCommand(
    'timeout',
    ['-s', 'INT', String(seconds), 'iscsi-perf', ...args, url],
    (seconds + 20) * 1000,
  );
  const averages = [...result.output.matchAll(/iops average (\d+)/g)];
  const last = averages.at(-1);
  if (last === undefined) throw failure('iscsi-perf', result.output);
  return Number(last[1]);
}

/** `qemu-img bench -f raw -t none ARGS URL`: requests per second. */
async function qemuBench(count: number, args: readonly string[], url: string): Promise<number> {
  const result = await runCommand(
    'qemu-img',
    ['bench', '-f', 'raw', '-t', 'none', '-c', String(count), ...args, url],
    120_000,
  );
  const match = /Run completed in ([\d.]+) seconds/.exec(result.output);
  if (result.exitCode !== 0 || match === null) throw failure('qemu-img bench', result.output);
  return count / Number(match[1]);
}

export function workloads(settings: WorkloadSettings): Workload[] {
  const seconds = settings.perfSeconds;
  return [
    {
      name: '4k rand read QD32 (iscsi-perf)',
      unit: 'IOPS',
      run: (url) => iscsiPerf(seconds, ['-m', '32', '-b', '8', '-r'], url),
    },
    {
      // 2048 blocks of 512 bytes: one request is 1 MiB, so IOPS = MiB/s.
      name: '1M read QD8 (iscsi-perf)',
      unit: 'MiB/s',
      run: (url) => iscsiPerf(seconds, ['-m', '8', '-b', '2048'], url),
    },
    {
      name: '1M seq read QD8 (qemu-img)',
      unit: 'MiB/s',
      run: (url) => qemuBench(settings.readCount1M, ['-d', '8', '-s', '1M'], url),
    },
    {
      name: '1M seq write QD8 (qemu-img)',
      unit: 'MiB/s',
      run: (url) => qemuBench(settings.writeCount1M, ['-d', '8', '-s', '1M', '-w'], url),
    },
    {
      name: '4k seq write QD32 (qemu-img)',
      unit: 'IOPS',
      run: (url) => qemuBench(settings.writeCount4k, ['-d', '32', '-s', '4k', '-w'], url),
    },
  ];
}
