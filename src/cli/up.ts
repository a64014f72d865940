/**
 * `collie up` (what `npm start` runs): the whole thing with nothing to configure. It starts the
 * embedded store in a data directory (formatted on first start), creates the default VDI when it
 * is missing, exports it with an iSCSI target, and prints how to reach it. A restart keeps the
 * data.
 *
 *   collie up [--data DIR] [--sheep HOST:PORT] [--portal HOST:PORT] [--vdi NAME] [--size SIZE]
 */

import { join } from 'node:path';
import type { Command } from 'commander';
import { TcpTransport } from '../../transports/tcp.js';
import type { Endpoint } from '../../transports/transport.js';
import { endpointToString } from '../../transports/transport.js';
import { EventLog } from '../core/event-log.js';
import { createLogger } from '../core/logger.js';
import { realClock } from '../core/real-clock.js';
import { createRng } from '../core/rng.js';
import { SdRes } from '../sheepdog/wire/constants.js';
import { SheepStore } from '../store/sheep-store.js';
import { directoryCapacity, openStoreDirectory } from '../store/store-directory.js';
import { parseBackingSpec } from '../target/backing.js';
import { startTargetService, type TargetService } from '../target/target-service.js';
import { parseEndpointArg } from './endpoint-arg.js';
import { parseSizeBytes } from './sizes.js';

interface UpOptions {
  data: string;
  sheep: Endpoint;
  portal: Endpoint;
  vdi: string;
  size: string;
  logLevel?: string;
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
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .action(async (options: UpOptions) => {
      await runUp(options);
    });
}

async function runUp(options: UpOptions): Promise<void> {
  const logger = createLogger({ level: options.logLevel, bindings: { component: 'up' } });
  const sizeBytes = parseSizeBytes(options.size, '--size');
  const storeDirectory = join(options.data, 'store');
  const { config, objects } = await openStoreDirectory(storeDirectory);
  const transport = new TcpTransport();
  const eventLog = new EventLog(realClock);
  const store = await SheepStore.open({
    objects,
    defaults: config,
    locking: config.locking,
    transport,
    listen: [options.sheep],
    clock: realClock,
    eventLog,
    logger,
    capacity: () => directoryCapacity(storeDirectory),
    // A broken store invariant is a Collie bug: stop serving at once rather than answer on.
    onInvariantBroken: () => process.exit(70),
  });
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
  const sheep = endpointToString(options.sheep);
  const iqn = `iqn.2026-11.org.collie:${options.vdi.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`;
  let target: TargetService;
  try {
    target = await startTargetService(
      {
        portals: [options.portal],
        targets: [
          {
            iqn,
            luns: [
              {
                lun: 1,
                backing: parseBackingSpec(`tcp:${sheep}:${options.vdi}`),
                text: `tcp:${sheep}:${options.vdi}`,
              },
            ],
          },
        ],
        digests: 'allow',
        nopIntervalMs: 10_000,
        nopTimeoutMs: 15_000,
      },
      {
        transport,
        backendTransport: transport,
        clock: realClock,
        rng: createRng(`up:${process.pid}:${realClock.now()}`),
        eventLog,
        logger,
      },
    );
  } catch (error) {
    await store.close();
    throw error;
  }
  const portal = endpointToString(options.portal);
  const url = `iscsi://${portal}/${iqn}/1`;
  process.stdout.write(
    [
      `collie up ready: ${url} (VDI "${options.vdi}" on the embedded store ${sheep}, data in ${options.data})`,
      '',
      `  iscsi-ls -s iscsi://${portal}`,
      `  qemu-io -f raw ${url} -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M'`,
      `  iscsiadm -m discovery -t sendtargets -p ${portal} && iscsiadm -m node -T ${iqn} -p ${portal} --login`,
      `  npx collie vdi list${options.sheep.port === 7000 ? '' : ` -p ${options.sheep.port}`}`,
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await target.close();
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
