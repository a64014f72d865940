/**
 * The seam between protocol code and the network. Protocol code (the sheep store, the sheep
 * client, the iSCSI target) sees only these interfaces; tcp.ts implements them with node:net,
 * memory.ts with in-process pipes whose delivery, delay and faults follow the virtual clock and
 * a seeded Rng. Bytes are Buffers; framing is the caller's job.
 */

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export function endpointToString(endpoint: Endpoint): string {
  return endpoint.host.includes(':')
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

/** endpointToString's "host:port" or "[v6]:port" back into an Endpoint. */
export function endpointFromString(text: string): Endpoint {
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon);
  return {
    host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host,
    port: Number(text.slice(colon + 1)),
  };
}

/** Why a stream closed: 'end' = the peer or we ended cleanly; 'reset' = aborted; 'error' = failed. */
export interface CloseReason {
  readonly kind: 'end' | 'reset' | 'error';
  readonly error?: Error;
}

export interface ByteStreamHandlers {
  /** Bytes arrived. The chunk is owned by the receiver from now on. */
  data(chunk: Buffer): void;
  /** The send buffer fell below its low-water mark after write() returned false. */
  drain?(): void;
  /** Called exactly once; no data() after it. */
  close(reason: CloseReason): void;
}

/** One connected, ordered, reliable byte stream (until it closes). */
export interface ByteStream {
  /** Unique and stable within a transport (memory transport: deterministic). */
  readonly id: string;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  /** Installs the handlers. Data that arrives before attach() is held and delivered on attach. */
  attach(handlers: ByteStreamHandlers): void;
  /** Queues bytes. Returns false when the queue is above its high-water mark: wait for drain(). */
  write(chunk: Buffer): boolean;
  /** Bytes queued by write() and not yet handed to the network. */
  readonly bufferedBytes: number;
  /** Stops data() deliveries (the peer is pushed back by TCP flow control) until resume(). */
  pause(): void;
  resume(): void;
  /** Graceful close after queued bytes are sent. */
  end(): void;
  /** Immediate close; queued bytes are dropped. */
  destroy(error?: Error): void;
}

export interface Listener {
  /** The bound address (port resolved when 0 was asked for). */
  readonly address: Endpoint;
  /** Stops accepting. Existing streams stay open. */
  close(): Promise<void>;
}

export interface Transport {
  listen(address: Endpoint, onConnection: (stream: ByteStream) => void): Promise<Listener>;
  /** Rejects with an Error whose `code` is 'ECONNREFUSED' when nobody listens there. */
  connect(address: Endpoint): Promise<ByteStream>;
}
