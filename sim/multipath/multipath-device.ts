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
 * - Policy `alua` [path_grouping_policy group_by_prio, prio alua, hardware_handler "1 alua",
 *   path_selector round-robin]: after each login the device reads the path's Device
 *   Identification page (its LU designators are the device's WWID: a path answering another one
 *   is refused, as multipathd does; its target port group), and REPORT TARGET PORT GROUPS. Like
 *   scsi_dh_alua, one RTPG answer updates the state of every path whose group it lists. Each
 *   path's priority is that of prio alua: AO 50, ANO 10, LBA-dependent 5, standby 1, others 0,
 *   +80 with the PREF bit unless AO. IO round-robins over the usable paths of the highest
 *   priority; when they all fail it goes to the next group; when states change (or a better
 *   path returns) the next IO goes to the new best group [failback immediate]. RTPG is read
 *   again on every path reinstatement, on the unit attentions scsi_dh_alua re-checks on (29/00,
 *   29/04, 2A/01, 2A/06, 2A/07, 3F/03) and on NOT READY 04/0A, 04/0B, 04/0C.
 * - A command that fails on the transport (connection closed, command timeout, the session
 *   refusing requests) or answers NOT READY (without ALUA: any NOT READY, as Linux without the
 *   ALUA handler maps 04/0A to a transport error) marks its path failed, drops the session and is
 *   requeued on another path. One whose connection was lost is requeued only after
 *   `recoveryTimeoutMs` [open-iscsi replacement_timeout]: the target may still be running it
 *   against its backend, and a retry elsewhere before that bound ends could be overtaken by it
 *   (a ghost write; targets bound their backend IO well below this, see sim/faults.ts).
 * - Transient answers are retried, never returned: UNIT ATTENTION (after 10 ms, as Linux retries
 *   it; every one is recorded per path, see unitAttentions()), ABORTED COMMAND and TASK ABORTED
 *   (and a task ended by our own task management), BUSY and TASK SET FULL (with a backoff from
 *   10 ms doubling to 1 s). With ALUA: NOT READY 04/0A (transitioning) is retried on the same
 *   path up to `transitionRetries` times (backoff from 200 ms to 2 s, RTPG read again each time),
 *   then counts as a path error; 04/0B (standby) and 04/0C (unavailable) read RTPG again and go
 *   to the best path. Nothing else is retried: RESERVATION CONFLICT is the caller's
 *   (MP_RESERVATION_CONFLICT, as dm-multipath returns BLK_STS_NEXUS without failing the path),
 *   MISCOMPARE the COMPARE AND WRITE caller's, any other CHECK CONDITION MP_IO_ERROR (a medium
 *   error is not a path error).
 * - Every error carries `uncertain`: true when some attempt ended without a definite answer (its
 *   command may have run: a timeout, a lost connection, an aborted task), so a caller knows
 *   whether a refused write may still have landed through an earlier attempt.
 * - With no usable path an IO waits [queue_if_no_path] for at most `noPathRetryMs` [no_path_retry
 *   as a time], then fails MP_NO_PATH.
 * - The path checker [path_checker tur, polling_interval] sends TEST UNIT READY on every
 *   `checkerIntervalMs`: a working path that fails it is failed; a failed path is logged in again
 *   (a new session) and reinstated once TUR answers (GOOD, a UNIT ATTENTION: the LU is there, or
 *   RESERVATION CONFLICT, as tur.c; with ALUA also 04/0B: a ghost path, usable at standby
 *   priority; 04/0A leaves the path as it is).
 * - `pathSetup` runs after a login (and the ALUA discovery) before the path is used: a PR host
 *   registers its key on the new I_T nexus there (pr-cluster-node.ts).
 * - `stableIsid` (default with `alua`): every login of a path uses the same ISID, as open-iscsi's
 *   iface does, so a new login is the same I_T nexus (a PR registration survives it, and the
 *   target reinstates the old session). Otherwise each login draws a new ISID.
 * - Commands can be pinned to one path (`path` in DeviceCommand): no failover, MP_PATH_FAILED
 *   when that path fails.
 * - Bounded: attempts per IO (`attemptsMax`), waits per IO by time; close() stops the checker and
 *   logs every session out, so a closed device leaves no timers behind.
 *
 * Determinism: time is the injected Clock, each login's ISID comes from the injected Rng (a fork
 * per path and login, or per path with stableIsid), and the checker visits paths in their given
 * order.
 */
import type { Clock, TimerId } from '../../src/core/clock.js';
import type { EventLog } from '../../src/core/event-log.js';
import type { Rng } from '../../src/core/rng.js';
import { TmfResponse } from '../../src/iscsi/pdu/opcodes.js';
import type { Endpoint, Transport } from '../../transports/transport.js';
import { IscsiInitiatorError, IscsiLoginError } from '../initiator/initiator-errors.js';
import { type CommandRequest, type CommandResult, IscsiInitiator } from '../initiator/iscsi-initiator.js';
import {
  AccessState,
  AscAscq,
  accessStateName,
  ascAscq,
  compareAndWriteCdb,
  DEVICE_IDENTIFICATION_PAGE,
  PrInAction,
  type PrKeys,
  type PrOutRequest,
  type PrReservation,
  parseReadKeys,
  parseReadReservation,
  parseTargetPortGroups,
  persistentReserveInCdb,
  persistentReserveOut,
  reportTargetPortGroupsCdb,
  SenseKeyCode,
  senseInformation,
  setTargetPortGroups,
  type TargetPortGroups,
} from '../initiator/scsi-cluster-commands.js';
import { inquiryCdb, parseSense, ScsiStatusCode, type SenseSummary } from '../initiator/scsi-commands.js';

