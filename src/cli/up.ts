/**
 * `collie up` (what `npm start` runs): the whole thing with nothing to configure. It starts the
 * embedded store in a data directory (formatted on first start), creates the default VDI when it
 * is missing, exports it with an iSCSI target, and prints how to reach it. A restart keeps the
 * data.
 *
 *   collie up [--data DIR] [--sheep HOST:PORT] [--portal HOST:PORT] [--vdi NAME] [--size SIZE]
 *             [--nodes N] [--node-id ID] [--alua active-active|single-owner]
 *             [--compat collie|sheep-1.0] [--admin [HOST:]PORT] [--log-level L] [--log-format F]
 *             [--drain-seconds N] [--logout-seconds N]
 *
 * --nodes N (default 1) runs N target nodes in this one process, as N `collie target` processes
 * would be: node k (k = 0..N-1) has node id ID+k (--node-id, default 1), listens on the portal
 * port + k, and opens the default VDI through its own sheepdog client on its own store node
 * (the --sheep port + k: the store listens on N endpoints, one sheep node each), so every node is
 * a separate participant of the VDI. The ready line lists one URL per node, in node order.
 * --compat sheep-1.0 runs the store with sheep 1.0's rules (store-rules.ts); with more than one
 * node the targets then probe coherence on every read, as on real sheep 1.0 (docs/target.md).
 * It always serves the admin API, /metrics and the live inspector on one local HTTP server
 * (daemon-http.ts): --admin [HOST:]PORT, default 127.0.0.1:8260 (0: any free port; the older
 * --inspect names the same listener and also prints `inspector: URL`); the admin token is
 * DATA/admin-token, and DATA/admin.json says where it listens while it runs. The ready text's
 * second line is `  admin, metrics and inspector: URL  (npx collie adm --data DATA session list)`.
 * --drain-seconds and --logout-seconds (as `collie target`'s, 0..60, default 3 and 2) bound every
 * node's graceful stop; the process's stop deadline follows them (stopDeadlineMs).
 */

import { join } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { TcpTransport } from '../../transports/tcp.js';
import type { Endpoint } from '../../transports/transport.js';
import { endpointToString } from '../../transports/transport.js';
import { ADMIN_LISTEN_DEFAULT } from '../admin/admin-api.js';
import { createDaemonControl } from '../admin/daemon-control.js';
import { EventLog } from '../core/event-log.js';
import type { Logger } from '../core/logger.js';
import { realClock } from '../core/real-clock.js';
import { realEntropy } from '../core/real-entropy.js';
import { createRng } from '../core/rng.js';
import type { ListenSpec } from '../inspect/inspector-server.js';
import { MetricsRegistry } from '../metrics/metrics-registry.js';
import { nodeMetrics } from '../metrics/node-metrics.js';
import { realMetricsClock } from '../metrics/real-metrics-clock.js';
import { SdRes } from '../sheepdog/wire/constants.js';
import { SheepStore } from '../store/sheep-store.js';
import { directoryCapacity, openStoreDirectory } from '../store/store-directory.js';
import type { StoreCompat } from '../store/store-rules.js';
import { parseBackingSpec } from '../target/backing.js';
import {
  ALUA_POLICIES,
  type AluaPolicy,
  NODE_ID_MAX,
  parseAluaPolicy,
  parseNodeId,
  parseStopSeconds,
  STOP_FLAGS_HELP,
} from '../target/target-config.js';
import { startTargetService, type TargetService } from '../target/target-service.js';
import {
  adminHintLine,
  adminOption,
  collieVersion,
  type DaemonHttp,
  daemonListen,
  startDaemonHttp,
} from './daemon-http.js';
import { parseEndpointArg } from './endpoint-arg.js';
import { inspectOption } from './inspect.js';
import { type LogFlags, logFormatOption, loggerFromFlags, logLevelOption } from './log-options.js';
import { parseCompatArg } from './sheep.js';
import { parseSizeBytes } from './sizes.js';
import { stopDeadlineMs, stopOnSignals } from './stop-signals.js';

/** Most target nodes one `collie up` runs. */
export const UP_NODES_MAX = 32;

interface UpOptions extends LogFlags {
  data: string;
  sheep: Endpoint;
  portal: Endpoint;
  vdi: string;
  size: string;
  nodes: number;
  nodeId: number;
  alua?: AluaPolicy;
  compat: StoreCompat;
  admin?: ListenSpec;
  inspect?: ListenSpec;
  drainSeconds?: number;
  logoutSeconds?: number;
}

