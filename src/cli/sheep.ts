/**
 * `collie sheep`: runs the embedded sheep-compatible store in the foreground.
 *
 *   collie sheep --store DIR --listen HOST:PORT [--listen HOST:PORT ...] [--no-lock]
 *                [--compat collie|sheep-1.0] [--events FILE] [--inspect [HOST:]PORT]
 *                [--log-level L] [--log-format auto|json|pretty]
 *
 * A new store directory is formatted on first start (one copy, 4 MiB objects, locking on).
 * Each --listen endpoint is a distinct sheep node for locks and coherence. --compat sheep-1.0
 * keeps none of the rules past sheep 1.0 (store-rules.ts), to run clients against sheep 1.0's
 * semantics. SIGTERM or SIGINT stops it cleanly (listeners closed, objects flushed).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { TcpTransport } from '../../transports/tcp.js';
import type { Endpoint } from '../../transports/transport.js';
import { EventLog } from '../core/event-log.js';
import { JsonlFileSink } from '../core/jsonl-file-sink.js';
import { realClock } from '../core/real-clock.js';
import type { ListenSpec } from '../inspect/inspector-server.js';
import { SD_LISTEN_PORT } from '../sheepdog/wire/constants.js';
import { SheepStore } from '../store/sheep-store.js';
import { directoryCapacity, openStoreDirectory } from '../store/store-directory.js';
import { STORE_COMPATS, type StoreCompat } from '../store/store-rules.js';
import { parseEndpointArg } from './endpoint-arg.js';
import { inspectOption, type LiveInspector, startLiveInspector } from './inspect.js';
import { type LogFlags, logFormatOption, loggerFromFlags, logLevelOption } from './log-options.js';
import { stopOnSignals } from './stop-signals.js';

interface SheepOptions extends LogFlags {
  store: string;
  listen: Endpoint[];
  lock: boolean;
  compat: StoreCompat;
  events?: string;
  inspect?: ListenSpec;
}

export function registerSheepCommand(program: Command): void {
  program
    .command('sheep')
    .description('run the embedded sheep-compatible store (foreground)')
    .requiredOption('--store <dir>', 'store directory (formatted on first start)')
    .option(
      '--listen <host:port>',
      `endpoint to serve; repeat for more nodes (default 127.0.0.1:${SD_LISTEN_PORT})`,
      (value: string, previous: Endpoint[]) => [...previous, parseEndpointArg(value, '--listen')],
      [] as Endpoint[],
    )
    .option('--no-lock', 'behave like a cluster formatted without --lock: no locks, no inode coherence')
    .option(
      '--compat <mode>',
      `${STORE_COMPATS.join(' or ')}: Collie's rules, or answer as a sheep 1.0 cluster does`,
      (value: string) => parseCompatArg(value, '--compat'),
      'collie' as StoreCompat,
    )
    .option('--events <file>', 'append every event to this JSONL file')
    .addOption(inspectOption())
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .action(async (options: SheepOptions) => {
      await runSheep(options);
    });
}

/** A store compat mode from the command line, else an error naming the flag and the choices. */
export function parseCompatArg(value: string, flag: string): StoreCompat {
  if (!(STORE_COMPATS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(
      `${flag} ${JSON.stringify(value)} is not a compat mode (write ${STORE_COMPATS.join(' or ')})`,
    );
  }
  return value as StoreCompat;
}

async function runSheep(options: SheepOptions): Promise<void> {
  const logger = loggerFromFlags(options, { component: 'sheep' });
  const eventLog = new EventLog(realClock);
  if (options.events) eventLog.addSink(new JsonlFileSink(options.events));
  let inspector: LiveInspector | undefined;
  try {
    inspector =
      options.inspect && (await startLiveInspector(options.inspect, { eventLog, title: 'collie sheep' }));
  } catch (error) {
    process.stderr.write(`collie sheep: ${(error as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const listen = options.listen.length > 0 ? options.listen : [{ host: '127.0.0.1', port: SD_LISTEN_PORT }];
  const { config, objects, formatted } = await openStoreDirectory(options.store);
  if (formatted) logger.info({ store: options.store, config }, 'formatted a new store');
  const locking = config.locking && options.lock;
  let store: SheepStore;
  try {
    store = await SheepStore.open({
      objects,
      defaults: config,
      locking,
      compat: options.compat,
      transport: new TcpTransport(),
      listen,
      clock: realClock,
      eventLog,
      logger,
      capacity: () => directoryCapacity(options.store),
      // A broken store invariant is a Collie bug: stop serving at once rather than answer on.
      onInvariantBroken: () => process.exit(70),
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE'
        ? 'the address is in use (stop the other process, or choose another --listen)'
        : (error as Error).message;
    process.stderr.write(`collie sheep: cannot listen: ${why}\n`);
    await objects.close();
    await inspector?.close();
    process.exitCode = 1;
    return;
  }
  stopOnSignals({
    logger,
    stop: async () => {
      await store.close();
      await inspector?.close();
      await eventLog.close();
    },
  });
  process.stdout.write(
    `collie sheep ready: store ${options.store}, nodes ${store.describe()}, locking ${locking ? 'on' : 'off'}` +
      `${options.compat === 'collie' ? '' : `, compat ${options.compat}`}\n`,
  );
}