export type PathPolicy = 'failover' | 'round-robin' | 'alua';
export type PathState = 'active' | 'failed';

export interface MultipathPathSpec {
  /** A stable name for logs, e.g. the target node "target-a". */
  readonly name: string;
  readonly portal: Endpoint;
}

/**
 * Runs on a path after its login (and, with ALUA, its discovery), before the path is used.
 * `send` runs a command on that path's session, retrying unit attentions. Resolve false (or
 * throw an IscsiInitiatorError) to leave the path failed.
 */
export type PathSetup = (
  path: string,
  send: (request: CommandRequest) => Promise<CommandResult>,
) => Promise<boolean>;

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
  /** Same ISID for every login of a path (default: true with policy alua). */
  readonly stableIsid?: boolean;
  /** ALUA: NOT READY 04/0A retries on one path before it counts as a path error. */
  readonly transitionRetries?: number;
  readonly pathSetup?: PathSetup;
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
  transitionRetries: 5,
};

export type MultipathErrorCode =
  /** No usable path within noPathRetryMs. */
  | 'MP_NO_PATH'
  /** The LU answered with an error that no other path can fix (e.g. MEDIUM ERROR). */
  | 'MP_IO_ERROR'
  /** The LU answered RESERVATION CONFLICT: this host's I_T nexus may not do that now. */
  | 'MP_RESERVATION_CONFLICT'
  /** A command pinned to one path could not run there (the path failed or is down). */
  | 'MP_PATH_FAILED'
  /** attemptsMax tries went by without an answer. */
  | 'MP_ATTEMPTS'
  /** The device was closed. */
  | 'MP_CLOSED';

export class MultipathError extends Error {
  override readonly name = 'MultipathError';
  /** Some attempt ended without a definite answer: its command may have run anyway. */
  readonly uncertain: boolean;
  /** The LU's answer, for MP_IO_ERROR and MP_RESERVATION_CONFLICT. */
  readonly answer: CommandResult | undefined;

  constructor(
    readonly code: MultipathErrorCode,
    message: string,
    options: { uncertain?: boolean; answer?: CommandResult } = {},
  ) {
    super(message);
    this.uncertain = options.uncertain ?? false;
    this.answer = options.answer;
  }
}

export interface AluaPathView {
  readonly targetPortGroup: number | undefined;
  readonly relativeTargetPortId: number | undefined;
  /** The group's state from the last RTPG answer (AccessState), if known. */
  readonly state: number | undefined;
  readonly prio: number;
}

export interface PathView {
  readonly name: string;
  readonly state: PathState;
  readonly logins: number;
  /** The LU designators this path answered at its last login (ALUA policy). */
  readonly wwid: string | undefined;
  readonly alua: AluaPathView | undefined;
}

export interface DeviceReadResult {
  readonly data: Buffer;
  /** The path that answered. */
  readonly path: string;
}

/** A SCSI command through the device, with its retries; `path` pins it to one path. */
export interface DeviceCommand {
  /** For logs: "read", "caw", "pr-out", ... */
  readonly op: string;
  readonly lba?: number;
  readonly cdb: Buffer;
  readonly dataOut?: Buffer;
  readonly expectedLengthBytes: number;
  readonly read?: boolean;
  readonly path?: string;
}

/** The LU's final answer to a DeviceCommand (GOOD or not). */
export interface DeviceAnswer {
  readonly result: CommandResult;
  readonly path: string;
  readonly attempts: number;
  /** Some earlier attempt ended without a definite answer (its command may have run). */
  readonly uncertain: boolean;
}

export interface CompareAndWriteOutcome {
  readonly outcome: 'good' | 'miscompare';
  readonly path: string;
  readonly attempts: number;
  readonly uncertain: boolean;
  /** MISCOMPARE: the offset of the first differing byte (sense INFORMATION), if given. */
  readonly offset?: bigint;
}

export interface UnitAttentionRecord {
  readonly path: string;
  /** The path's login (session) that received it. */
  readonly login: number;
  readonly asc: number;
  readonly ascq: number;
  /** Its `mpath.unit_attention` event's sequence number. */
  readonly seq: number;
  /** What carried it: an IO kind, "tur" (path checker) or "rtpg". */
  readonly op: string;
}

interface AluaPathInfo {
  /** False when the path reports no TPGS, no target port group or RTPG fails: ALUA is off. */
  supported: boolean;
  targetPortGroup: number | undefined;
  relativeTargetPortId: number | undefined;
  state: number | undefined;
  preferred: boolean;
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
  /** The ISID of every login (stableIsid), else undefined (drawn per login). */
  readonly isid: string | undefined;
  wwid: string | undefined;
  alua: AluaPathInfo | undefined;
}

interface PathWaiter {
  readonly resolve: () => void;
  timerId: TimerId | undefined;
}

const RETRY_DELAY_MS = 10;
const BUSY_DELAY_MS_MAX = 1_000;
const TRANSITION_DELAY_MS_FIRST = 200;
const TRANSITION_DELAY_MS_MAX = 2_000;
/** Unit attentions retried in a row by setup commands (RTPG, PR registration) before giving up. */
const SETUP_UA_RETRIES = 8;
/** prio alua (multipath-tools prioritizers/alua.c). */
const PRIO_CONST = 50;
const PREF_BONUS = 80;

/** Unit attentions after which scsi_dh_alua reads the port groups again. */
const ALUA_RECHECK_UAS: ReadonlySet<number> = new Set([
  AscAscq.POWER_ON_RESET,
  AscAscq.DEVICE_INTERNAL_RESET,
  AscAscq.MODE_PARAMETERS_CHANGED,
  AscAscq.ASYMMETRIC_ACCESS_STATE_CHANGED,
  AscAscq.IMPLICIT_TRANSITION_FAILED,
  AscAscq.INQUIRY_DATA_CHANGED,
]);

