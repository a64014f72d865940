/**
 * The embedded sheep-compatible store, assembled: objects + VDI table + lock table + request
 * handler, served on one or more endpoints. Each endpoint is a distinct sheep node for locks and
 * coherence (tgt opens one connection per I/O thread, so a node cannot be a connection).
 *
 * The same assembly runs for real (FileObjectStore, TcpTransport, the real clock) and in the
 * simulator (MemoryObjectStore, the memory transport, a virtual clock).
 */

import { type Endpoint, endpointToString, type Transport } from '../../transports/transport.js';
import type { AssertionError } from '../core/assert.js';
import type { Clock } from '../core/clock.js';
import type { EventLog } from '../core/event-log.js';
import type { Logger } from '../core/logger.js';
import { LockTable } from './lock-table.js';
import type { ObjectStore } from './object-store.js';
import { SheepServer, type StoreNode } from './sheep-server.js';
import { StoreEndpoint } from './store-endpoint.js';
import type { StoreCompat } from './store-rules.js';
import type { TestOnlyStoreBug } from './test-only-store-bugs.js';
import { type ClusterDefaults, VdiTable } from './vdi-table.js';

export interface SheepStoreOptions {
  readonly objects: ObjectStore;
  readonly defaults: ClusterDefaults;
  /** Locks and inode coherence on (a cluster formatted with --lock). */
  readonly locking: boolean;
  /**
   * 'collie' (default): every rule past sheep 1.0 (docs/multipath-safety.md). 'sheep-1.0': none
   * of them, answering as a sheep 1.0 cluster does (store-rules.ts), to test clients against it.
   */
  readonly compat?: StoreCompat;
  /**
   * Invalidate every participant of a VDI that becomes a snapshot (default: true for 'collie',
   * false for 'sheep-1.0'). Sheep 1.0 does not, which leaves a reading target stale after another
   * copied on write; false reproduces it on Collie's store.
   */
  readonly snapshotInvalidates?: boolean;
  readonly transport: Transport;
  readonly listen: readonly Endpoint[];
  readonly clock: Clock;
  readonly eventLog: EventLog;
  readonly logger: Logger;
  readonly capacity?: () => Promise<{ sizeBytes: bigint; freeBytes: bigint }>;
  /** A store invariant broke (a Collie bug; SheepServerOptions.onInvariantBroken). */
  readonly onInvariantBroken?: (error: AssertionError) => void;
  /** Test only (the simulator's mutants): a mistake put in on purpose. */
  readonly testOnlyBug?: TestOnlyStoreBug;
}

export class SheepStore {
  readonly server: SheepServer;
  readonly vdis: VdiTable;
  readonly locks: LockTable;
  readonly #options: SheepStoreOptions;
  readonly #endpoints = new Map<string, StoreEndpoint>();

  private constructor(options: SheepStoreOptions, vdis: VdiTable) {
    this.#options = options;
    this.vdis = vdis;
    this.locks = new LockTable({ eventLog: options.eventLog, enabled: options.locking });
    this.server = new SheepServer({
      objects: options.objects,
      vdis,
      locks: this.locks,
      clock: options.clock,
      eventLog: options.eventLog,
      logger: options.logger,
      nodes: () => this.nodes(),
      onNodeKill: (node) => void this.leave(node.key),
      capacity: options.capacity,
      compat: options.compat,
      snapshotInvalidates: options.snapshotInvalidates,
      onInvariantBroken: options.onInvariantBroken,
      testOnlyBug: options.testOnlyBug,
    });
  }

  static async open(options: SheepStoreOptions): Promise<SheepStore> {
    const vdis = await VdiTable.open({
      objects: options.objects,
      clock: options.clock,
      eventLog: options.eventLog,
      defaults: options.defaults,
    });
    const store = new SheepStore(options, vdis);
    try {
      for (const address of options.listen) await store.join(address);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  nodes(): StoreNode[] {
    return [...this.#endpoints.values()].map((endpoint) => endpoint.node);
  }

  /** Starts serving on one more endpoint: a node joins. */
  async join(address: Endpoint): Promise<StoreNode> {
    const endpoint = await StoreEndpoint.listen({
      transport: this.#options.transport,
      address,
      server: this.server,
      logger: this.#options.logger,
      eventLog: this.#options.eventLog,
    });
    this.#endpoints.set(endpoint.node.key, endpoint);
    return endpoint.node;
  }

  /**
   * A node leaves, as a sheep node leaving the cluster: its endpoint stops listening, its
   * connections drop, and it leaves every VDI it participated in (its normal locks stay).
   */
  async leave(nodeKey: string): Promise<boolean> {
    const endpoint = this.#endpoints.get(nodeKey);
    if (!endpoint) return false;
    this.#endpoints.delete(nodeKey);
    this.locks.nodeLeft(nodeKey);
    await endpoint.close();
    return true;
  }

  async close(): Promise<void> {
    for (const key of [...this.#endpoints.keys()]) await this.leave(key);
    await this.#options.objects.close();
  }

  describe(): string {
    return this.nodes()
      .map((node) => endpointToString(node.endpoint))
      .join(', ');
  }
}
