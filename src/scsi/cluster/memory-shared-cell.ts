/**
 * SharedCell (src/backends/shared-cell.ts) in memory, for tests and the simulator: one
 * `MemoryCellHub` is the storage, and each node gets its own `MemorySharedCell` over it.
 *
 * Rules (the contract's, made concrete)
 * - The hub holds one snapshot; every committed update replaces it with version + 1.
 * - `update` is atomic: it waits while another node's cell holds the exclusive section, then
 *   reads, runs `mutate` and commits in one synchronous step. `mutate` therefore runs once here.
 * - A cell's `cached` is what its node last saw. Other nodes' updates make it stale; the node
 *   learns of them (onChange listeners run, `cached` moves) only on its own `validate`,
 *   `update` or `exclusive`, or when one of its IOs reaches the store (`ioReachesStore`,
 *   used by MemoryClusterBackend).
 * - An IO reaches the store stale when the hub's version is not the one its node had when the
 *   IO was issued (the cell changed under it, even if the node learned of it meanwhile through
 *   `validate`): the node learns, then the IO's guard is consulted before the IO goes on; it
 *   stops with IoRestart on 'restart'. That is the contract's "runs with a guard that is
 *   consulted first".
 * - `exclusive` is a FIFO lock over all cells of the hub: no other node's update or exclusive
 *   section starts inside it. Its guard answers 'continue' (nobody can get in); IoRestart
 *   thrown by `work` (its own command's guards) is retried up to `attemptsMax` times, then
 *   CellContention.
 * - An update larger than `maxBytes` is a caller bug (the document codec keeps within it).
 */

import {
  CellContention,
  type CellSnapshot,
  type IoGuard,
  IoRestart,
  type SharedCell,
} from '../../backends/shared-cell.js';
import { assert } from '../../core/assert.js';

export interface MemoryCellHubOptions {
  /** Largest content; default 64 KiB. */
  readonly maxBytes?: number;
  /** `exclusive` retries of `work` after IoRestart; default 8. */
  readonly attemptsMax?: number;
}

const CONTINUE: IoGuard = { afterChange: async () => 'continue' };

export class MemoryCellHub {
  readonly maxBytes: number;
  readonly attemptsMax: number;
  #snapshot: CellSnapshot = { version: 0, bytes: Buffer.alloc(0) };
  #holder: MemorySharedCell | undefined;
  readonly #waiting: (() => void)[] = [];

  constructor(options: MemoryCellHubOptions = {}) {
    this.maxBytes = options.maxBytes ?? 64 * 1024;
    this.attemptsMax = options.attemptsMax ?? 8;
  }

  /** The stored content (tests). */
  get snapshot(): CellSnapshot {
    return this.#snapshot;
  }

  /** A new node's cell; it starts having seen the current content. */
  cell(name: string): MemorySharedCell {
    return new MemorySharedCell(name, this, this.#snapshot);
  }

  /** (For the cells.) Commits new content. */
  commit(bytes: Buffer): CellSnapshot {
    assert(
      bytes.length <= this.maxBytes,
      `MemoryCellHub: ${bytes.length} bytes exceed maxBytes ${this.maxBytes}`,
    );
    this.#snapshot = { version: this.#snapshot.version + 1, bytes: Buffer.from(bytes) };
    return this.#snapshot;
  }

  /** (For the cells.) Resolves once no cell but `cell` holds the exclusive section. */
  async whenFree(cell: MemorySharedCell): Promise<void> {
    while (this.#holder !== undefined && this.#holder !== cell) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** (For the cells.) Takes the exclusive section, first come first served; returns the release. */
  async lock(cell: MemorySharedCell): Promise<() => void> {
    // Two sections of one node exclude each other too.
    while (this.#holder !== undefined) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#holder = cell;
    return () => {
      this.#holder = undefined;
      const waiting = this.#waiting.splice(0);
      for (const wake of waiting) wake();
    };
  }
}

export class MemorySharedCell implements SharedCell {
  readonly name: string;
  readonly #hub: MemoryCellHub;
  readonly #listeners = new Set<(snapshot: CellSnapshot) => void>();
  #cached: CellSnapshot;

  constructor(name: string, hub: MemoryCellHub, seen: CellSnapshot) {
    this.name = name;
    this.#hub = hub;
    this.#cached = seen;
  }

  get maxBytes(): number {
    return this.#hub.maxBytes;
  }

  get cached(): CellSnapshot {
    return this.#cached;
  }

  /** Another node changed the cell and this node has not learned it yet. */
  get stale(): boolean {
    return this.#hub.snapshot.version !== this.#cached.version;
  }

  async validate(): Promise<CellSnapshot> {
    await Promise.resolve();
    this.#learn(this.#hub.snapshot);
    return this.#cached;
  }

  async update<T>(
    mutate: (current: CellSnapshot) => { readonly next?: Buffer; readonly value: T },
  ): Promise<T> {
    await this.#hub.whenFree(this);
    const current = this.#hub.snapshot;
    this.#learn(current);
    const outcome = mutate(current);
    if (outcome.next !== undefined) this.#learn(this.#hub.commit(outcome.next));
    return outcome.value;
  }

  async exclusive<T>(work: (guard: IoGuard) => Promise<T>): Promise<T> {
    const release = await this.#hub.lock(this);
    try {
      for (let attempt = 1; attempt <= this.#hub.attemptsMax; attempt++) {
        this.#learn(this.#hub.snapshot);
        try {
          return await work(CONTINUE);
        } catch (error) {
          if (!(error instanceof IoRestart)) throw error;
        }
      }
      throw new CellContention(`${this.name}: exclusive work restarted ${this.#hub.attemptsMax} times`);
    } finally {
      release();
    }
  }

  onChange(listener: (snapshot: CellSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * An IO of this node, issued when the node had seen `issuedVersion`, reaches the store now.
   * Unchanged since: undefined, and the IO may be applied in the same synchronous step.
   * Changed: the node learns the change and the guard decides (IoRestart on 'restart'); the
   * promise gives the version the guard approved, to be checked again the same way.
   */
  ioReachesStore(issuedVersion: number, guard: IoGuard | undefined): Promise<number> | undefined {
    if (this.#hub.snapshot.version === issuedVersion) return undefined;
    return this.#consult(guard);
  }

  async #consult(guard: IoGuard | undefined): Promise<number> {
    const seen = this.#hub.snapshot;
    this.#learn(seen);
    if (guard !== undefined && (await guard.afterChange()) === 'restart') {
      throw new IoRestart(`${this.name}: the shared cell changed under the IO`);
    }
    return seen.version;
  }

  #learn(snapshot: CellSnapshot): void {
    if (snapshot.version === this.#cached.version) return;
    this.#cached = snapshot;
    for (const listener of [...this.#listeners]) listener(snapshot);
  }
}
