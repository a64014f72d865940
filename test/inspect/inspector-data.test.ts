/**
 * Goal: the inspector page's data layer (src/inspect/web/inspector-data.ts) asks each route of the
 * inspector API the way inspector-api.ts says, names the URL and status in every failure, parses
 * the live SSE stream however its bytes are cut, and follows the stream across reconnects without
 * losing, repeating or reordering events.
 * Method: msw 2 intercepts the global fetch in this Node process (unhandled requests fail the
 * test); streaming responses are ReadableStreams fed chunk by chunk; SseParser is also fed every
 * split of a fixed stream. Reconnect waits are injected, so no test sleeps. The page's snapshot
 * loader (which the timeline drives) is checked against a source that answers when told.
 */

import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { LogEvent } from '../../src/core/event.js';
import type {
  EventPage,
  InspectorMeta,
  MachineSummary,
  ProjectionSnapshot,
} from '../../src/inspect/inspector-api.js';
import {
  type FollowStatus,
  InspectorClient,
  InspectorRequestError,
} from '../../src/inspect/web/inspector-data.js';
import { SnapshotLoader } from '../../src/inspect/web/snapshot-loader.js';
import { type SseMessage, SseParser } from '../../src/inspect/web/sse-parser.js';

const BASE = 'http://127.0.0.1:7411/';
const server = setupServer();

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

function logEvent(seq: number, type = 'io.transition', actor = 'sheepdog/vol@store:7000/io'): LogEvent {
  return { seq, t: seq * 10, actor, type, data: { note: `event ${seq}`, text: 'héllo ✓' } };
}

function sse(event: LogEvent, id = true): string {
  return `${id ? `id: ${event.seq}\n` : ''}event: log\ndata: ${JSON.stringify(event)}\n\n`;
}

/** A streaming body that enqueues each chunk (a string is UTF-8 encoded) and closes, or stays open. */
function streamBody(chunks: readonly (string | Uint8Array)[], close = true): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks)
        controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
      if (close) controller.close();
    },
  });
}

function sseResponse(chunks: readonly (string | Uint8Array)[], close = true): HttpResponse<ReadableStream> {
  return new HttpResponse(streamBody(chunks, close), {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' },
  });
}

/** Splits bytes into pieces of size, so every multibyte character and line end is cut somewhere. */
function bytePieces(text: string, size: number): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.slice(at, at + size));
  return pieces;
}

const META: InspectorMeta = {
  source: 'file',
  title: 'v.jsonl',
  header: { scenario: 'seed-failover', seed: 3 },
  firstSeq: 1,
  lastSeq: 242,
  violations: [{ seq: 149, checker: 'register/stale-read', message: 'stale read' }],
  live: false,
};

const MACHINES: MachineSummary[] = [
  {
    id: 'participant',
    title: 'Inode coherence participant',
    side: 'store',
    states: ['idle', 'valid', 'invalidating'],
    svgUrl: '/api/machines/participant.svg',
  },
];

const SNAPSHOT: ProjectionSnapshot = {
  seq: 149,
  t: 17029,
  instances: [
    {
      key: 'store/vdi/9196e5#target-b',
      machine: 'participant',
      node: 'store',
      vdi: 'simvol',
      label: 'target-b',
      state: null,
      sinceSeq: 0,
      lastEvent: null,
      ended: false,
    },
  ],
  coherence: [{ vdi: 'simvol', cells: [{ node: 'target-b', participant: null }] }],
};

