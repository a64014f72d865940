/**
 * Sense data: the named additional sense codes this LU uses, builders for the common conditions,
 * and the two encodings (SPC-4).
 *
 * - Fixed format (response code 70h, SPC-4): 18 bytes; INFORMATION is 4 bytes, so
 *   VALID is set only when the value fits in 32 bits.
 * - Descriptor format (response code 72h, SPC-4): an 8-byte header, then an
 *   Information descriptor (type 00h) and a Sense-key specific descriptor (type 02h) when
 *   those fields are present.
 * - Which one a CHECK CONDITION uses is the LU's D_SENSE bit (control mode page); REQUEST SENSE
 *   chooses with its DESC bit.
 * - Sense-key specific field pointer (SPC-4): SKSV, C/D (1 = in the CDB,
 *   0 = in the parameter list), BPV and BIT POINTER, then a 2-byte FIELD POINTER. Progress
 *   indication (NOT READY, e.g. SANITIZE IN PROGRESS): SKSV, then a 2-byte PROGRESS INDICATION,
 *   the fraction done in 65536ths.
 * - COMMAND-SPECIFIC INFORMATION (EXTENDED COPY: the segments processed before it stopped):
 *   fixed bytes 8-11, or a Command-specific information descriptor (type 01h).
 */
import type { Sense } from './scsi-types.js';
import { SenseKey } from './scsi-types.js';

export interface AdditionalSenseCode {
  readonly asc: number;
  readonly ascq: number;
}

/** Additional sense codes (SPC-4 Annex D) used by the LU. */
export const Asc = {
  NO_ADDITIONAL_SENSE: { asc: 0x00, ascq: 0x00 },
  LOGICAL_UNIT_NOT_READY: { asc: 0x04, ascq: 0x00 },
  LOGICAL_UNIT_NOT_READY_MANUAL_INTERVENTION_REQUIRED: { asc: 0x04, ascq: 0x03 },
  ASYMMETRIC_ACCESS_STATE_TRANSITION: { asc: 0x04, ascq: 0x0a },
  TARGET_PORT_IN_STANDBY_STATE: { asc: 0x04, ascq: 0x0b },
  TARGET_PORT_IN_UNAVAILABLE_STATE: { asc: 0x04, ascq: 0x0c },
  LOGICAL_UNIT_NOT_READY_OFFLINE: { asc: 0x04, ascq: 0x12 },
  LOGICAL_UNIT_NOT_READY_SANITIZE_IN_PROGRESS: { asc: 0x04, ascq: 0x1b },
  OPERATION_IN_PROGRESS: { asc: 0x00, ascq: 0x16 },
  LOGICAL_UNIT_COMMUNICATION_FAILURE: { asc: 0x08, ascq: 0x00 },
  UNREACHABLE_COPY_TARGET: { asc: 0x08, ascq: 0x04 },
  WRITE_ERROR: { asc: 0x0c, ascq: 0x00 },
  THIRD_PARTY_DEVICE_FAILURE: { asc: 0x0d, ascq: 0x01 },
  COPY_TARGET_DEVICE_NOT_REACHABLE: { asc: 0x0d, ascq: 0x02 },
  INCORRECT_COPY_TARGET_DEVICE_TYPE: { asc: 0x0d, ascq: 0x03 },
  UNRECOVERED_READ_ERROR: { asc: 0x11, ascq: 0x00 },
  PARAMETER_LIST_LENGTH_ERROR: { asc: 0x1a, ascq: 0x00 },
  MISCOMPARE_DURING_VERIFY_OPERATION: { asc: 0x1d, ascq: 0x00 },
  INVALID_COMMAND_OPERATION_CODE: { asc: 0x20, ascq: 0x00 },
  LBA_OUT_OF_RANGE: { asc: 0x21, ascq: 0x00 },
  INVALID_FIELD_IN_CDB: { asc: 0x24, ascq: 0x00 },
  LOGICAL_UNIT_NOT_SUPPORTED: { asc: 0x25, ascq: 0x00 },
  INVALID_FIELD_IN_PARAMETER_LIST: { asc: 0x26, ascq: 0x00 },
  TOO_MANY_TARGET_DESCRIPTORS: { asc: 0x26, ascq: 0x06 },
  UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE: { asc: 0x26, ascq: 0x07 },
  TOO_MANY_SEGMENT_DESCRIPTORS: { asc: 0x26, ascq: 0x08 },
  UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE: { asc: 0x26, ascq: 0x09 },
  UNEXPECTED_INEXACT_SEGMENT: { asc: 0x26, ascq: 0x0a },
  INLINE_DATA_LENGTH_EXCEEDED: { asc: 0x26, ascq: 0x0b },
  WRITE_PROTECTED: { asc: 0x27, ascq: 0x00 },
  SPACE_ALLOCATION_FAILED_WRITE_PROTECT: { asc: 0x27, ascq: 0x07 },
  POWER_ON_RESET_OR_BUS_DEVICE_RESET_OCCURRED: { asc: 0x29, ascq: 0x00 },
  BUS_DEVICE_RESET_FUNCTION_OCCURRED: { asc: 0x29, ascq: 0x03 },
  I_T_NEXUS_LOSS_OCCURRED: { asc: 0x29, ascq: 0x07 },
  MODE_PARAMETERS_CHANGED: { asc: 0x2a, ascq: 0x01 },
  RESERVATIONS_PREEMPTED: { asc: 0x2a, ascq: 0x03 },
  RESERVATIONS_RELEASED: { asc: 0x2a, ascq: 0x04 },
  REGISTRATIONS_PREEMPTED: { asc: 0x2a, ascq: 0x05 },
  ASYMMETRIC_ACCESS_STATE_CHANGED: { asc: 0x2a, ascq: 0x06 },
  CAPACITY_DATA_HAS_CHANGED: { asc: 0x2a, ascq: 0x09 },
  SANITIZE_COMMAND_FAILED: { asc: 0x31, ascq: 0x03 },
  SAVING_PARAMETERS_NOT_SUPPORTED: { asc: 0x39, ascq: 0x00 },
  MEDIUM_NOT_PRESENT: { asc: 0x3a, ascq: 0x00 },
  REPORTED_LUNS_DATA_HAS_CHANGED: { asc: 0x3f, ascq: 0x0e },
  INTERNAL_TARGET_FAILURE: { asc: 0x44, ascq: 0x00 },
  MEDIUM_REMOVAL_PREVENTED: { asc: 0x53, ascq: 0x02 },
} as const satisfies Record<string, AdditionalSenseCode>;

