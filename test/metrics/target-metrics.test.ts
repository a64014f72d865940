/**
 * Goal: the iSCSI target's metrics move when its real code runs: commands, data bytes and
 * latency per LU and direction; CHECK CONDITIONs by sense key (UNIT ATTENTION of a new nexus,
 * ILLEGAL REQUEST of an LBA out of range and of an absent LUN, which counts under lun="absent");
 * sessions and connections open; logins by result; Rejects; CmdSN window stalls (window full,
 * gap, outside the window); task management and the tasks it aborted.
 * Method: Collie's IscsiConnection and IscsiSession with memory LUs on the memory network in
 * virtual time (metrics-world.ts), the simulated initiator speaking real iSCSI to them, a gate in
 * front of LUN 0 to hold commands for a known virtual time; the registry's text is parsed back
 * after each step.
 */
import { describe, expect, test } from 'vitest';
import type { IscsiInitiator } from '../../sim/initiator/iscsi-initiator.js';
import { lunToWire, parseSense, read16Cdb } from '../../sim/initiator/scsi-commands.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { EMPTY_DATA } from '../../src/iscsi/pdu/messages.js';
import { TaskAttribute, TmfFunction, TmfResponse } from '../../src/iscsi/pdu/opcodes.js';
import { serialAdd } from '../../src/iscsi/target/serial-number.js';
import { MetricsRegistry } from '../../src/metrics/metrics-registry.js';
import { senseKeyOf, TargetMetrics } from '../../src/metrics/target-metrics.js';
import { LunGate, TARGET_IQN } from '../iscsi/target/target-world.js';
import { type MetricsWorld, metricsWorld, parsePrometheusText, sampleValue, sumOf } from './metrics-world.js';

const T = { target: TARGET_IQN };

function scrape(world: MetricsWorld) {
  return parsePrometheusText(world.registry.renderText());
}

/** TEST UNIT READY until GOOD (a new nexus first gets UNIT ATTENTION 29/00). */
async function ready(world: MetricsWorld, initiator: IscsiInitiator, lun: number): Promise<void> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const result = await world.settle(initiator.testUnitReady(lun));
    if (result.status === 0) return;
    expect(parseSense(result.sense)?.key).toBe(0x6);
  }
  throw new Error(`LUN ${lun} is not ready after 4 attempts`);
}

async function gatedWorld(commandWindow?: number) {
  const gate = new LunGate();
  const world = await metricsWorld({
    commandWindow,
    wrapLun: (lun, unit) => (lun === 0 ? gate.wrap(unit) : unit),
  });
  const initiator = await world.login();
  await ready(world, initiator, 0);
  await ready(world, initiator, 1);
  return { gate, world, initiator };
}

