/**
 * Runs the project's own CLI (`node bin/collie.js ...`) as child processes, to this contract:
 *   collie sheep --store DIR --listen HOST:PORT [--listen HOST:PORT ...] [--no-lock]
 *     foreground; logs a line containing "ready" once every endpoint listens; SIGTERM stops it.
 *   collie vdi create NAME SIZE [-a HOST] [-p PORT] | snapshot -s TAG NAME | read [-s TAG] NAME [OFF [LEN]]
 *     (data to stdout) | write NAME [OFF [LEN]] (data from stdin) | list | delete NAME
 *     | lock list | lock unlock NAME
 * bin/collie.js runs the compiled dist/, so tests see the last `npm run build` (npm ci builds it).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ExitInfo, type ManagedProcess, runProcess, startProcess } from './processes.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COLLIE_BIN = join(REPO_ROOT, 'bin', 'collie.js');
const COLLIE_ENTRY = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

export interface Endpoint {
  host: string;
  port: number;
}

export function formatEndpoint({ host, port }: Endpoint): string {
  return `${host}:${port}`;
}

let staleWarningGiven = false;

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtimeMs(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Throws when the CLI is not built; warns once when src/ is newer than the build. */
export function assertCollieBuilt(): void {
  if (!existsSync(COLLIE_ENTRY)) {
    throw new Error(`${COLLIE_ENTRY} is missing: run 'npm run build' before tests that start the collie CLI`);
  }
  if (!staleWarningGiven && newestMtimeMs(join(REPO_ROOT, 'src')) > statSync(COLLIE_ENTRY).mtimeMs) {
    staleWarningGiven = true;
    console.warn(`collie CLI build is older than src/: tests run the old code until 'npm run build'`);
  }
}

export interface StartSheepOptions {
  storeDir: string;
  listen: Endpoint[];
  noLock?: boolean;
  /** Bound on waiting for the "ready" line; default 15 s. */
  readyTimeoutMs?: number;
}

/** A running `collie sheep`; restart() replaces the process with one started the same way. */
export class SheepHandle {
  private current: ManagedProcess;

  constructor(
    readonly options: StartSheepOptions,
    first: ManagedProcess,
  ) {
    this.current = first;
  }

  /** The current process (changes on restart). */
  get process(): ManagedProcess {
    return this.current;
  }

  get endpoints(): Endpoint[] {
    return this.options.listen;
  }

  /** Sends signal to the sheep's process group without waiting. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.current.kill(signal);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when it has exited. */
  stop(graceMs = 5_000): Promise<ExitInfo> {
    return this.current.stop('SIGTERM', graceMs);
  }

  /** Stops the sheep (if running) and starts it again on the same store and endpoints. */
  async restart(): Promise<void> {
    await this.stop();
    this.current = await launchSheep(this.options);
  }
}

function sheepArgs({ storeDir, listen, noLock }: StartSheepOptions): string[] {
  if (listen.length === 0) throw new Error('startSheep: give at least one listen endpoint');
  return [
    COLLIE_BIN,
    'sheep',
    '--store',
    storeDir,
    ...listen.flatMap((endpoint) => ['--listen', formatEndpoint(endpoint)]),
    ...(noLock ? ['--no-lock'] : []),
  ];
}

async function launchSheep(options: StartSheepOptions): Promise<ManagedProcess> {
  assertCollieBuilt();
  const child = startProcess(process.execPath, sheepArgs(options), {
    name: `collie sheep ${options.listen.map(formatEndpoint).join(',')}`,
    cwd: REPO_ROOT,
  });
  try {
    await child.waitForLine(/ready/i, options.readyTimeoutMs ?? 15_000);
  } catch (error) {
    await child.stop('SIGKILL', 1_000).catch(() => undefined);
    throw error;
  }
  return child;
}

/** Starts `collie sheep` and waits until it reports ready. */
export async function startSheep(options: StartSheepOptions): Promise<SheepHandle> {
  return new SheepHandle(options, await launchSheep(options));
}

export interface CollieVdiOptions {
  /** Bytes for stdin (vdi write). */
  input?: Buffer;
  /** Default 30 s; the command is killed after it. */
  timeoutMs?: number;
}

export interface CollieVdiResult {
  exitCode: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `collie vdi ARGS` to completion. */
export async function collieVdi(
  args: readonly string[],
  options: CollieVdiOptions = {},
): Promise<CollieVdiResult> {
  assertCollieBuilt();
  const result = await runProcess(process.execPath, [COLLIE_BIN, 'vdi', ...args], {
    name: `collie vdi ${args.join(' ')}`,
    cwd: REPO_ROOT,
    input: options.input,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr.toString() };
}
