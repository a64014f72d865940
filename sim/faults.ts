/**
 * The simulator's fault model and swarm settings.
 *
 * Fault classes (each one a switch in SwarmOptions.faults; swarm testing turns whole classes on
 * or off per seed rather than everything at a low rate, Groce et al. 2012):
 *   activeActive       not a fault but a way to run: round-robin devices, or hosts that prefer
 *                      different targets, so two targets write the same VDI at once.
 *   targetCrash        a target node dies (streams reset, links cut, in-memory state lost) and may
 *                      reboot later (World.restartTarget: its sheep node rejoins, fresh service).
 *   storeEndpointLoss  a store endpoint (one sheep node) leaves the cluster: its connections drop
 *                      and it leaves every VDI's participants; it may rejoin later.
 *   partitionBoth      a host<->target or target<->store link holds bytes both ways.
 *   partitionOneWay    the same, one direction only (requests arrive, answers do not).
 *   connectionReset    a random open stream is reset; with split chunks that lands mid-PDU.
 *   slowStore          every object operation waits up to `slowStoreMsMax` (SlowObjectStore).
 *   networkDelay       one-way delays up to `delayMsMax` and split chunks (set at world build).
 * Streams are TCP-like: the memory network never drops, duplicates or reorders bytes inside a
 * stream; "reorder" is delay that differs per stream (requests on different paths overtake each
 * other), "drop" is a partition followed by a reset. Time bounds are chosen so that a target
 * gives up on the store before the host gives up on the target (multipath.md §6.5): otherwise
 * a late write from a path the host already left would be a ghost write nobody fences.
 *
 * Not modelled yet: torn object writes (the store does not crash), digest corruption, clock skew.
 *
 * Phases: during the safety phase faults come at random times; the liveness phase heals every
 * fault at once (links, nodes, endpoints, slowness) and the workload must then finish.
 */
import type { LogEvent } from '../src/core/event.js';
import type { Rng } from '../src/core/rng.js';
import type { PathPolicy } from './multipath/multipath-device.js';
import { STORE_HOST, type World } from './world.js';

export const FAULT_CLASSES = [
  'activeActive',
  'targetCrash',
  'storeEndpointLoss',
  'partitionBoth',
  'partitionOneWay',
  'connectionReset',
  'slowStore',
  'networkDelay',
] as const;
export type FaultClass = (typeof FAULT_CLASSES)[number];

export interface SwarmOptions {
  readonly policy: PathPolicy;
  readonly hostCount: number;
  readonly clientsPerHost: number;
  readonly opsPerClient: number;
  readonly readRatio: number;
  readonly thinkMsMax: number;
  /** Objects the workload touches and blocks per object. */
  readonly objectCount: number;
  readonly blocksPerObject: number;
  readonly faults: Readonly<Record<FaultClass, boolean>>;
  /** Faults injected during the safety phase. */
  readonly faultCount: number;
  readonly delayMsMax: number;
  readonly chunkSplitRatio: number;
  readonly slowStoreMsMax: number;
}

/**
 * Fault classes a swarm draws from by default: all but one that fails for a known reason
 * (docs/simulation.md, "Known gaps"), so that a failing seed means something new.
 * - activeActive: two targets that both write first into one unallocated object both send
 *   CREATE_AND_WRITE; the later create replaces the earlier target's object, whose write was
 *   already acknowledged (invalidation happens only at the inode update, after the creates).
 * (storeEndpointLoss was one until the client rejoined the VDI after any reconnect.)
 */
export const KNOWN_GAP_FAULTS: readonly FaultClass[] = ['activeActive'];
export const DEFAULT_SWARM_FAULTS: readonly FaultClass[] = FAULT_CLASSES.filter(
  (fault) => !KNOWN_GAP_FAULTS.includes(fault),
);

