/**
 * Goal: task management (RFC 7143 §11.5, §4.2.3.3, SAM-5): ABORT TASK of a task in the logical
 * unit or still collecting data, of an unknown tag; ABORT TASK SET; LOGICAL UNIT RESET (and of a
 * LUN that does not exist); TARGET WARM RESET and TARGET COLD RESET. An aborted task never sends
 * status; the TMF answer comes once the task stopped; resets raise UNIT ATTENTION 29/03.
 * Method: a gate in front of LUN 0 holds commands inside the logical unit; the initiator's
 * `outgoing` hook holds Data-Out to keep a write collecting; the `incoming` hook records every
 * PDU of the aborted tags so a late status would show.
 */
import { describe, expect, test } from 'vitest';
import { IscsiInitiatorError } from '../../../sim/initiator/initiator-errors.js';
import type { IscsiInitiator } from '../../../sim/initiator/iscsi-initiator.js';
import { parseSense } from '../../../sim/initiator/scsi-commands.js';
import type { CommandResult } from '../../../sim/initiator/session-core.js';
import { TmfFunction, TmfResponse } from '../../../src/iscsi/pdu/opcodes.js';
import { LunGate, pattern, ready, TARGET_IQN, targetWorld, type World } from './target-world.js';

async function setUp(offer = {}) {
  const gate = new LunGate();
  const world = await targetWorld({
    wrapLun: (iqn, lun, unit) => (iqn === TARGET_IQN && lun === 0 ? gate.wrap(unit) : unit),
  });
  const initiator = await world.login({ offer });
  await ready(world, initiator, 0);
  await ready(world, initiator, 1);
  const tags: number[] = [];
  const seen: number[] = [];
  initiator.hooks = {
    outgoing: (pdu) => {
      if (pdu.kind === 'scsi-command') tags.push(pdu.initiatorTaskTag);
      return pdu;
    },
    incoming: (pdu) => {
      if (pdu.kind === 'scsi-response' || pdu.kind === 'data-in') seen.push(pdu.initiatorTaskTag);
    },
  };
  return { gate, world, initiator, tags, seen };
}

/** A command's outcome, caught at once so a rejection is never unhandled while the test waits. */
function outcome(command: Promise<CommandResult>): Promise<CommandResult | unknown> {
  return command.catch((error: unknown) => error);
}

/** The command was ended by task management: it fails with ISCSI_INIT_ABORTED. */
async function aborted(world: World, command: Promise<CommandResult | unknown>): Promise<void> {
  const error = await world.settle(command);
  expect(error).toBeInstanceOf(IscsiInitiatorError);
  expect((error as IscsiInitiatorError).code).toBe('ISCSI_INIT_ABORTED');
}

async function expectUnitAttention(world: World, initiator: IscsiInitiator, lun: number, ascq: number) {
  const result = await world.settle(initiator.testUnitReady(lun));
  expect(result.status).toBe(0x02);
  expect(parseSense(result.sense)).toMatchObject({ key: 0x06, asc: 0x29, ascq });
}

