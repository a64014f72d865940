/**
 * The inspector's HTTP server (a real-world adapter: node:http, the real clock by default). It
 * serves the page and the JSON API of inspector-api.ts from one InspectorSource:
 *
 *   GET /                          the page (web/page-html.ts INSPECTOR_HTML)
 *   GET /assets/style.css          INSPECTOR_CSS
 *   GET /assets/<name>.js          the compiled page module web/<name>.js (name: [a-z-]+)
 *   GET /api/meta                  InspectorMeta
 *   GET /api/machines              MachineSummary[]
 *   GET /api/machines/<id>.svg     the statechart (image/svg+xml)
 *   GET /api/events?after=&limit=&actor=&type=&vdi=&text=   EventPage
 *   GET /api/snapshot?seq=S        ProjectionSnapshot (seq omitted: the newest)
 *   GET /api/stream                text/event-stream, `event: log\ndata: <json>\n\n` per new event,
 *                                  a `: heartbeat` comment every 15 s (live sources only; 404 else)
 *
 * Rules:
 * - It listens on 127.0.0.1 unless told otherwise; a host that is not loopback is refused unless
 *   `allowNonLoopback` (the user typed it), and then a warning is logged: everyone who can reach
 *   it reads every event. On loopback it answers only requests whose Host is a loopback name (a
 *   web page elsewhere cannot reach it through DNS rebinding).
 * - Every answer has `Cache-Control: no-store` and a Content-Security-Policy that lets the page
 *   load nothing from anywhere else; there are no CORS headers. Errors are JSON `{error}`: 404 for
 *   an unknown path, 400 for a bad parameter (naming it and what it takes), 405 for a method.
 * - A stream client's backlog (bytes not yet taken by its socket) is bounded: a client that reads
 *   too slowly is dropped with a log line; memory never grows without bound.
 * - close() ends the stream clients, then the listener and every open connection.
 * - `mounts` (the admin API, /metrics) are consulted before these routes, after the Host check:
 *   a mount that owns a path answers every method on it, with the same common headers (sendJson,
 *   sendText) and JSON errors (a thrown HttpError).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock, TimerId } from '../core/clock.js';
import type { LogEvent } from '../core/event.js';
import { canonicalEventLine } from '../core/event-sinks.js';
import { realClock } from '../core/real-clock.js';
import type { EventQuery, MachineSummary } from './inspector-api.js';
import { type InspectorSource, SourceQueryError } from './inspector-source.js';
import { catalogEntry, MACHINE_CATALOG, type MachineId } from './machine-catalog.js';
import { statechartDefinition, statePaths } from './statechart-dot.js';
import { renderStatechartSvg } from './statechart-svg.js';
import { INSPECTOR_CSS, INSPECTOR_HTML } from './web/page-html.js';

export const HEARTBEAT_MS = 15_000;
/** Bytes a stream client may have waiting (queued and in its socket's buffer) before it is dropped. */
export const STREAM_BACKLOG_BYTES_MAX = 8 * 1024 * 1024;

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";

export interface InspectorServerOptions {
  readonly source: InspectorSource;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: an ephemeral port (start() says which). */
  readonly port?: number;
  /** Listen on a host that is not loopback (the user asked for it explicitly). Default false. */
  readonly allowNonLoopback?: boolean;
  /** The heartbeat's clock. Default the real clock. */
  readonly clock?: Clock;
  readonly heartbeatMs?: number;
  readonly streamBacklogBytesMax?: number;
  /** One line per notable thing (a dropped client, the non-loopback warning). Default stderr. */
  readonly log?: (line: string) => void;
  /** Where the compiled page modules are. Default: ./web/ beside this module. */
  readonly assetsDir?: URL;
  /** Route handlers consulted before the inspector's own routes (any method). Default none. */
  readonly mounts?: readonly HttpMount[];
}

/** More routes on the same server: the admin API, /metrics. */
export interface HttpMount {
  /** Whether it serves this path (whatever the method). */
  owns(path: string): boolean;
  /**
   * Answers the request (already past the Host check) with sendJson/sendText; a thrown HttpError
   * is answered as JSON `{error}` with its status, anything else as a logged 500.
   */
  handle(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void>;
}

interface StreamClient {
  readonly response: ServerResponse;
  readonly remote: string;
  pending: string[];
  pendingBytes: number;
}

/** An answer `{error: message}` with this status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const EVENTS_PARAMS = ['after', 'limit', 'actor', 'type', 'vdi', 'text'] as const;
const ROUTES = [
  '/',
  '/assets/style.css',
  '/assets/<name>.js',
  '/api/meta',
  '/api/machines',
  '/api/machines/<id>.svg',
  '/api/events',
  '/api/snapshot',
  '/api/stream',
];

/** True for names and addresses that stay on this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

export interface ListenSpec {
  readonly host: string;
  readonly port: number;
  /** The host was written out (not the 127.0.0.1 default). */
  readonly hostGiven: boolean;
}