describe('SCSI commands per LU and direction', () => {
  test('counts, data bytes, latency observations and CHECK CONDITIONs by sense key', async () => {
    const world = await metricsWorld();
    const initiator = await world.login();
    await ready(world, initiator, 0);
    await ready(world, initiator, 1);
    const data = Buffer.alloc(4096, 0xa5);
    expect((await world.settle(initiator.write(0, 0, data))).status).toBe(0);
    expect((await world.settle(initiator.read(0, 0, 8))).dataIn.equals(data)).toBe(true);
    expect((await world.settle(initiator.read(1, 0, 1))).status).toBe(0);
    // LUN 1 is 8 MiB: block 16,384 is past its end.
    const outOfRange = await world.settle(initiator.read(1, 16_384, 1));
    expect(parseSense(outOfRange.sense)?.key).toBe(0x5);
    const absent = await world.settle(initiator.testUnitReady(7));
    expect(parseSense(absent.sense)?.key).toBe(0x5);

    const parsed = scrape(world);
    const lun0 = { ...T, lun: '0' };
    const lun1 = { ...T, lun: '1' };
    expect(sampleValue(parsed, 'collie_scsi_commands_total', { ...lun0, direction: 'write' })).toBe(1);
    expect(sampleValue(parsed, 'collie_scsi_bytes_total', { ...lun0, direction: 'write' })).toBe(4096);
    expect(sampleValue(parsed, 'collie_scsi_commands_total', { ...lun0, direction: 'read' })).toBe(1);
    expect(sampleValue(parsed, 'collie_scsi_bytes_total', { ...lun0, direction: 'read' })).toBe(4096);
    // TEST UNIT READY twice per LU: UNIT ATTENTION, then GOOD.
    expect(sampleValue(parsed, 'collie_scsi_commands_total', { ...lun0, direction: 'other' })).toBe(2);
    expect(sampleValue(parsed, 'collie_scsi_commands_total', { ...lun1, direction: 'read' })).toBe(2);
    expect(sampleValue(parsed, 'collie_scsi_bytes_total', { ...lun1, direction: 'read' })).toBe(512);
    expect(
      sampleValue(parsed, 'collie_scsi_commands_total', { ...T, lun: 'absent', direction: 'other' }),
    ).toBe(1);
    expect(
      sampleValue(parsed, 'collie_scsi_check_conditions_total', { ...lun0, sense_key: 'UNIT_ATTENTION' }),
    ).toBe(1);
    expect(
      sampleValue(parsed, 'collie_scsi_check_conditions_total', { ...lun1, sense_key: 'UNIT_ATTENTION' }),
    ).toBe(1);
    expect(
      sampleValue(parsed, 'collie_scsi_check_conditions_total', { ...lun1, sense_key: 'ILLEGAL_REQUEST' }),
    ).toBe(1);
    expect(
      sampleValue(parsed, 'collie_scsi_check_conditions_total', {
        ...T,
        lun: 'absent',
        sense_key: 'ILLEGAL_REQUEST',
      }),
    ).toBe(1);
    expect(
      sampleValue(parsed, 'collie_scsi_non_good_statuses_total', { ...lun1, status: 'CHECK_CONDITION' }),
    ).toBe(2);
    // Every completed command was timed once.
    const commands = sumOf(parsed, 'collie_scsi_commands_total');
    expect(commands).toBe(9);
    expect(sumOf(parsed, 'collie_scsi_command_seconds_count')).toBe(commands);
    expect(sumOf(parsed, 'collie_scsi_command_seconds_bucket', { le: '+Inf' })).toBe(commands);
    expect(sumOf(parsed, 'collie_scsi_aborted_total')).toBe(0);
    await world.close();
  });

  test('a command held 30 ms in the LU is timed on the virtual clock: it lands in the 50 ms bucket', async () => {
    const { gate, world, initiator } = await gatedWorld();
    gate.close();
    const read = initiator.read(0, 0, 1);
    await world.run(1);
    expect(gate.heldCount).toBe(1);
    await world.run(30);
    gate.open();
    expect((await world.settle(read)).status).toBe(0);
    const parsed = scrape(world);
    const series = { ...T, lun: '0', direction: 'read' };
    expect(sampleValue(parsed, 'collie_scsi_command_seconds_bucket', { ...series, le: '0.025' })).toBe(0);
    expect(sampleValue(parsed, 'collie_scsi_command_seconds_bucket', { ...series, le: '0.05' })).toBe(1);
    expect(sampleValue(parsed, 'collie_scsi_command_seconds_count', series)).toBe(1);
    const sum = sampleValue(parsed, 'collie_scsi_command_seconds_sum', series)!;
    expect(sum).toBeGreaterThanOrEqual(0.03);
    expect(sum).toBeLessThan(0.035);
    await world.close();
  });
});

