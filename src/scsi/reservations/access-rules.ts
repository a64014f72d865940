/**
 * Which commands conflict with which reservation, for which I_T nexus.
 *
 * Sources: SPC-4 §5.13 table "SPC commands that are allowed in the presence of various
 * reservations" (as revised in spc4r17 and used by Linux LIO), the matching SBC-3 table, and
 * SPC-2 §5.5.1 for RESERVE/RELEASE. Every command falls in one class:
 *
 *   class        SPC-2 reserved   WE / EA non-holder       RO / AR types
 *                by another       (registered or not)      registered | not registered
 *   allowed      allowed*         allowed                  allowed    | allowed
 *   inspect      conflict         WE: allowed; EA: only    allowed    | WE-xx allowed, EA-xx conflict
 *                                 registered nexuses
 *   read         conflict         WE allowed, EA conflict  allowed    | WE-xx allowed, EA-xx conflict
 *   write        conflict         conflict                 allowed    | conflict
 *
 *   * under SPC-2 only INQUIRY, REPORT LUNS, REQUEST SENSE, LOG SENSE, READ CAPACITY, READ MEDIA
 *     SERIAL NUMBER, the MAINTENANCE IN reports, RELEASE (a no-op for a non-holder), PREVENT
 *     ALLOW MEDIUM REMOVAL with PREVENT 0 and START STOP UNIT with START 1, POWER CONDITION 0
 *     get through; TEST UNIT READY and MODE SENSE conflict (tgt lets MODE SENSE through and
 *     fails libiscsi's Reserve6.2Initiators for it).
 *
 * Special rows:
 * - PERSISTENT RESERVE IN/OUT conflict for everyone, the holder too, while an SPC-2 reservation
 *   exists (SPC-2 §5.5.1). Under a persistent reservation they always pass the gate; PR OUT's
 *   service action decides (reservation key checks answer RESERVATION CONFLICT there).
 * - RESERVE/RELEASE(6)/(10) conflict for everyone while any registration exists: we report
 *   CRH=0, so the SPC-3 §5.6.3 exceptions do not apply.
 * - The holder of either kind of reservation is never refused (but see PR IN/OUT above).
 * - TEST UNIT READY passes every persistent reservation, which REPORT CAPABILITIES announces as
 *   ALLOW COMMANDS 011b together with the `inspect` commands passing Write Exclusive types.
 */
import type { Nexus } from '../scsi-types.js';
import {
  findRegistration,
  isPersistentReservationHolder,
  isSpc2Holder,
  isWriteExclusiveFamily,
  PrType,
  type PrTypeCode,
  type ReservationState,
} from './reservation-state.js';

export type CommandClass =
  | 'allowed'
  | 'inspect'
  | 'read'
  | 'write'
  | 'persistent-reserve'
  | 'spc2-reserve'
  | 'spc2-release';

/** Operation codes this file sorts (SPC-4 / SBC-3 numbering). */
const Op = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  READ_6: 0x08,
  INQUIRY: 0x12,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  RECEIVE_DIAGNOSTIC_RESULTS: 0x1c,
  PREVENT_ALLOW_MEDIUM_REMOVAL: 0x1e,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  VERIFY_10: 0x2f,
  PRE_FETCH_10: 0x34,
  READ_DEFECT_DATA_10: 0x37,
  READ_BUFFER: 0x3c,
  LOG_SENSE: 0x4d,
  XDREAD_10: 0x52,
  RESERVE_10: 0x56,
  RELEASE_10: 0x57,
  MODE_SENSE_10: 0x5a,
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  RESERVE_6: 0x16,
  RELEASE_6: 0x17,
  VARIABLE_LENGTH: 0x7f,
  RECEIVE_COPY_RESULTS: 0x84,
  ACCESS_CONTROL_IN: 0x86,
  ACCESS_CONTROL_OUT: 0x87,
  READ_16: 0x88,
  READ_ATTRIBUTE: 0x8c,
  VERIFY_16: 0x8f,
  PRE_FETCH_16: 0x90,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
  SECURITY_PROTOCOL_IN: 0xa2,
  MAINTENANCE_IN: 0xa3,
  READ_12: 0xa8,
  SERVICE_ACTION_IN_12: 0xab,
  VERIFY_12: 0xaf,
  READ_DEFECT_DATA_12: 0xb7,
} as const;

