/**
 * Decodes one framed PDU (BHS, AHS area, data segment without padding; see framer.ts) into a
 * typed `Pdu`, for either side: opcodes of both directions decode, and the caller checks that the
 * peer sent one of its own (`isInitiatorOpcode`/`isTargetOpcode`).
 *
 * Rules:
 * - One small function per opcode reads fixed offsets, following the RFC 7143 §11 tables.
 * - Reserved bits and fields are ignored (RFC 7143 asks senders to zero them; being lenient here
 *   costs nothing). Fields marked "X or Reserved" are always decoded.
 * - Nothing throws on peer bytes: an unknown opcode, malformed AHS or pieces that do not match the
 *   BHS lengths come back as a `PduError` carrying the Reject reason to answer with.
 * - The decoded `data`, `cdb` tail and AHS bytes may alias the input buffers (no copies).
 */
import { ahsTypeCode, parseAhsArea } from './ahs.js';
import {
  BHS_BYTES,
  BhsOffset,
  readDataSegmentLength,
  readIsid,
  readOpcode,
  readTotalAhsBytes,
} from './bhs.js';
import { type DecodeResult, decoded, decodeFailed } from './errors.js';
import type {
  AdditionalHeaderSegment,
  AsyncMessagePdu,
  DataInPdu,
  DataOutPdu,
  LoginRequestPdu,
  LoginResponsePdu,
  LogoutRequestPdu,
  LogoutResponsePdu,
  NopInPdu,
  NopOutPdu,
  Pdu,
  R2tPdu,
  RejectPdu,
  ScsiCommandPdu,
  ScsiResponsePdu,
  SnackPdu,
  TextRequestPdu,
  TextResponsePdu,
  TmfRequestPdu,
  TmfResponsePdu,
} from './messages.js';
import {
  AhsType,
  FINAL_BIT,
  IMMEDIATE_BIT,
  InitiatorOpcode,
  opcodeName,
  RejectReason,
  TargetOpcode,
} from './opcodes.js';

/** The three pieces of a framed PDU. */
export interface PduFrame {
  /** Exactly 48 bytes. */
  readonly bhs: Buffer;
  /** Exactly TotalAHSLength × 4 bytes (often empty). */
  readonly ahs: Buffer;
  /** Exactly DataSegmentLength bytes: the data segment without padding or digest. */
  readonly data: Buffer;
}

/** Decoded fields every opcode reader gets. */
interface Parts {
  readonly bhs: Buffer;
  readonly ahs: readonly AdditionalHeaderSegment[];
  readonly data: Buffer;
}

export function decodePdu(frame: PduFrame): DecodeResult<Pdu> {
  const mismatch = checkFrame(frame);
  if (mismatch !== undefined) return mismatch;
  const { bhs } = frame;
  const ahsResult = parseAhsArea(frame.ahs);
  if (!ahsResult.ok) return ahsResult;
  const parts: Parts = { bhs, ahs: ahsResult.value, data: frame.data };
  const opcode = readOpcode(bhs);
  switch (opcode) {
    case InitiatorOpcode.SCSI_COMMAND:
      return decodeScsiCommand(parts);
    case InitiatorOpcode.SCSI_DATA_OUT:
      return decoded(decodeDataOut(parts));
    case InitiatorOpcode.LOGIN_REQUEST:
      return decoded(decodeLoginRequest(parts));
    case InitiatorOpcode.TEXT_REQUEST:
      return decoded(decodeTextRequest(parts));
    case InitiatorOpcode.NOP_OUT:
      return decoded(decodeNopOut(parts));
    case InitiatorOpcode.TMF_REQUEST:
      return decoded(decodeTmfRequest(parts));
    case InitiatorOpcode.LOGOUT_REQUEST:
      return decoded(decodeLogoutRequest(parts));
    case InitiatorOpcode.SNACK_REQUEST:
      return decoded(decodeSnack(parts));
    case TargetOpcode.SCSI_RESPONSE:
      return decoded(decodeScsiResponse(parts));
    case TargetOpcode.SCSI_DATA_IN:
      return decoded(decodeDataIn(parts));
    case TargetOpcode.R2T:
      return decoded(decodeR2t(parts));
    case TargetOpcode.LOGIN_RESPONSE:
      return decoded(decodeLoginResponse(parts));
    case TargetOpcode.TEXT_RESPONSE:
      return decoded(decodeTextResponse(parts));
    case TargetOpcode.NOP_IN:
      return decoded(decodeNopIn(parts));
    case TargetOpcode.TMF_RESPONSE:
      return decoded(decodeTmfResponse(parts));
    case TargetOpcode.LOGOUT_RESPONSE:
      return decoded(decodeLogoutResponse(parts));
    case TargetOpcode.REJECT:
      return decoded(decodeReject(parts));
    case TargetOpcode.ASYNC_MESSAGE:
      return decoded(decodeAsyncMessage(parts));
    default:
      return decodeFailed({
        code: 'ISCSI_ERR_UNKNOWN_OPCODE',
        message: `PDU opcode ${opcodeName(opcode)} is not defined by RFC 7143; Reject it as "command not supported"`,
        offset: 0,
        answer: RejectReason.COMMAND_NOT_SUPPORTED,
      });
  }
}

