/**
 * The live-target fuzzer: Collie's real target (startTargetService, the login machine, sessions,
 * SCSI LUs on mem: backends) on the memory network in virtual time, one hostile connection per
 * case next to a well-behaved session of the project's simulated initiator (sim/initiator).
 *
 * Each case:
 * 1. The good initiator logs in (fresh, every case) and gets its LU ready.
 * 2. A hostile connection (raw-iscsi-client.ts) plays one scenario: garbage before login,
 *    fuzzed login requests, a discovery session, or a full session of hostile commands, Data-Out
 *    (answering R2Ts right or wrong), task management, NOP, text, logout and SNACK requests,
 *    mutated bytes and undefined opcodes (hostile-iscsi.ts). It then logs out, ends, resets, or
 *    just stops talking (the target must drop it by its own timers).
 * 3. Oracles: nothing throws out of the target's timers, no unhandled rejection (the runner);
 *    the hostile connection is gone within a bound of virtual time after it stopped (a hang
 *    otherwise), and its session and tasks with it; the good session is still up (unless the
 *    hostile one reset the target, which the protocol allows, or took its identity), its IO in
 *    flight meanwhile got an answer, it saw no protocol violation, and it writes and reads back a
 *    pattern; after it logs out the server has no session, no task, no stream, and no more timers
 *    than when it started (no leak). What the target answered the hostile side is counted: Rejects
 *    by reason and rejected opcode, SCSI status and sense key, login status, connections dropped.
 *    Sometimes the good session has IO in flight during the hostile scenario, and sometimes a
 *    second hostile connection reinstates the first one's session.
 * A world serves BATCH_SIZE cases, then is closed (and its close must finish) and rebuilt.
 */
import type { LogEvent } from '../../src/core/event.js';
import { EventLog } from '../../src/core/event-log.js';
import { silentLogger } from '../../src/core/logger.js';
import { createRng, type Rng } from '../../src/core/rng.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { opcodeName, TmfFunction } from '../../src/iscsi/pdu/opcodes.js';
import type { TextPair } from '../../src/iscsi/pdu/text.js';
import { parseBackingSpec } from '../../src/target/backing.js';
import type { TargetConfig } from '../../src/target/target-config.js';
import { startTargetService, type TargetService } from '../../src/target/target-service.js';
import { MemoryNetwork } from '../../transports/memory.js';
import type { Endpoint } from '../../transports/transport.js';
import { IscsiInitiator } from '../initiator/iscsi-initiator.js';
import { PrOutAction } from '../initiator/scsi-cluster-commands.js';
import { parseSense } from '../initiator/scsi-commands.js';
import {
  check,
  describeError,
  type FuzzBatch,
  type FuzzTarget,
  hostileU32,
  rngBytes,
  runFor,
  runUntil,
  runUntilOrFail,
  settleWithin,
  type Tally,
} from './fuzz-common.js';
import { answerR2t, type HostileCommand, hostileCommand, hostileOther, wireOf } from './hostile-iscsi.js';
import { randomPdu, randomTextData } from './pdu-gen.js';
import { RawIscsiClient } from './raw-iscsi-client.js';

const TARGET_HOST = 'target';
const PORTAL: Endpoint = { host: TARGET_HOST, port: 3260 };
const IQN = 'iqn.2026-11.test.collie:fuzz';
const GOOD_HOST = 'good';
const GOOD_NAME = 'iqn.2026-11.test.collie:good-initiator';
const HOSTILE_HOST = 'hostile';
const BLOCK_BYTES = 512;
const LUN0_BLOCKS = (4 * 1024 * 1024) / BLOCK_BYTES;
/** Keepalive of the fuzz target: a silent hostile connection is dropped 4 s after it stops. */
const NOP_INTERVAL_MS = 2_000;
const NOP_TIMEOUT_MS = 2_000;
/**
 * How long a hostile connection that stopped talking may stay: the longest of the target's own
 * timers (login 15 s, a half-sent PDU 30 s, Data-Out 60 s, keepalive 4 s) plus room.
 */
const HOSTILE_GONE_WITHIN_MS = 120_000;
/** Any single wait for an answer the target owes. */
const ANSWER_WITHIN_MS = 30_000;
export const LIVE_TARGET_BATCH_SIZE = 100;

