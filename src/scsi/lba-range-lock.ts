/**
 * A per-LU lock over LBA ranges, so that read-modify-write commands (COMPARE AND WRITE, ORWRITE)
 * are atomic against every other write to the blocks they touch (SBC-3: no other command may
 * change the blocks between the compare and the write).
 *
 * Rules
 * - `shared` holders (plain writes, WRITE SAME, UNMAP) never wait for each other: the backend
 *   already orders overlapping writes per block. An `exclusive` holder waits for, and blocks, every
 *   overlapping holder of either mode.
 * - First come, first served: a request waits for every earlier overlapping request it conflicts
 *   with, queued or granted, so an exclusive request is not starved by a stream of shared ones.
 * - Ranges are half-open block intervals [start, start + count); a zero-length range conflicts with
 *   nothing.
 * - Holders and waiters are bounded by the commands in flight (the session's CmdSN window).
 */

export type LockMode = 'shared' | 'exclusive';

interface Entry {
  readonly start: number;
  readonly end: number;
  readonly mode: LockMode;
  granted: boolean;
  grant: () => void;
}

function conflicts(a: Entry, b: Entry): boolean {
  if (a.mode === 'shared' && b.mode === 'shared') return false;
  if (a.start === a.end || b.start === b.end) return false;
  return a.start < b.end && b.start < a.end;
}

export class LbaRangeLock {
  // Insertion-ordered: earlier requests first.
  readonly #entries = new Set<Entry>();
  #exclusiveCount = 0;

  /** Waits until the range may be used in `mode`; resolves to the release function (call it once). */
  async acquire(startLba: number, blockCount: number, mode: LockMode): Promise<() => void> {
    const entry: Entry = {
      start: startLba,
      end: startLba + blockCount,
      mode,
      granted: false,
      grant: () => {},
    };
    const waited = new Promise<void>((resolve) => {
      entry.grant = resolve;
    });
    const mustWait = (this.#exclusiveCount > 0 || mode === 'exclusive') && this.#blocked(entry);
    this.#entries.add(entry);
    if (mode === 'exclusive') this.#exclusiveCount += 1;
    if (mustWait) {
      await waited;
    } else {
      entry.granted = true;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#entries.delete(entry);
      if (entry.mode === 'exclusive') this.#exclusiveCount -= 1;
      this.#grantWaiters();
    };
  }

  /** Runs `work` holding the range. */
  async run<T>(startLba: number, blockCount: number, mode: LockMode, work: () => Promise<T>): Promise<T> {
    const release = await this.acquire(startLba, blockCount, mode);
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** Requests queued or holding (for tests and diagnostics). */
  get size(): number {
    return this.#entries.size;
  }

  // Conflicts with any earlier entry still present (granted or not).
  #blocked(entry: Entry): boolean {
    for (const other of this.#entries) {
      if (other === entry) return false;
      if (conflicts(entry, other)) return true;
    }
    return false;
  }

  #grantWaiters(): void {
    for (const entry of this.#entries) {
      if (entry.granted) continue;
      if (!this.#blocked(entry)) {
        entry.granted = true;
        entry.grant();
      }
    }
  }
}
