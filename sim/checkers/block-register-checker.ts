/**
 * Per-block register checks of reads against writes, for a block device that every client sees
 * through several paths (P-compositionality: each block is its own register).
 *
 * Order. Every invocation, acknowledgement and completion is an Instant: the sequence number of
 * its event in the run's event log (an integer, a total order consistent with virtual time and
 * with causality inside one millisecond) and, for messages only, its virtual ms. Every comparison
 * below is between sequence numbers; no two instants share one.
 *
 * Values. Every write carries a unique stamp (write-stamps.ts), so a read names the write it
 * observed. A read of zeros names the initial value, or any write of zeros (a DISCARD, recorded
 * with `zeros: true`) of that block: each of those is a candidate, and a read is judged by the
 * candidate that explains it best (it is a violation only when no candidate explains it).
 *
 * Check 1, per read. A read R that returned the value of write W (or the initial value) is a
 * violation when
 *   a. W did not exist yet: W was invoked after R completed (phantom-read), or
 *   b. W was stale when R began: some write W2 to the same block was acknowledged before R was
 *      invoked, and W2 was invoked after W was acknowledged (so W2 follows W in every
 *      linearization, and R, starting after W2's acknowledgement, must not see W): the multipath
 *      "stale read" and the "clobbered acknowledged write" at once (stale-read);
 *   c. no write put W's stamp into this block (unknown-value).
 *
 * Check 2, monotonic reads across the cluster (non-monotonic-read). Once any read R1 has observed
 * a value, no read R2 invoked after R1 completed (by any client, through any path) may return a
 * value that is definitely older. "Older" never guesses about writes of unknown outcome:
 *   - the initial value is older than every write (R1 saw the write, so it took effect);
 *   - a write W0 is older than a write W1 when W0 was acknowledged before W1 was invoked;
 *   - a write that was never acknowledged is never definitely older than anything.
 * With several candidates (reads of zeros) R2 is reported only when every candidate R2 may have
 * observed is older than every candidate R1 may have observed. A read already reported by
 * check 1 is left out of check 2 (it would only repeat the finding).
 *
 * A write whose outcome is unknown (failed, timed out, path died) stays open: its acknowledgement
 * is at +infinity, it may take effect at any time after its invocation, or never.
 *
 * A write the LU refused in its only attempt (RESERVATION CONFLICT, a MISCOMPARE) never took
 * effect: a read that returns it is a violation (refused-write-landed), the fencing check.
 *
 * COMPARE AND WRITE. A CAW that succeeded compared the block against value C and wrote W as one
 * step: its write follows C in the register's order (W is newer than C even when C's write was
 * never acknowledged, for a write lands once), and its compare is recorded as a read of C (so a
 * compare against a stale value is a stale read). Two successful CAWs that compared the same
 * stamped value of one block cannot both have been atomic: the first one replaced it, and a
 * stamp is written once (caw-not-atomic). The initial zeros count only while no write of zeros
 * of that block exists.
 *
 * What it does not check. It does not search for a full linearization of every block (the
 * Wing–Gong search); with unique values the checks above catch stale, phantom and
 * non-monotonic reads, which are the failures multipath produces. Torn blocks (half one write,
 * half another) are reported by the stamp decoder, not here.
 */

export const INITIAL_STAMP = 'initial';

/** A point of the run: its event's sequence number (the order) and virtual ms (for messages). */
export interface Instant {
  readonly seq: number;
  readonly ms: number;
}

export interface WriteRecord {
  readonly stamp: string;
  readonly block: number;
  readonly invoked: Instant;
  /** Undefined while the outcome is unknown (indeterminate). */
  readonly acknowledged: Instant | undefined;
  /** A write of zeros (DISCARD): a read of zeros may have observed it. */
  readonly zeros: boolean;
}

export interface ReadRecord {
  readonly block: number;
  readonly invoked: Instant;
  readonly completed: Instant;
  /** The stamp found in the block, or INITIAL_STAMP for zeros. */
  readonly stamp: string;
  readonly path?: string;
}

