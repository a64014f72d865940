/**
 * The inspector page's data layer: one method per route of the inspector's HTTP API
 * (../inspector-api.ts), and follow(), which reads the live `/api/stream` with fetch and a
 * streaming SSE parser and reconnects with backoff. It uses only fetch, streams, TextDecoder and
 * URL (no DOM, no EventSource), so the same module runs in the browser and in Node (its tests).
 *
 * Every failure is an InspectorRequestError naming the URL and the HTTP status (null when no
 * response came). follow() delivers each event once, in seq order: after a reconnect it first
 * fetches the events it missed through /api/events, then skips stream events it already gave.
 */
import type { LogEvent } from '../../core/event.js';
import type {
  EventPage,
  EventQuery,
  InspectorMeta,
  MachineSummary,
  ProjectionSnapshot,
} from '../inspector-api.js';
import { SseParser } from './sse-parser.js';

export type FetchLike = typeof globalThis.fetch;

/** A request to the inspector that failed: no response, an HTTP error, or a body that is not what the route promises. */
export class InspectorRequestError extends Error {
  override readonly name = 'InspectorRequestError';

  constructor(
    readonly url: string,
    /** The HTTP status, or null when no response came (network error, abort). */
    readonly status: number | null,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`GET ${url}: ${status === null ? 'no response' : `HTTP ${status}`}: ${detail}`, options);
  }
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

export type FollowStatus =
  | { readonly state: 'connecting'; readonly attempt: number }
  | { readonly state: 'open' }
  | { readonly state: 'retrying'; readonly delayMs: number; readonly error: unknown }
  /** A stream message that is not a log event (bad JSON, no seq): skipped. */
  | { readonly state: 'skipped'; readonly data: string; readonly reason: string };

export interface FollowOptions {
  /**
   * Deliver only events with seq > after, and fetch the events after it that the stream does not
   * replay (through /api/events) as soon as the stream is open. Without it the first connection
   * delivers what the stream sends; reconnects always fill the gap since the last delivered event.
   */
  readonly after?: number;
  /** First reconnect delay (doubles per failure up to maxDelayMs); default 500 ms. A `retry:` field overrides it. */
  readonly initialDelayMs?: number;
  /** Default 10 s. */
  readonly maxDelayMs?: number;
  readonly onStatus?: (status: FollowStatus) => void;
  /** How to wait between attempts; resolves early when signal aborts. Default: a timer. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const BACKFILL_PAGE = 1000;

/** Thrown through follow()'s retry loop untouched: the caller's onEvent failed. */
class CallbackFailure {
  constructor(readonly error: unknown) {}
}

/** Resolves after ms, or at once when signal aborts. The page is a real-world adapter: it may use timers. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms); // determinism-ok: browser page (reconnect backoff)
    signal.addEventListener('abort', done, { once: true });
  });
}

/** 4xx other than 408/429: the server will say the same again, so retrying is pointless. */
function isFatalStatus(status: number | null): boolean {
  return status !== null && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function isLogEvent(value: unknown): value is LogEvent {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.seq === 'number' &&
    Number.isSafeInteger(candidate.seq) &&
    typeof candidate.actor === 'string' &&
    typeof candidate.type === 'string'
  );
}

export class InspectorClient {
  private readonly base: URL;
  private readonly fetchImpl: FetchLike;

  /**
   * baseUrl: where the inspector is served ("http://127.0.0.1:PORT/"); routes resolve relative to it.
   * fetchImpl: defaults to the global fetch.
   */
  constructor(baseUrl: string | URL, fetchImpl?: FetchLike) {
    this.base = new URL(baseUrl);
    if (!this.base.pathname.endsWith('/')) this.base.pathname += '/';
    this.fetchImpl = fetchImpl ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The absolute URL of a route ("api/meta"), with its query. */
  url(path: string, query: Readonly<Record<string, string | number | undefined>> = {}): URL {
    const url = new URL(path.replace(/^\/+/, ''), this.base);
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined || value === '') continue;
      url.searchParams.set(name, String(value));
    }
    return url;
  }

  meta(options: RequestOptions = {}): Promise<InspectorMeta> {
    return this.json<InspectorMeta>(this.url('api/meta'), options);
  }

  machines(options: RequestOptions = {}): Promise<MachineSummary[]> {
    return this.json<MachineSummary[]>(this.url('api/machines'), options);
  }

  /** The statechart of machine id, as SVG text. */
  async machineSvg(id: string, options: RequestOptions = {}): Promise<string> {
    const url = this.url(`api/machines/${encodeURIComponent(id)}.svg`);
    const { response, href } = await this.get(url, 'image/svg+xml', options);
    const text = await this.readText(response, href);
    if (!/<svg[\s>]/.test(text))
      throw new InspectorRequestError(href, response.status, 'the body is not SVG');
    return text;
  }

  /** One page of events with seq > query.after, oldest first, filtered. */
  events(query: EventQuery = {}, options: RequestOptions = {}): Promise<EventPage> {
    const url = this.url('api/events', {
      after: query.after,
      limit: query.limit,
      actor: query.actor,
      type: query.type,
      vdi: query.vdi,
      text: query.text,
    });
    return this.json<EventPage>(url, options);
  }

  /** Every matching event after query.after, page by page (query.limit is the page size). */
  async *eventPages(query: EventQuery = {}, options: RequestOptions = {}): AsyncGenerator<EventPage> {
    const limit = query.limit ?? BACKFILL_PAGE;
    let after = query.after;
    for (;;) {
      const page = await this.events({ ...query, after, limit }, options);
      yield page;
      const last = page.events.at(-1);
      if (last === undefined || page.events.length < limit || last.seq >= page.lastSeq) return;
      after = last.seq;
    }
  }

