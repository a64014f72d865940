/**
 * READ DEFECT DATA(10) and READ DEFECT DATA(12) (SBC-3): a virtual disk has no grown or primary
 * defects, so both lists are always empty.
 *
 * Rules
 * - The header echoes what was asked: PLISTV = REQ_PLIST, GLISTV = REQ_GLIST (an empty list is
 *   still a valid list), DEFECT LIST FORMAT = the requested format, DEFECT LIST LENGTH 0. Every
 *   defined format can describe an empty list, so none is refused or replaced by a default.
 * - DEFECT LIST FORMAT 111b is reserved: ILLEGAL REQUEST, INVALID FIELD IN CDB on its byte.
 * - (10): 4-byte header (SBC-3 READ DEFECT DATA(10) parameter data). (12): 8-byte header,
 *   GENERATION CODE 0 (not supported), DEFECT LIST LENGTH in bytes 4-7; ADDRESS DESCRIPTOR INDEX
 *   past the (empty) list returns just the header.
 * - Truncated to the ALLOCATION LENGTH like any parameter data.
 */
import { Op, readUint16, readUint32 } from './cdb.js';
import { type CommandContext, checkCondition, good, truncate } from './command-context.js';
import type { ScsiResult } from './scsi-types.js';
import { invalidFieldInCdb } from './sense.js';

const RESERVED_FORMAT = 0x07;

export function readDefectData(context: CommandContext): ScsiResult {
  const { cdb } = context;
  const twelve = cdb[0] === Op.READ_DEFECT_DATA_12;
  const flagsByte = twelve ? 1 : 2;
  const flags = cdb[flagsByte]!;
  const format = flags & 0x07;
  if (format === RESERVED_FORMAT) return checkCondition(invalidFieldInCdb(flagsByte, 2));
  // REQ_PLIST (bit 4) and REQ_GLIST (bit 3) become PLISTV and GLISTV at the same positions.
  const headerByte1 = flags & 0x1f;
  if (twelve) {
    const header = Buffer.alloc(8);
    header[1] = headerByte1;
    return good(truncate(header, readUint32(cdb, 6)));
  }
  const header = Buffer.alloc(4);
  header[1] = headerByte1;
  return good(truncate(header, readUint16(cdb, 7)));
}
