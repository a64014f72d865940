/**
 * The client's cached inode of one VDI (vid, block_size_shift, size, data_vdi_id[]) and the
 * protocol that keeps it coherent with sheep (protocol doc §8, tgt's reload_inode in §9). Its
 * state is the inode-view machine (machines/inode-view.ts), run as an actor whose one input is the
 * rxjs stream `inputs$`: the cache pushes each event there (loaded, inode written, reload needed,
 * reloaded, closed...), synchronously, and the actor, its first subscriber, has moved before any
 * other subscriber sees the event; every transition goes to the event log.
 *
 * Two modes:
 * - 'shared-lock' (a target): the VDI's shared lock makes this client's sheep node a
 *   coherence participant; the rules below.
 * - 'lockless' (`collie vdi read/write`, lockless-vdi.ts): no LOCK and no RELEASE; the vid comes
 *   from GET_VDI_INFO (by name, or a snapshot's tag or id), the inode from dog's full
 *   12,587,576-byte read without the TGT flag. Such a client is no participant, and the node's
 *   participant belongs to a target, so it never sends the TGT flag nor the refresh read (which
 *   would validate that target's possibly stale participant); tgt-requests.ts assertLockless
 *   checks every request it sends. A reload re-resolves by name (after READONLY: a snapshot was
 *   taken meanwhile) and loads again.
 *
 * Rules (shared-lock)
 * - Open = COLLIE_FEATURES (asked once: does the store honour client ids, does a second CREATE
 *   replace an object; storeFeatures keeps the answer), LOCK_VDI shared by name (join
 *   the participants, learn the working vid), then the refresh read. Only flat VDIs (store_policy
 *   0) with block_size_shift 20..31 are served.
 * - A reload for 'invalidated' refresh-reads the current vid (that re-validates us). If that
 *   inode turns out to be a snapshot (or is gone, or was deleted), the working VDI is
 *   re-resolved by name and read instead. A reload for 'readonly' re-resolves first.
 *   Re-resolving = LOCK_VDI shared by name. COLLECTING_CINFO (a node that just joined) is waited
 *   out with a backoff, within the pool's time bound.
 * - A lock is adopted only when it is provably ours. LOCK_VDI and RELEASE_VDI carry a random
 *   64-bit client id (drawn once per cache from the injected Rng, never 0) in vdi_size. On a
 *   store that honours it (COLLIE_FEATURES LOCK_CLIENT_IDS: Collie's), a LOCK from the client that
 *   holds the node's participation answers SUCCESS, so a LOCK whose answer was lost is simply
 *   sent again, and VDI_LOCKED always means another client's lock: refused. Sheep 1.0 ignores the
 *   id: there VDI_LOCKED for a vid this cache locked through this node (a rejoin after a
 *   reconnect) is taken as ours (wrong only if the node restarted and another client locked the
 *   VDI through it meanwhile), and VDI_LOCKED after a LOCK of unknown outcome is ambiguous: the
 *   open or reload fails, naming `collie vdi lock unlock NAME` (`dog vdi lock unlock NAME`).
 * - One reload at a time. `generation` counts completed loads: a request that planned under
 *   generation g and got INODE_INVALIDATED asks reload(reason, g); if the generation moved on
 *   it returns at once (someone reloaded since), and if a reload runs it joins it. N requests
 *   hitting 0x1D together cause one reload, not N (tgt's inode_version).
 * - Allocations are recorded only after sheep acknowledged the inode update. When one is
 *   acknowledged while a reload is in flight, the refresh read may have been served before the
 *   update (the cache would call our own new object unallocated) or after it and after a DISCARD
 *   that unmapped it again (replaying would map a removed object: found by the simulator, swarm
 *   seed 49). So the reload reads again once the answer is in, up to REREADS_MAX times; only a
 *   reload that keeps racing our own allocations replays them onto the last read.
 * - Every vid we LOCKed is remembered, so close() can RELEASE each one (the old working VDI
 *   stays locked after a snapshot otherwise).
 * - A reload waits until no request round planned from the old mapping is on the wire
 *   (beginRound/end), and IOs start no round while a reload runs. The refresh read re-validates
 *   this node, so a request planned from the stale mapping that it overtook (another pooled
 *   connection) would be served as if current: a read of an area the stale cache calls
 *   unallocated would return zeros after a passing probe (found by the simulator:
 *   `collie sim run --scenario seed-failover --seed 25`, before this rule).
 * - Rejoin after a reconnect. A sheep node that leaves the cluster drops its participation in
 *   every VDI, and when it comes back nobody invalidates our cache any more. The pool cannot tell
 *   a restarted node from a dropped connection, so any connection it opened since our last
 *   LOCK_VDI (`rejoinNeeded`) makes the next reload LOCK shared by name again (with our id that
 *   answers SUCCESS whether the node kept us or dropped us; on sheep 1.0 VDI_LOCKED means it kept
 *   us, as above) and refresh-read the vid it names. IOs reload before their next round, and
 *   requests planned before the reconnect are not sent (SheepPool's sendOnlyAtReconnects); the
 *   rule on rounds planned from the old inode holds.
 *   Found by the simulator: `collie sim run --scenario swarm --seed 1 --faults storeEndpointLoss`.
 * - Metrics (optional): every reload that ran (joined ones are not counted again) by reason
 *   (invalidated, readonly, rejoin) and result, and LOCK_VDI's retries.
 */