function checkFrame(frame: PduFrame): DecodeResult<Pdu> | undefined {
  if (frame.bhs.length !== BHS_BYTES) {
    return frameMismatch(`BHS has ${frame.bhs.length} bytes, not ${BHS_BYTES}`);
  }
  const ahsBytes = readTotalAhsBytes(frame.bhs);
  if (frame.ahs.length !== ahsBytes) {
    return frameMismatch(`AHS area has ${frame.ahs.length} bytes but TotalAHSLength says ${ahsBytes}`);
  }
  const dataBytes = readDataSegmentLength(frame.bhs);
  if (frame.data.length !== dataBytes) {
    return frameMismatch(
      `data segment has ${frame.data.length} bytes but DataSegmentLength says ${dataBytes}`,
    );
  }
  return undefined;
}

function frameMismatch(message: string): DecodeResult<Pdu> {
  return decodeFailed({
    code: 'ISCSI_ERR_FRAME_MISMATCH',
    message: `${message}; pass the pieces PduFramer returns, without padding or digests`,
    offset: 0,
    answer: RejectReason.PROTOCOL_ERROR,
  });
}

// ---- Field readers at the absolute offsets of the §11 tables ----

const u32 = (bhs: Buffer, offset: number): number => bhs.readUInt32BE(offset);
const u16 = (bhs: Buffer, offset: number): number => bhs.readUInt16BE(offset);
const bit = (bhs: Buffer, offset: number, mask: number): boolean => (bhs[offset]! & mask) !== 0;
const immediate = (bhs: Buffer): boolean => bit(bhs, 0, IMMEDIATE_BIT);
const final = (bhs: Buffer): boolean => bit(bhs, 1, FINAL_BIT);
const lun = (bhs: Buffer): bigint => bhs.readBigUInt64BE(BhsOffset.LUN);
const itt = (bhs: Buffer): number => u32(bhs, BhsOffset.INITIATOR_TASK_TAG);