/** Opcodes whose class does not depend on other CDB fields. */
const FIXED_CLASS: ReadonlyMap<number, CommandClass> = new Map<number, CommandClass>([
  [Op.TEST_UNIT_READY, 'allowed'],
  [Op.REQUEST_SENSE, 'allowed'],
  [Op.INQUIRY, 'allowed'],
  [Op.LOG_SENSE, 'allowed'],
  [Op.READ_CAPACITY_10, 'allowed'],
  [Op.REPORT_LUNS, 'allowed'],
  [Op.ACCESS_CONTROL_IN, 'allowed'],
  [Op.ACCESS_CONTROL_OUT, 'allowed'],
  [Op.MODE_SENSE_6, 'inspect'],
  [Op.MODE_SENSE_10, 'inspect'],
  [Op.READ_ATTRIBUTE, 'inspect'],
  [Op.READ_BUFFER, 'inspect'],
  [Op.RECEIVE_DIAGNOSTIC_RESULTS, 'inspect'],
  [Op.RECEIVE_COPY_RESULTS, 'inspect'],
  [Op.SECURITY_PROTOCOL_IN, 'inspect'],
  [Op.READ_6, 'read'],
  [Op.READ_10, 'read'],
  [Op.READ_12, 'read'],
  [Op.READ_16, 'read'],
  [Op.VERIFY_10, 'read'],
  [Op.VERIFY_12, 'read'],
  [Op.VERIFY_16, 'read'],
  [Op.PRE_FETCH_10, 'read'],
  [Op.PRE_FETCH_16, 'read'],
  [Op.READ_DEFECT_DATA_10, 'read'],
  [Op.READ_DEFECT_DATA_12, 'read'],
  [Op.XDREAD_10, 'read'],
  [Op.PERSISTENT_RESERVE_IN, 'persistent-reserve'],
  [Op.PERSISTENT_RESERVE_OUT, 'persistent-reserve'],
  [Op.RESERVE_6, 'spc2-reserve'],
  [Op.RESERVE_10, 'spc2-reserve'],
  [Op.RELEASE_6, 'spc2-release'],
  [Op.RELEASE_10, 'spc2-release'],
]);

/** MAINTENANCE IN service actions: reports that reveal nothing of the medium pass everything. */
const MAINTENANCE_IN_CLASS: ReadonlyMap<number, CommandClass> = new Map<number, CommandClass>([
  [0x05, 'allowed'], // REPORT IDENTIFYING INFORMATION
  [0x0a, 'allowed'], // REPORT TARGET PORT GROUPS
  [0x0b, 'allowed'], // REPORT ALIASES
  [0x0e, 'allowed'], // REPORT PRIORITY
  [0x0f, 'allowed'], // REPORT TIMESTAMP
  [0x0c, 'inspect'], // REPORT SUPPORTED OPERATION CODES
  [0x0d, 'inspect'], // REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS
  [0x10, 'inspect'], // MANAGEMENT PROTOCOL IN
]);

/** SERVICE ACTION IN(16) service actions (SBC-3). READ LONG(16) is write-class, as in SBC-3. */
const SERVICE_ACTION_IN_16_CLASS: ReadonlyMap<number, CommandClass> = new Map<number, CommandClass>([
  [0x10, 'allowed'], // READ CAPACITY(16)
  [0x12, 'read'], // GET LBA STATUS
  [0x13, 'read'], // REPORT REFERRALS
]);

/** Variable-length (7Fh) service actions that read: READ(32), VERIFY(32). */
const VARIABLE_LENGTH_READS: ReadonlySet<number> = new Set([0x0009, 0x000a]);

function byteAt(cdb: Buffer, index: number): number {
  return cdb[index] ?? 0;
}

