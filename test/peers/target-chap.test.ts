/**
 * Goal: CHAP on `collie target` works with a real initiator, one-way and mutual, and every wrong
 * or missing credential is refused at login, promptly, with a status the initiator reports.
 *
 * Method: two real targets on memory LUNs: one with `--chap` (one-way), one with `--chap` and
 * `--mutual-chap`. libiscsi's tools and qemu-io log in with the account in the URL
 * (`iscsi://USER%SECRET@HOST:PORT/IQN/LUN`); for mutual CHAP libiscsi takes the target's account
 * as URL arguments (`?target_user=U&target_password=P`) or from LIBISCSI_CHAP_TARGET_USERNAME /
 * LIBISCSI_CHAP_TARGET_PASSWORD, and both ways are tested. A refusal must end the tool with a
 * failure status within REFUSED_WITHIN_MS (no retry loop, no hang): libiscsi prints
 * "Authentication failure(513)" for status 0x0201 from the target, and "Invalid CHAP_R response
 * from the target" when the target proves the wrong secret. Skipped without the tools, except in CI.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTarget, type TargetHandle } from '../support/collie.js';
import { allocatePort } from '../support/ports.js';
import { qemuIo, readPattern, writePattern } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import { runTool, type ToolRun } from './target-tools.js';

const hasTools = ['qemu-io', 'iscsi-inq', 'iscsi-ls'].map(requireTool).every(Boolean);

const USER = 'alice';
const SECRET = 'alice-secret-12';
const TARGET_USER = 'collie-target';
const TARGET_SECRET = 'target-secret-34';
const REFUSED_WITHIN_MS = 5_000;
const AUTHENTICATION_FAILURE = /Authentication failure\(513\)/;

/** iscsi://USER%SECRET@PORTAL/IQN/LUN, with optional URL arguments. */
function chapUrl(target: TargetHandle, user: string, secret: string, query = ''): string {
  const portal = `127.0.0.1:${target.options.portal.port}`;
  return `iscsi://${user}%${secret}@${portal}/${target.options.iqn}/1${query}`;
}

function expectRefused(run: ToolRun, message: RegExp): void {
  expect(run.exitCode, run.describe).not.toBe(0);
  expect(run.stdout + run.stderr, run.describe).toMatch(message);
  expect(run.durationMs, `refusal took ${run.durationMs} ms: ${run.describe}`).toBeLessThan(
    REFUSED_WITHIN_MS,
  );
}

describe.skipIf(!hasTools)('collie target with one-way CHAP', () => {
  let target: TargetHandle | undefined;

  beforeAll(async () => {
    target = await startTarget({
      portal: { host: '127.0.0.1', port: await allocatePort() },
      iqn: 'iqn.2026-11.test.collie:chap-one-way',
      luns: [{ lun: 1, backing: 'mem:16M' }],
      extraArgs: ['--chap', `${USER}:${SECRET}`],
    });
  });

  afterAll(async () => {
    await target?.stop();
  });

  test('the right secret logs in: iscsi-inq, and qemu-io writes and reads', async () => {
    const url = chapUrl(target!, USER, SECRET);
    const inquiry = await runTool('iscsi-inq', [url]);
    expect(inquiry.exitCode, inquiry.describe).toBe(0);
    expect(inquiry.stdout).toContain('Peripheral Device Type:DIRECT_ACCESS');
    const range = { pattern: 0x3c, offset: 512 * 1024 + 512, length: 1536 * 1024 };
    const wrote = await writePattern(url, range);
    expect(wrote.ok, wrote.output).toBe(true);
    const read = await readPattern(url, range);
    expect(read.ok, read.output).toBe(true);
  });

  test('a wrong secret is refused (0x0201), by iscsi-inq and by qemu-io', async () => {
    expectRefused(
      await runTool('iscsi-inq', [chapUrl(target!, USER, 'not-the-secret-9')]),
      AUTHENTICATION_FAILURE,
    );
    const qemu = await qemuIo(chapUrl(target!, USER, 'not-the-secret-9'), ['read 0 4k'], {
      timeoutMs: 15_000,
    });
    expect(qemu.exitCode, qemu.stderr).not.toBe(0);
    expect(qemu.read).toBe(0);
    expect(qemu.stderr).toMatch(AUTHENTICATION_FAILURE);
    expect(qemu.durationMs).toBeLessThan(REFUSED_WITHIN_MS);
  });

  test('an unknown user name is refused (0x0201)', async () => {
    expectRefused(await runTool('iscsi-inq', [chapUrl(target!, 'mallory', SECRET)]), AUTHENTICATION_FAILURE);
  });

  test('no CHAP at all is refused (0x0201)', async () => {
    expectRefused(await runTool('iscsi-inq', [target!.url(1)]), AUTHENTICATION_FAILURE);
  });

  test('asking for mutual CHAP from a target without an account of its own is refused (0x0201)', async () => {
    const url = chapUrl(
      target!,
      USER,
      SECRET,
      `?target_user=${TARGET_USER}&target_password=${TARGET_SECRET}`,
    );
    expectRefused(await runTool('iscsi-inq', [url]), AUTHENTICATION_FAILURE);
  });

  test('iscsi-ls -s with the CHAP account lists the target and its LUN', async () => {
    // libiscsi offers AuthMethod=CHAP,None in the discovery session too; when the target picks
    // None it re-declares InitiatorName and SessionType in its first operational-stage request
    // (tgt 1.0.85 accepts that).
    const portal = `127.0.0.1:${target!.options.portal.port}`;
    const run = await runTool('iscsi-ls', ['-s', `iscsi://${USER}%${SECRET}@${portal}`]);
    expect(run.exitCode, run.describe).toBe(0);
    expect(run.stdout).toContain(`Target:${target!.options.iqn} Portal:${portal},1`);
    expect(run.stdout).toMatch(/Lun:1\s+Type:DIRECT_ACCESS/);
  });
});

