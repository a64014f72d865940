/**
 * Goal: two target nodes exporting one VDI act as one SCSI logical unit: libiscsi's multipath
 * tests pass through them, a reservation taken through one node holds through the other, a
 * preemption and a LUN RESET through one node raise their unit attentions on the other, two
 * COMPARE AND WRITEs of one LBA through different nodes never both succeed, and every node
 * reports the same ALUA groups, which SET TARGET PORT GROUPS through one node changes for all.
 *
 * Method: `collie up --nodes 2` as a real process on free consecutive ports (node 1 = A, node 2 =
 * B, each with its own portal, node id and sheepdog client on its own store node), once on the
 * store's own rules and once with `--compat sheep-1.0`; a fresh data directory per test. Then:
 *   - iscsi-test-cu --dataloss -t SCSI.MultipathIO URL_A URL_B (Simple, Reset, CompareAndWrite,
 *     CompareAndWriteAsync). libiscsi 1.19 reads -t as FAMILY.SUITE.TEST, so the suite is
 *     SCSI.MultipathIO, not MultipathIO.*;
 *   - the reservation suites whose tests take a second initiator, SCSI.ProutReserve (Access*,
 *     Ownership*), SCSI.ProutPreempt and SCSI.Reserve6 (2Initiators, Logout, ITNexusLoss,
 *     Target*Reset): given two URLs, libiscsi's mpath_sd2_get_or_clone (iscsi-multipath.c) hands
 *     those tests the second URL's session, logged in as the second initiator name, so initiator
 *     2 sits on node B while initiator 1 holds its reservation through node A;
 *   - multipath-scsi-initiator.py (libiscsi through python3's ctypes, one initiator per node):
 *     `sequence` (REGISTER + RESERVE through A, RESERVATION CONFLICT through B, PREEMPT through
 *     B, UA 2A/05 or 2A/03 on A, LUN RESET through A → UA 29/xx on B, rounds of concurrent
 *     COMPARE AND WRITE: one GOOD, one MISCOMPARE) and `alua` (RTPG byte-identical through A and
 *     B, STPG through A changes both), for each ALUA policy.
 * And each node's id shows where an initiator sees it (`--node-id 5`: tags 5 and 6).
 * Every run prints its result lines for the CI log; a failure names the failed tests or steps.
 * Skipped when libiscsi-bin (iscsi-test-cu, iscsi-ls, iscsi-inq) or python3 is missing, except in CI.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { startUp } from '../support/collie.js';
import { allocateConsecutivePorts } from '../support/ports.js';
import { runProcess } from '../support/processes.js';
import { runTestCu, type TestCuCounts } from '../support/testcu.js';
import { requireTool } from '../support/tools.js';

const tools = ['iscsi-test-cu', 'iscsi-ls', 'iscsi-inq', 'python3'].map(requireTool).every(Boolean);
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'multipath-scsi-initiator.py');
const COMPATS = ['collie', 'sheep-1.0'] as const;
const ALUA_POLICIES = ['active-active', 'single-owner'] as const;
/** The reservation suites with tests that use the second URL as their second initiator. */
const TWO_INITIATOR_SUITES = 'SCSI.ProutReserve,SCSI.ProutPreempt,SCSI.Reserve6';
const TWO_INITIATOR_TESTS = 13 + 1 + 7;
const TEST_TIMEOUT_MS = 180_000;
const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

/** Runs `collie up --nodes N` on a fresh store for `body` (given one URL per node), then stops it. */
async function withNodes(
  nodes: number,
  compat: (typeof COMPATS)[number],
  extraArgs: string[],
  body: (urls: readonly string[]) => Promise<void>,
): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'collie-multipath-scsi-'));
  directories.push(dataDir);
  const [portalPort] = await allocateConsecutivePorts(nodes);
  const [sheepPort] = await allocateConsecutivePorts(nodes);
  const up = await startUp({
    dataDir,
    portalPort: portalPort!,
    sheepPort: sheepPort!,
    nodes,
    extraArgs: [...(compat === 'collie' ? [] : ['--compat', compat]), ...extraArgs],
  });
  try {
    await body(up.urls);
    expect(up.process.exitInfo, up.process.describeTail()).toBeUndefined();
  } finally {
    await up.process.stop('SIGTERM', 10_000);
  }
}

function report(label: string, counts: TestCuCounts): void {
  process.stdout.write(
    `iscsi-test-cu ${label}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped (of ${counts.total})` +
      (counts.failedTests.length > 0 ? `; failed: ${counts.failedTests.join(', ')}` : '') +
      (counts.skippedTests.length > 0 ? `; skipped: ${counts.skippedTests.join(', ')}` : '') +
      '\n',
  );
}

