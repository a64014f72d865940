/**
 * PERSISTENT RESERVE OUT (5Fh) as a pure planner: state + command in, either a refusal (the
 * exact status and sense) or the next state plus its side effects (unit attentions, tasks to
 * abort). The gate commits the next state to the store and only then performs the effects.
 *
 * Theory (SPC-4 §5.13, §6.17):
 * - CDB: byte 1 SERVICE ACTION (bits 4:0), byte 2 SCOPE (7:4) | TYPE (3:0), bytes 5-8 PARAMETER
 *   LIST LENGTH. Basic parameter list: RESERVATION KEY (0-7), SERVICE ACTION RESERVATION KEY
 *   (8-15), byte 20 SPEC_I_PT 0x08 | ALL_TG_PT 0x04 | APTPL 0x01, then with SPEC_I_PT a 4-byte
 *   TRANSPORTID PARAMETER DATA LENGTH at 24 and TransportIDs from 28. It is exactly 24 bytes
 *   otherwise. REGISTER AND MOVE has its own list: keys, byte 17 UNREG 0x02 | APTPL 0x01, RELATIVE
 *   TARGET PORT IDENTIFIER at 18, TRANSPORTID LENGTH at 20, the TransportID at 24.
 * - Order of refusals: malformed CDB / list (ILLEGAL REQUEST), then the sender's registration and
 *   RESERVATION KEY (RESERVATION CONFLICT; checked regardless of SCOPE and TYPE), then what the
 *   service action itself rejects.
 * - PRGENERATION moves on REGISTER, REGISTER AND IGNORE EXISTING KEY, CLEAR, PREEMPT, PREEMPT AND
 *   ABORT and REGISTER AND MOVE, never on RESERVE or RELEASE or on a refused or no-op command.
 * - Unit attentions go to the initiator ports of registered I_T nexuses "other than the I_T nexus
 *   on which the command was received": the gate drops the sender's nexus from every list here.
 *   · RELEASE of a Registrants Only / All Registrants reservation: RESERVATIONS RELEASED (2A/04)
 *     to the remaining registrants. WE and EA releases raise nothing.
 *   · Unregistering the holder releases WE/EA/RO reservations; only RO raises 2A/04, and never
 *     on the unregistering nexus itself (libiscsi ProutReserve.Ownership*, which tgt fails).
 *     An All Registrants reservation lasts until the last registrant leaves.
 *   · CLEAR: RESERVATIONS PREEMPTED (2A/03) to every other registrant.
 *   · PREEMPT(-AND-ABORT): REGISTRATIONS PREEMPTED (2A/05) to every nexus that lost its
 *     registration, and RESERVATIONS RELEASED to the others still registered when the preempt
 *     changed the reservation's type.
 * - REPLACE LOST RESERVATION is not supported (RLR_C 0): INVALID FIELD IN CDB.
 */
import type { Nexus, ScsiResult } from '../scsi-types.js';
import {
  GOOD,
  INSUFFICIENT_REGISTRATION_RESOURCES,
  INVALID_RELEASE_OF_PERSISTENT_RESERVATION,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  PARAMETER_LIST_LENGTH_ERROR,
  REGISTRATIONS_PREEMPTED,
  RESERVATION_CONFLICT,
  RESERVATIONS_PREEMPTED,
  RESERVATIONS_RELEASED,
} from './reservation-answers.js';
import {
  findRegistration,
  initiatorPortOf,
  isAllRegistrantsType,
  isPrType,
  isRegistrantsOnlyType,
  nextGeneration,
  PrType,
  type PrTypeCode,
  type Registration,
  type ReservationState,
  type ReservationUnitAttention,
  registrationHolds,
  registrationId,
  registrationsOverlap,
} from './reservation-state.js';
import { decodeIscsiTransportId, type IscsiTransportId } from './transport-id.js';

