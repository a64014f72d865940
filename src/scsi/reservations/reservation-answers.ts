/**
 * The statuses and sense conditions the reservation code answers with, in one place so the
 * rules files read as rules. Sense values come from ../sense.ts (SPC-4 annex D).
 */
import { type ScsiResult, ScsiStatus, type Sense, SenseKey } from '../scsi-types.js';
import {
  Asc,
  INVALID_OPCODE,
  illegalRequest,
  invalidFieldInCdb as invalidFieldInCdbSense,
  invalidFieldInParameterList as invalidFieldInParameterListSense,
  PARAMETER_LIST_LENGTH_ERROR as PARAMETER_LIST_LENGTH_ERROR_SENSE,
  senseOf,
} from '../sense.js';

export const RESERVATIONS_PREEMPTED: Sense = senseOf(SenseKey.UNIT_ATTENTION, Asc.RESERVATIONS_PREEMPTED);
export const RESERVATIONS_RELEASED: Sense = senseOf(SenseKey.UNIT_ATTENTION, Asc.RESERVATIONS_RELEASED);
export const REGISTRATIONS_PREEMPTED: Sense = senseOf(SenseKey.UNIT_ATTENTION, Asc.REGISTRATIONS_PREEMPTED);

export const GOOD: ScsiResult = { status: ScsiStatus.GOOD };
export const RESERVATION_CONFLICT: ScsiResult = { status: ScsiStatus.RESERVATION_CONFLICT };
/** The state store kept losing compare-and-set races: transient, the initiator retries. */
export const BUSY: ScsiResult = { status: ScsiStatus.BUSY };

export function goodWith(dataIn: Buffer): ScsiResult {
  return { status: ScsiStatus.GOOD, dataIn };
}

function checkCondition(sense: Sense): ScsiResult {
  return { status: ScsiStatus.CHECK_CONDITION, sense };
}

/** 24/00 INVALID FIELD IN CDB, pointing at the byte (and the field's top bit). */
export function invalidFieldInCdb(byte: number, bit?: number): ScsiResult {
  return checkCondition(invalidFieldInCdbSense(byte, bit));
}

/** 26/00 INVALID FIELD IN PARAMETER LIST, pointing at the parameter byte (and bit). */
export function invalidFieldInParameterList(byte: number, bit?: number): ScsiResult {
  return checkCondition(invalidFieldInParameterListSense(byte, bit));
}

/** 1A/00 PARAMETER LIST LENGTH ERROR. */
export const PARAMETER_LIST_LENGTH_ERROR: ScsiResult = checkCondition(PARAMETER_LIST_LENGTH_ERROR_SENSE);
/** 26/04 INVALID RELEASE OF PERSISTENT RESERVATION. */
export const INVALID_RELEASE_OF_PERSISTENT_RESERVATION: ScsiResult = checkCondition(
  illegalRequest({ asc: 0x26, ascq: 0x04 }),
);
/** 55/04 INSUFFICIENT REGISTRATION RESOURCES. */
export const INSUFFICIENT_REGISTRATION_RESOURCES: ScsiResult = checkCondition(
  illegalRequest({ asc: 0x55, ascq: 0x04 }),
);
/** 20/00 INVALID COMMAND OPERATION CODE: the gate was handed a command it does not own. */
export const INVALID_COMMAND_OPERATION_CODE: ScsiResult = checkCondition(INVALID_OPCODE);
