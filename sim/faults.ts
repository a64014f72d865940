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
 *   slowStore          every object operation waits up to `slowStoreMsMax` (SlowObjectStore); the
 *                      largest choice (3 s), and the stalls some seeds add (a share of operations
 *                      held 2-3.5 s), outlast the targets' 2 s request timeout, so requests time
 *                      out and are resent while the first copy is still held.
 *   networkDelay       one-way delays up to `delayMsMax` and split chunks (set at world build).
 *   storeCrash         the store process crashes (every endpoint and connection at once; the lock
 *                      and VDI tables are lost) and restarts later from its objects; object writes
 *                      in flight are dropped, applied or torn at a sector (World.crashStore).
 *                      The store is slow around the crash, so something is in flight.
 * Workload classes (also switches in SwarmOptions.faults, logged as faults so that their windows
 * are known; sim/workloads/outside-clients.ts):
 *   snapshots          snapshots of the VDI through a random store endpoint while IO runs.
 *   locklessWriter     a lock-less writer (`dog vdi write`) writes stamped blocks into the VDI
 *                      through a random store endpoint while the targets serve it.
 *   discard            an admin client DISCARDs a data object (the working VDI's, or an older
 *                      snapshot's) through a random store endpoint.
 * connectionReset runs always split chunks, so a reset can land mid-PDU.
 * Streams are TCP-like: the memory network never drops, duplicates or reorders bytes inside a
 * stream; "reorder" is delay that differs per stream (requests on different paths overtake each
 * other), "drop" is a partition followed by a reset. Time bounds are chosen so that a target
 * gives up on the store before the host gives up on the target (multipath.md §6.5): otherwise
 * a late write from a path the host already left would be a ghost write nobody fences.
 *
 * Not modelled yet: digest corruption, clock skew.
 *
 * Events: every fault is `fault.injected` (with `fault`, the class, and `id`) and, when it ends,
 * `fault.healed` (same `fault` and `id`); connectionReset is instantaneous (no fault.healed). The
 * liveness phase logs `fault.heal_all` and then a `fault.healed` for each fault it ends.
 *
 * Phases: during the safety phase faults come at random times; the liveness phase heals every
 * fault at once (links, nodes, endpoints, slowness) and the workload must then finish.
 */
import type { LogEvent } from '../src/core/event.js';
import type { Rng } from '../src/core/rng.js';
import type { PathPolicy } from './multipath/multipath-device.js';
import type { History } from './workload.js';
import { type OutsideWorkload, runDiscard, runLocklessWriter } from './workloads/outside-clients.js';
import {
  describeFailure,
  type OutsideClientHistory,
  outsideClientHistory,
} from './workloads/outside-history.js';
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
  'storeCrash',
  'snapshots',
  'locklessWriter',
  'discard',
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
  /** While slow, the share of object operations that stall past the request timeout (2-3.5 s). */
  readonly slowStoreStallRatio: number;
}

/**
 * Fault classes a swarm draws from by default: every one. (activeActive was left out while two
 * targets' CREATEs of one object could replace each other; storeEndpointLoss while a rejoined node
 * dropped the client's participation.)
 */
export const DEFAULT_SWARM_FAULTS: readonly FaultClass[] = FAULT_CLASSES;

/** Slow-store choices (ms); 3 s outlasts the targets' 2 s request timeout (sim/run.ts). */
export const SLOW_STORE_MS_CHOICES = [20, 200, 1000, 3000] as const;

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
    // A reset lands mid-PDU only when PDUs arrive in pieces.
    chunkSplitRatio: faults.networkDelay || faults.connectionReset ? rng.pick([0.1, 0.5]) : 0,
    // A store crash needs operations in flight: it slows the store around itself.
    slowStoreMsMax: faults.slowStore || faults.storeCrash ? rng.pick(SLOW_STORE_MS_CHOICES) : 0,
    slowStoreStallRatio: faults.slowStore ? rng.pick([0, 0.05, 0.2]) : 0,
  };
}

/** Bounds of the window in which the swarm's faults come (virtual ms). */
export const FAULT_WINDOW_MS_MIN = 100;
export const FAULT_WINDOW_MS_MAX = 20_000;

