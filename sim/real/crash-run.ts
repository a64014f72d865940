/**
 * The crash-safety harness (`npm run crash`): real `collie sheep` and `collie target` processes,
 * each SIGKILLed N times at random moments during a mixed stamped write load with FUA and
 * SYNCHRONIZE CACHE, restarted, and every block checked after every restart.
 *
 * Topology: `collie sheep --store DIR/store --listen 127.0.0.1:S` and `collie target --lun
 * 1=tcp:127.0.0.1:S:crash` as two processes; one VDI made by `collie vdi create -z 20` (1 MiB
 * objects, so the load keeps allocating objects and updating the inode during the run: the
 * writes' LBAs are drawn below a frontier that grows over the cycles); two sessions of the
 * project's initiator over TCP (sim/initiator), each with several commands in flight.
 *
 * A cycle: load; after a random delay (seeded) SIGKILL the victim, alternately the target and
 * the store.
 * - Target: the sessions die with commands in flight (their writes are "unknown"); the killed
 *   target leaves its VDI lock on the store (docs/target.md: a SIGKILL leaves it), so the
 *   harness runs what an operator runs, `collie vdi lock unlock crash -p S`, restarts the target
 *   and logs in again.
 * - Store: the target stays up; its commands wait for the store, which is restarted after a
 *   random outage; the load goes on a moment on the restarted store (the client's reconnect and
 *   rejoin), then drains.
 * Then a full verification (verify-all.ts): every block through the target and the store's own
 * copy (`collie vdi read`), checked by the BlockLedger (block-ledger.ts: no durable write lost,
 * no acknowledged write lost without a store kill, no torn, misplaced or ghost block), the object
 * directory listed, and a SYNCHRONIZE CACHE that settles the ledger. A process that exits on its
 * own (the store's invariant exit 70, a crash) is a violation too.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../../src/core/real-clock.js';
import { createRng } from '../../src/core/rng.js';
import { sleepMs } from '../../src/core/sleep.js';
import { BlockLedger, describeViolation, type Violation, type ViolationKind } from './block-ledger.js';
import { runTagOf, STAMP_BLOCK_BYTES } from './block-stamps.js';
import { DaemonSet } from './daemon-set.js';
import { IscsiPath } from './iscsi-path.js';
import { type CollieDaemon, freePorts, runCollieOk } from './real-processes.js';
import { type LoadCounts, RangeFence, StampedLoad } from './stamped-load.js';
import { verifyAll } from './verify-all.js';

export interface CrashOptions {
  readonly seed: string;
  /** SIGKILLs of each process (the target and the store). */
  readonly killsEach: number;
  /** The CI form: a smaller VDI, shorter load windows. */
  readonly short: boolean;
  /** Keep the run directory (logs, store) even when the run passes. */
  readonly keep?: boolean;
  /** Progress lines (one per cycle); default none. */
  readonly log?: (line: string) => void;
}

export interface CrashReport {
  readonly seed: string;
  readonly short: boolean;
  readonly killsEach: number;
  readonly dir: string;
  readonly kept: boolean;
  readonly vdiBytes: number;
  readonly objectBytes: number;
  readonly kills: { target: number; store: number };
  readonly ledger: BlockLedger['counts'];
  readonly load: LoadCounts;
  readonly verifications: number;
  readonly blocksVerified: number;
  readonly logins: number;
  readonly violationCounts: ReadonlyMap<ViolationKind, number>;
  readonly violations: readonly Violation[];
  readonly violationTotal: number;
  readonly elapsedMs: number;
  /** Set when the harness itself could not go on (a process would not start...). */
  readonly harnessError?: string;
}

const VDI = 'crash';
const IQN = 'iqn.2026-11.org.collie:crash';
const OBJECT_SHIFT = 20;
const QUEUE_DEPTH_PER_SESSION = 6;
const READY_TIMEOUT_MS = 30_000;

