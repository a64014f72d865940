/**
 * Goal: `collie adm` prints aligned tables with headers (human sizes) for lists and one
 * confirmation line for changes, the API's JSON with --json, never a CHAP secret; picks the
 * only target when a LUN command leaves the IQN out; and turns every failure — a bad token, a
 * stopped daemon, a missing or malformed admin.json, a wrong VDI name, a bad argument — into one
 * line `collie adm: ...` on stderr with a non-zero exit code (2 for usage, 1 otherwise) and no
 * stack trace.
 * Method: the real commander wiring, run in-process with stdout/stderr (isTTY set), the exit
 * code and commander's exit injected and captured; msw 2 plays the daemon (unhandled requests
 * fail the test; the stopped daemon is a real closed port). Expected tables are written out.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import { HttpResponse, http, passthrough } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type {
  AdminStatus,
  AluaRow,
  LockRow,
  LunInfo,
  SessionInfo,
  TargetInfo,
  VdiRow,
} from '../../src/admin/admin-api.js';
import { registerAdmCommand } from '../../src/cli/adm.js';
import { formatLocalMinute } from '../../src/cli/vdi-format.js';

const BASE = 'http://127.0.0.1:8260/';
const API = `${BASE}api/admin`;
const TOKEN = 'feedc0de'.repeat(8);
const IQN = 'iqn.2026-11.org.collie:vol0';
const IQN2 = 'iqn.2026-11.org.collie:vol1';
const MiB = 1024 * 1024;
const server = setupServer();

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const LUN1: LunInfo = {
  lun: 1,
  backing: 'tcp:127.0.0.1:7000:vol0',
  sizeBytes: 10 * 1024 * MiB,
  blockSizeBytes: 512,
  readOnly: false,
  thin: true,
};
const TARGET: TargetInfo = {
  iqn: IQN,
  alias: 'vol0',
  nodes: [1, 2],
  luns: [LUN1],
  acl: { initiators: [], addresses: [] },
  chap: { users: [] },
};
const TARGET2: TargetInfo = {
  iqn: IQN2,
  nodes: [1, 2],
  luns: [],
  acl: { initiators: ['iqn.1994-05.com.redhat:host1'], addresses: ['10.0.0.0/8'] },
  chap: { users: ['alice'], mutualUser: 'tgt' },
};

interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

class ExitCalled extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** A writable that keeps what is written, with isTTY as a terminal or a pipe has it. */
function capture(isTTY: boolean): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
  });
  Object.assign(stream, { isTTY });
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

/**
 * Runs `collie adm ARGS` in-process. Unless `locate` is false it first gives --url BASE and
 * --token TOKEN, as a user pointing at the msw daemon would.
 */
