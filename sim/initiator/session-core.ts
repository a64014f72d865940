/**
 * The full feature phase of one initiator connection, sans-I/O (RFC 7143 §3.2, §4.2, §11), for a
 * session of one connection at ErrorRecoveryLevel 0. PDUs in, PDUs out, time as an argument; the
 * driver (iscsi-initiator.ts) frames bytes, owns the stream and keeps the one timer.
 *
 * Methods, quinn style:
 *   application  submitCommand, submitTaskManagement, submitPing, submitText, submitLogout → tag
 *   inputs       handlePdu(pdu, nowMs), handleTimeout(nowMs), connectionLost(why)
 *   outputs      pollTransmit() until undefined, then pollEvent() until undefined, then
 *                pollTimeoutMs() for the next deadline
 *
 * Numbering (§4.2.2): a non-immediate command takes the next CmdSN when it goes out, and goes out
 * only while CmdSN <= MaxCmdSN; the others wait in FIFO order. Immediate PDUs (commands asked so,
 * task management, NOP-Out, Text, Logout) carry the next CmdSN without taking it. ExpCmdSN and
 * MaxCmdSN follow the target's PDUs by the §4.2.2.1 rule (ignored when MaxCmdSN < ExpCmdSN - 1,
 * otherwise only moved forward). ExpStatSN follows each status-bearing PDU.
 *
 * Data-out (§4.2.5, §11.7): immediate data up to min(FirstBurstLength, the target's
 * MaxRecvDataSegmentLength) when ImmediateData=Yes; with InitialR2T=No an unsolicited burst
 * (Target Transfer Tag 0xffffffff) up to FirstBurstLength; the rest answers R2Ts, each burst cut
 * into PDUs of at most the target's MaxRecvDataSegmentLength, DataSN from 0 per burst, F on the
 * last. Data-Out PDUs are built when polled, so they carry the ExpStatSN of that moment, and those
 * of a task that ended meanwhile are not sent.
 *
 * Data-in (§11.7): with DataPDUInOrder=Yes each Data-In must continue at the offset reached, with
 * the next DataSN, inside ExpectedDataTransferLength; status comes in the last Data-In (S bit) or
 * in a SCSI Response.
 *
 * The target is checked as it is used: a rule it breaks is a `violation` event (and kept in
 * `violations`); one that makes a command's data untrustworthy also fails that command with
 * ISCSI_INIT_PROTOCOL. A command that times out is forgotten (its late PDUs are ignored) and an
 * ABORT TASK is sent for it, so the target does not keep its slot in the window.
 */
import { assert } from '../../src/core/assert.js';
import { lunToWire } from '../../src/iscsi/pdu/lun.js';
import type {
  DataInPdu,
  InitiatorPdu,
  NopInPdu,
  R2tPdu,
  RejectPdu,
  ScsiResponsePdu,
  TargetPdu,
  TextResponsePdu,
  TmfResponsePdu,
} from '../../src/iscsi/pdu/messages.js';
import { EMPTY_DATA } from '../../src/iscsi/pdu/messages.js';
import {
  InitiatorOpcode,
  IscsiResponse,
  LogoutReason,
  RESERVED_TAG,
  TaskAttribute,
  TmfFunction,
  TmfResponse,
} from '../../src/iscsi/pdu/opcodes.js';
import { decodeSenseSegment } from '../../src/iscsi/pdu/sense.js';
import { encodeTextData, parseTextData, TextAccumulator, type TextPair } from '../../src/iscsi/pdu/text.js';
import { serialAdd, serialLess, serialLessOrEqual } from '../../src/iscsi/target/serial-number.js';
import { CommandTask, type Residual } from './command-task.js';
import { type InitiatorErrorCode, IscsiInitiatorError } from './initiator-errors.js';
import { LOGIN_TASK_TAG } from './login-exchange.js';
import type { InitiatorParameters } from './operational-offer.js';

export interface CommandRequest {
  readonly lun: number;
  readonly cdb: Buffer;
  /** Data-out bytes: exactly expectedLengthBytes of them when present and not empty. */
  readonly dataOut?: Buffer;
  readonly expectedLengthBytes: number;
  /** The R bit; default: expectedLengthBytes > 0 and no data-out. */
  readonly read?: boolean;
  /** The I bit: the target runs it at once, outside the CmdSN window. */
  readonly immediate?: boolean;
  /** TaskAttribute (SIMPLE by default). */
  readonly taskAttribute?: number;
  /** Overrides the connection's command timeout; 0 = wait forever. */
  readonly timeoutMs?: number;
}