export class MultipathDevice {
  readonly name: string;
  readonly #options: MultipathDeviceOptions;
  readonly #settings: typeof MULTIPATH_DEFAULTS & { stableIsid: boolean };
  readonly #clock: Clock;
  readonly #paths: Path[];
  readonly #waiters = new Set<PathWaiter>();
  readonly #unitAttentions: UnitAttentionRecord[] = [];
  readonly #uaListeners = new Set<(record: UnitAttentionRecord) => void>();
  #roundRobinNext = 0;
  /** A LUN RESET of ours in progress: new commands wait for it, as Linux's error handler blocks the device. */
  #resetting: Promise<unknown> | undefined;
  #current: Path | undefined;
  #currentGroup: string | undefined;
  #checkerTimerId: TimerId | undefined;
  #closed = false;
  /** The device's WWID: the LU designators of the first path identified (ALUA policy). */
  #wwid: string | undefined;
  /** RTPG answers: the issue number of the last one applied (an older answer is ignored). */
  #rtpgIssued = 0;
  #rtpgApplied = 0;

  private constructor(options: MultipathDeviceOptions) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock;
    const policy = options.policy ?? MULTIPATH_DEFAULTS.policy;
    this.#settings = {
      policy,
      failback: options.failback ?? MULTIPATH_DEFAULTS.failback,
      checkerIntervalMs: options.checkerIntervalMs ?? MULTIPATH_DEFAULTS.checkerIntervalMs,
      checkerTimeoutMs: options.checkerTimeoutMs ?? MULTIPATH_DEFAULTS.checkerTimeoutMs,
      noPathRetryMs: options.noPathRetryMs ?? MULTIPATH_DEFAULTS.noPathRetryMs,
      commandTimeoutMs: options.commandTimeoutMs ?? MULTIPATH_DEFAULTS.commandTimeoutMs,
      loginTimeoutMs: options.loginTimeoutMs ?? MULTIPATH_DEFAULTS.loginTimeoutMs,
      recoveryTimeoutMs: options.recoveryTimeoutMs ?? MULTIPATH_DEFAULTS.recoveryTimeoutMs,
      attemptsMax: options.attemptsMax ?? MULTIPATH_DEFAULTS.attemptsMax,
      blockSizeBytes: options.blockSizeBytes ?? MULTIPATH_DEFAULTS.blockSizeBytes,
      transitionRetries: options.transitionRetries ?? MULTIPATH_DEFAULTS.transitionRetries,
      stableIsid: options.stableIsid ?? policy === 'alua',
    };
    this.#paths = options.paths.map((spec) => ({
      name: spec.name,
      portal: spec.portal,
      state: 'failed',
      session: undefined,
      reviving: undefined,
      checking: false,
      logins: 0,
      isid: this.#settings.stableIsid ? drawIsid(options.rng.fork(`${spec.name}/isid`)) : undefined,
      wwid: undefined,
      alua: undefined,
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

  get #aluaMode(): boolean {
    return this.#settings.policy === 'alua';
  }

  paths(): PathView[] {
    return this.#paths.map((path) => ({
      name: path.name,
      state: path.state,
      logins: path.logins,
      wwid: path.wwid,
      alua:
        path.alua === undefined
          ? undefined
          : {
              targetPortGroup: path.alua.targetPortGroup,
              relativeTargetPortId: path.alua.relativeTargetPortId,
              state: path.alua.state,
              prio: prioOf(path),
            },
    }));
  }

  /** The device's WWID (ALUA policy): the LU designators of its first identified path. */
  get wwid(): string | undefined {
    return this.#wwid;
  }

  /** True when some path is usable now. */
  get hasActivePath(): boolean {
    return this.#paths.some((path) => path.state === 'active');
  }

  /** Every unit attention any command of this device received, in order. */
  unitAttentions(): readonly UnitAttentionRecord[] {
    return this.#unitAttentions;
  }

  /** Calls `listener` for each unit attention from now on; returns the unsubscribe function. */
  onUnitAttention(listener: (record: UnitAttentionRecord) => void): () => void {
    this.#uaListeners.add(listener);
    return () => this.#uaListeners.delete(listener);
  }

  /** Reads `blocks` blocks (through `options.path` only, when given). */
  async read(lba: number, blocks: number, options: { path?: string } = {}): Promise<DeviceReadResult> {
    const blockSizeBytes = this.#settings.blockSizeBytes;
    const answer = await this.#run({
      kind: 'read',
      lba,
      ...(options.path === undefined ? {} : { pinned: options.path }),
      send: (session) => session.read(this.#options.lun, lba, blocks, { blockSizeBytes }),
    });
    this.#requireGood('read', lba, answer);
    return { data: answer.result.dataIn, path: answer.path };
  }

  /** Resolves with the path that acknowledged the write (only `options.path`, when given). */
  async write(lba: number, data: Buffer, options: { path?: string } = {}): Promise<string> {
    const blockSizeBytes = this.#settings.blockSizeBytes;
    const answer = await this.#run({
      kind: 'write',
      lba,
      ...(options.path === undefined ? {} : { pinned: options.path }),
      send: (session) => session.write(this.#options.lun, lba, data, { blockSizeBytes }),
    });
    this.#requireGood('write', lba, answer);
    return answer.path;
  }

  /** COMPARE AND WRITE of whole blocks; MISCOMPARE is an outcome, any other error throws. */
  async compareAndWrite(
    lba: number,
    compare: Buffer,
    write: Buffer,
    options: { path?: string } = {},
  ): Promise<CompareAndWriteOutcome> {
    const blocks = compare.length / this.#settings.blockSizeBytes;
    const dataOut = Buffer.concat([compare, write]);
    const answer = await this.execute({
      op: 'caw',
      lba,
      cdb: compareAndWriteCdb(lba, blocks),
      dataOut,
      expectedLengthBytes: dataOut.length,
      ...(options.path === undefined ? {} : { path: options.path }),
    });
    const base = { path: answer.path, attempts: answer.attempts, uncertain: answer.uncertain };
    if (answer.result.status === ScsiStatusCode.GOOD) return { outcome: 'good', ...base };
    const sense = parseSense(answer.result.sense);
    if (answer.result.status === ScsiStatusCode.CHECK_CONDITION && sense?.key === SenseKeyCode.MISCOMPARE) {
      const offset = senseInformation(answer.result.sense);
      return { outcome: 'miscompare', ...base, ...(offset === undefined ? {} : { offset }) };
    }
    throw this.#answerError('caw', lba, answer);
  }

  /** Any command, with the device's retries and failover (or pinned to `request.path`). */
  execute(request: DeviceCommand): Promise<DeviceAnswer> {
    return this.#run({
      kind: request.op,
      ...(request.lba === undefined ? {} : { lba: request.lba }),
      ...(request.path === undefined ? {} : { pinned: request.path }),
      send: (session) =>
        session.command({
          lun: this.#options.lun,
          cdb: request.cdb,
          ...(request.dataOut === undefined ? {} : { dataOut: request.dataOut }),
          expectedLengthBytes: request.expectedLengthBytes,
          ...(request.read === undefined ? {} : { read: request.read }),
        }),
    });
  }

  /** PERSISTENT RESERVE OUT; the answer as it came (RESERVATION CONFLICT is not thrown). */
  persistentReserveOut(request: PrOutRequest, options: { path?: string } = {}): Promise<DeviceAnswer> {
    const { cdb, parameters } = persistentReserveOut(request);
    return this.execute({
      op: 'pr-out',
      cdb,
      dataOut: parameters,
      expectedLengthBytes: parameters.length,
      ...(options.path === undefined ? {} : { path: options.path }),
    });
  }

  /** READ KEYS; throws unless GOOD. */
  async readKeys(options: { path?: string } = {}): Promise<PrKeys & { readonly path: string }> {
    const answer = await this.#dataIn(
      'pr-in',
      persistentReserveInCdb(PrInAction.READ_KEYS, 1024),
      1024,
      options,
    );
    const keys = parseReadKeys(answer.result.dataIn);
    if (keys === undefined)
      throw new MultipathError('MP_IO_ERROR', `${this.name}: READ KEYS answered short data`);
    return { ...keys, path: answer.path };
  }

  /** READ RESERVATION; throws unless GOOD. */
  async readReservation(options: { path?: string } = {}): Promise<PrReservation & { readonly path: string }> {
    const answer = await this.#dataIn(
      'pr-in',
      persistentReserveInCdb(PrInAction.READ_RESERVATION, 64),
      64,
      options,
    );
    const reservation = parseReadReservation(answer.result.dataIn);
    if (reservation === undefined)
      throw new MultipathError('MP_IO_ERROR', `${this.name}: READ RESERVATION answered short data`);
    return { ...reservation, path: answer.path };
  }

  /** REPORT TARGET PORT GROUPS (extended header) through `path` (or any); throws unless GOOD. */
  async reportTargetPortGroups(
    options: { path?: string } = {},
  ): Promise<TargetPortGroups & { readonly path: string }> {
    const answer = await this.#dataIn(
      'rtpg',
      reportTargetPortGroupsCdb({ extended: true, allocationLengthBytes: 1024 }),
      1024,
      options,
    );
    const groups = parseTargetPortGroups(answer.result.dataIn);
    if (groups === undefined)
      throw new MultipathError('MP_IO_ERROR', `${this.name}: RTPG answered malformed data`);
    return { ...groups, path: answer.path };
  }

  /**
   * SET TARGET PORT GROUPS through `path`, asking `state` (default AO) for that path's own group,
   * as scsi_dh_alua does; reads RTPG again after a GOOD answer. Resolves with the answer.
   */
  async setTargetPortGroups(
    path: string,
    state: number = AccessState.ACTIVE_OPTIMIZED,
  ): Promise<DeviceAnswer> {
    const target = this.#path(path);
    const group = target.alua?.targetPortGroup;
    if (group === undefined)
      throw new MultipathError('MP_PATH_FAILED', `${this.name}: path ${path} has no known target port group`);
    const { cdb, parameters } = setTargetPortGroups([{ id: group, state }]);
    const answer = await this.execute({
      op: 'stpg',
      cdb,
      dataOut: parameters,
      expectedLengthBytes: parameters.length,
      path,
    });
    this.#log('mpath.stpg', { path, group, state: accessStateName(state), status: answer.result.status });
    if (answer.result.status === ScsiStatusCode.GOOD) await this.refreshAlua(path, 'stpg');
    return answer;
  }

  /** TEST UNIT READY through one path (unit attentions are retried and recorded). */
  testUnitReady(path: string): Promise<DeviceAnswer> {
    return this.execute({ op: 'tur', cdb: Buffer.alloc(6), expectedLengthBytes: 0, path });
  }

  /** LOGICAL UNIT RESET through one path's session; resolves with the TMF Response. */
  async lunReset(path: string): Promise<number> {
    const target = this.#path(path);
    const session = target.session;
    if (target.state !== 'active' || session === undefined)
      throw new MultipathError('MP_PATH_FAILED', `${this.name}: LUN RESET through ${path}, which is down`);
    this.#log('mpath.lun_reset', { path });
    const reset = session.lunReset(this.#options.lun);
    this.#resetting = reset.catch(() => undefined);
    try {
      const response = await reset;
      this.#log('mpath.lun_reset_done', {
        path,
        response,
        complete: response === TmfResponse.FUNCTION_COMPLETE,
      });
      return response;
    } catch (error) {
      if (!(error instanceof IscsiInitiatorError)) throw error;
      this.#fail(target, `LUN RESET: ${error.code}`, session);
      throw new MultipathError(
        'MP_PATH_FAILED',
        `${this.name}: LUN RESET through ${path} failed: ${error.code}`,
        {
          uncertain: true,
        },
      );
    } finally {
      this.#resetting = undefined;
    }
  }

  /** The Device Identification page through one path (INQUIRY: no unit attention). */
  async deviceIdentification(path: string): Promise<Buffer> {
    const answer = await this.#dataIn(
      'inquiry',
      inquiryCdb({ pageCode: DEVICE_IDENTIFICATION_PAGE, allocationLengthBytes: 255 }),
      255,
      { path },
    );
    return answer.result.dataIn;
  }

  /**
   * Reads RTPG again (through `path` first, else any usable path) and applies the states to
   * every path of a group it lists. Resolves true when an answer was applied.
   */
  async refreshAlua(path?: string, why = 'asked'): Promise<boolean> {
    if (!this.#aluaMode) return false;
    const first = path === undefined ? undefined : this.#paths.find((candidate) => candidate.name === path);
    const order = [
      ...(first ? [first] : []),
      ...this.#paths.filter((candidate) => candidate !== first && candidate.state === 'active'),
    ];
    for (const candidate of order) {
      if (await this.#readAlua(candidate, why)) return true;
    }
    return false;
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

  async #dataIn(
    op: string,
    cdb: Buffer,
    allocationLengthBytes: number,
    options: { path?: string },
  ): Promise<DeviceAnswer> {
    const answer = await this.execute({
      op,
      cdb,
      expectedLengthBytes: allocationLengthBytes,
      read: true,
      ...(options.path === undefined ? {} : { path: options.path }),
    });
    this.#requireGood(op, undefined, answer);
    return answer;
  }

  /** Throws the MultipathError for an answer other than GOOD. */
  #requireGood(kind: string, lba: number | undefined, answer: DeviceAnswer): void {
    if (answer.result.status !== ScsiStatusCode.GOOD) throw this.#answerError(kind, lba, answer);
  }

  /** The MultipathError for an answer other than GOOD. */
  #answerError(kind: string, lba: number | undefined, answer: DeviceAnswer): MultipathError {
    const { result } = answer;
    const where = lba === undefined ? '' : ` at LBA ${lba}`;
    if (result.status === ScsiStatusCode.RESERVATION_CONFLICT) {
      return new MultipathError(
        'MP_RESERVATION_CONFLICT',
        `${this.name}: ${kind}${where} through ${answer.path}: RESERVATION CONFLICT`,
        { uncertain: answer.uncertain, answer: result },
      );
    }
    const sense = parseSense(result.sense);
    return new MultipathError(
      'MP_IO_ERROR',
      `${this.name}: ${kind}${where} through ${answer.path} failed: status 0x${result.status.toString(16)}` +
        (sense ? ` sense ${sense.key.toString(16)}/${hex2(sense.asc)}/${hex2(sense.ascq)}` : ''),
      { uncertain: answer.uncertain, answer: result },
    );
  }

  async #run(operation: {
    kind: string;
    lba?: number;
    pinned?: string;
    send: (session: IscsiInitiator) => Promise<CommandResult>;
  }): Promise<DeviceAnswer> {
    const { kind, lba } = operation;
    const { attemptsMax, noPathRetryMs } = this.#settings;
    const pinned = operation.pinned === undefined ? undefined : this.#path(operation.pinned);
    const where = lba === undefined ? '' : ` at LBA ${lba}`;
    let attempts = 0;
    let uncertain = false;
    let queuedSinceMs: number | undefined;
    let busyDelayMs = RETRY_DELAY_MS;
    let transitions = 0;
    /** Retry on this path next (ALUA transitioning). */
    let sticky: Path | undefined;
    // Each turn either sends an attempt (bounded by attemptsMax) or waits for a path (bounded by
    // noPathRetryMs); the step bound is a backstop against a bug in that reasoning.
    const stepsMax = 4 * attemptsMax + 64;
    for (let step = 0; step < stepsMax; step++) {
      if (this.#closed)
        throw new MultipathError('MP_CLOSED', `${this.name}: closed during a ${kind}`, { uncertain });
      let path: Path | undefined;
      if (pinned !== undefined) {
        if (pinned.state !== 'active' || pinned.session === undefined) {
          throw new MultipathError(
            'MP_PATH_FAILED',
            `${this.name}: ${kind}${where} pinned to ${pinned.name}, which is down`,
            {
              uncertain,
            },
          );
        }
        path = pinned;
      } else if (sticky?.state === 'active') {
        path = sticky;
      } else {
        path = this.#choosePath();
      }
      sticky = undefined;
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
            `${this.name}: ${kind}${where} failed: no path for ${noPathRetryMs} ms (queue_if_no_path bound)`,
            { uncertain },
          );
        }
        await this.#waitForPath(waitMs);
        continue;
      }
      queuedSinceMs = undefined;
      if (this.#resetting !== undefined) {
        // A command sent while our LUN RESET is outstanding would race it (the reset may or may not
        // cover it); like Linux's error handler, hold it until the reset is answered, then pick a
        // path again.
        await this.#resetting;
        continue;
      }
      if (attempts >= attemptsMax) break;
      attempts += 1;
      const session = path.session!;
      let result: CommandResult;
      try {
        result = await operation.send(session);
      } catch (error) {
        if (!(error instanceof IscsiInitiatorError)) throw error;
        // Never sent (or refused before it ran): definitely not executed; anything else may have run.
        if (error.code !== 'ISCSI_INIT_NOT_ACCEPTING' && error.code !== 'ISCSI_INIT_REJECTED')
          uncertain = true;
        if (error.code === 'ISCSI_INIT_ABORTED') {
          // Our own task management (a LUN RESET) ended it: the path is fine, run it again.
          this.#log('mpath.retried', { op: kind, lba, path: path.name, why: 'aborted by task management' });
          await this.#sleep(RETRY_DELAY_MS);
          continue;
        }
        this.#fail(path, `${kind}${where}: ${error.code}`, session);
        if (pinned !== undefined) {
          throw new MultipathError(
            'MP_PATH_FAILED',
            `${this.name}: ${kind}${where} through ${path.name}: ${error.code}`,
            {
              uncertain,
            },
          );
        }
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
      const verdict = classify(result, this.#aluaMode);
      switch (verdict.kind) {
        case 'good':
        case 'answer':
          return { result, path: path.name, attempts, uncertain };
        case 'path':
          this.#fail(path, `${kind}${where}: NOT READY`, session);
          if (pinned !== undefined) {
            throw new MultipathError(
              'MP_PATH_FAILED',
              `${this.name}: ${kind}${where} through ${path.name}: NOT READY`,
              {
                uncertain,
              },
            );
          }
          this.#log('mpath.requeued', { op: kind, lba, from: path.name, why: 'not-ready' });
          continue;
        case 'unit-attention':
          await this.#unitAttention(path, verdict.sense, kind);
          await this.#sleep(RETRY_DELAY_MS);
          continue;
        case 'aborted':
          uncertain = true;
          await this.#sleep(RETRY_DELAY_MS);
          continue;
        case 'busy':
          await this.#sleep(busyDelayMs);
          busyDelayMs = Math.min(BUSY_DELAY_MS_MAX, busyDelayMs * 2);
          continue;
        case 'transitioning': {
          transitions += 1;
          await this.refreshAlua(path.name, 'not-ready 04/0a');
          if (transitions > this.#settings.transitionRetries) {
            if (pinned !== undefined) return { result, path: path.name, attempts, uncertain };
            this.#fail(
              path,
              `${kind}${where}: still transitioning after ${transitions - 1} retries`,
              session,
            );
            this.#log('mpath.requeued', { op: kind, lba, from: path.name, why: 'transitioning' });
            transitions = 0;
            continue;
          }
          sticky = path;
          await this.#sleep(
            Math.min(TRANSITION_DELAY_MS_MAX, TRANSITION_DELAY_MS_FIRST * 2 ** (transitions - 1)),
          );
          continue;
        }
        case 'standby':
          await this.refreshAlua(
            path.name,
            `not-ready ${hex2(verdict.sense.asc)}/${hex2(verdict.sense.ascq)}`,
          );
          if (pinned !== undefined) return { result, path: path.name, attempts, uncertain };
          await this.#sleep(RETRY_DELAY_MS);
          continue;
      }
    }
    throw new MultipathError(
      'MP_ATTEMPTS',
      `${this.name}: ${kind}${where} gave up after ${attempts} attempts on flapping paths`,
      { uncertain },
    );
  }

  #path(name: string): Path {
    const path = this.#paths.find((candidate) => candidate.name === name);
    if (path === undefined) throw new RangeError(`${this.name} has no path "${name}"`);
    return path;
  }

  #choosePath(): Path | undefined {
    const usable = this.#paths.filter((path) => path.state === 'active');
    if (usable.length === 0) return undefined;
    if (this.#settings.policy === 'round-robin') return this.#nextOf(usable);
    if (this.#settings.policy === 'alua') return this.#chooseByPrio(usable);
    const current = this.#current;
    if (this.#settings.failback === 'manual' && current?.state === 'active') return current;
    const chosen = usable[0]!;
    if (chosen !== current) {
      this.#log('mpath.switched', { from: current?.name ?? null, to: chosen.name });
      this.#current = chosen;
    }
    return chosen;
  }

  #nextOf(group: readonly Path[]): Path {
    const path = group[this.#roundRobinNext % group.length]!;
    this.#roundRobinNext = (this.#roundRobinNext + 1) % 1_000_000;
    return path;
  }

  /** group_by_prio: round-robin inside the usable paths of the best priority. */
  #chooseByPrio(usable: readonly Path[]): Path {
    const current = this.#current;
    let prio = Math.max(...usable.map(prioOf));
    if (this.#settings.failback === 'manual' && current?.state === 'active') prio = prioOf(current);
    const group = usable.filter((path) => prioOf(path) === prio);
    const key = `${prio}:${group.map((path) => path.name).join(',')}`;
    if (key !== this.#currentGroup) {
      this.#log('mpath.group_switched', {
        from: this.#currentGroup ?? null,
        to: key,
        prio,
        paths: group.map((path) => path.name),
      });
      this.#currentGroup = key;
    }
    const chosen = this.#nextOf(group);
    this.#current = chosen;
    return chosen;
  }

  // ---- unit attentions and ALUA ----------------------------------------------------------------

  async #unitAttention(path: Path, sense: SenseSummary, op: string): Promise<void> {
    const event = this.#log('mpath.unit_attention', {
      path: path.name,
      asc: sense.asc,
      ascq: sense.ascq,
      op,
      login: path.logins,
    });
    const record: UnitAttentionRecord = {
      path: path.name,
      login: path.logins,
      asc: sense.asc,
      ascq: sense.ascq,
      seq: event?.seq ?? 0,
      op,
    };
    this.#unitAttentions.push(record);
    for (const listener of [...this.#uaListeners]) listener(record);
    if (this.#aluaMode && op !== 'rtpg' && ALUA_RECHECK_UAS.has(ascAscq(sense.asc, sense.ascq))) {
      await this.refreshAlua(path.name, `unit attention ${hex2(sense.asc)}/${hex2(sense.ascq)}`);
    }
  }

  /** One RTPG through `path`'s session (unit attentions retried); true when applied. */
  async #readAlua(path: Path, why: string): Promise<boolean> {
    for (let tries = 0; tries < SETUP_UA_RETRIES; tries++) {
      const session = path.session;
      if (session === undefined || session.isClosed) return false;
      const issued = ++this.#rtpgIssued;
      let result: CommandResult & { readonly groups?: TargetPortGroups };
      try {
        result = await session.reportTargetPortGroups(this.#options.lun, { extended: true });
      } catch (error) {
        if (!(error instanceof IscsiInitiatorError)) throw error;
        return false;
      }
      if (result.groups !== undefined) {
        this.#applyAlua(result.groups, path, issued, why);
        return true;
      }
      const sense = parseSense(result.sense);
      if (result.status === ScsiStatusCode.CHECK_CONDITION && sense?.key === SenseKeyCode.UNIT_ATTENTION) {
        await this.#unitAttention(path, sense, 'rtpg');
        continue;
      }
      // RTPG refused (a target without ALUA): this path's group is unknown; ALUA is off for it.
      if (path.alua !== undefined && path.alua.state === undefined) path.alua.supported = false;
      this.#log('mpath.rtpg_failed', {
        path: path.name,
        status: result.status,
        sense: sense ? `${sense.key.toString(16)}/${hex2(sense.asc)}/${hex2(sense.ascq)}` : null,
      });
      return false;
    }
    return false;
  }

  /** Applies one RTPG answer to every path whose group it lists (scsi_dh_alua's alua_rtpg). */
  #applyAlua(groups: TargetPortGroups, via: Path, issued: number, why: string): void {
    if (issued < this.#rtpgApplied) return;
    this.#rtpgApplied = issued;
    const before = this.#paths.map((path) => prioOf(path));
    for (const path of this.#paths) {
      const info = path.alua;
      if (info === undefined || info.targetPortGroup === undefined) continue;
      const group = groups.groups.find((candidate) => candidate.id === info.targetPortGroup);
      if (group === undefined) continue;
      info.state = group.state;
      info.preferred = group.preferred;
      info.supported = true;
    }
    const changed = this.#paths.some((path, index) => prioOf(path) !== before[index]);
    this.#log('mpath.alua_states', {
      via: via.name,
      why,
      groups: groups.groups.map((group) => ({
        id: group.id,
        state: accessStateName(group.state),
        ports: group.relativeTargetPortIds,
        ...(group.preferred ? { preferred: true } : {}),
      })),
      prios: Object.fromEntries(this.#paths.map((path) => [path.name, prioOf(path)])),
      changed,
    });
    if (changed) for (const waiter of [...this.#waiters]) this.#wake(waiter);
  }

  /**
   * ALUA discovery of a freshly logged-in path: its LU designators (the WWID: a path answering
   * another one is refused), its target port group, TPGS, then RTPG. False: leave it failed.
   */
  async #discover(path: Path, session: IscsiInitiator): Promise<boolean> {
    const lun = this.#options.lun;
    const identity = await session.deviceIdentification(lun);
    const standard = await session.inquiry(lun, { allocationLengthBytes: 36 });
    const identification = identity.identification;
    if (identity.status !== ScsiStatusCode.GOOD || identification === undefined) {
      this.#log('mpath.identify_failed', { path: path.name, status: identity.status });
      return false;
    }
    const wwid = identification.luDesignators.join('|');
    path.wwid = wwid;
    if (this.#wwid === undefined) {
      this.#wwid = wwid;
      this.#log('mpath.wwid', { path: path.name, wwid });
    } else if (wwid !== this.#wwid) {
      this.#log('mpath.path_wwid_mismatch', { path: path.name, wwid, device: this.#wwid });
      return false;
    }
    const tpgs =
      standard.status === ScsiStatusCode.GOOD && standard.dataIn.length > 5
        ? (standard.dataIn[5]! >> 4) & 0x3
        : 0;
    const previous = path.alua;
    path.alua = {
      supported: tpgs !== 0 && identification.targetPortGroup !== undefined,
      targetPortGroup: identification.targetPortGroup,
      relativeTargetPortId: identification.relativeTargetPortId,
      state: previous?.targetPortGroup === identification.targetPortGroup ? previous?.state : undefined,
      preferred: false,
    };
    this.#log('mpath.path_identified', {
      path: path.name,
      tpgs,
      targetPortGroup: identification.targetPortGroup ?? null,
      relativeTargetPortId: identification.relativeTargetPortId ?? null,
    });
    if (path.alua.supported) await this.#readAlua(path, 'path discovered');
    return true;
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
            ...(path.isid === undefined ? {} : { isid: path.isid }),
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
        if (!(await this.#turPasses(path))) return;
        const session = path.session;
        if (session === undefined) return;
        if (this.#aluaMode && !(await this.#discover(path, session))) {
          this.#fail(path, 'discovery refused the path', session);
          return;
        }
        const setup = this.#options.pathSetup;
        if (
          setup !== undefined &&
          !(await setup(path.name, (request) => this.#setupCommand(path, session, request)))
        ) {
          this.#log('mpath.path_setup_failed', { path: path.name });
          this.#fail(path, 'path setup failed', session);
          return;
        }
        if (path.session === session) this.#reinstate(path);
      } catch (error) {
        if (error instanceof IscsiInitiatorError) {
          this.#fail(path, `reinstatement: ${error.code}`);
          return;
        }
        if (!(error instanceof IscsiLoginError)) throw error;
        this.#log('mpath.login_failed', { path: path.name, code: error.code });
      } finally {
        path.reviving = undefined;
      }
    })();
    return path.reviving;
  }

  /** A command of `pathSetup` on the new session: unit attentions are recorded and retried. */
  async #setupCommand(path: Path, session: IscsiInitiator, request: CommandRequest): Promise<CommandResult> {
    for (let tries = 0; ; tries++) {
      const result = await session.command(request);
      const sense = parseSense(result.sense);
      if (
        tries < SETUP_UA_RETRIES &&
        result.status === ScsiStatusCode.CHECK_CONDITION &&
        sense?.key === SenseKeyCode.UNIT_ATTENTION
      ) {
        await this.#unitAttention(path, sense, 'setup');
        continue;
      }
      return result;
    }
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
      const verdict = classify(result, this.#aluaMode);
      switch (verdict.kind) {
        case 'unit-attention':
          await this.#unitAttention(path, verdict.sense, 'tur');
          return true;
        case 'good':
        case 'aborted':
        case 'busy':
        case 'transitioning':
          return true;
        case 'standby':
          // tur.c: 04/0B is a ghost path (usable at standby priority); 04/0C is down.
          if (ascAscq(verdict.sense.asc, verdict.sense.ascq) === AscAscq.ALUA_STANDBY) return true;
          break;
        case 'answer':
          // tur.c: RESERVATION CONFLICT means the path is up (PR must not kill paths).
          if (result.status === ScsiStatusCode.RESERVATION_CONFLICT) return true;
          break;
        case 'path':
          break;
      }
      this.#fail(path, 'path checker: TUR answered NOT READY or an error', session);
      return false;
    } catch (error) {
      if (!(error instanceof IscsiInitiatorError)) throw error;
      // Ended by our own LUN RESET (tur.c sees the reset's DID_RESET and checks again): the path is up.
      if (error.code === 'ISCSI_INIT_ABORTED') return true;
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

  #log(type: string, data: Record<string, unknown>) {
    return this.#options.eventLog.append(`mpath/${this.name}`, type, data);
  }
}

