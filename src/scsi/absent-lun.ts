/**
 * Answers for a LUN that does not exist (SAM-5 §5.6, SPC-4 §4.5.2.3 / §6.6.2):
 * - INQUIRY: standard data with PERIPHERAL QUALIFIER 011b and device type 1Fh ("not capable
 *   of supporting a device on this logical unit"), so scanners see an empty slot;
 * - REPORT LUNS: the target's real list (initiators send it to LUN 0 even when LUN 0 does not
 *   exist);
 * - REQUEST SENSE: GOOD with sense data LOGICAL UNIT NOT SUPPORTED;
 * - anything else: CHECK CONDITION, ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED (25h/00h).
 */

import { type ScsiResult, ScsiStatus, type Sense, SenseKey } from './scsi-types.js';
import { encodeSense } from './sense.js';
import { encodeLun } from './spc-misc.js';

export const LUN_NOT_SUPPORTED: Sense = { key: SenseKey.ILLEGAL_REQUEST, asc: 0x25, ascq: 0x00 };

export function answerAbsentLun(cdb: Buffer, luns: readonly number[]): ScsiResult {
  switch (cdb[0]) {
    case 0x12: {
      // INQUIRY: only standard data; VPD pages of a missing LU are an invalid request.
      if ((cdb[1]! & 0x01) !== 0) return { status: ScsiStatus.CHECK_CONDITION, sense: LUN_NOT_SUPPORTED };
      const data = Buffer.alloc(36);
      data[0] = 0x7f; // PQ 011b, PDT 1Fh
      data[2] = 0x06; // SPC-4
      data[3] = 0x02; // response data format 2
      data[4] = 36 - 5;
      return { status: ScsiStatus.GOOD, dataIn: data.subarray(0, Math.min(36, cdb.readUInt16BE(3))) };
    }
    case 0xa0: {
      const allocationLength = cdb.readUInt32BE(6);
      const fields = luns.map(encodeLun).filter((field): field is Buffer => field !== undefined);
      const header = Buffer.alloc(8);
      header.writeUInt32BE(fields.length * 8, 0);
      const data = Buffer.concat([header, ...fields]);
      return { status: ScsiStatus.GOOD, dataIn: data.subarray(0, Math.min(data.length, allocationLength)) };
    }
    case 0x03: {
      const sense = encodeSense(LUN_NOT_SUPPORTED, (cdb[1]! & 0x01) !== 0 ? 'descriptor' : 'fixed');
      return { status: ScsiStatus.GOOD, dataIn: sense.subarray(0, Math.min(sense.length, cdb[4]!)) };
    }
    default:
      return { status: ScsiStatus.CHECK_CONDITION, sense: LUN_NOT_SUPPORTED };
  }
}