/** One target node of `collie up`: its id, its portal, the store node its sheepdog client uses. */
export interface UpNode {
  readonly nodeId: number;
  readonly portal: Endpoint;
  readonly sheep: Endpoint;
}

/** The target nodes `collie up --nodes N` runs; throws (naming the flag) when ids or ports run out. */
export function upNodes(options: {
  nodes: number;
  nodeId: number;
  portal: Endpoint;
  sheep: Endpoint;
}): UpNode[] {
  const { nodes, nodeId, portal, sheep } = options;
  if (nodeId + nodes - 1 > NODE_ID_MAX) {
    throw new Error(
      `--node-id ${nodeId} with --nodes ${nodes} needs node ids up to ${nodeId + nodes - 1}, past ${NODE_ID_MAX} (lower --node-id)`,
    );
  }
  for (const [flag, endpoint] of [
    ['--portal', portal],
    ['--sheep', sheep],
  ] as const) {
    if (endpoint.port + nodes - 1 > 65_535) {
      throw new Error(
        `${flag} port ${endpoint.port} with --nodes ${nodes} needs ports up to ${endpoint.port + nodes - 1}, past 65535 (lower the port)`,
      );
    }
  }
  return Array.from({ length: nodes }, (_, k) => ({
    nodeId: nodeId + k,
    portal: { host: portal.host, port: portal.port + k },
    sheep: { host: sheep.host, port: sheep.port + k },
  }));
}

function parseNodesArg(value: string): number {
  const nodes = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > UP_NODES_MAX) {
    throw new InvalidArgumentError(
      `--nodes ${JSON.stringify(value)}: write how many target nodes to run, 1 to ${UP_NODES_MAX}`,
    );
  }
  return nodes;
}

