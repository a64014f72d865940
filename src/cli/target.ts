/**
 * `collie target`: runs an iSCSI target in the foreground.
 *
 *   collie target --portal 127.0.0.1:3260 --iqn IQN --lun 1=BACKING [--lun 2=BACKING ...]
 *                 [--chap USER:SECRET [--mutual-chap USER:SECRET]] [--initiator NAME ...]
 *                 [--digests none|allow|require] [--probe-every-read] [--config FILE]
 *                 [--node-id N] [--alua active-active|single-owner] [--events FILE]
 *                 [--admin [HOST:]PORT [--data DIR]] [--inspect [HOST:]PORT]
 *                 [--log-level L] [--log-format auto|json|pretty]
 *                 [--drain-seconds N] [--logout-seconds N]
 *
 * BACKING is mem:SIZE, file:PATH[:SIZE] or tgt's sheepdog syntax tcp:HOST:PORT:VDI. With
 * --config, targets come from the YAML file (see src/target/target-config.ts), which also has a
 * key for every flag below that is not about one target; a flag given wins over its key
 * (targetConfigFromFlags is the one place that merges them): --portal replaces `portals`,
 * --node-id `nodeId`, --events `events`, --admin or --inspect both `admin` and `inspect` (one
 * listener), --data `data`, --log-level `log.level`, --log-format `log.format`, --drain-seconds
 * `stop.drainSeconds`, --logout-seconds `stop.logoutSeconds`. --probe-every-read makes every
 * sheepdog LU probe coherence on each read (docs/target.md).
 * --node-id N (1..65535, default 1; YAML `nodeId`) is this process's id among the target nodes that
 * export the same VDIs: its portal group tag, relative target port id and target port group. Give
 * every node a different one. --alua (YAML per target: `alua`) is how those nodes share ALUA
 * access; with --config it applies to the targets that do not set their own.
 * It prints `collie target ready: URL ...` on stdout once every portal listens (logs go to
 * stderr: JSON, or pretty on a terminal; CHAP secrets are redacted); SIGTERM stops gracefully
 * (docs/target.md "Stopping": drain up to --drain-seconds (default 3), Async Message logout
 * request, --logout-seconds (default 2) for the initiators, backends closed; the whole stop is
 * bounded by stopDeadlineMs of those two) and exits 0; a second SIGTERM exits 143 at once
 * (stop-signals.ts). A bad flag or config file prints one line
 * (for a file: FILE:LINE: KEY: problem (fix)) and exits 2; a failure to serve exits 1.
 * --admin [HOST:]PORT (opt-in) serves the admin API, /metrics and the live inspector on one local
 * HTTP server (daemon-http.ts), with the admin token and admin.json in --data DIR (default
 * .collie); the ready line is then followed by `  admin, metrics and inspector: URL  (...)`.
 * The admin API's VDI and lock routes use the sheep endpoint of the sheepdog LUNs when they all
 * share one. --inspect alone serves the inspector (and /metrics) without the admin API.
 */

import { type Command, InvalidArgumentError } from 'commander';
import { TcpTransport } from '../../transports/tcp.js';
import { type Endpoint, endpointToString } from '../../transports/transport.js';
import { metricsMount } from '../admin/admin-routes.js';
import { createDaemonControl } from '../admin/daemon-control.js';
import { EventLog } from '../core/event-log.js';
import { JsonlFileSink } from '../core/jsonl-file-sink.js';
import { realClock } from '../core/real-clock.js';
import { realEntropy } from '../core/real-entropy.js';
import { createRng } from '../core/rng.js';
import type { ListenSpec } from '../inspect/inspector-server.js';
import { MetricsRegistry } from '../metrics/metrics-registry.js';
import { nodeMetrics } from '../metrics/node-metrics.js';
import { realMetricsClock } from '../metrics/real-metrics-clock.js';
import { BackingSpecError } from '../target/backing.js';
import {
  ALUA_POLICIES,
  type ChapAccountConfig,
  checkTarget,
  loadTargetConfig,
  NODE_ID_MAX,
  NODE_ID_MIN,
  parseAluaPolicy,
  parseChapArg,
  parseLunArg,
  parseNodeId,
  parseStopSeconds,
  STOP_FLAGS_HELP,
  type TargetConfig,
  TargetConfigError,
} from '../target/target-config.js';
import { startTargetService } from '../target/target-service.js';
import { CONFIG_EXIT } from './config.js';
import {
  adminHintLine,
  adminOption,
  collieVersion,
  type DaemonHttp,
  daemonListen,
  startDaemonHttp,
} from './daemon-http.js';
import { parseEndpointArg } from './endpoint-arg.js';
import { inspectOption, startLiveInspector } from './inspect.js';
import { type LogFlags, logFormatOption, loggerFromFlags, logLevelOption } from './log-options.js';
import { stopDeadlineMs, stopOnSignals } from './stop-signals.js';

