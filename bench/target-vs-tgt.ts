/**
 * Collie's iSCSI target against tgt, in the same run on the same machine (`npm run bench`,
 * issue #12). See bench/README.md and docs/performance.md.
 *
 *   node dist/bench/target-vs-tgt.js [--rounds N] [--perf-seconds S] [--pairs file,sheepdog]
 *        [--workloads WORD,...] [--mem] [--tgt-tuned] [--cross-check] [--skip-fill]
 *        [--memory-seconds S] [--inspect] [--cpu-prof DIR]
 *
 * Pairs, each tgt against Collie on the same kind of backend, all started at once:
 *   (a) file: tgt `--bstype rdwr` on a sparse file vs `collie target --lun 1=file:PATH:1G`, both in
 *       the page cache (--mem adds `collie target --lun 1=mem:1G` to this pair);
 *   (b) sheepdog: one `collie sheep` with two endpoints; tgt `--bstype sheepdog` on VDI bench-tgt
 *       through endpoint 2 vs `collie target --lun 1=tcp:127.0.0.1:P1:bench-collie` through
 *       endpoint 1.
 * plus the loopback ceiling (io-probe's raw TCP request/response of the same sizes).
 *
 * Method: every LUN is first written whole (1 MiB sequential writes, unmeasured) so reads read
 * data and writes overwrite it. Then, per round and per workload, the columns take turns (the
 * order is reversed every other round) so slow drifts of a shared host hit all of them alike.
 * Each run records the rate, p50/p99 latency, the bytes moved, the CPU time of the target process
 * (and of the store, separately) and their peak RSS. Last, the QD256 × 16 sessions memory point.
 *
 * --tgt-tuned sets tgt's session parameters to the values Collie negotiates (targets.ts); by
 * default every tgt parameter is tgt's own default.
 *
 * --inspect adds, beside each Collie column, a twin started with `--inspect 127.0.0.1:0` (the
 * event inspector serving, no page connected), with its own LUN; the twins run the 4k random read
 * workloads only. --cpu-prof DIR starts the Collie targets under `node --cpu-prof`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLOCK_TICKS_PER_SECOND, cpuTicks, RssPeaks, rssKiB, runCommand, sleep } from './processes.js';
import { type MemoryRow, type Pair, Results, renderLoopback, renderMemory, renderPair } from './report.js';
import {
  type RunningStore,
  type RunningTarget,
  startCollieTarget,
  startLoopback,
  startStore,
  startTgt,
  TGT_TUNED_PARAMS,
} from './targets.js';
import {
  crossCheckWorkloads,
  DEFAULT_PERF_SECONDS,
  workloads as issueWorkloads,
  KiB,
  type ProbeShape,
  runProbe,
  type Workload,
} from './workloads.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROBE_SOURCE = join(REPO_ROOT, 'bench', 'io-probe.c');
const PROBE_BINARY = join(REPO_ROOT, 'dist', 'bench', 'io-probe');
const IQN = 'iqn.2026-01.dev.collie.bench';
const ALL_PAIRS = ['file', 'sheepdog'] as const;
type PairName = (typeof ALL_PAIRS)[number];

/** The QD256 × 16 sessions point: random writes of this size (see docs/performance.md). */
const MEMORY_SHAPE: ProbeShape = { op: 'write', size: 64 * KiB, depth: 256, pattern: 'random', sessions: 16 };
/** The workloads the --inspect twins run. */
const INSPECT_WORKLOAD = /^4k rand read/;
const LOOPBACK = 'loopback';

function options() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      'perf-seconds': { type: 'string', default: String(DEFAULT_PERF_SECONDS) },
      pairs: { type: 'string', default: ALL_PAIRS.join(',') },
      workloads: { type: 'string' },
      mem: { type: 'boolean', default: false },
      'cross-check': { type: 'boolean', default: false },
      'tgt-tuned': { type: 'boolean', default: false },
      'skip-fill': { type: 'boolean', default: false },
      'memory-seconds': { type: 'string', default: '5' },
      inspect: { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
    },
  });
  const rounds = Number.parseInt(values.rounds, 10);
  const perfSeconds = Number(values['perf-seconds']);
  const memorySeconds = Number(values['memory-seconds']);
  if (!(rounds >= 1) || !(perfSeconds >= 1) || !(memorySeconds >= 0))
    throw new Error('--rounds must be >= 1, --perf-seconds >= 1 and --memory-seconds >= 0 (0 skips it)');
  const pairs = values.pairs.split(',').map((name) => name.trim());
  for (const name of pairs) {
    if (!(ALL_PAIRS as readonly string[]).includes(name))
      throw new Error(`--pairs: unknown pair '${name}'; use ${ALL_PAIRS.join(',')}`);
  }
  return {
    rounds,
    perfSeconds,
    memorySeconds,
    pairs: pairs as PairName[],
    workloadWords: values.workloads?.split(',').map((word) => word.trim().toLowerCase()),
    mem: values.mem,
    crossCheck: values['cross-check'],
    tgtParams: values['tgt-tuned'] ? TGT_TUNED_PARAMS : [],
    fill: !values['skip-fill'],
    inspect: values.inspect,
    cpuProfDir: values['cpu-prof'],
  };
}

