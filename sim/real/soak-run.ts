/**
 * The soak harness (`npm run soak`): a bounded mixed load on two target nodes exporting one VDI,
 * with periodic path kills and store endpoint losses, checked block by block, and the memory of
 * every process printed at the start, the middle and the end.
 *
 * Topology: one `collie sheep` with two endpoints (two sheep nodes); two `collie target`
 * processes (--node-id 1 and 2, one IQN) whose LU is the VDI through their own endpoint, each
 * reached through a TCP relay of the harness (tcp-proxy.ts); two sessions of the project's
 * initiator over TCP, one per node (a path each).
 *
 * Load (stamped-load.ts): workers spread writes (random sizes and LBAs, some FUA), reads and
 * SYNCHRONIZE CACHE over the paths that are up, like a multipath initiator: a write that gets no
 * answer or an error is sent again with the same data through the next path (a command that
 * times out drops its session first, as Linux escalates). Every write answered GOOD is read back
 * at once through a path drawn at random (so often through the other node), and older acked
 * ranges are read back too: each read must find the write or a later one (BlockLedger).
 *
 * Faults, on a seeded schedule:
 * - every ~30 s a path is killed: its iSCSI connection is reset and the path stays down 3 s, then
 *   logs in again (the target process lives on);
 * - every ~60 s a store endpoint is lost: its relay resets every connection between the target
 *   and that endpoint and refuses new ones for 12 s, longer than the initiator's command timeout
 *   (8 s), so commands on that node time out, their session is dropped, and they fail over;
 *   the path is held failed 5 s after a timeout (a multipath path checker's interval) before it
 *   logs in again. The store process keeps running:
 *   `collie sheep` cannot reopen an endpoint at runtime (KILL_NODE closes it for good), and the
 *   crash harness already kills the whole store.
 * At the end: the load drains, the paths come back, every block is verified through each node
 * and against the store's own copy (verify-all.ts).
 *
 * Memory: VmRSS of the store, both targets and the harness at the start (after a warm-up), the
 * middle and the end of the load. Rule: a Collie process whose RSS at the end is more than twice
 * its RSS at the middle fails the soak (the harness's own RSS is printed, not judged: its ledger
 * grows with the writes by design).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../../src/core/real-clock.js';
import { createRng, type Rng } from '../../src/core/rng.js';
import { sleepMs } from '../../src/core/sleep.js';
import { BlockLedger, describeViolation, type Violation, type ViolationKind } from './block-ledger.js';
import { runTagOf, STAMP_BLOCK_BYTES } from './block-stamps.js';
import { DaemonSet } from './daemon-set.js';
import { IscsiPath } from './iscsi-path.js';
import { type CollieDaemon, cpuTicks, freePorts, rssKiB, runCollieOk } from './real-processes.js';
import { type LoadCounts, RangeFence, StampedLoad } from './stamped-load.js';
import { TcpProxy } from './tcp-proxy.js';
import { verifyAll } from './verify-all.js';

export interface SoakOptions {
  readonly seed: string;
  /** Length of the load in minutes (the setup and final verification come on top). */
  readonly minutes: number;
  /** The CI form: faults every 15 s / 30 s instead of 30 s / 60 s. */
  readonly short: boolean;
  readonly keep?: boolean;
  readonly log?: (line: string) => void;
}

export interface RssRow {
  readonly process: string;
  readonly judged: boolean;
  /** KiB at the start, middle and end; undefined when the process was gone. */
  readonly start?: number;
  readonly middle?: number;
  readonly end?: number;
}

/** What the load did between two RSS samples, to tell a slowdown of Collie from a busy machine. */
export interface PhaseRate {
  readonly phase: string;
  readonly writesPerSecond: number;
  /** CPU ms per 1000 writes GOOD, per process (the store, node 1, node 2, the harness). */
  readonly cpuMsPer1000Writes: readonly (number | undefined)[];
  /** The machine's 1-minute load average at the phase's end. */
  readonly loadAverage: number;
}

export interface SoakReport {
  readonly seed: string;
  readonly short: boolean;
  readonly minutes: number;
  readonly dir: string;
  readonly kept: boolean;
  readonly vdiBytes: number;
  readonly pathKills: number;
  readonly endpointLosses: number;
  readonly connectionsCut: number;
  readonly logins: number;
  readonly timeouts: number;
  readonly ledger: BlockLedger['counts'];
  readonly load: LoadCounts;
  readonly rss: readonly RssRow[];
  readonly rates: readonly PhaseRate[];
  readonly rssFailures: readonly string[];
  readonly blocksVerified: number;
  readonly violationCounts: ReadonlyMap<ViolationKind, number>;
  readonly violations: readonly Violation[];
  readonly violationTotal: number;
  readonly elapsedMs: number;
  readonly harnessError?: string;
}

