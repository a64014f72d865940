/**
 * Goal: Data-Out PDUs that break the sequence rules (RFC 7143 §11.7 with DataPDUInOrder and
 * DataSequenceInOrder Yes, ErrorRecoveryLevel 0) fail their command with CHECK CONDITION,
 * ABORTED COMMAND, DATA PHASE ERROR (4B/00), write nothing, and leave the connection working;
 * Data-Out for a task the target does not know is dropped quietly.
 * Method: the simulated initiator's `outgoing` hook mangles the Data-Out of one write (DataSN,
 * offset, F bit, length, Target Transfer Tag) or adds one; afterwards the same connection writes
 * and reads normally, and no Reject came back.
 */
import { describe, expect, test } from 'vitest';
import type { IscsiInitiator } from '../../../sim/initiator/iscsi-initiator.js';
import type { OperationalOffer } from '../../../sim/initiator/operational-offer.js';
import { lunToWire, parseSense } from '../../../sim/initiator/scsi-commands.js';
import type { DataOutPdu, InitiatorPdu } from '../../../src/iscsi/pdu/messages.js';
import { RESERVED_TAG } from '../../../src/iscsi/pdu/opcodes.js';
import { pattern, ready, targetWorld } from './target-world.js';

/** One R2T of 1 MiB, answered by four 256 KiB Data-Out PDUs (the target's MRDSL). */
const SOLICITED: Partial<OperationalOffer> = {
  initialR2T: true,
  immediateData: false,
  maxBurstLengthBytes: 1024 * 1024,
};
/** A 256 KiB unsolicited burst (Collie's FirstBurstLength cap, one PDU), then one R2T. */
const UNSOLICITED: Partial<OperationalOffer> = {
  initialR2T: false,
  immediateData: false,
  maxBurstLengthBytes: 1024 * 1024,
  firstBurstLengthBytes: 256 * 1024,
};

type Mangle = (pdu: DataOutPdu) => InitiatorPdu | readonly InitiatorPdu[];

interface Case {
  readonly name: string;
  readonly offer: Partial<OperationalOffer>;
  readonly mangle: Mangle;
  /** The write's size; 1 MiB unless told. */
  readonly sizeBytes?: number;
  /** Mangle only the write's Data-Out, or add to its command (for injected PDUs). */
  readonly onCommand?: (pdu: Extract<InitiatorPdu, { kind: 'scsi-command' }>) => readonly InitiatorPdu[];
}

const CASES: readonly Case[] = [
  {
    name: 'a DataSN that skips ahead in an R2T burst',
    offer: SOLICITED,
    mangle: (pdu) => (pdu.dataSN === 1 ? { ...pdu, dataSN: 5 } : pdu),
  },
  {
    name: 'a DataSN that repeats in an R2T burst',
    offer: SOLICITED,
    mangle: (pdu) => (pdu.dataSN === 2 ? { ...pdu, dataSN: 1 } : pdu),
  },
  {
    name: 'a wrong DataSN in the unsolicited burst',
    offer: UNSOLICITED,
    mangle: (pdu) =>
      pdu.targetTransferTag === RESERVED_TAG && pdu.dataSN === 0 ? { ...pdu, dataSN: 1 } : pdu,
  },
  {
    name: 'a buffer offset that leaves a gap',
    offer: SOLICITED,
    mangle: (pdu) => (pdu.dataSN === 1 ? { ...pdu, bufferOffset: pdu.bufferOffset + 512 } : pdu),
  },
  {
    name: 'a buffer offset that goes back',
    offer: SOLICITED,
    mangle: (pdu) => (pdu.dataSN === 2 ? { ...pdu, bufferOffset: 0 } : pdu),
  },
  {
    name: 'the F bit before the end of the burst',
    offer: SOLICITED,
    mangle: (pdu) => (pdu.dataSN === 0 ? { ...pdu, final: true } : pdu),
  },
  {
    name: 'no F bit at the end of the burst',
    offer: SOLICITED,
    mangle: (pdu) => (pdu.final ? { ...pdu, final: false } : pdu),
  },
  {
    // The write is 64 KiB short of 1 MiB, so the longer last PDU still fits the target's MRDSL.
    name: 'data past the end of the burst',
    offer: SOLICITED,
    sizeBytes: 1024 * 1024 - 65536,
    mangle: (pdu) =>
      pdu.dataSN === 3 ? { ...pdu, data: Buffer.concat([pdu.data, Buffer.alloc(512)]) } : pdu,
  },
  {
    name: 'a Target Transfer Tag the target never issued',
    offer: SOLICITED,
    mangle: (pdu) => ({ ...pdu, targetTransferTag: 0x00ab_cdef }),
  },
  {
    name: 'unsolicited Data-Out although InitialR2T=Yes',
    offer: SOLICITED,
    mangle: (pdu) => pdu,
    onCommand: (command) => [
      command,
      {
        kind: 'data-out',
        ahs: [],
        data: Buffer.alloc(4096, 0xee),
        final: true,
        lun: command.lun,
        initiatorTaskTag: command.initiatorTaskTag,
        targetTransferTag: RESERVED_TAG,
        expStatSN: command.expStatSN,
        dataSN: 0,
        bufferOffset: 0,
      },
    ],
  },
];