/** Compiles bench/io-probe.c into dist/bench/io-probe when it is missing or older than the source. */
async function buildProbe(): Promise<string> {
  if (existsSync(PROBE_BINARY) && statSync(PROBE_BINARY).mtimeMs >= statSync(PROBE_SOURCE).mtimeMs)
    return PROBE_BINARY;
  await mkdir(dirname(PROBE_BINARY), { recursive: true });
  const compiler = process.env.CC ?? 'cc';
  const built = await runCommand(compiler, [
    '-O2',
    '-Wall',
    '-o',
    PROBE_BINARY,
    PROBE_SOURCE,
    '-l:libiscsi.so.7',
  ]);
  if (built.exitCode !== 0)
    throw new Error(
      `cannot build ${PROBE_SOURCE} with ${compiler} (it needs a C compiler and Debian's libiscsi7, which ` +
        `libiscsi-bin pulls in):\n${built.output.trim()}`,
    );
  return PROBE_BINARY;
}

function commandOutput(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return '?';
  }
}

/** One line on the machine: cores, CPU model, kernel, Node, tgt, libiscsi. */
function machineLine(): string {
  const model = cpus()[0]?.model.trim() ?? '?';
  const tgt = commandOutput('tgtd', ['-V']);
  // dpkg-query's format field, not a template placeholder.
  const versionField = ['$', '{Version}'].join('');
  const libiscsi = commandOutput('dpkg-query', ['-W', '-f', versionField, 'libiscsi7']);
  return `${cpus().length} × ${model}, Linux ${release()}, Node ${process.version}, tgt ${tgt}, libiscsi ${libiscsi}`;
}

function ticksOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (cpuTicks(pid) ?? 0), 0);
}

function sumPeaks(peaks: Map<number, number>, pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (peaks.get(pid) ?? 0), 0);
}

interface Column {
  readonly target: RunningTarget;
  /** An --inspect twin: runs INSPECT_WORKLOAD only. */
  readonly twin: boolean;
}