const config: TargetConfig = {
  portals: [PORTAL],
  targets: [
    {
      iqn: IQN,
      luns: [
        { lun: 0, backing: parseBackingSpec('mem:4M'), text: 'mem:4M' },
        { lun: 1, backing: parseBackingSpec('mem:1M'), text: 'mem:1M' },
      ],
    },
  ],
  digests: 'allow',
  nopIntervalMs: NOP_INTERVAL_MS,
  nopTimeoutMs: NOP_TIMEOUT_MS,
};

/** Watches the event log for what may legitimately end the good session. */
class ResetWatch {
  resets = 0;
  reinstatements = 0;
  write(event: LogEvent): void {
    if (event.type === 'tmf.requested') {
      const fn = (event.data as { function?: number }).function;
      if (fn === TmfFunction.TARGET_COLD_RESET || fn === TmfFunction.TARGET_WARM_RESET) this.resets++;
    } else if (event.type === 'session.reinstated') {
      this.reinstatements++;
    }
  }
}

interface World {
  readonly clock: VirtualClock;
  readonly network: MemoryNetwork;
  readonly eventLog: EventLog;
  readonly service: TargetService;
  readonly watch: ResetWatch;
  readonly rng: Rng;
  /** Timers pending when the world was idle at its start. */
  readonly timersAtRest: number;
}

async function openWorld(seed: string, batchIndex: number): Promise<World> {
  const clock = new VirtualClock(1_000_000);
  const eventLog = new EventLog(clock);
  const watch = new ResetWatch();
  eventLog.addSink(watch);
  const rng = createRng(`${seed}/target-world/${batchIndex}`);
  const network = new MemoryNetwork({
    clock,
    rng: rng.fork('network'),
    eventLog,
    options: { delayMsMax: 1 },
  });
  const started = await settleWithin(
    clock,
    startTargetService(config, {
      transport: network.transport(TARGET_HOST),
      backendTransport: network.transport('backends'),
      clock,
      rng: rng.fork('target'),
      eventLog,
      logger: silentLogger,
    }),
    { withinMs: 10_000, what: 'starting the target' },
  );
  if (!started.ok) throw started.error;
  await runFor(clock, 10);
  return {
    clock,
    network,
    eventLog,
    service: started.value,
    watch,
    rng,
    timersAtRest: clock.pendingCount,
  };
}

// ---- the good session -------------------------------------------------------------------------

async function goodLogin(world: World, rng: Rng): Promise<IscsiInitiator> {
  const login = await settleWithin(
    world.clock,
    IscsiInitiator.login(world.network.transport(GOOD_HOST), PORTAL, {
      clock: world.clock,
      initiatorName: GOOD_NAME,
      targetName: IQN,
      rng: rng.fork('good-initiator'),
      loginTimeoutMs: 20_000,
      commandTimeoutMs: 30_000,
      requestTimeoutMs: 30_000,
      headerDigest: rng.chance(0.3),
      dataDigest: rng.chance(0.3),
    }),
    { withinMs: 30_000, what: 'the good initiator logging in' },
  );
  check(login.ok, `the good initiator cannot log in: ${login.ok ? '' : describeError(login.error)}`);
  return login.value;
}

/**
 * TEST UNIT READY until GOOD, undoing what a hostile initiator may legally have left behind:
 * unit attentions, a stopped unit, persistent reservations.
 */