async function setUp(offer: Partial<OperationalOffer>) {
  const world = await targetWorld();
  const initiator = await world.login({ offer });
  await ready(world, initiator, 0);
  const rejects: number[] = [];
  return { world, initiator, rejects };
}

function watchRejects(initiator: IscsiInitiator, rejects: number[]): void {
  initiator.hooks = {
    ...initiator.hooks,
    incoming: (pdu) => {
      if (pdu.kind === 'reject') rejects.push(pdu.reason);
    },
  };
}

describe('Data-Out that breaks the sequence rules', () => {
  test.each(CASES)(
    '$name: CHECK CONDITION 0B/4B/00, nothing written, the connection goes on',
    async (each) => {
      const { world, initiator, rejects } = await setUp(each.offer);
      const sizeBytes = each.sizeBytes ?? 1024 * 1024;
      const before = pattern(sizeBytes, 1);
      expect((await world.settle(initiator.write(0, 0, before))).status).toBe(0);
      watchRejects(initiator, rejects);
      initiator.hooks.outgoing = (pdu) => {
        if (pdu.kind === 'data-out') return each.mangle(pdu);
        if (pdu.kind === 'scsi-command' && each.onCommand) return each.onCommand(pdu);
        return pdu;
      };
      const broken = await world.settle(initiator.write(0, 0, pattern(sizeBytes, 2)));
      expect(broken.status).toBe(0x02);
      expect(parseSense(broken.sense)).toMatchObject({ key: 0x0b, asc: 0x4b, ascq: 0x00 });
      initiator.hooks.outgoing = undefined;
      // Nothing of the failed write reached the medium.
      expect((await world.settle(initiator.read(0, 0, sizeBytes / 512))).dataIn.equals(before)).toBe(true);
      // The connection and the session go on.
      const after = pattern(sizeBytes, 3);
      expect((await world.settle(initiator.write(0, 0, after))).status).toBe(0);
      expect((await world.settle(initiator.read(0, 0, sizeBytes / 512))).dataIn.equals(after)).toBe(true);
      expect(rejects).toEqual([]);
      expect(initiator.violations).toEqual([]);
      await world.close();
    },
  );

  test('Data-Out for a task the target does not know is dropped without an answer', async () => {
    const { world, initiator, rejects } = await setUp(SOLICITED);
    watchRejects(initiator, rejects);
    const answered: number[] = [];
    const incoming = initiator.hooks.incoming!;
    initiator.hooks.incoming = (pdu) => {
      incoming(pdu);
      if ('initiatorTaskTag' in pdu) answered.push(pdu.initiatorTaskTag);
    };
    initiator.rawSend({
      kind: 'data-out',
      ahs: [],
      data: Buffer.alloc(512),
      final: true,
      lun: lunToWire(0),
      initiatorTaskTag: 0x6000_0000,
      targetTransferTag: 0x1234,
      expStatSN: initiator.sequence.expStatSN,
      dataSN: 0,
      bufferOffset: 0,
    });
    await world.run(1000);
    expect(answered).not.toContain(0x6000_0000);
    expect(rejects).toEqual([]);
    expect((await world.settle(initiator.read(0, 0, 1))).status).toBe(0);
    await world.close();
  });
});
