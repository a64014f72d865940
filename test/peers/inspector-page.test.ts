/**
 * Goal: the inspector's web page, in a real browser, shows what the projection says: on a recorded
 * simulator violation it draws the statecharts, jumps to the violation, shows target B's coherence
 * participant state there, and lights in each chart exactly the state /api/snapshot gives for the
 * chosen event while the timeline steps; live, beside `collie up`, it follows the log as an
 * initiator logs in and does IO. Throughout, the page asks nothing of anyone but 127.0.0.1 and
 * logs no error.
 * Method: the built CLI (`sim run --events`, `inspect --listen 127.0.0.1:0`, `up --inspect`), the
 * page's own assets compiled by tsconfig.web.json, and Debian's chromium driven by playwright-core
 * (headless, fresh profile, no background networking). Every request, page error and console error
 * is recorded; the page's lit states are compared with the server's /api/snapshot for the same seq.
 * Screenshots go to test-output/inspector/ (not committed). Chromium missing: skipped, except in CI.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { InspectorMeta, ProjectionSnapshot } from '../../src/inspect/inspector-api.js';
import { assertCollieBuilt, COLLIE_BIN, REPO_ROOT, startUp } from '../support/collie.js';
import { allocatePorts } from '../support/ports.js';
import { type ManagedProcess, runProcess, startProcess } from '../support/processes.js';
import { qemuIo } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = join(REPO_ROOT, 'test-output', 'inspector');
/** The charts every scenario here must light: the store's and the client's view of the inode. */
const CHECKED_CHARTS = ['participant', 'inode-view'] as const;
const INSPECTOR_LINE = /^inspector: (http:\/\/127\.0\.0\.1:\d+\/)$/;

/** Debian's chromium is there; missing, it skips the file, and fails it in CI (.ci/run installs it). */
function requireChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') {
    throw new Error(
      `${CHROMIUM} is missing: install Debian package chromium (apt-get install -y chromium; .ci/run does this). ` +
        'Tests only skip missing tools outside CI.',
    );
  }
  return false;
}

const chromiumReady = requireChromium();
const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

async function tempDir(prefix: string): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), prefix));
  directories.push(directory);
  return directory;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** A page in a fresh profile, with every request, page error and console error it caused. */
interface OpenPage {
  readonly page: Page;
  readonly requests: string[];
  readonly problems: string[];
  close(): Promise<void>;
}

async function openPage(url: string): Promise<OpenPage> {
  const profile = await tempDir('collie-inspector-profile-');
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const requests: string[] = [];
  const problems: string[] = [];
  context.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error')
      problems.push(`console error: ${message.text()} at ${message.location().url}`);
  });
  page.on('requestfailed', (request) =>
    problems.push(`request failed: ${request.url()}: ${request.failure()?.errorText ?? '?'}`),
  );
  await page.goto(url);
  await page.waitForSelector('[data-testid="app"][data-state="ready"]', { timeout: 20_000 });
  return { page, requests, problems, close: () => context.close() };
}

/** Every request went to the inspector on 127.0.0.1 (a data: URL loads nothing). */
function expectOnlyLocalRequests(requests: readonly string[]): void {
  expect(requests.length).toBeGreaterThan(0);
  const elsewhere = requests.filter(
    (url) => !url.startsWith('data:') && new URL(url).hostname !== '127.0.0.1',
  );
  expect(elsewhere, `requests off 127.0.0.1:\n${elsewhere.join('\n')}`).toEqual([]);
}

async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`inspector screenshot: ${path}`);
  return path;
}

/** Waits until the page shows the snapshot of seq. */
async function waitRendered(page: Page, seq: number): Promise<void> {
  await page.waitForSelector(`[data-testid="app"][data-rendered-seq="${seq}"]`, { timeout: 15_000 });
  expect(await page.getByTestId('timeline-seq').textContent()).toBe(String(seq));
}

async function jumpTo(page: Page, seq: number): Promise<void> {
  await page.getByTestId('timeline-jump-input').fill(String(seq));
  await page.getByTestId('timeline-jump').click();
  await waitRendered(page, seq);
}

interface ChartOnPage {
  instance: string;
  state: string;
  lit: string[];
  drawnStates: number;
}

