/**
 * A whole multipath cluster in one process: the embedded store (one endpoint per target node),
 * N Collie target nodes exporting the same VDI, and an initiator host, all on one memory network
 * with one virtual clock, one seeded Rng and one event log. Everything runs the real code: the
 * sheep codec, store, client, iSCSI codec, login, sessions and SCSI layer.
 *
 * Hosts: `store`, `target-a`, `target-b`, ... and `host` (the initiator). Target node i reaches
 * the store through its own endpoint `store:7000+i`, so each target is a distinct sheep node for
 * locks and coherence, as with two sheep daemons.
 *
 * A crashed target node is cut off (its streams reset, every link partitioned): the code that
 * ran it may keep running in the heap, like a process whose network died, and nothing it sends
 * arrives anywhere, which is what a crash looks like from outside. Each start of a node gets its
 * own transport incarnation, and a crash retires it, so that zombie code can never connect again
 * once the links heal. restartTarget() models a node reboot: the node's sheep endpoint leaves the
 * store and rejoins (a rebooted sheep daemon, which drops the old participant: otherwise the new
 * target's LOCK_VDI would be refused as "already locking"), its links heal, and a fresh target
 * service starts on the same portal.
 *
 * Target node i (0-based) has node id i + 1 (`nodeId` in its target config): its portal group
 * tag, relative target port id and target port group, the same after every restart. Every node
 * exports the target with the world's ALUA policy (`alua`, default 'active-active'). Per-node
 * settings (`targetOverrides`, by node name) change one node's backend bounds or keepalive, for
 * scenarios that need one node slower to give up than the host is to fail over.
 *
 * The store's objects sit behind a SlowObjectStore (`slowStore.delayMsMax`, off by default).
 *
 * Every node shares the one event log, whose actor names do not say which node they run on: each
 * start of a node (the store's, every target's) first logs `sim.node` {node, role, host,
 * incarnation, and a target's portal and storeEndpoint, the store's endpoints}, from which the
 * inspector's projection (src/inspect/projection.ts) maps actors to nodes; the admin host's
 * (snapshots, lock-less writers, DISCARD) names the actor prefixes of its clients. Each start
 * writes through its own view of the log (sim/incarnation-log.ts): once it crashed, what its code
 * still appends carries `zombie: "<node>#<incarnation>"`, so a restarted node's machines (same
 * actor names) are never moved by its previous incarnation's late events.
 *
 * A store crash (crashStore) kills the whole store process at once: every endpoint stops
 * listening and every connection resets, object operations in flight are dropped, applied or torn
 * (SlowObjectStore.crash), and the in-memory lock table and VDI table are lost; the lost lock
 * table is logged as every node leaving every VDI's participants, which is what the clients
 * see (their participations are gone). restartStore() opens a new SheepStore on the same objects
 * (the VDI table is rebuilt from the inodes) and listens again. Like a crashed target, the dead
 * store's code may still sit in the heap; its transport and its object handle are retired, so it
 * can neither listen nor touch an object again.
 */

import type { EventSink } from '../src/core/event.js';
import { EventLog } from '../src/core/event-log.js';
import type { DigestSink } from '../src/core/event-sinks.js';
import { DigestSink as Digest } from '../src/core/event-sinks.js';
import type { LiveMachines } from '../src/core/live-machines.js';
import { silentLogger } from '../src/core/logger.js';
import { createRng, type Rng } from '../src/core/rng.js';
import { VirtualClock } from '../src/core/virtual-clock.js';
import type { TestOnlyClusterBug } from '../src/scsi/cluster/test-only-cluster-bugs.js';
import type { TestOnlyClientBug } from '../src/sheepdog/client/io-runner.js';
import type { SheepdogBackendOptions } from '../src/sheepdog/client/sheepdog-backend.js';
import { type SnapshotResult, snapshotVdi } from '../src/sheepdog/sheep-admin.js';
import { SheepConnection } from '../src/sheepdog/sheep-connection.js';
import { SdRes } from '../src/sheepdog/wire/constants.js';
import { MemoryObjectStore } from '../src/store/memory-object-store.js';
import { SheepStore } from '../src/store/sheep-store.js';
import type { TestOnlyStoreBug } from '../src/store/test-only-store-bugs.js';
import { parseBackingSpec } from '../src/target/backing.js';
import type { AluaPolicy, TargetConfig } from '../src/target/target-config.js';
import { startTargetService, type TargetService } from '../src/target/target-service.js';
import { MemoryNetwork, type MemoryNetworkOptions } from '../transports/memory.js';
import type { Endpoint, Transport } from '../transports/transport.js';
import { connectError, listenError } from '../transports/transport-error.js';
import { IncarnationLog } from './incarnation-log.js';
import { type CrashedOperation, SlowObjectStore } from './slow-object-store.js';