describe('InspectorClient routes', () => {
  test('meta, machines, snapshot and the SVG come from their routes', async () => {
    const seen: string[] = [];
    server.use(
      http.get(`${BASE}api/meta`, ({ request }) => {
        seen.push(request.url);
        return HttpResponse.json(META);
      }),
      http.get(`${BASE}api/machines`, () => HttpResponse.json(MACHINES)),
      http.get(`${BASE}api/machines/:file`, ({ params }) =>
        params.file === 'participant.svg'
          ? new HttpResponse(
              '<svg xmlns="http://www.w3.org/2000/svg"><g id="state-idle" class="state"/></svg>',
              {
                headers: { 'content-type': 'image/svg+xml' },
              },
            )
          : new HttpResponse('no such machine', { status: 404 }),
      ),
      http.get(`${BASE}api/snapshot`, ({ request }) => {
        const seq = Number(new URL(request.url).searchParams.get('seq'));
        return HttpResponse.json({ ...SNAPSHOT, seq });
      }),
    );
    const client = new InspectorClient(BASE);
    expect(await client.meta()).toEqual(META);
    expect(seen).toEqual([`${BASE}api/meta`]);
    expect(await client.machines()).toEqual(MACHINES);
    expect(await client.machineSvg('participant')).toContain('id="state-idle"');
    const snapshot = await client.snapshot(149);
    expect(snapshot.seq).toBe(149);
    expect(snapshot.instances[0]?.state).toBeNull();
  });

  test('a base URL without a trailing slash and an injected fetch both work', async () => {
    const asked: string[] = [];
    const fetchImpl: typeof fetch = async (input) => {
      asked.push(String(input));
      return Response.json(META);
    };
    const client = new InspectorClient('http://127.0.0.1:7411/inspector', fetchImpl);
    await client.meta();
    expect(asked).toEqual(['http://127.0.0.1:7411/inspector/api/meta']);
  });

  test('events sends only the filters given, and eventPages pages until the last event', async () => {
    const queries: Record<string, string>[] = [];
    const all = Array.from({ length: 5 }, (_, index) => logEvent(index + 1));
    server.use(
      http.get(`${BASE}api/events`, ({ request }) => {
        const params = Object.fromEntries(new URL(request.url).searchParams);
        queries.push(params);
        const after = Number(params.after ?? 0);
        const limit = Number(params.limit ?? 1000);
        const page: EventPage = {
          events: all.filter((event) => event.seq > after).slice(0, limit),
          firstSeq: 1,
          lastSeq: 5,
        };
        return HttpResponse.json(page);
      }),
    );
    const client = new InspectorClient(BASE);
    const page = await client.events({
      after: 2,
      limit: 10,
      actor: 'store/vdi',
      type: '',
      vdi: 'simvol',
      text: 'a b&c',
    });
    expect(page.events.map((event) => event.seq)).toEqual([3, 4, 5]);
    expect(queries[0]).toEqual({ after: '2', limit: '10', actor: 'store/vdi', vdi: 'simvol', text: 'a b&c' });

    const seqs: number[] = [];
    for await (const each of client.eventPages({ after: 0, limit: 2 }))
      seqs.push(...each.events.map((e) => e.seq));
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    expect(queries.slice(1).map((query) => query.after)).toEqual(['0', '2', '4']);
  });
});

describe('InspectorClient errors name the URL and the status', () => {
  test('an HTTP error carries the status and the body text', async () => {
    server.use(
      http.get(
        `${BASE}api/snapshot`,
        () => new HttpResponse('seq 999 is past the log (last 242)', { status: 416 }),
      ),
    );
    const error = await new InspectorClient(BASE).snapshot(999).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InspectorRequestError);
    const failure = error as InspectorRequestError;
    expect(failure.url).toBe(`${BASE}api/snapshot?seq=999`);
    expect(failure.status).toBe(416);
    expect(failure.message).toContain(`${BASE}api/snapshot?seq=999`);
    expect(failure.message).toContain('416');
    expect(failure.message).toContain('seq 999 is past the log');
  });

  test('a network failure has status null', async () => {
    server.use(http.get(`${BASE}api/meta`, () => HttpResponse.error()));
    const error = (await new InspectorClient(BASE)
      .meta()
      .catch((caught: unknown) => caught)) as InspectorRequestError;
    expect(error).toBeInstanceOf(InspectorRequestError);
    expect(error.status).toBeNull();
    expect(error.url).toBe(`${BASE}api/meta`);
    expect(error.message).toMatch(/no response/);
  });

  test('a body that is not JSON, or not SVG, is an error with the status it came with', async () => {
    server.use(
      http.get(`${BASE}api/machines`, () => new HttpResponse('<html>proxy page</html>', { status: 200 })),
      http.get(`${BASE}api/machines/:file`, () => new HttpResponse('{"not":"svg"}', { status: 200 })),
    );
    const client = new InspectorClient(BASE);
    const notJson = (await client.machines().catch((caught: unknown) => caught)) as InspectorRequestError;
    expect(notJson).toBeInstanceOf(InspectorRequestError);
    expect(notJson.status).toBe(200);
    expect(notJson.message).toMatch(/not JSON/);
    const notSvg = (await client
      .machineSvg('login')
      .catch((caught: unknown) => caught)) as InspectorRequestError;
    expect(notSvg.url).toBe(`${BASE}api/machines/login.svg`);
    expect(notSvg.message).toMatch(/not SVG/);
  });
});

