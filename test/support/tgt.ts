/**
 * A real tgtd (Linux SCSI target daemon) for tests, driven through tgtadm.
 *
 * Facts about Debian's tgt 1.0.85 this relies on (observed, see the harness test):
 * - `tgtd -f -C N --iscsi portal=127.0.0.1:P` runs in the foreground; `-C N` (0..32767) selects the
 *   control socket /var/run/tgtd/socket.N, so several tgtd can run at once. The socket files are left
 *   behind when tgtd exits; we remove them.
 * - If the portal cannot be bound, tgtd does NOT fail: it logs the error and listens on the default
 *   0.0.0.0:3260 and [::]:3260 instead. So start() checks the portal list and refuses that state.
 * - tgtd ignores SIGTERM. `--op delete --mode system` is refused ("invalid request") while targets
 *   exist (`--force` does not help), so stop() deletes the targets first; tgtd then exits in about
 *   0.1 s to 1.5 s. Anything slower ends with SIGKILL. tgtadm answers that delete and then polls
 *   the socket until connect() is refused; if the socket file is already gone (ENOENT) it keeps
 *   polling for ever, so the files are removed only after tgtadm returned and tgtd exited.
 * - tgtadm's own messages are terse ("invalid request"); the reason is in tgtd's log, so failures
 *   quote both.
 * - A sheepdog LUN whose sheep accepts and then drops connections blocks tgtd's main loop
 *   (bs_sheepdog reconnects for ever), so every tgtadm call is bounded.
 */
import { rmSync } from 'node:fs';
import { afterAll } from 'vitest';
import {
  allocatePort,
  allocateTgtControlPort,
  isTgtControlPortInUse,
  tgtControlSocketPath,
} from './ports.js';
import { type ManagedProcess, runProcess, startProcess } from './processes.js';

export interface TgtdStartOptions {
  /** Portal port on 127.0.0.1; allocated (and retried on a bind race) when omitted. */
  portalPort?: number;
  /** tgtd control channel `-C N`; allocated when omitted. */
  controlPort?: number;
  /** Bound on waiting for tgtadm to answer; default 10 s. */
  startTimeoutMs?: number;
}

/** Where tgt's bs_sheepdog finds the VDI: `tcp:HOST:PORT:VDI`. */
export interface SheepdogBackingStore {
  host?: string;
  /** At most 4 digits: tgt 1.0.85 truncates longer ports. */
  port: number;
  vdi: string;
}

export type LunBacking =
  | { bstype: 'rdwr'; backingStore: string }
  | { bstype: 'sheepdog'; backingStore: SheepdogBackingStore | string };

export interface TgtadmOptions {
  /** Default 10 s. */
  timeoutMs?: number;
}

const DEFAULT_TGTADM_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 20;
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 3;

/** tgt's sheepdog backing-store string, refusing ports tgt 1.0.85 would truncate. */
export function sheepdogBackingStore({ host = '127.0.0.1', port, vdi }: SheepdogBackingStore): string {
  if (!Number.isInteger(port) || port < 1 || port > 9999) {
    throw new Error(
      `sheepdog backing store port ${port} is not a 1..9999 port: tgt 1.0.85 keeps only 4 digits of it; ` +
        'allocate sheep ports with allocatePort() (4-digit by default)',
    );
  }
  if (vdi.includes(':'))
    throw new Error(`sheepdog VDI name '${vdi}' contains ':'; tgt would read it as a tag`);
  return `tcp:${host}:${port}:${vdi}`;
}

