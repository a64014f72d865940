/**
 * A simulated world for the daemon control's tests: the real embedded store (SheepStore over
 * memory objects, locking on), real target nodes (startTargetService, the production assembly)
 * and the real AdminControl (createDaemonControl) on one memory network in virtual time, with
 * simulated initiators (sim/initiator) that speak real iSCSI to the portals.
 *
 * Node k (0-based) has node id k + 1, listens on TARGET_HOST:3260 + k and, when the world has
 * more than one node, reaches the store through its own store node (STORE_HOST:7000 + k).
 * `settle(promise)` runs virtual time until the promise settles.
 */
import {
  IscsiInitiator as Initiator,
  type IscsiInitiator,
  type LoginOptions,
} from '../../sim/initiator/iscsi-initiator.js';
import { parseSense, type SenseSummary } from '../../sim/initiator/scsi-commands.js';
import type { AdminControl, AdminError } from '../../src/admin/admin-api.js';
import { createDaemonControl } from '../../src/admin/daemon-control.js';
import { EventLog } from '../../src/core/event-log.js';
import { createLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { MemoryObjectStore } from '../../src/store/memory-object-store.js';
import { SheepStore } from '../../src/store/sheep-store.js';
import { parseBackingSpec } from '../../src/target/backing.js';
import type { TargetDefinition } from '../../src/target/target-config.js';
import { startTargetService, type TargetService } from '../../src/target/target-service.js';
import { MemoryNetwork } from '../../transports/memory.js';
import type { Endpoint } from '../../transports/transport.js';

export const TARGET_HOST = '192.168.0.10';
export const STORE_HOST = '192.168.0.20';
export const STORE: Endpoint = { host: STORE_HOST, port: 7000 };
export const INITIATOR_HOST = '10.0.0.1';
export const INITIATOR_NAME = 'iqn.2026-01.test.collie:initiator';
export const TARGET_IQN = 'iqn.2026-01.test.collie:disk';
export const MiB = 1024 * 1024;

export interface ControlWorld {
  readonly clock: VirtualClock;
  readonly network: MemoryNetwork;
  readonly store: SheepStore;
  readonly services: readonly TargetService[];
  readonly control: AdminControl;
  settle<T>(promise: Promise<T>): Promise<T>;
  /** The AdminError a call rejects (or throws) with; fails the test when it succeeds. */
  refusal(call: () => unknown): Promise<AdminError>;
  portal(node?: number): Endpoint;
  login(options?: Partial<LoginOptions> & { host?: string; node?: number }): Promise<IscsiInitiator>;
  close(): Promise<void>;
}

export interface ControlWorldOptions {
  /** Target nodes (default 1). */
  readonly nodes?: number;
  /** The targets each node starts with; default TARGET_IQN with LUN 1 = mem:8M. */
  readonly targets?: readonly TargetDefinition[];
  /** false: the control has no store (VDI routes answer 409). */
  readonly withStore?: boolean;
}

export function memLun(lun: number, text: string): TargetDefinition['luns'][number] {
  return { lun, backing: parseBackingSpec(text), text };
}

export async function controlWorld(options: ControlWorldOptions = {}): Promise<ControlWorld> {
  const nodeCount = options.nodes ?? 1;
  const clock = new VirtualClock(1_700_000_000_000);
  const eventLog = new EventLog(clock);
  const rng = createRng(7);
  const network = new MemoryNetwork({
    clock,
    rng: rng.fork('network'),
    eventLog,
    options: { delayMsMax: 1 },
  });
  const logger = createLogger({ level: process.env.COLLIE_TEST_LOG ?? 'silent', clock });
  const settle = <T>(promise: Promise<T>): Promise<T> => clock.settle(promise, { withinMs: 10 * 60_000 });
  const stores = Array.from({ length: nodeCount }, (_, k) => ({ host: STORE_HOST, port: STORE.port + k }));
  const store = await settle(
    SheepStore.open({
      objects: new MemoryObjectStore(),
      defaults: { copies: 1, copyPolicy: 0, blockSizeShift: 22 },
      locking: true,
      transport: network.transport(STORE_HOST),
      listen: stores,
      clock,
      eventLog,
      logger,
    }),
  );
  const portal = (node = 0): Endpoint => ({ host: TARGET_HOST, port: 3260 + node });
  const services: TargetService[] = [];
  for (let k = 0; k < nodeCount; k++) {
    services.push(
      await settle(
        startTargetService(
          {
            portals: [portal(k)],
            targets: options.targets ?? [{ iqn: TARGET_IQN, luns: [memLun(1, 'mem:8M')] }],
            digests: 'allow',
            nopIntervalMs: 0,
            nopTimeoutMs: 15_000,
            nodeId: k + 1,
          },
          {
            transport: network.transport(TARGET_HOST),
            backendTransport: network.transport(`backends-${k + 1}`),
            clock,
            rng: rng.fork(`node-${k + 1}`),
            eventLog,
            logger,
          },
        ),
      ),
    );
  }
  const control = createDaemonControl({
    kind: nodeCount > 1 ? 'up' : 'target',
    version: '0.0.0-test',
    startedAtMs: clock.now(),
    clock,
    nodes: services.map((service, k) => ({
      nodeId: k + 1,
      service,
      ...(nodeCount > 1 ? { store: stores[k]! } : {}),
    })),
    ...(options.withStore === false ? {} : { store: STORE }),
    transport: network.transport('admin'),
    logger,
    urls: () => ({
      inspector: 'http://127.0.0.1:8260/',
      metrics: 'http://127.0.0.1:8260/metrics',
      admin: 'http://127.0.0.1:8260/api/admin',
    }),
  });
  let initiators = 0;
  return {
    clock,
    network,
    store,
    services,
    control,
    settle,
    portal,
    refusal: async (call) => {
      let outcome: unknown;
      try {
        const result = call();
        outcome = result instanceof Promise ? await settle(result) : result;
      } catch (error) {
        if ((error as Error).name !== 'AdminError') throw error;
        return error as AdminError;
      }
      throw new Error(`expected an AdminError, got ${JSON.stringify(outcome)}`);
    },
    login: (overrides = {}) => {
      const { host, node, ...rest } = overrides;
      return settle(
        Initiator.login(network.transport(host ?? INITIATOR_HOST), portal(node ?? 0), {
          clock,
          initiatorName: INITIATOR_NAME,
          eventLog,
          rng: rng.fork(`initiator-${++initiators}`),
          targetName: TARGET_IQN,
          ...rest,
        }),
      );
    },
    close: async () => {
      await settle(Promise.all(services.map((service) => service.close())));
      await settle(store.close());
    },
  };
}

/** The sense of a CHECK CONDITION (status 2), else undefined. */
export function checkConditionSense(result: { status: number; sense?: Buffer }): SenseSummary | undefined {
  return result.status === 2 ? parseSense(result.sense) : undefined;
}

/** Commands until one is not a unit attention: the first nexus gets 29/00 (power on). */
export async function clearUnitAttentions(
  world: ControlWorld,
  initiator: IscsiInitiator,
  lun: number,
): Promise<void> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const result = await world.settle(initiator.testUnitReady(lun));
    if (checkConditionSense(result)?.key !== 0x6) return;
  }
  throw new Error(`LUN ${lun} keeps answering UNIT ATTENTION`);
}
