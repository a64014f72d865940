/**
 * A target with metrics for the metrics tests: Collie's real IscsiConnection and IscsiSession (the
 * login machine, memory LUs built by assembleTargets) on the memory network in virtual time, with
 * one MetricsRegistry and TargetMetrics on the virtual clock, and the simulated initiator speaking
 * real iSCSI bytes to it. The listener that makes a connection per stream and a session per login
 * is a few lines here, not IscsiTargetServer: these tests check the connection's and session's own
 * counting, whoever wires the option through the server.
 */
import { IscsiInitiator, type LoginOptions } from '../../sim/initiator/iscsi-initiator.js';
import { EventLog } from '../../src/core/event-log.js';
import { createLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { drainMicrotasks, VirtualClock } from '../../src/core/virtual-clock.js';
import { IscsiConnection } from '../../src/iscsi/target/iscsi-connection.js';
import { IscsiSession } from '../../src/iscsi/target/iscsi-session.js';
import { machineLoginDriver } from '../../src/iscsi/target/machine-login-driver.js';
import type { IscsiLun, TargetNode } from '../../src/iscsi/target/target-node.js';
import { MetricsRegistry } from '../../src/metrics/metrics-registry.js';
import { TargetMetrics } from '../../src/metrics/target-metrics.js';
import { assembleTargets } from '../../src/target/target-assembly.js';
import type { TargetConfig } from '../../src/target/target-config.js';
import { MemoryNetwork } from '../../transports/memory.js';
import type { Listener } from '../../transports/transport.js';
import {
  INITIATOR_HOST,
  INITIATOR_NAME,
  OPEN_TARGET,
  PORTAL,
  TARGET_HOST,
  TARGET_IQN,
} from '../iscsi/target/target-world.js';

export interface MetricsWorld {
  readonly clock: VirtualClock;
  readonly registry: MetricsRegistry;
  settle<T>(promise: Promise<T>): Promise<T>;
  run(ms: number): Promise<void>;
  login(overrides?: Partial<LoginOptions>): Promise<IscsiInitiator>;
  close(): Promise<void>;
}

export async function metricsWorld(
  options: { commandWindow?: number; wrapLun?: (lun: number, unit: IscsiLun) => IscsiLun } = {},
): Promise<MetricsWorld> {
  const clock = new VirtualClock(1_000_000);
  const eventLog = new EventLog(clock);
  const rng = createRng('metrics');
  const network = new MemoryNetwork({
    clock,
    rng: rng.fork('network'),
    eventLog,
    options: { delayMsMax: 1 },
  });
  const logger = createLogger({ level: 'silent', clock });
  const registry = new MetricsRegistry({ clock });
  const metrics = new TargetMetrics(registry);
  const settle = <T>(promise: Promise<T>) => clock.settle(promise, { withinMs: 10 * 60_000 });
  const config: TargetConfig = {
    portals: [PORTAL],
    targets: [OPEN_TARGET],
    digests: 'allow',
    nopIntervalMs: 0,
    nopTimeoutMs: 0,
  };
  const assembled = await settle(
    assembleTargets(config, { transport: network.transport('backends'), clock, rng, eventLog, logger }),
  );
  const wrap = options.wrapLun;
  const targets: TargetNode[] = assembled.targets.map((node) =>
    wrap === undefined
      ? node
      : { ...node, luns: new Map([...node.luns].map(([lun, unit]) => [lun, wrap(lun, unit)])) },
  );
  const loginRng = rng.fork('login');
  const sessions = new Set<IscsiSession>();
  let tsihLast = 0;
  const listener: Listener = await settle(
    network.transport(TARGET_HOST).listen(PORTAL, (stream) => {
      const connection: IscsiConnection = new IscsiConnection({
        stream,
        login: machineLoginDriver({
          connectionId: stream.id,
          initiatorAddress: stream.remote.host,
          policy: { targets, digests: 'allow', portalGroupTag: 1 },
          rng: loginRng,
          eventLog,
        }),
        clock,
        logger,
        eventLog,
        nopIntervalMs: 0,
        metrics,
        hooks: {
          sessionFor: (result, request) => {
            if (!result.target) return undefined;
            tsihLast += 1;
            const session = new IscsiSession({
              identity: {
                tsih: tsihLast,
                isid: request.isid,
                initiatorName: result.initiatorName,
                target: result.target,
              },
              parameters: result.parameters,
              firstCmdSN: request.cmdSN,
              logger,
              eventLog,
              commandWindow: options.commandWindow,
              connectionId: connection.id,
              metrics,
            });
            sessions.add(session);
            return { session, tsih: tsihLast };
          },
          sendTargets: () => [],
          closed: (_closing, session) => {
            if (session === undefined) return;
            sessions.delete(session);
            void session.close();
          },
        },
      });
    }),
  );
  let initiators = 0;
  return {
    clock,
    registry,
    settle,
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
    login: (overrides = {}) =>
      settle(
        IscsiInitiator.login(network.transport(INITIATOR_HOST), PORTAL, {
          clock,
          initiatorName: INITIATOR_NAME,
          eventLog,
          rng: rng.fork(`initiator-${++initiators}`),
          targetName: TARGET_IQN,
          ...overrides,
        }),
      ),
    close: async () => {
      await settle(listener.close());
      await settle(Promise.all([...sessions].map((session) => session.close())));
      await settle(assembled.close());
    },
  };
}

/** One parsed sample of the text format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedText {
  readonly help: ReadonlyMap<string, string>;
  readonly type: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

/**
 * Parses Prometheus text format 0.0.4 strictly enough to catch what a scraper would reject:
 * HELP and TYPE lines, label sets with escapes (\\, \", \n), values (+Inf, -Inf, NaN). Throws
 * naming the line on anything else.
 */
export function parsePrometheusText(text: string): ParsedText {
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: Sample[] = [];
  if (text !== '' && !text.endsWith('\n')) throw new Error('the text does not end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      if (kind === 'HELP') help.set(name!, unescapeText(rest!, false));
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest!))
          throw new Error(`bad TYPE line: ${line}`);
        if (type.has(name!)) throw new Error(`second TYPE line for ${name}`);
        type.set(name!, rest!);
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    samples.push(parseSample(line));
  }
  return { help, type, samples };
}