describe('SseParser', () => {
  const STREAM =
    '\uFEFF: a comment\r\nretry: 250\r\nid: 7\r\nevent: log\r\ndata: {"a":1,\r\ndata:  "b":"ü✓"}\r\n\r\n' +
    'data\n\nevent: other\ndata: x\n\n: keepalive\n\n' +
    'id: 8\rdata: cr only\r\r' +
    'event: log\ndata: unfinished';
  const EXPECTED: SseMessage[] = [
    { event: 'log', data: '{"a":1,\n "b":"ü✓"}', id: '7' },
    { event: 'message', data: '', id: '7' },
    { event: 'other', data: 'x', id: '7' },
    { event: 'message', data: 'cr only', id: '8' },
  ];

  test('parses a whole stream: comments, CRLF/LF/CR line ends, multi-line data, ids, retry, BOM', () => {
    const parser = new SseParser();
    expect(parser.push(STREAM)).toEqual(EXPECTED);
    expect(parser.reconnectMs).toBe(250);
    expect(parser.lastEventId).toBe('8');
    expect(parser.end()).toEqual([]);
  });

  test('gives the same messages for every two-way split and for one character at a time', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const parser = new SseParser();
      const messages = [...parser.push(STREAM.slice(0, cut)), ...parser.push(STREAM.slice(cut))];
      expect(messages, `cut at ${cut}`).toEqual(EXPECTED);
    }
    const parser = new SseParser();
    expect([...STREAM].flatMap((char) => parser.push(char))).toEqual(EXPECTED);
  });
});

describe('InspectorClient.follow', () => {
  test('parses log events cut at every byte boundary (UTF-8 split inside characters)', async () => {
    const events = [logEvent(1), logEvent(2, 'login.stepped', 'iscsi/login/host:49152'), logEvent(3)];
    const text = `: hello\n\n${events.map((event) => sse(event)).join('')}event: other\ndata: {"seq":99}\n\n`;
    for (const size of [1, 2, 3, 7]) {
      server.use(http.get(`${BASE}api/stream`, () => sseResponse(bytePieces(text, size), false)));
      const got: LogEvent[] = [];
      const controller = new AbortController();
      await new InspectorClient(BASE).follow((event) => {
        got.push(event);
        if (got.length === events.length) controller.abort();
      }, controller.signal);
      expect(got, `pieces of ${size} bytes`).toEqual(events);
    }
  });

  test('reconnects with backoff, fills the gap from /api/events, and never repeats an event', async () => {
    let connections = 0;
    const lastEventIds: (string | null)[] = [];
    server.use(
      http.get(`${BASE}api/stream`, ({ request }) => {
        connections++;
        lastEventIds.push(request.headers.get('last-event-id'));
        if (connections === 1) return new HttpResponse('starting', { status: 503 });
        if (connections === 2) return HttpResponse.error();
        // The first good stream gives 1 and 2, then ends (the server restarted, say).
        if (connections === 3)
          return sseResponse([sse(logEvent(1)), sse(logEvent(2)).slice(0, 10), sse(logEvent(2)).slice(10)]);
        // The next one starts at 5 and repeats 5: 3 and 4 only exist in /api/events.
        return sseResponse([sse(logEvent(5)), sse(logEvent(5)), sse(logEvent(6))], false);
      }),
      http.get(`${BASE}api/events`, ({ request }) => {
        const after = Number(new URL(request.url).searchParams.get('after'));
        const page: EventPage = {
          events: [3, 4, 5].filter((seq) => seq > after).map((seq) => logEvent(seq)),
          firstSeq: 1,
          lastSeq: 5,
        };
        return HttpResponse.json(page);
      }),
    );
    const seqs: number[] = [];
    const waits: number[] = [];
    const statuses: FollowStatus['state'][] = [];
    const controller = new AbortController();
    await new InspectorClient(BASE).follow(
      (event) => {
        seqs.push(event.seq);
        if (event.seq === 6) controller.abort();
      },
      controller.signal,
      {
        initialDelayMs: 100,
        maxDelayMs: 300,
        onStatus: (status) => statuses.push(status.state),
        sleep: async (ms) => {
          waits.push(ms);
        },
      },
    );
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(connections).toBe(4);
    // 503, then a network error (doubled), then an ended stream (reset by its open).
    expect(waits).toEqual([100, 200, 100]);
    expect(lastEventIds).toEqual([null, null, null, '2']);
    expect(statuses).toEqual([
      'connecting',
      'retrying',
      'connecting',
      'retrying',
      'connecting',
      'open',
      'retrying',
      'connecting',
      'open',
    ]);
  });

  test('with after, the first connection starts from the events after it', async () => {
    server.use(
      http.get(`${BASE}api/stream`, () => sseResponse([sse(logEvent(11)), sse(logEvent(12))], false)),
      http.get(`${BASE}api/events`, () =>
        HttpResponse.json({ events: [logEvent(10), logEvent(11)], firstSeq: 1, lastSeq: 11 }),
      ),
    );
    const seqs: number[] = [];
    const controller = new AbortController();
    await new InspectorClient(BASE).follow(
      (event) => {
        seqs.push(event.seq);
        if (event.seq === 12) controller.abort();
      },
      controller.signal,
      { after: 9 },
    );
    expect(seqs).toEqual([10, 11, 12]);
  });

  test('a 404 (a recorded log has no stream) rejects at once; so does a throwing onEvent', async () => {
    server.use(http.get(`${BASE}api/stream`, () => new HttpResponse('not live', { status: 404 })));
    const client = new InspectorClient(BASE);
    const notLive = (await client
      .follow(() => undefined, new AbortController().signal)
      .catch((caught: unknown) => caught)) as InspectorRequestError;
    expect(notLive).toBeInstanceOf(InspectorRequestError);
    expect(notLive.status).toBe(404);
    expect(notLive.url).toBe(`${BASE}api/stream`);

    server.use(http.get(`${BASE}api/stream`, () => sseResponse([sse(logEvent(1))], false)));
    const boom = new Error('page bug');
    await expect(
      client.follow(() => {
        throw boom;
      }, new AbortController().signal),
    ).rejects.toBe(boom);
  });

  test('skips messages that are not log events and reports them', async () => {
    server.use(
      http.get(`${BASE}api/stream`, () =>
        sseResponse(
          ['event: log\ndata: {broken\n\n', 'event: log\ndata: {"x":1}\n\n', sse(logEvent(4))],
          false,
        ),
      ),
    );
    const skipped: string[] = [];
    const seqs: number[] = [];
    const controller = new AbortController();
    await new InspectorClient(BASE).follow(
      (event) => {
        seqs.push(event.seq);
        controller.abort();
      },
      controller.signal,
      { onStatus: (status) => status.state === 'skipped' && skipped.push(status.reason) },
    );
    expect(seqs).toEqual([4]);
    expect(skipped).toHaveLength(2);
    expect(skipped[0]).toMatch(/not JSON/);
    expect(skipped[1]).toMatch(/not a log event/);
  });

  test('an abort while waiting for data ends follow without an error', async () => {
    server.use(http.get(`${BASE}api/stream`, () => sseResponse([': open\n\n'], false)));
    const controller = new AbortController();
    const following = new InspectorClient(BASE).follow(() => undefined, controller.signal, {
      onStatus: (status) => {
        if (status.state === 'open') queueMicrotask(() => controller.abort());
      },
    });
    await expect(following).resolves.toBeUndefined();
  });
});

