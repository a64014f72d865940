/**
 * A dm-multipath device in miniature: one block device over N paths, each path one iSCSI session
 * (an IscsiInitiator) to one target node exporting the same LU. What the simulator's hosts do IO
 * through, so failover, requeueing and path checking follow the rules Linux hosts follow.
 *
 * Rules (dm-multipath, multipath.conf(5) names in brackets)
 * - Policy `failover` [path_grouping_policy failover]: one path serves, the others stand by; the
 *   first usable path in the given order is used, so a path that comes back takes over again
 *   [failback immediate] unless `failback: 'manual'` keeps the current one while it works.
 *   Policy `round-robin` [multibus, rr_min_io 1]: every usable path in turn.
 * - A command that fails on the transport (connection closed, command timeout, the session
 *   refusing requests) or answers NOT READY marks its path failed, drops the session and is
 *   requeued on another path. One whose connection was lost is requeued only after
 *   `recoveryTimeoutMs` [open-iscsi replacement_timeout]: the target may still be running it
 *   against its backend, and a retry elsewhere before that bound ends could be overtaken by it
 *   (a ghost write; targets bound their backend IO well below this, see sim/faults.ts). UNIT ATTENTION, ABORTED COMMAND, BUSY, TASK SET FULL and TASK
 *   ABORTED are retried (on whatever path the policy picks next). Any other CHECK CONDITION is the
 *   device's answer, returned to the caller as MP_IO_ERROR (a medium error is not a path error).
 * - With no usable path an IO waits [queue_if_no_path] for at most `noPathRetryMs` [no_path_retry
 *   as a time], then fails MP_NO_PATH.
 * - The path checker [path_checker tur, polling_interval] sends TEST UNIT READY on every
 *   `checkerIntervalMs`: a working path that fails it is failed; a failed path is logged in again
 *   (a new session) and reinstated once TUR answers (GOOD or a UNIT ATTENTION: the LU is there).
 * - Bounded: attempts per IO (`attemptsMax`), waits per IO by time; close() stops the checker and
 *   logs every session out, so a closed device leaves no timers behind.
 *
 * Determinism: time is the injected Clock, each login's ISID comes from the injected Rng (a fork
 * per path and login), and the checker visits paths in their given order.
 */
import type { Clock, TimerId } from '../../src/core/clock.js';
import type { EventLog } from '../../src/core/event-log.js';
import type { Rng } from '../../src/core/rng.js';
import type { Endpoint, Transport } from '../../transports/transport.js';
import { IscsiInitiatorError, IscsiLoginError } from '../initiator/initiator-errors.js';
import { type CommandResult, IscsiInitiator } from '../initiator/iscsi-initiator.js';
import { parseSense, ScsiStatusCode } from '../initiator/scsi-commands.js';

export type PathPolicy = 'failover' | 'round-robin';
export type PathState = 'active' | 'failed';

export interface MultipathPathSpec {
  /** A stable name for logs, e.g. the target node "target-a". */
  readonly name: string;
  readonly portal: Endpoint;
}

export interface MultipathDeviceOptions {
  /** The device's name in the event log, e.g. "host/mpatha". */
  readonly name: string;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly eventLog: EventLog;
  readonly initiatorName: string;
  readonly targetName: string;
  readonly lun: number;
  readonly paths: readonly MultipathPathSpec[];
  readonly policy?: PathPolicy;
  readonly failback?: 'immediate' | 'manual';
  readonly checkerIntervalMs?: number;
  readonly checkerTimeoutMs?: number;
  readonly noPathRetryMs?: number;
  readonly commandTimeoutMs?: number;
  readonly loginTimeoutMs?: number;
  readonly recoveryTimeoutMs?: number;
  readonly attemptsMax?: number;
  readonly blockSizeBytes?: number;
}

export const MULTIPATH_DEFAULTS = {
  policy: 'failover' as PathPolicy,
  failback: 'immediate' as 'immediate' | 'manual',
  checkerIntervalMs: 2_000,
  checkerTimeoutMs: 5_000,
  noPathRetryMs: 60_000,
  commandTimeoutMs: 15_000,
  loginTimeoutMs: 5_000,
  recoveryTimeoutMs: 10_000,
  attemptsMax: 32,
  blockSizeBytes: 512,
};

export type MultipathErrorCode =
  /** No usable path within noPathRetryMs. */
  | 'MP_NO_PATH'
  /** The LU answered with an error that no other path can fix (e.g. MEDIUM ERROR). */
  | 'MP_IO_ERROR'
  /** attemptsMax tries went by without an answer. */
  | 'MP_ATTEMPTS'
  /** The device was closed. */
  | 'MP_CLOSED';

export class MultipathError extends Error {
  override readonly name = 'MultipathError';

