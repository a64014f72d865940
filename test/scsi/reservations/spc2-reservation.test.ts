/**
 * Goal: SPC-2 RESERVE/RELEASE keep one holder, never let a non-holder release it, refuse
 * third-party forms, give way to persistent registrations (CRH=0), and end on LUN/target reset
 * and on loss of the holder's nexus only.
 * Method: the pure planner and the reset/loss transforms on hand-made states.
 */
import { describe, expect, test } from 'vitest';
import {
  EMPTY_RESERVATION_STATE,
  type ReservationState,
} from '../../../src/scsi/reservations/reservation-state.js';
import { afterLunReset, afterNexusLoss, planSpc2 } from '../../../src/scsi/reservations/spc2-reservation.js';
import { ScsiStatus } from '../../../src/scsi/scsi-types.js';
import {
  INITIATOR_1,
  INITIATOR_2,
  nexus,
  RELEASE_6,
  RELEASE_10,
  RESERVE_6,
  RESERVE_10,
} from './pr-fixtures.js';

const A = nexus(INITIATOR_1);
const B = nexus(INITIATOR_2);

function reserved(by = A): ReservationState {
  const p = planSpc2(EMPTY_RESERVATION_STATE, by, RESERVE_6);
  if (p.kind !== 'apply') throw new Error(p.why);
  return p.next;
}

describe('planSpc2', () => {
  test('RESERVE(6) and (10) take an unreserved LU for the nexus', () => {
    for (const cdb of [RESERVE_6, RESERVE_10]) {
      const p = planSpc2(EMPTY_RESERVATION_STATE, A, cdb);
      expect(p.kind === 'apply' && p.next.spc2).toEqual({
        initiatorPortName: A.initiatorPortName,
        targetPortName: A.targetPortName,
      });
    }
  });

  test('the holder may reserve again; another nexus conflicts', () => {
    const state = reserved();
    expect(planSpc2(state, A, RESERVE_6)).toMatchObject({
      kind: 'answer',
      result: { status: ScsiStatus.GOOD },
    });
    expect(planSpc2(state, B, RESERVE_10)).toMatchObject({
      kind: 'answer',
      result: { status: ScsiStatus.RESERVATION_CONFLICT },
    });
  });

  test('RELEASE from a non-holder is GOOD and leaves the reservation; from the holder it releases', () => {
    const state = reserved();
    expect(planSpc2(state, B, RELEASE_6)).toMatchObject({
      kind: 'answer',
      result: { status: ScsiStatus.GOOD },
    });
    const p = planSpc2(state, A, RELEASE_10);
    expect(p.kind === 'apply' && p.next.spc2).toBeNull();
  });

  test('third-party RESERVE(10)/RELEASE(10): INVALID FIELD IN CDB', () => {
    const thirdParty = Buffer.from(RESERVE_10);
    thirdParty[1] = 0x10;
    expect(planSpc2(EMPTY_RESERVATION_STATE, A, thirdParty)).toMatchObject({
      kind: 'answer',
      result: { status: ScsiStatus.CHECK_CONDITION, sense: { asc: 0x24, fieldPointer: { byte: 1, bit: 4 } } },
    });
  });

  test('with persistent registrations both commands conflict', () => {
    const state: ReservationState = {
      ...EMPTY_RESERVATION_STATE,
      registrations: [{ key: 1n, initiatorName: INITIATOR_1, isid: '23d000000001', relativeTargetPortId: 1 }],
    };
    for (const cdb of [RESERVE_6, RELEASE_6]) {
      expect(planSpc2(state, A, cdb)).toMatchObject({ result: { status: ScsiStatus.RESERVATION_CONFLICT } });
    }
  });
});

describe('end of an SPC-2 reservation', () => {
  test('LUN reset releases it and keeps persistent state', () => {
    const state = { ...reserved(), generation: 5 };
    expect(afterLunReset(state)).toEqual({ ...state, spc2: null });
    expect(afterLunReset(EMPTY_RESERVATION_STATE)).toBe(EMPTY_RESERVATION_STATE);
  });

  test("only the holder's nexus loss releases it", () => {
    const state = reserved();
    expect(afterNexusLoss(state, B)).toBe(state);
    expect(afterNexusLoss(state, nexus(INITIATOR_1, '23d000000002'))).toBe(state);
    expect(afterNexusLoss(state, A).spc2).toBeNull();
  });
});
