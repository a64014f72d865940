/**
 * Goal: the `Reservations` gate works inside the real LogicalUnit, in its dispatch order (unit
 * attention, ALUA, reservation commands, opcode checks, `check`), for the two libiscsi failures
 * that tgt shows: Reserve6.2Initiators (MODE SENSE must conflict) and ProutReserve.Ownership*
 * (no RESERVATIONS RELEASED on the unregistering holder), plus data really not being written
 * through a conflict and a LUN reset dropping an SPC-2 reservation.
 * Method: createTestLu with a Reservations gate, CDBs padded to 16 bytes as iSCSI carries them.
 */
import { describe, expect, test } from 'vitest';
import { Reservations } from '../../../src/scsi/reservations/reservation-gate.js';
import { ScsiStatus } from '../../../src/scsi/scsi-types.js';
import { UnitAttentions } from '../../../src/scsi/unit-attention.js';
import { createTestLu, makeNexus, senseTriple } from '../../support/scsi-lu.js';
import {
  basicList,
  MODE_SENSE_6,
  ProutSa,
  prinCdb,
  proutCdb,
  RELEASE_6,
  RESERVE_6,
  Type,
} from './pr-fixtures.js';

const TUR = Buffer.from([0, 0, 0, 0, 0, 0]);
const WRITE_10_ONE_BLOCK = Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
const READ_10_ONE_BLOCK = Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);

async function reservedLu() {
  const unitAttentions = new UnitAttentions();
  const gate = new Reservations({ unitAttentions });
  const t = await createTestLu({ unitAttentions, reservations: gate });
  const one = makeNexus(1);
  const two = makeNexus(2);
  await t.run(TUR, { nexus: two }); // consume nexus 2's power-on attention
  return { ...t, gate, one, two };
}

describe('Reservations inside the LogicalUnit', () => {
  test('Reserve6.2Initiators: MODE SENSE(6) from the other initiator is RESERVATION CONFLICT', async () => {
    const { run, one, two } = await reservedLu();
    expect((await run(RESERVE_6, { nexus: one })).status).toBe(ScsiStatus.GOOD);
    expect((await run(MODE_SENSE_6, { nexus: one })).status).toBe(ScsiStatus.GOOD);
    expect((await run(MODE_SENSE_6, { nexus: two })).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect((await run(RESERVE_6, { nexus: two })).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect((await run(RELEASE_6, { nexus: two })).status).toBe(ScsiStatus.GOOD);
    expect((await run(RELEASE_6, { nexus: one })).status).toBe(ScsiStatus.GOOD);
    expect((await run(MODE_SENSE_6, { nexus: two })).status).toBe(ScsiStatus.GOOD);
  });

  test('a write through an Exclusive Access reservation is refused and never reaches the medium', async () => {
    const { run, one, two, backend } = await reservedLu();
    const prout = (who: typeof one, sa: number, list: Buffer, type = 0) =>
      run(proutCdb(sa, type, list.length), { nexus: who, dataOut: list });
    expect((await prout(one, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 1n }))).status).toBe(
      ScsiStatus.GOOD,
    );
    expect((await prout(one, ProutSa.RESERVE, basicList({ key: 1n }), Type.EA)).status).toBe(ScsiStatus.GOOD);
    const block = Buffer.alloc(512, 0xab);
    expect((await run(WRITE_10_ONE_BLOCK, { nexus: two, dataOut: block })).status).toBe(
      ScsiStatus.RESERVATION_CONFLICT,
    );
    expect((await run(READ_10_ONE_BLOCK, { nexus: two })).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect(await backend.read(0, 512)).toEqual(Buffer.alloc(512));
    expect((await run(WRITE_10_ONE_BLOCK, { nexus: one, dataOut: block })).status).toBe(ScsiStatus.GOOD);
  });

  test('Ownership: the holder unregisters and its next PR IN is GOOD, not UNIT ATTENTION', async () => {
    const { run, one, two } = await reservedLu();
    const prout = (who: typeof one, sa: number, list: Buffer, type = 0) =>
      run(proutCdb(sa, type, list.length), { nexus: who, dataOut: list });
    await prout(one, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 1n }));
    await prout(two, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 2n }));
    expect((await prout(one, ProutSa.RESERVE, basicList({ key: 1n }), Type.EA_RO)).status).toBe(
      ScsiStatus.GOOD,
    );
    expect((await prout(one, ProutSa.REGISTER, basicList({ key: 1n }))).status).toBe(ScsiStatus.GOOD);
    const readReservation = await run(prinCdb(1), { nexus: one });
    expect(readReservation.status).toBe(ScsiStatus.GOOD);
    expect(readReservation.dataIn!.readUInt32BE(4)).toBe(0);
    expect(senseTriple(await run(TUR, { nexus: two }))).toEqual([0x6, 0x2a, 0x04]);
  });

  test('LUN reset drops an SPC-2 reservation', async () => {
    const { run, lu, one, two } = await reservedLu();
    await run(RESERVE_6, { nexus: one });
    lu.reset();
    await run(TUR, { nexus: two }); // the reset's unit attention
    expect((await run(RESERVE_6, { nexus: two })).status).toBe(ScsiStatus.GOOD);
  });
});
