/**
 * Goal: prove the real-peer harness (test/support) before any Collie code is behind it.
 * Method: start a real tgtd on an allocated 4-digit port with tgt's own file backend (a sparse 64 MiB
 * `rdwr` LUN), drive it with qemu-io and the libiscsi tools, then stop tgtd and check that neither
 * its process nor its control socket is left. Skipped when the tools are missing, except in CI.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  allocatePort,
  FOUR_DIGIT_PORT_MAX,
  FOUR_DIGIT_PORT_MIN,
  isPortFree,
  tgtControlSocketPath,
} from '../support/ports.js';
import { runProcess } from '../support/processes.js';
import { qemuIo, readPattern, writePattern } from '../support/qemu-io.js';
import { Tgtd } from '../support/tgt.js';
import { requireTool } from '../support/tools.js';

const tools = ['tgtd', 'tgtadm', 'qemu-io', 'iscsi-ls', 'iscsi-inq'];
const hasTools = tools.map(requireTool).every(Boolean);

const IQN = 'iqn.2026-11.test.collie:harness';
const MiB = 1024 * 1024;
const LUN_SIZE_BYTES = 64 * MiB;

/** Pids of running tgtd processes whose command line names control channel N. */
function tgtdPidsWithControlPort(controlPort: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const c = argv.indexOf('-C');
      if (argv.some((arg) => arg.endsWith('tgtd')) && c >= 0 && argv[c + 1] === String(controlPort)) {
        pids.push(Number(entry));
      }
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

describe('port allocation', () => {
  test('gives distinct, free, 4-digit ports', async () => {
    const ports = [await allocatePort(), await allocatePort(), await allocatePort()];
    expect(new Set(ports).size).toBe(3);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(FOUR_DIGIT_PORT_MIN);
      expect(port).toBeLessThanOrEqual(FOUR_DIGIT_PORT_MAX);
      expect(await isPortFree(port)).toBe(true);
    }
  });
});

describe.skipIf(!hasTools)('real peers: tgtd with an rdwr LUN, qemu-io and libiscsi', () => {
  let workDir = '';
  let tgtd: Tgtd | undefined;
  let url = '';

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'collie-harness-'));
    const image = join(workDir, 'disk.img');
    await writeFile(image, '');
    await truncate(image, LUN_SIZE_BYTES);
    tgtd = await Tgtd.start({ portalPort: await allocatePort() });
    await tgtd.createTarget(1, IQN);
    await tgtd.addLun(1, 1, { bstype: 'rdwr', backingStore: image });
    url = tgtd.url(IQN, 1);
  });

  afterAll(async () => {
    await tgtd?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test('qemu-io writes pattern 0xab at 1 MiB and reads it back', async () => {
    const range = { pattern: 0xab, offset: 1 * MiB, length: 64 * 1024 };
    const wrote = await writePattern(url, range);
    expect(wrote.ok, wrote.output).toBe(true);
    expect(wrote.result.wrote).toBe(64 * 1024);
    const read = await readPattern(url, range);
    expect(read.ok, read.output).toBe(true);
    expect(read.result.read).toBe(64 * 1024);
  });

  test('a read expecting the wrong pattern is reported as a failure', async () => {
    const read = await readPattern(url, { pattern: 0xcd, offset: 1 * MiB, length: 64 * 1024 });
    expect(read.ok).toBe(false);
    expect(read.result.patternFailures).toEqual([
      `Pattern verification failed at offset ${1 * MiB}, 65536 bytes`,
    ]);
    // The bytes still arrived: only the comparison failed.
    expect(read.result.read).toBe(64 * 1024);
  });

  test('qemu-io reports a read beyond the end of the LUN as an error', async () => {
    const result = await qemuIo(url, [`read ${LUN_SIZE_BYTES + MiB} 512`]);
    expect(result.read).toBe(0);
    expect(result.errors.join('\n')).toMatch(/read failed/);
  });

  test('iscsi-ls lists the target and its 64 MiB disk LUN', async () => {
    const run = await runProcess('iscsi-ls', ['-s', `iscsi://${tgtd!.portal}`], { timeoutMs: 15_000 });
    const stdout = run.stdout.toString();
    expect(run.exitCode, stdout + run.stderr.toString()).toBe(0);
    expect(stdout).toContain(`Target:${IQN} Portal:${tgtd!.portal},1`);
    expect(stdout).toMatch(/Lun:1\s+Type:DIRECT_ACCESS/);
  });

  test('iscsi-inq reads the standard INQUIRY of the LUN', async () => {
    const run = await runProcess('iscsi-inq', [url], { timeoutMs: 15_000 });
    const stdout = run.stdout.toString();
    expect(run.exitCode, stdout + run.stderr.toString()).toBe(0);
    expect(stdout).toContain('Peripheral Device Type:DIRECT_ACCESS');
    expect(stdout).toMatch(/Vendor:IET/);
  });

  test('tgtadm failures carry tgtadm stderr', async () => {
    await expect(tgtd!.addLun(9, 1, { bstype: 'rdwr', backingStore: '/nonexistent' })).rejects.toThrow(
      /tgtadm -C \d+ .*failed \(exit 22\): tgtadm: can't find the target/,
    );
  });

  test('stop() ends tgtd and leaves no process or control socket behind', async () => {
    const daemon = tgtd!;
    const { controlPort } = daemon;
    expect(tgtdPidsWithControlPort(controlPort)).toEqual([daemon.daemon.pid]);
    await daemon.stop();
    expect(daemon.daemon.exitInfo).toBeDefined();
    expect(tgtdPidsWithControlPort(controlPort)).toEqual([]);
    expect(existsSync(tgtControlSocketPath(controlPort))).toBe(false);
    expect(existsSync(`${tgtControlSocketPath(controlPort)}.lock`)).toBe(false);
  });
});
