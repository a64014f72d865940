/**
 * Goal: the admin API client (src/admin/admin-client.ts) asks every route of the contract
 * (admin-api.ts) the way it says — method, path with the IQN / VDI name URL-encoded, query,
 * Bearer token, JSON body — and hands back the answer; it finds the daemon and token from flags,
 * the environment and the data directory; and every failure is one line naming the problem and
 * the fix: the daemon's `{ error }` for 401/404/409/502, an answer that is not the admin API,
 * nobody listening (a real closed port), a timeout, a missing or malformed runtime file.
 * Method: msw 2 intercepts the global fetch (unhandled requests fail the test; the closed-port
 * case passes through to the real network). Runtime and token files live in temp directories.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { delay, HttpResponse, http, passthrough } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type {
  AdminStatus,
  AluaRow,
  LockRow,
  LunInfo,
  SessionInfo,
  TargetInfo,
  VdiRow,
} from '../../src/admin/admin-api.js';
import {
  AdminClient,
  AdminClientError,
  connectAdminClient,
  locateAdminDaemon,
} from '../../src/admin/admin-client.js';

const BASE = 'http://127.0.0.1:8260/';
const TOKEN = '0123456789abcdef'.repeat(4);
const IQN = 'iqn.2026-11.org.collie:vol0';
const IQN_ENCODED = 'iqn.2026-11.org.collie%3Avol0';
const server = setupServer();

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const LUN: LunInfo = {
  lun: 1,
  backing: 'mem:64M',
  sizeBytes: 64 * 1024 * 1024,
  blockSizeBytes: 512,
  readOnly: false,
  thin: true,
};
const TARGET: TargetInfo = {
  iqn: IQN,
  alias: 'vol0',
  nodes: [1],
  luns: [LUN],
  acl: { initiators: [], addresses: [] },
  chap: { users: [] },
};
const SESSION: SessionInfo = {
  node: 1,
  tsih: 3,
  isid: '400001370000',
  initiator: 'iqn.1994-05.com.redhat:host1',
  target: IQN,
  connection: { id: 'c1', local: '127.0.0.1:3260', remote: '127.0.0.1:51234' },
  parameters: { HeaderDigest: 'None', MaxBurstLength: '262144' },
  activeTasks: 0,
};
const VDI: VdiRow = {
  name: 'vol 1/a',
  vid: '7c2b25',
  snapshot: false,
  clone: false,
  snapid: 0,
  tag: '',
  sizeBytes: 10 * 1024 ** 3,
  copies: 3,
  createdAt: '2026-11-02T10:00:00.000Z',
};
const LOCK: LockRow = { name: 'vol0', vid: '7c2b25', state: 'shared', holders: ['node 127.0.0.1:7000'] };
const ALUA: AluaRow = {
  target: IQN,
  lun: 1,
  policy: 'active-active',
  groups: [{ group: 1, state: 'active/optimized' }],
};
const STATUS: AdminStatus = {
  version: '0.1.0',
  pid: 4242,
  kind: 'up',
  startedAt: '2026-11-02T10:00:00.000Z',
  uptimeSeconds: 75,
  nodes: [{ nodeId: 1, portals: ['127.0.0.1:3260'] }],
  store: '127.0.0.1:7000',
  sessions: 1,
  urls: { inspector: BASE, metrics: `${BASE}metrics`, admin: `${BASE}api/admin` },
};

interface SeenRequest {
  readonly method: string;
  /** Path and query exactly as sent (percent-encoding kept). */
  readonly path: string;
  readonly authorization: string | null;
  readonly contentType: string | null;
  readonly body: unknown;
}

/** Answers every admin request with `answer` (status `status`) and records what came. */
function recordRequests(answer: unknown, status = 200): SeenRequest[] {
  const seen: SeenRequest[] = [];
  server.use(
    http.all(`${BASE}api/admin/*`, async ({ request }) => {
      const url = new URL(request.url);
      const text = await request.text();
      seen.push({
        method: request.method,
        path: `${url.pathname}${url.search}`,
        authorization: request.headers.get('authorization'),
        contentType: request.headers.get('content-type'),
        body: text === '' ? undefined : JSON.parse(text),
      });
      return HttpResponse.json(answer as object, { status });
    }),
  );
  return seen;
}

