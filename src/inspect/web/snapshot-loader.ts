/**
 * Fetches /api/snapshot for the event the timeline chose, one request at a time: while one is in
 * flight only the newest wish is kept, so dragging the slider or following a busy live log never
 * queues stale requests. A snapshot of event S never changes once S exists, so recent ones are
 * cached (stepping back and forth costs nothing). No DOM: it runs in Node too.
 */
import type { ProjectionSnapshot } from '../inspector-api.js';

const CACHE_SIZE = 256;

export interface SnapshotSource {
  snapshot(seq: number): Promise<ProjectionSnapshot>;
}

export class SnapshotLoader {
  private readonly cache = new Map<number, ProjectionSnapshot>();
  private wanted: number | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly source: SnapshotSource,
    /** Called with each snapshot that is still the newest wish when it arrives. */
    private readonly onSnapshot: (snapshot: ProjectionSnapshot) => void,
    private readonly onError: (error: unknown, seq: number) => void,
  ) {}

  /** Asks for seq's snapshot; resolves once it (or a newer wish) was handed to onSnapshot or failed. */
  request(seq: number): Promise<void> {
    this.wanted = seq;
    if (this.running === null) {
      this.running = this.run().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  private async run(): Promise<void> {
    while (this.wanted !== null) {
      const seq = this.wanted;
      this.wanted = null;
      try {
        const snapshot = this.cache.get(seq) ?? (await this.source.snapshot(seq));
        this.remember(seq, snapshot);
        if (this.wanted === null) this.onSnapshot(snapshot);
      } catch (error) {
        if (this.wanted === null) this.onError(error, seq);
      }
    }
  }

  private remember(seq: number, snapshot: ProjectionSnapshot): void {
    this.cache.delete(seq);
    this.cache.set(seq, snapshot);
    while (this.cache.size > CACHE_SIZE) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}
