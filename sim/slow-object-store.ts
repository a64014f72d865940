/**
 * The simulator's store disk: an ObjectStore wrapper that can be slow, and that can crash.
 *
 * Slow ("slowStore" fault). While `delayMsMax` > 0, every read, create and write waits a delay
 * drawn from the world's Rng (up to delayMsMax, or a stall in `stallMs` for a `stallRatio` share
 * of them) before it reaches the real store, so a write lands late (after its
 * sender gave up on it, say) and concurrent operations complete out of order. Switched off, it
 * calls straight through and draws nothing. A delayed operation is performed exactly as asked,
 * once, unless the store crashes first.
 *
 * Crash ("storeCrash" fault). Each store process works through its own handle (`process()`).
 * crash() kills the current one: every operation still held by the delay at that instant (in
 * flight: the process had asked the disk, the disk had not finished) gets a fate drawn from the
 * given Rng, applied at once:
 *   - dropped: nothing of it reaches the disk;
 *   - applied: all of it does;
 *   - torn (WRITE only): a prefix of whole 512-byte disk sectors does. Sectors are the object's
 *     (offset 0, 512, ...), as a file's blocks on a disk are: the cut is a sector boundary
 *     strictly inside the written range, so a write inside one sector cannot tear. CREATE
 *     never tears: the real store writes a temporary file and renames it (atomic).
 * Reads in flight have no fate. After the crash nothing the dead process asked ever settles (it
 * is dead: no code of it runs on), and any new call through its handle never settles either, so
 * zombie request handlers still in the heap cannot touch the disk. A new process (the store's
 * restart) takes a new handle. Operations that were not held (no delay, or remove/exists/...)
 * complete at once, so they are never in flight at a crash.
 *
 * Time is the injected clock's; every draw comes from the injected Rngs.
 */
import type { Clock } from '../src/core/clock.js';
import type { Rng } from '../src/core/rng.js';
import { sleepMs } from '../src/core/sleep.js';
import type { CreateObject, ObjectStore } from '../src/store/object-store.js';

/** The disk's unit of atomicity for a torn write. */
export const SECTOR_BYTES = 512;

export type CrashFate = 'dropped' | 'applied' | 'torn';

/** What happened to one operation in flight at a crash. */
export interface CrashedOperation {
  readonly kind: 'read' | 'create' | 'write';
  /** The oid in sheep's 16-hex-digit form. */
  readonly oid: string;
  readonly offset: number;
  readonly lengthBytes: number;
  /** Undefined for reads. */
  readonly fate: CrashFate | undefined;
  /** Bytes of the data that reached the disk (the torn prefix; all or 0 otherwise). */
  readonly appliedBytes: number;
}

interface Held {
  readonly kind: 'read' | 'create' | 'write';
  readonly oid: bigint;
  readonly offset: number;
  readonly lengthBytes: number;
  readonly data: Buffer | undefined;
  readonly object: CreateObject | undefined;
  /** Set by crash(): the operation must not run when its delay ends. */
  crashed: boolean;
}

const NEVER: Promise<never> = new Promise<never>(() => undefined);

export class SlowObjectStore implements ObjectStore {
  /** Each operation waits a whole number of ms drawn in [0, delayMsMax]; 0 = off. */
  delayMsMax = 0;
  /**
   * While slow, this share of operations stalls instead: it waits a whole number of ms drawn in
   * `stallMs` (a disk hiccup; meant to outlast the clients' request timeout, so that a request
   * is given up and resent while its first copy is still held). 0 = no stalls.
   */
  stallRatio = 0;
  stallMs: readonly [number, number] = [2_000, 3_500];
  /** Store processes so far; a handle works only while its process is the current one. */
  #incarnation = 0;
  readonly #held = new Set<Held>();

  constructor(
    private readonly inner: ObjectStore,
    private readonly clock: Clock,
    private readonly rng: Rng,
  ) {}

