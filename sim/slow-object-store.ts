/**
 * The simulator's "slow store" fault: an ObjectStore wrapper that, while switched on, holds every
 * operation for a delay drawn from the world's Rng before handing it to the real store, so a
 * write lands late (after its sender gave up on it, say) and concurrent operations complete out
 * of order. Switched off, it calls straight through and draws nothing.
 *
 * Fault model: latency only. The data stays pristine (no torn or lost objects): a delayed
 * operation is performed exactly as asked, once. Time is the injected clock's.
 */
import type { Clock } from '../src/core/clock.js';
import type { Rng } from '../src/core/rng.js';
import { sleepMs } from '../src/core/sleep.js';
import type { CreateObject, ObjectStore } from '../src/store/object-store.js';

export class SlowObjectStore implements ObjectStore {
  /** Each operation waits a whole number of ms drawn in [0, delayMsMax]; 0 = off. */
  delayMsMax = 0;

  constructor(
    private readonly inner: ObjectStore,
    private readonly clock: Clock,
    private readonly rng: Rng,
  ) {}

  async read(oid: bigint, offset: number, length: number): Promise<Buffer | undefined> {
    await this.#wait();
    return this.inner.read(oid, offset, length);
  }

  async create(oid: bigint, object: CreateObject): Promise<void> {
    await this.#wait();
    return this.inner.create(oid, object);
  }

  async write(oid: bigint, offset: number, data: Buffer): Promise<boolean> {
    await this.#wait();
    return this.inner.write(oid, offset, data);
  }

  remove(oid: bigint): Promise<boolean> {
    return this.inner.remove(oid);
  }

  exists(oid: bigint): Promise<boolean> {
    return this.inner.exists(oid);
  }

  sizeOf(oid: bigint): Promise<number | undefined> {
    return this.inner.sizeOf(oid);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  list(): Promise<bigint[]> {
    return this.inner.list();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async #wait(): Promise<void> {
    if (this.delayMsMax <= 0) return;
    const delayMs = this.rng.int(0, this.delayMsMax + 1);
    if (delayMs > 0) await sleepMs(this.clock, delayMs);
  }
}
