/**
 * Goal: each of the target's resource limits (src/iscsi/target/target-limits.ts, docs/limits.md)
 * holds against a hostile peer, answers it the documented way, and leaves a healthy session
 * beside it working: login caps per address and overall, the login timeout, the half-sent PDU
 * timeout, the zero-window reader, sessions per target, the task budgets (TASK SET FULL), the
 * immediate-command room (Reject 0x06), the Data-Out wait and the CmdSN window.
 * Method: the real target on the memory network in virtual time (sim/limits/limits-world.ts);
 * raw connections and simulated initiators play the peers; the server's limitStats() and the
 * peers' close times are the observations.
 */
import { describe, expect, test } from 'vitest';
import { IscsiInitiatorError } from '../../sim/initiator/initiator-errors.js';
import type { IscsiInitiator } from '../../sim/initiator/iscsi-initiator.js';
import { lunToWire, read16Cdb } from '../../sim/initiator/scsi-commands.js';
import {
  healthyLoad,
  LIMITS_TARGET_HOST,
  type LimitsWorld,
  limitsWorld,
} from '../../sim/limits/limits-world.js';
import { encodePduBytes } from '../../src/iscsi/pdu/encode.js';
import type { ScsiCommandPdu } from '../../src/iscsi/pdu/messages.js';
import { EMPTY_DATA } from '../../src/iscsi/pdu/messages.js';
import { RejectReason, TaskAttribute } from '../../src/iscsi/pdu/opcodes.js';
import { encodeTextData } from '../../src/iscsi/pdu/text.js';
import { serialAdd } from '../../src/iscsi/target/serial-number.js';
import { TARGET_LIMITS_DEFAULTS } from '../../src/iscsi/target/target-limits.js';
import { ScsiStatus } from '../../src/scsi/scsi-types.js';
import { memoryNetworkDefaults } from '../../transports/memory.js';

const KIB = 1024;
const MIB = 1024 * KIB;

function refusals(world: LimitsWorld): Record<string, number> {
  return world.server.limitStats().refusals;
}

/** A read of `blocks` 512-byte blocks that the caller does not await at once (errors kept). */
function read(initiator: IscsiInitiator, lba: number, blocks: number) {
  return initiator.read(0, lba, blocks).catch((error: unknown) => error as IscsiInitiatorError);
}

