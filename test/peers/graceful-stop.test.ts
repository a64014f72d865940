/**
 * Goal: SIGTERM stops `collie up` gracefully under a write load: it exits 0 within 10 s, and every
 * write qemu-io saw acknowledged reads back after a restart (nothing acknowledged is lost); a
 * second SIGTERM during the stop exits at once (143). The same holds under qemu-img's load.
 * Method: `collie up` as a real process on free ports in a temporary data directory; qemu-io
 * writes 200 sequential 64 KiB ranges, each with its own byte pattern; after some `wrote` lines
 * the test sends SIGTERM, times the exit, kills qemu-io (libiscsi reconnects for ever), starts
 * `collie up` again on the same data and reads back every range qemu-io reported written. With
 * qemu-img: back-to-back `qemu-img bench -w` runs, each writing its own 2 MiB range with its own
 * pattern at queue depth 8; a run that exited 0 saw every one of its writes acknowledged, so each
 * such range must read back after the restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { startUp } from '../support/collie.js';
import { allocatePorts } from '../support/ports.js';
import { runProcess } from '../support/processes.js';
import { type PatternRange, parseOffsetReports, readRanges, startQemuIo } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import { RawInitiator } from './target-raw-initiator.js';

const tools = requireTool('qemu-io');
const qemuImg = requireTool('qemu-img');
const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

const IQN = 'iqn.2026-11.org.collie:vol0';
const WRITES = 200;
const RANGE_BYTES = 64 * 1024;
/** `wrote` lines to see before SIGTERM: the load is well under way, far from its end. */
const WRITES_BEFORE_STOP = 40;
const EXIT_WITHIN_MS = 10_000;
/** qemu-img bench: requests per run (each RANGE_BYTES), runs before SIGTERM, and a bound on runs. */
const BENCH_COUNT = 32;
const BENCH_RUNS_BEFORE_STOP = 5;
const BENCH_RUNS_MAX = 200;

const ranges: PatternRange[] = Array.from({ length: WRITES }, (_, n) => ({
  pattern: (n % 250) + 1,
  offset: n * RANGE_BYTES,
  length: RANGE_BYTES,
}));

async function dataDirectory(): Promise<string> {
  const data = await mkdtemp(join(tmpdir(), 'collie-stop-'));
  directories.push(data);
  return data;
}

function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (condition()) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(poll);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 10);
  });
}

