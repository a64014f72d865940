/**
 * Goal: the conflict tables of SPC-4 §5.13 / SBC-3 and SPC-2 §5.5.1 hold for every reservation
 * type and for holder, registered and unregistered nexuses, including the rows tgt gets wrong
 * (MODE SENSE under an SPC-2 reservation).
 * Method: one state per reservation type with a holder A, a registered non-holder B and an
 * unregistered C; each row of the expected table is checked through decideAccess.
 */
import { describe, expect, test } from 'vitest';
import { classifyCommand, decideAccess } from '../../../src/scsi/reservations/access-rules.js';
import {
  EMPTY_RESERVATION_STATE,
  type Registration,
  type ReservationState,
  registrationId,
} from '../../../src/scsi/reservations/reservation-state.js';
import {
  ALL_TYPES,
  GET_LBA_STATUS,
  INITIATOR_1,
  INITIATOR_2,
  INITIATOR_3,
  INQUIRY,
  LOG_SENSE,
  MODE_SELECT_6,
  MODE_SENSE_6,
  nexus,
  prinCdb,
  proutCdb,
  READ_10,
  READ_16,
  READ_CAPACITY_10,
  READ_CAPACITY_16,
  RELEASE_6,
  RELEASE_10,
  REPORT_LUNS,
  REPORT_SUPPORTED_OPCODES,
  REPORT_TARGET_PORT_GROUPS,
  REQUEST_SENSE,
  RESERVE_6,
  RESERVE_10,
  SYNCHRONIZE_CACHE_10,
  TEST_UNIT_READY,
  Type,
  UNMAP,
  WRITE_10,
  WRITE_16,
} from './pr-fixtures.js';

const A = nexus(INITIATOR_1);
const B = nexus(INITIATOR_2);
const C = nexus(INITIATOR_3);
const regA: Registration = {
  key: 0xa1n,
  initiatorName: INITIATOR_1,
  isid: '23d000000001',
  relativeTargetPortId: 1,
};
const regB: Registration = {
  key: 0xb2n,
  initiatorName: INITIATOR_2,
  isid: '23d000000001',
  relativeTargetPortId: 1,
};

function reservedBy(type: number): ReservationState {
  const allRegistrants = type === Type.WE_AR || type === Type.EA_AR;
  return {
    ...EMPTY_RESERVATION_STATE,
    registrations: [regA, regB],
    reservation: { type: type as 1, holder: allRegistrants ? null : registrationId(regA) },
  };
}

const ok = 'ok';
const no = 'conflict';

/**
 * [type, registered non-holder B: read, write, mode sense; unregistered C: read, write, mode sense].
 * All Registrants make B a holder, so B's columns are all ok there.
 */
const TABLE: readonly [number, string, string, string, string, string, string][] = [
  [Type.WE, ok, no, ok, ok, no, ok],
  [Type.EA, no, no, ok, no, no, no],
  [Type.WE_RO, ok, ok, ok, ok, no, ok],
  [Type.EA_RO, ok, ok, ok, no, no, no],
  [Type.WE_AR, ok, ok, ok, ok, no, ok],
  [Type.EA_AR, ok, ok, ok, no, no, no],
];

describe('persistent reservations (SPC-4 / SBC-3 tables)', () => {
  test.each(TABLE)(
    'type %i: B read/write/mode-sense %s/%s/%s, C %s/%s/%s',
    (type, bR, bW, bM, cR, cW, cM) => {
      const state = reservedBy(type);
      const verdicts = (who: typeof B) =>
        [READ_10, WRITE_10, MODE_SENSE_6].map((cdb) => decideAccess(state, who, cdb).verdict);
      expect(verdicts(B)).toEqual([bR, bW, bM]);
      expect(verdicts(C)).toEqual([cR, cW, cM]);
    },
  );

  test.each(ALL_TYPES)('type %i: the holder runs everything', (type) => {
    const state = reservedBy(type);
    for (const cdb of [READ_10, WRITE_16, MODE_SELECT_6, SYNCHRONIZE_CACHE_10, UNMAP, MODE_SENSE_6]) {
      expect(decideAccess(state, A, cdb).verdict).toBe(ok);
    }
  });

  test.each(ALL_TYPES)('type %i: reports, TUR and PR IN/OUT pass for an unregistered nexus', (type) => {
    const state = reservedBy(type);
    const always = [
      INQUIRY,
      REPORT_LUNS,
      REQUEST_SENSE,
      TEST_UNIT_READY,
      LOG_SENSE,
      READ_CAPACITY_10,
      READ_CAPACITY_16,
      REPORT_TARGET_PORT_GROUPS,
      prinCdb(0),
      proutCdb(0),
    ];
    for (const cdb of always) expect(decideAccess(state, C, cdb).verdict).toBe(ok);
  });

  test('write-class commands without data (SYNCHRONIZE CACHE) still conflict under WE', () => {
    expect(decideAccess(reservedBy(Type.WE), C, SYNCHRONIZE_CACHE_10).verdict).toBe(no);
    expect(decideAccess(reservedBy(Type.WE), C, READ_16).verdict).toBe(ok);
    expect(decideAccess(reservedBy(Type.EA), C, GET_LBA_STATUS).verdict).toBe(no);
  });

  test('an ALL_TG_PT holder holds through every target port; a port-bound one only through its own', () => {
    const wild = { ...regA, relativeTargetPortId: null };
    const state: ReservationState = {
      ...EMPTY_RESERVATION_STATE,
      registrations: [wild],
      reservation: { type: Type.EA, holder: registrationId(wild) },
    };
    expect(decideAccess(state, nexus(INITIATOR_1, '23d000000001', 9), WRITE_10).verdict).toBe(ok);
    const bound = reservedBy(Type.EA);
    expect(decideAccess(bound, nexus(INITIATOR_1, '23d000000001', 9), WRITE_10).verdict).toBe(no);
  });

  test('RESERVE/RELEASE conflict for everyone while registrations exist (CRH=0)', () => {
    const registeredOnly: ReservationState = { ...EMPTY_RESERVATION_STATE, registrations: [regA] };
    for (const cdb of [RESERVE_6, RELEASE_6, RESERVE_10, RELEASE_10]) {
      expect(decideAccess(registeredOnly, A, cdb).verdict).toBe(no);
      expect(decideAccess(registeredOnly, C, cdb).verdict).toBe(no);
    }
  });
});

