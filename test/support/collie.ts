/**
 * Runs the project's own CLI (`node bin/collie.js ...`) as child processes, to this contract:
 *   collie sheep --store DIR --listen HOST:PORT [--listen HOST:PORT ...] [--no-lock] [--events FILE]
 *     foreground; logs a line containing "ready" once every endpoint listens; SIGTERM stops it.
 *   collie target --portal HOST:PORT --iqn IQN --lun N=BACKING [--lun ...] [--events FILE]
 *     [--log-level LEVEL]: foreground; opens every LUN's backend (a sheepdog LUN takes its shared
 *     lock), then prints "collie target ready: URL ..." on stdout once the portal listens. Its
 *     logs are JSON lines on stderr (pretty only on a terminal). SIGTERM closes it (releasing its locks); SIGKILL leaves them.
 *   collie up --data DIR --portal HOST:PORT --sheep HOST:PORT [--nodes N] [--alua POLICY]
 *     [--compat collie|sheep-1.0] [--admin HOST:PORT]: foreground; the store listens on the
 *     --sheep port and the N-1 ports after it, target node k (node id k+1) on the --portal port
 *     + k; prints "collie up ready: URL_1 ... URL_N (...)" on stdout once everything listens,
 *     then "  admin, metrics and inspector: URL  (...)" (the admin token is DIR/admin-token).
 *     startUp gives --admin 127.0.0.1:0 (any free port) unless the test gives --admin or
 *     --inspect itself. SIGTERM stops it.
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
  /** Append the store's events (locks, coherence) to this JSONL file. */
  eventsFile?: string;
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

