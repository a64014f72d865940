/**
 * The benchmark's workloads. The six of issue #12 are driven by bench/io-probe.c, one initiator
 * for every target and every workload, so throughput and latency come from the same pass:
 *   4k random read and write at QD1 and QD32, 1 MiB sequential read and write at QD8.
 * io-probe is libiscsi's async API in C (as iscsi-perf, whose rates it matches); iscsi-perf cannot
 * write and `qemu-img bench` has no random offsets, and neither reports latency percentiles.
 * The same shapes run against the loopback ceiling (`io-probe tcp`: request/response over one TCP
 * connection with the same sizes and queue depths, 48-byte headers).
 *
 * `--cross-check` adds three runs by the real initiators, rates only:
 * - libiscsi's `iscsi-perf` runs until SIGINT (`timeout -s INT`); its figure is the last
 *   "iops average N" it printed (progress lines end in \r, so the whole output is searched).
 * - `qemu-img bench` (QEMU's block-iscsi driver) does a fixed count of sequential requests and
 *   prints "Run completed in S seconds".
 */
import { runCommand } from './processes.js';

/** What one run yields. */
export interface RunResult {
  /** In the workload's unit. */
  readonly rate: number;
  readonly bytes: number;
  readonly p50Us?: number;
  readonly p99Us?: number;
}

export interface Workload {
  readonly name: string;
  readonly unit: 'IOPS' | 'MiB/s';
  /** Has a loopback (raw TCP) equivalent. */
  readonly loopback: boolean;
  /** Runs once against an iSCSI URL or the loopback server (tcp:HOST:PORT). */
  run(url: string): Promise<RunResult>;
}

export interface WorkloadSettings {
  /** io-probe's compiled binary. */
  readonly probe: string;
  /** How long each io-probe and iscsi-perf run lasts. */
  readonly perfSeconds: number;
  /** Requests per qemu-img bench run (cross-check). */
  readonly readCount1M: number;
  readonly writeCount1M: number;
}

export const DEFAULT_PERF_SECONDS = 5;
export const KiB = 1024;
export const MiB = 1024 * KiB;

function failure(tool: string, output: string): Error {
  const tail = output.replaceAll('\r', '\n').trim().split('\n').slice(-5).join('\n  ');
  return new Error(`${tool} gave no figure; its last output:\n  ${tail}`);
}

export interface ProbeShape {
  readonly op: 'read' | 'write';
  readonly size: number;
  readonly depth: number;
  readonly pattern: 'random' | 'seq';
  readonly sessions?: number;
}

export interface ProbeOutput {
  readonly ops: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly iops: number;
  readonly mibps: number;
  readonly p50_us: number | null;
  readonly p99_us: number | null;
  readonly errors: number;
  readonly first_error: string | null;
}

/** One io-probe run (iscsi or tcp mode, from the URL); throws on a failed run or any SCSI error. */
export async function runProbe(
  probe: string,
  url: string,
  shape: ProbeShape,
  seconds: number,
): Promise<ProbeOutput> {
  const tcp = url.startsWith('tcp:');
  const args = [
    tcp ? 'tcp' : 'iscsi',
    tcp ? url.slice('tcp:'.length) : url,
    '--op',
    shape.op,
    '--size',
    String(shape.size),
    '--depth',
    String(shape.depth),
    '--seconds',
    String(seconds),
    ...(tcp ? [] : ['--pattern', shape.pattern, '--sessions', String(shape.sessions ?? 1)]),
  ];
  const result = await runCommand(probe, args, (seconds + 60) * 1000);
  const line = result.output.split('\n').find((text) => text.startsWith('{'));
  if (result.exitCode !== 0 || line === undefined) throw failure('io-probe', result.output);
  const output = JSON.parse(line) as ProbeOutput;
  if (output.errors > 0)
    throw new Error(`io-probe: ${output.errors} command(s) failed, first: ${output.first_error}`);
  return output;
}

/** `timeout -s INT S iscsi-perf ARGS URL`: the last "iops average". */
async function iscsiPerf(seconds: number, args: readonly string[], url: string): Promise<number> {
  const result = await runCommand(
    'timeout',
    ['-s', 'INT', String(seconds), 'iscsi-perf', ...args, url],
    (seconds + 20) * 1000,
  );
  const last = [...result.output.matchAll(/iops average (\d+)/g)].at(-1);
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

function probeWorkload(settings: WorkloadSettings, name: string, shape: ProbeShape): Workload {
  const unit = shape.size >= MiB ? 'MiB/s' : 'IOPS';
  return {
    name,
    unit,
    loopback: true,
    run: async (url) => {
      const output = await runProbe(settings.probe, url, shape, settings.perfSeconds);
      return {
        rate: unit === 'IOPS' ? output.iops : output.mibps,
        bytes: output.bytes,
        p50Us: output.p50_us ?? undefined,
        p99Us: output.p99_us ?? undefined,
      };
    },
  };
}

/** Issue #12's six workloads, in the order they run. */
export function workloads(settings: WorkloadSettings): Workload[] {
  const kib4 = 4 * KiB;
  return [
    probeWorkload(settings, '4k rand read QD1', { op: 'read', size: kib4, depth: 1, pattern: 'random' }),
    probeWorkload(settings, '4k rand read QD32', { op: 'read', size: kib4, depth: 32, pattern: 'random' }),
    probeWorkload(settings, '4k rand write QD1', { op: 'write', size: kib4, depth: 1, pattern: 'random' }),
    probeWorkload(settings, '4k rand write QD32', { op: 'write', size: kib4, depth: 32, pattern: 'random' }),
    probeWorkload(settings, '1M seq read QD8', { op: 'read', size: MiB, depth: 8, pattern: 'seq' }),
    probeWorkload(settings, '1M seq write QD8', { op: 'write', size: MiB, depth: 8, pattern: 'seq' }),
  ];
}

/** `--cross-check`: the same kinds of load from iscsi-perf and qemu-img (rates, no latency). */
export function crossCheckWorkloads(settings: WorkloadSettings): Workload[] {
  const seconds = settings.perfSeconds;
  return [
    {
      name: '4k rand read QD32 (iscsi-perf)',
      unit: 'IOPS',
      loopback: false,
      run: async (url) => {
        const rate = await iscsiPerf(seconds, ['-m', '32', '-b', '8', '-r'], url);
        // iscsi-perf prints no byte count: its average rate over the run's length.
        return { rate, bytes: rate * seconds * 4 * KiB };
      },
    },
    {
      name: '1M seq read QD8 (qemu-img)',
      unit: 'MiB/s',
      loopback: false,
      run: async (url) => ({
        rate: await qemuBench(settings.readCount1M, ['-d', '8', '-s', '1M'], url),
        bytes: settings.readCount1M * MiB,
      }),
    },
    {
      name: '1M seq write QD8 (qemu-img)',
      unit: 'MiB/s',
      loopback: false,
      run: async (url) => ({
        rate: await qemuBench(settings.writeCount1M, ['-d', '8', '-s', '1M', '-w'], url),
        bytes: settings.writeCount1M * MiB,
      }),
    },
  ];
}