/** §11.3. Lifts the Extended CDB (§11.2.2.3) and Bidirectional Read Length (§11.2.2.4) AHS. */
function decodeScsiCommand({ bhs, ahs, data }: Parts): DecodeResult<ScsiCommandPdu> {
  let cdbTail: Buffer | undefined;
  let bidirectionalReadLength: number | undefined;
  const otherAhs: AdditionalHeaderSegment[] = [];
  for (const segment of ahs) {
    const type = ahsTypeCode(segment);
    if (type === AhsType.EXTENDED_CDB) {
      if (cdbTail !== undefined) return badCommandAhs('SCSI Command carries two Extended CDB AHS');
      if (segment.ahsSpecific.length < 2) return badCommandAhs('Extended CDB AHS carries no CDB bytes');
      cdbTail = segment.ahsSpecific.subarray(1);
    } else if (type === AhsType.BIDIRECTIONAL_READ_LENGTH) {
      if (bidirectionalReadLength !== undefined) {
        return badCommandAhs('SCSI Command carries two Bidirectional Read Length AHS');
      }
      if (segment.ahsSpecific.length !== 5) {
        return badCommandAhs(
          `Bidirectional Read Length AHS has AHSLength ${segment.ahsSpecific.length}, not 5`,
        );
      }
      bidirectionalReadLength = segment.ahsSpecific.readUInt32BE(1);
    } else {
      otherAhs.push(segment);
    }
  }
  const flags = bhs[1]!;
  const cdbHead = bhs.subarray(32, 48);
  const pdu: ScsiCommandPdu = {
    kind: 'scsi-command',
    immediate: immediate(bhs),
    final: (flags & 0x80) !== 0,
    read: (flags & 0x40) !== 0,
    write: (flags & 0x20) !== 0,
    attr: flags & 0x07,
    lun: lun(bhs),
    initiatorTaskTag: itt(bhs),
    expectedDataTransferLength: u32(bhs, 20),
    cmdSN: u32(bhs, 24),
    expStatSN: u32(bhs, 28),
    cdb: cdbTail === undefined ? cdbHead : Buffer.concat([cdbHead, cdbTail]),
    ahs: otherAhs,
    data,
  };
  return decoded(
    bidirectionalReadLength === undefined
      ? pdu
      : { ...pdu, bidirectionalReadExpectedDataTransferLength: bidirectionalReadLength },
  );
}

function badCommandAhs<T>(message: string): DecodeResult<T> {
  return decodeFailed({
    code: 'ISCSI_ERR_BAD_AHS',
    message: `${message} (RFC 7143 §11.2.2); Reject it as an invalid PDU field`,
    offset: BHS_BYTES,
    answer: RejectReason.INVALID_PDU_FIELD,
  });
}

/** §11.4. */
function decodeScsiResponse({ bhs, ahs, data }: Parts): ScsiResponsePdu {
  const flags = bhs[1]!;
  return {
    kind: 'scsi-response',
    bidirectionalReadResidualOverflow: (flags & 0x10) !== 0,
    bidirectionalReadResidualUnderflow: (flags & 0x08) !== 0,
    residualOverflow: (flags & 0x04) !== 0,
    residualUnderflow: (flags & 0x02) !== 0,
    response: bhs[2]!,
    status: bhs[3]!,
    initiatorTaskTag: itt(bhs),
    snackTag: u32(bhs, 20),
    statSN: u32(bhs, 24),
    expCmdSN: u32(bhs, 28),
    maxCmdSN: u32(bhs, 32),
    expDataSN: u32(bhs, 36),
    bidirectionalReadResidualCount: u32(bhs, 40),
    residualCount: u32(bhs, 44),
    ahs,
    data,
  };
}

/** §11.7. */
function decodeDataOut({ bhs, ahs, data }: Parts): DataOutPdu {
  return {
    kind: 'data-out',
    final: final(bhs),
    lun: lun(bhs),
    initiatorTaskTag: itt(bhs),
    targetTransferTag: u32(bhs, 20),
    expStatSN: u32(bhs, 28),
    dataSN: u32(bhs, 36),
    bufferOffset: u32(bhs, 40),
    ahs,
    data,
  };
}

/** §11.7. */
function decodeDataIn({ bhs, ahs, data }: Parts): DataInPdu {
  const flags = bhs[1]!;
  return {
    kind: 'data-in',
    final: (flags & 0x80) !== 0,
    acknowledge: (flags & 0x40) !== 0,
    residualOverflow: (flags & 0x04) !== 0,
    residualUnderflow: (flags & 0x02) !== 0,
    statusPresent: (flags & 0x01) !== 0,
    status: bhs[3]!,
    lun: lun(bhs),
    initiatorTaskTag: itt(bhs),
    targetTransferTag: u32(bhs, 20),
    statSN: u32(bhs, 24),
    expCmdSN: u32(bhs, 28),
    maxCmdSN: u32(bhs, 32),
    dataSN: u32(bhs, 36),
    bufferOffset: u32(bhs, 40),
    residualCount: u32(bhs, 44),
    ahs,
    data,
  };
}

