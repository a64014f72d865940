/**
 * What the benchmark starts, each on its own loopback port, each target with its own 1 GiB LUN 1:
 * - tgt: Debian's tgtd, one process per pair, every iSCSI parameter and tgtd option at its
 *   default (so InitialR2T=Yes, FirstBurstLength=64 KiB, an 8 KiB MaxRecvDataSegmentLength and
 *   tgtd's default number of backing-store I/O threads). LUN 1 is `--bstype rdwr` on a sparse file
 *   (page cache, no O_SYNC/O_DIRECT) or `--bstype sheepdog` on a VDI of the embedded store.
 * - Collie: one `collie target` process per column (so each one's CPU time and RSS are its own),
 *   with LUN 1 `file:PATH:1G`, `mem:1G` or `tcp:127.0.0.1:PORT:VDI` (Collie's sheepdog client).
 * - The store: one `collie sheep` with two endpoints (two sheep nodes of one store); tgt's
 *   bs_sheepdog talks to one, Collie's client to the other, each to its own VDI (a VDI has one
 *   lock holder). Its ports are 4-digit: tgt 1.0.85 keeps only 4 digits of a backing store's port.
 * - The loopback ceiling's server (`io-probe tcp-serve`).
 * tgtd runs with its own control channel (`-C N`) so it never touches a system tgtd; it ignores
 * SIGTERM, so it is stopped through tgtadm and, failing that, SIGKILL.
 */
import { rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Daemon, fourDigitPort, freePort, isListening, runCommand, sleep } from './processes.js';

export const LUN_SIZE = '1G';
const LUN_BYTES = 1024 * 1024 * 1024;
const READY_TIMEOUT_MS = 15_000;

export interface RunningTarget {
  /** Column label. */
  readonly label: string;
  /** iscsi://HOST:PORT/IQN/1, or tcp:HOST:PORT for the loopback server. */
  readonly url: string;
  /** The process whose CPU time and RSS are the target's. */
  readonly pid: number;
  /** Processes the target depends on (the sheep store), reported separately. */
  readonly helperPids: readonly number[];
  stop(): Promise<void>;
}

