/**
 * One iSCSI session in full feature phase (RFC 7143 §4.2.2, §11.3, §11.5, §11.18): the command
 * window, the tasks, and task management, over the one connection Collie negotiates
 * (MaxConnections=1, ErrorRecoveryLevel=0).
 *
 * Command numbering
 * - Non-immediate PDUs carry CmdSN and run in CmdSN order: one equal to ExpCmdSN runs and
 *   advances the window, later ones inside [ExpCmdSN, MaxCmdSN] wait in a bounded map, and
 *   anything outside the window is dropped (the initiator's CmdSN is broken; §4.2.2.1).
 * - Immediate PDUs run at once and do not advance ExpCmdSN.
 * - MaxCmdSN = ExpCmdSN + (window − active tasks) − 1, so the initiator can never have more
 *   than `commandWindow` commands in the target: that is the queue's bound (rxjs and the
 *   transport have none).
 * - Immediate SCSI commands are outside the window (§4.2.2.1) but not unbounded: while the
 *   session runs 2 × `commandWindow` tasks the next one is refused (the connection Rejects it,
 *   reason 0x06; `immediateRoom`).
 *
 * Limits (target-limits.ts; docs/limits.md), checked before a task is made, so before its data
 * buffer exists: each task reserves its ExpectedDataTransferLength from the session's budget
 * (`taskDataBytesPerSessionMax`; a session with no task always gets one command, however large)
 * and a task and its bytes from its target node's TaskBudget (shared by the node's sessions,
 * with a fair share each that greedy sessions cannot take away).
 * A command that does not fit is answered at once with status TASK SET FULL (SAM-5, 28h): the
 * initiator retries later. A task waiting for Data-Out must get some within `dataOutTimeoutMs`
 * (from its start, then from its last Data-Out), or the session's connection is dropped (ERL 0
 * has no way to fail one sequence; the initiator logs in again). Refusals go to the reporter.
 *
 * Task management completes only after every affected task stopped touching its logical unit
 * (§4.2.3.3); aborted tasks never send status. ABORT TASK, ABORT TASK SET and CLEAR TASK SET
 * touch this session's tasks; LOGICAL UNIT RESET and TARGET WARM/COLD RESET act on the logical
 * unit or target itself, so they abort the matching tasks of every session on that target
 * (SAM-5 §7.7, §7.8; RFC 7143 §11.5.1), which the `peers` option reaches.
 *
 * Metrics (optional `metrics`): the session counts in its target's `collie_iscsi_sessions` while
 * open; CmdSN window stalls (the window filling up, counted once until it has room again; a
 * command waiting for a CmdSN gap; a command dropped outside the window); task management
 * requests; and it hands each task its LU's LunMetrics, resolved once per LU and kept.
 */
import { type Observable, Subject } from 'rxjs';
import type { Actor } from 'xstate';
import { type IscsiSessionEvent, iscsiSessionMachine } from '../../../machines/iscsi-session.js';
import type { Clock, TimerId } from '../../core/clock.js';
import type { EventLog } from '../../core/event-log.js';
import type { Logger } from '../../core/logger.js';
import { startLoggedActor } from '../../core/machine-log.js';
import {
  ABSENT_LUN,
  type LunMetrics,
  type SessionMetrics,
  type TargetMetrics,
} from '../../metrics/target-metrics.js';
import { type Nexus, ScsiStatus } from '../../scsi/scsi-types.js';
import type { NegotiatedParameters } from '../login/negotiate.js';
import { lunFromWire } from '../pdu/lun.js';
import { type DataOutPdu, EMPTY_DATA, type ScsiCommandPdu, type TmfRequestPdu } from '../pdu/messages.js';
import { IscsiResponse, RESERVED_TAG, TmfFunction, TmfResponse } from '../pdu/opcodes.js';
import { ScsiTask, TASK_TRANSFER_BYTES_MAX, type TaskContext, type TaskOutput } from './scsi-task.js';
import { serialAdd, serialInWindow } from './serial-number.js';
import { type LimitReporter, TARGET_LIMITS_DEFAULTS, type TaskBudget } from './target-limits.js';
import type { IscsiLun, TargetNode } from './target-node.js';