export const STORE_HOST = 'store';
export const INITIATOR_HOST = 'host';
/** Where administrative requests (snapshots, dog's lock-less writes, DISCARD) come from. */
export const ADMIN_HOST = 'admin';
/** Actor prefix of the admin host's lock-less writers (sim/workloads/outside-clients.ts). */
export const LOCKLESS_ACTOR_PREFIX = 'sim/lockless/';
/** Request timeout of administrative connections (dog waits; a bound keeps runs finite). */
export const ADMIN_REQUEST_TIMEOUT_MS = 10_000;
export const ISCSI_PORT = 3260;
export const SHEEP_PORT_BASE = 7000;
export const TARGET_IQN = 'iqn.2026-11.org.collie:sim';

export interface WorldOptions {
  readonly seed: number;
  /** Target nodes exporting the VDI. */
  readonly targetCount?: number;
  /** Locks and inode coherence in the store (false reproduces the multipath bug). */
  readonly coherence?: boolean;
  readonly vdiName?: string;
  readonly vdiSizeBytes?: number;
  /** 1 << blockSizeShift bytes per sheep object; small objects make allocations frequent. */
  readonly blockSizeShift?: number;
  readonly network?: Partial<MemoryNetworkOptions>;
  /** Extra event sinks, attached before the world starts (so they see every event). */
  readonly sinks?: readonly EventSink[];
  /** Tunables of every target's sheepdog backend (time bounds). */
  readonly backend?: SheepdogBackendOptions;
  /** A bug injected into every target's client on purpose (simulator self-test only). */
  readonly clientBug?: TestOnlyClientBug;
  /** A mistake put into the store on purpose (the simulator's mutants only). */
  readonly storeBug?: TestOnlyStoreBug;
  /** A mistake put into every clustered logical unit on purpose (the simulator's mutants only). */
  readonly clusterBug?: TestOnlyClusterBug;
  /** ALUA policy of the exported target (every node the same). Default 'active-active'. */
  readonly alua?: AluaPolicy;
  /** Settings of single nodes, by name (target-a, ...), over the world's. */
  readonly targetOverrides?: Readonly<Record<string, TargetNodeOverrides>>;
  /** A registry the world's event log offers its owners' live machines to (the inspector's proof). */
  readonly liveMachines?: LiveMachines;
}

export interface TargetNodeOverrides {
  /** Backend bounds of this node over WorldOptions.backend. */
  readonly backend?: SheepdogBackendOptions;
  /** iSCSI keepalive of this node (0: off). */
  readonly nopIntervalMs?: number;
  readonly nopTimeoutMs?: number;
}

export interface TargetNodeHandle {
  readonly name: string;
  /** The node id (1, 2, ...): portal group tag, relative target port id, target port group. */
  readonly nodeId: number;
  readonly host: string;
  readonly portal: Endpoint;
  readonly storeEndpoint: Endpoint;
  service: TargetService | undefined;
  crashed: boolean;
  /** Starts of this node so far; a crash retires the current one's transport. */
  incarnation: number;
}

