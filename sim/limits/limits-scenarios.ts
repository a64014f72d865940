/**
 * The hostile scenarios of `npm run limits` (limits-main.ts) and of its short form in CI
 * (test/limits/limits-short.test.ts): each runs one attack against a real target on the memory
 * network in virtual time, with a healthy session doing IO beside it, and reports what the target
 * did (the server's limitStats() counts), what the healthy session completed, the peak queued
 * bytes, and a verdict from explicit checks.
 *
 * Rules:
 * - One fresh world per scenario, seeded: a scenario's report is the same on every run.
 * - The healthy session logs in before the attack and must end it connected, with no failed IO and
 *   at least HEALTHY_IOS_MIN IOs; every scenario checks that besides its own expectations.
 * - `short` scales the attack down (CI); the limits are the defaults unless a scenario says
 *   otherwise (then its description prints them).
 */

import { encodePduBytes } from '../../src/iscsi/pdu/encode.js';
import { EMPTY_DATA, type ScsiCommandPdu } from '../../src/iscsi/pdu/messages.js';
import { RESERVED_TAG, RejectReason, TaskAttribute } from '../../src/iscsi/pdu/opcodes.js';
import { serialAdd } from '../../src/iscsi/target/serial-number.js';
import { TARGET_LIMITS_DEFAULTS, type TargetLimits } from '../../src/iscsi/target/target-limits.js';
import { ScsiStatus } from '../../src/scsi/scsi-types.js';
import { memoryNetworkDefaults } from '../../transports/memory.js';
import { IscsiLoginError } from '../initiator/initiator-errors.js';
import type { IscsiInitiator } from '../initiator/iscsi-initiator.js';
import { lunToWire, read16Cdb, write16Cdb } from '../initiator/scsi-commands.js';
import {
  type HealthyResult,
  healthyLoad,
  type LimitsWorld,
  limitsWorld,
  type RawPeer,
} from './limits-world.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const D = TARGET_LIMITS_DEFAULTS;
/** The healthy session must complete at least this many IOs in every scenario. */
export const HEALTHY_IOS_MIN = 100;

export interface Check {
  readonly ok: boolean;
  readonly what: string;
}

export interface ScenarioReport {
  readonly name: string;
  readonly attack: string;
  /** What the target did: label → count. */
  readonly targetDid: ReadonlyArray<readonly [string, number | string]>;
  readonly healthy: HealthyResult;
  readonly outputPeakBytes: number;
  readonly budgetPeakBytes: number;
  readonly budgetPeakTasks: number;
  readonly virtualMs: number;
  readonly checks: readonly Check[];
  readonly pass: boolean;
}

interface AttackResult {
  readonly targetDid: ReadonlyArray<readonly [string, number | string]>;
  readonly checks: Check[];
}

interface Scenario {
  readonly name: string;
  readonly limits?: Partial<TargetLimits>;
  attack(short: boolean): string;
  run(world: LimitsWorld, short: boolean): Promise<AttackResult>;
}

function check(ok: boolean, what: string): Check {
  return { ok, what };
}

function refusals(world: LimitsWorld, limit: string): number {
  return world.server.limitStats().refusals[limit] ?? 0;
}

/** The first 20 bytes of a Login Request header: a login that never completes. */
const HALF_LOGIN = Buffer.alloc(20, 0x43);

/** A PDU header that declares `lengthBytes` of data segment and sends none (opcode given). */
function lyingHeader(opcode: number, lengthBytes: number): Buffer {
  const bhs = encodePduBytes(
    {
      kind: 'nop-out',
      ahs: [],
      data: EMPTY_DATA,
      immediate: true,
      lun: 0n,
      initiatorTaskTag: 0x1234,
      targetTransferTag: RESERVED_TAG,
      cmdSN: 1,
      expStatSN: 0,
    },
    { headerDigest: false, dataDigest: false },
  );
  bhs[0] = opcode;
  bhs.writeUIntBE(lengthBytes, 5, 3);
  return bhs;
}

async function openRaw(world: LimitsWorld, hosts: readonly string[], perHost: number): Promise<RawPeer[]> {
  const peers: RawPeer[] = [];
  for (const host of hosts) {
    for (let index = 0; index < perHost; index++) {
      const peer = await world.raw(host);
      peer.stream.write(HALF_LOGIN);
      peers.push(peer);
    }
  }
  return peers;
}

