/**
 * Collie's iSCSI target against tgt, in the same run on the same machine (`npm run bench`).
 *
 *   node dist/bench/target-vs-tgt.js [--rounds N] [--perf-seconds S] [--targets tgt,file,mem,sheepdog]
 *                                    [--cpu-prof DIR] [--inspect] [--workloads NAME,...]
 *
 * Method: every target runs at once on its own loopback port, each with a 1 GiB LUN 1 (see
 * targets.ts). For each workload the targets take turns (tgt, Collie file, mem, sheepdog; the
 * order is reversed every other round) so slow drifts of a shared 2-vCPU host hit all of them
 * alike. Each run records the rate and the target process's CPU time (utime + stime from
 * /proc/PID/stat). The tables print medians over the rounds; the ratio column is Collie (file)
 * over tgt, which serve the same kind of LUN. Numbers are loopback figures: initiator, target and
 * page cache share the cores, so expect ±10-20 % between runs.
 *
 * --cpu-prof DIR starts the Collie targets under `node --cpu-prof` (profiles land in DIR when
 * they stop); summarise one with `node dist/bench/cpu-profile-top.js FILE`.
 *
 * --inspect adds, beside each Collie target, a twin started with `--inspect 127.0.0.1:0` (the
 * event inspector serving, no page connected), with its own LUN (and its own store for sheepdog);
 * the twins run the 4k random read workload only, so its column compares with the figure without
 * it from the same run. --workloads keeps the workloads whose names contain one of the words
 * given ("4k rand read").
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLOCK_TICKS_PER_SECOND, cpuTicks } from './processes.js';
import { Results, renderTables } from './report.js';
import { LUN_SIZE, type RunningTarget, startCollieSheepdog, startCollieTarget, startTgt } from './targets.js';
import { DEFAULT_SETTINGS, workloads } from './workloads.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const IQN = 'iqn.2026-01.dev.collie.bench';
const ALL_TARGETS = ['tgt', 'file', 'mem', 'sheepdog'] as const;
type TargetKind = (typeof ALL_TARGETS)[number];
const LABELS: Record<TargetKind, string> = {
  tgt: 'tgt',
  file: 'Collie (file)',
  mem: 'Collie (mem)',
  sheepdog: 'Collie (sheepdog)',
};

function options() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '1' },
      'perf-seconds': { type: 'string', default: String(DEFAULT_SETTINGS.perfSeconds) },
      targets: { type: 'string', default: ALL_TARGETS.join(',') },
      'cpu-prof': { type: 'string' },
      inspect: { type: 'boolean', default: false },
      workloads: { type: 'string' },
    },
  });
  const rounds = Number.parseInt(values.rounds, 10);
  const perfSeconds = Number.parseInt(values['perf-seconds'], 10);
  if (!(rounds >= 1) || !(perfSeconds >= 2)) throw new Error('--rounds must be >= 1 and --perf-seconds >= 2');
  const targets = values.targets.split(',').map((name) => name.trim());
  for (const name of targets) {
    if (!(ALL_TARGETS as readonly string[]).includes(name))
      throw new Error(`--targets: unknown target '${name}'; use ${ALL_TARGETS.join(',')}`);
  }
  const workloadWords = values.workloads?.split(',').map((word) => word.trim().toLowerCase());
  return {
    rounds,
    perfSeconds,
    targets: targets as TargetKind[],
    cpuProfDir: values['cpu-prof'],
    inspect: values.inspect,
    workloadWords,
  };
}

/** The workload the --inspect twins run. */
const INSPECT_WORKLOAD = /4k rand read/;
const INSPECT_ARGS = ['--inspect', '127.0.0.1:0'] as const;