export class World {
  readonly options: Required<
    Omit<
      WorldOptions,
      | 'network'
      | 'backend'
      | 'clientBug'
      | 'storeBug'
      | 'clusterBug'
      | 'sinks'
      | 'targetOverrides'
      | 'liveMachines'
    >
  > & {
    network: Partial<MemoryNetworkOptions>;
    backend: SheepdogBackendOptions;
    clientBug: TestOnlyClientBug | undefined;
    storeBug: TestOnlyStoreBug | undefined;
    clusterBug: TestOnlyClusterBug | undefined;
    targetOverrides: Readonly<Record<string, TargetNodeOverrides>>;
  };
  readonly clock: VirtualClock;
  readonly rng: Rng;
  readonly eventLog: EventLog;
  readonly digest: DigestSink;
  readonly network: MemoryNetwork;
  readonly objects = new MemoryObjectStore();
  readonly slowStore: SlowObjectStore;
  store!: SheepStore;
  /** True from crashStore() until restartStore() serves again. */
  storeCrashed = false;
  /** Store processes started so far; a crash retires the current one's transport. */
  storeIncarnation = 0;
  /** Snapshots taken through snapshot(), oldest first. */
  readonly snapshots: SnapshotResult[] = [];
  readonly targets: TargetNodeHandle[] = [];
  /** Initiator hosts in use (a crashed target is cut off from each). */
  readonly initiatorHosts = new Set<string>([INITIATOR_HOST]);
  /** The log view of each node's current incarnation (the store's and every target's), by name. */
  readonly #nodeLogs = new Map<string, IncarnationLog>();

  private constructor(options: WorldOptions) {
    this.options = {
      seed: options.seed,
      targetCount: options.targetCount ?? 2,
      coherence: options.coherence ?? true,
      vdiName: options.vdiName ?? 'simvol',
      vdiSizeBytes: options.vdiSizeBytes ?? 64 * 1024 * 1024,
      blockSizeShift: options.blockSizeShift ?? 20,
      network: options.network ?? {},
      backend: options.backend ?? {},
      clientBug: options.clientBug,
      storeBug: options.storeBug,
      clusterBug: options.clusterBug,
      alua: options.alua ?? 'active-active',
      targetOverrides: options.targetOverrides ?? {},
    };
    this.clock = new VirtualClock(0);
    this.rng = createRng(options.seed);
    this.eventLog = new EventLog(
      this.clock,
      options.liveMachines === undefined ? {} : { liveMachines: options.liveMachines },
    );
    this.digest = new Digest();
    this.eventLog.addSink(this.digest);
    for (const sink of options.sinks ?? []) this.eventLog.addSink(sink);
    this.network = new MemoryNetwork({
      clock: this.clock,
      rng: this.rng.fork('network'),
      eventLog: this.eventLog,
      options: { delayMsMin: 0, delayMsMax: 1, ...this.options.network },
    });
    this.slowStore = new SlowObjectStore(this.objects, this.clock, this.rng.fork('slow-store'));
  }

