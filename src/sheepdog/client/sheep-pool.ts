/**
 * A pool of pipelined SheepConnections to one sheep endpoint, for the block backend.
 *
 * Rules
 * - Each request goes to the live connection with the fewest requests in flight or queued
 *   (ties: the lowest slot), so load spreads and pipelining stays on. Responses are matched by
 *   id inside each connection (sheep answers in completion order, protocol doc §1.7).
 * - A connection that fails (closed, reset, timed out, protocol error) is dropped; its slot is
 *   reconnected on demand: at once the first time, then after an exponential backoff with
 *   jitter from the injected Rng (equal jitter: half fixed, half random), capped. A slot whose
 *   backoff ends while nobody waits goes idle, so an unused pool leaves no timers behind.
 * - A request whose connection failed is sent again on another (or a reconnected) connection.
 *   That is safe for everything the backend sends: reads, writes of the same bytes, creates
 *   (CREATE replaces the object with the same content) and inode updates (the same entries).
 *   Callers that must know whether a request may have run (LOCK_VDI) pass `resend: false`.
 * - `reconnects` counts connections opened after open() returned. The pool cannot tell whether
 *   the sheep node behind a new connection restarted (a node that left and rejoined dropped its
 *   VDI participants), so every one counts. A request planned at a count (`sendOnlyAtReconnects`)
 *   is never sent once the count moved: it rejects with SheepReconnectedError, and the caller
 *   rejoins (LOCK_VDI, refresh read) and replans instead of reaching a node that no longer
 *   checks its cache.
 * - Bounded: a request gives up with SheepUnavailableError once `unavailableAfterMs` have passed
 *   since it started (it can overrun by one request timeout while a request is on the wire), or
 *   after RESENDS_MAX resends. Waiting requests are bounded by `waitersMax`.
 * - Every connect, loss, backoff, resend and give-up goes to the event log under `actor`; with
 *   `metrics`, resends (retries, reason 'resend') and reconnects are counted too, and the pool's
 *   connections report their round trips, results and failures.
 * - Test only: with the 'late-resend' bug a write whose connection failed is resent as above and
 *   its old copy is sent once more a request timeout later (a request the client gave up on that
 *   lands after newer writes).
 */
import { type Endpoint, endpointToString, type Transport } from '../../../transports/transport.js';
import { assert } from '../../core/assert.js';
import type { Clock, TimerId } from '../../core/clock.js';
import type { EventLog } from '../../core/event-log.js';
import type { Rng } from '../../core/rng.js';
import type { SheepClientMetrics } from '../../metrics/sheep-metrics.js';
import {
  SheepConnection,
  SheepConnectionError,
  type SheepConnectionLogger,
  type SheepRequestHeader,
  type SheepResponse,
} from '../sheep-connection.js';
import { opcodeName, SdFlag } from '../wire/constants.js';
import type { TestOnlyClientBug } from './test-only-client-bugs.js';

export const POOL_SIZE_DEFAULT = 4;
export const POOL_IN_FLIGHT_MAX_PER_CONNECTION_DEFAULT = 32;
export const POOL_REQUEST_TIMEOUT_MS_DEFAULT = 15_000;
export const POOL_UNAVAILABLE_AFTER_MS_DEFAULT = 30_000;
export const POOL_RECONNECT_DELAY_MS_MIN_DEFAULT = 100;
export const POOL_RECONNECT_DELAY_MS_MAX_DEFAULT = 5_000;
export const POOL_WAITERS_MAX_DEFAULT = 65_536;
/** Resends of one request after connection failures, whatever the time bound says. */
export const RESENDS_MAX = 32;

