/**
 * Goal: code that must replay from a seed never reaches for ambient time, timers or randomness.
 * Method: scan every .ts file under src/, machines/, transports/ and sim/ line by line for the
 * banned calls, skipping the real-world adapter files named in ADAPTER_FILES (by path, relative
 * to the repository root: never by a part of a file name), comment text, and lines marked
 * `// determinism-ok: <why>`. Timer calls count only as bare globals (or via globalThis/global):
 * `clock.setTimeout(` on an injected Clock and method definitions named setTimeout are fine.
 * Failures list file:line and the code. Every adapter listed must exist.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, test } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const SCANNED_DIRS = ['src', 'machines', 'transports', 'sim'];
/**
 * The files that are the real world's adapters, and only those: they wrap the wall clock, the
 * global timers or the OS for real runs, and nothing they give reaches what must replay (the
 * simulator reads sim/wallclock.ts only to print real time). Add a file here only when that is
 * its whole job; a single justified line elsewhere gets a `// determinism-ok: <why>` mark.
 */
const ADAPTER_FILES: readonly string[] = [
  // The wall clock for real runs: Date.now and the global timers behind the Clock interface.
  'src/core/real-clock.ts',
  // Real TCP sockets (node:net); uncorks with setImmediate on the real event loop.
  'transports/tcp.ts',
  // Real elapsed time of a simulator run (performance.now), printed beside the virtual time.
  'sim/wallclock.ts',
  // performance.now for the latency histograms of real runs (the simulator gives its virtual clock).
  'src/metrics/real-metrics-clock.ts',
  // crypto.randomBytes for CHAP challenges of real runs (the simulator draws them from its Rng).
  'src/core/real-entropy.ts',
];
const ALLOW_MARK = '// determinism-ok';

