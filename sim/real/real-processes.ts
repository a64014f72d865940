/**
 * Real `collie` processes for the harnesses that drive them (crash, soak): long-running daemons
 * (`collie sheep`, `collie target`) started, SIGKILLed and restarted by pid, short commands
 * (`collie vdi ...`), free ports, and a process's resident memory.
 *
 * Rules:
 * - Processes are found and signalled only by the pid this module started; nothing is ever
 *   killed by name. With util-linux `setpriv` a daemon also gets a parent-death SIGKILL, so a
 *   harness that dies (a CI timeout) leaves nothing behind; exit() kills what is still running.
 * - stdout is watched for the ready line; stdout and stderr are appended to the daemon's log file
 *   (kept in the run directory, for the reproduction of a failure), and a short ring of recent
 *   lines is kept for error messages.
 * - Time is the real clock (realClock): these harnesses run real processes in real time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  existsSync,
  constants as fsConstants,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { realClock } from '../../src/core/real-clock.js';
import type { Rng } from '../../src/core/rng.js';

const RING_LINES = 60;

/** The repository root: the nearest folder above this file with bin/collie.js (source or dist). */
export const REPO_ROOT = (() => {
  let dir = import.meta.dirname;
  for (let up = 0; up < 6; up++) {
    if (existsSync(join(dir, 'bin', 'collie.js')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find bin/collie.js above ${import.meta.dirname}`);
})();
export const COLLIE_BIN = join(REPO_ROOT, 'bin', 'collie.js');

function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

const setprivPath = findExecutable('setpriv');
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One incarnation of a daemon: `node bin/collie.js ARGS`, started now. */
export class CollieDaemon {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  #exit: ExitStatus | undefined;
  /** Set by the owner once the daemon printed its ready line. */
  ready = false;
  /** Set before we signal it: an exit we caused is not a surprise. */
  killedBy: NodeJS.Signals | undefined;
  readonly #child: ChildProcess;
  readonly #ring: string[] = [];
  readonly #lineWaiters = new Set<(line: string) => void>();
  readonly #logFd: number;

  constructor(
    readonly name: string,
    readonly args: readonly string[],
    logFile: string,
  ) {
    const argv = [COLLIE_BIN, ...args];
    const [file, fileArgs] = setprivPath
      ? [setprivPath, ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...argv]]
      : [process.execPath, argv];
    this.#logFd = openSync(logFile, 'a');
    writeSync(this.#logFd, `--- ${name}: collie ${args.join(' ')}\n`);
    this.#child = spawn(file, fileArgs, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.#child.pid === undefined) throw new Error(`${name}: could not start collie ${args.join(' ')}`);
    this.pid = this.#child.pid;
    running.add(this.#child);
    for (const stream of [this.#child.stdout, this.#child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.#line(line);
      });
    }
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        running.delete(this.#child);
        this.#exit = { code, signal };
        try {
          writeSync(this.#logFd, `--- ${name} exited: code ${code} signal ${signal}\n`);
          closeSync(this.#logFd);
        } catch {
          // the log is best effort
        }
        resolve(this.#exit);
        for (const waiter of this.#lineWaiters) waiter('');
      });
    });
  }

  get exitStatus(): ExitStatus | undefined {
    return this.#exit;
  }

  /** The last lines of output, indented. */
  tail(lines = 20): string {
    const last = this.#ring.slice(-lines);
    return last.length === 0 ? '    (no output)' : last.map((line) => `    ${line}`).join('\n');
  }

  /** Resolves with the first line (seen so far or later) matching `pattern`; rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const seen = this.#ring.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = realClock.setTimeout(() => {
        this.#lineWaiters.delete(onLine);
        reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      const onLine = (line: string) => {
        if (this.#exit !== undefined && !pattern.test(line)) {
          realClock.clearTimeout(timer);
          this.#lineWaiters.delete(onLine);
          reject(new Error(`${this.name} exited (${describeExit(this.#exit)}) before ready\n${this.tail()}`));
        } else if (pattern.test(line)) {
          realClock.clearTimeout(timer);
          this.#lineWaiters.delete(onLine);
          resolve(line);
        }
      };
      this.#lineWaiters.add(onLine);
      if (this.#exit !== undefined) onLine('');
    });
  }

  /** Sends `signal` to the process (by its pid only). */
  signal(signal: NodeJS.Signals): void {
    if (this.#exit !== undefined) return;
    this.killedBy ??= signal;
    try {
      process.kill(this.pid, signal);
    } catch {
      // gone meanwhile
    }
  }

  /** SIGKILL, and the exit. */
  async kill(): Promise<ExitStatus> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /** SIGTERM (a graceful stop), SIGKILL after graceMs; the exit. */
  async stop(graceMs = 15_000): Promise<ExitStatus> {
    if (this.#exit !== undefined) return this.#exit;
    this.signal('SIGTERM');
    const timer = realClock.setTimeout(() => this.signal('SIGKILL'), graceMs);
    const status = await this.exited;
    realClock.clearTimeout(timer);
    return status;
  }

  #line(line: string): void {
    try {
      writeSync(this.#logFd, `${line}\n`);
    } catch {
      // closed at exit
    }
    this.#ring.push(line);
    if (this.#ring.length > RING_LINES) this.#ring.shift();
    for (const waiter of this.#lineWaiters) waiter(line);
  }
}

export function describeExit(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}

export interface CommandOutput {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs `node bin/collie.js ARGS` to completion (SIGKILLed after timeoutMs). */
export function runCollie(args: readonly string[], timeoutMs = 60_000): Promise<CommandOutput> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [COLLIE_BIN, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = realClock.setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => err.push(Buffer.from(`[spawn error] ${error.message}\n`)));
    child.on('close', (code) => {
      realClock.clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Like runCollie, but a non-zero exit throws with the command and its stderr. */
export async function runCollieOk(args: readonly string[], timeoutMs = 60_000): Promise<Buffer> {
  const output = await runCollie(args, timeoutMs);
  if (output.code !== 0) {
    throw new Error(`collie ${args.join(' ')} exited ${output.code}: ${output.stderr.trim()}`);
  }
  return output.stdout;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * `count` distinct ports on 127.0.0.1 that were free a moment ago, from 20000..31999: below
 * Linux's ephemeral range (32768+), so no outgoing connection takes one while its daemon is down
 * between a kill and its restart, and above the 4-digit range the project's tests use.
 */
export async function freePorts(count: number, rng: Rng): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > 2_000) throw new Error('no free port found in 20000..31999');
    const port = rng.int(20_000, 32_000);
    if (!ports.includes(port) && (await canBind(port))) ports.push(port);
  }
  return ports;
}

/** Resident set size (VmRSS) of a process in KiB; undefined when it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** utime + stime of a process in clock ticks (1/100 s on Linux); undefined when it is gone. */
export function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields are counted after the command name's closing ')': state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}
