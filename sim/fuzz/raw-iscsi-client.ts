/**
 * A bare-hands iSCSI initiator for the live-target fuzzer, on any Transport (the memory network
 * in virtual time): one stream, one framer, the target's PDUs in arrival order. It sends what it
 * is told to (typed PDUs through the real encoder, or raw bytes) and keeps the session numbers a
 * well-behaved peer would (CmdSN, ExpStatSN, the target's MaxRecvDataSegmentLength and digests
 * after a login), so that the hostile PDUs it sends reach deep into the target rather than
 * stopping at the first sequence check. It never answers the target's NOP-In pings on its own.
 *
 * Nothing here waits: the fuzz case drives virtual time and looks at `received` and `closed`.
 */
import type { Rng } from '../../src/core/rng.js';
import type { DigestOptions } from '../../src/iscsi/pdu/bhs.js';
import { decodePdu } from '../../src/iscsi/pdu/decode.js';
import { encodePduBytes, opcodeOfKind } from '../../src/iscsi/pdu/encode.js';
import { PduFramer } from '../../src/iscsi/pdu/framer.js';
import type { InitiatorPdu, LoginRequestPdu, TargetPdu } from '../../src/iscsi/pdu/messages.js';
import { isTargetOpcode, LoginStage, opcodeName } from '../../src/iscsi/pdu/opcodes.js';
import { encodeTextData, parseTextData, type TextPair } from '../../src/iscsi/pdu/text.js';
import type { ByteStream, CloseReason } from '../../transports/transport.js';

/** What arrived: a target PDU, or what the framer or decoder made of bad bytes from the target. */
export type Arrival =
  | TargetPdu
  | { readonly kind: 'bad-pdu'; readonly code: string; readonly detail?: string };

/** Before login completes, data segments are limited to the RFC default (§13.12). */
const LOGIN_DATA_SEGMENT_BYTES_MAX = 8192;