function client(options: { timeoutMs?: number; urlSource?: string; url?: string } = {}): AdminClient {
  return new AdminClient({ url: BASE, token: TOKEN, urlSource: '.collie/admin.json', ...options });
}

/** The AdminClientError `promise` rejects with (fails the test if it resolves or throws something else). */
async function failure(promise: Promise<unknown>): Promise<AdminClientError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AdminClientError);
  const clientError = error as AdminClientError;
  expect(clientError.message).not.toContain('\n');
  expect(clientError.message).not.toContain(TOKEN);
  return clientError;
}

type RouteCase = readonly [
  name: string,
  call: (c: AdminClient) => Promise<unknown>,
  method: string,
  path: string,
  body: unknown,
  answer: unknown,
  status: number,
];

const ROUTES: readonly RouteCase[] = [
  ['status', (c) => c.status(), 'GET', '/api/admin/status', undefined, STATUS, 200],
  ['targets', (c) => c.targets(), 'GET', '/api/admin/targets', undefined, [TARGET], 200],
  [
    'addTarget',
    (c) => c.addTarget({ iqn: IQN, alias: 'vol0' }),
    'POST',
    '/api/admin/targets',
    { iqn: IQN, alias: 'vol0' },
    TARGET,
    201,
  ],
  [
    'removeTarget',
    (c) => c.removeTarget(IQN),
    'DELETE',
    `/api/admin/targets/${IQN_ENCODED}`,
    undefined,
    { removed: IQN },
    200,
  ],
  [
    'addLun',
    (c) => c.addLun(IQN, { lun: 2, backing: 'mem:64M' }),
    'POST',
    `/api/admin/targets/${IQN_ENCODED}/luns`,
    { lun: 2, backing: 'mem:64M' },
    { ...LUN, lun: 2 },
    201,
  ],
  [
    'removeLun',
    (c) => c.removeLun(IQN, 2),
    'DELETE',
    `/api/admin/targets/${IQN_ENCODED}/luns/2`,
    undefined,
    { removed: 2 },
    200,
  ],
  [
    'resizeLun',
    (c) => c.resizeLun(IQN, 1, { sizeBytes: 128 * 1024 * 1024 }),
    'POST',
    `/api/admin/targets/${IQN_ENCODED}/luns/1/resize`,
    { sizeBytes: 128 * 1024 * 1024 },
    { ...LUN, sizeBytes: 128 * 1024 * 1024 },
    200,
  ],
  [
    'setAcl',
    (c) => c.setAcl(IQN, { initiators: ['iqn.1994-05.com.redhat:host1'], addresses: ['10.0.0.0/8'] }),
    'PUT',
    `/api/admin/targets/${IQN_ENCODED}/acl`,
    { initiators: ['iqn.1994-05.com.redhat:host1'], addresses: ['10.0.0.0/8'] },
    TARGET,
    200,
  ],
  [
    'setChap',
    (c) =>
      c.setChap(IQN, {
        user: 'alice',
        secret: 'secret-of-alice',
        mutual: { user: 'tgt', secret: 'secret-of-target' },
      }),
    'PUT',
    `/api/admin/targets/${IQN_ENCODED}/chap`,
    { user: 'alice', secret: 'secret-of-alice', mutual: { user: 'tgt', secret: 'secret-of-target' } },
    { ...TARGET, chap: { users: ['alice'], mutualUser: 'tgt' } },
    200,
  ],
  [
    'clearChap',
    (c) => c.clearChap(IQN),
    'DELETE',
    `/api/admin/targets/${IQN_ENCODED}/chap`,
    undefined,
    TARGET,
    200,
  ],
  ['sessions', (c) => c.sessions(), 'GET', '/api/admin/sessions', undefined, [SESSION], 200],
  [
    'killSession',
    (c) => c.killSession(3),
    'DELETE',
    '/api/admin/sessions/3',
    undefined,
    { killed: SESSION },
    200,
  ],
  [
    'killSession on a node',
    (c) => c.killSession(3, 2),
    'DELETE',
    '/api/admin/sessions/3?node=2',
    undefined,
    { killed: SESSION },
    200,
  ],
  ['vdis', (c) => c.vdis(), 'GET', '/api/admin/vdis', undefined, [VDI], 200],
  [
    'createVdi',
    (c) => c.createVdi({ name: 'vol 1/a', sizeBytes: 10 * 1024 ** 3 }),
    'POST',
    '/api/admin/vdis',
    { name: 'vol 1/a', sizeBytes: 10 * 1024 ** 3 },
    VDI,
    201,
  ],
  [
    'snapshotVdi',
    (c) => c.snapshotVdi('vol 1/a', { tag: 'before' }),
    'POST',
    '/api/admin/vdis/vol%201%2Fa/snapshot',
    { tag: 'before' },
    { ...VDI, snapshot: true, snapid: 1, tag: 'before' },
    201,
  ],
  [
    'snapshotVdi without a tag',
    (c) => c.snapshotVdi('vol0'),
    'POST',
    '/api/admin/vdis/vol0/snapshot',
    {},
    { ...VDI, snapshot: true, snapid: 1 },
    201,
  ],
  [
    'cloneVdi',
    (c) => c.cloneVdi('vol0', { snapshot: 'before', name: 'vol0-copy' }),
    'POST',
    '/api/admin/vdis/vol0/clone',
    { snapshot: 'before', name: 'vol0-copy' },
    { ...VDI, name: 'vol0-copy', clone: true },
    201,
  ],
  [
    'deleteVdi',
    (c) => c.deleteVdi('vol 1/a'),
    'DELETE',
    '/api/admin/vdis/vol%201%2Fa',
    undefined,
    { removed: 'vol 1/a' },
    200,
  ],
  [
    'deleteVdi of a snapshot',
    (c) => c.deleteVdi('vol0', 'before & after'),
    'DELETE',
    '/api/admin/vdis/vol0?snapshot=before+%26+after',
    undefined,
    { removed: 'vol0' },
    200,
  ],
  ['locks', (c) => c.locks(), 'GET', '/api/admin/locks', undefined, [LOCK], 200],
  [
    'unlock',
    (c) => c.unlock('vol0'),
    'DELETE',
    '/api/admin/locks/vol0',
    undefined,
    { unlocked: 'vol0' },
    200,
  ],
  ['alua', (c) => c.alua(), 'GET', '/api/admin/alua', undefined, [ALUA], 200],
];

