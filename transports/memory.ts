/**
 * An in-process network for the simulator: many named hosts, one Transport each, byte streams
 * between them whose every delivery, delay and fault follows the injected Clock and Rng, so a run
 * replays exactly from its seed.
 *
 * Model (one direction of a stream is a FIFO queue of segments owned by the sending end):
 * - write() queues a data segment (two, split at an rng offset, with probability
 *   `chunkSplitRatio`) with an arrival time `now + delay`, delay drawn in [delayMsMin, delayMsMax];
 *   arrival times never decrease within a direction, so a chunk never overtakes an earlier one.
 *   The chunk is not copied: as with node:net, the writer must not touch it after write().
 * - One pump timer per direction (at the head's arrival time) delivers every due segment in
 *   order. Delivery always goes through clock.setTimeout, even at 0 ms; never inside write().
 * - Held, not lost: segments wait while the receiver is paused or not attached yet, and while the
 *   direction is partitioned. resume()/attach() re-pump at once; heal() re-pumps after a fresh
 *   delay (a retransmission).
 * - bufferedBytes is what this end wrote and the peer's data() has not received yet, so a paused
 *   or partitioned peer pushes the writer back: write() returns false once it reaches
 *   `highWaterBytes`; drain() follows when it falls to half of that.
 * - end() queues a FIN behind the data. An end that receives a FIN ends its own side too (node's
 *   allowHalfOpen=false) and closes with 'end'; the first ender closes when the answering FIN
 *   arrives.
 * - destroy() drops this end's queued bytes and sends an RST that overtakes nothing (it goes
 *   right behind the drop), is held only by a partition, and closes the peer with 'reset'.
 * - Faults: reset(id) and crashHost(host) close both ends at once with 'reset', bytes lost.
 * - Close handlers always run from a clock timer, exactly once, after the last data().
 * - connect() reaches the listener after `connectDelayMs` plus one drawn delay; it needs both
 *   directions unpartitioned, else waits for heal() until `connectTimeoutMs` (ETIMEDOUT).
 *
 * Randomness: the rng is drawn only when a fault or delay option is on (one draw per delay, one
 * per split decision plus one per split offset), so a network with everything off draws nothing.
 * Hot path: no per-byte work and no copies; a split is two subarray() views.
 */
import { assert } from '../src/core/assert.js';
import type { Clock, TimerId } from '../src/core/clock.js';
import type { EventLog } from '../src/core/event-log.js';
import type { Rng } from '../src/core/rng.js';
import {
  type ByteStream,
  type ByteStreamHandlers,
  type CloseReason,
  type Endpoint,
  endpointToString,
  type Listener,
  type Transport,
} from './transport.js';
import { connectError, listenError } from './transport-error.js';

export interface MemoryNetworkOptions {
  /** One-way delay per segment, drawn uniformly in [min, max] whole milliseconds. */
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  /** Probability (0..1) that a write is delivered as two chunks. */
  readonly chunkSplitRatio: number;
  /** write() returns false once this many bytes are written but not yet delivered. */
  readonly highWaterBytes: number;
  /** Extra time a connect() takes before it reaches the listener. */
  readonly connectDelayMs: number;
  /** A connect() still pending (e.g. across a partition) this long rejects with ETIMEDOUT. */
  readonly connectTimeoutMs: number;
}

export const memoryNetworkDefaults: MemoryNetworkOptions = {
  delayMsMin: 0,
  delayMsMax: 0,
  chunkSplitRatio: 0,
  highWaterBytes: 1024 * 1024,
  connectDelayMs: 0,
  connectTimeoutMs: 3000,
};

export interface MemoryNetworkInit {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly eventLog?: EventLog;
  readonly options?: Partial<MemoryNetworkOptions>;
}

export interface MemoryStreamInfo {
  /** The connection's id, accepted by reset(). */
  readonly id: string;
  readonly clientId: string;
  readonly serverId: string;
  readonly client: Endpoint;
  readonly server: Endpoint;
}