export interface CommandResult {
  readonly status: number;
  /** Sense data when the target sent some. */
  readonly sense?: Buffer;
  /** The data-in bytes received (a view of the command's buffer). */
  readonly dataIn: Buffer;
  readonly residual: Residual;
}

export type { Residual } from './command-task.js';

export type CoreEvent =
  | { readonly kind: 'command-done'; readonly tag: number; readonly result: CommandResult }
  | { readonly kind: 'tmf-done'; readonly tag: number; readonly response: number }
  | { readonly kind: 'ping-done'; readonly tag: number; readonly data: Buffer }
  | { readonly kind: 'text-done'; readonly tag: number; readonly pairs: readonly TextPair[] }
  | { readonly kind: 'logout-done'; readonly tag: number; readonly response: number }
  | { readonly kind: 'failed'; readonly tag: number; readonly error: IscsiInitiatorError }
  | { readonly kind: 'reject'; readonly reason: number; readonly opcode: number; readonly tag: number }
  | { readonly kind: 'async-message'; readonly asyncEvent: number }
  | { readonly kind: 'violation'; readonly message: string }
  /** The connection cannot go on (a PDU that has no place here); the driver closes it. */
  | { readonly kind: 'fatal'; readonly message: string };

export interface SessionCoreOptions {
  readonly parameters: InitiatorParameters;
  /** The CmdSN of the login: the first command takes it. */
  readonly cmdSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly expStatSN: number;
  /** Default per-command timeout; 0 = none. */
  readonly commandTimeoutMs: number;
  /** Timeout of task management, pings, text and logout; 0 = none. */
  readonly requestTimeoutMs: number;
  /** Asked at each target NOP-In ping: false leaves it unanswered (a fault for keepalive tests). */
  readonly answerNopIn: () => boolean;
}

/** Violations kept for inspection; later ones are only counted. */
const VIOLATIONS_KEPT_MAX = 100;

type Request =
  | {
      readonly kind: 'tmf';
      readonly function: number;
      readonly lun: number;
      readonly referencedTaskTag: number;
      /** Sent by the core itself (ABORT TASK after a timeout): no event. */
      readonly internal: boolean;
      readonly deadlineMs: number | undefined;
    }
  | { readonly kind: 'ping'; readonly data: Buffer; readonly deadlineMs: number | undefined }
  | { readonly kind: 'text'; readonly accumulator: TextAccumulator; readonly deadlineMs: number | undefined }
  | { readonly kind: 'logout'; readonly deadlineMs: number | undefined };

/** A PDU to send, built when polled (so it carries the ExpStatSN of that moment), or skipped. */
type Outgoing = (expStatSN: number) => InitiatorPdu | undefined;

export class InitiatorSessionCore {
  readonly parameters: InitiatorParameters;
  readonly #options: SessionCoreOptions;
  readonly #tasks = new Map<number, CommandTask>();
  readonly #requests = new Map<number, Request>();
  readonly #windowQueue: CommandTask[] = [];
  #transmit: (Outgoing | undefined)[] = [];
  #transmitHead = 0;
  #events: CoreEvent[] = [];
  readonly #violations: string[] = [];
  #violationCount = 0;
  #cmdSN: number;
  #expCmdSN: number;
  #maxCmdSN: number;
  #expStatSN: number;
  #tagLast = LOGIN_TASK_TAG;
  #accepting = true;

  constructor(options: SessionCoreOptions) {
    this.#options = options;
    this.parameters = options.parameters;
    this.#cmdSN = options.cmdSN;
    this.#expCmdSN = options.expCmdSN;
    this.#maxCmdSN = options.maxCmdSN;
    this.#expStatSN = options.expStatSN;
  }

  // ---- getters ----------------------------------------------------------------------------------

  /** The numbers as the initiator sees them now. */
  get sequence(): { cmdSN: number; expCmdSN: number; maxCmdSN: number; expStatSN: number } {
    return {
      cmdSN: this.#cmdSN,
      expCmdSN: this.#expCmdSN,
      maxCmdSN: this.#maxCmdSN,
      expStatSN: this.#expStatSN,
    };
  }

