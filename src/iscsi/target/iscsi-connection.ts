/**
 * One iSCSI connection of the target: bytes in, PDUs out (RFC 7143 §5, §6, §7, §11).
 *
 * Phases: login (only Login Requests; any other PDU closes the connection, §6.1) → full
 * feature (commands, data, task management, NOP, text, logout) → closed.
 *
 * Numbering: StatSN belongs to the connection. Status-bearing PDUs (SCSI Response, Data-In with
 * status, NOP-In answers, TMF, Text and Logout responses, Reject, Async Message) take the next StatSN; R2T,
 * Data-In without status and the target's own NOP-In pings carry it without advancing it.
 * ExpCmdSN and MaxCmdSN come from the session on every PDU.
 *
 * Errors: a header digest error or an undecodable header closes the connection (the stream
 * cannot be trusted, §7.8 at ERL 0); a data digest error, an oversize data segment or a PDU
 * that breaks a rule is answered with Reject and the connection goes on. Nothing here throws at
 * a peer's bytes; every refusal is logged.
 *
 * Inputs: one rxjs stream (pdu-stream.ts; read-only as `inputs$`): the PDUs framed from the
 * transport's chunks, then `closed`. It is synchronous: each PDU is handled before the next is
 * framed. The connection machine moves on what the PDUs mean.
 *
 * Keepalive: when the connection is idle for `nopIntervalMs`, the target pings with a NOP-In;
 * no answer within `nopTimeoutMs` drops the connection (the session ends, its tasks abort). It is
 * rxjs time on the injected clock (`clockScheduler`): debounceTime over the stream's `received`
 * marks (one per chunk), then the ping and a timer cut short by the next bytes. Bytes received
 * only note the time: rxjs's debounceTime runs one timer at a time and, when it fires early,
 * sleeps again for the rest of the interval. (Re-arming a timer per received chunk, as
 * switchMap(timer) would, cost a timer object and a closure per command under load.)
 *
 * Limits (target-limits.ts, docs/limits.md; each refusal goes to the optional `reporter`, which
 * counts and logs it, rate-limited), all on the injected clock:
 * - Login: the connection must reach full feature phase within `loginTimeoutMs` of its accept,
 *   or it is dropped (a slowloris login holds nothing for long).
 * - Half-sent PDU: once a PDU's first bytes came, the rest must come within `pduTimeoutMs`, or the
 *   connection is dropped (a peer trickling a PDU byte by byte keeps the keepalive quiet, not
 *   this). The time is noted once per chunk and checked by one lazy timer, never re-armed per
 *   chunk. While the target has bytes queued for the peer the output rule below owns the
 *   connection (reading may be paused by us), so the PDU rule waits.
 * - Output: reading stops while the transport pushes back (`pauseUntilDrained`), so a peer
 *   that does not read cannot make the target read (and queue answers to) more requests; what
 *   is queued is bounded by the session's task budget. Once pushed back, the peer must read at
 *   least `outputProgressBytesMin` (or all that was queued) per `outputStallTimeoutMs`, or the
 *   connection is dropped (zero window). One timer, armed only while pushed back.
 * - Close: after the target ends the connection (logout, refused login, cold reset) the peer
 *   must close its side within `closeTimeoutMs`, or the connection is reset: a half-closed peer
 *   would otherwise keep its connection, and its session's slot, for ever.
 * - Immediate SCSI commands beyond the session's room (IscsiSession.immediateRoom) are
 *   Rejected with reason 0x06 (Immediate command reject).
 *
 * Metrics (optional `metrics`, the target node's): the connection counts in
 * `collie_iscsi_connections` from construction until its transport closed, and counts its login's
 * result and every Reject it sends. (Its session reports the rest; the server gives it the same
 * TargetMetrics.)
 */

