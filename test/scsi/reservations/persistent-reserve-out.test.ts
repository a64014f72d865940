/**
 * Goal: every PERSISTENT RESERVE OUT service action and type does what SPC-4 §5.13 says, with
 * the exact refusal (RESERVATION CONFLICT vs ILLEGAL REQUEST and its ASC/ASCQ and field pointer),
 * the right PRGENERATION moves, and unit attentions / aborts aimed at the right registrations.
 * Method: drive the pure planner with hand-built CDBs and parameter lists from pr-fixtures.ts,
 * chaining the planned states, and inspect plans.
 */
import { describe, expect, test } from 'vitest';
import {
  type ProutContext,
  type ProutPlan,
  planPersistentReserveOut,
} from '../../../src/scsi/reservations/persistent-reserve-out.js';
import {
  EMPTY_RESERVATION_STATE,
  findRegistration,
  isPersistentReservationHolder,
  type ReservationState,
  registrationId,
} from '../../../src/scsi/reservations/reservation-state.js';
import { type Nexus, ScsiStatus } from '../../../src/scsi/scsi-types.js';
import {
  ALL_TYPES,
  basicList,
  INITIATOR_1,
  INITIATOR_2,
  INITIATOR_3,
  iscsiTransportId,
  moveList,
  nexus,
  ProutSa,
  proutCdb,
  Type,
} from './pr-fixtures.js';

const A = nexus(INITIATOR_1);
const B = nexus(INITIATOR_2);
const C = nexus(INITIATOR_3);
const CONTEXT: ProutContext = { registrationsMax: 8, isKnownTargetPort: (id) => id === 1 || id === 2 };

function plan(state: ReservationState, who: Nexus, sa: number, list: Buffer, type = 0, scope = 0): ProutPlan {
  return planPersistentReserveOut(state, who, proutCdb(sa, type, list.length, scope), list, CONTEXT);
}

function applied(p: ProutPlan): Extract<ProutPlan, { kind: 'apply' }> {
  if (p.kind !== 'apply') throw new Error(`expected a change, got ${JSON.stringify(p.result)}: ${p.why}`);
  return p;
}

function answer(p: ProutPlan): Extract<ProutPlan, { kind: 'answer' }> {
  if (p.kind !== 'answer') throw new Error(`expected an answer, got a change: ${p.what}`);
  return p;
}

function isConflict(p: ProutPlan): boolean {
  return p.kind === 'answer' && p.result.status === ScsiStatus.RESERVATION_CONFLICT;
}

function senseOf(p: ProutPlan): { asc: number; ascq: number } | undefined {
  const result = answer(p).result;
  expect(result.status).toBe(ScsiStatus.CHECK_CONDITION);
  return result.sense && { asc: result.sense.asc, ascq: result.sense.ascq };
}

/** Registers `who` with `key` via REGISTER AND IGNORE EXISTING KEY. */
function registered(state: ReservationState, who: Nexus, key: bigint): ReservationState {
  return applied(plan(state, who, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: key }))).next;
}

function reservedState(type: number): ReservationState {
  let state = registered(EMPTY_RESERVATION_STATE, A, 0xaan);
  state = registered(state, B, 0xbbn);
  return applied(plan(state, A, ProutSa.RESERVE, basicList({ key: 0xaan }), type)).next;
}

