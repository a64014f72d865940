/**
 * Child processes for tests that drive real peers (tgtd, tgtadm, qemu-io, libiscsi tools, collie).
 *
 * Rules:
 * - Every child runs in its own process group (`detached`), so a kill reaches everything it started.
 * - Every child is registered; the registry SIGKILLs whatever is still alive when the test file ends
 *   (a vitest `afterAll` registered by importing this module) and when the worker process exits.
 *   Where util-linux `setpriv` exists, children also get a parent-death signal (SIGKILL), so they die
 *   even if the worker itself is SIGKILLed and no cleanup code runs.
 * - Every wait is bounded, and a timeout error carries the child's last 30 output lines.
 * - Output is kept as lines per stream (capped, so a chatty child cannot exhaust memory) plus a small
 *   ring of recent lines from both streams for error messages.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { basename } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { afterAll } from 'vitest';

export type StreamName = 'stdout' | 'stderr';

/** A line longer than this is cut (binary output has no newlines). */
const LINE_CHARS_MAX = 64 * 1024;

export interface OutputLine {
  stream: StreamName;
  text: string;
}

export interface ExitInfo {
  /** Exit status, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartProcessOptions {
  /** Label used in error messages; defaults to the command's basename. */
  name?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** 'pipe' to write to the child's stdin (`process.child.stdin`); default 'ignore'. */
  stdin?: 'pipe' | 'ignore';
  /** Lines of both streams kept for error messages; default 200. */
  ringSize?: number;
  /** Lines kept per stream in stdoutLines/stderrLines; later lines only reach the ring. Default 200,000. */
  maxStoredLines?: number;
}

export interface WaitForLineOptions {
  /** Which stream to watch; default both. */
  stream?: StreamName | 'any';
  /** Also match lines already received (default true); false waits for a new line. */
  includeSeen?: boolean;
}

/** Lines of output quoted in timeout and failure messages. */
export const TAIL_LINES = 30;
/** How long waitForExit waits for the pipes to drain after the exit event. */
const DRAIN_AFTER_EXIT_MS = 1_000;

const live = new Set<ManagedProcess>();

const setprivPath = findExecutable('setpriv');

/** Returns the absolute path of an executable found on PATH, or undefined. */
export function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const candidate = `${dir}/${name}`;
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

