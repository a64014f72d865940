/**
 * A simulated world for the target's tests: Collie's real iSCSI target (IscsiTargetServer, the
 * login machine, SCSI logical units on mem: backends built by assembleTargets, or the whole
 * startTargetService) on the memory network, in virtual time, and simulated initiators
 * (sim/initiator) that speak real iSCSI bytes to it through the same PDU codec.
 *
 * `settle(promise)` runs virtual time one timer at a time until the promise settles, and fails
 * the test when virtual time passes `withinMs` or nothing is left to run; `run(ms)` lets time
 * pass. The target's accepted streams are recorded (`serverStreams`) so tests can look at their
 * buffered bytes, and every event goes through a DigestSink for the determinism checks.
 */

import {
  type InitiatorOptions,
  IscsiInitiator,
  type LoginOptions,
} from '../../../sim/initiator/iscsi-initiator.js';
import { parseSense } from '../../../sim/initiator/scsi-commands.js';
import { EventLog } from '../../../src/core/event-log.js';
import { DigestSink, MemoryRingSink } from '../../../src/core/event-sinks.js';
import { createLogger } from '../../../src/core/logger.js';
import { createRng } from '../../../src/core/rng.js';
import { drainMicrotasks, VirtualClock } from '../../../src/core/virtual-clock.js';
import { IscsiTargetServer } from '../../../src/iscsi/target/iscsi-target-server.js';
import { machineLoginDriver } from '../../../src/iscsi/target/machine-login-driver.js';
import type { IscsiLun, TargetNode } from '../../../src/iscsi/target/target-node.js';
import { type ScsiCommand, type ScsiResult, ScsiStatus } from '../../../src/scsi/scsi-types.js';
import { parseBackingSpec } from '../../../src/target/backing.js';
import { assembleTargets } from '../../../src/target/target-assembly.js';
import type { TargetConfig, TargetDefinition } from '../../../src/target/target-config.js';
import { startTargetService } from '../../../src/target/target-service.js';
import { MemoryNetwork, type MemoryNetworkOptions } from '../../../transports/memory.js';
import type { ByteStream, Endpoint, Transport } from '../../../transports/transport.js';

export const TARGET_HOST = '192.168.0.10';
export const PORTAL: Endpoint = { host: TARGET_HOST, port: 3260 };
export const INITIATOR_HOST = '10.0.0.1';
export const INITIATOR_NAME = 'iqn.2026-01.test.collie:initiator';
export const TARGET_IQN = 'iqn.2026-01.test.collie:disk';
/** LUN 0: 64 MiB; LUN 1: 8 MiB (both memory, 512-byte blocks). */
export const LUN_BYTES = new Map([
  [0, 64 * 1024 * 1024],
  [1, 8 * 1024 * 1024],
]);

export function lunsOf(sizes: ReadonlyMap<number, number>): TargetDefinition['luns'] {
  return [...sizes].map(([lun, bytes]) => {
    const text = `mem:${bytes}`;
    return { lun, backing: parseBackingSpec(text), text };
  });
}

export const OPEN_TARGET: TargetDefinition = { iqn: TARGET_IQN, luns: lunsOf(LUN_BYTES) };

export interface WorldOptions {
  readonly targets?: readonly TargetDefinition[];
  readonly digests?: TargetConfig['digests'];
  readonly nopIntervalMs?: number;
  readonly nopTimeoutMs?: number;
  /** The session's command window (IscsiTargetServer option). */
  readonly commandWindow?: number;
  readonly seed?: number | string;
  readonly network?: Partial<MemoryNetworkOptions>;
  /** Wraps each logical unit (e.g. with a gate that holds commands). */
  readonly wrapLun?: (iqn: string, lun: number, unit: IscsiLun) => IscsiLun;
  /** Build the target with startTargetService (the production assembly) instead. */
  readonly service?: boolean;
}

export interface World {
  readonly clock: VirtualClock;
  readonly network: MemoryNetwork;
  readonly eventLog: EventLog;
  readonly digest: DigestSink;
  readonly events: MemoryRingSink;
  readonly server: IscsiTargetServer;
  /** The target's end of every accepted connection, in order. */
  readonly serverStreams: ByteStream[];
  settle<T>(promise: Promise<T>, options?: { withinMs?: number }): Promise<T>;
  run(ms: number): Promise<void>;
  /** Logs in from INITIATOR_HOST (or `host`) as INITIATOR_NAME to TARGET_IQN unless told otherwise. */
  login(options?: Partial<LoginOptions> & { host?: string }): Promise<IscsiInitiator>;
  /** Options for an initiator of this world (clock, event log, a fresh Rng). */
  initiatorOptions(overrides?: Partial<InitiatorOptions>): InitiatorOptions;
  close(): Promise<void>;
}

