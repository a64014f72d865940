/**
 * qemu-io as an iSCSI initiator for tests: `qemu-io -f raw iscsi://HOST:PORT/IQN/LUN -c CMD ...`.
 *
 * Judge a run by its output, not only its exit status: each command prints `wrote N/N bytes ...`
 * or `read N/N bytes ...`, a pattern mismatch prints `Pattern verification failed at offset X, N bytes`,
 * and errors print `read failed: ...` / `write failed: ...`. Debian's qemu-io 7.2 does exit 1 when any
 * command failed (mismatch included), but the status cannot say which command or how many bytes
 * got through; the parsed lines can.
 * Piped, qemu-io's stdout is block-buffered (4 KiB chunks), so the streaming variant runs it under
 * `stdbuf -oL` to see each line when it happens.
 * If the target dies mid-run, qemu-io (libiscsi) reconnects silently for ever and resumes when a
 * target comes back on the same portal, so every run here is bounded.
 */
import { findExecutable, type ManagedProcess, runProcess, startProcess } from './processes.js';

export interface QemuIoResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Sum of bytes reported written (`wrote N/...`). */
  wrote: number;
  /** Sum of bytes reported read (`read N/...`). */
  read: number;
  /** Every `Pattern verification failed ...` line. */
  patternFailures: string[];
  /** `... failed: ...` lines and `qemu-io: ...` diagnostics. */
  errors: string[];
  durationMs: number;
}

export interface QemuIoOptions {
  /** The run is SIGKILLed and rejects after this long; default 30 s. */
  timeoutMs?: number;
}

