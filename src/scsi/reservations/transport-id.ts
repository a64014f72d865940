/**
 * TransportIDs for iSCSI initiator ports (SPC-4 §7.6.4.6), the way PERSISTENT RESERVE OUT names
 * other initiators (SPEC_I_PT, REGISTER AND MOVE) and READ FULL STATUS names registrants.
 *
 * Layout: byte 0 = FORMAT CODE (bits 7:6) | PROTOCOL IDENTIFIER (bits 3:0, iSCSI = 5); bytes 2-3 =
 * ADDITIONAL LENGTH (what follows byte 3: at least 20 and a multiple of 4 when we write it);
 * from byte 4 the ASCII text, null-terminated and null-padded:
 * - format 00b: "<iSCSI name>" names the initiator device, i.e. every port of that name;
 * - format 01b: "<iSCSI name>,i,0x<ISID as 12 hex digits>" names one initiator port.
 * Reading is lenient about padding (other targets are) but strict about what must be there.
 */

export const ISCSI_PROTOCOL_ID = 0x5;
const HEADER_BYTES = 4;
const ADDITIONAL_LENGTH_MIN = 20;
/** RFC 7143 §4.2.7.1: an iSCSI name is at most 223 bytes. */
const ISCSI_NAME_BYTES_MAX = 223;
const SEPARATOR = ',i,0x';

/** An initiator port (isid set) or an initiator device (isid null), names lower-cased. */
export interface IscsiTransportId {
  readonly name: string;
  readonly isid: string | null;
}

export type TransportIdParse =
  | { readonly ok: true; readonly value: IscsiTransportId; readonly lengthBytes: number }
  | { readonly ok: false; readonly reason: string; readonly byte: number };

/** Reads one TransportID at `offset` of `bytes`, not past `end`. `byte` of a failure is absolute. */
export function decodeIscsiTransportId(bytes: Buffer, offset: number, end = bytes.length): TransportIdParse {
  const fail = (reason: string, byte: number): TransportIdParse => ({ ok: false, reason, byte });
  if (end - offset < HEADER_BYTES) return fail('TransportID header is cut short', offset);
  const first = bytes[offset]!;
  if ((first & 0x0f) !== ISCSI_PROTOCOL_ID) {
    return fail(`TransportID protocol identifier ${first & 0x0f} is not iSCSI (5)`, offset);
  }
  const format = first >> 6;
  if (format > 1) return fail(`TransportID format code ${format} is reserved for iSCSI`, offset);
  const additionalLength = bytes.readUInt16BE(offset + 2);
  const lengthBytes = HEADER_BYTES + additionalLength;
  if (additionalLength === 0 || offset + lengthBytes > end) {
    return fail(`TransportID additional length ${additionalLength} runs past its list`, offset + 2);
  }
  const field = bytes.subarray(offset + HEADER_BYTES, offset + lengthBytes);
  const nul = field.indexOf(0);
  const text = field.subarray(0, nul < 0 ? field.length : nul).toString('latin1');
  if (/[^\x21-\x7e]/.test(text)) return fail('TransportID text has a non-printable character', offset + 4);

  let name = text;
  let isid: string | null = null;
  if (format === 1) {
    const at = text.toLowerCase().lastIndexOf(SEPARATOR);
    if (at < 0) return fail('TransportID format 01b lacks the ",i,0x" separator', offset + 4);
    name = text.slice(0, at);
    isid = text.slice(at + SEPARATOR.length).toLowerCase();
    if (!/^[0-9a-f]{12}$/.test(isid)) {
      return fail('TransportID ISID is not 12 hex digits', offset + 4 + at + SEPARATOR.length);
    }
  }
  if (name === '' || name.length > ISCSI_NAME_BYTES_MAX) {
    return fail(`TransportID iSCSI name length ${name.length} is not 1..223`, offset + 4);
  }
  return { ok: true, value: { name: name.toLowerCase(), isid }, lengthBytes };
}

/** Writes a TransportID: format 01b when the ISID is known, 00b otherwise. */
export function encodeIscsiTransportId(id: IscsiTransportId): Buffer {
  const text = id.isid === null ? id.name : `${id.name}${SEPARATOR}${id.isid}`;
  const textBytes = Buffer.from(text, 'latin1');
  // Text plus its terminating null, padded to a multiple of four and at least the minimum.
  const additionalLength = Math.max(ADDITIONAL_LENGTH_MIN, Math.ceil((textBytes.length + 1) / 4) * 4);
  const out = Buffer.alloc(HEADER_BYTES + additionalLength);
  out[0] = ((id.isid === null ? 0 : 1) << 6) | ISCSI_PROTOCOL_ID;
  out.writeUInt16BE(additionalLength, 2);
  textBytes.copy(out, HEADER_BYTES);
  return out;
}