export interface SheepPoolOptions {
  readonly transport: Transport;
  readonly endpoint: Endpoint;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly eventLog: EventLog;
  /** Event log actor of this pool, e.g. "sheepdog/vol0@127.0.0.1:7000/pool". */
  readonly actor: string;
  readonly logger?: SheepConnectionLogger;
  /** Connections kept to the endpoint. Default 4. */
  readonly size?: number;
  /** Requests on the wire per connection. Default 32. */
  readonly inFlightMaxPerConnection?: number;
  /** Per request on the wire; past it the connection is dropped. Default 15 s. */
  readonly requestTimeoutMs?: number;
  /** A request gives up this long after it started, if sheep stays unreachable. Default 30 s. */
  readonly unavailableAfterMs?: number;
  readonly reconnectDelayMsMin?: number;
  readonly reconnectDelayMsMax?: number;
  /** Requests waiting for a connection at once. Default 65,536; more are refused. */
  readonly waitersMax?: number;
  /** A bug injected on purpose for the simulator's self-test (only 'late-resend' acts here). */
  readonly testOnlyBug?: TestOnlyClientBug;
  /** Where the pool and its connections report (see the file comment); default: nowhere. */
  readonly metrics?: SheepClientMetrics;
}

export interface PoolRequestOptions {
  /** false: a connection failure rejects with SheepConnectionError instead of resending. */
  readonly resend?: boolean;
  /** Absolute clock time to give up at; default now + unavailableAfterMs. */
  readonly deadlineAtMs?: number;
  /**
   * The `reconnects` count this request was planned at: once the pool opened a connection past
   * it, the request is not sent (again) and rejects with SheepReconnectedError.
   */
  readonly sendOnlyAtReconnects?: number;
}

/**
 * What the inode cache and the IO runner need from a pool: SheepPool, or for a lock-less client
 * over one existing connection, SingleConnectionPool (single-connection-pool.ts).
 */
export interface SheepRequestPool {
  /** "host:port" */
  readonly endpoint: string;
  readonly address: Endpoint;
  /** Connections opened after the pool opened (see SheepPool's file comment). */
  readonly reconnects: number;
  readonly unavailableAfterMs: number;
  /** Resolves with sheep's answer whatever its result; gives up with SheepUnavailableError. */
  request(header: SheepRequestHeader, payload?: Buffer, options?: PoolRequestOptions): Promise<SheepResponse>;
}

/** Sheep could not be reached within the pool's time bound (or the pool is closed). */
export class SheepUnavailableError extends Error {
  override readonly name = 'SheepUnavailableError';
  constructor(
    /** "host:port" */
    readonly endpoint: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A request planned before the pool reconnected was not sent; rejoin and replan it. */
export class SheepReconnectedError extends Error {
  override readonly name = 'SheepReconnectedError';
  constructor(
    /** "host:port" */
    readonly endpoint: string,
    message: string,
  ) {
    super(message);
  }
}

type SlotState = 'live' | 'connecting' | 'backoff' | 'down';

interface Slot {
  readonly index: number;
  state: SlotState;
  connection: SheepConnection | undefined;
  /** Failed connects since the last success; drives the backoff. */
  failures: number;
  timer: TimerId | undefined;
}

interface Waiter {
  readonly wake: () => void;
  readonly fail: (error: Error) => void;
  timer: TimerId | undefined;
}

export class SheepPool implements SheepRequestPool {
  readonly #options: SheepPoolOptions;
  readonly #endpoint: string;
  readonly #clock: Clock;
  readonly #slots: Slot[];
  readonly #waiters = new Set<Waiter>();
  readonly #unavailableAfterMs: number;
  readonly #delayMsMin: number;
  readonly #delayMsMax: number;
  readonly #waitersMax: number;
  #closed = false;
  /** open() returned; from then on every connection opened counts in #reconnects. */
  #opened = false;
  #reconnects = 0;

  private constructor(options: SheepPoolOptions) {
    this.#options = options;
    this.#endpoint = endpointToString(options.endpoint);
    this.#clock = options.clock;
    const size = options.size ?? POOL_SIZE_DEFAULT;
    assert(Number.isSafeInteger(size) && size >= 1, `pool size ${size} must be an integer >= 1`);
    this.#unavailableAfterMs = options.unavailableAfterMs ?? POOL_UNAVAILABLE_AFTER_MS_DEFAULT;
    this.#delayMsMin = options.reconnectDelayMsMin ?? POOL_RECONNECT_DELAY_MS_MIN_DEFAULT;
    this.#delayMsMax = options.reconnectDelayMsMax ?? POOL_RECONNECT_DELAY_MS_MAX_DEFAULT;
    this.#waitersMax = options.waitersMax ?? POOL_WAITERS_MAX_DEFAULT;
    assert(this.#unavailableAfterMs > 0, 'unavailableAfterMs must be > 0');
    assert(
      this.#delayMsMin >= 0 && this.#delayMsMax >= this.#delayMsMin,
      `reconnect delays need 0 <= min (${this.#delayMsMin}) <= max (${this.#delayMsMax})`,
    );
    this.#slots = Array.from({ length: size }, (_, index) => ({
      index,
      state: 'down' as SlotState,
      connection: undefined,
      failures: 0,
      timer: undefined,
    }));
  }

