/**
 * Goal: the inspector's HTTP server answers the routes of inspector-api.ts from a recorded file
 * and from a live EventLog, with the filters, the errors (404/400/405/403 as JSON {error}), the
 * headers (no-store, the CSP, no CORS) and a live stream that delivers appended events, beats
 * every 15 s on its clock, drops a client that does not read (bounded memory) and lets the live
 * source fall back to its idle cost. It refuses a non-loopback host unless allowed (then warns).
 * Method: real HTTP on 127.0.0.1 ephemeral ports with fetch and raw sockets; a hand-made event
 * file; a real simulator run's --events file (runScenario in-process); a virtual clock for the
 * heartbeat; a spy on Projection.apply for the live source's idle cost.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { runScenario } from '../../sim/run.js';
import type { LogEvent } from '../../src/core/event.js';
import { EventLog } from '../../src/core/event-log.js';
import { canonicalEventLine } from '../../src/core/event-sinks.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { loadEventFile } from '../../src/inspect/event-file.js';
import type {
  EventPage,
  InspectorMeta,
  MachineSummary,
  ProjectionSnapshot,
} from '../../src/inspect/inspector-api.js';
import {
  CONTENT_SECURITY_POLICY,
  InspectorServer,
  type InspectorServerOptions,
  isLoopbackHost,
  parseListenArg,
} from '../../src/inspect/inspector-server.js';
import { type InspectorSource, LiveSource, RecordedSource } from '../../src/inspect/inspector-source.js';
import { MACHINE_CATALOG } from '../../src/inspect/machine-catalog.js';
import { Projection } from '../../src/inspect/projection.js';

let dir: string;
const servers: InspectorServer[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'collie-inspector-'));
});
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  vi.restoreAllMocks();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function serve(
  source: InspectorSource,
  options: Partial<InspectorServerOptions> = {},
): Promise<{ server: InspectorServer; url: string; logs: string[] }> {
  const logs: string[] = [];
  const server = new InspectorServer({ source, log: (line) => logs.push(line), ...options });
  servers.push(server);
  const url = await server.start();
  return { server, url, logs };
}

async function getJson<T>(url: string): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T, headers: response.headers };
}

// ---- a hand-made file ----------------------------------------------------------------------------

const HAND_EVENTS: LogEvent[] = [
  { seq: 1, t: 0, actor: 'store/vdi/9196e5', type: 'vdi.created', data: { name: 'simvol', sizeBytes: 1 } },
  { seq: 2, t: 1, actor: 'store/vdi/9196e5', type: 'lock.acquired', data: { node: 'store:7000' } },
  { seq: 3, t: 2, actor: 'sheepdog/simvol@store:7000', type: 'backend.opened', data: { vid: 9541349 } },
  {
    seq: 4,
    t: 3,
    actor: 'sheepdog/simvol@store:7000/io',
    type: 'io.transition',
    data: { io: 1, to: 'Sending' },
  },
  { seq: 5, t: 4, actor: 'store/vdi/00abcd', type: 'vdi.created', data: { name: 'other' } },
  { seq: 6, t: 5, actor: 'store/vdi/00abcd', type: 'lock.released', data: { node: 'store:7001' } },
  { seq: 7, t: 6, actor: 'iscsi/session/1', type: 'session.created', data: { target: 'iqn.x' } },
  {
    seq: 8,
    t: 7,
    actor: 'sheepdog/simvol@store:7001/inode',
    type: 'inode.transition',
    data: { vid: '0x9196e5' },
  },
];

async function handSource(): Promise<RecordedSource> {
  const path = join(dir, 'hand.jsonl');
  await writeFile(path, HAND_EVENTS.map((e) => `${canonicalEventLine(e)}\n`).join(''));
  return new RecordedSource(await loadEventFile(path), 'hand.jsonl');
}

describe('recorded file', () => {
  test('meta, the page, its stylesheet and the machines', async () => {
    const { url } = await serve(await handSource());
    const meta = await getJson<InspectorMeta>(`${url}api/meta`);
    expect(meta.status).toBe(200);
    expect(meta.body).toEqual({
      source: 'file',
      title: 'hand.jsonl',
      header: null,
      firstSeq: 1,
      lastSeq: 8,
      violations: [],
      live: false,
    });
    const page = await fetch(url);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toMatch(/<html/i);
    const css = await fetch(`${url}assets/style.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');

    const machines = await getJson<MachineSummary[]>(`${url}api/machines`);
    expect(machines.body.map((m) => m.id)).toEqual(MACHINE_CATALOG.map((entry) => entry.id));
    for (const machine of machines.body) {
      expect(machine.states.length).toBeGreaterThan(0);
      expect(machine.svgUrl).toBe(`/api/machines/${machine.id}.svg`);
    }
    const svg = await fetch(new URL(machines.body[0]!.svgUrl, url));
    expect(svg.status).toBe(200);
    expect(svg.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect(await svg.text()).toMatch(/<svg[\s>]/);
  });

  test('every answer: no-store, the CSP, no CORS header', async () => {
    const { url } = await serve(await handSource());
    for (const path of ['', 'api/meta', 'api/events', 'api/nope', 'assets/style.css']) {
      const response = await fetch(`${url}${path}`, { headers: { origin: 'http://evil.example' } });
      expect(response.headers.get('cache-control'), path).toBe('no-store');
      expect(response.headers.get('content-security-policy'), path).toBe(CONTENT_SECURITY_POLICY);
      expect(response.headers.get('access-control-allow-origin'), path).toBeNull();
      await response.arrayBuffer();
    }
    expect(CONTENT_SECURITY_POLICY).toBe(
      "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    );
  });

  test('events: pages after a seq, filtered by actor, type prefix, vdi (name or vid) and free text', async () => {
    const { url } = await serve(await handSource());
    const seqs = async (query: string) => {
      const { status, body } = await getJson<EventPage>(`${url}api/events?${query}`);
      expect(status, query).toBe(200);
      expect(body.firstSeq).toBe(1);
      expect(body.lastSeq).toBe(8);
      return body.events.map((e) => e.seq);
    };
    expect(await seqs('')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await seqs('after=2&limit=3')).toEqual([3, 4, 5]);
    expect(await seqs('after=8')).toEqual([]);
    expect(await seqs('actor=store/vdi')).toEqual([1, 2, 5, 6]);
    expect(await seqs('type=lock.')).toEqual([2, 6]);
    expect(await seqs('type=lock.acquired')).toEqual([2]);
    // The VDI by name, by vid hex, with 0x: its store actor, its clients, data.vid in any form.
    for (const vdi of ['simvol', '9196e5', '0x9196E5'])
      expect(await seqs(`vdi=${vdi}`), vdi).toEqual([1, 2, 3, 4, 8]);
    expect(await seqs('vdi=other')).toEqual([5, 6]);
    expect(await seqs('vdi=nothing')).toEqual([]);
    expect(await seqs('text=SENDING')).toEqual([4]);
    expect(await seqs(`text=${encodeURIComponent('"node":"store:7001"')}`)).toEqual([6]);
    expect(await seqs('actor=simvol&type=io.&after=3')).toEqual([4]);
    expect(await seqs('limit=5000&actor=&text=')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test('snapshot: the newest by default, or after a given seq', async () => {
    const { url } = await serve(await handSource());
    const newest = await getJson<ProjectionSnapshot>(`${url}api/snapshot`);
    expect(newest.status).toBe(200);
    expect(newest.body.seq).toBe(8);
    expect(Array.isArray(newest.body.instances)).toBe(true);
    expect(Array.isArray(newest.body.coherence)).toBe(true);
    expect((await getJson<ProjectionSnapshot>(`${url}api/snapshot?seq=3`)).body.seq).toBe(3);
  });

  test('bad parameters are 400, unknown paths 404, other methods 405: all JSON {error} naming the fix', async () => {
    const { url } = await serve(await handSource());
    const cases: [string, number, RegExp][] = [
      ['api/events?limit=5001', 400, /limit must be a whole number from 1 to 5000, got 5001/],
      ['api/events?limit=0', 400, /limit must be a whole number from 1 to 5000/],
      ['api/events?after=-1', 400, /after="-1" is not a whole number/],
      ['api/events?after=abc', 400, /after="abc" is not a whole number/],
      [
        'api/events?actr=x',
        400,
        /parameter "actr" is not taken here \(it takes after, limit, actor, type, vdi, text\)/,
      ],
      ['api/events?type=a&type=b', 400, /"type" is given twice/],
      ['api/snapshot?seq=x', 400, /seq="x" is not a whole number/],
      ['api/snapshot?seq=9', 400, /seq 9 is past the newest event held \(8\)/],
      ['api/meta?x=1', 400, /this route takes none/],
      ['api/nope', 404, /no route \/api\/nope; the routes are/],
      ['api/machines/nope.svg', 404, /no machine "nope"; the machines are participant/],
      ['api/stream', 404, /no live stream: this inspector shows a recorded file/],
      ['assets/inspector-app.js', 404, /no asset inspector-app\.js \(page modules come from the build/],
      ['assets/Bad_Name.js', 404, /no asset "Bad_Name\.js"/],
      ['assets/..%2fevent-file.js', 404, /no asset/],
      ['favicon.ico', 404, /no route/],
    ];
    for (const [path, status, message] of cases) {
      const response = await getJson<{ error: string }>(`${url}${path}`);
      expect(response.status, path).toBe(status);
      expect(response.headers.get('content-type'), path).toBe('application/json; charset=utf-8');
      expect(response.body.error, path).toMatch(message);
    }
    const post = await fetch(`${url}api/meta`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(((await post.json()) as { error: string }).error).toMatch(/POST is not served/);
  });

  test('on loopback, a request for another Host (DNS rebinding) is refused', async () => {
    const { url } = await serve(await handSource());
    const answer = await rawRequest(
      url,
      'GET /api/meta HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 403/);
    expect(answer).toMatch(/"error":"Host \\"evil.example:80\\" is not this inspector's loopback address/);
    const local = await rawRequest(
      url,
      'GET /api/meta HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    );
    expect(local).toMatch(/^HTTP\/1\.1 200/);
  });
});

describe('a real simulator run', () => {
  test('sim run --events FILE: header, every event, snapshots along the run', async () => {
    const path = join(dir, 'seed-failover.jsonl');
    const result = await runScenario({ scenario: 'seed-failover', seed: 11, events: path });
    const file = await loadEventFile(path);
    expect(file.events).toHaveLength(result.stats.events);
    const { url } = await serve(new RecordedSource(file));
    const meta = (await getJson<InspectorMeta>(`${url}api/meta`)).body;
    expect(meta.header).toMatchObject({ format: 'collie-sim-events', scenario: 'seed-failover', seed: 11 });
    expect(meta.firstSeq).toBe(1);
    expect(meta.lastSeq).toBe(result.stats.events);
    // Page through everything: the server hands back the file's events, in order, once each.
    const seen: LogEvent[] = [];
    for (let after = 0; ; ) {
      const page = (await getJson<EventPage>(`${url}api/events?after=${after}&limit=100`)).body;
      if (page.events.length === 0) break;
      seen.push(...page.events);
      after = page.events.at(-1)!.seq;
    }
    expect(seen.map(canonicalEventLine)).toEqual(file.lines);
    const vdiEvents = (await getJson<EventPage>(`${url}api/events?vdi=simvol&limit=5000`)).body.events;
    expect(vdiEvents.length).toBeGreaterThan(0);
    expect(vdiEvents.some((e) => e.actor.startsWith('store/vdi/'))).toBe(true);
    expect(vdiEvents.some((e) => e.actor.startsWith('sheepdog/simvol@'))).toBe(true);
    const middle = Math.floor(meta.lastSeq / 2);
    expect((await getJson<ProjectionSnapshot>(`${url}api/snapshot?seq=${middle}`)).status).toBe(200);
  });
});

// ---- live ----------------------------------------------------------------------------------------

/** Reads an SSE response body as text as it arrives. */
class StreamReader {
  text = '';
  readonly cancel: () => void;
  readonly done: Promise<void>;

