/**
 * Completes a task's PDU with the numbers the connection owns at send time: StatSN, ExpCmdSN and
 * MaxCmdSN (RFC 7143 §11.2, see iscsi-connection.ts for which PDUs advance StatSN).
 *
 * Why a field-by-field copy and not `{ ...pdu, statSN, ... }`: this runs for every R2T, Data-In
 * and SCSI Response, and an object spread of ~17 properties plus three more was one of the
 * largest self-time entries of a 4 KiB read profile. A literal of known shape is allocated in
 * one step, and the compiler checks that every field of the PDU type is copied.
 */
import type { DataInPdu, R2tPdu, ScsiResponsePdu } from '../pdu/messages.js';
import type { TaskOutput } from './scsi-task.js';

export function stampTaskOutput(
  pdu: TaskOutput,
  statSN: number,
  expCmdSN: number,
  maxCmdSN: number,
): R2tPdu | DataInPdu | ScsiResponsePdu {
  switch (pdu.kind) {
    case 'data-in':
      return {
        kind: 'data-in',
        ahs: pdu.ahs,
        data: pdu.data,
        final: pdu.final,
        acknowledge: pdu.acknowledge,
        residualOverflow: pdu.residualOverflow,
        residualUnderflow: pdu.residualUnderflow,
        statusPresent: pdu.statusPresent,
        status: pdu.status,
        lun: pdu.lun,
        initiatorTaskTag: pdu.initiatorTaskTag,
        targetTransferTag: pdu.targetTransferTag,
        statSN,
        expCmdSN,
        maxCmdSN,
        dataSN: pdu.dataSN,
        bufferOffset: pdu.bufferOffset,
        residualCount: pdu.residualCount,
      };
    case 'scsi-response':
      return {
        kind: 'scsi-response',
        ahs: pdu.ahs,
        data: pdu.data,
        bidirectionalReadResidualOverflow: pdu.bidirectionalReadResidualOverflow,
        bidirectionalReadResidualUnderflow: pdu.bidirectionalReadResidualUnderflow,
        residualOverflow: pdu.residualOverflow,
        residualUnderflow: pdu.residualUnderflow,
        response: pdu.response,
        status: pdu.status,
        initiatorTaskTag: pdu.initiatorTaskTag,
        snackTag: pdu.snackTag,
        statSN,
        expCmdSN,
        maxCmdSN,
        expDataSN: pdu.expDataSN,
        bidirectionalReadResidualCount: pdu.bidirectionalReadResidualCount,
        residualCount: pdu.residualCount,
      };
    case 'r2t':
      return {
        kind: 'r2t',
        ahs: pdu.ahs,
        data: pdu.data,
        lun: pdu.lun,
        initiatorTaskTag: pdu.initiatorTaskTag,
        targetTransferTag: pdu.targetTransferTag,
        statSN,
        expCmdSN,
        maxCmdSN,
        r2tSN: pdu.r2tSN,
        bufferOffset: pdu.bufferOffset,
        desiredDataTransferLength: pdu.desiredDataTransferLength,
      };
  }
}
