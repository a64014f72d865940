/**
 * COMPARE AND WRITE (SBC-3): read NUMBER OF LOGICAL BLOCKS blocks, compare them
 * with the first half of the Data-Out buffer (the verify instance), and only if they all match
 * write the second half (the write instance), as one atomic operation.
 *
 * Rules
 * - NUMBER OF LOGICAL BLOCKS above MAXIMUM COMPARE AND WRITE LENGTH (Block Limits VPD): INVALID
 *   FIELD IN CDB on byte 13. 0 means no compare and no write: GOOD, if no data came with it.
 * - The Data-Out buffer, and the initiator's ExpectedDataTransferLength, must be exactly
 *   2 x NUMBER OF LOGICAL BLOCKS blocks; anything else is ILLEGAL REQUEST, INVALID FIELD IN CDB
 *   (the length field and the data disagree).
 * - Miscompare: MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION (1D/00), INFORMATION = offset of the
 *   first differing byte in the Data-Out buffer; nothing is written.
 * - Atomicity on this node: the LU's LBA range lock, exclusive, so no other write (or COMPARE AND
 *   WRITE) here touches the blocks between read and write. Across nodes sharing the storage: the
 *   `CompareAndWriteLock` hook, taken inside the local lock. A single node uses
 *   `localCompareAndWriteLock`, which adds nothing; a clustered LU runs the read-compare-write
 *   inside the shared cell's exclusive section (cluster/cluster-compare-and-write-lock.ts), whose
 *   IO guard the lock hands to `work` for the backend read and write.
 */
import type { IoGuard } from '../backends/shared-cell.js';
import { readUint64 } from './cdb.js';
import {
  type CommandContext,
  checkCondition,
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
import type { ScsiResult } from './scsi-types.js';
import { invalidFieldInCdb, miscompareAt } from './sense.js';

export interface CompareAndWriteRange {
  readonly startLba: number;
  readonly blockCount: number;
}

/**
 * Makes a read-modify-write atomic against every other node that exports the same storage. `run`
 * must not start `work` until no other holder on any node overlaps the range, and must keep others
 * out until `work` settles. The local LBA range lock is already held when `run` is called.
 * `work` gets the IO guard its backend read and write must carry (undefined: the command's own).
 */
export interface CompareAndWriteLock {
  run<T>(range: CompareAndWriteRange, work: (guard?: IoGuard) => Promise<T>): Promise<T>;
}

/** For a single node (or storage no other node writes): local exclusion is all there is. */
export const localCompareAndWriteLock: CompareAndWriteLock = {
  run: (_range, work) => work(),
};

export async function compareAndWrite(context: CommandContext): Promise<ScsiResult> {
  const { lu, command, cdb } = context;
  const lba = readUint64(cdb, 2);
  const blocks = cdb[13]!;
  const fua = (cdb[1]! & 0x08) !== 0 || !lu.mode.writeCacheEnabled;
  if (blocks > lu.limits.maxCompareAndWriteBlocks) return checkCondition(invalidFieldInCdb(13, 7));
  const refusal = rangeSense(lu, lba, blocks) ?? writeProtectSense(lu);
  if (refusal !== undefined) return checkCondition(refusal);
  const blockSize = lu.geometry.blockSizeBytes;
  const halfBytes = blocks * blockSize;
  // The session may already have cut a longer Data-Out to the CDB's length, so compare the
  // initiator's ExpectedDataTransferLength too (libiscsi CompareAndWrite.InvalidDataOutSize).
  if (command.dataOut.length !== 2 * halfBytes || command.expectedLengthBytes !== 2 * halfBytes) {
    return checkCondition(invalidFieldInCdb(13, 7));
  }
  if (blocks === 0) return good();
  if (isAborted(context)) return TASK_ABORTED_RESULT;
  const startLba = Number(lba);
  const offsetBytes = startLba * blockSize;
  const expected = command.dataOut.subarray(0, halfBytes);
  const replacement = command.dataOut.subarray(halfBytes, 2 * halfBytes);
  return lu.rangeLock.run(startLba, blocks, 'exclusive', () =>
    lu.compareAndWriteLock.run({ startLba, blockCount: blocks }, (guard) =>
      withBackend(context, 'write', async () => {
        const stored = await readBlocks(context, offsetBytes, halfBytes, guard);
        const offset = firstDifference(expected, stored);
        if (offset >= 0) return checkCondition(miscompareAt(offset));
        await writeBlocks(context, offsetBytes, replacement, { fua }, guard);
        return good();
      }),
    ),
  );
}