/**
 * The window in which the swarm's faults come: about as long as one client's operations take
 * without faults (think time plus about 4 ms and three network delays per operation, measured),
 * within FAULT_WINDOW_MS_MIN..MAX, so that faults meet IO instead of landing after it ended.
 */
export function faultWindowMs(options: SwarmOptions): number {
  const perOpMs = options.thinkMsMax / 2 + 4 + 3 * options.delayMsMax;
  return Math.min(
    FAULT_WINDOW_MS_MAX,
    Math.max(FAULT_WINDOW_MS_MIN, Math.round(options.opsPerClient * perOpMs)),
  );
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
    `slow_store_stall_ratio=${options.slowStoreStallRatio}`,
    `fault_window_ms=${faultWindowMs(options)}`,
  ].join(' ');
}

/** What the workload classes act on: the hosts' History and blocks (attachWorkload). */
export interface SwarmWorkload {
  readonly history: History;
  readonly blocks: readonly number[];
  /** LU blocks (512 bytes) per sheep data object. */
  readonly blocksPerObject: number;
}

/** Injects faults into a world and heals them; every action goes to the event log (`fault.*`). */
export class FaultInjector {
  readonly #world: World;
  readonly #rng: Rng;
  readonly #options: SwarmOptions;
  /** Endpoints that left (storeEndpointLoss) -> the fault's id. */
  readonly #leftEndpoints = new Map<string, number>();
  /** Workload-class actions still running (the safety phase waits for them). */
  readonly #background = new Set<Promise<void>>();
  #workload: (SwarmWorkload & { outside: OutsideClientHistory }) | undefined;
  #stopped = false;
  #nextId = 0;
  /** The slowStore class is on right now. */
  #slowStoreOn = false;
  /** A storeCrash is slowing the store before it crashes it (so that operations are in flight). */
  #crashSlowing = false;
  /** Faults injected and not healed yet, by id (workload-class actions until they end). */
  readonly #open = new Map<number, FaultClass>();
  /** The id of the store crash not healed yet. */
  #storeCrashId: number | undefined;
  #snapshots = 0;
  /** The snapshot series running (the next one waits for it). */
  #snapshotting: Promise<void> = Promise.resolve();
  #outsideClients = 0;
  #crashes = 0;

  constructor(world: World, rng: Rng, options: SwarmOptions) {
    this.#world = world;
    this.#rng = rng;
    this.#options = options;
  }

