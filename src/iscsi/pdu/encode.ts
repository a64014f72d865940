/**
 * Encodes a typed `Pdu` into wire bytes, for either side (RFC 7143 §11).
 *
 * Output is a list of buffers so a large data segment is never copied:
 *   [header]                          when the data segment is empty
 *   [header, data]                    when no padding and no data digest are needed
 *   [header, data, padding + digest]  otherwise
 * where header = BHS + AHS + header digest (when negotiated). `data` is the caller's buffer
 * itself: do not modify it until the bytes are written. Every other byte (reserved fields,
 * padding) is zero because the header and trailer are allocated zero-filled.
 *
 * Fields the RFC fixes are written here, not taken from the PDU: the I bit of a Login Request
 * (always 1), the F bit where the RFC shows a constant 1, and the 0xffffffff Initiator Task Tag
 * of Reject and Async Message. A value that does not fit its field is Collie's bug and asserts.
 */
import { unreachable } from '../../core/assert.js';
import { ahsAreaBytes, bidirectionalReadLengthAhs, extendedCdbAhs, writeAhsArea } from './ahs.js';
import {
  BHS_BYTES,
  BhsOffset,
  checkBits,
  type DigestOptions,
  dataSegmentWireBytes,
  headerBytes,
  paddingBytes,
  putU8,
  putU16,
  putU24,
  putU32,
  putU64,
  writeIsid,
} from './bhs.js';
import { crc32c, writeDigest } from './digest.js';
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
  PduKind,
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
import { IMMEDIATE_BIT, InitiatorOpcode, RESERVED_TAG, TargetOpcode } from './opcodes.js';

/** CDB bytes that live in the BHS; the rest go to an Extended CDB AHS. */
const CDB_BHS_BYTES = 16;

const KIND_OPCODE: Readonly<Record<PduKind, number>> = {
  'scsi-command': InitiatorOpcode.SCSI_COMMAND,
  'data-out': InitiatorOpcode.SCSI_DATA_OUT,
  'login-request': InitiatorOpcode.LOGIN_REQUEST,
  'text-request': InitiatorOpcode.TEXT_REQUEST,
  'nop-out': InitiatorOpcode.NOP_OUT,
  'tmf-request': InitiatorOpcode.TMF_REQUEST,
  'logout-request': InitiatorOpcode.LOGOUT_REQUEST,
  snack: InitiatorOpcode.SNACK_REQUEST,
  'scsi-response': TargetOpcode.SCSI_RESPONSE,
  'data-in': TargetOpcode.SCSI_DATA_IN,
  r2t: TargetOpcode.R2T,
  'login-response': TargetOpcode.LOGIN_RESPONSE,
  'text-response': TargetOpcode.TEXT_RESPONSE,
  'nop-in': TargetOpcode.NOP_IN,
  'tmf-response': TargetOpcode.TMF_RESPONSE,
  'logout-response': TargetOpcode.LOGOUT_RESPONSE,
  reject: TargetOpcode.REJECT,
  'async-message': TargetOpcode.ASYNC_MESSAGE,
};

export function opcodeOfKind(kind: PduKind): number {
  return KIND_OPCODE[kind];
}

export function encodePdu(pdu: Pdu, digests: DigestOptions): Buffer[] {
  const ahs = ahsOf(pdu);
  const ahsBytes = ahsAreaBytes(ahs);
  // From Node's shared pool, then zeroed: cheaper than a zero-filled ArrayBuffer of its own.
  const header = Buffer.allocUnsafe(headerBytes(ahsBytes, digests)).fill(0);
  header[BhsOffset.OPCODE] = KIND_OPCODE[pdu.kind] | (immediateOf(pdu) ? IMMEDIATE_BIT : 0);
  header[BhsOffset.TOTAL_AHS_LENGTH] = ahsBytes / 4; // exact: AHS wire sizes are multiples of 4
  putU24(header, BhsOffset.DATA_SEGMENT_LENGTH, pdu.data.length, 'DataSegmentLength');
  writeFields(header, pdu);
  writeAhsArea(header, BHS_BYTES, ahs);
  if (digests.headerDigest) {
    const covered = BHS_BYTES + ahsBytes;
    writeDigest(header, covered, crc32c(header.subarray(0, covered)));
  }
  const dataBytes = pdu.data.length;
  if (dataBytes === 0) return [header];
  const trailer = Buffer.alloc(dataSegmentWireBytes(dataBytes, digests) - dataBytes);
  if (trailer.length === 0) return [header, pdu.data];
  if (digests.dataDigest) {
    const padding = paddingBytes(dataBytes);
    writeDigest(trailer, padding, crc32c([pdu.data, trailer.subarray(0, padding)]));
  }
  return [header, pdu.data, trailer];
}

