/**
 * Goal: `collie up` (what `npm start` runs) keeps its friendly lines on stdout exactly as before
 * and writes its logs to stderr: JSON lines when stderr is not a terminal (the default, auto),
 * pino-pretty lines with --log-format pretty; a bad --log-format or --log-level is a usage error.
 * Method: the built CLI (`node bin/collie.js up`, global setup builds dist/) as a real process on
 * free ports with piped (not a terminal) stdout and stderr, stopped with SIGTERM.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { assertCollieBuilt, COLLIE_BIN, REPO_ROOT, startUp } from '../support/collie.js';
import { allocatePorts } from '../support/ports.js';
import { runProcess } from '../support/processes.js';

let dir: string;
beforeAll(async () => {
  assertCollieBuilt();
  dir = await mkdtemp(join(tmpdir(), 'collie-logs-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts `collie up` in a new data directory, waits for its ready line, stops it; returns both streams. */
async function upOnce(name: string, extraArgs: string[]): Promise<{ stdout: string[]; stderr: string[] }> {
  const data = join(dir, name);
  const [portalPort, sheepPort] = await allocatePorts(2);
  const { process: up } = await startUp({
    dataDir: data,
    portalPort: portalPort!,
    sheepPort: sheepPort!,
    extraArgs,
  });
  expect(up.stdoutLines[0]).toBe(
    `collie up ready: iscsi://127.0.0.1:${portalPort}/iqn.2026-11.org.collie:vol0/1 (VDI "vol0" on the embedded store 127.0.0.1:${sheepPort}, data in ${data})`,
  );
  const exit = await up.stop('SIGTERM', 10_000);
  expect(exit, up.describeTail()).toEqual({ code: 0, signal: null });
  return { stdout: [...up.stdoutLines], stderr: [...up.stderrLines] };
}

describe('collie up logs', () => {
  test('not on a terminal: friendly lines on stdout, JSON log lines on stderr', async () => {
    const { stdout, stderr } = await upOnce('json', []);
    // stdout is the ready text only: no log line among it.
    expect(stdout[0]).toMatch(/^collie up ready: /);
    expect(stdout.some((line) => line.startsWith('{'))).toBe(false);
    expect(stdout.filter((line) => line.startsWith('  ')).map((line) => line.split(' ')[2])).toEqual([
      'admin,',
      'iscsi-ls',
      'qemu-io',
      'iscsiadm',
      'npx',
    ]);
    const logs = stderr
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 30, component: 'up', vdi: 'vol0', msg: 'created the default VDI' }),
    );
  }, 60_000);

  test('--log-format pretty: pino-pretty lines on stderr, no colours in a pipe; stdout unchanged', async () => {
    const { stdout, stderr } = await upOnce('pretty', ['--log-format', 'pretty']);
    expect(stdout[0]).toMatch(/^collie up ready: /);
    expect(stderr[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: created the default VDI$/);
    expect(stderr).toContain('    component: "up"');
    expect(stderr.join('\n')).not.toContain('\x1b[');
  }, 60_000);

  test('a bad --log-format or --log-level is a usage error naming the choices', async () => {
    const format = await runProcess(process.execPath, [COLLIE_BIN, 'up', '--log-format', 'xml'], {
      cwd: REPO_ROOT,
      timeoutMs: 30_000,
    });
    expect(format.exitCode).not.toBe(0);
    expect(format.stderr.toString()).toMatch(/--log-format.*'xml' is invalid.*auto, json, pretty/);
    const level = await runProcess(process.execPath, [COLLIE_BIN, 'target', '--log-level', 'loud'], {
      cwd: REPO_ROOT,
      timeoutMs: 30_000,
    });
    expect(level.exitCode).not.toBe(0);
    expect(level.stderr.toString()).toContain(
      '--log-level "loud": write one of trace, debug, info, warn, error',
    );
  });
});