  /** Commands sent and not answered. */
  get outstandingCount(): number {
    return this.#tasks.size;
  }

  /** Commands waiting for the CmdSN window to open. */
  get queuedCount(): number {
    return this.#windowQueue.length;
  }

  /** Rules the target broke, as seen so far (the first VIOLATIONS_KEPT_MAX). */
  get violations(): readonly string[] {
    return this.#violations;
  }

  get violationCount(): number {
    return this.#violationCount;
  }

  // ---- application ------------------------------------------------------------------------------

  submitCommand(request: CommandRequest, nowMs: number): number {
    const dataOut = request.dataOut ?? EMPTY_DATA;
    assert(
      dataOut.length === 0 || dataOut.length === request.expectedLengthBytes,
      `command data-out of ${dataOut.length} bytes must equal expectedLengthBytes ${request.expectedLengthBytes}`,
    );
    assert(
      Number.isInteger(request.expectedLengthBytes) && request.expectedLengthBytes >= 0,
      `expectedLengthBytes ${request.expectedLengthBytes} is not a byte count`,
    );
    const tag = this.#nextTag();
    const read = request.read ?? (request.expectedLengthBytes > 0 && dataOut.length === 0);
    const timeoutMs = request.timeoutMs ?? this.#options.commandTimeoutMs;
    const task = new CommandTask(
      tag,
      request.lun,
      request.cdb,
      dataOut,
      request.expectedLengthBytes,
      read,
      request.immediate ?? false,
      request.taskAttribute ?? TaskAttribute.SIMPLE,
      timeoutMs > 0 ? nowMs + timeoutMs : undefined,
    );
    lunToWire(task.lun); // a bad LUN number throws here, at the caller
    if (!this.#accepting) {
      this.#refuse(tag);
      return tag;
    }
    if (task.immediate) {
      task.cmdSN = this.#cmdSN;
      this.#sendCommand(task);
    } else {
      this.#windowQueue.push(task);
      this.#fillWindow();
    }
    return tag;
  }

  submitTaskManagement(
    options: { function: number; lun: number; referencedTaskTag?: number },
    nowMs: number,
  ): number {
    return this.#submitTmf({ ...options, internal: false }, nowMs);
  }

