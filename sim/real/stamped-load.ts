/**
 * The mixed load of the crash and soak harnesses: workers that write stamped blocks (random
 * sizes at random LBAs, some with FUA), send SYNCHRONIZE CACHE now and then, and read back ranges
 * they wrote (a read-after-ack check) or anywhere, every answer going through the BlockLedger.
 *
 * - A range fence keeps two commands off one block at a time, the ledger's precondition.
 * - Each worker draws from its own fork of the run's Rng, so its choices are the seed's; which
 *   command reaches the target first is real timing and is not replayed.
 * - choosePath decides the path of each attempt: a worker's own session (crash) or any path
 *   that is up (soak, multipath). With `retries` a write that got no answer or an error is sent
 *   again, the same data, through the next path, as a multipath initiator retries a failed I/O;
 *   its range stays fenced until one attempt is answered GOOD or the retries run out.
 */
import { realClock } from '../../src/core/real-clock.js';
import type { Rng } from '../../src/core/rng.js';
import { sleepMs } from '../../src/core/sleep.js';
import type { BlockLedger, WriteRecord } from './block-ledger.js';
import { stampedData } from './block-stamps.js';
import type { IoOutcome, IscsiPath } from './iscsi-path.js';

export class RangeFence {
  readonly #ranges = new Map<number, { lba: number; end: number }>();
  #next = 0;

  /** A handle for [lba, lba + blocks), or undefined when it overlaps a fenced range. */
  tryAcquire(lba: number, blocks: number): number | undefined {
    const end = lba + blocks;
    for (const range of this.#ranges.values()) if (lba < range.end && range.lba < end) return undefined;
    const handle = this.#next++;
    this.#ranges.set(handle, { lba, end });
    return handle;
  }

  release(handle: number): void {
    this.#ranges.delete(handle);
  }

  get size(): number {
    return this.#ranges.size;
  }
}

export interface LoadMix {
  /** Share of operations that are writes, reads and SYNCHRONIZE CACHE (normalised). */
  readonly write: number;
  readonly read: number;
  readonly sync: number;
  /** Of the reads: the share that reads back a range written and acknowledged recently. */
  readonly readAfterAck: number;
  readonly fuaChance: number;
  /** Chance that a write answered GOOD is read back at once (fence still held) through readBackPath. */
  readonly readBackChance: number;
}

export interface LoadOptions {
  readonly ledger: BlockLedger;
  readonly runTag: number;
  readonly fence: RangeFence;
  readonly mix: LoadMix;
  /** Writes and reads stay below this LBA (it may grow during a run). */
  readonly lbaLimit: () => number;
  /** The path for worker `worker`'s next attempt (`attempt` 0 first); undefined: none is up. */
  readonly choosePath: (worker: number, attempt: number) => IscsiPath | undefined;
  /** Attempts of one write after the first (0: crash; > 0: multipath retries). */
  readonly retries: number;
  /** How long a worker waits for a path to come up before it gives up an attempt (multipath). */
  readonly pathWaitMs: number;
  /** The path of an immediate read-back (any path that is up, for a multipath check). */
  readonly readBackPath?: (rng: Rng) => IscsiPath | undefined;
  /** Names the load in violation details. */
  readonly where: string;
}

export interface LoadCounts {
  writes: number;
  writesGood: number;
  writesNotGood: number;
  writeRetries: number;
  reads: number;
  readsGood: number;
  readsAfterAck: number;
  readBacks: number;
  syncs: number;
  syncsGood: number;
  fenceSkips: number;
}

export function newLoadCounts(): LoadCounts {
  return {
    writes: 0,
    writesGood: 0,
    writesNotGood: 0,
    writeRetries: 0,
    reads: 0,
    readsGood: 0,
    readsAfterAck: 0,
    readBacks: 0,
    syncs: 0,
    syncsGood: 0,
    fenceSkips: 0,
  };
}

const RECENT_ACKED = 64;

/** Blocks of one write: mostly small, sometimes up to 1 MiB (crossing object boundaries). */
export function drawWriteBlocks(rng: Rng): number {
  const draw = rng.float();
  if (draw < 0.6) return rng.int(1, 17);
  if (draw < 0.92) return rng.int(17, 257);
  return rng.int(257, 2049);
}

export class StampedLoad {
  readonly counts = newLoadCounts();
  readonly #recent: { lba: number; blocks: number }[] = [];
  #stopping = false;
  #workers: Promise<void>[] = [];

  constructor(readonly options: LoadOptions) {}

  /** Starts `workers` workers, each drawing from its own fork of `rng`. */
  start(workers: number, rng: Rng): void {
    this.#stopping = false;
    for (let worker = 0; worker < workers; worker++) {
      this.#workers.push(this.#work(worker, rng.fork(`worker-${worker}`)));
    }
  }