describe('logins', () => {
  test('one address gets loginConnectionsPerAddressMax connections logging in; the rest are reset at accept; all time out', async () => {
    const world = await limitsWorld();
    const cap = TARGET_LIMITS_DEFAULTS.loginConnectionsPerAddressMax;
    const peers = [];
    for (let index = 0; index < cap + 6; index++) peers.push(await world.raw('10.9.0.1'));
    await world.run(10);
    expect(peers.filter((peer) => peer.closedKind === 'reset')).toHaveLength(6);
    expect(world.server.limitStats().unsettledConnections).toBe(cap);
    expect(refusals(world)['login-connections-per-address']).toBe(6);
    // Another address logs in meanwhile and works.
    const healthy = await world.login();
    const load = healthyLoad(healthy);
    const startMs = world.clock.now();
    await world.run(TARGET_LIMITS_DEFAULTS.loginTimeoutMs + 100);
    const result = await world.settle(load.stop());
    expect(result.failures).toBe(0);
    expect(result.ios).toBeGreaterThan(100);
    expect(peers.every((peer) => peer.closedAtMs !== undefined)).toBe(true);
    const lastCloseMs = Math.max(...peers.map((peer) => peer.closedAtMs!));
    expect(lastCloseMs - startMs).toBeLessThanOrEqual(TARGET_LIMITS_DEFAULTS.loginTimeoutMs);
    expect(refusals(world)['login-timeout']).toBe(cap);
    expect(world.server.limitStats().unsettledConnections).toBe(0);
    await world.close();
  });

  test('loginConnectionsMax caps the connections logging in from every address together', async () => {
    const world = await limitsWorld({ limits: { loginConnectionsMax: 10 } });
    const peers = [];
    for (let host = 0; host < 5; host++)
      for (let index = 0; index < 3; index++) peers.push(await world.raw(`10.8.0.${host}`));
    await world.run(10);
    expect(peers.filter((peer) => peer.closedKind === 'reset')).toHaveLength(5);
    expect(refusals(world)['login-connections']).toBe(5);
    await world.close();
  });

  test('a login that does not finish within loginTimeoutMs is dropped, and not before', async () => {
    const world = await limitsWorld();
    const peer = await world.raw('10.7.0.1');
    const startMs = world.clock.now();
    peer.stream.write(Buffer.alloc(20, 0x43)); // half a Login Request's header
    await world.run(TARGET_LIMITS_DEFAULTS.loginTimeoutMs - 10);
    expect(peer.closedAtMs).toBeUndefined();
    await world.run(20);
    expect(peer.closedKind).toBe('reset');
    expect(peer.closedAtMs! - startMs).toBeGreaterThanOrEqual(TARGET_LIMITS_DEFAULTS.loginTimeoutMs - 2);
    expect(refusals(world)['login-timeout']).toBe(1);
    await world.close();
  });

  test('a peer that never closes its side after a refused login is reset after closeTimeoutMs', async () => {
    const world = await limitsWorld();
    const peer = await world.raw('10.7.0.2');
    // The target's answers (and its FIN) are held: the peer looks half-closed to it.
    world.network.partition(LIMITS_TARGET_HOST, '10.7.0.2', { oneWay: true });
    peer.stream.write(
      encodePduBytes(
        {
          kind: 'login-request',
          ahs: [],
          data: encodeTextData([
            ['InitiatorName', 'iqn.2026-01.test.collie:x'],
            ['SessionType', 'Normal'],
            ['TargetName', 'iqn.2026-01.test.collie:nobody'],
            ['AuthMethod', 'None'],
          ]),
          transit: true,
          continue: false,
          csg: 0,
          nsg: 1,
          versionMax: 0,
          versionMin: 0,
          isid: '400000000001',
          tsih: 0,
          initiatorTaskTag: 1,
          cid: 0,
          cmdSN: 1,
          expStatSN: 0,
        },
        { headerDigest: false, dataDigest: false },
      ),
    );
    await world.run(TARGET_LIMITS_DEFAULTS.closeTimeoutMs - 100);
    expect(world.server.limitStats().connections).toBe(1);
    await world.run(200);
    expect(world.server.limitStats().connections).toBe(0);
    expect(refusals(world)['close-timeout']).toBe(1);
    await world.close();
  });

  test('sessionsPerTargetMax: the next login is refused 0x0302; a logout makes room', async () => {
    const world = await limitsWorld({ limits: { sessionsPerTargetMax: 3 } });
    const sessions = [await world.login(), await world.login(), await world.login()];
    const refused = await world.login().catch((error: unknown) => error);
    expect((refused as { status?: number }).status).toBe(0x0302);
    expect(refusals(world)['sessions-per-target']).toBe(1);
    await world.settle(sessions[0]!.logout());
    await world.run(10);
    const again = await world.login();
    expect(again.isClosed).toBe(false);
    await world.close();
  });
});

describe('refused logins', () => {
  test('each refused login counts under refused-logins, logged through the rate-limited reporter', async () => {
    const world = await limitsWorld();
    for (let n = 0; n < 12; n++) {
      const refused = await world
        .login({ targetName: 'iqn.2026-01.test.collie:nobody', host: `10.8.0.${n + 1}` })
        .catch((error: unknown) => error);
      expect((refused as { status?: number }).status).toBe(0x0203);
    }
    expect(refusals(world)['refused-logins']).toBe(12);
    const healthy = await world.login();
    expect(healthy.isClosed).toBe(false);
    await world.close();
  });
});