describe('sessions, connections, logins and Rejects', () => {
  test('the gauges follow logins and logouts; failed logins and Rejects count', async () => {
    const world = await metricsWorld();
    let parsed = scrape(world);
    expect(sampleValue(parsed, 'collie_iscsi_connections')).toBe(0);
    expect(sumOf(parsed, 'collie_iscsi_sessions')).toBe(0);

    const first = await world.login();
    const second = await world.login();
    await expect(world.login({ targetName: 'iqn.2026-01.test.collie:nope' })).rejects.toThrow();
    await world.run(100);
    parsed = scrape(world);
    expect(sampleValue(parsed, 'collie_iscsi_sessions', T)).toBe(2);
    expect(sampleValue(parsed, 'collie_iscsi_connections')).toBe(2);
    expect(sampleValue(parsed, 'collie_iscsi_logins_total', { result: 'success' })).toBe(2);
    expect(sampleValue(parsed, 'collie_iscsi_logins_total', { result: 'failure' })).toBe(1);

    // A NOP-Out with both tags set breaks §11.18: answered with Reject.
    const sequence = first.sequence;
    first.rawSend({
      kind: 'nop-out',
      ahs: [],
      data: EMPTY_DATA,
      immediate: true,
      lun: 0n,
      initiatorTaskTag: 0x7000_0001,
      targetTransferTag: 0x7000_0002,
      cmdSN: sequence.cmdSN,
      expStatSN: sequence.expStatSN,
    });
    await world.run(100);
    expect(sampleValue(scrape(world), 'collie_iscsi_rejects_total')).toBe(1);

    await world.settle(first.logout());
    await world.run(100);
    parsed = scrape(world);
    expect(sampleValue(parsed, 'collie_iscsi_sessions', T)).toBe(1);
    expect(sampleValue(parsed, 'collie_iscsi_connections')).toBe(1);
    second.destroy();
    await world.run(100);
    parsed = scrape(world);
    expect(sampleValue(parsed, 'collie_iscsi_sessions', T)).toBe(0);
    expect(sampleValue(parsed, 'collie_iscsi_connections')).toBe(0);
    await world.close();
  });
});

describe('CmdSN window stalls and task management', () => {
  test('the window filling counts once per episode; a gap and a command outside the window count', async () => {
    const { gate, world, initiator } = await gatedWorld(2);
    const stalls = (reason: string) =>
      sampleValue(scrape(world), 'collie_iscsi_cmdsn_window_stalls_total', { ...T, reason });
    expect(stalls('window_full')).toBe(0);

    gate.close();
    let reads = Array.from({ length: 4 }, (_, index) => initiator.read(0, index, 1));
    await world.run(100);
    expect(gate.heldCount).toBe(2);
    expect(stalls('window_full')).toBe(1);
    gate.open();
    for (const result of await world.settle(Promise.all(reads))) expect(result.status).toBe(0);
    // The last two may or may not fill it again as they go in: it depends on their arrival.
    const afterFirst = stalls('window_full')!;
    expect(afterFirst).toBeGreaterThanOrEqual(1);
    gate.close();
    reads = Array.from({ length: 2 }, (_, index) => initiator.read(0, index, 1));
    await world.run(100);
    expect(stalls('window_full')).toBe(afterFirst + 1);
    gate.open();
    await world.settle(Promise.all(reads));

    // A gap: the first command is held back, the second waits in the target for it.
    let held: Parameters<typeof initiator.rawSend>[0] | undefined;
    initiator.hooks = {
      outgoing: (pdu) => {
        if (pdu.kind === 'scsi-command' && held === undefined) {
          held = pdu;
          return [];
        }
        return pdu;
      },
    };
    const both = [initiator.read(1, 0, 1), initiator.read(1, 1, 1)];
    await world.run(100);
    expect(stalls('gap')).toBe(1);
    initiator.hooks = {};
    initiator.rawSend(held!);
    for (const result of await world.settle(Promise.all(both))) expect(result.status).toBe(0);

    // Outside the window: dropped without an answer.
    const sequence = initiator.sequence;
    initiator.rawSend({
      kind: 'scsi-command',
      ahs: [],
      data: EMPTY_DATA,
      immediate: false,
      final: true,
      read: true,
      write: false,
      attr: TaskAttribute.SIMPLE,
      lun: lunToWire(1),
      initiatorTaskTag: 0x7000_0001,
      expectedDataTransferLength: 512,
      cmdSN: serialAdd(sequence.maxCmdSN, 1),
      expStatSN: sequence.expStatSN,
      cdb: read16Cdb(0, 1),
    });
    await world.run(100);
    expect(stalls('outside_window')).toBe(1);
    await world.close();
  });

  test('LOGICAL UNIT RESET counts by function, and the task it aborted counts as aborted, not completed', async () => {
    const { gate, world, initiator } = await gatedWorld();
    const before = sampleValue(scrape(world), 'collie_scsi_commands_total', {
      ...T,
      lun: '0',
      direction: 'read',
    });
    gate.close();
    const read = initiator.read(0, 0, 1).catch((error: unknown) => error);
    await world.run(10);
    expect(await world.settle(initiator.lunReset(0))).toBe(TmfResponse.FUNCTION_COMPLETE);
    await world.settle(read);
    gate.open();
    await world.run(100);
    const parsed = scrape(world);
    expect(
      sampleValue(parsed, 'collie_iscsi_task_management_total', { ...T, function: 'LOGICAL_UNIT_RESET' }),
    ).toBe(1);
    expect(sampleValue(parsed, 'collie_scsi_aborted_total', { ...T, lun: '0' })).toBe(1);
    expect(sampleValue(parsed, 'collie_scsi_commands_total', { ...T, lun: '0', direction: 'read' })).toBe(
      before,
    );
    expect(TmfFunction.LOGICAL_UNIT_RESET).toBe(5);
    await world.close();
  });
});