/** §11.8. */
function decodeR2t({ bhs, ahs, data }: Parts): R2tPdu {
  return {
    kind: 'r2t',
    lun: lun(bhs),
    initiatorTaskTag: itt(bhs),
    targetTransferTag: u32(bhs, 20),
    statSN: u32(bhs, 24),
    expCmdSN: u32(bhs, 28),
    maxCmdSN: u32(bhs, 32),
    r2tSN: u32(bhs, 36),
    bufferOffset: u32(bhs, 40),
    desiredDataTransferLength: u32(bhs, 44),
    ahs,
    data,
  };
}

/** Byte 1 of Login Request/Response: T C . . CSG(2) NSG(2) (§11.12.1-3). */
function loginFlags(bhs: Buffer): { transit: boolean; continue: boolean; csg: number; nsg: number } {
  const flags = bhs[1]!;
  return {
    transit: (flags & 0x80) !== 0,
    continue: (flags & 0x40) !== 0,
    csg: (flags >> 2) & 0x03,
    nsg: flags & 0x03,
  };
}

/** §11.12. */
function decodeLoginRequest({ bhs, ahs, data }: Parts): LoginRequestPdu {
  return {
    kind: 'login-request',
    ...loginFlags(bhs),
    versionMax: bhs[2]!,
    versionMin: bhs[3]!,
    isid: readIsid(bhs, 8),
    tsih: u16(bhs, 14),
    initiatorTaskTag: itt(bhs),
    cid: u16(bhs, 20),
    cmdSN: u32(bhs, 24),
    expStatSN: u32(bhs, 28),
    ahs,
    data,
  };
}

/** §11.13. */
function decodeLoginResponse({ bhs, ahs, data }: Parts): LoginResponsePdu {
  return {
    kind: 'login-response',
    ...loginFlags(bhs),
    versionMax: bhs[2]!,
    versionActive: bhs[3]!,
    isid: readIsid(bhs, 8),
    tsih: u16(bhs, 14),
    initiatorTaskTag: itt(bhs),
    statSN: u32(bhs, 24),
    expCmdSN: u32(bhs, 28),
    maxCmdSN: u32(bhs, 32),
    statusClass: bhs[36]!,
    statusDetail: bhs[37]!,
    ahs,
    data,
  };
}

/** §11.10. */
function decodeTextRequest({ bhs, ahs, data }: Parts): TextRequestPdu {
  return {
    kind: 'text-request',
    immediate: immediate(bhs),
    final: final(bhs),
    continue: bit(bhs, 1, 0x40),
    lun: lun(bhs),
    initiatorTaskTag: itt(bhs),
    targetTransferTag: u32(bhs, 20),
    cmdSN: u32(bhs, 24),
    expStatSN: u32(bhs, 28),
    ahs,
    data,
  };
}

/** §11.11. */
function decodeTextResponse({ bhs, ahs, data }: Parts): TextResponsePdu {
  return {
    kind: 'text-response',
    final: final(bhs),
    continue: bit(bhs, 1, 0x40),
    lun: lun(bhs),
    initiatorTaskTag: itt(bhs),
    targetTransferTag: u32(bhs, 20),
    statSN: u32(bhs, 24),
    expCmdSN: u32(bhs, 28),
    maxCmdSN: u32(bhs, 32),
    ahs,
    data,
  };
}

/** §11.18. */
function decodeNopOut({ bhs, ahs, data }: Parts): NopOutPdu {
  return {
    kind: 'nop-out',
    immediate: immediate(bhs),
    lun: lun(bhs),
    initiatorTaskTag: itt(bhs),
    targetTransferTag: u32(bhs, 20),
    cmdSN: u32(bhs, 24),
    expStatSN: u32(bhs, 28),
    ahs,
    data,
  };
}