export function senseOf(key: number, code: AdditionalSenseCode, extra: Partial<Sense> = {}): Sense {
  return { key, asc: code.asc, ascq: code.ascq, ...extra };
}

/** ILLEGAL REQUEST, INVALID FIELD IN CDB, pointing at `byte` (and `bit`, the field's top bit). */
export function invalidFieldInCdb(byte: number, bit?: number): Sense {
  return senseOf(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB, {
    fieldPointer: bit === undefined ? { inCdb: true, byte } : { inCdb: true, byte, bit },
  });
}

/** ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST, pointing into the Data-Out parameter list. */
export function invalidFieldInParameterList(byte: number, bit?: number): Sense {
  return senseOf(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST, {
    fieldPointer: bit === undefined ? { inCdb: false, byte } : { inCdb: false, byte, bit },
  });
}

export function illegalRequest(code: AdditionalSenseCode): Sense {
  return senseOf(SenseKey.ILLEGAL_REQUEST, code);
}

export const INVALID_OPCODE: Sense = illegalRequest(Asc.INVALID_COMMAND_OPERATION_CODE);
export const LBA_OUT_OF_RANGE: Sense = illegalRequest(Asc.LBA_OUT_OF_RANGE);
export const PARAMETER_LIST_LENGTH_ERROR: Sense = illegalRequest(Asc.PARAMETER_LIST_LENGTH_ERROR);
export const WRITE_PROTECTED: Sense = senseOf(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
export const MEDIUM_NOT_PRESENT: Sense = senseOf(SenseKey.NOT_READY, Asc.MEDIUM_NOT_PRESENT);
export const NO_SENSE: Sense = senseOf(SenseKey.NO_SENSE, Asc.NO_ADDITIONAL_SENSE);

/** MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION, INFORMATION = offset of the first bad byte. */
export function miscompareAt(offsetBytes: number): Sense {
  return senseOf(SenseKey.MISCOMPARE, Asc.MISCOMPARE_DURING_VERIFY_OPERATION, {
    information: BigInt(offsetBytes),
  });
}

export const FIXED_SENSE_LENGTH_BYTES = 18;

function senseKeySpecific(sense: Sense): [number, number, number] | undefined {
  if (sense.progress !== undefined) {
    const progress = Math.max(0, Math.min(0xffff, Math.floor(sense.progress)));
    return [0x80, (progress >> 8) & 0xff, progress & 0xff]; // SKSV, PROGRESS INDICATION
  }
  const pointer = sense.fieldPointer;
  if (pointer === undefined) return undefined;
  let first = 0x80; // SKSV
  if (pointer.inCdb) first |= 0x40; // C/D
  if (pointer.bit !== undefined) first |= 0x08 | (pointer.bit & 0x07); // BPV, BIT POINTER
  return [first, (pointer.byte >> 8) & 0xff, pointer.byte & 0xff];
}

/** Fixed-format sense data, current error (SPC-4). */
export function encodeFixedSense(sense: Sense): Buffer {
  const data = Buffer.alloc(FIXED_SENSE_LENGTH_BYTES);
  const information = sense.information;
  const informationFits = information !== undefined && information >= 0n && information <= 0xffffffffn;
  data[0] = (informationFits ? 0x80 : 0) | 0x70;
  data[2] = sense.key & 0x0f;
  if (informationFits) data.writeUInt32BE(Number(information), 3);
  data[7] = FIXED_SENSE_LENGTH_BYTES - 8;
  if (sense.commandSpecific !== undefined) data.writeUInt32BE(sense.commandSpecific >>> 0, 8);
  data[12] = sense.asc;
  data[13] = sense.ascq;
  const specific = senseKeySpecific(sense);
  if (specific !== undefined) {
    data[15] = specific[0];
    data[16] = specific[1];
    data[17] = specific[2];
  }
  return data;
}

/** Descriptor-format sense data, current error (SPC-4). */
export function encodeDescriptorSense(sense: Sense): Buffer {
  const descriptors: Buffer[] = [];
  if (sense.information !== undefined) {
    const information = Buffer.alloc(12);
    information[0] = 0x00; // DESCRIPTOR TYPE: information
    information[1] = 0x0a; // ADDITIONAL LENGTH
    information[2] = 0x80; // VALID
    information.writeBigUInt64BE(BigInt.asUintN(64, sense.information), 4);
    descriptors.push(information);
  }
  if (sense.commandSpecific !== undefined) {
    const commandSpecific = Buffer.alloc(12);
    commandSpecific[0] = 0x01; // DESCRIPTOR TYPE: command-specific information
    commandSpecific[1] = 0x0a; // ADDITIONAL LENGTH
    commandSpecific.writeBigUInt64BE(BigInt(sense.commandSpecific >>> 0), 4);
    descriptors.push(commandSpecific);
  }
  const specific = senseKeySpecific(sense);
  if (specific !== undefined) {
    const descriptor = Buffer.alloc(8);
    descriptor[0] = 0x02; // DESCRIPTOR TYPE: sense key specific
    descriptor[1] = 0x06; // ADDITIONAL LENGTH
    descriptor[4] = specific[0];
    descriptor[5] = specific[1];
    descriptor[6] = specific[2];
    descriptors.push(descriptor);
  }
  const header = Buffer.alloc(8);
  header[0] = 0x72;
  header[1] = sense.key & 0x0f;
  header[2] = sense.asc;
  header[3] = sense.ascq;
  header[7] = descriptors.reduce((total, descriptor) => total + descriptor.length, 0);
  return Buffer.concat([header, ...descriptors]);
}

export function encodeSense(sense: Sense, format: 'fixed' | 'descriptor'): Buffer {
  return format === 'descriptor' ? encodeDescriptorSense(sense) : encodeFixedSense(sense);
}