/** The whole PDU in one buffer (copies the data segment; for tests and small PDUs). */
export function encodePduBytes(pdu: Pdu, digests: DigestOptions): Buffer {
  return Buffer.concat(encodePdu(pdu, digests));
}

function immediateOf(pdu: Pdu): boolean {
  if (pdu.kind === 'login-request') return true; // §11.12: the I bit is always 1
  return 'immediate' in pdu ? pdu.immediate : false;
}

/** The AHS list on the wire: for a SCSI Command, the lifted CDB tail and read length first. */
function ahsOf(pdu: Pdu): readonly AdditionalHeaderSegment[] {
  if (pdu.kind !== 'scsi-command') return pdu.ahs;
  const lifted: AdditionalHeaderSegment[] = [];
  if (pdu.cdb.length > CDB_BHS_BYTES) lifted.push(extendedCdbAhs(pdu.cdb.subarray(CDB_BHS_BYTES)));
  const readLength = pdu.bidirectionalReadExpectedDataTransferLength;
  if (readLength !== undefined) {
    checkBits(readLength, 32, 'bidirectionalReadExpectedDataTransferLength');
    lifted.push(bidirectionalReadLengthAhs(readLength));
  }
  return lifted.length === 0 ? pdu.ahs : [...lifted, ...pdu.ahs];
}

function writeFields(bhs: Buffer, pdu: Pdu): void {
  switch (pdu.kind) {
    case 'scsi-command':
      writeScsiCommand(bhs, pdu);
      return;
    case 'scsi-response':
      writeScsiResponse(bhs, pdu);
      return;
    case 'data-out':
      writeDataOut(bhs, pdu);
      return;
    case 'data-in':
      writeDataIn(bhs, pdu);
      return;
    case 'r2t':
      writeR2t(bhs, pdu);
      return;
    case 'login-request':
      writeLoginRequest(bhs, pdu);
      return;
    case 'login-response':
      writeLoginResponse(bhs, pdu);
      return;
    case 'text-request':
      writeTextRequest(bhs, pdu);
      return;
    case 'text-response':
      writeTextResponse(bhs, pdu);
      return;
    case 'nop-out':
      writeNopOut(bhs, pdu);
      return;
    case 'nop-in':
      writeNopIn(bhs, pdu);
      return;
    case 'tmf-request':
      writeTmfRequest(bhs, pdu);
      return;
    case 'tmf-response':
      writeTmfResponse(bhs, pdu);
      return;
    case 'logout-request':
      writeLogoutRequest(bhs, pdu);
      return;
    case 'logout-response':
      writeLogoutResponse(bhs, pdu);
      return;
    case 'reject':
      writeReject(bhs, pdu);
      return;
    case 'async-message':
      writeAsyncMessage(bhs, pdu);
      return;
    case 'snack':
      writeSnack(bhs, pdu);
      return;
    default:
      unreachable(pdu, 'encodePdu got a PDU of unknown kind');
  }
}

/** Builds a flags byte from (condition, mask) pairs. */
function flags(...bits: [boolean, number][]): number {
  let value = 0;
  for (const [on, mask] of bits) if (on) value |= mask;
  return value;
}

/** Bytes 24-35 of every target PDU that carries them. */
function writeTargetSequence(bhs: Buffer, pdu: { statSN: number; expCmdSN: number; maxCmdSN: number }): void {
  putU32(bhs, 24, pdu.statSN, 'StatSN');
  putU32(bhs, 28, pdu.expCmdSN, 'ExpCmdSN');
  putU32(bhs, 32, pdu.maxCmdSN, 'MaxCmdSN');
}

/** §11.3. */
function writeScsiCommand(bhs: Buffer, pdu: ScsiCommandPdu): void {
  const attr = checkBits(pdu.attr, 3, 'ATTR');
  bhs[1] = flags([pdu.final, 0x80], [pdu.read, 0x40], [pdu.write, 0x20]) | attr;
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.expectedDataTransferLength, 'Expected Data Transfer Length');
  putU32(bhs, 24, pdu.cmdSN, 'CmdSN');
  putU32(bhs, 28, pdu.expStatSN, 'ExpStatSN');
  pdu.cdb.copy(bhs, 32, 0, Math.min(pdu.cdb.length, CDB_BHS_BYTES));
}