describe('CDB and parameter list validation', () => {
  test('REPLACE LOST RESERVATION and reserved service actions: INVALID FIELD IN CDB byte 1', () => {
    for (const sa of [8, 9, 0x1f]) {
      const p = answer(plan(EMPTY_RESERVATION_STATE, A, sa, basicList()));
      expect(p.result.sense).toMatchObject({ asc: 0x24, fieldPointer: { inCdb: true, byte: 1 } });
    }
  });

  test('a basic list other than 24 bytes is PARAMETER LIST LENGTH ERROR', () => {
    const long = Buffer.concat([basicList({ saKey: 1n }), Buffer.alloc(4)]);
    expect(senseOf(plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, long))).toEqual({ asc: 0x1a, ascq: 0 });
    expect(senseOf(plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, Buffer.alloc(16)))).toEqual({
      asc: 0x1a,
      ascq: 0,
    });
  });

  test('fewer data-out bytes than the declared list length is PARAMETER LIST LENGTH ERROR', () => {
    const p = planPersistentReserveOut(
      EMPTY_RESERVATION_STATE,
      A,
      proutCdb(0, 0, 24),
      Buffer.alloc(10),
      CONTEXT,
    );
    expect(senseOf(p)).toEqual({ asc: 0x1a, ascq: 0 });
  });

  test('SPEC_I_PT with anything but REGISTER is INVALID FIELD IN PARAMETER LIST byte 20 bit 3', () => {
    const list = basicList({ saKey: 1n, specIPt: true, transportIds: [] });
    const p = answer(plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER_AND_IGNORE, list));
    expect(p.result.sense).toMatchObject({ asc: 0x26, fieldPointer: { inCdb: false, byte: 20, bit: 3 } });
  });

  test('the reservation key is checked before SCOPE and TYPE', () => {
    const state = registered(EMPTY_RESERVATION_STATE, A, 0xaan);
    expect(isConflict(plan(state, A, ProutSa.RESERVE, basicList({ key: 0x99n }), 0x2, 0x1))).toBe(true);
  });
});

describe('REGISTER', () => {
  test('an unregistered nexus registers with RESERVATION KEY 0; PRGENERATION moves', () => {
    const p = applied(plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, basicList({ saKey: 0x1234n })));
    expect(p.next.generation).toBe(1);
    expect(findRegistration(p.next, A)).toEqual({
      key: 0x1234n,
      initiatorName: INITIATOR_1,
      isid: '23d000000001',
      relativeTargetPortId: 1,
    });
  });

  test('an unregistered nexus with a non-zero RESERVATION KEY conflicts', () => {
    expect(
      isConflict(plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, basicList({ key: 1n, saKey: 2n }))),
    ).toBe(true);
  });

  test('an unregistered nexus registering key 0 is a GOOD no-op', () => {
    const p = answer(plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, basicList()));
    expect(p.result.status).toBe(ScsiStatus.GOOD);
  });

  test('re-registering needs the current key (libiscsi ProutRegister.Simple), then changes it', () => {
    const state = registered(EMPTY_RESERVATION_STATE, A, 0x10n);
    expect(isConflict(plan(state, A, ProutSa.REGISTER, basicList({ saKey: 0x11n })))).toBe(true);
    const p = applied(plan(state, A, ProutSa.REGISTER, basicList({ key: 0x10n, saKey: 0x11n })));
    expect(findRegistration(p.next, A)?.key).toBe(0x11n);
    expect(p.next.generation).toBe(2);
  });

  test('a registered nexus may not use SPEC_I_PT', () => {
    const state = registered(EMPTY_RESERVATION_STATE, A, 0x10n);
    const list = basicList({
      key: 0x10n,
      saKey: 0x11n,
      specIPt: true,
      transportIds: [iscsiTransportId(INITIATOR_2)],
    });
    expect(senseOf(plan(state, A, ProutSa.REGISTER, list))).toEqual({ asc: 0x26, ascq: 0 });
  });

  test('REGISTER AND IGNORE EXISTING KEY ignores the RESERVATION KEY', () => {
    const state = registered(EMPTY_RESERVATION_STATE, A, 0x10n);
    const p = applied(plan(state, A, ProutSa.REGISTER_AND_IGNORE, basicList({ key: 0x77n, saKey: 0x12n })));
    expect(findRegistration(p.next, A)?.key).toBe(0x12n);
  });

  test('APTPL is taken from each register', () => {
    const on = applied(
      plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, basicList({ saKey: 1n, aptpl: true })),
    );
    expect(on.next.aptpl).toBe(true);
    const off = applied(plan(on.next, A, ProutSa.REGISTER, basicList({ key: 1n, saKey: 2n })));
    expect(off.next.aptpl).toBe(false);
  });

  test('past registrationsMax: INSUFFICIENT REGISTRATION RESOURCES', () => {
    let state = EMPTY_RESERVATION_STATE;
    for (let i = 1; i <= CONTEXT.registrationsMax; i++) {
      state = registered(state, nexus(`iqn.x:${i}`), BigInt(i));
    }
    expect(senseOf(plan(state, A, ProutSa.REGISTER, basicList({ saKey: 1n })))).toEqual({
      asc: 0x55,
      ascq: 0x04,
    });
  });
});

