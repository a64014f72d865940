/**
 * A lock-less client of one VDI (`collie vdi read`, `collie vdi write`, the simulator's outside
 * writer): the same pool, inode cache, planner and IO runner as the target's SheepdogBackend,
 * with the cache in 'lockless' mode (inode-cache.ts). It never joins the VDI's shared-lock
 * participants, so it can run while targets serve the VDI through the same sheep node.
 *
 * Rules
 * - Open = GET_VDI_INFO (by name; with `snapshot`, that snapshot) and dog's full inode read. No
 *   LOCK_VDI, no RELEASE_VDI, no TGT flag, no refresh read (tgt-requests.ts assertLockless).
 * - Byte ranges at any offset (dog allows that); an IO must lie inside the VDI. IOs whose object
 *   ranges overlap run one after another (writes exclusive, reads shared), as in the backend:
 *   two concurrent writes into one unallocated object must not both CREATE it.
 * - Reads plan against the inode loaded at open (or at the last reload or refresh()), with no
 *   probe: a read sees every write acknowledged before that load. Open one client per operation
 *   (as `collie vdi read` does), or refresh() before a read that must see later writes. A write
 *   that allocates is complete once its inode update (data_vdi_id, without TGT) is in. On
 *   Collie's store that update invalidates every participant (docs/multipath-safety.md rule 4);
 *   on sheep 1.0 it invalidates nobody, which is why `collie vdi write` first refuses a VDI that
 *   targets hold (lockless-write-guard.ts).
 * - READONLY (a snapshot was taken meanwhile) re-resolves the working VDI by name and replans.
 * - A snapshot opened for reading is read-only: writes fail with BackendError 'read-only'.
 * - close() waits for IOs in flight and closes the pool (open()) or leaves the caller's
 *   connection open (over()); IO after close is refused.
 */
import { type Endpoint, endpointToString, type Transport } from '../../../transports/transport.js';
import { BackendError } from '../../backends/block-backend.js';
import { AssertionError, assert } from '../../core/assert.js';
import type { Clock } from '../../core/clock.js';
import { type EventLog, nullEventLog } from '../../core/event-log.js';
import type { Rng } from '../../core/rng.js';
import { type SheepConnection, SheepConnectionError } from '../sheep-connection.js';
import { InodeCache, type SnapshotSelector } from './inode-cache.js';
import { IoRunner } from './io-runner.js';
import { SheepPool, type SheepRequestPool, SheepUnavailableError } from './sheep-pool.js';
import { SingleConnectionPool } from './single-connection-pool.js';

export const LOCKLESS_POOL_SIZE_DEFAULT = 2;

/** What both ways of opening take. */
export interface LocklessVdiOptions {
  readonly vdiName: string;
  /** Read this snapshot (by tag or id) instead of the working VDI; it is then read-only. */
  readonly snapshot?: SnapshotSelector;
  /** Default nullEventLog. */
  readonly eventLog?: EventLog;
  /** Event log actor prefix; default "sheepdog-lockless/<vdi name>@<endpoint>". */
  readonly actor?: string;
  /** Inode reloads per IO (after READONLY) before it fails. Default 8. */
  readonly reloadsMax?: number;
  /** Log every IO transition to the event log. Default false. */
  readonly ioEvents?: boolean;
}

/** open(): with its own pool of reconnecting connections. */
export interface LocklessVdiOpenOptions extends LocklessVdiOptions {
  readonly transport: Transport;
  readonly endpoint: Endpoint;
  readonly clock: Clock;
  /** Reconnect jitter of the pool. */
  readonly rng: Rng;
  /** Connections to the sheep endpoint. Default 2. */
  readonly poolSize?: number;
  readonly requestTimeoutMs?: number;
  /** How long an IO keeps trying while sheep is unreachable. Default 30 s (the pool's). */
  readonly unavailableAfterMs?: number;
}

/**
 * The clock of a client over one connection: nothing in lock-less mode waits on time (no LOCK
 * retries, no reconnect backoff), so a use is a bug.
 */
const NO_WAITS_CLOCK: Clock = {
  now: () => assertNever('now'),
  setTimeout: () => assertNever('setTimeout'),
  clearTimeout: () => assertNever('clearTimeout'),
};

function assertNever(what: string): never {
  throw new AssertionError(
    `a lock-less client over one connection called clock.${what}(); open it with a clock`,
  );
}