/** §11.4. */
function writeScsiResponse(bhs: Buffer, pdu: ScsiResponsePdu): void {
  bhs[1] = flags(
    [true, 0x80],
    [pdu.bidirectionalReadResidualOverflow, 0x10],
    [pdu.bidirectionalReadResidualUnderflow, 0x08],
    [pdu.residualOverflow, 0x04],
    [pdu.residualUnderflow, 0x02],
  );
  putU8(bhs, 2, pdu.response, 'Response');
  putU8(bhs, 3, pdu.status, 'Status');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.snackTag, 'SNACK Tag');
  writeTargetSequence(bhs, pdu);
  putU32(bhs, 36, pdu.expDataSN, 'ExpDataSN');
  putU32(bhs, 40, pdu.bidirectionalReadResidualCount, 'Bidirectional Read Residual Count');
  putU32(bhs, 44, pdu.residualCount, 'Residual Count');
}

/** §11.7. */
function writeDataOut(bhs: Buffer, pdu: DataOutPdu): void {
  bhs[1] = flags([pdu.final, 0x80]);
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.targetTransferTag, 'Target Transfer Tag');
  putU32(bhs, 28, pdu.expStatSN, 'ExpStatSN');
  putU32(bhs, 36, pdu.dataSN, 'DataSN');
  putU32(bhs, 40, pdu.bufferOffset, 'Buffer Offset');
}

/** §11.7. */
function writeDataIn(bhs: Buffer, pdu: DataInPdu): void {
  bhs[1] = flags(
    [pdu.final, 0x80],
    [pdu.acknowledge, 0x40],
    [pdu.residualOverflow, 0x04],
    [pdu.residualUnderflow, 0x02],
    [pdu.statusPresent, 0x01],
  );
  putU8(bhs, 3, pdu.status, 'Status');
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.targetTransferTag, 'Target Transfer Tag');
  writeTargetSequence(bhs, pdu);
  putU32(bhs, 36, pdu.dataSN, 'DataSN');
  putU32(bhs, 40, pdu.bufferOffset, 'Buffer Offset');
  putU32(bhs, 44, pdu.residualCount, 'Residual Count');
}

/** §11.8. */
function writeR2t(bhs: Buffer, pdu: R2tPdu): void {
  bhs[1] = 0x80;
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.targetTransferTag, 'Target Transfer Tag');
  writeTargetSequence(bhs, pdu);
  putU32(bhs, 36, pdu.r2tSN, 'R2TSN');
  putU32(bhs, 40, pdu.bufferOffset, 'Buffer Offset');
  putU32(bhs, 44, pdu.desiredDataTransferLength, 'Desired Data Transfer Length');
}

/** Byte 1 of Login Request/Response: T C . . CSG(2) NSG(2) (§11.12.1-3). */
function loginFlags(pdu: { transit: boolean; continue: boolean; csg: number; nsg: number }): number {
  const csg = checkBits(pdu.csg, 2, 'CSG');
  const nsg = checkBits(pdu.nsg, 2, 'NSG');
  return flags([pdu.transit, 0x80], [pdu.continue, 0x40]) | (csg << 2) | nsg;
}

/** §11.12. */
function writeLoginRequest(bhs: Buffer, pdu: LoginRequestPdu): void {
  bhs[1] = loginFlags(pdu);
  putU8(bhs, 2, pdu.versionMax, 'Version-max');
  putU8(bhs, 3, pdu.versionMin, 'Version-min');
  writeIsid(bhs, 8, pdu.isid);
  putU16(bhs, 14, pdu.tsih, 'TSIH');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU16(bhs, 20, pdu.cid, 'CID');
  putU32(bhs, 24, pdu.cmdSN, 'CmdSN');
  putU32(bhs, 28, pdu.expStatSN, 'ExpStatSN');
}

/** §11.13. */
function writeLoginResponse(bhs: Buffer, pdu: LoginResponsePdu): void {
  bhs[1] = loginFlags(pdu);
  putU8(bhs, 2, pdu.versionMax, 'Version-max');
  putU8(bhs, 3, pdu.versionActive, 'Version-active');
  writeIsid(bhs, 8, pdu.isid);
  putU16(bhs, 14, pdu.tsih, 'TSIH');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  writeTargetSequence(bhs, pdu);
  putU8(bhs, 36, pdu.statusClass, 'Status-Class');
  putU8(bhs, 37, pdu.statusDetail, 'Status-Detail');
}

/** §11.10. */
function writeTextRequest(bhs: Buffer, pdu: TextRequestPdu): void {
  bhs[1] = flags([pdu.final, 0x80], [pdu.continue, 0x40]);
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.targetTransferTag, 'Target Transfer Tag');
  putU32(bhs, 24, pdu.cmdSN, 'CmdSN');
  putU32(bhs, 28, pdu.expStatSN, 'ExpStatSN');
}

