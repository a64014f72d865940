/**
 * The value formats of login and text keys (RFC 7143 §6.1), parsed strictly. Every parser
 * returns undefined for text that is not of its format, so the negotiator can answer Reject; none
 * throws on peer input.
 *
 * - boolean-value: exactly "Yes" or "No" (case matters).
 * - numerical-value: a decimal-constant (a single 0, or 1-9 then digits: no sign, no leading
 *   zeros) or a hex-constant ("0x"/"0X" and hex digits). At most 64 bits; Collie's ranges all fit
 *   in a safe integer, so bigger values only ever compare as out of range.
 * - list-of-values: comma-separated, no empty item, no whitespace.
 * - binary-value (CHAP_C, CHAP_R): a hex-constant, whose byte length is (digits + 1) / 2 rounded
 *   down (an odd digit count has an implied leading zero), or a base64-constant ("0b"/"0B" and
 *   RFC 4648 base64 with its padding).
 * - iSCSI names (§4.2.7): "iqn." + yyyy-mm + "." + naming authority [":" + anything], "eui." +
 *   16 hex digits, or "naa." + 16 or 32 hex digits; at most 223 bytes, no whitespace or control
 *   characters.
 */

const DECIMAL_CONSTANT = /^(0|[1-9][0-9]*)$/;
const HEX_CONSTANT = /^0[xX]([0-9a-fA-F]+)$/;
const BASE64_CONSTANT = /^0[bB]([A-Za-z0-9+/]+={0,2})$/;
/** Decimal digits above which a value cannot be a safe integer; such values parse as huge. */
const DECIMAL_DIGITS_SAFE = 15;

export const ISCSI_NAME_BYTES_MAX = 223;

export function parseBoolean(text: string): boolean | undefined {
  if (text === 'Yes') return true;
  if (text === 'No') return false;
  return undefined;
}

export function formatBoolean(value: boolean): 'Yes' | 'No' {
  return value ? 'Yes' : 'No';
}

/**
 * A numerical-value as a number. Values above Number.MAX_SAFE_INTEGER come back as Infinity:
 * still a number, and out of every range Collie checks.
 */
export function parseNumber(text: string): number | undefined {
  if (DECIMAL_CONSTANT.test(text)) {
    return text.length > DECIMAL_DIGITS_SAFE ? Number.POSITIVE_INFINITY : Number(text);
  }
  const hex = HEX_CONSTANT.exec(text);
  if (hex) {
    const digits = hex[1]!.replace(/^0+/, '');
    if (digits.length > 16) return undefined; // more than 64 bits
    const value = digits === '' ? 0 : Number.parseInt(digits, 16);
    return Number.isSafeInteger(value) ? value : Number.POSITIVE_INFINITY;
  }
  return undefined;
}

/** An integer in [min, max], or why not. */
export function parseNumberInRange(
  text: string,
  range: { readonly min: number; readonly max: number },
): { readonly value: number } | { readonly problem: 'not-a-number' | 'out-of-range' } {
  const value = parseNumber(text);
  if (value === undefined) return { problem: 'not-a-number' };
  if (value < range.min || value > range.max) return { problem: 'out-of-range' };
  return { value };
}

export function parseList(text: string): string[] | undefined {
  const items = text.split(',');
  for (const item of items) {
    if (item === '' || /\s/.test(item)) return undefined;
  }
  return items;
}

/** Bytes of a hex- or base64-constant; undefined for anything else (including decimal). */
export function decodeBinary(text: string): Buffer | undefined {
  const hex = HEX_CONSTANT.exec(text);
  if (hex) {
    const digits = hex[1]!;
    return Buffer.from(digits.length % 2 === 0 ? digits : `0${digits}`, 'hex');
  }
  const base64 = BASE64_CONSTANT.exec(text);
  if (base64) {
    const body = base64[1]!;
    // Buffer's base64 decoder skips junk silently; insist on whole 4-character groups instead.
    if (body.length % 4 !== 0) return undefined;
    const padding = body.endsWith('==') ? 2 : body.endsWith('=') ? 1 : 0;
    if (body.slice(0, body.length - padding).includes('=')) return undefined;
    return Buffer.from(body, 'base64');
  }
  return undefined;
}

/** The form libiscsi, open-iscsi and tgt send: "0x" and lowercase hex digits. */
export function encodeHex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

export function isIscsiName(text: string): boolean {
  if (utf8Bytes(text) > ISCSI_NAME_BYTES_MAX) return false;
  // Whitespace and control characters are never part of a name (§4.2.7).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control range is what we refuse
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return false;
  if (/^iqn\.\d{4}-\d{2}\.[^:]+(:.*)?$/i.test(text)) return true;
  if (/^eui\.[0-9a-f]{16}$/i.test(text)) return true;
  if (/^naa\.([0-9a-f]{16}|[0-9a-f]{32})$/i.test(text)) return true;
  return false;
}

/** iSCSI names compare after case folding (§4.2.7: names are normalized to lower case). */
export function sameIscsiName(left: string, right: string): boolean {
  return left.toLowerCase() === right.toLowerCase();
}
