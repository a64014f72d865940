/**
 * Decode problems are values, not exceptions (style: "decode failures are values").
 *
 * Bytes from a peer can be anything, so every decoder that reads peer-controlled lengths or
 * counts returns a `DecodeResult`; the caller logs `error.code` and, when it is the server,
 * answers with `error.answer` (an SD_RES_* code). Exceptions are kept for Collie's own bugs
 * (an encoder handed an impossible value, a decoder handed a buffer the framer never makes),
 * and those go through `assert` (src/core/assert.ts) so the simulator crashes and keeps the seed.
 *
 * Codes are stable strings; tests assert on codes, never on message text.
 */

export type WireErrorCode =
  /** A declared payload is larger than the configured limit; the framer skips it. */
  | 'SD_ERR_OVERSIZE_PAYLOAD'
  /** proto_ver is not acceptable for this opcode (section 1.4). */
  | 'SD_ERR_BAD_PROTO_VER'
  /** A structure needs more bytes than were supplied. */
  | 'SD_ERR_SHORT_BUFFER'
  /** A count or length field inside a structure is out of range (e.g. nr_participants > 31). */
  | 'SD_ERR_BAD_FIELD';

export interface WireError {
  readonly code: WireErrorCode;
  /** Names the thing that was wrong and, where there is one, the fix. */
  readonly message: string;
  /** Byte offset of the offending field inside the decoded buffer or stream, when known. */
  readonly offset?: number;
  /** The SD_RES_* result a server should send back for this problem, when there is one. */
  readonly answer?: number;
}

export type DecodeResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: WireError };

export function decoded<T>(value: T): DecodeResult<T> {
  return { ok: true, value };
}

export function decodeFailed<T>(error: WireError): DecodeResult<T> {
  return { ok: false, error };
}

/** A SD_ERR_SHORT_BUFFER result for `what` needing `neededBytes` but getting `gotBytes`. */
export function shortBuffer<T>(what: string, neededBytes: number, gotBytes: number): DecodeResult<T> {
  return decodeFailed({
    code: 'SD_ERR_SHORT_BUFFER',
    message: `${what} needs at least ${neededBytes} bytes but got ${gotBytes}; read the whole structure`,
    offset: gotBytes,
  });
}
