/**
 * What the iSCSI target reports to a MetricsRegistry: SCSI commands per LU and direction (count,
 * data bytes, latency, CHECK CONDITIONs by sense key, other non-GOOD statuses, aborts), sessions,
 * connections, logins, Rejects, CmdSN window stalls and task management.
 *
 * Rules
 * - One TargetMetrics per target node. It makes its families in the registry it is given (shared
 *   families when several nodes share a registry: give each a `node` name, which becomes the
 *   first label of every series, or their numbers add up).
 * - The target code resolves handles once and keeps them: a session takes its SessionMetrics and
 *   one LunMetrics per LU it sends commands to, a connection takes `connections`; a command
 *   then only bumps numbers (direction as an index, a status or sense key as a number). Series
 *   for a status, a sense key or a TMF function are made on their first occurrence.
 * - Commands sent to a LUN the target does not have count under lun="absent" (an initiator
 *   probing every LUN must not make 16,384 series).
 * - Latency is from the SCSI Command PDU's turn (the task starts) to its status going out, on the
 *   registry's clock; aborted tasks never send status and count only as aborted.
 */
import { TmfFunction } from '../iscsi/pdu/opcodes.js';
import { ScsiStatus, SenseKey } from '../scsi/scsi-types.js';
import type { Counter, Family, Gauge, Histogram, MetricsRegistry } from './metrics-registry.js';

/** A SCSI command's data direction, as an index into LunMetrics' series. */
export const ScsiDirection = { READ: 0, WRITE: 1, OTHER: 2 } as const;
export type ScsiDirectionIndex = (typeof ScsiDirection)[keyof typeof ScsiDirection];
const DIRECTION_LABELS = ['read', 'write', 'other'] as const;

/** The `lun` label of commands sent to a LUN the target does not have. */
export const ABSENT_LUN = 'absent';

/** Why a CmdSN window stall counted (collie_iscsi_cmdsn_window_stalls_total's `reason`). */
export type CmdSnStallReason = 'window_full' | 'gap' | 'outside_window';

const SENSE_KEY_NAMES = namesByCode(SenseKey);
const STATUS_NAMES = namesByCode(ScsiStatus);
const TMF_NAMES = namesByCode(TmfFunction);

function namesByCode(table: Record<string, number>): Map<number, string> {
  return new Map(Object.entries(table).map(([name, code]) => [code, name]));
}

function codeLabel(names: Map<number, string>, code: number): string {
  return names.get(code) ?? `0x${code.toString(16).padStart(2, '0')}`;
}

export interface TargetMetricsOptions {
  /** The target node's name, as a `node` label on every series (several nodes, one registry). */
  readonly node?: string;
}

interface TargetFamilies {
  readonly commands: Family<Counter>;
  readonly bytes: Family<Counter>;
  readonly seconds: Family<Histogram>;
  readonly checkConditions: Family<Counter>;
  readonly statuses: Family<Counter>;
  readonly aborted: Family<Counter>;
  readonly sessions: Family<Gauge>;
  readonly stalls: Family<Counter>;
  readonly taskManagement: Family<Counter>;
  readonly connections: Family<Gauge>;
  readonly logins: Family<Counter>;
  readonly rejects: Family<Counter>;
}

export class TargetMetrics {
  readonly #registry: MetricsRegistry;
  readonly #families: TargetFamilies;
  /** [] or [node]: the leading label values of every series. */
  readonly #prefix: readonly string[];
  readonly #luns = new Map<string, LunMetrics>();
  readonly #sessions = new Map<string, SessionMetrics>();
  /** The target node's connections and logins. */
  readonly connections: ConnectionMetrics;

