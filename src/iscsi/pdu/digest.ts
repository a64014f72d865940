/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF),
 * the only digest RFC 7143 defines (§13.1).
 *
 * Wire byte order: the digest is sent LEAST significant byte first (little-endian), unlike every
 * other iSCSI integer. RFC 7143 Appendix A.4 (formerly RFC 3720 Appendix B.4) lists its examples
 * as the bytes on the wire: 32 zero bytes give "aa 36 91 8a", i.e. the value 0x8A9136AA written
 * little-endian; libiscsi (lib/socket.c, iscsi_pdu_update_headerdigest) stores the CRC byte by
 * byte starting with the low byte. `writeDigest`/`readDigest` below do exactly that.
 *
 * Coverage (§11.2.3, §13.1): the header digest covers the BHS and AHS; the data digest covers the
 * data segment *and its padding*; an empty data segment has no data digest.
 *
 * Implementation: the native `@node-rs/crc32` (SIMD, several GiB/s) when it loads and passes a
 * known-answer check, otherwise a pure-JS slicing-by-8 fallback (about 1 GiB/s). Both take a
 * list of buffers and a `seed` (the CRC of the bytes before them), so a digest over pieces never
 * needs them concatenated: crc32c([a, b]) === crc32c(b, crc32c(a)).
 */
import { createRequire } from 'node:module';

type NativeCrc32c = (input: Uint8Array, initialState?: number) => number;

/** Castagnoli polynomial, bit-reversed. */
const POLYNOMIAL_REFLECTED = 0x82f6_3b78;
/** CRC32C("123456789"), the usual check value. */
const CHECK_VALUE = 0xe306_9283;

/** Slicing-by-8 tables: TABLES[k][b] is the CRC contribution of byte b followed by k zero bytes. */
const TABLES: readonly Uint32Array[] = buildTables();

function buildTables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const first = tables[0]!;
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL_REFLECTED : crc >>> 1;
    first[byte] = crc >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    const previous = tables[k - 1]!;
    const current = tables[k]!;
    for (let byte = 0; byte < 256; byte++) {
      const value = previous[byte]!;
      current[byte] = ((value >>> 8) ^ first[value & 0xff]!) >>> 0;
    }
  }
  return tables;
}

/** Pure-JS CRC32C over `input` (or the concatenation of a list), continuing from `seed`. */
export function crc32cPortable(input: Uint8Array | readonly Uint8Array[], seed = 0): number {
  let crc = ~seed >>> 0;
  if (input instanceof Uint8Array) return ~updatePortable(crc, input) >>> 0;
  for (const piece of input) crc = updatePortable(crc, piece);
  return ~crc >>> 0;
}

/** Runs the raw (un-inverted) register `crc` over `bytes`. */
function updatePortable(register: number, bytes: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
  let crc = register;
  let at = 0;
  const wholeEnd = bytes.length - (bytes.length % 8);
  while (at < wholeEnd) {
    // The register is little-endian: fold the next four bytes into it, then look up all eight.
    crc ^= bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
    crc =
      t7[crc & 0xff]! ^
      t6[(crc >>> 8) & 0xff]! ^
      t5[(crc >>> 16) & 0xff]! ^
      t4[crc >>> 24]! ^
      t3[bytes[at + 4]!]! ^
      t2[bytes[at + 5]!]! ^
      t1[bytes[at + 6]!]! ^
      t0[bytes[at + 7]!]!;
    at += 8;
  }
  while (at < bytes.length) {
    crc = t0[(crc ^ bytes[at]!) & 0xff]! ^ (crc >>> 8);
    at += 1;
  }
  return crc >>> 0;
}

/** The native implementation, or undefined when it is missing or gives a wrong answer. */
function loadNative(): NativeCrc32c | undefined {
  try {
    const module = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: unknown };
    const candidate = module.crc32c;
    if (typeof candidate !== 'function') return undefined;
    const native = candidate as NativeCrc32c;
    return native(Buffer.from('123456789')) === CHECK_VALUE ? native : undefined;
  } catch {
    // No prebuilt binary for this platform: the portable code is correct, only slower.
    return undefined;
  }
}

const native = loadNative();

/** The native CRC32C with the same signature as `crc32cPortable`, when it loaded. */
export const crc32cNative: typeof crc32cPortable | undefined =
  native === undefined
    ? undefined
    : (input, seed = 0) => {
        if (input instanceof Uint8Array) return native(input, seed);
        let crc = seed;
        for (const piece of input) crc = native(piece, crc);
        return crc;
      };

/** Which implementation `crc32c` uses, for a startup log line. */
export const crc32cImplementation: 'native' | 'portable' = crc32cNative ? 'native' : 'portable';

/** CRC32C over `input` (or the concatenation of a list), continuing from `seed`. */
export const crc32c: typeof crc32cPortable = crc32cNative ?? crc32cPortable;

/** Writes a digest in iSCSI wire order (little-endian; see the file comment). */
export function writeDigest(target: Buffer, offset: number, digest: number): void {
  target.writeUInt32LE(digest >>> 0, offset);
}

/** Reads a digest in iSCSI wire order (little-endian; see the file comment). */
export function readDigest(source: Buffer, offset: number): number {
  return source.readUInt32LE(offset);
}