async function main(): Promise<void> {
  const opts = options();
  if (!existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js')))
    throw new Error("the Collie CLI is not built: run 'npm run build' (npm run bench does)");
  const probe = await buildProbe();
  if (opts.cpuProfDir) await mkdir(opts.cpuProfDir, { recursive: true });
  const settings = { probe, perfSeconds: opts.perfSeconds, readCount1M: 3000, writeCount1M: 1500 };
  const all = [...issueWorkloads(settings), ...(opts.crossCheck ? crossCheckWorkloads(settings) : [])];
  const list = all.filter(
    (workload) =>
      opts.workloadWords === undefined ||
      opts.workloadWords.some((word) => workload.name.toLowerCase().includes(word)),
  );
  if (list.length === 0) throw new Error(`--workloads ${opts.workloadWords?.join(',')} matches no workload`);

  const dir = await mkdtemp(join(tmpdir(), 'collie-bench-'));
  const columns: Column[] = [];
  const pairs: Pair[] = [];
  let store: RunningStore | undefined;
  const cleanUp = async () => {
    await Promise.all(columns.map(({ target }) => target.stop().catch(() => undefined)));
    await store?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const nodeArgs = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
  const inspectArgs = ['--inspect', '127.0.0.1:0'];
  const results = new Results();
  const memoryRows: MemoryRow[] = [];
  try {
    if (opts.pairs.includes('file')) {
      const labels = ['tgt (file)', 'Collie (file)'];
      columns.push({
        target: await startTgt(labels[0]!, `${IQN}:tgt-file`, { bstype: 'rdwr', dir }, opts.tgtParams),
        twin: false,
      });
      columns.push({
        target: await startCollieTarget(
          REPO_ROOT,
          labels[1]!,
          `${IQN}:file`,
          `file:${join(dir, 'collie-file.img')}:1G`,
          {
            nodeArgs,
          },
        ),
        twin: false,
      });
      if (opts.mem) {
        labels.push('Collie (mem)');
        columns.push({
          target: await startCollieTarget(REPO_ROOT, 'Collie (mem)', `${IQN}:mem`, 'mem:1G', { nodeArgs }),
          twin: false,
        });
      }
      if (opts.inspect) {
        labels.push('Collie (file) --inspect');
        const backing = `file:${join(dir, 'collie-file-inspect.img')}:1G`;
        columns.push({
          target: await startCollieTarget(REPO_ROOT, labels.at(-1)!, `${IQN}:file-inspect`, backing, {
            nodeArgs,
            args: inspectArgs,
          }),
          twin: true,
        });
      }
      pairs.push({
        title: '(a) page-cache file: tgt --bstype rdwr vs Collie file:',
        columns: labels,
        headers: labels.map((label) => label.replace(' (file)', '')),
      });
    }
    if (opts.pairs.includes('sheepdog')) {
      const storeDir = join(dir, 'store');
      await mkdir(storeDir);
      store = await startStore(REPO_ROOT, storeDir, 2);
      const [collieEndpoint, tgtEndpoint] = store.ports as [number, number];
      const labels = ['tgt (sheepdog)', 'Collie (sheepdog)'];
      await store.createVdi('bench-tgt');
      await store.createVdi('bench-collie');
      const helperPids = [store.pid];
      const tgt = await startTgt(
        labels[0]!,
        `${IQN}:tgt-sheepdog`,
        {
          bstype: 'sheepdog',
          port: tgtEndpoint,
          vdi: 'bench-tgt',
        },
        opts.tgtParams,
      );
      columns.push({ target: { ...tgt, helperPids }, twin: false });
      const backing = (vdi: string) => `tcp:127.0.0.1:${collieEndpoint}:${vdi}`;
      columns.push({
        target: await startCollieTarget(REPO_ROOT, labels[1]!, `${IQN}:sheepdog`, backing('bench-collie'), {
          nodeArgs,
          helperPids,
        }),
        twin: false,
      });
      if (opts.inspect) {
        labels.push('Collie (sheepdog) --inspect');
        await store.createVdi('bench-collie-inspect');
        columns.push({
          target: await startCollieTarget(
            REPO_ROOT,
            labels.at(-1)!,
            `${IQN}:sheepdog-inspect`,
            backing('bench-collie-inspect'),
            { nodeArgs, args: inspectArgs, helperPids },
          ),
          twin: true,
        });
      }
      pairs.push({
        title:
          `(b) embedded store (collie sheep, endpoints ${store.ports.join(', ')}): tgt --bstype sheepdog ` +
          `via :${tgtEndpoint} vs Collie tcp: via :${collieEndpoint}, a VDI each; CPU and RSS are target+store`,
        columns: labels,
        headers: labels.map((label) => label.replace(' (sheepdog)', '')),
      });
    }
    const iscsiColumns = [...columns];
    columns.push({ target: await startLoopback(probe), twin: false });
    process.stderr.write(
      `machine: ${machineLine()}\ncolumns:\n${columns
        .map(({ target }) => `  ${target.label}: ${target.url} (pid ${target.pid})`)
        .join(
          '\n',
        )}${store ? `\n  store: collie sheep pid ${store.pid}, ports ${store.ports.join(', ')}` : ''}\n`,
    );

    if (opts.fill) {
      for (const { target } of iscsiColumns) {
        const fillStarted = performance.now();
        const filled = await runCommand(probe, ['fill', target.url], 600_000);
        const line = filled.output.split('\n').find((text) => text.startsWith('{'));
        if (
          filled.exitCode !== 0 ||
          line === undefined ||
          (JSON.parse(line) as { errors: number }).errors > 0
        )
          throw new Error(`filling ${target.label} failed: ${filled.output.trim()}`);
        process.stderr.write(
          `filled ${target.label} in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s\n`,
        );
      }
    }

    for (let round = 0; round < opts.rounds; round++) {
      for (const workload of list) {
        const order = round % 2 === 0 ? columns : [...columns].reverse();
        for (const { target, twin } of order) {
          if (twin && !INSPECT_WORKLOAD.test(workload.name)) continue;
          if (target.label === LOOPBACK && !workload.loopback) continue;
          await runOne(results, workload, target, round);
        }
      }
    }

    if (opts.memorySeconds > 0) {
      for (const { target } of iscsiColumns.filter((column) => !column.twin)) {
        memoryRows.push(await memoryPoint(probe, target, opts.memorySeconds));
      }
    }
  } finally {
    await cleanUp();
  }

  const out = (text: string) => process.stdout.write(text);
  out(
    `\nCollie vs tgt over loopback: ${opts.rounds} round(s), medians (min–max); io-probe runs ` +
      `${opts.perfSeconds} s; bench took ${((performance.now() - started) / 1000).toFixed(0)} s; ` +
      `1-minute load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after ` +
      `(other work on the host skews figures)\nmachine: ${machineLine()}\n` +
      `tgt: ${opts.tgtParams.length > 0 ? `tuned (${opts.tgtParams.map(([n, v]) => `${n}=${v}`).join(' ')})` : "every parameter at tgt's default"}; ` +
      `LUNs ${opts.fill ? 'written whole before round 1' : 'not prefilled (--skip-fill)'}\n\n`,
  );
  for (const pair of pairs) out(`${renderPair(results, list, pair)}\n\n`);
  const shareColumns = pairs.flatMap((pair) => pair.columns).filter((label) => !label.endsWith('--inspect'));
  out(
    'Loopback ceiling: io-probe request/response over one TCP connection, same sizes and depths; ' +
      `each column's median rate as a share of it\n\n${renderLoopback(results, list, LOOPBACK, shareColumns)}\n\n`,
  );
  if (memoryRows.length > 0) {
    out(
      `Memory at QD${MEMORY_SHAPE.depth} × ${MEMORY_SHAPE.sessions} sessions ` +
        `(${MEMORY_SHAPE.size / KiB} KiB random writes, ${opts.memorySeconds} s; RSS before, peak, 2 s after)\n\n` +
        `${renderMemory(memoryRows)}\n`,
    );
  }
  for (const [cell, error] of results.errors()) out(`\n${cell} failed: ${error}\n`);
  for (const row of memoryRows) if (row.error) out(`\nmemory point on ${row.column} failed: ${row.error}\n`);
}

async function runOne(
  results: Results,
  workload: Workload,
  target: RunningTarget,
  round: number,
): Promise<void> {
  const before = { own: ticksOf([target.pid]), helpers: ticksOf(target.helperPids) };
  const peaks = new RssPeaks([target.pid, ...target.helperPids]);
  try {
    const result = await workload.run(target.url);
    const seen = peaks.stop();
    results.add(workload.name, target.label, {
      ...result,
      cpuSeconds: (ticksOf([target.pid]) - before.own) / CLOCK_TICKS_PER_SECOND,
      helperCpuSeconds: (ticksOf(target.helperPids) - before.helpers) / CLOCK_TICKS_PER_SECOND,
      rssKiB: seen.get(target.pid) ?? 0,
      helperRssKiB: sumPeaks(seen, target.helperPids),
    });
    const latency = result.p50Us === undefined ? '' : `, p50/p99 ${result.p50Us}/${result.p99Us} µs`;
    process.stderr.write(
      `round ${round + 1} ${workload.name} ${target.label}: ${result.rate.toFixed(0)} ${workload.unit}${latency}\n`,
    );
  } catch (error) {
    peaks.stop();
    results.fail(workload.name, target.label, (error as Error).message);
    process.stderr.write(`round ${round + 1} ${workload.name} ${target.label}: FAILED\n`);
  }
}

/** QD256 × 16 sessions against one target: its RSS (and the store's) before, at peak, 2 s after. */
async function memoryPoint(probe: string, target: RunningTarget, seconds: number): Promise<MemoryRow> {
  await sleep(1000);
  const storePid = target.helperPids[0];
  const beforeKiB = rssKiB(target.pid) ?? 0;
  const storeBeforeKiB = storePid === undefined ? undefined : rssKiB(storePid);
  const peaks = new RssPeaks([target.pid, ...target.helperPids]);
  let output: Awaited<ReturnType<typeof runProbe>> | undefined;
  let error: string | undefined;
  try {
    output = await runProbe(probe, target.url, MEMORY_SHAPE, seconds);
  } catch (failure) {
    error = (failure as Error).message;
  }
  const seen = peaks.stop();
  await sleep(2000);
  const row: MemoryRow = {
    column: target.label,
    beforeKiB,
    peakKiB: seen.get(target.pid) ?? 0,
    afterKiB: rssKiB(target.pid) ?? 0,
    storeBeforeKiB,
    storePeakKiB: storePid === undefined ? undefined : seen.get(storePid),
    mibps: output?.mibps,
    p99Us: output?.p99_us ?? undefined,
    error,
  };
  process.stderr.write(
    `QD256 × 16 ${target.label}: RSS ${Math.round(row.beforeKiB / 1024)} -> ${Math.round(row.peakKiB / 1024)} -> ` +
      `${Math.round(row.afterKiB / 1024)} MiB${error ? ' (FAILED)' : `, ${output?.mibps} MiB/s`}\n`,
  );
  return row;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
