/**
 * A small simulated world for store tests: the real embedded store (memory objects) with several
 * endpoints on the memory network, a virtual clock, and real SheepConnections from named hosts.
 * `settle(promise)` advances virtual time until the promise settles.
 */

import { EventLog } from '../../src/core/event-log.js';
import { MemoryRingSink } from '../../src/core/event-sinks.js';
import { silentLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { SheepConnection } from '../../src/sheepdog/sheep-connection.js';
import { MemoryObjectStore } from '../../src/store/memory-object-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { SheepStore } from '../../src/store/sheep-store.js';
import type { StoreCompat } from '../../src/store/store-rules.js';
import { MemoryNetwork } from '../../transports/memory.js';

export const STORE_HOST = 'store';

export interface StoreWorld {
  readonly clock: VirtualClock;
  readonly network: MemoryNetwork;
  readonly eventLog: EventLog;
  readonly events: MemoryRingSink;
  readonly objects: MemoryObjectStore;
  readonly store: SheepStore;
  settle<T>(promise: Promise<T>): Promise<T>;
  connect(host: string, port: number): Promise<SheepConnection>;
}

export async function storeWorld(
  options: {
    ports?: number[];
    locking?: boolean;
    seed?: number;
    snapshotInvalidates?: boolean;
    /** 'sheep-1.0': the store answers as sheep 1.0 does (src/store/store-rules.ts). */
    compat?: StoreCompat;
    /** Wraps the memory objects the store uses (a gate that holds chosen operations, say). */
    wrapObjects?: (objects: MemoryObjectStore) => ObjectStore;
  } = {},
): Promise<StoreWorld> {
  const clock = new VirtualClock(1_700_000_000_000);
  const eventLog = new EventLog(clock);
  const events = new MemoryRingSink(10_000);
  eventLog.addSink(events);
  const network = new MemoryNetwork({
    clock,
    rng: createRng(options.seed ?? 1),
    eventLog,
    options: { delayMsMax: 1 },
  });
  const objects = new MemoryObjectStore();
  const settle = <T>(promise: Promise<T>): Promise<T> => clock.settle(promise);
  const store = await settle(
    SheepStore.open({
      objects: options.wrapObjects ? options.wrapObjects(objects) : objects,
      defaults: { copies: 1, copyPolicy: 0, blockSizeShift: 22 },
      locking: options.locking ?? true,
      snapshotInvalidates: options.snapshotInvalidates,
      compat: options.compat,
      transport: network.transport(STORE_HOST),
      listen: (options.ports ?? [7000, 7001]).map((port) => ({ host: STORE_HOST, port })),
      clock,
      eventLog,
      logger: silentLogger,
    }),
  );
  return {
    clock,
    network,
    eventLog,
    events,
    objects,
    store,
    settle,
    connect: (host, port) =>
      settle(SheepConnection.open(network.transport(host), { host: STORE_HOST, port }, { clock })),
  };
}