  constructor(registry: MetricsRegistry, options: TargetMetricsOptions = {}) {
    this.#registry = registry;
    this.#prefix = options.node === undefined ? [] : [options.node];
    const node = options.node === undefined ? [] : ['node'];
    const lu = [...node, 'target', 'lun'];
    this.#families = {
      commands: registry.counter(
        'collie_scsi_commands_total',
        'SCSI commands that completed with a status, by LU and data direction (IOPS: rate of this).',
        [...lu, 'direction'],
      ),
      bytes: registry.counter(
        'collie_scsi_bytes_total',
        'Data bytes of completed SCSI commands: Data-In sent (read) and data-out handed to the LU (write).',
        [...lu, 'direction'],
      ),
      seconds: registry.histogram(
        'collie_scsi_command_seconds',
        'Time from a SCSI command starting in its session to its status going out.',
        [...lu, 'direction'],
      ),
      checkConditions: registry.counter(
        'collie_scsi_check_conditions_total',
        'SCSI commands answered CHECK CONDITION, by sense key.',
        [...lu, 'sense_key'],
      ),
      statuses: registry.counter(
        'collie_scsi_non_good_statuses_total',
        'SCSI commands answered with a status other than GOOD (CHECK_CONDITION, RESERVATION_CONFLICT, BUSY, ...).',
        [...lu, 'status'],
      ),
      aborted: registry.counter(
        'collie_scsi_aborted_total',
        'SCSI tasks aborted (task management, session end) before their status went out.',
        lu,
      ),
      sessions: registry.gauge('collie_iscsi_sessions', 'iSCSI sessions open (full feature phase).', [
        ...node,
        'target',
      ]),
      stalls: registry.counter(
        'collie_iscsi_cmdsn_window_stalls_total',
        'CmdSN window stalls: window_full = the command window filled (the initiator must hold commands back), gap = a command arrived ahead of ExpCmdSN and waited, outside_window = a command outside the window was dropped.',
        [...node, 'target', 'reason'],
      ),
      taskManagement: registry.counter(
        'collie_iscsi_task_management_total',
        'Task management requests received, by function.',
        [...node, 'target', 'function'],
      ),
      connections: registry.gauge('collie_iscsi_connections', 'iSCSI connections open (any phase).', node),
      logins: registry.counter('collie_iscsi_logins_total', 'iSCSI logins finished, by result.', [
        ...node,
        'result',
      ]),
      rejects: registry.counter(
        'collie_iscsi_rejects_total',
        'PDUs the target answered with Reject (protocol errors, data digest errors, oversize segments).',
        node,
      ),
    };
    this.connections = new ConnectionMetrics(this.#families, this.#prefix);
  }

  /** Milliseconds on the registry's clock (a task's start). */
  nowMs(): number {
    return this.#registry.nowMs();
  }

  /** The series of one LU (`lun` ABSENT_LUN: commands to LUNs the target lacks); made once. */
  lun(targetIqn: string, lun: number | typeof ABSENT_LUN): LunMetrics {
    const key = `${targetIqn}\n${lun}`;
    let found = this.#luns.get(key);
    if (found === undefined) {
      found = new LunMetrics(this, this.#families, [...this.#prefix, targetIqn, String(lun)]);
      this.#luns.set(key, found);
    }
    return found;
  }

  /** The series the sessions of one target share; made once. */
  session(targetIqn: string): SessionMetrics {
    let found = this.#sessions.get(targetIqn);
    if (found === undefined) {
      found = new SessionMetrics(this.#families, [...this.#prefix, targetIqn]);
      this.#sessions.set(targetIqn, found);
    }
    return found;
  }
}

/** One LU's command series (target, lun). */
export class LunMetrics {
  readonly #target: TargetMetrics;
  readonly #families: TargetFamilies;
  readonly #labels: readonly string[];
  readonly #commands: readonly Counter[];
  readonly #bytes: readonly Counter[];
  readonly #seconds: readonly Histogram[];
  readonly #aborted: Counter;
  /** By sense key (0..15), made on first use. */
  readonly #checkConditions: Array<Counter | undefined> = new Array(16);
  /** By status byte, made on first use. */
  readonly #statuses = new Map<number, Counter>();

  constructor(target: TargetMetrics, families: TargetFamilies, labels: readonly string[]) {
    this.#target = target;
    this.#families = families;
    this.#labels = labels;
    this.#commands = DIRECTION_LABELS.map((direction) => families.commands.child(...labels, direction));
    this.#bytes = DIRECTION_LABELS.map((direction) => families.bytes.child(...labels, direction));
    this.#seconds = DIRECTION_LABELS.map((direction) => families.seconds.child(...labels, direction));
    this.#aborted = families.aborted.child(...labels);
  }

  /** Now on the registry's clock: a command's start. */
  nowMs(): number {
    return this.#target.nowMs();
  }

  /**
   * A command's status went out. `senseKey`: the sense key of a CHECK CONDITION (undefined when
   * its sense could not be read).
   */
  completed(
    direction: ScsiDirectionIndex,
    dataBytes: number,
    startedMs: number,
    status: number,
    senseKey: number | undefined,
  ): void {
    this.#commands[direction]!.inc();
    if (dataBytes > 0) this.#bytes[direction]!.inc(dataBytes);
    this.#seconds[direction]!.observe((this.#target.nowMs() - startedMs) / 1000);
    if (status === ScsiStatus.GOOD) return;
    this.#status(status).inc();
    if (status === ScsiStatus.CHECK_CONDITION && senseKey !== undefined) this.#checkCondition(senseKey).inc();
  }

  aborted(): void {
    this.#aborted.inc();
  }

  #status(status: number): Counter {
    let counter = this.#statuses.get(status);
    if (counter === undefined) {
      counter = this.#families.statuses.child(...this.#labels, codeLabel(STATUS_NAMES, status));
      this.#statuses.set(status, counter);
    }
    return counter;
  }

  #checkCondition(senseKey: number): Counter {
    const key = senseKey & 0x0f;
    let counter = this.#checkConditions[key];
    if (counter === undefined) {
      counter = this.#families.checkConditions.child(...this.#labels, codeLabel(SENSE_KEY_NAMES, key));
      this.#checkConditions[key] = counter;
    }
    return counter;
  }
}