describe('task management', () => {
  test('ABORT TASK of a command inside the logical unit: complete, and the task never answers', async () => {
    const { gate, world, initiator, tags, seen } = await setUp();
    gate.close();
    const read = outcome(initiator.read(0, 0, 8));
    await world.run(50);
    expect(gate.heldCount).toBe(1);
    const tag = tags.at(-1)!;
    const answer = initiator.taskManagement(TmfFunction.ABORT_TASK, { lun: 0, referencedTaskTag: tag });
    expect(await world.settle(answer)).toBe(TmfResponse.FUNCTION_COMPLETE);
    await aborted(world, read);
    gate.open();
    await world.run(1000);
    expect(seen).not.toContain(tag);
    expect((await world.settle(initiator.read(0, 0, 8))).status).toBe(0);
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  test('ABORT TASK of a write still collecting data: complete, and later Data-Out is ignored', async () => {
    const { world, initiator, tags, seen } = await setUp({ initialR2T: true, immediateData: false });
    const before = pattern(65536, 1);
    expect((await world.settle(initiator.write(0, 0, before))).status).toBe(0);
    const held: Parameters<typeof initiator.rawSend>[0][] = [];
    const outgoing = initiator.hooks.outgoing!;
    initiator.hooks.outgoing = (pdu) => {
      if (pdu.kind === 'data-out') {
        held.push(pdu);
        return [];
      }
      return outgoing(pdu);
    };
    const write = outcome(initiator.write(0, 0, pattern(65536, 2)));
    await world.run(50);
    expect(held.length).toBeGreaterThan(0);
    const tag = tags.at(-1)!;
    const answer = initiator.taskManagement(TmfFunction.ABORT_TASK, { lun: 0, referencedTaskTag: tag });
    expect(await world.settle(answer)).toBe(TmfResponse.FUNCTION_COMPLETE);
    await aborted(world, write);
    for (const pdu of held) initiator.rawSend(pdu);
    await world.run(1000);
    expect(seen).not.toContain(tag);
    initiator.hooks.outgoing = outgoing;
    expect((await world.settle(initiator.read(0, 0, 128))).dataIn.equals(before)).toBe(true);
    await world.close();
  });

  test('ABORT TASK of a tag the target does not know: TASK DOES NOT EXIST', async () => {
    const { world, initiator } = await setUp();
    const answer = initiator.taskManagement(TmfFunction.ABORT_TASK, { lun: 0, referencedTaskTag: 0x4242 });
    expect(await world.settle(answer)).toBe(TmfResponse.TASK_DOES_NOT_EXIST);
    expect((await world.settle(initiator.read(0, 0, 1))).status).toBe(0);
    await world.close();
  });

  test('ABORT TASK SET ends every task of the LUN and no other', async () => {
    const { gate, world, initiator } = await setUp();
    gate.close();
    const reads = [0, 1, 2].map((lba) => outcome(initiator.read(0, lba, 1)));
    const other = outcome(initiator.read(1, 0, 1));
    await world.run(50);
    expect(gate.heldCount).toBe(3);
    expect(await world.settle(initiator.taskManagement(TmfFunction.ABORT_TASK_SET, { lun: 0 }))).toBe(
      TmfResponse.FUNCTION_COMPLETE,
    );
    for (const read of reads) await aborted(world, read);
    expect(((await world.settle(other)) as CommandResult).status).toBe(0);
    gate.open();
    expect((await world.settle(initiator.read(0, 0, 1))).status).toBe(0);
    await world.close();
  });

  test("LOGICAL UNIT RESET aborts the LUN's tasks and raises UNIT ATTENTION 29/03 on it only", async () => {
    const { gate, world, initiator, seen, tags } = await setUp();
    gate.close();
    const reads = [0, 1, 2].map((lba) => outcome(initiator.read(0, lba, 1)));
    await world.run(50);
    const heldTags = tags.slice(-3);
    expect(await world.settle(initiator.taskManagement(TmfFunction.LOGICAL_UNIT_RESET, { lun: 0 }))).toBe(
      TmfResponse.FUNCTION_COMPLETE,
    );
    for (const read of reads) await aborted(world, read);
    gate.open();
    await world.run(1000);
    for (const tag of heldTags) expect(seen).not.toContain(tag);
    await expectUnitAttention(world, initiator, 0, 0x03);
    expect((await world.settle(initiator.testUnitReady(0))).status).toBe(0);
    expect((await world.settle(initiator.testUnitReady(1))).status).toBe(0);
    await world.close();
  });

  test('LOGICAL UNIT RESET of a LUN that does not exist: LUN DOES NOT EXIST', async () => {
    const { world, initiator } = await setUp();
    expect(await world.settle(initiator.taskManagement(TmfFunction.LOGICAL_UNIT_RESET, { lun: 9 }))).toBe(
      TmfResponse.LUN_DOES_NOT_EXIST,
    );
    await world.close();
  });

  test('TARGET WARM RESET aborts every task, raises 29/03 on every LUN, and keeps the connection', async () => {
    const { gate, world, initiator } = await setUp();
    gate.close();
    const read = outcome(initiator.read(0, 0, 1));
    await world.run(50);
    expect(await world.settle(initiator.taskManagement(TmfFunction.TARGET_WARM_RESET, { lun: 0 }))).toBe(
      TmfResponse.FUNCTION_COMPLETE,
    );
    await aborted(world, read);
    gate.open();
    await expectUnitAttention(world, initiator, 0, 0x03);
    await expectUnitAttention(world, initiator, 1, 0x03);
    expect((await world.settle(initiator.ping(Buffer.from('still here')))).toString()).toBe('still here');
    expect(initiator.isClosed).toBe(false);
    await world.close();
  });

  test('TARGET COLD RESET answers FUNCTION COMPLETE, then drops the connection', async () => {
    const { world, initiator } = await setUp();
    const answer = initiator.taskManagement(TmfFunction.TARGET_COLD_RESET, { lun: 0 });
    expect(await world.settle(answer)).toBe(TmfResponse.FUNCTION_COMPLETE);
    const closed = await world.settle(initiator.closed);
    expect(closed.kind).toBe('end');
    await world.run(100);
    expect(world.server.sessionCount).toBe(0);
    await world.close();
  });

  test('TARGET COLD RESET drops the other sessions of the target too (RFC 7143 §11.5.1)', async () => {
    const { world, initiator } = await setUp();
    const other = await world.login({ host: '10.0.0.2' });
    expect(world.server.sessionCount).toBe(2);
    await world.settle(initiator.taskManagement(TmfFunction.TARGET_COLD_RESET, { lun: 0 }));
    await world.settle(other.closed, { withinMs: 5000 });
    await world.close();
  });

  test('TASK REASSIGN and CLEAR ACA are refused with the RFC answers', async () => {
    const { world, initiator } = await setUp();
    expect(
      await world.settle(
        initiator.taskManagement(TmfFunction.TASK_REASSIGN, { lun: 0, referencedTaskTag: 1 }),
      ),
    ).toBe(TmfResponse.TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED);
    expect(await world.settle(initiator.taskManagement(TmfFunction.CLEAR_ACA, { lun: 0 }))).toBe(
      TmfResponse.FUNCTION_NOT_SUPPORTED,
    );
    await world.close();
  });
});
