/**
 * One SCSI command of the simulated initiator, from the rules' side (RFC 7143 §4.2.5, §11.3,
 * §11.7, §11.8): how its data-out splits into immediate data, an unsolicited burst and solicited
 * bursts, and whether each Data-In and R2T the target sends for it keeps the rules.
 *
 * Rules checked, with DataPDUInOrder=Yes and DataSequenceInOrder=Yes (all Collie negotiates):
 * - Data-In: only for a command with the R bit; DataSN 0, 1, 2, ...; each PDU continues at the
 *   offset reached; nothing past ExpectedDataTransferLength; the S bit only with the F bit.
 * - R2T: only for a command with data-out; R2TSN 0, 1, 2, ...; 1 to MaxBurstLength bytes inside
 *   the solicited part [end of unsolicited data, EDTL); at most MaxOutstandingR2T unanswered; a
 *   real Target Transfer Tag.
 * - Status: with GOOD, the bytes received must be EDTL less an underflow residual.
 * A check returns the broken rule as a sentence, or undefined; the session core decides.
 */
import type { DataInPdu, R2tPdu } from '../../src/iscsi/pdu/messages.js';
import { EMPTY_DATA } from '../../src/iscsi/pdu/messages.js';
import { RESERVED_TAG } from '../../src/iscsi/pdu/opcodes.js';
import type { InitiatorParameters } from './operational-offer.js';

export interface Residual {
  readonly overflow: boolean;
  readonly underflow: boolean;
  readonly count: number;
}

/** How a write's bytes leave (§4.2.5): [0, immediate) in the command, [immediate, unsolicitedEnd) unsolicited. */
export interface DataOutPlan {
  readonly immediateBytes: number;
  readonly unsolicitedEnd: number;
}

export class CommandTask {
  cmdSN = 0;
  /** Received data-in, allocated at the first Data-In (EDTL bytes). */
  dataIn: Buffer | undefined;
  dataInBytes = 0;
  nextDataSN = 0;
  nextR2tSN = 0;
  r2tsOutstanding = 0;
  unsolicitedEnd = 0;
  /** Answered, failed, aborted or forgotten: queued Data-Out of the task is not sent. */
  ended = false;

  constructor(
    readonly tag: number,
    readonly lun: number,
    readonly cdb: Buffer,
    readonly dataOut: Buffer,
    readonly expectedLengthBytes: number,
    readonly read: boolean,
    readonly immediate: boolean,
    readonly taskAttribute: number,
    readonly deadlineMs: number | undefined,
  ) {}

  get write(): boolean {
    return this.dataOut.length > 0;
  }

  /** Immediate data up to FirstBurstLength and the target's MRDSL; with InitialR2T=No the rest of the first burst unsolicited. */
  planDataOut(parameters: InitiatorParameters): DataOutPlan {
    if (!this.write) return { immediateBytes: 0, unsolicitedEnd: 0 };
    const edtl = this.expectedLengthBytes;
    const immediateBytes = parameters.immediateData
      ? Math.min(edtl, parameters.firstBurstLengthBytes, parameters.maxSendDataSegmentLengthBytes)
      : 0;
    const unsolicitedEnd = parameters.initialR2T
      ? immediateBytes
      : Math.max(immediateBytes, Math.min(parameters.firstBurstLengthBytes, edtl));
    this.unsolicitedEnd = unsolicitedEnd;
    return { immediateBytes, unsolicitedEnd };
  }

  /** Checks a Data-In and, when it keeps the rules, takes its data. */
  takeDataIn(pdu: DataInPdu): string | undefined {
    const end = pdu.bufferOffset + pdu.data.length;
    if (!this.read) return 'Data-In for a command without the R bit';
    if (pdu.dataSN !== this.nextDataSN)
      return `Data-In DataSN ${pdu.dataSN} where ${this.nextDataSN} was due`;
    if (pdu.bufferOffset !== this.dataInBytes) {
      return `Data-In at offset ${pdu.bufferOffset} where ${this.dataInBytes} was reached (DataPDUInOrder=Yes)`;
    }
    if (end > this.expectedLengthBytes) {
      return `Data-In runs to ${end}, past ExpectedDataTransferLength ${this.expectedLengthBytes}`;
    }
    if (pdu.statusPresent && !pdu.final) return 'Data-In with the S bit but not the F bit';
    if (pdu.data.length > 0) {
      this.dataIn ??= Buffer.alloc(this.expectedLengthBytes);
      pdu.data.copy(this.dataIn, pdu.bufferOffset);
    }
    this.nextDataSN += 1;
    this.dataInBytes = end;
    return undefined;
  }

  /** Checks an R2T and, when it keeps the rules, counts it as outstanding. */
  takeR2t(pdu: R2tPdu, parameters: InitiatorParameters): string | undefined {
    const end = pdu.bufferOffset + pdu.desiredDataTransferLength;
    if (!this.write) return 'R2T for a command without data-out';
    if (pdu.r2tSN !== this.nextR2tSN) return `R2TSN ${pdu.r2tSN} where ${this.nextR2tSN} was due`;
    if (
      pdu.desiredDataTransferLength === 0 ||
      pdu.desiredDataTransferLength > parameters.maxBurstLengthBytes
    ) {
      return `R2T asks for ${pdu.desiredDataTransferLength} bytes; MaxBurstLength is ${parameters.maxBurstLengthBytes}`;
    }
    if (pdu.bufferOffset < this.unsolicitedEnd || end > this.expectedLengthBytes) {
      return `R2T for [${pdu.bufferOffset}, ${end}) outside the solicited range [${this.unsolicitedEnd}, ${this.expectedLengthBytes})`;
    }
    if (this.r2tsOutstanding >= parameters.maxOutstandingR2T) {
      return `R2T beyond MaxOutstandingR2T ${parameters.maxOutstandingR2T}`;
    }
    if (pdu.targetTransferTag === RESERVED_TAG) return 'R2T with the reserved Target Transfer Tag 0xffffffff';
    this.nextR2tSN += 1;
    this.r2tsOutstanding += 1;
    return undefined;
  }

  /** With GOOD status, the data-in received must match the residual (§11.4.5). */
  residualProblem(status: number, residual: Residual): string | undefined {
    if (!this.read || status !== 0) return undefined;
    const expected = residual.underflow
      ? this.expectedLengthBytes - residual.count
      : this.expectedLengthBytes;
    if (this.dataInBytes === expected) return undefined;
    return `${this.dataInBytes} data-in bytes arrived but the residual says ${expected}`;
  }

  /** The data-in received (a view of the task's buffer). */
  receivedData(): Buffer {
    return this.dataIn === undefined ? EMPTY_DATA : this.dataIn.subarray(0, this.dataInBytes);
  }
}