/** §11.19. */
function decodeNopIn({ bhs, ahs, data }: Parts): NopInPdu {
  return {
    kind: 'nop-in',
    lun: lun(bhs),
    initiatorTaskTag: itt(bhs),
    targetTransferTag: u32(bhs, 20),
    statSN: u32(bhs, 24),
    expCmdSN: u32(bhs, 28),
    maxCmdSN: u32(bhs, 32),
    ahs,
    data,
  };
}

/** §11.5. */
function decodeTmfRequest({ bhs, ahs, data }: Parts): TmfRequestPdu {
  return {
    kind: 'tmf-request',
    immediate: immediate(bhs),
    function: bhs[1]! & 0x7f,
    lun: lun(bhs),
    initiatorTaskTag: itt(bhs),
    referencedTaskTag: u32(bhs, 20),
    cmdSN: u32(bhs, 24),
    expStatSN: u32(bhs, 28),
    refCmdSN: u32(bhs, 32),
    expDataSN: u32(bhs, 36),
    ahs,
    data,
  };
}

/** §11.6. */
function decodeTmfResponse({ bhs, ahs, data }: Parts): TmfResponsePdu {
  return {
    kind: 'tmf-response',
    response: bhs[2]!,
    initiatorTaskTag: itt(bhs),
    statSN: u32(bhs, 24),
    expCmdSN: u32(bhs, 28),
    maxCmdSN: u32(bhs, 32),
    ahs,
    data,
  };
}

/** §11.14. */
function decodeLogoutRequest({ bhs, ahs, data }: Parts): LogoutRequestPdu {
  return {
    kind: 'logout-request',
    immediate: immediate(bhs),
    reasonCode: bhs[1]! & 0x7f,
    initiatorTaskTag: itt(bhs),
    cid: u16(bhs, 20),
    cmdSN: u32(bhs, 24),
    expStatSN: u32(bhs, 28),
    ahs,
    data,
  };
}

/** §11.15. */
function decodeLogoutResponse({ bhs, ahs, data }: Parts): LogoutResponsePdu {
  return {
    kind: 'logout-response',
    response: bhs[2]!,
    initiatorTaskTag: itt(bhs),
    statSN: u32(bhs, 24),
    expCmdSN: u32(bhs, 28),
    maxCmdSN: u32(bhs, 32),
    time2Wait: u16(bhs, 40),
    time2Retain: u16(bhs, 42),
    ahs,
    data,
  };
}

/** §11.17. */
function decodeReject({ bhs, ahs, data }: Parts): RejectPdu {
  return {
    kind: 'reject',
    reason: bhs[2]!,
    statSN: u32(bhs, 24),
    expCmdSN: u32(bhs, 28),
    maxCmdSN: u32(bhs, 32),
    dataSN: u32(bhs, 36),
    ahs,
    data,
  };
}

/** §11.9. */
function decodeAsyncMessage({ bhs, ahs, data }: Parts): AsyncMessagePdu {
  return {
    kind: 'async-message',
    lun: lun(bhs),
    statSN: u32(bhs, 24),
    expCmdSN: u32(bhs, 28),
    maxCmdSN: u32(bhs, 32),
    asyncEvent: bhs[36]!,
    asyncVCode: bhs[37]!,
    parameter1: u16(bhs, 38),
    parameter2: u16(bhs, 40),
    parameter3: u16(bhs, 42),
    ahs,
    data,
  };
}

/** §11.16. */
function decodeSnack({ bhs, ahs, data }: Parts): SnackPdu {
  return {
    kind: 'snack',
    type: bhs[1]! & 0x0f,
    lun: lun(bhs),
    initiatorTaskTag: itt(bhs),
    targetTransferTag: u32(bhs, 20),
    expStatSN: u32(bhs, 28),
    begRun: u32(bhs, 40),
    runLength: u32(bhs, 44),
    ahs,
    data,
  };
}