async function makeReady(world: World, good: IscsiInitiator, tally: Tally): Promise<void> {
  for (let attempt = 0; attempt < 12; attempt++) {
    const result = await command(world, good.testUnitReady(0), 'TEST UNIT READY');
    if (result.status === 0) return;
    if (result.status === 0x18) {
      tally.add('good:cleared-reservation');
      const key = 0x600dn;
      await command(
        world,
        good.persistentReserveOut(0, {
          action: PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY,
          key: 0n,
          serviceActionKey: key,
        }),
        'PR OUT REGISTER AND IGNORE EXISTING KEY',
      );
      await command(world, good.persistentReserveOut(0, { action: PrOutAction.CLEAR, key }), 'PR OUT CLEAR');
      continue;
    }
    const sense = parseSense(result.sense);
    if (result.status === 0x02 && sense?.key === 0x6) continue; // UNIT ATTENTION
    if (result.status === 0x02 && sense?.key === 0x2) {
      tally.add('good:restarted-unit');
      const start = Buffer.alloc(6);
      start[0] = 0x1b;
      start[4] = 0x01; // START
      await command(world, good.command({ lun: 0, cdb: start, expectedLengthBytes: 0 }), 'START STOP UNIT');
      continue;
    }
    if (result.status === 0x08) {
      await runFor(world.clock, 100); // BUSY
      continue;
    }
    check(
      false,
      `the good initiator's TEST UNIT READY answered status 0x${result.status.toString(16)} ` +
        `sense ${sense ? `${sense.key}/${sense.asc.toString(16)}/${sense.ascq.toString(16)}` : 'none'}`,
    );
  }
  check(false, 'the good initiator could not get LUN 0 ready in 12 attempts');
}

async function command<T>(world: World, promise: Promise<T>, what: string): Promise<T> {
  const done = await settleWithin(world.clock, promise, {
    withinMs: 60_000,
    what: `the good initiator's ${what}`,
  });
  check(done.ok, `the good initiator's ${what} failed: ${done.ok ? '' : describeError(done.error)}`);
  return done.value;
}

async function goodIo(world: World, good: IscsiInitiator, rng: Rng, tally: Tally): Promise<void> {
  await makeReady(world, good, tally);
  const blocks = rng.int(1, 17);
  const lba = rng.int(0, LUN0_BLOCKS - blocks);
  const data = rngBytes(rng, blocks * BLOCK_BYTES);
  for (let attempt = 0; ; attempt++) {
    const wrote = await command(world, good.write(0, lba, data, { blockSizeBytes: BLOCK_BYTES }), 'WRITE');
    if (wrote.status === 0) break;
    // A unit attention can arrive between the TEST UNIT READY and the write (a reset the
    // hostile session sent just before it went).
    const sense = parseSense(wrote.sense);
    check(
      attempt < 3 && wrote.status === 0x02 && sense?.key === 0x6,
      `the good initiator's WRITE answered status 0x${wrote.status.toString(16)}`,
    );
  }
  const read = await command(world, good.read(0, lba, blocks, { blockSizeBytes: BLOCK_BYTES }), 'READ');
  check(read.status === 0, `the good initiator's READ answered status 0x${read.status.toString(16)}`);
  check(read.dataIn.equals(data), `the good initiator read back other bytes than it wrote at LBA ${lba}`);
  check(good.violations.length === 0, `the target broke the protocol: ${good.violations.join('; ')}`);
  tally.add('good:io-verified');
}

// ---- the hostile connection ---------------------------------------------------------------------

type Scenario = 'garbage' | 'login-fuzz' | 'discovery' | 'session';

function hostileName(rng: Rng): string {
  return `iqn.2026-11.test.collie:hostile-${rng.int(0, 1000)}`;
}

function loginKeys(
  rng: Rng,
  sessionType: 'Normal' | 'Discovery',
  name = hostileName(rng),
  maxRecvBytes = 65_536,
): TextPair[] {
  const digest = () => rng.pick(['None', 'CRC32C', 'CRC32C,None', 'None,CRC32C']);
  const yesNo = () => rng.pick(['Yes', 'No']);
  const keys: TextPair[] = [
    ['InitiatorName', name],
    ...(sessionType === 'Normal' ? ([['TargetName', IQN]] as TextPair[]) : []),
    ['SessionType', sessionType],
    ['HeaderDigest', digest()],
    ['DataDigest', digest()],
    ['MaxRecvDataSegmentLength', String(maxRecvBytes)],
  ];
  if (sessionType === 'Normal') {
    keys.push(
      ['InitialR2T', yesNo()],
      ['ImmediateData', yesNo()],
      ['MaxBurstLength', String(rng.pick([512, 8192, 65536, 262144, 16776192]))],
      ['FirstBurstLength', String(rng.pick([512, 8192, 65536, 262144]))],
      ['MaxOutstandingR2T', String(rng.int(1, 5))],
      ['ErrorRecoveryLevel', '0'],
      ['MaxConnections', '1'],
    );
  }
  if (rng.chance(0.2)) keys.push([rng.pick(['X-fuzz', 'OFMarker', 'IFMarker', 'TaskReporting']), 'Yes']);
  return rng.shuffle(keys);
}

