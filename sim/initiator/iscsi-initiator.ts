/**
 * A simulated iSCSI initiator speaking real RFC 7143 bytes through Collie's PDU codec, over any
 * Transport (the memory network in the simulator, TCP in a pinch). One session of one connection
 * at ErrorRecoveryLevel 0, the shape the multipath simulator builds each path from.
 *
 * Layers: the stream and its bytes live here (PduFramer in, encodePdu out, digests switched on
 * after the final Login Response exactly as the framer's rules say); the login is LoginExchange
 * and the full feature phase is InitiatorSessionCore, both sans-I/O. After every input this
 * driver flushes the core's PDUs (stopping while the stream is above its high-water mark, until
 * drain), hands out its events, and keeps one clock timer at the core's next deadline.
 *
 * Time and chance are injected: the Clock drives every timeout, an Rng (or a seed derived from the
 * names) draws the ISID and the mutual-CHAP challenge. Nothing here reads the wall clock.
 *
 * Test hooks break the rules on purpose: `hooks.outgoing` rewrites, drops or multiplies each PDU
 * before it is encoded (mangle a Data-Out's DataSN, hold a command back); `rawSend` writes any PDU
 * or bytes; `hooks.answerNopIn = false` ignores the target's pings; `pauseReading` stops reading.
 * Async Messages are kept in `asyncMessages`; `hooks.logoutWhenAsked` answers a logout request.
 *
 * Errors: requests reject with IscsiInitiatorError (a stable `code`); login rejects with
 * IscsiLoginError (`status` holds the target's 0xCCDD). `closed` resolves once, never rejects.
 */
import type { Clock, TimerId } from '../../src/core/clock.js';
import type { EventLog } from '../../src/core/event-log.js';
import { createRng, type Rng } from '../../src/core/rng.js';
import { decodePdu } from '../../src/iscsi/pdu/decode.js';
import { encodePdu } from '../../src/iscsi/pdu/encode.js';
import { PduFramer } from '../../src/iscsi/pdu/framer.js';
import {
  type AsyncMessagePdu,
  EMPTY_DATA,
  type InitiatorPdu,
  type LoginResponsePdu,
  type Pdu,
  type TargetPdu,
} from '../../src/iscsi/pdu/messages.js';
import { AsyncEvent, TmfFunction } from '../../src/iscsi/pdu/opcodes.js';
import type { TextPair } from '../../src/iscsi/pdu/text.js';
import { serialAdd } from '../../src/iscsi/target/serial-number.js';
import type { ByteStream, CloseReason, Endpoint, Transport } from '../../transports/transport.js';
import { endpointToString } from '../../transports/transport.js';
import { IscsiInitiatorError, IscsiLoginError } from './initiator-errors.js';
import { type ChapCredentials, LoginExchange, type LoginOutcome } from './login-exchange.js';
import {
  INITIATOR_OFFER_DEFAULTS,
  type InitiatorParameters,
  type OperationalOffer,
} from './operational-offer.js';
import {
  compareAndWriteCdb,
  DEVICE_IDENTIFICATION_PAGE,
  type DeviceIdentification,
  PrInAction,
  type PrKeys,
  type PrOutRequest,
  type PrReservation,
  parseDeviceIdentification,
  parseReadKeys,
  parseReadReservation,
  parseTargetPortGroups,
  persistentReserveInCdb,
  persistentReserveOut,
  reportTargetPortGroupsCdb,
  setTargetPortGroups,
  type TargetPortGroups,
} from './scsi-cluster-commands.js';
import {
  type Capacity,
  inquiryCdb,
  parseReadCapacity16,
  parseReportLuns,
  read16Cdb,
  readCapacity16Cdb,
  reportLunsCdb,
  synchronizeCache16Cdb,
  testUnitReadyCdb,
  write16Cdb,
} from './scsi-commands.js';
import {
  type CommandRequest,
  type CommandResult,
  type CoreEvent,
  InitiatorSessionCore,
} from './session-core.js';

export type { CommandRequest, CommandResult } from './session-core.js';