describe('SnapshotLoader', () => {
  function emptySnapshot(seq: number): ProjectionSnapshot {
    return { seq, t: 0, instances: [], coherence: [] };
  }

  test('while a request is in flight only the newest wish is fetched; answers are cached', async () => {
    const asked: number[] = [];
    const shown: number[] = [];
    let release: () => void = () => undefined;
    const loader = new SnapshotLoader(
      {
        snapshot: async (seq) => {
          asked.push(seq);
          if (seq === 1) await new Promise<void>((resolve) => (release = resolve));
          return emptySnapshot(seq);
        },
      },
      (snapshot) => shown.push(snapshot.seq),
      (error) => {
        throw error;
      },
    );
    const first = loader.request(1);
    void loader.request(2);
    void loader.request(3);
    const last = loader.request(4);
    release();
    await Promise.all([first, last]);
    expect(asked).toEqual([1, 4]);
    expect(shown).toEqual([4]);
    await loader.request(1);
    expect(asked).toEqual([1, 4]);
    expect(shown).toEqual([4, 1]);
  });

  test('a failed request reports its seq and the loader goes on', async () => {
    const failures: string[] = [];
    const shown: number[] = [];
    const loader = new SnapshotLoader(
      {
        snapshot: async (seq) => {
          if (seq === 7) throw new InspectorRequestError(`${BASE}api/snapshot?seq=7`, 500, 'boom');
          return emptySnapshot(seq);
        },
      },
      (snapshot) => shown.push(snapshot.seq),
      (error, seq) => failures.push(`${seq}: ${(error as Error).message}`),
    );
    await loader.request(7);
    await loader.request(8);
    expect(failures).toEqual([`7: GET ${BASE}api/snapshot?seq=7: HTTP 500: boom`]);
    expect(shown).toEqual([8]);
  });
});
