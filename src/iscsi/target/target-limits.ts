/**
 * The target's resource limits: how much of a target one initiator, or many, may hold, with every
 * default in one object (TARGET_LIMITS_DEFAULTS), and the two pieces of accounting they need: a
 * target node's task budget (TaskBudget) and the reporter that counts and logs each refusal
 * (LimitReporter). docs/limits.md lists each limit, where it is enforced and what the peer sees.
 *
 * Rules:
 * - A limit is checked before the memory it protects is taken: a connection over a login cap is
 *   reset at accept, before it has a framer; a command over a task budget is answered TASK SET
 *   FULL before its data buffer exists.
 * - A slow or stalled peer is timed out on the injected Clock, never on the wall clock: a login
 *   that does not finish, a PDU that does not complete, a backlog the peer does not read, Data-Out
 *   that does not come.
 * - Every refusal is counted by limit name (LimitReporter.counts) and logged with the limit's
 *   name and the fix: the first at once, then at most one line per LIMIT_LOG_INTERVAL_MS per limit,
 *   carrying how many were not logged, so that a flood never becomes a log flood.
 * - resolveTargetLimits is the one place options meet defaults; it refuses a limit that is not a
 *   positive whole number (0 is allowed only where it means "off").
 */
import { assert } from '../../core/assert.js';
import type { Clock } from '../../core/clock.js';
import type { EventLog } from '../../core/event-log.js';
import type { Logger } from '../../core/logger.js';

export interface TargetLimits {
  /** Normal sessions of one target node (IQN); the next login is answered 0x0302 Out of resources. */
  readonly sessionsPerTargetMax: number;
  /**
   * Connections of the whole server that have no normal session yet (logging in) or never will
   * (discovery sessions); the next one is reset at accept.
   */
  readonly loginConnectionsMax: number;
  /** The same, from one source address. */
  readonly loginConnectionsPerAddressMax: number;
  /** A connection must reach full feature phase this long after accept, or it is dropped. */
  readonly loginTimeoutMs: number;
  /** A PDU whose first bytes came must be complete this long after, or the connection is dropped. */
  readonly pduTimeoutMs: number;
  /**
   * Once the target's writes are pushed back (the peer's window is full), the peer must read at
   * least `outputProgressBytesMin` (or all that was queued) in every such period, or is dropped.
   */
  readonly outputStallTimeoutMs: number;
  readonly outputProgressBytesMin: number;
  /**
   * After the target ends a connection (logout, refused login, cold reset), the peer must close
   * its side this soon, or the connection is reset (a half-closed peer would keep its session).
   */
  readonly closeTimeoutMs: number;
  /** While a session waits for Data-Out, one must arrive this often, or the connection is dropped. */
  readonly dataOutTimeoutMs: number;
  /** Non-immediate commands one session may have in the target (MaxCmdSN); immediate ones get as many again. */
  readonly commandWindow: number;
  /** SCSI tasks running in all the sessions of one target node; beyond: TASK SET FULL. */
  readonly tasksPerTargetMax: number;
  /** Sum of the ExpectedDataTransferLength of one session's running tasks; beyond: TASK SET FULL. */
  readonly taskDataBytesPerSessionMax: number;
  /** The same over all the sessions of one target node. */
  readonly taskDataBytesPerTargetMax: number;
  /** Keepalive: an idle full-feature connection is pinged after this long (0: no keepalive). */
  readonly nopIntervalMs: number;
  /** ... and dropped when nothing came back this long after the ping. */
  readonly nopTimeoutMs: number;
}

const MIB = 1024 * 1024;

export const TARGET_LIMITS_DEFAULTS: TargetLimits = Object.freeze({
  sessionsPerTargetMax: 1024,
  loginConnectionsMax: 1024,
  loginConnectionsPerAddressMax: 64,
  loginTimeoutMs: 15_000,
  pduTimeoutMs: 30_000,
  outputStallTimeoutMs: 20_000,
  outputProgressBytesMin: 64 * 1024,
  closeTimeoutMs: 10_000,
  dataOutTimeoutMs: 60_000,
  commandWindow: 128,
  tasksPerTargetMax: 8192,
  taskDataBytesPerSessionMax: 128 * MIB,
  taskDataBytesPerTargetMax: 1024 * MIB,
  nopIntervalMs: 10_000,
  nopTimeoutMs: 15_000,
});