export const PrOutServiceAction = {
  REGISTER: 0x00,
  RESERVE: 0x01,
  RELEASE: 0x02,
  CLEAR: 0x03,
  PREEMPT: 0x04,
  PREEMPT_AND_ABORT: 0x05,
  REGISTER_AND_IGNORE_EXISTING_KEY: 0x06,
  REGISTER_AND_MOVE: 0x07,
  REPLACE_LOST_RESERVATION: 0x08,
} as const;

const CDB_BYTES = 10;
const BASIC_LIST_BYTES = 24;
const SPEC_I_PT_HEADER_BYTES = 28;
const LU_SCOPE = 0x0;
const SPEC_I_PT = 0x08;
const ALL_TG_PT = 0x04;
const APTPL = 0x01;
const UNREG = 0x02;

/** Registrations one LU keeps before answering INSUFFICIENT REGISTRATION RESOURCES. */
export const REGISTRATIONS_MAX = 256;

/** Raise `sense` on every I_T nexus `registrations` cover, except the sender's. */
export type UnitAttentionEffect = ReservationUnitAttention;

export interface ProutEffects {
  readonly unitAttentions: readonly UnitAttentionEffect[];
  /** PREEMPT AND ABORT: abort the tasks of every nexus these (removed) registrations covered. */
  readonly abortRegistrations: readonly Registration[];
}

export type ProutPlan =
  /** Commit `next`, then perform `effects` and answer GOOD. */
  | {
      readonly kind: 'apply';
      readonly next: ReservationState;
      readonly effects: ProutEffects;
      readonly what: string;
    }
  /** Answer `result` and change nothing (a refusal, or GOOD for a no-op). */
  | { readonly kind: 'answer'; readonly result: ScsiResult; readonly why: string };

export interface ProutContext {
  readonly registrationsMax: number;
  /** Whether a RELATIVE TARGET PORT IDENTIFIER names a port of this target (REGISTER AND MOVE). */
  readonly isKnownTargetPort: (relativeTargetPortId: number) => boolean;
}

const NO_EFFECTS: ProutEffects = { unitAttentions: [], abortRegistrations: [] };

function refuse(result: ScsiResult, why: string): ProutPlan {
  return { kind: 'answer', result, why };
}

function noChange(why: string): ProutPlan {
  return { kind: 'answer', result: GOOD, why };
}

function apply(next: ReservationState, what: string, effects: ProutEffects = NO_EFFECTS): ProutPlan {
  return { kind: 'apply', next, effects, what };
}

/** Everything one command carries, decoded. */
interface Request {
  readonly serviceAction: number;
  readonly scope: number;
  readonly type: number;
  readonly reservationKey: bigint;
  readonly serviceActionKey: bigint;
  readonly allTargetPorts: boolean;
  readonly aptpl: boolean;
  /** SPEC_I_PT TransportIDs with their offsets in the list, for field pointers. */
  readonly specifiedPorts: readonly { readonly id: IscsiTransportId; readonly byte: number }[] | null;
  /** REGISTER AND MOVE only. */
  readonly move: {
    readonly unregister: boolean;
    readonly relativeTargetPortId: number;
    readonly destination: IscsiTransportId;
  } | null;
}

export function planPersistentReserveOut(
  state: ReservationState,
  nexus: Nexus,
  cdb: Buffer,
  dataOut: Buffer,
  context: ProutContext,
): ProutPlan {
  const parsed = parseRequest(cdb, dataOut);
  if ('refusal' in parsed) return parsed.refusal;
  const request = parsed.request;
  const own = findRegistration(state, nexus);

  switch (request.serviceAction) {
    case PrOutServiceAction.REGISTER:
      return register(state, nexus, own, request, false, context);
    case PrOutServiceAction.REGISTER_AND_IGNORE_EXISTING_KEY:
      return register(state, nexus, own, request, true, context);
  }
  // Every other service action needs a registered sender quoting its own key.
  if (own === undefined) return refuse(RESERVATION_CONFLICT, 'sender is not registered');
  if (request.reservationKey !== own.key) {
    return refuse(RESERVATION_CONFLICT, 'RESERVATION KEY does not match the sender registration');
  }
  switch (request.serviceAction) {
    case PrOutServiceAction.RESERVE:
      return reserve(state, own, request);
    case PrOutServiceAction.RELEASE:
      return release(state, own, request);
    case PrOutServiceAction.CLEAR:
      return clear(state);
    case PrOutServiceAction.PREEMPT:
      return preempt(state, own, request, false);
    case PrOutServiceAction.PREEMPT_AND_ABORT:
      return preempt(state, own, request, true);
    default:
      return registerAndMove(state, nexus, own, request, context);
  }
}