const EPHEMERAL_PORT_FIRST = 49152;
const EPHEMERAL_PORT_LAST = 65535;
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::']);

const SEGMENT_DATA = 0;
const SEGMENT_FIN = 1;
const SEGMENT_RST = 2;

class Segment {
  constructor(
    readonly kind: number,
    readonly data: Buffer | undefined,
    readonly arriveAtMs: number,
  ) {}
}

class HostState {
  readonly listeners = new Map<number, MemoryListener>();
  readonly portsInUse = new Set<number>();
  private portNext = EPHEMERAL_PORT_FIRST;

  constructor(readonly name: string) {}

  allocatePort(): number {
    for (let tries = 0; tries <= EPHEMERAL_PORT_LAST - EPHEMERAL_PORT_FIRST; tries++) {
      const port = this.portNext;
      this.portNext = port === EPHEMERAL_PORT_LAST ? EPHEMERAL_PORT_FIRST : port + 1;
      if (!this.portsInUse.has(port)) {
        this.portsInUse.add(port);
        return port;
      }
    }
    assert(false, `memory network: host ${this.name} has used every ephemeral port; streams are leaking`);
  }
}

interface PendingConnect {
  readonly from: string;
  readonly address: Endpoint;
  readonly resolve: (stream: ByteStream) => void;
  readonly reject: (error: Error) => void;
  attemptTimerId: TimerId | undefined;
  timeoutTimerId: TimerId | undefined;
  waitingForHeal: boolean;
}

class Connection {
  constructor(
    readonly id: string,
    readonly client: MemoryStreamEnd,
    readonly server: MemoryStreamEnd,
  ) {}
}

export class MemoryNetwork {
  readonly options: MemoryNetworkOptions;
  readonly clock: Clock;
  private readonly rng: Rng;
  private readonly eventLog: EventLog | undefined;
  private readonly hosts = new Map<string, HostState>();
  private readonly transports = new Map<string, Transport>();
  /** Blocked directions, keyed `${source}\0${target}`. */
  private readonly partitions = new Map<string, { readonly source: string; readonly target: string }>();
  private readonly connections = new Map<string, Connection>();
  private readonly pendingConnects = new Set<PendingConnect>();
  private connectionCountLast = 0;

  constructor(init: MemoryNetworkInit) {
    this.clock = init.clock;
    this.rng = init.rng;
    this.eventLog = init.eventLog;
    const options = { ...memoryNetworkDefaults, ...init.options };
    const { delayMsMin, delayMsMax, chunkSplitRatio, highWaterBytes, connectDelayMs, connectTimeoutMs } =
      options;
    assert(
      Number.isInteger(delayMsMin) &&
        Number.isInteger(delayMsMax) &&
        delayMsMin >= 0 &&
        delayMsMax >= delayMsMin,
      `memory network: needs whole delays with 0 <= delayMsMin <= delayMsMax, got ${delayMsMin}..${delayMsMax}`,
    );
    assert(chunkSplitRatio >= 0 && chunkSplitRatio <= 1, `memory network: chunkSplitRatio must be in 0..1`);
    assert(highWaterBytes > 0, `memory network: highWaterBytes must be > 0, got ${highWaterBytes}`);
    assert(connectDelayMs >= 0 && connectTimeoutMs >= 0, 'memory network: connect times must be >= 0');
    this.options = options;
  }

  /** The Transport of one simulated host (created on first use; the same object afterwards). */
  transport(host: string): Transport {
    assert(host.length > 0, 'memory network: a host needs a non-empty name');
    let transport = this.transports.get(host);
    if (transport === undefined) {
      transport = {
        listen: (address, onConnection) => this.listen(host, address, onConnection),
        connect: (address) => this.connect(host, address),
      };
      this.transports.set(host, transport);
    }
    return transport;
  }

