/**
 * Goal: a running `collie up` (what `npm start` runs) is operated without a restart while qemu-io
 * stays logged in: `collie adm lun add` adds a LUN the initiator learns of (REPORTED LUNS DATA HAS
 * CHANGED on its next command; REPORT LUNS lists it; IO to it works), `session list` shows the
 * initiator's session with its addresses and negotiated keys, `session kill` drops it and the
 * initiator reconnects by itself, `vdi snapshot` takes a snapshot under the live writer (the
 * snapshot keeps what was written before it), `/metrics` counters move under load; and the
 * operator's mistakes (bad token, stopped daemon, malformed config, wrong VDI name) each give one
 * line naming the problem and the fix, exit status not 0, no stack trace.
 * Method: real processes: `collie up --admin 127.0.0.1:0` in a temporary data directory, Debian's
 * qemu-io (interactive, one libiscsi session), iscsi-ls, and the built `collie adm`.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { assertCollieBuilt, COLLIE_BIN, REPO_ROOT, startUp } from '../support/collie.js';
import { allocatePorts } from '../support/ports.js';
import { runProcess } from '../support/processes.js';
import { startInteractiveQemuIo } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';

const tools = requireTool('qemu-io') && requireTool('iscsi-ls');
const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

const IQN = 'iqn.2026-11.org.collie:vol0';

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function collie(args: readonly string[]): Promise<CliRun> {
  assertCollieBuilt();
  const run = await runProcess(process.execPath, [COLLIE_BIN, ...args], {
    name: `collie ${args.join(' ')}`,
    cwd: REPO_ROOT,
    timeoutMs: 30_000,
  });
  return { code: run.exitCode, stdout: run.stdout.toString(), stderr: run.stderr.toString() };
}

/** Exit status not 0, exactly one line on stderr, no stack trace. */
function expectOneLineError(run: CliRun, mentions: RegExp): void {
  const lines = run.stderr.trim().split('\n');
  expect(run.code, run.stderr).not.toBe(0);
  expect(lines, run.stderr).toHaveLength(1);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(run.stderr).toMatch(mentions);
}

/** Sums the samples of one metric family whose labels include every pair of `labels`. */
function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? ([-+\d.eE]+|NaN|\+Inf)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) {
      sum += Number(match[3]);
    }
  }
  return sum;
}