  constructor(response: Response) {
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    this.cancel = () => {
      reader.cancel().catch(() => undefined);
    };
    this.done = (async () => {
      for (;;) {
        const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (chunk.done) return;
        this.text += decoder.decode(chunk.value, { stream: true });
      }
    })();
  }

  async waitFor(predicate: (text: string) => boolean, what: string): Promise<void> {
    const deadline = performance.now() + 5_000;
    while (!predicate(this.text)) {
      if (performance.now() > deadline)
        throw new Error(`stream: no ${what} within 5 s; got ${this.text.slice(-300)}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

function logEvents(text: string): LogEvent[] {
  return [...text.matchAll(/event: log\ndata: (.*)\n\n/g)].map((match) => JSON.parse(match[1]!) as LogEvent);
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`no ${what} within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('live EventLog', () => {
  test('the stream delivers each appended event as `event: log`, beats every 15 s, and ends on close()', async () => {
    const clock = new VirtualClock();
    const log = new EventLog(clock);
    log.append('before', 'x.before', {});
    const source = LiveSource.follow(log, { title: 'test process' });
    const { server, url } = await serve(source, { clock });
    const response = await fetch(`${url}api/stream`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const stream = new StreamReader(response);
    await until(() => server.streamClients === 1, 'stream client');

    const appended = [
      log.append('iscsi/session/1', 'session.created', { initiator: 'iqn.i' }),
      log.append('sheepdog/v@store:7000/io', 'io.transition', { io: 1, from: 'planned', to: 'sending' }),
      log.append('store/vdi/1', 'lock.acquired', { node: 'n' }),
    ];
    await stream.waitFor((text) => logEvents(text).length === 3, 'three events');
    expect(logEvents(stream.text)).toEqual(appended);
    expect(stream.text).toContain(`event: log\ndata: ${canonicalEventLine(appended[0]!)}\n\n`);

    expect(stream.text).not.toContain(': heartbeat');
    clock.advanceBy(15_000);
    await stream.waitFor((text) => text.includes(': heartbeat\n\n'), 'heartbeat');

    const meta = (await getJson<InspectorMeta>(`${url}api/meta`)).body;
    expect(meta).toMatchObject({
      source: 'live',
      title: 'test process',
      live: true,
      firstSeq: 2,
      lastSeq: 4,
    });
    const page = (await getJson<EventPage>(`${url}api/events?type=io.`)).body;
    expect(page.events).toEqual([appended[1]]);
    expect((await getJson<ProjectionSnapshot>(`${url}api/snapshot?seq=4`)).status).toBe(200);

    await server.close();
    await stream.done;
    expect(server.streamClients).toBe(0);
    expect(clock.pendingCount).toBe(0);
  });

  test('the ring keeps the last N events; a closed log makes the source not live', async () => {
    const log = new EventLog(new VirtualClock());
    const source = LiveSource.follow(log, { title: 'ring', capacity: 10 });
    for (let i = 0; i < 25; i++) log.append('a', 't.x', { i });
    const { url } = await serve(source);
    const page = (await getJson<EventPage>(`${url}api/events`)).body;
    expect(page.events.map((e) => e.seq)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(page.firstSeq).toBe(16);
    expect(
      (await getJson<EventPage>(`${url}api/events?after=20&limit=2`)).body.events.map((e) => e.seq),
    ).toEqual([21, 22]);
    await log.close();
    expect((await getJson<InspectorMeta>(`${url}api/meta`)).body).toMatchObject({ live: false, lastSeq: 25 });
  });

  test('idle, per-IO events keep a small ring of their own; the list merges both by seq', async () => {
    const log = new EventLog(new VirtualClock());
    const source = LiveSource.follow(log, { title: 'rings', capacity: 4, idleDeferredCapacity: 3 });
    for (let i = 1; i <= 6; i++) {
      log.append('sheepdog/v@s/io', 'io.transition', { io: i });
      if (i % 2 === 0) log.append('store/vdi/1', 'lock.acquired', { i });
    }
    // seq: io1=1 io2=2 lock=3 io3=4 io4=5 lock=6 io5=7 io6=8 lock=9
    const { url } = await serve(source);
    const page = (await getJson<EventPage>(`${url}api/events`)).body;
    expect(page.events.map((e) => e.seq)).toEqual([3, 5, 6, 7, 8, 9]);
    expect(page).toMatchObject({ firstSeq: 3, lastSeq: 9 });
    expect(
      (await getJson<EventPage>(`${url}api/events?after=5&limit=2`)).body.events.map((e) => e.seq),
    ).toEqual([6, 7]);
    expect((await getJson<EventPage>(`${url}api/events?type=lock`)).body.events.map((e) => e.seq)).toEqual([
      3, 6, 9,
    ]);
  });

  test('with no stream client, per-IO events skip the projection; with one, every event is projected', async () => {
    const apply = vi.spyOn(Projection.prototype, 'apply');
    const log = new EventLog(new VirtualClock());
    const source = LiveSource.follow(log, { title: 'idle' });
    log.append('sheepdog/v@s/io', 'io.transition', { io: 1 });
    log.append('store/vdi/1', 'lock.acquired', {});
    expect(apply.mock.calls.map(([event]) => event.type)).toEqual(['lock.acquired']);

    const { server, url } = await serve(source);
    const stream = new StreamReader(await fetch(`${url}api/stream`));
    await until(() => source.listenerCount === 1, 'listener');
    log.append('sheepdog/v@s/io', 'io.transition', { io: 2 });
    expect(apply.mock.calls.map(([event]) => event.type)).toEqual(['lock.acquired', 'io.transition']);

    stream.cancel();
    await until(() => server.streamClients === 0 && source.listenerCount === 0, 'the client to go');
    log.append('sheepdog/v@s/io', 'io.transition', { io: 3 });
    expect(apply).toHaveBeenCalledTimes(2);
    // The event list still has them all.
    expect((await getJson<EventPage>(`${url}api/events?type=io.`)).body.events.map((e) => e.data)).toEqual([
      { io: 1 },
      { io: 2 },
      { io: 3 },
    ]);
  });

  test('a client that does not read is dropped with a log line once its backlog passes the bound', async () => {
    const log = new EventLog(new VirtualClock());
    const source = LiveSource.follow(log, { title: 'slow', capacity: 1000 });
    const backlogMax = 256 * 1024;
    const { server, url, logs } = await serve(source, { streamBacklogBytesMax: backlogMax });
    const socket = await openPaused(url, 'GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    try {
      await until(() => server.streamClients === 1, 'stream client');
      const payload = 'x'.repeat(1000);
      // Kernel socket buffers take some megabytes first; then the backlog grows to the bound.
      for (let i = 0; i < 200_000 && server.streamClients > 0; i++) {
        log.append('bulk', 'bulk.event', { i, payload });
        if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(server.streamClients).toBe(0);
      expect(source.listenerCount).toBe(0);
      expect(logs.some((line) => /dropped the \/api\/stream client .*reads too slowly/.test(line))).toBe(
        true,
      );
      // Still serving others.
      expect((await getJson<InspectorMeta>(`${url}api/meta`)).status).toBe(200);
    } finally {
      socket.destroy();
    }
  });

  test('the simulator feeds a live source as a sink and every event is projected', async () => {
    const apply = vi.spyOn(Projection.prototype, 'apply');
    const source = new LiveSource({ title: 'sim', deferWhileIdle: null });
    const result = await runScenario({ scenario: 'seed-failover', seed: 3, extraSinks: [source.asSink()] });
    expect(source.lastSeq).toBe(result.stats.events);
    expect(source.firstSeq).toBe(1);
    expect(apply).toHaveBeenCalledTimes(result.stats.events);
  });
});

describe('listening', () => {
  test('a host that is not loopback is refused unless allowed, then it warns', async () => {
    const log = new EventLog(new VirtualClock());
    const source = LiveSource.follow(log, { title: 'x' });
    const refused = new InspectorServer({ source, host: '0.0.0.0', log: () => undefined });
    await expect(refused.start()).rejects.toThrow(/listens on loopback only, and 0\.0\.0\.0 is not/);
    const { url, logs } = await serve(source, { host: '0.0.0.0', allowNonLoopback: true });
    expect(url).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/$/);
    expect(logs.join('\n')).toMatch(/WARNING: listening on 0\.0\.0\.0:\d+, not loopback/);
    const port = new URL(url).port;
    expect((await fetch(`http://127.0.0.1:${port}/api/meta`)).status).toBe(200);
  });

  test('a port in use is named with the fix', async () => {
    const source = new LiveSource({ title: 'x' });
    const { server } = await serve(source);
    const second = new InspectorServer({ source, port: server.port, log: () => undefined });
    await expect(second.start()).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
  });

  test('[HOST:]PORT parsing and what counts as loopback', () => {
    expect(parseListenArg('0', '--inspect')).toEqual({ host: '127.0.0.1', port: 0, hostGiven: false });
    expect(parseListenArg('127.0.0.1:8080', '--inspect')).toEqual({
      host: '127.0.0.1',
      port: 8080,
      hostGiven: true,
    });
    expect(parseListenArg('[::1]:9', '--listen')).toEqual({ host: '::1', port: 9, hostGiven: true });
    for (const bad of ['', 'x', '70000', 'host:', ':80', 'a:b:1'])
      expect(() => parseListenArg(bad, '--inspect'), bad).toThrow(/--inspect .* is not \[HOST:\]PORT/);
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '10.0.0.1', '::', 'example.com'])
      expect(isLoopbackHost(host), host).toBe(false);
  });
});

// ---- raw sockets ---------------------------------------------------------------------------------

function rawRequest(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.write(request);
  });
}

/** Sends a request, then never reads the answer (a stalled browser tab). */
function openPaused(url: string, request: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ port: Number(port), host: hostname }, () => {
      socket.write(request);
      socket.pause();
      resolve(socket);
    });
    socket.on('error', reject);
  });
}
