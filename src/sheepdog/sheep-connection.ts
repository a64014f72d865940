/**
 * One client connection to a sheep (or to Collie's embedded store), pipelined.
 *
 * Rules (protocol doc sections 1.6, 1.7):
 * - Every request gets a fresh id from a counter (never one still in flight), because sheep
 *   answers in completion order, not submission order; responses are matched by id.
 * - At most `inFlightMax` requests are on the wire; later ones wait in a FIFO queue (bounded by
 *   `queuedMax`) and go out as answers come back, or when the stream drains after write()
 *   reported a full send buffer.
 * - A response never carries more payload than its request's data_length (sheep never sends
 *   more, and a client that read more would desync). Sheep never speaks unprompted. So a
 *   response with an unknown id, a different opcode, or too much payload is a protocol error:
 *   the stream is destroyed and **every** pending and queued request is rejected with one
 *   SheepConnectionError that names the endpoint and the cause. The same happens when the
 *   stream closes or a request times out; sheep cannot cancel a request, so after a timeout the
 *   stream's state is unknown and the connection is dropped rather than patched up.
 * - Result codes are not connection errors: `request()` resolves with whatever result sheep
 *   sent; `requestOk()` turns a non-SUCCESS result into a SheepResultError.
 * - Time comes from the injected Clock (a request's timer starts when it is written).
 * - Metrics (optional, `metrics`): each answer's round trip from being written, each result other
 *   than SUCCESS, and each failure of the connection (not our own close) are reported; without
 *   them nothing is timed.
 *
 * Theory of operation: `request()` validates and enqueues, then `pump()` moves queued requests
 * to the wire while there is room. Incoming chunks go through a SheepFramer (side 'response');
 * each complete frame settles one pending request and pumps again.
 */

import {
  type ByteStream,
  type CloseReason,
  type Endpoint,
  endpointToString,
  type Transport,
} from '../../transports/transport.js';
import { assert } from '../core/assert.js';
import type { Clock, TimerId } from '../core/clock.js';
import type { SheepClientMetrics } from '../metrics/sheep-metrics.js';
import { opcodeName, resultName, SdFlag, SdRes } from './wire/constants.js';
import { SheepFramer } from './wire/framer.js';
import {
  decodeResponseHeader,
  encodeRequestHeader,
  type RequestHeader,
  type ResponseHeader,
} from './wire/header.js';

export const SHEEP_IN_FLIGHT_MAX_DEFAULT = 64;
export const SHEEP_QUEUED_MAX_DEFAULT = 65_536;
export const SHEEP_REQUEST_TIMEOUT_MS_DEFAULT = 60_000;
/** Big enough for a full inode (12,587,576) and 4 MiB objects; admin code splits larger I/O. */
export const SHEEP_PAYLOAD_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/** The few log calls this file makes; a pino logger fits. */
export interface SheepConnectionLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface SheepConnectionOptions {
  readonly clock: Clock;
  /** Per request, counted from when it is written. Default 60 s. */
  readonly requestTimeoutMs?: number;
  /** Requests on the wire at once. Default 64. */
  readonly inFlightMax?: number;
  /** Requests waiting for a slot. Default 65,536; more are refused. */
  readonly queuedMax?: number;
  /** Largest response payload accepted (and so the largest read a request may ask for). */
  readonly payloadBytesMax?: number;
  readonly logger?: SheepConnectionLogger;
  /** Where round trips, results and failures are reported; default: nowhere. */
  readonly metrics?: SheepClientMetrics;
}

/** A request header as the caller builds it (objRequest, vdiRequest, ...); the id is ours. */
export type SheepRequestHeader = Omit<RequestHeader, 'id'> & { readonly id?: number };

export interface SheepResponse {
  readonly header: ResponseHeader;
  /** Empty when the response carried no payload. */
  readonly payload: Buffer;
}

export type SheepConnectionErrorKind =
  /** Could not connect (refused, unreachable, DNS). */
  | 'connect'
  /** The stream closed (peer end, reset, error) with requests pending. */
  | 'closed'
  /** The peer broke the protocol (unknown id, too much payload, oversize frame). */
  | 'protocol'
  /** A request got no answer in time. */
  | 'timeout'
  /** We closed the connection ourselves. */
  | 'local-close'
  /** Too many requests waiting for a slot. */
  | 'overload';