export class LocklessVdi {
  readonly vdiName: string;
  readonly sizeBytes: number;
  readonly #cache: InodeCache;
  readonly #runner: IoRunner;
  readonly #closePool: () => void;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  private constructor(vdiName: string, cache: InodeCache, runner: IoRunner, closePool: () => void) {
    this.vdiName = vdiName;
    this.#cache = cache;
    this.#runner = runner;
    this.#closePool = closePool;
    this.sizeBytes = Number(cache.header.vdiSize);
  }

  /**
   * Over one connection the caller opened (and closes after close()): no reconnects, no
   * resends, as dog runs. `clock` is needed only by test-only switches; none are set here.
   */
  static async over(
    conn: SheepConnection,
    options: LocklessVdiOptions & { clock?: Clock },
  ): Promise<LocklessVdi> {
    const pool = new SingleConnectionPool(conn);
    return LocklessVdi.#start(pool, options, options.clock ?? NO_WAITS_CLOCK, () => {});
  }

  /**
   * Connects and loads the inode. Rejects with BackendError naming the VDI, the endpoint and the
   * fix (not found, unreachable, not a flat VDI).
   */
  static async open(options: LocklessVdiOpenOptions): Promise<LocklessVdi> {
    const where = endpointToString(options.endpoint);
    const actor = options.actor ?? `sheepdog-lockless/${options.vdiName}@${where}`;
    let pool: SheepPool;
    try {
      pool = await SheepPool.open({
        transport: options.transport,
        endpoint: options.endpoint,
        clock: options.clock,
        rng: options.rng.fork(`${actor}/pool`),
        eventLog: options.eventLog ?? nullEventLog,
        actor: `${actor}/pool`,
        size: options.poolSize ?? LOCKLESS_POOL_SIZE_DEFAULT,
        requestTimeoutMs: options.requestTimeoutMs,
        unavailableAfterMs: options.unavailableAfterMs,
      });
    } catch (error) {
      if (!(error instanceof SheepConnectionError)) throw error;
      throw new BackendError(
        'unavailable',
        `cannot open VDI "${options.vdiName}": ${error.message} (is sheep running at ${where}?)`,
        { cause: error },
      );
    }
    try {
      return await LocklessVdi.#start(pool, { ...options, actor }, options.clock, () => pool.close());
    } catch (error) {
      pool.close();
      throw error;
    }
  }

  static async #start(
    pool: SheepRequestPool,
    options: LocklessVdiOptions,
    clock: Clock,
    closePool: () => void,
  ): Promise<LocklessVdi> {
    const actor = options.actor ?? `sheepdog-lockless/${options.vdiName}@${pool.endpoint}`;
    const eventLog = options.eventLog ?? nullEventLog;
    try {
      const cache = await InodeCache.open({
        pool,
        vdiName: options.vdiName,
        clock,
        eventLog,
        actor: `${actor}/inode`,
        mode: 'lockless',
        snapshot: options.snapshot,
      });
      const runner = new IoRunner({
        pool,
        cache,
        clock,
        eventLog,
        actor: `${actor}/io`,
        reloadsMax: options.reloadsMax,
        ioEvents: options.ioEvents ?? false,
      });
      return new LocklessVdi(options.vdiName, cache, runner, closePool);
    } catch (error) {
      if (error instanceof SheepUnavailableError) {
        throw new BackendError('unavailable', `cannot open VDI "${options.vdiName}": ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /** The vid loaded (the working VDI's, or the snapshot's); a READONLY reload may move it. */
  get vid(): number {
    return this.#cache.vid;
  }

  get objectBytes(): number {
    return this.#cache.objectBytes;
  }

  /**
   * Loads the inode again (the full read, by name if the vid became a snapshot), after IOs in
   * flight; later reads then see every write acknowledged before this call.
   */
  async refresh(): Promise<void> {
    this.#checkOpen('refresh');
    await this.#track(this.#cache.reload('invalidated', this.#cache.generation));
  }

  /** The bytes at [offset, offset + length), inside the VDI. */
  read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.#checkRange(offsetBytes, lengthBytes, 'read');
    return this.#track(this.#runner.run({ kind: 'read', offsetBytes, lengthBytes }) as Promise<Buffer>);
  }

  /** Writes `data` at `offset`; resolves once the data and any inode update are in. */
  async write(offsetBytes: number, data: Buffer): Promise<void> {
    this.#checkRange(offsetBytes, data.length, 'write');
    await this.#track(this.#runner.run({ kind: 'write', offsetBytes, lengthBytes: data.length, data }));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inFlight]);
      this.#cache.close();
      this.#closePool();
    })();
    return this.#closing;
  }

  #checkOpen(what: string): void {
    if (this.#closing !== undefined) {
      throw new BackendError('unavailable', `${what} on VDI "${this.vdiName}" after it was closed`);
    }
  }

  #checkRange(offsetBytes: number, lengthBytes: number, what: string): void {
    this.#checkOpen(what);
    assert(
      Number.isSafeInteger(offsetBytes) &&
        Number.isSafeInteger(lengthBytes) &&
        offsetBytes >= 0 &&
        lengthBytes > 0 &&
        offsetBytes + lengthBytes <= this.sizeBytes,
      `${what} of ${lengthBytes} bytes at ${offsetBytes} is not inside VDI "${this.vdiName}" (${this.sizeBytes} bytes); the caller checks ranges first`,
    );
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    const forget = () => this.#inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }
}