  /** Holds bytes (and connects) from a to b, and from b to a unless oneWay, until heal(). */
  partition(a: string, b: string, opts: { oneWay?: boolean } = {}): void {
    const oneWay = opts.oneWay ?? false;
    this.partitions.set(linkKey(a, b), { source: a, target: b });
    if (!oneWay) this.partitions.set(linkKey(b, a), { source: b, target: a });
    this.log('net.partitioned', { a, b, oneWay });
  }

  /** heal(): every partition; heal(a): those touching a; heal(a, b): both directions a<->b. */
  heal(a?: string, b?: string): void {
    for (const [key, link] of [...this.partitions]) {
      const touches =
        a === undefined ||
        (b === undefined
          ? link.source === a || link.target === a
          : (link.source === a && link.target === b) || (link.source === b && link.target === a));
      if (touches) this.partitions.delete(key);
    }
    this.log('net.healed', { a: a ?? null, b: b ?? null });
    for (const connection of this.connections.values()) {
      for (const end of [connection.client, connection.server]) {
        if (end.outboundLength > 0 && !this.isPartitioned(end.local.host, end.remote.host)) {
          end.schedulePumpAt(this.clock.now() + this.drawDelayMs());
        }
      }
    }
    for (const pending of this.pendingConnects) {
      if (pending.waitingForHeal && !this.isConnectBlocked(pending.from, pending.address.host)) {
        pending.waitingForHeal = false;
        this.scheduleConnectAttempt(pending, this.drawDelayMs());
      }
    }
  }

  /** Closes both ends of a connection (its id or either end's) with 'reset'; queued bytes are lost. */
  reset(streamId: string): boolean {
    const connection = this.findConnection(streamId);
    if (connection === undefined) return false;
    this.log('net.reset', { id: connection.id });
    this.resetConnection(connection);
    return true;
  }

  /** The host dies: every stream it has is reset, its listeners vanish, its connects abort. */
  crashHost(host: string): void {
    this.log('net.host_crashed', { host });
    for (const connection of [...this.connections.values()]) {
      if (connection.client.local.host === host || connection.server.local.host === host) {
        this.resetConnection(connection);
      }
    }
    const state = this.hosts.get(host);
    if (state !== undefined) {
      for (const listener of state.listeners.values()) listener.markClosed();
      state.listeners.clear();
      state.portsInUse.clear();
    }
    for (const pending of [...this.pendingConnects]) {
      if (pending.from === host) this.settleConnect(pending, connectError('ECONNABORTED', pending.address));
    }
  }

  /** Open connections (at least one end not closed yet), oldest first. */
  streams(): MemoryStreamInfo[] {
    return [...this.connections.values()].map((c) => ({
      id: c.id,
      clientId: c.client.id,
      serverId: c.server.id,
      client: c.client.local,
      server: c.server.local,
    }));
  }

  // ---- internal: used by MemoryStreamEnd ----

  /** True when bytes from source to target are held. */
  isPartitioned(source: string, target: string): boolean {
    return this.partitions.size !== 0 && this.partitions.has(linkKey(source, target));
  }

  drawDelayMs(): number {
    const { delayMsMin, delayMsMax } = this.options;
    return delayMsMax === delayMsMin ? delayMsMin : delayMsMin + this.rng.int(0, delayMsMax - delayMsMin + 1);
  }

  /** Split offset for a chunk of `lengthBytes`, or 0 for no split. */
  drawSplitOffset(lengthBytes: number): number {
    const ratio = this.options.chunkSplitRatio;
    if (ratio === 0 || lengthBytes < 2 || !this.rng.chance(ratio)) return 0;
    return this.rng.int(1, lengthBytes);
  }

  log(type: string, data: unknown): void {
    this.eventLog?.append('net', type, data);
  }

  onEndClosed(end: MemoryStreamEnd): void {
    const connection = end.connection;
    if (!connection.client.closed || !connection.server.closed) return;
    this.connections.delete(connection.id);
    this.hosts.get(connection.client.local.host)?.portsInUse.delete(connection.client.local.port);
  }

  // ---- internal: listen and connect ----