/** An event whose data may name a transition (`from`, `to`) and an IO number. */
interface TransitionEvent {
  readonly seq: number;
  readonly type: string;
  readonly data: { readonly from?: unknown; readonly to?: unknown; readonly io?: unknown };
}

/** The slice of the DOM the page functions below read (the test program has no DOM types). */
interface ElementLike {
  readonly id: string;
  readonly dataset: Readonly<Record<string, string | undefined>>;
  querySelectorAll(selector: string): ArrayLike<ElementLike>;
}

function chartOnPage(page: Page, machine: string): Promise<ChartOnPage> {
  return page.getByTestId(`chart-${machine}`).evaluate((element) => {
    const card = element as unknown as ElementLike;
    return {
      instance: card.dataset.instance ?? '',
      state: card.dataset.state ?? '',
      lit: Array.from(card.querySelectorAll('.state.lit')).map((group) => group.id),
      drawnStates: card.querySelectorAll('svg .state').length,
    };
  });
}

/**
 * The page at snapshot.seq agrees with the projection: one row per instance with its state, and in
 * each checked chart the focused instance's state, and only it, is lit.
 */
async function expectPageShows(page: Page, snapshot: ProjectionSnapshot): Promise<void> {
  await waitRendered(page, snapshot.seq);
  const rows = await page.getByTestId('instance-row').evaluateAll((elements) =>
    elements.map((element): [string, string] => {
      const row = element as unknown as ElementLike;
      return [row.dataset.key ?? '', row.dataset.state ?? ''];
    }),
  );
  const expected = snapshot.instances.map((instance): [string, string] => [
    instance.key,
    instance.state ?? '',
  ]);
  expect(new Map(rows), `instance rows at seq ${snapshot.seq}`).toEqual(new Map(expected));
  for (const machine of CHECKED_CHARTS) {
    const chart = await chartOnPage(page, machine);
    const ofMachine = snapshot.instances.filter((instance) => instance.machine === machine);
    const where = `chart ${machine} at seq ${snapshot.seq}`;
    if (ofMachine.length === 0) {
      expect(chart.instance, where).toBe('');
      expect(chart.lit, where).toEqual([]);
      continue;
    }
    const focused = ofMachine.find((instance) => instance.key === chart.instance);
    expect(focused, `${where}: shows ${chart.instance}, not one of the snapshot's instances`).toBeDefined();
    expect(chart.state, where).toBe(focused?.state ?? '');
    expect(chart.lit, where).toEqual(focused?.state ? [`state-${focused.state}`] : []);
  }
}

/** B's names in a sim log: "target-b" and the store endpoints its client connected to. */
function namesOfTargetB(eventsFile: string): Set<string> {
  const names = new Set(['target-b']);
  for (const line of readFileSync(eventsFile, 'utf8').split('\n')) {
    if (!line.includes('net.stream_opened')) continue;
    const event = JSON.parse(line) as { type: string; data: { client?: string; server?: string } };
    if (
      event.type === 'net.stream_opened' &&
      event.data.client?.startsWith('target-b:') &&
      event.data.server
    ) {
      names.add(event.data.server);
    }
  }
  return names;
}

/** B's coherence cell in a snapshot (its node named by target or store endpoint). */
function participantOfB(snapshot: ProjectionSnapshot, names: Set<string>) {
  for (const row of snapshot.coherence) {
    const cell = row.cells.find((candidate) => names.has(candidate.node));
    if (cell) return { vdi: row.vdi, ...cell };
  }
  return undefined;
}

async function simRun(
  args: readonly string[],
  eventsFile: string,
): Promise<{ exitCode: number | null; output: string }> {
  const run = await runProcess(
    process.execPath,
    [COLLIE_BIN, 'sim', 'run', ...args, '--events', eventsFile],
    {
      name: `collie sim run ${args.join(' ')}`,
      cwd: REPO_ROOT,
      timeoutMs: 120_000,
    },
  );
  return { exitCode: run.exitCode, output: `${run.stdout.toString()}${run.stderr.toString()}` };
}

