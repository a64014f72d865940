/**
 * What several target nodes exporting one backend (one sheepdog VDI) need from that backend to
 * act as one logical unit: a small shared cell of bytes with linearizable updates, a way to
 * learn that another node changed it, and guarded IO that stops when it did.
 *
 * The SCSI layer keeps its cluster-wide state (persistent reservations, unit attention events,
 * ALUA ownership and its epoch) in the cell; the backend decides how the cell is stored and how
 * nodes learn of changes. A backend only one node can reach (memory, file) has no cell.
 *
 * Contract
 * - `update` is linearizable across every node holding a cell of the same storage: two updates
 *   never both build on the same content. `mutate` may run several times (it must be pure);
 *   after `attemptsMax` lost races `update` rejects with CellContention (the SCSI layer answers
 *   BUSY). An update that resolved is visible to every node's next `read`/`validate`.
 * - Once `update` resolved on node A, every IO of node B that reaches the storage afterwards
 *   either runs with a `guard` that is consulted first (guard.afterChange) or lands in the
 *   serial order before A's update. This is what lets a reservation, an ownership change (the
 *   fencing epoch) or a COMPARE AND WRITE on A hold against B's in-flight IO.
 * - `validate` makes sure this node's view is current (one store round trip); it calls the
 *   `onChange` listeners first when it was not.
 * - `exclusive(work)` runs `work` so that no other node's `update` or `exclusive` section lands
 *   inside it: IO that `work` does with the guard it is given fails with IoRestart if another
 *   node got in, and then `exclusive` runs `work` again (at most `attemptsMax` times).
 */

/** The content of the cell, with a version that changes on every update (any node's). */
export interface CellSnapshot {
  readonly version: number;
  readonly bytes: Buffer;
}

/** Decides, after the backend learned that another node changed the cell, whether an IO goes on. */
export interface IoGuard {
  /**
   * Called by the backend before it resends an IO that the storage refused because another node
   * changed the cell (or anything else this node caches) since the IO was planned. 'restart': the
   * backend sends nothing more for this IO and rejects with IoRestart.
   */
  afterChange(): Promise<'continue' | 'restart'>;
}

/** The IO stopped because the cluster state changed under it: run the whole command again. */
export class IoRestart extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IoRestart';
  }
}

/** `update` or `exclusive` lost `attemptsMax` races in a row (answer BUSY: the host retries). */
export class CellContention extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CellContention';
  }
}

export interface SharedCell {
  /** Largest content `update` may store. */
  readonly maxBytes: number;
  /** The content as this node last saw it (no IO). */
  readonly cached: CellSnapshot;
  /** Makes sure `cached` is current: one store round trip; reloads when another node changed it. */
  validate(): Promise<CellSnapshot>;
  /** Linearizable read-modify-write; `mutate` returns the next content, or undefined to leave it. */
  update<T>(mutate: (current: CellSnapshot) => { readonly next?: Buffer; readonly value: T }): Promise<T>;
  /** Runs `work` with no other node's update or exclusive section inside it (see above). */
  exclusive<T>(work: (guard: IoGuard) => Promise<T>): Promise<T>;
  /** Called when this node learns the cell (may have) changed; returns the unsubscribe function. */
  onChange(listener: (snapshot: CellSnapshot) => void): () => void;
}