  /** Lets every worker finish its operation in progress; resolves when all have ended. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#workers);
    this.#workers = [];
  }

  async #work(worker: number, rng: Rng): Promise<void> {
    const { mix } = this.options;
    const total = mix.write + mix.read + mix.sync;
    while (!this.#stopping) {
      const path = this.options.choosePath(worker, 0);
      if (path === undefined) {
        if (this.options.retries === 0) return; // crash: this worker's session is gone
        await sleepMs(realClock, 50);
        continue;
      }
      const draw = rng.float() * total;
      if (draw < mix.write) await this.#write(worker, rng);
      else if (draw < mix.write + mix.read) await this.#read(path, rng);
      else await this.#sync(path);
    }
  }

  async #write(worker: number, rng: Rng): Promise<void> {
    const { ledger, fence } = this.options;
    const limit = Math.min(this.options.lbaLimit(), ledger.blockCount);
    const blocks = Math.min(drawWriteBlocks(rng), limit);
    const lba = rng.int(0, limit - blocks + 1);
    const fua = rng.chance(this.options.mix.fuaChance);
    const handle = fence.tryAcquire(lba, blocks);
    if (handle === undefined) {
      this.counts.fenceSkips++;
      await sleepMs(realClock, 1);
      return;
    }
    const first = this.options.choosePath(worker, 0);
    if (first === undefined) {
      fence.release(handle);
      return;
    }
    const record = ledger.beginWrite(lba, blocks, { fua, scope: first.scope });
    const data = stampedData(this.options.runTag, record.id, lba, blocks);
    this.counts.writes++;
    try {
      const acked = await this.#attempts(worker, record, data, first);
      if (acked && rng.chance(this.options.mix.readBackChance)) await this.#readBack(record, rng);
    } finally {
      fence.release(handle);
    }
  }

  /** Reads a write just answered GOOD back through any path: it (or nothing older) must be there. */
  async #readBack(record: WriteRecord, rng: Rng): Promise<void> {
    const path = this.options.readBackPath?.(rng);
    if (path === undefined) return;
    const outcome = await path.read(record.lba, record.blocks);
    if (outcome.kind !== 'good') return;
    this.counts.readBacks++;
    this.options.ledger.checkRange(
      record.lba,
      outcome.data,
      `${this.options.where} read-back of write ${record.id} via ${path.name}`,
    );
  }

  /** Sends the write (and its retries); true when one attempt was answered GOOD. */
  async #attempts(worker: number, record: WriteRecord, data: Buffer, first: IscsiPath): Promise<boolean> {
    const { ledger } = this.options;
    let path: IscsiPath | undefined = first;
    let last: IoOutcome = { kind: 'lost', why: 'not sent' };
    for (let attempt = 0; attempt <= this.options.retries; attempt++) {
      if (attempt > 0) {
        path = await this.#waitForPath(worker, attempt);
        if (path === undefined) break;
        this.counts.writeRetries++;
        ledger.resend(record, path.scope);
      }
      last = await path!.write(record.lba, data, record.fua);
      if (last.kind === 'good') {
        ledger.ackWrite(record);
        this.counts.writesGood++;
        this.#recent[record.id % RECENT_ACKED] = { lba: record.lba, blocks: record.blocks };
        return true;
      }
    }
    this.counts.writesNotGood++;
    ledger.endWrite(record, last.kind === 'status' ? 'failed' : 'unknown');
    return false;
  }

  async #waitForPath(worker: number, attempt: number): Promise<IscsiPath | undefined> {
    const deadline = realClock.now() + this.options.pathWaitMs;
    for (;;) {
      const path = this.options.choosePath(worker, attempt);
      if (path !== undefined) return path;
      if (realClock.now() >= deadline) return undefined;
      await sleepMs(realClock, 50);
    }
  }

  async #read(path: IscsiPath, rng: Rng): Promise<void> {
    const { ledger, fence, mix } = this.options;
    let lba: number;
    let blocks: number;
    const recent = this.#recent.filter((entry) => entry !== undefined);
    const afterAck = recent.length > 0 && rng.chance(mix.readAfterAck);
    if (afterAck) {
      ({ lba, blocks } = rng.pick(recent));
    } else {
      const limit = Math.min(this.options.lbaLimit(), ledger.blockCount);
      blocks = Math.min(rng.int(1, 257), limit);
      lba = rng.int(0, limit - blocks + 1);
    }
    const handle = fence.tryAcquire(lba, blocks);
    if (handle === undefined) {
      this.counts.fenceSkips++;
      await sleepMs(realClock, 1);
      return;
    }
    try {
      this.counts.reads++;
      const outcome = await path.read(lba, blocks);
      if (outcome.kind !== 'good') return;
      this.counts.readsGood++;
      if (afterAck) this.counts.readsAfterAck++;
      ledger.checkRange(lba, outcome.data, `${this.options.where} read via ${path.name}`);
    } finally {
      fence.release(handle);
    }
  }

  async #sync(path: IscsiPath): Promise<void> {
    const token = this.options.ledger.beginSync(path.scope);
    this.counts.syncs++;
    const outcome = await path.synchronizeCache();
    if (outcome.kind === 'good') {
      this.options.ledger.ackSync(token);
      this.counts.syncsGood++;
    }
  }
}
