/**
 * A world for the limits scenarios and tests: Collie's real iSCSI target (IscsiTargetServer, the
 * login machine, mem: logical units built by assembleTargets) on the memory network in virtual
 * time, with the limits given, plus what a hostile peer needs: raw connections from any address
 * (`raw`), simulated initiators (`login`), a gate that holds a logical unit's commands, and a
 * healthy session's IO loop (`healthyLoad`) that counts what completes beside the attack.
 *
 * Rules: nothing here reads the wall clock or Math.random (the Rng is seeded, the clock virtual),
 * so a scenario replays exactly. `run(ms)` lets virtual time pass, one timer at a time, draining
 * promise chains between timers; `settle(promise)` runs time until the promise settles.
 */
import type { Clock } from '../../src/core/clock.js';
import { EventLog } from '../../src/core/event-log.js';
import { createLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { drainMicrotasks, VirtualClock } from '../../src/core/virtual-clock.js';
import { IscsiTargetServer } from '../../src/iscsi/target/iscsi-target-server.js';
import { machineLoginDriver } from '../../src/iscsi/target/machine-login-driver.js';
import type { TargetLimits } from '../../src/iscsi/target/target-limits.js';
import type { IscsiLun, TargetNode } from '../../src/iscsi/target/target-node.js';
import { type ScsiCommand, type ScsiResult, ScsiStatus } from '../../src/scsi/scsi-types.js';
import { parseBackingSpec } from '../../src/target/backing.js';
import { assembleTargets } from '../../src/target/target-assembly.js';
import type { TargetConfig } from '../../src/target/target-config.js';
import { MemoryNetwork, type MemoryNetworkOptions } from '../../transports/memory.js';
import type { ByteStream, CloseReason, Endpoint, Transport } from '../../transports/transport.js';
import { type InitiatorOptions, IscsiInitiator, type LoginOptions } from '../initiator/iscsi-initiator.js';

export const LIMITS_TARGET_HOST = '192.168.0.10';
export const LIMITS_PORTAL: Endpoint = { host: LIMITS_TARGET_HOST, port: 3260 };
export const LIMITS_TARGET_IQN = 'iqn.2026-01.test.collie:limits';
export const HEALTHY_HOST = '10.0.0.1';
export const HEALTHY_INITIATOR = 'iqn.2026-01.test.collie:healthy';
/** LUN 0, memory, 512-byte blocks. */
export const LIMITS_LUN_BYTES = 64 * 1024 * 1024;

export interface LimitsWorldOptions {
  readonly limits?: Partial<TargetLimits>;
  readonly seed?: number | string;
  readonly network?: Partial<MemoryNetworkOptions>;
}

/** A raw connection: bytes in, what came back, and when and how it closed. */
export interface RawPeer {
  readonly stream: ByteStream;
  receivedBytes: number;
  closedAtMs: number | undefined;
  closedKind: CloseReason['kind'] | undefined;
}

export interface LimitsWorld {
  readonly clock: VirtualClock;
  readonly network: MemoryNetwork;
  readonly eventLog: EventLog;
  readonly server: IscsiTargetServer;
  /** Holds LUN 0's commands while closed. */
  readonly gate: LunGate;
  /** The target's end of every accepted connection, in order. */
  readonly serverStreams: ByteStream[];
  settle<T>(promise: Promise<T>, options?: { withinMs?: number }): Promise<T>;
  run(ms: number): Promise<void>;
  /** A normal session to the target from `host` (default HEALTHY_HOST) as HEALTHY_INITIATOR. */
  login(options?: Partial<LoginOptions> & { host?: string }): Promise<IscsiInitiator>;
  /** Opens a raw connection from `host` (it sends nothing until told). */
  raw(host: string): Promise<RawPeer>;
  initiatorOptions(overrides?: Partial<InitiatorOptions>): InitiatorOptions;
  close(): Promise<void>;
}

export async function limitsWorld(options: LimitsWorldOptions = {}): Promise<LimitsWorld> {
  const clock = new VirtualClock(1_000_000);
  const eventLog = new EventLog(clock);
  const rng = createRng(options.seed ?? 1);
  const network = new MemoryNetwork({
    clock,
    rng: rng.fork('network'),
    eventLog,
    options: { delayMsMax: 1, ...options.network },
  });
  const logger = createLogger({ level: process.env.COLLIE_LIMITS_LOG ?? 'silent', clock });
  const serverStreams: ByteStream[] = [];
  const base = network.transport(LIMITS_TARGET_HOST);
  const transport: Transport = {
    connect: (address) => base.connect(address),
    listen: (address, onConnection) =>
      base.listen(address, (stream) => {
        serverStreams.push(stream);
        onConnection(stream);
      }),
  };
  const text = `mem:${LIMITS_LUN_BYTES}`;
  const config: TargetConfig = {
    portals: [LIMITS_PORTAL],
    targets: [{ iqn: LIMITS_TARGET_IQN, luns: [{ lun: 0, backing: parseBackingSpec(text), text }] }],
    digests: 'allow',
    nopIntervalMs: options.limits?.nopIntervalMs ?? 10_000,
    nopTimeoutMs: options.limits?.nopTimeoutMs ?? 15_000,
  };
  const settle = <T>(promise: Promise<T>, settleOptions: { withinMs?: number } = {}): Promise<T> =>
    clock.settle(promise, { withinMs: settleOptions.withinMs ?? 10 * 60_000 });
  const assembled = await settle(
    assembleTargets(config, {
      transport: network.transport('backends'),
      clock,
      rng: rng.fork('backends'),
      eventLog,
      logger,
    }),
  );
  const gate = new LunGate();
  const targets: TargetNode[] = assembled.targets.map((node) => ({
    ...node,
    luns: new Map([...node.luns].map(([lun, unit]) => [lun, lun === 0 ? gate.wrap(unit) : unit])),
  }));
  const loginRng = rng.fork('login');
  const server = await settle(
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
      ...(options.limits === undefined ? {} : { limits: options.limits }),
    }),
  );
  let initiatorCount = 0;
  const initiatorOptions = (overrides: Partial<InitiatorOptions> = {}): InitiatorOptions => ({
    clock,
    initiatorName: HEALTHY_INITIATOR,
    eventLog,
    rng: rng.fork(`initiator-${++initiatorCount}`),
    ...overrides,
  });
  const run = async (ms: number): Promise<void> => {
    const untilMs = clock.now() + ms;
    for (;;) {
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
    server,
    gate,
    serverStreams,
    settle,
    run,
    initiatorOptions,
    login: (overrides = {}) => {
      const { host, ...rest } = overrides;
      return settle(
        IscsiInitiator.login(network.transport(host ?? HEALTHY_HOST), LIMITS_PORTAL, {
          ...initiatorOptions(),
          targetName: LIMITS_TARGET_IQN,
          ...rest,
        }),
      );
    },
    raw: async (host) => {
      const stream = await settle(network.transport(host).connect(LIMITS_PORTAL));
      const peer: RawPeer = { stream, receivedBytes: 0, closedAtMs: undefined, closedKind: undefined };
      stream.attach({
        data: (chunk) => {
          peer.receivedBytes += chunk.length;
        },
        close: (reason) => {
          peer.closedAtMs = clock.now();
          peer.closedKind = reason.kind;
        },
      });
      return peer;
    },
    close: async () => {
      gate.open();
      await settle(server.close());
      await settle(assembled.close());
    },
  };
}

