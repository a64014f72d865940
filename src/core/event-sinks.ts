/**
 * Sinks for the event log that hold no OS resources: a ring of the last N events (the inspector)
 * and a running SHA-256 over the canonical lines (replay proof: the same seed must give the same
 * digest). The JSONL file sink lives in jsonl-file-sink.ts.
 */
import { createHash, type Hash } from 'node:crypto';
import { assert } from './assert.js';
import type { EventSink, LogEvent } from './event.js';

/**
 * The one text form of an event, as written to JSONL files and hashed by DigestSink: JSON with the
 * keys in the order seq, t, actor, type, data. Keys inside `data` keep their insertion order,
 * which is deterministic as long as the code that built `data` is.
 */
export function canonicalEventLine(event: LogEvent): string {
  return JSON.stringify({
    seq: event.seq,
    t: event.t,
    actor: event.actor,
    type: event.type,
    data: event.data,
  });
}

/** Keeps the last `capacity` events. */
export class MemoryRingSink implements EventSink {
  private readonly ring: (LogEvent | undefined)[];
  private writtenCount = 0;

  constructor(readonly capacity: number) {
    assert(
      Number.isInteger(capacity) && capacity > 0,
      `MemoryRingSink capacity must be an integer > 0, got ${capacity}`,
    );
    this.ring = new Array<LogEvent | undefined>(capacity).fill(undefined);
  }

  write(event: LogEvent): void {
    this.ring[this.writtenCount % this.capacity] = event;
    this.writtenCount += 1;
  }

  /** Events held now (at most capacity). */
  get size(): number {
    return Math.min(this.writtenCount, this.capacity);
  }

  /** Held events, oldest first. */
  toArray(): LogEvent[] {
    const size = this.size;
    const start = this.writtenCount - size;
    const events: LogEvent[] = [];
    for (let i = 0; i < size; i++) events.push(this.ring[(start + i) % this.capacity]!);
    return events;
  }
}

/** A running SHA-256 over `canonicalEventLine(event) + '\n'` of every event written. */
export class DigestSink implements EventSink {
  private readonly hash: Hash = createHash('sha256');
  private eventCount = 0;

  write(event: LogEvent): void {
    this.hash.update(`${canonicalEventLine(event)}\n`);
    this.eventCount += 1;
  }

  /** Events hashed so far. */
  get count(): number {
    return this.eventCount;
  }

  /** The digest of everything written so far; writing may go on afterwards. */
  digestHex(): string {
    return this.hash.copy().digest('hex');
  }
}