type Parsed = { readonly request: Request } | { readonly refusal: ProutPlan };

function parseRequest(cdb: Buffer, dataOut: Buffer): Parsed {
  const no = (result: ScsiResult, why: string): Parsed => ({ refusal: refuse(result, why) });
  if (cdb.length < CDB_BYTES) return no(invalidFieldInCdb(0), `CDB of ${cdb.length} bytes is too short`);
  const serviceAction = cdb[1]! & 0x1f;
  if (serviceAction > PrOutServiceAction.REGISTER_AND_MOVE) {
    return no(invalidFieldInCdb(1, 4), `service action ${serviceAction} is reserved or unsupported`);
  }
  const scope = cdb[2]! >> 4;
  const type = cdb[2]! & 0x0f;
  const listLength = cdb.readUInt32BE(5);
  if (dataOut.length < listLength) {
    return no(PARAMETER_LIST_LENGTH_ERROR, `${dataOut.length} data-out bytes for a ${listLength}-byte list`);
  }
  const list = dataOut.subarray(0, listLength);
  if (list.length < BASIC_LIST_BYTES) {
    return no(PARAMETER_LIST_LENGTH_ERROR, `parameter list of ${list.length} bytes is shorter than 24`);
  }
  const reservationKey = list.readBigUInt64BE(0);
  const serviceActionKey = list.readBigUInt64BE(8);

  if (serviceAction === PrOutServiceAction.REGISTER_AND_MOVE) {
    const idLength = list.readUInt32BE(20);
    if (BASIC_LIST_BYTES + idLength > list.length) {
      return no(PARAMETER_LIST_LENGTH_ERROR, `TRANSPORTID LENGTH ${idLength} runs past the list`);
    }
    const id = decodeIscsiTransportId(list, BASIC_LIST_BYTES, BASIC_LIST_BYTES + idLength);
    if (!id.ok) return no(invalidFieldInParameterList(id.byte), id.reason);
    return {
      request: {
        serviceAction,
        scope,
        type,
        reservationKey,
        serviceActionKey,
        allTargetPorts: false,
        aptpl: (list[17]! & APTPL) !== 0,
        specifiedPorts: null,
        move: {
          unregister: (list[17]! & UNREG) !== 0,
          relativeTargetPortId: list.readUInt16BE(18),
          destination: id.value,
        },
      },
    };
  }

  const flags = list[20]!;
  const specIPt = (flags & SPEC_I_PT) !== 0;
  if (specIPt && serviceAction !== PrOutServiceAction.REGISTER) {
    return no(invalidFieldInParameterList(20, 3), 'SPEC_I_PT is valid only with REGISTER');
  }
  let specifiedPorts: { id: IscsiTransportId; byte: number }[] | null = null;
  if (!specIPt) {
    if (list.length !== BASIC_LIST_BYTES) {
      return no(PARAMETER_LIST_LENGTH_ERROR, `parameter list of ${list.length} bytes without SPEC_I_PT`);
    }
  } else {
    if (list.length < SPEC_I_PT_HEADER_BYTES) {
      return no(PARAMETER_LIST_LENGTH_ERROR, 'SPEC_I_PT without a TRANSPORTID PARAMETER DATA LENGTH');
    }
    const idsLength = list.readUInt32BE(BASIC_LIST_BYTES);
    const end = SPEC_I_PT_HEADER_BYTES + idsLength;
    if (end > list.length) {
      return no(
        PARAMETER_LIST_LENGTH_ERROR,
        `TRANSPORTID PARAMETER DATA LENGTH ${idsLength} runs past the list`,
      );
    }
    specifiedPorts = [];
    for (let at = SPEC_I_PT_HEADER_BYTES; at < end; ) {
      const id = decodeIscsiTransportId(list, at, end);
      if (!id.ok) return no(invalidFieldInParameterList(id.byte), id.reason);
      specifiedPorts.push({ id: id.value, byte: at });
      at += id.lengthBytes;
    }
  }
  return {
    request: {
      serviceAction,
      scope,
      type,
      reservationKey,
      serviceActionKey,
      allTargetPorts: (flags & ALL_TG_PT) !== 0,
      aptpl: (flags & APTPL) !== 0,
      specifiedPorts,
      move: null,
    },
  };
}

