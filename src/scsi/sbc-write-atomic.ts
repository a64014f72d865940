/**
 * WRITE ATOMIC(16) (SBC-4): a write that every other command sees either not at all or whole.
 *
 * Rules
 * - Check order: LBA range (LBA OUT OF RANGE, 64-bit safe), then TRANSFER LENGTH above MAXIMUM
 *   ATOMIC TRANSFER LENGTH or not a multiple of ATOMIC TRANSFER LENGTH GRANULARITY (INVALID FIELD
 *   IN CDB, byte 12), then an LBA that is not a multiple of ATOMIC ALIGNMENT (INVALID FIELD IN
 *   CDB, byte 2), then write protection (DATA PROTECT, WRITE PROTECTED). The Block Limits VPD page
 *   reports these three values (spc-inquiry.ts). ATOMIC BOUNDARY is not supported (MAXIMUM ATOMIC
 *   BOUNDARY SIZE 0): a non-zero value is refused by the CDB usage check (byte 10).
 * - TRANSFER LENGTH 0 writes nothing and is GOOD.
 * - All or nothing: the Data-Out buffer must carry every block the CDB names (the iSCSI layer
 *   refuses a shorter one before it gets here, transfer-length.ts: such a write cannot be cut);
 *   one that does not is INVALID FIELD IN CDB (byte 12) and nothing is written.
 * - Atomic against every other command of this node: the LBA range is held exclusive (no WRITE,
 *   COMPARE AND WRITE or copy of this LU writes into it meanwhile) and the blocks go to the
 *   backend in one call, which no read of those blocks interleaves (a memory backend applies it
 *   at once; a sheepdog backend holds the call's object range exclusive against reads,
 *   sheepdog-backend.ts). In cluster mode the write also runs inside the CompareAndWriteLock, so
 *   COMPARE AND WRITE, ORWRITE and WRITE ATOMIC through other nodes do not interleave with it; a
 *   plain READ through another node may see a write that spans two sheep objects half done.
 * - FUA, or WCE = 0, makes it durable before GOOD; DPO is a hint and ignored.
 */
import { readUint16, readUint64 } from './cdb.js';
import {
  type CommandContext,
  checkCondition,
  good,
  isAborted,
  rangeSense,
  TASK_ABORTED_RESULT,
  withBackend,
  writeBlocks,
  writeProtectSense,
} from './command-context.js';
import type { ScsiResult } from './scsi-types.js';
import { invalidFieldInCdb } from './sense.js';

const LENGTH_BYTE = 12;

export async function writeAtomic(context: CommandContext): Promise<ScsiResult> {
  const { lu, command, cdb } = context;
  const lba = readUint64(cdb, 2);
  const blocks = readUint16(cdb, LENGTH_BYTE);
  const limits = lu.limits;
  const outOfRange = rangeSense(lu, lba, blocks);
  if (outOfRange !== undefined) return checkCondition(outOfRange);
  if (blocks > limits.maxAtomicTransferBlocks || blocks % limits.atomicGranularityBlocks !== 0) {
    return checkCondition(invalidFieldInCdb(LENGTH_BYTE, 7));
  }
  if (lba % BigInt(limits.atomicAlignmentBlocks) !== 0n) return checkCondition(invalidFieldInCdb(2, 7));
  const protectedSense = writeProtectSense(lu);
  if (protectedSense !== undefined) return checkCondition(protectedSense);
  if (blocks === 0) return good();
  const blockSize = lu.geometry.blockSizeBytes;
  const lengthBytes = blocks * blockSize;
  if (command.dataOut.length < lengthBytes) return checkCondition(invalidFieldInCdb(LENGTH_BYTE, 7));
  if (isAborted(context)) return TASK_ABORTED_RESULT;
  const startLba = Number(lba);
  const fua = (cdb[1]! & 0x08) !== 0 || !lu.mode.writeCacheEnabled;
  const data = command.dataOut.subarray(0, lengthBytes);
  return lu.rangeLock.run(startLba, blocks, 'exclusive', () =>
    lu.compareAndWriteLock.run({ startLba, blockCount: blocks }, (guard) =>
      withBackend(context, 'write', async () => {
        await writeBlocks(context, startLba * blockSize, data, { fua }, guard);
        return good();
      }),
    ),
  );
}