/** The series the sessions of one target share (target). */
export class SessionMetrics {
  readonly #families: TargetFamilies;
  readonly #labels: readonly string[];
  readonly #sessions: Gauge;
  readonly windowFull: Counter;
  readonly gap: Counter;
  readonly outsideWindow: Counter;
  /** By TMF function code, made on first use. */
  readonly #taskManagement = new Map<number, Counter>();

  constructor(families: TargetFamilies, labels: readonly string[]) {
    this.#families = families;
    this.#labels = labels;
    this.#sessions = families.sessions.child(...labels);
    const stall = (reason: CmdSnStallReason) => families.stalls.child(...labels, reason);
    this.windowFull = stall('window_full');
    this.gap = stall('gap');
    this.outsideWindow = stall('outside_window');
  }

  opened(): void {
    this.#sessions.inc();
  }

  closed(): void {
    this.#sessions.dec();
  }

  taskManagement(functionCode: number): void {
    let counter = this.#taskManagement.get(functionCode);
    if (counter === undefined) {
      counter = this.#families.taskManagement.child(...this.#labels, codeLabel(TMF_NAMES, functionCode));
      this.#taskManagement.set(functionCode, counter);
    }
    counter.inc();
  }
}

/** A target node's connection series. */
export class ConnectionMetrics {
  readonly #connections: Gauge;
  readonly loginsSucceeded: Counter;
  readonly loginsFailed: Counter;
  readonly rejects: Counter;

  constructor(families: TargetFamilies, prefix: readonly string[]) {
    this.#connections = families.connections.child(...prefix);
    this.loginsSucceeded = families.logins.child(...prefix, 'success');
    this.loginsFailed = families.logins.child(...prefix, 'failure');
    this.rejects = families.rejects.child(...prefix);
  }

  opened(): void {
    this.#connections.inc();
  }

  closed(): void {
    this.#connections.dec();
  }
}

/**
 * The sense key of encoded sense data (SPC-4 §4.5): fixed format (0x70/0x71) has it in byte 2,
 * descriptor format (0x72/0x73) in byte 1; undefined for anything else.
 */
export function senseKeyOf(sense: Buffer): number | undefined {
  const code = (sense[0] ?? 0) & 0x7f;
  if ((code === 0x70 || code === 0x71) && sense.length > 2) return sense[2]! & 0x0f;
  if ((code === 0x72 || code === 0x73) && sense.length > 1) return sense[1]! & 0x0f;
  return undefined;
}