  static async build(options: WorldOptions): Promise<World> {
    const world = new World(options);
    await world.settle(world.#start());
    return world;
  }

  /** Advances virtual time until the promise settles; throws if it never can. */
  settle<T>(promise: Promise<T>, stepsMax = 2_000_000): Promise<T> {
    return this.clock.settle(promise, { stepsMax });
  }

  /** Runs virtual time forward by `ms` (timers fire in order). */
  async advance(ms: number): Promise<void> {
    await this.clock.runUntilIdle({ stepsMax: 10_000_000, untilMs: this.clock.now() + ms });
  }

  /**
   * Takes a snapshot of the VDI as `dog vdi snapshot -s TAG` does, from an admin host through
   * `endpoint` (default: the first store endpoint that listens).
   */
  async snapshot(tag: string, endpoint?: Endpoint): Promise<SnapshotResult> {
    const conn = await this.adminConnection(endpoint);
    try {
      const result = await snapshotVdi(conn, { name: this.options.vdiName, tag });
      this.snapshots.push(result);
      this.eventLog.append('sim/admin', 'sim.snapshot_taken', {
        tag,
        endpoint: conn.endpoint,
        snapshotVid: result.snapshotVid,
        workingVid: result.workingVid,
      });
      return result;
    } finally {
      conn.close();
    }
  }

  /**
   * A sheep connection from the admin host (as dog opens one) to `endpoint`, default the first
   * store endpoint that listens. Rejects when nothing listens there. The caller closes it.
   */
  async adminConnection(endpoint?: Endpoint): Promise<SheepConnection> {
    const address = endpoint ?? (this.storeCrashed ? undefined : this.store.nodes()[0]?.endpoint);
    if (!address) throw new Error('no store endpoint listens');
    return SheepConnection.open(this.network.transport(ADMIN_HOST), address, {
      clock: this.clock,
      requestTimeoutMs: ADMIN_REQUEST_TIMEOUT_MS,
    });
  }

  /**
   * The store process crashes (see the file comment). Resolves once the in-flight object
   * operations got their fates; returns them. No-op (empty) when it is down already.
   */
  async crashStore(rng: Rng): Promise<CrashedOperation[]> {
    if (this.storeCrashed) return [];
    this.storeCrashed = true;
    const crashed = `${STORE_HOST}#${this.storeIncarnation}`;
    this.storeIncarnation += 1;
    const dead = this.store;
    // The lock table lives in memory: every participation is gone with it.
    for (const node of dead.nodes()) dead.locks.nodeLeft(node.key);
    this.#nodeLogs.get(STORE_HOST)?.crash(crashed);
    this.network.crashHost(STORE_HOST);
    const inFlight = await this.slowStore.crash(rng);
    this.eventLog.append('sim/store', 'sim.store_crashed', {
      incarnation: this.storeIncarnation,
      inFlight: inFlight.map((op) => ({
        kind: op.kind,
        oid: op.oid,
        offset: op.offset,
        lengthBytes: op.lengthBytes,
        fate: op.fate ?? null,
        appliedBytes: op.appliedBytes,
      })),
    });
    return inFlight;
  }

  /**
   * Starts the store process again on the same objects, listening on `listen` (default: every
   * target node's endpoint). Resolves once it serves. No-op when it is not down.
   */
  async restartStore(listen?: readonly Endpoint[]): Promise<void> {
    if (!this.storeCrashed) return;
    const endpoints = listen ?? this.targets.map((target) => target.storeEndpoint);
    this.eventLog.append('sim/store', 'sim.store_restarting', { incarnation: this.storeIncarnation });
    this.store = await this.#openStore(endpoints);
    this.storeCrashed = false;
    this.eventLog.append('sim/store', 'sim.store_restarted', {
      incarnation: this.storeIncarnation,
      endpoints: endpoints.map((endpoint) => `${endpoint.host}:${endpoint.port}`),
    });
  }

  /** The target node called `name` (target-a, target-b, ...); throws for an unknown name. */
  target(name: string): TargetNodeHandle {
    const node = this.targets.find((target) => target.name === name);
    if (!node) throw new Error(`no target node "${name}" in this world (${this.targets.map((t) => t.name)})`);
    return node;
  }

  /** The Transport of an initiator host (registered so crashes and partitions cover it). */
  initiatorTransport(host: string = INITIATOR_HOST): Transport {
    this.initiatorHosts.add(host);
    return this.network.transport(host);
  }

  /**
   * Crashes a target node. 'kill' (a killed process): its kernel resets every stream at once, so
   * peers notice now. 'power-off' (a node that loses power): its links go silent and peers notice
   * only by their timeouts; its streams are reset when it reboots. Either way it can reach nobody.
   */
  crashTarget(name: string, mode: 'kill' | 'power-off' = 'kill'): void {
    const node = this.targets.find((target) => target.name === name);
    if (!node || node.crashed) return;
    node.crashed = true;
    this.#nodeLogs.get(node.name)?.crash(`${node.name}#${node.incarnation}`);
    node.incarnation += 1;
    if (mode === 'kill') this.network.crashHost(node.host);
    for (const other of [STORE_HOST, ...this.initiatorHosts, ...this.targets.map((target) => target.host)]) {
      if (other !== node.host) this.network.partition(node.host, other);
    }
    this.eventLog.append(`sim/${node.name}`, 'sim.target_crashed', { mode });
  }

  /**
   * Restarts a crashed target node as a reboot: its sheep endpoint leaves the store and joins
   * again, its links heal, a new target service starts. Resolves once it serves.
   */
  async restartTarget(name: string): Promise<void> {
    const node = this.target(name);
    if (!node.crashed) return;
    const key = `${node.storeEndpoint.host}:${node.storeEndpoint.port}`;
    // Streams still open from before a power-off are reset by the rebooted host (nothing they
    // held may be delivered late), then the node's sheep daemon rejoins.
    this.network.crashHost(node.host);
    // While the store is down there is nothing to leave: its restart listens afresh.
    if (!this.storeCrashed) {
      await this.store.leave(key);
      await this.store.join(node.storeEndpoint);
    }
    this.network.heal(node.host);
    node.crashed = false;
    this.eventLog.append(`sim/${node.name}`, 'sim.target_restarting', { incarnation: node.incarnation });
    try {
      node.service = await this.#startTarget(node);
    } catch (error) {
      // It could not open its LU (say, its store link was cut meanwhile): it stays down.
      node.crashed = true;
      this.#nodeLogs.get(node.name)?.crash(`${node.name}#${node.incarnation}`);
      node.incarnation += 1;
      this.eventLog.append(`sim/${node.name}`, 'sim.target_restart_failed', {
        why: (error as Error).message,
      });
      throw error;
    }
    this.eventLog.append(`sim/${node.name}`, 'sim.target_restarted', { incarnation: node.incarnation });
  }

  async #start(): Promise<void> {
    const listen = Array.from({ length: this.options.targetCount }, (_, index) => ({
      host: STORE_HOST,
      port: SHEEP_PORT_BASE + index,
    }));
    this.store = await this.#openStore(listen);
    const created = await this.store.vdis.newVdi({
      name: this.options.vdiName,
      sizeBytes: BigInt(this.options.vdiSizeBytes),
      baseVid: 0,
      snapid: 0,
      copies: 0,
      copyPolicy: 0,
      storePolicy: 0,
      blockSizeShift: 0,
    });
    if (created.result !== SdRes.SUCCESS)
      throw new Error(`cannot create the simulated VDI (result ${created.result})`);
    this.eventLog.append(`sim/${ADMIN_HOST}`, 'sim.node', {
      node: ADMIN_HOST,
      role: 'admin',
      host: ADMIN_HOST,
      incarnation: 0,
      actorPrefixes: [LOCKLESS_ACTOR_PREFIX],
    });
    for (let index = 0; index < this.options.targetCount; index++) {
      const name = `target-${String.fromCharCode(97 + index)}`;
      const node: TargetNodeHandle = {
        name,
        nodeId: index + 1,
        host: name,
        portal: { host: name, port: ISCSI_PORT },
        storeEndpoint: listen[index]!,
        service: undefined,
        crashed: false,
        incarnation: 0,
      };
      node.service = await this.#startTarget(node);
      this.targets.push(node);
    }
  }