export type RegisterViolationKind =
  | 'phantom-read'
  | 'stale-read'
  | 'unknown-value'
  | 'non-monotonic-read'
  | 'refused-write-landed'
  | 'caw-not-atomic';

export interface RegisterViolation {
  readonly kind: RegisterViolationKind;
  readonly block: number;
  readonly read: ReadRecord;
  /** The write the read returned, when known (undefined: the initial value). */
  readonly observed?: WriteRecord;
  /** stale-read: a newer acknowledged write the read should have seen. */
  readonly newer?: WriteRecord;
  /** non-monotonic-read: the earlier read that had observed a newer value, and that value. */
  readonly earlierRead?: ReadRecord;
  readonly earlierObserved?: WriteRecord;
  readonly message: string;
}

/** What a read may have observed: a write, or the initial value. */
type Candidate = WriteRecord | typeof INITIAL_STAMP;

/** A successful COMPARE AND WRITE: it compared `compared` and wrote `written`. */
interface CawRecord {
  readonly block: number;
  readonly compared: string;
  readonly written: string;
  /** Its compare, as a read. */
  readonly read: ReadRecord;
}

export class BlockRegisterChecker {
  readonly #writesByStamp = new Map<string, WriteRecord>();
  readonly #writesByBlock = new Map<number, WriteRecord[]>();
  readonly #reads: ReadRecord[] = [];
  readonly #refused = new Set<string>();
  /** stamp -> the stamps it is known to follow (a CAW compared them). */
  readonly #follows = new Map<string, Set<string>>();
  readonly #caws: CawRecord[] = [];