/** prio alua of a path (const 50 when ALUA is off for it). */
function prioOf(path: Path): number {
  const info = path.alua;
  if (info === undefined || !info.supported || info.state === undefined) return PRIO_CONST;
  let prio: number;
  switch (info.state) {
    case AccessState.ACTIVE_OPTIMIZED:
      prio = 50;
      break;
    case AccessState.ACTIVE_NON_OPTIMIZED:
      prio = 10;
      break;
    case AccessState.LBA_DEPENDENT:
      prio = 5;
      break;
    case AccessState.STANDBY:
      prio = 1;
      break;
    default:
      prio = 0;
  }
  if (info.preferred && info.state !== AccessState.ACTIVE_OPTIMIZED) prio += PREF_BONUS;
  return prio;
}

type Verdict =
  | { readonly kind: 'good' }
  /** The LU's answer: returned to the caller as it is. */
  | { readonly kind: 'answer' }
  /** A path problem: fail the path, requeue elsewhere. */
  | { readonly kind: 'path' }
  | { readonly kind: 'unit-attention'; readonly sense: SenseSummary }
  /** The command may have run partly (ABORTED COMMAND, TASK ABORTED): run it again. */
  | { readonly kind: 'aborted' }
  | { readonly kind: 'busy' }
  /** ALUA: NOT READY 04/0A. */
  | { readonly kind: 'transitioning'; readonly sense: SenseSummary }
  /** ALUA: NOT READY 04/0B or 04/0C: this port does not serve IO now. */
  | { readonly kind: 'standby'; readonly sense: SenseSummary };