/** Runs the initiator script; returns its step lines and the names of the failed steps. */
async function initiatorScript(
  label: string,
  mode: 'sequence' | 'alua',
  urlA: string,
  urlB: string,
): Promise<{ output: string; failedSteps: string[]; exitCode: number | null }> {
  const result = await runProcess('python3', [SCRIPT, mode, urlA, urlB], {
    timeoutMs: 120_000,
    name: `multipath-scsi-initiator.py ${mode}`,
  });
  const output = result.stdout.toString('utf8') + result.stderr.toString('utf8');
  process.stdout.write(`--- ${label}\n${output}`);
  const failedSteps = [...output.matchAll(/^\[FAIL\] ([^:]+):/gm)].map((match) => match[1]!);
  expect(output, 'the script ended without its RESULT line').toMatch(/^RESULT: \d+ passed, \d+ failed$/m);
  return { output, failedSteps, exitCode: result.exitCode };
}

describe.skipIf(!tools)('collie up --nodes 2 --node-id 5', () => {
  test('each node has its own id: portal group tag (discovery), target port name (VPD 0x83)', async () => {
    await withNodes(2, 'collie', ['--node-id', '5'], async (urls) => {
      for (const [index, url] of urls.entries()) {
        const nodeId = 5 + index;
        const portal = /^iscsi:\/\/([^/]+)\//.exec(url)![1]!;
        const listing = await runProcess('iscsi-ls', ['-s', `iscsi://${portal}`], { timeoutMs: 20_000 });
        expect(listing.stdout.toString(), listing.stderr.toString()).toContain(
          `Portal:${portal},${nodeId}\n`,
        );
        const inquiry = await runProcess('iscsi-inq', ['-e', '1', '-c', '131', url], { timeoutMs: 20_000 });
        expect(inquiry.stdout.toString(), inquiry.stderr.toString()).toContain(
          `,t,0x${nodeId.toString(16).padStart(4, '0')}]`,
        );
      }
    });
  }, 60_000);
});

describe.skipIf(!tools).each(COMPATS)('collie up --nodes 2 (store compat %s)', (compat) => {
  test(
    'iscsi-test-cu SCSI.MultipathIO through node A and node B: 4 of 4 pass',
    async () => {
      await withNodes(2, compat, [], async ([urlA, urlB]) => {
        const run = await runTestCu(urlA!, 'SCSI.MultipathIO', { timeoutMs: 120_000, extraUrls: [urlB!] });
        report(`SCSI.MultipathIO, two nodes, compat ${compat}`, run.counts);
        expect(run.log, 'libiscsi found no common LU identifier').toMatch(
          /found matching LU device identifier/,
        );
        expect(run.counts.total, run.log).toBe(4);
        expect(run.counts.failedTests, run.log).toEqual([]);
        expect(run.counts.passed, run.counts.skippedTests.join(', ')).toBe(4);
      });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'iscsi-test-cu reservation suites, the second initiator on node B: all pass',
    async () => {
      await withNodes(2, compat, [], async ([urlA, urlB]) => {
        const run = await runTestCu(urlA!, TWO_INITIATOR_SUITES, { timeoutMs: 120_000, extraUrls: [urlB!] });
        report(`${TWO_INITIATOR_SUITES}, two nodes, compat ${compat}`, run.counts);
        expect(run.log, 'the second URL was not used for the second initiator').toMatch(
          /using multipath dev for second session/,
        );
        expect(run.counts.total, run.log).toBe(TWO_INITIATOR_TESTS);
        expect(run.counts.failedTests, run.log).toEqual([]);
        expect(run.counts.passed, run.counts.skippedTests.join(', ')).toBe(TWO_INITIATOR_TESTS);
      });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'control: both initiators through one node pass every step of the sequence',
    async () => {
      await withNodes(1, compat, [], async ([url]) => {
        const run = await initiatorScript(`sequence on one node, compat ${compat}`, 'sequence', url!, url!);
        expect(run.failedSteps, run.output).toEqual([]);
        expect(run.exitCode, run.output).toBe(0);
      });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'one real initiator per node: reservation, preemption, LUN RESET and COMPARE AND WRITE hold across nodes',
    async () => {
      await withNodes(2, compat, [], async ([urlA, urlB]) => {
        const run = await initiatorScript(`sequence, compat ${compat}`, 'sequence', urlA!, urlB!);
        expect(run.failedSteps, run.output).toEqual([]);
        expect(run.exitCode, run.output).toBe(0);
      });
    },
    TEST_TIMEOUT_MS,
  );

  test.each(ALUA_POLICIES)(
    'ALUA %s: RTPG is byte-identical through both nodes, STPG through one changes both',
    async (policy) => {
      await withNodes(2, compat, ['--alua', policy], async ([urlA, urlB]) => {
        const run = await initiatorScript(`alua ${policy}, compat ${compat}`, 'alua', urlA!, urlB!);
        expect(run.failedSteps, run.output).toEqual([]);
        expect(run.exitCode, run.output).toBe(0);
      });
    },
    TEST_TIMEOUT_MS,
  );
});