  writeInvoked(stamp: string, block: number, at: Instant, options: { zeros?: boolean } = {}): void {
    if (this.#writesByStamp.has(stamp)) throw new Error(`write stamp "${stamp}" used twice`);
    const record: WriteRecord = {
      stamp,
      block,
      invoked: at,
      acknowledged: undefined,
      zeros: options.zeros ?? false,
    };
    this.#writesByStamp.set(stamp, record);
    let list = this.#writesByBlock.get(block);
    if (!list) {
      list = [];
      this.#writesByBlock.set(block, list);
    }
    list.push(record);
  }

  writeAcknowledged(stamp: string, at: Instant): void {
    const record = this.#writesByStamp.get(stamp);
    if (!record) throw new Error(`acknowledgement of write "${stamp}", which was never invoked`);
    const acknowledged: WriteRecord = { ...record, acknowledged: at };
    this.#writesByStamp.set(stamp, acknowledged);
    const list = this.#writesByBlock.get(record.block)!;
    list[list.indexOf(record)] = acknowledged;
  }

  read(record: ReadRecord): void {
    this.#reads.push(record);
  }

  /** The LU refused the write in its only attempt: it never took effect. */
  writeRefused(stamp: string): void {
    if (!this.#writesByStamp.has(stamp))
      throw new Error(`refusal of write "${stamp}", which was never invoked`);
    this.#refused.add(stamp);
  }

  /**
   * A COMPARE AND WRITE that succeeded: `compare` (its compare seen as a read, stamp = the value
   * compared) and the write `written`, already acknowledged (see the file comment).
   */
  compareAndWriteSucceeded(written: string, compare: ReadRecord): void {
    const write = this.#writesByStamp.get(written);
    if (!write) throw new Error(`COMPARE AND WRITE of "${written}", which was never invoked`);
    let after = this.#follows.get(written);
    if (!after) {
      after = new Set();
      this.#follows.set(written, after);
    }
    after.add(compare.stamp);
    this.#caws.push({ block: compare.block, compared: compare.stamp, written, read: compare });
    this.read(compare);
  }

  get readCount(): number {
    return this.#reads.length;
  }

  get writeCount(): number {
    return this.#writesByStamp.size;
  }

  /** The write that put `stamp` there, as recorded so far. */
  write(stamp: string): WriteRecord | undefined {
    return this.#writesByStamp.get(stamp);
  }

  /** Every violation: check 1 in read order, then check 2 in read order. */
  check(): RegisterViolation[] {
    const violations: RegisterViolation[] = [];
    const viable = new Map<ReadRecord, Candidate[]>();
    for (const read of this.#reads) {
      const judged = this.#checkRead(read);
      if ('violation' in judged) violations.push(judged.violation);
      else viable.set(read, judged.candidates);
    }
    for (const read of this.#reads) {
      const candidates = viable.get(read);
      if (candidates === undefined) continue;
      const violation = this.#checkMonotonic(read, candidates, viable);
      if (violation) violations.push(violation);
    }
    violations.push(...this.#checkCompareAndWrites());
    return violations;
  }

  /** Two successful CAWs that compared the same stamped value of one block. */
  #checkCompareAndWrites(): RegisterViolation[] {
    const violations: RegisterViolation[] = [];
    const first = new Map<string, CawRecord>();
    for (const caw of this.#caws) {
      if (
        caw.compared === INITIAL_STAMP &&
        (this.#writesByBlock.get(caw.block) ?? []).some((write) => write.zeros)
      )
        continue;
      const key = `${caw.block}/${caw.compared}`;
      const earlier = first.get(key);
      if (earlier === undefined) {
        first.set(key, caw);
        continue;
      }
      const compared = this.#writesByStamp.get(caw.compared);
      violations.push({
        kind: 'caw-not-atomic',
        block: caw.block,
        read: caw.read,
        ...(compared ? { observed: compared } : {}),
        message:
          `block ${caw.block}: two COMPARE AND WRITEs both found ${caw.compared === INITIAL_STAMP ? 'the initial zeros' : `"${caw.compared}"`} and both wrote` +
          ` ("${earlier.written}"${earlier.read.path ? ` through ${earlier.read.path}` : ''}, then "${caw.written}"${caw.read.path ? ` through ${caw.read.path}` : ''}):` +
          ' the first one had replaced that value, so the second compare was not atomic with it',
      });
    }
    return violations;
  }

  /** `newer` is known to follow `older` (through a chain of successful CAWs). */
  #followsStamp(newer: string, older: string): boolean {
    const seen = new Set<string>();
    const stack = [newer];
    while (stack.length > 0) {
      const stamp = stack.pop()!;
      for (const before of this.#follows.get(stamp) ?? []) {
        if (before === older) return true;
        if (!seen.has(before)) {
          seen.add(before);
          stack.push(before);
        }
      }
    }
    return false;
  }

  /** `older` is definitely older than `newer`: by acknowledgements, or through CAWs. */
  #older(older: Candidate, newer: Candidate): boolean {
    if (definitelyOlder(older, newer)) return true;
    if (older === newer || newer === INITIAL_STAMP) return false;
    return this.#followsStamp(newer.stamp, older === INITIAL_STAMP ? INITIAL_STAMP : older.stamp);
  }

  /** Check 1: the candidates that explain the read, or the violation when none does. */
  #checkRead(read: ReadRecord): { candidates: Candidate[] } | { violation: RegisterViolation } {
    const writes = this.#writesByBlock.get(read.block) ?? [];
    let candidates: Candidate[];
    if (read.stamp === INITIAL_STAMP) {
      candidates = [INITIAL_STAMP, ...writes.filter((write) => write.zeros)];
    } else {
      const observed = this.#writesByStamp.get(read.stamp);
      if (!observed || observed.block !== read.block || observed.zeros) {
        return {
          violation: {
            kind: 'unknown-value',
            block: read.block,
            read,
            message: `block ${read.block} read "${read.stamp}", which no write put there`,
          },
        };
      }
      if (this.#refused.has(observed.stamp)) {
        return {
          violation: {
            kind: 'refused-write-landed',
            block: read.block,
            read,
            observed,
            message: `block ${read.block} read "${observed.stamp}", a write the LU refused (it must never land)`,
          },
        };
      }
      candidates = [observed];
    }
    const verdicts = candidates.map((candidate) => this.#judge(read, candidate, writes));
    const explaining = candidates.filter((_, index) => verdicts[index] === undefined);
    if (explaining.length > 0) return { candidates: explaining };
    // No candidate explains it: report the first (the stamped write, or the initial value).
    return { violation: verdicts[0]! };
  }

  #judge(
    read: ReadRecord,
    candidate: Candidate,
    writes: readonly WriteRecord[],
  ): RegisterViolation | undefined {
    const observed = candidate === INITIAL_STAMP ? undefined : candidate;
    if (observed && observed.invoked.seq > read.completed.seq) {
      return {
        kind: 'phantom-read',
        block: read.block,
        read,
        observed,
        message: `block ${read.block} read "${observed.stamp}" (completed at ${read.completed.ms} ms, seq ${read.completed.seq}) before that write was issued (at ${observed.invoked.ms} ms, seq ${observed.invoked.seq})`,
      };
    }
    // The initial value is "acknowledged" before everything; an open write never is.
    const observedAckSeq = observed
      ? (observed.acknowledged?.seq ?? Number.POSITIVE_INFINITY)
      : Number.NEGATIVE_INFINITY;
    for (const newer of writes) {
      if (newer === observed || newer.acknowledged === undefined) continue;
      const follows =
        newer.invoked.seq > observedAckSeq ||
        this.#followsStamp(newer.stamp, observed ? observed.stamp : INITIAL_STAMP);
      if (newer.acknowledged.seq < read.invoked.seq && follows) {
        return {
          kind: 'stale-read',
          block: read.block,
          read,
          ...(observed ? { observed } : {}),
          newer,
          message:
            `block ${read.block} read ${describe(candidate)} at ${read.invoked.ms} ms` +
            `${read.path ? ` through ${read.path}` : ''}, but "${newer.stamp}" was acknowledged at ${newer.acknowledged.ms} ms`,
        };
      }
    }
    return undefined;
  }