/** The TYPE a reservation is (re)established with, or the refusal for a bad SCOPE / TYPE. */
function newReservationType(request: Request): PrTypeCode | ProutPlan {
  if (request.scope !== LU_SCOPE) {
    return refuse(invalidFieldInCdb(2, 7), `scope ${request.scope} is not LU_SCOPE`);
  }
  if (!isPrType(request.type)) return refuse(invalidFieldInCdb(2, 3), `type ${request.type} is reserved`);
  return request.type;
}

function holderFor(type: PrTypeCode, registration: Registration): string | null {
  return isAllRegistrantsType(type) ? null : registrationId(registration);
}

// ---------------------------------------------------------------------------------------------
// REGISTER and REGISTER AND IGNORE EXISTING KEY (SPC-4 §5.13.7)

function register(
  state: ReservationState,
  nexus: Nexus,
  own: Registration | undefined,
  request: Request,
  ignoreExistingKey: boolean,
  context: ProutContext,
): ProutPlan {
  const saKey = request.serviceActionKey;
  if (own === undefined) {
    if (!ignoreExistingKey && request.reservationKey !== 0n) {
      return refuse(RESERVATION_CONFLICT, 'unregistered sender quoted a non-zero RESERVATION KEY');
    }
    if (saKey === 0n) return noChange('unregistered sender registered key 0: nothing to do');
    const port = initiatorPortOf(nexus);
    const relativeTargetPortId = request.allTargetPorts ? null : nexus.relativeTargetPortId;
    const mine: Registration = {
      key: saKey,
      initiatorName: port.name,
      isid: port.isid,
      relativeTargetPortId,
    };
    // Only an ALL_TG_PT registration can overlap: the sender's own port is unregistered.
    if (state.registrations.some((r) => registrationsOverlap(r, mine))) {
      return refuse(
        invalidFieldInParameterList(20, 2),
        'ALL_TG_PT registration overlaps this initiator port registered through another target port',
      );
    }
    const added: Registration[] = [mine];
    for (const specified of request.specifiedPorts ?? []) {
      const other: Registration = {
        key: saKey,
        initiatorName: specified.id.name,
        isid: specified.id.isid,
        relativeTargetPortId,
      };
      const clash = [...state.registrations, ...added].some((r) => registrationsOverlap(r, other));
      if (clash) {
        return refuse(
          invalidFieldInParameterList(specified.byte),
          `SPEC_I_PT TransportID ${specified.id.name} names an already registered or repeated I_T nexus`,
        );
      }
      added.push(other);
    }
    if (state.registrations.length + added.length > context.registrationsMax) {
      return refuse(
        INSUFFICIENT_REGISTRATION_RESOURCES,
        `more than ${context.registrationsMax} registrations`,
      );
    }
    return apply(
      {
        ...state,
        registrations: [...state.registrations, ...added],
        generation: nextGeneration(state.generation),
        aptpl: request.aptpl,
      },
      `registered ${added.length} I_T nexus scope(s)`,
    );
  }

  if (!ignoreExistingKey && request.reservationKey !== own.key) {
    return refuse(RESERVATION_CONFLICT, 'RESERVATION KEY does not match the sender registration');
  }
  if (request.specifiedPorts !== null) {
    return refuse(invalidFieldInParameterList(20, 3), 'SPEC_I_PT from an already registered I_T nexus');
  }
  if (saKey === 0n) return unregister(state, own, request.aptpl);
  return apply(
    {
      ...state,
      registrations: state.registrations.map((r) => (r === own ? { ...r, key: saKey } : r)),
      generation: nextGeneration(state.generation),
      aptpl: request.aptpl,
    },
    'changed the registration key',
  );
}