/** Every setting from one Rng (a fork of the seed's), TigerBeetle's options_swarm. */
export function drawSwarmOptions(
  rng: Rng,
  allowed: readonly FaultClass[] = DEFAULT_SWARM_FAULTS,
): SwarmOptions {
  const faults = {} as Record<FaultClass, boolean>;
  for (const fault of FAULT_CLASSES) faults[fault] = allowed.includes(fault) && rng.chance(0.5);
  return {
    policy: faults.activeActive ? rng.pick(['failover', 'round-robin'] as const) : 'failover',
    hostCount: rng.int(1, 3),
    clientsPerHost: rng.int(1, 4),
    opsPerClient: rng.int(10, 31),
    readRatio: 0.3 + 0.4 * rng.float(),
    thinkMsMax: rng.pick([0, 5, 50, 500]),
    objectCount: rng.int(1, 5),
    blocksPerObject: rng.int(1, 4),
    faults,
    faultCount: rng.int(1, 7),
    delayMsMax: faults.networkDelay ? rng.pick([5, 20, 100]) : 1,
    chunkSplitRatio: faults.networkDelay ? rng.pick([0.1, 0.5]) : 0,
    slowStoreMsMax: faults.slowStore ? rng.pick([20, 200, 1000]) : 0,
  };
}

/** One line: `policy=... hosts=... faults=targetCrash,slowStore ...` (printed first, VOPR style). */
export function describeSwarmOptions(options: SwarmOptions): string {
  const on = FAULT_CLASSES.filter((fault) => options.faults[fault]);
  return [
    `policy=${options.policy}`,
    `hosts=${options.hostCount}`,
    `clients_per_host=${options.clientsPerHost}`,
    `ops_per_client=${options.opsPerClient}`,
    `read_ratio=${options.readRatio.toFixed(2)}`,
    `think_ms_max=${options.thinkMsMax}`,
    `objects=${options.objectCount}x${options.blocksPerObject}`,
    `faults=${on.length === 0 ? 'none' : on.join(',')}`,
    `fault_count=${options.faultCount}`,
    `delay_ms_max=${options.delayMsMax}`,
    `chunk_split_ratio=${options.chunkSplitRatio}`,
    `slow_store_ms_max=${options.slowStoreMsMax}`,
  ].join(' ');
}

/** Injects faults into a world and heals them; every action goes to the event log (`fault.*`). */
export class FaultInjector {
  readonly #world: World;
  readonly #rng: Rng;
  readonly #options: SwarmOptions;
  readonly #leftEndpoints = new Set<string>();
  #stopped = false;

  constructor(world: World, rng: Rng, options: SwarmOptions) {
    this.#world = world;
    this.#rng = rng;
    this.#options = options;
  }

  /** The enabled classes that inject something at run time (networkDelay is set at build). */
  get activeClasses(): FaultClass[] {
    return FAULT_CLASSES.filter(
      (fault) => this.#options.faults[fault] && fault !== 'networkDelay' && fault !== 'activeActive',
    );
  }