  constructor(
    readonly code: MultipathErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface PathView {
  readonly name: string;
  readonly state: PathState;
  readonly logins: number;
}

export interface DeviceReadResult {
  readonly data: Buffer;
  /** The path that answered. */
  readonly path: string;
}

interface Path {
  readonly name: string;
  readonly portal: Endpoint;
  state: PathState;
  session: IscsiInitiator | undefined;
  /** A login (and its first TUR) in progress. */
  reviving: Promise<void> | undefined;
  checking: boolean;
  logins: number;
}

interface PathWaiter {
  readonly resolve: () => void;
  timerId: TimerId | undefined;
}

const SENSE_NOT_READY = 0x2;
const SENSE_UNIT_ATTENTION = 0x6;
const SENSE_ABORTED_COMMAND = 0xb;
const RETRY_DELAY_MS = 10;

export class MultipathDevice {
  readonly name: string;
  readonly #options: MultipathDeviceOptions;
  readonly #settings: typeof MULTIPATH_DEFAULTS;
  readonly #clock: Clock;
  readonly #paths: Path[];
  readonly #waiters = new Set<PathWaiter>();
  #roundRobinNext = 0;
  #current: Path | undefined;
  #checkerTimerId: TimerId | undefined;
  #closed = false;

  private constructor(options: MultipathDeviceOptions) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock;
    this.#settings = {
      policy: options.policy ?? MULTIPATH_DEFAULTS.policy,
      failback: options.failback ?? MULTIPATH_DEFAULTS.failback,
      checkerIntervalMs: options.checkerIntervalMs ?? MULTIPATH_DEFAULTS.checkerIntervalMs,
      checkerTimeoutMs: options.checkerTimeoutMs ?? MULTIPATH_DEFAULTS.checkerTimeoutMs,
      noPathRetryMs: options.noPathRetryMs ?? MULTIPATH_DEFAULTS.noPathRetryMs,
      commandTimeoutMs: options.commandTimeoutMs ?? MULTIPATH_DEFAULTS.commandTimeoutMs,
      loginTimeoutMs: options.loginTimeoutMs ?? MULTIPATH_DEFAULTS.loginTimeoutMs,
      recoveryTimeoutMs: options.recoveryTimeoutMs ?? MULTIPATH_DEFAULTS.recoveryTimeoutMs,
      attemptsMax: options.attemptsMax ?? MULTIPATH_DEFAULTS.attemptsMax,
      blockSizeBytes: options.blockSizeBytes ?? MULTIPATH_DEFAULTS.blockSizeBytes,
    };
    this.#paths = options.paths.map((spec) => ({
      name: spec.name,
      portal: spec.portal,
      state: 'failed',
      session: undefined,
      reviving: undefined,
      checking: false,
      logins: 0,
    }));
  }

  /** Logs in on every path (those that fail stay failed for the checker), starts the checker. */
  static async open(options: MultipathDeviceOptions): Promise<MultipathDevice> {
    if (options.paths.length === 0) throw new RangeError(`multipath device ${options.name} needs a path`);
    const device = new MultipathDevice(options);
    await Promise.all(device.#paths.map((path) => device.#revive(path)));
    device.#scheduleChecker();
    return device;
  }

  get policy(): PathPolicy {
    return this.#settings.policy;
  }

  paths(): PathView[] {
    return this.#paths.map((path) => ({ name: path.name, state: path.state, logins: path.logins }));
  }

  /** True when some path is usable now. */
  get hasActivePath(): boolean {
    return this.#paths.some((path) => path.state === 'active');
  }

  async read(lba: number, blocks: number): Promise<DeviceReadResult> {
    const blockSizeBytes = this.#settings.blockSizeBytes;
    const { result, path } = await this.#run('read', lba, (session) =>
      session.read(this.#options.lun, lba, blocks, { blockSizeBytes }),
    );
    return { data: result.dataIn, path };
  }

  /** Resolves with the path that acknowledged the write. */
  async write(lba: number, data: Buffer): Promise<string> {
    const blockSizeBytes = this.#settings.blockSizeBytes;
    const { path } = await this.#run('write', lba, (session) =>
      session.write(this.#options.lun, lba, data, { blockSizeBytes }),
    );
    return path;
  }

  /** Fails a path by hand (multipathd's "fail path"); the checker may reinstate it. */
  failPath(name: string, reason = 'failed by hand'): void {
    const path = this.#paths.find((candidate) => candidate.name === name);
    if (path) this.#fail(path, reason);
  }

  /** Stops the checker, fails waiting IOs, logs every session out. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#checkerTimerId !== undefined) this.#clock.clearTimeout(this.#checkerTimerId);
    this.#checkerTimerId = undefined;
    for (const waiter of [...this.#waiters]) this.#wake(waiter);
    await Promise.all(
      this.#paths.map(async (path) => {
        const session = path.session;
        path.session = undefined;
        path.state = 'failed';
        if (session && !session.isClosed) await session.close();
      }),
    );
    this.#log('mpath.closed', {});
  }

  // ---- IO --------------------------------------------------------------------------------------

  async #run(
    kind: 'read' | 'write',
    lba: number,
    send: (session: IscsiInitiator) => Promise<CommandResult>,
  ): Promise<{ result: CommandResult; path: string }> {
    const { attemptsMax, noPathRetryMs } = this.#settings;
    let attempts = 0;
    let queuedSinceMs: number | undefined;
    // Each turn either sends an attempt (bounded by attemptsMax) or waits for a path (bounded by
    // noPathRetryMs); the step bound is a backstop against a bug in that reasoning.
    const stepsMax = 4 * attemptsMax + 64;
    for (let step = 0; step < stepsMax; step++) {
      if (this.#closed) throw new MultipathError('MP_CLOSED', `${this.name}: closed during a ${kind}`);
      const path = this.#choosePath();
      if (path === undefined) {
        if (queuedSinceMs === undefined) {
          queuedSinceMs = this.#clock.now();
          this.#log('mpath.queued', { op: kind, lba });
        }
        const waitMs = queuedSinceMs + noPathRetryMs - this.#clock.now();
        if (waitMs <= 0) {
          this.#log('mpath.no_path_failed', { op: kind, lba });
          throw new MultipathError(
            'MP_NO_PATH',
            `${this.name}: ${kind} at LBA ${lba} failed: no path for ${noPathRetryMs} ms (queue_if_no_path bound)`,
          );
        }
        await this.#waitForPath(waitMs);
        continue;
      }
      queuedSinceMs = undefined;
      if (attempts >= attemptsMax) break;
      attempts += 1;
      const session = path.session!;
      let result: CommandResult;
      try {
        result = await send(session);
      } catch (error) {
        if (!(error instanceof IscsiInitiatorError)) throw error;
        this.#fail(path, `${kind} at LBA ${lba}: ${error.code}`, session);
        if (error.code === 'ISCSI_INIT_CLOSED' && this.#settings.recoveryTimeoutMs > 0) {
          this.#log('mpath.recovery_wait', {
            op: kind,
            lba,
            from: path.name,
            ms: this.#settings.recoveryTimeoutMs,
          });
          await this.#sleep(this.#settings.recoveryTimeoutMs);
        }
        this.#log('mpath.requeued', { op: kind, lba, from: path.name, why: error.code });
        continue;
      }
      const verdict = classify(result);
      if (verdict === 'good') return { result, path: path.name };
      if (verdict === 'path') {
        this.#fail(path, `${kind} at LBA ${lba}: NOT READY`, session);
        this.#log('mpath.requeued', { op: kind, lba, from: path.name, why: 'not-ready' });
        continue;
      }
      if (verdict === 'retry') {
        await this.#sleep(RETRY_DELAY_MS);
        continue;
      }
      const sense = parseSense(result.sense);
      throw new MultipathError(
        'MP_IO_ERROR',
        `${this.name}: ${kind} at LBA ${lba} through ${path.name} failed: status 0x${result.status.toString(16)}` +
          (sense ? ` sense ${sense.key.toString(16)}/${hex2(sense.asc)}/${hex2(sense.ascq)}` : ''),
      );
    }
    throw new MultipathError(
      'MP_ATTEMPTS',
      `${this.name}: ${kind} at LBA ${lba} gave up after ${attempts} attempts on flapping paths`,
    );
  }

  #choosePath(): Path | undefined {
    const usable = this.#paths.filter((path) => path.state === 'active');
    if (usable.length === 0) return undefined;
    if (this.#settings.policy === 'round-robin') {
      const path = usable[this.#roundRobinNext % usable.length]!;
      this.#roundRobinNext = (this.#roundRobinNext + 1) % 1_000_000;
      return path;
    }
    const current = this.#current;
    if (this.#settings.failback === 'manual' && current?.state === 'active') return current;
    const chosen = usable[0]!;
    if (chosen !== current) {
      this.#log('mpath.switched', { from: current?.name ?? null, to: chosen.name });
      this.#current = chosen;
    }
    return chosen;
  }

  // ---- path states -----------------------------------------------------------------------------

  /** Fails `path` (when `session` is given: only if that is still its session). */
  #fail(path: Path, reason: string, session?: IscsiInitiator): void {
    if (session !== undefined && path.session !== session) return;
    const old = path.session;
    path.session = undefined;
    if (path.state === 'active') {
      path.state = 'failed';
      this.#log('mpath.path_failed', { path: path.name, reason });
    }
    old?.destroy();
  }

  #reinstate(path: Path): void {
    if (path.state === 'active' || this.#closed) return;
    path.state = 'active';
    this.#log('mpath.path_reinstated', { path: path.name, logins: path.logins });
    for (const waiter of [...this.#waiters]) this.#wake(waiter);
  }

  /** Logs in again and reinstates on a good TUR; leaves the path failed otherwise. */
  #revive(path: Path): Promise<void> {
    path.reviving ??= (async () => {
      try {
        if (path.session === undefined || path.session.isClosed) {
          path.session?.destroy();
          path.session = undefined;
          path.logins += 1;
          const session = await IscsiInitiator.login(this.#options.transport, path.portal, {
            clock: this.#clock,
            initiatorName: this.#options.initiatorName,
            targetName: this.#options.targetName,
            rng: this.#options.rng.fork(`${path.name}/login-${path.logins}`),
            eventLog: this.#options.eventLog,
            loginTimeoutMs: this.#settings.loginTimeoutMs,
            commandTimeoutMs: this.#settings.commandTimeoutMs,
            requestTimeoutMs: this.#settings.checkerTimeoutMs,
          });
          if (this.#closed) {
            session.destroy();
            return;
          }
          path.session = session;
        }
        if (await this.#turPasses(path)) this.#reinstate(path);
      } catch (error) {
        if (!(error instanceof IscsiLoginError)) throw error;
        this.#log('mpath.login_failed', { path: path.name, code: error.code });
      } finally {
        path.reviving = undefined;
      }
    })();
    return path.reviving;
  }

  /** TEST UNIT READY on the path's session; fails the path when the answer says it is bad. */
  async #turPasses(path: Path): Promise<boolean> {
    const session = path.session;
    if (session === undefined) return false;
    try {
      const result = await session.command({
        lun: this.#options.lun,
        cdb: Buffer.alloc(6),
        expectedLengthBytes: 0,
        timeoutMs: this.#settings.checkerTimeoutMs,
      });
      const verdict = classify(result);
      if (verdict === 'good' || verdict === 'retry') return true;
      this.#fail(path, 'path checker: TUR answered NOT READY or an error', session);
      return false;
    } catch (error) {
      if (!(error instanceof IscsiInitiatorError)) throw error;
      this.#fail(path, `path checker: TUR ${error.code}`, session);
      return false;
    }
  }

  #scheduleChecker(): void {
    if (this.#closed) return;
    this.#checkerTimerId = this.#clock.setTimeout(() => {
      this.#checkerTimerId = undefined;
      this.#checkPaths();
      this.#scheduleChecker();
    }, this.#settings.checkerIntervalMs);
  }

  #checkPaths(): void {
    for (const path of this.#paths) {
      if (path.checking || path.reviving !== undefined) continue;
      path.checking = true;
      const check = path.state === 'active' ? this.#turPasses(path) : this.#revive(path);
      void check.finally(() => {
        path.checking = false;
      });
    }
  }

  // ---- waiting ---------------------------------------------------------------------------------

  #waitForPath(waitMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiter: PathWaiter = { resolve, timerId: undefined };
      waiter.timerId = this.#clock.setTimeout(() => {
        waiter.timerId = undefined;
        this.#wake(waiter);
      }, waitMs);
      this.#waiters.add(waiter);
    });
  }

  #wake(waiter: PathWaiter): void {
    if (!this.#waiters.delete(waiter)) return;
    if (waiter.timerId !== undefined) this.#clock.clearTimeout(waiter.timerId);
    waiter.resolve();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#clock.setTimeout(resolve, ms);
    });
  }

  #log(type: string, data: Record<string, unknown>): void {
    this.#options.eventLog.append(`mpath/${this.name}`, type, data);
  }
}

type Verdict = 'good' | 'path' | 'retry' | 'error';

/** What an answer means for the IO: done, a path problem, worth retrying, or the LU's error. */
function classify(result: CommandResult): Verdict {
  switch (result.status) {
    case ScsiStatusCode.GOOD:
      return 'good';
    case ScsiStatusCode.BUSY:
    case ScsiStatusCode.TASK_SET_FULL:
    case ScsiStatusCode.TASK_ABORTED:
      return 'retry';
    case ScsiStatusCode.CHECK_CONDITION: {
      const sense = parseSense(result.sense);
      if (sense === undefined) return 'error';
      if (sense.key === SENSE_NOT_READY) return 'path';
      if (sense.key === SENSE_UNIT_ATTENTION || sense.key === SENSE_ABORTED_COMMAND) return 'retry';
      return 'error';
    }
    default:
      return 'error';
  }
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, '0');
}
