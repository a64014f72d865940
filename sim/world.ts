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
 * A crashed target node is cut off for good (its streams reset, every link partitioned): the
 * code that ran it may keep running in the heap, like a process whose network died, and nothing
 * it sends arrives anywhere, which is what a crash looks like from outside.
 */

import { EventLog } from '../src/core/event-log.js';
import type { DigestSink } from '../src/core/event-sinks.js';
import { DigestSink as Digest } from '../src/core/event-sinks.js';
import { silentLogger } from '../src/core/logger.js';
import { createRng, type Rng } from '../src/core/rng.js';
import { VirtualClock } from '../src/core/virtual-clock.js';
import { SdRes } from '../src/sheepdog/wire/constants.js';
import { MemoryObjectStore } from '../src/store/memory-object-store.js';
import { SheepStore } from '../src/store/sheep-store.js';
import { parseBackingSpec } from '../src/target/backing.js';
import { startTargetService, type TargetService } from '../src/target/target-service.js';
import { MemoryNetwork, type MemoryNetworkOptions } from '../transports/memory.js';
import type { Endpoint } from '../transports/transport.js';

export const STORE_HOST = 'store';
export const INITIATOR_HOST = 'host';
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
}

export interface TargetNodeHandle {
  readonly name: string;
  readonly host: string;
  readonly portal: Endpoint;
  readonly storeEndpoint: Endpoint;
  service: TargetService | undefined;
  crashed: boolean;
}

export class World {
  readonly options: Required<Omit<WorldOptions, 'network'>> & { network: Partial<MemoryNetworkOptions> };
  readonly clock: VirtualClock;
  readonly rng: Rng;
  readonly eventLog: EventLog;
  readonly digest: DigestSink;
  readonly network: MemoryNetwork;
  readonly objects = new MemoryObjectStore();
  store!: SheepStore;
  readonly targets: TargetNodeHandle[] = [];

  private constructor(options: WorldOptions) {
    this.options = {
      seed: options.seed,
      targetCount: options.targetCount ?? 2,
      coherence: options.coherence ?? true,
      vdiName: options.vdiName ?? 'simvol',
      vdiSizeBytes: options.vdiSizeBytes ?? 64 * 1024 * 1024,
      blockSizeShift: options.blockSizeShift ?? 20,
      network: options.network ?? {},
    };
    this.clock = new VirtualClock(0);
    this.rng = createRng(options.seed);
    this.eventLog = new EventLog(this.clock);
    this.digest = new Digest();
    this.eventLog.addSink(this.digest);
    this.network = new MemoryNetwork({
      clock: this.clock,
      rng: this.rng.fork('network'),
      eventLog: this.eventLog,
      options: { delayMsMin: 0, delayMsMax: 1, ...this.options.network },
    });
  }

  static async build(options: WorldOptions): Promise<World> {
    const world = new World(options);
    await world.settle(world.#start());
    return world;
  }

  /** Advances virtual time until the promise settles (or the step budget runs out). */
  async settle<T>(promise: Promise<T>, stepsMax = 2_000_000): Promise<T> {
    let done = false;
    const watched = promise.finally(() => {
      done = true;
    });
    watched.catch(() => undefined);
    let steps = 0;
    while (!done && steps < stepsMax) {
      const fired = await this.clock.runUntilIdle({ stepsMax: 1000 });
      steps += fired;
      if (fired === 0 && !done) {
        // Nothing scheduled and still pending: a microtask chain may be waiting on I/O that
        // never comes. Give it one more drain, then give up.
        await this.clock.runUntilIdle({ stepsMax: 1 });
        if (this.clock.pendingCount === 0 && !done) break;
      }
    }
    if (!done)
      throw new Error(`simulation stalled at ${this.clock.now()} ms: the awaited operation never finished`);
    return watched;
  }

  /** Runs virtual time forward by `ms` (timers fire in order). */
  async advance(ms: number): Promise<void> {
    await this.clock.runUntilIdle({ stepsMax: 10_000_000, untilMs: this.clock.now() + ms });
  }

  /** Crashes a target node: every stream resets and it can reach nobody again. */
  crashTarget(name: string): void {
    const node = this.targets.find((target) => target.name === name);
    if (!node || node.crashed) return;
    node.crashed = true;
    this.network.crashHost(node.host);
    for (const other of [STORE_HOST, INITIATOR_HOST, ...this.targets.map((target) => target.host)]) {
      if (other !== node.host) this.network.partition(node.host, other);
    }
    this.eventLog.append(`sim/${node.name}`, 'sim.target_crashed', {});
  }

  async #start(): Promise<void> {
    const listen = Array.from({ length: this.options.targetCount }, (_, index) => ({
      host: STORE_HOST,
      port: SHEEP_PORT_BASE + index,
    }));
    this.store = await SheepStore.open({
      objects: this.objects,
      defaults: { copies: 1, copyPolicy: 0, blockSizeShift: this.options.blockSizeShift },
      locking: this.options.coherence,
      transport: this.network.transport(STORE_HOST),
      listen,
      clock: this.clock,
      eventLog: this.eventLog,
      logger: silentLogger,
    });
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
    for (let index = 0; index < this.options.targetCount; index++) {
      const name = `target-${String.fromCharCode(97 + index)}`;
      const node: TargetNodeHandle = {
        name,
        host: name,
        portal: { host: name, port: ISCSI_PORT },
        storeEndpoint: listen[index]!,
        service: undefined,
        crashed: false,
      };
      node.service = await this.#startTarget(node);
      this.targets.push(node);
    }
  }

  #startTarget(node: TargetNodeHandle): Promise<TargetService> {
    const transport = this.network.transport(node.host);
    const backing = `tcp:${node.storeEndpoint.host}:${node.storeEndpoint.port}:${this.options.vdiName}`;
    return startTargetService(
      {
        portals: [node.portal],
        targets: [{ iqn: TARGET_IQN, luns: [{ lun: 1, backing: parseBackingSpec(backing), text: backing }] }],
        digests: 'allow',
        nopIntervalMs: 5_000,
        nopTimeoutMs: 10_000,
      },
      {
        transport,
        backendTransport: transport,
        clock: this.clock,
        rng: this.rng.fork(node.name),
        eventLog: this.eventLog,
        logger: silentLogger,
      },
    );
  }
}
