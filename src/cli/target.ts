/**
 * `collie target`: runs an iSCSI target in the foreground.
 *
 *   collie target --portal 127.0.0.1:3260 --iqn IQN --lun 1=BACKING [--lun 2=BACKING ...]
 *                 [--chap USER:SECRET [--mutual-chap USER:SECRET]] [--initiator NAME ...]
 *                 [--digests none|allow|require] [--probe-every-read] [--config FILE]
 *                 [--node-id N] [--alua active-active|single-owner] [--events FILE]
 *                 [--admin [HOST:]PORT [--data DIR]] [--inspect [HOST:]PORT]
 *                 [--log-level L] [--log-format auto|json|pretty]
 *
 * BACKING is mem:SIZE, file:PATH[:SIZE] or tgt's sheepdog syntax tcp:HOST:PORT:VDI. With
 * --config, targets come from the YAML file (see src/target/target-config.ts) and --portal adds
 * portals. --probe-every-read makes every sheepdog LU probe coherence on each read (docs/target.md).
 * --node-id N (1..65535, default 1; YAML `nodeId`) is this process's id among the target nodes that
 * export the same VDIs: its portal group tag, relative target port id and target port group. Give
 * every node a different one. --alua (YAML per target: `alua`) is how those nodes share ALUA
 * access; with --config it applies to the targets that do not set their own.
 * It prints `collie target ready: URL ...` on stdout once every portal listens (logs go to
 * stderr: JSON, or pretty on a terminal; CHAP secrets are redacted); SIGTERM stops gracefully
 * (docs/target.md "Stopping": drain up to 3 s, Async Message logout request, 2 s for the
 * initiators, backends closed) and exits 0; a second SIGTERM exits 143 at once (stop-signals.ts). A bad flag or config file prints one line
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
import { stopOnSignals } from './stop-signals.js';

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
  /** Default .collie (as `collie up`'s). */
  data?: string;
  inspect?: ListenSpec;
}

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
    .option('--data <dir>', 'where --admin keeps its token (admin-token) and admin.json', '.collie')
    .addOption(inspectOption())
    .addOption(logLevelOption())
    .addOption(logFormatOption())
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

/** The TargetConfig the flags (and --config FILE) describe. */
export async function targetConfigFromFlags(options: TargetOptions): Promise<TargetConfig> {
  const digests = options.digests;
  if (digests !== 'none' && digests !== 'allow' && digests !== 'require') {
    throw new TargetConfigError('--digests must be none, allow or require');
  }
  const nodeId = options.nodeId === undefined ? undefined : parseNodeId(options.nodeId, '--node-id');
  const alua = options.alua === undefined ? undefined : parseAluaPolicy(options.alua, '--alua');
  if (options.config) {
    const loaded = await loadTargetConfig(options.config);
    return {
      ...loaded,
      portals: options.portal.length > 0 ? options.portal : loaded.portals,
      targets: alua === undefined ? loaded.targets : loaded.targets.map((target) => ({ alua, ...target })),
      ...(options.probeEveryRead ? { sheepdogProbeEveryRead: true } : {}),
      ...(nodeId === undefined ? {} : { nodeId }),
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
  const config = await targetConfigFromFlags(options);
  const listen = daemonListen(options, undefined);
  const logger = loggerFromFlags(options, { component: 'target' }, { secrets: chapSecrets(config) });
  const eventLog = new EventLog(realClock);
  if (options.events) eventLog.addSink(new JsonlFileSink(options.events));
  const metrics = new MetricsRegistry({ clock: realMetricsClock });
  // --admin: the admin API too; --inspect alone: the inspector (and /metrics), as before.
  const http: DaemonHttp | undefined =
    options.admin === undefined
      ? undefined
      : await startDaemonHttp({
          listen: options.admin,
          flag: '--admin',
          dataDir: options.data ?? '.collie',
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
    stop: async () => {
      await http?.withdraw();
      await service.close();
      await (http ?? inspector)?.close();
      await eventLog.close();
    },
  });
  process.stdout.write(
    `collie target ready: ${service.urls().join(' ')}\n${http === undefined ? '' : `${adminHintLine(http.url, options.data ?? '.collie')}\n`}`,
  );
}