/** Limits where 0 turns the rule off rather than refusing everything. */
const ZERO_MEANS_OFF: ReadonlySet<keyof TargetLimits> = new Set([
  'loginTimeoutMs',
  'pduTimeoutMs',
  'outputStallTimeoutMs',
  'closeTimeoutMs',
  'dataOutTimeoutMs',
  'nopIntervalMs',
  'outputProgressBytesMin',
]);

/** The defaults with `overrides` on top; throws naming the key of a value that is not a limit. */
export function resolveTargetLimits(overrides: Partial<TargetLimits> = {}): TargetLimits {
  const limits: TargetLimits = { ...TARGET_LIMITS_DEFAULTS };
  for (const [key, value] of Object.entries(overrides) as [keyof TargetLimits, number | undefined][]) {
    if (value === undefined) continue;
    assert(key in TARGET_LIMITS_DEFAULTS, `target limits: unknown limit "${key}"`);
    const low = ZERO_MEANS_OFF.has(key) ? 0 : 1;
    assert(
      Number.isSafeInteger(value) && value >= low,
      `target limits: ${key} must be a whole number >= ${low}, got ${value}`,
    );
    (limits as Record<keyof TargetLimits, number>)[key] = value;
  }
  return Object.freeze(limits);
}

/** The name every refusal is counted and logged under (docs/limits.md has one row each). */
export type LimitName =
  | 'refused-logins'
  | 'login-connections'
  | 'login-connections-per-address'
  | 'login-timeout'
  | 'pdu-timeout'
  | 'output-stall'
  | 'close-timeout'
  | 'data-out-stall'
  | 'keepalive'
  | 'sessions-per-target'
  | 'command-window'
  | 'immediate-commands'
  | 'tasks-per-target'
  | 'task-data-per-session'
  | 'task-data-per-target'
  | 'task-transfer-size'
  | 'data-segment-size';

/** The option that raises each limit, for the log lines' fix. */
const LIMIT_OPTION: Record<LimitName, string> = {
  // Not a limit: a refused login (wrong CHAP, ACL, unknown target) logged through the same
  // rate limit so that a flood of bad logins never floods the log; the event log has each reason.
  'refused-logins': 'none (the event log names each reason; docs/security.md)',
  'login-connections': 'loginConnectionsMax',
  'login-connections-per-address': 'loginConnectionsPerAddressMax',
  'login-timeout': 'loginTimeoutMs',
  'pdu-timeout': 'pduTimeoutMs',
  'output-stall': 'outputStallTimeoutMs',
  'close-timeout': 'closeTimeoutMs',
  'data-out-stall': 'dataOutTimeoutMs',
  keepalive: 'nopTimeoutMs',
  'sessions-per-target': 'sessionsPerTargetMax',
  'command-window': 'commandWindow',
  'immediate-commands': 'commandWindow',
  'tasks-per-target': 'tasksPerTargetMax',
  'task-data-per-session': 'taskDataBytesPerSessionMax',
  'task-data-per-target': 'taskDataBytesPerTargetMax',
  'task-transfer-size': 'TASK_TRANSFER_BYTES_MAX (fixed)',
  'data-segment-size': 'MaxRecvDataSegmentLength (negotiated)',
};

/** At most one log line per limit per this long (the rest are counted into the next line). */
export const LIMIT_LOG_INTERVAL_MS = 10_000;

/** Counts and logs the refusals of one server (see the file comment). */
export class LimitReporter {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #eventLog: EventLog | undefined;
  readonly #counts = new Map<LimitName, number>();
  readonly #loggedAtMs = new Map<LimitName, number>();
  readonly #unlogged = new Map<LimitName, number>();