export interface OutputTotals {
  wrote: number;
  read: number;
  patternFailures: string[];
  errors: string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Adds up qemu-io's per-command report lines. */
export function parseQemuIoOutput(stdout: string, stderr: string): OutputTotals {
  const totals: OutputTotals = { wrote: 0, read: 0, patternFailures: [], errors: [] };
  for (const line of `${stdout}\n${stderr}`.split('\n')) {
    const wrote = /^wrote (\d+)\/\d+ bytes/.exec(line);
    const read = /^read (\d+)\/\d+ bytes/.exec(line);
    if (wrote) totals.wrote += Number(wrote[1]);
    else if (read) totals.read += Number(read[1]);
    else if (line.startsWith('Pattern verification failed')) totals.patternFailures.push(line);
    else if (/ failed: /.test(line) || line.startsWith('qemu-io:')) totals.errors.push(line);
  }
  return totals;
}

function qemuIoArgs(url: string, commands: readonly string[]): string[] {
  if (commands.length === 0) throw new Error('qemuIo: give at least one command (qemu-io would read stdin)');
  return ['-f', 'raw', url, ...commands.flatMap((command) => ['-c', command])];
}

/** Runs qemu-io with the commands against url and parses its output. Rejects only on timeout. */
export async function qemuIo(
  url: string,
  commands: readonly string[],
  { timeoutMs = DEFAULT_TIMEOUT_MS }: QemuIoOptions = {},
): Promise<QemuIoResult> {
  const run = await runProcess('qemu-io', qemuIoArgs(url, commands), { timeoutMs });
  const stdout = run.stdout.toString();
  const stderr = run.stderr.toString();
  return {
    exitCode: run.exitCode,
    signal: run.signal,
    stdout,
    stderr,
    ...parseQemuIoOutput(stdout, stderr),
    durationMs: run.durationMs,
  };
}

export interface PatternRange {
  /** Byte value 0..255 written everywhere in the range (`-P`). */
  pattern: number;
  offset: number;
  length: number;
  timeoutMs?: number;
}

export interface PatternCheck {
  ok: boolean;
  /** Command, exit status and qemu-io's output: pass it as the assertion message. */
  output: string;
  result: QemuIoResult;
}

function patternCommand(verb: 'write' | 'read', { pattern, offset, length }: PatternRange): string {
  if (!Number.isInteger(pattern) || pattern < 0 || pattern > 255) {
    throw new Error(`pattern ${pattern} is not a byte value 0..255`);
  }
  return `${verb} -P 0x${pattern.toString(16).padStart(2, '0')} ${offset} ${length}`;
}

function describeRun(url: string, command: string, result: QemuIoResult): string {
  const status = result.signal ? `signal ${result.signal}` : `exit ${result.exitCode}`;
  return `qemu-io ${url} -c '${command}' (${status}, ${result.durationMs} ms)\n${result.stdout}${result.stderr}`;
}

/** Writes pattern over [offset, offset+length); ok when all bytes were reported written. */
export async function writePattern(url: string, range: PatternRange): Promise<PatternCheck> {
  const command = patternCommand('write', range);
  const result = await qemuIo(url, [command], { timeoutMs: range.timeoutMs });
  const ok = result.exitCode === 0 && result.wrote === range.length && result.errors.length === 0;
  return { ok, output: describeRun(url, command, result), result };
}

/** Reads [offset, offset+length) and verifies every byte equals pattern. */
export async function readPattern(url: string, range: PatternRange): Promise<PatternCheck> {
  const command = patternCommand('read', range);
  const result = await qemuIo(url, [command], { timeoutMs: range.timeoutMs });
  const ok =
    result.exitCode === 0 &&
    result.read === range.length &&
    result.patternFailures.length === 0 &&
    result.errors.length === 0;
  return { ok, output: describeRun(url, command, result), result };
}

/** A qemu-io run whose output arrives line by line while it runs. */
export interface QemuIoStream {
  readonly process: ManagedProcess;
  /** Bytes reported written so far. */
  readonly wroteSoFar: () => number;
  /** Waits for the end (bounded) and parses the whole output. A killed run resolves too. */
  result(timeoutMs?: number): Promise<QemuIoResult>;
  /** Kills qemu-io's process group (SIGKILL by default). */
  kill(signal?: NodeJS.Signals): void;
}

const stdbufPath = findExecutable('stdbuf');

/** Starts qemu-io without waiting, for long command lists the test interrupts mid-way. */
export function startQemuIo(url: string, commands: readonly string[]): QemuIoStream {
  const args = qemuIoArgs(url, commands);
  const startedMs = Date.now();
  const child = stdbufPath
    ? startProcess(stdbufPath, ['-oL', 'qemu-io', ...args], { name: 'qemu-io' })
    : startProcess('qemu-io', args);
  let wrote = 0;
  child.onLine(({ text }) => {
    const match = /^wrote (\d+)\/\d+ bytes/.exec(text);
    if (match) wrote += Number(match[1]);
  });
  return {
    process: child,
    wroteSoFar: () => wrote,
    kill: (signal = 'SIGKILL') => {
      child.kill(signal);
    },
    async result(timeoutMs = DEFAULT_TIMEOUT_MS) {
      const exit = await child.waitForExit(timeoutMs);
      const stdout = child.stdoutLines.join('\n');
      const stderr = child.stderrLines.join('\n');
      return {
        exitCode: exit.code,
        signal: exit.signal,
        stdout,
        stderr,
        ...parseQemuIoOutput(stdout, stderr),
        durationMs: Date.now() - startedMs,
      };
    },
  };
}

/**
 * Many ranges in one qemu-io run (one `-c` per range). Each command's report line names its
 * offset (`wrote N/N bytes at offset X`, `read N/N bytes at offset X`, `Pattern verification failed
 * at offset X, N bytes`), so the output says which ranges went through; the ranges of one run must
 * therefore start at distinct offsets. An error line (`aio_write failed: ...`) names no offset: the
 * range it belongs to simply has no report line, and the run is not ok. Debian's qemu-io 7.2 exits 0
 * when an aio_write failed (`aio_write failed: Operation canceled`), so only the lines tell.
 */
export interface RangesCheck {
  /** Exit 0, no error line, and every range reported complete (and verified, for reads). */
  ok: boolean;
  /** The ranges that were not reported complete or failed their pattern verification. */
  failed: PatternRange[];
  /** Command count, exit status, error and verification lines and the output's tail. */
  output: string;
  result: QemuIoResult;
}

/** What qemu-io reported per offset. */
export interface OffsetReports {
  /** offset -> bytes reported written there. */
  wrote: Map<number, number>;
  /** offset -> bytes reported read there. */
  read: Map<number, number>;
  /** Offsets whose pattern verification failed. */
  patternFailures: Set<number>;
}

/** Parses qemu-io's per-command report lines by offset (works on a partial output too). */
export function parseOffsetReports(text: string): OffsetReports {
  const reports: OffsetReports = { wrote: new Map(), read: new Map(), patternFailures: new Set() };
  for (const line of text.split('\n')) {
    const done = /^(wrote|read) (\d+)\/\d+ bytes at offset (\d+)/.exec(line);
    if (done) {
      const map = done[1] === 'wrote' ? reports.wrote : reports.read;
      const offset = Number(done[3]);
      map.set(offset, (map.get(offset) ?? 0) + Number(done[2]));
      continue;
    }
    const mismatch = /^Pattern verification failed at offset (\d+)/.exec(line);
    if (mismatch) reports.patternFailures.add(Number(mismatch[1]));
  }
  return reports;
}

function assertDistinctOffsets(ranges: readonly PatternRange[]): void {
  const offsets = new Set(ranges.map((range) => range.offset));
  if (offsets.size !== ranges.length) {
    throw new Error('qemu-io range runs need distinct offsets: the report lines are matched by offset');
  }
}

/** `aio_write -P` for every range, then one `aio_flush`: all writes in flight at once. */
export function aioWriteCommands(ranges: readonly PatternRange[]): string[] {
  assertDistinctOffsets(ranges);
  return [...ranges.map((range) => `aio_${patternCommand('write', range)}`), 'aio_flush'];
}

/** `read -P` for every range, one after the other. */
export function readCommands(ranges: readonly PatternRange[]): string[] {
  assertDistinctOffsets(ranges);
  return ranges.map((range) => patternCommand('read', range));
}

const RANGES_OUTPUT_TAIL_LINES = 20;

/** Judges a finished multi-range run (writes: every range reported written; reads: also verified). */
export function checkRanges(
  verb: 'write' | 'read',
  url: string,
  ranges: readonly PatternRange[],
  result: QemuIoResult,
): RangesCheck {
  const reports = parseOffsetReports(result.stdout);
  const done = verb === 'write' ? reports.wrote : reports.read;
  const failed = ranges.filter(
    (range) => done.get(range.offset) !== range.length || reports.patternFailures.has(range.offset),
  );
  const ok = result.exitCode === 0 && result.errors.length === 0 && failed.length === 0;
  const status = result.signal ? `signal ${result.signal}` : `exit ${result.exitCode}`;
  const tail = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-RANGES_OUTPUT_TAIL_LINES);
  const output = [
    `qemu-io ${url} with ${ranges.length} ${verb} commands (${status}, ${result.durationMs} ms): ` +
      `${failed.length} of ${ranges.length} ranges failed`,
    ...failed.slice(0, 10).map((range) => `  failed: ${patternCommand(verb, range)}`),
    ...(failed.length > 10 ? [`  ... and ${failed.length - 10} more`] : []),
    ...result.errors.slice(0, 10).map((line) => `  error: ${line}`),
    ...result.patternFailures.slice(0, 10).map((line) => `  ${line}`),
    `  output tail:`,
    ...tail.map((line) => `    ${line}`),
  ].join('\n');
  return { ok, failed, output, result };
}