describe.skipIf(!tools)('operating a running collie up', () => {
  test('adm lun add, session list/kill, vdi snapshot and /metrics while qemu-io is logged in; one-line errors', async () => {
    const data = await mkdtemp(join(tmpdir(), 'collie-ops-'));
    directories.push(data);
    const [portalPort, sheepPort] = await allocatePorts(2);
    const up = await startUp({ dataDir: data, portalPort: portalPort!, sheepPort: sheepPort! });
    const adm = (...args: string[]) => collie(['adm', '--data', data, ...args]);
    const admJson = async <T>(...args: string[]): Promise<T> => {
      const run = await adm('--json', ...args);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as T;
    };
    const runtime = JSON.parse(await readFile(join(data, 'admin.json'), 'utf8')) as { url: string };
    const metrics = async () => (await fetch(new URL('/metrics', runtime.url))).text();
    const lun1 = up.urls[0]!;
    const qemu = startInteractiveQemuIo(lun1);
    try {
      // The admin URL is announced with the connect lines.
      expect(up.process.stdoutLines.join('\n')).toContain(runtime.url);

      // ---- metrics move under load
      const before = await metrics();
      for (let n = 0; n < 32; n++) {
        expect(await qemu.run(`write -P 0x11 ${n * 65536} 64k`)).toMatch(/^wrote 65536\/65536/);
      }
      expect(await qemu.run('read -P 0x11 0 64k')).toMatch(/^read 65536\/65536/);
      const after = await metrics();
      const writes = (text: string) =>
        metricSum(text, 'collie_scsi_commands_total', { lun: '1', direction: 'write' });
      const writtenBytes = (text: string) =>
        metricSum(text, 'collie_scsi_bytes_total', { lun: '1', direction: 'write' });
      console.log(
        `metrics: write commands ${writes(before)} -> ${writes(after)}, bytes ${writtenBytes(before)} -> ${writtenBytes(after)}`,
      );
      expect(writes(after) - writes(before)).toBeGreaterThanOrEqual(32);
      expect(writtenBytes(after) - writtenBytes(before)).toBeGreaterThanOrEqual(32 * 65536);
      expect(metricSum(after, 'collie_iscsi_sessions')).toBeGreaterThanOrEqual(1);

      // ---- lun add: the logged-in initiator hears 3F/0E on its next command; REPORT LUNS lists it
      const added = await adm('lun', 'add', 'mem:64M', '--lun', '2');
      expect(added.code, added.stderr).toBe(0);
      qemu.takeStderr();
      expect(await qemu.run('read -P 0x11 0 4k')).toMatch(/^read 4096\/4096/);
      const heard = qemu.takeStderr().join('\n');
      console.log(`qemu-io after lun add: ${heard}`);
      expect(heard).toMatch(/REPORTED.LUNS.DATA.HAS.CHANGED|0x3f0e/i);
      const listing = await runProcess('iscsi-ls', ['-s', `iscsi://127.0.0.1:${portalPort}`], {
        timeoutMs: 30_000,
      });
      expect(listing.stdout.toString()).toMatch(/Lun:2\b/);
      const lun2 = lun1.replace(/\/1$/, '/2');
      const lun2Io = await runProcess(
        'qemu-io',
        ['-f', 'raw', lun2, '-c', 'write -P 0x22 0 64k', '-c', 'read -P 0x22 0 64k'],
        { timeoutMs: 30_000 },
      );
      expect(lun2Io.stdout.toString(), lun2Io.stderr.toString()).toMatch(/read 65536\/65536/);
      expect(lun2Io.stdout.toString()).not.toMatch(/Pattern verification failed/);

      // ---- session list: qemu-io's session with addresses and negotiated keys
      type Session = {
        tsih: number;
        initiator: string;
        target: string;
        connection?: { remote: string };
        parameters: Record<string, string>;
      };
      const sessions = await admJson<Session[]>('session', 'list');
      const mine = sessions.filter((session) => session.target === IQN);
      expect(mine, JSON.stringify(sessions)).toHaveLength(1);
      const first = mine[0]!;
      expect(first.connection?.remote).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(first.parameters.MaxBurstLength).toMatch(/^\d+$/);
      const table = await adm('session', 'list');
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toContain(first.initiator);

      // ---- session kill: the initiator reconnects by itself, with a new session
      const killed = await adm('session', 'kill', String(first.tsih));
      expect(killed.code, killed.stderr).toBe(0);
      expect(await qemu.run('read -P 0x11 0 64k', 60_000)).toMatch(/^read 65536\/65536/);
      const again = (await admJson<Session[]>('session', 'list')).filter((session) => session.target === IQN);
      expect(again, JSON.stringify(again)).toHaveLength(1);
      expect(again[0]!.tsih).not.toBe(first.tsih);
      expect(again[0]!.initiator).toBe(first.initiator);

      // ---- vdi snapshot under the live writer: the snapshot keeps what came before it
      const snap = await adm('vdi', 'snapshot', 'vol0', '-s', 'before');
      expect(snap.code, snap.stderr).toBe(0);
      expect(await qemu.run('write -P 0x33 0 64k')).toMatch(/^wrote 65536\/65536/);
      expect(await qemu.run('read -P 0x33 0 64k')).toMatch(/^read 65536\/65536/);
      const vdis = await admJson<Array<{ name: string; snapshot: boolean; tag: string }>>('vdi', 'list');
      expect(vdis.some((vdi) => vdi.name === 'vol0' && vdi.snapshot && vdi.tag === 'before')).toBe(true);
      const old = await collie([
        'vdi',
        'read',
        '-s',
        'before',
        'vol0',
        '0',
        '65536',
        '-p',
        String(sheepPort),
      ]);
      expect(old.code, old.stderr).toBe(0);
      expect(Buffer.from(old.stdout, 'latin1').every((byte) => byte === 0x11)).toBe(true);

      // ---- one-line errors
      expectOneLineError(await adm('--token', '0'.repeat(64), 'session', 'list'), /token/i);
      expectOneLineError(await adm('vdi', 'snapshot', 'no-such-vdi'), /no-such-vdi.*(create|list)/i);
      const badConfig = join(data, 'bad.yaml');
      await writeFile(badConfig, 'targets:\n  - iqn: iqn.2026-11.org.collie:x\n    lunz: {}\n');
      expectOneLineError(await collie(['target', '--config', badConfig]), /bad\.yaml:\d+: .*lunz/);
    } finally {
      await qemu.close();
    }
    // A stopped daemon: a clean stop removes admin.json; a killed one leaves it behind.
    await up.process.stop('SIGTERM', 10_000);
    expectOneLineError(await adm('session', 'list'), /no running Collie.*(npm start|--data)/i);
    const [closedPort] = await allocatePorts(1);
    expectOneLineError(
      await adm('--url', `http://127.0.0.1:${closedPort}/`, '--token', 'x', 'session', 'list'),
      /no Collie daemon answers at http:\/\/127\.0\.0\.1:\d+\/.*start/i,
    );
  }, 180_000);
});