export interface TargetOptions extends LogFlags {
  portal: Endpoint[];
  iqn?: string;
  lun: string[];
  chap?: string;
  mutualChap?: string;
  initiator: string[];
  digests: string;
  probeEveryRead?: boolean;
  nodeId?: string;
  alua?: string;
  config?: string;
  events?: string;
  admin?: ListenSpec;
  /** Unset: YAML `data`, else .collie (as `collie up`'s). */
  data?: string;
  inspect?: ListenSpec;
  drainSeconds?: string;
  logoutSeconds?: string;
}

/** The data directory when neither --data nor YAML `data` says one. */
const DATA_DEFAULT = '.collie';

export function registerTargetCommand(program: Command): void {
  program
    .command('target')
    .description('run an iSCSI target (foreground)')
    .option(
      '--portal <host:port>',
      'listen here (repeatable; default 127.0.0.1:3260)',
      collectEndpoint,
      [] as Endpoint[],
    )
    .option('--iqn <iqn>', 'the target name')
    .option(
      '--lun <n=backing>',
      'a LUN: mem:SIZE, file:PATH[:SIZE] or tcp:HOST:PORT:VDI (repeatable)',
      collect,
      [] as string[],
    )
    .option('--chap <user:secret>', 'require one-way CHAP with this account')
    .option('--mutual-chap <user:secret>', "the target's own CHAP account, for mutual CHAP")
    .option('--initiator <name>', 'allow only these initiators (repeatable)', collect, [] as string[])
    .option('--digests <policy>', 'CRC32C digests: none, allow or require', 'allow')
    .option(
      '--probe-every-read',
      'sheepdog LUs probe coherence on every read (needed on sheep 1.0 when targets share a VDI)',
    )
    .option(
      '--node-id <n>',
      `this target node's id, ${NODE_ID_MIN}..${NODE_ID_MAX}: its portal group tag, relative target port id and target port group (default 1; distinct per node exporting a VDI)`,
    )
    .option(
      '--alua <policy>',
      `how the nodes exporting a LU share ALUA access: ${ALUA_POLICIES.join(' or ')}`,
    )
    .option('--config <file>', 'targets from a YAML file')
    .option('--events <file>', 'append every event to this JSONL file')
    .addOption(
      adminOption(
        'serve the admin API, /metrics and the inspector here: 127.0.0.1 unless a host is given, port 0 for any free one',
      ),
    )
    .option(
      '--data <dir>',
      `where --admin keeps its token (admin-token) and admin.json (default: ${DATA_DEFAULT})`,
    )
    .addOption(inspectOption())
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .option('--drain-seconds <n>', STOP_FLAGS_HELP.drainSeconds)
    .option('--logout-seconds <n>', STOP_FLAGS_HELP.logoutSeconds)
    .action(async (options: TargetOptions) => {
      try {
        await runTarget(options);
      } catch (error) {
        process.stderr.write(`collie target: ${(error as Error).message}\n`);
        // A bad flag or config file is a usage error (2); a failure to serve it is 1.
        process.exitCode =
          error instanceof TargetConfigError || error instanceof BackingSpecError ? CONFIG_EXIT.invalid : 1;
      }
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function collectEndpoint(value: string, previous: Endpoint[]): Endpoint[] {
  try {
    return [...previous, parseEndpointArg(value, '--portal')];
  } catch (error) {
    // Commander prints an InvalidArgumentError as a usage error, without a stack.
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Every CHAP secret of a config: the logger redacts them wherever they would appear. */
function chapSecrets(config: TargetConfig): string[] {
  return config.targets.flatMap((target) =>
    [target.chap, target.mutualChap].flatMap((account) => (account === undefined ? [] : [account.secret])),
  );
}

/**
 * The process settings the flags give, each only when given (so it wins over its YAML key): the
 * stop's waits, --events, the --admin/--inspect listener (either flag replaces both keys: they are
 * one listener), --data and the log flags.
 */
function processFlags(options: TargetOptions): Partial<TargetConfig> {
  const drainSeconds =
    options.drainSeconds === undefined
      ? undefined
      : parseStopSeconds(options.drainSeconds, '--drain-seconds');
  const logoutSeconds =
    options.logoutSeconds === undefined
      ? undefined
      : parseStopSeconds(options.logoutSeconds, '--logout-seconds');
  const listener = options.admin !== undefined || options.inspect !== undefined;
  return {
    ...(drainSeconds === undefined ? {} : { drainSeconds }),
    ...(logoutSeconds === undefined ? {} : { logoutSeconds }),
    ...(options.events === undefined ? {} : { events: options.events }),
    ...(listener ? { admin: options.admin, inspect: options.inspect } : {}),
    ...(options.data === undefined ? {} : { data: options.data }),
  };
}

/** --log-level and --log-format when given, else YAML `log:`'s. */
function logSettings(options: TargetOptions, file: TargetConfig['log']): TargetConfig['log'] {
  const logLevel = options.logLevel ?? file?.logLevel;
  const logFormat = options.logFormat ?? file?.logFormat;
  return {
    ...(logLevel === undefined ? {} : { logLevel }),
    ...(logFormat === undefined ? {} : { logFormat }),
  };
}

/** The TargetConfig the flags (and --config FILE) describe; a flag given wins over its YAML key. */
export async function targetConfigFromFlags(options: TargetOptions): Promise<TargetConfig> {
  const digests = options.digests;
  if (digests !== 'none' && digests !== 'allow' && digests !== 'require') {
    throw new TargetConfigError('--digests must be none, allow or require');
  }
  const nodeId = options.nodeId === undefined ? undefined : parseNodeId(options.nodeId, '--node-id');
  const alua = options.alua === undefined ? undefined : parseAluaPolicy(options.alua, '--alua');
  const flags = processFlags(options);
  if (options.config) {
    const loaded = await loadTargetConfig(options.config);
    return {
      ...loaded,
      portals: options.portal.length > 0 ? options.portal : loaded.portals,
      targets: alua === undefined ? loaded.targets : loaded.targets.map((target) => ({ alua, ...target })),
      ...(options.probeEveryRead ? { sheepdogProbeEveryRead: true } : {}),
      ...(nodeId === undefined ? {} : { nodeId }),
      ...flags,
      log: logSettings(options, loaded.log),
    };
  }
  if (!options.iqn) throw new TargetConfigError('give --iqn IQN and --lun N=BACKING (or --config FILE)');
  const chap: ChapAccountConfig | undefined = options.chap ? parseChapArg(options.chap, '--chap') : undefined;
  const target = checkTarget(
    {
      iqn: options.iqn,
      luns: options.lun.map(parseLunArg),
      chap,
      mutualChap: options.mutualChap ? parseChapArg(options.mutualChap, '--mutual-chap') : undefined,
      initiators: options.initiator.length > 0 ? options.initiator : undefined,
      ...(alua === undefined ? {} : { alua }),
    },
    'command line',
  );
  return {
    portals: options.portal.length > 0 ? options.portal : [{ host: '127.0.0.1', port: 3260 }],
    targets: [target],
    digests,
    nopIntervalMs: 10_000,
    nopTimeoutMs: 15_000,
    sheepdogProbeEveryRead: options.probeEveryRead === true,
    nodeId: nodeId ?? 1,
    ...flags,
    log: logSettings(options, undefined),
  };
}

/** The one sheep endpoint every sheepdog LUN uses (over TCP), else undefined. */
export function sharedStoreEndpoint(config: TargetConfig): Endpoint | undefined {
  const endpoints = new Map<string, Endpoint | undefined>();
  for (const target of config.targets) {
    for (const { backing } of target.luns) {
      if (backing.kind !== 'sheepdog') continue;
      const { spec } = backing;
      if (spec.kind === 'tcp') endpoints.set(endpointToString(spec.endpoint), spec.endpoint);
      else endpoints.set(`unix:${spec.socketPath}`, undefined);
    }
  }
  return endpoints.size === 1 ? [...endpoints.values()][0] : undefined;
}

async function runTarget(options: TargetOptions): Promise<void> {
  const startedAtMs = realClock.now();
  // From here on the settings are the config's: the flags given, else the file's keys.
  const config = await targetConfigFromFlags(options);
  const listen = daemonListen(config, undefined);
  const dataDir = config.data ?? DATA_DEFAULT;
  const logger = loggerFromFlags(config.log ?? {}, { component: 'target' }, { secrets: chapSecrets(config) });
  const eventLog = new EventLog(realClock);
  if (config.events) eventLog.addSink(new JsonlFileSink(config.events));
  const metrics = new MetricsRegistry({ clock: realMetricsClock });
  // admin: the admin API too; inspect alone: the inspector (and /metrics), as before.
  const http: DaemonHttp | undefined =
    config.admin === undefined
      ? undefined
      : await startDaemonHttp({
          listen: config.admin,
          // A port in use names the flag, which also replaces the file's admin:.
          flag: '--admin',
          dataDir,
          eventLog,
          title: 'collie target',
          logger,
          metrics,
          announceInspector: false,
          startedAtMs,
        });
  const inspector =
    http?.inspector ??
    (listen === undefined
      ? undefined
      : await startLiveInspector(listen, {
          eventLog,
          title: 'collie target',
          mounts: [metricsMount(metrics)],
        }));
  const transport = new TcpTransport();
  let service: Awaited<ReturnType<typeof startTargetService>>;
  try {
    service = await startTargetService(config, {
      transport,
      backendTransport: transport,
      clock: realClock,
      rng: createRng(`${process.pid}:${realClock.now()}`),
      // CHAP challenges from the OS's random source: the Rng above is seeded guessably.
      challenges: realEntropy,
      eventLog,
      logger,
      metrics: nodeMetrics(metrics, undefined),
    });
  } catch (error) {
    await (http ?? inspector)?.close();
    throw error;
  }
  if (http !== undefined) {
    try {
      const store = sharedStoreEndpoint(config);
      // From here `collie adm` reaches it: admin.json is written.
      await http.ready(
        createDaemonControl({
          kind: 'target',
          version: collieVersion(),
          startedAtMs,
          clock: realClock,
          nodes: [{ nodeId: config.nodeId ?? 1, service }],
          ...(store === undefined ? {} : { store }),
          transport,
          logger,
          urls: () => http.urls,
        }),
      );
    } catch (error) {
      await service.close();
      await http.close();
      throw error;
    }
  }
  stopOnSignals({
    logger,
    deadlineMs: stopDeadlineMs(config),
    stop: async () => {
      await http?.withdraw();
      await service.close();
      await (http ?? inspector)?.close();
      await eventLog.close();
    },
  });
  process.stdout.write(
    `collie target ready: ${service.urls().join(' ')}\n${http === undefined ? '' : `${adminHintLine(http.url, dataDir)}\n`}`,
  );
}