describe.skipIf(!tools)('graceful stop of collie up', () => {
  test('SIGTERM under a qemu-io write load: exit 0 within 10 s, every acknowledged write reads back', async () => {
    const data = await dataDirectory();
    const [portalPort, sheepPort] = await allocatePorts(2);
    const first = await startUp({ dataDir: data, portalPort: portalPort!, sheepPort: sheepPort! });
    const url = first.urls[0]!;
    const load = startQemuIo(
      url,
      ranges.map((range) => `write -P ${range.pattern} ${range.offset} ${range.length}`),
    );
    try {
      await waitFor(() => load.wroteSoFar() >= WRITES_BEFORE_STOP * RANGE_BYTES, 60_000, 'qemu-io writes');
      const stopAt = Date.now();
      first.process.kill('SIGTERM');
      const exit = await first.process.waitForExit(EXIT_WITHIN_MS + 5_000);
      const exitMs = Date.now() - stopAt;
      console.log(`collie up exited ${JSON.stringify(exit)} ${exitMs} ms after SIGTERM`);
      expect(exit, first.process.describeTail()).toEqual({ code: 0, signal: null });
      expect(exitMs).toBeLessThan(EXIT_WITHIN_MS);
    } finally {
      load.kill();
    }
    const result = await load.result(10_000);
    const acknowledged = [...parseOffsetReports(result.stdout).wrote]
      .filter(([, bytes]) => bytes === RANGE_BYTES)
      .map(([offset]) => offset);
    console.log(`qemu-io reported ${acknowledged.length} of ${WRITES} writes done`);
    expect(acknowledged.length).toBeGreaterThanOrEqual(WRITES_BEFORE_STOP);
    expect(acknowledged.length).toBeLessThan(WRITES);

    const second = await startUp({ dataDir: data, portalPort: portalPort!, sheepPort: sheepPort! });
    try {
      const check = await readRanges(
        second.urls[0]!,
        ranges.filter((range) => acknowledged.includes(range.offset)),
        { timeoutMs: 60_000 },
      );
      expect(check.ok, check.output).toBe(true);
    } finally {
      await second.process.stop('SIGTERM', 10_000);
    }
  }, 180_000);

  test.skipIf(!qemuImg)(
    'SIGTERM under a qemu-img write load: exit 0 within 10 s, every run qemu-img completed reads back',
    async () => {
      const data = await dataDirectory();
      const [portalPort, sheepPort] = await allocatePorts(2);
      const first = await startUp({ dataDir: data, portalPort: portalPort!, sheepPort: sheepPort! });
      const url = first.urls[0]!;
      const runBytes = BENCH_COUNT * RANGE_BYTES;
      const completed: PatternRange[] = [];
      let stopping = false;
      // One qemu-img bench run after another until the target goes away.
      const load = (async () => {
        for (let run = 0; run < BENCH_RUNS_MAX && !stopping; run++) {
          const range: PatternRange = { pattern: (run % 250) + 1, offset: run * runBytes, length: runBytes };
          const result = await runProcess(
            'qemu-img',
            [
              'bench',
              '-f',
              'raw',
              '-w',
              '-c',
              String(BENCH_COUNT),
              '-d',
              '8',
              '-s',
              String(RANGE_BYTES),
            ].concat([
              '-S',
              String(RANGE_BYTES),
              '-o',
              String(range.offset),
              `--pattern=${range.pattern}`,
              url,
            ]),
            { timeoutMs: 15_000 },
          ).catch(() => undefined);
          if (result?.exitCode === 0) completed.push(range);
          else return;
        }
      })();
      try {
        await waitFor(() => completed.length >= BENCH_RUNS_BEFORE_STOP, 60_000, 'qemu-img bench runs');
        const stopAt = Date.now();
        first.process.kill('SIGTERM');
        const exit = await first.process.waitForExit(EXIT_WITHIN_MS + 5_000);
        const exitMs = Date.now() - stopAt;
        console.log(`collie up exited ${JSON.stringify(exit)} ${exitMs} ms after SIGTERM under qemu-img`);
        expect(exit, first.process.describeTail()).toEqual({ code: 0, signal: null });
        expect(exitMs).toBeLessThan(EXIT_WITHIN_MS);
      } finally {
        stopping = true;
        // The run in flight at the stop reconnects for ever (libiscsi) until its timeout kills it.
        await load;
      }
      console.log(`qemu-img completed ${completed.length} bench runs of ${runBytes} bytes before the stop`);
      expect(completed.length).toBeGreaterThanOrEqual(BENCH_RUNS_BEFORE_STOP);
      const second = await startUp({ dataDir: data, portalPort: portalPort!, sheepPort: sheepPort! });
      try {
        const check = await readRanges(second.urls[0]!, completed, { timeoutMs: 60_000 });
        expect(check.ok, check.output).toBe(true);
      } finally {
        await second.process.stop('SIGTERM', 10_000);
      }
    },
    180_000,
  );

  test('a second SIGTERM during the stop exits at once with 143', async () => {
    const data = await dataDirectory();
    const [portalPort, sheepPort] = await allocatePorts(2);
    const up = await startUp({ dataDir: data, portalPort: portalPort!, sheepPort: sheepPort! });
    // A logged-in initiator that ignores the logout request keeps the stop waiting 2 s.
    const deaf = await RawInitiator.connect(portalPort!);
    try {
      const login = await deaf.login({ targetName: IQN });
      expect(login.status).toBe(0);
      up.process.kill('SIGTERM');
      await up.process.waitForLine(/asked the initiators to log out/, 5_000, { stream: 'stderr' });
      const secondAt = Date.now();
      up.process.kill('SIGTERM');
      const exit = await up.process.waitForExit(5_000);
      const exitMs = Date.now() - secondAt;
      console.log(`collie up exited ${JSON.stringify(exit)} ${exitMs} ms after the second SIGTERM`);
      expect(exit, up.process.describeTail()).toEqual({ code: 143, signal: null });
      expect(exitMs).toBeLessThan(1_000);
      expect(up.process.describeTail()).toContain('second stop signal');
    } finally {
      deaf.close();
      await up.process.stop('SIGKILL', 5_000).catch(() => undefined);
    }
  }, 60_000);
});
