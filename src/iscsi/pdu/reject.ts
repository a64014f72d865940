/**
 * Building a Reject PDU (RFC 7143 §11.17) for a PDU the target will not process.
 *
 * The Reject's data segment is the complete header of the rejected PDU, without its digest
 * (§11.17.3); Collie returns the 48-byte BHS, which is all initiators look at to find the task.
 * The BHS is copied, because the one a framer returns may alias a socket chunk.
 *
 * The sequence numbers are the session's business, so the caller passes them: a Reject carries
 * the current StatSN, ExpCmdSN and MaxCmdSN like any target response (§11.17.2).
 */
import { assert } from '../../core/assert.js';
import { BHS_BYTES } from './bhs.js';
import type { RejectPdu } from './messages.js';
import type { RejectReasonValue } from './opcodes.js';

export interface RejectSequenceNumbers {
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** DataSN/R2TSN, only for a rejected SNACK (reason SNACK_REJECT); 0 otherwise. */
  readonly dataSN?: number;
}

export function rejectFor(bhs: Buffer, reason: RejectReasonValue, numbers: RejectSequenceNumbers): RejectPdu {
  assert(bhs.length >= BHS_BYTES, `rejectFor needs the ${BHS_BYTES}-byte BHS but got ${bhs.length} bytes`);
  return {
    kind: 'reject',
    reason,
    statSN: numbers.statSN,
    expCmdSN: numbers.expCmdSN,
    maxCmdSN: numbers.maxCmdSN,
    dataSN: numbers.dataSN ?? 0,
    ahs: [],
    data: Buffer.from(bhs.subarray(0, BHS_BYTES)),
  };
}