export async function targetWorld(options: WorldOptions = {}): Promise<World> {
  const clock = new VirtualClock(1_000_000);
  const eventLog = new EventLog(clock);
  const digest = new DigestSink();
  const events = new MemoryRingSink(20_000);
  eventLog.addSink(digest);
  eventLog.addSink(events);
  const rng = createRng(options.seed ?? 1);
  const network = new MemoryNetwork({
    clock,
    rng: rng.fork('network'),
    eventLog,
    options: { delayMsMax: 1, ...options.network },
  });
  const logger = createLogger({ level: process.env.COLLIE_TEST_LOG ?? 'silent', clock });
  const serverStreams: ByteStream[] = [];
  const base = network.transport(TARGET_HOST);
  const transport: Transport = {
    connect: (address) => base.connect(address),
    listen: (address, onConnection) =>
      base.listen(address, (stream) => {
        serverStreams.push(stream);
        onConnection(stream);
      }),
  };
  const config: TargetConfig = {
    portals: [PORTAL],
    targets: options.targets ?? [OPEN_TARGET],
    digests: options.digests ?? 'allow',
    nopIntervalMs: options.nopIntervalMs ?? 10_000,
    nopTimeoutMs: options.nopTimeoutMs ?? 15_000,
  };
  const settle = makeSettle(clock);
  let server: IscsiTargetServer;
  let closeTargets: () => Promise<void>;
  if (options.service) {
    const service = await settle(
      startTargetService(config, {
        transport,
        backendTransport: network.transport('backends'),
        clock,
        rng: rng.fork('target'),
        eventLog,
        logger,
      }),
    );
    server = service.server;
    closeTargets = () => service.close();
  } else {
    const assembled = await settle(
      assembleTargets(config, {
        transport: network.transport('backends'),
        clock,
        rng: rng.fork('backends'),
        eventLog,
        logger,
      }),
    );
    const targets = assembled.targets.map((node) => wrapNode(node, options.wrapLun));
    const loginRng = rng.fork('login');
    server = await settle(
      IscsiTargetServer.start({
        transport,
        portals: config.portals,
        targets,
        loginDriver: ({ remote }) =>
          machineLoginDriver({
            connectionId: `${remote.host}:${remote.port}`,
            initiatorAddress: remote.host,
            policy: { targets, digests: config.digests, portalGroupTag: 1 },
            rng: loginRng,
            eventLog,
          }),
        clock,
        logger,
        eventLog,
        nopIntervalMs: config.nopIntervalMs,
        nopTimeoutMs: config.nopTimeoutMs,
        ...(options.commandWindow === undefined ? {} : { commandWindow: options.commandWindow }),
      }),
    );
    closeTargets = async () => {
      await server.close();
      await assembled.close();
    };
  }
  let initiatorCount = 0;
  const initiatorOptions = (overrides: Partial<InitiatorOptions> = {}): InitiatorOptions => ({
    clock,
    initiatorName: INITIATOR_NAME,
    eventLog,
    rng: rng.fork(`initiator-${++initiatorCount}`),
    ...overrides,
  });
  const run = async (ms: number) => {
    const untilMs = clock.now() + ms;
    for (let step = 0; step < 10_000_000; step++) {
      await drainMicrotasks();
      const next = clock.nextDueMs();
      if (next === undefined || next > untilMs) break;
      await clock.runUntilIdle({ stepsMax: 1 });
    }
    clock.advanceTo(untilMs);
  };
  return {
    clock,
    network,
    eventLog,
    digest,
    events,
    server,
    serverStreams,
    settle,
    run,
    initiatorOptions,
    login: (overrides = {}) => {
      const { host, ...rest } = overrides;
      return settle(
        IscsiInitiator.login(network.transport(host ?? INITIATOR_HOST), PORTAL, {
          ...initiatorOptions(),
          targetName: TARGET_IQN,
          ...rest,
        }),
      );
    },
    close: () => settle(closeTargets()),
  };
}

function makeSettle(clock: VirtualClock) {
  return <T>(promise: Promise<T>, options: { withinMs?: number } = {}): Promise<T> =>
    clock.settle(promise, { withinMs: options.withinMs ?? 10 * 60_000 });
}

function wrapNode(node: TargetNode, wrap: WorldOptions['wrapLun']): TargetNode {
  if (wrap === undefined) return node;
  return { ...node, luns: new Map([...node.luns].map(([lun, unit]) => [lun, wrap(node.iqn, lun, unit)])) };
}

/** A logical unit wrapper that holds commands while closed (to keep tasks in flight on purpose). */
export class LunGate {
  #open = true;
  #waiters: (() => void)[] = [];
  /** Commands that reached the logical unit while the gate was closed and still wait. */
  heldCount = 0;

  close(): void {
    this.#open = false;
  }

  open(): void {
    this.#open = true;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  wrap(unit: IscsiLun): IscsiLun {
    return {
      blockSizeBytes: unit.blockSizeBytes,
      reset: (by) => unit.reset(by),
      nexusLost: (nexus) => unit.nexusLost(nexus),
      execute: async (command: ScsiCommand): Promise<ScsiResult> => {
        if (!this.#open) {
          this.heldCount += 1;
          await new Promise<void>((resolve) => {
            this.#waiters.push(resolve);
            command.signal?.onAbort?.(() => resolve());
          });
          this.heldCount -= 1;
        }
        // An aborted command never reaches the logical unit (nothing to write, nothing to read).
        if (command.signal?.aborted) return { status: ScsiStatus.TASK_ABORTED };
        return unit.execute(command);
      },
    };
  }
}

/** TEST UNIT READY until GOOD: a new nexus first gets UNIT ATTENTION 29/00 (and resets 29/03). */
export async function ready(world: World, initiator: IscsiInitiator, lun = 0): Promise<void> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const result = await world.settle(initiator.testUnitReady(lun));
    if (result.status === 0) return;
    const sense = parseSense(result.sense);
    if (sense?.key !== 0x6) throw new Error(`TEST UNIT READY on LUN ${lun}: status ${result.status}`);
  }
  throw new Error(`LUN ${lun} is not ready after 4 attempts`);
}

/** Deterministic test data: a byte pattern from a seed. */
export function pattern(lengthBytes: number, seed: number): Buffer {
  const data = Buffer.alloc(lengthBytes);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let at = 0; at < lengthBytes; at += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    data.writeUInt32LE(state, at);
  }
  return data;
}