describe('stalled peers in full feature phase', () => {
  test('a PDU trickled byte by byte (the keepalive stays quiet) is dropped pduTimeoutMs after it began', async () => {
    const world = await limitsWorld();
    const initiator = await world.login();
    const startMs = world.clock.now();
    let closedAtMs = 0;
    void initiator.closed.then(() => {
      closedAtMs = world.clock.now();
    });
    initiator.rawSend(Buffer.alloc(20, 0));
    for (let second = 5; second <= 40 && !initiator.isClosed; second += 5) {
      await world.run(5000);
      initiator.rawSend(Buffer.alloc(1, 0));
    }
    const closed = await world.settle(initiator.closed);
    expect(closed.kind).toBe('reset');
    expect(refusals(world)['pdu-timeout']).toBe(1);
    expect(refusals(world).keepalive).toBeUndefined();
    const closedAfterMs = closedAtMs - startMs;
    expect(closedAfterMs).toBeGreaterThanOrEqual(TARGET_LIMITS_DEFAULTS.pduTimeoutMs);
    expect(closedAfterMs).toBeLessThan(TARGET_LIMITS_DEFAULTS.pduTimeoutMs + 100);
    await world.close();
  });

  test('a zero-window reader is dropped after outputStallTimeoutMs; its backlog stays bounded; a healthy session goes on', async () => {
    const world = await limitsWorld();
    const healthy = await world.login({ host: '10.0.0.2' });
    const stalled = await world.login({ host: '10.0.0.3', commandTimeoutMs: 0 });
    await world.settle(stalled.testUnitReady(0).catch(() => undefined));
    const load = healthyLoad(healthy);
    stalled.pauseReading();
    // 64 reads of 256 KiB: 16 MiB of answers nobody reads.
    const reads = Array.from({ length: 64 }, (_, index) => read(stalled, index * 512, 512));
    const startMs = world.clock.now();
    await world.settle(stalled.closed, { withinMs: 60_000 });
    const closedAfterMs = world.clock.now() - startMs;
    await world.run(1000);
    const result = await world.settle(load.stop());
    await world.settle(Promise.all(reads));
    expect(refusals(world)['output-stall']).toBe(1);
    expect(closedAfterMs).toBeGreaterThanOrEqual(TARGET_LIMITS_DEFAULTS.outputStallTimeoutMs);
    expect(closedAfterMs).toBeLessThan(TARGET_LIMITS_DEFAULTS.outputStallTimeoutMs + 2000);
    const peak = world.server.limitStats().outputPeakBytes;
    expect(peak).toBeGreaterThanOrEqual(memoryNetworkDefaults.highWaterBytes);
    expect(peak).toBeLessThanOrEqual(memoryNetworkDefaults.highWaterBytes + 16 * MIB);
    expect(result).toMatchObject({ failures: 0, connected: true });
    expect(result.ios).toBeGreaterThan(1000);
    await world.close();
  });

  test('a reader that stops for less than outputStallTimeoutMs and reads again keeps its connection', async () => {
    const world = await limitsWorld({ limits: { nopIntervalMs: 0 } });
    const slow = await world.login({ commandTimeoutMs: 0 });
    await world.settle(slow.testUnitReady(0).catch(() => undefined));
    slow.pauseReading();
    const reads = Array.from({ length: 16 }, (_, index) => read(slow, index * 512, 512));
    await world.run(TARGET_LIMITS_DEFAULTS.outputStallTimeoutMs - 5000);
    slow.resumeReading();
    const results = await world.settle(Promise.all(reads));
    for (const each of results) expect(each).toMatchObject({ status: ScsiStatus.GOOD });
    await world.run(TARGET_LIMITS_DEFAULTS.outputStallTimeoutMs);
    expect(slow.isClosed).toBe(false);
    expect(refusals(world)['output-stall']).toBeUndefined();
    await world.close();
  });

  test('a write whose Data-Out never comes drops the connection after dataOutTimeoutMs', async () => {
    const world = await limitsWorld();
    const initiator = await world.login({
      commandTimeoutMs: 0,
      offer: { initialR2T: true, immediateData: false },
    });
    await world.settle(initiator.testUnitReady(0).catch(() => undefined));
    initiator.hooks = { outgoing: (pdu) => (pdu.kind === 'data-out' ? [] : pdu) };
    const write = initiator.write(0, 0, Buffer.alloc(64 * KIB, 1)).catch((error: unknown) => error);
    const startMs = world.clock.now();
    await world.settle(initiator.closed, { withinMs: 2 * TARGET_LIMITS_DEFAULTS.dataOutTimeoutMs });
    const closedAfterMs = world.clock.now() - startMs;
    expect(await world.settle(write)).toBeInstanceOf(IscsiInitiatorError);
    expect(refusals(world)['data-out-stall']).toBe(1);
    expect(closedAfterMs).toBeGreaterThanOrEqual(TARGET_LIMITS_DEFAULTS.dataOutTimeoutMs);
    expect(closedAfterMs).toBeLessThan(TARGET_LIMITS_DEFAULTS.dataOutTimeoutMs + 1000);
    await world.close();
  });
});