  /** One store process: a SheepStore over the objects, through this incarnation's handles. */
  #openStore(listen: readonly Endpoint[]): Promise<SheepStore> {
    const incarnation = this.storeIncarnation;
    const eventLog = this.#nodeLog(STORE_HOST);
    this.eventLog.append('sim/store', 'sim.node', {
      node: STORE_HOST,
      role: 'store',
      host: STORE_HOST,
      incarnation,
      endpoints: listen.map((endpoint) => `${endpoint.host}:${endpoint.port}`),
    });
    const base = this.network.transport(STORE_HOST);
    const transport: Transport = {
      connect: (address) =>
        this.storeIncarnation === incarnation
          ? base.connect(address)
          : Promise.reject(connectError('ECONNABORTED', address)),
      listen: (address, onConnection) =>
        this.storeIncarnation === incarnation
          ? base.listen(address, onConnection)
          : Promise.reject(listenError('EADDRNOTAVAIL', address)),
    };
    return SheepStore.open({
      objects: this.slowStore.process(),
      defaults: { copies: 1, copyPolicy: 0, blockSizeShift: this.options.blockSizeShift },
      locking: this.options.coherence,
      transport,
      listen,
      clock: this.clock,
      eventLog,
      logger: silentLogger,
      ...(this.options.storeBug === undefined ? {} : { testOnlyBug: this.options.storeBug }),
    });
  }

  /**
   * The log view a new incarnation of node `name` writes to (sim/incarnation-log.ts); the previous
   * incarnation's live machines are retired.
   */
  #nodeLog(name: string): IncarnationLog {
    this.#nodeLogs.get(name)?.retire();
    const log = new IncarnationLog(this.eventLog, this.clock);
    this.#nodeLogs.set(name, log);
    return log;
  }

  /** A transport that works only while `node` is in the incarnation it was made for. */
  #incarnationTransport(node: TargetNodeHandle): Transport {
    const base = this.network.transport(node.host);
    const incarnation = node.incarnation;
    const alive = () => node.incarnation === incarnation;
    return {
      connect: (address) =>
        alive() ? base.connect(address) : Promise.reject(connectError('ECONNABORTED', address)),
      listen: (address, onConnection) =>
        alive() ? base.listen(address, onConnection) : Promise.reject(listenError('EADDRNOTAVAIL', address)),
    };
  }

  #startTarget(node: TargetNodeHandle): Promise<TargetService> {
    const eventLog = this.#nodeLog(node.name);
    // Every node shares this one log: say what the node's actors look like (its sheep endpoint
    // names its client's actors, its portal its connections), so the log alone maps them to it.
    this.eventLog.append(`sim/${node.name}`, 'sim.node', {
      node: node.name,
      role: 'target',
      host: node.host,
      nodeId: node.nodeId,
      incarnation: node.incarnation,
      portal: `${node.portal.host}:${node.portal.port}`,
      storeEndpoint: `${node.storeEndpoint.host}:${node.storeEndpoint.port}`,
    });
    const transport = this.#incarnationTransport(node);
    const overrides = this.options.targetOverrides[node.name] ?? {};
    const backend: SheepdogBackendOptions = {
      ...this.options.backend,
      ...overrides.backend,
      ...(this.options.clientBug === undefined ? {} : { testOnlyBug: this.options.clientBug }),
    };
    const backing = `tcp:${node.storeEndpoint.host}:${node.storeEndpoint.port}:${this.options.vdiName}`;
    const config: TargetConfig = {
      portals: [node.portal],
      nodeId: node.nodeId,
      targets: [
        {
          iqn: TARGET_IQN,
          luns: [{ lun: 1, backing: parseBackingSpec(backing), text: backing }],
          alua: this.options.alua,
        },
      ],
      digests: 'allow',
      nopIntervalMs: overrides.nopIntervalMs ?? 5_000,
      nopTimeoutMs: overrides.nopTimeoutMs ?? 10_000,
    };
    return startTargetService(config, {
      transport,
      backendTransport: transport,
      clock: this.clock,
      rng: this.rng.fork(node.incarnation === 0 ? node.name : `${node.name}#${node.incarnation}`),
      eventLog,
      logger: silentLogger,
      sheepdogOptions: backend,
      ...(this.options.clusterBug === undefined ? {} : { clusterBug: this.options.clusterBug }),
    });
  }
}