function removeControlSocketFiles(controlPort: number): void {
  const path = tgtControlSocketPath(controlPort);
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Instances whose socket files have not been removed yet (tgtd may still run). */
const unfinished = new Set<Tgtd>();
try {
  // Runs before processes.ts's catch-all kill (hooks run in reverse order of registration).
  afterAll(async () => {
    await Promise.all([...unfinished].map((tgtd) => tgtd.kill9().catch(() => undefined)));
  });
} catch {
  // Imported outside a vitest collection.
}
process.on('exit', () => {
  // processes.ts SIGKILLs the daemons; here only their socket files are left to remove.
  for (const tgtd of unfinished) removeControlSocketFiles(tgtd.controlPort);
});

export class Tgtd {
  /** Milliseconds from spawning tgtd until tgtadm answered and the portal was confirmed. */
  startDurationMs = 0;
  private readonly iqnByTid = new Map<number, string>();

  private constructor(
    /** The tgtd process (its output lines, exit status). */
    readonly daemon: ManagedProcess,
    readonly portalPort: number,
    readonly controlPort: number,
  ) {
    unfinished.add(this);
  }

  /** Removes the socket files once tgtd has exited (not earlier: see the class comment). */
  private forgetControlSocket(): void {
    removeControlSocketFiles(this.controlPort);
    unfinished.delete(this);
  }

  /** Starts tgtd and waits until tgtadm answers and the portal 127.0.0.1:portalPort is really bound. */
  static async start(options: TgtdStartOptions = {}): Promise<Tgtd> {
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      const portalPort = options.portalPort ?? (await allocatePort());
      const controlPort = options.controlPort ?? (await allocateTgtControlPort());
      try {
        return await Tgtd.startOnce(portalPort, controlPort, options.startTimeoutMs ?? 10_000);
      } catch (error) {
        lastError = error as Error;
        // Only a race on a port or channel we picked ourselves is worth another try.
        const portalRace =
          options.portalPort === undefined && /could not bind portal/.test(lastError.message);
        const controlRace = options.controlPort === undefined && /another tgtd/.test(lastError.message);
        if (!portalRace && !controlRace) break;
      }
    }
    throw lastError ?? new Error('Tgtd.start failed');
  }

  private static async startOnce(portalPort: number, controlPort: number, timeoutMs: number): Promise<Tgtd> {
    if (await isTgtControlPortInUse(controlPort)) {
      throw new Error(
        `tgtd control channel ${controlPort} is in use by another tgtd; omit controlPort to allocate one`,
      );
    }
    removeControlSocketFiles(controlPort); // stale files of a dead tgtd
    const startedMs = Date.now();
    const child = startProcess(
      'tgtd',
      ['-f', '-C', String(controlPort), '--iscsi', `portal=127.0.0.1:${portalPort}`],
      {
        name: `tgtd -C ${controlPort}`,
      },
    );
    const deadlineMs = startedMs + timeoutMs;
    const tgtd = new Tgtd(child, portalPort, controlPort);
    try {
      for (;;) {
        if (child.exited) {
          throw new Error(
            `tgtd -C ${controlPort} exited during start-up; its output:\n${child.describeTail()}`,
          );
        }
        const probe = await runProcess(
          'tgtadm',
          ['-C', String(controlPort), '--op', 'show', '--mode', 'system'],
          {
            timeoutMs: Math.max(500, deadlineMs - Date.now()),
          },
        ).catch(() => undefined);
        if (probe?.exitCode === 0) break;
        if (Date.now() >= deadlineMs) {
          throw new Error(
            `tgtd -C ${controlPort} did not answer tgtadm within ${timeoutMs} ms; its output:\n${child.describeTail()}`,
          );
        }
        await sleep(POLL_INTERVAL_MS);
      }
      const portals = await tgtd.tgtadm(['--lld', 'iscsi', '--op', 'show', '--mode', 'portal']);
      if (!portals.split('\n').some((line) => line.trim() === `Portal: 127.0.0.1:${portalPort},1`)) {
        throw new Error(
          `tgtd -C ${controlPort} could not bind portal 127.0.0.1:${portalPort} (port in use?) and fell back to ` +
            `[${portals.trim().split('\n').join('; ')}]; pick a free port (allocatePort). Its output:\n${child.describeTail()}`,
        );
      }
    } catch (error) {
      await tgtd.kill9();
      throw error;
    }
    tgtd.startDurationMs = Date.now() - startedMs;
    return tgtd;
  }

  /** `127.0.0.1:PORT`, the portal initiators connect to. */
  get portal(): string {
    return `127.0.0.1:${this.portalPort}`;
  }

  /** Runs `tgtadm -C N ARGS`; returns stdout, throws with tgtadm's stderr and tgtd's log on failure. */
  async tgtadm(args: readonly string[], options: TgtadmOptions = {}): Promise<string> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TGTADM_TIMEOUT_MS;
    const command = `tgtadm -C ${this.controlPort} ${args.join(' ')}`;
    let result: Awaited<ReturnType<typeof runProcess>>;
    try {
      result = await runProcess('tgtadm', ['-C', String(this.controlPort), ...args], { timeoutMs });
    } catch (error) {
      throw new Error(
        `${command} hung for ${timeoutMs} ms (tgtd blocks while bs_sheepdog retries an unreachable sheep): ` +
          `${(error as Error).message.split('\n')[0]}\ntgtd's last output:\n${this.daemon.describeTail()}`,
      );
    }
    if (result.exitCode !== 0) {
      throw new Error(
        `${command} failed (exit ${result.exitCode ?? result.signal}): ${result.stderr.toString().trim()}\n` +
          `tgtd's last output:\n${this.daemon.describeTail()}`,
      );
    }
    return result.stdout.toString();
  }

  /** Creates target tid named iqn and lets every initiator in. */
  async createTarget(tid: number, iqn: string): Promise<void> {
    await this.tgtadm(['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', String(tid), '-T', iqn]);
    this.iqnByTid.set(tid, iqn);
    await this.tgtadm([
      '--lld',
      'iscsi',
      '--op',
      'bind',
      '--mode',
      'target',
      '--tid',
      String(tid),
      '-I',
      'ALL',
    ]);
  }

  /** Deletes target tid, by default even with sessions logged in. */
  async deleteTarget(tid: number, { force = true }: { force?: boolean } = {}): Promise<void> {
    const args = ['--lld', 'iscsi', '--op', 'delete', '--mode', 'target', '--tid', String(tid)];
    await this.tgtadm(force ? [...args, '--force'] : args);
    this.iqnByTid.delete(tid);
  }

  /** Adds LUN lun to target tid, backed by a file (rdwr) or a sheepdog VDI. */
  async addLun(tid: number, lun: number, backing: LunBacking, options: TgtadmOptions = {}): Promise<void> {
    const backingStore =
      typeof backing.backingStore === 'string'
        ? backing.backingStore
        : sheepdogBackingStore(backing.backingStore);
    await this.tgtadm(
      [
        '--lld',
        'iscsi',
        '--op',
        'new',
        '--mode',
        'logicalunit',
        '--tid',
        String(tid),
        '--lun',
        String(lun),
        '--bstype',
        backing.bstype,
        '--backing-store',
        backingStore,
      ],
      options,
    );
  }

  async deleteLun(tid: number, lun: number, options: TgtadmOptions = {}): Promise<void> {
    await this.tgtadm(
      [
        '--lld',
        'iscsi',
        '--op',
        'delete',
        '--mode',
        'logicalunit',
        '--tid',
        String(tid),
        '--lun',
        String(lun),
      ],
      options,
    );
  }

  /** Target ids tgtd currently has (from `--op show --mode target`). */
  async targetIds(options: TgtadmOptions = {}): Promise<number[]> {
    const shown = await this.tgtadm(['--lld', 'iscsi', '--op', 'show', '--mode', 'target'], options);
    return [...shown.matchAll(/^Target (\d+): /gm)].map((match) => Number(match[1]));
  }

  /** `iscsi://127.0.0.1:PORT/IQN/LUN`; target is an IQN or the tid given to createTarget. */
  url(target: string | number, lun: number): string {
    const iqn = typeof target === 'number' ? this.iqnByTid.get(target) : target;
    if (iqn === undefined)
      throw new Error(`Tgtd.url: no target with tid ${target} was created through this Tgtd`);
    return `iscsi://${this.portal}/${iqn}/${lun}`;
  }

  /** SIGKILLs tgtd's process group (tgtd ignores SIGTERM) and waits for it to exit. */
  async kill9(): Promise<void> {
    this.daemon.kill('SIGKILL');
    await this.daemon.waitForExit(5_000);
    this.forgetControlSocket();
  }

  /** Deletes all targets and the system (tgtd exits), then SIGKILLs it if it is still there after the bound. */
  async stop({ graceMs = STOP_GRACE_MS }: { graceMs?: number } = {}): Promise<void> {
    if (this.daemon.exited) {
      this.forgetControlSocket();
      return;
    }
    const deadlineMs = Date.now() + graceMs;
    const remaining = () => Math.max(200, deadlineMs - Date.now());
    try {
      for (const tid of await this.targetIds({ timeoutMs: remaining() })) {
        await this.tgtadm(
          ['--lld', 'iscsi', '--op', 'delete', '--mode', 'target', '--tid', String(tid), '--force'],
          { timeoutMs: remaining() },
        );
      }
      await this.tgtadm(['--op', 'delete', '--mode', 'system'], { timeoutMs: remaining() });
      await this.daemon.waitForExit(remaining());
    } catch {
      // tgtd is blocked or refused; the bound is up, so force it.
    }
    if (this.daemon.exited) this.forgetControlSocket();
    else await this.kill9();
  }
}