/** The class of a command; anything unknown is `write`, the safe side. */
export function classifyCommand(cdb: Buffer): CommandClass {
  const opcode = byteAt(cdb, 0);
  const fixed = FIXED_CLASS.get(opcode);
  if (fixed !== undefined) return fixed;
  const serviceAction = byteAt(cdb, 1) & 0x1f;
  switch (opcode) {
    case Op.MAINTENANCE_IN:
      return MAINTENANCE_IN_CLASS.get(serviceAction) ?? 'write';
    case Op.SERVICE_ACTION_IN_16:
      return SERVICE_ACTION_IN_16_CLASS.get(serviceAction) ?? 'write';
    case Op.SERVICE_ACTION_IN_12:
      return serviceAction === 0x01 ? 'allowed' : 'write'; // READ MEDIA SERIAL NUMBER
    case Op.VARIABLE_LENGTH:
      return VARIABLE_LENGTH_READS.has((byteAt(cdb, 8) << 8) | byteAt(cdb, 9)) ? 'read' : 'write';
    case Op.PREVENT_ALLOW_MEDIUM_REMOVAL:
      // PREVENT field 00b only allows removal, which cannot hurt the holder.
      return (byteAt(cdb, 4) & 0x03) === 0 ? 'allowed' : 'write';
    case Op.START_STOP_UNIT: {
      // START 1 with POWER CONDITION 0 only spins up; anything else can stop the holder's I/O.
      const start = byteAt(cdb, 4) & 0x01;
      const powerCondition = byteAt(cdb, 4) >> 4;
      return start === 1 && powerCondition === 0 ? 'allowed' : 'write';
    }
    default:
      return 'write';
  }
}

/** SPC-2 §5.5.1: may a nexus that does not hold the SPC-2 reservation run this command? */
export function spc2AllowsNonHolder(cdb: Buffer): boolean {
  const opcode = byteAt(cdb, 0);
  if (opcode === Op.TEST_UNIT_READY) return false;
  const cls = classifyCommand(cdb);
  return cls === 'allowed' || cls === 'spc2-release';
}

/** Under a persistent reservation of `type`, may a nexus that does not hold it run a command of `cls`? */
export function persistentReservationAllowsNonHolder(
  cls: CommandClass,
  type: PrTypeCode,
  registered: boolean,
): boolean {
  const writeExclusive = isWriteExclusiveFamily(type);
  const plainType = type === PrType.WRITE_EXCLUSIVE || type === PrType.EXCLUSIVE_ACCESS;
  switch (cls) {
    case 'allowed':
    case 'persistent-reserve':
      return true;
    case 'spc2-reserve':
    case 'spc2-release':
      // Only reached with registrations present, which already conflicts (CRH=0).
      return false;
    case 'inspect':
      return writeExclusive || registered;
    case 'read':
      return writeExclusive || (registered && !plainType);
    case 'write':
      return registered && !plainType;
  }
}

export interface AccessVerdict {
  readonly verdict: 'ok' | 'conflict';
  /** Why, for the log line of a conflict. */
  readonly why: string;
}

const OK: AccessVerdict = { verdict: 'ok', why: 'no reservation applies' };

/** The whole gate decision for one command on one nexus. */
export function decideAccess(state: ReservationState, nexus: Nexus, cdb: Buffer): AccessVerdict {
  const cls = classifyCommand(cdb);
  if (state.spc2 !== null) {
    if (cls === 'persistent-reserve') {
      return { verdict: 'conflict', why: 'PERSISTENT RESERVE IN/OUT while an SPC-2 reservation exists' };
    }
    if (!isSpc2Holder(state.spc2, nexus) && !spc2AllowsNonHolder(cdb)) {
      return { verdict: 'conflict', why: `SPC-2 reservation held by ${state.spc2.initiatorPortName}` };
    }
  }
  if ((cls === 'spc2-reserve' || cls === 'spc2-release') && state.registrations.length > 0) {
    return { verdict: 'conflict', why: 'RESERVE/RELEASE while persistent registrations exist (CRH=0)' };
  }
  const reservation = state.reservation;
  if (reservation === null || isPersistentReservationHolder(state, nexus)) return OK;
  const registered = findRegistration(state, nexus) !== undefined;
  if (persistentReservationAllowsNonHolder(cls, reservation.type, registered)) return OK;
  return {
    verdict: 'conflict',
    why: `${cls} command from a ${registered ? 'registered' : 'unregistered'} non-holder under persistent reservation type ${reservation.type}`,
  };
}