async function adm(
  args: readonly string[],
  options: { locate?: boolean; isTTY?: boolean; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const stdout = capture(options.isTTY ?? true);
  const stderr = capture(options.isTTY ?? true);
  let code = 0;
  const program = new Command('collie').exitOverride();
  registerAdmCommand(program, {
    stdout: stdout.stream,
    stderr: stderr.stream,
    env: options.env ?? {},
    setExitCode: (value) => {
      code = value;
    },
    exit: (value) => {
      throw new ExitCalled(value);
    },
    timeoutMs: 2000,
  });
  const located = options.locate === false ? [] : ['--url', BASE, '--token', TOKEN];
  try {
    await program.parseAsync(['adm', ...located, ...args], { from: 'user' });
  } catch (error) {
    if (!(error instanceof ExitCalled)) throw error;
    code = error.code;
  }
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** A failure as the done-when asks: one line, `collie adm: ...`, exit ≠ 0, no stack, nothing on stdout. */
function expectOneLineFailure(result: RunResult, message: string, code = 1): void {
  expect(result.stderr).toBe(`collie adm: ${message}\n`);
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
}

interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | null;
  readonly body: unknown;
}

/** Plays a daemon with these answers, keyed "METHOD /path" below /api/admin; records requests. */
function daemon(answers: Record<string, unknown | [status: number, body: unknown]>): SeenRequest[] {
  const seen: SeenRequest[] = [];
  server.use(
    http.all(`${API}/*`, async ({ request }) => {
      const url = new URL(request.url);
      const path = `${url.pathname.slice('/api/admin'.length)}${url.search}`;
      const text = await request.text();
      seen.push({
        method: request.method,
        path,
        authorization: request.headers.get('authorization'),
        body: text === '' ? undefined : JSON.parse(text),
      });
      const key = `${request.method} ${path}`;
      if (!(key in answers))
        return HttpResponse.json({ error: `test daemon: no answer for ${key}` }, { status: 404 });
      const answer = answers[key];
      const [status, body] = Array.isArray(answer) && typeof answer[0] === 'number' ? answer : [200, answer];
      return HttpResponse.json(body as object, { status: status as number });
    }),
  );
  return seen;
}

describe('lists are tables on a terminal, JSON with --json', () => {
  test('target list', async () => {
    daemon({ 'GET /targets': [TARGET, TARGET2] });
    const result = await adm(['target', 'list']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      [
        'IQN                          ALIAS  NODES  LUNS  ACL                                      CHAP',
        'iqn.2026-11.org.collie:vol0  vol0   1,2    1     any                                      none',
        'iqn.2026-11.org.collie:vol1  -      1,2    -     iqn.1994-05.com.redhat:host1,10.0.0.0/8  user alice, mutual user tgt',
        '',
      ].join('\n'),
    );
  });

  test('--json prints the answer as one JSON document, before or after the subcommand', async () => {
    daemon({ 'GET /targets': [TARGET, TARGET2] });
    const after = await adm(['target', 'list', '--json']);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toEqual([TARGET, TARGET2]);
    const before = await adm(['--json', 'target', 'list']);
    expect(before.stdout).toBe(after.stdout);
  });

  test('a pipe gets the same table (JSON only with --json)', async () => {
    daemon({ 'GET /targets': [TARGET] });
    const terminal = await adm(['target', 'list'], { isTTY: true });
    const pipe = await adm(['target', 'list'], { isTTY: false });
    expect(pipe.stdout).toBe(terminal.stdout);
    expect(pipe.stdout.startsWith('IQN ')).toBe(true);
  });

  test('lun list: every target, or one; sizes human-readable and right-aligned', async () => {
    const small: LunInfo = {
      lun: 2,
      backing: 'mem:64M',
      sizeBytes: 64 * MiB,
      blockSizeBytes: 4096,
      readOnly: true,
      thin: false,
    };
    daemon({ 'GET /targets': [TARGET, { ...TARGET2, luns: [small] }] });
    expect((await adm(['lun', 'list'])).stdout).toBe(
      [
        'TARGET                       LUN   SIZE  BLOCK  FLAGS      BACKING',
        'iqn.2026-11.org.collie:vol0    1  10 GB    512  thin       tcp:127.0.0.1:7000:vol0',
        'iqn.2026-11.org.collie:vol1    2  64 MB   4096  read-only  mem:64M',
        '',
      ].join('\n'),
    );
    const one = await adm(['lun', 'list', IQN2, '--json']);
    expect(JSON.parse(one.stdout)).toEqual([{ target: IQN2, ...small }]);
    const missing = await adm(['lun', 'list', 'iqn.2026-11.org.collie:nope']);
    expectOneLineFailure(
      missing,
      `no target iqn.2026-11.org.collie:nope on the daemon (it has ${IQN}, ${IQN2}; see: collie adm target list)`,
    );
  });

  test('session list: initiator, addresses, negotiated keys', async () => {
    const session: SessionInfo = {
      node: 1,
      tsih: 3,
      isid: '400001370000',
      initiator: 'iqn.1994-05.com.redhat:host1',
      target: IQN,
      connection: { id: 'c1', local: '127.0.0.1:3260', remote: '127.0.0.1:51234' },
      parameters: { HeaderDigest: 'None', MaxBurstLength: '262144' },
      activeTasks: 2,
    };
    const gone: SessionInfo = { ...session, node: 2, tsih: 12, parameters: {}, activeTasks: 0 };
    delete (gone as { connection?: unknown }).connection;
    daemon({ 'GET /sessions': [session, gone] });
    expect((await adm(['session', 'list'])).stdout).toBe(
      [
        'NODE  TSIH  ISID          INITIATOR                     TARGET                       LOCAL           REMOTE           TASKS  KEYS',
        '   1     3  400001370000  iqn.1994-05.com.redhat:host1  iqn.2026-11.org.collie:vol0  127.0.0.1:3260  127.0.0.1:51234      2  HeaderDigest=None MaxBurstLength=262144',
        '   2    12  400001370000  iqn.1994-05.com.redhat:host1  iqn.2026-11.org.collie:vol0  -               -                    0  -',
        '',
      ].join('\n'),
    );
  });

  test('vdi list, lock list, alua', async () => {
    const working: VdiRow = {
      name: 'vol0',
      vid: '7c2b25',
      snapshot: false,
      clone: false,
      snapid: 0,
      tag: '',
      sizeBytes: 10 * 1024 * MiB,
      usedBytes: 4 * MiB,
      sharedBytes: 0,
      copies: 3,
      createdAt: '2026-11-02T10:00:00.000Z',
    };
    const snapshot: VdiRow = { ...working, vid: '7c2b24', snapshot: true, snapid: 1, tag: 'before' };
    delete (snapshot as { usedBytes?: number }).usedBytes;
    const locks: LockRow[] = [
      {
        name: 'vol0',
        vid: '7c2b25',
        state: 'shared',
        holders: ['node 127.0.0.1:7000', 'node 127.0.0.1:7001'],
      },
    ];
    const alua: AluaRow[] = [
      {
        target: IQN,
        lun: 1,
        policy: 'single-owner',
        groups: [
          { group: 1, state: 'active/optimized' },
          { group: 2, state: 'standby' },
        ],
      },
    ];
    daemon({ 'GET /vdis': [working, snapshot], 'GET /locks': locks, 'GET /alua': alua });
    const created = formatLocalMinute(Date.parse(working.createdAt) / 1000);
    expect((await adm(['vdi', 'list'])).stdout).toBe(
      [
        `NAME  TYPE      ID  TAG      SIZE    USED  SHARED  COPIES  ${'CREATED'.padEnd(created.length)}  VDI ID`,
        `vol0  working    0  -       10 GB  4.0 MB  0.0 MB       3  ${created}  7c2b25`,
        `vol0  snapshot   1  before  10 GB       -  0.0 MB       3  ${created}  7c2b24`,
        '',
      ].join('\n'),
    );
    expect((await adm(['lock', 'list'])).stdout).toBe(
      [
        'NAME  VDI ID  STATE   HOLDERS',
        'vol0  7c2b25  shared  node 127.0.0.1:7000, node 127.0.0.1:7001',
        '',
      ].join('\n'),
    );
    expect((await adm(['alua'])).stdout).toBe(
      [
        'TARGET                       LUN  POLICY        PORT GROUPS',
        'iqn.2026-11.org.collie:vol0    1  single-owner  1=active/optimized 2=standby',
        '',
      ].join('\n'),
    );
  });

  test('status is a key/value table; empty lists say so', async () => {
    const status: AdminStatus = {
      version: '0.1.0',
      pid: 4242,
      kind: 'up',
      startedAt: '2026-11-02T10:00:00.000Z',
      uptimeSeconds: 187,
      nodes: [
        { nodeId: 1, portals: ['127.0.0.1:3260'] },
        { nodeId: 2, portals: ['127.0.0.1:3261'] },
      ],
      store: '127.0.0.1:7000',
      sessions: 0,
      urls: { inspector: BASE, metrics: `${BASE}metrics`, admin: `${BASE}api/admin/` },
    };
    daemon({ 'GET /status': status, 'GET /sessions': [], 'GET /locks': [] });
    expect((await adm(['status'])).stdout).toBe(
      [
        'version    0.1.0',
        'running    collie up, pid 4242',
        'started    2026-11-02T10:00:00.000Z (up 3m07s)',
        'nodes      1 (127.0.0.1:3260); 2 (127.0.0.1:3261)',
        'store      127.0.0.1:7000',
        'sessions   0',
        'inspector  http://127.0.0.1:8260/',
        'metrics    http://127.0.0.1:8260/metrics',
        'admin      http://127.0.0.1:8260/api/admin/',
        '',
      ].join('\n'),
    );
    expect(JSON.parse((await adm(['status', '--json'])).stdout)).toEqual(status);
    expect((await adm(['session', 'list'])).stdout).toBe('no sessions\n');
    expect((await adm(['lock', 'list'])).stdout).toBe('no locked VDIs\n');
  });
});

describe('changes print one confirmation line', () => {
  test('lun add without an IQN picks the only target', async () => {
    const added: LunInfo = {
      lun: 2,
      backing: 'mem:64M',
      sizeBytes: 64 * MiB,
      blockSizeBytes: 512,
      readOnly: false,
      thin: false,
    };
    const seen = daemon({
      'GET /targets': [TARGET],
      [`POST /targets/${encodeURIComponent(IQN)}/luns`]: [201, added],
    });
    const result = await adm(['lun', 'add', 'mem:64M', '--lun', '2']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      `added LUN 2 (mem:64M, 64 MB) to ${IQN}; initiators get REPORTED LUNS DATA HAS CHANGED\n`,
    );
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /targets',
      'POST /targets/iqn.2026-11.org.collie%3Avol0/luns',
    ]);
    expect(seen[1]?.body).toEqual({ backing: 'mem:64M', lun: 2 });
    expect(seen[1]?.authorization).toBe(`Bearer ${TOKEN}`);
    const json = await adm(['lun', 'add', IQN, 'mem:64M', '--json']);
    expect(JSON.parse(json.stdout)).toEqual(added);
  });

  test('lun add without an IQN on a daemon with two targets lists them and sends nothing more', async () => {
    const seen = daemon({ 'GET /targets': [TARGET, TARGET2] });
    const result = await adm(['lun', 'add', 'mem:64M']);
    expectOneLineFailure(result, `give the target IQN: the daemon has 2 targets (${IQN}, ${IQN2})`, 2);
    expect(seen.map((r) => r.method)).toEqual(['GET']);
  });

  test('lun remove and lun resize, with and without the IQN', async () => {
    const path = `/targets/${encodeURIComponent(IQN2)}/luns/1`;
    const seen = daemon({
      'GET /targets': [TARGET2],
      [`DELETE ${path}`]: { removed: 1 },
      [`POST ${path}/resize`]: { ...LUN1, sizeBytes: 20 * 1024 * MiB },
    });
    expect((await adm(['lun', 'remove', IQN2, '1'])).stdout).toBe(
      `removed LUN 1 from ${IQN2}; initiators get REPORTED LUNS DATA HAS CHANGED\n`,
    );
    expect((await adm(['lun', 'resize', '1', '20G'])).stdout).toBe(
      `resized LUN 1 of ${IQN2} to 20 GB; initiators get CAPACITY DATA HAS CHANGED\n`,
    );
    expect(seen.at(-1)?.body).toEqual({ sizeBytes: 20 * 1024 * MiB });
  });

  test('target add and remove', async () => {
    const encoded = encodeURIComponent(IQN2);
    const seen = daemon({
      'POST /targets': [
        201,
        { ...TARGET2, alias: 'db', acl: { initiators: [], addresses: [] }, chap: { users: [] } },
      ],
      [`DELETE /targets/${encoded}`]: { removed: IQN2 },
    });
    expect((await adm(['target', 'add', IQN2, '--alias', 'db'])).stdout).toBe(
      `added target ${IQN2} (alias db) on nodes 1, 2; give it a LUN: collie adm lun add ${IQN2} BACKING\n`,
    );
    expect(seen[0]?.body).toEqual({ iqn: IQN2, alias: 'db' });
    expect((await adm(['target', 'remove', IQN2])).stdout).toBe(
      `removed target ${IQN2}; its sessions were dropped\n`,
    );
  });

  test('acl set sends both lists; none given lets anyone in', async () => {
    const path = `/targets/${encodeURIComponent(IQN)}/acl`;
    const seen = daemon({ [`PUT ${path}`]: TARGET2 });
    const result = await adm([
      'acl',
      'set',
      IQN,
      '--initiator',
      'iqn.1994-05.com.redhat:host1',
      '--address',
      '10.0.0.0/8',
    ]);
    expect(seen[0]?.body).toEqual({
      initiators: ['iqn.1994-05.com.redhat:host1'],
      addresses: ['10.0.0.0/8'],
    });
    expect(result.stdout).toBe(
      `ACL of ${IQN2}: initiators iqn.1994-05.com.redhat:host1; addresses 10.0.0.0/8\n`,
    );
    server.resetHandlers();
    const open = daemon({ [`PUT ${path}`]: TARGET });
    expect((await adm(['acl', 'set', IQN])).stdout).toBe(
      `ACL of ${IQN}: anyone may log in (CHAP permitting)\n`,
    );
    expect(open[0]?.body).toEqual({ initiators: [], addresses: [] });
  });

  test('chap set and clear never print a secret', async () => {
    const path = `/targets/${encodeURIComponent(IQN)}/chap`;
    const seen = daemon({
      [`PUT ${path}`]: { ...TARGET, chap: { users: ['alice'], mutualUser: 'tgt' } },
      [`DELETE ${path}`]: TARGET,
    });
    const set = await adm([
      'chap',
      'set',
      IQN,
      'alice',
      'alice-secret-12',
      '--mutual',
      'tgt:target-secret-12',
    ]);
    expect(seen[0]?.body).toEqual({
      user: 'alice',
      secret: 'alice-secret-12',
      mutual: { user: 'tgt', secret: 'target-secret-12' },
    });
    expect(set.stdout).toBe(`CHAP of ${IQN}: user alice, mutual user tgt; new logins must authenticate\n`);
    const bad = await adm(['chap', 'set', IQN, 'alice', 'alice-secret-12', '--mutual', 'only-a-secret']);
    expectOneLineFailure(
      bad,
      "--mutual must be USER:SECRET (the target's own CHAP account), e.g. --mutual target:0123456789ab",
      2,
    );
    for (const output of [set.stdout, set.stderr, bad.stdout, bad.stderr]) {
      expect(output).not.toContain('secret-12');
      expect(output).not.toContain('only-a-secret');
    }
    expect((await adm(['chap', 'clear', IQN])).stdout).toBe(
      `CHAP of ${IQN} cleared: AuthMethod None (the ACL alone decides who logs in)\n`,
    );
  });

  test('session kill, with --node', async () => {
    const killed: SessionInfo = {
      node: 2,
      tsih: 3,
      isid: '400001370000',
      initiator: 'iqn.1994-05.com.redhat:host1',
      target: IQN,
      parameters: {},
      activeTasks: 0,
    };
    daemon({ 'DELETE /sessions/3?node=2': { killed } });
    expect((await adm(['session', 'kill', '3', '--node', '2'])).stdout).toBe(
      `killed session TSIH 3 on node 2 (iqn.1994-05.com.redhat:host1 on ${IQN})\n`,
    );
  });

  test('vdi create, snapshot, clone, delete; lock unlock', async () => {
    const vdi: VdiRow = {
      name: 'vol 2',
      vid: 'a1',
      snapshot: false,
      clone: false,
      snapid: 0,
      tag: '',
      sizeBytes: 10 * 1024 * MiB,
      copies: 3,
      createdAt: '2026-11-02T10:00:00.000Z',
    };
    const seen = daemon({
      'POST /vdis': [201, vdi],
      'POST /vdis/vol%202/snapshot': [201, { ...vdi, vid: 'a0', snapshot: true, snapid: 1, tag: 'before' }],
      'POST /vdis/vol%202/clone': [201, { ...vdi, name: 'vol3', vid: 'b1', clone: true }],
      'DELETE /vdis/vol%202?snapshot=before': { removed: 'vol 2' },
      'DELETE /vdis/vol%202': { removed: 'vol 2' },
      'DELETE /locks/vol%202': { unlocked: 'vol 2' },
    });
    expect((await adm(['vdi', 'create', 'vol 2', '10G'])).stdout).toBe('created VDI vol 2 (10 GB, vid a1)\n');
    expect(seen[0]?.body).toEqual({ name: 'vol 2', sizeBytes: 10 * 1024 * MiB });
    expect((await adm(['vdi', 'snapshot', 'vol 2', '-s', 'before'])).stdout).toBe(
      'snapshot 1, tag before of VDI vol 2 taken (vid a0)\n',
    );
    expect(seen[1]?.body).toEqual({ tag: 'before' });
    expect((await adm(['vdi', 'clone', 'vol 2', 'before', 'vol3'])).stdout).toBe(
      'cloned snapshot before of VDI vol 2 into vol3 (10 GB, vid b1)\n',
    );
    expect(seen[2]?.body).toEqual({ snapshot: 'before', name: 'vol3' });
    expect((await adm(['vdi', 'delete', 'vol 2', '-s', 'before'])).stdout).toBe(
      'deleted snapshot before of VDI vol 2\n',
    );
    expect((await adm(['vdi', 'delete', 'vol 2', '--json'])).stdout).toBe('{\n  "removed": "vol 2"\n}\n');
    expect((await adm(['lock', 'unlock', 'vol 2'])).stdout).toBe('unlocked VDI vol 2\n');
  });
});

