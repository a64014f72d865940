/**
 * Typed iSCSI PDUs (RFC 7143 §11), one readonly interface per opcode, discriminated by `kind`.
 * The codec does not know its side: the target decodes initiator PDUs and encodes target PDUs,
 * the simulated initiator does the reverse, with the same types.
 *
 * Field names are the RFC's, in camelCase. Representation choices:
 * - `lun` is a bigint holding the 8 LUN bytes read big-endian, exactly as on the wire (SAM
 *   addressing is the SCSI layer's business). A bigint is immutable and compares with ===.
 * - `isid` is the 6-byte ISID as 12 lowercase hex digits (e.g. '400001370000'): immutable, usable
 *   as a Map key, and printable in logs. Bytes 0-5 of the wire field, in order.
 * - Fields the RFC marks "X or Reserved" are always decoded, so a PDU round-trips unchanged.
 *   Bits and fields the RFC calls reserved are written as zero and ignored when decoding.
 * - `data` is the data segment without padding; it may alias the framer's input (see framer.ts).
 * - `ahs` holds Additional Header Segments (§11.2.2) the codec does not lift into named fields:
 *   for a SCSI Command the Extended CDB and Bidirectional Read Length AHS become `cdb` and
 *   `bidirectionalReadExpectedDataTransferLength`; every other AHS is kept here as is.
 * - Flags that the RFC fixes to one value (the F bit of a NOP-Out, the I bit of a Login Request,
 *   the 0xffffffff task tag of a Reject) are not fields: the encoder writes the fixed value.
 */

/** One AHS (§11.2.2): the type byte, then AHSLength bytes of AHS-specific data (without padding). */
export interface AdditionalHeaderSegment {
  readonly ahsType: number;
  /** The bytes counted by AHSLength: the AHS-specific byte and everything after it. */
  readonly ahsSpecific: Buffer;
}

interface PduBase {
  /** AHS the codec does not name (see the file comment); usually empty. */
  readonly ahs: readonly AdditionalHeaderSegment[];
  /** The data segment without padding (may be empty). */
  readonly data: Buffer;
}

/** §11.3 (initiator). */
export interface ScsiCommandPdu extends PduBase {
  readonly kind: 'scsi-command';
  readonly immediate: boolean;
  readonly final: boolean;
  readonly read: boolean;
  readonly write: boolean;
  /** TaskAttribute (opcodes.ts). */
  readonly attr: number;
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  readonly expectedDataTransferLength: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  /**
   * The whole CDB: 16 bytes from the BHS plus any Extended CDB AHS (§11.2.2.3). Decoding always
   * yields at least 16 bytes; encoding zero-fills a shorter CDB to 16.
   */
  readonly cdb: Buffer;
  /** From the Bidirectional Read Expected Data Transfer Length AHS (§11.2.2.4), when present. */
  readonly bidirectionalReadExpectedDataTransferLength?: number;
}

/** §11.4 (target). The data segment holds SenseLength + sense data + response data (sense.ts). */
export interface ScsiResponsePdu extends PduBase {
  readonly kind: 'scsi-response';
  /** o: bidirectional read residual overflow. */
  readonly bidirectionalReadResidualOverflow: boolean;
  /** u: bidirectional read residual underflow. */
  readonly bidirectionalReadResidualUnderflow: boolean;
  /** O: residual overflow. */
  readonly residualOverflow: boolean;
  /** U: residual underflow. */
  readonly residualUnderflow: boolean;
  /** IscsiResponse (opcodes.ts). */
  readonly response: number;
  /** SCSI status (SAM); valid when response is COMMAND_COMPLETED_AT_TARGET. */
  readonly status: number;
  readonly initiatorTaskTag: number;
  readonly snackTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly expDataSN: number;
  readonly bidirectionalReadResidualCount: number;
  readonly residualCount: number;
}

/** §11.7 (initiator). */
export interface DataOutPdu extends PduBase {
  readonly kind: 'data-out';
  readonly final: boolean;
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly expStatSN: number;
  readonly dataSN: number;
  readonly bufferOffset: number;
}

/** §11.7 (target). */
export interface DataInPdu extends PduBase {
  readonly kind: 'data-in';
  readonly final: boolean;
  /** A: the target asks for a DataACK SNACK (ERL > 0). */
  readonly acknowledge: boolean;
  /** O: residual overflow (valid with statusPresent). */
  readonly residualOverflow: boolean;
  /** U: residual underflow (valid with statusPresent). */
  readonly residualUnderflow: boolean;
  /** S: this PDU carries the command's status (phase collapse, §11.7.4). */
  readonly statusPresent: boolean;
  /** SCSI status; valid with statusPresent. */
  readonly status: number;
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly dataSN: number;
  readonly bufferOffset: number;
  readonly residualCount: number;
}

/** §11.8 (target). */
export interface R2tPdu extends PduBase {
  readonly kind: 'r2t';
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly r2tSN: number;
  readonly bufferOffset: number;
  readonly desiredDataTransferLength: number;
}