  /** Check 2: a read that returned something older than what an earlier read had observed. */
  #checkMonotonic(
    read: ReadRecord,
    candidates: readonly Candidate[],
    viable: ReadonlyMap<ReadRecord, Candidate[]>,
  ): RegisterViolation | undefined {
    for (const [earlier, seen] of viable) {
      if (earlier.block !== read.block || earlier.completed.seq >= read.invoked.seq) continue;
      if (!candidates.every((mine) => seen.every((theirs) => this.#older(mine, theirs)))) continue;
      const observed = candidates.length === 1 ? candidates[0] : INITIAL_STAMP;
      const earlierObserved = seen[0]!;
      return {
        kind: 'non-monotonic-read',
        block: read.block,
        read,
        ...(observed !== undefined && observed !== INITIAL_STAMP ? { observed } : {}),
        earlierRead: earlier,
        ...(earlierObserved !== INITIAL_STAMP ? { earlierObserved } : {}),
        message:
          `block ${read.block} read ${describe(read.stamp === INITIAL_STAMP ? INITIAL_STAMP : candidates[0]!)}` +
          ` at ${read.invoked.ms} ms${read.path ? ` through ${read.path}` : ''}, after an earlier read` +
          `${earlier.path ? ` through ${earlier.path}` : ''} had returned ${describe(earlierObserved)}` +
          ` (completed at ${earlier.completed.ms} ms), which is newer` +
          `${whyOlder(observed ?? INITIAL_STAMP, earlierObserved)}`,
      };
    }
    return undefined;
  }
}

/**
 * `older` is definitely older than `newer` in every linearization in which `newer` was observed:
 * the initial value is older than any write; an acknowledged write is older than a write invoked
 * after its acknowledgement; a write of unknown outcome is never definitely older.
 */
export function definitelyOlder(older: Candidate, newer: Candidate): boolean {
  if (older === newer) return false;
  if (newer === INITIAL_STAMP) return false;
  if (older === INITIAL_STAMP) return true;
  return older.acknowledged !== undefined && older.acknowledged.seq < newer.invoked.seq;
}

function describe(candidate: Candidate): string {
  return candidate === INITIAL_STAMP ? 'the initial zeros' : `"${candidate.stamp}"`;
}

function whyOlder(older: Candidate, newer: Candidate): string {
  if (older === INITIAL_STAMP || newer === INITIAL_STAMP || older.acknowledged === undefined) return '';
  return ` ("${older.stamp}" was acknowledged at ${older.acknowledged.ms} ms, before "${newer.stamp}" was invoked at ${newer.invoked.ms} ms)`;
}
