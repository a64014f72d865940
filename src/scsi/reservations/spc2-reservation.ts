/**
 * SPC-2 RESERVE(6)/(10) and RELEASE(6)/(10) (SPC-2 §5.5.1, §7.16, §7.17, §7.21, §7.22).
 *
 * Rules
 * - One I_T nexus at a time holds the logical unit. RESERVE from the holder is GOOD again;
 *   from anyone else RESERVATION CONFLICT. RELEASE from the holder releases; from anyone else it
 *   is GOOD and changes nothing (it must not release another initiator's reservation).
 * - While any persistent registration exists both commands conflict for everyone: we report
 *   CRH=0 in REPORT CAPABILITIES, so the SPC-3 §5.6.3 compatibility exceptions are off.
 * - Third-party reservations (RESERVE/RELEASE(10) 3RDPTY) are not supported: INVALID FIELD IN
 *   CDB. The obsolete RESERVE(6) extent fields are ignored, as modern initiators send zeros.
 * - The reservation ends with a LUN reset or a target reset (the LU calls `onLunReset` for both:
 *   libiscsi's Reserve6.TargetWarmReset/ColdReset expect it gone), with the loss of the holder's
 *   I_T nexus (logout, connection drop: Reserve6.Logout, Reserve6.ITNexusLoss) and with power
 *   loss. Persistent reservations survive all of these.
 */
import type { Nexus, ScsiResult } from '../scsi-types.js';
import { GOOD, invalidFieldInCdb, RESERVATION_CONFLICT } from './reservation-answers.js';
import { isSpc2Holder, type ReservationState } from './reservation-state.js';

export const Spc2Opcode = {
  RESERVE_6: 0x16,
  RELEASE_6: 0x17,
  RESERVE_10: 0x56,
  RELEASE_10: 0x57,
} as const;

const THIRD_PARTY = 0x10;

export type Spc2Plan =
  | { readonly kind: 'apply'; readonly next: ReservationState; readonly what: string }
  | { readonly kind: 'answer'; readonly result: ScsiResult; readonly why: string };

export function isSpc2Command(opcode: number): boolean {
  return (
    opcode === Spc2Opcode.RESERVE_6 ||
    opcode === Spc2Opcode.RELEASE_6 ||
    opcode === Spc2Opcode.RESERVE_10 ||
    opcode === Spc2Opcode.RELEASE_10
  );
}

export function planSpc2(state: ReservationState, nexus: Nexus, cdb: Buffer): Spc2Plan {
  const opcode = cdb[0] ?? 0;
  const tenByte = opcode === Spc2Opcode.RESERVE_10 || opcode === Spc2Opcode.RELEASE_10;
  if (tenByte && ((cdb[1] ?? 0) & THIRD_PARTY) !== 0) {
    return {
      kind: 'answer',
      result: invalidFieldInCdb(1, 4),
      why: 'third-party reservations are not supported',
    };
  }
  if (state.registrations.length > 0) {
    return {
      kind: 'answer',
      result: RESERVATION_CONFLICT,
      why: 'RESERVE/RELEASE while persistent registrations exist (CRH=0)',
    };
  }
  const held = state.spc2;
  const mine = held !== null && isSpc2Holder(held, nexus);
  if (opcode === Spc2Opcode.RESERVE_6 || opcode === Spc2Opcode.RESERVE_10) {
    if (mine) return { kind: 'answer', result: GOOD, why: 'already reserved by this I_T nexus' };
    if (held !== null) {
      return { kind: 'answer', result: RESERVATION_CONFLICT, why: `reserved by ${held.initiatorPortName}` };
    }
    return {
      kind: 'apply',
      next: {
        ...state,
        spc2: { initiatorPortName: nexus.initiatorPortName, targetPortName: nexus.targetPortName },
      },
      what: 'reserved (SPC-2)',
    };
  }
  if (!mine) return { kind: 'answer', result: GOOD, why: 'RELEASE from a non-holder changes nothing' };
  return { kind: 'apply', next: { ...state, spc2: null }, what: 'released (SPC-2)' };
}

/** LUN reset, target warm/cold reset: the SPC-2 reservation goes, persistent state stays. */
export function afterLunReset(state: ReservationState): ReservationState {
  return state.spc2 === null ? state : { ...state, spc2: null };
}

/** I_T nexus loss: the SPC-2 reservation goes if that nexus held it. */
export function afterNexusLoss(state: ReservationState, nexus: Nexus): ReservationState {
  return state.spc2 !== null && isSpc2Holder(state.spc2, nexus) ? { ...state, spc2: null } : state;
}