/** §11.12 (initiator). The I bit is always 1 on the wire. */
export interface LoginRequestPdu extends PduBase {
  readonly kind: 'login-request';
  /** T: the initiator is ready to move to `nsg`. */
  readonly transit: boolean;
  /** C: the text in `data` continues in the next PDU. */
  readonly continue: boolean;
  /** Current stage, LoginStage (opcodes.ts). */
  readonly csg: number;
  /** Next stage, LoginStage; meaningful only with transit. */
  readonly nsg: number;
  readonly versionMax: number;
  readonly versionMin: number;
  /** 12 lowercase hex digits (see the file comment). */
  readonly isid: string;
  readonly tsih: number;
  readonly initiatorTaskTag: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

/** §11.13 (target). */
export interface LoginResponsePdu extends PduBase {
  readonly kind: 'login-response';
  readonly transit: boolean;
  readonly continue: boolean;
  readonly csg: number;
  readonly nsg: number;
  readonly versionMax: number;
  readonly versionActive: number;
  readonly isid: string;
  readonly tsih: number;
  readonly initiatorTaskTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** LoginStatusClass (opcodes.ts). */
  readonly statusClass: number;
  readonly statusDetail: number;
}

/** §11.10 (initiator). */
export interface TextRequestPdu extends PduBase {
  readonly kind: 'text-request';
  readonly immediate: boolean;
  readonly final: boolean;
  readonly continue: boolean;
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

/** §11.11 (target). */
export interface TextResponsePdu extends PduBase {
  readonly kind: 'text-response';
  readonly final: boolean;
  readonly continue: boolean;
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

/** §11.18 (initiator). `data` is the ping data. */
export interface NopOutPdu extends PduBase {
  readonly kind: 'nop-out';
  readonly immediate: boolean;
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

/** §11.19 (target). */
export interface NopInPdu extends PduBase {
  readonly kind: 'nop-in';
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  readonly targetTransferTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

/** §11.5 (initiator). */
export interface TmfRequestPdu extends PduBase {
  readonly kind: 'tmf-request';
  readonly immediate: boolean;
  /** TmfFunction (opcodes.ts). */
  readonly function: number;
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  readonly referencedTaskTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly refCmdSN: number;
  readonly expDataSN: number;
}

/** §11.6 (target). */
export interface TmfResponsePdu extends PduBase {
  readonly kind: 'tmf-response';
  /** TmfResponse (opcodes.ts). */
  readonly response: number;
  readonly initiatorTaskTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

/** §11.14 (initiator). */
export interface LogoutRequestPdu extends PduBase {
  readonly kind: 'logout-request';
  readonly immediate: boolean;
  /** LogoutReason (opcodes.ts). */
  readonly reasonCode: number;
  readonly initiatorTaskTag: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

/** §11.15 (target). */
export interface LogoutResponsePdu extends PduBase {
  readonly kind: 'logout-response';
  /** LogoutResponse (opcodes.ts). */
  readonly response: number;
  readonly initiatorTaskTag: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** Seconds. */
  readonly time2Wait: number;
  /** Seconds. */
  readonly time2Retain: number;
}

/** §11.17 (target). `data` is the rejected PDU's header (reject.ts builds one). */
export interface RejectPdu extends PduBase {
  readonly kind: 'reject';
  /** RejectReason (opcodes.ts). */
  readonly reason: number;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** DataSN/R2TSN for a rejected SNACK, else reserved (0). */
  readonly dataSN: number;
}

/** §11.9 (target). `data` holds SenseLength + sense data + iSCSI event data. */
export interface AsyncMessagePdu extends PduBase {
  readonly kind: 'async-message';
  readonly lun: bigint;
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** AsyncEvent (opcodes.ts). */
  readonly asyncEvent: number;
  readonly asyncVCode: number;
  readonly parameter1: number;
  readonly parameter2: number;
  readonly parameter3: number;
}

/** §11.16 (initiator). */
export interface SnackPdu extends PduBase {
  readonly kind: 'snack';
  /** SnackType (opcodes.ts). */
  readonly type: number;
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  /** The Target Transfer Tag, or the SNACK Tag of an R-Data SNACK. */
  readonly targetTransferTag: number;
  readonly expStatSN: number;
  readonly begRun: number;
  readonly runLength: number;
}

/** PDUs an initiator sends. */
export type InitiatorPdu =
  | ScsiCommandPdu
  | DataOutPdu
  | LoginRequestPdu
  | TextRequestPdu
  | NopOutPdu
  | TmfRequestPdu
  | LogoutRequestPdu
  | SnackPdu;

/** PDUs a target sends. */
export type TargetPdu =
  | ScsiResponsePdu
  | DataInPdu
  | R2tPdu
  | LoginResponsePdu
  | TextResponsePdu
  | NopInPdu
  | TmfResponsePdu
  | LogoutResponsePdu
  | RejectPdu
  | AsyncMessagePdu;

export type Pdu = InitiatorPdu | TargetPdu;
export type PduKind = Pdu['kind'];

/** The PDU of a given kind. */
export type PduOf<K extends PduKind> = Extract<Pdu, { kind: K }>;

/** A shared empty data segment (a zero-length Buffer has no bytes to modify, so sharing it is safe). */
export const EMPTY_DATA: Buffer = Buffer.alloc(0);
