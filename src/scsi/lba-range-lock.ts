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
 * The first-come-first-served rule itself is src/core/fifo-range-queue.ts.
 */
import { FifoRangeQueue, type RangeMode } from '../core/fifo-range-queue.js';

export type LockMode = RangeMode;

export class LbaRangeLock {
  readonly #queue = new FifoRangeQueue();

  /** Waits until the range may be used in `mode`; resolves to the release function (call it once). */
  async acquire(startLba: number, blockCount: number, mode: LockMode): Promise<() => void> {
    let granted = false;
    let wake: (() => void) | undefined;
    const release = this.#queue.enter(startLba, startLba + blockCount, mode, () => {
      granted = true;
      wake?.();
    });
    if (!granted) await new Promise<void>((resolve) => (wake = resolve));
    return release;
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
    return this.#queue.size;
  }
}
