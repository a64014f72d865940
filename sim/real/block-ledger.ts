/**
 * The oracle of the crash and soak harnesses: per block, which writes it may hold now.
 *
 * Model. Writes are numbered (write id >= 1; 0 stands for "never written": zeros) and carry block
 * stamps (block-stamps.ts). The harness never has two commands in flight on one block (a range
 * fence), so the writes of a block form one sequence in id order. A write ends in one of:
 * - acked: status GOOD (on any attempt, for a multipath retry of the same data);
 * - failed: the target answered something else (it may still have landed, in part);
 * - unknown: no answer (the connection or the process died): it may have landed, in part.
 * A write is durable when its GOOD came with FUA, or when a SYNCHRONIZE CACHE sent after that GOOD
 * (through the same scope: one target node) is answered GOOD.
 *
 * Per block the ledger keeps the durable floor F (the newest durable write, 0 at first) and the
 * writes since F. A read of the block must find a whole stamp (or zeros) of a write W with:
 * - W in that list (never a write older than F, never a write the list no longer has, never a
 *   write of other blocks, never another run's or torn bytes): else a violation;
 * - W >= S, the strict floor: the newest write acknowledged since the last store kill. The
 *   target answers a write only after the store wrote it, and a process kill does not lose the
 *   page cache, so such a write must be there. Across a store kill the contract is only the
 *   durable floor; a block found at an acked-but-unflushed write older than the newest acked one
 *   is counted as `rolledBack` (allowed by SCSI: the write was never flushed), not a violation.
 * settle(): after a full verification and a SYNCHRONIZE CACHE answered GOOD with nothing in
 * flight, what each block held becomes its durable floor, and writes newer than it that were
 * never seen are dropped: if one appears later it is a ghost (a write landing after its target
 * gave up on it, after the block was read without it).
 */
import { assert } from '../../src/core/assert.js';
import { type DecodedBlock, decodeBlock, STAMP_BLOCK_BYTES } from './block-stamps.js';

export type WriteState = 'in-flight' | 'acked' | 'failed' | 'unknown';

export interface WriteRecord {
  readonly id: number;
  readonly lba: number;
  readonly blocks: number;
  readonly fua: boolean;
  /** The target node a SYNCHRONIZE CACHE must go through to make this write durable. */
  scope: string;
  /** The store epoch when the attempt that was answered GOOD was sent. */
  sentEpoch: number;
  state: WriteState;
  durable: boolean;
}

export type ViolationKind =
  /** A block holds an older write than its durable floor (or zeros after a durable write). */
  | 'durable-write-lost'
  /** A block holds an older write than one acknowledged with no store kill since it was sent. */
  | 'acked-write-lost'
  /** A header of this run whose block does not match it: a mix of writes, or damaged bytes. */
  | 'torn-block'
  /** Neither zeros nor a stamp of this run. */
  | 'garbage-block'
  /** A stamp of a write that never covered this block (or at the wrong place within it). */
  | 'misplaced-block'
  /** A write that was not in the block's list any more: it landed after the block was seen without it. */
  | 'ghost-write'
  /** The store's copy (`collie vdi read`) differs from what the target returned. */
  | 'store-differs'
  /** Something else the harness's checks refuse (a protocol violation, a store invariant exit). */
  | 'other';

export interface Violation {
  readonly kind: ViolationKind;
  /** The first block; `blocks` consecutive blocks of one check had this kind (the detail is the first's). */
  readonly lba: number;
  blocks: number;
  readonly where: string;
  readonly detail: string;
}

export interface SyncToken {
  readonly scope: string;
  readonly writes: readonly WriteRecord[];
}

const VIOLATION_DETAILS_KEPT = 40;

export class BlockLedger {
  readonly #writes = new Map<number, WriteRecord>();
  /** Per block: its durable floor (a write id; 0 = zeros). */
  readonly #floor: Uint32Array;
  /** Per block: write ids since the floor, ascending, the floor first; undefined = [floor]. */
  readonly #history: (number[] | undefined)[];
  /** Per scope: acked writes that are not durable yet. */
  readonly #unflushed = new Map<string, Set<WriteRecord>>();
  #nextId = 1;
  #storeEpoch = 0;
  readonly violations: Violation[] = [];
  readonly violationCounts = new Map<ViolationKind, number>();
  readonly counts = {
    writesSent: 0,
    writesAcked: 0,
    writesFailed: 0,
    writesUnknown: 0,
    writesDurable: 0,
    fuaWrites: 0,
    blocksWritten: 0,
    syncsSent: 0,
    syncsAcked: 0,
    blocksChecked: 0,
    /** Blocks found at an acked-but-unflushed write older than the newest acked one (allowed). */
    rolledBack: 0,
  };