function spawnInGroup(command: string, args: readonly string[], options: StartProcessOptions): ChildProcess {
  // setpriv execs the command in place (same pid), after arranging SIGKILL on parent death.
  const [file, argv] = setprivPath
    ? [setprivPath, ['--pdeathsig', 'SIGKILL', '--', command, ...args]]
    : [command, [...args]];
  return spawn(file, argv, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
}

/** A running child with captured output. Create it with startProcess. */
export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly stdoutLines: string[] = [];
  readonly stderrLines: string[] = [];
  /** Lines dropped from stdoutLines/stderrLines because maxStoredLines was reached. */
  droppedLines = 0;
  private readonly ring: string[] = [];
  private readonly ringSize: number;
  private readonly maxStoredLines: number;
  private readonly listeners = new Set<(line: OutputLine) => void>();
  private exitInfoValue: ExitInfo | undefined;
  private closed = false;
  private readonly exitWaiters = new Set<() => void>();
  private spawnError: Error | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly commandLine: string,
    options: StartProcessOptions,
  ) {
    this.name = options.name ?? commandLine.split(' ')[0] ?? 'child';
    this.ringSize = options.ringSize ?? 200;
    this.maxStoredLines = options.maxStoredLines ?? 200_000;
    // Listen for 'error' first: an unhandled spawn error (ENOENT) would crash the worker.
    child.on('error', (error) => {
      this.spawnError = error;
      this.pushLine('stderr', `[spawn error] ${error.message}`);
    });
    if (child.pid === undefined)
      throw new Error(`${this.name}: could not start ${commandLine.slice(0, 200)}`);
    this.pid = child.pid;
    this.attach('stdout');
    this.attach('stderr');
    child.on('exit', (code, signal) => {
      this.exitInfoValue = { code, signal };
      live.delete(this);
      this.notifyExitWaiters();
    });
    child.on('close', () => {
      this.closed = true;
      this.notifyExitWaiters();
    });
  }

  /** Exit status once the child has exited. */
  get exitInfo(): ExitInfo | undefined {
    return this.exitInfoValue;
  }

  get exited(): boolean {
    return this.exitInfoValue !== undefined;
  }

  /** The last `count` lines of both streams, tagged `[stdout]` / `[stderr]`. */
  recentLines(count = TAIL_LINES): string[] {
    return this.ring.slice(-count);
  }

  /** The last lines as one indented block for error messages. */
  describeTail(count = TAIL_LINES): string {
    const lines = this.recentLines(count);
    if (lines.length === 0) return `  (${this.name} printed nothing)`;
    return lines.map((line) => `  ${line}`).join('\n');
  }

  /** Calls listener for every later line; returns the unsubscribe function. */
  onLine(listener: (line: OutputLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first line matching pattern; rejects on timeout or when the child exits first. */
  waitForLine(pattern: RegExp, timeoutMs: number, options: WaitForLineOptions = {}): Promise<string> {
    const stream = options.stream ?? 'any';
    const matches = (line: OutputLine) =>
      (stream === 'any' || line.stream === stream) && pattern.test(line.text);
    if (options.includeSeen ?? true) {
      const seen: OutputLine[] = [
        ...this.stdoutLines.map((text) => ({ stream: 'stdout' as const, text })),
        ...this.stderrLines.map((text) => ({ stream: 'stderr' as const, text })),
      ];
      const hit = seen.find(matches);
      if (hit) return Promise.resolve(hit.text);
    }
    return new Promise<string>((resolve, reject) => {
      const finish = (error: Error | undefined, text?: string) => {
        clearTimeout(timer);
        unsubscribe();
        this.exitWaiters.delete(onExit);
        if (error) reject(error);
        else resolve(text ?? '');
      };
      const unsubscribe = this.onLine((line) => {
        if (matches(line)) finish(undefined, line.text);
      });
      const onExit = () => {
        if (!this.closed) return; // wait until the pipes are drained: the line may still come
        finish(
          new Error(
            `${this.name} exited (${describeExit(this.exitInfoValue)}) before printing a line matching ${pattern}; ` +
              `last output:\n${this.describeTail()}`,
          ),
        );
      };
      this.exitWaiters.add(onExit);
      const timer = setTimeout(() => {
        finish(
          new Error(
            `${this.name} printed no line matching ${pattern} within ${timeoutMs} ms; last output:\n${this.describeTail()}`,
          ),
        );
      }, timeoutMs);
      if (this.closed) onExit();
    });
  }

  /** Sends signal to the child's whole process group. Returns false if the group is already gone. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    return killGroup(this.pid, signal);
  }

  /** Resolves when the child has exited and its output is drained; rejects after timeoutMs. */
  waitForExit(timeoutMs: number): Promise<ExitInfo> {
    return new Promise<ExitInfo>((resolve, reject) => {
      let drainTimer: NodeJS.Timeout | undefined;
      const check = () => {
        const info = this.exitInfoValue;
        if (!info) return;
        if (this.closed || this.spawnError) {
          done();
          resolve(info);
        } else if (!drainTimer) {
          // A grandchild holding the pipes open must not keep us waiting for ever.
          drainTimer = setTimeout(() => {
            done();
            resolve(info);
          }, DRAIN_AFTER_EXIT_MS);
        }
      };
      const done = () => {
        clearTimeout(timer);
        clearTimeout(drainTimer);
        this.exitWaiters.delete(check);
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(`${this.name} did not exit within ${timeoutMs} ms; last output:\n${this.describeTail()}`),
        );
      }, timeoutMs);
      this.exitWaiters.add(check);
      check();
    });
  }

  /** Sends signal, waits up to graceMs, then SIGKILLs the group and waits again (bounded). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<ExitInfo> {
    if (this.exitInfoValue && this.closed) return this.exitInfoValue;
    this.kill(signal);
    try {
      return await this.waitForExit(graceMs);
    } catch {
      this.kill('SIGKILL');
      return this.waitForExit(5_000);
    }
  }

  private attach(stream: StreamName): void {
    const source = stream === 'stdout' ? this.child.stdout : this.child.stderr;
    if (!source) return;
    const decoder = new StringDecoder('utf8');
    let partial = '';
    source.on('data', (chunk: Buffer) => {
      const parts = (partial + decoder.write(chunk)).split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) this.pushLine(stream, part.replace(/\r$/, ''));
      // Binary output without newlines would make `partial` grow quadratically: cut it into
      // bounded pseudo-lines instead (they only serve error messages).
      if (partial.length > LINE_CHARS_MAX) {
        this.pushLine(stream, `${partial.slice(0, 200)}… (${partial.length} chars without a newline)`);
        partial = '';
      }
    });
    source.on('end', () => {
      const rest = partial + decoder.end();
      partial = '';
      if (rest) this.pushLine(stream, rest.replace(/\r$/, ''));
    });
  }

  private pushLine(stream: StreamName, text: string): void {
    const store = stream === 'stdout' ? this.stdoutLines : this.stderrLines;
    if (store.length < this.maxStoredLines) store.push(text);
    else this.droppedLines++;
    this.ring.push(`[${stream}] ${text}`);
    if (this.ring.length > this.ringSize) this.ring.shift();
    for (const listener of this.listeners) listener({ stream, text });
  }

  private notifyExitWaiters(): void {
    for (const waiter of [...this.exitWaiters]) waiter();
  }
}

/** Starts a registered child in its own process group. */
export function startProcess(
  command: string,
  args: readonly string[],
  options: StartProcessOptions = {},
): ManagedProcess {
  const child = spawnInGroup(command, args, options);
  const managed = new ManagedProcess(child, [command, ...args].join(' '), {
    ...options,
    name: options.name ?? basename(command),
  });
  live.add(managed);
  return managed;
}