function parseSample(line: string): Sample {
  const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!head) throw new Error(`bad sample line: ${line}`);
  const name = head[1]!;
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === '{') {
    at += 1;
    while (line[at] !== '}') {
      const labelName = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(at));
      if (!labelName) throw new Error(`bad label at ${at} in: ${line}`);
      at += labelName[0].length;
      let raw = '';
      while (line[at] !== '"') {
        if (at >= line.length) throw new Error(`unterminated label value in: ${line}`);
        if (line[at] === '\\') {
          raw += line.slice(at, at + 2);
          at += 2;
        } else raw += line[at++];
      }
      at += 1;
      labels[labelName[1]!] = unescapeText(raw, true);
      if (line[at] === ',') at += 1;
      else if (line[at] !== '}') throw new Error(`expected , or } at ${at} in: ${line}`);
    }
    at += 1;
  }
  if (line[at] !== ' ') throw new Error(`expected a space before the value in: ${line}`);
  const valueText = line.slice(at + 1);
  const value =
    valueText === '+Inf'
      ? Number.POSITIVE_INFINITY
      : valueText === '-Inf'
        ? Number.NEGATIVE_INFINITY
        : valueText === 'NaN'
          ? Number.NaN
          : Number(valueText);
  if (valueText === '' || (Number.isNaN(value) && valueText !== 'NaN'))
    throw new Error(`bad value "${valueText}" in: ${line}`);
  return { name, labels, value };
}

function unescapeText(text: string, quoted: boolean): string {
  return text.replace(/\\(.)/g, (whole, char: string) => {
    if (char === 'n') return '\n';
    if (char === '\\') return '\\';
    if (char === '"' && quoted) return '"';
    throw new Error(`bad escape ${whole} in "${text}"`);
  });
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
export function sampleValue(
  parsed: ParsedText,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  const matches = parsed.samples.filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (matches.length > 1)
    throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}

/** Sum of every sample named `name` whose labels include `labels`. */
export function sumOf(
  parsed: ParsedText,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  return parsed.samples
    .filter(
      (sample) =>
        sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    )
    .reduce((total, sample) => total + sample.value, 0);
}