/** Test and simulator hooks; the object may be replaced or changed at any time. */
export interface InitiatorHooks {
  /** Sees each PDU the initiator is about to send; returns what to send instead (an empty list drops it). */
  outgoing?: (pdu: InitiatorPdu) => InitiatorPdu | readonly InitiatorPdu[];
  /** Sees each PDU received, decoded, before the initiator acts on it. */
  incoming?: (pdu: TargetPdu) => void;
  /** false: leave the target's NOP-In pings unanswered. Default true. */
  answerNopIn?: boolean;
  /** true: log out when an Async Message asks for it (AsyncEvent 1, RFC 7143 §11.9.1). Default false. */
  logoutWhenAsked?: boolean;
}

export interface InitiatorOptions {
  readonly clock: Clock;
  readonly initiatorName: string;
  /** 12 hex digits; default drawn from `rng` (random format, RFC 7143 §10.12.5). */
  readonly isid?: string;
  /** Draws the ISID and the mutual CHAP challenge; default: a seed made of the names. */
  readonly rng?: Rng;
  readonly chap?: ChapCredentials;
  /** Offer CRC32C header digests (CRC32C,None). Default: None only. */
  readonly headerDigest?: boolean;
  /** Offer CRC32C data digests (CRC32C,None). Default: None only. */
  readonly dataDigest?: boolean;
  /** Operational keys to offer instead of INITIATOR_OFFER_DEFAULTS. */
  readonly offer?: Partial<OperationalOffer>;
  readonly eventLog?: EventLog;
  /** CmdSN of the login and the first command (lets tests start near 2^32). Default 1. */
  readonly cmdSN?: number;
  readonly loginTimeoutMs?: number;
  /** Default timeout of each SCSI command; 0 = none. */
  readonly commandTimeoutMs?: number;
  /** Timeout of task management, NOP-Out pings, text and logout; 0 = none. */
  readonly requestTimeoutMs?: number;
  readonly hooks?: InitiatorHooks;
}

export interface LoginOptions extends InitiatorOptions {
  readonly targetName: string;
}

export interface InitiatorClosed {
  /** logout: after a Logout Response; destroyed: destroy() was called; protocol-error: we closed on a bad PDU. */
  readonly kind: 'logout' | 'end' | 'reset' | 'error' | 'destroyed' | 'protocol-error';
  readonly reason: string;
}

export const LOGIN_TIMEOUT_MS_DEFAULT = 30_000;
export const COMMAND_TIMEOUT_MS_DEFAULT = 60_000;
export const REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
/** Before login completes, data segments are limited to the RFC default (§13.12). */
const LOGIN_DATA_SEGMENT_BYTES_MAX = 8192;
const DEFAULT_CMDSN = 1;
const TARGET_KINDS: ReadonlySet<Pdu['kind']> = new Set([
  'scsi-response',
  'data-in',
  'r2t',
  'login-response',
  'text-response',
  'nop-in',
  'tmf-response',
  'logout-response',
  'reject',
  'async-message',
]);

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

type Phase = 'login' | 'full-feature' | 'closed';

