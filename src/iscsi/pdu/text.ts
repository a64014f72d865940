/**
 * Login and Text data segments: key=value pairs (RFC 7143 §6.1).
 *
 * Rules:
 * - Every pair, the last one included, is `key=value` followed by one NUL (0x00).
 * - A key is 1..63 bytes of letters, digits, '.', '-', '+', '@', '_' (and '#', which the
 *   "X#..." IANA-registered extension keys use). A value is UTF-8, possibly empty,
 *   with no NUL; its maximum length depends on the key, so the parser only enforces an outer
 *   limit (8192 bytes by default) and the negotiator applies per-key limits.
 * - Order is kept. A key may repeat legitimately (TargetAddress in SendTargets answers), so
 *   duplicates are reported, not refused; during login a renegotiated key is the caller's
 *   protocol error (§6.1, §6.2).
 * - Robustness: empty entries (two NULs in a row, as some peers pad inside the segment) are
 *   skipped rather than refused.
 *
 * A pair may straddle PDUs when the C (Continue) bit of a Text or Login PDU is set (§11.10.2,
 * §11.12.2): join the segments with `TextAccumulator` before parsing.
 */
import { assert } from '../../core/assert.js';
import { type DecodeResult, decoded, decodeFailed, type PduError } from './errors.js';
import { RejectReason } from './opcodes.js';

export const TEXT_KEY_BYTES_MAX = 63;
export const TEXT_VALUE_BYTES_MAX_DEFAULT = 8192;
/** Default cap on the text of one negotiation sequence joined from continued PDUs. */
export const TEXT_ACCUMULATED_BYTES_MAX_DEFAULT = 64 * 1024;

