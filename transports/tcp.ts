/**
 * The Transport over real TCP (node:net), for the daemon and real-peer tests.
 *
 * Mapping onto node:net:
 * - Every socket gets TCP_NODELAY (iSCSI and sheep are request/response; Nagle only adds delay).
 * - A socket is paused from birth until attach(): bytes that arrive earlier wait in node's buffer
 *   and, past its high-water mark, in the kernel, so TCP flow control pushes the peer back.
 * - write() is socket.write() (its return value is the backpressure signal), drain() follows the
 *   socket's 'drain', bufferedBytes is socket.writableLength, pause()/resume() are the socket's.
 *   bufferedBytes counts what node holds, not the kernel's send buffer: a peer that stops reading
 *   (zero window) first fills the kernel's buffer, then node's; the iSCSI connection's output rule
 *   (docs/limits.md) sees no progress from then on. Nothing here buffers beyond node's socket.
 *   pause() stops reading, so TCP flow control pushes the peer back (the connection pauses while
 *   its own writes are pushed back: it reads no requests it could not answer).
 * - Writes are coalesced: the first write() in an event-loop turn corks the socket and a
 *   setImmediate uncorks it, so everything written while this turn handles its ready events (a
 *   PDU header and its data segment, the answers to a batch of commands, the completions of many
 *   file reads) leaves in one writev() instead of one send() each. On loopback a send() also
 *   runs the receiver's TCP path, so it is the dominant cost of small answers. The delay is the
 *   rest of the current turn, never a wait for more input. Order and backpressure are
 *   unchanged: a corked write() still returns false above the high-water mark, and 'drain'
 *   follows once the batch has been handed to the kernel.
 * - end() is a FIN after queued bytes. Like node's default (allowHalfOpen false), the stream
 *   closes once both sides have ended. destroy() aborts with an RST (resetAndDestroy), so the
 *   peer sees 'reset' rather than a clean end.
 * - close(reason) is called once: 'end' for a clean close; 'reset' for ECONNRESET/EPIPE or our
 *   own destroy(); 'error' for any other socket error or destroy(error).
 * - Writes after end() or close are dropped and return true: nothing is queued, so there is no
 *   drain to wait for, and the close handler has told (or will tell) the owner.
 */
import * as net from 'node:net';
import { assert } from '../src/core/assert.js';
import { type Logger, silentLogger } from '../src/core/logger.js';
import type {
  ByteStream,
  ByteStreamHandlers,
  CloseReason,
  Endpoint,
  Listener,
  Transport,
} from './transport.js';
import { connectError, listenError } from './transport-error.js';

export interface TcpTransportOptions {
  /** Where server-level errors after listen (e.g. EMFILE on accept) are reported. */
  readonly logger?: Logger;
}

export class TcpTransport implements Transport {
  private streamCountLast = 0;
  private readonly logger: Logger;

  constructor(options: TcpTransportOptions = {}) {
    this.logger = options.logger ?? silentLogger;
  }

  listen(address: Endpoint, onConnection: (stream: ByteStream) => void): Promise<Listener> {
    return new Promise<Listener>((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: true, noDelay: true });
      const onListenError = (error: NodeJS.ErrnoException) => {
        reject(listenError(error.code ?? 'EUNKNOWN', address, error));
      };
      server.once('error', onListenError);
      server.on('connection', (socket) => onConnection(this.wrap(socket)));
      server.listen({ host: address.host, port: address.port }, () => {
        server.off('error', onListenError);
        server.on('error', (error) => this.logger.error({ err: error, address }, 'tcp listener error'));
        const bound = server.address() as net.AddressInfo;
        resolve(new TcpListener(server, { host: bound.address, port: bound.port }));
      });
    });
  }

  connect(address: Endpoint): Promise<ByteStream> {
    return new Promise<ByteStream>((resolve, reject) => {
      const socket = net.connect({ host: address.host, port: address.port, noDelay: true });
      const onConnectError = (error: NodeJS.ErrnoException) => {
        socket.destroy();
        reject(connectError(error.code ?? 'EUNKNOWN', address, error));
      };
      socket.once('error', onConnectError);
      socket.once('connect', () => {
        socket.off('error', onConnectError);
        resolve(this.wrap(socket));
      });
    });
  }

  private wrap(socket: net.Socket): TcpByteStream {
    this.streamCountLast += 1;
    return new TcpByteStream(`tcp:${this.streamCountLast}`, socket);
  }
}