/** SPC-4 §5.13.11.3: unregistering, and what it does to a reservation the sender held. */
function unregister(state: ReservationState, own: Registration, aptpl: boolean): ProutPlan {
  const registrations = state.registrations.filter((r) => r !== own);
  let reservation = state.reservation;
  const unitAttentions: UnitAttentionEffect[] = [];
  if (reservation !== null) {
    if (isAllRegistrantsType(reservation.type)) {
      if (registrations.length === 0) reservation = null;
    } else if (reservation.holder === registrationId(own)) {
      if (isRegistrantsOnlyType(reservation.type)) {
        unitAttentions.push({ sense: RESERVATIONS_RELEASED, registrations });
      }
      reservation = null;
    }
  }
  return apply(
    { ...state, registrations, reservation, generation: nextGeneration(state.generation), aptpl },
    'unregistered',
    { unitAttentions, abortRegistrations: [] },
  );
}

// ---------------------------------------------------------------------------------------------
// RESERVE, RELEASE, CLEAR (SPC-4 §5.13.9, §5.13.11)

function reserve(state: ReservationState, own: Registration, request: Request): ProutPlan {
  const type = newReservationType(request);
  if (typeof type !== 'number') return type;
  const current = state.reservation;
  if (current !== null) {
    if (registrationHolds(state, own) && current.type === type) {
      return noChange('sender already holds a reservation of this type');
    }
    return refuse(RESERVATION_CONFLICT, 'a persistent reservation is held by another or of another type');
  }
  return apply({ ...state, reservation: { type, holder: holderFor(type, own) } }, `reserved type ${type}`);
}

function release(state: ReservationState, own: Registration, request: Request): ProutPlan {
  const current = state.reservation;
  if (current === null) return noChange('no persistent reservation to release');
  if (!registrationHolds(state, own)) return noChange('sender does not hold the reservation');
  if (request.scope !== LU_SCOPE || request.type !== current.type) {
    return refuse(
      INVALID_RELEASE_OF_PERSISTENT_RESERVATION,
      `release of scope ${request.scope} type ${request.type} for a type ${current.type} reservation`,
    );
  }
  const plain = current.type === PrType.WRITE_EXCLUSIVE || current.type === PrType.EXCLUSIVE_ACCESS;
  const unitAttentions = plain ? [] : [{ sense: RESERVATIONS_RELEASED, registrations: state.registrations }];
  return apply({ ...state, reservation: null }, 'released', { unitAttentions, abortRegistrations: [] });
}

function clear(state: ReservationState): ProutPlan {
  return apply(
    { ...state, registrations: [], reservation: null, generation: nextGeneration(state.generation) },
    'cleared every registration and the reservation',
    {
      unitAttentions: [{ sense: RESERVATIONS_PREEMPTED, registrations: state.registrations }],
      abortRegistrations: [],
    },
  );
}

// ---------------------------------------------------------------------------------------------
// PREEMPT and PREEMPT AND ABORT (SPC-4 §5.13.11.4)