/** `[HOST:]PORT` (or `[IPv6]:PORT`), port 0..65535 (0: any free port); else an error naming the flag. */
export function parseListenArg(text: string, flag: string): ListenSpec {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const plain = /^([^:[\]]+):(\d+)$/.exec(text);
  const bare = /^(\d+)$/.exec(text);
  const host = bracketed?.[1] ?? plain?.[1];
  const portText = bracketed?.[2] ?? plain?.[2] ?? bare?.[1];
  const port = Number(portText);
  if (portText === undefined || !Number.isInteger(port) || port > 65_535) {
    throw new Error(
      `${flag} ${JSON.stringify(text)} is not [HOST:]PORT (write e.g. 8080, 127.0.0.1:8080, or 0 for any free port)`,
    );
  }
  return { host: host ?? '127.0.0.1', port, hostGiven: host !== undefined };
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export class InspectorServer {
  private readonly server: Server;
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private readonly clients = new Set<StreamClient>();
  private readonly assetsDir: URL;
  private readonly backlogMax: number;
  private readonly heartbeatMs: number;
  private readonly host: string;
  private machines: MachineSummary[] | undefined;
  private heartbeat: TimerId | undefined;
  private unsubscribe: (() => void) | undefined;
  private flushQueued = false;
  private address: AddressInfo | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: InspectorServerOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.clock = options.clock ?? realClock;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.assetsDir = options.assetsDir ?? new URL('./web/', import.meta.url);
    this.backlogMax = options.streamBacklogBytesMax ?? STREAM_BACKLOG_BYTES_MAX;
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => this.fail(response, error));
    });
  }

  /** Listens; resolves to the page's URL ("http://127.0.0.1:PORT/"). */
  async start(): Promise<string> {
    const loopback = isLoopbackHost(this.host);
    if (!loopback && this.options.allowNonLoopback !== true) {
      throw new Error(
        `the inspector listens on loopback only, and ${this.host} is not (use 127.0.0.1, or give the host explicitly to accept that others can read every event)`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        const why =
          error.code === 'EADDRINUSE'
            ? 'the port is in use (choose another, or 0 for any free port)'
            : error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND'
              ? 'no such address on this machine'
              : error.message;
        reject(
          new Error(
            `the inspector cannot listen on ${urlHost(this.host)}:${this.options.port ?? 0}: ${why}`,
            {
              cause: error,
            },
          ),
        );
      };
      this.server.once('error', onError);
      this.server.listen(this.options.port ?? 0, this.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.address = this.server.address() as AddressInfo;
    if (!loopback) {
      this.log(
        `inspector: WARNING: listening on ${urlHost(this.host)}:${this.address.port}, not loopback: anyone who can reach it reads every event`,
      );
    }
    return this.url;
  }

  /** The listener stops keeping the process alive (open connections still do). */
  unref(): void {
    this.server.unref();
  }

  get url(): string {
    if (this.address === undefined) throw new Error('InspectorServer.url before start()');
    return `http://${urlHost(this.host)}:${this.address.port}/`;
  }

  get port(): number {
    if (this.address === undefined) throw new Error('InspectorServer.port before start()');
    return this.address.port;
  }

  /** Stream clients connected now. */
  get streamClients(): number {
    return this.clients.size;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const client of [...this.clients]) this.removeClient(client, 'end');
      await new Promise<void>((resolve) => {
        if (!this.server.listening) {
          resolve();
          return;
        }
        this.server.close(() => resolve());
        this.server.closeAllConnections();
      });
    })();
    return this.closing;
  }

  // ---- requests ------------------------------------------------------------------------------------

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET';
    const url = new URL(request.url ?? '/', 'http://inspector.invalid');
    const mount = this.options.mounts?.find((candidate) => candidate.owns(url.pathname));
    if (mount !== undefined) {
      // Its own methods and errors, past the same Host check.
      this.checkHost(request);
      return mount.handle(request, response, url);
    }
    if (method !== 'GET' && method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      throw new HttpError(405, `${method} is not served: every route is GET`);
    }
    this.checkHost(request);
    const path = url.pathname;
    const params = url.searchParams;
    if (path === '/' || path === '/index.html') {
      // Parameters are the page's own (deep links); the server reads none.
      return sendText(response, 200, 'text/html; charset=utf-8', INSPECTOR_HTML);
    }
    if (path === '/assets/style.css')
      return sendText(response, 200, 'text/css; charset=utf-8', INSPECTOR_CSS);
    if (path.startsWith('/assets/')) return this.sendModule(response, path.slice('/assets/'.length));
    switch (path) {
      case '/api/meta':
        this.noParams(params);
        return sendJson(response, this.options.source.meta());
      case '/api/machines':
        this.noParams(params);
        return sendJson(response, this.machineSummaries());
      case '/api/events':
        return sendJson(response, this.options.source.events(eventQuery(params)));
      case '/api/snapshot': {
        allowOnly(params, ['seq']);
        const seqText = params.get('seq');
        const seq =
          seqText === null || seqText === ''
            ? this.options.source.meta().lastSeq
            : wholeNumber(seqText, 'seq');
        return sendJson(response, this.options.source.snapshot(seq));
      }
      case '/api/stream':
        this.noParams(params);
        return this.openStream(request, response);
    }
    const svg = /^\/api\/machines\/([^/]+)\.svg$/.exec(path);
    if (svg) {
      let id: string;
      try {
        id = decodeURIComponent(svg[1]!);
      } catch {
        throw new HttpError(400, `machine id ${JSON.stringify(svg[1])} is not a valid URL component`);
      }
      if (catalogEntry(id) === undefined) {
        throw new HttpError(
          404,
          `no machine "${id}"; the machines are ${MACHINE_CATALOG.map((entry) => entry.id).join(', ')}`,
        );
      }
      const text = await renderStatechartSvg(id as MachineId);
      return sendText(response, 200, 'image/svg+xml; charset=utf-8', text);
    }
    throw new HttpError(404, `no route ${path}; the routes are ${ROUTES.join(', ')}`);
  }

  /** On loopback, only requests addressed to a loopback name (no DNS rebinding). */
  private checkHost(request: IncomingMessage): void {
    if (!isLoopbackHost(this.host)) return;
    const hostHeader = request.headers.host ?? '';
    const hostname = /^(\[[^\]]*\]|[^:]*)(:\d+)?$/.exec(hostHeader)?.[1] ?? '';
    if (!isLoopbackHost(hostname)) {
      throw new HttpError(
        403,
        `Host ${JSON.stringify(hostHeader)} is not this inspector's loopback address (open ${this.url})`,
      );
    }
  }

  private noParams(params: URLSearchParams): void {
    allowOnly(params, []);
  }

  private machineSummaries(): MachineSummary[] {
    this.machines ??= MACHINE_CATALOG.map((entry) => ({
      id: entry.id,
      title: entry.title,
      side: entry.side,
      states: statePaths(statechartDefinition(entry.machine)),
      svgUrl: `/api/machines/${entry.id}.svg`,
    }));
    return this.machines;
  }

  private async sendModule(response: ServerResponse, name: string): Promise<void> {
    if (!/^[a-z-]+\.js$/.test(name)) throw new HttpError(404, `no asset ${JSON.stringify(name)}`);
    let text: string;
    try {
      text = await readFile(new URL(name, this.assetsDir), 'utf8');
    } catch {
      throw new HttpError(404, `no asset ${name} (page modules come from the build: run npm run build)`);
    }
    sendText(response, 200, 'text/javascript; charset=utf-8', text);
  }

  private fail(response: ServerResponse, error: unknown): void {
    const status = error instanceof HttpError ? error.status : error instanceof SourceQueryError ? 400 : 500;
    const message = (error as Error)?.message ?? String(error);
    if (status === 500) this.log(`inspector: answering 500: ${message}`);
    if (response.headersSent) {
      response.destroy();
      return;
    }
    sendJson(response, { error: message }, status);
  }

  // ---- the stream ----------------------------------------------------------------------------------

  private openStream(request: IncomingMessage, response: ServerResponse): void {
    const source = this.options.source;
    if (source.subscribe === undefined) {
      throw new HttpError(404, 'no live stream: this inspector shows a recorded file (read /api/events)');
    }
    setCommonHeaders(response);
    response.statusCode = 200;
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Connection', 'keep-alive');
    response.setHeader('X-Accel-Buffering', 'no');
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    response.socket?.setNoDelay(true);
    response.write(': collie inspector stream\n\n');
    const client: StreamClient = {
      response,
      remote: `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`,
      pending: [],
      pendingBytes: 0,
    };
    this.clients.add(client);
    response.on('close', () => this.removeClient(client, 'gone'));
    this.unsubscribe ??= source.subscribe((event) => this.broadcast(event));
    if (this.heartbeat === undefined) this.armHeartbeat();
  }

  /** Inside EventLog.append: queue the event for every client, flush after this task. */
  private broadcast(event: LogEvent): void {
    const chunk = `event: log\ndata: ${canonicalEventLine(event)}\n\n`;
    for (const client of this.clients) {
      const backlog = client.pendingBytes + client.response.writableLength;
      if (backlog + chunk.length > this.backlogMax) {
        this.log(
          `inspector: dropped the /api/stream client ${client.remote}: it reads too slowly (${backlog} bytes waiting, bound ${this.backlogMax}); it can reconnect`,
        );
        this.removeClient(client, 'destroy');
        continue;
      }
      client.pending.push(chunk);
      client.pendingBytes += chunk.length;
    }
    if (!this.flushQueued && this.clients.size > 0) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    for (const client of this.clients) {
      if (client.pending.length === 0) continue;
      const text = client.pending.join('');
      client.pending = [];
      client.pendingBytes = 0;
      client.response.write(text);
    }
  }

  private armHeartbeat(): void {
    this.heartbeat = this.clock.setTimeout(() => {
      this.heartbeat = undefined;
      if (this.clients.size === 0) return;
      for (const client of this.clients) client.response.write(': heartbeat\n\n');
      this.armHeartbeat();
    }, this.heartbeatMs);
  }

  private removeClient(client: StreamClient, how: 'end' | 'destroy' | 'gone'): void {
    if (!this.clients.delete(client)) return;
    if (how === 'end') client.response.end();
    else if (how === 'destroy') client.response.destroy();
    if (this.clients.size > 0) return;
    // Nobody follows any more: the source goes back to its idle cost.
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.heartbeat !== undefined) {
      this.clock.clearTimeout(this.heartbeat);
      this.heartbeat = undefined;
    }
  }
}