import { endianness } from 'node:os';
import { type Observable, Subject } from 'rxjs';
import { type Actor, createActor } from 'xstate';
import {
  type InodeReloadReason,
  type InodeViewEvent,
  type InodeViewStateName,
  inodeViewMachine,
} from '../../../machines/inode-view.js';
import { BackendError } from '../../backends/block-backend.js';
import { assert } from '../../core/assert.js';
import type { Clock } from '../../core/clock.js';
import type { EventLog } from '../../core/event-log.js';
import { stateValuePath } from '../../core/live-machines.js';
import type { Rng } from '../../core/rng.js';
import { sleepMs } from '../../core/sleep.js';
import type { SheepClientMetrics } from '../../metrics/sheep-metrics.js';
import { collieFeatures, createsNeverReplace, honoursLockClientIds } from '../collie-features.js';
import { SheepConnectionError, type SheepRequestHeader, type SheepResponse } from '../sheep-connection.js';
import {
  resultName,
  SD_INODE_DATA_END,
  SD_INODE_DATA_INDEX,
  SD_INODE_HEADER_SIZE,
  SD_MAX_BLOCK_SIZE_SHIFT,
  SD_MIN_BLOCK_SIZE_SHIFT,
  SdRes,
} from '../wire/constants.js';
import { decodeInodeHeader, type InodeHeader, isSnapshot } from '../wire/inode.js';
import {
  type PoolRequestOptions,
  RESENDS_MAX,
  type SheepRequestPool,
  SheepUnavailableError,
} from './sheep-pool.js';
import type { TestOnlyClientBug } from './test-only-client-bugs.js';
import {
  assertLockless,
  getVdiInfoRequest,
  locklessInodeReadRequest,
  lockSharedRequest,
  refreshReadRequest,
  releaseSharedRequest,
  vdiNamePayload,
} from './tgt-requests.js';

/** Re-resolutions in one reload when each resolved vid is a snapshot again (snapshots racing). */
const RESOLVES_MAX = 4;
/** Refresh reads again in one reload while our own allocations are acknowledged during it. */
const REREADS_MAX = 3;
/** Rejoins in one reload when the pool keeps reconnecting meanwhile; IOs check again after it. */
const REJOINS_MAX = 4;
const LITTLE_ENDIAN_HOST = endianness() === 'LE';
/** COLLECTING_CINFO as sheep v0.9.x (and tgt) number it; v1.0 moved it to 0x95. */
const LEGACY_COLLECTING_CINFO = 0x1c;
const COLLECTING_RETRY_MS_MIN = 100;
const COLLECTING_RETRY_MS_MAX = 2000;

/** See the file comment. */
export type InodeCacheMode = 'shared-lock' | 'lockless';

/** A snapshot of the VDI, by tag or by snapshot id (lock-less reads only). */
export interface SnapshotSelector {
  readonly tag?: string;
  /** 0 or undefined: not selected by id. */
  readonly snapid?: number;
}

export interface InodeCacheOptions {
  readonly pool: SheepRequestPool;
  readonly vdiName: string;
  readonly clock: Clock;
  /** Draws the client id sent with LOCK_VDI and RELEASE_VDI; required in shared-lock mode. */
  readonly rng?: Rng;
  readonly eventLog: EventLog;
  /** Event log actor, e.g. "sheepdog/vol0@127.0.0.1:7000/inode". */
  readonly actor: string;
  /** Default 'shared-lock'. */
  readonly mode?: InodeCacheMode;
  /** Lock-less mode only: load this snapshot instead of the working VDI. */
  readonly snapshot?: SnapshotSelector;
  /** A bug injected on purpose for the simulator's self-test; never set outside tests. */
  readonly testOnlyBug?: TestOnlyClientBug;
  /** Where reloads and LOCK_VDI retries are counted; default: nowhere. */
  readonly metrics?: SheepClientMetrics;
}

interface LoadedInode {
  readonly vid: number;
  readonly header: InodeHeader;
  readonly payload: Buffer;
}

function hex(vid: number): string {
  return `0x${vid.toString(16)}`;
}

/** A random non-zero u64 (0 is what tgt and dog send: "no id"). */
function drawClientId(rng: Rng): bigint {
  const id = (BigInt(rng.nextUint32()) << 32n) | BigInt(rng.nextUint32());
  return id === 0n ? 1n : id;
}

const noop = (): void => {};

/** Vids are 24 bits (SD_NR_VDIS). */
const VID_LIMIT = 2 ** 24;

