/**
 * A logical unit's blocks in a sheepdog VDI: the BlockBackend that tgt's bs_sheepdog is, made
 * safe for multipath (several targets exporting one VDI through different sheep nodes).
 *
 * Wiring: SheepPool (pipelined connections, reconnects, time bounds) -> InodeCache (LOCK_VDI
 * shared with this backend's client id + refresh read at open, coherent reloads, the inode-view machine, and the rejoin after
 * any reconnect: a sheep node that left and came back no longer counts us as a participant, so
 * LOCK_VDI + refresh read again before IO goes on) -> IoRunner (each IO
 * through the table compiled from the io-request machine) -> this class (the BlockBackend
 * contract, object range locks, flush, close).
 *
 * Rules
 * - read/write split by the VDI's block_size_shift; writes are acknowledged only after every
 *   create and the partial inode update succeeded (protocol doc §6.1).
 * - IOs whose object ranges overlap run one after another in arrival order (IoRunner holds the range: writes exclusive,
 *   reads shared); disjoint IOs run concurrently and pipeline on the pool.
 * - flush() = FLUSH_VDI. The embedded store fsyncs and answers SUCCESS; sheep 1.0 answers
 *   INVALID_PARMS (its writes are already durable when acknowledged): both count as flushed.
 *   A write with `fua` is followed by a flush before it resolves.
 * - close() waits for IOs in flight, RELEASEs every vid this backend locked (a crash leaves
 *   them locked, as with tgt), then closes the pool. IO after close is refused.
 * - On a store whose COLLIE_FEATURES lacks CREATE_NEVER_REPLACES (sheep 1.0: a second CREATE
 *   replaces an object), every object is claimed before it is created (allocation-claims.ts),
 *   and open logs one warning naming what stays unsafe there with several writers.
 * - Errors are BackendErrors whose messages name the VDI, the vid and the sheep endpoint.
 * - `sharedCell` (sheep-shared-cell.ts) is the VDI's shared cell, in data object MAX_DATA_OBJS - 1
 *   beyond the LU: the range check here keeps refusing that area to the LU's reads and writes;
 *   only the cell touches it. read/write take an IoGuard (options.guard), which the IO runner
 *   consults after the shared state may have changed (io-runner.ts, "Guarded IO").
 * - `metrics` (optional, one SheepClientMetrics per node, shared by its backends) goes to the pool
 *   (and its connections), the inode cache and the IO runner, which say what they count.
 */
import { type Endpoint, endpointToString, type Transport } from '../../../transports/transport.js';
import {
  BackendError,
  type BlockBackend,
  type ReadOptions,
  type WriteOptions,
} from '../../backends/block-backend.js';
import { assert } from '../../core/assert.js';
import type { Clock } from '../../core/clock.js';
import type { EventLog } from '../../core/event-log.js';
import type { Logger } from '../../core/logger.js';
import type { Rng } from '../../core/rng.js';
import type { SheepClientMetrics } from '../../metrics/sheep-metrics.js';
import { createsNeverReplace } from '../collie-features.js';
import { SheepConnectionError } from '../sheep-connection.js';
import { resultName, SdRes } from '../wire/constants.js';
import { InodeCache } from './inode-cache.js';
import { IoRunner, type TestOnlyClientBug } from './io-runner.js';
import {
  POOL_REQUEST_TIMEOUT_MS_DEFAULT,
  POOL_UNAVAILABLE_AFTER_MS_DEFAULT,
  SheepPool,
  SheepUnavailableError,
} from './sheep-pool.js';
import { type SharedCellTestOnlyBug, SheepSharedCell } from './sheep-shared-cell.js';
import { flushRequest } from './tgt-requests.js';

export const SHEEPDOG_BLOCK_SIZE_BYTES = 512;

