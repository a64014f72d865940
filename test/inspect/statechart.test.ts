/**
 * Goal: every catalog machine is drawn offline as an SVG statechart whose state groups the page
 * can find (id "state-<path>", class "state"), the drawing is deterministic, `collie machines`
 * writes and lists them, and docs/machines/*.svg are what the code draws today.
 * Method: a small hand-made machine (atomic, compound, parallel, final, history, guarded,
 * delayed, eventless, onDone, wildcard and root-level transitions) checked line by line in the
 * DOT text and by id in the SVG; the state paths of each catalog machine are collected from the
 * live xstate state nodes (not from statechart-dot.ts) and each must have its group in the SVG;
 * two renders (a fresh Graphviz layout each, no cache) must be byte-identical; the CLI runs
 * in-process with the real commander wiring into a temp dir.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import { describe, expect, test } from 'vitest';
import { and, not, setup } from 'xstate';
import { registerMachinesCommand } from '../../src/cli/machines.js';
import { MACHINE_CATALOG } from '../../src/inspect/machine-catalog.js';
import { statechartDefinition, statechartDot, statePaths } from '../../src/inspect/statechart-dot.js';
import {
  renderAllStatecharts,
  renderDotSvg,
  renderStatechartSvg,
  statechartDotFor,
} from '../../src/inspect/statechart-svg.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DOCS_DIR = join(ROOT, 'docs', 'machines');

const toyMachine = setup({
  guards: { ready: () => true, busy: () => false },
  actions: { logIt: () => {}, count: () => {} },
  delays: { LONG: 500 },
}).createMachine({
  id: 'toy',
  initial: 'idle',
  on: { '*': { actions: 'logIt' }, RESET: '.idle' },
  states: {
    idle: {
      on: { GO: { target: 'work', guard: 'ready' }, PING: { actions: 'count' } },
      after: { 1000: 'done', LONG: 'work' },
    },
    work: {
      initial: 'step1',
      states: {
        step1: { on: { NEXT: 'step2' } },
        step2: { type: 'final' },
        again: { type: 'history', history: 'deep' },
      },
      onDone: 'done',
      on: { PAUSE: 'both', REDO: '.step1' },
      always: [{ guard: and(['ready', not('busy')]), target: 'done' }],
    },
    both: {
      type: 'parallel',
      states: { left: { initial: 'l1', states: { l1: {}, l2: {} } }, right: {} },
      on: { BACK: 'idle' },
    },
    done: {
      type: 'final',
    },
    choose: {
      always: [{ guard: 'ready', target: 'idle' }, { target: 'done' }],
    },
  },
});

const TOY_PATHS = [
  'idle',
  'work',
  'work.step1',
  'work.step2',
  'work.again',
  'both',
  'both.left',
  'both.left.l1',
  'both.left.l2',
  'both.right',
  'done',
  'choose',
];

/** State paths from the live xstate nodes, independent of statechart-dot.ts. */
function livePaths(node: { states: Record<string, unknown> }, prefix = ''): string[] {
  return Object.entries(node.states).flatMap(([key, child]) => {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    return [path, ...livePaths(child as { states: Record<string, unknown> }, path)];
  });
}

/** The class list of the SVG group with this id, or undefined if there is none. */
function groupClasses(svg: string, id: string): string[] | undefined {
  const match = new RegExp(`<g id="${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" class="([^"]*)"`).exec(svg);
  return match?.[1]?.split(' ');
}

function dotLines(dot: string): string[] {
  return dot.split('\n').map((line) => line.trim());
}

