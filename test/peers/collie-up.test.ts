/**
 * Goal: README's first command works as a user runs it: `collie up` brings up the embedded store,
 * a default VDI and a target; iscsi-ls discovers it, qemu-io writes and reads through it, and the
 * data is still there after a restart. Method: run `collie up` as a real process on free ports in
 * a temporary data directory, talk to it with libiscsi and qemu, stop it with SIGTERM, start it again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { COLLIE_BIN } from '../support/collie.js';
import { allocatePorts } from '../support/ports.js';
import { runProcess, startProcess } from '../support/processes.js';
import { qemuIo } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';

const tools = requireTool('iscsi-ls') && requireTool('qemu-io');
const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

describe.skipIf(!tools)('collie up', () => {
  test('discovered by iscsi-ls, written and read by qemu-io, data kept across a restart', async () => {
    const data = await mkdtemp(join(tmpdir(), 'collie-up-'));
    directories.push(data);
    const [portalPort, sheepPort] = await allocatePorts(2);
    const up = () =>
      startProcess(
        process.execPath,
        [
          COLLIE_BIN,
          'up',
          '--data',
          data,
          '--portal',
          `127.0.0.1:${portalPort}`,
          '--sheep',
          `127.0.0.1:${sheepPort}`,
          '--admin',
          '127.0.0.1:0',
        ],
        {
          name: 'collie up',
        },
      );
    const url = `iscsi://127.0.0.1:${portalPort}/iqn.2026-11.org.collie:vol0/1`;

    const first = up();
    await first.waitForLine(/collie up ready/, 20_000);
    const listing = await runProcess('iscsi-ls', ['-s', `iscsi://127.0.0.1:${portalPort}`], {
      timeoutMs: 20_000,
    });
    expect(listing.stdout.toString()).toContain('Target:iqn.2026-11.org.collie:vol0');
    expect(listing.stdout.toString()).toMatch(/Lun:1\s+Type:DIRECT_ACCESS/);
    const written = await qemuIo(url, ['write -P 0xc7 3M 1M', 'read -P 0xc7 3M 1M'], { timeoutMs: 30_000 });
    expect(written.patternFailures, written.stdout).toEqual([]);
    expect(written.wrote).toBe(1024 * 1024);
    await first.stop('SIGTERM', 10_000);

    const second = up();
    await second.waitForLine(/collie up ready/, 20_000);
    const read = await qemuIo(url, ['read -P 0xc7 3M 1M'], { timeoutMs: 30_000 });
    expect(read.patternFailures, read.stdout).toEqual([]);
    expect(read.read).toBe(1024 * 1024);
    await second.stop('SIGTERM', 10_000);
  }, 90_000);
});