// ---- answers -----------------------------------------------------------------------------------------

/** What every answer carries: no caching, nothing loaded from elsewhere, no framing, no CORS. */
function setCommonHeaders(response: ServerResponse): void {
  response.setHeader('Cache-Control', 'no-store');
  response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

/** Answers `body` with the common headers (a HEAD request gets the headers alone). */
export function sendText(response: ServerResponse, status: number, type: string, body: string): void {
  setCommonHeaders(response);
  response.statusCode = status;
  response.setHeader('Content-Type', type);
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.end(body);
}

export function sendJson(response: ServerResponse, value: unknown, status = 200): void {
  sendText(response, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

// ---- parameters ------------------------------------------------------------------------------------

function allowOnly(params: URLSearchParams, allowed: readonly string[]): void {
  for (const name of new Set(params.keys())) {
    if (!allowed.includes(name)) {
      throw new HttpError(
        400,
        allowed.length === 0
          ? `parameter ${JSON.stringify(name)} is not taken here (this route takes none)`
          : `parameter ${JSON.stringify(name)} is not taken here (it takes ${allowed.join(', ')})`,
      );
    }
    if (params.getAll(name).length > 1)
      throw new HttpError(400, `parameter ${JSON.stringify(name)} is given twice`);
  }
}

function wholeNumber(text: string, name: string): number {
  const value = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    throw new HttpError(400, `parameter ${name}=${JSON.stringify(text)} is not a whole number >= 0`);
  }
  return value;
}

function eventQuery(params: URLSearchParams): EventQuery {
  allowOnly(params, EVENTS_PARAMS);
  const number = (name: 'after' | 'limit') => {
    const text = params.get(name);
    return text === null || text === '' ? undefined : wholeNumber(text, name);
  };
  const text = (name: 'actor' | 'type' | 'vdi' | 'text') => params.get(name) ?? undefined;
  const query: EventQuery = {
    after: number('after'),
    limit: number('limit'),
    actor: text('actor'),
    type: text('type'),
    vdi: text('vdi'),
    text: text('text'),
  };
  return query;
}