/** Writes every range with aio_write (all in flight together), then aio_flush, in one qemu-io. */
export async function writeRangesAio(
  url: string,
  ranges: readonly PatternRange[],
  options: QemuIoOptions = {},
): Promise<RangesCheck> {
  const result = await qemuIo(url, aioWriteCommands(ranges), options);
  return checkRanges('write', url, ranges, result);
}

/** Reads and verifies every range in one qemu-io; failed lists the ranges that did not verify. */
export async function readRanges(
  url: string,
  ranges: readonly PatternRange[],
  options: QemuIoOptions = {},
): Promise<RangesCheck> {
  const result = await qemuIo(url, readCommands(ranges), options);
  return checkRanges('read', url, ranges, result);
}

/** A streaming aio write run (see startQemuIo) whose report lines can be inspected while it runs. */
export interface RangesWriteStream {
  readonly stream: QemuIoStream;
  /** Offsets of the ranges reported written so far, in report order. */
  acknowledgedSoFar(): number[];
  /**
   * When each report line arrived (Date.now()), in report order: an upper bound of the moment the
   * write was acknowledged (the line still had to cross a pipe).
   */
  acknowledgedAt(): ReadonlyArray<{ offset: number; atMs: number }>;
  /** Waits for the end (bounded) and judges the run. */
  check(timeoutMs?: number): Promise<RangesCheck>;
}

