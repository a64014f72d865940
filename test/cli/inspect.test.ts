/**
 * Goal: the inspector as a user starts it: `collie inspect FILE --listen 127.0.0.1:0 --no-open`
 * prints its URL and serves the file until SIGTERM; a bad file is one line naming file:line and
 * exit 1; `collie sim run --inspect 127.0.0.1:0` serves the run's events live, says it keeps
 * serving when the run is over, and exits with the run's own code on SIGINT.
 * Method: the built CLI (`node bin/collie.js`, global setup builds dist/) as real processes;
 * fetch against the printed URL.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { EventPage, InspectorMeta } from '../../src/inspect/inspector-api.js';
import { assertCollieBuilt, COLLIE_BIN } from '../support/collie.js';
import { runProcess, startProcess } from '../support/processes.js';

let dir: string;
beforeAll(async () => {
  assertCollieBuilt();
  dir = await mkdtemp(join(tmpdir(), 'collie-inspect-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const URL_LINE = /^inspector: (http:\/\/127\.0\.0\.1:\d+\/)$/;

describe('collie inspect', () => {
  test('serves a simulator file on the printed URL until SIGTERM', async () => {
    const file = join(dir, 'run.jsonl');
    const run = await runProcess(
      process.execPath,
      [COLLIE_BIN, 'sim', 'run', '--scenario', 'seed-failover', '--seed', '5', '--events', file],
      { timeoutMs: 60_000 },
    );
    expect(run.exitCode, run.stderr.toString()).toBe(0);
    const events = /(\d+) events/.exec(run.stdout.toString())?.[1];

    const inspector = startProcess(process.execPath, [
      COLLIE_BIN,
      'inspect',
      file,
      '--listen',
      '127.0.0.1:0',
      '--no-open',
    ]);
    const line = await inspector.waitForLine(URL_LINE, 20_000, { stream: 'stdout' });
    const url = URL_LINE.exec(line)![1]!;
    expect(inspector.stdoutLines[0]).toMatch(
      new RegExp(
        `^loaded ${file}: ${events} events \\(seq 1\\.\\.${events}\\), scenario seed-failover seed 5$`,
      ),
    );
    const meta = (await (await fetch(`${url}api/meta`)).json()) as InspectorMeta;
    expect(meta).toMatchObject({ source: 'file', title: 'run.jsonl', firstSeq: 1, lastSeq: Number(events) });
    expect(meta.header).toMatchObject({ scenario: 'seed-failover', seed: 5 });
    const exit = await inspector.stop('SIGTERM', 10_000);
    expect(exit).toEqual({ code: 0, signal: null });
  });

  test('a bad line: one line naming file:line, exit 1', async () => {
    const file = join(dir, 'bad.jsonl');
    await writeFile(file, '{"seq":1,"t":0,"actor":"a","type":"b","data":{}}\n{oops\n{"seq":3}\n');
    const result = await runProcess(process.execPath, [COLLIE_BIN, 'inspect', file, '--no-open'], {
      timeoutMs: 30_000,
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr.toString()).toMatch(
      new RegExp(`^collie inspect: ${file}:2: not a JSON line .*\\n$`),
    );
  });

  test('a bad --listen is a usage error naming the flag', async () => {
    const result = await runProcess(
      process.execPath,
      [COLLIE_BIN, 'inspect', 'x.jsonl', '--listen', 'nope'],
      {
        timeoutMs: 30_000,
      },
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr.toString()).toMatch(/--listen "nope" is not \[HOST:\]PORT/);
  });
});

describe('collie sim run --inspect', () => {
  test('serves the run live, keeps serving after it, exits with the run code on SIGINT', async () => {
    const sim = startProcess(process.execPath, [
      COLLIE_BIN,
      'sim',
      'run',
      '--scenario',
      'seed-failover',
      '--seed',
      '5',
      '--inspect',
      '127.0.0.1:0',
    ]);
    const line = await sim.waitForLine(URL_LINE, 20_000, { stream: 'stdout' });
    const url = URL_LINE.exec(line)![1]!;
    await sim.waitForLine(
      /^inspector: the run is over; still serving http:\/\/127\.0\.0\.1:\d+\/ until Ctrl-C$/,
      60_000,
    );
    const events = Number(/(\d+) events/.exec(sim.stdoutLines.join('\n'))?.[1]);
    const meta = (await (await fetch(`${url}api/meta`)).json()) as InspectorMeta;
    expect(meta).toMatchObject({ source: 'live', live: false, firstSeq: 1, lastSeq: events });
    expect(meta.header).toMatchObject({ scenario: 'seed-failover', seed: 5 });
    const page = (await (await fetch(`${url}api/events?type=sim.finished`)).json()) as EventPage;
    expect(page.events).toHaveLength(1);
    const exit = await sim.stop('SIGINT', 10_000);
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
