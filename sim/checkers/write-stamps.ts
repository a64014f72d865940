/**
 * Unique, self-describing block contents for simulated writes: every 512-byte block a workload
 * writes starts with a stamp naming the write (client, sequence) and the block, followed by a
 * CRC of the rest, so a read tells exactly which write it saw — or that it saw bytes nobody wrote
 * (a torn or misplaced block).
 */
import { crc32c } from '../../src/iscsi/pdu/digest.js';
import { INITIAL_STAMP } from './block-register-checker.js';

export const STAMP_BLOCK_BYTES = 512;
const MAGIC = 'COLLIE-SIM';

export function stampBlock(stamp: string, block: number): Buffer {
  const bytes = Buffer.alloc(STAMP_BLOCK_BYTES);
  const text = `${MAGIC} ${stamp} block=${block}`;
  bytes.write(text, 4, 'utf8');
  bytes.writeUInt32LE(crc32c(bytes.subarray(4)), 0);
  return bytes;
}

export type DecodedBlock =
  | { readonly kind: 'stamp'; readonly stamp: string }
  | { readonly kind: 'garbage'; readonly why: string };

export function decodeBlock(bytes: Buffer, block: number): DecodedBlock {
  if (bytes.every((byte) => byte === 0)) return { kind: 'stamp', stamp: INITIAL_STAMP };
  if (bytes.readUInt32LE(0) !== crc32c(bytes.subarray(4, STAMP_BLOCK_BYTES)))
    return { kind: 'garbage', why: 'bad CRC (torn or foreign bytes)' };
  const text = bytes.subarray(4).toString('utf8').replace(/\0+$/, '');
  const match = /^COLLIE-SIM (\S+) block=(\d+)$/.exec(text);
  if (!match) return { kind: 'garbage', why: 'not a stamp' };
  if (Number(match[2]) !== block)
    return { kind: 'garbage', why: `stamp of block ${match[2]} found in block ${block}` };
  return { kind: 'stamp', stamp: match[1]! };
}