  constructor(options: { clock: Clock; logger: Logger; eventLog?: EventLog }) {
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#eventLog = options.eventLog;
  }

  /**
   * One refusal under `limit`. `message` says what happened and the fix; `logger` carries the
   * context (a connection's or session's child logger). `event` also appends it to the event log
   * (only refusals that never happen to a healthy peer: a simulator run's log stays what it was).
   */
  hit(
    limit: LimitName,
    fields: Record<string, unknown>,
    message: string,
    options: { logger?: Logger; event?: boolean } = {},
  ): void {
    this.#counts.set(limit, (this.#counts.get(limit) ?? 0) + 1);
    if (options.event) this.#eventLog?.append('iscsi/limits', 'limit.hit', { limit, ...fields });
    const nowMs = this.#clock.now();
    const loggedAtMs = this.#loggedAtMs.get(limit);
    if (loggedAtMs !== undefined && nowMs - loggedAtMs < LIMIT_LOG_INTERVAL_MS) {
      this.#unlogged.set(limit, (this.#unlogged.get(limit) ?? 0) + 1);
      return;
    }
    const unlogged = this.#unlogged.get(limit) ?? 0;
    this.#unlogged.delete(limit);
    this.#loggedAtMs.set(limit, nowMs);
    (options.logger ?? this.#logger).warn(
      { limit, option: LIMIT_OPTION[limit], ...fields, ...(unlogged > 0 ? { notLogged: unlogged } : {}) },
      message,
    );
  }

  /** Refusals so far under `limit`. */
  count(limit: LimitName): number {
    return this.#counts.get(limit) ?? 0;
  }

  /** Every limit hit so far with its count, by name. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.#counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}

/**
 * The tasks of one target node, across its sessions: how many run and the bytes they may move
 * (each task's ExpectedDataTransferLength, reserved before its buffer exists, released when it
 * ends). Peaks are kept for reports.
 *
 * Fairness: a session still under its fair share (the limits divided by the node's sessions)
 * gets its command even when greedy sessions hold the whole budget, so no session starves; the
 * node's totals then stay under twice the limits (the fair shares add up to the limits).
 */
export class TaskBudget {
  readonly tasksMax: number;
  readonly bytesMax: number;
  tasks = 0;
  bytes = 0;
  tasksPeak = 0;
  bytesPeak = 0;
  /** Sessions sharing the budget (join/leave). */
  sessions = 0;

  constructor(limits: Pick<TargetLimits, 'tasksPerTargetMax' | 'taskDataBytesPerTargetMax'>) {
    this.tasksMax = limits.tasksPerTargetMax;
    this.bytesMax = limits.taskDataBytesPerTargetMax;
  }

  join(): void {
    this.sessions += 1;
  }

  leave(): void {
    this.sessions -= 1;
  }

  /**
   * Takes one task of `bytes` for a session that holds `held` now, or returns the limit that
   * refuses it (nothing taken).
   */
  reserve(
    bytes: number,
    held: { readonly tasks: number; readonly bytes: number },
  ): 'tasks-per-target' | 'task-data-per-target' | undefined {
    const sessions = Math.max(1, this.sessions);
    const underFairShare =
      held.tasks + 1 <= this.tasksMax / sessions && held.bytes + bytes <= this.bytesMax / sessions;
    if (!underFairShare) {
      if (this.tasks >= this.tasksMax) return 'tasks-per-target';
      if (this.bytes + bytes > this.bytesMax) return 'task-data-per-target';
    }
    this.tasks += 1;
    this.bytes += bytes;
    if (this.tasks > this.tasksPeak) this.tasksPeak = this.tasks;
    if (this.bytes > this.bytesPeak) this.bytesPeak = this.bytes;
    return undefined;
  }

  release(bytes: number): void {
    this.tasks -= 1;
    this.bytes -= bytes;
    assert(this.tasks >= 0 && this.bytes >= 0, 'task budget released more than it reserved');
  }
}