/** Tunables; every one has a default that suits a LAN sheep. */
export interface SheepdogBackendOptions {
  /** Connections to the sheep endpoint. Default 4. */
  readonly poolSize?: number;
  /** Requests on the wire per connection. Default 32. */
  readonly inFlightMaxPerConnection?: number;
  /** One request's time on the wire before its connection is dropped. Default 15 s. */
  readonly requestTimeoutMs?: number;
  /** How long an IO keeps trying while sheep is unreachable, then fails 'unavailable'. Default 30 s. */
  readonly unavailableAfterMs?: number;
  readonly reconnectDelayMsMin?: number;
  readonly reconnectDelayMsMax?: number;
  /** Inode reloads per IO before it fails 'retries-exhausted'. Default 8. */
  readonly reloadsMax?: number;
  /** Probe coherence on every read (closes the snapshot-under-multipath gap at one extra request per read). */
  readonly probeEveryRead?: boolean;
  /**
   * Sheep 1.0 only (allocation claims): how long another target's claim may hold an object that
   * stays unmapped before its holder counts as dead. Default: unavailableAfterMs + requestTimeoutMs
   * (45 s), by when a live holder has given up on its own requests.
   */
  readonly allocationClaimWaitMs?: number;
  /** Lost races before a shared cell update or exclusive section gives up (CellContention). Default 16. */
  readonly cellAttemptsMax?: number;
  /** Log every IO transition to the event log. Default true. */
  readonly ioEvents?: boolean;
  /** Event log actor prefix; default "sheepdog/<vdi name>@<endpoint>". */
  readonly actor?: string;
  /**
   * Test-only fault injection: a bug put into the client on purpose so the simulator can show it
   * finds it (io-runner.ts, TestOnlyClientBug). Default off; never set it in production.
   */
  readonly testOnlyBug?: TestOnlyClientBug;
  /** Test-only: a shared cell broken on purpose (sheep-shared-cell.ts); never set in production. */
  readonly testOnlyCellBug?: SharedCellTestOnlyBug;
}

export interface SheepdogBackendOpenOptions {
  readonly transport: Transport;
  readonly endpoint: Endpoint;
  readonly vdiName: string;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly eventLog: EventLog;
  readonly logger: Logger;
  readonly options?: SheepdogBackendOptions;
  /** Where the client reports round trips, retries, errors and coherence work; default: nowhere. */
  readonly metrics?: SheepClientMetrics;
}

type MapRun = { offsetBytes: number; lengthBytes: number; mapped: boolean };