  constructor(
    readonly blockCount: number,
    readonly runTag: number,
  ) {
    this.#floor = new Uint32Array(blockCount);
    this.#history = new Array(blockCount);
  }

  get storeEpoch(): number {
    return this.#storeEpoch;
  }

  get violationCount(): number {
    let total = 0;
    for (const count of this.violationCounts.values()) total += count;
    return total;
  }

  /** A store process was killed: acked writes not yet flushed lose their guarantee. */
  storeCrashed(): void {
    this.#storeEpoch++;
  }

  beginWrite(lba: number, blocks: number, options: { fua: boolean; scope: string }): WriteRecord {
    assert(lba >= 0 && blocks > 0 && lba + blocks <= this.blockCount, `write ${lba}+${blocks} out of range`);
    const record: WriteRecord = {
      id: this.#nextId++,
      lba,
      blocks,
      fua: options.fua,
      scope: options.scope,
      sentEpoch: this.#storeEpoch,
      state: 'in-flight',
      durable: false,
    };
    this.#writes.set(record.id, record);
    for (let block = lba; block < lba + blocks; block++) {
      const history = this.#history[block] ?? [this.#floor[block]!];
      const last = this.#writes.get(history[history.length - 1]!);
      assert(
        last === undefined || last.state !== 'in-flight',
        `harness bug: block ${block} has write ${last?.id} in flight already`,
      );
      history.push(record.id);
      this.#history[block] = history;
    }
    this.counts.writesSent++;
    this.counts.blocksWritten += blocks;
    if (options.fua) this.counts.fuaWrites++;
    return record;
  }

  /** Another attempt of the same write is about to be sent (a multipath retry) through `scope`. */
  resend(record: WriteRecord, scope: string): void {
    record.scope = scope;
    record.sentEpoch = this.#storeEpoch;
  }

  ackWrite(record: WriteRecord): void {
    assert(record.state === 'in-flight', `write ${record.id} ended twice`);
    record.state = 'acked';
    this.counts.writesAcked++;
    if (record.fua) this.#makeDurable(record);
    else {
      const set = this.#unflushed.get(record.scope) ?? new Set<WriteRecord>();
      this.#unflushed.set(record.scope, set);
      set.add(record);
    }
  }

  /** The write ended without GOOD: `failed` (answered otherwise) or `unknown` (no answer). */
  endWrite(record: WriteRecord, state: 'failed' | 'unknown'): void {
    assert(record.state === 'in-flight', `write ${record.id} ended twice`);
    record.state = state;
    if (state === 'failed') this.counts.writesFailed++;
    else this.counts.writesUnknown++;
  }

