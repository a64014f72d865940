/**
 * Block stamps: every 512-byte block a harness writes says which write it belongs to, so a read
 * tells which write a block holds and whether the block is whole.
 *
 * Layout of one block (little-endian):
 *   0..7    magic "COLLIEst"
 *   8..11   run tag (u32: from the run's seed, so a block of another run never passes)
 *   12..15  write id (u32, >= 1; 0 means "never written": an all-zero block)
 *   16..23  LBA of this block (u64)
 *   24..27  index of this block within its write
 *   28..31  blocks in the write
 *   32..511 filler: 120 words, each a hash of (run tag, write id, LBA, word index)
 * A block is whole only if every byte equals what the header's fields generate, so a block made
 * of two writes (a header of one, the rest of another), a shifted block or a stray byte is
 * "torn". An all-zero block is "zero" (never written, or unmapped); anything else is "garbage".
 */

export const STAMP_BLOCK_BYTES = 512;
const MAGIC = Buffer.from('COLLIEst', 'latin1');
const HEADER_BYTES = 32;
const WORDS = STAMP_BLOCK_BYTES / 4;

export type DecodedBlock =
  | { readonly kind: 'zero' }
  | {
      readonly kind: 'stamp';
      readonly writeId: number;
      readonly lba: number;
      readonly index: number;
      readonly count: number;
    }
  /** A header of this run that does not match the rest of its block. */
  | { readonly kind: 'torn'; readonly writeId: number; readonly lba: number }
  /** Neither zero nor a stamp of this run (another run's tag counts as garbage). */
  | { readonly kind: 'garbage' };

/** murmur3's finaliser: a cheap, well-mixed 32-bit hash step. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The run tag of a seed text (never 0). */
export function runTagOf(seed: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193);
  return fmix32(h) || 1;
}

function fillBlock(
  target: Buffer,
  at: number,
  runTag: number,
  writeId: number,
  lba: number,
  index: number,
  count: number,
): void {
  MAGIC.copy(target, at);
  target.writeUInt32LE(runTag, at + 8);
  target.writeUInt32LE(writeId, at + 12);
  target.writeBigUInt64LE(BigInt(lba), at + 16);
  target.writeUInt32LE(index, at + 24);
  target.writeUInt32LE(count, at + 28);
  const seed = fmix32(runTag ^ Math.imul(writeId, 0x9e3779b1)) ^ fmix32(lba % 0x1_0000_0000) ^ (lba >>> 0);
  for (let word = HEADER_BYTES / 4; word < WORDS; word++) {
    target.writeUInt32LE(fmix32(seed + Math.imul(word, 0x27d4eb2f)), at + word * 4);
  }
}

/** The data of write `writeId` covering `blocks` blocks from `lba`. */
export function stampedData(runTag: number, writeId: number, lba: number, blocks: number): Buffer {
  const data = Buffer.allocUnsafe(blocks * STAMP_BLOCK_BYTES);
  for (let i = 0; i < blocks; i++)
    fillBlock(data, i * STAMP_BLOCK_BYTES, runTag, writeId, lba + i, i, blocks);
  return data;
}

const scratch = Buffer.alloc(STAMP_BLOCK_BYTES);

function isZero(data: Buffer, at: number): boolean {
  for (let i = at; i < at + STAMP_BLOCK_BYTES; i += 4) if (data.readUInt32LE(i) !== 0) return false;
  return true;
}

/** Reads the block at byte `at` of `data`. */
export function decodeBlock(data: Buffer, at: number, runTag: number): DecodedBlock {
  if (isZero(data, at)) return { kind: 'zero' };
  if (data.compare(MAGIC, 0, MAGIC.length, at, at + MAGIC.length) !== 0) return { kind: 'garbage' };
  if (data.readUInt32LE(at + 8) !== runTag) return { kind: 'garbage' };
  const writeId = data.readUInt32LE(at + 12);
  const lba = Number(data.readBigUInt64LE(at + 16));
  const index = data.readUInt32LE(at + 24);
  const count = data.readUInt32LE(at + 28);
  if (writeId === 0 || count === 0 || index >= count || !Number.isSafeInteger(lba)) {
    return { kind: 'torn', writeId, lba };
  }
  fillBlock(scratch, 0, runTag, writeId, lba, index, count);
  if (data.compare(scratch, 0, STAMP_BLOCK_BYTES, at, at + STAMP_BLOCK_BYTES) !== 0) {
    return { kind: 'torn', writeId, lba };
  }
  return { kind: 'stamp', writeId, lba, index, count };
}