  private hostState(host: string): HostState {
    let state = this.hosts.get(host);
    if (state === undefined) {
      state = new HostState(host);
      this.hosts.set(host, state);
    }
    return state;
  }

  private async listen(
    host: string,
    address: Endpoint,
    onConnection: (stream: ByteStream) => void,
  ): Promise<Listener> {
    if (address.host !== host && !WILDCARD_HOSTS.has(address.host))
      throw listenError('EADDRNOTAVAIL', address);
    const state = this.hostState(host);
    if (address.port !== 0 && state.portsInUse.has(address.port)) throw listenError('EADDRINUSE', address);
    let port = address.port;
    if (port === 0) port = state.allocatePort();
    else state.portsInUse.add(port);
    const listener = new MemoryListener(this, state, { host, port }, onConnection);
    state.listeners.set(port, listener);
    this.log('net.listening', { address: endpointToString(listener.address) });
    return listener;
  }

  private connect(from: string, address: Endpoint): Promise<ByteStream> {
    return new Promise<ByteStream>((resolve, reject) => {
      const pending: PendingConnect = {
        from,
        address,
        resolve,
        reject,
        attemptTimerId: undefined,
        timeoutTimerId: undefined,
        waitingForHeal: false,
      };
      this.pendingConnects.add(pending);
      pending.timeoutTimerId = this.clock.setTimeout(() => {
        pending.timeoutTimerId = undefined;
        this.log('net.connect_timed_out', { from, to: endpointToString(address) });
        this.settleConnect(pending, connectError('ETIMEDOUT', address));
      }, this.options.connectTimeoutMs);
      this.scheduleConnectAttempt(pending, this.options.connectDelayMs + this.drawDelayMs());
    });
  }

  private isConnectBlocked(from: string, to: string): boolean {
    return this.isPartitioned(from, to) || this.isPartitioned(to, from);
  }

  private scheduleConnectAttempt(pending: PendingConnect, delayMs: number): void {
    pending.attemptTimerId = this.clock.setTimeout(() => {
      pending.attemptTimerId = undefined;
      this.attemptConnect(pending);
    }, delayMs);
  }

  private attemptConnect(pending: PendingConnect): void {
    const { from, address } = pending;
    if (this.isConnectBlocked(from, address.host)) {
      pending.waitingForHeal = true;
      return;
    }
    const listener = this.hosts.get(address.host)?.listeners.get(address.port);
    if (listener === undefined) {
      this.log('net.connect_refused', { from, to: endpointToString(address) });
      this.settleConnect(pending, connectError('ECONNREFUSED', address));
      return;
    }
    this.connectionCountLast += 1;
    const id = `mem:${this.connectionCountLast}`;
    const clientLocal: Endpoint = { host: from, port: this.hostState(from).allocatePort() };
    const serverLocal = listener.address;
    const client = new MemoryStreamEnd(this, `${id}:c`, clientLocal, serverLocal);
    const server = new MemoryStreamEnd(this, `${id}:s`, serverLocal, clientLocal);
    const connection = new Connection(id, client, server);
    client.link(server, connection);
    server.link(client, connection);
    this.connections.set(id, connection);
    this.log('net.stream_opened', {
      id,
      client: endpointToString(clientLocal),
      server: endpointToString(serverLocal),
    });
    this.settleConnect(pending, client);
    listener.onConnection(server);
  }

  private settleConnect(pending: PendingConnect, outcome: ByteStream | Error): void {
    if (!this.pendingConnects.delete(pending)) return;
    if (pending.attemptTimerId !== undefined) this.clock.clearTimeout(pending.attemptTimerId);
    if (pending.timeoutTimerId !== undefined) this.clock.clearTimeout(pending.timeoutTimerId);
    pending.attemptTimerId = undefined;
    pending.timeoutTimerId = undefined;
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  private findConnection(streamId: string): Connection | undefined {
    const direct = this.connections.get(streamId);
    if (direct !== undefined) return direct;
    for (const connection of this.connections.values()) {
      if (connection.client.id === streamId || connection.server.id === streamId) return connection;
    }
    return undefined;
  }

  private resetConnection(connection: Connection): void {
    connection.client.discardOutbound();
    connection.server.discardOutbound();
    connection.client.closeWith({ kind: 'reset' });
    connection.server.closeWith({ kind: 'reset' });
  }
}

function linkKey(source: string, target: string): string {
  return `${source}\u0000${target}`;
}

class MemoryListener implements Listener {
  private closed = false;