/** Logs in a session that needs no UNIT ATTENTION any more. */
async function attacker(
  world: LimitsWorld,
  host: string,
  options: Parameters<LimitsWorld['login']>[0] = {},
): Promise<IscsiInitiator> {
  const initiator = await world.login({ host, commandTimeoutMs: 0, ...options });
  await world.settle(initiator.testUnitReady(0).catch(() => undefined));
  return initiator;
}

/** A session whose writes wait for Data-Out forever (it asks for R2Ts and drops its Data-Out). */
async function hoarder(world: LimitsWorld, host: string, name?: string): Promise<IscsiInitiator> {
  const initiator = await attacker(world, host, {
    offer: { initialR2T: true, immediateData: false },
    ...(name === undefined ? {} : { initiatorName: name }),
  });
  initiator.hooks = { outgoing: (pdu) => (pdu.kind === 'data-out' ? [] : pdu) };
  return initiator;
}

async function runUntil(world: LimitsWorld, done: () => boolean, withinMs: number): Promise<void> {
  const untilMs = world.clock.now() + withinMs;
  while (!done() && world.clock.now() < untilMs) await world.run(100);
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'slowloris-one-address',
    attack: (short) =>
      `${short ? 100 : 300} connections from one address each send half a Login Request header and stall`,
    async run(world, short) {
      const count = short ? 100 : 300;
      const peers = await openRaw(world, ['10.66.0.1'], count);
      await world.run(10);
      const fresh = await world.login({ host: '10.0.0.9' }).then(
        () => 'ok',
        (error: unknown) => String(error),
      );
      await world.run(D.loginTimeoutMs + 1000);
      const cap = D.loginConnectionsPerAddressMax;
      return {
        targetDid: [
          [
            'reset at accept (login-connections-per-address)',
            refusals(world, 'login-connections-per-address'),
          ],
          ['dropped by the login timeout', refusals(world, 'login-timeout')],
          ['attack connections still open', peers.filter((peer) => peer.closedAtMs === undefined).length],
          ['fresh login from another address during the attack', fresh],
        ],
        checks: [
          check(
            refusals(world, 'login-connections-per-address') === count - cap,
            `${count - cap} reset at accept`,
          ),
          check(refusals(world, 'login-timeout') === cap, `${cap} timed out after ${D.loginTimeoutMs} ms`),
          check(
            peers.every((peer) => peer.closedAtMs !== undefined),
            'every attack connection closed',
          ),
          check(fresh === 'ok', 'a fresh login from another address succeeds during the attack'),
        ],
      };
    },
  },
  {
    name: 'slowloris-many-addresses',
    attack: (short) =>
      `${short ? 1100 : 2000} connections from ${short ? 55 : 100} addresses (20 each) send half a Login Request header and stall`,
    async run(world, short) {
      const addresses = short ? 55 : 100;
      const hosts = Array.from({ length: addresses }, (_, index) => `10.67.${index >> 8}.${index & 0xff}`);
      const peers = await openRaw(world, hosts, 20);
      await world.run(10);
      const unsettledPeak = world.server.limitStats().unsettledConnections;
      const during = await world.login({ host: '10.0.0.9' }).then(
        () => 'ok',
        (error: unknown) => (error instanceof IscsiLoginError ? error.code : String(error)),
      );
      await world.run(D.loginTimeoutMs + 1000);
      const after = await world.login({ host: '10.0.0.9' }).then(
        () => 'ok',
        (error: unknown) => String(error),
      );
      const refused = refusals(world, 'login-connections');
      return {
        targetDid: [
          ['reset at accept (login-connections)', refused],
          ['connections logging in at the peak', unsettledPeak],
          ['dropped by the login timeout', refusals(world, 'login-timeout')],
          ['fresh login during the flood', during],
          ['fresh login after the timeouts', after],
        ],
        checks: [
          check(
            unsettledPeak <= D.loginConnectionsMax,
            `at most ${D.loginConnectionsMax} logging in at once`,
          ),
          check(
            refused === peers.length - D.loginConnectionsMax + (during === 'ok' ? 0 : 1),
            `${peers.length - D.loginConnectionsMax} attack connections (and any fresh login meanwhile) reset at accept`,
          ),
          check(
            peers.every((peer) => peer.closedAtMs !== undefined),
            'every attack connection closed',
          ),
          check(after === 'ok', 'a fresh login succeeds once the flood timed out'),
        ],
      };
    },
  },
  {
    name: 'half-pdus',
    attack: (short) =>
      `${short ? 10 : 50} logged-in sessions each send 20 bytes of a PDU, then 1 byte every 5 s (the keepalive sees bytes)`,
    async run(world, short) {
      const count = short ? 10 : 50;
      const sessions: IscsiInitiator[] = [];
      for (let index = 0; index < count; index++) sessions.push(await attacker(world, `10.68.0.${index}`));
      const startMs = world.clock.now();
      for (const each of sessions) each.rawSend(Buffer.alloc(20, 0));
      const closedAtMs: number[] = [];
      for (const each of sessions) void each.closed.then(() => closedAtMs.push(world.clock.now() - startMs));
      for (let step = 0; step < 10 && closedAtMs.length < count; step++) {
        await world.run(5000);
        for (const each of sessions) if (!each.isClosed) each.rawSend(Buffer.alloc(1, 0));
      }
      const lastMs = Math.max(0, ...closedAtMs);
      return {
        targetDid: [
          ['dropped by the PDU timeout', refusals(world, 'pdu-timeout')],
          ['dropped by the keepalive', refusals(world, 'keepalive')],
          ['last drop after (ms)', lastMs],
        ],
        checks: [
          check(refusals(world, 'pdu-timeout') === count, `all ${count} dropped by the PDU timeout`),
          check(
            lastMs >= D.pduTimeoutMs && lastMs < D.pduTimeoutMs + 100,
            `dropped ${D.pduTimeoutMs} ms after the PDU began`,
          ),
        ],
      };
    },
  },
  {
    name: 'zero-window-readers',
    attack: (short) =>
      `${short ? 3 : 8} sessions each ask for 64 reads of 256 KiB (16 MiB), then stop reading their socket`,
    async run(world, short) {
      const count = short ? 3 : 8;
      const sessions: IscsiInitiator[] = [];
      for (let index = 0; index < count; index++) sessions.push(await attacker(world, `10.69.0.${index}`));
      const reads: Promise<unknown>[] = [];
      for (const each of sessions) {
        each.pauseReading();
        for (let index = 0; index < 64; index++)
          reads.push(each.read(0, index * 512, 512).catch((error: unknown) => error));
      }
      const startMs = world.clock.now();
      await runUntil(world, () => sessions.every((each) => each.isClosed), 60_000);
      const tookMs = world.clock.now() - startMs;
      await world.settle(Promise.all(reads));
      const peak = world.server.limitStats().outputPeakBytes;
      const bound = memoryNetworkDefaults.highWaterBytes + 16 * MIB;
      return {
        targetDid: [
          ['dropped by the output stall rule', refusals(world, 'output-stall')],
          ['dropped by the keepalive', refusals(world, 'keepalive')],
          ['all dropped after (ms)', tookMs],
        ],
        checks: [
          check(refusals(world, 'output-stall') === count, `all ${count} dropped by the output stall rule`),
          check(tookMs <= D.outputStallTimeoutMs + 1000, `within ${D.outputStallTimeoutMs} ms (+1 s)`),
          check(
            peak <= bound,
            `queued bytes per connection <= transport high water + 16 MiB asked (${bound})`,
          ),
        ],
      };
    },
  },
  {
    name: 'session-flood',
    attack: (short) =>
      `${short ? 1100 : 1500} initiators log in to the one target, one after the other, and stay`,
    async run(world, short) {
      const count = short ? 1100 : 1500;
      let ok = 0;
      const statuses = new Map<string, number>();
      for (let index = 0; index < count; index++) {
        try {
          await world.login({
            host: `10.70.${index >> 8}.${index & 0xff}`,
            initiatorName: `iqn.2026-01.test.collie:flood-${index}`,
          });
          ok += 1;
        } catch (error) {
          const key =
            error instanceof IscsiLoginError && error.status !== undefined
              ? `0x${error.status.toString(16).padStart(4, '0')}`
              : String(error);
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
      }
      const sessions = world.server.sessionCount;
      return {
        targetDid: [
          ['sessions logged in (with the healthy one)', sessions],
          ['logins refused 0x0302 (sessions-per-target)', statuses.get('0x0302') ?? 0],
          ['other login failures', count - ok - (statuses.get('0x0302') ?? 0)],
        ],
        checks: [
          check(sessions === D.sessionsPerTargetMax, `exactly ${D.sessionsPerTargetMax} sessions`),
          check(
            statuses.get('0x0302') === count + 1 - D.sessionsPerTargetMax,
            'the rest refused with 0x0302',
          ),
        ],
      };
    },
  },
  {
    name: 'window-overrun-flood',
    attack: (short) =>
      `one session sends ${short ? 2000 : 10000} commands beyond MaxCmdSN and ${short ? 500 : 2000} immediate writes whose data never comes`,
    async run(world, short) {
      const outside = short ? 2000 : 10000;
      const immediate = short ? 500 : 2000;
      const session = await hoarder(world, '10.71.0.1');
      let answeredOutside = 0;
      let rejected = 0;
      session.hooks = {
        ...session.hooks,
        incoming: (pdu) => {
          if (pdu.kind === 'reject' && pdu.reason === RejectReason.IMMEDIATE_COMMAND_REJECT) rejected += 1;
          else if (
            'initiatorTaskTag' in pdu &&
            pdu.initiatorTaskTag >= 0x7000_0000 &&
            pdu.initiatorTaskTag !== RESERVED_TAG
          )
            answeredOutside += 1;
        },
      };
      const sequence = session.sequence;
      for (let index = 0; index < outside; index++) {
        const command: ScsiCommandPdu = {
          kind: 'scsi-command',
          ahs: [],
          data: EMPTY_DATA,
          immediate: false,
          final: true,
          read: true,
          write: false,
          attr: TaskAttribute.SIMPLE,
          lun: lunToWire(0),
          initiatorTaskTag: 0x7000_0000 + index,
          expectedDataTransferLength: 512,
          cmdSN: serialAdd(sequence.maxCmdSN, 1 + index),
          expStatSN: sequence.expStatSN,
          cdb: read16Cdb(0, 1),
        };
        session.rawSend(command);
      }
      const writes = Array.from({ length: immediate }, (_, index) =>
        session
          .command({
            lun: 0,
            cdb: write16Cdb(index, 1),
            dataOut: Buffer.alloc(512),
            expectedLengthBytes: 512,
            immediate: true,
          })
          .catch((error: unknown) => error),
      );
      await world.run(1000);
      const tasksPeak = world.server.limitStats().budgets[0]?.tasksPeak ?? 0;
      await world.settle(session.closed, { withinMs: D.dataOutTimeoutMs + 1000 });
      await world.settle(Promise.all(writes));
      return {
        targetDid: [
          ['commands beyond MaxCmdSN dropped unanswered', refusals(world, 'command-window')],
          ['of them answered', answeredOutside],
          ['immediate commands Rejected 0x06', refusals(world, 'immediate-commands')],
          ['target tasks at the peak', tasksPeak],
          ['attacker dropped by the Data-Out wait', refusals(world, 'data-out-stall')],
        ],
        checks: [
          check(
            refusals(world, 'command-window') === outside && answeredOutside === 0,
            'out-of-window dropped',
          ),
          check(
            rejected === immediate - 2 * D.commandWindow,
            `immediate commands beyond 2 x ${D.commandWindow} tasks Rejected 0x06`,
          ),
          check(
            tasksPeak <= 2 * D.commandWindow + 1,
            'tasks stay within 2 x commandWindow (+ the healthy one)',
          ),
          check(
            refusals(world, 'data-out-stall') === 1,
            `the hoarder dropped after ${D.dataOutTimeoutMs} ms`,
          ),
        ],
      };
    },
  },
  {
    name: 'oversized-lengths',
    attack: (short) =>
      `${short ? 20 : 100} logins declaring a 16 MiB data segment; a NOP-Out declaring 16 MiB; a READ expecting 4 GiB; ${short ? 20 : 100} WRITEs of 64 MiB whose data never comes`,
    async run(world, short) {
      const logins = short ? 20 : 100;
      const writesCount = short ? 20 : 100;
      const raw: RawPeer[] = [];
      for (let index = 0; index < logins; index++) {
        const peer = await world.raw(`10.72.0.${index & 0xff}`);
        peer.stream.write(lyingHeader(0x43, 0xff_ffff));
        raw.push(peer);
      }
      await world.run(10);
      const droppedAtOnce = raw.filter((peer) => peer.closedKind === 'reset').length;
      const liar = await attacker(world, '10.72.1.1');
      let rejects = 0;
      liar.hooks = {
        incoming: (pdu) => {
          if (pdu.kind === 'reject' && pdu.reason === RejectReason.PROTOCOL_ERROR) rejects += 1;
        },
      };
      liar.rawSend(lyingHeader(0x40, 0xff_ffff));
      const asker = await attacker(world, '10.72.1.2');
      const huge = await world.settle(
        asker.command({ lun: 0, cdb: read16Cdb(0, 1), expectedLengthBytes: 0xffff_ffff, read: true }),
      );
      const writer = await hoarder(world, '10.72.1.3');
      const big = Buffer.alloc(64 * MIB);
      const answers: number[] = [];
      for (let index = 0; index < writesCount; index++) {
        void writer.write(0, 0, big).then(
          (result) => answers.push(result.status),
          () => undefined,
        );
      }
      await world.run(1000);
      const held = world.server.limitStats().budgets[0]!.bytes;
      const busy = answers.filter((status) => status === ScsiStatus.TASK_SET_FULL).length;
      await runUntil(world, () => liar.isClosed && writer.isClosed, D.dataOutTimeoutMs + 1000);
      const after = world.server.limitStats().budgets[0]!;
      return {
        targetDid: [
          ['lying logins dropped at their header', droppedAtOnce],
          ['NOP-Out declaring 16 MiB: Rejected 0x04', rejects],
          ['... then dropped by the PDU timeout', refusals(world, 'pdu-timeout')],
          ['READ expecting 4 GiB answered (status)', `0x${huge.status.toString(16)}`],
          ['64 MiB WRITEs held (bytes reserved)', held],
          ['64 MiB WRITEs answered TASK SET FULL', busy],
          ['hoarder dropped by the Data-Out wait', refusals(world, 'data-out-stall')],
          ['budget bytes after', after.bytes],
        ],
        checks: [
          check(droppedAtOnce === logins, 'lying logins dropped at once'),
          check(
            rejects === 1 && refusals(world, 'pdu-timeout') === 1,
            'lying NOP-Out Rejected, then timed out',
          ),
          check(huge.status === ScsiStatus.CHECK_CONDITION, 'the 4 GiB READ gets CHECK CONDITION'),
          check(held <= D.taskDataBytesPerSessionMax, 'held write buffers <= taskDataBytesPerSessionMax'),
          check(busy === writesCount - D.taskDataBytesPerSessionMax / (64 * MIB), 'the rest TASK SET FULL'),
          check(
            after.bytes < MIB,
            'the budget is free again (the healthy session holds at most one 4 KiB IO)',
          ),
        ],
      };
    },
  },
  {
    name: 'budget-hogs',
    limits: { taskDataBytesPerTargetMax: 64 * MIB, taskDataBytesPerSessionMax: 16 * MIB },
    attack: (short) =>
      `${short ? 6 : 12} sessions each hold 4 WRITEs of 8 MiB whose data never comes (target budget 64 MiB, session 16 MiB)`,
    async run(world, short) {
      const count = short ? 6 : 12;
      const data = Buffer.alloc(8 * MIB);
      for (let index = 0; index < count; index++) {
        const session = await hoarder(world, `10.73.0.${index}`);
        for (let write = 0; write < 4; write++)
          void session.write(0, write * 16384, data).catch(() => undefined);
        await world.run(50);
      }
      await world.run(5000);
      const budget = world.server.limitStats().budgets[0]!;
      return {
        targetDid: [
          ['target budget bytes held', budget.bytes],
          ['target budget bytes at the peak', budget.bytesPeak],
          ['refused task-data-per-session', refusals(world, 'task-data-per-session')],
          ['refused task-data-per-target', refusals(world, 'task-data-per-target')],
        ],
        checks: [
          check(budget.bytesPeak <= 2 * 64 * MIB, 'target bytes stay under twice its budget (fair shares)'),
          check(refusals(world, 'task-data-per-target') > 0, 'the target budget refused the hogs'),
        ],
      };
    },
  },
];