  /** The enabled classes that inject something at run time (networkDelay is set at build). */
  get activeClasses(): FaultClass[] {
    return FAULT_CLASSES.filter(
      (fault) =>
        this.#options.faults[fault] &&
        fault !== 'networkDelay' &&
        fault !== 'activeActive' &&
        (this.#workload !== undefined || !NEEDS_WORKLOAD.includes(fault)),
    );
  }

  /** Gives the workload classes (locklessWriter, discard) the History and blocks they act on. */
  attachWorkload(workload: SwarmWorkload): void {
    this.#workload = { ...workload, outside: outsideClientHistory(workload.history) };
  }

  /**
   * The safety phase's faults: `faultCount` of them at random times within `windowMs`, each
   * healed after a random while (some stay until the liveness phase), and 1..3 actions of each
   * workload class on. Resolves once the workload-class actions it started are done too.
   */
  async runSafety(windowMs: number): Promise<void> {
    const classes = this.activeClasses;
    if (classes.length === 0) return;
    const clock = this.#world.clock;
    // `faultCount` faults among the fault classes; each workload class on acts 1..3 times on
    // top (they are the workload's, not the fault budget's).
    const faultClasses = classes.filter((fault) => !WORKLOAD_CLASSES.includes(fault));
    const plan: { atMs: number; fault: FaultClass }[] = [];
    if (faultClasses.length > 0) {
      for (let index = 0; index < this.#options.faultCount; index++) {
        plan.push({ atMs: this.#rng.int(0, windowMs), fault: this.#rng.pick(faultClasses) });
      }
    }
    for (const fault of classes.filter((candidate) => WORKLOAD_CLASSES.includes(candidate))) {
      const count = this.#rng.int(1, 4);
      for (let index = 0; index < count; index++) plan.push({ atMs: this.#rng.int(0, windowMs), fault });
    }
    plan.sort((a, b) => a.atMs - b.atMs);
    const startMs = clock.now();
    for (const { atMs, fault } of plan) {
      const waitMs = startMs + atMs - clock.now();
      if (waitMs > 0) await sleep(this.#world, waitMs);
      if (this.#stopped) break;
      await this.inject(fault, windowMs);
    }
    while (this.#background.size > 0) await Promise.all([...this.#background]);
  }

  /** Injects one fault of `fault`'s class; heals it after a drawn time (or never, till liveness). */
  async inject(fault: FaultClass, windowMs: number): Promise<void> {
    const world = this.#world;
    const rng = this.#rng;
    const healAfterMs = rng.chance(0.25) ? undefined : rng.int(100, Math.max(200, windowMs));
    const id = ++this.#nextId;
    const later = (heal: () => void | Promise<void>) => {
      if (healAfterMs === undefined) return;
      world.clock.setTimeout(() => {
        if (this.#stopped) return;
        // A heal that fails (a reboot whose store link is cut meanwhile) leaves the fault for
        // the liveness phase.
        Promise.resolve(heal()).catch((error: unknown) => {
          this.#log('fault.heal_failed', { fault, id, why: (error as Error).message });
        });
      }, healAfterMs);
    };
    switch (fault) {
      case 'targetCrash': {
        const alive = world.targets.filter((target) => !target.crashed);
        if (alive.length === 0) return;
        const node = rng.pick(alive);
        this.#injected(fault, id, { target: node.name, healAfterMs: healAfterMs ?? null });
        world.crashTarget(node.name);
        later(async () => {
          this.#healed(id, { target: node.name });
          await world.restartTarget(node.name);
        });
        return;
      }
      case 'storeEndpointLoss': {
        const node = rng.pick(world.targets);
        const key = `${node.storeEndpoint.host}:${node.storeEndpoint.port}`;
        // A crashed store has no endpoint to lose.
        if (this.#leftEndpoints.has(key) || world.storeCrashed) return;
        this.#leftEndpoints.set(key, id);
        this.#injected(fault, id, { endpoint: key, healAfterMs: healAfterMs ?? null });
        await world.store.leave(key);
        later(() => this.#rejoin(key, node.storeEndpoint));
        return;
      }
      case 'partitionBoth':
      case 'partitionOneWay': {
        const [from, to] = this.#drawLink();
        const oneWay = fault === 'partitionOneWay';
        this.#injected(fault, id, { from, to, healAfterMs: healAfterMs ?? null });
        world.network.partition(from, to, { oneWay });
        later(() => {
          this.#healed(id, { from, to });
          world.network.heal(from, to);
        });
        return;
      }
      case 'connectionReset': {
        const streams = world.network.streams();
        if (streams.length === 0) return;
        const stream = rng.pick(streams);
        // Instantaneous: no fault.healed follows.
        this.#log('fault.injected', { fault, id, stream: stream.id });
        world.network.reset(stream.id);
        return;
      }
      case 'slowStore': {
        if (this.#slowStoreOn) return;
        this.#injected(fault, id, {
          delayMsMax: this.#options.slowStoreMsMax,
          healAfterMs: healAfterMs ?? null,
        });
        this.#slowStoreOn = true;
        this.#applySlowness();
        later(() => {
          this.#healed(id, {});
          this.#slowStoreOn = false;
          this.#applySlowness();
        });
        return;
      }
      case 'storeCrash':
        return this.#crashStore(id, healAfterMs, later);
      case 'snapshots': {
        // A series of 1..3 snapshots, each through a random endpoint, a random while apart.
        const plan = Array.from({ length: rng.int(1, 4) }, (_, index) => ({
          tag: `swarm-snap${this.#snapshots + index + 1}`,
          endpoint: rng.pick(world.targets).storeEndpoint,
          pauseMs: index === 0 ? 0 : rng.int(0, Math.max(1, windowMs)),
        }));
        this.#snapshots += plan.length;
        this.#injected(fault, id, {
          tags: plan.map((step) => step.tag),
          endpoints: plan.map((step) => `${step.endpoint.host}:${step.endpoint.port}`),
        });
        // One admin takes snapshots, one at a time: a NEW_VDI whose base stopped being the
        // working VDI meanwhile (another snapshot overtook it) is a rollback, which discards
        // acknowledged writes on purpose (docs: two concurrent `dog vdi snapshot`).
        const previous = this.#snapshotting;
        const series = (async () => {
          await previous;
          const outcomes: string[] = [];
          for (const step of plan) {
            if (step.pauseMs > 0) await sleep(world, step.pauseMs);
            try {
              await world.snapshot(step.tag, step.endpoint);
              outcomes.push('ok');
            } catch (error) {
              outcomes.push(`failed (${describeFailure(error)})`);
            }
          }
          this.#healed(id, { taken: outcomes.filter((outcome) => outcome === 'ok').length, outcomes });
        })();
        this.#snapshotting = series;
        this.#spawn(() => series);
        return;
      }
      case 'locklessWriter': {
        const workload = this.#workload;
        if (!workload) return;
        const endpoint = rng.pick(world.targets).storeEndpoint;
        const client = `dog${++this.#outsideClients}`;
        const writes = rng.int(1, 5);
        this.#injected(fault, id, { client, writes, endpoint: `${endpoint.host}:${endpoint.port}` });
        const writerRng = rng.fork(`${client}`);
        this.#spawn(async () => {
          const acknowledged = await runLocklessWriter(this.#outside(workload), writerRng, {
            client,
            endpoint,
            writes,
            thinkMsMax: 500,
          });
          this.#healed(id, { client, acknowledged });
        });
        return;
      }
      case 'discard': {
        const workload = this.#workload;
        if (!workload) return;
        const endpoint = rng.pick(world.targets).storeEndpoint;
        const client = `discard${++this.#outsideClients}`;
        const objects = [
          ...new Set(workload.blocks.map((block) => Math.floor(block / workload.blocksPerObject))),
        ];
        const idx = rng.pick(objects);
        const older = world.snapshots.map((snapshot) => snapshot.snapshotVid);
        const snapshotVid = older.length > 0 && rng.chance(0.5) ? rng.pick(older) : undefined;
        this.#injected(fault, id, {
          client,
          idx,
          of: snapshotVid === undefined ? 'working' : 'snapshot',
          endpoint: `${endpoint.host}:${endpoint.port}`,
        });
        this.#spawn(async () => {
          const outcome = await runDiscard(this.#outside(workload), { client, endpoint, idx, snapshotVid });
          this.#healed(id, {
            client,
            vid: outcome.vid ?? null,
            outcome: outcome.ok ? 'ok' : 'failed',
            zeroedBlocks: outcome.zeroedBlocks.length,
            ...(outcome.error === undefined ? {} : { why: outcome.error }),
          });
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
    // Faults the heal ends (workload-class actions run on until they end by themselves).
    for (const [id, fault] of [...this.#open]) {
      if (WORKLOAD_CLASSES.includes(fault) || fault === 'storeCrash' || fault === 'storeEndpointLoss')
        continue;
      this.#healed(id, { byHealAll: true });
    }
    world.network.heal();
    this.#slowStoreOn = false;
    this.#crashSlowing = false;
    this.#applySlowness();
    if (world.storeCrashed) await this.#restartStore();
    for (const node of world.targets) {
      const key = `${node.storeEndpoint.host}:${node.storeEndpoint.port}`;
      if (this.#leftEndpoints.has(key)) await this.#rejoin(key, node.storeEndpoint);
    }
    for (const node of world.targets) {
      // Everything is healed now, so a reboot succeeds unless the target itself is broken.
      if (node.crashed) await world.restartTarget(node.name);
    }
  }

  /**
   * storeCrash: the store is slowed (if the slowStore class has not already), so that object
   * operations pile up in flight, then crashes after a drawn while; it restarts after
   * `healAfterMs` (or in the liveness phase).
   */
  async #crashStore(
    id: number,
    healAfterMs: number | undefined,
    later: (heal: () => void | Promise<void>) => void,
  ): Promise<void> {
    const world = this.#world;
    if (world.storeCrashed || this.#storeCrashId !== undefined) return;
    const slowMs = Math.max(1, this.#options.slowStoreMsMax);
    const crashAfterMs = this.#rng.int(0, slowMs + 1);
    this.#storeCrashId = id;
    this.#injected('storeCrash', id, { crashAfterMs, healAfterMs: healAfterMs ?? null });
    this.#crashSlowing = true;
    this.#applySlowness();
    if (crashAfterMs > 0) await sleep(world, crashAfterMs);
    if (this.#stopped) {
      // The liveness phase began meanwhile: healAll took the slowness away; nothing crashed.
      this.#storeCrashId = undefined;
      this.#healed(id, { crashed: false });
      return;
    }
    const inFlight = await world.crashStore(this.#rng.fork(`store-crash-${++this.#crashes}`));
    this.#crashSlowing = false;
    this.#applySlowness();
    this.#log('fault.store_crashed', {
      fault: 'storeCrash',
      id,
      inFlight: inFlight.length,
      torn: inFlight.filter((op) => op.fate === 'torn').length,
    });
    later(() => this.#restartStore());
  }

  async #restartStore(): Promise<void> {
    const id = this.#storeCrashId;
    if (id === undefined || !this.#world.storeCrashed) return;
    this.#storeCrashId = undefined;
    this.#healed(id, {});
    const listen = this.#world.targets
      .map((target) => target.storeEndpoint)
      .filter((endpoint) => !this.#leftEndpoints.has(`${endpoint.host}:${endpoint.port}`));
    await this.#world.restartStore(listen);
  }

  async #rejoin(key: string, endpoint: { host: string; port: number }): Promise<void> {
    const id = this.#leftEndpoints.get(key);
    if (id === undefined) return;
    this.#leftEndpoints.delete(key);
    this.#healed(id, { endpoint: key });
    // A crashed store listens on it when it restarts.
    if (this.#world.storeCrashed) return;
    // A target reboot in the meantime brought the endpoint back already.
    if (this.#world.store.nodes().some((node) => node.key === key)) return;
    await this.#world.store.join(endpoint);
  }

  #outside(workload: SwarmWorkload & { outside: OutsideClientHistory }): OutsideWorkload {
    return {
      world: this.#world,
      history: workload.outside,
      blocks: workload.blocks,
      touchedBlocks: () => workload.history.ops.map((op) => op.block),
      blocksPerObject: workload.blocksPerObject,
    };
  }

  /** Runs a workload-class action in the background; the safety phase waits for it. */
  #spawn(action: () => Promise<void>): void {
    const running: Promise<void> = action().finally(() => this.#background.delete(running));
    this.#background.add(running);
  }

  #drawLink(): [string, string] {
    const world = this.#world;
    const target = this.#rng.pick(world.targets).host;
    const other = this.#rng.chance(0.5) ? this.#rng.pick([...world.initiatorHosts]) : STORE_HOST;
    return this.#rng.chance(0.5) ? [other, target] : [target, other];
  }

  #injected(fault: FaultClass, id: number, data: Record<string, unknown>): void {
    this.#open.set(id, fault);
    this.#log('fault.injected', { fault, id, ...data });
  }

  /** Logs the end of fault `id` once (a second heal of it logs nothing). */
  #healed(id: number, data: Record<string, unknown>): void {
    const fault = this.#open.get(id);
    if (fault === undefined) return;
    this.#open.delete(id);
    this.#log('fault.healed', { fault, id, ...data });
  }

  /** The store is slow while the slowStore class is on or a storeCrash is about to crash it. */
  #applySlowness(): void {
    const slow = this.#world.slowStore;
    slow.delayMsMax = this.#slowStoreOn || this.#crashSlowing ? Math.max(1, this.#options.slowStoreMsMax) : 0;
    slow.stallRatio = this.#slowStoreOn ? this.#options.slowStoreStallRatio : 0;
  }

  #log(type: string, data: Record<string, unknown>): LogEvent {
    return this.#world.eventLog.append('sim/faults', type, data);
  }
}

/** Classes that need the workload (attachWorkload) to act. */
const NEEDS_WORKLOAD: readonly FaultClass[] = ['locklessWriter', 'discard'];
/**
 * Classes whose actions end by themselves (the liveness phase does not end them). They are
 * traffic, not faults: sim/run.ts opens no fault window for them.
 */
export const WORKLOAD_CLASSES: readonly FaultClass[] = ['snapshots', ...NEEDS_WORKLOAD];

function sleep(world: World, ms: number): Promise<void> {
  return new Promise((resolve) => {
    world.clock.setTimeout(resolve, ms);
  });
}