export class SheepdogBackend implements BlockBackend {
  readonly blockSizeBytes = SHEEPDOG_BLOCK_SIZE_BYTES;
  readonly sizeBytes: number;
  readonly thin = false;
  readonly readOnly = false;
  readonly identity: string;
  /** The VDI's shared cell (see the file comment). */
  readonly sharedCell: SheepSharedCell;
  readonly #pool: SheepPool;
  readonly #cache: InodeCache;
  readonly #runner: IoRunner;
  readonly #eventLog: EventLog;
  readonly #logger: Logger;
  readonly #actor: string;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  private constructor(init: SheepdogBackendOpenOptions, pool: SheepPool, cache: InodeCache, actor: string) {
    const options = init.options ?? {};
    this.#pool = pool;
    this.#cache = cache;
    this.#eventLog = init.eventLog;
    this.#logger = init.logger;
    this.#actor = actor;
    this.identity = `sheepdog:${init.vdiName}`;
    this.sizeBytes = Number(cache.header.vdiSize);
    const claims = !createsNeverReplace(cache.storeFeatures ?? 0);
    this.#runner = new IoRunner({
      pool,
      cache,
      clock: init.clock,
      eventLog: init.eventLog,
      actor: `${actor}/io`,
      reloadsMax: options.reloadsMax,
      probeEveryRead: options.probeEveryRead,
      ioEvents: options.ioEvents,
      testOnlyBug: options.testOnlyBug,
      allocationClaims: claims ? { waitMs: allocationClaimWaitMs(options) } : undefined,
      metrics: init.metrics,
    });
    this.sharedCell = new SheepSharedCell({
      runner: this.#runner,
      cache,
      pool,
      eventLog: init.eventLog,
      logger: init.logger,
      actor: `${actor}/cell`,
      attemptsMax: options.cellAttemptsMax,
      testOnlyBug: options.testOnlyCellBug,
    });
    this.#runner.useGuardSupport(this.sharedCell);
  }

  /**
   * Connects, LOCKs the VDI shared and loads its inode. Rejects with BackendError naming the
   * VDI, the endpoint and the fix (not found, locked, unreachable, not servable).
   */
  static async open(init: SheepdogBackendOpenOptions): Promise<SheepdogBackend> {
    const options = init.options ?? {};
    const where = endpointToString(init.endpoint);
    const actor = options.actor ?? `sheepdog/${init.vdiName}@${where}`;
    let pool: SheepPool;
    try {
      pool = await SheepPool.open({
        transport: init.transport,
        endpoint: init.endpoint,
        clock: init.clock,
        rng: init.rng.fork(`${actor}/pool`),
        eventLog: init.eventLog,
        actor: `${actor}/pool`,
        logger: init.logger,
        size: options.poolSize,
        inFlightMaxPerConnection: options.inFlightMaxPerConnection,
        requestTimeoutMs: options.requestTimeoutMs,
        unavailableAfterMs: options.unavailableAfterMs,
        reconnectDelayMsMin: options.reconnectDelayMsMin,
        reconnectDelayMsMax: options.reconnectDelayMsMax,
        testOnlyBug: options.testOnlyBug,
        metrics: init.metrics,
      });
    } catch (error) {
      if (!(error instanceof SheepConnectionError)) throw error;
      throw new BackendError(
        'unavailable',
        `cannot open VDI "${init.vdiName}": ${error.message} (is sheep running at ${where}? check the backing store's host and port)`,
        { cause: error },
      );
    }
    let cache: InodeCache;
    try {
      cache = await InodeCache.open({
        pool,
        vdiName: init.vdiName,
        clock: init.clock,
        // The parent stream, not a fork: two backends of one VDI through one node (one process,
        // one actor name) must still draw different client ids.
        rng: init.rng,
        eventLog: init.eventLog,
        actor: `${actor}/inode`,
        testOnlyBug: options.testOnlyBug,
        metrics: init.metrics,
      });
    } catch (error) {
      pool.close();
      if (error instanceof SheepUnavailableError) {
        throw new BackendError('unavailable', `cannot open VDI "${init.vdiName}": ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
    const backend = new SheepdogBackend(init, pool, cache, actor);
    backend.sharedCell.open();
    init.eventLog.append(actor, 'backend.opened', {
      vid: cache.vid,
      sizeBytes: backend.sizeBytes,
      objectBytes: cache.objectBytes,
      allocationClaims: backend.#runner.claimsAllocations,
    });
    if (backend.#runner.claimsAllocations) {
      init.logger.warn(
        { vdi: init.vdiName, endpoint: where, features: cache.storeFeatures },
        `VDI "${init.vdiName}": sheep at ${where} may replace an object on a second CREATE (no CREATE_NEVER_REPLACES: sheep 1.0), so this target claims every object before it creates it; with other targets writing this VDI at once, three things stay unsafe on sheep 1.0: a snapshot taken while they write, a request held inside sheep past a timeout, and the SCSI state the targets share (reservations, COMPARE AND WRITE, ALUA ownership), which can lose an update while a write of it is still inside sheep (sheep 1.0 does not wait for accepted writes before an invalidation). Pause writers for snapshots, or run single-writer; see docs/multipath-safety.md ("Against a real sheep 1.0 cluster") and docs/cluster-scsi.md`,
      );
    }
    return backend;
  }

  /** The working VDI's id as this backend knows it. */
  get vid(): number {
    return this.#cache.vid;
  }

  /** The inode-view machine's state (loading, shared, modified, reloading, invalidated, closed). */
  get inodeState(): string {
    return this.#cache.state;
  }

  async read(offsetBytes: number, lengthBytes: number, options: ReadOptions = {}): Promise<Buffer> {
    this.#checkRange(offsetBytes, lengthBytes, 'read');
    return this.#track(
      this.#runner.run({ kind: 'read', offsetBytes, lengthBytes, guard: options.guard }) as Promise<Buffer>,
    );
  }

  async write(offsetBytes: number, data: Buffer, options: WriteOptions = {}): Promise<void> {
    this.#checkRange(offsetBytes, data.length, 'write');
    return this.#track(
      (async () => {
        await this.#runner.run({
          kind: 'write',
          offsetBytes,
          lengthBytes: data.length,
          data,
          signal: options.signal,
          guard: options.guard,
        });
        if (options.fua) await this.#flush();
      })(),
    );
  }

  async flush(): Promise<void> {
    this.#refuseWhenClosed('flush');
    return this.#track(this.#flush());
  }

  /**
   * Mapped runs at object granularity from data_vdi_id[] (an ancestor's object counts as
   * mapped), after the coherence probe confirmed the cached mapping is current.
   */
  async mapStatus(offsetBytes: number, lengthBytes: number): Promise<MapRun[]> {
    this.#checkRange(offsetBytes, lengthBytes, 'map status');
    return this.#track(
      (async () => {
        await this.#runner.run({ kind: 'probe', offsetBytes, lengthBytes });
        return this.#mapRuns(offsetBytes, lengthBytes);
      })(),
    );
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inFlight]);
      await this.sharedCell.close();
      try {
        await this.#cache.releaseAll();
      } catch (error) {
        this.#logger.warn(
          { err: error, vdi: this.#cache.vdiName, vids: this.#cache.lockedVids },
          'could not release the VDI lock on close; it stays held until "dog vdi lock unlock"',
        );
      }
      this.#cache.close();
      this.#pool.close();
      this.#eventLog.append(this.#actor, 'backend.closed', {});
    })();
    return this.#closing;
  }

  // ---- internals -------------------------------------------------------------------------------

  async #flush(): Promise<void> {
    let code: number;
    try {
      code = (await this.#pool.request(flushRequest(this.#cache.vid))).header.result;
    } catch (error) {
      if (!(error instanceof SheepUnavailableError)) throw error;
      throw new BackendError(
        'unavailable',
        `flush of VDI "${this.#cache.vdiName}" failed: ${error.message}`,
        {
          cause: error,
        },
      );
    }
    // sheep >= 1.0 answers INVALID_PARMS: FLUSH_VDI is obsolete there and writes are durable.
    if (code !== SdRes.SUCCESS && code !== SdRes.INVALID_PARMS) {
      throw new BackendError(
        'medium',
        `flush of VDI "${this.#cache.vdiName}" (vid 0x${this.#cache.vid.toString(16)}) on sheep at ${this.#pool.endpoint} failed: ${resultName(code)}`,
      );
    }
    this.#eventLog.append(this.#actor, 'backend.flushed', { result: code });
  }

  #mapRuns(offsetBytes: number, lengthBytes: number): MapRun[] {
    const objectBytes = this.#cache.objectBytes;
    const runs: MapRun[] = [];
    const endBytes = offsetBytes + lengthBytes;
    for (let position = offsetBytes; position < endBytes; ) {
      const idx = Math.floor(position / objectBytes);
      const pieceEnd = Math.min(endBytes, (idx + 1) * objectBytes);
      const mapped = this.#cache.owner(idx) !== 0;
      const last = runs[runs.length - 1];
      if (last !== undefined && last.mapped === mapped) last.lengthBytes += pieceEnd - position;
      else runs.push({ offsetBytes: position, lengthBytes: pieceEnd - position, mapped });
      position = pieceEnd;
    }
    return runs;
  }

  #checkRange(offsetBytes: number, lengthBytes: number, what: string): void {
    this.#refuseWhenClosed(what);
    assert(
      Number.isSafeInteger(offsetBytes) &&
        Number.isSafeInteger(lengthBytes) &&
        lengthBytes > 0 &&
        offsetBytes >= 0 &&
        offsetBytes % SHEEPDOG_BLOCK_SIZE_BYTES === 0 &&
        lengthBytes % SHEEPDOG_BLOCK_SIZE_BYTES === 0 &&
        offsetBytes + lengthBytes <= this.sizeBytes,
      `${what} of ${lengthBytes} bytes at ${offsetBytes} is not whole 512-byte blocks inside the ${this.sizeBytes}-byte LU (the SCSI layer checks ranges first)`,
    );
  }

  #refuseWhenClosed(what: string): void {
    if (this.#closing !== undefined) {
      throw new BackendError(
        'unavailable',
        `${what} on VDI "${this.#cache.vdiName}" after the backend was closed`,
      );
    }
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    const forget = () => this.#inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }
}

/** SheepdogBackendOptions.allocationClaimWaitMs, defaulted (see there). */
function allocationClaimWaitMs(options: SheepdogBackendOptions): number {
  const waitMs =
    options.allocationClaimWaitMs ??
    (options.unavailableAfterMs ?? POOL_UNAVAILABLE_AFTER_MS_DEFAULT) +
      (options.requestTimeoutMs ?? POOL_REQUEST_TIMEOUT_MS_DEFAULT);
  assert(
    Number.isFinite(waitMs) && waitMs > 0,
    `allocationClaimWaitMs ${waitMs} must be a positive number of milliseconds`,
  );
  return waitMs;
}