export async function runCrash(options: CrashOptions): Promise<CrashReport> {
  const log = options.log ?? (() => {});
  const started = realClock.now();
  const rng = createRng(`crash/${options.seed}`);
  const dir = mkdtempSync(join(tmpdir(), 'collie-crash-'));
  const storeDir = join(dir, 'store');
  const logDir = join(dir, 'logs');
  mkdirSync(logDir);
  const vdiBytes = (options.short ? 32 : 64) * 1024 * 1024;
  const blockCount = vdiBytes / STAMP_BLOCK_BYTES;
  const runTag = runTagOf(options.seed);
  const ledger = new BlockLedger(blockCount, runTag);
  const fence = new RangeFence();
  const [storePort, portalPort] = (await freePorts(
    2,
    createRng(`ports/${process.pid}/${realClock.now()}`),
  )) as [number, number];
  const kills = { target: 0, store: 0 };
  let verifications = 0;
  let blocksVerified = 0;
  let harnessError: string | undefined;

  const daemons = new DaemonSet(logDir, (message) => ledger.violation('other', 0, message));
  const startStore = () =>
    daemons.start(
      'sheep',
      [
        'sheep',
        '--store',
        storeDir,
        '--listen',
        `127.0.0.1:${storePort}`,
        '--log-level',
        'warn',
        '--log-format',
        'json',
      ],
      /collie sheep ready/,
    );
  const startTarget = () =>
    daemons.start(
      'target',
      [
        'target',
        '--portal',
        `127.0.0.1:${portalPort}`,
        '--iqn',
        IQN,
        '--lun',
        `1=tcp:127.0.0.1:${storePort}:${VDI}`,
        '--log-level',
        'warn',
        '--log-format',
        'json',
      ],
      /collie target ready/,
    );
  const paths = ['a', 'b'].map(
    (name, index) =>
      new IscsiPath({
        name: `session-${name}`,
        portal: { host: '127.0.0.1', port: portalPort },
        targetName: IQN,
        initiatorName: `iqn.2026-11.org.collie.crash:session-${name}`,
        isid: `80c0ffee000${index}`,
        lun: 1,
        commandTimeoutMs: 60_000,
        scope: 'target',
      }),
  );
  const connectAll = () => Promise.all(paths.map((path) => path.connect(READY_TIMEOUT_MS)));

  const cycles = options.killsEach * 2;
  let cycle = 0;
  const frontier = () => {
    const share = Math.min(1, 0.125 + (0.875 * (cycle + 1)) / Math.max(1, cycles * 0.75));
    return Math.max(2048, Math.floor(blockCount * share));
  };
  const load = new StampedLoad({
    ledger,
    runTag,
    fence,
    mix: { write: 0.8, read: 0.12, sync: 0.08, readAfterAck: 0.7, fuaChance: 0.15, readBackChance: 0 },
    lbaLimit: frontier,
    choosePath: (worker) => {
      const path = paths[worker % paths.length]!;
      return path.up ? path : undefined;
    },
    retries: 0,
    pathWaitMs: 0,
    where: 'load',
  });

  let sheep: CollieDaemon | undefined;
  let target: CollieDaemon | undefined;
  try {
    sheep = await startStore();
    await runCollieOk([
      'vdi',
      'create',
      '-p',
      String(storePort),
      '-z',
      String(OBJECT_SHIFT),
      VDI,
      String(vdiBytes),
    ]);
    target = await startTarget();
    await connectAll();
    if (paths[0]!.blockCount !== blockCount) {
      throw new Error(`the LU has ${paths[0]!.blockCount} blocks, expected ${blockCount}`);
    }
    for (cycle = 0; cycle < cycles; cycle++) {
      const victim: 'target' | 'store' = cycle % 2 === 0 ? 'target' : 'store';
      const cycleRng = rng.fork(`cycle-${cycle}`);
      const sentBefore = ledger.counts.writesSent;
      load.start(QUEUE_DEPTH_PER_SESSION * paths.length, cycleRng.fork('load'));
      const delayMs = options.short ? cycleRng.int(300, 1500) : cycleRng.int(300, 3000);
      await sleepMs(realClock, delayMs);
      const inFlight = fence.size;
      const killedAt = realClock.now();
      let note: string;
      if (victim === 'target') {
        await target!.kill();
        kills.target++;
        await load.stop();
        for (const path of paths) path.drop();
        await runCollieOk(['vdi', 'lock', 'unlock', VDI, '-a', '127.0.0.1', '-p', String(storePort)]);
        target = await startTarget();
        await connectAll();
        note = `back in ${((realClock.now() - killedAt) / 1000).toFixed(2)} s (unlock, restart, login)`;
      } else {
        await sheep!.kill();
        ledger.storeCrashed();
        kills.store++;
        const outageMs = cycleRng.int(0, options.short ? 800 : 1500);
        await sleepMs(realClock, outageMs);
        sheep = await startStore();
        const backMs = realClock.now() - killedAt;
        await sleepMs(realClock, cycleRng.int(300, options.short ? 800 : 1500));
        await load.stop();
        for (const path of paths) if (!path.up) await path.connect(READY_TIMEOUT_MS);
        note = `back in ${(backMs / 1000).toFixed(2)} s (outage ${outageMs} ms), load drained`;
      }
      const verified = await verifyAll({
        ledger,
        path: paths[0]!,
        where: `cycle ${cycle + 1} (${victim} kill)`,
        store: { vdi: VDI, port: storePort, objectDir: join(storeDir, 'obj') },
        settle: true,
        reconnect: () => paths[0]!.connect(READY_TIMEOUT_MS),
      });
      verifications++;
      blocksVerified += verified.blocks;
      log(
        `[${String(cycle + 1).padStart(String(cycles).length)}/${cycles}] kill ${victim.padEnd(6)} after ${(delayMs / 1000).toFixed(2)} s, ` +
          `${inFlight} commands in flight; ${note}; writes +${ledger.counts.writesSent - sentBefore}; ` +
          `verified ${verified.blocks} blocks + store copy (${verified.storeObjects} objects); ` +
          `violations ${ledger.violationCount}`,
      );
    }
  } catch (error) {
    harnessError = (error as Error).stack ?? String(error);
    await load.stop().catch(() => {});
  } finally {
    for (const path of paths) {
      await path.close().catch(() => {});
      for (const violation of path.protocolViolations) {
        ledger.violation('other', 0, `${path.name}: the target broke a protocol rule: ${violation}`);
      }
    }
    await daemons.stopAll();
  }
  const violationTotal = ledger.violationCount;
  const kept = options.keep === true || violationTotal > 0 || harnessError !== undefined;
  if (!kept) rmSync(dir, { recursive: true, force: true });
  return {
    seed: options.seed,
    short: options.short,
    killsEach: options.killsEach,
    dir,
    kept,
    vdiBytes,
    objectBytes: 1 << OBJECT_SHIFT,
    kills,
    ledger: { ...ledger.counts },
    load: { ...load.counts },
    verifications,
    blocksVerified,
    logins: paths.reduce((sum, path) => sum + path.logins, 0),
    violationCounts: new Map(ledger.violationCounts),
    violations: [...ledger.violations],
    violationTotal,
    elapsedMs: realClock.now() - started,
    ...(harnessError === undefined ? {} : { harnessError }),
  };
}

