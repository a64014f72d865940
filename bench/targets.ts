/**
 * The targets the benchmark compares, each on its own loopback port and each with a 1 GiB LUN 1:
 * - tgt: Debian's tgtd, a `rdwr` LUN on a sparse file, every iSCSI parameter at tgt's default
 *   (so InitialR2T=Yes, FirstBurstLength=64 KiB and an 8 KiB MaxRecvDataSegmentLength).
 * - Collie with a `file:` LUN (the same kind of LUN as tgt's), a `mem:` LUN, and a sheepdog LU on
 *   the embedded store (`collie sheep` + `collie vdi create`), one `collie target` process each so
 *   each one's CPU time is its own.
 * tgtd runs with its own control channel (`-C N`) so it never touches a system tgtd; it ignores
 * SIGTERM, so it is stopped through tgtadm and, failing that, SIGKILL.
 */
import { rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Daemon, freePort, isListening, runCommand, sleep } from './processes.js';

export const LUN_SIZE = '1G';
const LUN_BYTES = 1024 * 1024 * 1024;
const READY_TIMEOUT_MS = 15_000;

export interface RunningTarget {
  /** Column label. */
  readonly label: string;
  readonly url: string;
  /** The process whose CPU time is the target's. */
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

async function unusedTgtControlPort(): Promise<number> {
  // tgtd accepts 0..32767; 0 is the system daemon's. Start from a pid-dependent number.
  for (let attempt = 0; attempt < 200; attempt++) {
    const candidate = 20_000 + ((process.pid * 7 + attempt) % 12_000);
    if (!(await tgtSocketAnswers(candidate))) return candidate;
  }
  throw new Error('no free tgtd control channel in 20000..31999; stop stray tgtd processes');
}

async function tgtadm(controlPort: number, args: readonly string[]): Promise<string> {
  const result = await runCommand('tgtadm', ['-C', String(controlPort), ...args], 10_000);
  if (result.exitCode !== 0) throw new Error(`tgtadm ${args.join(' ')} failed: ${result.output.trim()}`);
  return result.output;
}

/** tgtd with target `iqn`, LUN 1 = rdwr on a sparse 1 GiB file in `dir`. */
export async function startTgt(dir: string, iqn: string): Promise<RunningTarget> {
  const port = await freePort();
  const controlPort = await unusedTgtControlPort();
  const daemon = new Daemon('tgtd', 'tgtd', [
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
    const file = join(dir, 'tgt-disk.img');
    const created = await runCommand('truncate', ['-s', String(LUN_BYTES), file]);
    if (created.exitCode !== 0) throw new Error(`cannot create ${file}: ${created.output}`);
    await tgtadm(controlPort, ['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', '1', '-T', iqn]);
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
      'rdwr',
      '--backing-store',
      file,
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
  return { label: 'tgt', url: `iscsi://127.0.0.1:${port}/${iqn}/1`, pid: daemon.pid, helperPids: [], stop };
}

/** The compiled CLI, run with the same node as the benchmark. */
function collie(repoRoot: string): { command: string; prefix: string[] } {
  return { command: process.execPath, prefix: [join(repoRoot, 'bin', 'collie.js')] };
}

/**
 * `collie target` with LUN 1 = `backing` (mem:1G, file:PATH:1G, tcp:HOST:PORT:VDI); `extraArgs`
 * go to `collie target` itself (`--inspect 127.0.0.1:0`).
 */
export async function startCollieTarget(
  repoRoot: string,
  label: string,
  iqn: string,
  backing: string,
  extraNodeArgs: readonly string[] = [],
  extraArgs: readonly string[] = [],
): Promise<RunningTarget & { daemon: Daemon }> {
  const port = await freePort();
  const { command, prefix } = collie(repoRoot);
  const daemon = new Daemon(label, command, [
    ...extraNodeArgs,
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
    ...extraArgs,
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
    helperPids: [],
    daemon,
    stop: () => daemon.stop('SIGTERM', 3_000),
  };
}

/** The embedded sheep store in `storeDir` with a 1 GiB VDI, and a Collie target serving it. */
export async function startCollieSheepdog(
  repoRoot: string,
  label: string,
  iqn: string,
  storeDir: string,
  vdi: string,
  extraTargetArgs: readonly string[] = [],
): Promise<RunningTarget> {
  const sheepPort = await freePort();
  const { command, prefix } = collie(repoRoot);
  const sheep = new Daemon('collie sheep', command, [
    ...prefix,
    'sheep',
    '--store',
    storeDir,
    '--listen',
    `127.0.0.1:${sheepPort}`,
    '--log-level',
    'warn',
  ]);
  try {
    await sheep.waitForLine(/ready/i, READY_TIMEOUT_MS);
    const created = await runCommand(command, [
      ...prefix,
      'vdi',
      'create',
      vdi,
      LUN_SIZE,
      '-p',
      String(sheepPort),
    ]);
    if (created.exitCode !== 0) throw new Error(`collie vdi create ${vdi} failed: ${created.output.trim()}`);
    const target = await startCollieTarget(
      repoRoot,
      label,
      iqn,
      `tcp:127.0.0.1:${sheepPort}:${vdi}`,
      [],
      extraTargetArgs,
    );
    return {
      ...target,
      helperPids: [sheep.pid],
      stop: async () => {
        await target.stop();
        await sheep.stop('SIGTERM', 3_000);
      },
    };
  } catch (error) {
    await sheep.stop('SIGKILL', 0);
    throw error;
  }
}
