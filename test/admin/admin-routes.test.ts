/**
 * Goal: the admin API's HTTP side (admin-routes.ts) answers every route of admin-api.ts as the
 * contract says, on the same local server as the inspector: the bearer token before anything
 * else (401 for none, a wrong one, one of another length), 404/405/400/413 as JSON naming the
 * fix, zod checks that name the field, an AdminControl's AdminError passed through, anything else
 * a logged 500; the Host check against DNS rebinding; `/metrics` without a token and with the
 * registry's content type; one log line per change, never the token or a CHAP secret.
 * Method: a real InspectorServer on 127.0.0.1 (ephemeral port) with the admin and metrics mounts,
 * driven by fetch, node:http and raw sockets; an in-memory AdminControl (our own interface) that
 * records its calls; a pino logger writing into an array.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, test } from 'vitest';
import {
  ADMIN_BODY_BYTES_MAX,
  type AddLunRequest,
  type AddTargetRequest,
  type AdminControl,
  AdminError,
  type AdminStatus,
  type AluaRow,
  type ChapRequest,
  type LockRow,
  type LunInfo,
  type MetricsText,
  type SessionInfo,
  type TargetInfo,
  type VdiRow,
} from '../../src/admin/admin-api.js';
import { adminMount, metricsMount } from '../../src/admin/admin-routes.js';
import { createLogger } from '../../src/core/logger.js';
import { InspectorServer } from '../../src/inspect/inspector-server.js';
import { LiveSource } from '../../src/inspect/inspector-source.js';

const TOKEN = 'ab'.repeat(32);
const SECRET = 'very-secret-chap-password';
const IQN = 'iqn.2026-11.org.collie:vol0';

// ---- an in-memory AdminControl ----------------------------------------------------------------------

function vdiRow(name: string, extra: Partial<VdiRow> = {}): VdiRow {
  return {
    name,
    vid: 'abc123',
    snapshot: false,
    clone: false,
    snapid: 0,
    tag: '',
    sizeBytes: 1 << 20,
    copies: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...extra,
  };
}

class FakeControl implements AdminControl {
  readonly calls: unknown[][] = [];
  readonly targetMap = new Map<string, TargetInfo>();
  readonly sessionList: SessionInfo[] = [
    {
      node: 2,
      tsih: 5,
      isid: '400001370000',
      initiator: 'iqn.1993-08.org.debian:01:abc',
      target: IQN,
      parameters: { HeaderDigest: 'None' },
      activeTasks: 0,
    },
  ];
  readonly vdiList: VdiRow[] = [vdiRow('vol0')];
  failWith: Error | undefined;

  constructor() {
    this.targetMap.set(IQN, this.target(IQN));
  }

  private target(iqn: string, alias?: string): TargetInfo {
    return {
      iqn,
      ...(alias === undefined ? {} : { alias }),
      nodes: [1],
      luns: [],
      acl: { initiators: [], addresses: [] },
      chap: { users: [] },
    };
  }

  private record(...call: unknown[]): void {
    this.calls.push(call);
    if (this.failWith !== undefined) throw this.failWith;
  }

  private existing(iqn: string): TargetInfo {
    const found = this.targetMap.get(iqn);
    if (found === undefined) throw new AdminError(404, `no target ${iqn} (collie adm target list)`);
    return found;
  }

  status(): AdminStatus {
    this.record('status');
    return {
      version: '0.1.0',
      pid: 1,
      kind: 'up',
      startedAt: '2026-01-01T00:00:00.000Z',
      uptimeSeconds: 1,
      nodes: [{ nodeId: 1, portals: ['127.0.0.1:3260'] }],
      store: '127.0.0.1:7000',
      sessions: this.sessionList.length,
      urls: { inspector: 'x', metrics: 'y', admin: 'z' },
    };
  }
  targets(): TargetInfo[] {
    this.record('targets');
    return [...this.targetMap.values()];
  }
  async addTarget(request: AddTargetRequest): Promise<TargetInfo> {
    this.record('addTarget', request);
    if (this.targetMap.has(request.iqn)) throw new AdminError(409, `target ${request.iqn} exists`);
    const made = this.target(request.iqn, request.alias);
    this.targetMap.set(request.iqn, made);
    return made;
  }
  async removeTarget(iqn: string): Promise<void> {
    this.record('removeTarget', iqn);
    this.existing(iqn);
    this.targetMap.delete(iqn);
  }
  async addLun(iqn: string, request: AddLunRequest): Promise<LunInfo> {
    this.record('addLun', iqn, request);
    this.existing(iqn);
    return {
      lun: request.lun ?? 1,
      backing: request.backing,
      sizeBytes: 1 << 20,
      blockSizeBytes: 512,
      readOnly: false,
      thin: true,
    };
  }
  async removeLun(iqn: string, lun: number): Promise<void> {
    this.record('removeLun', iqn, lun);
    this.existing(iqn);
  }
  async resizeLun(iqn: string, lun: number, request: { sizeBytes: number }): Promise<LunInfo> {
    this.record('resizeLun', iqn, lun, request);
    this.existing(iqn);
    return {
      lun,
      backing: 'mem:1M',
      sizeBytes: request.sizeBytes,
      blockSizeBytes: 512,
      readOnly: false,
      thin: true,
    };
  }
  setAcl(
    iqn: string,
    request: { initiators?: readonly string[]; addresses?: readonly string[] },
  ): TargetInfo {
    this.record('setAcl', iqn, request);
    return {
      ...this.existing(iqn),
      acl: { initiators: request.initiators ?? [], addresses: request.addresses ?? [] },
    };
  }
  setChap(iqn: string, request: ChapRequest | undefined): TargetInfo {
    this.record('setChap', iqn, request);
    return {
      ...this.existing(iqn),
      chap: request === undefined ? { users: [] } : { users: [request.user] },
    };
  }
  sessions(): SessionInfo[] {
    this.record('sessions');
    return this.sessionList;
  }
  killSession(tsih: number, node: number | undefined): SessionInfo {
    this.record('killSession', tsih, node);
    const found = this.sessionList.find(
      (session) => session.tsih === tsih && (node === undefined || session.node === node),
    );
    if (found === undefined) throw new AdminError(404, `no session ${tsih} (collie adm session list)`);
    return found;
  }
  async vdis(): Promise<VdiRow[]> {
    this.record('vdis');
    return this.vdiList;
  }
  async createVdi(request: { name: string; sizeBytes: number }): Promise<VdiRow> {
    this.record('createVdi', request);
    return vdiRow(request.name, { sizeBytes: request.sizeBytes });
  }
  async snapshotVdi(name: string, request: { tag?: string }): Promise<VdiRow> {
    this.record('snapshotVdi', name, request);
    if (name !== 'vol0') throw new AdminError(404, `no VDI "${name}" (collie adm vdi list)`);
    return vdiRow(name, { snapshot: true, snapid: 1, tag: request.tag ?? '' });
  }
  async cloneVdi(name: string, request: { snapshot: string; name: string }): Promise<VdiRow> {
    this.record('cloneVdi', name, request);
    return vdiRow(request.name, { clone: true });
  }
  async deleteVdi(name: string, snapshot: string | undefined): Promise<void> {
    this.record('deleteVdi', name, snapshot);
  }
  async locks(): Promise<LockRow[]> {
    this.record('locks');
    return [{ name: 'vol0', vid: 'abc123', state: 'shared', holders: ['node 127.0.0.1:7000'] }];
  }
  async unlock(name: string): Promise<void> {
    this.record('unlock', name);
  }
  alua(): AluaRow[] {
    this.record('alua');
    return [
      { target: IQN, lun: 1, policy: 'active-active', groups: [{ group: 1, state: 'active/optimized' }] },
    ];
  }
}

// ---- the server ------------------------------------------------------------------------------------

interface Served {
  readonly url: string;
  readonly control: FakeControl;
  readonly logs: Record<string, unknown>[];
  readonly rawLogs: string[];
  setControl(control: AdminControl | undefined): void;
}

const servers: InspectorServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

const METRICS: MetricsText = {
  contentType: 'text/plain; version=0.0.4; charset=utf-8',
  render: async () =>
    '# HELP collie_test_total A test.\n# TYPE collie_test_total counter\ncollie_test_total 3\n',
};

async function serve(options: { metrics?: MetricsText | null } = {}): Promise<Served> {
  const rawLogs: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      rawLogs.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ destination, level: 'info' });
  const control = new FakeControl();
  let current: AdminControl | undefined = control;
  const server = new InspectorServer({
    source: new LiveSource({ title: 'admin routes test' }),
    log: () => undefined,
    mounts: [
      adminMount({ token: TOKEN, dataDir: '/data/dir', control: () => current, logger }),
      metricsMount(options.metrics === null ? undefined : (options.metrics ?? METRICS)),
    ],
  });
  servers.push(server);
  const url = await server.start();
  return {
    url,
    control,
    rawLogs,
    get logs() {
      return rawLogs.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    setControl: (next) => {
      current = next;
    },
  };
}

interface Answer {
  readonly status: number;
  readonly body: { error?: string } & Record<string, unknown>;
  readonly headers: Headers;
}

async function call(
  served: Served,
  method: string,
  path: string,
  options: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(new URL(path.slice(1), served.url), { method, headers, body });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? {} : (JSON.parse(text) as Answer['body']),
    headers: response.headers,
  };
}

const enc = encodeURIComponent;

// ---- the token -------------------------------------------------------------------------------------

describe('the bearer token', () => {
  test('none, a wrong one and one of another length are 401 naming the fix; nothing else is told', async () => {
    const served = await serve();
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['none', {}, /^no admin token/],
      ['wrong', { authorization: `Bearer ${'cd'.repeat(32)}` }, /^wrong admin token/],
      ['short', { authorization: `Bearer ${TOKEN.slice(0, 10)}` }, /^wrong admin token/],
      ['long', { authorization: `Bearer ${TOKEN}00` }, /^wrong admin token/],
      ['not bearer', { authorization: `Basic ${TOKEN}` }, /^no admin token/],
    ];
    for (const [name, headers, pattern] of cases) {
      const answer = await call(served, 'GET', '/api/admin/status', { token: null, headers });
      expect(answer.status, name).toBe(401);
      expect(answer.body.error, name).toMatch(pattern);
      expect(answer.body.error, name).toContain(
        'collie adm reads /data/dir/admin-token of the running daemon; give --data DIR or --token',
      );
      expect(answer.headers.get('www-authenticate')).toBe('Bearer');
    }
    // Before the route, the method and the body.
    expect((await call(served, 'GET', '/api/admin/nowhere', { token: null })).status).toBe(401);
    expect((await call(served, 'PATCH', '/api/admin/status', { token: null })).status).toBe(401);
    expect(
      (
        await call(served, 'POST', '/api/admin/targets', {
          token: 'x',
          body: 'x'.repeat(ADMIN_BODY_BYTES_MAX + 1),
        })
      ).status,
    ).toBe(401);
    expect(served.control.calls).toEqual([]);
  });

  test('a refused token is logged (method, path, status) without the token', async () => {
    const served = await serve();
    await call(served, 'GET', '/api/admin/status', { token: 'cd'.repeat(32) });
    await expect.poll(() => served.logs.length).toBe(1);
    expect(served.logs[0]).toMatchObject({ method: 'GET', path: '/api/admin/status', status: 401 });
    expect(served.rawLogs.join('')).not.toContain('cd'.repeat(32));
    expect(served.rawLogs.join('')).not.toContain(TOKEN);
  });
});

// ---- every route -----------------------------------------------------------------------------------

describe('the routes', () => {
  test('status, targets, sessions, vdis, locks, alua: GET answers the control', async () => {
    const served = await serve();
    const status = await call(served, 'GET', '/api/admin/status');
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ kind: 'up', store: '127.0.0.1:7000', sessions: 1 });
    expect(status.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(status.headers.get('cache-control')).toBe('no-store');
    expect(status.headers.get('access-control-allow-origin')).toBeNull();
    for (const [path, method] of [
      ['/api/admin/targets', 'targets'],
      ['/api/admin/sessions', 'sessions'],
      ['/api/admin/vdis', 'vdis'],
      ['/api/admin/locks', 'locks'],
      ['/api/admin/alua', 'alua'],
    ] as const) {
      const answer = await call(served, 'GET', path);
      expect(answer.status, path).toBe(200);
      expect(Array.isArray(answer.body), path).toBe(true);
      expect(served.control.calls.at(-1), path).toEqual([method]);
    }
    // Reads are not logged as changes.
    expect(served.logs).toEqual([]);
  });

  test('targets: add 201, a second add 409, remove 200, remove again 404', async () => {
    const served = await serve();
    const iqn = 'iqn.2026-11.org.collie:vol1';
    const added = await call(served, 'POST', '/api/admin/targets', { body: { iqn, alias: 'one' } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ iqn, alias: 'one' });
    expect(served.control.calls.at(-1)).toEqual(['addTarget', { iqn, alias: 'one' }]);
    const again = await call(served, 'POST', '/api/admin/targets', { body: { iqn } });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe(`target ${iqn} exists`);
    const removed = await call(served, 'DELETE', `/api/admin/targets/${enc(iqn)}`);
    expect(removed).toMatchObject({ status: 200, body: { removed: iqn } });
    expect(served.control.calls.at(-1)).toEqual(['removeTarget', iqn]);
    const gone = await call(served, 'DELETE', `/api/admin/targets/${enc(iqn)}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatch(/^no target/);
  });

  test('LUNs: add 201 (LUN optional), remove, resize; a bad LUN number is 400', async () => {
    const served = await serve();
    const base = `/api/admin/targets/${enc(IQN)}/luns`;
    const added = await call(served, 'POST', base, { body: { lun: 2, backing: 'mem:1G' } });
    expect(added).toMatchObject({ status: 201, body: { lun: 2, backing: 'mem:1G' } });
    expect(served.control.calls.at(-1)).toEqual(['addLun', IQN, { lun: 2, backing: 'mem:1G' }]);
    expect((await call(served, 'POST', base, { body: { backing: 'vol7' } })).status).toBe(201);
    expect(served.control.calls.at(-1)).toEqual(['addLun', IQN, { backing: 'vol7' }]);
    const removed = await call(served, 'DELETE', `${base}/2`);
    expect(removed).toMatchObject({ status: 200, body: { removed: 2 } });
    expect(served.control.calls.at(-1)).toEqual(['removeLun', IQN, 2]);
    const resized = await call(served, 'POST', `${base}/2/resize`, { body: { sizeBytes: 2 << 20 } });
    expect(resized).toMatchObject({ status: 200, body: { lun: 2, sizeBytes: 2 << 20 } });
    for (const bad of ['abc', '16384', '-1', '1.5']) {
      const answer = await call(served, 'DELETE', `${base}/${bad}`);
      expect(answer.status, bad).toBe(400);
      expect(answer.body.error, bad).toMatch(/^LUN ".*" is not a number from 0 to 16383$/);
    }
    const bigLun = await call(served, 'POST', base, { body: { lun: 16384, backing: 'mem:1G' } });
    expect(bigLun.status).toBe(400);
    expect(bigLun.body.error).toBe(
      'POST /api/admin/targets/:iqn/luns: field "lun" is 16384, not a LUN number from 0 to 16383',
    );
    const noTarget = await call(served, 'POST', `/api/admin/targets/${enc('iqn.2026-11.x:none')}/luns`, {
      body: { backing: 'mem:1G' },
    });
    expect(noTarget.status).toBe(404);
  });

  test('ACL and CHAP: PUT answers the target; DELETE chap turns CHAP off; secrets never logged', async () => {
    const served = await serve();
    const base = `/api/admin/targets/${enc(IQN)}`;
    const acl = await call(served, 'PUT', `${base}/acl`, { body: { initiators: ['iqn.1993-08.org.x:1'] } });
    expect(acl).toMatchObject({ status: 200, body: { acl: { initiators: ['iqn.1993-08.org.x:1'] } } });
    const chap = await call(served, 'PUT', `${base}/chap`, {
      body: { user: 'alice', secret: SECRET, mutual: { user: 'target', secret: `${SECRET}-2` } },
    });
    expect(chap).toMatchObject({ status: 200, body: { chap: { users: ['alice'] } } });
    expect(JSON.stringify(chap.body)).not.toContain(SECRET);
    const off = await call(served, 'DELETE', `${base}/chap`);
    expect(off).toMatchObject({ status: 200, body: { chap: { users: [] } } });
    expect(served.control.calls.at(-1)).toEqual(['setChap', IQN, undefined]);
    const wrongSecret = await call(served, 'PUT', `${base}/chap`, {
      body: { user: 'alice', secret: 123456789012345 },
    });
    expect(wrongSecret.status).toBe(400);
    expect(wrongSecret.body.error).toMatch(
      /^PUT \/api\/admin\/targets\/:iqn\/chap: field "secret" is not a CHAP secret of 12 bytes or more$/,
    );
    expect(wrongSecret.body.error).not.toContain('123456789012345');
    const nested = await call(served, 'PUT', `${base}/chap`, {
      body: { user: 'alice', secret: SECRET, mutual: { user: 't', secret: SECRET, extra: 1 } },
    });
    expect(nested.status).toBe(400);
    expect(nested.body.error).toMatch(
      /^PUT .*: unknown field "mutual.extra" \(remove it; the fields of mutual are user, secret\)$/,
    );

    await expect.poll(() => served.logs.length).toBe(5);
    expect(served.logs.map(({ method, path, status }) => [method, path, status])).toEqual([
      ['PUT', `${base}/acl`, 200],
      ['PUT', `${base}/chap`, 200],
      ['DELETE', `${base}/chap`, 200],
      ['PUT', `${base}/chap`, 400],
      ['PUT', `${base}/chap`, 400],
    ]);
    const text = served.rawLogs.join('');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(TOKEN);
  });

  test('sessions: kill by TSIH, with ?node=N; unknown 404; bad TSIH, node or parameter 400', async () => {
    const served = await serve();
    const killed = await call(served, 'DELETE', '/api/admin/sessions/5?node=2');
    expect(killed.status).toBe(200);
    expect(killed.body).toMatchObject({ killed: { tsih: 5, node: 2 } });
    expect(served.control.calls.at(-1)).toEqual(['killSession', 5, 2]);
    expect((await call(served, 'DELETE', '/api/admin/sessions/5')).status).toBe(200);
    expect(served.control.calls.at(-1)).toEqual(['killSession', 5, undefined]);
    expect((await call(served, 'DELETE', '/api/admin/sessions/6')).status).toBe(404);
    const badTsih = await call(served, 'DELETE', '/api/admin/sessions/0');
    expect(badTsih).toMatchObject({
      status: 400,
      body: { error: 'TSIH "0" is not a number from 1 to 65535' },
    });
    const badNode = await call(served, 'DELETE', '/api/admin/sessions/5?node=x');
    expect(badNode).toMatchObject({
      status: 400,
      body: { error: 'node "x" is not a number from 1 to 65535' },
    });
    const twice = await call(served, 'DELETE', '/api/admin/sessions/5?node=1&node=2');
    expect(twice).toMatchObject({ status: 400, body: { error: 'parameter "node" is given twice' } });
    const unknown = await call(served, 'DELETE', '/api/admin/sessions/5?force=1');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/^parameter "force" is not taken by DELETE .* \(it takes node\)$/);
  });

  test('VDIs and locks: create, snapshot (body optional), clone, delete (?snapshot), unlock', async () => {
    const served = await serve();
    const createdVdi = await call(served, 'POST', '/api/admin/vdis', {
      body: { name: 'new', sizeBytes: 4096 },
    });
    expect(createdVdi).toMatchObject({ status: 201, body: { name: 'new', sizeBytes: 4096 } });
    const snapshot = await call(served, 'POST', '/api/admin/vdis/vol0/snapshot', { body: { tag: 'before' } });
    expect(snapshot).toMatchObject({ status: 201, body: { snapshot: true, tag: 'before' } });
    const bare = await fetch(new URL('api/admin/vdis/vol0/snapshot', served.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(bare.status).toBe(201);
    expect(served.control.calls.at(-1)).toEqual(['snapshotVdi', 'vol0', {}]);
    const missing = await call(served, 'POST', '/api/admin/vdis/nope/snapshot', { body: {} });
    expect(missing).toMatchObject({ status: 404, body: { error: 'no VDI "nope" (collie adm vdi list)' } });
    const clone = await call(served, 'POST', `/api/admin/vdis/vol0/clone`, {
      body: { snapshot: 'before', name: 'copy' },
    });
    expect(clone).toMatchObject({ status: 201, body: { name: 'copy', clone: true } });
    expect(served.control.calls.at(-1)).toEqual(['cloneVdi', 'vol0', { snapshot: 'before', name: 'copy' }]);
    expect(await call(served, 'DELETE', `/api/admin/vdis/${enc('a b')}?snapshot=before`)).toMatchObject({
      status: 200,
      body: { removed: 'a b' },
    });
    expect(served.control.calls.at(-1)).toEqual(['deleteVdi', 'a b', 'before']);
    expect((await call(served, 'DELETE', '/api/admin/vdis/vol0')).status).toBe(200);
    expect(served.control.calls.at(-1)).toEqual(['deleteVdi', 'vol0', undefined]);
    expect(await call(served, 'DELETE', '/api/admin/locks/vol0')).toMatchObject({
      status: 200,
      body: { unlocked: 'vol0' },
    });
  });

  test("an AdminError's status passes through; anything else is a logged 500", async () => {
    const served = await serve();
    served.control.failWith = new AdminError(502, 'the store answered NO_SPACE (free some space)');
    expect(await call(served, 'GET', '/api/admin/vdis')).toMatchObject({
      status: 502,
      body: { error: 'the store answered NO_SPACE (free some space)' },
    });
    served.control.failWith = new TypeError('x is undefined');
    const bug = await call(served, 'DELETE', '/api/admin/locks/vol0');
    expect(bug.status).toBe(500);
    expect(bug.body.error).toMatch(/^internal error: x is undefined \(a Collie bug/);
    await expect.poll(() => served.logs.length).toBe(2);
    expect(served.logs[0]).toMatchObject({
      level: 50,
      method: 'DELETE',
      status: 500,
      err: { type: 'TypeError' },
    });
    expect(served.logs[1]).toMatchObject({
      level: 30,
      method: 'DELETE',
      path: '/api/admin/locks/vol0',
      status: 500,
    });
  });

  test('503 while the daemon has no control yet (starting or stopping)', async () => {
    const served = await serve();
    served.setControl(undefined);
    expect(await call(served, 'GET', '/api/admin/status')).toMatchObject({
      status: 503,
      body: { error: 'the daemon is still starting: try again in a moment' },
    });
  });
});

// ---- refusals --------------------------------------------------------------------------------------

describe('refusals', () => {
  test('an unknown path is 404 listing the routes; another method 405 with Allow', async () => {
    const served = await serve();
    const nowhere = await call(served, 'GET', '/api/admin/nowhere');
    expect(nowhere.status).toBe(404);
    expect(nowhere.body.error).toMatch(
      /^no admin route \/api\/admin\/nowhere; the routes are .*\/api\/admin\/status/,
    );
    expect((await call(served, 'GET', '/api/admin')).status).toBe(404);
    expect((await call(served, 'GET', '/api/admin/targets/')).status).toBe(404);
    const patch = await call(served, 'PATCH', '/api/admin/status');
    expect(patch).toMatchObject({
      status: 405,
      body: { error: 'PATCH is not served on /api/admin/status (it takes GET)' },
    });
    expect(patch.headers.get('allow')).toBe('GET');
    const getTarget = await call(served, 'GET', `/api/admin/targets/${enc(IQN)}`);
    expect(getTarget.status).toBe(405);
    expect(getTarget.headers.get('allow')).toBe('DELETE');
    const targets = await call(served, 'PUT', '/api/admin/targets', { body: {} });
    expect(targets.headers.get('allow')).toBe('GET, POST');
  });

  test('bodies: not JSON, wrong Content-Type, not an object, unknown, missing or wrong fields are 400', async () => {
    const served = await serve();
    const notJson = await call(served, 'POST', '/api/admin/targets', { body: '{"iqn":' });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toMatch(/^the body is not JSON: .* \(send a JSON object\)$/);
    const text = await call(served, 'POST', '/api/admin/targets', {
      body: JSON.stringify({ iqn: IQN }),
      headers: { 'content-type': 'text/plain' },
    });
    expect(text).toMatchObject({
      status: 400,
      body: {
        error: 'the body must be JSON sent with Content-Type: application/json (it came as "text/plain")',
      },
    });
    const charset = await call(served, 'POST', '/api/admin/targets', {
      body: { iqn: 'iqn.2026-11.org.collie:x' },
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
    });
    expect(charset.status).toBe(201);
    const list = await call(served, 'POST', '/api/admin/targets', { body: [1] });
    expect(list).toMatchObject({
      status: 400,
      body: { error: 'POST /api/admin/targets: the body must be a JSON object (it is a list)' },
    });
    const unknown = await call(served, 'POST', '/api/admin/targets', { body: { iqn: IQN, nodes: [1] } });
    expect(unknown).toMatchObject({
      status: 400,
      body: {
        error: 'POST /api/admin/targets: unknown field "nodes" (remove it; the fields are iqn, alias)',
      },
    });
    const missing = await call(served, 'POST', '/api/admin/vdis', { body: { name: 'x' } });
    expect(missing).toMatchObject({
      status: 400,
      body: {
        error:
          'POST /api/admin/vdis: field "sizeBytes" is missing (write a whole number of bytes, 1 or more)',
      },
    });
    const wrong = await call(served, 'POST', '/api/admin/vdis', { body: { name: 'x', sizeBytes: '1G' } });
    expect(wrong.body.error).toBe(
      'POST /api/admin/vdis: field "sizeBytes" is "1G", not a whole number of bytes, 1 or more',
    );
    const empty = await call(served, 'POST', '/api/admin/vdis', { body: { name: '', sizeBytes: 1 } });
    expect(empty.body.error).toBe('POST /api/admin/vdis: field "name" is "", not the VDI name');
    const item = await call(served, 'PUT', `/api/admin/targets/${enc(IQN)}/acl`, {
      body: { addresses: [7] },
    });
    expect(item.body.error).toBe(
      'PUT /api/admin/targets/:iqn/acl: field "addresses.0" is 7, not an address or CIDR block',
    );
    expect(served.control.calls.filter(([name]) => name !== 'addTarget')).toEqual([]);
  });

  test(`a body over ${ADMIN_BODY_BYTES_MAX} bytes is 413, declared or streamed; the connection stays usable`, async () => {
    const served = await serve();
    const declared = await call(served, 'POST', '/api/admin/targets', {
      body: JSON.stringify({ iqn: IQN, alias: 'x'.repeat(ADMIN_BODY_BYTES_MAX) }),
    });
    expect(declared.status).toBe(413);
    expect(declared.body.error).toMatch(/^the request body is larger than 65536 bytes/);
    // Chunked, no Content-Length: cut off while reading.
    const { hostname, port } = new URL(served.url);
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(
        {
          host: hostname,
          port: Number(port),
          method: 'POST',
          path: '/api/admin/targets',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.on('error', reject);
      for (let i = 0; i < 5; i++) request.write('x'.repeat(ADMIN_BODY_BYTES_MAX / 4));
      request.end();
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({
      error: expect.stringMatching(/larger than 65536 bytes/),
    });
    expect((await call(served, 'GET', '/api/admin/status')).status).toBe(200);
    expect(served.control.calls).toEqual([['status']]);
  });

  test('on loopback, another Host (DNS rebinding) is 403 before the token is even read', async () => {
    const served = await serve();
    for (const path of ['/api/admin/status', '/metrics']) {
      const answer = await rawRequest(
        served.url,
        `GET ${path} HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`,
      );
      expect(answer, path).toMatch(/^HTTP\/1\.1 403/);
      expect(answer, path).toMatch(/is not this inspector's loopback address/);
    }
    const local = await rawRequest(
      served.url,
      `GET /api/admin/status HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`,
    );
    expect(local).toMatch(/^HTTP\/1\.1 200/);
    expect(served.control.calls).toEqual([['status']]);
  });
});

// ---- /metrics and the inspector on the same server ------------------------------------------------

describe('the same server', () => {
  test('/metrics: no token, the registry content type; GET or HEAD only; 503 without a registry', async () => {
    const served = await serve();
    const metrics = await fetch(new URL('metrics', served.url));
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await metrics.text()).toContain('collie_test_total 3\n');
    const head = await fetch(new URL('metrics', served.url), { method: 'HEAD' });
    expect(head.status).toBe(200);
    const post = await fetch(new URL('metrics', served.url), { method: 'POST', body: '' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');

    const unwired = await serve({ metrics: null });
    const none = await fetch(new URL('metrics', unwired.url));
    expect(none.status).toBe(503);
    expect(((await none.json()) as { error: string }).error).toMatch(/^metrics not wired/);
  });

  test("the inspector's routes still answer beside the mounts, GET only", async () => {
    const served = await serve();
    const meta = await fetch(new URL('api/meta', served.url));
    expect(meta.status).toBe(200);
    expect(((await meta.json()) as { title: string }).title).toBe('admin routes test');
    const post = await fetch(new URL('api/meta', served.url), { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect((await fetch(served.url)).headers.get('content-type')).toBe('text/html; charset=utf-8');
  });
});

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