/** Waits until something new arrives or the connection closes; false when neither came in time. */
async function awaitArrival(world: World, client: RawIscsiClient, withinMs: number): Promise<boolean> {
  const before = client.received.length;
  return runUntil(world.clock, () => client.received.length > before || client.closed !== undefined, {
    withinMs,
    what: 'an answer to the hostile connection',
  });
}

/** A login of the raw client; true once it is in full feature phase. */
async function rawLogin(
  world: World,
  client: RawIscsiClient,
  rng: Rng,
  type: 'Normal' | 'Discovery',
  name = hostileName(rng),
): Promise<boolean> {
  let data: TextPair[] = loginKeys(rng, type, name, client.maxRecvBytes);
  for (let round = 0; round < 6; round++) {
    client.send(client.loginRequest(data));
    data = [];
    if (!(await awaitArrival(world, client, ANSWER_WITHIN_MS))) return false;
    const last = client.received[client.received.length - 1];
    if (last?.kind !== 'login-response') return false;
    if (last.statusClass !== 0) return false;
    if (client.fullFeature) return true;
  }
  return false;
}

/** Sends bytes, then lets a little virtual time pass and answers the R2Ts that came meanwhile. */
async function exchange(
  world: World,
  client: RawIscsiClient,
  rng: Rng,
  pending: Map<number, HostileCommand>,
  answeredR2ts: Set<string>,
  tally: Tally,
): Promise<void> {
  await runFor(world.clock, rng.chance(0.5) ? 0 : rng.int(1, 40));
  for (const r2t of client.all('r2t')) {
    const key = `${r2t.initiatorTaskTag}/${r2t.targetTransferTag}/${r2t.r2tSN}`;
    if (answeredR2ts.has(key)) continue;
    answeredR2ts.add(key);
    const task = pending.get(r2t.initiatorTaskTag);
    if (task === undefined || rng.chance(0.05)) {
      tally.add('hostile:r2t-ignored');
      continue;
    }
    for (const dataOut of answerR2t(rng, client, r2t, task)) {
      const { bytes } = wireOf(rng, client, dataOut, 0.02);
      client.sendRaw(bytes);
    }
  }
}

async function hostileSession(
  world: World,
  client: RawIscsiClient,
  rng: Rng,
  tally: Tally,
  discovery: boolean,
): Promise<void> {
  const pending = new Map<number, HostileCommand>();
  const answeredR2ts = new Set<string>();
  const tags: number[] = [];
  const steps = rng.int(1, 12);
  for (let step = 0; step < steps && client.closed === undefined; step++) {
    // A discovery session gets text (SendTargets) and the rest mostly, commands rarely.
    const choice = discovery && rng.chance(0.9) ? rng.pick([11, 12, 13, 14, 15, 16, 17, 19]) : rng.int(0, 20);
    if (choice < 11) {
      const built = hostileCommand(rng, client);
      pending.set(built.command.initiatorTaskTag, built);
      tags.push(built.command.initiatorTaskTag);
      const { bytes, mutation } = wireOf(rng, client, built.command, 0.08);
      tally.add(`hostile:command${mutation === 'none' ? '' : `:${mutation}`}`);
      client.sendRaw(bytes);
      for (const dataOut of built.unsolicited) client.sendRaw(wireOf(rng, client, dataOut, 0.03).bytes);
    } else if (choice < 18) {
      const pdu = hostileOther(rng, client, tags);
      const { bytes, mutation } = wireOf(rng, client, pdu, 0.08);
      tally.add(`hostile:${pdu.kind}${mutation === 'none' ? '' : `:${mutation}`}`);
      client.sendRaw(bytes);
    } else if (choice < 19) {
      // A burst of commands at once: the command window and the task budget.
      const count = rng.int(2, 40);
      for (let i = 0; i < count; i++) {
        const built = hostileCommand(rng, client);
        pending.set(built.command.initiatorTaskTag, built);
        client.sendRaw(wireOf(rng, client, built.command, 0).bytes);
      }
      tally.add('hostile:burst');
    } else {
      client.sendRaw(rngBytes(rng, rng.int(1, 120)));
      tally.add('hostile:raw-bytes');
    }
    await exchange(world, client, rng, pending, answeredR2ts, tally);
  }
  // Give the target time to answer what it owes (its answers are counted after).
  await runFor(world.clock, rng.int(0, 2_000));
  await exchange(world, client, rng, pending, answeredR2ts, tally);
}