describe('tasks', () => {
  test('taskDataBytesPerSessionMax: commands beyond it are answered TASK SET FULL, nothing held', async () => {
    const world = await limitsWorld({ limits: { taskDataBytesPerSessionMax: 1 * MIB } });
    const initiator = await world.login();
    await world.settle(initiator.testUnitReady(0).catch(() => undefined));
    world.gate.close();
    const reads = Array.from({ length: 6 }, (_, index) => read(initiator, index * 512, 512));
    await world.run(100);
    expect(world.gate.heldCount).toBe(4);
    expect(refusals(world)['task-data-per-session']).toBe(2);
    world.gate.open();
    const statuses = (await world.settle(Promise.all(reads))).map(
      (each) => (each as { status: number }).status,
    );
    expect(statuses.sort()).toEqual([0, 0, 0, 0, ScsiStatus.TASK_SET_FULL, ScsiStatus.TASK_SET_FULL]);
    const [budget] = world.server.limitStats().budgets;
    expect(budget).toMatchObject({ tasks: 0, bytes: 0, tasksPeak: 4, bytesPeak: 1 * MIB });
    // A session with no task always gets one command, however large.
    expect((await world.settle(initiator.read(0, 0, 4096))).status).toBe(ScsiStatus.GOOD);
    await world.close();
  });

  test('tasksPerTargetMax is shared by the sessions of a target', async () => {
    const world = await limitsWorld({ limits: { tasksPerTargetMax: 3 } });
    const first = await world.login({ host: '10.0.0.2' });
    const second = await world.login({ host: '10.0.0.3' });
    for (const each of [first, second]) await world.settle(each.testUnitReady(0).catch(() => undefined));
    world.gate.close();
    const reads = [read(first, 0, 1), read(first, 1, 1), read(second, 2, 1), read(second, 3, 1)];
    await world.run(100);
    expect(world.gate.heldCount).toBe(3);
    world.gate.open();
    const statuses = (await world.settle(Promise.all(reads))).map(
      (each) => (each as { status: number }).status,
    );
    // Which command is refused depends on arrival order; exactly one is.
    expect(statuses.sort()).toEqual([0, 0, 0, ScsiStatus.TASK_SET_FULL]);
    expect(refusals(world)['tasks-per-target']).toBe(1);
    await world.close();
  });

  test('a session under its fair share gets its command even when greedy sessions hold the whole budget', async () => {
    const world = await limitsWorld({ limits: { tasksPerTargetMax: 4 } });
    const greedy = await world.login({ host: '10.0.0.2' });
    const modest = await world.login({ host: '10.0.0.3' });
    for (const each of [greedy, modest]) await world.settle(each.testUnitReady(0).catch(() => undefined));
    world.gate.close();
    const greedyReads = Array.from({ length: 6 }, (_, index) => read(greedy, index, 1));
    await world.run(100);
    expect(world.gate.heldCount).toBe(4);
    const modestRead = read(modest, 100, 1);
    await world.run(100);
    expect(world.gate.heldCount).toBe(5);
    world.gate.open();
    expect(await world.settle(modestRead)).toMatchObject({ status: ScsiStatus.GOOD });
    const statuses = (await world.settle(Promise.all(greedyReads))).map(
      (each) => (each as { status: number }).status,
    );
    expect(statuses.filter((status) => status === ScsiStatus.TASK_SET_FULL)).toHaveLength(2);
    await world.close();
  });

  test('immediate commands get as much room again as the window, then Reject 0x06', async () => {
    const world = await limitsWorld({ limits: { commandWindow: 2 } });
    const initiator = await world.login();
    await world.settle(initiator.testUnitReady(0).catch(() => undefined));
    world.gate.close();
    const queued = [read(initiator, 0, 1), read(initiator, 1, 1)];
    const immediate = Array.from({ length: 3 }, (_, index) =>
      initiator
        .command({ lun: 0, cdb: read16Cdb(index, 1), expectedLengthBytes: 512, immediate: true })
        .catch((error: unknown) => error as IscsiInitiatorError),
    );
    await world.run(100);
    expect(world.gate.heldCount).toBe(4);
    world.gate.open();
    const answers = await world.settle(Promise.all([...queued, ...immediate]));
    expect(answers.slice(0, 4).map((each) => (each as { status: number }).status)).toEqual([0, 0, 0, 0]);
    expect((answers[4] as IscsiInitiatorError).rejectReason).toBe(RejectReason.IMMEDIATE_COMMAND_REJECT);
    expect(refusals(world)['immediate-commands']).toBe(1);
    await world.close();
  });

  test('a flood of commands beyond MaxCmdSN is dropped unanswered and holds nothing', async () => {
    const world = await limitsWorld();
    const initiator = await world.login();
    await world.settle(initiator.testUnitReady(0).catch(() => undefined));
    let answered = 0;
    initiator.hooks = {
      incoming: (pdu) => {
        if (pdu.kind === 'scsi-response' || pdu.kind === 'data-in') answered += 1;
      },
    };
    const sequence = initiator.sequence;
    for (let index = 0; index < 1000; index++) {
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
      initiator.rawSend(command);
    }
    await world.run(1000);
    expect(answered).toBe(0);
    expect(refusals(world)['command-window']).toBe(1000);
    expect(world.server.activeTaskCount).toBe(0);
    expect((await world.settle(initiator.read(0, 0, 1))).status).toBe(ScsiStatus.GOOD);
    await world.close();
  });
});
