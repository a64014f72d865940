/**
 * The data segment of a SCSI Response (RFC 7143 §11.4.7) and of an Async Message carrying a
 * SCSI event (§11.9.4): SenseLength (2 bytes, big-endian), that many bytes of SCSI sense data,
 * then response data (or iSCSI event data). An empty data segment means no sense data.
 */
import { assert } from '../../core/assert.js';
import { type DecodeResult, decoded, decodeFailed } from './errors.js';
import { EMPTY_DATA } from './messages.js';

const SENSE_LENGTH_BYTES = 2;

export interface SenseSegment {
  /** SCSI sense data (may alias the data segment). */
  readonly sense: Buffer;
  /** Response data or iSCSI event data after the sense data (may alias the data segment). */
  readonly responseData: Buffer;
}

export function encodeSenseSegment(sense: Buffer, responseData: Buffer = EMPTY_DATA): Buffer {
  assert(sense.length <= 0xffff, `sense data of ${sense.length} bytes does not fit SenseLength`);
  const out = Buffer.alloc(SENSE_LENGTH_BYTES + sense.length + responseData.length);
  out.writeUInt16BE(sense.length, 0);
  sense.copy(out, SENSE_LENGTH_BYTES);
  responseData.copy(out, SENSE_LENGTH_BYTES + sense.length);
  return out;
}

export function decodeSenseSegment(data: Buffer): DecodeResult<SenseSegment> {
  if (data.length === 0) return decoded({ sense: EMPTY_DATA, responseData: EMPTY_DATA });
  if (data.length < SENSE_LENGTH_BYTES)
    return badSense(`data segment of ${data.length} byte has no SenseLength`);
  const senseBytes = data.readUInt16BE(0);
  const senseEnd = SENSE_LENGTH_BYTES + senseBytes;
  if (senseEnd > data.length) {
    return badSense(`SenseLength ${senseBytes} runs past the ${data.length}-byte data segment`);
  }
  return decoded({
    sense: data.subarray(SENSE_LENGTH_BYTES, senseEnd),
    responseData: data.subarray(senseEnd),
  });
}

/** Only initiators receive these segments and initiators never send Reject, so there is no answer. */
function badSense<T>(message: string): DecodeResult<T> {
  return decodeFailed({
    code: 'ISCSI_ERR_BAD_SENSE_SEGMENT',
    message: `${message} (RFC 7143 §11.4.7); the target must send SenseLength then the sense bytes`,
    offset: 0,
  });
}
