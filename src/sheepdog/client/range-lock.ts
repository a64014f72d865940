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
 * write. Ranges are inclusive object indexes.
 */
import { assert } from '../../core/assert.js';

export type RangeLockMode = 'shared' | 'exclusive';

interface Entry {
  readonly firstIdx: number;
  readonly lastIdx: number;
  readonly mode: RangeLockMode;
  granted: boolean;
  readonly grant: () => void;
}

function conflicts(a: Entry, b: Entry): boolean {
  if (a.mode === 'shared' && b.mode === 'shared') return false;
  return a.firstIdx <= b.lastIdx && b.firstIdx <= a.lastIdx;
}

export class ObjectRangeLock {
  /** Holders and waiters in arrival order. */
  #entries: Entry[] = [];

  /** Entries held or waiting. */
  get size(): number {
    return this.#entries.length;
  }

  /** Resolves with the release function once the range is granted. */
  acquire(firstIdx: number, lastIdx: number, mode: RangeLockMode): Promise<() => void> {
    assert(
      Number.isInteger(firstIdx) && Number.isInteger(lastIdx) && firstIdx >= 0 && lastIdx >= firstIdx,
      `object range ${firstIdx}..${lastIdx} is not a non-empty range of indexes`,
    );
    return new Promise<() => void>((resolve) => {
      let released = false;
      const entry: Entry = {
        firstIdx,
        lastIdx,
        mode,
        granted: false,
        grant: () =>
          resolve(() => {
            if (released) return;
            released = true;
            this.#release(entry);
          }),
      };
      this.#entries.push(entry);
      this.#grantWaiting();
    });
  }

  #release(entry: Entry): void {
    this.#entries = this.#entries.filter((candidate) => candidate !== entry);
    this.#grantWaiting();
  }

  #grantWaiting(): void {
    const entries = this.#entries;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.granted) continue;
      let blocked = false;
      for (let j = 0; j < i && !blocked; j++) blocked = conflicts(entries[j]!, entry);
      if (blocked) continue;
      entry.granted = true;
      entry.grant();
    }
  }
}