/** The connection failed; the request may or may not have been executed by sheep. */
export class SheepConnectionError extends Error {
  override readonly name = 'SheepConnectionError';
  constructor(
    readonly kind: SheepConnectionErrorKind,
    /** "host:port" */
    readonly endpoint: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The errno code of a failed connect (e.g. 'ECONNREFUSED'), when there is one. */
  get errnoCode(): string | undefined {
    const cause = this.cause as { code?: unknown } | undefined;
    return typeof cause?.code === 'string' ? cause.code : undefined;
  }
}

/** Sheep answered, with a result other than the one the caller needed. */
export class SheepResultError extends Error {
  override readonly name = 'SheepResultError';
  /** e.g. "NO_OBJ (0x02)" */
  readonly resultName: string;
  /** e.g. "READ_OBJ" */
  readonly opcodeName: string;
  constructor(
    readonly result: number,
    readonly opcode: number,
    readonly endpoint: string,
    /** What we were doing, e.g. "read inode of vid 0x7c2b25". Empty for a bare request. */
    readonly context = '',
  ) {
    const rName = resultName(result);
    const oName = opcodeName(opcode);
    super(`${oName} to sheep at ${endpoint}${context ? ` (${context})` : ''} failed: ${rName}`);
    this.resultName = rName;
    this.opcodeName = oName;
  }
}

interface PendingRequest {
  readonly header: SheepRequestHeader;
  readonly payload: Buffer | undefined;
  readonly resolve: (response: SheepResponse) => void;
  readonly reject: (error: Error) => void;
  id: number;
  timer: TimerId | undefined;
  /** When it was written, on the metrics' clock (0 without metrics). */
  sentAtMs: number;
}

const ID_LIMIT = 0x1_0000_0000;

export class SheepConnection {
  readonly #stream: ByteStream;
  readonly #endpoint: string;
  readonly #clock: Clock;
  readonly #requestTimeoutMs: number;
  readonly #inFlightMax: number;
  readonly #queuedMax: number;
  readonly #payloadBytesMax: number;
  readonly #logger: SheepConnectionLogger | undefined;
  readonly #metrics: SheepClientMetrics | undefined;
  readonly #framer: SheepFramer;
  readonly #inFlight = new Map<number, PendingRequest>();
  /** FIFO of requests waiting for a slot; `#queueHead` avoids O(n) shift(). */
  #queue: PendingRequest[] = [];
  #queueHead = 0;
  #idLast = 0;
  /** False after write() returned false, until drain. */
  #writable = true;
  #closeError: SheepConnectionError | undefined = undefined;

  /** Connects and returns a ready connection; a failed connect rejects with kind 'connect'. */
  static async open(
    transport: Transport,
    endpoint: Endpoint,
    options: SheepConnectionOptions,
  ): Promise<SheepConnection> {
    const where = endpointToString(endpoint);
    let stream: ByteStream;
    try {
      stream = await transport.connect(endpoint);
    } catch (error) {
      options.metrics?.connectionFailed('connect');
      const code = (error as { code?: unknown }).code;
      const why = typeof code === 'string' ? code : (error as Error).message;
      throw new SheepConnectionError('connect', where, `cannot connect to sheep at ${where}: ${why}`, {
        cause: error,
      });
    }
    return new SheepConnection(stream, options, endpoint);
  }

