/**
 * Pending UNIT ATTENTION conditions of one logical unit, one queue per I_T nexus (SAM-5 and SPC-4
 * unit attention rules; REQUEST SENSE).
 *
 * Rules
 * - A nexus this LU has never seen gets POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29/00) on
 *   its first access: for it, the LU has just come up. `take`, `peek` and `register` all count as
 *   an access.
 * - A reset condition (ASC 29h) supersedes everything queued before it: a reset threw that state
 *   away, so older conditions would only describe what no longer exists.
 * - The same ASC/ASCQ is never queued twice for one nexus; the initiator needs to hear it once.
 * - A queue holds at most `queueLengthMax` conditions; a further one is dropped (and logged by the
 *   caller if it cares). A reset always fits because it clears the queue first.
 * - Which commands report or clear a condition is the logical unit's business (logical-unit.ts),
 *   not this store's.
 */
import type { Nexus, Sense } from './scsi-types.js';
import { SenseKey } from './scsi-types.js';

/** POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (SPC-4 annex D, ASC 29h ASCQ 00h). */
export const POWER_ON_RESET_UA: Sense = { key: SenseKey.UNIT_ATTENTION, asc: 0x29, ascq: 0x00 };

/** Conditions queued per nexus before further ones are dropped. */
export const UNIT_ATTENTION_QUEUE_LENGTH_MAX = 16;

interface NexusEntry {
  readonly nexus: Nexus;
  readonly queue: Sense[];
}

export class UnitAttentions {
  readonly #entries = new Map<string, NexusEntry>();
  readonly #queueLengthMax: number;

  constructor(options: { queueLengthMax?: number } = {}) {
    this.#queueLengthMax = options.queueLengthMax ?? UNIT_ATTENTION_QUEUE_LENGTH_MAX;
  }

  /** Makes the nexus known (queuing 29/00 if it is new). Idempotent. */
  register(nexus: Nexus): void {
    this.#entry(nexus);
  }

  /** Raises `sense` on every known nexus the filter accepts. Unknown nexuses get 29/00 anyway. */
  raise(nexusFilter: (nexus: Nexus) => boolean, sense: Sense): void {
    for (const entry of this.#entries.values()) {
      if (nexusFilter(entry.nexus)) this.#push(entry, sense);
    }
  }

  /** Raises `sense` on every known nexus except `nexus` (e.g. MODE PARAMETERS CHANGED, 2A/01). */
  raiseAllExcept(nexus: Nexus, sense: Sense): void {
    this.raise((other) => other.id !== nexus.id, sense);
  }

  /** Raises `sense` on every known nexus (e.g. after a LUN reset, 29/00). */
  raiseAll(sense: Sense): void {
    this.raise(() => true, sense);
  }

  /** The oldest pending condition of this nexus, left in place. */
  peek(nexus: Nexus): Sense | undefined {
    return this.#entry(nexus).queue[0];
  }

  /** Removes and returns the oldest pending condition of this nexus. */
  take(nexus: Nexus): Sense | undefined {
    return this.#entry(nexus).queue.shift();
  }

  /** Drops pending conditions with this ASC/ASCQ for the nexus (REPORT LUNS clears 3F/0E, SPC-4). */
  discard(nexus: Nexus, asc: number, ascq: number): void {
    const entry = this.#entries.get(nexus.id);
    if (entry === undefined) return;
    const kept = entry.queue.filter((queued) => queued.asc !== asc || queued.ascq !== ascq);
    entry.queue.length = 0;
    entry.queue.push(...kept);
  }

  /** Forgets a nexus (I_T nexus loss): if it comes back it is new again and gets 29/00. */
  forget(nexus: Nexus): void {
    this.#entries.delete(nexus.id);
  }

  /** Number of conditions pending for this nexus (without registering it). */
  pendingCount(nexus: Nexus): number {
    return this.#entries.get(nexus.id)?.queue.length ?? 0;
  }

  #entry(nexus: Nexus): NexusEntry {
    let entry = this.#entries.get(nexus.id);
    if (entry === undefined) {
      entry = { nexus, queue: [POWER_ON_RESET_UA] };
      this.#entries.set(nexus.id, entry);
    }
    return entry;
  }

  #push(entry: NexusEntry, sense: Sense): void {
    if (sense.asc === 0x29) entry.queue.length = 0;
    if (entry.queue.some((queued) => queued.asc === sense.asc && queued.ascq === sense.ascq)) return;
    if (entry.queue.length >= this.#queueLengthMax) return;
    entry.queue.push(sense);
  }
}
