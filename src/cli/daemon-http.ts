/**
 * The local HTTP server of a long-running command (`collie up` always, `collie target --admin`):
 * one listener (inspector-server.ts) carrying the live inspector, the admin API (admin-routes.ts)
 * and `/metrics`, and the admin files in the data directory (admin-token.ts).
 *
 * Rules:
 * - `--admin [HOST:]PORT` says where it listens; `--inspect` (older) names the same listener, so
 *   giving both is refused. 127.0.0.1 unless a host is typed out; port 0: any free one.
 * - The token exists (created on first start, mode 0600) before the server listens; a port in
 *   use stops the command with one line naming the port and the fix.
 * - Until `ready(control)` the admin routes answer 503; `ready` writes `<data dir>/admin.json`,
 *   so `collie adm` finds only a daemon that can answer. A graceful stop calls `withdraw()` first
 *   (admin.json removed, the admin routes answer 503 "stopping": no change while the targets
 *   drain), then `close()` the listener last, so the inspector sees the stop.
 */
import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import { ADMIN_PREFIX, type AdminControl, type AdminStatus, type MetricsText } from '../admin/admin-api.js';
import { adminMount, METRICS_PATH, metricsMount } from '../admin/admin-routes.js';
import {
  adminTokenPath,
  ensureAdminToken,
  removeAdminRuntimeFile,
  writeAdminRuntimeFile,
} from '../admin/admin-token.js';
import type { EventLog } from '../core/event-log.js';
import type { Logger } from '../core/logger.js';
import type { ListenSpec } from '../inspect/inspector-server.js';
import { type LiveInspector, listenArg, startLiveInspector } from './inspect.js';

/** The `--admin [HOST:]PORT` option (value: a ListenSpec). */
export function adminOption(description: string): Option {
  return new Option('--admin <[host:]port>', description).argParser(listenArg('--admin'));
}

/** Where the one listener goes: --admin, else --inspect, else `fallback`; both flags: an error. */
export function daemonListen(
  flags: { readonly admin?: ListenSpec; readonly inspect?: ListenSpec },
  fallback: ListenSpec | undefined,
): ListenSpec | undefined {
  if (flags.admin !== undefined && flags.inspect !== undefined) {
    throw new Error(
      '--admin and --inspect name the same listener (admin API, metrics and inspector): give one of them',
    );
  }
  return flags.admin ?? flags.inspect ?? fallback;
}

/** A path as a shell word: quoted when it has anything but plain characters. */
function shellWord(text: string): string {
  return /^[\w./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The ready text's line saying where the HTTP server is and how `collie adm` reaches it. */
export function adminHintLine(url: string, dataDir: string): string {
  return `  admin, metrics and inspector: ${url}  (npx collie adm --data ${shellWord(dataDir)} session list)`;
}

let version: string | undefined;

/** package.json's version (read once), from src/cli/ or dist/src/cli/. */
export function collieVersion(): string {
  if (version !== undefined) return version;
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const parsed = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (parsed.name === 'collie' && typeof parsed.version === 'string') {
        version = parsed.version;
        return version;
      }
    } catch {
      // Not at this depth: the next one.
    }
  }
  version = 'unknown';
  return version;
}

export interface DaemonHttpOptions {
  readonly listen: ListenSpec;
  /** The flag that chose `listen`, for the port-in-use message. */
  readonly flag: '--admin' | '--inspect';
  /** Where admin-token and admin.json live. */
  readonly dataDir: string;
  readonly eventLog: EventLog;
  /** The inspector page's title ("collie up"). */
  readonly title: string;
  readonly logger: Logger;
  /** What `/metrics` serves; undefined: 503. */
  readonly metrics: MetricsText | undefined;
  /** Print `inspector: URL` (what `--inspect` has always printed). */
  readonly announceInspector: boolean;
  /** When the daemon started (admin.json's startedAt). */
  readonly startedAtMs: number;
}

export interface DaemonHttp {
  /** "http://127.0.0.1:8260/" */
  readonly url: string;
  readonly urls: AdminStatus['urls'];
  readonly tokenFile: string;
  readonly inspector: LiveInspector;
  /** The admin routes answer through `control` from now on; admin.json says where they are. */
  ready(control: AdminControl): Promise<void>;
  /** The daemon is stopping: admin.json removed, the admin routes answer 503. */
  withdraw(): Promise<void>;
  /** Withdraws (if not yet), then closes the listener. */
  close(): Promise<void>;
}

export async function startDaemonHttp(options: DaemonHttpOptions): Promise<DaemonHttp> {
  const { listen, dataDir, logger } = options;
  const token = await ensureAdminToken(dataDir);
  let control: AdminControl | undefined;
  let stopping = false;
  let inspector: LiveInspector;
  try {
    inspector = await startLiveInspector(listen, {
      eventLog: options.eventLog,
      title: options.title,
      announce: options.announceInspector,
      mounts: [
        adminMount({
          token,
          dataDir,
          logger,
          control: () => (stopping ? undefined : control),
          unavailable: () =>
            stopping
              ? 'the daemon is stopping (start it again to make changes)'
              : 'the daemon is still starting: try again in a moment',
        }),
        metricsMount(options.metrics),
      ],
    });
  } catch (error) {
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code !== 'EADDRINUSE') throw error;
    const where = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
    throw new Error(
      `the admin, metrics and inspector server cannot listen on ${where}: the port is in use (is another collie running? give ${options.flag} 127.0.0.1:0 for any free port, or another port)`,
    );
  }
  const url = inspector.url;
  const urls = {
    inspector: url,
    metrics: `${url}${METRICS_PATH.slice(1)}`,
    admin: `${url}${ADMIN_PREFIX.slice(1)}`,
  };
  let written = false;
  const withdraw = async () => {
    stopping = true;
    if (written) await removeAdminRuntimeFile(dataDir);
    written = false;
  };
  return {
    url,
    urls,
    tokenFile: adminTokenPath(dataDir),
    inspector,
    ready: async (given) => {
      control = given;
      await writeAdminRuntimeFile(dataDir, {
        url,
        pid: process.pid,
        startedAt: new Date(options.startedAtMs).toISOString(), // determinism-ok: formats a given time, reads no clock
      });
      written = true;
    },
    withdraw,
    close: async () => {
      await withdraw();
      await inspector.close();
    },
  };
}
