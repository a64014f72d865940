/**
 * A bare-hands iSCSI initiator for tests that must send what no real initiator sends: PDUs built
 * with Collie's own codec (src/iscsi/pdu) or as raw bytes, over one node:net socket.
 *
 * Rules:
 * - Nothing here is clever: one socket, one framer, PDUs in arrival order. Every wait is bounded
 *   and a timeout error says what was awaited and what arrived instead.
 * - The codec is the system's, so a test using it shares any codec bug with the target; tests that
 *   matter for robustness also write raw bytes (`sendRaw`).
 * - Login is one operational-stage exchange (no CHAP): the initiator offers its keys with T=1 and
 *   repeats empty T=1 requests while the target answers T=0. The negotiated digests and the
 *   target's MaxRecvDataSegmentLength apply from the first PDU after the final Login Response.
 * - The target's own keepalive NOP-Ins (ITT 0xffffffff) are answered and never returned.
 */
import { createConnection, type Socket } from 'node:net';
import {
  BHS_BYTES,
  type DigestOptions,
  decodePdu,
  encodePduBytes,
  encodeTextData,
  type InitiatorPdu,
  LoginStage,
  PduFramer,
  parseTextData,
  RESERVED_TAG,
  type TargetPdu,
} from '../../src/iscsi/pdu/index.js';

/** What the framer reported instead of a PDU (a bad PDU from the target). */
export interface ReceivedError {
  kind: 'framing-error';
  message: string;
}

export type Received = TargetPdu | ReceivedError;

/** The MaxRecvDataSegmentLength this initiator declares. */
export const INITIATOR_MAX_RECV_DATA_SEGMENT_BYTES = 262_144;

export interface LoginOptions {
  initiatorName?: string;
  /** Omit for a discovery session. */
  targetName?: string;
  sessionType?: 'Normal' | 'Discovery';
  headerDigest?: string;
  dataDigest?: string;
  /** Extra keys offered in the first request, in order. */
  extraKeys?: Array<[string, string]>;
  timeoutMs?: number;
}

export interface LoginOutcome {
  /** Status-Class << 8 | Status-Detail of the last Login Response. */
  status: number;
  /** Every key the target answered or declared, last value wins. */
  keys: Map<string, string>;
  /** The Login Responses, in order. */
  responses: Array<Extract<TargetPdu, { kind: 'login-response' }>>;
}

export interface ScsiOutcome {
  status: number;
  /** The SCSI Response's sense data (after the 2-byte SenseLength), empty without. */
  sense: Buffer;
  /** Data-In bytes, in buffer-offset order. */
  data: Buffer;
}

/** `0x0203` style text for assertion messages. */
export function hex4(value: number): string {
  return `0x${value.toString(16).padStart(4, '0')}`;
}