  /** Call just before a SYNCHRONIZE CACHE is sent through `scope`. */
  beginSync(scope: string): SyncToken {
    this.counts.syncsSent++;
    return { scope, writes: [...(this.#unflushed.get(scope) ?? [])] };
  }

  /** The SYNCHRONIZE CACHE was answered GOOD: every write acked before it was sent is durable. */
  ackSync(token: SyncToken): void {
    this.counts.syncsAcked++;
    const set = this.#unflushed.get(token.scope);
    for (const record of token.writes) {
      set?.delete(record);
      if (!record.durable) this.#makeDurable(record);
    }
  }

  #makeDurable(record: WriteRecord): void {
    record.durable = true;
    this.counts.writesDurable++;
    for (let block = record.lba; block < record.lba + record.blocks; block++) {
      if (this.#floor[block]! >= record.id) continue;
      this.#floor[block] = record.id;
      const history = this.#history[block];
      if (history === undefined) continue;
      const from = history.indexOf(record.id);
      // A settle() dropped this write from the list (it was never seen): keep the list, whose
      // first entry is then older; the floor still rules.
      if (from > 0) history.splice(0, from);
      if (history.length === 1) this.#history[block] = undefined;
    }
  }

  /** The write ids block `lba` may hold, oldest first (the durable floor first). */
  allowedWrites(lba: number): readonly number[] {
    return this.#history[lba] ?? [this.#floor[lba]!];
  }

  /** Checks `data` (whole blocks read from `lba`); returns the write id each block holds (0 = zeros, -1 = bad). */
  checkRange(lba: number, data: Buffer, where: string): Int32Array {
    const blocks = data.length / STAMP_BLOCK_BYTES;
    const seen = new Int32Array(blocks);
    for (let i = 0; i < blocks; i++) {
      const decoded = decodeBlock(data, i * STAMP_BLOCK_BYTES, this.runTag);
      seen[i] = this.checkBlock(lba + i, decoded, where);
    }
    return seen;
  }

  /** Checks one decoded block; returns the write id it holds (0 = zeros), or -1 after a violation. */
  checkBlock(lba: number, decoded: DecodedBlock, where: string): number {
    this.counts.blocksChecked++;
    if (decoded.kind === 'garbage') {
      this.violation(
        'garbage-block',
        lba,
        `${where}: block ${lba} is neither zeros nor a stamp of this run`,
        where,
      );
      return -1;
    }
    if (decoded.kind === 'torn') {
      this.violation(
        'torn-block',
        lba,
        `${where}: block ${lba} starts as write ${decoded.writeId} (for block ${decoded.lba}) but the rest does not match`,
        where,
      );
      return -1;
    }
    const writeId = decoded.kind === 'zero' ? 0 : decoded.writeId;
    if (decoded.kind === 'stamp') {
      const record = this.#writes.get(writeId);
      if (
        record === undefined ||
        decoded.lba !== lba ||
        lba < record.lba ||
        lba >= record.lba + record.blocks ||
        decoded.index !== lba - record.lba ||
        decoded.count !== record.blocks
      ) {
        this.violation(
          'misplaced-block',
          lba,
          `${where}: block ${lba} holds block ${decoded.index}/${decoded.count} (for block ${decoded.lba}) of write ${writeId}` +
            (record === undefined
              ? ', which was never sent'
              : `, which covered ${record.lba}+${record.blocks}`),
          where,
        );
        return -1;
      }
    }
    const floor = this.#floor[lba]!;
    const allowed = this.allowedWrites(lba);
    let strict = floor;
    let newestAcked = floor;
    for (let i = allowed.length - 1; i > 0; i--) {
      const record = this.#writes.get(allowed[i]!)!;
      if (record.state !== 'acked') continue;
      newestAcked = Math.max(newestAcked, record.id);
      if (record.sentEpoch === this.#storeEpoch) strict = Math.max(strict, record.id);
    }
    if (allowed.includes(writeId)) {
      if (writeId >= strict) {
        if (writeId < newestAcked) this.counts.rolledBack++;
        return writeId;
      }
      this.violation(
        'acked-write-lost',
        lba,
        `${where}: block ${lba} holds ${describeWrite(writeId)} but write ${strict} was acknowledged with no store kill since it was sent (${this.#describeList(lba)})`,
        where,
      );
      return -1;
    }
    if (writeId < floor) {
      this.violation(
        'durable-write-lost',
        lba,
        `${where}: block ${lba} holds ${describeWrite(writeId)}, older than its durable write ${floor} (${this.#describeList(lba)})`,
        where,
      );
    } else {
      this.violation(
        'ghost-write',
        lba,
        `${where}: block ${lba} holds write ${writeId}, which it was seen without after that write ended (${this.#describeList(lba)})`,
        where,
      );
    }
    return -1;
  }

  /**
   * After a verification that saw `seen[i]` at block `lba + i` and a SYNCHRONIZE CACHE answered
   * GOOD after it, with nothing in flight: what each block held is now its durable floor.
   */
  settle(lba: number, seen: Int32Array): void {
    for (let i = 0; i < seen.length; i++) {
      const block = lba + i;
      const writeId = seen[i]!;
      if (writeId < 0) continue;
      if (writeId > this.#floor[block]!) this.#floor[block] = writeId;
      this.#history[block] = undefined;
    }
  }

  /** Counts one violation; consecutive blocks of one kind found by one check are kept as one entry. */
  violation(kind: ViolationKind, lba: number, detail: string, where = ''): void {
    this.violationCounts.set(kind, (this.violationCounts.get(kind) ?? 0) + 1);
    const last = this.violations[this.violations.length - 1];
    if (
      last !== undefined &&
      where !== '' &&
      last.kind === kind &&
      last.where === where &&
      last.lba + last.blocks === lba
    ) {
      last.blocks++;
      return;
    }
    if (this.violations.length < VIOLATION_DETAILS_KEPT)
      this.violations.push({ kind, lba, blocks: 1, where, detail });
  }

  #describeList(lba: number): string {
    return `allowed: ${this.allowedWrites(lba)
      .map((id) => {
        if (id === 0) return '0 (zeros)';
        const record = this.#writes.get(id);
        return record === undefined
          ? `${id}`
          : `${id} ${record.state}${record.durable ? ' durable' : ''}${record.fua ? ' fua' : ''} epoch ${record.sentEpoch}`;
      })
      .join(', ')}; store epoch ${this.#storeEpoch}`;
  }
}

/** One line: the kind, the blocks, the first block's detail. */
export function describeViolation(violation: Violation): string {
  const range =
    violation.blocks > 1
      ? `${violation.blocks} consecutive blocks ${violation.lba}..${violation.lba + violation.blocks - 1}, the first: `
      : '';
  return `${violation.kind}: ${range}${violation.detail}`;
}

function describeWrite(writeId: number): string {
  return writeId === 0 ? 'zeros' : `write ${writeId}`;
}
