/**
 * Goal: `collie target --config FILE` runs with the process keys of the file as it would with the
 * flags: `admin:` and `data:` serve the admin API with its token in that directory (the ready
 * text says so), `events:` writes the JSONL file, `log:` picks the format and level, `stop:` sets
 * the stop's waits and its deadline (drain + logout + 4 s, logged when the stop starts); SIGTERM
 * exits 0. A flag given wins (--log-level and --log-format over `log:`). A bad --drain-seconds or
 * --logout-seconds is one line and exit 2, on `collie target` and on `collie up`.
 * Method: the built CLI (`node bin/collie.js`, global setup builds dist/) as real processes on
 * free ports in a temp directory.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_LINE, assertCollieBuilt, COLLIE_BIN, REPO_ROOT } from '../support/collie.js';
import { allocatePorts } from '../support/ports.js';
import { runProcess, startProcess } from '../support/processes.js';

let dir: string;
beforeAll(async () => {
  assertCollieBuilt();
  dir = await mkdtemp(join(tmpdir(), 'collie-target-config-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function targetConfig(
  name: string,
  portalPort: number,
): Promise<{ file: string; data: string; events: string }> {
  const file = join(dir, `${name}.yaml`);
  const data = join(dir, `${name}-data`);
  const events = join(dir, `${name}-events.jsonl`);
  await writeFile(
    file,
    [
      `portals: [127.0.0.1:${portalPort}]`,
      'targets:',
      `  - { iqn: iqn.2026-01.test.collie:${name}, luns: { 1: mem:1M } }`,
      'stop: { drainSeconds: 1, logoutSeconds: 1 }',
      'log: { level: warn, format: pretty }',
      `events: ${events}`,
      'admin: 127.0.0.1:0',
      `data: ${data}`,
      '',
    ].join('\n'),
  );
  return { file, data, events };
}

describe('collie target --config: the process keys', () => {
  test('admin, data, events and stop from the file; --log-level and --log-format win over log:', async () => {
    const [portalPort] = await allocatePorts(1);
    const { file, data, events } = await targetConfig('keys', portalPort!);
    const target = startProcess(
      process.execPath,
      [COLLIE_BIN, 'target', '--config', file, '--log-level', 'info', '--log-format', 'json'],
      { name: 'collie target --config keys', cwd: REPO_ROOT },
    );
    try {
      const ready = await target.waitForLine(/^collie target ready: /, 15_000, { stream: 'stdout' });
      expect(ready).toBe(
        `collie target ready: iscsi://127.0.0.1:${portalPort}/iqn.2026-01.test.collie:keys/1`,
      );
      const adminLine = await target.waitForLine(ADMIN_LINE, 5_000, { stream: 'stdout' });
      expect(adminLine).toContain(`(npx collie adm --data ${data} session list)`);
      const url = ADMIN_LINE.exec(adminLine)?.[1] ?? '';
      const token = (await readFile(join(data, 'admin-token'), 'utf8')).trim();
      const status = await fetch(`${url}api/admin/status`, { headers: { authorization: `Bearer ${token}` } });
      expect(status.status).toBe(200);
      // A connection opened and closed: events to the file.
      await new Promise<void>((resolve, reject) => {
        const socket = connect(portalPort!, '127.0.0.1', () => socket.end());
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
    } finally {
      const exit = await target.stop('SIGTERM', 10_000);
      expect(exit, target.describeTail()).toEqual({ code: 0, signal: null });
    }
    // JSON lines at info: the flags won over `level: warn, format: pretty`.
    const logs = target.stderrLines
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // stop: 1 s + 1 s: the deadline is 1 + 1 + 4 s.
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: 'stopping (send the signal again to stop at once)', deadlineMs: 6_000 }),
    );
    const eventTypes = (await readFile(events, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (JSON.parse(line) as { type: string }).type);
    expect(eventTypes).toContain('connection.opened');
    await expect(stat(join(data, 'admin.json'))).rejects.toThrow(/ENOENT/);
  }, 60_000);

  test("without the log flags, the file's log level holds: no info line", async () => {
    const [portalPort] = await allocatePorts(1);
    const { file } = await targetConfig('level', portalPort!);
    const target = startProcess(process.execPath, [COLLIE_BIN, 'target', '--config', file], {
      name: 'collie target --config level',
      cwd: REPO_ROOT,
    });
    try {
      await target.waitForLine(/^collie target ready: /, 15_000, { stream: 'stdout' });
    } finally {
      const exit = await target.stop('SIGTERM', 10_000);
      expect(exit, target.describeTail()).toEqual({ code: 0, signal: null });
    }
    // At the default level (info) the stop would log `stopping ...` and `stopped`.
    expect(target.stderrLines.filter((line) => line !== '')).toEqual([]);
  }, 60_000);
});

describe('--drain-seconds and --logout-seconds out of bounds', () => {
  test('collie target: one line naming the flag and the fix, exit 2', async () => {
    const result = await runProcess(
      process.execPath,
      [
        COLLIE_BIN,
        'target',
        '--iqn',
        'iqn.2026-01.test.collie:x',
        '--lun',
        '1=mem:1M',
        '--drain-seconds',
        '61',
      ],
      { cwd: REPO_ROOT, timeoutMs: 30_000 },
    );
    expect({
      code: result.exitCode,
      stdout: result.stdout.toString(),
      stderr: result.stderr.toString(),
    }).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'collie target: --drain-seconds 61 is not a number of seconds (write whole seconds from 0 to 60)\n',
    });
  });

  test('collie up: the same rule, a usage error', async () => {
    const result = await runProcess(process.execPath, [COLLIE_BIN, 'up', '--logout-seconds', 'soon'], {
      cwd: REPO_ROOT,
      timeoutMs: 30_000,
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr.toString()).toContain(
      '--logout-seconds "soon" is not a number of seconds (write whole seconds from 0 to 60)',
    );
    expect(result.stderr.toString()).not.toMatch(/\n\s+at /);
  });
});
