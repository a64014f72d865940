/**
 * READ, WRITE, VERIFY, WRITE AND VERIFY (6/10/12/16 where they exist) and ORWRITE(16) (SBC-3).
 *
 * Rules
 * - Check order: LBA range (LBA OUT OF RANGE, 64-bit safe: LBA + length is compared as a bigint,
 *   so 2^63 and 2^64-1 never wrap), then MAXIMUM TRANSFER LENGTH (INVALID FIELD IN CDB on the
 *   length field), then write protection (DATA PROTECT, WRITE PROTECTED).
 * - A transfer length of 0 transfers nothing and is GOOD, except READ(6)/WRITE(6) where 0 means
 *   256 blocks (SBC-3 READ(6), WRITE(6)). The range check still applies to a 0 length.
 * - Writes use only whole blocks of the Data-Out buffer, at most the CDB's length: an initiator
 *   that sends less (iSCSI EDTL below the CDB's length) gets those blocks written and the residual
 *   reported by the session; one that sends more gets exactly the CDB's blocks written.
 * - FUA, or the caching page's WCE = 0, makes the backend write durable before GOOD. DPO is a
 *   cache hint and ignored. Protection fields (xxPROTECT) are refused by the CDB usage check.
 * - Writes hold the LBA range lock in shared mode; ORWRITE (read-modify-write) holds it exclusive.
 * - Cluster mode: every backend call carries the command's IO guard (readBlocks/writeBlocks). A
 *   command the guard restarts is run again from the top by the LU; a write that needed several
 *   backend calls (or several sheep objects inside one call) may already be partly written when
 *   it restarts. SBC-3 allows that for a command that does not complete with GOOD, and the
 *   restarted command either writes the same data again or answers an error.
 */
import { Op, readUint16, readUint32, readUint64 } from './cdb.js';
import {
  type CommandContext,
  checkCondition,
  dataOutBlocks,
  firstDifference,
  good,
  isAborted,
  rangeSense,
  readBlocks,
  TASK_ABORTED_RESULT,
  withBackend,
  writeBlocks,
  writeProtectSense,
} from './command-context.js';
import type { ScsiResult, Sense } from './scsi-types.js';
import { invalidFieldInCdb, miscompareAt } from './sense.js';

export interface ReadWriteCdb {
  readonly lba: bigint;
  readonly blocks: number;
  readonly fua: boolean;
  /** Byte of the TRANSFER LENGTH field, for field pointers. */
  readonly lengthOffset: number;
}

/** LBA and length of any 6/10/12/16-byte READ/WRITE/VERIFY-shaped CDB (SBC-3 READ(6) to READ(16)). */
export function parseReadWrite(cdb: Buffer): ReadWriteCdb {
  const fua = (cdb[1]! & 0x08) !== 0;
  switch (cdb[0]! >> 5) {
    case 0: // 6-byte: 21-bit LBA, 8-bit length where 0 means 256
      return {
        lba: BigInt(((cdb[1]! & 0x1f) << 16) | readUint16(cdb, 2)),
        blocks: cdb[4]! === 0 ? 256 : cdb[4]!,
        fua: false,
        lengthOffset: 4,
      };
    case 4: // 16-byte
      return { lba: readUint64(cdb, 2), blocks: readUint32(cdb, 10), fua, lengthOffset: 10 };
    case 5: // 12-byte
      return { lba: BigInt(readUint32(cdb, 2)), blocks: readUint32(cdb, 6), fua, lengthOffset: 6 };
    default: // 10-byte
      return { lba: BigInt(readUint32(cdb, 2)), blocks: readUint16(cdb, 7), fua, lengthOffset: 7 };
  }
}

/** Range, then MAXIMUM TRANSFER LENGTH. */
function transferSense(
  context: CommandContext,
  request: ReadWriteCdb,
  limitTransfer: boolean,
): Sense | undefined {
  const outOfRange = rangeSense(context.lu, request.lba, request.blocks);
  if (outOfRange !== undefined) return outOfRange;
  if (limitTransfer && request.blocks > context.lu.limits.maxTransferBlocks) {
    return invalidFieldInCdb(request.lengthOffset, 7);
  }
  return undefined;
}

function byteRange(
  context: CommandContext,
  lba: bigint,
  blocks: number,
): { offsetBytes: number; lengthBytes: number } {
  const blockSize = context.lu.geometry.blockSizeBytes;
  return { offsetBytes: Number(lba) * blockSize, lengthBytes: blocks * blockSize };
}

export async function read(context: CommandContext): Promise<ScsiResult> {
  const request = parseReadWrite(context.cdb);
  const refusal = transferSense(context, request, true);
  if (refusal !== undefined) return checkCondition(refusal);
  if (request.blocks === 0) return good(Buffer.alloc(0));
  if (isAborted(context)) return TASK_ABORTED_RESULT;
  const { offsetBytes, lengthBytes } = byteRange(context, request.lba, request.blocks);
  return withBackend(context, 'read', async () => good(await readBlocks(context, offsetBytes, lengthBytes)));
}

/** Common prelude of the writing commands; returns the blocks to write or the refusal. */
function writePrelude(context: CommandContext, request: ReadWriteCdb): number | ScsiResult {
  const refusal = transferSense(context, request, true) ?? writeProtectSense(context.lu);
  if (refusal !== undefined) return checkCondition(refusal);
  return dataOutBlocks(context, request.blocks);
}

