/**
 * Goal: the target's command numbering (RFC 7143 §4.2.2): MaxCmdSN bounds the commands an
 * initiator may have in the target; commands that arrive out of CmdSN order inside the window
 * run in CmdSN order; commands outside the window are dropped without an answer; immediate
 * commands run at once, even with the window closed; the numbers wrap past 2^32.
 * Method: a target with a small command window and a gate in front of LUN 0 that holds commands
 * in the logical unit; the simulated initiator queues on the window it is given, and its
 * `outgoing` hook and `rawSend` reorder or forge commands on purpose.
 */
import { describe, expect, test } from 'vitest';
import { lunToWire, read16Cdb } from '../../../sim/initiator/scsi-commands.js';
import type { ScsiCommandPdu } from '../../../src/iscsi/pdu/messages.js';
import { EMPTY_DATA } from '../../../src/iscsi/pdu/messages.js';
import { TaskAttribute } from '../../../src/iscsi/pdu/opcodes.js';
import { serialAdd } from '../../../src/iscsi/target/serial-number.js';
import { LunGate, pattern, ready, TARGET_IQN, targetWorld } from './target-world.js';

const WINDOW = 4;

async function gatedWorld(options: { commandWindow?: number; cmdSN?: number } = {}) {
  const gate = new LunGate();
  const world = await targetWorld({
    commandWindow: options.commandWindow ?? WINDOW,
    wrapLun: (iqn, lun, unit) => (iqn === TARGET_IQN && lun === 0 ? gate.wrap(unit) : unit),
  });
  const initiator = await world.login(options.cmdSN === undefined ? {} : { cmdSN: options.cmdSN });
  await ready(world, initiator, 0);
  await ready(world, initiator, 1);
  return { gate, world, initiator };
}

function readCommand(fields: { tag: number; cmdSN: number; expStatSN: number }): ScsiCommandPdu {
  return {
    kind: 'scsi-command',
    ahs: [],
    data: EMPTY_DATA,
    immediate: false,
    final: true,
    read: true,
    write: false,
    attr: TaskAttribute.SIMPLE,
    lun: lunToWire(0),
    initiatorTaskTag: fields.tag,
    expectedDataTransferLength: 512,
    cmdSN: fields.cmdSN,
    expStatSN: fields.expStatSN,
    cdb: read16Cdb(0, 1),
  };
}