describe('statechartDot on a hand-made machine', () => {
  const definition = statechartDefinition(toyMachine);
  const dot = statechartDot(definition);
  const lines = dotLines(dot);

  test('lists every state path in definition order', () => {
    expect(statePaths(definition)).toEqual(TOY_PATHS);
    expect(livePaths(toyMachine.root)).toEqual(TOY_PATHS);
  });

  test('atomic, final and history states are nodes with their state id and class', () => {
    expect(lines).toContain('"idle" [id="state-idle", class="state", label="idle"];');
    expect(lines).toContain('"work.step1" [id="state-work.step1", class="state", label="step1"];');
    expect(lines).toContain(
      '"work.step2" [id="state-work.step2", class="state final", label="step2", peripheries=2];',
    );
    expect(lines).toContain('"done" [id="state-done", class="state final", label="done", peripheries=2];');
    expect(lines.find((line) => line.startsWith('"work.again" '))).toContain(
      '[id="state-work.again", class="state history", label="H*", shape=circle',
    );
    expect(lines).toContain('"both.right" [id="state-both.right", class="state", label="right"];');
  });

  test('compound and parallel states are clusters with their state id; regions are dashed', () => {
    expect(lines).toContain('subgraph "cluster_work" {');
    expect(lines).toContain('id="state-work"; class="state compound";');
    expect(lines).toContain('subgraph "cluster_both" {');
    expect(lines).toContain('id="state-both"; class="state parallel";');
    expect(lines).toContain('id="state-both.left"; class="state compound";');
    const leftLabel = lines[lines.indexOf('id="state-both.left"; class="state compound";') + 1];
    expect(leftLabel).toContain('style="rounded,dashed"');
    const workLabel = lines[lines.indexOf('id="state-work"; class="state compound";') + 1];
    expect(workLabel).toContain('style="rounded"');
  });

  test('each compound state (the root too) has an initial marker pointing at its initial child', () => {
    expect(lines.find((line) => line.startsWith('"(initial)" ['))).toContain('id="initial", class="initial"');
    expect(lines).toContain('"(initial)" -> "idle" [class="initial"];');
    expect(lines).toContain('"(initial) work" -> "work.step1" [class="initial"];');
    expect(lines).toContain('"(initial) both.left" -> "both.left.l1" [class="initial"];');
    // A parallel state has no initial child: an invisible handle instead.
    expect(lines.some((line) => line.startsWith('"(initial) both" '))).toBe(false);
    expect(lines.find((line) => line.startsWith('"(handle) both" '))).toContain('style=invis');
  });

  test('transitions: events, guards, delays, eventless, onDone, else; same ends share one arrow', () => {
    expect(lines).toContain(
      '"idle" -> "(initial) work" [class="transition", label="GO [ready]\\nafter LONG", lhead="cluster_work"];',
    );
    expect(lines).toContain('"idle" -> "done" [class="transition", label="after 1000ms"];');
    expect(lines).toContain('"idle" -> "idle" [class="transition internal", label="PING", style=dashed];');
    expect(lines).toContain('"work.step1" -> "work.step2" [class="transition", label="NEXT"];');
    expect(lines).toContain(
      '"(initial) work" -> "done" [class="transition", label="done\\nalways [and(ready, not(busy))]", ltail="cluster_work"];',
    );
    expect(lines).toContain(
      '"(initial) work" -> "(handle) both" [class="transition", label="PAUSE", ltail="cluster_work", lhead="cluster_both"];',
    );
    expect(lines).toContain(
      '"(handle) both" -> "idle" [class="transition", label="BACK", ltail="cluster_both"];',
    );
    expect(lines).toContain('"choose" -> "idle" [class="transition", label="always [ready]"];');
    expect(lines).toContain('"choose" -> "done" [class="transition", label="always [else]"];');
  });

  test('transitions of a compound state into itself start at its "any state" marker', () => {
    expect(lines.find((line) => line.startsWith('"(any)" ['))).toContain('id="any", class="any"');
    expect(lines).toContain('"(any)" -> "idle" [class="transition", label="RESET"];');
    expect(lines).toContain('"(any) work" -> "work.step1" [class="transition", label="REDO"];');
  });

  test('the targetless wildcard is a note under the chart, not an arrow', () => {
    expect(dot).not.toMatch(/label="\*/);
    expect(lines).toContain('label="any other event (*) in any state: logIt; the state stays";');
  });

  test('the same definition gives the same text; the JSON definition alone draws without "always"', () => {
    expect(statechartDot(statechartDefinition(toyMachine))).toBe(dot);
    const plain = statechartDot(JSON.parse(JSON.stringify(toyMachine.definition)));
    expect(plain).toContain('"idle" -> "done" [class="transition", label="after 1000ms"];');
    expect(plain).not.toContain('always');
  });

  test('the SVG keeps the id contract: a group per state, class "state", no prologue', async () => {
    const svg = await renderDotSvg(dot);
    expect(svg.startsWith('<svg role="img" aria-label="toy" ')).toBe(true);
    expect(svg).not.toContain('<?xml');
    expect(svg).not.toContain('<!--');
    for (const path of TOY_PATHS) expect(groupClasses(svg, `state-${path}`), path).toContain('state');
    expect(groupClasses(svg, 'state-work')).toEqual(['cluster', 'state', 'compound']);
    expect(groupClasses(svg, 'state-done')).toEqual(['node', 'state', 'final']);
    expect(groupClasses(svg, 'initial')).toEqual(['node', 'initial']);
  });
});

describe('every catalog machine', () => {
  test.each(MACHINE_CATALOG.map((entry) => [entry.id, entry] as const))(
    '%s: a state group per state path, and the same SVG twice',
    async (id, entry) => {
      const paths = livePaths(entry.machine.root);
      expect(paths.length).toBeGreaterThan(0);
      expect(statePaths(statechartDefinition(entry.machine))).toEqual(paths);
      const label = `${entry.title} statechart`;
      const first = await renderDotSvg(statechartDotFor(id), label);
      expect(first.startsWith(`<svg role="img" aria-label="${label}" `)).toBe(true);
      for (const path of paths) expect(groupClasses(first, `state-${path}`), path).toContain('state');
      const ids = [...first.matchAll(/ id="(state-[^"]*)"/g)].map((match) => match[1]);
      expect(ids.sort()).toEqual(paths.map((path) => `state-${path}`).sort());
      const second = await renderDotSvg(statechartDotFor(id), label);
      expect(second).toBe(first);
      expect(await renderStatechartSvg(id)).toBe(first);
    },
  );

  test('renderAllStatecharts covers the catalog in order', async () => {
    const all = await renderAllStatecharts();
    expect([...all.keys()]).toEqual(MACHINE_CATALOG.map((entry) => entry.id));
  });

  test('the login wildcard (logUnexpected) is a note, and every eventless route is drawn', () => {
    const dot = statechartDotFor('login');
    expect(dot).toContain('any other event (*) in any state: logUnexpected; the state stays');
    expect(dot).toContain(
      '"deciding" -> "fullFeature" [class="transition", label="always [nextIs(fullFeature)]"];',
    );
    expect(dot).toContain('"deciding" -> "securityNegotiation" [class="transition", label="always [else]"];');
  });
});

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

async function collie(args: string[]): Promise<string> {
  const stdout = new Capture();
  const program = new Command('collie').exitOverride().configureOutput({ writeErr: () => {} });
  registerMachinesCommand(program, { stdout });
  await program.parseAsync(args, { from: 'user' });
  return stdout.text;
}

describe('collie machines', () => {
  test('draw writes <id>.svg for every machine, and .dot with --format dot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'collie-machines-'));
    try {
      const out = await collie(['machines', 'draw', '--out', join(dir, 'svg')]);
      const ids = MACHINE_CATALOG.map((entry) => entry.id);
      expect(out.trim().split('\n')).toEqual(ids.map((id) => `wrote ${join(dir, 'svg', `${id}.svg`)}`));
      expect((await readdir(join(dir, 'svg'))).sort()).toEqual(ids.map((id) => `${id}.svg`).sort());
      expect(await readFile(join(dir, 'svg', 'login.svg'), 'utf8')).toBe(await renderStatechartSvg('login'));

      await collie(['machines', 'draw', '--out', join(dir, 'dot'), '--format', 'dot']);
      expect(await readFile(join(dir, 'dot', 'vdi-lock.dot'), 'utf8')).toBe(statechartDotFor('vdi-lock'));
      await expect(collie(['machines', 'draw', '--out', dir, '--format', 'png'])).rejects.toThrow(
        /svg or dot/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('list prints id, title, side and state count, one line per machine', async () => {
    const lines = (await collie(['machines', 'list'])).trimEnd().split('\n');
    expect(lines).toHaveLength(MACHINE_CATALOG.length);
    for (const [index, entry] of MACHINE_CATALOG.entries()) {
      const line = lines[index]!;
      expect(line.startsWith(`${entry.id} `)).toBe(true);
      expect(line).toContain(entry.title);
      expect(line).toContain(entry.side);
      expect(line.endsWith(` ${livePaths(entry.machine.root).length} states`)).toBe(true);
    }
  });
});

describe('docs/machines', () => {
  test('holds exactly one SVG per catalog machine, each what the code draws now', async () => {
    const files = (await readdir(DOCS_DIR)).filter((name) => name.endsWith('.svg')).sort();
    expect(files).toEqual(MACHINE_CATALOG.map((entry) => `${entry.id}.svg`).sort());
    for (const entry of MACHINE_CATALOG) {
      const onDisk = await readFile(join(DOCS_DIR, `${entry.id}.svg`), 'utf8');
      expect(
        onDisk === (await renderStatechartSvg(entry.id)),
        `docs/machines/${entry.id}.svg is stale: run collie machines draw --out docs/machines`,
      ).toBe(true);
    }
  });

  test('docs/machines.md has a section and the image for every machine', async () => {
    const text = await readFile(join(ROOT, 'docs', 'machines.md'), 'utf8');
    expect(text).toContain('collie machines draw --out docs/machines');
    for (const entry of MACHINE_CATALOG) {
      expect(text).toContain(`## ${entry.title}`);
      expect(text).toContain(`(machines/${entry.id}.svg)`);
    }
  });
});