export class IscsiInitiator {
  readonly isid: string;
  readonly initiatorName: string;
  /** Resolves once when the connection is gone. */
  readonly closed: Promise<InitiatorClosed>;
  hooks: InitiatorHooks;
  /** Every Async Message received, in order. */
  readonly asyncMessages: AsyncMessagePdu[] = [];
  readonly #stream: ByteStream;
  readonly #options: InitiatorOptions;
  readonly #clock: Clock;
  readonly #actor: string;
  readonly #framer = new PduFramer({
    headerDigest: false,
    dataDigest: false,
    maxRecvDataSegmentLength: LOGIN_DATA_SEGMENT_BYTES_MAX,
    oversizeDataSegment: 'stop',
  });
  readonly #pending = new Map<number, Deferred<unknown>>();
  readonly #loginDone = deferred<LoginOutcome>();
  readonly #resolveClosed: (closed: InitiatorClosed) => void;
  readonly #blockSizes = new Map<number, number>();
  #digests = { headerDigest: false, dataDigest: false };
  #phase: Phase = 'login';
  #login: LoginExchange | undefined;
  #outcome: LoginOutcome | undefined;
  #core: InitiatorSessionCore | undefined;
  #writable = true;
  #timerId: TimerId | undefined;
  #timerDueMs: number | undefined;
  #loginTimerId: TimerId | undefined;
  #closeKind: InitiatorClosed['kind'] | undefined;
  #closeReason: string | undefined;
  /** Set when we drop the connection: its close event comes later, from a clock timer. */
  #halted = false;

  private constructor(stream: ByteStream, options: InitiatorOptions, isid: string) {
    this.#stream = stream;
    this.#options = options;
    this.#clock = options.clock;
    this.isid = isid;
    this.initiatorName = options.initiatorName;
    this.hooks = options.hooks ?? {};
    this.#actor = `iscsi-initiator/${stream.id}`;
    let resolveClosed!: (closed: InitiatorClosed) => void;
    this.closed = new Promise((resolve) => {
      resolveClosed = resolve;
    });
    this.#resolveClosed = resolveClosed;
    stream.attach({
      data: (chunk) => this.#onData(chunk),
      drain: () => {
        this.#writable = true;
        this.#pump();
      },
      close: (reason) => this.#onClose(reason),
    });
  }

  /** Connects and logs in to a normal session of `targetName`; rejects with IscsiLoginError. */
  static async login(transport: Transport, portal: Endpoint, options: LoginOptions): Promise<IscsiInitiator> {
    return IscsiInitiator.#open(transport, portal, options, options.targetName);
  }

  /** Connects and logs in to a discovery session (SendTargets is its only use; see send-targets.ts). */
  static async loginDiscovery(
    transport: Transport,
    portal: Endpoint,
    options: InitiatorOptions,
  ): Promise<IscsiInitiator> {
    return IscsiInitiator.#open(transport, portal, options, undefined);
  }

  static async #open(
    transport: Transport,
    portal: Endpoint,
    options: InitiatorOptions,
    targetName: string | undefined,
  ): Promise<IscsiInitiator> {
    const rng =
      options.rng ?? createRng(`iscsi-initiator/${options.initiatorName}/${targetName ?? 'discovery'}`);
    const isid = options.isid ?? drawIsid(rng.fork('isid'));
    if (!/^[0-9a-f]{12}$/.test(isid)) throw new RangeError(`ISID "${isid}" is not 12 lowercase hex digits`);
    let stream: ByteStream;
    try {
      stream = await transport.connect(portal);
    } catch (error) {
      throw new IscsiLoginError(
        'ISCSI_LOGIN_CONNECTION',
        `connecting to ${endpointToString(portal)} failed: ${(error as Error).message}`,
      );
    }
    const initiator = new IscsiInitiator(stream, options, isid);
    await initiator.#runLogin(targetName, rng.fork('chap'));
    return initiator;
  }

  // ---- getters ----------------------------------------------------------------------------------

  /** What the login settled; defined once logged in. */
  get loginOutcome(): LoginOutcome {
    if (this.#outcome === undefined) throw new Error('the initiator is not logged in yet');
    return this.#outcome;
  }

  get parameters(): InitiatorParameters {
    return this.loginOutcome.parameters;
  }

  get tsih(): number {
    return this.loginOutcome.tsih;
  }

  /** CmdSN (next to use), ExpCmdSN, MaxCmdSN and ExpStatSN as the initiator sees them now. */
  get sequence(): { cmdSN: number; expCmdSN: number; maxCmdSN: number; expStatSN: number } {
    return this.#requireCore().sequence;
  }

  /** Commands sent and not answered yet. */
  get outstandingCount(): number {
    return this.#core?.outstandingCount ?? 0;
  }

  /** Commands waiting for the CmdSN window. */
  get queuedCount(): number {
    return this.#core?.queuedCount ?? 0;
  }

  /** Rules the target broke, as seen by this initiator (empty for a well-behaved target). */
  get violations(): readonly string[] {
    return this.#core?.violations ?? [];
  }

  get isClosed(): boolean {
    return this.#phase === 'closed';
  }

  /** The stream's unsent bytes (backpressure from a target that stopped reading). */
  get bufferedBytes(): number {
    return this.#stream.bufferedBytes;
  }

  // ---- requests ---------------------------------------------------------------------------------

  command(request: CommandRequest): Promise<CommandResult> {
    return this.#submit((core, nowMs) => core.submitCommand(request, nowMs));
  }

  /** A TMF (§11.5); resolves with its Response (TmfResponse in opcodes.ts). */
  taskManagement(fn: number, options: { lun: number; referencedTaskTag?: number }): Promise<number> {
    return this.#submit((core, nowMs) => core.submitTaskManagement({ function: fn, ...options }, nowMs));
  }

  /** A NOP-Out ping (§11.18); resolves with the echoed data. */
  ping(data: Buffer = EMPTY_DATA): Promise<Buffer> {
    return this.#submit((core, nowMs) => core.submitPing(data, nowMs));
  }

  /** A Text Request (§11.10), continued as needed; resolves with the answer's pairs. */
  text(pairs: readonly TextPair[]): Promise<readonly TextPair[]> {
    return this.#submit((core, nowMs) => core.submitText(pairs, nowMs));
  }

  /** Logout closing the session (§11.14); resolves with the Logout Response's code. Then `closed`. */
  logout(): Promise<number> {
    return this.#submit((core, nowMs) => core.submitLogout(nowMs));
  }

  /** Logs out when it can, else drops the connection; resolves when closed. */
  async close(): Promise<InitiatorClosed> {
    if (this.#phase === 'full-feature') {
      try {
        await this.logout();
      } catch {
        this.destroy();
      }
    } else if (this.#phase === 'login') {
      this.destroy();
    }
    return this.closed;
  }

  /** Drops the connection at once (RST); pending requests fail with ISCSI_INIT_CLOSED. */
  destroy(): void {
    if (this.#phase === 'closed') return;
    this.#closeKind ??= 'destroyed';
    this.#closeReason ??= 'destroy() was called';
    this.#halt();
  }

  // ---- convenience commands ---------------------------------------------------------------------

  read(
    lun: number,
    lba: number,
    blocks: number,
    options: { fua?: boolean; blockSizeBytes?: number } = {},
  ): Promise<CommandResult> {
    const blockSizeBytes = options.blockSizeBytes ?? this.#blockSize(lun);
    return this.command({
      lun,
      cdb: read16Cdb(lba, blocks, options),
      expectedLengthBytes: blocks * blockSizeBytes,
      read: true,
    });
  }

  write(
    lun: number,
    lba: number,
    data: Buffer,
    options: { fua?: boolean; blockSizeBytes?: number } = {},
  ): Promise<CommandResult> {
    const blockSizeBytes = options.blockSizeBytes ?? this.#blockSize(lun);
    if (data.length % blockSizeBytes !== 0) {
      throw new RangeError(
        `write of ${data.length} bytes is not a whole number of ${blockSizeBytes}-byte blocks`,
      );
    }
    return this.command({
      lun,
      cdb: write16Cdb(lba, data.length / blockSizeBytes, options),
      dataOut: data,
      expectedLengthBytes: data.length,
    });
  }

  testUnitReady(lun: number): Promise<CommandResult> {
    return this.command({ lun, cdb: testUnitReadyCdb(), expectedLengthBytes: 0 });
  }

  inquiry(
    lun: number,
    options: { pageCode?: number; allocationLengthBytes?: number } = {},
  ): Promise<CommandResult> {
    const allocationLengthBytes = options.allocationLengthBytes ?? 255;
    return this.command({
      lun,
      cdb: inquiryCdb({
        allocationLengthBytes,
        ...(options.pageCode === undefined ? {} : { pageCode: options.pageCode }),
      }),
      expectedLengthBytes: allocationLengthBytes,
      read: true,
    });
  }

  /** READ CAPACITY (16); a GOOD answer also sets the block size later read()/write() calls use. */
  async readCapacity16(lun: number): Promise<CommandResult & { readonly capacity?: Capacity }> {
    const result = await this.command({
      lun,
      cdb: readCapacity16Cdb(32),
      expectedLengthBytes: 32,
      read: true,
    });
    const capacity = result.status === 0 ? parseReadCapacity16(result.dataIn) : undefined;
    if (capacity !== undefined) this.#blockSizes.set(lun, capacity.blockSizeBytes);
    return capacity === undefined ? result : { ...result, capacity };
  }

  synchronizeCache(
    lun: number,
    options: { lba?: number; blocks?: number; immed?: boolean } = {},
  ): Promise<CommandResult> {
    return this.command({ lun, cdb: synchronizeCache16Cdb(options), expectedLengthBytes: 0 });
  }

  async reportLuns(
    lun = 0,
    allocationLengthBytes = 4096,
  ): Promise<CommandResult & { readonly luns: number[] }> {
    const result = await this.command({
      lun,
      cdb: reportLunsCdb(allocationLengthBytes),
      expectedLengthBytes: allocationLengthBytes,
      read: true,
    });
    return { ...result, luns: result.status === 0 ? parseReportLuns(result.dataIn) : [] };
  }

  // ---- cluster commands (scsi-cluster-commands.ts) ---------------------------------------------

  /** PERSISTENT RESERVE OUT with the basic 24-byte parameter list. */
  persistentReserveOut(lun: number, request: PrOutRequest): Promise<CommandResult> {
    const { cdb, parameters } = persistentReserveOut(request);
    return this.command({ lun, cdb, dataOut: parameters, expectedLengthBytes: parameters.length });
  }

  /** PERSISTENT RESERVE IN READ KEYS; `keys` is set on a GOOD answer. */
  async readKeys(lun: number): Promise<CommandResult & { readonly keys?: PrKeys }> {
    const result = await this.#dataInCommand(lun, persistentReserveInCdb(PrInAction.READ_KEYS, 1024), 1024);
    const keys = result.status === 0 ? parseReadKeys(result.dataIn) : undefined;
    return keys === undefined ? result : { ...result, keys };
  }

  /** PERSISTENT RESERVE IN READ RESERVATION; `reservation` is set on a GOOD answer. */
  async readReservation(lun: number): Promise<CommandResult & { readonly reservation?: PrReservation }> {
    const result = await this.#dataInCommand(
      lun,
      persistentReserveInCdb(PrInAction.READ_RESERVATION, 64),
      64,
    );
    const reservation = result.status === 0 ? parseReadReservation(result.dataIn) : undefined;
    return reservation === undefined ? result : { ...result, reservation };
  }

  /**
   * REPORT TARGET PORT GROUPS (extended header by default). Like Linux, asks again with a buffer
   * big enough when RETURN DATA LENGTH says the first one was short.
   */
  async reportTargetPortGroups(
    lun: number,
    options: { extended?: boolean; allocationLengthBytes?: number } = {},
  ): Promise<CommandResult & { readonly groups?: TargetPortGroups }> {
    const extended = options.extended ?? true;
    let allocationLengthBytes = options.allocationLengthBytes ?? 256;
    for (let tries = 0; ; tries++) {
      const cdb = reportTargetPortGroupsCdb({ extended, allocationLengthBytes });
      const result = await this.#dataInCommand(lun, cdb, allocationLengthBytes);
      if (result.status !== 0) return result;
      const groups = parseTargetPortGroups(result.dataIn);
      if (groups === undefined) return result;
      if (groups.totalBytes <= allocationLengthBytes || tries > 0) return { ...result, groups };
      allocationLengthBytes = groups.totalBytes;
    }
  }

  /** SET TARGET PORT GROUPS: asks for these states of these groups. */
  setTargetPortGroups(
    lun: number,
    requests: readonly { readonly id: number; readonly state: number }[],
  ): Promise<CommandResult> {
    const { cdb, parameters } = setTargetPortGroups(requests);
    return this.command({ lun, cdb, dataOut: parameters, expectedLengthBytes: parameters.length });
  }

  /** COMPARE AND WRITE of whole blocks: `compare` and `write` are equally long. */
  compareAndWrite(
    lun: number,
    lba: number,
    compare: Buffer,
    write: Buffer,
    options: { blockSizeBytes?: number } = {},
  ): Promise<CommandResult> {
    const blockSizeBytes = options.blockSizeBytes ?? this.#blockSize(lun);
    if (compare.length !== write.length || compare.length % blockSizeBytes !== 0) {
      throw new RangeError(
        `COMPARE AND WRITE needs equal whole blocks to compare and to write (${compare.length} and ${write.length} bytes)`,
      );
    }
    const dataOut = Buffer.concat([compare, write]);
    return this.command({
      lun,
      cdb: compareAndWriteCdb(lba, compare.length / blockSizeBytes),
      dataOut,
      expectedLengthBytes: dataOut.length,
    });
  }

  /** The Device Identification VPD page; `identification` is set on a GOOD answer. */
  async deviceIdentification(
    lun: number,
  ): Promise<CommandResult & { readonly identification?: DeviceIdentification }> {
    const result = await this.inquiry(lun, {
      pageCode: DEVICE_IDENTIFICATION_PAGE,
      allocationLengthBytes: 255,
    });
    const identification = result.status === 0 ? parseDeviceIdentification(result.dataIn) : undefined;
    return identification === undefined ? result : { ...result, identification };
  }

  /** LOGICAL UNIT RESET (a task management function); resolves with its Response. */
  lunReset(lun: number): Promise<number> {
    return this.taskManagement(TmfFunction.LOGICAL_UNIT_RESET, { lun });
  }

  #dataInCommand(lun: number, cdb: Buffer, allocationLengthBytes: number): Promise<CommandResult> {
    return this.command({ lun, cdb, expectedLengthBytes: allocationLengthBytes, read: true });
  }

  // ---- faults -----------------------------------------------------------------------------------

  /** Writes a PDU (with the digests in force) or raw bytes, bypassing the core and the hooks. */
  rawSend(what: Pdu | Buffer): void {
    if (Buffer.isBuffer(what)) this.#stream.write(what);
    else this.#writePdu(what);
  }

  /** Stops reading the stream (the target's writes back up) until resumeReading(). */
  pauseReading(): void {
    this.#stream.pause();
  }

  resumeReading(): void {
    this.#stream.resume();
  }

  // ---- login ------------------------------------------------------------------------------------

  async #runLogin(targetName: string | undefined, rng: Rng): Promise<void> {
    const options = this.#options;
    this.#login = new LoginExchange({
      initiatorName: options.initiatorName,
      sessionType: targetName === undefined ? 'Discovery' : 'Normal',
      ...(targetName === undefined ? {} : { targetName }),
      isid: this.isid,
      tsih: 0,
      cid: 0,
      cmdSN: options.cmdSN ?? DEFAULT_CMDSN,
      ...(options.chap ? { chap: options.chap } : {}),
      digests: { headerDigest: options.headerDigest ?? false, dataDigest: options.dataDigest ?? false },
      offer: { ...INITIATOR_OFFER_DEFAULTS, ...options.offer },
      rng,
    });
    this.#loginTimerId = this.#clock.setTimeout(() => {
      this.#loginTimerId = undefined;
      this.#loginFailed(
        new IscsiLoginError('ISCSI_LOGIN_CONNECTION', `no login answer within ${this.#loginTimeoutMs()} ms`),
      );
    }, this.#loginTimeoutMs());
    this.#writePdu(this.#login.start());
    try {
      this.#outcome = await this.#loginDone.promise;
    } finally {
      if (this.#loginTimerId !== undefined) this.#clock.clearTimeout(this.#loginTimerId);
      this.#loginTimerId = undefined;
    }
  }

  #loginTimeoutMs(): number {
    return this.#options.loginTimeoutMs ?? LOGIN_TIMEOUT_MS_DEFAULT;
  }

  #loginPdu(pdu: TargetPdu): void {
    if (pdu.kind !== 'login-response') {
      this.#loginFailed(
        new IscsiLoginError('ISCSI_LOGIN_PROTOCOL', `a ${pdu.kind} PDU arrived during login`),
      );
      return;
    }
    const step = this.#login!.receive(pdu as LoginResponsePdu);
    if (step.kind === 'send') this.#writePdu(step.request);
    else if (step.kind === 'failed') this.#loginFailed(step.error);
    else this.#enterFullFeature(step.outcome);
  }

  #loginFailed(error: IscsiLoginError): void {
    if (this.#phase !== 'login') return;
    this.#log('initiator.login_failed', { code: error.code, status: error.status, message: error.message });
    this.#closeKind = 'protocol-error';
    this.#closeReason = error.message;
    this.#loginDone.reject(error);
    this.#halt();
  }

  #enterFullFeature(outcome: LoginOutcome): void {
    const parameters = outcome.parameters;
    // The framer's rules: switch before the next PDU's header is read (the loop in #onData does
    // not call next() again before this returns).
    this.#digests = { headerDigest: parameters.headerDigest, dataDigest: parameters.dataDigest };
    this.#framer.setDigests(this.#digests);
    this.#framer.setMaxRecvDataSegmentLength(parameters.maxRecvDataSegmentLengthBytes);
    const options = this.#options;
    this.#core = new InitiatorSessionCore({
      parameters,
      cmdSN: options.cmdSN ?? DEFAULT_CMDSN,
      expCmdSN: outcome.expCmdSN,
      maxCmdSN: outcome.maxCmdSN,
      expStatSN: serialAdd(outcome.statSN, 1),
      commandTimeoutMs: options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS_DEFAULT,
      requestTimeoutMs: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT,
      answerNopIn: () => this.hooks.answerNopIn !== false,
    });
    this.#phase = 'full-feature';
    this.#login = undefined;
    this.#log('initiator.logged_in', {
      tsih: outcome.tsih,
      isid: this.isid,
      headerDigest: parameters.headerDigest,
      dataDigest: parameters.dataDigest,
      initialR2T: parameters.initialR2T,
      immediateData: parameters.immediateData,
      maxBurstLengthBytes: parameters.maxBurstLengthBytes,
      firstBurstLengthBytes: parameters.firstBurstLengthBytes,
      maxSendDataSegmentLengthBytes: parameters.maxSendDataSegmentLengthBytes,
    });
    this.#loginDone.resolve(outcome);
  }

  // ---- stream -----------------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    if (this.#halted || this.#phase === 'closed') return;
    this.#framer.push(chunk);
    // Each frame consumes at least a 48-byte header, so this ends within the buffered bytes.
    for (let next = this.#framer.next(); next !== undefined; next = this.#framer.next()) {
      if (next.kind === 'error') {
        this.#fatal(`bad PDU from the target: ${next.error.message}`);
        return;
      }
      const decoded = decodePdu(next);
      if (!decoded.ok) {
        this.#fatal(`undecodable PDU from the target: ${decoded.error.message}`);
        return;
      }
      const pdu = decoded.value;
      if (!TARGET_KINDS.has(pdu.kind)) {
        this.#fatal(`the target sent a ${pdu.kind} PDU, an initiator opcode`);
        return;
      }
      this.hooks.incoming?.(pdu as TargetPdu);
      if (pdu.kind === 'async-message') this.asyncMessages.push(pdu);
      if (this.#phase === 'login') this.#loginPdu(pdu as TargetPdu);
      else if (this.#phase === 'full-feature') this.#core!.handlePdu(pdu as TargetPdu);
      if (this.#halted || this.isClosed) return;
    }
    this.#pump();
  }

  #onClose(reason: CloseReason): void {
    if (this.#phase === 'closed') return;
    const wasLogin = this.#phase === 'login';
    this.#phase = 'closed';
    if (this.#timerId !== undefined) this.#clock.clearTimeout(this.#timerId);
    if (this.#loginTimerId !== undefined) this.#clock.clearTimeout(this.#loginTimerId);
    this.#timerId = undefined;
    this.#loginTimerId = undefined;
    const why = this.#closeReason ?? `the connection closed (${reason.kind})`;
    if (wasLogin) this.#loginDone.reject(new IscsiLoginError('ISCSI_LOGIN_CONNECTION', `login: ${why}`));
    this.#core?.connectionLost(why);
    this.#deliverEvents();
    const kind = this.#closeKind ?? reason.kind;
    this.#log('initiator.closed', { kind, reason: why });
    this.#resolveClosed({ kind, reason: why });
  }

  /** We cannot go on with this target's bytes: drop the connection. */
  #fatal(message: string): void {
    this.#log('initiator.protocol_error', { message });
    this.#closeKind ??= 'protocol-error';
    this.#closeReason ??= message;
    if (this.#phase === 'login') this.#loginFailed(new IscsiLoginError('ISCSI_LOGIN_PROTOCOL', message));
    this.#halt();
  }

  #halt(): void {
    this.#halted = true;
    this.#stream.destroy();
  }

  // ---- core plumbing ----------------------------------------------------------------------------

  #submit<T>(start: (core: InitiatorSessionCore, nowMs: number) => number): Promise<T> {
    const core = this.#core;
    if (core === undefined || this.#phase !== 'full-feature') {
      return Promise.reject(
        new IscsiInitiatorError(
          'ISCSI_INIT_NOT_ACCEPTING',
          'the initiator is not in full feature phase; log in again',
        ),
      );
    }
    const tag = start(core, this.#clock.now());
    const waiter = deferred<T>();
    this.#pending.set(tag, waiter as Deferred<unknown>);
    this.#pump();
    return waiter.promise;
  }

  #pump(): void {
    if (this.#core === undefined) return;
    this.#flush();
    this.#deliverEvents();
    this.#armTimer();
  }

  #flush(): void {
    const core = this.#core!;
    while (this.#writable && this.#phase === 'full-feature') {
      const pdu = core.pollTransmit();
      if (pdu === undefined) return;
      const outgoing = this.hooks.outgoing;
      if (outgoing === undefined) {
        this.#writePdu(pdu);
        continue;
      }
      const replaced = outgoing(pdu);
      for (const each of isPduList(replaced) ? replaced : [replaced]) this.#writePdu(each);
    }
  }

  #deliverEvents(): void {
    const core = this.#core;
    if (core === undefined) return;
    for (let event = core.pollEvent(); event !== undefined; event = core.pollEvent()) this.#deliver(event);
  }

  #deliver(event: CoreEvent): void {
    switch (event.kind) {
      case 'command-done':
        this.#settle(event.tag, event.result);
        return;
      case 'tmf-done':
        this.#settle(event.tag, event.response);
        return;
      case 'ping-done':
        this.#settle(event.tag, event.data);
        return;
      case 'text-done':
        this.#settle(event.tag, event.pairs);
        return;
      case 'logout-done':
        this.#closeKind ??= 'logout';
        this.#closeReason ??= `logged out (response ${event.response})`;
        this.#settle(event.tag, event.response);
        this.#stream.end();
        return;
      case 'failed': {
        const waiter = this.#pending.get(event.tag);
        this.#pending.delete(event.tag);
        waiter?.reject(event.error);
        return;
      }
      case 'reject':
        this.#log('initiator.reject_received', {
          reason: event.reason,
          opcode: event.opcode,
          tag: event.tag,
        });
        return;
      case 'async-message':
        this.#log('initiator.async_message', { asyncEvent: event.asyncEvent });
        if (event.asyncEvent === AsyncEvent.LOGOUT_REQUESTED && this.hooks.logoutWhenAsked) {
          this.logout().catch(() => this.destroy());
        }
        return;
      case 'violation':
        this.#log('initiator.violation', { message: event.message });
        return;
      case 'fatal':
        this.#fatal(event.message);
        return;
    }
  }

  #settle(tag: number, value: unknown): void {
    const waiter = this.#pending.get(tag);
    this.#pending.delete(tag);
    waiter?.resolve(value);
  }

  #armTimer(): void {
    const dueMs = this.#phase === 'full-feature' ? this.#core?.pollTimeoutMs() : undefined;
    if (dueMs === this.#timerDueMs) return;
    if (this.#timerId !== undefined) this.#clock.clearTimeout(this.#timerId);
    this.#timerId = undefined;
    this.#timerDueMs = dueMs;
    if (dueMs === undefined) return;
    this.#timerId = this.#clock.setTimeout(
      () => {
        this.#timerId = undefined;
        this.#timerDueMs = undefined;
        this.#core?.handleTimeout(this.#clock.now());
        this.#pump();
      },
      Math.max(0, dueMs - this.#clock.now()),
    );
  }

  #writePdu(pdu: Pdu): void {
    if (this.#halted || this.#phase === 'closed') return;
    for (const buffer of encodePdu(pdu, this.#digests)) {
      if (!this.#stream.write(buffer)) this.#writable = false;
    }
  }

  #requireCore(): InitiatorSessionCore {
    if (this.#core === undefined) throw new Error('the initiator is not logged in yet');
    return this.#core;
  }

  #blockSize(lun: number): number {
    return this.#blockSizes.get(lun) ?? 512;
  }

  #log(type: string, data: Record<string, unknown>): void {
    this.#options.eventLog?.append(this.#actor, type, data);
  }
}

function isPduList(value: InitiatorPdu | readonly InitiatorPdu[]): value is readonly InitiatorPdu[] {
  return Array.isArray(value);
}

/** Random-format ISID (T=10b): 0x80, then five bytes from the Rng. */
function drawIsid(rng: Rng): string {
  const bytes = [0x80];
  for (let index = 0; index < 5; index++) bytes.push(rng.int(0, 256));
  return Buffer.from(bytes).toString('hex');
}