/** What an answer means for the IO (see the file comment). */
function classify(result: CommandResult, alua: boolean): Verdict {
  switch (result.status) {
    case ScsiStatusCode.GOOD:
      return { kind: 'good' };
    case ScsiStatusCode.BUSY:
    case ScsiStatusCode.TASK_SET_FULL:
      return { kind: 'busy' };
    case ScsiStatusCode.TASK_ABORTED:
      return { kind: 'aborted' };
    case ScsiStatusCode.CHECK_CONDITION: {
      const sense = parseSense(result.sense);
      if (sense === undefined) return { kind: 'answer' };
      if (sense.key === SenseKeyCode.UNIT_ATTENTION) return { kind: 'unit-attention', sense };
      if (sense.key === SenseKeyCode.ABORTED_COMMAND) return { kind: 'aborted' };
      if (sense.key === SenseKeyCode.NOT_READY) {
        if (!alua) return { kind: 'path' };
        const code = ascAscq(sense.asc, sense.ascq);
        if (code === AscAscq.ALUA_TRANSITIONING) return { kind: 'transitioning', sense };
        if (code === AscAscq.ALUA_STANDBY || code === AscAscq.ALUA_UNAVAILABLE)
          return { kind: 'standby', sense };
        return { kind: 'path' };
      }
      return { kind: 'answer' };
    }
    default:
      return { kind: 'answer' };
  }
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, '0');
}

/** Random-format ISID (T=10b): 0x80, then five bytes from the Rng (as the initiator draws one). */
function drawIsid(rng: Rng): string {
  const bytes = [0x80];
  for (let index = 0; index < 5; index++) bytes.push(rng.int(0, 256));
  return Buffer.from(bytes).toString('hex');
}
