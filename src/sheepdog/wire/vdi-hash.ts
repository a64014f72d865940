/**
 * Name hashing (section 5.3). sheep derives a VDI's starting vid from its name with 64-bit
 * FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3: XOR each byte in, then
 * multiply), keeps the low 24 bits, and maps 0 to 1 (vid 0 is never used). GET_VDI_ATTR hashes
 * name[256] ‖ tag[256] ‖ snap_id ‖ key[256] with the same function and keeps the low 32 bits.
 *
 * (`sd_hash`, the double FNV used for object placement, is a different function and not here.)
 */
export const FNV1A_64_INIT = 0xcbf29ce484222325n;
export const FNV_64_PRIME = 0x100000001b3n;

const U64_MASK = (1n << 64n) - 1n;
const VID_MASK = 0xffffffn;

/** 64-bit FNV-1a of `bytes`, continuing from `seed` (the offset basis by default). */
export function fnv1a64(bytes: Uint8Array, seed: bigint = FNV1A_64_INIT): bigint {
  let hash = seed;
  for (const byte of bytes) {
    hash = ((hash ^ BigInt(byte)) * FNV_64_PRIME) & U64_MASK;
  }
  return hash;
}

/**
 * sd_hash_vdi: the vid a fresh VDI of this name gets (if that slot is free). A Buffer is hashed
 * up to its first NUL, as C's strlen would, so a NUL-padded name field gives the same answer.
 */
export function sdHashVdi(name: string | Buffer): number {
  let bytes: Buffer;
  if (typeof name === 'string') {
    bytes = Buffer.from(name, 'utf8');
  } else {
    const nul = name.indexOf(0);
    bytes = nul === -1 ? name : name.subarray(0, nul);
  }
  const vid = Number(fnv1a64(bytes) & VID_MASK);
  return vid === 0 ? 1 : vid;
}