/** §11.11. */
function writeTextResponse(bhs: Buffer, pdu: TextResponsePdu): void {
  bhs[1] = flags([pdu.final, 0x80], [pdu.continue, 0x40]);
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.targetTransferTag, 'Target Transfer Tag');
  writeTargetSequence(bhs, pdu);
}

/** §11.18. */
function writeNopOut(bhs: Buffer, pdu: NopOutPdu): void {
  bhs[1] = 0x80;
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.targetTransferTag, 'Target Transfer Tag');
  putU32(bhs, 24, pdu.cmdSN, 'CmdSN');
  putU32(bhs, 28, pdu.expStatSN, 'ExpStatSN');
}

/** §11.19. */
function writeNopIn(bhs: Buffer, pdu: NopInPdu): void {
  bhs[1] = 0x80;
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.targetTransferTag, 'Target Transfer Tag');
  writeTargetSequence(bhs, pdu);
}

/** §11.5. */
function writeTmfRequest(bhs: Buffer, pdu: TmfRequestPdu): void {
  bhs[1] = 0x80 | checkBits(pdu.function, 7, 'Function');
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.referencedTaskTag, 'Referenced Task Tag');
  putU32(bhs, 24, pdu.cmdSN, 'CmdSN');
  putU32(bhs, 28, pdu.expStatSN, 'ExpStatSN');
  putU32(bhs, 32, pdu.refCmdSN, 'RefCmdSN');
  putU32(bhs, 36, pdu.expDataSN, 'ExpDataSN');
}

/** §11.6. */
function writeTmfResponse(bhs: Buffer, pdu: TmfResponsePdu): void {
  bhs[1] = 0x80;
  putU8(bhs, 2, pdu.response, 'Response');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  writeTargetSequence(bhs, pdu);
}

/** §11.14. */
function writeLogoutRequest(bhs: Buffer, pdu: LogoutRequestPdu): void {
  bhs[1] = 0x80 | checkBits(pdu.reasonCode, 7, 'Reason Code');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU16(bhs, 20, pdu.cid, 'CID');
  putU32(bhs, 24, pdu.cmdSN, 'CmdSN');
  putU32(bhs, 28, pdu.expStatSN, 'ExpStatSN');
}

/** §11.15. */
function writeLogoutResponse(bhs: Buffer, pdu: LogoutResponsePdu): void {
  bhs[1] = 0x80;
  putU8(bhs, 2, pdu.response, 'Response');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  writeTargetSequence(bhs, pdu);
  putU16(bhs, 40, pdu.time2Wait, 'Time2Wait');
  putU16(bhs, 42, pdu.time2Retain, 'Time2Retain');
}

/** §11.17. */
function writeReject(bhs: Buffer, pdu: RejectPdu): void {
  bhs[1] = 0x80;
  putU8(bhs, 2, pdu.reason, 'Reason');
  putU32(bhs, 16, RESERVED_TAG, 'Initiator Task Tag');
  writeTargetSequence(bhs, pdu);
  putU32(bhs, 36, pdu.dataSN, 'DataSN/R2TSN');
}

/** §11.9. */
function writeAsyncMessage(bhs: Buffer, pdu: AsyncMessagePdu): void {
  bhs[1] = 0x80;
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, RESERVED_TAG, 'Initiator Task Tag');
  writeTargetSequence(bhs, pdu);
  putU8(bhs, 36, pdu.asyncEvent, 'AsyncEvent');
  putU8(bhs, 37, pdu.asyncVCode, 'AsyncVCode');
  putU16(bhs, 38, pdu.parameter1, 'Parameter1');
  putU16(bhs, 40, pdu.parameter2, 'Parameter2');
  putU16(bhs, 42, pdu.parameter3, 'Parameter3');
}

/** §11.16. */
function writeSnack(bhs: Buffer, pdu: SnackPdu): void {
  bhs[1] = 0x80 | checkBits(pdu.type, 4, 'Type');
  putU64(bhs, 8, pdu.lun, 'LUN');
  putU32(bhs, 16, pdu.initiatorTaskTag, 'Initiator Task Tag');
  putU32(bhs, 20, pdu.targetTransferTag, 'Target Transfer Tag');
  putU32(bhs, 28, pdu.expStatSN, 'ExpStatSN');
  putU32(bhs, 40, pdu.begRun, 'BegRun');
  putU32(bhs, 44, pdu.runLength, 'RunLength');
}