async function inspectFile(eventsFile: string): Promise<{ process: ManagedProcess; url: string }> {
  const child = startProcess(
    process.execPath,
    [COLLIE_BIN, 'inspect', eventsFile, '--listen', '127.0.0.1:0', '--no-open'],
    { name: 'collie inspect', cwd: REPO_ROOT },
  );
  const line = await child.waitForLine(INSPECTOR_LINE, 30_000, { stream: 'stdout' });
  return { process: child, url: INSPECTOR_LINE.exec(line)?.[1] ?? '' };
}

describe.skipIf(!chromiumReady)('the inspector page in chromium', () => {
  beforeAll(async () => {
    assertCollieBuilt();
  }, 150_000);

  test('a recorded violation: charts drawn, jump to it, B is not a participant, lit states follow the timeline', async () => {
    const directory = await tempDir('collie-inspector-violation-');
    const eventsFile = join(directory, 'v.jsonl');
    const sim = await simRun(['--scenario', 'seed-failover', '--no-coherence', '--seed', '3'], eventsFile);
    // Coherence off on purpose: the violation is the run's expected result (exit 0), as reported.
    expect(sim.exitCode, sim.output).toBe(0);
    expect(sim.output).toContain('VIOLATION (register/stale-read)');

    const inspector = await inspectFile(eventsFile);
    const meta = await getJson<InspectorMeta>(`${inspector.url}api/meta`);
    expect(meta.violations.length, `meta.violations of ${eventsFile}`).toBeGreaterThan(0);
    const violationSeq = Math.min(...meta.violations.map((mark) => mark.seq));
    const opened = await openPage(inspector.url);
    const { page } = opened;
    try {
      for (const machine of CHECKED_CHARTS) {
        await page.waitForSelector(`[data-testid="chart-${machine}"][data-drawn="true"]`, {
          timeout: 15_000,
        });
        expect(
          (await chartOnPage(page, machine)).drawnStates,
          `states drawn in chart ${machine}`,
        ).toBeGreaterThan(0);
      }

      await page.getByTestId('violation-jump').click();
      await waitRendered(page, violationSeq);
      expect(await page.getByTestId('violation-current').isVisible()).toBe(true);
      const atViolation = await getJson<ProjectionSnapshot>(
        `${inspector.url}api/snapshot?seq=${violationSeq}`,
      );
      await expectPageShows(page, atViolation);

      // With --no-coherence B holds no participant state: the page says so.
      const b = participantOfB(atViolation, namesOfTargetB(eventsFile));
      expect(
        b,
        `B's coherence cell at seq ${violationSeq}: ${JSON.stringify(atViolation.coherence)}`,
      ).toBeDefined();
      expect(b?.participant).toBeNull();
      const cell = page.locator(
        `[data-testid="coherence-cell"][data-vdi="${b?.vdi}"][data-node="${b?.node}"]`,
      );
      expect(await cell.textContent()).toBe('not a participant');
      expect(await cell.getAttribute('data-state')).toBe('');
      await screenshot(page, 'recorded-violation.png');

      for (const move of ['timeline-back', 'timeline-back', 'timeline-forward'] as const) {
        const before = Number(await page.getByTestId('timeline-seq').textContent());
        await page.getByTestId(move).click();
        const seq = before + (move === 'timeline-back' ? -1 : 1);
        await expectPageShows(
          page,
          await getJson<ProjectionSnapshot>(`${inspector.url}api/snapshot?seq=${seq}`),
        );
      }
      await page.keyboard.press('ArrowRight');
      await expectPageShows(
        page,
        await getJson<ProjectionSnapshot>(`${inspector.url}api/snapshot?seq=${violationSeq}`),
      );
      await screenshot(page, 'recorded-violation-stepped.png');

      // The violation names the events that show it: its evidence jumps there (the stale read).
      const mark = meta.violations.find((candidate) => candidate.seq === violationSeq);
      const evidenceEnd = mark?.evidenceSeqs?.[1];
      expect(evidenceEnd, `evidence of ${JSON.stringify(mark)}`).toBeDefined();
      await page.locator(`[data-testid="violation-evidence"][data-seq="${evidenceEnd}"]`).click();
      await waitRendered(page, evidenceEnd!);
      await expectPageShows(
        page,
        await getJson<ProjectionSnapshot>(`${inspector.url}api/snapshot?seq=${evidenceEnd}`),
      );
      await screenshot(page, 'recorded-violation-evidence.png');

      expectOnlyLocalRequests(opened.requests);
      expect(opened.problems).toEqual([]);
    } finally {
      await opened.close();
      await inspector.process.stop('SIGTERM', 5_000);
    }
  }, 180_000);

  test('a recorded passing run with coherence: B has a real participant state, lit states equal the projection', async () => {
    const directory = await tempDir('collie-inspector-coherence-');
    const eventsFile = join(directory, 'c.jsonl');
    const sim = await simRun(['--scenario', 'seed-failover', '--seed', '3'], eventsFile);
    expect(sim.exitCode, sim.output).toBe(0);

    const inspector = await inspectFile(eventsFile);
    const opened = await openPage(inspector.url);
    const { page } = opened;
    try {
      const meta = await getJson<InspectorMeta>(`${inspector.url}api/meta`);
      expect(meta.violations).toEqual([]);
      expect(await page.getByTestId('violation-jump').isDisabled()).toBe(true);
      // The first event after which B (by name or store endpoint) holds a participant state.
      const names = namesOfTargetB(eventsFile);
      let seq = meta.firstSeq;
      let snapshot = await getJson<ProjectionSnapshot>(`${inspector.url}api/snapshot?seq=${seq}`);
      const coherenceEvents = readFileSync(eventsFile, 'utf8')
        .split('\n')
        .filter((line) => line.includes('"coherence.'))
        .map((line) => (JSON.parse(line) as { seq: number }).seq);
      for (const candidate of coherenceEvents) {
        snapshot = await getJson<ProjectionSnapshot>(`${inspector.url}api/snapshot?seq=${candidate}`);
        seq = candidate;
        if (participantOfB(snapshot, names)?.participant) break;
      }
      const b = participantOfB(snapshot, names);
      expect(
        b?.participant,
        `B's participant state at seq ${seq}: ${JSON.stringify(snapshot.coherence)}`,
      ).toBeTruthy();

      await jumpTo(page, seq);
      await expectPageShows(page, snapshot);
      const cell = page.locator(
        `[data-testid="coherence-cell"][data-vdi="${b?.vdi}"][data-node="${b?.node}"]`,
      );
      expect(await cell.getAttribute('data-state')).toBe(b?.participant);
      expect(await cell.textContent()).toBe(b?.participant);
      await screenshot(page, 'recorded-coherence.png');

      for (let step = 1; step <= 5; step++) {
        await page.keyboard.press('ArrowRight');
        await expectPageShows(
          page,
          await getJson<ProjectionSnapshot>(`${inspector.url}api/snapshot?seq=${seq + step}`),
        );
      }
      // Play a little, pause, and the page still agrees with the projection where it stopped.
      await page.getByTestId('timeline-speed').selectOption('40');
      await page.getByTestId('timeline-play').click();
      await expect
        .poll(async () => Number(await page.getByTestId('timeline-seq').textContent()), { timeout: 15_000 })
        .toBeGreaterThanOrEqual(seq + 10);
      await page.getByTestId('timeline-pause').click();
      const stopped = Number(await page.getByTestId('timeline-seq').textContent());
      await expectPageShows(
        page,
        await getJson<ProjectionSnapshot>(`${inspector.url}api/snapshot?seq=${stopped}`),
      );

      expectOnlyLocalRequests(opened.requests);
      expect(opened.problems).toEqual([]);
    } finally {
      await opened.close();
      await inspector.process.stop('SIGTERM', 5_000);
    }
  }, 180_000);

  describe.skipIf(!requireTool('qemu-io'))('live', () => {
    test('collie up --inspect: a login and an IO request appear and move, and the event table grows', async () => {
      const data = await tempDir('collie-inspector-up-');
      const [portalPort, sheepPort] = await allocatePorts(2);
      const { process: up, urls } = await startUp({
        dataDir: data,
        portalPort: portalPort!,
        sheepPort: sheepPort!,
        extraArgs: ['--size', '64M', '--inspect', '127.0.0.1:0'],
      });
      // Printed before the ready line that startUp waited for.
      const url =
        INSPECTOR_LINE.exec(await up.waitForLine(INSPECTOR_LINE, 1_000, { stream: 'stdout' }))?.[1] ?? '';
      const lu = urls[0]!;

      const opened = await openPage(url);
      const { page } = opened;
      try {
        await page.waitForSelector('[data-testid="live-status"][data-status="live"]', { timeout: 15_000 });
        expect(await page.getByTestId('timeline-follow').getAttribute('data-following')).toBe('true');
        const rowsBefore = await page.getByTestId('event-row').count();

        const io = await qemuIo(lu, ['write -P 0x5a 0 64k', 'read -P 0x5a 0 64k'], { timeoutMs: 30_000 });
        expect(io.wrote, io.stdout + io.stderr).toBe(65536);
        expect(io.patternFailures, io.stdout).toEqual([]);

        // Following the head, the page shows the login and the IO request machines once their events came.
        await page.waitForSelector('[data-testid="instance-row"][data-machine="login"]', { timeout: 20_000 });
        await page.waitForSelector('[data-testid="instance-row"][data-machine="io-request"]', {
          timeout: 20_000,
        });
        await expect
          .poll(() => page.getByTestId('event-row').count(), { timeout: 15_000 })
          .toBeGreaterThan(rowsBefore);
        await screenshot(page, 'live-after-io.png');

        // Each moved: stepping the timeline from just before its actor's first event through them,
        // the page shows it appear, then in the state each transition event names (an IO request
        // passes through several; libiscsi's login reaches full feature in one step and ends).
        const keys: [string, string | null][] = [];
        for (const machine of ['login', 'io-request']) {
          const row = page.locator(`[data-testid="instance-row"][data-machine="${machine}"]`).first();
          keys.push([machine, await row.getAttribute('data-key')]);
        }
        for (const [machine, key] of keys) {
          expect(key, machine).toBeTruthy();
          const [actor = '', sub] = (key ?? '').split('#');
          const { events } = await getJson<{ events: TransitionEvent[] }>(
            `${url}api/events?actor=${encodeURIComponent(actor)}&limit=40`,
          );
          // Its own events: an IO request's key names its io number after the actor.
          const own = events.filter((event) => sub === undefined || String(event.data.io) === sub);
          expect(own.length, `events of ${key} in ${JSON.stringify(events)}`).toBeGreaterThan(0);
          const seen: string[] = [];
          const moves: string[] = [];
          for (const seq of [(own[0]?.seq ?? 1) - 1, ...own.map((event) => event.seq)]) {
            await jumpTo(page, seq);
            await expectPageShows(page, await getJson<ProjectionSnapshot>(`${url}api/snapshot?seq=${seq}`));
            const row = page.locator(`[data-testid="instance-row"][data-key="${key}"]`);
            const state =
              (await row.count()) === 0 ? 'absent' : ((await row.getAttribute('data-state')) ?? '');
            seen.push(state);
            const event = own.find((candidate) => candidate.seq === seq);
            if (typeof event?.data.to === 'string' && event.data.from !== event.data.to) {
              moves.push(`${event.data.from} -> ${event.data.to}`);
              expect(state, `${key} after event ${seq} (${event.type} to ${event.data.to})`).toBe(
                event.data.to,
              );
            }
          }
          expect(seen[0], `${key} before its first event: ${seen.join(', ')}`).toBe('absent');
          expect(moves.length, `${key} along its events: ${seen.join(', ')}`).toBeGreaterThan(0);
          if (machine === 'io-request') {
            expect(new Set(seen.slice(1)).size, `states of ${key}: ${seen.join(', ')}`).toBeGreaterThan(1);
          }
        }
        expect(await page.getByTestId('timeline-follow').getAttribute('data-following')).toBe('false');
        await page.getByTestId('timeline-head').click();
        expect(await page.getByTestId('timeline-follow').getAttribute('data-following')).toBe('true');
        await screenshot(page, 'live-stepped.png');

        expectOnlyLocalRequests(opened.requests);
        expect(opened.problems).toEqual([]);
      } finally {
        await opened.close();
        await up.stop('SIGTERM', 10_000);
      }
    }, 180_000);
  });
});