describe('SPC-2 reservations', () => {
  const held: ReservationState = {
    ...EMPTY_RESERVATION_STATE,
    spc2: { initiatorPortName: A.initiatorPortName, targetPortName: A.targetPortName },
  };

  test('MODE SENSE, TUR, reads and writes conflict for other nexuses (libiscsi Reserve6.2Initiators)', () => {
    for (const cdb of [
      MODE_SENSE_6,
      TEST_UNIT_READY,
      READ_10,
      WRITE_10,
      RESERVE_6,
      REPORT_SUPPORTED_OPCODES,
    ]) {
      expect(decideAccess(held, B, cdb).verdict).toBe(no);
    }
  });

  test('INQUIRY, REPORT LUNS, REQUEST SENSE, LOG SENSE, READ CAPACITY and RELEASE get through', () => {
    for (const cdb of [
      INQUIRY,
      REPORT_LUNS,
      REQUEST_SENSE,
      LOG_SENSE,
      READ_CAPACITY_10,
      READ_CAPACITY_16,
      RELEASE_6,
    ]) {
      expect(decideAccess(held, B, cdb).verdict).toBe(ok);
    }
  });

  test('the holder runs everything but PERSISTENT RESERVE IN/OUT, which conflict for all', () => {
    for (const cdb of [MODE_SENSE_6, WRITE_10, RESERVE_6, RELEASE_6])
      expect(decideAccess(held, A, cdb).verdict).toBe(ok);
    expect(decideAccess(held, A, prinCdb(0)).verdict).toBe(no);
    expect(decideAccess(held, B, proutCdb(0)).verdict).toBe(no);
  });

  test('the same initiator through another ISID or target port is another nexus', () => {
    expect(decideAccess(held, nexus(INITIATOR_1, '23d000000002'), WRITE_10).verdict).toBe(no);
    expect(decideAccess(held, nexus(INITIATOR_1, '23d000000001', 2), WRITE_10).verdict).toBe(no);
  });
});

describe('classifyCommand', () => {
  test.each([
    ['PREVENT 0 (allow removal)', Buffer.from([0x1e, 0, 0, 0, 0, 0]), 'allowed'],
    ['PREVENT 1', Buffer.from([0x1e, 0, 0, 0, 1, 0]), 'write'],
    ['START STOP UNIT start', Buffer.from([0x1b, 0, 0, 0, 1, 0]), 'allowed'],
    ['START STOP UNIT stop', Buffer.from([0x1b, 0, 0, 0, 0, 0]), 'write'],
    ['READ(32)', Buffer.from([0x7f, 0, 0, 0, 0, 0, 0, 0x18, 0x00, 0x09]), 'read'],
    ['WRITE(32)', Buffer.from([0x7f, 0, 0, 0, 0, 0, 0, 0x18, 0x00, 0x0b]), 'write'],
    ['READ LONG(16)', Buffer.from([0x9e, 0x11]), 'write'],
    ['an unknown opcode', Buffer.from([0xc5]), 'write'],
    ['an empty CDB', Buffer.alloc(0), 'allowed'],
  ])('%s is %s', (_name, cdb, expected) => {
    expect(classifyCommand(cdb)).toBe(expected);
  });
});