describe('AdminClient: one request per route', () => {
  test.each(ROUTES)('%s', async (_name, call, method, path, body, answer, status) => {
    const seen = recordRequests(answer, status);
    expect(await call(client())).toEqual(answer);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toEqual({
      method,
      path,
      authorization: `Bearer ${TOKEN}`,
      contentType: body === undefined ? null : 'application/json',
      body,
    });
  });

  test('a daemon URL with a path prefix keeps it', async () => {
    const seen: string[] = [];
    server.use(
      http.get('http://127.0.0.1:8260/collie/api/admin/status', ({ request }) => {
        seen.push(request.url);
        return HttpResponse.json(STATUS);
      }),
    );
    await client({ url: 'http://127.0.0.1:8260/collie' }).status();
    expect(seen).toEqual(['http://127.0.0.1:8260/collie/api/admin/status']);
  });
});

describe('AdminClient: failures are one line naming the problem and the fix', () => {
  test("401: the daemon's own message", async () => {
    const message = 'the admin token is wrong: use the one in .collie/admin-token (or give --token)';
    recordRequests({ error: message }, 401);
    const error = await failure(client().targets());
    expect(error.message).toBe(message);
    expect(error.status).toBe(401);
    expect(error.kind).toBe('refused');
  });

  test.each([
    [404, 'no VDI "vol9" on 127.0.0.1:7000 (list them: collie adm vdi list)'],
    [409, 'LUN 1 exists on iqn.2026-11.org.collie:vol0 (choose another --lun, or remove it first)'],
    [502, 'the store at 127.0.0.1:7000 answered NO_SPACE (free space in its store)'],
  ])('%i: the server message as it is', async (status, message) => {
    recordRequests({ error: message }, status);
    const error = await failure(client().deleteVdi('vol9'));
    expect(error.message).toBe(message);
    expect(error.status).toBe(status);
  });

  test('a message with line breaks is printed on one line', async () => {
    recordRequests({ error: 'first part\n  second part\r\n' }, 400);
    expect((await failure(client().status())).message).toBe('first part second part');
  });

  test('a non-JSON answer says what came back and that it is not the admin API', async () => {
    server.use(
      http.get(`${BASE}api/admin/targets`, () =>
        HttpResponse.html(
          '<!doctype html>\n<html><body>Welcome to nginx! If you see this page, the web server works</body></html>',
        ),
      ),
    );
    const error = await failure(client().targets());
    expect(error.message).toBe(
      `${BASE}api/admin/targets answered HTTP 200 (text/html) "<!doctype html> <html><body>Welcome to nginx! If you see thi…", not JSON: ` +
        'that is not a Collie admin API (the URL came from .collie/admin.json; if that Collie is gone, restart it (npm start) or give --data DIR or --url URL)',
    );
    expect(error.kind).toBe('not-admin-api');
  });

  test('an error status without an "error" field, and an answer of the wrong shape, are not the admin API', async () => {
    server.use(
      http.get(`${BASE}api/admin/status`, () => HttpResponse.json({ detail: 'nope' }, { status: 404 })),
    );
    const missing = await failure(client({ urlSource: '--url' }).status());
    expect(missing.message).toBe(
      `${BASE}api/admin/status answered HTTP 404 "{"detail":"nope"}" without an "error" message: ` +
        'that is not a Collie admin API (give --url the address of a running Collie)',
    );
    server.use(http.get(`${BASE}api/admin/targets`, () => HttpResponse.json({ targets: [] })));
    expect((await failure(client().targets())).message).toContain(
      'where a list belongs: that is not a Collie admin API',
    );
  });

  test('nobody listening (a real closed port): no daemon answers, is it running', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/`;
    server.use(http.all(`${url}*`, () => passthrough()));
    const error = await failure(client({ url }).status());
    expect(error.message).toBe(
      `no Collie daemon answers at ${url} (from .collie/admin.json; is it running? start it: npm start)`,
    );
    expect(error.kind).toBe('unreachable');
  });

  test('a daemon that does not answer in time: a bounded wait, then one line', async () => {
    server.use(
      http.get(`${BASE}api/admin/sessions`, async () => {
        await delay('infinite');
        return HttpResponse.json([]);
      }),
    );
    const error = await failure(client({ timeoutMs: 50 }).sessions());
    expect(error.message).toBe(
      `the Collie daemon at ${BASE} did not answer within 50 ms (from .collie/admin.json; is it hung? check its log, or restart it: npm start)`,
    );
    expect(error.kind).toBe('timeout');
  });
});

describe('finding the daemon: --url, admin.json, --token, COLLIE_ADMIN_TOKEN, admin-token', () => {
  let data: string;

  beforeEach(async () => {
    data = await mkdtemp(join(tmpdir(), 'collie-adm-'));
  });

  afterEach(async () => {
    await rm(data, { recursive: true, force: true });
  });

  async function runtimeFile(content: string): Promise<void> {
    await writeFile(join(data, 'admin.json'), content);
  }

  test('admin.json and admin-token of the data directory', async () => {
    await runtimeFile(
      JSON.stringify({ url: 'http://127.0.0.1:8261', pid: 1, startedAt: '2026-11-02T10:00:00Z' }),
    );
    await writeFile(join(data, 'admin-token'), `${TOKEN}\n`, { mode: 0o600 });
    expect(await locateAdminDaemon({ data, env: {} })).toEqual({
      url: 'http://127.0.0.1:8261/',
      token: TOKEN,
      urlSource: join(data, 'admin.json'),
    });
  });

  test('--token wins over COLLIE_ADMIN_TOKEN, which wins over the file; --url needs no admin.json', async () => {
    await writeFile(join(data, 'admin-token'), 'from-file\n');
    const env = { COLLIE_ADMIN_TOKEN: 'from-env' };
    expect(await locateAdminDaemon({ data, url: BASE, env })).toEqual({
      url: BASE,
      token: 'from-env',
      urlSource: '--url',
    });
    expect((await locateAdminDaemon({ data, url: BASE, token: 'from-flag', env })).token).toBe('from-flag');
    expect((await locateAdminDaemon({ data, url: BASE, env: {} })).token).toBe('from-file');
  });

  test('no admin.json: no running Collie found, start one or say where', async () => {
    const error = await failure(locateAdminDaemon({ data, env: {} }));
    expect(error.message).toBe(
      `no running Collie found in ${data} (no ${data}/admin.json): start one with npm start, or give --data DIR or --url URL`,
    );
    expect(error.kind).toBe('not-found');
  });

  test('the default data directory is .collie (relative to the working directory)', async () => {
    // A Collie running in this checkout would be found there; both outcomes name .collie.
    const outcome = await locateAdminDaemon({ token: 'x', env: {} }).then(
      (location) => location.urlSource,
      (error: unknown) => (error as Error).message,
    );
    expect(outcome).toMatch(
      /^\.collie\/admin\.json$|^no running Collie found in \.collie \(no \.collie\/admin\.json\)/,
    );
  });

  test('no token anywhere: names the token file and the flags', async () => {
    const error = await failure(locateAdminDaemon({ data, url: BASE, env: {} }));
    expect(error.message).toBe(
      `no running Collie found in ${data} (no ${data}/admin-token): start one with npm start, or give --data DIR or --token TOKEN`,
    );
  });

  test('a malformed admin.json names the file and the fix', async () => {
    await runtimeFile('{"url": ');
    expect((await failure(locateAdminDaemon({ data, env: {} }))).message).toBe(
      `${data}/admin.json is not JSON, so it names no Collie daemon: remove it if no Collie runs there and start one (npm start), or give --url URL`,
    );
    await runtimeFile('{"pid": 1}');
    expect((await failure(locateAdminDaemon({ data, env: {} }))).message).toBe(
      `${data}/admin.json has no "url": remove it if no Collie runs there and start one (npm start), or give --url URL`,
    );
    await runtimeFile('{"url": "ftp://x/"}');
    expect((await failure(locateAdminDaemon({ data, env: {} }))).kind).toBe('bad-setup');
  });

  test('a bad --url and an empty token file', async () => {
    expect((await failure(locateAdminDaemon({ data, url: 'ftp://127.0.0.1:8260/', env: {} }))).message).toBe(
      '--url: "ftp://127.0.0.1:8260/" is not an http URL: give one like http://127.0.0.1:8260/',
    );
    expect((await failure(locateAdminDaemon({ data, url: '127.0.0.1:8260', env: {} }))).message).toBe(
      '--url: "127.0.0.1:8260" is not a URL: give one like http://127.0.0.1:8260/',
    );
    expect((await failure(locateAdminDaemon({ data, url: 'not a url', env: {} }))).message).toBe(
      '--url: "not a url" is not a URL: give one like http://127.0.0.1:8260/',
    );
    await writeFile(join(data, 'admin-token'), '\n');
    expect((await failure(locateAdminDaemon({ data, url: BASE, env: {} }))).message).toBe(
      `${data}/admin-token is empty: restart Collie to write a new token (npm start), or give --token TOKEN`,
    );
  });

  test('connectAdminClient sends the token of the file to the URL of admin.json', async () => {
    await runtimeFile(JSON.stringify({ url: BASE, pid: 1, startedAt: '2026-11-02T10:00:00Z' }));
    await writeFile(join(data, 'admin-token'), `${TOKEN}\n`);
    const seen = recordRequests([]);
    const connected = await connectAdminClient({ data, env: {} });
    expect(await connected.alua()).toEqual([]);
    expect(seen[0]?.authorization).toBe(`Bearer ${TOKEN}`);
  });
});

/** A port on 127.0.0.1 that nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
