/**
 * SYNCHRONIZE CACHE(10)/(16) (SBC-3) and PRE-FETCH(10)/(16) (SBC-3).
 *
 * - Both check their range like any medium command (NUMBER OF LOGICAL BLOCKS / PREFETCH LENGTH 0
 *   means "to the last LBA"); LBA OUT OF RANGE beyond it, 64-bit safe.
 * - SYNCHRONIZE CACHE makes every completed write durable: backend.flush(), whatever the range
 *   (the backend has one cache). IMMED is honoured by answering after the flush anyway, which the
 *   standard allows (it only permits an early answer).
 * - PRE-FETCH answers GOOD: there is no cache to load, and SBC-3 specifies GOOD (not CONDITION MET)
 *   when the blocks are not guaranteed to be held in a cache.
 */
import { readUint16, readUint32, readUint64 } from './cdb.js';
import { type CommandContext, checkCondition, good, rangeSense, withBackend } from './command-context.js';
import type { ScsiResult } from './scsi-types.js';

/** LBA and block count of a 10- or 16-byte SYNCHRONIZE CACHE or PRE-FETCH CDB (SBC-3). */
export function parseCacheRange(cdb: Buffer, blockCount: number): { lba: bigint; blocks: bigint } {
  const sixteen = cdb.length >= 16 && cdb[0]! >> 5 === 4;
  const lba = sixteen ? readUint64(cdb, 2) : BigInt(readUint32(cdb, 2));
  const count = sixteen ? readUint32(cdb, 10) : readUint16(cdb, 7);
  if (count !== 0) return { lba, blocks: BigInt(count) };
  const rest = BigInt(blockCount) - lba;
  return { lba, blocks: rest > 0n ? rest : 0n };
}

export async function synchronizeCache(context: CommandContext): Promise<ScsiResult> {
  const { lu } = context;
  const { lba, blocks } = parseCacheRange(context.cdb, lu.geometry.blockCount);
  const refusal = rangeSense(lu, lba, blocks);
  if (refusal !== undefined) return checkCondition(refusal);
  return withBackend(context, 'flush', async () => {
    await lu.backend.flush();
    return good();
  });
}

export function preFetch(context: CommandContext): ScsiResult {
  const { lu } = context;
  const { lba, blocks } = parseCacheRange(context.cdb, lu.geometry.blockCount);
  const refusal = rangeSense(lu, lba, blocks);
  return refusal === undefined ? good() : checkCondition(refusal);
}