import {
  debounceTime,
  filter,
  map,
  type Observable,
  type Subscription,
  startWith,
  switchMap,
  takeUntil,
  timer,
} from 'rxjs';
import type { Actor } from 'xstate';
import { type IscsiConnectionEvent, iscsiConnectionMachine } from '../../../machines/iscsi-connection.js';
import { type ByteStream, endpointToString } from '../../../transports/transport.js';
import type { Clock, TimerId } from '../../core/clock.js';
import type { EventLog } from '../../core/event-log.js';
import type { Logger } from '../../core/logger.js';
import { startLoggedActor } from '../../core/machine-log.js';
import { clockScheduler, rethrowOnClock } from '../../core/rx-scheduler.js';
import type { ConnectionMetrics, TargetMetrics } from '../../metrics/target-metrics.js';
import type { SendTargetsRequest } from '../login/discovery.js';
import { decodePdu } from '../pdu/decode.js';
import { encodePdu } from '../pdu/encode.js';
import { type Frame, type FramingError, PduFramer } from '../pdu/framer.js';
import {
  EMPTY_DATA,
  type InitiatorPdu,
  type LoginRequestPdu,
  type Pdu,
  type TextRequestPdu,
} from '../pdu/messages.js';
import {
  AsyncEvent,
  isInitiatorOpcode,
  LogoutResponse,
  OPCODE_MASK,
  RESERVED_TAG,
  RejectReason,
  type RejectReasonValue,
} from '../pdu/opcodes.js';
import { rejectFor } from '../pdu/reject.js';
import { encodeTextData, parseTextData } from '../pdu/text.js';
import type { IscsiSession } from './iscsi-session.js';
import type { LoginDriver, LoginResult } from './login-driver.js';
import { PduStream, type PduStreamItem } from './pdu-stream.js';
import type { TaskOutput } from './scsi-task.js';
import { serialAdd } from './serial-number.js';
import { stampTaskOutput } from './stamp-task-output.js';
import { type LimitReporter, TARGET_LIMITS_DEFAULTS, type TargetLimits } from './target-limits.js';

/** The limits a connection enforces itself (the rest are its session's and its server's). */
export type ConnectionLimits = Pick<
  TargetLimits,
  'loginTimeoutMs' | 'pduTimeoutMs' | 'outputStallTimeoutMs' | 'outputProgressBytesMin' | 'closeTimeoutMs'
>;

/** Before login completes, data segments are limited to the RFC default (§13.12). */
const LOGIN_DATA_SEGMENT_BYTES_MAX = 8192;

export interface ConnectionHooks {
  /** Login finished: create (or reinstate) the session; return it, or undefined to refuse. */
  sessionFor(
    result: LoginResult,
    request: LoginRequestPdu,
  ): { session: IscsiSession; tsih: number } | undefined;
  /** SendTargets answers (discovery and normal sessions). */
  sendTargets(request: SendTargetsRequest): Array<[string, string]>;
  /** The connection closed; the session has to go too (MaxConnections=1). */
  closed(connection: IscsiConnection, session: IscsiSession | undefined): void;
  /** TARGET COLD RESET (RFC 7143 §11.5.1): every other connection to the session's target drops. */
  targetColdReset?(connection: IscsiConnection, session: IscsiSession): void;
}

export interface ConnectionOptions {
  readonly stream: ByteStream;
  readonly login: LoginDriver;
  readonly hooks: ConnectionHooks;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly eventLog: EventLog;
  readonly nopIntervalMs?: number;
  readonly nopTimeoutMs?: number;
  /** Where the connection reports (see the file comment); default: nowhere. */
  readonly metrics?: TargetMetrics;
  /** Its limits (see the file comment); default: TARGET_LIMITS_DEFAULTS. */
  readonly limits?: Partial<ConnectionLimits>;
  /** Counts and logs limit refusals; default: the connection's logger, uncounted. */
  readonly reporter?: LimitReporter;
}

type Phase = 'login' | 'full-feature' | 'logged-out' | 'closed';