function preempt(state: ReservationState, own: Registration, request: Request, abort: boolean): ProutPlan {
  const saKey = request.serviceActionKey;
  const current = state.reservation;
  const keyed = state.registrations.filter((r) => r.key === saKey);
  let victims: Registration[];
  let reservation = current;

  const holder =
    current === null || current.holder === null
      ? undefined
      : state.registrations.find((r) => registrationId(r) === current.holder);
  const preemptsReservation =
    current !== null && (isAllRegistrantsType(current.type) ? saKey === 0n : holder?.key === saKey);

  if (preemptsReservation) {
    const type = newReservationType(request);
    if (typeof type !== 'number') return type;
    // All Registrants with key 0 removes everyone else; otherwise everyone with the holder's key.
    victims = state.registrations.filter((r) => r !== own && (saKey === 0n || r.key === saKey));
    reservation = { type, holder: holderFor(type, own) };
  } else {
    if (saKey === 0n) {
      return refuse(invalidFieldInParameterList(8), 'SERVICE ACTION RESERVATION KEY 0 preempts nothing');
    }
    if (keyed.length === 0) return refuse(RESERVATION_CONFLICT, 'no registration has that key');
    victims = keyed.filter((r) => r !== own);
  }

  const registrations = state.registrations.filter((r) => !victims.includes(r));
  const unitAttentions: UnitAttentionEffect[] = [{ sense: REGISTRATIONS_PREEMPTED, registrations: victims }];
  if (preemptsReservation && current !== null && reservation !== null && reservation.type !== current.type) {
    unitAttentions.push({ sense: RESERVATIONS_RELEASED, registrations });
  }
  return apply(
    { ...state, registrations, reservation, generation: nextGeneration(state.generation) },
    `preempted ${victims.length} registration(s)${preemptsReservation ? ' and the reservation' : ''}`,
    { unitAttentions, abortRegistrations: abort ? victims : [] },
  );
}

// ---------------------------------------------------------------------------------------------
// REGISTER AND MOVE (SPC-4 §5.13.8)

function registerAndMove(
  state: ReservationState,
  nexus: Nexus,
  own: Registration,
  request: Request,
  context: ProutContext,
): ProutPlan {
  const move = request.move!;
  const current = state.reservation;
  if (current === null)
    return refuse(invalidFieldInCdb(1, 4), 'REGISTER AND MOVE with no reservation to move');
  if (!registrationHolds(state, own))
    return refuse(RESERVATION_CONFLICT, 'sender does not hold the reservation');
  if (isAllRegistrantsType(current.type)) {
    return refuse(RESERVATION_CONFLICT, 'an All Registrants reservation cannot be moved');
  }
  if (request.serviceActionKey === 0n) {
    return refuse(invalidFieldInParameterList(8), 'REGISTER AND MOVE to key 0');
  }
  if (!context.isKnownTargetPort(move.relativeTargetPortId)) {
    return refuse(invalidFieldInParameterList(18), `no target port ${move.relativeTargetPortId}`);
  }
  const sender = initiatorPortOf(nexus);
  const destinationId = move.destination;
  if (
    destinationId.name === sender.name &&
    (destinationId.isid === null || destinationId.isid === sender.isid)
  ) {
    return refuse(invalidFieldInParameterList(24), 'REGISTER AND MOVE to the sender initiator port');
  }
  const destination: Registration = {
    key: request.serviceActionKey,
    initiatorName: destinationId.name,
    isid: destinationId.isid,
    relativeTargetPortId: move.relativeTargetPortId,
  };
  const destinationKey = registrationId(destination);
  const existing = state.registrations.find((r) => registrationId(r) === destinationKey);
  if (existing === undefined) {
    if (state.registrations.some((r) => registrationsOverlap(r, destination))) {
      return refuse(invalidFieldInParameterList(24), 'destination overlaps a registration of another scope');
    }
    if (state.registrations.length >= context.registrationsMax) {
      return refuse(
        INSUFFICIENT_REGISTRATION_RESOURCES,
        `more than ${context.registrationsMax} registrations`,
      );
    }
  }
  let registrations: Registration[] =
    existing === undefined
      ? [...state.registrations, destination]
      : state.registrations.map((r) => (r === existing ? destination : r));
  if (move.unregister) registrations = registrations.filter((r) => r !== own);
  return apply(
    {
      ...state,
      registrations,
      reservation: { type: current.type, holder: destinationKey },
      generation: nextGeneration(state.generation),
      aptpl: request.aptpl,
    },
    `moved the reservation to ${destinationKey}${move.unregister ? ' and unregistered the sender' : ''}`,
  );
}
