/**
 * An ObjectStore wrapper for store tests: it holds the one create, write or read a predicate picks
 * until the test releases it, so a test can land a request inside another one's window (a
 * snapshot between its copy of data_vdi_id and its mark, a write the client gave up on).
 */
import type { MemoryObjectStore } from '../../src/store/memory-object-store.js';
import type { CreateObject, ObjectStore } from '../../src/store/object-store.js';
import { type StoreWorld, storeWorld } from './store-world.js';

export type GatedOp = { kind: 'create' | 'write' | 'read'; oid: bigint; offset: number; length: number };

/** An ObjectStore that holds the operations a predicate picks until the test releases them. */
export class GatedObjects implements ObjectStore {
  readonly #inner: MemoryObjectStore;
  #gate: { pick: (op: GatedOp) => boolean; held: Array<() => void>; armed: boolean } | undefined;
  #failure: { pick: (op: GatedOp) => boolean; error: Error } | undefined;

  constructor(inner: MemoryObjectStore) {
    this.#inner = inner;
  }

  /** Holds the next operation `pick` matches (only that one) until release() is called. */
  hold(pick: (op: GatedOp) => boolean): { release: () => void; heldCount: () => number } {
    const gate = { pick, held: [] as Array<() => void>, armed: true };
    this.#gate = gate;
    return {
      release: () => {
        gate.armed = false;
        for (const wake of gate.held.splice(0)) wake();
      },
      heldCount: () => gate.held.length,
    };
  }

  /** The next operation `pick` matches throws `error` instead of running (once). */
  failNext(pick: (op: GatedOp) => boolean, error: Error): void {
    this.#failure = { pick, error };
  }

  async #pass(op: GatedOp): Promise<void> {
    const failure = this.#failure;
    if (failure?.pick(op)) {
      this.#failure = undefined;
      throw failure.error;
    }
    const gate = this.#gate;
    if (gate === undefined || !gate.armed || gate.held.length > 0 || !gate.pick(op)) return;
    await new Promise<void>((resolve) => gate.held.push(resolve));
  }

  async read(oid: bigint, offset: number, length: number) {
    await this.#pass({ kind: 'read', oid, offset, length });
    return this.#inner.read(oid, offset, length);
  }
  async create(oid: bigint, object: CreateObject) {
    await this.#pass({ kind: 'create', oid, offset: object.offset, length: object.data.length });
    return this.#inner.create(oid, object);
  }
  async write(oid: bigint, offset: number, data: Buffer) {
    await this.#pass({ kind: 'write', oid, offset, length: data.length });
    return this.#inner.write(oid, offset, data);
  }
  remove(oid: bigint) {
    return this.#inner.remove(oid);
  }
  exists(oid: bigint) {
    return this.#inner.exists(oid);
  }
  sizeOf(oid: bigint) {
    return this.#inner.sizeOf(oid);
  }
  flush() {
    return this.#inner.flush();
  }
  list() {
    return this.#inner.list();
  }
  close() {
    return this.#inner.close();
  }
}

/** A store world (endpoints 7000-7002 unless told) whose objects sit behind a GatedObjects. */
export async function gatedStoreWorld(
  options: Omit<Parameters<typeof storeWorld>[0] & object, 'wrapObjects'> = {},
): Promise<{ world: StoreWorld; gated: GatedObjects }> {
  let gated: GatedObjects | undefined;
  const world = await storeWorld({
    ports: [7000, 7001, 7002],
    ...options,
    wrapObjects: (objects) => {
      gated = new GatedObjects(objects);
      return gated;
    },
  });
  return { world, gated: gated! };
}

/** Lets 100 ms of virtual time pass: requests in flight get as far as they can (held ones stay held). */
export async function idle(world: StoreWorld): Promise<void> {
  await world.clock.runUntilIdle({ stepsMax: 100_000, untilMs: world.clock.now() + 100 });
}