  /**
   * Wraps an already connected stream (tests, or a transport that connected elsewhere).
   * `endpoint` names the sheep in errors; default: the stream's remote address.
   */
  constructor(stream: ByteStream, options: SheepConnectionOptions, endpoint: Endpoint = stream.remote) {
    this.#stream = stream;
    this.#endpoint = endpointToString(endpoint);
    this.#clock = options.clock;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? SHEEP_REQUEST_TIMEOUT_MS_DEFAULT;
    this.#inFlightMax = options.inFlightMax ?? SHEEP_IN_FLIGHT_MAX_DEFAULT;
    this.#queuedMax = options.queuedMax ?? SHEEP_QUEUED_MAX_DEFAULT;
    this.#payloadBytesMax = options.payloadBytesMax ?? SHEEP_PAYLOAD_BYTES_MAX_DEFAULT;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    assert(
      Number.isFinite(this.#requestTimeoutMs) && this.#requestTimeoutMs > 0,
      `requestTimeoutMs ${this.#requestTimeoutMs} must be a positive number of ms`,
    );
    assert(Number.isSafeInteger(this.#inFlightMax) && this.#inFlightMax >= 1, 'inFlightMax must be >= 1');
    assert(Number.isSafeInteger(this.#queuedMax) && this.#queuedMax >= 0, 'queuedMax must be >= 0');
    this.#framer = new SheepFramer({ side: 'response', payloadBytesMax: this.#payloadBytesMax });
    stream.attach({
      data: (chunk) => this.#onData(chunk),
      drain: () => {
        this.#writable = true;
        this.#pump();
      },
      close: (reason) => this.#onClose(reason),
    });
  }

  /** "host:port" of the sheep. */
  get endpoint(): string {
    return this.#endpoint;
  }

  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  get queuedCount(): number {
    return this.#queue.length - this.#queueHead;
  }

  get closed(): boolean {
    return this.#closeError !== undefined;
  }

  /** The largest payload a response may carry on this connection (and so the largest read). */
  get payloadBytesMax(): number {
    return this.#payloadBytesMax;
  }

  /**
   * Sends one request and resolves with sheep's answer, whatever its result code. With
   * SD_FLAG_CMD_WRITE, `payload` must be exactly `dataLength` bytes; without it there is no
   * payload and `dataLength` is the most the answer may carry.
   */
  request(header: SheepRequestHeader, payload?: Buffer): Promise<SheepResponse> {
    const hasWrite = (header.flags & SdFlag.WRITE) !== 0;
    assert(
      hasWrite ? payload !== undefined && payload.length === header.dataLength : payload === undefined,
      `${opcodeName(header.opcode)}: a payload goes with SD_FLAG_CMD_WRITE and must be data_length (${header.dataLength}) bytes`,
    );
    assert(
      Number.isSafeInteger(header.dataLength) && header.dataLength >= 0 && header.dataLength <= 0xffff_ffff,
      `${opcodeName(header.opcode)}: data_length ${header.dataLength} is not a u32`,
    );
    assert(
      hasWrite || header.dataLength <= this.#payloadBytesMax,
      `${opcodeName(header.opcode)} asks for ${header.dataLength} bytes, above this connection's ${this.#payloadBytesMax}-byte limit (split the read)`,
    );
    return new Promise<SheepResponse>((resolve, reject) => {
      if (this.#closeError !== undefined) {
        reject(this.#closeError);
        return;
      }
      if (this.queuedCount >= this.#queuedMax && this.#inFlight.size >= this.#inFlightMax) {
        reject(
          new SheepConnectionError(
            'overload',
            this.#endpoint,
            `too many requests waiting for sheep at ${this.#endpoint} (${this.#queuedMax} queued); wait for answers before sending more`,
          ),
        );
        return;
      }
      this.#queue.push({ header, payload, resolve, reject, id: 0, timer: undefined, sentAtMs: 0 });
      this.#pump();
    });
  }

  /** Like request(), but a result other than SUCCESS (or one of `okResults`) rejects. */
  async requestOk(
    header: SheepRequestHeader,
    payload?: Buffer,
    options: { context?: string; okResults?: readonly number[] } = {},
  ): Promise<SheepResponse> {
    const response = await this.request(header, payload);
    const result = response.header.result;
    if (result !== SdRes.SUCCESS && !(options.okResults ?? []).includes(result)) {
      throw new SheepResultError(result, header.opcode, this.#endpoint, options.context);
    }
    return response;
  }

  /** Ends the stream and rejects everything pending or queued. Idempotent. */
  close(): void {
    if (this.#closeError !== undefined) return;
    const pendingCount = this.#inFlight.size + this.queuedCount;
    this.#fail(
      new SheepConnectionError(
        'local-close',
        this.#endpoint,
        `connection to sheep at ${this.#endpoint} was closed by us with ${pendingCount} request(s) pending`,
      ),
    );
    this.#stream.end();
  }

  #pump(): void {
    while (
      this.#closeError === undefined &&
      this.#writable &&
      this.#inFlight.size < this.#inFlightMax &&
      this.#queueHead < this.#queue.length
    ) {
      const pending = this.#queue[this.#queueHead]!;
      this.#queueHead += 1;
      if (this.#queueHead === this.#queue.length) {
        this.#queue = [];
        this.#queueHead = 0;
      } else if (this.#queueHead >= 1024 && this.#queueHead * 2 >= this.#queue.length) {
        this.#queue = this.#queue.slice(this.#queueHead);
        this.#queueHead = 0;
      }
      this.#send(pending);
    }
  }

  #send(pending: PendingRequest): void {
    pending.id = this.#nextId();
    const headerBytes = encodeRequestHeader({ ...pending.header, id: pending.id });
    this.#inFlight.set(pending.id, pending);
    pending.timer = this.#clock.setTimeout(() => this.#onTimeout(pending), this.#requestTimeoutMs);
    if (this.#metrics !== undefined) pending.sentAtMs = this.#metrics.nowMs();
    // Header and payload go out back to back; a false from either means "stop after this one".
    let accepted = this.#stream.write(headerBytes);
    if (pending.payload !== undefined && pending.payload.length > 0) {
      accepted = this.#stream.write(pending.payload) && accepted;
    }
    if (!accepted) this.#writable = false;
  }

  /** The next id after the last one that is not in flight (u32, wraps; 0 is left to tgt/dog). */
  #nextId(): number {
    for (let attempt = 0; attempt <= this.#inFlightMax; attempt++) {
      this.#idLast = (this.#idLast + 1) % ID_LIMIT;
      if (this.#idLast === 0) this.#idLast = 1;
      if (!this.#inFlight.has(this.#idLast)) return this.#idLast;
    }
    assert(false, 'no free request id although in-flight is bounded');
  }

  #onData(chunk: Buffer): void {
    if (this.#closeError !== undefined) return;
    this.#framer.push(chunk);
    for (;;) {
      const frame = this.#framer.next();
      if (frame === undefined) break;
      if (frame.kind === 'oversize') {
        this.#protocolError(`${frame.error.message}`, { payloadBytes: frame.payloadBytes });
        return;
      }
      const header = decodeResponseHeader(frame.header);
      const payload = frame.payload ?? Buffer.alloc(0);
      if (!this.#settle(header, payload)) return;
    }
    this.#pump();
  }

  /** Matches one response to its request; false after a protocol error (connection gone). */
  #settle(header: ResponseHeader, payload: Buffer): boolean {
    const pending = this.#inFlight.get(header.id);
    if (pending === undefined) {
      this.#protocolError(
        `sheep at ${this.#endpoint} answered request id ${header.id} (${opcodeName(header.opcode)}), which is not pending`,
        { id: header.id, opcode: header.opcode },
      );
      return false;
    }
    if (header.opcode !== pending.header.opcode) {
      this.#protocolError(
        `sheep at ${this.#endpoint} answered request id ${header.id} (${opcodeName(pending.header.opcode)}) with opcode ${opcodeName(header.opcode)}`,
        { id: header.id, opcode: header.opcode },
      );
      return false;
    }
    if (payload.length > pending.header.dataLength) {
      this.#protocolError(
        `sheep at ${this.#endpoint} sent ${payload.length} payload bytes for request id ${header.id} (${opcodeName(header.opcode)}), which allowed at most ${pending.header.dataLength}`,
        { id: header.id, opcode: header.opcode, payloadBytes: payload.length },
      );
      return false;
    }
    this.#inFlight.delete(header.id);
    if (pending.timer !== undefined) this.#clock.clearTimeout(pending.timer);
    this.#metrics?.answered(header.opcode, header.result, pending.sentAtMs);
    pending.resolve({ header, payload });
    return true;
  }

  #onTimeout(pending: PendingRequest): void {
    pending.timer = undefined;
    if (this.#closeError !== undefined || !this.#inFlight.has(pending.id)) return;
    this.#fail(
      new SheepConnectionError(
        'timeout',
        this.#endpoint,
        `request id ${pending.id} (${opcodeName(pending.header.opcode)}) to sheep at ${this.#endpoint} got no answer within ${this.#requestTimeoutMs} ms; closed the connection (is sheep overloaded or hung?)`,
      ),
    );
    this.#stream.destroy();
  }

  #onClose(reason: CloseReason): void {
    if (this.#closeError !== undefined) return;
    const pendingCount = this.#inFlight.size + this.queuedCount;
    const midResponse = this.#framer.bufferedBytes > 0 ? ' in the middle of a response' : '';
    const why = reason.error ? `${reason.kind}: ${reason.error.message}` : reason.kind;
    this.#fail(
      new SheepConnectionError(
        'closed',
        this.#endpoint,
        `connection to sheep at ${this.#endpoint} closed (${why})${midResponse} with ${pendingCount} request(s) pending`,
        { cause: reason.error },
      ),
    );
  }

  #protocolError(message: string, fields: Record<string, unknown>): void {
    this.#logger?.warn({ endpoint: this.#endpoint, ...fields }, `sheep protocol error: ${message}`);
    this.#fail(
      new SheepConnectionError(
        'protocol',
        this.#endpoint,
        `protocol error: ${message}; closed the connection`,
      ),
    );
    this.#stream.destroy();
  }

  /** Rejects every in-flight and queued request with `error`; the connection is unusable after. */
  #fail(error: SheepConnectionError): void {
    assert(this.#closeError === undefined, 'a sheep connection fails only once');
    this.#closeError = error;
    if (error.kind !== 'local-close' && error.kind !== 'connect' && error.kind !== 'overload')
      this.#metrics?.connectionFailed(error.kind);
    const inFlight = [...this.#inFlight.values()];
    const queued = this.#queue.slice(this.#queueHead);
    this.#inFlight.clear();
    this.#queue = [];
    this.#queueHead = 0;
    for (const pending of [...inFlight, ...queued]) {
      if (pending.timer !== undefined) this.#clock.clearTimeout(pending.timer);
      pending.reject(error);
    }
  }
}