/** Starts writeRangesAio's run without waiting, for tests that act while the writes are in flight. */
export function startWriteRangesAio(url: string, ranges: readonly PatternRange[]): RangesWriteStream {
  const stream = startQemuIo(url, aioWriteCommands(ranges));
  const arrivals: { offset: number; atMs: number }[] = [];
  stream.process.onLine(({ stream: name, text }) => {
    const match = name === 'stdout' ? /^wrote \d+\/\d+ bytes at offset (\d+)/.exec(text) : null;
    if (match) arrivals.push({ offset: Number(match[1]), atMs: Date.now() });
  });
  return {
    stream,
    acknowledgedSoFar: () => [...parseOffsetReports(stream.process.stdoutLines.join('\n')).wrote.keys()],
    acknowledgedAt: () => arrivals,
    async check(timeoutMs) {
      return checkRanges('write', url, ranges, await stream.result(timeoutMs));
    },
  };
}

/**
 * qemu-io kept open (no -c: it reads commands from stdin), so one logged-in session sees what the
 * target does between commands. Each command waits for its report line; qemu-io prefixes its
 * output with the `qemu-io> ` prompt, which the matching strips. Its stderr (libiscsi's and
 * qemu's diagnostics, e.g. `iSCSI CheckCondition: ...`) is in `process.stderrLines`.
 */
export interface InteractiveQemuIo {
  readonly process: ManagedProcess;
  /** Sends one command and waits (bounded) for its `wrote`/`read`/failure line; resolves to that line. */
  run(command: string, timeoutMs?: number): Promise<string>;
  /** Stderr lines received since the last call. */
  takeStderr(): string[];
  /** `quit`, then a bounded wait; killed if it lingers. */
  close(): Promise<void>;
}

const PROMPT = /^(qemu-io> )+/;
const DONE_LINE = /^(qemu-io> )*((wrote|read) \d+\/\d+ bytes|Pattern verification failed|\w+ failed: )/;

export function startInteractiveQemuIo(url: string): InteractiveQemuIo {
  const command = stdbufPath ? stdbufPath : 'qemu-io';
  const args = stdbufPath ? ['-oL', 'qemu-io', '-f', 'raw', url] : ['-f', 'raw', url];
  const child = startProcess(command, args, { name: 'qemu-io (interactive)', stdin: 'pipe' });
  let stderrSeen = 0;
  return {
    process: child,
    async run(line, timeoutMs = DEFAULT_TIMEOUT_MS) {
      const done = child.waitForLine(DONE_LINE, timeoutMs, { includeSeen: false });
      child.child.stdin?.write(`${line}\n`);
      return (await done).replace(PROMPT, '');
    },
    takeStderr() {
      const lines = child.stderrLines.slice(stderrSeen);
      stderrSeen = child.stderrLines.length;
      return lines;
    },
    async close() {
      child.child.stdin?.end('quit\n');
      await child.waitForExit(5_000).catch(async () => {
        child.kill('SIGKILL');
        await child.waitForExit(5_000).catch(() => undefined);
      });
    },
  };
}
