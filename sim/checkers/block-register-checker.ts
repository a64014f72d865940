/**
 * Per-block register check of reads against writes, for a block device that every client sees
 * through several paths (P-compositionality: each block is its own register).
 *
 * What it checks. Every write carries a unique stamp (writes-stamps.ts), so a read names the write
 * it observed. A read R that returned the value of write W (or the initial value) is a violation
 * when
 *   1. W did not exist yet: W was invoked after R completed (a value out of nowhere), or
 *   2. W was stale when R began: some write W2 to the same block was acknowledged before R was
 *      invoked, and W2 was invoked after W was acknowledged (so W2 follows W in every
 *      linearization, and R, starting after W2's acknowledgement, must not see W) — this is the
 *      multipath "stale read" and the "clobbered acknowledged write" at once.
 * A write whose outcome is unknown (failed, timed out, path died) stays open: its acknowledgement
 * time is +infinity, it may take effect at any time after its invocation, or never.
 *
 * What it does not check. It does not search for a full linearization of every block (the
 * Wing–Gong search); with unique values the two conditions above catch stale and phantom reads,
 * which are the failures multipath produces. Torn blocks (half one write, half another) are
 * reported by the stamp decoder, not here.
 */

export const INITIAL_STAMP = 'initial';

export interface WriteRecord {
  readonly stamp: string;
  readonly block: number;
  readonly invokedAtMs: number;
  /** Undefined while the outcome is unknown (indeterminate). */
  readonly acknowledgedAtMs: number | undefined;
}

export interface ReadRecord {
  readonly block: number;
  readonly invokedAtMs: number;
  readonly completedAtMs: number;
  /** The stamp found in the block, or INITIAL_STAMP. */
  readonly stamp: string;
  readonly path?: string;
}

export interface RegisterViolation {
  readonly kind: 'phantom-read' | 'stale-read' | 'unknown-value';
  readonly block: number;
  readonly read: ReadRecord;
  /** The write the read returned, when known. */
  readonly observed?: WriteRecord;
  /** A newer acknowledged write the read should have seen. */
  readonly newer?: WriteRecord;
  readonly message: string;
}

export class BlockRegisterChecker {
  readonly #writesByStamp = new Map<string, WriteRecord>();
  readonly #writesByBlock = new Map<number, WriteRecord[]>();
  readonly #reads: ReadRecord[] = [];

  writeInvoked(stamp: string, block: number, atMs: number): void {
    const record: WriteRecord = { stamp, block, invokedAtMs: atMs, acknowledgedAtMs: undefined };
    this.#writesByStamp.set(stamp, record);
    let list = this.#writesByBlock.get(block);
    if (!list) {
      list = [];
      this.#writesByBlock.set(block, list);
    }
    list.push(record);
  }

  writeAcknowledged(stamp: string, atMs: number): void {
    const record = this.#writesByStamp.get(stamp);
    if (!record) return;
    const acknowledged = { ...record, acknowledgedAtMs: atMs };
    this.#writesByStamp.set(stamp, acknowledged);
    const list = this.#writesByBlock.get(record.block)!;
    list[list.indexOf(record)] = acknowledged;
  }

  read(record: ReadRecord): void {
    this.#reads.push(record);
  }

  get readCount(): number {
    return this.#reads.length;
  }

  get writeCount(): number {
    return this.#writesByStamp.size;
  }

  /** Every violation, in read order. */
  check(): RegisterViolation[] {
    const violations: RegisterViolation[] = [];
    for (const read of this.#reads) {
      const violation = this.#checkRead(read);
      if (violation) violations.push(violation);
    }
    return violations;
  }

  #checkRead(read: ReadRecord): RegisterViolation | undefined {
    const writes = this.#writesByBlock.get(read.block) ?? [];
    let observedAckMs = Number.NEGATIVE_INFINITY;
    let observed: WriteRecord | undefined;
    if (read.stamp !== INITIAL_STAMP) {
      observed = this.#writesByStamp.get(read.stamp);
      if (!observed || observed.block !== read.block) {
        return {
          kind: 'unknown-value',
          block: read.block,
          read,
          message: `block ${read.block} read "${read.stamp}", which no write put there`,
        };
      }
      if (observed.invokedAtMs > read.completedAtMs) {
        return {
          kind: 'phantom-read',
          block: read.block,
          read,
          observed,
          message: `block ${read.block} read "${read.stamp}" before that write was issued`,
        };
      }
      observedAckMs = observed.acknowledgedAtMs ?? Number.POSITIVE_INFINITY;
    }
    for (const newer of writes) {
      if (newer === observed || newer.acknowledgedAtMs === undefined) continue;
      if (newer.acknowledgedAtMs < read.invokedAtMs && newer.invokedAtMs > observedAckMs) {
        return {
          kind: 'stale-read',
          block: read.block,
          read,
          observed,
          newer,
          message:
            `block ${read.block} read ${observed ? `"${observed.stamp}"` : 'the initial value'} at ${read.invokedAtMs} ms` +
            `${read.path ? ` through ${read.path}` : ''}, but "${newer.stamp}" was acknowledged at ${newer.acknowledgedAtMs} ms`,
        };
      }
    }
    return undefined;
  }
}
