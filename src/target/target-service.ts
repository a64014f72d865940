/**
 * A running target: the backends opened, the logical units built, the portals listening. Shared
 * by `collie target` and `collie up`; the simulator builds the same thing on the memory network.
 */

import type { Transport } from '../../transports/transport.js';
import { endpointToString } from '../../transports/transport.js';
import type { Clock } from '../core/clock.js';
import type { EventLog } from '../core/event-log.js';
import type { Logger } from '../core/logger.js';
import type { Rng } from '../core/rng.js';
import { IscsiTargetServer } from '../iscsi/target/iscsi-target-server.js';
import { machineLoginDriver } from '../iscsi/target/machine-login-driver.js';
import type { TestOnlyClusterBug } from '../scsi/cluster/test-only-cluster-bugs.js';
import type { SheepdogBackendOptions } from '../sheepdog/client/sheepdog-backend.js';
import { assembleTargets } from './target-assembly.js';
import type { TargetConfig } from './target-config.js';

export interface TargetEnvironment {
  /** Where the portals listen (initiators connect). */
  readonly transport: Transport;
  /** How backends reach sheep. */
  readonly backendTransport: Transport;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly eventLog: EventLog;
  readonly logger: Logger;
  /** Tunables of the sheepdog backends (the simulator's time bounds, test-only switches). */
  readonly sheepdogOptions?: SheepdogBackendOptions;
  /** Test-only: a cluster-state bug every LU gets (test-only-cluster-bugs.ts); never in production. */
  readonly clusterBug?: TestOnlyClusterBug;
}

export interface TargetService {
  readonly server: IscsiTargetServer;
  /** "iscsi://127.0.0.1:3260/IQN/LUN" for each LUN. */
  urls(): string[];
  close(): Promise<void>;
}

export async function startTargetService(
  config: TargetConfig,
  environment: TargetEnvironment,
): Promise<TargetService> {
  const assembled = await assembleTargets(config, {
    transport: environment.backendTransport,
    clock: environment.clock,
    rng: environment.rng.fork('backends'),
    eventLog: environment.eventLog,
    logger: environment.logger,
    ...(environment.sheepdogOptions === undefined ? {} : { sheepdogOptions: environment.sheepdogOptions }),
    ...(environment.clusterBug === undefined ? {} : { clusterBug: environment.clusterBug }),
  });
  const loginRng = environment.rng.fork('login');
  let server: IscsiTargetServer;
  try {
    server = await IscsiTargetServer.start({
      transport: environment.transport,
      portals: config.portals,
      targets: assembled.targets,
      loginDriver: ({ remote }) =>
        machineLoginDriver({
          connectionId: `${endpointToString(remote)}`,
          initiatorAddress: remote.host,
          policy: {
            targets: assembled.targets,
            digests: config.digests,
            // Every target of this process shares the node's portal group (target-assembly.ts).
            portalGroupTag: config.nodeId ?? 1,
          },
          rng: loginRng,
          eventLog: environment.eventLog,
        }),
      clock: environment.clock,
      logger: environment.logger,
      eventLog: environment.eventLog,
      nopIntervalMs: config.nopIntervalMs,
      nopTimeoutMs: config.nopTimeoutMs,
    });
  } catch (error) {
    await assembled.close();
    throw error;
  }
  return {
    server,
    urls: () =>
      server.portals.flatMap((portal) =>
        assembled.targets.flatMap((target) =>
          [...target.luns.keys()].map((lun) => `iscsi://${endpointToString(portal)}/${target.iqn}/${lun}`),
        ),
      ),
    close: async () => {
      await server.close();
      // Sheepdog backends wait for their requests, then release their VDI locks.
      environment.logger.info(
        { luns: assembled.targets.reduce((sum, target) => sum + target.luns.size, 0) },
        'closing the backends',
      );
      await assembled.close();
      environment.logger.info('backends closed');
    },
  };
}