  /** Operations held by the delay right now (they would get a fate at a crash), oldest first. */
  heldOperations(): { kind: Held['kind']; oid: bigint; offset: number; lengthBytes: number }[] {
    return [...this.#held].map((op) => ({
      kind: op.kind,
      oid: op.oid,
      offset: op.offset,
      lengthBytes: op.lengthBytes,
    }));
  }

  /** The handle of the current store process (pass it to SheepStore.open). */
  process(): ObjectStore {
    const incarnation = this.#incarnation;
    const alive = () => this.#incarnation === incarnation;
    return {
      read: (oid, offset, length) => this.#read(alive, oid, offset, length),
      create: (oid, object) => this.#create(alive, oid, object),
      write: (oid, offset, data) => this.#write(alive, oid, offset, data),
      remove: (oid) => this.#passThrough(alive, () => this.inner.remove(oid)),
      exists: (oid) => this.#passThrough(alive, () => this.inner.exists(oid)),
      sizeOf: (oid) => this.#passThrough(alive, () => this.inner.sizeOf(oid)),
      flush: () => this.#passThrough(alive, () => this.inner.flush()),
      list: () => this.#passThrough(alive, () => this.inner.list()),
      // A process's close does not close the disk (the next process uses it).
      close: () => (alive() ? Promise.resolve() : NEVER),
    };
  }

  /**
   * The current process dies. Every operation in flight gets its fate from `rng` (in the order
   * they were asked) and the fates are applied to the disk before this resolves; the dead
   * process's handle and everything it was waiting for never settle.
   */
  async crash(rng: Rng): Promise<CrashedOperation[]> {
    this.#incarnation += 1;
    const held = [...this.#held];
    this.#held.clear();
    const report: CrashedOperation[] = [];
    for (const op of held) {
      op.crashed = true;
      report.push(await this.#settleAtCrash(op, rng));
    }
    return report;
  }

  // ---- ObjectStore, for the current process (tests; the world uses process()) ----

  read(oid: bigint, offset: number, length: number): Promise<Buffer | undefined> {
    return this.process().read(oid, offset, length);
  }

  create(oid: bigint, object: CreateObject): Promise<void> {
    return this.process().create(oid, object);
  }

  write(oid: bigint, offset: number, data: Buffer): Promise<boolean> {
    return this.process().write(oid, offset, data);
  }

  remove(oid: bigint): Promise<boolean> {
    return this.process().remove(oid);
  }

  exists(oid: bigint): Promise<boolean> {
    return this.process().exists(oid);
  }

  sizeOf(oid: bigint): Promise<number | undefined> {
    return this.process().sizeOf(oid);
  }

  flush(): Promise<void> {
    return this.process().flush();
  }

  list(): Promise<bigint[]> {
    return this.process().list();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  // ---- internals ----

  async #read(
    alive: () => boolean,
    oid: bigint,
    offset: number,
    length: number,
  ): Promise<Buffer | undefined> {
    const op: Held = {
      kind: 'read',
      oid,
      offset,
      lengthBytes: length,
      data: undefined,
      object: undefined,
      crashed: false,
    };
    if (!(await this.#hold(alive, op))) return NEVER;
    return this.#passThrough(alive, () => this.inner.read(oid, offset, length));
  }

  async #create(alive: () => boolean, oid: bigint, object: CreateObject): Promise<void> {
    const op: Held = {
      kind: 'create',
      oid,
      offset: object.offset,
      lengthBytes: object.data.length,
      data: object.data,
      object,
      crashed: false,
    };
    if (!(await this.#hold(alive, op))) return NEVER;
    return this.#passThrough(alive, () => this.inner.create(oid, object));
  }

  async #write(alive: () => boolean, oid: bigint, offset: number, data: Buffer): Promise<boolean> {
    const op: Held = {
      kind: 'write',
      oid,
      offset,
      lengthBytes: data.length,
      data,
      object: undefined,
      crashed: false,
    };
    if (!(await this.#hold(alive, op))) return NEVER;
    return this.#passThrough(alive, () => this.inner.write(oid, offset, data));
  }

  /** Waits the drawn delay; false when the process died (before or during the wait). */
  async #hold(alive: () => boolean, op: Held): Promise<boolean> {
    if (!alive()) return false;
    if (this.delayMsMax <= 0) return true;
    const delayMs =
      this.stallRatio > 0 && this.rng.chance(this.stallRatio)
        ? this.rng.int(this.stallMs[0], this.stallMs[1] + 1)
        : this.rng.int(0, this.delayMsMax + 1);
    if (delayMs === 0) return true;
    this.#held.add(op);
    await sleepMs(this.clock, delayMs);
    this.#held.delete(op);
    return !op.crashed && alive();
  }

  /** Runs `call` for a live process; its answer reaches only a process that is still alive. */
  async #passThrough<T>(alive: () => boolean, call: () => Promise<T>): Promise<T> {
    if (!alive()) return NEVER;
    const result = await call();
    return alive() ? result : NEVER;
  }

  async #settleAtCrash(op: Held, rng: Rng): Promise<CrashedOperation> {
    const base = {
      kind: op.kind,
      oid: op.oid.toString(16).padStart(16, '0'),
      offset: op.offset,
      lengthBytes: op.lengthBytes,
    };
    if (op.kind === 'read') return { ...base, fate: undefined, appliedBytes: 0 };
    const data = op.data!;
    if (op.kind === 'create') {
      const fate = rng.pick<CrashFate>(['dropped', 'applied']);
      if (fate === 'dropped') return { ...base, fate, appliedBytes: 0 };
      await this.inner.create(op.oid, op.object!);
      return { ...base, fate: 'applied', appliedBytes: data.length };
    }
    const cuts = tearPoints(op.offset, data.length);
    const fates: CrashFate[] = cuts.length > 0 ? ['dropped', 'applied', 'torn'] : ['dropped', 'applied'];
    const fate = rng.pick(fates);
    if (fate === 'dropped') return { ...base, fate, appliedBytes: 0 };
    const appliedBytes = fate === 'applied' ? data.length : rng.pick(cuts);
    await this.inner.write(op.oid, op.offset, data.subarray(0, appliedBytes));
    return { ...base, fate, appliedBytes };
  }
}

/**
 * Where a write of `lengthBytes` at `offset` can be cut by a crash: the lengths of its prefixes
 * that end on a sector boundary strictly inside the range.
 */
export function tearPoints(offset: number, lengthBytes: number): number[] {
  const cuts: number[] = [];
  const end = offset + lengthBytes;
  for (
    let boundary = (Math.floor(offset / SECTOR_BYTES) + 1) * SECTOR_BYTES;
    boundary < end;
    boundary += SECTOR_BYTES
  ) {
    cuts.push(boundary - offset);
  }
  return cuts;
}