export const SCENARIO_NAMES = SCENARIOS.map((scenario) => scenario.name);

/** Runs the scenarios (all, or those named) and returns their reports. */
export async function runLimits(
  options: { short?: boolean; only?: readonly string[]; onReport?: (report: ScenarioReport) => void } = {},
): Promise<ScenarioReport[]> {
  const short = options.short ?? false;
  const reports: ScenarioReport[] = [];
  for (const scenario of SCENARIOS) {
    if (options.only !== undefined && options.only.length > 0 && !options.only.includes(scenario.name))
      continue;
    const report = await runScenario(scenario, short);
    options.onReport?.(report);
    reports.push(report);
  }
  return reports;
}

async function runScenario(scenario: Scenario, short: boolean): Promise<ScenarioReport> {
  const world = await limitsWorld({
    seed: scenario.name,
    ...(scenario.limits ? { limits: scenario.limits } : {}),
  });
  const startMs = world.clock.now();
  const healthy = await world.login();
  const load = healthyLoad(healthy, world.clock);
  const result = await scenario.run(world, short);
  await world.run(1000);
  const healthyResult = await world.settle(load.stop());
  const stats = world.server.limitStats();
  const budget = stats.budgets[0];
  const checks = [
    check(
      healthyResult.connected && healthyResult.failures === 0 && healthyResult.ios >= HEALTHY_IOS_MIN,
      `the healthy session stays connected with no failed IO and >= ${HEALTHY_IOS_MIN} IOs`,
    ),
    ...result.checks,
  ];
  const virtualMs = world.clock.now() - startMs;
  await world.close();
  return {
    name: scenario.name,
    attack: scenario.attack(short) + (scenario.limits ? ` [limits: ${JSON.stringify(scenario.limits)}]` : ''),
    targetDid: result.targetDid,
    healthy: healthyResult,
    outputPeakBytes: stats.outputPeakBytes,
    budgetPeakBytes: budget?.bytesPeak ?? 0,
    budgetPeakTasks: budget?.tasksPeak ?? 0,
    virtualMs,
    checks,
    pass: checks.every((each) => each.ok),
  };
}

