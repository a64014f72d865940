/**
 * Child processes for the benchmarks: long-running daemons (tgtd, collie target, collie sheep)
 * and short commands (tgtadm, iscsi-perf, qemu-img), plus the CPU time a daemon used.
 *
 * Rules:
 * - A daemon runs in its own process group, so stopping it reaches everything it started; with
 *   util-linux `setpriv` it also dies when the benchmark dies (parent-death SIGKILL).
 * - Output is drained continuously (a daemon that logs into a full pipe would stall) and only a
 *   short ring of recent lines is kept, for error messages.
 * - CPU time is utime + stime from /proc/PID/stat, in clock ticks (CLK_TCK, 100 on Linux); memory
 *   is VmRSS from /proc/PID/status (all threads of the process, so tgtd's I/O threads count).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';

const RING_LINES = 40;

function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      accessSync(`${dir}/${name}`, fsConstants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const setprivPath = findExecutable('setpriv');

/** Clock ticks per second for /proc/PID/stat times. */
export const CLOCK_TICKS_PER_SECOND = (() => {
  const answer = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number.parseInt(answer.stdout ?? '', 10);
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
})();

/** utime + stime of a process, in clock ticks; undefined when it is gone. */
export function cpuTicks(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces: fields are counted after its closing ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (14) and stime (15) are fields[11] and fields[12].
  return Number(fields[11]) + Number(fields[12]);
}

/** Resident set size (VmRSS) of a process in KiB; undefined when it is gone. */
export function rssKiB(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) : undefined;
}

/** Samples the RSS of some processes every `everyMs` until stop(); keeps each one's peak (KiB). */
export class RssPeaks {
  readonly #peaks = new Map<number, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly pids: readonly number[],
    everyMs = 100,
  ) {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  #sample(): void {
    for (const pid of this.pids) {
      const rss = rssKiB(pid);
      if (rss !== undefined) this.#peaks.set(pid, Math.max(rss, this.#peaks.get(pid) ?? 0));
    }
  }

  /** Stops sampling (after one last sample) and returns the peaks. */
  stop(): Map<number, number> {
    clearInterval(this.#timer);
    this.#sample();
    return this.#peaks;
  }
}

/** A running daemon whose output is drained into a ring of recent lines. */
export class Daemon {
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #ring: string[] = [];
  readonly #lineWaiters = new Set<(line: string) => void>();
  #exited = false;
  readonly #exitPromise: Promise<void>;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    options: { cwd?: string } = {},
  ) {
    const [file, argv] = setprivPath
      ? [setprivPath, ['--pdeathsig', 'SIGKILL', '--', command, ...args]]
      : [command, [...args]];
    this.#child = spawn(file, argv, { cwd: options.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child.on('error', (error) => this.#line(`[spawn error] ${error.message}`));
    if (this.#child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
    this.pid = this.#child.pid;
    for (const stream of [this.#child.stdout, this.#child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.#line(line);
      });
    }
    this.#exitPromise = new Promise((resolve) => {
      this.#child.on('exit', () => {
        this.#exited = true;
        resolve();
      });
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** The last lines of output, indented, for error messages. */
  tail(): string {
    return this.#ring.length === 0 ? '  (no output)' : this.#ring.map((line) => `  ${line}`).join('\n');
  }

  /** Resolves at the first later line matching `pattern`; rejects on exit or after timeoutMs. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const seen = this.#ring.find((line) => pattern.test(line));
      if (seen !== undefined) {
        resolve(seen);
        return;
      }
      const done = (error?: Error, line?: string) => {
        clearTimeout(timer);
        this.#lineWaiters.delete(onLine);
        if (error) reject(error);
        else resolve(line ?? '');
      };
      const onLine = (line: string) => {
        if (pattern.test(line)) done(undefined, line);
      };
      const timer = setTimeout(
        () =>
          done(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms\n${this.tail()}`)),
        timeoutMs,
      );
      this.#lineWaiters.add(onLine);
      void this.#exitPromise.then(() =>
        done(new Error(`${this.name} exited before printing ${pattern}\n${this.tail()}`)),
      );
    });
  }

  /** Sends `signal` to the process group, then SIGKILL after graceMs; resolves on exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3_000): Promise<void> {
    if (this.#exited) return;
    this.#killGroup(signal);
    const timer = setTimeout(() => this.#killGroup('SIGKILL'), graceMs);
    await this.#exitPromise;
    clearTimeout(timer);
  }

  #killGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // already gone
    }
  }

  #line(line: string): void {
    this.#ring.push(line);
    if (this.#ring.length > RING_LINES) this.#ring.shift();
    for (const waiter of this.#lineWaiters) waiter(line);
  }
}

export interface CommandResult {
  readonly exitCode: number | null;
  readonly output: string;
  readonly wallSeconds: number;
}

/** Runs a command to completion (killed after timeoutMs) and returns stdout + stderr. */
export function runCommand(
  command: string,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => chunks.push(Buffer.from(`[spawn error] ${error.message}\n`)));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        exitCode: code,
        output: Buffer.concat(chunks).toString('utf8'),
        wallSeconds: (performance.now() - started) / 1000,
      });
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when 127.0.0.1:port can be bound right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

const issuedFourDigitPorts = new Set<number>();

/**
 * A free 4-digit TCP port on 127.0.0.1 (1024..9999, never the same twice in this process): tgt
 * 1.0.85 keeps only 4 digits of a sheepdog backing store's port. It starts from a pid-dependent
 * offset and skips the ports iSCSI, iSNS and sheep use by default.
 */
export async function fourDigitPort(): Promise<number> {
  const reserved = new Set([3205, 3260, 7000]);
  const size = 9999 - 1024 + 1;
  for (let i = 0; i < size; i++) {
    const port = 1024 + ((process.pid * 37 + i) % size);
    if (reserved.has(port) || issuedFourDigitPorts.has(port)) continue;
    if (await canBind(port)) {
      issuedFourDigitPorts.add(port);
      return port;
    }
  }
  throw new Error('no free port in 1024..9999 on 127.0.0.1');
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