  submitPing(data: Buffer, nowMs: number): number {
    const tag = this.#nextTag();
    if (!this.#accepting) return this.#refuse(tag);
    this.#requests.set(tag, { kind: 'ping', data, deadlineMs: this.#requestDeadline(nowMs) });
    const cmdSN = this.#cmdSN;
    this.#queue((expStatSN) => ({
      kind: 'nop-out',
      ahs: [],
      data,
      immediate: true,
      lun: 0n,
      initiatorTaskTag: tag,
      targetTransferTag: RESERVED_TAG,
      cmdSN,
      expStatSN,
    }));
    return tag;
  }

  submitText(pairs: readonly TextPair[], nowMs: number): number {
    const tag = this.#nextTag();
    if (!this.#accepting) return this.#refuse(tag);
    this.#requests.set(tag, {
      kind: 'text',
      accumulator: new TextAccumulator({ bytesMax: 1024 * 1024 }),
      deadlineMs: this.#requestDeadline(nowMs),
    });
    this.#queueText(tag, encodeTextData(pairs), RESERVED_TAG);
    return tag;
  }

  /** Logout closing the session (§11.14); nothing new is accepted afterwards. */
  submitLogout(nowMs: number): number {
    const tag = this.#nextTag();
    if (!this.#accepting) return this.#refuse(tag);
    this.#accepting = false;
    this.#requests.set(tag, { kind: 'logout', deadlineMs: this.#requestDeadline(nowMs) });
    const cmdSN = this.#cmdSN;
    this.#queue((expStatSN) => ({
      kind: 'logout-request',
      ahs: [],
      data: EMPTY_DATA,
      immediate: true,
      reasonCode: LogoutReason.CLOSE_SESSION,
      initiatorTaskTag: tag,
      cid: 0,
      cmdSN,
      expStatSN,
    }));
    // Commands still waiting for the window will never go out now.
    for (const task of this.#windowQueue.splice(0)) {
      this.#fail(task.tag, 'ISCSI_INIT_NOT_ACCEPTING', 'the session logged out before the command was sent');
    }
    return tag;
  }

  // ---- inputs -----------------------------------------------------------------------------------

  handlePdu(pdu: TargetPdu): void {
    if ('expCmdSN' in pdu && pdu.kind !== 'login-response') this.#updateWindow(pdu.expCmdSN, pdu.maxCmdSN);
    switch (pdu.kind) {
      case 'data-in':
        if (pdu.statusPresent) this.#takeStatSN(pdu.statSN, 'Data-In with status');
        this.#dataIn(pdu);
        break;
      case 'scsi-response':
        this.#takeStatSN(pdu.statSN, 'SCSI Response');
        this.#scsiResponse(pdu);
        break;
      case 'r2t':
        this.#r2t(pdu);
        break;
      case 'nop-in':
        this.#nopIn(pdu);
        break;
      case 'tmf-response':
        this.#takeStatSN(pdu.statSN, 'Task Management Response');
        this.#tmfResponse(pdu);
        break;
      case 'text-response':
        this.#takeStatSN(pdu.statSN, 'Text Response');
        this.#textResponse(pdu);
        break;
      case 'logout-response': {
        this.#takeStatSN(pdu.statSN, 'Logout Response');
        const request = this.#requests.get(pdu.initiatorTaskTag);
        if (request?.kind !== 'logout') {
          this.#violation(`Logout Response for tag 0x${hex(pdu.initiatorTaskTag)}, which is no logout`);
          break;
        }
        this.#requests.delete(pdu.initiatorTaskTag);
        this.#events.push({ kind: 'logout-done', tag: pdu.initiatorTaskTag, response: pdu.response });
        break;
      }
      case 'reject':
        this.#takeStatSN(pdu.statSN, 'Reject');
        this.#reject(pdu);
        break;
      case 'async-message':
        this.#takeStatSN(pdu.statSN, 'Async Message');
        this.#events.push({ kind: 'async-message', asyncEvent: pdu.asyncEvent });
        break;
      case 'login-response':
        this.#events.push({ kind: 'fatal', message: 'a Login Response arrived in full feature phase' });
        break;
    }
  }

  /** Fails what is due; harmless when called early. */
  handleTimeout(nowMs: number): void {
    const due = (deadlineMs: number | undefined) => deadlineMs !== undefined && deadlineMs <= nowMs;
    for (let index = this.#windowQueue.length - 1; index >= 0; index--) {
      const task = this.#windowQueue[index]!;
      if (!due(task.deadlineMs)) continue;
      this.#windowQueue.splice(index, 1);
      this.#fail(
        task.tag,
        'ISCSI_INIT_TIMEOUT',
        'the command was not sent in time (the CmdSN window stayed closed)',
      );
    }
    for (const task of [...this.#tasks.values()]) {
      if (!due(task.deadlineMs)) continue;
      this.#endTask(task);
      this.#fail(task.tag, 'ISCSI_INIT_TIMEOUT', `no status for the command within its timeout`);
      this.#submitTmf(
        {
          function: TmfFunction.ABORT_TASK,
          lun: task.lun,
          referencedTaskTag: task.tag,
          internal: true,
          cmdSN: task.cmdSN,
        },
        nowMs,
      );
    }
    for (const [tag, request] of [...this.#requests]) {
      if (!due(request.deadlineMs)) continue;
      this.#requests.delete(tag);
      if (request.kind !== 'tmf' || !request.internal) {
        this.#fail(tag, 'ISCSI_INIT_TIMEOUT', `no answer to the ${request.kind} request within its timeout`);
      }
    }
  }

  /** The connection is gone: everything pending fails with ISCSI_INIT_CLOSED. */
  connectionLost(why: string): void {
    this.#accepting = false;
    this.#transmit = [];
    this.#transmitHead = 0;
    for (const task of this.#windowQueue.splice(0)) this.#fail(task.tag, 'ISCSI_INIT_CLOSED', why);
    for (const task of [...this.#tasks.values()]) {
      this.#endTask(task);
      this.#fail(task.tag, 'ISCSI_INIT_CLOSED', why);
    }
    for (const [tag, request] of [...this.#requests]) {
      this.#requests.delete(tag);
      if (request.kind !== 'tmf' || !request.internal) this.#fail(tag, 'ISCSI_INIT_CLOSED', why);
    }
  }

  // ---- outputs ----------------------------------------------------------------------------------

  pollTransmit(): InitiatorPdu | undefined {
    while (this.#transmitHead < this.#transmit.length) {
      const build = this.#transmit[this.#transmitHead]!;
      this.#transmit[this.#transmitHead] = undefined; // let the closure and its buffers go
      this.#transmitHead += 1;
      if (this.#transmitHead === this.#transmit.length) {
        this.#transmit = [];
        this.#transmitHead = 0;
      }
      const pdu = build(this.#expStatSN);
      if (pdu !== undefined) return pdu;
    }
    return undefined;
  }

  pollEvent(): CoreEvent | undefined {
    return this.#events.shift();
  }

  /** The earliest deadline of anything pending, or undefined. */
  pollTimeoutMs(): number | undefined {
    let earliest: number | undefined;
    const consider = (deadlineMs: number | undefined) => {
      if (deadlineMs !== undefined && (earliest === undefined || deadlineMs < earliest))
        earliest = deadlineMs;
    };
    for (const task of this.#windowQueue) consider(task.deadlineMs);
    for (const task of this.#tasks.values()) consider(task.deadlineMs);
    for (const request of this.#requests.values()) consider(request.deadlineMs);
    return earliest;
  }

  // ---- commands out -----------------------------------------------------------------------------

  #fillWindow(): void {
    while (this.#windowQueue.length > 0 && serialLessOrEqual(this.#cmdSN, this.#maxCmdSN)) {
      const task = this.#windowQueue.shift()!;
      task.cmdSN = this.#cmdSN;
      this.#cmdSN = serialAdd(this.#cmdSN, 1);
      this.#sendCommand(task);
    }
  }

  #sendCommand(task: CommandTask): void {
    const { immediateBytes, unsolicitedEnd } = task.planDataOut(this.parameters);
    const followed = unsolicitedEnd > immediateBytes;
    this.#tasks.set(task.tag, task);
    this.#queue((expStatSN) => ({
      kind: 'scsi-command',
      ahs: [],
      data: immediateBytes > 0 ? task.dataOut.subarray(0, immediateBytes) : EMPTY_DATA,
      immediate: task.immediate,
      final: !followed,
      read: task.read,
      write: task.write,
      attr: task.taskAttribute,
      lun: lunToWire(task.lun),
      initiatorTaskTag: task.tag,
      expectedDataTransferLength: task.expectedLengthBytes,
      cmdSN: task.cmdSN,
      expStatSN,
      cdb: task.cdb,
    }));
    if (followed) this.#queueDataOut(task, RESERVED_TAG, immediateBytes, unsolicitedEnd, false);
  }

  /** Data-Out PDUs for [start, end) of the task's buffer: one burst (§11.7). */
  #queueDataOut(
    task: CommandTask,
    targetTransferTag: number,
    start: number,
    end: number,
    solicited: boolean,
  ): void {
    const segmentBytesMax = this.parameters.maxSendDataSegmentLengthBytes;
    let dataSN = 0;
    for (let offset = start; offset < end; offset += segmentBytesMax) {
      const pieceEnd = Math.min(end, offset + segmentBytesMax);
      const final = pieceEnd === end;
      const pieceDataSN = dataSN++;
      const pieceOffset = offset;
      this.#queue((expStatSN) => {
        if (task.ended) return undefined;
        if (final && solicited) task.r2tsOutstanding -= 1;
        return {
          kind: 'data-out',
          ahs: [],
          data: task.dataOut.subarray(pieceOffset, pieceEnd),
          final,
          lun: lunToWire(task.lun),
          initiatorTaskTag: task.tag,
          targetTransferTag,
          expStatSN,
          dataSN: pieceDataSN,
          bufferOffset: pieceOffset,
        };
      });
    }
  }

  #submitTmf(
    options: { function: number; lun: number; referencedTaskTag?: number; internal: boolean; cmdSN?: number },
    nowMs: number,
  ): number {
    const tag = this.#nextTag();
    if (!this.#accepting) return this.#refuse(tag);
    const referenced = options.referencedTaskTag ?? RESERVED_TAG;
    const refCmdSN = options.cmdSN ?? this.#tasks.get(referenced)?.cmdSN ?? this.#cmdSN;
    this.#requests.set(tag, {
      kind: 'tmf',
      function: options.function,
      lun: options.lun,
      referencedTaskTag: referenced,
      internal: options.internal,
      deadlineMs: options.internal ? undefined : this.#requestDeadline(nowMs),
    });
    const cmdSN = this.#cmdSN;
    this.#queue((expStatSN) => ({
      kind: 'tmf-request',
      ahs: [],
      data: EMPTY_DATA,
      immediate: true,
      function: options.function,
      lun: lunToWire(options.lun),
      initiatorTaskTag: tag,
      referencedTaskTag: options.function === TmfFunction.ABORT_TASK ? referenced : RESERVED_TAG,
      cmdSN,
      expStatSN,
      refCmdSN: options.function === TmfFunction.ABORT_TASK ? refCmdSN : 0,
      expDataSN: 0,
    }));
    return tag;
  }

  #queueText(tag: number, data: Buffer, targetTransferTag: number): void {
    const cmdSN = this.#cmdSN;
    this.#queue((expStatSN) => ({
      kind: 'text-request',
      ahs: [],
      data,
      immediate: true,
      final: true,
      continue: false,
      lun: 0n,
      initiatorTaskTag: tag,
      targetTransferTag,
      cmdSN,
      expStatSN,
    }));
  }

  // ---- target PDUs ------------------------------------------------------------------------------

  #dataIn(pdu: DataInPdu): void {
    const task = this.#tasks.get(pdu.initiatorTaskTag);
    if (task === undefined) return; // a forgotten (timed out) command's late data
    const problem = task.takeDataIn(pdu);
    if (problem !== undefined) {
      this.#protocolFailure(task, problem);
      return;
    }
    if (!pdu.statusPresent) return;
    this.#complete(task, {
      status: pdu.status,
      dataIn: task.receivedData(),
      residual: {
        overflow: pdu.residualOverflow,
        underflow: pdu.residualUnderflow,
        count: pdu.residualCount,
      },
    });
  }

  #scsiResponse(pdu: ScsiResponsePdu): void {
    const task = this.#tasks.get(pdu.initiatorTaskTag);
    if (task === undefined) return;
    if (pdu.response !== IscsiResponse.COMMAND_COMPLETED_AT_TARGET) {
      this.#endTask(task);
      this.#fail(task.tag, 'ISCSI_INIT_TARGET_FAILURE', `SCSI Response with Response 0x${hex(pdu.response)}`);
      return;
    }
    const expected = task.nextDataSN + task.nextR2tSN;
    if (pdu.expDataSN !== expected) {
      this.#violation(
        `SCSI Response of tag 0x${hex(task.tag)} has ExpDataSN ${pdu.expDataSN}; ${task.nextDataSN} Data-In and ${task.nextR2tSN} R2T were sent (RFC 7143 §11.4.6)`,
      );
    }
    const segment = decodeSenseSegment(pdu.data);
    if (!segment.ok) this.#violation(`SCSI Response of tag 0x${hex(task.tag)}: ${segment.error.message}`);
    const sense = segment.ok && segment.value.sense.length > 0 ? Buffer.from(segment.value.sense) : undefined;
    this.#complete(task, {
      status: pdu.status,
      ...(sense ? { sense } : {}),
      dataIn: task.receivedData(),
      residual: {
        overflow: pdu.residualOverflow,
        underflow: pdu.residualUnderflow,
        count: pdu.residualCount,
      },
    });
  }

  #r2t(pdu: R2tPdu): void {
    const task = this.#tasks.get(pdu.initiatorTaskTag);
    if (task === undefined) return;
    const problem = task.takeR2t(pdu, this.parameters);
    if (problem !== undefined) {
      this.#protocolFailure(task, problem);
      return;
    }
    const end = pdu.bufferOffset + pdu.desiredDataTransferLength;
    this.#queueDataOut(task, pdu.targetTransferTag, pdu.bufferOffset, end, true);
  }

  #nopIn(pdu: NopInPdu): void {
    if (pdu.initiatorTaskTag !== RESERVED_TAG) {
      this.#takeStatSN(pdu.statSN, 'NOP-In answer');
      const request = this.#requests.get(pdu.initiatorTaskTag);
      if (request?.kind !== 'ping') {
        this.#violation(`NOP-In for tag 0x${hex(pdu.initiatorTaskTag)}, which is no ping`);
        return;
      }
      this.#requests.delete(pdu.initiatorTaskTag);
      if (!pdu.data.equals(request.data))
        this.#violation('NOP-In did not echo the ping data (RFC 7143 §11.19)');
      this.#events.push({ kind: 'ping-done', tag: pdu.initiatorTaskTag, data: Buffer.from(pdu.data) });
      return;
    }
    if (pdu.targetTransferTag === RESERVED_TAG || !this.#options.answerNopIn()) return;
    // The target pings (§11.19.2): answer with its Target Transfer Tag, as an immediate NOP-Out.
    const cmdSN = this.#cmdSN;
    this.#queue((expStatSN) => ({
      kind: 'nop-out',
      ahs: [],
      data: EMPTY_DATA,
      immediate: true,
      lun: pdu.lun,
      initiatorTaskTag: RESERVED_TAG,
      targetTransferTag: pdu.targetTransferTag,
      cmdSN,
      expStatSN,
    }));
  }

  #tmfResponse(pdu: TmfResponsePdu): void {
    const request = this.#requests.get(pdu.initiatorTaskTag);
    if (request?.kind !== 'tmf') {
      this.#violation(`Task Management Response for tag 0x${hex(pdu.initiatorTaskTag)}, which is no TMF`);
      return;
    }
    this.#requests.delete(pdu.initiatorTaskTag);
    if (pdu.response === TmfResponse.FUNCTION_COMPLETE) this.#applyTmf(request);
    if (!request.internal)
      this.#events.push({ kind: 'tmf-done', tag: pdu.initiatorTaskTag, response: pdu.response });
  }

  /** The target ended these tasks without status (§4.2.3.3): their callers learn it here. */
  #applyTmf(request: Extract<Request, { kind: 'tmf' }>): void {
    const affected = (task: CommandTask): boolean => {
      switch (request.function) {
        case TmfFunction.ABORT_TASK:
          return task.tag === request.referencedTaskTag;
        case TmfFunction.ABORT_TASK_SET:
        case TmfFunction.CLEAR_TASK_SET:
        case TmfFunction.LOGICAL_UNIT_RESET:
          return task.lun === request.lun;
        case TmfFunction.TARGET_WARM_RESET:
        case TmfFunction.TARGET_COLD_RESET:
          return true;
        default:
          return false;
      }
    };
    for (const task of [...this.#tasks.values()]) {
      if (!affected(task)) continue;
      this.#endTask(task);
      this.#fail(
        task.tag,
        'ISCSI_INIT_ABORTED',
        `task management function ${request.function} ended the command`,
      );
    }
  }

  #textResponse(pdu: TextResponsePdu): void {
    const request = this.#requests.get(pdu.initiatorTaskTag);
    if (request?.kind !== 'text') {
      this.#violation(`Text Response for tag 0x${hex(pdu.initiatorTaskTag)}, which is no text request`);
      return;
    }
    const more = pdu.continue || !pdu.final;
    const joined = request.accumulator.push(pdu.data, pdu.continue);
    if (!joined.ok) {
      this.#requests.delete(pdu.initiatorTaskTag);
      this.#violation(joined.error.message);
      this.#fail(pdu.initiatorTaskTag, 'ISCSI_INIT_PROTOCOL', joined.error.message);
      return;
    }
    if (more) {
      // §11.10.4: an empty Text Request with the target's tag fetches the next part.
      this.#queueText(pdu.initiatorTaskTag, EMPTY_DATA, pdu.targetTransferTag);
      return;
    }
    this.#requests.delete(pdu.initiatorTaskTag);
    const parsed = parseTextData(joined.value ?? EMPTY_DATA);
    if (!parsed.ok) {
      this.#violation(`Text Response: ${parsed.error.message}`);
      this.#fail(pdu.initiatorTaskTag, 'ISCSI_INIT_PROTOCOL', parsed.error.message);
      return;
    }
    this.#events.push({ kind: 'text-done', tag: pdu.initiatorTaskTag, pairs: parsed.value.pairs });
  }

  #reject(pdu: RejectPdu): void {
    const header = pdu.data;
    const opcode = header.length >= 48 ? header[0]! & 0x3f : -1;
    const tag = header.length >= 48 ? header.readUInt32BE(16) : RESERVED_TAG;
    this.#events.push({ kind: 'reject', reason: pdu.reason, opcode, tag });
    if (opcode === InitiatorOpcode.SCSI_DATA_OUT) return; // the command's status still comes
    const task = this.#tasks.get(tag);
    const message = `the target rejected the PDU (reason 0x${hex(pdu.reason)})`;
    if (task !== undefined && opcode === InitiatorOpcode.SCSI_COMMAND) {
      this.#endTask(task);
      this.#fail(tag, 'ISCSI_INIT_REJECTED', message, pdu.reason);
    } else if (this.#requests.has(tag) && tag !== RESERVED_TAG) {
      const request = this.#requests.get(tag)!;
      this.#requests.delete(tag);
      if (request.kind !== 'tmf' || !request.internal)
        this.#fail(tag, 'ISCSI_INIT_REJECTED', message, pdu.reason);
    }
  }

  // ---- bookkeeping ------------------------------------------------------------------------------

  /** §4.2.2.1: the window moves only forward, and not at all on an inconsistent pair. */
  #updateWindow(expCmdSN: number, maxCmdSN: number): void {
    if (serialLess(maxCmdSN, serialAdd(expCmdSN, -1))) return;
    if (serialLess(this.#maxCmdSN, maxCmdSN)) this.#maxCmdSN = maxCmdSN;
    if (serialLess(this.#expCmdSN, expCmdSN)) this.#expCmdSN = expCmdSN;
    if (serialLess(this.#cmdSN, this.#expCmdSN)) {
      this.#violation(`ExpCmdSN ${this.#expCmdSN} is ahead of the next CmdSN ${this.#cmdSN}`);
    }
    this.#fillWindow();
  }

  #takeStatSN(statSN: number, what: string): void {
    if (statSN !== this.#expStatSN)
      this.#violation(`${what} has StatSN ${statSN} where ${this.#expStatSN} was due`);
    this.#expStatSN = serialAdd(statSN, 1);
  }

  #complete(task: CommandTask, result: CommandResult): void {
    const problem = task.residualProblem(result.status, result.residual);
    if (problem !== undefined) this.#violation(`tag 0x${hex(task.tag)}: ${problem}`);
    this.#endTask(task);
    this.#events.push({ kind: 'command-done', tag: task.tag, result });
  }

  #protocolFailure(task: CommandTask, problem: string): void {
    this.#violation(`tag 0x${hex(task.tag)}: ${problem}`);
    this.#endTask(task);
    this.#fail(task.tag, 'ISCSI_INIT_PROTOCOL', problem);
  }

  #endTask(task: CommandTask): void {
    task.ended = true;
    this.#tasks.delete(task.tag);
  }

  #fail(tag: number, code: InitiatorErrorCode, message: string, rejectReason?: number): void {
    const error = new IscsiInitiatorError(code, message, rejectReason === undefined ? {} : { rejectReason });
    this.#events.push({ kind: 'failed', tag, error });
  }

  #refuse(tag: number): number {
    this.#fail(tag, 'ISCSI_INIT_NOT_ACCEPTING', 'the initiator is logging out or closed; log in again');
    return tag;
  }

  #violation(message: string): void {
    this.#violationCount += 1;
    if (this.#violations.length < VIOLATIONS_KEPT_MAX) this.#violations.push(message);
    this.#events.push({ kind: 'violation', message });
  }

  #queue(build: Outgoing): void {
    this.#transmit.push(build);
  }

  #requestDeadline(nowMs: number): number | undefined {
    return this.#options.requestTimeoutMs > 0 ? nowMs + this.#options.requestTimeoutMs : undefined;
  }

  /** Tags in use are skipped; 0 is the login's and 0xffffffff is reserved (§11.2.1.7). */
  #nextTag(): number {
    for (let tries = 0; tries < 0x1_0000; tries++) {
      this.#tagLast = this.#tagLast >= 0xffff_fffe ? 1 : this.#tagLast + 1;
      if (!this.#tasks.has(this.#tagLast) && !this.#requests.has(this.#tagLast)) return this.#tagLast;
    }
    assert(false, 'initiator: 65,536 task tags in a row are in use; requests are leaking');
  }
}

function hex(value: number): string {
  return value.toString(16);
}