/** Commander wants InvalidArgumentError to print a flag's problem without a stack. */
function asArgumentError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('run the embedded store with a default VDI (data kept in --data)')
    .option('--data <dir>', 'data directory', '.collie')
    .option(
      '--sheep <host:port>',
      'where the embedded store listens',
      (value: string) => parseEndpointArg(value, '--sheep'),
      {
        host: '127.0.0.1',
        port: 7000,
      },
    )
    .option(
      '--portal <host:port>',
      'where the iSCSI target listens',
      (value: string) => parseEndpointArg(value, '--portal'),
      {
        host: '127.0.0.1',
        port: 3260,
      },
    )
    .option('--vdi <name>', 'the default VDI', 'vol0')
    .option('--size <size>', 'size of the default VDI when it is created', '10G')
    .option(
      '--nodes <n>',
      'target nodes exporting the default VDI, each with its own node id, portal (--portal port + k) and store node (--sheep port + k)',
      parseNodesArg,
      1,
    )
    .option(
      '--node-id <id>',
      'node id of the first target node (the next ones count up)',
      (value: string) => asArgumentError(() => parseNodeId(value, '--node-id')),
      1,
    )
    .option(
      '--alua <policy>',
      `how the nodes share ALUA access: ${ALUA_POLICIES.join(' or ')}`,
      (value: string) => asArgumentError(() => parseAluaPolicy(value, '--alua')),
    )
    .option(
      '--compat <mode>',
      "the store's rules: collie (default) or sheep-1.0",
      (value: string) => parseCompatArg(value, '--compat'),
      'collie' as StoreCompat,
    )
    .addOption(
      adminOption(
        `where the admin API, /metrics and the inspector listen (default ${ADMIN_LISTEN_DEFAULT.host}:${ADMIN_LISTEN_DEFAULT.port}; port 0: any free one)`,
      ),
    )
    .addOption(inspectOption())
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .option('--drain-seconds <n>', STOP_FLAGS_HELP.drainSeconds, (value: string) =>
      asArgumentError(() => parseStopSeconds(value, '--drain-seconds')),
    )
    .option('--logout-seconds <n>', STOP_FLAGS_HELP.logoutSeconds, (value: string) =>
      asArgumentError(() => parseStopSeconds(value, '--logout-seconds')),
    )
    .action(async (options: UpOptions) => {
      try {
        await runUp(options);
      } catch (error) {
        process.stderr.write(`collie up: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}

async function runUp(options: UpOptions): Promise<void> {
  const startedAtMs = realClock.now();
  const logger = loggerFromFlags(options, { component: 'up' });
  const sizeBytes = parseSizeBytes(options.size, '--size');
  const nodes = upNodes(options);
  const listen = daemonListen(options, { ...ADMIN_LISTEN_DEFAULT, hostGiven: false })!;
  const storeDirectory = join(options.data, 'store');
  const { config, objects } = await openStoreDirectory(storeDirectory);
  const transport = new TcpTransport();
  const eventLog = new EventLog(realClock);
  const metrics = new MetricsRegistry({ clock: realMetricsClock });
  const http = await startDaemonHttp({
    listen,
    flag: options.inspect !== undefined ? '--inspect' : '--admin',
    dataDir: options.data,
    eventLog,
    title: 'collie up',
    logger,
    metrics,
    announceInspector: options.inspect !== undefined,
    startedAtMs,
  });
  try {
    await serveUp(options, {
      logger,
      sizeBytes,
      nodes,
      storeDirectory,
      config,
      objects,
      transport,
      eventLog,
      http,
      metrics,
      startedAtMs,
    });
  } catch (error) {
    await http.close();
    throw error;
  }
}

type StoreDirectory = Awaited<ReturnType<typeof openStoreDirectory>>;

/** What runUp has made before the store and the targets start. */
interface UpContext {
  readonly logger: Logger;
  readonly sizeBytes: number;
  readonly nodes: readonly UpNode[];
  readonly storeDirectory: string;
  readonly config: StoreDirectory['config'];
  readonly objects: StoreDirectory['objects'];
  readonly transport: TcpTransport;
  readonly eventLog: EventLog;
  readonly http: DaemonHttp;
  readonly metrics: MetricsRegistry;
  readonly startedAtMs: number;
}

async function serveUp(options: UpOptions, context: UpContext): Promise<void> {
  const { logger, nodes, storeDirectory, config, objects, transport, eventLog, http } = context;
  // Where each target node's actors are (its portal, the store node its client uses), for the
  // inspector's grouping by node: one process runs them all.
  for (const node of nodes) {
    eventLog.append(`node/node-${node.nodeId}`, 'node.defined', {
      node: `node-${node.nodeId}`,
      portal: endpointToString(node.portal),
      storeEndpoint: endpointToString(node.sheep),
    });
  }
  const store = await SheepStore.open({
    objects,
    defaults: config,
    locking: config.locking,
    compat: options.compat,
    transport,
    // One store node per target node: a store node is one participant of the VDI.
    listen: nodes.map((node) => node.sheep),
    clock: realClock,
    eventLog,
    logger,
    capacity: () => directoryCapacity(storeDirectory),
    // A broken store invariant is a Collie bug: stop serving at once rather than answer on.
    onInvariantBroken: () => process.exit(70),
  });
  const targets: TargetService[] = [];
  const closeTargets = async () => {
    // In parallel: each node's drain and logout wait are bounded, and so is their sum this way.
    await Promise.all(targets.splice(0).map((target) => target.close().catch(() => undefined)));
  };
  try {
    await startTargets(options, context, store, targets);
    // From here `collie adm` reaches it: admin.json is written.
    await http.ready(
      createDaemonControl({
        kind: 'up',
        version: collieVersion(),
        startedAtMs: context.startedAtMs,
        clock: realClock,
        // Each target node's LUNs given as bare VDI names open through its own store node.
        nodes: nodes.map((node, index) => ({
          nodeId: node.nodeId,
          service: targets[index]!,
          store: node.sheep,
        })),
        store: nodes[0]!.sheep,
        transport,
        logger,
        urls: () => http.urls,
      }),
    );
  } catch (error) {
    await closeTargets();
    await store.close();
    throw error;
  }
  // Before the ready line: whoever reads it may send SIGTERM at once. admin.json first (no admin
  // change while stopping), the targets (drain, logouts, backends closed: VDI locks released),
  // then the store (fsync of what was written), the HTTP server last.
  stopOnSignals({
    logger,
    deadlineMs: stopDeadlineMs(options),
    stop: async () => {
      await http.withdraw();
      await closeTargets();
      logger.info('targets closed; closing the store (flushing objects)');
      await store.close();
      logger.info('store closed');
      await http.close();
    },
  });
  process.stdout.write(readyText(options, nodes, iqnOf(options.vdi), http.url));
}

function iqnOf(vdi: string): string {
  return `iqn.2026-11.org.collie:${vdi.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`;
}

/** The default VDI (created when missing) and one target node per UpNode, pushed onto `targets`. */
async function startTargets(
  options: UpOptions,
  context: UpContext,
  store: SheepStore,
  targets: TargetService[],
): Promise<void> {
  const { logger, sizeBytes, nodes, transport, eventLog } = context;
  const existing = store.vdis.lookup({ name: options.vdi });
  if (existing.result === SdRes.NO_VDI) {
    const created = await store.vdis.newVdi({
      name: options.vdi,
      sizeBytes: BigInt(sizeBytes),
      baseVid: 0,
      snapid: 0,
      copies: 0,
      copyPolicy: 0,
      storePolicy: 0,
      blockSizeShift: 0,
    });
    if (created.result !== SdRes.SUCCESS) throw new Error(`cannot create the default VDI "${options.vdi}"`);
    logger.info({ vdi: options.vdi, sizeBytes }, 'created the default VDI');
  }
  const iqn = iqnOf(options.vdi);
  // Real sheep 1.0 needs every target of a shared VDI to probe on each read (docs/target.md).
  const probeEveryRead = options.compat === 'sheep-1.0' && nodes.length > 1;
  for (const node of nodes) {
    const backing = `tcp:${endpointToString(node.sheep)}:${options.vdi}`;
    targets.push(
      await startTargetService(
        {
          portals: [node.portal],
          targets: [
            {
              iqn,
              luns: [{ lun: 1, backing: parseBackingSpec(backing), text: backing }],
              ...(options.alua === undefined ? {} : { alua: options.alua }),
            },
          ],
          digests: 'allow',
          nopIntervalMs: 10_000,
          nopTimeoutMs: 15_000,
          nodeId: node.nodeId,
          // Every node of the default VDI's LU runs in this process: they all start now.
          clusterColdStart: true,
          ...(probeEveryRead ? { sheepdogProbeEveryRead: true } : {}),
          ...(options.drainSeconds === undefined ? {} : { drainSeconds: options.drainSeconds }),
          ...(options.logoutSeconds === undefined ? {} : { logoutSeconds: options.logoutSeconds }),
        },
        {
          transport,
          backendTransport: transport,
          clock: realClock,
          rng: createRng(`up:${process.pid}:${realClock.now()}:node-${node.nodeId}`),
          // CHAP challenges from the OS's random source: the Rng above is seeded guessably.
          challenges: realEntropy,
          eventLog,
          logger: nodes.length === 1 ? logger : logger.child({ node: node.nodeId }),
          metrics: nodeMetrics(context.metrics, nodes.length === 1 ? undefined : `node-${node.nodeId}`),
        },
      ),
    );
  }
}

/**
 * The ready line (every node's URL, in node order), where the admin API is, and how to reach the
 * target.
 */
function readyText(options: UpOptions, nodes: readonly UpNode[], iqn: string, adminUrl: string): string {
  const url = (node: UpNode) => `iscsi://${endpointToString(node.portal)}/${iqn}/1`;
  const first = nodes[0]!;
  const portal = endpointToString(first.portal);
  const sheep = nodes.map((node) => endpointToString(node.sheep)).join(',');
  const compat = options.compat === 'collie' ? '' : `, compat ${options.compat}`;
  const lines = [
    `collie up ready: ${nodes.map(url).join(' ')} (VDI "${options.vdi}" on the embedded store ${sheep}${compat}, data in ${options.data})`,
    adminHintLine(adminUrl, options.data),
    '',
  ];
  if (nodes.length > 1) {
    for (const node of nodes) {
      lines.push(`  node ${node.nodeId}: ${url(node)} through store node ${endpointToString(node.sheep)}`);
    }
    lines.push('');
  }
  lines.push(
    `  iscsi-ls -s iscsi://${portal}`,
    `  qemu-io -f raw ${url(first)} -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M'`,
    `  iscsiadm -m discovery -t sendtargets -p ${portal} && iscsiadm -m node -T ${iqn} -p ${portal} --login`,
    `  npx collie vdi list${first.sheep.port === 7000 ? '' : ` -p ${first.sheep.port}`}`,
    '',
  );
  return lines.join('\n');
}
