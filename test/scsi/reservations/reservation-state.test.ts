/**
 * Goal: the state helpers match nexuses to registrations the way SPC-4 scopes them (one port,
 * every port of an initiator device, every target port), the in-memory store behaves as a
 * compare-and-set cell, and the text form round-trips and rejects damage.
 * Method: direct calls with hand-made nexuses and states.
 */
import { describe, expect, test } from 'vitest';
import {
  decodeReservationState,
  EMPTY_RESERVATION_STATE,
  encodeReservationState,
  InMemoryReservationStore,
  initiatorPortOf,
  nextGeneration,
  PrType,
  type ReservationState,
  registrationCovers,
  registrationsOverlap,
  reservationKeyOf,
} from '../../../src/scsi/reservations/reservation-state.js';
import { INITIATOR_1, nexus } from './pr-fixtures.js';

const REG = { key: 0x1234n, initiatorName: INITIATOR_1, isid: '23d000000001', relativeTargetPortId: 1 };

describe('matching nexuses to registrations', () => {
  test('initiatorPortOf splits the iSCSI initiator port name', () => {
    expect(initiatorPortOf(nexus('IQN.A:B', '23D000000001'))).toEqual({
      name: 'iqn.a:b',
      isid: '23d000000001',
    });
  });

  test('a registration covers only its port, unless ISID or target port is wild', () => {
    expect(registrationCovers(REG, nexus(INITIATOR_1, '23d000000001', 1))).toBe(true);
    expect(registrationCovers(REG, nexus(INITIATOR_1, '23d000000002', 1))).toBe(false);
    expect(registrationCovers(REG, nexus(INITIATOR_1, '23d000000001', 2))).toBe(false);
    expect(registrationCovers({ ...REG, isid: null }, nexus(INITIATOR_1, '23d000000002', 1))).toBe(true);
    expect(
      registrationCovers({ ...REG, relativeTargetPortId: null }, nexus(INITIATOR_1, '23d000000001', 7)),
    ).toBe(true);
    expect(registrationCovers(REG, nexus('iqn.other:x', '23d000000001', 1))).toBe(false);
  });

  test('overlap is symmetric and sees wildcards', () => {
    expect(registrationsOverlap(REG, { ...REG, relativeTargetPortId: null })).toBe(true);
    expect(registrationsOverlap({ ...REG, isid: null }, REG)).toBe(true);
    expect(registrationsOverlap(REG, { ...REG, relativeTargetPortId: 2 })).toBe(false);
  });

  test('READ RESERVATION key: the holder key, 0 for All Registrants', () => {
    const base: ReservationState = { ...EMPTY_RESERVATION_STATE, registrations: [REG] };
    const holder = `${INITIATOR_1},i,0x23d000000001@1`;
    expect(reservationKeyOf({ ...base, reservation: { type: PrType.WRITE_EXCLUSIVE, holder } })).toBe(
      0x1234n,
    );
    expect(
      reservationKeyOf({
        ...base,
        reservation: { type: PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS, holder: null },
      }),
    ).toBe(0n);
  });

  test('PRGENERATION wraps at 2^32', () => {
    expect(nextGeneration(0xffffffff)).toBe(0);
  });
});

describe('InMemoryReservationStore', () => {
  test('compare-and-set writes only over the expected version', async () => {
    const store = new InMemoryReservationStore();
    const first = await store.get();
    const next = { ...first.state, generation: 1 };
    const written = await store.compareAndSet(first.version, next);
    expect(written).toEqual({ version: first.version + 1, state: next });
    expect(await store.compareAndSet(first.version, { ...next, generation: 2 })).toBeUndefined();
    expect((await store.get()).state.generation).toBe(1);
  });
});

describe('text form', () => {
  const state: ReservationState = {
    generation: 7,
    registrations: [REG, { ...REG, key: 0xffffffffffffffffn, isid: null, relativeTargetPortId: null }],
    reservation: {
      type: PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY,
      holder: `${INITIATOR_1},i,0x23d000000001@1`,
    },
    aptpl: true,
    spc2: null,
  };

  test('round-trips, keeping 64-bit keys exact', () => {
    expect(decodeReservationState(encodeReservationState(state))).toEqual(state);
  });

  test.each([
    ['not JSON', '{'],
    ['another format', '{"format":"x"}'],
    ['a bad key', encodeReservationState(state).replace('0000000000001234', 'zz')],
    ['a reserved type', encodeReservationState(state).replace('"type":6', '"type":2')],
  ])('rejects %s with a message that says how to recover', (_what, text) => {
    expect(() => decodeReservationState(text)).toThrow(/reservation state: .*delete it/);
  });
});