async function hostileScenario(
  world: World,
  client: RawIscsiClient,
  rng: Rng,
  scenario: Scenario,
  tally: Tally,
): Promise<void> {
  switch (scenario) {
    case 'garbage': {
      const { pdu } = randomPdu(rng);
      const login = client.loginRequest(loginKeys(rng, 'Normal'));
      const { bytes } = wireOf(rng, client, rng.chance(0.5) ? login : pdu, 0.9);
      client.sendRaw(rng.chance(0.1) ? rngBytes(rng, rng.int(1, 300)) : bytes);
      await awaitArrival(world, client, ANSWER_WITHIN_MS);
      return;
    }
    case 'login-fuzz': {
      const rounds = rng.int(1, 5);
      for (let round = 0; round < rounds && client.closed === undefined; round++) {
        const keys = rng.chance(0.5) ? loginKeys(rng, rng.chance(0.8) ? 'Normal' : 'Discovery') : [];
        const request = client.loginRequest(keys, {
          data: rng.chance(0.4) ? randomTextData(rng) : client.loginRequest(keys).data,
          transit: rng.chance(0.7),
          continue: rng.chance(0.15),
          csg: rng.chance(0.8) ? rng.pick([0, 1]) : rng.int(0, 4),
          nsg: rng.chance(0.8) ? rng.pick([1, 3]) : rng.int(0, 4),
          versionMax: rng.chance(0.9) ? 0 : rng.int(0, 256),
          versionMin: rng.chance(0.9) ? 0 : rng.int(0, 256),
          tsih: rng.chance(0.85) ? 0 : rng.int(0, 0x10000),
          cid: rng.chance(0.9) ? 1 : rng.int(0, 0x10000),
          initiatorTaskTag: rng.chance(0.8) ? 0x4000_0000 : rng.nextUint32(),
          cmdSN: rng.chance(0.9) ? client.cmdSN : hostileU32(rng),
        });
        const { bytes, mutation } = wireOf(rng, client, request, 0.25);
        tally.add(`hostile:login${mutation === 'none' ? '' : `:${mutation}`}`);
        client.sendRaw(bytes);
        if (!(await awaitArrival(world, client, ANSWER_WITHIN_MS))) return;
      }
      return;
    }
    case 'discovery': {
      if (!(await rawLogin(world, client, rng, 'Discovery'))) {
        tally.add('hostile:discovery-login-refused');
        return;
      }
      await hostileSession(world, client, rng, tally, true);
      return;
    }
    case 'session': {
      const name = hostileName(rng);
      if (!(await rawLogin(world, client, rng, 'Normal', name))) {
        tally.add('hostile:login-refused');
        return;
      }
      await hostileSession(world, client, rng, tally, false);
      if (rng.chance(0.15) && client.closed === undefined) {
        // The same initiator and ISID log in again on a second connection: the target reinstates
        // the session (the first connection drops, its tasks abort) while the first may be busy.
        const second = await connectHostile(world, rng, client.isid);
        tally.add('hostile:reinstatement');
        if (await rawLogin(world, second, rng, 'Normal', name))
          await hostileSession(world, second, rng, tally, false);
        await hostileStop(world, second, rng, tally);
        tallyArrivals(second, tally);
      }
      return;
    }
  }
}