export class InodeCache {
  readonly vdiName: string;
  readonly mode: InodeCacheMode;
  /** Sent in LOCK_VDI's and RELEASE_VDI's vdi_size; 0n in lock-less mode (it never locks). */
  readonly clientId: bigint;
  readonly #snapshot: SnapshotSelector | undefined;
  readonly #testOnlyBug: TestOnlyClientBug | undefined;
  readonly #metrics: SheepClientMetrics | undefined;
  readonly #pool: SheepRequestPool;
  readonly #clock: Clock;
  readonly #eventLog: EventLog;
  readonly #actorId: string;
  readonly #view: Actor<typeof inodeViewMachine>;
  /** The view's inputs (see the file comment); completed when the view stops. */
  readonly #inputs = new Subject<InodeViewEvent>();
  /** The view's inputs, read-only: each event after the view handled it. */
  readonly inputs$: Observable<InodeViewEvent> = this.#inputs.asObservable();
  /** Drops the view from the log's live-machine registry (src/core/live-machines.ts). */
  readonly #unregisterLive: () => void;
  /** data_vdi_id[]: which vid owns object idx (0 = unallocated). Updated in place. */
  readonly #table = new Uint32Array(SD_INODE_DATA_INDEX);
  readonly #lockedVids = new Set<number>();
  #header: InodeHeader | undefined;
  #vid = 0;
  #generation = 0;
  #changes = 0;
  #reloading: Promise<void> | undefined;
  /** Allocations acknowledged while a reload is in flight, replayed onto its result. */
  #replay: Map<number, number> | undefined;
  /** Request rounds on the wire, planned from the current mapping. */
  #roundsInFlight = 0;
  #roundsDrained: Array<() => void> = [];
  /** pool.reconnects when our last successful LOCK_VDI was sent. */
  #reconnectsAtJoin = 0;
  /** The store answers a LOCK carrying our id SUCCESS when the lock is ours (COLLIE_FEATURES). */
  #lockClientIds = false;
  /** COLLIE_FEATURES' answer at open (shared-lock mode; 0 for sheep 1.0). */
  #storeFeatures: number | undefined;
  /** Told after every completed reload (onReloaded). */
  readonly #reloadListeners = new Set<(generation: number) => void>();

  private constructor(options: InodeCacheOptions) {
    this.vdiName = options.vdiName;
    this.mode = options.mode ?? 'shared-lock';
    const snapshot = options.snapshot;
    const selectsSnapshot = snapshot !== undefined && (Boolean(snapshot.tag) || Boolean(snapshot.snapid));
    assert(
      !selectsSnapshot || this.mode === 'lockless',
      `VDI "${options.vdiName}": only a lock-less client opens a snapshot`,
    );
    this.#snapshot = selectsSnapshot ? snapshot : undefined;
    const rng = options.rng;
    assert(
      this.mode === 'lockless' || rng !== undefined,
      'a shared-lock inode cache needs an Rng for its client id',
    );
    this.clientId = rng !== undefined && this.mode === 'shared-lock' ? drawClientId(rng) : 0n;
    this.#testOnlyBug = options.testOnlyBug;
    this.#metrics = options.metrics;
    this.#pool = options.pool;
    this.#clock = options.clock;
    this.#eventLog = options.eventLog;
    this.#actorId = options.actor;
    this.#view = createActor(inodeViewMachine, { input: { vdiName: options.vdiName } });
    this.#view.start();
    this.#inputs.subscribe((event) => this.#drive(event));
    this.#unregisterLive =
      options.eventLog.liveMachines?.register({
        key: options.actor,
        machine: 'inode-view',
        state: () => stateValuePath(this.#view.getSnapshot().value),
      }) ?? noop;
  }

  /**
   * Shared-lock: COLLIE_FEATURES, LOCK_VDI shared, refresh read. Lock-less: GET_VDI_INFO and the
   * full inode read. Rejects with BackendError (or SheepUnavailableError).
   */
  static async open(options: InodeCacheOptions): Promise<InodeCache> {
    const cache = new InodeCache(options);
    try {
      if (cache.mode === 'shared-lock') {
        const features = await collieFeatures(cache.#pool);
        cache.#storeFeatures = features;
        cache.#lockClientIds = honoursLockClientIds(features);
        cache.#log('inode.store_features', {
          features,
          lockClientIds: cache.#lockClientIds,
          createsNeverReplace: createsNeverReplace(features),
          client: cache.clientId.toString(16),
        });
      }
      let vid = await cache.#join('open');
      let loaded = await cache.#load(vid);
      // A snapshot taken between the lookup (or LOCK) and the read: resolve the name again.
      for (let resolve = 1; loaded !== undefined && !cache.#isTarget(loaded); resolve++) {
        if (resolve >= RESOLVES_MAX) break;
        vid = await cache.#join('open');
        loaded = await cache.#load(vid);
      }
      if (loaded === undefined) {
        throw new BackendError(
          'medium',
          `VDI "${cache.vdiName}" (vid ${hex(vid)}) has no inode object on sheep at ${cache.#pool.endpoint}; the store is damaged`,
        );
      }
      if (!cache.#isTarget(loaded)) {
        throw new BackendError(
          'medium',
          `${cache.#describe()}: vid ${hex(vid)} kept changing while it was opened (snapshots or deletes racing); retry`,
        );
      }
      cache.#checkServable(loaded);
      cache.#apply(loaded);
      cache.#send({ type: 'LOADED', vid });
      return cache;
    } catch (error) {
      cache.#send({ type: 'LOAD_FAILED' });
      await cache.releaseAll().catch(() => undefined);
      cache.#stopView();
      throw error;
    }
  }

