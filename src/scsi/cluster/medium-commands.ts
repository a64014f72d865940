/**
 * How a clustered logical unit keeps each command fresh, by what the command does.
 *
 * Rules
 * - READ/WRITE-family commands (READ, WRITE, VERIFY, WRITE AND VERIFY, COMPARE AND WRITE, ORWRITE,
 *   WRITE SAME, UNMAP) touch the medium. They are what makes a non-owner take a single-owner LU
 *   over, and their backend IO carries the command's guard: the backend consults it whenever the
 *   shared cell changed under the IO, so they need no store round trip before they start.
 * - UNMAP and WRITE SAME with UNMAP touch the medium without a guard (BlockBackend.unmap takes
 *   none), so they validate the cell first like the commands below.
 * - Every other command validates the cell before it runs (one store round trip), so a unit
 *   attention, reservation or ALUA change made through another node is seen, except INQUIRY,
 *   REPORT LUNS and REQUEST SENSE, which initiators send while probing and which report nothing
 *   another node could have changed (REQUEST SENSE returns what this node already holds).
 */
import { Op } from '../cdb.js';

const READ_WRITE_FAMILY: ReadonlySet<number> = new Set([
  Op.READ_6,
  Op.READ_10,
  Op.READ_12,
  Op.READ_16,
  Op.WRITE_6,
  Op.WRITE_10,
  Op.WRITE_12,
  Op.WRITE_16,
  Op.VERIFY_10,
  Op.VERIFY_12,
  Op.VERIFY_16,
  Op.WRITE_AND_VERIFY_10,
  Op.WRITE_AND_VERIFY_12,
  Op.WRITE_AND_VERIFY_16,
  Op.COMPARE_AND_WRITE,
  Op.ORWRITE_16,
  Op.WRITE_SAME_10,
  Op.WRITE_SAME_16,
  Op.UNMAP,
]);

const NO_VALIDATION: ReadonlySet<number> = new Set([Op.INQUIRY, Op.REPORT_LUNS, Op.REQUEST_SENSE]);

const WRITE_SAME_UNMAP = 0x08;

/** A READ/WRITE-family command: it reads or changes blocks. */
export function touchesMedium(cdb: Buffer): boolean {
  return READ_WRITE_FAMILY.has(cdb[0] ?? -1);
}

/** A medium command whose backend IO cannot carry the guard. */
function unguarded(cdb: Buffer): boolean {
  const opcode = cdb[0];
  if (opcode === Op.UNMAP) return true;
  return (
    (opcode === Op.WRITE_SAME_10 || opcode === Op.WRITE_SAME_16) && ((cdb[1] ?? 0) & WRITE_SAME_UNMAP) !== 0
  );
}

/** Whether the LU validates the shared cell (one store round trip) before running the command. */
export function needsValidation(cdb: Buffer): boolean {
  if (NO_VALIDATION.has(cdb[0] ?? -1)) return false;
  return !touchesMedium(cdb) || unguarded(cdb);
}