describe('ALL_TG_PT', () => {
  test('one registration covers the initiator port through every target port', () => {
    const p = applied(
      plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, basicList({ saKey: 5n, allTgPt: true })),
    );
    expect(p.next.registrations).toHaveLength(1);
    expect(findRegistration(p.next, nexus(INITIATOR_1, '23d000000001', 2))?.key).toBe(5n);
    expect(findRegistration(p.next, nexus(INITIATOR_1, '23d000000002', 2))).toBeUndefined();
  });

  test('unregistering through any port removes it everywhere', () => {
    const state = applied(
      plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, basicList({ saKey: 5n, allTgPt: true })),
    ).next;
    const viaPort2 = nexus(INITIATOR_1, '23d000000001', 2);
    const p = applied(plan(state, viaPort2, ProutSa.REGISTER, basicList({ key: 5n })));
    expect(p.next.registrations).toHaveLength(0);
  });

  test('refused when the port is already registered through another target port', () => {
    const state = registered(EMPTY_RESERVATION_STATE, nexus(INITIATOR_1, '23d000000001', 2), 5n);
    const p = answer(plan(state, A, ProutSa.REGISTER, basicList({ saKey: 6n, allTgPt: true })));
    expect(p.result.sense).toMatchObject({ asc: 0x26, fieldPointer: { inCdb: false, byte: 20, bit: 2 } });
  });
});

describe('SPEC_I_PT', () => {
  test('registers the sender and every TransportID, on the receiving target port', () => {
    const list = basicList({
      saKey: 9n,
      specIPt: true,
      transportIds: [iscsiTransportId(INITIATOR_2, '23d000000001'), iscsiTransportId(INITIATOR_3)],
    });
    const p = applied(plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, list));
    expect(p.next.registrations.map((r) => [r.initiatorName, r.isid, r.relativeTargetPortId, r.key])).toEqual(
      [
        [INITIATOR_1, '23d000000001', 1, 9n],
        [INITIATOR_2, '23d000000001', 1, 9n],
        [INITIATOR_3, null, 1, 9n],
      ],
    );
    expect(p.next.generation).toBe(1);
    // Format 00b names the initiator device: every ISID of it is registered.
    expect(findRegistration(p.next, nexus(INITIATOR_3, '400000000099'))?.key).toBe(9n);
  });

  test('with ALL_TG_PT the specified ports are registered on every target port', () => {
    const list = basicList({
      saKey: 9n,
      specIPt: true,
      allTgPt: true,
      transportIds: [iscsiTransportId(INITIATOR_2)],
    });
    const p = applied(plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, list));
    expect(p.next.registrations.every((r) => r.relativeTargetPortId === null)).toBe(true);
  });

  test('an already registered or repeated nexus: INVALID FIELD IN PARAMETER LIST at that TransportID', () => {
    const state = registered(EMPTY_RESERVATION_STATE, B, 3n);
    const id = iscsiTransportId(INITIATOR_2, '23d000000001');
    const p = answer(
      plan(state, A, ProutSa.REGISTER, basicList({ saKey: 9n, specIPt: true, transportIds: [id] })),
    );
    expect(p.result.sense).toMatchObject({ asc: 0x26, fieldPointer: { inCdb: false, byte: 28 } });
    const twice = basicList({ saKey: 9n, specIPt: true, transportIds: [id, id] });
    const again = answer(plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, twice));
    expect(again.result.sense).toMatchObject({ fieldPointer: { byte: 28 + id.length } });
  });

  test('a TransportID list longer than the parameter list: PARAMETER LIST LENGTH ERROR', () => {
    const list = basicList({ saKey: 9n, specIPt: true, transportIds: [iscsiTransportId(INITIATOR_2)] });
    const cut = list.subarray(0, list.length - 4);
    expect(senseOf(plan(EMPTY_RESERVATION_STATE, A, ProutSa.REGISTER, cut))).toEqual({ asc: 0x1a, ascq: 0 });
  });

  test('a non-iSCSI TransportID: INVALID FIELD IN PARAMETER LIST', () => {
    const fc = Buffer.alloc(24);
    const p = answer(
      plan(
        EMPTY_RESERVATION_STATE,
        A,
        ProutSa.REGISTER,
        basicList({ saKey: 9n, specIPt: true, transportIds: [fc] }),
      ),
    );
    expect(p.result.sense).toMatchObject({ asc: 0x26, fieldPointer: { byte: 28 } });
  });
});