export class RawIscsiClient {
  readonly stream: ByteStream;
  readonly received: Arrival[] = [];
  closed: CloseReason | undefined;
  /** Bytes written so far. */
  sentBytes = 0;
  digests: DigestOptions = { headerDigest: false, dataDigest: false };
  cmdSN: number;
  expStatSN = 0;
  maxCmdSN: number;
  /** The target's declared MaxRecvDataSegmentLength (8192 until it says otherwise). */
  targetMaxRecvBytes = 8192;
  fullFeature = false;
  /** Every key the target answered in the login, last value wins. */
  readonly negotiated = new Map<string, string>();
  readonly isid: string;
  /**
   * The MaxRecvDataSegmentLength this client declares in its login (512..2^24-1): what the target
   * may send it in full feature phase. A longer data segment from the target is a protocol
   * violation, received as a 'bad-pdu' (ISCSI_ERR_OVERSIZE_DATA_SEGMENT) and skipped.
   */
  readonly maxRecvBytes: number;
  #itt = 1;
  readonly #framer = new PduFramer({
    headerDigest: false,
    dataDigest: false,
    maxRecvDataSegmentLength: LOGIN_DATA_SEGMENT_BYTES_MAX,
  });

  constructor(stream: ByteStream, rng: Rng, isid?: string, maxRecvBytes = 65_536) {
    this.stream = stream;
    this.maxRecvBytes = maxRecvBytes;
    this.isid =
      isid ??
      `80${rng.nextUint32().toString(16).padStart(8, '0')}${rng.int(0, 256).toString(16).padStart(2, '0')}`;
    this.cmdSN = rng.chance(0.9) ? 1 : rng.nextUint32();
    this.maxCmdSN = this.cmdSN;
    stream.attach({
      data: (chunk) => this.#receive(chunk),
      close: (reason) => {
        this.closed = reason;
      },
    });
  }

  nextItt(): number {
    const itt = this.#itt;
    this.#itt = (this.#itt + 1) & 0x7fff_ffff;
    return itt;
  }

  /** Takes a CmdSN for a non-immediate command. */
  takeCmdSN(): number {
    const cmdSN = this.cmdSN;
    this.cmdSN = (this.cmdSN + 1) >>> 0;
    return cmdSN;
  }

  send(pdu: InitiatorPdu): void {
    this.sendRaw(encodePduBytes(pdu, this.digests));
  }

  sendRaw(bytes: Buffer): void {
    if (this.closed !== undefined || bytes.length === 0) return;
    this.sentBytes += bytes.length;
    this.stream.write(bytes);
  }

  /** A negotiated numeric key, or `fallback`. */
  numberKey(key: string, fallback: number): number {
    const value = Number(this.negotiated.get(key));
    return Number.isSafeInteger(value) ? value : fallback;
  }

  /** PDUs of one kind received so far. */
  all<K extends TargetPdu['kind']>(kind: K): Extract<TargetPdu, { kind: K }>[] {
    return this.received.filter((pdu) => pdu.kind === kind) as Extract<TargetPdu, { kind: K }>[];
  }

  /** A login request carrying `pairs`, operational stage to full feature, as a real initiator opens. */
  loginRequest(pairs: readonly TextPair[], overrides: Partial<LoginRequestPdu> = {}): LoginRequestPdu {
    return {
      kind: 'login-request',
      ahs: [],
      data: encodeTextData(pairs),
      transit: true,
      continue: false,
      csg: LoginStage.LOGIN_OPERATIONAL_NEGOTIATION,
      nsg: LoginStage.FULL_FEATURE_PHASE,
      versionMax: 0,
      versionMin: 0,
      isid: this.isid,
      tsih: 0,
      initiatorTaskTag: 0x4000_0000,
      cid: 1,
      cmdSN: this.cmdSN,
      expStatSN: this.expStatSN,
      ...overrides,
    };
  }

  #receive(chunk: Buffer): void {
    this.#framer.push(chunk);
    for (let item = this.#framer.next(); item !== undefined; item = this.#framer.next()) {
      if (item.kind === 'error') {
        this.received.push({
          kind: 'bad-pdu',
          code: item.error.code,
          detail: `${opcodeName(item.header.opcode)} with a ${item.header.dataSegmentLength}-byte data segment`,
        });
        continue;
      }
      const decoded = decodePdu(item);
      if (!decoded.ok) {
        this.received.push({ kind: 'bad-pdu', code: decoded.error.code });
        continue;
      }
      const pdu = decoded.value;
      if (!isTargetOpcode(opcodeOfKind(pdu.kind))) {
        this.received.push({ kind: 'bad-pdu', code: `initiator opcode ${pdu.kind} from the target` });
        continue;
      }
      const answer = pdu as TargetPdu;
      this.#track(answer);
      this.received.push(answer);
    }
  }

  /** Session numbers, and the switch to full feature phase after the final Login Response. */
  #track(pdu: TargetPdu): void {
    if ('statSN' in pdu && pdu.kind !== 'data-in' && pdu.kind !== 'r2t') {
      this.expStatSN = (pdu.statSN + 1) >>> 0;
    } else if (pdu.kind === 'data-in' && pdu.statusPresent) {
      this.expStatSN = (pdu.statSN + 1) >>> 0;
    }
    if ('maxCmdSN' in pdu) this.maxCmdSN = pdu.maxCmdSN;
    if (pdu.kind !== 'login-response') return;
    const keys = this.negotiated;
    const parsed = parseTextData(pdu.data);
    if (parsed.ok) for (const [key, value] of parsed.value.pairs) keys.set(key, value);
    if (pdu.statusClass !== 0 || !pdu.transit || pdu.nsg !== LoginStage.FULL_FEATURE_PHASE) return;
    this.digests = {
      headerDigest: keys.get('HeaderDigest') === 'CRC32C',
      dataDigest: keys.get('DataDigest') === 'CRC32C',
    };
    this.#framer.setDigests(this.digests);
    this.#framer.setMaxRecvDataSegmentLength(this.maxRecvBytes);
    const declared = Number(keys.get('MaxRecvDataSegmentLength') ?? 8192);
    if (Number.isSafeInteger(declared) && declared > 0) this.targetMaxRecvBytes = declared;
    this.fullFeature = true;
  }
}