  /**
   * The safety phase's faults: `faultCount` of them at random times within `windowMs`, each
   * healed after a random while (some stay until the liveness phase).
   */
  async runSafety(windowMs: number): Promise<void> {
    const classes = this.activeClasses;
    if (classes.length === 0) return;
    const clock = this.#world.clock;
    const times = Array.from({ length: this.#options.faultCount }, () => this.#rng.int(0, windowMs)).sort(
      (a, b) => a - b,
    );
    const startMs = clock.now();
    for (const atMs of times) {
      const waitMs = startMs + atMs - clock.now();
      if (waitMs > 0) await sleep(this.#world, waitMs);
      if (this.#stopped) return;
      await this.inject(this.#rng.pick(classes), windowMs);
    }
  }

  /** Injects one fault of `fault`'s class; heals it after a drawn time (or never, till liveness). */
  async inject(fault: FaultClass, windowMs: number): Promise<void> {
    const world = this.#world;
    const rng = this.#rng;
    const healAfterMs = rng.chance(0.25) ? undefined : rng.int(100, Math.max(200, windowMs));
    const later = (heal: () => void | Promise<void>) => {
      if (healAfterMs === undefined) return;
      world.clock.setTimeout(() => {
        if (this.#stopped) return;
        // A heal that fails (a reboot whose store link is cut meanwhile) leaves the fault for
        // the liveness phase.
        Promise.resolve(heal()).catch((error: unknown) => {
          this.#log('fault.heal_failed', { fault, why: (error as Error).message });
        });
      }, healAfterMs);
    };
    switch (fault) {
      case 'targetCrash': {
        const alive = world.targets.filter((target) => !target.crashed);
        if (alive.length === 0) return;
        const node = rng.pick(alive);
        this.#log('fault.injected', { fault, target: node.name, healAfterMs: healAfterMs ?? null });
        world.crashTarget(node.name);
        later(async () => {
          this.#log('fault.healed', { fault, target: node.name });
          await world.restartTarget(node.name);
        });
        return;
      }
      case 'storeEndpointLoss': {
        const node = rng.pick(world.targets);
        const key = `${node.storeEndpoint.host}:${node.storeEndpoint.port}`;
        if (this.#leftEndpoints.has(key)) return;
        this.#leftEndpoints.add(key);
        this.#log('fault.injected', { fault, endpoint: key, healAfterMs: healAfterMs ?? null });
        await world.store.leave(key);
        later(() => this.#rejoin(key, node.storeEndpoint));
        return;
      }
      case 'partitionBoth':
      case 'partitionOneWay': {
        const [from, to] = this.#drawLink();
        const oneWay = fault === 'partitionOneWay';
        this.#log('fault.injected', { fault, from, to, healAfterMs: healAfterMs ?? null });
        world.network.partition(from, to, { oneWay });
        later(() => {
          this.#log('fault.healed', { fault, from, to });
          world.network.heal(from, to);
        });
        return;
      }
      case 'connectionReset': {
        const streams = world.network.streams();
        if (streams.length === 0) return;
        const stream = rng.pick(streams);
        this.#log('fault.injected', { fault, stream: stream.id });
        world.network.reset(stream.id);
        return;
      }
      case 'slowStore': {
        this.#log('fault.injected', { fault, delayMsMax: this.#options.slowStoreMsMax });
        world.slowStore.delayMsMax = this.#options.slowStoreMsMax;
        later(() => {
          this.#log('fault.healed', { fault });
          world.slowStore.delayMsMax = 0;
        });
        return;
      }
      case 'networkDelay':
      case 'activeActive':
        return;
    }
  }

  /** The liveness phase begins: every fault healed, no new ones. */
  async healAll(): Promise<void> {
    this.#stopped = true;
    const world = this.#world;
    this.#log('fault.heal_all', {});
    world.network.heal();
    world.slowStore.delayMsMax = 0;
    for (const node of world.targets) {
      const key = `${node.storeEndpoint.host}:${node.storeEndpoint.port}`;
      if (this.#leftEndpoints.has(key)) await this.#rejoin(key, node.storeEndpoint);
    }
    for (const node of world.targets) {
      // Everything is healed now, so a reboot succeeds unless the target itself is broken.
      if (node.crashed) await world.restartTarget(node.name);
    }
  }

  async #rejoin(key: string, endpoint: { host: string; port: number }): Promise<void> {
    if (!this.#leftEndpoints.delete(key)) return;
    this.#log('fault.healed', { fault: 'storeEndpointLoss', endpoint: key });
    // A target reboot in the meantime brought the endpoint back already.
    if (this.#world.store.nodes().some((node) => node.key === key)) return;
    await this.#world.store.join(endpoint);
  }

  #drawLink(): [string, string] {
    const world = this.#world;
    const target = this.#rng.pick(world.targets).host;
    const other = this.#rng.chance(0.5) ? this.#rng.pick([...world.initiatorHosts]) : STORE_HOST;
    return this.#rng.chance(0.5) ? [other, target] : [target, other];
  }

  #log(type: string, data: Record<string, unknown>): LogEvent {
    return this.#world.eventLog.append('sim/faults', type, data);
  }
}

function sleep(world: World, ms: number): Promise<void> {
  return new Promise((resolve) => {
    world.clock.setTimeout(resolve, ms);
  });
}