describe('RESERVE', () => {
  test.each(ALL_TYPES)('type %i: a registered nexus reserves; PRGENERATION stays', (type) => {
    const state = registered(EMPTY_RESERVATION_STATE, A, 0xaan);
    const p = applied(plan(state, A, ProutSa.RESERVE, basicList({ key: 0xaan }), type));
    expect(p.next.reservation?.type).toBe(type);
    expect(p.next.generation).toBe(state.generation);
    expect(isPersistentReservationHolder(p.next, A)).toBe(true);
  });

  test('unregistered or wrong key: RESERVATION CONFLICT', () => {
    expect(isConflict(plan(EMPTY_RESERVATION_STATE, A, ProutSa.RESERVE, basicList(), Type.WE))).toBe(true);
    const state = registered(EMPTY_RESERVATION_STATE, A, 0xaan);
    expect(isConflict(plan(state, A, ProutSa.RESERVE, basicList({ key: 0xabn }), Type.WE))).toBe(true);
  });

  test('a bad SCOPE or TYPE: INVALID FIELD IN CDB byte 2', () => {
    const state = registered(EMPTY_RESERVATION_STATE, A, 0xaan);
    for (const [type, scope] of [
      [Type.WE, 1],
      [0, 0],
      [2, 0],
      [4, 0],
      [9, 0],
    ] as const) {
      const p = answer(plan(state, A, ProutSa.RESERVE, basicList({ key: 0xaan }), type, scope));
      expect(p.result.sense).toMatchObject({ asc: 0x24, fieldPointer: { inCdb: true, byte: 2 } });
    }
  });

  test('the holder reserving the same type again is GOOD; another type or another nexus conflicts', () => {
    const state = reservedState(Type.WE);
    expect(answer(plan(state, A, ProutSa.RESERVE, basicList({ key: 0xaan }), Type.WE)).result.status).toBe(
      ScsiStatus.GOOD,
    );
    expect(isConflict(plan(state, A, ProutSa.RESERVE, basicList({ key: 0xaan }), Type.EA))).toBe(true);
    expect(isConflict(plan(state, B, ProutSa.RESERVE, basicList({ key: 0xbbn }), Type.WE))).toBe(true);
  });

  test('All Registrants: every registrant holds and may reserve the same type again', () => {
    const state = reservedState(Type.EA_AR);
    expect(isPersistentReservationHolder(state, B)).toBe(true);
    expect(answer(plan(state, B, ProutSa.RESERVE, basicList({ key: 0xbbn }), Type.EA_AR)).result.status).toBe(
      ScsiStatus.GOOD,
    );
  });
});

describe('RELEASE', () => {
  test('no reservation, or not the holder: GOOD and nothing changes', () => {
    const state = registered(EMPTY_RESERVATION_STATE, A, 0xaan);
    expect(answer(plan(state, A, ProutSa.RELEASE, basicList({ key: 0xaan }), Type.WE)).result.status).toBe(
      ScsiStatus.GOOD,
    );
    const held = reservedState(Type.EA);
    const p = answer(plan(held, B, ProutSa.RELEASE, basicList({ key: 0xbbn }), Type.EA));
    expect(p.result.status).toBe(ScsiStatus.GOOD);
  });

  test('the holder with the wrong type: INVALID RELEASE OF PERSISTENT RESERVATION', () => {
    expect(
      senseOf(plan(reservedState(Type.EA), A, ProutSa.RELEASE, basicList({ key: 0xaan }), Type.WE)),
    ).toEqual({
      asc: 0x26,
      ascq: 0x04,
    });
  });

  test.each([Type.WE, Type.EA])('type %i: released without unit attentions', (type) => {
    const p = applied(plan(reservedState(type), A, ProutSa.RELEASE, basicList({ key: 0xaan }), type));
    expect(p.next.reservation).toBeNull();
    expect(p.effects.unitAttentions).toEqual([]);
  });

  test.each([Type.WE_RO, Type.EA_RO, Type.WE_AR, Type.EA_AR])(
    'type %i: RESERVATIONS RELEASED to registrants',
    (type) => {
      const state = reservedState(type);
      const p = applied(plan(state, A, ProutSa.RELEASE, basicList({ key: 0xaan }), type));
      expect(p.effects.unitAttentions).toEqual([
        { sense: expect.objectContaining({ asc: 0x2a, ascq: 0x04 }), registrations: state.registrations },
      ]);
      expect(p.next.generation).toBe(state.generation);
    },
  );
});