function sheepArgs({ storeDir, listen, noLock, eventsFile }: StartSheepOptions): string[] {
  if (listen.length === 0) throw new Error('startSheep: give at least one listen endpoint');
  return [
    COLLIE_BIN,
    'sheep',
    '--store',
    storeDir,
    ...listen.flatMap((endpoint) => ['--listen', formatEndpoint(endpoint)]),
    ...(noLock ? ['--no-lock'] : []),
    ...(eventsFile ? ['--events', eventsFile] : []),
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

/** One `--lun N=BACKING`: mem:SIZE, file:PATH[:SIZE] or tcp:HOST:PORT:VDI. */
export interface CollieLun {
  lun: number;
  backing: string;
}

export interface StartTargetOptions {
  portal: Endpoint;
  iqn: string;
  luns: CollieLun[];
  /** Append every event (logins, IO transitions, inode reloads) to this JSONL file. */
  eventsFile?: string;
  /** pino level for the JSON log lines on stderr (trace, debug, info, warn, error). */
  logLevel?: string;
  /** Bound on waiting for the "ready" line; default 15 s. */
  readyTimeoutMs?: number;
  /** More `collie target` arguments, e.g. ['--chap', 'USER:SECRET', '--digests', 'require']. */
  extraArgs?: string[];
}

/** tgt's sheepdog backing-store syntax, which `collie target --lun` accepts as is. */
export function sheepdogBacking(endpoint: Endpoint, vdiName: string): string {
  return `tcp:${formatEndpoint(endpoint)}:${vdiName}`;
}

const TARGET_READY = /^collie target ready: (.*)$/;

/** A running `collie target`; restart() replaces the process with one started the same way. */
export class TargetHandle {
  private current: ManagedProcess;
  private urlList: string[];

  constructor(
    readonly options: StartTargetOptions,
    first: LaunchedTarget,
  ) {
    this.current = first.process;
    this.urlList = first.urls;
  }

  /** The current process (changes on restart). */
  get process(): ManagedProcess {
    return this.current;
  }

  /** Every `iscsi://HOST:PORT/IQN/LUN` the ready line announced. */
  get urls(): readonly string[] {
    return this.urlList;
  }

  /** The announced URL of LUN lun. */
  url(lun: number): string {
    const url = this.urlList.find((candidate) => candidate.endsWith(`/${lun}`));
    if (!url)
      throw new Error(`collie target ${this.options.iqn} announced no LUN ${lun}: ${this.urlList.join(' ')}`);
    return url;
  }

  /** Sends signal to the target's process group without waiting. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.current.kill(signal);
  }

  /** SIGKILL (a crash: no lock is released) and wait until it has exited. */
  async kill9(): Promise<ExitInfo> {
    this.current.kill('SIGKILL');
    return this.current.waitForExit(5_000);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when it has exited. */
  stop(graceMs = 5_000): Promise<ExitInfo> {
    return this.current.stop('SIGTERM', graceMs);
  }

  /** Stops the target (if running) and starts it again with the same options. */
  async restart(): Promise<void> {
    await this.stop();
    const launched = await launchTarget(this.options);
    this.current = launched.process;
    this.urlList = launched.urls;
  }
}

interface LaunchedTarget {
  process: ManagedProcess;
  urls: string[];
}

function targetArgs({ portal, iqn, luns, eventsFile, logLevel, extraArgs }: StartTargetOptions): string[] {
  if (luns.length === 0) throw new Error('startTarget: give at least one LUN');
  return [
    COLLIE_BIN,
    'target',
    '--portal',
    formatEndpoint(portal),
    '--iqn',
    iqn,
    ...luns.flatMap(({ lun, backing }) => ['--lun', `${lun}=${backing}`]),
    ...(eventsFile ? ['--events', eventsFile] : []),
    ...(logLevel ? ['--log-level', logLevel] : []),
    ...(extraArgs ?? []),
  ];
}

async function launchTarget(options: StartTargetOptions): Promise<LaunchedTarget> {
  assertCollieBuilt();
  const child = startProcess(process.execPath, targetArgs(options), {
    name: `collie target ${formatEndpoint(options.portal)} ${options.iqn}`,
    cwd: REPO_ROOT,
  });
  try {
    const line = await child.waitForLine(TARGET_READY, options.readyTimeoutMs ?? 15_000, {
      stream: 'stdout',
    });
    const urls = (TARGET_READY.exec(line)?.[1] ?? '').split(' ').filter(Boolean);
    return { process: child, urls };
  } catch (error) {
    await child.stop('SIGKILL', 1_000).catch(() => undefined);
    throw error;
  }
}

/** Starts `collie target` and waits until it reports ready (its LUNs are open, its portal listens). */
export async function startTarget(options: StartTargetOptions): Promise<TargetHandle> {
  return new TargetHandle(options, await launchTarget(options));
}

export interface StartUpOptions {
  dataDir: string;
  /** The first node's portal; node k listens on port + k. */
  portalPort: number;
  /** The first store node; store node k listens on port + k. */
  sheepPort: number;
  /** Target nodes (`--nodes`); default 1. */
  nodes?: number;
  /** More `collie up` arguments, e.g. ['--alua', 'single-owner', '--compat', 'sheep-1.0']. */
  extraArgs?: string[];
  /** Bound on waiting for the ready line; default 30 s. */
  readyTimeoutMs?: number;
}

export interface UpHandle {
  readonly process: ManagedProcess;
  /** One `iscsi://127.0.0.1:PORT/IQN/1` per target node, in node order (node id 1 first). */
  readonly urls: readonly string[];
  /** The admin API, metrics and inspector server: "http://127.0.0.1:PORT/". */
  readonly adminUrl: string;
  /** `--data`: where admin-token and admin.json are (for `collie adm --data`). */
  readonly dataDir: string;
}

const UP_READY = /^collie up ready: (\S+(?: iscsi:\/\/\S+)*) \(/;
/** The ready text's second line. */
export const ADMIN_LINE = /^ {2}admin, metrics and inspector: (http:\/\/\S+\/) {2}\(/;

/** Starts `collie up` and waits for its ready line; the handle has one URL per target node. */
export async function startUp(options: StartUpOptions): Promise<UpHandle> {
  assertCollieBuilt();
  const nodes = options.nodes ?? 1;
  const child = startProcess(
    process.execPath,
    [
      COLLIE_BIN,
      'up',
      '--data',
      options.dataDir,
      '--portal',
      `127.0.0.1:${options.portalPort}`,
      '--sheep',
      `127.0.0.1:${options.sheepPort}`,
      '--nodes',
      String(nodes),
      // Tests start several at once: never the fixed default port.
      ...(options.extraArgs?.some((arg) => arg === '--admin' || arg === '--inspect')
        ? []
        : ['--admin', '127.0.0.1:0']),
      ...(options.extraArgs ?? []),
    ],
    { name: `collie up --nodes ${nodes} :${options.portalPort}`, cwd: REPO_ROOT },
  );
  try {
    const line = await child.waitForLine(UP_READY, options.readyTimeoutMs ?? 30_000, { stream: 'stdout' });
    const urls = (UP_READY.exec(line)?.[1] ?? '').split(' ').filter(Boolean);
    if (urls.length !== nodes) {
      throw new Error(`collie up --nodes ${nodes} announced ${urls.length} URLs: ${line}`);
    }
    const adminLine = await child.waitForLine(ADMIN_LINE, 5_000, { stream: 'stdout' });
    const adminUrl = ADMIN_LINE.exec(adminLine)?.[1] ?? '';
    return { process: child, urls, adminUrl, dataDir: options.dataDir };
  } catch (error) {
    await child.stop('SIGKILL', 1_000).catch(() => undefined);
    throw error;
  }
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
