/**
 * A TCP relay in front of one store endpoint, so the soak can take the endpoint away from its
 * target and give it back while the store process lives on (its RSS is then meaningful over the
 * whole run). An outage resets every relayed connection (both sides see a TCP reset, as when a
 * node dies) and stops listening, so new connections are refused; restore() listens again on
 * the same port.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  readonly #pairs = new Set<[Socket, Socket]>();
  #server: Server | undefined;
  connections = 0;
  cuts = 0;

  private constructor(
    readonly listenPort: number,
    readonly upstreamPort: number,
  ) {}

  static async start(listenPort: number, upstreamPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(listenPort, upstreamPort);
    await proxy.restore();
    return proxy;
  }

  get listening(): boolean {
    return this.#server !== undefined;
  }

  /** Listens (again) on listenPort. */
  restore(): Promise<void> {
    if (this.#server !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true }, (client) => this.#relay(client));
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: this.listenPort }, () => {
        server.off('error', reject);
        this.#server = server;
        resolve();
      });
    });
  }

  /** Stops listening and resets every relayed connection. */
  async outage(): Promise<number> {
    const server = this.#server;
    this.#server = undefined;
    const closed =
      server === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => server.close(() => resolve()));
    const cut = this.#pairs.size;
    for (const [client, upstream] of this.#pairs) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    this.#pairs.clear();
    this.cuts++;
    await closed;
    return cut;
  }

  async close(): Promise<void> {
    await this.outage();
  }

  #relay(client: Socket): void {
    this.connections++;
    const upstream = createConnection({ host: '127.0.0.1', port: this.upstreamPort, noDelay: true });
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const end = () => {
      this.#pairs.delete(pair);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