describe('unregistering the holder', () => {
  test.each([Type.WE, Type.EA])('type %i: the reservation goes, nobody gets a unit attention', (type) => {
    const p = applied(plan(reservedState(type), A, ProutSa.REGISTER, basicList({ key: 0xaan })));
    expect(p.next.reservation).toBeNull();
    expect(p.effects.unitAttentions).toEqual([]);
  });

  test.each([Type.WE_RO, Type.EA_RO])(
    'type %i: RESERVATIONS RELEASED to the remaining registrants only',
    (type) => {
      const p = applied(plan(reservedState(type), A, ProutSa.REGISTER, basicList({ key: 0xaan })));
      expect(p.next.reservation).toBeNull();
      expect(p.effects.unitAttentions).toHaveLength(1);
      expect(p.effects.unitAttentions[0]!.registrations.map((r) => r.key)).toEqual([0xbbn]);
    },
  );

  test.each([Type.WE_AR, Type.EA_AR])(
    'type %i: the reservation stays until the last registrant leaves',
    (type) => {
      const afterA = applied(plan(reservedState(type), A, ProutSa.REGISTER, basicList({ key: 0xaan }))).next;
      expect(afterA.reservation?.type).toBe(type);
      const afterB = applied(plan(afterA, B, ProutSa.REGISTER, basicList({ key: 0xbbn }))).next;
      expect(afterB.reservation).toBeNull();
    },
  );
});

describe('CLEAR', () => {
  test('drops everything, moves PRGENERATION once, RESERVATIONS PREEMPTED to the others', () => {
    const state = reservedState(Type.EA);
    const p = applied(plan(state, B, ProutSa.CLEAR, basicList({ key: 0xbbn })));
    expect(p.next.registrations).toEqual([]);
    expect(p.next.reservation).toBeNull();
    expect(p.next.generation).toBe(state.generation + 1);
    expect(p.effects.unitAttentions[0]).toMatchObject({ sense: { asc: 0x2a, ascq: 0x03 } });
  });

  test('an unregistered nexus cannot clear', () => {
    expect(isConflict(plan(reservedState(Type.EA), C, ProutSa.CLEAR, basicList()))).toBe(true);
  });
});

