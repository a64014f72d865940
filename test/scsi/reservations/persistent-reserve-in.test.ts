/**
 * Goal: PERSISTENT RESERVE IN answers carry the exact SPC-4 §6.16 layouts (READ KEYS, READ
 * RESERVATION, REPORT CAPABILITIES, READ FULL STATUS with TransportIDs), are cut to the
 * allocation length without changing the length fields, and refuse reserved service actions
 * (libiscsi PrinServiceactionRange: 0-3 work, 4-1Fh fail; tgt fails it for lacking 3).
 * Method: fixed states, answers compared with bytes written out by hand.
 */
import { describe, expect, test } from 'vitest';
import { answerPersistentReserveIn } from '../../../src/scsi/reservations/persistent-reserve-in.js';
import {
  EMPTY_RESERVATION_STATE,
  type Registration,
  type ReservationState,
  registrationId,
} from '../../../src/scsi/reservations/reservation-state.js';
import { ScsiStatus } from '../../../src/scsi/scsi-types.js';
import { be64, INITIATOR_1, INITIATOR_2, iscsiTransportId, prinCdb, Type } from './pr-fixtures.js';

const reg1: Registration = {
  key: 0x1111n,
  initiatorName: INITIATOR_1,
  isid: '23d000000001',
  relativeTargetPortId: 3,
};
const reg2: Registration = {
  key: 0x2222n,
  initiatorName: INITIATOR_2,
  isid: null,
  relativeTargetPortId: null,
};

const reserved: ReservationState = {
  ...EMPTY_RESERVATION_STATE,
  generation: 0x01020304,
  registrations: [reg1, reg2],
  reservation: { type: Type.WE_RO, holder: registrationId(reg1) },
};

function be32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

describe('READ KEYS', () => {
  test('generation, additional length, keys in registration order', () => {
    const result = answerPersistentReserveIn(reserved, prinCdb(0));
    expect(result.status).toBe(ScsiStatus.GOOD);
    expect([...result.dataIn!]).toEqual([1, 2, 3, 4, 0, 0, 0, 16, ...be64(0x1111n), ...be64(0x2222n)]);
  });

  test('allocation length 8 keeps the header, whose ADDITIONAL LENGTH still counts every key', () => {
    const result = answerPersistentReserveIn(reserved, prinCdb(0, 8));
    expect([...result.dataIn!]).toEqual([1, 2, 3, 4, 0, 0, 0, 16]);
  });

  test('no registrations: 8 bytes, additional length 0', () => {
    expect([...answerPersistentReserveIn(EMPTY_RESERVATION_STATE, prinCdb(0)).dataIn!]).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0,
    ]);
  });
});

describe('READ RESERVATION', () => {
  test('holder key and scope/type', () => {
    const data = answerPersistentReserveIn(reserved, prinCdb(1)).dataIn!;
    expect([...data]).toEqual([1, 2, 3, 4, 0, 0, 0, 16, ...be64(0x1111n), 0, 0, 0, 0, 0, Type.WE_RO, 0, 0]);
  });

  test('All Registrants report key 0', () => {
    const state: ReservationState = { ...reserved, reservation: { type: Type.EA_AR, holder: null } };
    const data = answerPersistentReserveIn(state, prinCdb(1)).dataIn!;
    expect(data.readBigUInt64BE(8)).toBe(0n);
    expect(data[21]).toBe(Type.EA_AR);
  });

  test('no reservation: header only', () => {
    const state: ReservationState = { ...reserved, reservation: null };
    expect([...answerPersistentReserveIn(state, prinCdb(1)).dataIn!]).toEqual([1, 2, 3, 4, 0, 0, 0, 0]);
  });
});

describe('REPORT CAPABILITIES', () => {
  test('length 8, SIP_C ATP_C PTPL_C, TMV with ALLOW COMMANDS 011b, all six types', () => {
    const data = answerPersistentReserveIn(EMPTY_RESERVATION_STATE, prinCdb(2)).dataIn!;
    expect([...data]).toEqual([0, 8, 0x0d, 0xb0, 0xea, 0x01, 0, 0]);
  });

  test('PTPL_A follows the last APTPL bit', () => {
    const data = answerPersistentReserveIn({ ...EMPTY_RESERVATION_STATE, aptpl: true }, prinCdb(2)).dataIn!;
    expect(data[3]).toBe(0xb1);
  });
});

describe('READ FULL STATUS', () => {
  test('one descriptor per registration with R_HOLDER, ALL_TG_PT, port and TransportID', () => {
    const data = answerPersistentReserveIn(reserved, prinCdb(3)).dataIn!;
    const id1 = iscsiTransportId(INITIATOR_1, '23d000000001');
    const id2 = iscsiTransportId(INITIATOR_2);
    const descriptor1 = [
      ...be64(0x1111n),
      0,
      0,
      0,
      0,
      0x01,
      Type.WE_RO,
      0,
      0,
      0,
      0,
      0,
      3,
      ...be32(id1.length),
      ...id1,
    ];
    const descriptor2 = [
      ...be64(0x2222n),
      0,
      0,
      0,
      0,
      0x02,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...be32(id2.length),
      ...id2,
    ];
    const body = [...descriptor1, ...descriptor2];
    expect([...data]).toEqual([1, 2, 3, 4, ...be32(body.length), ...body]);
  });

  test('All Registrants: every descriptor is a holder with the type', () => {
    const state: ReservationState = { ...reserved, reservation: { type: Type.WE_AR, holder: null } };
    const data = answerPersistentReserveIn(state, prinCdb(3)).dataIn!;
    const second = 8 + 24 + data.readUInt32BE(8 + 20);
    expect([data[8 + 12], data[8 + 13], data[second + 12], data[second + 13]]).toEqual([0x01, 7, 0x03, 7]);
  });

  test('allocation length cuts a descriptor short but not the header counts', () => {
    const full = answerPersistentReserveIn(reserved, prinCdb(3)).dataIn!;
    const cut = answerPersistentReserveIn(reserved, prinCdb(3, 20)).dataIn!;
    expect(cut).toEqual(full.subarray(0, 20));
    expect(cut.readUInt32BE(4)).toBe(full.length - 8);
  });
});

describe('service actions', () => {
  test.each(Array.from({ length: 0x20 - 4 }, (_, i) => i + 4))(
    'service action %i is INVALID FIELD IN CDB',
    (sa) => {
      const result = answerPersistentReserveIn(reserved, prinCdb(sa));
      expect(result.status).toBe(ScsiStatus.CHECK_CONDITION);
      expect(result.sense).toMatchObject({
        key: 0x5,
        asc: 0x24,
        ascq: 0,
        fieldPointer: { inCdb: true, byte: 1 },
      });
    },
  );

  test('a short CDB is refused, not read past its end', () => {
    expect(answerPersistentReserveIn(reserved, Buffer.from([0x5e, 0])).status).toBe(
      ScsiStatus.CHECK_CONDITION,
    );
  });
});