export const COMMAND_WINDOW_DEFAULT = TARGET_LIMITS_DEFAULTS.commandWindow;

/** What a command reserves from the budgets: its EDTL (0 above the cap: ScsiTask refuses it unbuffered). */
function taskDataBytesOf(pdu: ScsiCommandPdu): number {
  const bytes = pdu.expectedDataTransferLength;
  return bytes > TASK_TRANSFER_BYTES_MAX ? 0 : bytes;
}

export type SessionEndReason = 'logout' | 'connection-lost' | 'reinstated';

const SESSION_END_EVENTS = {
  logout: 'LOGOUT',
  'connection-lost': 'CONNECTION_LOST',
  reinstated: 'REINSTATED',
} as const;

export interface SessionIdentity {
  readonly tsih: number;
  readonly isid: string;
  readonly initiatorName: string;
  readonly target: TargetNode;
}

export interface SessionOutput {
  send(pdu: TaskOutput): void;
  /** A TMF response is ready (stamped and sent by the connection). */
  sendTmfResponse(initiatorTaskTag: number, response: number): void;
  /** Target cold reset: drop every connection of the target after answering. */
  coldReset(): void;
  /** A limit ends the session: drop its connection (logged by the caller). */
  drop?(why: string): void;
}

/** What happens to one incoming sequenced PDU. */
export type Admission = 'run' | 'queued' | 'dropped';

export class IscsiSession {
  readonly identity: SessionIdentity;
  readonly nexus: Nexus;
  readonly #parameters: NegotiatedParameters;
  readonly #logger: Logger;
  readonly #eventLog: EventLog;
  readonly #window: number;
  readonly #tasks = new Map<number, ScsiTask>();
  /** Non-immediate PDUs that arrived ahead of ExpCmdSN, by CmdSN. */
  readonly #waiting = new Map<number, () => void>();
  #expCmdSN: number;
  /** The session's state (machines/iscsi-session.ts), logged at every change. */
  readonly #machine: Actor<typeof iscsiSessionMachine>;
  /** The session machine's inputs, one synchronous stream (the machine moves before next() returns). */
  readonly #inputs = new Subject<IscsiSessionEvent>();
  readonly inputs$: Observable<IscsiSessionEvent> = this.#inputs.asObservable();
  #targetTransferTag = 0;
  #output: SessionOutput | undefined;
  #closed = false;
  /** Called whenever a task leaves the table or the session closes (tasksSettled). */
  readonly #taskEnded = new Set<() => void>();
  /** Shared by every task: built once, not per command (its closures were a per-command cost). */
  readonly #taskContext: TaskContext;
  readonly #peers: () => Iterable<IscsiSession>;
  readonly #connectionId: string | undefined;
  readonly #targetMetrics: TargetMetrics | undefined;
  readonly #metrics: SessionMetrics | undefined;
  /** Each LU's series, by LUN, resolved at its first command. */
  readonly #lunMetrics = new Map<number, LunMetrics>();
  #absentLunMetrics: LunMetrics | undefined;
  /** The command window is full (counted once as a stall until it has room again). */
  #windowFull = false;
  readonly #clock: Clock | undefined;
  readonly #reporter: LimitReporter | undefined;
  /** The target node's budget (undefined: unbounded, for sessions made outside a server). */
  readonly #budget: TaskBudget | undefined;
  readonly #taskDataBytesMax: number;
  /** Bytes reserved by this session's running tasks (see the file comment). */
  #taskDataBytes = 0;
  readonly #dataOutTimeoutMs: number;
  /** Tasks waiting for Data-Out, with when they started or last got some. */
  readonly #dataOutAtMs = new Map<ScsiTask, number>();
  #dataOutTimerId: TimerId | undefined;