describe('PREEMPT and PREEMPT AND ABORT', () => {
  test('no reservation: removes the registrations with that key (libiscsi ProutPreempt.RemoveRegistration)', () => {
    let state = registered(EMPTY_RESERVATION_STATE, A, 0x1n);
    state = registered(state, B, 0x2n);
    const p = applied(plan(state, B, ProutSa.PREEMPT, basicList({ key: 0x2n, saKey: 0x1n }), Type.EA));
    expect(p.next.registrations.map((r) => r.key)).toEqual([0x2n]);
    expect(p.next.generation).toBe(state.generation + 1);
    expect(p.next.reservation).toBeNull();
    expect(p.effects.unitAttentions[0]).toMatchObject({ sense: { asc: 0x2a, ascq: 0x05 } });
  });

  test('SERVICE ACTION RESERVATION KEY 0 without a reservation to take: INVALID FIELD IN PARAMETER LIST', () => {
    const p = answer(plan(reservedState(Type.WE), B, ProutSa.PREEMPT, basicList({ key: 0xbbn }), Type.WE));
    expect(p.result.sense).toMatchObject({ asc: 0x26, fieldPointer: { inCdb: false, byte: 8 } });
  });

  test('a key nobody holds: RESERVATION CONFLICT', () => {
    expect(
      isConflict(
        plan(reservedState(Type.WE), B, ProutSa.PREEMPT, basicList({ key: 0xbbn, saKey: 0x77n }), Type.WE),
      ),
    ).toBe(true);
  });

  test("the holder's key takes the reservation; a new type releases it for the rest", () => {
    let state = reservedState(Type.WE);
    state = registered(state, C, 0xccn);
    const p = applied(plan(state, B, ProutSa.PREEMPT, basicList({ key: 0xbbn, saKey: 0xaan }), Type.EA));
    expect(isPersistentReservationHolder(p.next, B)).toBe(true);
    expect(p.next.reservation?.type).toBe(Type.EA);
    expect(p.next.registrations.map((r) => r.key)).toEqual([0xbbn, 0xccn]);
    expect(p.effects.unitAttentions).toEqual([
      { sense: expect.objectContaining({ ascq: 0x05 }), registrations: [state.registrations[0]] },
      { sense: expect.objectContaining({ ascq: 0x04 }), registrations: p.next.registrations },
    ]);
  });

  test('the same type: no RESERVATIONS RELEASED', () => {
    const p = applied(
      plan(reservedState(Type.WE), B, ProutSa.PREEMPT, basicList({ key: 0xbbn, saKey: 0xaan }), Type.WE),
    );
    expect(p.effects.unitAttentions.map((u) => u.sense.ascq)).toEqual([0x05]);
  });

  test('taking the reservation with a bad TYPE: INVALID FIELD IN CDB', () => {
    const p = answer(
      plan(reservedState(Type.WE), B, ProutSa.PREEMPT, basicList({ key: 0xbbn, saKey: 0xaan }), 2),
    );
    expect(p.result.sense).toMatchObject({ asc: 0x24, fieldPointer: { byte: 2 } });
  });

  test('a non-holder key only removes registrations; the reservation stays', () => {
    let state = reservedState(Type.WE);
    state = registered(state, C, 0xccn);
    const p = applied(plan(state, B, ProutSa.PREEMPT, basicList({ key: 0xbbn, saKey: 0xccn }), Type.WE));
    expect(isPersistentReservationHolder(p.next, A)).toBe(true);
    expect(findRegistration(p.next, C)).toBeUndefined();
  });

  test('All Registrants with key 0: everyone else goes and the preempter holds the new type', () => {
    let state = reservedState(Type.WE_AR);
    state = registered(state, C, 0xccn);
    const p = applied(plan(state, B, ProutSa.PREEMPT, basicList({ key: 0xbbn }), Type.WE));
    expect(p.next.registrations.map((r) => r.key)).toEqual([0xbbn]);
    expect(p.next.reservation).toEqual({
      type: Type.WE,
      holder: registrationId(findRegistration(p.next, B)!),
    });
  });

  test('All Registrants with a key: only those registrations go', () => {
    let state = reservedState(Type.EA_AR);
    state = registered(state, C, 0xccn);
    const p = applied(plan(state, B, ProutSa.PREEMPT, basicList({ key: 0xbbn, saKey: 0xaan }), Type.EA_AR));
    expect(p.next.reservation).toEqual({ type: Type.EA_AR, holder: null });
    expect(p.next.registrations.map((r) => r.key)).toEqual([0xbbn, 0xccn]);
  });

  test('the sender keeps its own registration when it shares the preempted key', () => {
    let state = registered(EMPTY_RESERVATION_STATE, A, 0x5n);
    state = registered(state, B, 0x5n);
    const p = applied(plan(state, A, ProutSa.PREEMPT, basicList({ key: 0x5n, saKey: 0x5n }), Type.EA));
    expect(p.next.registrations.map((r) => r.initiatorName)).toEqual([INITIATOR_1]);
  });

  test('PREEMPT AND ABORT names the preempted registrations for the abort hook; PREEMPT does not', () => {
    const state = reservedState(Type.EA);
    const abort = applied(
      plan(state, B, ProutSa.PREEMPT_AND_ABORT, basicList({ key: 0xbbn, saKey: 0xaan }), Type.EA),
    );
    expect(abort.effects.abortRegistrations).toEqual([state.registrations[0]]);
    const plain = applied(plan(state, B, ProutSa.PREEMPT, basicList({ key: 0xbbn, saKey: 0xaan }), Type.EA));
    expect(plain.effects.abortRegistrations).toEqual([]);
  });
});

