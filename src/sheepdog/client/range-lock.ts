/**
 * Serialises IOs whose data-object index ranges overlap (tgt's inflight_block), while IOs on
 * disjoint ranges run concurrently.
 *
 * Why: a write decides per object between CREATE, COW and WRITE_OBJ from the cached inode, and
 * records its creates only after the inode update. Two concurrent writes to one unallocated
 * object would both CREATE, and the second would replace the first's object with zeros around
 * its own bytes. Holding the object range from planning until the inode update is acknowledged
 * makes the second write plan against the first one's recorded allocation (a WRITE_OBJ).
 *
 * Modes: 'exclusive' (writes) conflicts with anything overlapping; 'shared' (reads) conflicts
 * only with overlapping exclusive holders, so reads of one object run together. Grants are FIFO:
 * an entry runs once no entry queued before it conflicts, so a stream of reads cannot starve a
 * write. Ranges are inclusive object indexes. The rule itself is src/core/fifo-range-queue.ts.
 */
import { assert } from '../../core/assert.js';
import { FifoRangeQueue, type RangeMode } from '../../core/fifo-range-queue.js';

export type RangeLockMode = RangeMode;

export class ObjectRangeLock {
  readonly #queue = new FifoRangeQueue();

  /** Entries held or waiting. */
  get size(): number {
    return this.#queue.size;
  }

  /** Resolves with the release function once the range is granted. */
  acquire(firstIdx: number, lastIdx: number, mode: RangeLockMode): Promise<() => void> {
    assert(
      Number.isInteger(firstIdx) && Number.isInteger(lastIdx) && firstIdx >= 0 && lastIdx >= firstIdx,
      `object range ${firstIdx}..${lastIdx} is not a non-empty range of indexes`,
    );
    return new Promise<() => void>((resolve) => {
      // Granted at once, the grant runs inside enter(), before `release` exists.
      let release: (() => void) | undefined;
      let grantedEarly = false;
      release = this.#queue.enter(firstIdx, lastIdx + 1, mode, () => {
        if (release === undefined) grantedEarly = true;
        else resolve(release);
      });
      if (grantedEarly) resolve(release);
    });
  }
}