export class RawInitiator {
  readonly #socket: Socket;
  readonly #framer = new PduFramer({
    headerDigest: false,
    dataDigest: false,
    maxRecvDataSegmentLength: INITIATOR_MAX_RECV_DATA_SEGMENT_BYTES,
  });
  readonly #inbox: Received[] = [];
  #waiter: (() => void) | undefined;
  #closedFlag = false;
  #closeWaiters: Array<() => void> = [];
  #digests: DigestOptions = { headerDigest: false, dataDigest: false };
  #cmdSN = 1;
  #expStatSN = 0;
  #itt = 1;
  /** The target's declared MaxRecvDataSegmentLength (8192 until it says otherwise). */
  targetMaxRecvDataSegmentBytes = 8192;
  readonly isid = '80c0ffee0001';

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', () => {
      // ECONNRESET and the like: 'close' follows and is what tests look at.
    });
    socket.on('close', () => {
      this.#closedFlag = true;
      for (const waiter of this.#closeWaiters.splice(0)) waiter();
      this.#waiter?.();
    });
  }

  /** Connects to 127.0.0.1:port (bounded). */
  static connect(port: number, timeoutMs = 5_000): Promise<RawInitiator> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`RawInitiator: no TCP connection to 127.0.0.1:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(new RawInitiator(socket));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`RawInitiator: cannot connect to 127.0.0.1:${port}: ${error.message}`));
      });
    });
  }

  get closed(): boolean {
    return this.#closedFlag;
  }

  get digests(): DigestOptions {
    return this.#digests;
  }

  /** Next CmdSN to use (advanced by nextCmdSN()). */
  get cmdSN(): number {
    return this.#cmdSN;
  }

  get expStatSN(): number {
    return this.#expStatSN;
  }

  /** A fresh Initiator Task Tag. */
  nextItt(): number {
    const itt = this.#itt;
    this.#itt = (this.#itt + 1) & 0x7fff_ffff;
    return itt;
  }

  /** Takes a CmdSN for a non-immediate command. */
  nextCmdSN(): number {
    const cmdSN = this.#cmdSN;
    this.#cmdSN = (this.#cmdSN + 1) >>> 0;
    return cmdSN;
  }

  /** Encodes pdu with the negotiated digests and writes it. */
  send(pdu: InitiatorPdu): void {
    this.sendRaw(encodePduBytes(pdu, this.#digests));
  }

  /** Writes bytes as they are. */
  sendRaw(bytes: Buffer): void {
    if (!this.#closedFlag) this.#socket.write(bytes);
  }

  /** Resolves with the next PDU (or framing error) from the target; rejects on timeout or close. */
  async next(timeoutMs = 5_000, what = 'a PDU'): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const item = this.#inbox.shift();
      if (item) return item;
      if (this.#closedFlag)
        throw new Error(`RawInitiator: the target closed the connection while we awaited ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`RawInitiator: no answer (${what}) within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
  }

  /** The next PDU of a given kind; anything else first is an error naming it. */
  async expect<K extends TargetPdu['kind']>(
    kind: K,
    timeoutMs = 5_000,
  ): Promise<Extract<TargetPdu, { kind: K }>> {
    const item = await this.next(timeoutMs, `a ${kind}`);
    if (item.kind !== kind) {
      throw new Error(`RawInitiator: expected a ${kind} but got ${describeReceived(item)}`);
    }
    return item as Extract<TargetPdu, { kind: K }>;
  }

  /**
   * Resolves with how the connection ended: 'closed' when the target closed it within timeoutMs,
   * 'open' otherwise. PDUs that arrive meanwhile stay readable with next().
   */
  waitClosed(timeoutMs: number): Promise<'closed' | 'open'> {
    if (this.#closedFlag) return Promise.resolve('closed');
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve('open'), timeoutMs);
      this.#closeWaiters.push(() => {
        clearTimeout(timer);
        resolve('closed');
      });
    });
  }

  /** Every PDU received and not yet read. */
  drain(): Received[] {
    return this.#inbox.splice(0);
  }

  close(): void {
    this.#socket.destroy();
  }

  /** A login (operational stage only, no CHAP). Digests and limits take effect on success. */
  async login(options: LoginOptions = {}): Promise<LoginOutcome> {
    const sessionType = options.sessionType ?? (options.targetName ? 'Normal' : 'Discovery');
    const offered: Array<[string, string]> = [
      ['InitiatorName', options.initiatorName ?? 'iqn.2026-11.test.collie:raw-initiator'],
      ...(options.targetName ? ([['TargetName', options.targetName]] as Array<[string, string]>) : []),
      ['SessionType', sessionType],
      ['HeaderDigest', options.headerDigest ?? 'None'],
      ['DataDigest', options.dataDigest ?? 'None'],
      ['MaxRecvDataSegmentLength', String(INITIATOR_MAX_RECV_DATA_SEGMENT_BYTES)],
      ...(sessionType === 'Normal'
        ? ([
            ['InitialR2T', 'No'],
            ['ImmediateData', 'Yes'],
            ['MaxBurstLength', '262144'],
            ['FirstBurstLength', '262144'],
            ['ErrorRecoveryLevel', '0'],
            ['MaxConnections', '1'],
          ] as Array<[string, string]>)
        : []),
      ...(options.extraKeys ?? []),
    ];
    const keys = new Map<string, string>();
    const responses: LoginOutcome['responses'] = [];
    const itt = this.nextItt();
    let data = encodeTextData(offered);
    for (let round = 0; round < 8; round++) {
      this.send({
        kind: 'login-request',
        ahs: [],
        data,
        transit: true,
        continue: false,
        csg: LoginStage.LOGIN_OPERATIONAL_NEGOTIATION,
        nsg: LoginStage.FULL_FEATURE_PHASE,
        versionMax: 0,
        versionMin: 0,
        isid: this.isid,
        tsih: 0,
        initiatorTaskTag: itt,
        cid: 1,
        cmdSN: this.#cmdSN,
        expStatSN: this.#expStatSN,
      });
      const response = await this.expect('login-response', options.timeoutMs ?? 5_000);
      responses.push(response);
      this.#expStatSN = (response.statSN + 1) >>> 0;
      const parsed = parseTextData(response.data);
      if (parsed.ok) for (const [key, value] of parsed.value.pairs) keys.set(key, value);
      const status = (response.statusClass << 8) | response.statusDetail;
      if (status !== 0) return { status, keys, responses };
      if (response.transit && response.nsg === LoginStage.FULL_FEATURE_PHASE) {
        this.#digests = {
          headerDigest: keys.get('HeaderDigest') === 'CRC32C',
          dataDigest: keys.get('DataDigest') === 'CRC32C',
        };
        this.#framer.setDigests(this.#digests);
        const declared = Number(keys.get('MaxRecvDataSegmentLength') ?? 8192);
        if (Number.isInteger(declared) && declared > 0) this.targetMaxRecvDataSegmentBytes = declared;
        return { status, keys, responses };
      }
      data = Buffer.alloc(0); // nothing more to offer: ask again to move on
    }
    throw new Error('RawInitiator: the target did not finish the login within 8 rounds');
  }

  /** A NOP-Out ping with data; resolves with the echoed NOP-In. */
  async ping(data: Buffer = Buffer.from('ping'), timeoutMs = 5_000) {
    const itt = this.nextItt();
    this.send({
      kind: 'nop-out',
      ahs: [],
      data,
      immediate: true,
      lun: 0n,
      initiatorTaskTag: itt,
      targetTransferTag: RESERVED_TAG,
      cmdSN: this.#cmdSN,
      expStatSN: this.#expStatSN,
    });
    const answer = await this.expect('nop-in', timeoutMs);
    if (answer.initiatorTaskTag !== itt) {
      throw new Error(`RawInitiator: NOP-In answers ITT ${answer.initiatorTaskTag}, not our ${itt}`);
    }
    this.#expStatSN = (answer.statSN + 1) >>> 0;
    return answer;
  }

  /**
   * One SCSI command on LUN lun: a read of readBytes, or a write whose data all goes as
   * immediate data (keep it within FirstBurstLength and the target's MaxRecvDataSegmentLength).
   */
  async scsi(
    lun: number,
    cdb: Buffer,
    io: { readBytes?: number; writeData?: Buffer } = {},
    timeoutMs = 10_000,
  ): Promise<ScsiOutcome> {
    const itt = this.nextItt();
    const writeData = io.writeData ?? Buffer.alloc(0);
    if (writeData.length > this.targetMaxRecvDataSegmentBytes) {
      throw new Error(
        `RawInitiator.scsi: ${writeData.length} bytes of immediate data exceed the target's MaxRecvDataSegmentLength`,
      );
    }
    this.send({
      kind: 'scsi-command',
      ahs: [],
      data: writeData,
      immediate: false,
      final: true,
      read: (io.readBytes ?? 0) > 0,
      write: writeData.length > 0,
      attr: 1,
      lun: BigInt(lun) << 48n,
      initiatorTaskTag: itt,
      expectedDataTransferLength: io.readBytes ?? writeData.length,
      cmdSN: this.nextCmdSN(),
      expStatSN: this.#expStatSN,
      cdb,
    });
    const pieces: Array<{ offset: number; data: Buffer }> = [];
    for (;;) {
      const item = await this.next(timeoutMs, `the answer to SCSI command ITT ${itt}`);
      if (item.kind === 'data-in' && item.initiatorTaskTag === itt) {
        pieces.push({ offset: item.bufferOffset, data: Buffer.from(item.data) });
        if (item.statusPresent) {
          this.#expStatSN = (item.statSN + 1) >>> 0;
          return { status: item.status, sense: Buffer.alloc(0), data: joinPieces(pieces) };
        }
        continue;
      }
      if (item.kind === 'scsi-response' && item.initiatorTaskTag === itt) {
        this.#expStatSN = (item.statSN + 1) >>> 0;
        const senseLength = item.data.length >= 2 ? item.data.readUInt16BE(0) : 0;
        return {
          status: item.status,
          sense: Buffer.from(item.data.subarray(2, 2 + senseLength)),
          data: joinPieces(pieces),
        };
      }
      throw new Error(`RawInitiator: while awaiting SCSI command ITT ${itt} got ${describeReceived(item)}`);
    }
  }

  #receive(chunk: Buffer): void {
    this.#framer.push(chunk);
    for (let frame = this.#framer.next(); frame; frame = this.#framer.next()) {
      if (frame.kind === 'error') {
        this.#inbox.push({ kind: 'framing-error', message: frame.error.message });
        continue;
      }
      const decoded = decodePdu(frame);
      if (!decoded.ok) {
        this.#inbox.push({ kind: 'framing-error', message: decoded.error.message });
        continue;
      }
      const pdu = decoded.value as TargetPdu;
      if (pdu.kind === 'nop-in' && pdu.initiatorTaskTag === RESERVED_TAG) {
        // The target's keepalive: echo its TTT, never show it to the test.
        if (pdu.targetTransferTag !== RESERVED_TAG) {
          this.send({
            kind: 'nop-out',
            ahs: [],
            data: Buffer.alloc(0),
            immediate: true,
            lun: pdu.lun,
            initiatorTaskTag: RESERVED_TAG,
            targetTransferTag: pdu.targetTransferTag,
            cmdSN: this.#cmdSN,
            expStatSN: this.#expStatSN,
          });
        }
        continue;
      }
      this.#inbox.push(pdu);
    }
    this.#waiter?.();
  }
}

function joinPieces(pieces: Array<{ offset: number; data: Buffer }>): Buffer {
  return Buffer.concat([...pieces].sort((a, b) => a.offset - b.offset).map((piece) => piece.data));
}

/** One line about a received item, for assertion messages. */
export function describeReceived(item: Received): string {
  if (item.kind === 'framing-error') return `a bad PDU (${item.message})`;
  if (item.kind === 'reject') return `a Reject (reason 0x${item.reason.toString(16).padStart(2, '0')})`;
  if (item.kind === 'login-response') {
    return `a Login Response (status ${hex4((item.statusClass << 8) | item.statusDetail)})`;
  }
  return `a ${item.kind}`;
}

/** The 48-byte BHS of a PDU encoded without digests. */
export function bhsOf(pdu: InitiatorPdu): Buffer {
  return encodePduBytes(pdu, { headerDigest: false, dataDigest: false }).subarray(0, BHS_BYTES);
}