describe('TargetMetrics without a world', () => {
  test('a node name labels every series; one LU or target resolves to the same handles', () => {
    const clock = new VirtualClock(0);
    const registry = new MetricsRegistry({ clock });
    const node1 = new TargetMetrics(registry, { node: '1' });
    const node2 = new TargetMetrics(registry, { node: '2' });
    expect(node1.lun('iqn.t', 0)).toBe(node1.lun('iqn.t', 0));
    expect(node1.session('iqn.t')).toBe(node1.session('iqn.t'));
    const lun = node1.lun('iqn.t', 0);
    const startedMs = lun.nowMs();
    clock.advanceTo(2);
    lun.completed(0, 512, startedMs, 0x02, 0x3);
    node2.lun('iqn.t', 0).completed(1, 1024, clock.now(), 0x18, undefined);
    node2.connections.opened();
    const parsed = parsePrometheusText(registry.renderText());
    expect(
      sampleValue(parsed, 'collie_scsi_check_conditions_total', {
        node: '1',
        lun: '0',
        sense_key: 'MEDIUM_ERROR',
      }),
    ).toBe(1);
    expect(
      sampleValue(parsed, 'collie_scsi_non_good_statuses_total', {
        node: '2',
        status: 'RESERVATION_CONFLICT',
      }),
    ).toBe(1);
    expect(sampleValue(parsed, 'collie_scsi_command_seconds_sum', { node: '1', direction: 'read' })).toBe(
      0.002,
    );
    expect(sampleValue(parsed, 'collie_iscsi_connections', { node: '2' })).toBe(1);
    expect(sampleValue(parsed, 'collie_iscsi_connections', { node: '1' })).toBe(0);
  });

  test('senseKeyOf reads fixed and descriptor sense', () => {
    expect(senseKeyOf(Buffer.from([0x70, 0, 0x06, 0, 0, 0, 0, 10]))).toBe(0x6);
    expect(senseKeyOf(Buffer.from([0xf0, 0, 0x23]))).toBe(0x3);
    expect(senseKeyOf(Buffer.from([0x72, 0x05, 0x24, 0x00]))).toBe(0x5);
    expect(senseKeyOf(Buffer.from([0x00]))).toBeUndefined();
  });
});