  constructor(
    private readonly network: MemoryNetwork,
    private readonly host: HostState,
    readonly address: Endpoint,
    readonly onConnection: (stream: ByteStream) => void,
  ) {}

  /** Called when the host crashed: the listener is already gone. */
  markClosed(): void {
    this.closed = true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.host.listeners.get(this.address.port) === this) {
      this.host.listeners.delete(this.address.port);
      this.host.portsInUse.delete(this.address.port);
    }
    this.network.log('net.listener_closed', { address: endpointToString(this.address) });
  }
}

class MemoryStreamEnd implements ByteStream {
  peer!: MemoryStreamEnd;
  connection!: Connection;
  closed = false;
  private handlers: ByteStreamHandlers | undefined;
  private paused = false;
  private writeEnded = false;
  private closeReason: CloseReason | undefined;
  private closeDelivered = false;
  private bufferedCount = 0;
  private needDrain = false;
  // Outbound queue: segments[head..] are undelivered, in order.
  private segments: (Segment | undefined)[] = [];
  private head = 0;
  private arriveLastMs = 0;
  private pumpTimerId: TimerId | undefined;
  private pumpDueMs = 0;
  private readonly clock: Clock;
  private readonly pumpCallback = () => this.pump();
  private readonly deliverCloseCallback = () => this.deliverClose();

  constructor(
    private readonly network: MemoryNetwork,
    readonly id: string,
    readonly local: Endpoint,
    readonly remote: Endpoint,
  ) {
    this.clock = network.clock;
  }

  link(peer: MemoryStreamEnd, connection: Connection): void {
    this.peer = peer;
    this.connection = connection;
  }

  get bufferedBytes(): number {
    return this.bufferedCount;
  }

  get outboundLength(): number {
    return this.segments.length - this.head;
  }

  attach(handlers: ByteStreamHandlers): void {
    assert(this.handlers === undefined, `${this.id}: attach() called twice`);
    this.handlers = handlers;
    if (this.closed) this.clock.setTimeout(this.deliverCloseCallback, 0);
    else if (this.peer.outboundLength > 0) this.peer.schedulePumpAt(this.clock.now());
  }