  get vid(): number {
    return this.#vid;
  }

  /**
   * The CollieFeature bits the store answered at open (0 for sheep 1.0, which does not know
   * COLLIE_FEATURES); undefined in lock-less mode, which does not ask here.
   */
  get storeFeatures(): number | undefined {
    return this.#storeFeatures;
  }

  get header(): InodeHeader {
    assert(this.#header !== undefined, 'the inode cache is used before it loaded');
    return this.#header;
  }

  get blockSizeShift(): number {
    return this.header.blockSizeShift;
  }

  get objectBytes(): number {
    return 2 ** this.header.blockSizeShift;
  }

  get copies(): number {
    return this.header.nrCopies;
  }

  get generation(): number {
    return this.#generation;
  }

  /**
   * Loads that changed what the cache maps (a new vid, or data_vdi_id[] differs): an IO that
   * planned at an older count and reloaded saw another writer's progress, not a futile reload.
   */
  get changes(): number {
    return this.#changes;
  }

  get state(): InodeViewStateName {
    return this.#view.getSnapshot().value as InodeViewStateName;
  }

  /** pool.reconnects when we last joined the VDI's participants (LOCK_VDI answered). */
  get reconnectsAtJoin(): number {
    return this.#reconnectsAtJoin;
  }

  /**
   * The pool opened a connection since our last LOCK_VDI: the sheep node may have restarted and
   * dropped us from the participants, so the next reload must LOCK again (see the file comment).
   */
  get rejoinNeeded(): boolean {
    return this.mode === 'shared-lock' && this.#pool.reconnects !== this.#reconnectsAtJoin;
  }

  /** True when this cache takes part in the coherence protocol (it holds the shared lock). */
  get coherent(): boolean {
    return this.mode === 'shared-lock';
  }

  /** True when the cache is a snapshot's (lock-less reads of `-s TAG|SNAPID`): read-only. */
  get isSnapshot(): boolean {
    return this.#snapshot !== undefined;
  }

  /** Vids we hold a shared lock on, in the order they were locked. */
  get lockedVids(): readonly number[] {
    return [...this.#lockedVids];
  }

  /** data_vdi_id[idx]: the owner of object idx as we know it (0 = unallocated). */
  owner(idx: number): number {
    return this.#table[idx]!;
  }

  /**
   * Reloads after INODE_INVALIDATED ('invalidated') or READONLY ('readonly'), unless the cache
   * moved past `seenGeneration` already; joins a reload in flight. See the file comment.
   */
  reload(reason: InodeReloadReason, seenGeneration: number): Promise<void> {
    if (this.#generation !== seenGeneration) return Promise.resolve();
    if (this.#reloading !== undefined) return this.#reloading;
    const reloading = this.#runReload(reason).finally(() => {
      this.#reloading = undefined;
    });
    this.#reloading = reloading;
    return reloading;
  }

  /**
   * `listener` is called after every reload that completed (a new generation: after
   * INODE_INVALIDATED, a snapshot, a rejoin), synchronously, with the new generation. The shared
   * cell uses it to learn that another node may have changed it. Returns the unsubscribe function.
   */
  onReloaded(listener: (generation: number) => void): () => void {
    this.#reloadListeners.add(listener);
    return () => {
      this.#reloadListeners.delete(listener);
    };
  }

  /** The reload running now, if any: IOs wait for it before they send a round. */
  get reloadInFlight(): Promise<void> | undefined {
    return this.#reloading;
  }

  /**
   * A round of requests planned from the cached mapping goes on the wire; call the returned
   * function once its answers are in. A reload waits for every such round (see the file comment).
   */
  beginRound(): () => void {
    this.#roundsInFlight += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#roundsInFlight -= 1;
      if (this.#roundsInFlight === 0) for (const wake of this.#roundsDrained.splice(0)) wake();
    };
  }

  /**
   * Records that sheep acknowledged data_vdi_id[minIdx..maxIdx] = vid (our inode update). An
   * update for a vid that is no longer the working one (a snapshot raced it) changes nothing.
   */
  recordAllocation(vid: number, minIdx: number, maxIdx: number): void {
    if (vid !== this.#vid) {
      this.#log('inode.allocation_for_old_vid', { vid: hex(vid), current: hex(this.#vid), minIdx, maxIdx });
      return;
    }
    for (let idx = minIdx; idx <= maxIdx; idx++) {
      this.#table[idx] = vid;
      this.#replay?.set(idx, vid);
    }
    this.#send({ type: 'INODE_WRITTEN' });
  }

  /** RELEASE_VDI (shared) of every vid we locked. Each is tried; the first failure is thrown. */
  async releaseAll(): Promise<void> {
    await this.#release([...this.#lockedVids]);
  }

  /** RELEASE_VDI (shared) of `vids`, each tried; the first failure is thrown. */
  async #release(vids: readonly number[]): Promise<void> {
    let firstError: unknown;
    for (const vid of vids) {
      try {
        const { header } = await this.#pool.request(releaseSharedRequest(vid, this.clientId));
        if (header.result !== SdRes.SUCCESS && header.result !== SdRes.VDI_NOT_LOCKED) {
          throw this.#resultError(header.result, `release the shared lock on vid ${hex(vid)}`);
        }
        this.#lockedVids.delete(vid);
        this.#log('inode.released', { vid: hex(vid) });
      } catch (error) {
        firstError ??= error;
      }
    }
    if (firstError !== undefined) throw firstError;
  }

  close(): void {
    this.#send({ type: 'CLOSE' });
    this.#stopView();
  }

  #stopView(): void {
    this.#view.stop();
    this.#inputs.complete();
    this.#unregisterLive();
  }