export function crashPassed(report: CrashReport): boolean {
  return report.violationTotal === 0 && report.harnessError === undefined;
}

/** The printed summary: counts, violations, the reproduction. */
export function describeCrashReport(report: CrashReport): string[] {
  const l = report.ledger;
  const mib = (bytes: number) => `${bytes / 1024 / 1024} MiB`;
  const lines = [
    `crash: seed "${report.seed}"${report.short ? ' (short)' : ''}: ${report.kills.target} target kills + ${report.kills.store} store kills (SIGKILL), ` +
      `one ${mib(report.vdiBytes)} VDI of ${report.vdiBytes / report.objectBytes} objects of ${mib(report.objectBytes)}, ` +
      `2 sessions x ${QUEUE_DEPTH_PER_SESSION} commands, ${report.logins} logins`,
    `  writes: sent ${l.writesSent}, acknowledged ${l.writesAcked} (FUA ${l.fuaWrites} sent), answered not GOOD ${l.writesFailed}, ` +
      `unanswered ${l.writesUnknown}; durable ${l.writesDurable}; ${l.blocksWritten} blocks written`,
    `  SYNCHRONIZE CACHE: sent ${l.syncsSent}, GOOD ${l.syncsAcked}; reads during the load ${report.load.readsGood} ` +
      `(read-after-ack ${report.load.readsAfterAck})`,
    `  verified: ${report.verifications} full verifications (${report.blocksVerified} blocks through the target, ` +
      `each also compared with the store's copy); ${l.blocksChecked} block checks in all`,
    `  acked-but-unflushed writes rolled back by a store kill (allowed): ${l.rolledBack}`,
    `  violations (blocks or events): ${report.violationTotal}${[...report.violationCounts].map(([kind, count]) => ` ${kind}=${count}`).join('')}`,
  ];
  for (const violation of report.violations.slice(0, 20)) lines.push(`    ${describeViolation(violation)}`);
  if (report.harnessError) lines.push(`  harness error: ${report.harnessError}`);
  lines.push(
    `  ${crashPassed(report) ? 'PASS' : 'FAIL'} in ${(report.elapsedMs / 1000).toFixed(1)} s` +
      (report.kept ? `; run directory kept: ${report.dir}` : ''),
  );
  if (!crashPassed(report)) {
    lines.push(
      `  reproduce: npm run crash -- --seed ${JSON.stringify(report.seed)} --kills ${report.killsEach}${report.short ? ' --short' : ''}` +
        ' (kill moments and choices follow the seed; real timing does not replay exactly)',
    );
  }
  return lines;
}
