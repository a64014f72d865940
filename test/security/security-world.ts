/**
 * A world for the security tests: the production target (startTargetService, as `collie target`
 * builds it, with its login rate limit) on the memory network in virtual time, a logger at trace
 * level writing into memory, every event kept, and simulated initiators whose bytes on the wire
 * (both directions) are recorded, so a test can look for CHAP values in the logs.
 */
import { Writable } from 'node:stream';
import { IscsiLoginError } from '../../sim/initiator/initiator-errors.js';
import { type InitiatorOptions, IscsiInitiator } from '../../sim/initiator/iscsi-initiator.js';
import { sendTargets } from '../../sim/initiator/send-targets.js';
import { EventLog } from '../../src/core/event-log.js';
import { MemoryRingSink } from '../../src/core/event-sinks.js';
import { createLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { drainMicrotasks, VirtualClock } from '../../src/core/virtual-clock.js';
import type { ChallengeSource } from '../../src/iscsi/login/chap.js';
import { parseBackingSpec } from '../../src/target/backing.js';
import type { TargetConfig, TargetDefinition } from '../../src/target/target-config.js';
import { startTargetService, type TargetService } from '../../src/target/target-service.js';
import { MemoryNetwork } from '../../transports/memory.js';
import type { ByteStream, Endpoint, Transport } from '../../transports/transport.js';

export const TARGET_HOST = '192.168.0.10';
export const PORTAL: Endpoint = { host: TARGET_HOST, port: 3260 };
export const INITIATOR_HOST = '10.0.0.1';
export const INITIATOR_NAME = 'iqn.2026-01.test.collie:initiator';

export function memoryTarget(iqn: string, more: Partial<TargetDefinition> = {}): TargetDefinition {
  const text = 'mem:1048576';
  return { iqn, luns: [{ lun: 0, backing: parseBackingSpec(text), text }], ...more };
}

export interface SecurityWorld {
  readonly clock: VirtualClock;
  readonly service: TargetService;
  /** Every byte the initiators sent and received, in order. */
  readonly wire: Buffer[];
  /** What the logger wrote (JSON lines) and every event, as text. */
  logText(): string;
  eventText(): string;
  /** Logs in (and logs out again); the refusal's status (0x0201...) or 0 for success. */
  loginStatus(options: { targetName: string; host?: string } & Partial<InitiatorOptions>): Promise<number>;
  /** SendTargets=All from a discovery session: the target names listed. */
  discover(options?: { host?: string } & Partial<InitiatorOptions>): Promise<string[]>;
  run(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function securityWorld(options: {
  readonly targets: readonly TargetDefinition[];
  readonly challenges?: ChallengeSource;
}): Promise<SecurityWorld> {
  const clock = new VirtualClock(1_000_000);
  const eventLog = new EventLog(clock);
  const events = new MemoryRingSink(50_000);
  eventLog.addSink(events);
  const rng = createRng('security');
  const network = new MemoryNetwork({
    clock,
    rng: rng.fork('network'),
    eventLog,
    options: { delayMsMax: 1 },
  });
  const logChunks: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      logChunks.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger({ level: 'trace', clock, destination });
  const config: TargetConfig = {
    portals: [PORTAL],
    targets: options.targets,
    digests: 'allow',
    nopIntervalMs: 10_000,
    nopTimeoutMs: 15_000,
  };
  const settle = <T>(promise: Promise<T>): Promise<T> => clock.settle(promise, { withinMs: 10 * 60_000 });
  const service = await settle(
    startTargetService(config, {
      transport: network.transport(TARGET_HOST),
      backendTransport: network.transport('backends'),
      clock,
      rng: rng.fork('target'),
      ...(options.challenges === undefined ? {} : { challenges: options.challenges }),
      eventLog,
      logger,
    }),
  );
  const wire: Buffer[] = [];
  const tapped = (host: string): Transport => {
    const base = network.transport(host);
    return {
      listen: (address, onConnection) => base.listen(address, onConnection),
      connect: async (address) => tap(await base.connect(address), wire),
    };
  };
  let initiators = 0;
  const initiatorOptions = (overrides: Partial<InitiatorOptions>): InitiatorOptions => ({
    clock,
    initiatorName: INITIATOR_NAME,
    eventLog,
    rng: rng.fork(`initiator-${++initiators}`),
    ...overrides,
  });
  return {
    clock,
    service,
    wire,
    logText: () => logChunks.join(''),
    eventText: () => JSON.stringify(events.toArray()),
    loginStatus: async ({ host, targetName, ...rest }) => {
      try {
        const initiator = await settle(
          IscsiInitiator.login(tapped(host ?? INITIATOR_HOST), PORTAL, {
            ...initiatorOptions(rest),
            targetName,
          }),
        );
        await settle(initiator.close());
        return 0;
      } catch (error) {
        if (error instanceof IscsiLoginError && error.status !== 0) return error.status;
        throw error;
      }
    },
    discover: async ({ host, ...rest } = {}) => {
      const found = await settle(sendTargets(tapped(host ?? INITIATOR_HOST), PORTAL, initiatorOptions(rest)));
      return found.map((target) => target.name);
    },
    run: async (ms) => {
      const untilMs = clock.now() + ms;
      for (let step = 0; step < 1_000_000; step++) {
        await drainMicrotasks();
        const next = clock.nextDueMs();
        if (next === undefined || next > untilMs) break;
        await clock.runUntilIdle({ stepsMax: 1 });
      }
      clock.advanceTo(untilMs);
    },
    close: () => settle(service.close()),
  };
}

/** The stream, with every byte written and received also appended to `wire`. */
function tap(stream: ByteStream, wire: Buffer[]): ByteStream {
  return {
    id: stream.id,
    local: stream.local,
    remote: stream.remote,
    get bufferedBytes() {
      return stream.bufferedBytes;
    },
    attach: (handlers) =>
      stream.attach({
        ...handlers,
        data: (chunk) => {
          wire.push(Buffer.from(chunk));
          handlers.data(chunk);
        },
      }),
    write: (chunk) => {
      wire.push(Buffer.from(chunk));
      return stream.write(chunk);
    },
    pause: () => stream.pause(),
    resume: () => stream.resume(),
    end: () => stream.end(),
    destroy: (error) => stream.destroy(error),
  };
}

/** Every CHAP_R and CHAP_C value seen on the wire (both directions), without its 0x/0b prefix. */
export function chapValuesOnWire(wire: readonly Buffer[]): string[] {
  const text = Buffer.concat(wire).toString('latin1');
  return [...text.matchAll(/CHAP_[RC]=0[xXbB]([0-9A-Za-z+/=]+)/g)].map((match) => match[1]!);
}