const VDI = 'soak';
const IQN = 'iqn.2026-11.org.collie:soak';
const WORKERS = 8;
const PATH_DOWN_MS = 3_000;
const ENDPOINT_OUTAGE_MS = 12_000;
const COMMAND_TIMEOUT_MS = 8_000;
/** A path whose command timed out is not used again for this long. */
const FAILED_PATH_HOLD_MS = 5_000;
const RSS_GROWTH_MAX = 2;
const CONNECT_TIMEOUT_MS = 30_000;

type SoakEvent =
  | { readonly atMs: number; readonly kind: 'path-kill'; readonly node: number }
  | { readonly atMs: number; readonly kind: 'endpoint-loss'; readonly node: number }
  | { readonly atMs: number; readonly kind: 'endpoint-back'; readonly node: number }
  | { readonly atMs: number; readonly kind: 'rss'; readonly sample: 'start' | 'middle' | 'end' };

/** The fault schedule: path kills every `pathEveryMs`, endpoint losses every `endpointEveryMs`, with jitter. */
function schedule(rng: Rng, durationMs: number, short: boolean): SoakEvent[] {
  const pathEveryMs = short ? 15_000 : 30_000;
  const endpointEveryMs = short ? 30_000 : 60_000;
  const events: SoakEvent[] = [
    { atMs: Math.min(10_000, durationMs * 0.1), kind: 'rss', sample: 'start' },
    { atMs: durationMs / 2, kind: 'rss', sample: 'middle' },
    { atMs: durationMs, kind: 'rss', sample: 'end' },
  ];
  const jitter = (everyMs: number) => rng.int(-Math.floor(everyMs / 6), Math.floor(everyMs / 6) + 1);
  let node = 0;
  for (let at = pathEveryMs; at < durationMs - 2_000; at += pathEveryMs) {
    events.push({ atMs: at + jitter(pathEveryMs), kind: 'path-kill', node: node++ % 2 });
  }
  node = 0;
  for (let at = endpointEveryMs * 0.75; at < durationMs - ENDPOINT_OUTAGE_MS; at += endpointEveryMs) {
    const lossAt = at + jitter(endpointEveryMs);
    const lost = node++ % 2;
    events.push({ atMs: lossAt, kind: 'endpoint-loss', node: lost });
    events.push({ atMs: lossAt + ENDPOINT_OUTAGE_MS, kind: 'endpoint-back', node: lost });
  }
  return events.sort((a, b) => a.atMs - b.atMs);
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const started = realClock.now();
  const durationMs = Math.round(options.minutes * 60_000);
  const rng = createRng(`soak/${options.seed}`);
  const dir = mkdtempSync(join(tmpdir(), 'collie-soak-'));
  const storeDir = join(dir, 'store');
  const logDir = join(dir, 'logs');
  mkdirSync(logDir);
  const vdiBytes = 64 * 1024 * 1024;
  const blockCount = vdiBytes / STAMP_BLOCK_BYTES;
  const runTag = runTagOf(options.seed);
  const ledger = new BlockLedger(blockCount, runTag);
  const fence = new RangeFence();
  const ports = await freePorts(6, createRng(`ports/${process.pid}/${realClock.now()}`));
  const storePorts = [ports[0]!, ports[1]!];
  const relayPorts = [ports[2]!, ports[3]!];
  const portalPorts = [ports[4]!, ports[5]!];
  const daemons = new DaemonSet(logDir, (message) => ledger.violation('other', 0, message));
  const proxies: TcpProxy[] = [];
  const targets: CollieDaemon[] = [];
  let sheep: CollieDaemon | undefined;
  let pathKills = 0;
  let endpointLosses = 0;
  let connectionsCut = 0;
  let blocksVerified = 0;
  let harnessError: string | undefined;
  const rssSamples = new Map<string, Partial<Record<'start' | 'middle' | 'end', number>>>();

  const paths = [0, 1].map(
    (node) =>
      new IscsiPath({
        name: `path-${node + 1}`,
        portal: { host: '127.0.0.1', port: portalPorts[node]! },
        targetName: IQN,
        initiatorName: 'iqn.2026-11.org.collie.soak:host',
        isid: `80c0ffee100${node}`,
        lun: 1,
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
        scope: `node-${node + 1}`,
      }),
  );
  const downUntil = [0, 0];
  let running = true;
  const keepPathUp = async (node: number) => {
    const path = paths[node]!;
    while (running) {
      // A path whose command timed out stays failed a while, as multipath's path checker keeps it.
      const readyAt = Math.max(downUntil[node]!, path.lastTimeoutAtMs + FAILED_PATH_HOLD_MS);
      if (!path.up && realClock.now() >= readyAt) {
        try {
          await path.connect(CONNECT_TIMEOUT_MS);
        } catch (error) {
          log(`  ${path.name}: ${(error as Error).message}`);
        }
      }
      await sleepMs(realClock, 100);
    }
  };
  const livePaths = () => paths.filter((path) => path.up);
  const load = new StampedLoad({
    ledger,
    runTag,
    fence,
    mix: { write: 0.7, read: 0.25, sync: 0.05, readAfterAck: 0.6, fuaChance: 0.15, readBackChance: 1 },
    lbaLimit: () => blockCount,
    choosePath: (worker, attempt) => {
      const live = livePaths();
      return live.length === 0 ? undefined : live[(worker + attempt) % live.length];
    },
    retries: 4,
    pathWaitMs: 20_000,
    readBackPath: (pick) => {
      const live = livePaths();
      return live.length === 0 ? undefined : pick.pick(live);
    },
    where: 'soak',
  });
  const marks: { phase: string; atMs: number; writes: number; cpu: (number | undefined)[] }[] = [];
  const rates: PhaseRate[] = [];
  const sampleRss = (sample: 'start' | 'middle' | 'end') => {
    const pids = [sheep?.pid, targets[0]?.pid, targets[1]?.pid, process.pid];
    const mark = {
      phase: sample,
      atMs: realClock.now(),
      writes: load.counts.writesGood,
      cpu: pids.map((pid) => (pid === undefined ? undefined : cpuTicks(pid))),
    };
    const previous = marks[marks.length - 1];
    marks.push(mark);
    if (previous !== undefined) {
      const writes = mark.writes - previous.writes;
      rates.push({
        phase: `${previous.phase} to ${mark.phase}`,
        writesPerSecond: (writes * 1000) / Math.max(1, mark.atMs - previous.atMs),
        cpuMsPer1000Writes: mark.cpu.map((ticks, index) => {
          const before = previous.cpu[index];
          return ticks === undefined || before === undefined || writes === 0
            ? undefined
            : ((ticks - before) * 10 * 1000) / writes;
        }),
        loadAverage: loadavg()[0] ?? 0,
      });
    }
    const named: [string, number | undefined][] = [
      ['sheep', sheep?.pid],
      ['target node 1', targets[0]?.pid],
      ['target node 2', targets[1]?.pid],
      ['harness (initiator, ledger, relays)', process.pid],
    ];
    const parts: string[] = [];
    for (const [name, pid] of named) {
      const kib = pid === undefined ? undefined : rssKiB(pid);
      const row = rssSamples.get(name) ?? {};
      if (kib !== undefined) row[sample] = kib;
      rssSamples.set(name, row);
      parts.push(`${name} ${kib === undefined ? '-' : (kib / 1024).toFixed(1)} MiB`);
    }
    log(`  RSS at the ${sample}: ${parts.join(', ')}`);
  };

  let keepers: Promise<void>[] = [];
  try {
    sheep = await daemons.start(
      'sheep',
      [
        'sheep',
        '--store',
        storeDir,
        '--listen',
        `127.0.0.1:${storePorts[0]}`,
        '--listen',
        `127.0.0.1:${storePorts[1]}`,
        '--log-level',
        'warn',
        '--log-format',
        'json',
      ],
      /collie sheep ready/,
    );
    await runCollieOk(['vdi', 'create', '-p', String(storePorts[0]), VDI, String(vdiBytes)]);
    for (const node of [0, 1]) {
      proxies.push(await TcpProxy.start(relayPorts[node]!, storePorts[node]!));
      targets.push(
        await daemons.start(
          `target-${node + 1}`,
          [
            'target',
            '--node-id',
            String(node + 1),
            '--portal',
            `127.0.0.1:${portalPorts[node]}`,
            '--iqn',
            IQN,
            '--lun',
            `1=tcp:127.0.0.1:${relayPorts[node]}:${VDI}`,
            '--log-level',
            'warn',
            '--log-format',
            'json',
          ],
          /collie target ready/,
        ),
      );
    }
    await Promise.all(paths.map((path) => path.connect(CONNECT_TIMEOUT_MS)));
    keepers = [0, 1].map((node) => keepPathUp(node));
    const loadStarted = realClock.now();
    load.start(WORKERS, rng.fork('load'));
    log(
      `soak: ${options.minutes} min on 2 target nodes, store endpoints ${storePorts.join(', ')} (relayed), portals ${portalPorts.join(', ')}; run directory ${dir}`,
    );
    for (const event of schedule(rng.fork('schedule'), durationMs, options.short)) {
      const waitMs = loadStarted + event.atMs - realClock.now();
      if (waitMs > 0) await sleepMs(realClock, waitMs);
      const at = `${((realClock.now() - loadStarted) / 1000).toFixed(0).padStart(4)} s`;
      if (event.kind === 'rss') {
        sampleRss(event.sample);
      } else if (event.kind === 'path-kill') {
        pathKills++;
        downUntil[event.node] = realClock.now() + PATH_DOWN_MS;
        paths[event.node]!.drop();
        log(
          `${at}: path ${event.node + 1} killed (connection reset; down ${PATH_DOWN_MS / 1000} s); ${progress()}`,
        );
      } else if (event.kind === 'endpoint-loss') {
        endpointLosses++;
        const cut = await proxies[event.node]!.outage();
        connectionsCut += cut;
        log(
          `${at}: store endpoint ${event.node + 1} lost (${cut} connections reset, refused for ${ENDPOINT_OUTAGE_MS / 1000} s); ${progress()}`,
        );
      } else {
        await proxies[event.node]!.restore();
        log(`${at}: store endpoint ${event.node + 1} back`);
      }
    }
    await load.stop();
    for (const proxy of proxies) await proxy.restore();
    running = false;
    await Promise.all(keepers);
    for (const path of paths) if (!path.up) await path.connect(CONNECT_TIMEOUT_MS);
    for (const [index, path] of paths.entries()) {
      const verified = await verifyAll({
        ledger,
        path,
        where: `final verification via ${path.name}`,
        ...(index === 0
          ? { store: { vdi: VDI, port: storePorts[0]!, objectDir: join(storeDir, 'obj') } }
          : {}),
        settle: false,
        reconnect: () => path.connect(CONNECT_TIMEOUT_MS),
      });
      blocksVerified += verified.blocks;
    }
    log(`  verified ${blocksVerified} blocks (every block through each node) and the store's copy`);
  } catch (error) {
    harnessError = (error as Error).stack ?? String(error);
    await load.stop().catch(() => {});
  } finally {
    running = false;
    await Promise.all(keepers);
    for (const path of paths) {
      await path.close().catch(() => {});
      for (const violation of path.protocolViolations) {
        ledger.violation('other', 0, `${path.name}: the target broke a protocol rule: ${violation}`);
      }
    }
    await daemons.stopAll();
    for (const proxy of proxies) await proxy.close();
  }

  function progress(): string {
    const c = load.counts;
    return `writes ${c.writesGood}/${c.writes} GOOD, retried ${c.writeRetries}, reads ${c.readsGood}, read-backs ${c.readBacks}, violations ${ledger.violationCount}`;
  }

  const rss: RssRow[] = [...rssSamples].map(([name, row]) => ({
    process: name,
    judged: !name.startsWith('harness'),
    ...row,
  }));
  const rssFailures = rss
    .filter((row) => row.judged)
    .flatMap((row) => {
      if (row.middle === undefined || row.end === undefined) {
        return harnessError === undefined ? [`${row.process}: no RSS sample at the middle or the end`] : [];
      }
      return row.end > RSS_GROWTH_MAX * row.middle
        ? [
            `${row.process}: ${kibToMiB(row.end)} MiB at the end > ${RSS_GROWTH_MAX} x ${kibToMiB(row.middle)} MiB at the middle`,
          ]
        : [];
    });
  const violationTotal = ledger.violationCount;
  const kept =
    options.keep === true || violationTotal > 0 || rssFailures.length > 0 || harnessError !== undefined;
  if (!kept) rmSync(dir, { recursive: true, force: true });
  return {
    seed: options.seed,
    short: options.short,
    minutes: options.minutes,
    dir,
    kept,
    vdiBytes,
    pathKills,
    endpointLosses,
    connectionsCut,
    logins: paths.reduce((sum, path) => sum + path.logins, 0),
    timeouts: paths.reduce((sum, path) => sum + path.timeouts, 0),
    ledger: { ...ledger.counts },
    load: { ...load.counts },
    rss,
    rates,
    rssFailures,
    blocksVerified,
    violationCounts: new Map(ledger.violationCounts),
    violations: [...ledger.violations],
    violationTotal,
    elapsedMs: realClock.now() - started,
    ...(harnessError === undefined ? {} : { harnessError }),
  };
}

