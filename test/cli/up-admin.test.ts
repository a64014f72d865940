/**
 * Goal: `collie up` always serves the admin API, /metrics and the live inspector on one local
 * HTTP server: its second ready line says where (and how `collie adm` reaches it), the token is
 * DATA/admin-token (mode 0600), DATA/admin.json names the URL and the pid while it runs and is
 * gone after SIGTERM; `GET /api/admin/status` answers with the token and 401 without. A port in
 * use, --admin with --inspect, and a token file open to others each stop it with one line
 * naming the problem and the fix, exit 1, no stack trace. `collie target --admin` does the same
 * (opt-in, token in --data).
 * Method: the built CLI (`node bin/collie.js up`, global setup builds dist/) as real processes on
 * free ports (--admin 127.0.0.1:0) in temporary data directories; fetch on loopback.
 */
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ADMIN_LINE,
  assertCollieBuilt,
  COLLIE_BIN,
  REPO_ROOT,
  startTarget,
  startUp,
} from '../support/collie.js';
import { allocatePorts } from '../support/ports.js';
import { runProcess } from '../support/processes.js';

let dir: string;
beforeAll(async () => {
  assertCollieBuilt();
  dir = await mkdtemp(join(tmpdir(), 'collie-up-admin-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const version = (JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

/** `collie up ARGS` to its end (a start that fails); stderr without the JSON log lines. */
async function upFails(args: string[]): Promise<{ exitCode: number | null; lines: string[] }> {
  const [portalPort, sheepPort] = await allocatePorts(2);
  const result = await runProcess(
    process.execPath,
    [COLLIE_BIN, 'up', '--portal', `127.0.0.1:${portalPort}`, '--sheep', `127.0.0.1:${sheepPort}`, ...args],
    { cwd: REPO_ROOT, timeoutMs: 30_000 },
  );
  const lines = result.stderr
    .toString()
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('{'));
  return { exitCode: result.exitCode, lines };
}

describe('collie up: the admin, metrics and inspector server', () => {
  test('ready lines, token file, admin.json, status with and without the token, gone after SIGTERM', async () => {
    const data = join(dir, 'up');
    const [portalPort, sheepPort] = await allocatePorts(2);
    const up = await startUp({
      dataDir: data,
      portalPort: portalPort!,
      sheepPort: sheepPort!,
      extraArgs: ['--size', '64M', '--admin', '127.0.0.1:0'],
    });
    const { adminUrl } = up;
    try {
      expect(adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(up.dataDir).toBe(data);
      const stdout = up.process.stdoutLines;
      expect(stdout[0]).toBe(
        `collie up ready: iscsi://127.0.0.1:${portalPort}/iqn.2026-11.org.collie:vol0/1 (VDI "vol0" on the embedded store 127.0.0.1:${sheepPort}, data in ${data})`,
      );
      expect(stdout[1]).toMatch(ADMIN_LINE);
      expect(stdout[1]).toBe(
        `  admin, metrics and inspector: ${adminUrl}  (npx collie adm --data ${data} session list)`,
      );
      // --admin alone: no `inspector: URL` line (that is --inspect's).
      expect(stdout.some((line) => line.startsWith('inspector: '))).toBe(false);

      const tokenPath = join(data, 'admin-token');
      const token = (await readFile(tokenPath, 'utf8')).trim();
      expect(token).toMatch(/^[0-9a-f]{64}$/);
      expect((await stat(tokenPath)).mode & 0o777).toBe(0o600);

      const runtime = JSON.parse(await readFile(join(data, 'admin.json'), 'utf8')) as Record<string, unknown>;
      expect(runtime).toEqual({ url: adminUrl, pid: up.process.pid, startedAt: expect.any(String) });
      expect(Date.now() - Date.parse(String(runtime.startedAt))).toBeLessThan(60_000);

      const status = await fetch(`${adminUrl}api/admin/status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(status.status).toBe(200);
      expect(await status.json()).toMatchObject({
        version,
        pid: up.process.pid,
        kind: 'up',
        store: `127.0.0.1:${sheepPort}`,
        nodes: [{ nodeId: 1 }],
        urls: { inspector: adminUrl, metrics: `${adminUrl}metrics`, admin: `${adminUrl}api/admin` },
      });
      const refused = await fetch(`${adminUrl}api/admin/status`);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: string }).error).toMatch(
        /^no admin token .*give --data DIR or --token$/,
      );

      // The inspector and /metrics on the same listener, no token.
      const page = await fetch(adminUrl);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const meta = await fetch(`${adminUrl}api/meta`);
      expect(((await meta.json()) as { title: string }).title).toBe('collie up');
      const metrics = await fetch(`${adminUrl}metrics`);
      expect(metrics.status).not.toBe(401);
      if (metrics.status === 200)
        expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    } finally {
      const exit = await up.process.stop('SIGTERM', 10_000);
      expect(exit, up.process.describeTail()).toEqual({ code: 0, signal: null });
    }
    await expect(stat(join(data, 'admin.json'))).rejects.toThrow(/ENOENT/);
    // The token stays: `collie adm --token` keeps working across restarts.
    expect((await stat(join(data, 'admin-token'))).isFile()).toBe(true);
  }, 60_000);

  test('--inspect names the same listener and still prints `inspector: URL` before the ready line', async () => {
    const data = join(dir, 'inspect');
    const [portalPort, sheepPort] = await allocatePorts(2);
    const up = await startUp({
      dataDir: data,
      portalPort: portalPort!,
      sheepPort: sheepPort!,
      extraArgs: ['--size', '64M', '--inspect', '127.0.0.1:0'],
    });
    try {
      expect(up.process.stdoutLines[0]).toBe(`inspector: ${up.adminUrl}`);
      expect(up.process.stdoutLines[1]).toMatch(/^collie up ready: /);
      const token = (await readFile(join(data, 'admin-token'), 'utf8')).trim();
      const status = await fetch(`${up.adminUrl}api/admin/status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(status.status).toBe(200);
    } finally {
      await up.process.stop('SIGTERM', 10_000);
    }
  }, 60_000);

  test('a port in use, --admin with --inspect, a token open to others: one line naming the fix, exit 1', async () => {
    const first = await startUp({
      dataDir: join(dir, 'first'),
      ...(await allocatePorts(2).then(([portalPort, sheepPort]) => ({
        portalPort: portalPort!,
        sheepPort: sheepPort!,
      }))),
      extraArgs: ['--size', '64M'],
    });
    try {
      const port = new URL(first.adminUrl).port;
      const inUse = await upFails(['--data', join(dir, 'second'), '--admin', `127.0.0.1:${port}`]);
      expect(inUse).toEqual({
        exitCode: 1,
        lines: [
          `collie up: the admin, metrics and inspector server cannot listen on 127.0.0.1:${port}: the port is in use (is another collie running? give --admin 127.0.0.1:0 for any free port, or another port)`,
        ],
      });
    } finally {
      await first.process.stop('SIGTERM', 10_000);
    }

    const both = await upFails([
      '--data',
      join(dir, 'both'),
      '--admin',
      '127.0.0.1:0',
      '--inspect',
      '127.0.0.1:0',
    ]);
    expect(both).toEqual({
      exitCode: 1,
      lines: [
        'collie up: --admin and --inspect name the same listener (admin API, metrics and inspector): give one of them',
      ],
    });

    const open = join(dir, 'first', 'admin-token');
    await chmod(open, 0o644);
    const refused = await upFails(['--data', join(dir, 'first'), '--admin', '127.0.0.1:0']);
    expect(refused).toEqual({
      exitCode: 1,
      lines: [
        `collie up: the admin token ${open} is open to others (mode 0644): run chmod 600 ${open} and start again`,
      ],
    });

    const badFlag = await upFails(['--admin', 'nowhere']);
    expect(badFlag.exitCode).not.toBe(0);
    expect(badFlag.lines.join('\n')).toContain('--admin "nowhere" is not [HOST:]PORT');
    expect(badFlag.lines.join('\n')).not.toMatch(/\n\s+at /);
  }, 90_000);
});

describe('collie target --admin', () => {
  test('serves the admin API with its token in --data; admin.json gone after SIGTERM', async () => {
    const data = join(dir, 'target');
    const [portalPort] = await allocatePorts(1);
    const target = await startTarget({
      portal: { host: '127.0.0.1', port: portalPort! },
      iqn: 'iqn.2026-11.org.collie:admin-test',
      luns: [{ lun: 1, backing: 'mem:1M' }],
      extraArgs: ['--admin', '127.0.0.1:0', '--data', data],
    });
    try {
      const line = await target.process.waitForLine(ADMIN_LINE, 5_000, { stream: 'stdout' });
      const url = ADMIN_LINE.exec(line)?.[1] ?? '';
      expect(line).toBe(
        `  admin, metrics and inspector: ${url}  (npx collie adm --data ${data} session list)`,
      );
      const runtime = JSON.parse(await readFile(join(data, 'admin.json'), 'utf8')) as { url: string };
      expect(runtime.url).toBe(url);
      const token = (await readFile(join(data, 'admin-token'), 'utf8')).trim();
      const status = await fetch(`${url}api/admin/status`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await status.json()) as Record<string, unknown>;
      expect(status.status).toBe(200);
      expect(body).toMatchObject({ kind: 'target', version, nodes: [{ nodeId: 1 }] });
      // A memory LUN: no store for the VDI routes.
      expect(body.store).toBeUndefined();
      expect((await fetch(`${url}api/admin/status`)).status).toBe(401);
    } finally {
      const exit = await target.stop(10_000);
      expect(exit, target.process.describeTail()).toEqual({ code: 0, signal: null });
    }
    await expect(stat(join(data, 'admin.json'))).rejects.toThrow(/ENOENT/);
  }, 60_000);
});