describe.skipIf(!hasTools)('collie target with mutual CHAP', () => {
  let target: TargetHandle | undefined;
  const targetAccountQuery = `?target_user=${TARGET_USER}&target_password=${TARGET_SECRET}`;

  beforeAll(async () => {
    target = await startTarget({
      portal: { host: '127.0.0.1', port: await allocatePort() },
      iqn: 'iqn.2026-11.test.collie:chap-mutual',
      luns: [{ lun: 1, backing: 'mem:16M' }],
      extraArgs: ['--chap', `${USER}:${SECRET}`, '--mutual-chap', `${TARGET_USER}:${TARGET_SECRET}`],
    });
  });

  afterAll(async () => {
    await target?.stop();
  });

  test("the target's account as URL arguments: both sides prove their secret", async () => {
    const run = await runTool('iscsi-inq', [chapUrl(target!, USER, SECRET, targetAccountQuery)]);
    expect(run.exitCode, run.describe).toBe(0);
    expect(run.stdout).toContain('Peripheral Device Type:DIRECT_ACCESS');
  });

  test("the target's account from LIBISCSI_CHAP_TARGET_USERNAME/_PASSWORD", async () => {
    const run = await runTool('iscsi-inq', [chapUrl(target!, USER, SECRET)], {
      env: { LIBISCSI_CHAP_TARGET_USERNAME: TARGET_USER, LIBISCSI_CHAP_TARGET_PASSWORD: TARGET_SECRET },
    });
    expect(run.exitCode, run.describe).toBe(0);
    expect(run.stdout).toContain('Peripheral Device Type:DIRECT_ACCESS');
  });

  test("a wrong target secret on the initiator: the initiator refuses the target's answer", async () => {
    const query = `?target_user=${TARGET_USER}&target_password=not-the-secret-9`;
    expectRefused(
      await runTool('iscsi-inq', [chapUrl(target!, USER, SECRET, query)]),
      /Invalid CHAP_R response from the target/,
    );
  });

  test('a wrong initiator secret is refused (0x0201) before the target proves its own', async () => {
    expectRefused(
      await runTool('iscsi-inq', [chapUrl(target!, USER, 'not-the-secret-9', targetAccountQuery)]),
      AUTHENTICATION_FAILURE,
    );
  });

  test('no CHAP at all is refused (0x0201)', async () => {
    expectRefused(await runTool('iscsi-inq', [target!.url(1)]), AUTHENTICATION_FAILURE);
  });
});