function tallyArrivals(client: RawIscsiClient, tally: Tally): void {
  for (const pdu of client.received) {
    switch (pdu.kind) {
      case 'reject':
        tally.add(
          `answer:reject:0x${pdu.reason.toString(16).padStart(2, '0')}:${opcodeName((pdu.data[0] ?? 0) & 0x3f)}`,
        );
        break;
      case 'scsi-response': {
        const sense = pdu.data.length > 2 ? parseSense(pdu.data.subarray(2)) : undefined;
        tally.add(
          pdu.status === 0x02
            ? `answer:check-condition:key-${sense?.key ?? '?'}`
            : `answer:scsi-status:0x${pdu.status.toString(16).padStart(2, '0')}`,
        );
        break;
      }
      case 'login-response':
        tally.add(
          `answer:login:0x${((pdu.statusClass << 8) | pdu.statusDetail).toString(16).padStart(4, '0')}`,
        );
        break;
      case 'tmf-response':
        tally.add(`answer:tmf:${pdu.response}`);
        break;
      case 'logout-response':
        tally.add(`answer:logout:${pdu.response}`);
        break;
      case 'data-in':
        if (pdu.statusPresent)
          tally.add(`answer:data-in-status:0x${pdu.status.toString(16).padStart(2, '0')}`);
        break;
      case 'bad-pdu':
        // The target broke the protocol (e.g. a PDU above the MaxRecvDataSegmentLength declared).
        check(false, `the target sent the hostile initiator a bad PDU: ${pdu.code} (${pdu.detail ?? ''})`);
        break;
      default:
        tally.add(`answer:${pdu.kind}`);
    }
  }
}

/** How the hostile side stops: a logout, FIN, RST, or silence (the target's timers end it). */
async function hostileStop(world: World, client: RawIscsiClient, rng: Rng, tally: Tally): Promise<void> {
  if (client.closed !== undefined) {
    tally.add('drop:by-target');
    return;
  }
  const style = rng.pick(['logout', 'end', 'destroy', 'silence'] as const);
  tally.add(`stop:${style}`);
  if (style === 'logout' && client.fullFeature) {
    client.send({
      kind: 'logout-request',
      ahs: [],
      data: Buffer.alloc(0),
      immediate: true,
      reasonCode: 0,
      initiatorTaskTag: client.nextItt(),
      cid: 1,
      cmdSN: client.cmdSN,
      expStatSN: client.expStatSN,
    });
    await runUntil(
      world.clock,
      () => client.closed !== undefined || client.all('logout-response').length > 0,
      {
        withinMs: ANSWER_WITHIN_MS,
        what: 'the hostile logout',
      },
    );
    client.stream.end();
  } else if (style === 'end') {
    client.stream.end();
  } else if (style === 'destroy') {
    client.stream.destroy();
  }
  await runUntilOrFail(world.clock, () => client.closed !== undefined, {
    withinMs: HOSTILE_GONE_WITHIN_MS,
    what: `the target closing a hostile connection that stopped (${style})`,
  });
}

// ---- the case -------------------------------------------------------------------------------------

async function connectHostile(world: World, rng: Rng, isid?: string): Promise<RawIscsiClient> {
  const connected = await settleWithin(world.clock, world.network.transport(HOSTILE_HOST).connect(PORTAL), {
    withinMs: 10_000,
    what: 'the hostile connect',
  });
  check(
    connected.ok,
    `the hostile connection was refused: ${connected.ok ? '' : describeError(connected.error)}`,
  );
  return new RawIscsiClient(connected.value, rng.fork(`hostile-client-${rng.nextUint32()}`), isid);
}

/**
 * What another initiator's IO may answer while a hostile one resets, aborts or reserves: GOOD,
 * CHECK CONDITION (a unit attention), BUSY, RESERVATION CONFLICT, TASK SET FULL, TASK ABORTED.
 */
const CONCURRENT_STATUSES: ReadonlySet<number> = new Set([0x00, 0x02, 0x08, 0x18, 0x28, 0x40]);

type ConcurrentOutcome = { kind: 'answered'; status: number } | { kind: 'failed'; error: string };

function concurrentGoodIo(good: IscsiInitiator, rng: Rng): Promise<ConcurrentOutcome> {
  const blocks = rng.int(1, 33);
  const lba = rng.int(0, LUN0_BLOCKS - blocks);
  const io = rng.chance(0.5)
    ? good.write(0, lba, rngBytes(rng, blocks * BLOCK_BYTES), { blockSizeBytes: BLOCK_BYTES })
    : good.read(0, lba, blocks, { blockSizeBytes: BLOCK_BYTES });
  return io.then(
    (result): ConcurrentOutcome => ({ kind: 'answered', status: result.status }),
    (error: unknown): ConcurrentOutcome => ({ kind: 'failed', error: describeError(error) }),
  );
}