  /** Every machine instance's state after event seq, and the coherence matrix. */
  snapshot(seq: number, options: RequestOptions = {}): Promise<ProjectionSnapshot> {
    return this.json<ProjectionSnapshot>(this.url('api/snapshot', { seq }), options);
  }

  /**
   * Reads /api/stream until signal aborts (then resolves), calling onEvent for each `log` event in
   * seq order, once each. A failed connection or an ended stream is retried with backoff; a 4xx
   * answer (no stream here: a recorded log) rejects with its InspectorRequestError, and so does an
   * onEvent that throws (with its error).
   */
  async follow(
    onEvent: (event: LogEvent) => void,
    signal: AbortSignal,
    options: FollowOptions = {},
  ): Promise<void> {
    const initialDelayMs = options.initialDelayMs ?? 500;
    const maxDelayMs = options.maxDelayMs ?? 10_000;
    const sleep = options.sleep ?? abortableSleep;
    const parser = new SseParser();
    let lastSeq = options.after;
    let delayMs = initialDelayMs;
    let attempt = 0;
    const deliver = (event: LogEvent): void => {
      if (lastSeq !== undefined && event.seq <= lastSeq) return;
      lastSeq = event.seq;
      try {
        onEvent(event);
      } catch (error) {
        throw new CallbackFailure(error);
      }
    };
    while (!signal.aborted) {
      attempt++;
      options.onStatus?.({ state: 'connecting', attempt });
      try {
        await this.readStream(
          parser,
          signal,
          () => {
            delayMs = parser.reconnectMs ?? initialDelayMs;
            options.onStatus?.({ state: 'open' });
            return lastSeq === undefined ? undefined : this.backfill(lastSeq, deliver, signal);
          },
          (data) => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(data);
            } catch (error) {
              options.onStatus?.({ state: 'skipped', data, reason: `not JSON: ${String(error)}` });
              return;
            }
            if (isLogEvent(parsed)) deliver(parsed);
            else
              options.onStatus?.({
                state: 'skipped',
                data,
                reason: 'not a log event (no seq, actor or type)',
              });
          },
        );
        if (signal.aborted) return;
        throw new InspectorRequestError(this.url('api/stream').href, 200, 'the stream ended');
      } catch (error) {
        if (error instanceof CallbackFailure) throw error.error;
        if (signal.aborted) return;
        if (error instanceof InspectorRequestError && isFatalStatus(error.status)) throw error;
        const wait = Math.min(delayMs, maxDelayMs);
        options.onStatus?.({ state: 'retrying', delayMs: wait, error });
        await sleep(wait, signal);
        delayMs = Math.min(Math.max(wait, 1) * 2, maxDelayMs);
      }
    }
  }

  /** Delivers the events after `after` that /api/events holds. */
  private async backfill(
    after: number,
    deliver: (event: LogEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    for await (const page of this.eventPages({ after, limit: BACKFILL_PAGE }, { signal })) {
      for (const event of page.events) deliver(event);
    }
  }

  /** One connection: opens the stream, runs onOpen, then hands each `log` message's data on until the body ends. */
  private async readStream(
    parser: SseParser,
    signal: AbortSignal,
    onOpen: () => Promise<void> | undefined,
    onLog: (data: string) => void,
  ): Promise<void> {
    const url = this.url('api/stream');
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (parser.lastEventId !== '') headers['last-event-id'] = parser.lastEventId;
    const { response, href } = await this.get(url, 'text/event-stream', { signal }, headers);
    const body = response.body;
    if (body === null) throw new InspectorRequestError(href, response.status, 'the response has no body');
    const reader = body.getReader();
    // However the fetch implementation handles an abort, a pending read ends with it.
    const cancel = (): void => {
      reader.cancel().catch(() => undefined);
    };
    signal.addEventListener('abort', cancel, { once: true });
    const decoder = new TextDecoder();
    parser.end();
    try {
      await onOpen();
      while (!signal.aborted) {
        const chunk = await reader.read().catch((error: unknown) => {
          throw new InspectorRequestError(
            href,
            response.status,
            `reading the stream failed: ${String(error)}`,
            {
              cause: error,
            },
          );
        });
        const text = chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
        for (const message of parser.push(text)) {
          if (signal.aborted) return;
          if (message.event === 'log') onLog(message.data);
        }
        if (chunk.done) return;
      }
    } finally {
      signal.removeEventListener('abort', cancel);
      parser.end();
      cancel();
    }
  }

  private async get(
    url: URL,
    accept: string,
    options: RequestOptions,
    headers: Record<string, string> = { accept },
  ): Promise<{ response: Response; href: string }> {
    const href = url.href;
    let response: Response;
    try {
      response = await this.fetchImpl(href, {
        method: 'GET',
        headers,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      throw new InspectorRequestError(href, null, String(error), { cause: error });
    }
    if (!response.ok) {
      const body = await response.text().catch(() => '');
      const detail = `${response.statusText || 'error'}${body ? `: ${body.trim().slice(0, 300)}` : ''}`;
      throw new InspectorRequestError(href, response.status, detail);
    }
    return { response, href };
  }

  private async readText(response: Response, href: string): Promise<string> {
    try {
      return await response.text();
    } catch (error) {
      throw new InspectorRequestError(href, response.status, `reading the body failed: ${String(error)}`, {
        cause: error,
      });
    }
  }

  private async json<T>(url: URL, options: RequestOptions): Promise<T> {
    const { response, href } = await this.get(url, 'application/json', options);
    const text = await this.readText(response, href);
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new InspectorRequestError(href, response.status, `the body is not JSON: ${text.slice(0, 120)}`, {
        cause: error,
      });
    }
  }
}
