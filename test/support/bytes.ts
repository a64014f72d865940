/**
 * A deliberately naive byte builder for codec tests. It shares no code with
 * src/sheepdog/wire/writer.ts (no Buffer.write* helpers, no cursor), so an encoder bug cannot
 * hide behind the same bug in the expected bytes. Sheep is little-endian (le16/le32/le64), iSCSI
 * is big-endian (be16/be24/be32/be64); everything is spelled out byte by byte.
 */

/** "01 12 | 0000" -> bytes. Spaces, newlines and '|' are ignored; anything else must be hex. */
export function hex(text: string): Buffer {
  const digits = text.replace(/[\s|]/g, '');
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) {
    throw new Error(`hex fixture "${text}" has an odd length or a non-hex character`);
  }
  const out: number[] = [];
  for (let i = 0; i < digits.length; i += 2) out.push(Number.parseInt(digits.slice(i, i + 2), 16));
  return Buffer.from(out);
}

export function u8(value: number): number[] {
  return [value & 0xff];
}

export function le16(value: number): number[] {
  return [value & 0xff, (value >> 8) & 0xff];
}

export function le32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
}

export function le64(value: bigint): number[] {
  const out: number[] = [];
  let rest = value;
  for (let i = 0; i < 8; i++) {
    out.push(Number(rest % 256n));
    rest /= 256n;
  }
  return out;
}

export function be16(value: number): number[] {
  return [(value >> 8) & 0xff, value & 0xff];
}

export function be24(value: number): number[] {
  return [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
}

export function be32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

export function be64(value: bigint): number[] {
  return le64(value).reverse();
}

export function zeros(count: number): number[] {
  return new Array<number>(count).fill(0);
}

/** ASCII text NUL-padded to a field of `fieldBytes`. */
export function cstr(text: string, fieldBytes: number): number[] {
  const out = zeros(fieldBytes);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** Concatenates parts into one Buffer. */
export function bytes(...parts: (number[] | Uint8Array)[]): Buffer {
  const out: number[] = [];
  for (const part of parts) for (const byte of part) out.push(byte);
  return Buffer.from(out);
}

/**
 * A structure image of `sizeBytes` zeros with fields placed at absolute offsets, so a test can
 * copy a layout table from the protocol doc line by line.
 */
export function layout(sizeBytes: number, fields: [offset: number, value: number[] | Uint8Array][]): Buffer {
  const out = Buffer.alloc(sizeBytes);
  for (const [offset, value] of fields) {
    let at = offset;
    for (const byte of value) {
      if (at >= sizeBytes) throw new Error(`layout field at ${offset} runs past ${sizeBytes} bytes`);
      out[at] = byte;
      at++;
    }
  }
  return out;
}