describe('the CmdSN window', () => {
  test('MaxCmdSN bounds the commands in the target; the rest wait in the initiator', async () => {
    const { gate, world, initiator } = await gatedWorld();
    gate.close();
    const reads = Array.from({ length: 2 * WINDOW }, (_, index) => initiator.read(0, index, 1));
    await world.run(100);
    expect(gate.heldCount).toBe(WINDOW);
    expect(initiator.outstandingCount).toBe(WINDOW);
    expect(initiator.queuedCount).toBe(WINDOW);
    // The initiator used the whole window it was given ...
    expect(initiator.sequence.maxCmdSN).toBe(serialAdd(initiator.sequence.cmdSN, -1));
    // ... and the target, asked with a ping, has it closed: MaxCmdSN = ExpCmdSN - 1 (§4.2.2.1).
    await world.settle(initiator.ping());
    const sequence = initiator.sequence;
    expect(sequence.expCmdSN).toBe(sequence.cmdSN);
    expect(sequence.maxCmdSN).toBe(serialAdd(sequence.expCmdSN, -1));
    gate.open();
    for (const result of await world.settle(Promise.all(reads))) expect(result.status).toBe(0);
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  test('the status of the last command in the target reopens the whole window at once', async () => {
    // With a window of one command, each response must let the next command in; an initiator
    // must not have to wait for the next keepalive NOP-In (10 s here) to learn of the room.
    const { world, initiator } = await gatedWorld({ commandWindow: 1 });
    for (let round = 0; round < 3; round++) {
      const startMs = world.clock.now();
      expect((await world.settle(initiator.read(0, round, 1))).status).toBe(0);
      expect(world.clock.now() - startMs).toBeLessThan(1000);
    }
    const sequence = initiator.sequence;
    expect(sequence.maxCmdSN).toBe(sequence.expCmdSN);
    await world.close();
  });

  test('commands that arrive out of CmdSN order inside the window run in CmdSN order', async () => {
    const { world, initiator } = await gatedWorld();
    const first = pattern(512, 1);
    const second = pattern(512, 2);
    let held: ScsiCommandPdu | undefined;
    initiator.hooks = {
      outgoing: (pdu) => {
        if (pdu.kind === 'scsi-command' && held === undefined) {
          held = pdu;
          return [];
        }
        return pdu;
      },
    };
    const writeFirst = initiator.write(0, 7, first);
    let secondDone = false;
    const writeSecond = initiator.write(0, 7, second).finally(() => {
      secondDone = true;
    });
    await world.run(200);
    expect(held?.cmdSN).toBeDefined();
    // The second command waits in the target for the gap before it.
    expect(secondDone).toBe(false);
    initiator.hooks = {};
    initiator.rawSend(held!);
    const [a, b] = await world.settle(Promise.all([writeFirst, writeSecond]));
    expect(a.status).toBe(0);
    expect(b.status).toBe(0);
    // The first ran first, whatever the arrival order: the block holds the second's data.
    expect((await world.settle(initiator.read(0, 7, 1))).dataIn.equals(second)).toBe(true);
    await world.close();
  });

  test('commands outside the window are dropped without an answer; the session goes on', async () => {
    const { world, initiator } = await gatedWorld();
    const answered: number[] = [];
    initiator.hooks = {
      incoming: (pdu) => {
        if ('initiatorTaskTag' in pdu) answered.push(pdu.initiatorTaskTag);
      },
    };
    const sequence = initiator.sequence;
    initiator.rawSend(
      readCommand({
        tag: 0x7000_0001,
        cmdSN: serialAdd(sequence.maxCmdSN, 1),
        expStatSN: sequence.expStatSN,
      }),
    );
    initiator.rawSend(
      readCommand({
        tag: 0x7000_0002,
        cmdSN: serialAdd(sequence.expCmdSN, -1),
        expStatSN: sequence.expStatSN,
      }),
    );
    initiator.rawSend(
      readCommand({
        tag: 0x7000_0003,
        cmdSN: serialAdd(sequence.expCmdSN, 0x8000_0000),
        expStatSN: sequence.expStatSN,
      }),
    );
    await world.run(2000);
    expect(answered.filter((tag) => tag >= 0x7000_0000)).toEqual([]);
    expect((await world.settle(initiator.read(0, 0, 1))).status).toBe(0);
    expect(initiator.sequence.expCmdSN).toBe(serialAdd(sequence.expCmdSN, 1));
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  test('an immediate command runs while the window is closed and takes no CmdSN', async () => {
    const { gate, world, initiator } = await gatedWorld();
    gate.close();
    const held = Array.from({ length: WINDOW + 1 }, (_, index) => initiator.read(0, index, 1));
    await world.run(100);
    expect(initiator.queuedCount).toBe(1);
    const before = initiator.sequence;
    const immediate = await world.settle(
      initiator.command({ lun: 1, cdb: read16Cdb(0, 1), expectedLengthBytes: 512, immediate: true }),
    );
    expect(immediate.status).toBe(0);
    expect(initiator.sequence.cmdSN).toBe(before.cmdSN);
    expect(initiator.queuedCount).toBe(1);
    gate.open();
    for (const result of await world.settle(Promise.all(held))) expect(result.status).toBe(0);
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  test('CmdSN wraps past 2^32 without losing a command', async () => {
    const { world, initiator } = await gatedWorld({ cmdSN: 0xffff_fff0 });
    const before = initiator.sequence.cmdSN;
    const reads = Array.from({ length: 64 }, (_, index) => initiator.read(0, index, 1));
    for (const result of await world.settle(Promise.all(reads))) expect(result.status).toBe(0);
    expect(initiator.sequence.cmdSN).toBe(serialAdd(before, 64));
    expect(initiator.sequence.cmdSN).toBeLessThan(0x100);
    expect(initiator.violations).toEqual([]);
    await world.close();
  });
});
