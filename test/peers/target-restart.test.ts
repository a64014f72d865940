/**
 * Goal: a `file:` LUN of `collie target` keeps its data across a target restart, and SIGTERM
 * stops the target cleanly and promptly.
 *
 * Method: a real target exports a sparse 32 MiB file as LUN 1; qemu-io writes patterns (over
 * 1 MiB, unaligned, at the end); SIGTERM must end the process with status 0 within STOP_WITHIN_MS,
 * also while a raw initiator (target-raw-initiator.ts) is logged in and idle;
 * a new target on the same file (once with the size given, once as `file:PATH` alone, which must
 * keep the existing size) reads every pattern back and still reads zeros where nothing was
 * written. Timings are printed for the CI log. Skipped without qemu-io, except in CI.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { startTarget, type TargetHandle } from '../support/collie.js';
import { allocatePort } from '../support/ports.js';
import { readPattern, writePattern } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import { RawInitiator } from './target-raw-initiator.js';
import { KiB, MiB, runTool } from './target-tools.js';

const hasTools = ['qemu-io', 'iscsi-readcapacity16'].map(requireTool).every(Boolean);

const LUN_BYTES = 32 * MiB;
const STOP_WITHIN_MS = 3_000;
const WRITES = [
  { what: '2 MiB at 1 MiB + 512', pattern: 0x5e, offset: 1 * MiB + 512, length: 2 * MiB },
  { what: '777 bytes at an odd offset', pattern: 0x6f, offset: 12 * MiB + 1, length: 777 },
  { what: 'the last 4 KiB', pattern: 0x70, offset: LUN_BYTES - 4 * KiB, length: 4 * KiB },
];
const UNWRITTEN = { pattern: 0, offset: 20 * MiB, length: 1 * MiB };

describe.skipIf(!hasTools)('collie target restart with a file LUN', () => {
  let dir = '';
  let target: TargetHandle | undefined;

  afterAll(async () => {
    await target?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function stopAndTime(handle: TargetHandle): Promise<number> {
    const startedMs = Date.now();
    const exit = await handle.stop(STOP_WITHIN_MS);
    const tookMs = Date.now() - startedMs;
    expect(exit, handle.process.describeTail()).toEqual({ code: 0, signal: null });
    expect(tookMs).toBeLessThan(STOP_WITHIN_MS);
    return tookMs;
  }

  async function expectAllWritten(handle: TargetHandle): Promise<void> {
    for (const range of WRITES) {
      const read = await readPattern(handle.url(1), range);
      expect(read.ok, `${range.what}: ${read.output}`).toBe(true);
    }
    const zeros = await readPattern(handle.url(1), UNWRITTEN);
    expect(zeros.ok, zeros.output).toBe(true);
  }

  test('what was written before SIGTERM reads back after a restart', async () => {
    dir = await mkdtemp(join(tmpdir(), 'collie-target-restart-'));
    const image = join(dir, 'lun.img');
    const port = await allocatePort();
    const options = {
      portal: { host: '127.0.0.1', port },
      iqn: 'iqn.2026-11.test.collie:restart',
      luns: [{ lun: 1, backing: `file:${image}:32M` }],
    };
    let startedMs = Date.now();
    target = await startTarget(options);
    const firstStartMs = Date.now() - startedMs;
    for (const range of WRITES) {
      const wrote = await writePattern(target.url(1), range);
      expect(wrote.ok, `${range.what}: ${wrote.output}`).toBe(true);
    }
    // A logged-in idle session must not hold the stop up; its connection is closed.
    const idle = await RawInitiator.connect(port);
    expect((await idle.login({ targetName: options.iqn })).status).toBe(0);
    const firstStopMs = await stopAndTime(target);
    expect(await idle.waitClosed(1_000)).toBe('closed');
    idle.close();
    expect((await stat(image)).size).toBe(LUN_BYTES);

    startedMs = Date.now();
    target = await startTarget(options);
    const secondStartMs = Date.now() - startedMs;
    await expectAllWritten(target);
    const secondStopMs = await stopAndTime(target);

    // Without a size the existing file is used as it is.
    target = await startTarget({ ...options, luns: [{ lun: 1, backing: `file:${image}` }] });
    const capacity = await runTool('iscsi-readcapacity16', [target.url(1)]);
    expect(capacity.stdout, capacity.describe).toContain(`Total size:${LUN_BYTES}`);
    await expectAllWritten(target);
    await stopAndTime(target);
    target = undefined;
    process.stdout.write(
      `collie target with a file LUN: start ${firstStartMs} ms, SIGTERM to exit ${firstStopMs} ms, ` +
        `restart ${secondStartMs} ms, second stop ${secondStopMs} ms\n`,
    );
  });
});