export class IscsiConnection {
  readonly id: string;
  readonly #stream: ByteStream;
  readonly #login: LoginDriver;
  readonly #hooks: ConnectionHooks;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #eventLog: EventLog;
  readonly #framer = new PduFramer({
    headerDigest: false,
    dataDigest: false,
    maxRecvDataSegmentLength: LOGIN_DATA_SEGMENT_BYTES_MAX,
  });
  /** The connection's inputs: PDUs framed from the byte stream (see the file comment). */
  readonly #input: PduStream;
  readonly #nopIntervalMs: number;
  readonly #nopTimeoutMs: number;
  #digests = { headerDigest: false, dataDigest: false };
  /** The initiator's MaxRecvDataSegmentLength (what this side may send in one PDU); until login ends, the login bound. */
  #sendSegmentBytesMax = LOGIN_DATA_SEGMENT_BYTES_MAX;
  /** The connection's state (machines/iscsi-connection.ts): the one source of its phase. */
  readonly #machine: Actor<typeof iscsiConnectionMachine>;
  #statSN = 0;
  #loginCmdSN = 0;
  #session: IscsiSession | undefined;
  #discovery: LoginResult | undefined;
  /** The keepalive (undefined when nopIntervalMs is 0); unsubscribed when the transport closes. */
  #keepalive: Subscription | undefined;
  /** The TTT of our last NOP-In ping. */
  #nopTag = 0;
  readonly #metrics: ConnectionMetrics | undefined;
  readonly #limits: ConnectionLimits;
  readonly #reporter: LimitReporter | undefined;
  #loginTimerId: TimerId | undefined;
  #closeTimerId: TimerId | undefined;
  /** When the PDU under way began (undefined at a PDU boundary), and PDUs framed since the last chunk. */
  #pduStartedMs: number | undefined;
  #framedSinceChunk = 0;
  #pduTimerId: TimerId | undefined;
  /** Bytes handed to the transport, ever; minus its bufferedBytes, what the peer has taken. */
  #writtenBytes = 0;
  #outputTimerId: TimerId | undefined;
  /** What the peer had taken, and what was queued, when the output timer was armed. */
  #outputMark = { takenBytes: 0, queuedBytes: 0 };
  #outputPeakBytes = 0;

  constructor(options: ConnectionOptions) {
    this.id = options.stream.id;
    this.#stream = options.stream;
    this.#login = options.login;
    this.#hooks = options.hooks;
    this.#clock = options.clock;
    this.#logger = options.logger.child({
      connection: this.id,
      initiator: endpointToString(options.stream.remote),
    });
    this.#eventLog = options.eventLog;
    this.#metrics = options.metrics?.connections;
    this.#metrics?.opened();
    this.#machine = startLoggedActor(iscsiConnectionMachine, {
      eventLog: options.eventLog,
      actor: `iscsi/connection/${this.id}`,
      type: 'connection.transition',
      live: { machine: 'iscsi-connection' },
    });
    this.#nopIntervalMs = options.nopIntervalMs ?? TARGET_LIMITS_DEFAULTS.nopIntervalMs;
    this.#nopTimeoutMs = options.nopTimeoutMs ?? TARGET_LIMITS_DEFAULTS.nopTimeoutMs;
    const defaults = TARGET_LIMITS_DEFAULTS;
    const limits = options.limits ?? {};
    this.#limits = {
      loginTimeoutMs: limits.loginTimeoutMs ?? defaults.loginTimeoutMs,
      pduTimeoutMs: limits.pduTimeoutMs ?? defaults.pduTimeoutMs,
      outputStallTimeoutMs: limits.outputStallTimeoutMs ?? defaults.outputStallTimeoutMs,
      outputProgressBytesMin: limits.outputProgressBytesMin ?? defaults.outputProgressBytesMin,
      closeTimeoutMs: limits.closeTimeoutMs ?? defaults.closeTimeoutMs,
    };
    this.#reporter = options.reporter;
    // `local` is the portal it came in through: it tells which node runs the connection (and its
    // login, `iscsi/login/<remote>`) when several target nodes share one log.
    this.#event('connection.opened', {
      remote: endpointToString(options.stream.remote),
      local: endpointToString(options.stream.local),
    });
    this.#input = new PduStream(options.stream, this.#framer);
    this.#input.pdus$.subscribe(rethrowOnClock(this.#clock, this.#onInput));
    if (this.#limits.pduTimeoutMs > 0) {
      this.#input.received$.subscribe(rethrowOnClock(this.#clock, this.#onChunk));
    }
    if (this.#nopIntervalMs > 0) {
      this.#keepalive = this.#keepalive$().subscribe(
        rethrowOnClock(this.#clock, (step) => {
          if (step === 'idle') this.#ping();
          else
            this.#dropForLimit('keepalive', `no NOP-Out answer within ${this.#nopTimeoutMs} ms`, {}, false);
        }),
      );
    }
    if (this.#limits.loginTimeoutMs > 0) {
      this.#loginTimerId = this.#clock.setTimeout(() => {
        this.#loginTimerId = undefined;
        if (this.#phase !== 'login') return;
        this.#dropForLimit('login-timeout', `login not finished within ${this.#limits.loginTimeoutMs} ms`, {
          loginTimeoutMs: this.#limits.loginTimeoutMs,
        });
      }, this.#limits.loginTimeoutMs);
    }
    this.#input.start();
  }

  /** The most bytes queued towards the peer at once, as seen when the transport pushed back. */
  get outputPeakBytes(): number {
    return this.#outputPeakBytes;
  }

  /** What the initiator sent, as the connection sees it (read-only; see the file comment). */
  get inputs$(): Observable<PduStreamItem> {
    return this.#input.pdus$;
  }

  /** Sends an event to the connection machine; after `free` (final) there is nothing to move. */
  #transition(event: IscsiConnectionEvent): void {
    if (this.#machine.getSnapshot().status === 'active') this.#machine.send(event);
  }

  get #phase(): Phase {
    const state = this.#machine.getSnapshot().value;
    return state === 'inLogin'
      ? 'login'
      : state === 'fullFeature'
        ? 'full-feature'
        : state === 'free'
          ? 'closed'
          : 'logged-out';
  }

  get phase(): Phase {
    return this.#phase;
  }

  /**
   * Asks the initiator to log out within `withinSeconds` (Async Message, AsyncEvent 1, §11.9.1):
   * the target is about to stop. Returns false when the connection is not in full feature phase.
   */
  requestLogout(withinSeconds: number): boolean {
    if (this.#phase !== 'full-feature') return false;
    this.#logger.info({ withinSeconds }, 'asking the initiator to log out');
    this.#event('connection.logout_requested', { withinSeconds });
    this.#write({
      kind: 'async-message',
      ahs: [],
      data: EMPTY_DATA,
      lun: 0n,
      // A status-bearing PDU: it takes the next StatSN like a SCSI Response does.
      statSN: this.#takeStatSN(),
      ...this.#commandNumbers(),
      asyncEvent: AsyncEvent.LOGOUT_REQUESTED,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: withinSeconds,
    });
    return true;
  }

  /** Drops the connection (session reinstatement, target reset, shutdown, a limit). */
  drop(why: string): void {
    if (this.#phase === 'closed') return;
    this.#logger.info({ why }, 'dropping the connection');
    this.#transition({ type: 'DROPPED' });
    this.#stream.destroy();
  }

  /** Ends the connection gracefully (queued bytes first); the peer must close within closeTimeoutMs. */
  #end(): void {
    this.#stream.end();
    const timeoutMs = this.#limits.closeTimeoutMs;
    if (timeoutMs === 0 || this.#closeTimerId !== undefined) return;
    this.#closeTimerId = this.#clock.setTimeout(() => {
      this.#closeTimerId = undefined;
      this.#dropForLimit('close-timeout', `the initiator did not close its side within ${timeoutMs} ms`, {
        closeTimeoutMs: timeoutMs,
      });
    }, timeoutMs);
  }

  /** A limit ends the connection: counted and logged (with the fix), then dropped. */
  #dropForLimit(
    limit: 'login-timeout' | 'pdu-timeout' | 'output-stall' | 'close-timeout' | 'keepalive',
    why: string,
    fields: Record<string, unknown>,
    event = true,
  ): void {
    if (this.#phase === 'closed') return;
    const fix: Record<typeof limit, string> = {
      'login-timeout': 'the initiator must finish its login sooner (or raise loginTimeoutMs)',
      'pdu-timeout': 'the initiator stalled in the middle of a PDU (or raise pduTimeoutMs)',
      'output-stall': 'the initiator does not read its socket (or raise outputStallTimeoutMs)',
      'close-timeout': 'the initiator keeps a half-closed connection (or raise closeTimeoutMs)',
      keepalive: 'the initiator is gone or hung (or raise nopTimeoutMs)',
    };
    const message = `dropping the connection: ${why}; ${fix[limit]}`;
    if (this.#reporter) this.#reporter.hit(limit, fields, message, { logger: this.#logger, event });
    else this.#logger.warn({ limit, ...fields }, message);
    this.drop(why);
  }

  // ---- limits: half-sent PDUs and unread output --------------------------------------------------

  /** After each chunk's PDUs: note when the PDU under way began (see the file comment). */
  readonly #onChunk = (): void => {
    if (!this.#framer.pduInProgress) {
      this.#pduStartedMs = undefined;
    } else if (this.#pduStartedMs === undefined || this.#framedSinceChunk > 0) {
      this.#pduStartedMs = this.#clock.now();
      if (this.#pduTimerId === undefined && this.#phase !== 'closed')
        this.#armPduTimer(this.#limits.pduTimeoutMs);
    }
    this.#framedSinceChunk = 0;
  };

  #armPduTimer(delayMs: number): void {
    this.#pduTimerId = this.#clock.setTimeout(() => {
      this.#pduTimerId = undefined;
      this.#checkPdu();
    }, delayMs);
  }

  #checkPdu(): void {
    const startedMs = this.#pduStartedMs;
    if (startedMs === undefined || this.#phase === 'closed') return;
    const timeoutMs = this.#limits.pduTimeoutMs;
    const waitedMs = this.#clock.now() - startedMs;
    if (waitedMs < timeoutMs) this.#armPduTimer(timeoutMs - waitedMs);
    else if (this.#stream.bufferedBytes > 0) this.#armPduTimer(timeoutMs);
    else
      this.#dropForLimit('pdu-timeout', `a PDU begun ${waitedMs} ms ago is still not complete`, {
        waitedMs,
        pduTimeoutMs: timeoutMs,
      });
  }

  /** The transport pushed back: watch that the peer keeps reading (see the file comment). */
  #watchOutput(): void {
    const queuedBytes = this.#stream.bufferedBytes;
    if (queuedBytes > this.#outputPeakBytes) this.#outputPeakBytes = queuedBytes;
    if (this.#outputTimerId !== undefined || this.#limits.outputStallTimeoutMs === 0) return;
    this.#outputMark = { takenBytes: this.#writtenBytes - queuedBytes, queuedBytes };
    this.#outputTimerId = this.#clock.setTimeout(() => {
      this.#outputTimerId = undefined;
      this.#checkOutput();
    }, this.#limits.outputStallTimeoutMs);
  }

  #checkOutput(): void {
    if (this.#phase === 'closed') return;
    const queuedBytes = this.#stream.bufferedBytes;
    if (queuedBytes === 0) return;
    const takenBytes = this.#writtenBytes - queuedBytes - this.#outputMark.takenBytes;
    const neededBytes = Math.min(this.#limits.outputProgressBytesMin, this.#outputMark.queuedBytes);
    if (takenBytes >= neededBytes) {
      this.#watchOutput();
      return;
    }
    const seconds = this.#limits.outputStallTimeoutMs / 1000;
    this.#dropForLimit(
      'output-stall',
      `the initiator read ${takenBytes} of the ${queuedBytes} bytes queued for it in ${seconds} s`,
      { queuedBytes, takenBytes, outputStallTimeoutMs: this.#limits.outputStallTimeoutMs },
    );
  }

  // ---- input ----------------------------------------------------------------------------------

  /** One input: a PDU (once closed, the rest of a chunk is ignored), or the transport closed. */
  readonly #onInput = (item: PduStreamItem): void => {
    switch (item.kind) {
      case 'frame':
        this.#framedSinceChunk += 1;
        if (this.#phase !== 'closed') this.#frame(item);
        break;
      case 'error':
        this.#framedSinceChunk += 1;
        if (this.#phase !== 'closed') this.#framingError(item);
        break;
      case 'closed':
        this.#closed(item.reason.kind);
        break;
    }
  };

  #framingError(error: FramingError): void {
    const fields = { code: error.error.code, message: error.error.message };
    if (error.error.code === 'ISCSI_ERR_OVERSIZE_DATA_SEGMENT' && this.#reporter) {
      this.#reporter.hit('data-segment-size', fields, 'bad PDU from the initiator: data segment too long', {
        logger: this.#logger,
      });
    } else this.#logger.warn(fields, 'bad PDU from the initiator');
    if (error.fatal || this.#phase === 'login') {
      this.drop(error.error.message);
      return;
    }
    this.#reject(
      error.bhs,
      (error.error.answer as RejectReasonValue | undefined) ?? RejectReason.PROTOCOL_ERROR,
    );
  }

  #frame(frame: Frame): void {
    const decoded = decodePdu(frame);
    if (!decoded.ok) {
      this.#logger.warn({ code: decoded.error.code, message: decoded.error.message }, 'undecodable PDU');
      if (this.#phase === 'login') this.drop(decoded.error.message);
      else
        this.#reject(
          frame.bhs,
          (decoded.error.answer as RejectReasonValue | undefined) ?? RejectReason.PROTOCOL_ERROR,
        );
      return;
    }
    if (!isInitiatorOpcode(frame.bhs[0]! & OPCODE_MASK)) {
      // A target opcode (NOP-In, SCSI Response, ...) sent by the initiator.
      const why = `${decoded.value.kind} is a target PDU; an initiator cannot send it`;
      if (this.#phase === 'login') this.drop(why);
      else this.#reject(frame.bhs, RejectReason.PROTOCOL_ERROR, why);
      return;
    }
    const pdu = decoded.value as InitiatorPdu;
    if (this.#phase === 'login') this.#loginPdu(pdu);
    else if (this.#phase === 'full-feature') this.#fullFeaturePdu(pdu, frame.bhs);
    // A Data-Out's bytes are copied into its task's buffer (or dropped) by now, never kept: the
    // framer may reuse their memory for the next large Data-Out.
    if (pdu.kind === 'data-out') this.#framer.recycle(frame.data);
  }

  #loginPdu(pdu: InitiatorPdu): void {
    if (pdu.kind !== 'login-request') {
      this.drop(`${pdu.kind} before login completed`);
      return;
    }
    if (this.#statSN === 0 && this.#loginCmdSN === 0) {
      // The first Login Request sets both sides' numbering (§11.12.9, §11.13.4).
      this.#statSN = pdu.expStatSN;
    }
    this.#loginCmdSN = pdu.cmdSN;
    const answer = this.#login.handle(pdu);
    let tsih = pdu.tsih;
    if (answer.outcome === 'done' && answer.result) {
      if (answer.result.sessionType === 'Normal') {
        const attached = this.#hooks.sessionFor(answer.result, pdu);
        if (!attached) {
          this.#sendLoginResponse(
            pdu,
            {
              ...answer,
              statusClass: 0x03,
              statusDetail: 0x02,
              transit: false,
              outcome: 'failed',
              data: EMPTY_DATA,
            },
            tsih,
          );
          this.#finishLogin('failed');
          return;
        }
        this.#session = attached.session;
        tsih = attached.tsih;
        this.#session.attach(this.#sessionOutput(attached.session));
      } else {
        this.#discovery = answer.result;
        tsih = tsih || 1;
      }
    }
    this.#sendLoginResponse(pdu, answer, tsih);
    if (answer.outcome === 'failed') this.#finishLogin('failed', answer);
    else if (answer.outcome === 'done' && answer.result) this.#enterFullFeature(answer.result);
  }

  #sendLoginResponse(pdu: LoginRequestPdu, answer: ReturnType<LoginDriver['handle']>, tsih: number): void {
    const expCmdSN = this.#session?.expCmdSN ?? this.#loginCmdSN;
    this.#write({
      kind: 'login-response',
      ahs: [],
      data: answer.data,
      transit: answer.transit,
      continue: answer.continue,
      csg: answer.csg,
      nsg: answer.transit ? answer.nsg : 0,
      versionMax: 0,
      versionActive: 0,
      isid: pdu.isid,
      tsih: answer.outcome === 'done' ? tsih : pdu.tsih,
      initiatorTaskTag: pdu.initiatorTaskTag,
      statSN: this.#takeStatSN(),
      expCmdSN,
      maxCmdSN: this.#session?.maxCmdSN ?? expCmdSN,
      statusClass: answer.statusClass,
      statusDetail: answer.statusDetail,
    });
  }

  #finishLogin(outcome: 'failed', answer?: { statusClass: number; statusDetail: number }): void {
    this.#metrics?.loginsFailed.inc();
    this.#event('login.failed', { outcome });
    const fields = { statusClass: answer?.statusClass, statusDetail: answer?.statusDetail };
    const message = 'refused a login (the event log names the reason)';
    // Through the limits' reporter: one line per interval however many logins a flood brings.
    if (this.#reporter) this.#reporter.hit('refused-logins', fields, message, { logger: this.#logger });
    else this.#logger.warn(fields, message);
    this.#transition({ type: 'LOGIN_FAILED' });
    this.#end();
  }

  #enterFullFeature(result: LoginResult): void {
    if (this.#loginTimerId !== undefined) this.#clock.clearTimeout(this.#loginTimerId);
    this.#loginTimerId = undefined;
    const connection = result.parameters.connection;
    this.#digests = {
      headerDigest: connection.headerDigest === 'CRC32C',
      dataDigest: connection.dataDigest === 'CRC32C',
    };
    this.#framer.setDigests(this.#digests);
    this.#framer.setMaxRecvDataSegmentLength(connection.maxRecvDataSegmentLengthBytes);
    this.#sendSegmentBytesMax = connection.maxSendDataSegmentLengthBytes;
    this.#transition({ type: 'LOGGED_IN' });
    this.#metrics?.loginsSucceeded.inc();
    this.#event('connection.full_feature', {
      sessionType: result.sessionType,
      initiator: result.initiatorName,
      target: result.target?.iqn ?? null,
      headerDigest: connection.headerDigest,
      dataDigest: connection.dataDigest,
    });
  }

  #fullFeaturePdu(pdu: InitiatorPdu, bhs: Buffer): void {
    const session = this.#session;
    switch (pdu.kind) {
      case 'scsi-command':
        if (!session) this.#reject(bhs, RejectReason.PROTOCOL_ERROR, 'SCSI command in a discovery session');
        else if (pdu.immediate && !session.immediateRoom()) this.#rejectImmediate(bhs, session);
        else {
          session.admit(pdu.cmdSN, pdu.immediate, () => {
            const error = session.startCommand(pdu);
            if (error) this.#reject(bhs, RejectReason.PROTOCOL_ERROR, error);
          });
        }
        break;
      case 'data-out': {
        const error = session ? session.dataOut(pdu) : 'Data-Out in a discovery session';
        if (error) this.#reject(bhs, RejectReason.PROTOCOL_ERROR, error);
        break;
      }
      case 'nop-out':
        this.#nopOut(pdu, bhs);
        break;
      case 'tmf-request':
        if (!session)
          this.#reject(bhs, RejectReason.PROTOCOL_ERROR, 'task management in a discovery session');
        else session.admit(pdu.cmdSN, pdu.immediate, () => void session.taskManagement(pdu));
        break;
      case 'text-request':
        this.#admit(pdu.cmdSN, pdu.immediate, () => this.#text(pdu));
        break;
      case 'logout-request':
        this.#admit(pdu.cmdSN, pdu.immediate, () => void this.#logout(pdu.initiatorTaskTag));
        break;
      case 'snack':
        this.#reject(bhs, RejectReason.COMMAND_NOT_SUPPORTED, 'SNACK needs ErrorRecoveryLevel > 0');
        break;
      case 'login-request':
        this.#reject(bhs, RejectReason.PROTOCOL_ERROR, 'Login Request in full feature phase');
        break;
    }
  }

  /** An immediate command the session has no room for: Reject 0x06 (see the file comment). */
  #rejectImmediate(bhs: Buffer, session: IscsiSession): void {
    const message =
      'rejected an immediate command (reason 0x06): the session already runs 2 × commandWindow tasks; the initiator must wait for answers (or raise commandWindow)';
    const fields = { tasks: session.activeTaskCount };
    if (this.#reporter) this.#reporter.hit('immediate-commands', fields, message, { logger: this.#logger });
    else this.#logger.warn(fields, message);
    this.#reject(bhs, RejectReason.IMMEDIATE_COMMAND_REJECT);
  }

  /** Discovery sessions have no session object: their CmdSN is only echoed. */
  #admit(cmdSN: number, immediate: boolean, run: () => void): void {
    if (this.#session) this.#session.admit(cmdSN, immediate, run);
    else {
      if (!immediate) this.#loginCmdSN = serialAdd(cmdSN, 1);
      run();
    }
  }

  #nopOut(pdu: Extract<InitiatorPdu, { kind: 'nop-out' }>, bhs: Buffer): void {
    if (pdu.initiatorTaskTag === RESERVED_TAG) {
      // The answer to our ping (TTT echoed; any bytes answer it), or a bare CmdSN update: nothing
      // to send.
      return;
    }
    if (pdu.targetTransferTag !== RESERVED_TAG) {
      this.#reject(bhs, RejectReason.PROTOCOL_ERROR, 'NOP-Out with both tags set');
      return;
    }
    // The reflected ping data is limited to the initiator's MaxRecvDataSegmentLength (RFC 7143
    // §11.18): it may send more (up to ours), and must not get a PDU above what it declared.
    const data =
      pdu.data.length > this.#sendSegmentBytesMax
        ? pdu.data.subarray(0, this.#sendSegmentBytesMax)
        : pdu.data;
    this.#admit(pdu.cmdSN, pdu.immediate, () =>
      this.#write({
        kind: 'nop-in',
        ahs: [],
        data,
        lun: pdu.lun,
        initiatorTaskTag: pdu.initiatorTaskTag,
        targetTransferTag: RESERVED_TAG,
        statSN: this.#takeStatSN(),
        ...this.#commandNumbers(),
      }),
    );
  }

  #text(pdu: TextRequestPdu): void {
    const parsed = parseTextData(pdu.data);
    const reply: Array<[string, string]> = [];
    if (parsed.ok) {
      const initiatorName = this.#session?.identity.initiatorName ?? this.#discovery?.initiatorName ?? '';
      for (const [key, value] of parsed.value.pairs) {
        if (key !== 'SendTargets') {
          reply.push([key, 'NotUnderstood']);
          continue;
        }
        reply.push(
          ...this.#hooks.sendTargets({
            value,
            sessionType: this.#session ? 'Normal' : 'Discovery',
            sessionTargetName: this.#session?.identity.target.iqn,
            initiator: { name: initiatorName, address: this.#stream.remote.host },
            localAddress: this.#stream.local.host,
          }),
        );
      }
    }
    this.#write({
      kind: 'text-response',
      ahs: [],
      data: encodeTextData(reply),
      final: true,
      continue: false,
      lun: pdu.lun,
      initiatorTaskTag: pdu.initiatorTaskTag,
      targetTransferTag: RESERVED_TAG,
      statSN: this.#takeStatSN(),
      ...this.#commandNumbers(),
    });
  }

  async #logout(initiatorTaskTag: number): Promise<void> {
    this.#transition({ type: 'LOGOUT_REQUESTED' });
    await this.#session?.close('logout');
    this.#write({
      kind: 'logout-response',
      ahs: [],
      data: EMPTY_DATA,
      response: LogoutResponse.CLOSED_SUCCESSFULLY,
      initiatorTaskTag,
      statSN: this.#takeStatSN(),
      ...this.#commandNumbers(),
      time2Wait: 0,
      time2Retain: 0,
    });
    this.#event('connection.logged_out', {});
    this.#end();
  }

  // ---- output ---------------------------------------------------------------------------------

  #sessionOutput(session: IscsiSession) {
    return {
      send: (pdu: TaskOutput) => {
        const carriesStatus = pdu.kind === 'scsi-response' || (pdu.kind === 'data-in' && pdu.statusPresent);
        const statSN = carriesStatus ? this.#takeStatSN() : this.#statSN;
        this.#write(stampTaskOutput(pdu, statSN, session.expCmdSN, session.maxCmdSN));
      },
      sendTmfResponse: (initiatorTaskTag: number, response: number) =>
        this.#write({
          kind: 'tmf-response',
          ahs: [],
          data: EMPTY_DATA,
          response,
          initiatorTaskTag,
          statSN: this.#takeStatSN(),
          ...this.#commandNumbers(),
        }),
      coldReset: () => {
        // end(), not destroy(): the TMF response just written must reach the initiator first.
        this.#logger.info({ why: 'target cold reset' }, 'closing the connection');
        this.#transition({ type: 'LOGOUT_REQUESTED' });
        this.#end();
        this.#hooks.targetColdReset?.(this, session);
      },
      drop: (why: string) => this.drop(why),
    };
  }

  #commandNumbers(): { expCmdSN: number; maxCmdSN: number } {
    if (this.#session) return { expCmdSN: this.#session.expCmdSN, maxCmdSN: this.#session.maxCmdSN };
    return { expCmdSN: this.#loginCmdSN, maxCmdSN: serialAdd(this.#loginCmdSN, 7) };
  }

  #takeStatSN(): number {
    const statSN = this.#statSN;
    this.#statSN = serialAdd(this.#statSN, 1);
    return statSN;
  }

  #reject(bhs: Buffer, reason: RejectReasonValue, why?: string): void {
    if (why) this.#logger.warn({ reason, why }, 'rejected a PDU');
    this.#metrics?.rejects.inc();
    this.#write(rejectFor(bhs, reason, { statSN: this.#takeStatSN(), ...this.#commandNumbers() }));
  }

  #write(pdu: Pdu): void {
    if (this.#phase === 'closed') return;
    let writable = true;
    for (const buffer of encodePdu(pdu, this.#digests)) {
      this.#writtenBytes += buffer.length;
      writable = this.#stream.write(buffer) && writable;
    }
    // The initiator does not read its answers: stop reading its requests until it does, and see
    // that it reads at all (see the file comment).
    if (!writable) {
      this.#input.pauseUntilDrained();
      this.#watchOutput();
    }
  }

  // ---- keepalive ------------------------------------------------------------------------------

  /**
   * The keepalive's steps: 'idle' when no bytes came for nopIntervalMs (ping), then 'unanswered'
   * when none came for nopTimeoutMs after that (drop). Only in full feature phase. debounceTime
   * notes the time of each `received` mark and keeps one timer (see the file comment); the ping's
   * timer is cut short by the next bytes, and the interval starts again from them.
   */
  #keepalive$(): Observable<'idle' | 'unanswered'> {
    const scheduler = clockScheduler(this.#clock);
    const inFullFeature = (): boolean => this.#phase === 'full-feature';
    const received$ = this.#input.received$;
    return received$.pipe(
      filter(inFullFeature),
      debounceTime(this.#nopIntervalMs, scheduler),
      filter(inFullFeature),
      switchMap(() =>
        timer(this.#nopTimeoutMs, scheduler).pipe(
          map(() => 'unanswered' as const),
          startWith('idle' as const),
          takeUntil(received$),
        ),
      ),
      filter(inFullFeature),
    );
  }

  #ping(): void {
    this.#nopTag = (this.#nopTag + 1) & 0x7fff_ffff;
    this.#write({
      kind: 'nop-in',
      ahs: [],
      data: EMPTY_DATA,
      lun: 0n,
      initiatorTaskTag: RESERVED_TAG,
      targetTransferTag: this.#nopTag,
      statSN: this.#statSN,
      ...this.#commandNumbers(),
    });
  }

  // ---- teardown -------------------------------------------------------------------------------

  /** The transport closed (exactly once, by the ByteStream contract), dropped or not. */
  #closed(kind: string): void {
    for (const timerId of [this.#loginTimerId, this.#pduTimerId, this.#outputTimerId, this.#closeTimerId]) {
      if (timerId !== undefined) this.#clock.clearTimeout(timerId);
    }
    this.#loginTimerId = undefined;
    this.#closeTimerId = undefined;
    this.#pduTimerId = undefined;
    this.#outputTimerId = undefined;
    this.#transition({ type: 'CLOSED' });
    this.#metrics?.closed();
    this.#keepalive?.unsubscribe();
    this.#login.dispose?.();
    this.#event('connection.closed', { kind });
    this.#hooks.closed(this, this.#session);
  }

  #event(type: string, data: Record<string, unknown>): void {
    this.#eventLog.append(`iscsi/connection/${this.id}`, type, data);
  }
}