class TcpListener implements Listener {
  private closed = false;

  constructor(
    private readonly server: net.Server,
    readonly address: Endpoint,
  ) {}

  /** Stops accepting at once; connections already accepted stay open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
  }
}

function closeReasonOf(error: NodeJS.ErrnoException): CloseReason {
  const code = error.code;
  return code === 'ECONNRESET' || code === 'EPIPE' ? { kind: 'reset', error } : { kind: 'error', error };
}

class TcpByteStream implements ByteStream {
  readonly local: Endpoint;
  readonly remote: Endpoint;
  private handlers: ByteStreamHandlers | undefined;
  private pausedByOwner = false;
  private ended = false;
  private socketError: NodeJS.ErrnoException | undefined;
  private destroyReason: CloseReason | undefined;
  /** Set when the socket has closed; delivered to the handlers once they exist. */
  private closeReason: CloseReason | undefined;
  private closeDelivered = false;
  /** The socket is corked until the setImmediate that uncorks it. */
  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.socket.uncork();
  };

  constructor(
    readonly id: string,
    private readonly socket: net.Socket,
  ) {
    socket.setNoDelay(true);
    socket.pause();
    this.local = { host: socket.localAddress ?? '', port: socket.localPort ?? 0 };
    this.remote = { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.socketError ??= error;
    });
    socket.on('drain', () => {
      if (!this.closeDelivered) this.handlers?.drain?.();
    });
    socket.on('close', () => this.onSocketClose());
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  attach(handlers: ByteStreamHandlers): void {
    assert(this.handlers === undefined, `${this.id}: attach() called twice`);
    this.handlers = handlers;
    if (this.closeReason !== undefined) {
      queueMicrotask(() => this.deliverClose());
      return;
    }
    this.socket.on('data', (chunk: Buffer) => {
      if (!this.closeDelivered) this.handlers!.data(chunk);
    });
    if (!this.pausedByOwner) this.socket.resume();
  }

  write(chunk: Buffer): boolean {
    if (this.ended || this.closeReason !== undefined || this.destroyReason !== undefined) return true;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(this.uncork);
    }
    return this.socket.write(chunk);
  }

  pause(): void {
    this.pausedByOwner = true;
    this.socket.pause();
  }

  resume(): void {
    this.pausedByOwner = false;
    if (this.handlers !== undefined) this.socket.resume();
  }

  end(): void {
    if (this.ended || this.destroyReason !== undefined) return;
    this.ended = true;
    this.socket.end();
  }

  destroy(error?: Error): void {
    if (this.destroyReason !== undefined || this.closeReason !== undefined) return;
    this.destroyReason = error === undefined ? { kind: 'reset' } : { kind: 'error', error };
    // What this turn wrote goes to the kernel first, as it would have without coalescing (a
    // target answers a cold reset, then drops the connection); only what cannot be sent is lost.
    if (this.corked) this.uncork();
    this.socket.resetAndDestroy();
  }

  private onSocketClose(): void {
    this.closeReason =
      this.destroyReason ??
      (this.socketError !== undefined ? closeReasonOf(this.socketError) : { kind: 'end' });
    if (this.handlers !== undefined) this.deliverClose();
  }

  private deliverClose(): void {
    if (this.closeDelivered) return;
    this.closeDelivered = true;
    this.handlers!.close(this.closeReason!);
  }
}