describe('REGISTER AND MOVE', () => {
  const move = (fields: Partial<Parameters<typeof moveList>[0]> = {}) =>
    moveList({
      key: 0xaan,
      saKey: 0x77n,
      port: 2,
      transportId: iscsiTransportId(INITIATOR_3, '23d000000009'),
      ...fields,
    });

  test('registers the destination, moves the reservation, keeps the sender unless UNREG', () => {
    const state = reservedState(Type.EA);
    const destination = nexus(INITIATOR_3, '23d000000009', 2);
    const p = applied(plan(state, A, ProutSa.REGISTER_AND_MOVE, move(), 0xf, 0xf));
    expect(isPersistentReservationHolder(p.next, destination)).toBe(true);
    expect(p.next.reservation?.type).toBe(Type.EA);
    expect(findRegistration(p.next, destination)?.key).toBe(0x77n);
    expect(findRegistration(p.next, A)?.key).toBe(0xaan);
    expect(p.next.generation).toBe(state.generation + 1);
    const unreg = applied(plan(state, A, ProutSa.REGISTER_AND_MOVE, move({ unreg: true, aptpl: true })));
    expect(findRegistration(unreg.next, A)).toBeUndefined();
    expect(unreg.next.aptpl).toBe(true);
  });

  test('an already registered destination gets the new key', () => {
    const state = reservedState(Type.WE);
    const p = applied(
      plan(
        state,
        A,
        ProutSa.REGISTER_AND_MOVE,
        move({ port: 1, transportId: iscsiTransportId(INITIATOR_2, '23d000000001') }),
      ),
    );
    expect(findRegistration(p.next, B)?.key).toBe(0x77n);
    expect(isPersistentReservationHolder(p.next, B)).toBe(true);
    expect(p.next.registrations).toHaveLength(2);
  });

  test('refusals', () => {
    const state = reservedState(Type.EA);
    expect(isConflict(plan(state, B, ProutSa.REGISTER_AND_MOVE, move({ key: 0xbbn })))).toBe(true);
    expect(isConflict(plan(reservedState(Type.EA_AR), A, ProutSa.REGISTER_AND_MOVE, move()))).toBe(true);
    expect(isConflict(plan(state, C, ProutSa.REGISTER_AND_MOVE, move()))).toBe(true);
    const noReservation = registered(EMPTY_RESERVATION_STATE, A, 0xaan);
    expect(senseOf(plan(noReservation, A, ProutSa.REGISTER_AND_MOVE, move()))).toEqual({
      asc: 0x24,
      ascq: 0,
    });
    const zeroKey = answer(plan(state, A, ProutSa.REGISTER_AND_MOVE, move({ saKey: 0n })));
    expect(zeroKey.result.sense).toMatchObject({ asc: 0x26, fieldPointer: { byte: 8 } });
    const badPort = answer(plan(state, A, ProutSa.REGISTER_AND_MOVE, move({ port: 9 })));
    expect(badPort.result.sense).toMatchObject({ asc: 0x26, fieldPointer: { byte: 18 } });
    const toSelf = answer(
      plan(
        state,
        A,
        ProutSa.REGISTER_AND_MOVE,
        move({ transportId: iscsiTransportId(INITIATOR_1, '23d000000001') }),
      ),
    );
    expect(toSelf.result.sense).toMatchObject({ asc: 0x26, fieldPointer: { byte: 24 } });
    const toOwnDevice = answer(
      plan(state, A, ProutSa.REGISTER_AND_MOVE, move({ transportId: iscsiTransportId(INITIATOR_1) })),
    );
    expect(toOwnDevice.result.sense).toMatchObject({ asc: 0x26 });
    const cut = move().subarray(0, 30);
    expect(senseOf(plan(state, A, ProutSa.REGISTER_AND_MOVE, cut))).toEqual({ asc: 0x1a, ascq: 0 });
  });
});