/** A report as text lines (limits-main prints them). */
export function describeReport(report: ScenarioReport, realMs?: number): string[] {
  const lines = [`== ${report.name}: ${report.attack}`];
  for (const [label, value] of report.targetDid) lines.push(`   target: ${label}: ${value}`);
  const healthy = report.healthy;
  const perSecond = report.virtualMs > 0 ? (healthy.ios * 1000) / report.virtualMs : 0;
  lines.push(
    `   healthy session: ${healthy.ios} IOs completed (${perSecond.toFixed(0)}/s virtual), ${healthy.failures} failed (${healthy.busy} TASK SET FULL), ${healthy.connected ? 'connected' : 'DISCONNECTED'}`,
  );
  lines.push(
    `   peaks: output queued to one peer ${formatBytes(report.outputPeakBytes)}, task budget ${formatBytes(report.budgetPeakBytes)} in ${report.budgetPeakTasks} tasks`,
  );
  for (const each of report.checks) lines.push(`   ${each.ok ? 'ok  ' : 'FAIL'} ${each.what}`);
  const time = `${(report.virtualMs / 1000).toFixed(1)} s virtual${realMs === undefined ? '' : `, ${(realMs / 1000).toFixed(1)} s real`}`;
  lines.push(`   ${report.pass ? 'PASS' : 'FAIL'} (${time})`);
  return lines;
}

function formatBytes(bytes: number): string {
  if (bytes >= MIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  if (bytes >= KIB) return `${(bytes / KIB).toFixed(1)} KiB`;
  return `${bytes} B`;
}