async function startTarget(
  kind: TargetKind,
  dir: string,
  cpuProfDir: string | undefined,
  inspect = false,
): Promise<RunningTarget> {
  const nodeArgs = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
  // An --inspect twin: its own label, LUN and store, so it shares nothing with its original.
  const args = inspect ? INSPECT_ARGS : [];
  const label = `${LABELS[kind]}${inspect ? ' --inspect' : ''}`;
  const suffix = inspect ? '-inspect' : '';
  switch (kind) {
    case 'tgt':
      return startTgt(dir, `${IQN}:tgt`);
    case 'file':
      return startCollieTarget(
        REPO_ROOT,
        label,
        `${IQN}:file${suffix}`,
        `file:${join(dir, `collie-disk${suffix}.img`)}:${LUN_SIZE}`,
        nodeArgs,
        args,
      );
    case 'mem':
      return startCollieTarget(REPO_ROOT, label, `${IQN}:mem${suffix}`, `mem:${LUN_SIZE}`, nodeArgs, args);
    case 'sheepdog': {
      const storeDir = join(dir, `sheep-store${suffix}`);
      await mkdir(storeDir);
      return startCollieSheepdog(REPO_ROOT, label, `${IQN}:sheepdog${suffix}`, storeDir, 'bench', args);
    }
  }
}

function ticksOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (cpuTicks(pid) ?? 0), 0);
}

async function main(): Promise<void> {
  const { rounds, perfSeconds, targets: kinds, cpuProfDir, inspect, workloadWords } = options();
  if (!existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js')))
    throw new Error("the Collie CLI is not built: run 'npm run build' (npm run bench does)");
  if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });
  const dir = await mkdtemp(join(tmpdir(), 'collie-bench-'));
  const running: RunningTarget[] = [];
  const cleanUp = async () => {
    await Promise.all(running.map((target) => target.stop().catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const list = workloads({ ...DEFAULT_SETTINGS, perfSeconds }).filter(
    (workload) =>
      workloadWords === undefined || workloadWords.some((word) => workload.name.toLowerCase().includes(word)),
  );
  if (list.length === 0) throw new Error(`--workloads ${workloadWords?.join(',')} matches no workload`);
  const twins = new Set<RunningTarget>();
  const results = new Results();
  try {
    for (const kind of kinds) {
      running.push(await startTarget(kind, dir, cpuProfDir));
      if (inspect && kind !== 'tgt') {
        const twin = await startTarget(kind, dir, cpuProfDir, true);
        twins.add(twin);
        running.push(twin);
      }
    }
    process.stderr.write(
      `targets:\n${running.map((t) => `  ${t.label}: ${t.url} (pid ${t.pid})`).join('\n')}\n`,
    );
    for (let round = 0; round < rounds; round++) {
      for (const workload of list) {
        const order = round % 2 === 0 ? running : [...running].reverse();
        for (const target of order) {
          if (twins.has(target) && !INSPECT_WORKLOAD.test(workload.name)) continue;
          const before = { own: ticksOf([target.pid]), helpers: ticksOf(target.helperPids) };
          const runStarted = performance.now();
          try {
            const rate = await workload.run(target.url);
            const wallSeconds = (performance.now() - runStarted) / 1000;
            const cores = (ticks: number) => ticks / CLOCK_TICKS_PER_SECOND / wallSeconds;
            results.add(workload.name, target.label, {
              rate,
              targetCores: cores(ticksOf([target.pid]) - before.own),
              helperCores: cores(ticksOf(target.helperPids) - before.helpers),
            });
            process.stderr.write(
              `round ${round + 1} ${workload.name} ${target.label}: ${rate.toFixed(0)} ${workload.unit}\n`,
            );
          } catch (error) {
            results.fail(workload.name, target.label, (error as Error).message);
            process.stderr.write(`round ${round + 1} ${workload.name} ${target.label}: FAILED\n`);
          }
        }
      }
    }
  } finally {
    await cleanUp();
  }
  const labels = running.map((target) => target.label);
  const ratio =
    labels.includes(LABELS.file) && labels.includes(LABELS.tgt)
      ? { numerator: LABELS.file, denominator: LABELS.tgt }
      : undefined;
  process.stdout.write(
    `\nCollie vs tgt over loopback: ${rounds} round(s), medians; iscsi-perf runs ${perfSeconds} s; ` +
      `bench took ${((performance.now() - started) / 1000).toFixed(0)} s; 1-minute load average ` +
      `${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after (other work on the host skews figures)\n\n`,
  );
  process.stdout.write(`${renderTables(results, list, labels, ratio)}\n`);
  for (const [cell, error] of results.errors()) process.stdout.write(`\n${cell} failed: ${error}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