const BANNED: readonly { readonly name: string; readonly pattern: RegExp }[] = [
  { name: 'Date.now()', pattern: /\bDate\.now\s*\(/ },
  { name: 'new Date()', pattern: /\bnew\s+Date\s*\(/ },
  { name: 'Math.random()', pattern: /\bMath\.random\s*\(/ },
  { name: 'performance.now()', pattern: /\bperformance\.now\s*\(/ },
  { name: 'process.hrtime', pattern: /\bprocess\.hrtime\b/ },
  { name: 'randomBytes()', pattern: /\brandomBytes\s*\(/ },
  { name: 'randomUUID()', pattern: /\brandomUUID\s*\(/ },
  { name: 'getRandomValues()', pattern: /\bgetRandomValues\s*\(/ },
  // Bare global timers: not preceded by '.', an identifier character or '$'.
  { name: 'global timer', pattern: /(?<![.\w$])(setTimeout|setInterval|setImmediate)\s*\(/ },
  {
    name: 'global timer',
    pattern: /\b(globalThis|global|window)\.(setTimeout|setInterval|setImmediate)\s*\(/,
  },
];

/**
 * A class or object method definition like `setTimeout(fn: () => void, ms: number): TimerId {`:
 * the name opens the line and the line ends in `{` after the parameters or a return type. A call
 * passing a callback (`setTimeout(() => {`, `setTimeout(function () {`) is not one.
 */
const METHOD_DEFINITION =
  /^\s*(?:(?:public|private|protected|static|async|override)\s+)*(?:setTimeout|setInterval|setImmediate)\s*(?:<[^>]*>)?\(.*\)\s*(?::[^;]+)?\{\s*$/;
const CALLBACK_OPENING = /=>\s*\{\s*$|\bfunction\b/;
/**
 * A method signature without a body, in an interface or an abstract class:
 * `setTimeout(fn: () => void, delayMs: number): TimerId;`. The return type must be a plain type
 * name, so that a call with a conditional argument (`setTimeout(c ? f(x) : g, 1);`) is not one.
 */
const METHOD_SIGNATURE =
  /^\s*(?:(?:public|private|protected|static|abstract|readonly)\s+)*(?:setTimeout|setInterval|setImmediate)\s*(?:<[^>]*>)?\(.*\)\s*:\s*[\w$.<>[\]| ]+;\s*$/;

/** The line with comments removed: whole comment lines, and a trailing `// ...`. */
function codeOf(line: string): string {
  const trimmed = line.trimStart();
  if (trimmed.startsWith('//') || trimmed.startsWith('*') || trimmed.startsWith('/*')) return '';
  const commentAt = line.search(/(^|\s)\/\/(?!\/)/);
  return commentAt === -1 ? line : line.slice(0, commentAt);
}

function findBannedCalls(source: string): { line: number; name: string; code: string }[] {
  const hits: { line: number; name: string; code: string }[] = [];
  source.split('\n').forEach((text, index) => {
    if (text.includes(ALLOW_MARK)) return;
    const code = codeOf(text);
    if (code.trim() === '' || METHOD_SIGNATURE.test(code)) return;
    if (METHOD_DEFINITION.test(code) && !CALLBACK_OPENING.test(code)) return;
    for (const { name, pattern } of BANNED) {
      if (pattern.test(code)) {
        hits.push({ line: index + 1, name, code: text.trim() });
        break;
      }
    }
  });
  return hits;
}

/** A path relative to the repository root, with forward slashes on every platform. */
function repoPath(file: string): string {
  return relative(ROOT, file).split(sep).join('/');
}

function tsFilesUnder(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return []; // a folder not created yet
  }
  const files: string[] = [];
  for (const entry of entries.sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) files.push(...tsFilesUnder(path));
    else if (entry.endsWith('.ts')) files.push(path);
  }
  return files;
}

describe('determinism scanner', () => {
  test('flags banned calls and spares clocks, methods, comments and marked lines', () => {
    const source = [
      'const t = Date.now();',
      'clock.setTimeout(fn, 10);',
      'this.clock.setInterval(fn, 10);',
      'setTimeout(fn, 10);',
      '  globalThis.setImmediate(fn);',
      '// Date.now() in a comment',
      ' * setTimeout( in a doc comment',
      'const x = Math.random(); // determinism-ok: test fixture',
      '  setTimeout(fn: () => void, delayMs: number): TimerId {',
      'const id = crypto.randomBytes(8);',
      'const d = new Date(0);',
      'const s = mySetTimeout(fn);',
      'const h = process.hrtime.bigint();',
      'setTimeout(() => {',
      '  setInterval(function () {',
      'override setTimeout<T>(fn: () => T, ms = 0) {',
      '  setTimeout(fn: () => void, delayMs: number): TimerId;',
      'setTimeout(ready ? f(x) : g, 1);',
      '  abstract setInterval(fn: () => void, everyMs: number): Timer | undefined;',
    ].join('\n');
    expect(findBannedCalls(source).map((hit) => hit.line)).toEqual([1, 4, 5, 10, 11, 13, 14, 15, 18]);
  });

  test('every adapter file listed exists, under a scanned folder, once', () => {
    for (const path of ADAPTER_FILES) {
      expect(existsSync(join(ROOT, path)), `${path} is in ADAPTER_FILES but does not exist`).toBe(true);
      expect(
        SCANNED_DIRS.some((dir) => path.startsWith(`${dir}/`)),
        path,
      ).toBe(true);
    }
    expect(new Set(ADAPTER_FILES).size).toBe(ADAPTER_FILES.length);
  });

  test('files whose names merely contain "node", "clock", "real" or "tcp" are scanned', () => {
    const scanned = SCANNED_DIRS.flatMap((dir) => tsFilesUnder(join(ROOT, dir))).map(repoPath);
    const lookalikes = [
      'src/sheepdog/client/inode-cache.ts',
      'src/sheepdog/wire/inode.ts',
      'machines/inode-view.ts',
      'src/core/virtual-clock.ts',
    ];
    for (const path of lookalikes) {
      expect(scanned, path).toContain(path);
      expect(ADAPTER_FILES, path).not.toContain(path);
    }
  });

  test('no banned call outside adapter files under src/, machines/, transports/, sim/', () => {
    const failures: string[] = [];
    for (const dir of SCANNED_DIRS) {
      for (const file of tsFilesUnder(join(ROOT, dir))) {
        if (ADAPTER_FILES.includes(repoPath(file))) continue;
        for (const hit of findBannedCalls(readFileSync(file, 'utf8'))) {
          failures.push(`${repoPath(file)}:${hit.line}: ${hit.name}: ${hit.code}`);
        }
      }
    }
    expect(
      failures,
      `Inject Clock/Rng instead, or mark a justified line with '// determinism-ok: <why>':\n${failures.join('\n')}`,
    ).toEqual([]);
  });
});