const KEY_PATTERN = /^[A-Za-z0-9.\-+@_#]+$/;
const NUL = 0x00;
const EQUALS = 0x3d;

export interface TextLimits {
  /** At most 63 (RFC 7143 §6.1). */
  readonly keyBytesMax?: number;
  readonly valueBytesMax?: number;
}

export type TextPair = readonly [key: string, value: string];

export interface TextKeyValues {
  /** The pairs in the order received. */
  readonly pairs: readonly TextPair[];
  /** Keys that appear more than once, each listed once, in order of their second appearance. */
  readonly duplicateKeys: readonly string[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseTextData(data: Buffer, limits: TextLimits = {}): DecodeResult<TextKeyValues> {
  const keyBytesMax = Math.min(limits.keyBytesMax ?? TEXT_KEY_BYTES_MAX, TEXT_KEY_BYTES_MAX);
  const valueBytesMax = limits.valueBytesMax ?? TEXT_VALUE_BYTES_MAX_DEFAULT;
  const pairs: TextPair[] = [];
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  let start = 0;
  // Each round consumes at least one byte (the NUL), so this ends within data.length rounds.
  while (start < data.length) {
    const nul = data.indexOf(NUL, start);
    if (nul === -1) {
      return textError(
        'ISCSI_ERR_TEXT_UNTERMINATED',
        'the last key=value pair is not followed by a NUL; every pair must end with one (a pair split across PDUs needs the C bit)',
        start,
      );
    }
    if (nul > start) {
      const pair = parsePair(data.subarray(start, nul), start, keyBytesMax, valueBytesMax);
      if (!pair.ok) return pair;
      const [key] = pair.value;
      if (seen.has(key)) duplicates.add(key);
      seen.add(key);
      pairs.push(pair.value);
    }
    start = nul + 1;
  }
  return decoded({ pairs, duplicateKeys: [...duplicates] });
}

function parsePair(
  entry: Buffer,
  offset: number,
  keyBytesMax: number,
  valueBytesMax: number,
): DecodeResult<TextPair> {
  const equals = entry.indexOf(EQUALS);
  if (equals === -1) {
    return textError('ISCSI_ERR_TEXT_MISSING_EQUALS', `text entry "${preview(entry)}" has no '='`, offset);
  }
  const keyBytes = entry.subarray(0, equals);
  const valueBytes = entry.subarray(equals + 1);
  const key = decodeUtf8(keyBytes);
  if (key === undefined) return textError('ISCSI_ERR_TEXT_NOT_UTF8', 'text key is not valid UTF-8', offset);
  if (keyBytes.length === 0 || keyBytes.length > keyBytesMax || !KEY_PATTERN.test(key)) {
    return textError(
      'ISCSI_ERR_TEXT_BAD_KEY',
      `text key "${preview(keyBytes)}" must be 1..${keyBytesMax} bytes of letters, digits and . - + @ _ #`,
      offset,
    );
  }
  if (valueBytes.length > valueBytesMax) {
    return textError(
      'ISCSI_ERR_TEXT_VALUE_TOO_LONG',
      `value of text key ${key} has ${valueBytes.length} bytes, above the ${valueBytesMax}-byte limit`,
      offset + equals + 1,
    );
  }
  const value = decodeUtf8(valueBytes);
  if (value === undefined) {
    return textError(
      'ISCSI_ERR_TEXT_NOT_UTF8',
      `value of text key ${key} is not valid UTF-8`,
      offset + equals + 1,
    );
  }
  return decoded([key, value] as const);
}

function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The start of a peer's bytes, safe to put in a log line. */
function preview(bytes: Buffer): string {
  return bytes
    .subarray(0, 32)
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, '?');
}

function textError<T>(code: PduError['code'], message: string, offset: number): DecodeResult<T> {
  // A Text Request the target cannot parse is rejected; in login the caller answers with a
  // Login Response of class 2 (initiator error) instead (§11.13.5).
  return decodeFailed({ code, message, offset, answer: RejectReason.PROTOCOL_ERROR });
}

/** True if `key` may be sent (used by encodeTextData; callers may check user input with it). */
export function isTextKey(key: string): boolean {
  return Buffer.byteLength(key, 'utf8') <= TEXT_KEY_BYTES_MAX && KEY_PATTERN.test(key);
}

/** `key=value\0` for each pair, in order. A bad key or a NUL in a value is Collie's bug. */
export function encodeTextData(pairs: readonly TextPair[]): Buffer {
  const parts: string[] = [];
  for (const [key, value] of pairs) {
    assert(isTextKey(key), `text key "${key}" is not 1..63 bytes of letters, digits and . - + @ _ #`);
    assert(!value.includes('\0'), `value of text key ${key} contains a NUL`);
    parts.push(`${key}=${value}\0`);
  }
  return Buffer.from(parts.join(''), 'utf8');
}

export interface TextAccumulatorOptions {
  /** Cap on the joined text of one sequence of continued PDUs. */
  readonly bytesMax: number;
}

/**
 * Joins the data segments of a sequence of Login or Text PDUs linked by the C bit (§11.10.2,
 * §11.12.2) into one buffer to parse. `push(data, continues)` returns undefined while more is to
 * come and the joined text when a PDU arrives with C=0; pieces are concatenated only then, and
 * only if there is more than one. Exceeding `bytesMax` returns ISCSI_ERR_TEXT_TOO_LONG and
 * forgets the sequence.
 *
 * Ownership: the pieces are kept by reference until the sequence ends (they may alias socket
 * chunks, which is fine as long as nobody writes to those).
 */
export class TextAccumulator {
  readonly #bytesMax: number;
  #pieces: Buffer[] = [];
  #pendingBytes = 0;

  constructor(opts: TextAccumulatorOptions = { bytesMax: TEXT_ACCUMULATED_BYTES_MAX_DEFAULT }) {
    assert(
      Number.isSafeInteger(opts.bytesMax) && opts.bytesMax >= 0,
      `bytesMax ${opts.bytesMax} is not a byte count`,
    );
    this.#bytesMax = opts.bytesMax;
  }

  /** Bytes held from PDUs that had C=1. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  push(data: Buffer, continues: boolean): DecodeResult<Buffer | undefined> {
    const totalBytes = this.#pendingBytes + data.length;
    if (totalBytes > this.#bytesMax) {
      this.reset();
      return decodeFailed({
        code: 'ISCSI_ERR_TEXT_TOO_LONG',
        message: `continued text adds up to ${totalBytes} bytes, above the ${this.#bytesMax}-byte cap; the peer must send less`,
        offset: totalBytes,
        answer: RejectReason.PROTOCOL_ERROR,
      });
    }
    this.#pieces.push(data);
    this.#pendingBytes = totalBytes;
    if (continues) return decoded(undefined);
    const joined = this.#pieces.length === 1 ? this.#pieces[0]! : Buffer.concat(this.#pieces, totalBytes);
    this.reset();
    return decoded(joined);
  }

  /** Forgets a sequence in progress (e.g. when the login or text exchange is abandoned). */
  reset(): void {
    this.#pieces = [];
    this.#pendingBytes = 0;
  }
}