/** Holds a logical unit's commands while closed (to keep tasks in flight on purpose). */
export class LunGate {
  #open = true;
  #waiters: (() => void)[] = [];
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
        if (command.signal?.aborted) return { status: ScsiStatus.TASK_ABORTED };
        return unit.execute(command);
      },
    };
  }
}

/** What a healthy session did beside an attack. */
export interface HealthyResult {
  /** IOs (a write and its read-back count as two) that completed GOOD with the right data. */
  readonly ios: number;
  /** IOs that failed, answered non-GOOD, or read back wrong data. */
  readonly failures: number;
  /** Of the failures: TASK SET FULL answers (the target's budget, retried by a real initiator). */
  readonly busy: number;
  /** The session was still connected at the end. */
  readonly connected: boolean;
}

/**
 * A healthy session's IO loop: 4 KiB writes and their read-back, one at a time, in a 1 MiB
 * region, until stop(). First it gets through the unit attention of its new nexus. With a clock,
 * it thinks `thinkMs` between IOs (a realistic load, and less work for long scenarios).
 */
export function healthyLoad(
  initiator: IscsiInitiator,
  clock?: Clock,
  thinkMs = 5,
): { stop(): Promise<HealthyResult> } {
  let stopped = false;
  let ios = 0;
  let failures = 0;
  let busy = 0;
  const blocks = 8;
  const loop = (async () => {
    for (let attempt = 0; attempt < 4; attempt++) {
      const result = await initiator.testUnitReady(0).catch(() => undefined);
      if (result?.status === ScsiStatus.GOOD) break;
    }
    for (let index = 0; !stopped && !initiator.isClosed; index++) {
      if (clock !== undefined) await new Promise<void>((resolve) => clock.setTimeout(resolve, thinkMs));
      const lba = (index * blocks) % 2048;
      const data = Buffer.alloc(blocks * 512, index & 0xff);
      try {
        const written = await initiator.write(0, lba, data);
        if (written.status !== ScsiStatus.GOOD) {
          failures += 1;
          if (written.status === ScsiStatus.TASK_SET_FULL) busy += 1;
          continue;
        }
        ios += 1;
        const read = await initiator.read(0, lba, blocks);
        if (read.status !== ScsiStatus.GOOD || !read.dataIn.equals(data)) {
          failures += 1;
          if (read.status === ScsiStatus.TASK_SET_FULL) busy += 1;
          continue;
        }
        ios += 1;
      } catch {
        failures += 1;
      }
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { ios, failures, busy, connected: !initiator.isClosed };
    },
  };
}