  /**
   * Connects every slot. Fails (SheepConnectionError kind 'connect', naming the endpoint) only
   * when none connects; slots that failed reconnect later on demand.
   */
  static async open(options: SheepPoolOptions): Promise<SheepPool> {
    const pool = new SheepPool(options);
    const outcomes = await Promise.allSettled(pool.#slots.map((slot) => pool.#connect(slot)));
    if (outcomes.every((outcome) => outcome.status === 'rejected')) {
      pool.close();
      throw (outcomes[0] as PromiseRejectedResult).reason;
    }
    pool.#opened = true;
    return pool;
  }

  /** "host:port" */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** The endpoint as host and port (for hints such as "collie vdi lock unlock NAME -a HOST -p PORT"). */
  get address(): Endpoint {
    return this.#options.endpoint;
  }

  get liveCount(): number {
    return this.#slots.filter((slot) => slot.state === 'live').length;
  }

  get unavailableAfterMs(): number {
    return this.#unavailableAfterMs;
  }

  /** Connections opened after open() returned: each may reach a sheep node that restarted. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /**
   * Sends one request on the least-loaded live connection and resolves with sheep's answer,
   * whatever its result code. Connection failures are retried as the file comment says; giving
   * up rejects with SheepUnavailableError.
   */
  async request(
    header: SheepRequestHeader,
    payload?: Buffer,
    options: PoolRequestOptions = {},
  ): Promise<SheepResponse> {
    const startMs = this.#clock.now();
    const deadlineAtMs = options.deadlineAtMs ?? startMs + this.#unavailableAfterMs;
    let lastError: SheepConnectionError | undefined;
    for (let resend = 0; resend <= RESENDS_MAX; resend++) {
      // The fast path picks synchronously, so concurrent requests see each other's load.
      const connection = this.#pick() ?? (await this.#acquire(deadlineAtMs, startMs, lastError));
      const plannedAt = options.sendOnlyAtReconnects;
      if (plannedAt !== undefined && plannedAt !== this.#reconnects) {
        throw new SheepReconnectedError(
          this.#endpoint,
          `${opcodeName(header.opcode)} was planned before the pool reconnected to sheep at ${this.#endpoint} (reconnects ${plannedAt} -> ${this.#reconnects}); rejoin the VDI and replan it`,
        );
      }
      try {
        return await connection.request(header, payload);
      } catch (error) {
        if (!(error instanceof SheepConnectionError)) throw error;
        if (error.kind === 'overload')
          throw new SheepUnavailableError(this.#endpoint, error.message, { cause: error });
        lastError = error;
        this.#dropConnection(connection, error);
        if (options.resend === false) throw error;
        if (this.#options.testOnlyBug === 'late-resend') this.#testOnlySendLate(header, payload);
        if (this.#clock.now() >= deadlineAtMs)
          throw this.#unavailable(startMs, 'the connection failed', error);
        this.#options.metrics?.retried('resend');
        this.#log('pool.request_resent', {
          op: opcodeName(header.opcode),
          resend: resend + 1,
          why: error.kind,
        });
      }
    }
    throw this.#unavailable(startMs, `${RESENDS_MAX} resends failed`, lastError);
  }

  /** Closes every connection and fails every waiting request. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const slot of this.#slots) {
      if (slot.timer !== undefined) this.#clock.clearTimeout(slot.timer);
      slot.timer = undefined;
      slot.connection?.close();
      slot.connection = undefined;
      slot.state = 'down';
    }
    const error = new SheepUnavailableError(
      this.#endpoint,
      `the pool to sheep at ${this.#endpoint} is closed`,
    );
    for (const waiter of [...this.#waiters]) waiter.fail(error);
    this.#log('pool.closed', {});
  }

  /** The 'late-resend' bug: the write given up on is sent again later, whatever came since. */
  #testOnlySendLate(header: SheepRequestHeader, payload: Buffer | undefined): void {
    if ((header.flags & SdFlag.WRITE) === 0 || payload === undefined) return;
    const delayMs = this.#options.requestTimeoutMs ?? POOL_REQUEST_TIMEOUT_MS_DEFAULT;
    this.#clock.setTimeout(() => {
      const connection = this.#closed ? undefined : this.#pick();
      if (connection === undefined) return;
      this.#log('pool.test_only_late_resend', { op: opcodeName(header.opcode) });
      connection.request(header, payload).catch(() => undefined);
    }, delayMs);
  }

  // ---- connections -----------------------------------------------------------------------------

  /** The least-loaded live connection; kicks reconnects of idle slots on the way. */
  #pick(): SheepConnection | undefined {
    let best: SheepConnection | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const slot of this.#slots) {
      const connection = slot.connection;
      if (slot.state === 'live' && connection !== undefined) {
        if (connection.closed) {
          this.#dropConnection(connection, undefined);
          continue;
        }
        const load = connection.inFlightCount + connection.queuedCount;
        if (load < bestLoad) {
          best = connection;
          bestLoad = load;
        }
      }
    }
    for (const slot of this.#slots) {
      if (slot.state === 'down') void this.#connect(slot).catch(() => undefined);
    }
    return best;
  }

  async #acquire(
    deadlineAtMs: number,
    startMs: number,
    lastError: SheepConnectionError | undefined,
  ): Promise<SheepConnection> {
    // Each wake-up follows a slot going live (or the deadline), so this loop is bounded by time;
    // the count is a second bound against a peer that accepts and drops in zero time.
    for (let wakeups = 0; wakeups <= RESENDS_MAX * this.#slots.length; wakeups++) {
      if (this.#closed)
        throw new SheepUnavailableError(this.#endpoint, `the pool to sheep at ${this.#endpoint} is closed`);
      const connection = this.#pick();
      if (connection !== undefined) return connection;
      if (this.#clock.now() >= deadlineAtMs) throw this.#unavailable(startMs, 'no connection', lastError);
      await this.#waitForSlot(deadlineAtMs);
    }
    throw this.#unavailable(startMs, 'connections kept failing', lastError);
  }

  #waitForSlot(deadlineAtMs: number): Promise<void> {
    if (this.#waiters.size >= this.#waitersMax) {
      return Promise.reject(
        new SheepUnavailableError(
          this.#endpoint,
          `${this.#waitersMax} requests already wait for a connection to sheep at ${this.#endpoint}; it is unreachable`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        wake: () => {
          this.#forgetWaiter(waiter);
          resolve();
        },
        fail: (error) => {
          this.#forgetWaiter(waiter);
          reject(error);
        },
        timer: undefined,
      };
      // At the deadline the waiter wakes and #acquire reports unavailability with its context.
      waiter.timer = this.#clock.setTimeout(
        () => waiter.wake(),
        Math.max(0, deadlineAtMs - this.#clock.now()),
      );
      this.#waiters.add(waiter);
    });
  }

  #forgetWaiter(waiter: Waiter): void {
    this.#waiters.delete(waiter);
    if (waiter.timer !== undefined) this.#clock.clearTimeout(waiter.timer);
    waiter.timer = undefined;
  }

  #connect(slot: Slot): Promise<void> {
    assert(slot.state === 'down', `slot ${slot.index} connects only when down, not ${slot.state}`);
    slot.state = 'connecting';
    const options = this.#options;
    return SheepConnection.open(options.transport, options.endpoint, {
      clock: this.#clock,
      requestTimeoutMs: options.requestTimeoutMs ?? POOL_REQUEST_TIMEOUT_MS_DEFAULT,
      inFlightMax: options.inFlightMaxPerConnection ?? POOL_IN_FLIGHT_MAX_PER_CONNECTION_DEFAULT,
      logger: options.logger,
      metrics: options.metrics,
    }).then(
      (connection) => {
        if (this.#closed) {
          connection.close();
          return;
        }
        slot.connection = connection;
        slot.state = 'live';
        if (this.#opened) {
          this.#reconnects += 1;
          options.metrics?.reconnects.inc();
        }
        this.#log('pool.connected', {
          slot: slot.index,
          failuresBefore: slot.failures,
          reconnects: this.#reconnects,
        });
        slot.failures = 0;
        for (const waiter of [...this.#waiters]) waiter.wake();
      },
      (error: unknown) => {
        if (this.#closed) throw error;
        slot.failures += 1;
        const delayMs = this.#backoffMs(slot.failures);
        slot.state = 'backoff';
        this.#log('pool.connect_failed', {
          slot: slot.index,
          failures: slot.failures,
          code: (error as SheepConnectionError).errnoCode ?? (error as Error).message,
          retryInMs: delayMs,
        });
        slot.timer = this.#clock.setTimeout(() => {
          slot.timer = undefined;
          slot.state = 'down';
          // Reconnect only while someone waits; otherwise the next request kicks the slot.
          if (this.#waiters.size > 0) void this.#connect(slot).catch(() => undefined);
        }, delayMs);
        throw error;
      },
    );
  }

  /** Exponential in the failure count, capped, with equal jitter from the injected Rng. */
  #backoffMs(failures: number): number {
    const exponent = Math.min(failures - 1, 30);
    const capMs = Math.min(this.#delayMsMax, this.#delayMsMin * 2 ** exponent);
    return Math.round(capMs / 2 + this.#options.rng.float() * (capMs / 2));
  }

  /** Forgets a failed connection; its slot reconnects when next needed. */
  #dropConnection(connection: SheepConnection, error: SheepConnectionError | undefined): void {
    const slot = this.#slots.find((candidate) => candidate.connection === connection);
    if (slot === undefined) return;
    slot.connection = undefined;
    slot.state = 'down';
    connection.close();
    this.#log('pool.connection_lost', { slot: slot.index, why: error?.kind ?? 'closed' });
  }

  #unavailable(
    startMs: number,
    what: string,
    cause: SheepConnectionError | undefined,
  ): SheepUnavailableError {
    const waitedMs = this.#clock.now() - startMs;
    this.#log('pool.unavailable', { waitedMs, what, lastError: cause?.kind ?? null });
    const last = cause ? ` (last error: ${cause.message})` : '';
    return new SheepUnavailableError(
      this.#endpoint,
      `sheep at ${this.#endpoint} unreachable for ${waitedMs} ms: ${what}${last}; check that sheep runs there and the network path to it`,
      { cause },
    );
  }

  #log(type: string, data: Record<string, unknown>): void {
    this.#options.eventLog.append(this.#options.actor, type, data);
  }
}