export interface RunProcessOptions {
  name?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: Buffer | string;
  /** The child is SIGKILLed and the promise rejects after this long. */
  timeoutMs: number;
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
}

/** Runs a registered child to completion and returns its raw output. Rejects only on timeout or spawn failure. */
export async function runProcess(
  command: string,
  args: readonly string[],
  options: RunProcessOptions,
): Promise<RunResult> {
  const startedMs = Date.now();
  const name = options.name ?? basename(command);
  const child = spawnInGroup(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdin: options.input === undefined ? 'ignore' : 'pipe',
  });
  // Raw chunks for the result; the managed wrapper keeps lines for error messages and the registry.
  const stdoutChunks: Buffer[] = [];
  const stderrChunks: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderrChunks.push(chunk));
  const managed = new ManagedProcess(child, [command, ...args].join(' '), { name });
  live.add(managed);
  if (options.input !== undefined && child.stdin) {
    child.stdin.on('error', () => {
      // The child may exit without reading its input (EPIPE); its exit status tells the story.
    });
    child.stdin.end(options.input);
  }
  let exit: ExitInfo;
  try {
    exit = await managed.waitForExit(options.timeoutMs);
  } catch {
    managed.kill('SIGKILL');
    await managed.waitForExit(5_000).catch(() => undefined);
    throw new Error(
      `${name} did not finish within ${options.timeoutMs} ms and was killed (${managed.commandLine.slice(0, 300)}); ` +
        `last output:\n${managed.describeTail()}`,
    );
  }
  return {
    exitCode: exit.code,
    signal: exit.signal,
    stdout: Buffer.concat(stdoutChunks),
    stderr: Buffer.concat(stderrChunks),
    durationMs: Date.now() - startedMs,
  };
}

/** Children started through this module that have not exited yet. */
export function liveProcesses(): ManagedProcess[] {
  return [...live];
}

/** SIGKILLs every registered child's group and waits (bounded) for them to exit. */
export async function killAllProcesses(): Promise<void> {
  const victims = [...live];
  for (const victim of victims) victim.kill('SIGKILL');
  await Promise.all(victims.map((victim) => victim.waitForExit(5_000).catch(() => undefined)));
}

function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

export function describeExit(info: ExitInfo | undefined): string {
  if (!info) return 'still running';
  return info.signal ? `signal ${info.signal}` : `exit code ${info.code}`;
}

process.on('exit', () => {
  for (const victim of live) killGroup(victim.pid, 'SIGKILL');
});

try {
  // Registered on the importing test file's root suite; runs after that file's own afterAll hooks.
  afterAll(killAllProcesses);
} catch {
  // Imported outside a vitest collection (e.g. a script): the exit hook above still applies.
}
