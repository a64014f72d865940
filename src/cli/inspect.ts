/**
 * `collie inspect FILE [--listen [HOST:]PORT] [--no-open]`: loads a JSONL event file (a
 * simulator's `sim run --events FILE`, or a process's `--events FILE`), serves the inspector page
 * on it (127.0.0.1, any free port unless --listen says), prints each violation the projection
 * found (one line each, with its seq) and then `inspector: URL`, opens a browser unless
 * --no-open, and serves until SIGINT or SIGTERM.
 *
 * Also the one helper behind `--inspect [HOST:]PORT` of `collie up`, `target`, `sheep` and
 * `sim run`: inspectOption() adds the flag, startLiveInspector() follows the process's EventLog
 * (or gives a sink for a log made elsewhere) and serves it, with more routes (`mounts`: the admin
 * API and /metrics of daemon-http.ts) on the same server when asked.
 */
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { EventSink } from '../core/event.js';
import type { EventLog } from '../core/event-log.js';
import { loadEventFile } from '../inspect/event-file.js';
import {
  type HttpMount,
  InspectorServer,
  type ListenSpec,
  parseListenArg,
} from '../inspect/inspector-server.js';
import { LiveSource, type LiveSourceOptions, RecordedSource } from '../inspect/inspector-source.js';

interface InspectFlags {
  listen: ListenSpec;
  open: boolean;
}

const print = (line: string) => process.stdout.write(`${line}\n`);
const warn = (line: string) => process.stderr.write(`${line}\n`);

/** A commander argParser for a `[HOST:]PORT` flag. */
export function listenArg(flag: string) {
  return (value: string): ListenSpec => {
    try {
      return parseListenArg(value, flag);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

export function registerInspectCommand(program: Command): void {
  program
    .command('inspect <file>')
    .description('serve the event inspector (a web page) on a JSONL event file')
    .option(
      '--listen <[host:]port>',
      'where to serve it (default 127.0.0.1, any free port)',
      listenArg('--listen'),
      { host: '127.0.0.1', port: 0, hostGiven: false } satisfies ListenSpec,
    )
    .option('--no-open', 'do not open a browser')
    .action(async (file: string, flags: InspectFlags) => {
      try {
        await runInspect(file, flags);
      } catch (error) {
        process.stderr.write(`collie inspect: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}

async function runInspect(file: string, flags: InspectFlags): Promise<void> {
  const loaded = await loadEventFile(file);
  const source = new RecordedSource(loaded, basename(file));
  const meta = source.meta();
  const header = loaded.header as { scenario?: unknown; seed?: unknown } | null;
  print(
    `loaded ${file}: ${loaded.events.length} events` +
      (loaded.events.length > 0 ? ` (seq ${meta.firstSeq}..${meta.lastSeq})` : '') +
      (header ? `, scenario ${String(header.scenario)} seed ${String(header.seed)}` : '') +
      (loaded.truncatedTail ? ', an unfinished last line left out' : ''),
  );
  if (source.projectionError !== undefined) warn(`inspector: ${source.projectionError}`);
  // The violations first, the URL last: it stays on screen however many there are.
  for (const violation of meta.violations) {
    print(`violation at seq ${violation.seq} (${violation.checker}): ${violation.message}`);
  }
  const server = await startServer(source, flags.listen);
  print(`inspector: ${server.url}`);
  if (flags.open) openBrowser(server.url);
  await untilStopped();
  await server.close();
}

function startServer(
  source: LiveSource | RecordedSource,
  listen: ListenSpec,
  mounts?: readonly HttpMount[],
): Promise<InspectorServer> {
  const server = new InspectorServer({
    source,
    host: listen.host,
    port: listen.port,
    // Typed out by the user: serve there, with the warning the server logs.
    allowNonLoopback: listen.hostGiven,
    log: warn,
    ...(mounts === undefined ? {} : { mounts }),
  });
  return server.start().then(() => server);
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Best effort, and only for a person at a terminal with a desktop: never a text browser in it. */
function openBrowser(url: string): void {
  if (!process.stdout.isTTY) return;
  const opener =
    process.platform === 'darwin'
      ? { command: 'open', args: [url] }
      : process.platform === 'win32'
        ? { command: 'cmd', args: ['/c', 'start', '', url] }
        : process.env.DISPLAY || process.env.WAYLAND_DISPLAY
          ? { command: 'xdg-open', args: [url] }
          : undefined;
  if (opener === undefined) return;
  try {
    const child = spawn(opener.command, opener.args, { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // No opener: the URL is printed.
  }
}

// ---- --inspect on the long-running commands ------------------------------------------------------

/** The `--inspect [HOST:]PORT` option (value: a ListenSpec). */
export function inspectOption(): Option {
  return new Option(
    '--inspect <[host:]port>',
    'serve the event inspector (a web page) here: 127.0.0.1 unless a host is given, port 0 for any free one',
  ).argParser(listenArg('--inspect'));
}

export interface LiveInspector {
  readonly url: string;
  readonly source: LiveSource;
  readonly server: InspectorServer;
  /** For a log whose sinks are given at its creation (the simulator's world): pass this one. */
  readonly sink: EventSink;
  close(): Promise<void>;
}

/**
 * Serves a live inspector on `listen` and prints `inspector: URL` (unless `announce` is false).
 * With `eventLog` it follows that log from now on; without, feed it through `sink`.
 */
export async function startLiveInspector(
  listen: ListenSpec,
  options: LiveSourceOptions & {
    readonly eventLog?: EventLog;
    /**
     * Whether the listener alone keeps the process alive. Default false: a daemon lives by its own
     * listeners and exits by itself when its start fails; true where serving is all that is left.
     */
    readonly keepAlive?: boolean;
    /** More routes on the same server (consulted first). */
    readonly mounts?: readonly HttpMount[];
    /** Print `inspector: URL`. Default true. */
    readonly announce?: boolean;
  },
): Promise<LiveInspector> {
  const { eventLog, keepAlive, mounts, announce, ...sourceOptions } = options;
  const withProblems: LiveSourceOptions = {
    onProblem: (message) => warn(`inspector: ${message}`),
    ...sourceOptions,
  };
  const source =
    eventLog === undefined ? new LiveSource(withProblems) : LiveSource.follow(eventLog, withProblems);
  let server: InspectorServer;
  try {
    server = await startServer(source, listen, mounts);
    if (keepAlive !== true) server.unref();
  } catch (error) {
    source.dispose();
    throw error;
  }
  if (announce !== false) print(`inspector: ${server.url}`);
  return {
    url: server.url,
    source,
    server,
    sink: source.asSink(),
    close: async () => {
      await server.close();
      source.dispose();
    },
  };
}