  constructor(options: {
    identity: SessionIdentity;
    parameters: NegotiatedParameters;
    firstCmdSN: number;
    logger: Logger;
    eventLog: EventLog;
    commandWindow?: number;
    /** Every live session of the server (this one may or may not be among them); default: none. */
    peers?: () => Iterable<IscsiSession>;
    /**
     * The id of the connection it logged in on. Its transitions carry it: TSIHs are per target
     * server, so where several servers share one log it tells their sessions apart.
     */
    connectionId?: string;
    /** Where the session and its tasks report; default: nowhere. */
    metrics?: TargetMetrics;
    /** Times the Data-Out wait; without it there is no such timeout. */
    clock?: Clock;
    /** The target node's task budget; default: none (only the session's own limits apply). */
    budget?: TaskBudget;
    /** Counts and logs refusals; default: the session's logger, uncounted. */
    reporter?: LimitReporter;
    taskDataBytesMax?: number;
    dataOutTimeoutMs?: number;
  }) {
    this.identity = options.identity;
    this.#parameters = options.parameters;
    this.#logger = options.logger;
    this.#eventLog = options.eventLog;
    this.#window = options.commandWindow ?? COMMAND_WINDOW_DEFAULT;
    this.#peers = options.peers ?? (() => []);
    this.#expCmdSN = options.firstCmdSN;
    this.#clock = options.clock;
    this.#budget = options.budget;
    this.#budget?.join();
    this.#reporter = options.reporter;
    this.#taskDataBytesMax = options.taskDataBytesMax ?? TARGET_LIMITS_DEFAULTS.taskDataBytesPerSessionMax;
    this.#dataOutTimeoutMs = options.dataOutTimeoutMs ?? TARGET_LIMITS_DEFAULTS.dataOutTimeoutMs;
    const actor = `iscsi/session/${options.identity.tsih}`;
    this.#connectionId = options.connectionId;
    this.#targetMetrics = options.metrics;
    this.#metrics = options.metrics?.session(options.identity.target.iqn);
    this.#metrics?.opened();
    this.#machine = startLoggedActor(iscsiSessionMachine, {
      eventLog: options.eventLog,
      actor,
      type: 'session.transition',
      ...(options.connectionId === undefined ? {} : { data: { connection: options.connectionId } }),
      live: {
        machine: 'iscsi-session',
        key: options.connectionId === undefined ? actor : `${actor}#${options.connectionId}`,
      },
    });
    this.#inputs.subscribe((event) => this.#machine.send(event));
    const target = options.identity.target;
    const initiatorPortName = `${options.identity.initiatorName},i,0x${options.identity.isid}`;
    const targetPortName = `${target.iqn},t,0x${target.portalGroupTag.toString(16).padStart(4, '0')}`;
    this.nexus = {
      initiatorPortName,
      initiatorName: options.identity.initiatorName,
      targetPortName,
      relativeTargetPortId: target.relativeTargetPortId,
      targetPortGroup: target.targetPortGroup,
      id: `${initiatorPortName}|${targetPortName}`,
    };
    const { session, connection } = options.parameters;
    this.#taskContext = {
      nexus: this.nexus,
      burst: {
        initialR2T: session.initialR2T,
        firstBurstLength: session.firstBurstLengthBytes,
        maxBurstLength: session.maxBurstLengthBytes,
        maxOutstandingR2T: session.maxOutstandingR2T,
      },
      maxSendDataSegmentLengthBytes: connection.maxSendDataSegmentLengthBytes,
      allocateTargetTransferTag: () => this.#nextTargetTransferTag(),
      rejected: (initiatorTaskTag, why) =>
        this.#logger.warn({ initiatorTaskTag, why }, 'failed a command on bad Data-Out'),
      lunNumbers: () => [...this.identity.target.luns.keys()].sort((a, b) => a - b),
      send: (out) => this.#output?.send(out),
      finished: (finished) => {
        if (this.#tasks.get(finished.initiatorTaskTag) === finished) {
          this.#tasks.delete(finished.initiatorTaskTag);
          const bytes = taskDataBytesOf(finished.pdu);
          this.#taskDataBytes -= bytes;
          this.#budget?.release(bytes);
        }
        this.#dataOutAtMs.delete(finished);
        if (this.#metrics !== undefined) this.#noteWindow(this.#metrics);
        for (const check of [...this.#taskEnded]) check();
      },
    };
  }

  get expCmdSN(): number {
    return this.#expCmdSN;
  }

  get maxCmdSN(): number {
    const room = Math.max(0, this.#window - this.#tasks.size - this.#waiting.size);
    return serialAdd(this.#expCmdSN, room - 1);
  }

  get activeTaskCount(): number {
    return this.#tasks.size;
  }

  /** Bytes this session's running tasks reserved (their ExpectedDataTransferLength). */
  get taskDataBytes(): number {
    return this.#taskDataBytes;
  }

  /** An immediate SCSI command may start: fewer than 2 × commandWindow tasks run (file comment). */
  immediateRoom(): boolean {
    return this.#tasks.size < 2 * this.#window;
  }

  /**
   * Settles when every task running now has finished (answered, failed or aborted) or the session
   * closed; tasks started later are not waited for.
   */
  async tasksSettled(): Promise<void> {
    const pending = new Set(this.#tasks.values());
    await new Promise<void>((resolve) => {
      const check = () => {
        for (const task of pending) if (this.#tasks.get(task.initiatorTaskTag) !== task) pending.delete(task);
        if (pending.size > 0 && !this.#closed) return;
        this.#taskEnded.delete(check);
        resolve();
      };
      this.#taskEnded.add(check);
      check();
    });
  }

  attach(output: SessionOutput): void {
    this.#output = output;
  }

  /**
   * Orders a sequenced PDU: `run` is called now, later (when the gap before it fills), or never
   * (outside the window).
   */
  admit(cmdSN: number, immediate: boolean, run: () => void): Admission {
    if (this.#closed) return 'dropped';
    if (immediate) {
      run();
      return 'run';
    }
    if (cmdSN === this.#expCmdSN) {
      this.#expCmdSN = serialAdd(this.#expCmdSN, 1);
      run();
      this.#runWaiting();
      if (this.#metrics !== undefined) this.#noteWindow(this.#metrics);
      return 'run';
    }
    if (!serialInWindow(cmdSN, this.#expCmdSN, this.maxCmdSN) || this.#waiting.has(cmdSN)) {
      this.#metrics?.outsideWindow.inc();
      const fields = { cmdSN, expCmdSN: this.#expCmdSN, maxCmdSN: this.maxCmdSN };
      const message =
        'dropped a command outside the CmdSN window (RFC 7143 §4.2.2.1); the initiator must keep CmdSN within [ExpCmdSN, MaxCmdSN]';
      if (this.#reporter) this.#reporter.hit('command-window', fields, message, { logger: this.#logger });
      else this.#logger.warn(fields, message);
      return 'dropped';
    }
    this.#waiting.set(cmdSN, run);
    if (this.#metrics !== undefined) {
      this.#metrics.gap.inc();
      this.#noteWindow(this.#metrics);
    }
    return 'queued';
  }

  /** A SCSI Command PDU whose turn came. Returns an error text for a protocol violation. */
  startCommand(pdu: ScsiCommandPdu): string | undefined {
    if (this.#tasks.has(pdu.initiatorTaskTag))
      return `task tag 0x${pdu.initiatorTaskTag.toString(16)} is already in use`;
    if (pdu.data.length > 0 && !this.#parameters.session.immediateData)
      return 'immediate data sent with ImmediateData=No';
    if (pdu.data.length > pdu.expectedDataTransferLength)
      return 'immediate data longer than ExpectedDataTransferLength';
    if (!this.#reserve(pdu)) return undefined;
    const lunNumber = lunFromWire(pdu.lun);
    const lun = lunNumber === undefined ? undefined : this.identity.target.luns.get(lunNumber);
    const metrics = this.#targetMetrics === undefined ? undefined : this.#lunMetricsOf(lunNumber, lun);
    const task = new ScsiTask(pdu, lun, lunNumber ?? -1, this.#taskContext, metrics);
    this.#tasks.set(pdu.initiatorTaskTag, task);
    if (this.#metrics !== undefined) this.#noteWindow(this.#metrics);
    task.start();
    if (task.state === 'collecting') this.#awaitDataOut(task);
    return undefined;
  }

  /**
   * Reserves the command's bytes from the session's and the target's budgets, or answers it
   * TASK SET FULL and returns false (see the file comment).
   */
  #reserve(pdu: ScsiCommandPdu): boolean {
    const bytes = taskDataBytesOf(pdu);
    if (bytes === 0 && pdu.expectedDataTransferLength > 0) {
      this.#reporter?.hit(
        'task-transfer-size',
        {
          initiatorTaskTag: pdu.initiatorTaskTag,
          expectedDataTransferLength: pdu.expectedDataTransferLength,
        },
        `a command expects ${pdu.expectedDataTransferLength} bytes, above the ${TASK_TRANSFER_BYTES_MAX} one command may move; answered CHECK CONDITION, nothing allocated (the initiator must split its IO)`,
        { logger: this.#logger, event: true },
      );
    }
    let refused: 'task-data-per-session' | 'tasks-per-target' | 'task-data-per-target' | undefined;
    if (this.#tasks.size > 0 && this.#taskDataBytes + bytes > this.#taskDataBytesMax) {
      refused = 'task-data-per-session';
    } else {
      refused = this.#budget?.reserve(bytes, { tasks: this.#tasks.size, bytes: this.#taskDataBytes });
    }
    if (refused === undefined) {
      this.#taskDataBytes += bytes;
      return true;
    }
    this.#reporter?.hit(
      refused,
      {
        initiatorTaskTag: pdu.initiatorTaskTag,
        expectedDataTransferLength: pdu.expectedDataTransferLength,
        sessionTasks: this.#tasks.size,
        sessionTaskBytes: this.#taskDataBytes,
        targetTasks: this.#budget?.tasks,
        targetTaskBytes: this.#budget?.bytes,
      },
      refused === 'task-data-per-session'
        ? 'answered TASK SET FULL: the session already moves its taskDataBytesPerSessionMax; the initiator retries (raise the limit or lower its queue depth)'
        : `answered TASK SET FULL: target ${this.identity.target.iqn} is at its ${refused === 'tasks-per-target' ? 'tasksPerTargetMax' : 'taskDataBytesPerTargetMax'}; the initiator retries (raise the limit or spread the sessions over more targets)`,
      { logger: this.#logger, event: true },
    );
    const expected = pdu.expectedDataTransferLength;
    this.#output?.send({
      kind: 'scsi-response',
      ahs: [],
      data: EMPTY_DATA,
      bidirectionalReadResidualOverflow: false,
      bidirectionalReadResidualUnderflow: false,
      residualOverflow: false,
      residualUnderflow: expected > 0,
      response: IscsiResponse.COMMAND_COMPLETED_AT_TARGET,
      status: ScsiStatus.TASK_SET_FULL,
      initiatorTaskTag: pdu.initiatorTaskTag,
      snackTag: 0,
      expDataSN: 0,
      bidirectionalReadResidualCount: 0,
      residualCount: expected,
    });
    return false;
  }

  /** `task` waits for Data-Out: time it (see the file comment). */
  #awaitDataOut(task: ScsiTask): void {
    const clock = this.#clock;
    if (clock === undefined || this.#dataOutTimeoutMs === 0) return;
    this.#dataOutAtMs.set(task, clock.now());
    if (this.#dataOutTimerId === undefined) this.#armDataOutTimer(this.#dataOutTimeoutMs);
  }

  #armDataOutTimer(delayMs: number): void {
    this.#dataOutTimerId = this.#clock!.setTimeout(() => {
      this.#dataOutTimerId = undefined;
      this.#checkDataOut();
    }, delayMs);
  }

  #checkDataOut(): void {
    if (this.#closed) return;
    const nowMs = this.#clock!.now();
    let oldestMs: number | undefined;
    for (const [task, atMs] of this.#dataOutAtMs) {
      if (task.state !== 'collecting') this.#dataOutAtMs.delete(task);
      else if (oldestMs === undefined || atMs < oldestMs) oldestMs = atMs;
    }
    if (oldestMs === undefined) return;
    const waitedMs = nowMs - oldestMs;
    if (waitedMs < this.#dataOutTimeoutMs) {
      this.#armDataOutTimer(this.#dataOutTimeoutMs - waitedMs);
      return;
    }
    const why = `no Data-Out for a write within ${this.#dataOutTimeoutMs} ms`;
    this.#reporter?.hit(
      'data-out-stall',
      { waitedMs, tasksWaiting: this.#dataOutAtMs.size },
      `dropping the connection: ${why}; the initiator must send the data it announced or was asked for (R2T)`,
      { logger: this.#logger, event: true },
    );
    this.#output?.drop?.(why);
  }

  /** Data-Out routing. Returns an error text for a protocol violation. */
  dataOut(pdu: DataOutPdu): string | undefined {
    const task = this.#tasks.get(pdu.initiatorTaskTag);
    if (!task) {
      // Data for a task that was aborted, failed or refused (TASK SET FULL) is expected to
      // trickle in; drop it quietly.
      return undefined;
    }
    if (this.#dataOutAtMs.has(task)) this.#dataOutAtMs.set(task, this.#clock!.now());
    return task.receiveDataOut(pdu);
  }

  /** Task management (§11.5). */
  async taskManagement(pdu: TmfRequestPdu): Promise<void> {
    const respond = (response: number) => this.#output?.sendTmfResponse(pdu.initiatorTaskTag, response);
    const lunNumber = lunFromWire(pdu.lun);
    const lun = lunNumber === undefined ? undefined : this.identity.target.luns.get(lunNumber);
    this.#eventLog.append(`iscsi/session/${this.identity.tsih}`, 'tmf.requested', {
      function: pdu.function,
      lun: lunNumber ?? null,
      referencedTaskTag: pdu.referencedTaskTag,
    });
    this.#metrics?.taskManagement(pdu.function);
    switch (pdu.function) {
      case TmfFunction.ABORT_TASK: {
        const task = this.#tasks.get(pdu.referencedTaskTag);
        if (!task) {
          respond(TmfResponse.TASK_DOES_NOT_EXIST);
          return;
        }
        task.abort();
        await task.settled;
        respond(TmfResponse.FUNCTION_COMPLETE);
        return;
      }
      case TmfFunction.ABORT_TASK_SET:
      case TmfFunction.CLEAR_TASK_SET:
        await this.abortTasks((task) => task.lunNumber === lunNumber);
        respond(TmfResponse.FUNCTION_COMPLETE);
        return;
      case TmfFunction.LOGICAL_UNIT_RESET:
        if (!lun) {
          respond(TmfResponse.LUN_DOES_NOT_EXIST);
          return;
        }
        await this.#abortOnTarget((task) => task.lunNumber === lunNumber);
        await lun.reset(this.nexus);
        respond(TmfResponse.FUNCTION_COMPLETE);
        return;
      case TmfFunction.TARGET_WARM_RESET:
      case TmfFunction.TARGET_COLD_RESET:
        await this.#abortOnTarget(() => true);
        await Promise.all([...this.identity.target.luns.values()].map((each) => each.reset(this.nexus)));
        respond(TmfResponse.FUNCTION_COMPLETE);
        if (pdu.function === TmfFunction.TARGET_COLD_RESET) this.#output?.coldReset();
        return;
      case TmfFunction.TASK_REASSIGN:
        respond(TmfResponse.TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED);
        return;
      default:
        respond(TmfResponse.FUNCTION_NOT_SUPPORTED);
    }
  }

  /** Aborts matching tasks and waits until none touches its logical unit any more. */
  async abortTasks(matches: (task: ScsiTask) => boolean): Promise<void> {
    const aborted = [...this.#tasks.values()].filter(matches);
    for (const task of aborted) task.abort();
    await Promise.all(aborted.map((task) => task.settled));
  }

  /** Aborts matching tasks of every session on this session's target (resets), this one included. */
  async #abortOnTarget(matches: (task: ScsiTask) => boolean): Promise<void> {
    const sessions = new Set<IscsiSession>([this]);
    for (const peer of this.#peers())
      if (peer.identity.target.iqn === this.identity.target.iqn) sessions.add(peer);
    await Promise.all([...sessions].map((session) => session.abortTasks(matches)));
  }

  /** The session ends (logout, connection loss, reinstatement): tasks stop, LUs forget the nexus. */
  async close(reason: SessionEndReason = 'connection-lost'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#budget?.leave();
    if (this.#dataOutTimerId !== undefined) this.#clock!.clearTimeout(this.#dataOutTimerId);
    this.#dataOutTimerId = undefined;
    this.#metrics?.closed();
    this.#inputs.next({ type: SESSION_END_EVENTS[reason] });
    this.#waiting.clear();
    await this.abortTasks(() => true);
    for (const check of [...this.#taskEnded]) check();
    for (const lun of this.identity.target.luns.values()) lun.nexusLost(this.nexus);
    this.#inputs.next({ type: 'CLOSED' });
    this.#inputs.complete();
    this.#eventLog.append(`iscsi/session/${this.identity.tsih}`, 'session.closed', {
      reason,
      ...(this.#connectionId === undefined ? {} : { connection: this.#connectionId }),
    });
  }

  #runWaiting(): void {
    for (let run = this.#waiting.get(this.#expCmdSN); run; run = this.#waiting.get(this.#expCmdSN)) {
      this.#waiting.delete(this.#expCmdSN);
      this.#expCmdSN = serialAdd(this.#expCmdSN, 1);
      run();
    }
  }

  /**
   * Counts a stall when the command window just filled (MaxCmdSN = ExpCmdSN - 1: the initiator
   * must hold its next command back); it counts again only after the window had room.
   */
  #noteWindow(metrics: SessionMetrics): void {
    const full = this.#window - this.#tasks.size - this.#waiting.size <= 0;
    if (full && !this.#windowFull) metrics.windowFull.inc();
    this.#windowFull = full;
  }

  /** The series of the LU a command goes to (resolved once per LU; absent LUNs share one). */
  #lunMetricsOf(lunNumber: number | undefined, lun: IscsiLun | undefined): LunMetrics {
    const metrics = this.#targetMetrics!;
    const iqn = this.identity.target.iqn;
    if (lun === undefined || lunNumber === undefined) {
      this.#absentLunMetrics ??= metrics.lun(iqn, ABSENT_LUN);
      return this.#absentLunMetrics;
    }
    let found = this.#lunMetrics.get(lunNumber);
    if (found === undefined) {
      found = metrics.lun(iqn, lunNumber);
      this.#lunMetrics.set(lunNumber, found);
    }
    return found;
  }

  #nextTargetTransferTag(): number {
    this.#targetTransferTag = (this.#targetTransferTag + 1) >>> 0;
    if (this.#targetTransferTag === RESERVED_TAG) this.#targetTransferTag = 1;
    return this.#targetTransferTag;
  }
}