export async function write(context: CommandContext): Promise<ScsiResult> {
  const { lu, command } = context;
  const request = parseReadWrite(context.cdb);
  const blocks = writePrelude(context, request);
  if (typeof blocks !== 'number') return blocks;
  if (blocks === 0) return good();
  if (isAborted(context)) return TASK_ABORTED_RESULT;
  const { offsetBytes, lengthBytes } = byteRange(context, request.lba, blocks);
  const fua = request.fua || !lu.mode.writeCacheEnabled;
  return lu.rangeLock.run(Number(request.lba), blocks, 'shared', () =>
    withBackend(context, 'write', async () => {
      await writeBlocks(context, offsetBytes, command.dataOut.subarray(0, lengthBytes), {
        fua,
        signal: command.signal,
      });
      return good();
    }),
  );
}

/** BYTCHK of VERIFY (SBC-3): 00b medium only, 01b compare all, 11b compare one block to all. */
export async function verify(context: CommandContext): Promise<ScsiResult> {
  const { lu, command, cdb } = context;
  const byteCheck = (cdb[1]! >> 1) & 0x03;
  if (byteCheck === 2) return checkCondition(invalidFieldInCdb(1, 2));
  const request = parseReadWrite(cdb);
  const refusal = transferSense(context, request, byteCheck === 1);
  if (refusal !== undefined) return checkCondition(refusal);
  const blockSize = lu.geometry.blockSizeBytes;
  if (byteCheck === 1) {
    const blocks = dataOutBlocks(context, request.blocks);
    if (blocks === 0) return good();
    const { offsetBytes, lengthBytes } = byteRange(context, request.lba, blocks);
    return withBackend(context, 'read', async () => {
      const stored = await readBlocks(context, offsetBytes, lengthBytes);
      const offset = firstDifference(command.dataOut.subarray(0, lengthBytes), stored);
      return offset < 0 ? good() : checkCondition(miscompareAt(offset));
    });
  }
  if (request.blocks === 0) return good();
  const pattern = byteCheck === 3 ? command.dataOut.subarray(0, blockSize) : undefined;
  if (pattern !== undefined && pattern.length < blockSize) return good();
  // Read the range in MAXIMUM TRANSFER LENGTH pieces: VERIFY(16) may name 2^32 blocks.
  const chunkBlocks = lu.limits.maxTransferBlocks;
  return withBackend(context, 'read', async () => {
    for (let done = 0; done < request.blocks; done += chunkBlocks) {
      if (isAborted(context)) return TASK_ABORTED_RESULT;
      const blocks = Math.min(chunkBlocks, request.blocks - done);
      const { offsetBytes, lengthBytes } = byteRange(context, request.lba + BigInt(done), blocks);
      const stored = await readBlocks(context, offsetBytes, lengthBytes);
      if (pattern === undefined) continue;
      for (let block = 0; block < blocks; block++) {
        const offset = firstDifference(pattern, stored.subarray(block * blockSize, (block + 1) * blockSize));
        if (offset >= 0) return checkCondition(miscompareAt((done + block) * blockSize + offset));
      }
    }
    return good();
  });
}

/** WRITE AND VERIFY (SBC-3): a durable write, then (BYTCHK) a read-back compare. */
export async function writeAndVerify(context: CommandContext): Promise<ScsiResult> {
  const { lu, command, cdb } = context;
  const byteCheck = (cdb[1]! & 0x02) !== 0;
  const request = parseReadWrite(cdb);
  const blocks = writePrelude(context, request);
  if (typeof blocks !== 'number') return blocks;
  if (blocks === 0) return good();
  if (isAborted(context)) return TASK_ABORTED_RESULT;
  const { offsetBytes, lengthBytes } = byteRange(context, request.lba, blocks);
  const data = command.dataOut.subarray(0, lengthBytes);
  return lu.rangeLock.run(Number(request.lba), blocks, 'shared', () =>
    withBackend(context, 'write', async () => {
      await writeBlocks(context, offsetBytes, data, { fua: true });
      if (!byteCheck) return good();
      const stored = await readBlocks(context, offsetBytes, lengthBytes);
      const offset = firstDifference(data, stored);
      return offset < 0 ? good() : checkCondition(miscompareAt(offset));
    }),
  );
}

/** ORWRITE(16) (SBC-3): new = stored OR Data-Out, atomically for the range. */
export async function orWrite(context: CommandContext): Promise<ScsiResult> {
  const { lu, command, cdb } = context;
  if (cdb[0] !== Op.ORWRITE_16) return checkCondition(invalidFieldInCdb(0, 7));
  const request = parseReadWrite(cdb);
  const blocks = writePrelude(context, request);
  if (typeof blocks !== 'number') return blocks;
  if (blocks === 0) return good();
  if (isAborted(context)) return TASK_ABORTED_RESULT;
  const startLba = Number(request.lba);
  const { offsetBytes, lengthBytes } = byteRange(context, request.lba, blocks);
  const fua = request.fua || !lu.mode.writeCacheEnabled;
  return lu.rangeLock.run(startLba, blocks, 'exclusive', () =>
    lu.compareAndWriteLock.run({ startLba, blockCount: blocks }, (guard) =>
      withBackend(context, 'write', async () => {
        const merged = Buffer.from(await readBlocks(context, offsetBytes, lengthBytes, guard));
        for (let index = 0; index < lengthBytes; index++)
          merged[index] = merged[index]! | command.dataOut[index]!;
        await writeBlocks(context, offsetBytes, merged, { fua }, guard);
        return good();
      }),
    ),
  );
}
