/**
 * STUB (being written): rebuilds every machine instance's state from the event log alone.
 * Feed events in seq order with apply(); ask snapshotAt(seq) for the state after event seq.
 */
import type { LogEvent } from '../core/event.js';
import type { ProjectionSnapshot, ViolationMark } from './inspector-api.js';

export interface ProjectionOptions {
  /** Transitions kept per instance and ended instances kept in all (a live ring's bound). */
  readonly historyLimit?: number;
}

export class Projection {
  constructor(readonly options: ProjectionOptions = {}) {}

  get firstSeq(): number {
    return 0;
  }

  get lastSeq(): number {
    return 0;
  }

  apply(_event: LogEvent): void {}

  snapshotAt(seq: number): ProjectionSnapshot {
    return { seq, t: 0, instances: [], coherence: [] };
  }

  violations(): readonly ViolationMark[] {
    return [];
  }
}
