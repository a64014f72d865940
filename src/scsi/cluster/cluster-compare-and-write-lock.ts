/**
 * COMPARE AND WRITE and ORWRITE atomic across the nodes of a clustered logical unit: the
 * read-compare-write runs inside the shared cell's exclusive section (shared-cell.ts), so no other
 * node's exclusive section or cell update lands between its read and its write.
 *
 * Rules
 * - The backend read and write carry the exclusive section's own guard, unwrapped: the cell
 *   knows its guards by identity (the sheepdog cell pins them to its claim), and a wrapper would
 *   lose that. When another node got in, the IO stops with IoRestart and the cell runs the
 *   read-compare-write again (at most its attemptsMax times, then CellContention: BUSY).
 * - What the command was admitted under is re-checked before every backend call instead
 *   (readBlocks/writeBlocks call the admission's recheck): a change there throws CommandRestart,
 *   which the cell does not retry, and the LU dispatches the whole command again.
 * - Two COMPARE AND WRITEs of the same expected data through two nodes: one writes, the other
 *   reads the first one's data and answers MISCOMPARE.
 * - Plain writes from other nodes are not held off by this lock (they would need the exclusive
 *   section too); SBC-3 atomicity holds between COMPARE AND WRITEs (and ORWRITEs), which is what
 *   initiators that use COMPARE AND WRITE as a lock (VMware ATS) rely on.
 */
import type { SharedCell } from '../../backends/shared-cell.js';
import type { CompareAndWriteLock } from '../sbc-compare-and-write.js';

export function clusterCompareAndWriteLock(cell: SharedCell): CompareAndWriteLock {
  return { run: (_range, work) => cell.exclusive((guard) => work(guard)) };
}