  // ---- reload ----------------------------------------------------------------------------------

  async #runReload(reason: InodeReloadReason): Promise<void> {
    this.#send({ type: 'RELOAD_NEEDED', reason });
    this.#replay = new Map();
    // What the metrics call it: a reload after a reconnect rejoins, whatever asked for it.
    const counted = this.rejoinNeeded ? 'rejoin' : reason;
    try {
      if (this.#roundsInFlight > 0) {
        await new Promise<void>((resolve) => {
          this.#roundsDrained.push(resolve);
        });
      }
      let loaded: LoadedInode | undefined;
      if (this.rejoinNeeded && this.#testOnlyBug === 'no-relock-after-reconnect') {
        // The test-only bug: believe the node kept us, and only refresh-read.
        this.#reconnectsAtJoin = this.#pool.reconnects;
        loaded = await this.#load(this.#vid);
      } else if (this.rejoinNeeded) {
        for (let rejoin = 0; this.rejoinNeeded && rejoin < REJOINS_MAX; rejoin++) {
          this.#log('inode.rejoining', {
            reconnects: this.#pool.reconnects,
            reconnectsAtJoin: this.#reconnectsAtJoin,
          });
          const vid = await this.#join('rejoin');
          // Another pooled connection opened meanwhile: LOCK again before the (large) refresh read.
          if (this.rejoinNeeded) continue;
          loaded = await this.#load(vid);
        }
      } else if (reason === 'invalidated') {
        loaded = await this.#load(this.#vid);
      }
      for (let resolve = 0; !this.#isTarget(loaded); resolve++) {
        if (resolve >= RESOLVES_MAX) {
          throw new BackendError(
            'medium',
            `${this.#describe()}: the working VDI kept turning into a snapshot while reloading (${RESOLVES_MAX} tries); retry later`,
          );
        }
        const vid = await this.#join('reload');
        loaded = await this.#load(vid);
      }
      if (loaded.header.blockSizeShift !== this.header.blockSizeShift) {
        throw new BackendError(
          'medium',
          `VDI "${this.vdiName}": block_size_shift changed from ${this.header.blockSizeShift} to ${loaded.header.blockSizeShift} (vid ${hex(loaded.vid)}); reopen the LU`,
        );
      }
      // An allocation acknowledged while the refresh read was out may have been served after it
      // or before it; and between that update and the read, a DISCARD may have unmapped it again.
      // Read once more, now that the update's answer is in (the store orders refresh reads after
      // it), instead of guessing; replaying is left for a reload that keeps racing our own writes.
      for (let again = 0; this.#replay.size > 0 && again < REREADS_MAX; again++) {
        const replayed = new Map(this.#replay);
        this.#replay.clear();
        const reread = await this.#load(loaded.vid);
        // Snapshotted meanwhile: keep the read we have; the next IO meets READONLY and re-resolves.
        if (!this.#isTarget(reread)) {
          for (const [idx, vid] of replayed) this.#replay.set(idx, vid);
          break;
        }
        loaded = reread;
      }
      this.#apply(loaded);
      for (const [idx, vid] of this.#replay) if (vid === this.#vid) this.#table[idx] = vid;
      await this.#releaseRetired();
      this.#send({ type: 'RELOADED', vid: loaded.vid });
      for (const listener of [...this.#reloadListeners]) listener(this.#generation);
      this.#metrics?.reloaded(counted, true);
    } catch (error) {
      this.#send({ type: 'RELOAD_FAILED' });
      this.#metrics?.reloaded(counted, false);
      throw error;
    } finally {
      this.#replay = undefined;
    }
  }

  /**
   * True when `loaded` is still what we serve: present, still carrying our name (a deleted VDI's
   * inode has an empty name; re-resolving then reports NO_VDI), and the working VDI (not a
   * snapshot), or for a lock-less snapshot read, a snapshot.
   */
  #isTarget(loaded: LoadedInode | undefined): loaded is LoadedInode {
    return (
      loaded !== undefined &&
      loaded.header.name === this.vdiName &&
      isSnapshot(loaded.header) === (this.#snapshot !== undefined)
    );
  }

  /** Joins (LOCK) or, lock-less, looks up the vid to load. */
  #join(why: 'open' | 'reload' | 'rejoin'): Promise<number> {
    return this.mode === 'lockless' ? this.#lookupVid() : this.#lockShared(why);
  }

  /**
   * Leaves the participants of every vid we locked that is no longer our working VDI (a
   * snapshot retired it). Nobody changes a snapshot's inode, so staying in would only keep a
   * participation the store invalidated when the snapshot was taken, and a reload of the new
   * working VDI never re-validates it: every TGT read of an ancestor's object would then be
   * refused INODE_INVALIDATED forever (found by the simulator: swarm seed 1021, a target that
   * rejoined straight onto the third working VDI). Reads of ancestor-owned areas stay covered
   * by the probe of the working VDI (io-plan.ts). A failed release is left for close().
   */
  async #releaseRetired(): Promise<void> {
    const retired = [...this.#lockedVids].filter((vid) => vid !== this.#vid);
    if (retired.length === 0) return;
    await this.#release(retired).catch((error: unknown) => {
      this.#log('inode.release_deferred', { vids: retired.map(hex), why: (error as Error).message });
    });
  }

  /** The refresh read of `vid` or, lock-less, dog's full inode read; undefined on NO_OBJ. */
  async #load(vid: number): Promise<LoadedInode | undefined> {
    const lockless = this.mode === 'lockless';
    const { header, payload } = await this.#request(
      lockless ? locklessInodeReadRequest(vid) : refreshReadRequest(vid),
    );
    if (header.result === SdRes.NO_OBJ) return undefined;
    if (header.result !== SdRes.SUCCESS) {
      throw this.#resultError(
        header.result,
        `${lockless ? 'read' : 'refresh read'} of the inode of vid ${hex(vid)}`,
      );
    }
    const decoded = decodeInodeHeader(payload);
    if (!decoded.ok) {
      throw new BackendError(
        'medium',
        `VDI "${this.vdiName}": sheep at ${this.#pool.endpoint} sent an unreadable inode for vid ${hex(vid)}: ${decoded.error.message}`,
      );
    }
    return { vid, header: decoded.value, payload };
  }

  #checkServable(loaded: LoadedInode): void {
    const { header, vid } = loaded;
    const where = `${this.#describe()} (vid ${hex(vid)})`;
    if (header.storePolicy !== 0) {
      throw new BackendError(
        'medium',
        `${where} is a hyper volume (store_policy ${header.storePolicy}); only flat VDIs can back a LU (tgt has the same limit)`,
      );
    }
    const shift = header.blockSizeShift;
    if (shift < SD_MIN_BLOCK_SIZE_SHIFT || shift > SD_MAX_BLOCK_SIZE_SHIFT) {
      throw new BackendError(
        'medium',
        `${where} has block_size_shift ${shift}, outside ${SD_MIN_BLOCK_SIZE_SHIFT}..${SD_MAX_BLOCK_SIZE_SHIFT}`,
      );
    }
    if (header.vdiSize > BigInt(SD_INODE_DATA_INDEX) << BigInt(shift)) {
      throw new BackendError(
        'medium',
        `${where} claims ${header.vdiSize} bytes, more than a flat inode maps`,
      );
    }
    // Every data_vdi_id entry is a vid (24 bits) or 0: a corrupt one must fail the load as a bad
    // answer from sheep, not reach an oid built from it (an assertion, and a cached owner that
    // would fail every later IO of its object).
    const payload = loaded.payload;
    const end = Math.min(payload.length, SD_INODE_DATA_END);
    for (let offset = SD_INODE_HEADER_SIZE; offset + 4 <= end; offset += 4) {
      const owner = payload.readUInt32LE(offset);
      if (owner >= VID_LIMIT) {
        throw new BackendError(
          'medium',
          `${where}: sheep at ${this.#pool.endpoint} sent an inode whose data_vdi_id[${(offset - SD_INODE_HEADER_SIZE) / 4}] is ${owner}, not a 24-bit vid (a corrupt inode; check the store)`,
        );
      }
    }
  }

  #apply(loaded: LoadedInode): void {
    const { payload } = loaded;
    const end = Math.min(payload.length, SD_INODE_DATA_END);
    const entryCount = Math.max(0, Math.floor((end - SD_INODE_HEADER_SIZE) / 4));
    if (loaded.vid !== this.#vid || !this.#tableEquals(payload, entryCount)) this.#changes += 1;
    if (LITTLE_ENDIAN_HOST) {
      const bytes = new Uint8Array(this.#table.buffer);
      bytes.set(payload.subarray(SD_INODE_HEADER_SIZE, SD_INODE_HEADER_SIZE + 4 * entryCount));
      bytes.fill(0, 4 * entryCount);
    } else {
      for (let idx = 0; idx < entryCount; idx++) {
        this.#table[idx] = payload.readUInt32LE(SD_INODE_HEADER_SIZE + 4 * idx);
      }
      this.#table.fill(0, entryCount);
    }
    this.#header = loaded.header;
    this.#vid = loaded.vid;
    this.#generation += 1;
  }

  /** True when the cached data_vdi_id[] already holds what `payload` maps. */
  #tableEquals(payload: Buffer, entryCount: number): boolean {
    const cached = Buffer.from(this.#table.buffer, this.#table.byteOffset, this.#table.byteLength);
    const incoming = payload.subarray(SD_INODE_HEADER_SIZE, SD_INODE_HEADER_SIZE + 4 * entryCount);
    if (LITTLE_ENDIAN_HOST) {
      if (!cached.subarray(0, 4 * entryCount).equals(incoming)) return false;
    } else {
      for (let idx = 0; idx < entryCount; idx++)
        if (this.#table[idx] !== incoming.readUInt32LE(4 * idx)) return false;
    }
    for (let idx = entryCount; idx < this.#table.length; idx++) if (this.#table[idx] !== 0) return false;
    return true;
  }

  // ---- locking ---------------------------------------------------------------------------------

  /**
   * LOCK_VDI shared by name, carrying our client id; the working vid. LOCK is not resent blindly
   * (a lost answer may have locked us in), so a connection failure retries it and remembers that
   * the outcome is unknown (see the file comment for what VDI_LOCKED then means).
   */
  async #lockShared(why: 'open' | 'reload' | 'rejoin'): Promise<number> {
    const deadlineAtMs = this.#clock.now() + this.#pool.unavailableAfterMs;
    let outcomeUnknown = false;
    for (let attempt = 0; attempt <= RESENDS_MAX; attempt++) {
      let response: SheepResponse;
      // Connections opened after this point may reach a node that never saw this LOCK.
      const reconnectsBefore = this.#pool.reconnects;
      try {
        response = await this.#pool.request(lockSharedRequest(this.clientId), vdiNamePayload(this.vdiName), {
          resend: false,
          deadlineAtMs,
        });
      } catch (error) {
        if (!(error instanceof SheepConnectionError)) throw error;
        outcomeUnknown = true;
        this.#metrics?.retried('lock_connection_lost');
        continue;
      }
      const { header } = response;
      if (header.result === SdRes.SUCCESS && header.args.kind === 'vdi') {
        const vid = header.args.vdiId;
        this.#lockedVids.add(vid);
        this.#reconnectsAtJoin = reconnectsBefore;
        this.#log('inode.locked', { vid: hex(vid), why, ...(outcomeUnknown ? { outcomeUnknown } : {}) });
        return vid;
      }
      if (header.result === SdRes.VDI_LOCKED) {
        const vid = await this.#lookupVid();
        this.#adoptOrRefuse(vid, why, outcomeUnknown);
        this.#lockedVids.add(vid);
        this.#reconnectsAtJoin = reconnectsBefore;
        return vid;
      }
      if (header.result === SdRes.COLLECTING_CINFO || header.result === LEGACY_COLLECTING_CINFO) {
        // A sheep node that just (re)joined answers this until it has the cluster's lock state.
        if (this.#clock.now() >= deadlineAtMs) {
          throw new BackendError(
            'unavailable',
            `VDI "${this.vdiName}": sheep at ${this.#pool.endpoint} is still collecting the cluster's lock state (a node just joined); retry later`,
          );
        }
        const delayMs = Math.min(COLLECTING_RETRY_MS_MAX, COLLECTING_RETRY_MS_MIN * 2 ** attempt);
        this.#log('inode.lock_retried', { result: header.result, retryInMs: delayMs });
        this.#metrics?.retried('lock_collecting_cinfo');
        await sleepMs(this.#clock, delayMs);
        continue;
      }
      if (header.result === SdRes.NO_VDI) throw this.#notFound();
      throw this.#resultError(header.result, `LOCK_VDI (shared) of "${this.vdiName}"`);
    }
    throw new SheepUnavailableError(
      this.#pool.endpoint,
      `LOCK_VDI of "${this.vdiName}" lost its connection ${RESENDS_MAX + 1} times; check the network path to sheep at ${this.#pool.endpoint}`,
    );
  }

  /**
   * LOCK_VDI answered VDI_LOCKED for `vid`: returns when the lock is provably ours (see the file
   * comment), else throws the BackendError that names the holder and the fix.
   */
  #adoptOrRefuse(vid: number, why: 'open' | 'reload' | 'rejoin', outcomeUnknown: boolean): void {
    const { host, port } = this.#pool.address;
    const unlock = `collie vdi lock unlock ${this.vdiName} -a ${host} -p ${port}, or dog vdi lock unlock ${this.vdiName}`;
    if (this.#lockClientIds) {
      // Our id would have been answered SUCCESS: the node's participation is another client's.
      throw new BackendError(
        'unavailable',
        `VDI "${this.vdiName}" is already locked through sheep at ${this.#pool.endpoint} by another client (another target on that sheep node, a qemu, or a crashed target left the lock); serve it through another sheep node, or release it if its holder is gone (${unlock})`,
      );
    }
    if (this.#lockedVids.has(vid)) {
      // Sheep 1.0 ignores ids: we locked this vid through this node and it kept the lock.
      this.#log('inode.lock_already_held', { vid: hex(vid), why });
      return;
    }
    if (outcomeUnknown) {
      throw new BackendError(
        'unavailable',
        `VDI "${this.vdiName}": a LOCK_VDI through sheep at ${this.#pool.endpoint} lost its answer and the retry was answered VDI_LOCKED; this store (sheep 1.0) cannot tell whether the first LOCK took or another client on that node holds the lock, and sharing another client's lock would let its release end our coherence; if no other target serves "${this.vdiName}" through ${this.#pool.endpoint}, release the lock (${unlock}) and retry`,
      );
    }
    throw new BackendError(
      'unavailable',
      `VDI "${this.vdiName}" is already locked through sheep at ${this.#pool.endpoint} (another target on that sheep node, a qemu, or a crashed target left the lock); serve it through another sheep node, or release it if its holder is gone (${unlock})`,
    );
  }

  /** GET_VDI_INFO of the name (and, lock-less, the snapshot selected): the vid. */
  async #lookupVid(): Promise<number> {
    const snapshot = this.#snapshot;
    const { header } = await this.#request(
      getVdiInfoRequest(snapshot?.snapid ?? 0),
      vdiNamePayload(this.vdiName, snapshot?.tag ?? ''),
    );
    if (header.result === SdRes.NO_VDI) throw this.#notFound();
    if (header.result === SdRes.NO_TAG) {
      throw new BackendError(
        'medium',
        `${this.#describe()} not found on sheep at ${this.#pool.endpoint}; list the snapshots (collie vdi list ${this.vdiName})`,
      );
    }
    if (header.result !== SdRes.SUCCESS || header.args.kind !== 'vdi') {
      throw this.#resultError(header.result, `GET_VDI_INFO of ${this.#describe()}`);
    }
    return header.args.vdiId;
  }

  // ---- helpers ---------------------------------------------------------------------------------

  /**
   * Every request the cache sends outside LOCK and RELEASE; a lock-less cache checks each against
   * its two rules (tgt-requests.ts assertLockless).
   */
  #request(
    header: SheepRequestHeader,
    payload?: Buffer,
    options?: PoolRequestOptions,
  ): Promise<SheepResponse> {
    if (this.mode === 'lockless') assertLockless(header);
    return this.#pool.request(header, payload, options);
  }

  /** 'VDI "vol"', or for a lock-less snapshot read 'snapshot "tag" of VDI "vol"'. */
  #describe(): string {
    const snapshot = this.#snapshot;
    if (snapshot?.tag) return `snapshot "${snapshot.tag}" of VDI "${this.vdiName}"`;
    if (snapshot?.snapid) return `snapshot ${snapshot.snapid} of VDI "${this.vdiName}"`;
    return `VDI "${this.vdiName}"`;
  }

  #notFound(): BackendError {
    return new BackendError(
      'medium',
      `VDI "${this.vdiName}" not found on sheep at ${this.#pool.endpoint}; create it first (collie vdi create ${this.vdiName} SIZE)`,
    );
  }

  #resultError(result: number, what: string): BackendError {
    return new BackendError(
      'medium',
      `${this.#describe()}: ${what} on sheep at ${this.#pool.endpoint} failed: ${resultName(result)}`,
    );
  }

  /** An input for the view: onto its stream (see the file comment). */
  #send(event: InodeViewEvent): void {
    this.#inputs.next(event);
  }

  /** The view's subscriber: moves the actor, logs the transition. Never throws (nor does send). */
  #drive(event: InodeViewEvent): void {
    const before = this.#view.getSnapshot();
    this.#view.send(event);
    const after = this.#view.getSnapshot();
    if (after === before) return;
    this.#log('inode.transition', {
      from: before.value,
      event: event.type,
      to: after.value,
      vid: hex(after.context.vid),
      generation: after.context.generation,
      ...(event.type === 'RELOAD_NEEDED' ? { reason: event.reason } : {}),
    });
  }

  #log(type: string, data: Record<string, unknown>): void {
    this.#eventLog.append(this.#actorId, type, data);
  }
}