describe('every failure is one line with a non-zero exit code and no stack', () => {
  test('a bad token: the daemon says so (401)', async () => {
    const message = 'the admin token is wrong: use the one in .collie/admin-token, or give --token';
    daemon({ 'GET /targets': [401, { error: message }] });
    expectOneLineFailure(await adm(['target', 'list']), message);
  });

  test('a wrong VDI name: the daemon says so (404)', async () => {
    const message = 'no VDI "vol9" on 127.0.0.1:7000 (list them: collie adm vdi list)';
    daemon({ 'DELETE /vdis/vol9': [404, { error: message }] });
    expectOneLineFailure(await adm(['vdi', 'delete', 'vol9']), message);
  });

  test('a stopped daemon (a real closed port)', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/`;
    server.use(http.all(`${url}*`, () => passthrough()));
    const result = await adm(['--url', url, '--token', TOKEN, 'status'], { locate: false });
    expectOneLineFailure(
      result,
      `no Collie daemon answers at ${url} (from --url; is it running? start it: npm start)`,
    );
  });

  test('a data directory without admin.json, and one with a malformed admin.json', async () => {
    const data = await mkdtemp(join(tmpdir(), 'collie-adm-cli-'));
    try {
      const missing = await adm(['--data', data, 'vdi', 'list'], { locate: false });
      expectOneLineFailure(
        missing,
        `no running Collie found in ${data} (no ${data}/admin.json): start one with npm start, or give --data DIR or --url URL`,
      );
      await writeFile(join(data, 'admin.json'), '{"url": "http://127.0.0.1:8260/", ');
      const malformed = await adm(['session', 'list', '--data', data], { locate: false });
      expectOneLineFailure(
        malformed,
        `${data}/admin.json is not JSON, so it names no Collie daemon: remove it if no Collie runs there and start one (npm start), or give --url URL`,
      );
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });

  test('the token from COLLIE_ADMIN_TOKEN and the URL from admin.json', async () => {
    const data = await mkdtemp(join(tmpdir(), 'collie-adm-cli-'));
    try {
      await writeFile(
        join(data, 'admin.json'),
        JSON.stringify({ url: BASE, pid: 1, startedAt: '2026-11-02T10:00:00Z' }),
      );
      const seen = daemon({ 'GET /alua': [] });
      const result = await adm(['alua', '--data', data], {
        locate: false,
        env: { COLLIE_ADMIN_TOKEN: 'from-env' },
      });
      expect(result.stdout).toBe('no LUNs\n');
      expect(seen[0]?.authorization).toBe('Bearer from-env');
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });

  test('a bad size, LUN or TSIH is a usage error (exit 2) found before any request', async () => {
    expectOneLineFailure(
      await adm(['vdi', 'create', 'vol0', '12Q']),
      'SIZE "12Q" is not a size; write a number with an optional K, M, G, T or P suffix (binary), e.g. 4096, 512M, 10G',
      2,
    );
    expectOneLineFailure(
      await adm(['lun', 'remove', IQN, 'x1']),
      'LUN "x1" must be a whole number from 0 to 16383',
      2,
    );
    expectOneLineFailure(
      await adm(['session', 'kill', '70000']),
      'TSIH "70000" must be a whole number from 1 to 65535',
      2,
    );
  });

  test("commander's usage errors exit 2 with a pointer to --help", async () => {
    const result = await adm(['vdi', 'create', 'vol0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("error: missing required argument 'size'\n(see: collie adm --help)\n");
  });

  test('--help is not an error', async () => {
    const result = await adm(['lun', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('resize');
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