  write(chunk: Buffer): boolean {
    if (this.closed || this.writeEnded) return true;
    const lengthBytes = chunk.length;
    if (lengthBytes > 0) {
      this.bufferedCount += lengthBytes;
      const splitOffset = this.network.drawSplitOffset(lengthBytes);
      if (splitOffset === 0) {
        this.enqueue(SEGMENT_DATA, chunk);
      } else {
        this.enqueue(SEGMENT_DATA, chunk.subarray(0, splitOffset));
        this.enqueue(SEGMENT_DATA, chunk.subarray(splitOffset));
      }
    }
    const belowHighWater = this.bufferedCount < this.network.options.highWaterBytes;
    if (!belowHighWater) this.needDrain = true;
    return belowHighWater;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.closed && this.handlers !== undefined && this.peer.outboundLength > 0) {
      this.peer.schedulePumpAt(this.clock.now());
    }
  }

  end(): void {
    if (this.closed || this.writeEnded) return;
    this.writeEnded = true;
    this.enqueue(SEGMENT_FIN, undefined);
  }

  destroy(error?: Error): void {
    if (this.closed) return;
    this.discardOutbound();
    this.writeEnded = true;
    this.arriveLastMs = this.clock.now();
    this.enqueue(SEGMENT_RST, undefined);
    this.closeWith(error === undefined ? { kind: 'reset' } : { kind: 'error', error });
  }

  /** Marks this end closed now (its handler runs from a clock timer); nothing reaches it after. */
  closeWith(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.peer.discardOutbound();
    this.network.log('net.stream_closed', { id: this.id, kind: reason.kind });
    if (this.handlers !== undefined) this.clock.setTimeout(this.deliverCloseCallback, 0);
    this.network.onEndClosed(this);
  }

  /** Drops every undelivered outbound segment (their bytes no longer count as buffered). */
  discardOutbound(): void {
    this.segments = [];
    this.head = 0;
    this.bufferedCount = 0;
    if (this.pumpTimerId !== undefined) {
      this.clock.clearTimeout(this.pumpTimerId);
      this.pumpTimerId = undefined;
    }
  }

  /** Ensures a pump runs no later than `dueMs`. */
  schedulePumpAt(dueMs: number): void {
    if (this.pumpTimerId !== undefined) {
      if (this.pumpDueMs <= dueMs) return;
      this.clock.clearTimeout(this.pumpTimerId);
    }
    this.pumpDueMs = dueMs;
    this.pumpTimerId = this.clock.setTimeout(this.pumpCallback, dueMs - this.clock.now());
  }

  private enqueue(kind: number, data: Buffer | undefined): void {
    const arriveAtMs = Math.max(this.clock.now() + this.network.drawDelayMs(), this.arriveLastMs);
    this.arriveLastMs = arriveAtMs;
    this.segments.push(new Segment(kind, data, arriveAtMs));
    if (this.outboundLength === 1) this.schedulePumpAt(arriveAtMs);
  }

  private shiftSegment(): Segment {
    const segment = this.segments[this.head]!;
    this.segments[this.head] = undefined;
    this.head += 1;
    if (this.head === this.segments.length) {
      this.segments.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.segments.length) {
      this.segments.splice(0, this.head);
      this.head = 0;
    }
    return segment;
  }

  /** Delivers the due head segments of this end's outbound direction to the peer, in order. */
  private pump(): void {
    this.pumpTimerId = undefined;
    const receiver = this.peer;
    if (receiver.closed) {
      this.discardOutbound();
      return;
    }
    if (this.network.isPartitioned(this.local.host, this.remote.host)) return; // heal() re-pumps
    const nowMs = this.clock.now();
    // Only segments queued before this pump: ones written meanwhile wait for a later timer.
    let budget = this.outboundLength;
    let held = false;
    while (budget > 0 && this.outboundLength > 0) {
      const segment = this.segments[this.head]!;
      if (segment.arriveAtMs > nowMs) break;
      if (segment.kind !== SEGMENT_RST && (receiver.handlers === undefined || receiver.paused)) {
        held = true; // attach() or resume() re-pumps
        break;
      }
      this.shiftSegment();
      budget -= 1;
      if (segment.kind === SEGMENT_DATA) {
        this.bufferedCount -= segment.data!.length;
        receiver.handlers!.data(segment.data!);
      } else if (segment.kind === SEGMENT_FIN) {
        receiver.receiveFin();
      } else {
        receiver.closeWith({ kind: 'reset' });
      }
      if (receiver.closed) return; // closeWith discarded the rest of this queue
    }
    if (!held && this.outboundLength > 0) {
      this.schedulePumpAt(Math.max(this.segments[this.head]!.arriveAtMs, nowMs));
    }
    if (this.needDrain && !this.closed && this.bufferedCount <= this.network.options.highWaterBytes / 2) {
      this.needDrain = false;
      this.handlers?.drain?.();
    }
  }

  private receiveFin(): void {
    if (!this.writeEnded) {
      this.writeEnded = true;
      this.enqueue(SEGMENT_FIN, undefined);
    }
    this.closeWith({ kind: 'end' });
  }

  private deliverClose(): void {
    if (this.closeDelivered || this.handlers === undefined) return;
    this.closeDelivered = true;
    this.handlers.close(this.closeReason!);
  }
}