function tgtSocketAnswers(controlPort: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(`/var/run/tgtd/socket.${controlPort}`);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const usedControlPorts = new Set<number>();

async function unusedTgtControlPort(): Promise<number> {
  // tgtd accepts 0..32767; 0 is the system daemon's. Start from a pid-dependent number.
  for (let attempt = 0; attempt < 200; attempt++) {
    const candidate = 20_000 + ((process.pid * 7 + attempt) % 12_000);
    if (usedControlPorts.has(candidate)) continue;
    if (!(await tgtSocketAnswers(candidate))) {
      usedControlPorts.add(candidate);
      return candidate;
    }
  }
  throw new Error('no free tgtd control channel in 20000..31999; stop stray tgtd processes');
}

async function tgtadm(controlPort: number, args: readonly string[]): Promise<string> {
  const result = await runCommand('tgtadm', ['-C', String(controlPort), ...args], 10_000);
  if (result.exitCode !== 0) throw new Error(`tgtadm ${args.join(' ')} failed: ${result.output.trim()}`);
  return result.output;
}

/** tgt's LUN 1: a sparse 1 GiB file (rdwr) or a VDI through a store endpoint (sheepdog). */
export type TgtBacking =
  | { readonly bstype: 'rdwr'; readonly dir: string }
  | { readonly bstype: 'sheepdog'; readonly port: number; readonly vdi: string };

/**
 * `--tgt-tuned`: tgt's session parameters raised to what Collie answers libiscsi with
 * (src/iscsi/login/negotiate.ts), so both negotiate the same PDU sizes and write bursts. tgt's
 * defaults are InitialR2T=Yes, FirstBurstLength=64 KiB, MaxBurstLength=256 KiB,
 * MaxOutstandingR2T=1, and 8 KiB PDUs both ways (MaxRecvDataSegmentLength and
 * MaxXmitDataSegmentLength 8192).
 */
export const TGT_TUNED_PARAMS: ReadonlyArray<readonly [string, string]> = [
  ['InitialR2T', 'No'],
  ['ImmediateData', 'Yes'],
  ['MaxRecvDataSegmentLength', '262144'],
  ['MaxXmitDataSegmentLength', '262144'],
  ['FirstBurstLength', '262144'],
  ['MaxBurstLength', '16776192'],
  ['MaxOutstandingR2T', '16'],
];

/** tgtd with target `iqn` and LUN 1 on `backing`; `params` are set on the target first. */
export async function startTgt(
  label: string,
  iqn: string,
  backing: TgtBacking,
  params: ReadonlyArray<readonly [string, string]> = [],
): Promise<RunningTarget> {
  const port = await freePort();
  const controlPort = await unusedTgtControlPort();
  const daemon = new Daemon(label, 'tgtd', [
    '-f',
    '-C',
    String(controlPort),
    '--iscsi',
    `portal=127.0.0.1:${port}`,
  ]);
  const removeSockets = () => {
    rmSync(`/var/run/tgtd/socket.${controlPort}`, { force: true });
    rmSync(`/var/run/tgtd/socket.${controlPort}.lock`, { force: true });
  };
  const stop = async () => {
    try {
      // Deleting the target closes the LU (bs_sheepdog releases its VDI lock); tgtd refuses to
      // delete the system while targets exist, and then exits.
      await tgtadm(controlPort, [
        '--lld',
        'iscsi',
        '--op',
        'delete',
        '--mode',
        'target',
        '--tid',
        '1',
        '--force',
      ]);
      await tgtadm(controlPort, ['--op', 'delete', '--mode', 'system']);
    } catch {
      // tgtd is stuck or already gone: SIGKILL below.
    }
    await daemon.stop('SIGKILL', 0).catch(() => undefined);
    removeSockets();
  };
  try {
    const deadline = performance.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (daemon.exited) throw new Error(`tgtd exited at start\n${daemon.tail()}`);
      const shown = await runCommand('tgtadm', [
        '-C',
        String(controlPort),
        '--op',
        'show',
        '--mode',
        'system',
      ]);
      if (shown.exitCode === 0) break;
      if (performance.now() > deadline) throw new Error(`tgtd did not answer tgtadm\n${daemon.tail()}`);
      await sleep(50);
    }
    // tgtd falls back to 0.0.0.0:3260 when the portal cannot be bound: make sure it is ours.
    if (!(await isListening(port)))
      throw new Error(`tgtd does not listen on 127.0.0.1:${port}\n${daemon.tail()}`);
    let backingStore: string;
    if (backing.bstype === 'rdwr') {
      backingStore = join(backing.dir, `${label.replace(/\W+/g, '-')}-disk.img`);
      const created = await runCommand('truncate', ['-s', String(LUN_BYTES), backingStore]);
      if (created.exitCode !== 0) throw new Error(`cannot create ${backingStore}: ${created.output}`);
    } else {
      if (backing.port > 9999) throw new Error(`tgt keeps only 4 digits of the sheep port ${backing.port}`);
      backingStore = `tcp:127.0.0.1:${backing.port}:${backing.vdi}`;
    }
    await tgtadm(controlPort, ['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', '1', '-T', iqn]);
    for (const [name, value] of params) {
      const update = ['--lld', 'iscsi', '--op', 'update', '--mode', 'target', '--tid', '1'];
      await tgtadm(controlPort, [...update, '--name', name, '--value', value]);
    }
    await tgtadm(controlPort, [
      '--lld',
      'iscsi',
      '--op',
      'new',
      '--mode',
      'logicalunit',
      '--tid',
      '1',
      '--lun',
      '1',
      '--bstype',
      backing.bstype,
      '--backing-store',
      backingStore,
    ]);
    await tgtadm(controlPort, [
      '--lld',
      'iscsi',
      '--op',
      'bind',
      '--mode',
      'target',
      '--tid',
      '1',
      '-I',
      'ALL',
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { label, url: `iscsi://127.0.0.1:${port}/${iqn}/1`, pid: daemon.pid, helperPids: [], stop };
}

/** The compiled CLI, run with the same node as the benchmark. */
function collie(repoRoot: string): { command: string; prefix: string[] } {
  return { command: process.execPath, prefix: [join(repoRoot, 'bin', 'collie.js')] };
}

/**
 * `collie target` with LUN 1 = `backing` (mem:1G, file:PATH:1G, tcp:HOST:PORT:VDI); `extraArgs`
 * go to `collie target` itself (`--inspect 127.0.0.1:0`). Digests stay at Collie's default
 * (`allow`): the initiator asks for none, so none are used, as with tgt.
 */
export async function startCollieTarget(
  repoRoot: string,
  label: string,
  iqn: string,
  backing: string,
  options: { nodeArgs?: readonly string[]; args?: readonly string[]; helperPids?: readonly number[] } = {},
): Promise<RunningTarget> {
  const port = await freePort();
  const { command, prefix } = collie(repoRoot);
  const daemon = new Daemon(label, command, [
    ...(options.nodeArgs ?? []),
    ...prefix,
    'target',
    '--portal',
    `127.0.0.1:${port}`,
    '--iqn',
    iqn,
    '--lun',
    `1=${backing}`,
    '--log-level',
    'warn',
    ...(options.args ?? []),
  ]);
  try {
    await daemon.waitForLine(/ready/i, READY_TIMEOUT_MS);
  } catch (error) {
    await daemon.stop('SIGKILL', 0);
    throw error;
  }
  return {
    label,
    url: `iscsi://127.0.0.1:${port}/${iqn}/1`,
    pid: daemon.pid,
    helperPids: options.helperPids ?? [],
    stop: () => daemon.stop('SIGTERM', 3_000),
  };
}

export interface RunningStore {
  readonly pid: number;
  /** Its 4-digit endpoint ports, one sheep node each. */
  readonly ports: readonly number[];
  /** `collie vdi create NAME 1G` through the first endpoint. */
  createVdi(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** The embedded sheep store in `storeDir` with `endpoints` endpoints (sheep nodes). */
export async function startStore(
  repoRoot: string,
  storeDir: string,
  endpoints: number,
): Promise<RunningStore> {
  const ports: number[] = [];
  for (let i = 0; i < endpoints; i++) ports.push(await fourDigitPort());
  const { command, prefix } = collie(repoRoot);
  const sheep = new Daemon('collie sheep', command, [
    ...prefix,
    'sheep',
    '--store',
    storeDir,
    ...ports.flatMap((port) => ['--listen', `127.0.0.1:${port}`]),
    '--log-level',
    'warn',
  ]);
  try {
    await sheep.waitForLine(/ready/i, READY_TIMEOUT_MS);
  } catch (error) {
    await sheep.stop('SIGKILL', 0);
    throw error;
  }
  return {
    pid: sheep.pid,
    ports,
    createVdi: async (name) => {
      const created = await runCommand(command, [
        ...prefix,
        'vdi',
        'create',
        name,
        LUN_SIZE,
        '-p',
        String(ports[0]),
      ]);
      if (created.exitCode !== 0)
        throw new Error(`collie vdi create ${name} failed: ${created.output.trim()}`);
    },
    stop: () => sheep.stop('SIGTERM', 3_000),
  };
}

/** The loopback ceiling's server: `io-probe tcp-serve`, one connection at a time. */
export async function startLoopback(probe: string): Promise<RunningTarget> {
  const daemon = new Daemon('loopback', probe, ['tcp-serve']);
  let line: string;
  try {
    line = await daemon.waitForLine(/^port \d+$/, READY_TIMEOUT_MS);
  } catch (error) {
    await daemon.stop('SIGKILL', 0);
    throw error;
  }
  return {
    label: 'loopback',
    url: `tcp:127.0.0.1:${line.slice('port '.length)}`,
    pid: daemon.pid,
    helperPids: [],
    stop: () => daemon.stop('SIGKILL', 0),
  };
}