async function runLiveCase(world: World, rng: Rng, tally: Tally): Promise<void> {
  const { clock, network, service, watch } = world;
  const resetsBefore = watch.resets;
  const reinstatementsBefore = watch.reinstatements;
  let good = await goodLogin(world, rng);
  await makeReady(world, good, tally);

  const client = await connectHostile(world, rng);
  // Sometimes the good session has IO in flight while the hostile one plays (resets, aborts,
  // reservations of another initiator): it must still get an answer, or a legitimate drop.
  const concurrent = rng.chance(0.3) ? concurrentGoodIo(good, rng) : undefined;
  const scenario = rng.pick(['garbage', 'login-fuzz', 'discovery', 'session', 'session', 'session'] as const);
  tally.add(`scenario:${scenario}`);
  await hostileScenario(world, client, rng, scenario, tally);
  await hostileStop(world, client, rng, tally);
  tallyArrivals(client, tally);
  if (client.sentBytes > 0 && client.received.length === 0) tally.add('drop:without-answer');
  if (concurrent !== undefined) {
    const done = await settleWithin(clock, concurrent, {
      withinMs: ANSWER_WITHIN_MS * 4,
      what: 'the good IO next to the hostile connection',
    });
    check(done.ok, 'unreachable: an observed IO rejected');
    const outcome = done.value;
    if (outcome.kind === 'failed') {
      check(
        watch.resets > resetsBefore || watch.reinstatements > reinstatementsBefore,
        `the good initiator's IO failed next to the hostile ${scenario} connection: ${outcome.error}`,
      );
      tally.add('good:concurrent-io-dropped-by-reset');
    } else {
      check(
        CONCURRENT_STATUSES.has(outcome.status),
        `the good initiator's IO next to the hostile ${scenario} connection answered status 0x${outcome.status.toString(16)}`,
      );
      tally.add(`good:concurrent-io:0x${outcome.status.toString(16).padStart(2, '0')}`);
    }
  }

  // The hostile session is gone: its tasks finished or aborted, only the good session remains.
  await runUntilOrFail(
    clock,
    () => service.server.sessionCount <= 1 && service.server.activeTaskCount === 0,
    {
      withinMs: HOSTILE_GONE_WITHIN_MS,
      what: 'the hostile session ending and its tasks finishing',
    },
  );
  if (good.isClosed) {
    const legitimate = watch.resets > resetsBefore || watch.reinstatements > reinstatementsBefore;
    check(
      legitimate,
      `the good session was dropped by the hostile ${scenario} connection (no reset asked for)`,
    );
    tally.add('good:dropped-by-reset');
    good = await goodLogin(world, rng);
  }
  await goodIo(world, good, rng, tally);
  const closed = await settleWithin(clock, good.close(), { withinMs: 30_000, what: 'the good logout' });
  check(closed.ok, 'the good logout failed');

  // No leak: no session, task or stream left; timers back to the idle world's.
  await runUntilOrFail(
    clock,
    () =>
      service.server.sessionCount === 0 &&
      service.server.activeTaskCount === 0 &&
      network.streams().length === 0 &&
      clock.pendingCount <= world.timersAtRest,
    { withinMs: 30_000, what: 'the target returning to rest (sessions, tasks, streams, timers)' },
  );
}

/** A world of its own for each batch of cases. */
export const liveTargetFuzzTarget: FuzzTarget = {
  name: 'target',
  batchSize: LIVE_TARGET_BATCH_SIZE,
  async openBatch(seed, batchIndex): Promise<FuzzBatch> {
    const world = await openWorld(seed, batchIndex);
    return {
      runCase: (rng, _caseIndex, tally) => runLiveCase(world, rng, tally),
      async close() {
        const closed = await settleWithin(world.clock, world.service.close(), {
          withinMs: 60_000,
          what: 'closing the target',
        });
        check(closed.ok, `closing the target failed: ${closed.ok ? '' : describeError(closed.error)}`);
      },
    };
  },
};