function kibToMiB(kib: number): string {
  return (kib / 1024).toFixed(1);
}

export function soakPassed(report: SoakReport): boolean {
  return report.violationTotal === 0 && report.rssFailures.length === 0 && report.harnessError === undefined;
}

export function describeSoakReport(report: SoakReport): string[] {
  const l = report.ledger;
  const c = report.load;
  const cell = (kib: number | undefined) => (kib === undefined ? '-' : kibToMiB(kib)).padStart(8);
  const lines = [
    `soak: seed "${report.seed}"${report.short ? ' (short)' : ''}: ${report.minutes} min of load on 2 target nodes (one VDI of ${report.vdiBytes / 1024 / 1024} MiB, ` +
      `two store endpoints of one collie sheep), ${WORKERS} workers over 2 paths`,
    `  faults: ${report.pathKills} path kills (iSCSI connection reset, down ${PATH_DOWN_MS / 1000} s), ${report.endpointLosses} store endpoint losses ` +
      `(${report.connectionsCut} connections reset, refused ${ENDPOINT_OUTAGE_MS / 1000} s); ${report.logins} logins, ${report.timeouts} command timeouts (${COMMAND_TIMEOUT_MS / 1000} s)`,
    `  writes: sent ${l.writesSent}, GOOD ${l.writesAcked} (FUA ${l.fuaWrites} sent), retried on another path ${c.writeRetries}, ` +
      `never GOOD ${c.writesNotGood}; ${l.blocksWritten} blocks written; SYNCHRONIZE CACHE ${l.syncsAcked}/${l.syncsSent} GOOD`,
    `  reads: ${c.readsGood} GOOD (read-after-ack of older writes ${c.readsAfterAck}), read-backs of each write just acked ${c.readBacks} ` +
      `(through a random node); ${report.blocksVerified} blocks in the final verification; ${l.blocksChecked} block checks in all`,
    `  RSS (MiB)                            start   middle      end   end/middle`,
  ];
  for (const row of report.rss) {
    const ratio = row.middle && row.end ? (row.end / row.middle).toFixed(2) : '-';
    lines.push(
      `    ${row.process.padEnd(34)}${cell(row.start)} ${cell(row.middle)} ${cell(row.end)}   ${ratio.padStart(5)}${row.judged ? '' : '  (not judged)'}`,
    );
  }
  for (const rate of report.rates) {
    const cpu = rate.cpuMsPer1000Writes.map((ms) => (ms === undefined ? '-' : ms.toFixed(0))).join(' / ');
    lines.push(
      `  ${rate.phase}: ${rate.writesPerSecond.toFixed(0)} writes/s GOOD; CPU ms per 1000 writes (store / node 1 / node 2 / harness) ${cpu}; load average ${rate.loadAverage.toFixed(2)}`,
    );
  }
  lines.push(
    `  rule: a Collie process fails the soak if its RSS at the end is more than ${RSS_GROWTH_MAX} x its RSS at the middle`,
  );
  for (const failure of report.rssFailures) lines.push(`    RSS: ${failure}`);
  lines.push(
    `  violations (blocks or events): ${report.violationTotal}${[...report.violationCounts].map(([kind, count]) => ` ${kind}=${count}`).join('')}`,
  );
  for (const violation of report.violations.slice(0, 20)) lines.push(`    ${describeViolation(violation)}`);
  if (report.harnessError) lines.push(`  harness error: ${report.harnessError}`);
  lines.push(
    `  ${soakPassed(report) ? 'PASS' : 'FAIL'} in ${(report.elapsedMs / 1000).toFixed(1)} s` +
      (report.kept ? `; run directory kept: ${report.dir}` : ''),
  );
  if (!soakPassed(report)) {
    lines.push(
      `  reproduce: npm run soak -- --seed ${JSON.stringify(report.seed)} --minutes ${report.minutes}${report.short ? ' --short' : ''}` +
        ' (the fault schedule and choices follow the seed; real timing does not replay exactly)',
    );
  }
  return lines;
}
