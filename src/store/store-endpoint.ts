/**
 * One listening endpoint of the embedded store, acting as one sheep node: accepts connections
 * on a Transport, frames requests, hands them to the SheepServer and writes the answers back in
 * completion order (as sheep does; clients match by id).
 *
 * Bounds, per connection: at most `inFlightMax` requests being served and `inFlightBytesMax`
 * payload bytes held; past either the stream is paused (TCP pushes back on the client) and
 * resumed when work completes. A declared payload above `payloadBytesMax` is answered
 * INVALID_PARMS and its bytes are discarded as they stream in, never buffered, so a client
 * that claims 4 GiB costs nothing and stays in sync.
 */

import {
  type ByteStream,
  type Endpoint,
  endpointToString,
  type Listener,
  type Transport,
} from '../../transports/transport.js';
import type { EventLog } from '../core/event-log.js';
import type { Logger } from '../core/logger.js';
import { opcodeName, SdRes } from '../sheepdog/wire/constants.js';
import { SheepFramer } from '../sheepdog/wire/framer.js';
import { decodeRequestHeader, encodeResponseHeader, responseFor } from '../sheepdog/wire/header.js';
import type { Reply, SheepServer, StoreNode } from './sheep-server.js';

export interface StoreEndpointOptions {
  readonly transport: Transport;
  readonly address: Endpoint;
  readonly server: SheepServer;
  readonly logger: Logger;
  readonly eventLog: EventLog;
  readonly inFlightMax?: number;
  readonly inFlightBytesMax?: number;
  readonly payloadBytesMax?: number;
}

/** 64 MiB: above the 12,587,576-byte inode and a 32 MiB data object (block_size_shift 25). */
export const STORE_PAYLOAD_BYTES_MAX = 64 * 1024 * 1024;
/** Payloads up to this size are sent in one write together with their header. */
const COALESCE_BYTES_MAX = 64 * 1024;

export class StoreEndpoint {
  readonly node: StoreNode;
  readonly #listener: Listener;
  readonly #connections = new Set<StoreConnection>();
  readonly #options: StoreEndpointOptions;
  #closed = false;

  private constructor(listener: Listener, options: StoreEndpointOptions) {
    this.#listener = listener;
    this.#options = options;
    this.node = { key: endpointToString(listener.address), endpoint: listener.address };
  }

  static async listen(options: StoreEndpointOptions): Promise<StoreEndpoint> {
    let endpoint: StoreEndpoint | undefined;
    const pending: ByteStream[] = [];
    const listener = await options.transport.listen(options.address, (stream) => {
      if (endpoint) endpoint.#accept(stream);
      else pending.push(stream);
    });
    endpoint = new StoreEndpoint(listener, options);
    for (const stream of pending) endpoint.#accept(stream);
    options.eventLog.append(`store/node/${endpoint.node.key}`, 'node.listening', {});
    return endpoint;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Stops listening and drops every connection (the node leaves). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#listener.close();
    // end(), not destroy(): answers already queued (KILL_NODE's own) still reach the client.
    for (const connection of this.#connections) connection.end();
    this.#options.eventLog.append(`store/node/${this.node.key}`, 'node.closed', {});
  }

  #accept(stream: ByteStream): void {
    if (this.#closed) {
      stream.destroy();
      return;
    }
    const connection = new StoreConnection(stream, this.node, this.#options, () =>
      this.#connections.delete(connection),
    );
    this.#connections.add(connection);
  }
}

class StoreConnection {
  readonly #stream: ByteStream;
  readonly #node: StoreNode;
  readonly #server: SheepServer;
  readonly #logger: Logger;
  readonly #framer: SheepFramer;
  readonly #inFlightMax: number;
  readonly #inFlightBytesMax: number;
  readonly #onClose: () => void;
  #inFlight = 0;
  #inFlightBytes = 0;
  #paused = false;
  #closed = false;

  constructor(stream: ByteStream, node: StoreNode, options: StoreEndpointOptions, onClose: () => void) {
    this.#stream = stream;
    this.#node = node;
    this.#server = options.server;
    this.#logger = options.logger.child({ node: node.key, peer: endpointToString(stream.remote) });
    this.#inFlightMax = options.inFlightMax ?? 128;
    this.#inFlightBytesMax = options.inFlightBytesMax ?? 256 * 1024 * 1024;
    this.#framer = new SheepFramer({
      side: 'request',
      payloadBytesMax: options.payloadBytesMax ?? STORE_PAYLOAD_BYTES_MAX,
    });
    this.#onClose = onClose;
    stream.attach({
      data: (chunk) => this.#receive(chunk),
      drain: () => this.#maybeResume(),
      close: () => this.#closeDone(),
    });
  }

  end(): void {
    this.#stream.end();
  }

  /** The connection is gone: requests still queued for it are not started (sheep-server.ts). */
  get closed(): boolean {
    return this.#closed;
  }

  #receive(chunk: Buffer): void {
    this.#framer.push(chunk);
    for (let frame = this.#framer.next(); frame; frame = this.#framer.next()) {
      const request = decodeRequestHeader(frame.header);
      if (frame.kind === 'oversize') {
        this.#logger.warn(
          { op: opcodeName(request.opcode), id: request.id, payloadBytes: frame.payloadBytes },
          'refused a request whose payload is larger than this store accepts; discarding its bytes',
        );
        this.#send({ header: responseFor(request, SdRes.INVALID_PARMS, { epoch: 1 }) });
        continue;
      }
      const payloadBytes = (frame.payload?.length ?? 0) + request.dataLength;
      this.#inFlight++;
      this.#inFlightBytes += payloadBytes;
      this.#server.handle(request, frame.payload, this.#node, this).then(
        (reply) => this.#complete(reply, payloadBytes),
        (error: unknown) => {
          // handle() answers every I/O error itself; reaching here is a Collie bug (a broken
          // invariant): never answer it as if it were an I/O error.
          this.#logger.error({ err: error }, 'store request handler threw; closing the connection');
          this.#stream.destroy(error instanceof Error ? error : new Error(String(error)));
        },
      );
    }
    if (this.#overloaded()) this.#pause();
  }

  #overloaded(): boolean {
    return (
      this.#inFlight >= this.#inFlightMax ||
      this.#inFlightBytes >= this.#inFlightBytesMax ||
      this.#stream.bufferedBytes > this.#inFlightBytesMax
    );
  }

  #complete(reply: Reply, payloadBytes: number): void {
    this.#inFlight--;
    this.#inFlightBytes -= payloadBytes;
    this.#send(reply);
    this.#maybeResume();
  }

  #send(reply: Reply): void {
    if (this.#closed) return;
    const header = encodeResponseHeader(reply.header);
    if (!reply.payload) this.#stream.write(header);
    else if (reply.payload.length <= COALESCE_BYTES_MAX)
      this.#stream.write(Buffer.concat([header, reply.payload]));
    else {
      // Large payloads (4 MiB objects) go out as a second write rather than being copied.
      this.#stream.write(header);
      this.#stream.write(reply.payload);
    }
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#stream.pause();
  }

  #maybeResume(): void {
    if (!this.#paused || this.#closed) return;
    if (this.#overloaded()) return;
    this.#paused = false;
    this.#stream.resume();
  }

  #closeDone(): void {
    this.#closed = true;
    this.#onClose();
  }
}
