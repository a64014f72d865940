/**
 * PERSISTENT RESERVE IN (5Eh): answers built from the reservation state alone (SPC-4 §6.16).
 *
 * CDB: byte 1 bits 4:0 SERVICE ACTION, bytes 7-8 ALLOCATION LENGTH. Every answer is built whole
 * and then cut to the allocation length; the length fields inside still describe the whole
 * answer (SPC-4 §4.2.5.6), which is how an initiator learns it should ask again with more room.
 */
import type { ScsiResult } from '../scsi-types.js';
import { goodWith, invalidFieldInCdb } from './reservation-answers.js';
import {
  PrType,
  type Registration,
  type ReservationState,
  registrationHolds,
  reservationKeyOf,
} from './reservation-state.js';
import { encodeIscsiTransportId } from './transport-id.js';

export const PrInServiceAction = {
  READ_KEYS: 0x00,
  READ_RESERVATION: 0x01,
  REPORT_CAPABILITIES: 0x02,
  READ_FULL_STATUS: 0x03,
} as const;

const CDB_BYTES = 10;
/** Scope LU_SCOPE (0h) in bits 7:4 of the SCOPE/TYPE byte. */
const LU_SCOPE = 0x0;

/** REPORT CAPABILITIES byte 2: CRH 0 (plain SPC-2 RESERVE/RELEASE), SIP_C, ATP_C, PTPL_C. */
const CAPABILITY_BITS = 0x08 | 0x04 | 0x01;
/** Byte 3: TMV, ALLOW COMMANDS 011b (see access-rules.ts); PTPL_A is added per state. */
const TMV_AND_ALLOW_COMMANDS = 0x80 | (0b011 << 4);
/** Bytes 4-5: all six types (WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX | EX_AC_AR). */
const TYPE_MASK = [0x80 | 0x40 | 0x20 | 0x08 | 0x02, 0x01] as const;

export function answerPersistentReserveIn(state: ReservationState, cdb: Buffer): ScsiResult {
  if (cdb.length < CDB_BYTES) return invalidFieldInCdb(0);
  const serviceAction = cdb[1]! & 0x1f;
  const allocationLength = cdb.readUInt16BE(7);
  let answer: Buffer;
  switch (serviceAction) {
    case PrInServiceAction.READ_KEYS:
      answer = readKeys(state);
      break;
    case PrInServiceAction.READ_RESERVATION:
      answer = readReservation(state);
      break;
    case PrInServiceAction.REPORT_CAPABILITIES:
      answer = reportCapabilities(state);
      break;
    case PrInServiceAction.READ_FULL_STATUS:
      answer = readFullStatus(state);
      break;
    default:
      return invalidFieldInCdb(1, 4);
  }
  return goodWith(answer.subarray(0, Math.min(answer.length, allocationLength)));
}

function header(generation: number, additionalLength: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt32BE(generation, 0);
  out.writeUInt32BE(additionalLength, 4);
  return out;
}

/** PRGENERATION, ADDITIONAL LENGTH, then one 8-byte key per registration. */
function readKeys(state: ReservationState): Buffer {
  const keys = Buffer.alloc(8 * state.registrations.length);
  state.registrations.forEach((registration, i) => {
    keys.writeBigUInt64BE(registration.key, 8 * i);
  });
  return Buffer.concat([header(state.generation, keys.length), keys]);
}

/** PRGENERATION, ADDITIONAL LENGTH (0 or 16), then key, scope/type of the reservation if any. */
function readReservation(state: ReservationState): Buffer {
  const reservation = state.reservation;
  if (reservation === null) return header(state.generation, 0);
  const descriptor = Buffer.alloc(16);
  descriptor.writeBigUInt64BE(reservationKeyOf(state), 0);
  descriptor[13] = (LU_SCOPE << 4) | reservation.type;
  return Buffer.concat([header(state.generation, descriptor.length), descriptor]);
}

function reportCapabilities(state: ReservationState): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt16BE(8, 0);
  out[2] = CAPABILITY_BITS;
  out[3] = TMV_AND_ALLOW_COMMANDS | (state.aptpl ? 0x01 : 0x00);
  out[4] = TYPE_MASK[0];
  out[5] = TYPE_MASK[1];
  return out;
}

/** One full status descriptor per registration (SPC-4 §6.16.5). */
function readFullStatus(state: ReservationState): Buffer {
  const descriptors = state.registrations.map((registration) => fullStatusDescriptor(state, registration));
  const body = Buffer.concat(descriptors);
  return Buffer.concat([header(state.generation, body.length), body]);
}

function fullStatusDescriptor(state: ReservationState, registration: Registration): Buffer {
  // A nexus whose port name carried no ISID registered with isid '': name the device (format 00b).
  const isid = registration.isid === '' ? null : registration.isid;
  const transportId = encodeIscsiTransportId({ name: registration.initiatorName, isid });
  const out = Buffer.alloc(24 + transportId.length);
  out.writeBigUInt64BE(registration.key, 0);
  const allTargetPorts = registration.relativeTargetPortId === null;
  const holds = registrationHolds(state, registration);
  out[12] = (allTargetPorts ? 0x02 : 0x00) | (holds ? 0x01 : 0x00);
  // SCOPE and TYPE mean something only on a holder's descriptor.
  out[13] = holds && state.reservation !== null ? (LU_SCOPE << 4) | state.reservation.type : 0;
  // With ALL_TG_PT the standard leaves RELATIVE TARGET PORT IDENTIFIER undefined: we send 0.
  out.writeUInt16BE(registration.relativeTargetPortId ?? 0, 18);
  out.writeUInt32BE(transportId.length, 20);
  transportId.copy(out, 24);
  return out;
}

/** For tests and logs: the type names READ RESERVATION reports. */
export const PR_TYPE_NAMES: Readonly<Record<number, string>> = {
  [PrType.WRITE_EXCLUSIVE]: 'WE',
  [PrType.EXCLUSIVE_ACCESS]: 'EA',
  [PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY]: 'WE-RO',
  [PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY]: 'EA-RO',
  [PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS]: 'WE-AR',
  [PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS]: 'EA-AR',
};
