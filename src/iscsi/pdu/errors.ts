/**
 * Decode and framing problems are values, not exceptions (style: "decode failures are values").
 *
 * Bytes from a peer can be anything, so every decoder of peer bytes returns a `DecodeResult`.
 * The caller logs `error.code` and, when there is one, answers with `error.answer`: the Reject
 * reason (RFC 7143 §11.17.1) a target sends back for this PDU. Exceptions are kept for Collie's
 * own bugs (an encoder handed an impossible value), and those go through `assert`
 * (src/core/assert.ts) so the simulator crashes and keeps the seed.
 *
 * Codes are stable strings; tests assert on codes, never on message text.
 */
import type { RejectReasonValue } from './opcodes.js';

export type PduErrorCode =
  /** The opcode is not one RFC 7143 defines; answer: Command not supported. */
  | 'ISCSI_ERR_UNKNOWN_OPCODE'
  /** The pieces handed to decodePdu do not match the lengths in the BHS (a caller bug or a bad split). */
  | 'ISCSI_ERR_FRAME_MISMATCH'
  /** An AHS is truncated, misaligned, duplicated or not allowed here; answer: Invalid PDU field. */
  | 'ISCSI_ERR_BAD_AHS'
  /** The header digest does not match: lengths cannot be trusted, the connection must close (§7.8). */
  | 'ISCSI_ERR_HEADER_DIGEST'
  /** The data digest does not match; answer: Data digest error, and the stream stays in sync. */
  | 'ISCSI_ERR_DATA_DIGEST'
  /** DataSegmentLength exceeds our MaxRecvDataSegmentLength; answer: Protocol error. */
  | 'ISCSI_ERR_OVERSIZE_DATA_SEGMENT'
  /** A text key=value pair has no '='. */
  | 'ISCSI_ERR_TEXT_MISSING_EQUALS'
  /** A text key is empty, longer than allowed, or has characters outside RFC 7143 §6.1. */
  | 'ISCSI_ERR_TEXT_BAD_KEY'
  /** A text value is longer than allowed. */
  | 'ISCSI_ERR_TEXT_VALUE_TOO_LONG'
  /** A text key or value is not valid UTF-8. */
  | 'ISCSI_ERR_TEXT_NOT_UTF8'
  /** The last text pair is not followed by a NUL (and the C bit did not say more follows). */
  | 'ISCSI_ERR_TEXT_UNTERMINATED'
  /** Continued text segments add up to more than the accumulator's cap. */
  | 'ISCSI_ERR_TEXT_TOO_LONG'
  /** The data segment of a SCSI Response or Async Message is shorter than its SenseLength says. */
  | 'ISCSI_ERR_BAD_SENSE_SEGMENT';

export interface PduError {
  readonly code: PduErrorCode;
  /** Names the thing that was wrong and, where there is one, the fix. */
  readonly message: string;
  /** Byte offset of the offending field inside the decoded buffer or stream, when known. */
  readonly offset?: number;
  /** The Reject reason a target should send back for this problem, when there is one. */
  readonly answer?: RejectReasonValue;
}

export type DecodeResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: PduError };

export function decoded<T>(value: T): DecodeResult<T> {
  return { ok: true, value };
}

export function decodeFailed<T>(error: PduError): DecodeResult<T> {
  return { ok: false, error };
}
