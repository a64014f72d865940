/**
 * One SCSI command of a session, from its SCSI Command PDU to its last PDU (RFC 7143 §4.2.5,
 * §11.3, §11.4, §11.7):
 *
 *   collecting (WRITE-like: immediate, unsolicited and R2T-solicited data-out)
 *     → executing (the logical unit runs it)
 *     → responding (Data-In PDUs, then status: in the last Data-In when GOOD, else a SCSI
 *       Response carrying sense) → done
 *   any state → aborted (task management, session end): no status is ever sent for it.
 *
 * Residuals follow FCP-4 as libiscsi's tests expect: data-in beyond ExpectedDataTransferLength
 * is cut and reported as overflow; a WRITE whose EDTL is short of what the CDB needs writes
 * nothing and answers ILLEGAL REQUEST / INVALID FIELD IN COMMAND INFORMATION UNIT with an
 * overflow; a longer EDTL writes only what the CDB needs and reports underflow.
 *
 * Metrics (optional: the LU's LunMetrics, resolved by the session): when the status goes out,
 * the command counts by direction with its data bytes (Data-In sent, data-out handed to the LU)
 * and its time since the task was made, and a non-GOOD status (CHECK CONDITION by sense key);
 * an aborted task counts as aborted.
 */

import type { ScsiTaskEvent } from '../../../machines/scsi-task.js';
import { TaskAbort } from '../../core/abort-flag.js';
import { assert } from '../../core/assert.js';
import {
  type LunMetrics,
  ScsiDirection,
  type ScsiDirectionIndex,
  senseKeyOf,
} from '../../metrics/target-metrics.js';
import { answerAbsentLun } from '../../scsi/absent-lun.js';
import { type Nexus, type ScsiResult, ScsiStatus, type Sense, SenseKey } from '../../scsi/scsi-types.js';
import { encodeSense } from '../../scsi/sense.js';
import { blockDataOutBytes, truncateBlockDataOut } from '../../scsi/transfer-length.js';
import type { DataInPdu, DataOutPdu, R2tPdu, ScsiCommandPdu, ScsiResponsePdu } from '../pdu/messages.js';
import { EMPTY_DATA } from '../pdu/messages.js';
import { IscsiResponse, RESERVED_TAG } from '../pdu/opcodes.js';
import { encodeSenseSegment } from '../pdu/sense.js';
import { type ScsiTaskRun, scsiTaskTable, startScsiTaskRun } from './scsi-task-table.js';
import type { IscsiLun } from './target-node.js';
import { type BurstLimits, WriteDataCollector } from './write-data-collector.js';

/** What a task sends: the session stamps StatSN/ExpCmdSN/MaxCmdSN. */
export type TaskOutput =
  | Omit<R2tPdu, 'statSN' | 'expCmdSN' | 'maxCmdSN'>
  | Omit<DataInPdu, 'statSN' | 'expCmdSN' | 'maxCmdSN'>
  | Omit<ScsiResponsePdu, 'statSN' | 'expCmdSN' | 'maxCmdSN'>;

/** What a task needs from its session; one object shared by all the session's tasks. */
export interface TaskContext {
  readonly nexus: Nexus;
  readonly burst: BurstLimits;
  /** The initiator's MaxRecvDataSegmentLength: the largest Data-In data segment. */
  readonly maxSendDataSegmentLengthBytes: number;
  readonly allocateTargetTransferTag: () => number;
  /** A PDU of the task `initiatorTaskTag` broke the rules; the task fails (logged, no Reject). */
  readonly rejected: (initiatorTaskTag: number, why: string) => void;
  /** The target's LUNs, for commands sent to a LUN that does not exist. */
  readonly lunNumbers: () => number[];
  readonly send: (pdu: TaskOutput) => void;
  readonly finished: (task: ScsiTask) => void;
}

/** The most data one command may move; above it the command is refused, never buffered. */
export const TASK_TRANSFER_BYTES_MAX = 64 * 1024 * 1024;

export type TaskState = 'collecting' | 'executing' | 'responding' | 'done' | 'aborted';

export class ScsiTask {
  readonly pdu: ScsiCommandPdu;
  readonly lun: IscsiLun | undefined;
  readonly lunNumber: number;
  readonly #context: TaskContext;
  /** Polled by the LU and its backend; set once by abort(). */
  readonly #abort = new TaskAbort();
  /** The task's state, run by the table compiled from machines/scsi-task.ts. */
  readonly #lifecycle: ScsiTaskRun = startScsiTaskRun();
  #collector: WriteDataCollector | undefined;
  #execution: Promise<void> | undefined;
  readonly #metrics: LunMetrics | undefined;
  /** When the task was made, on the metrics' clock (0 without metrics). */
  readonly #startedMs: number;
  /** Data bytes the command moved (for metrics): data-out handed to the LU, or Data-In sent. */
  #dataBytes = 0;

  constructor(
    pdu: ScsiCommandPdu,
    lun: IscsiLun | undefined,
    lunNumber: number,
    context: TaskContext,
    metrics?: LunMetrics,
  ) {
    this.pdu = pdu;
    this.lun = lun;
    this.lunNumber = lunNumber;
    this.#context = context;
    this.#metrics = metrics;
    this.#startedMs = metrics === undefined ? 0 : metrics.nowMs();
  }

  get #state(): TaskState {
    return scsiTaskTable.stateName(this.#lifecycle.state);
  }

  get state(): TaskState {
    return this.#state;
  }

  get initiatorTaskTag(): number {
    return this.pdu.initiatorTaskTag;
  }

  /** Resolves when the task no longer touches the logical unit. */
  get settled(): Promise<void> {
    return this.#execution ?? Promise.resolve();
  }

  /** Target transfer tags this task still waits on. */
  outstandingTags(): number[] {
    return this.#collector?.outstandingTags() ?? [];
  }

  /** Starts the task: gathers data-out or executes at once. */
  start(): void {
    const pdu = this.pdu;
    if (pdu.expectedDataTransferLength > TASK_TRANSFER_BYTES_MAX) {
      this.#finishWith({ status: ScsiStatus.CHECK_CONDITION, sense: INVALID_FIELD_IN_CIU }, 0);
      return;
    }
    if (pdu.write && pdu.expectedDataTransferLength > 0) {
      this.#collector = new WriteDataCollector({
        expectedLengthBytes: pdu.expectedDataTransferLength,
        immediate: pdu.data,
        finalBit: pdu.final,
        limits: this.#context.burst,
        allocateTag: this.#context.allocateTargetTransferTag,
      });
      this.#sendR2ts();
      if (!this.#collector.complete) return;
    }
    this.#execute();
  }

  /** A Data-Out for this task. Returns an error text when the PDU breaks the rules. */
  receiveDataOut(pdu: DataOutPdu): string | undefined {
    if (this.#state !== 'collecting' || !this.#collector)
      return 'Data-Out for a task that is not collecting data';
    const outcome = this.#collector.receive(pdu);
    if (typeof outcome === 'object') {
      // The data cannot be trusted: fail the command (ERL 0 has no recovery of a sequence).
      // The CHECK CONDITION is the answer; a Reject on top would only confuse the initiator.
      this.#context.rejected(pdu.initiatorTaskTag, outcome.error);
      this.#finishWith({ status: ScsiStatus.CHECK_CONDITION, sense: DATA_PHASE_ERROR }, 0);
      return undefined;
    }
    this.#sendR2ts();
    if (outcome === 'complete') this.#execute();
    return undefined;
  }

  /** Task management or session end: stop, and never send status for this task. */
  abort(): void {
    if (this.#state === 'done' || this.#state === 'aborted') return;
    this.#advance('aborted');
    this.#abort.abort();
    this.#metrics?.aborted();
    this.#context.finished(this);
  }

  /**
   * Moves the task along the machine's path to `target` (collecting → executing → responding →
   * done, a data error straight to done, an abort from anywhere): the table, not this class,
   * decides what is legal; an illegal move is a Collie bug.
   */
  #advance(target: TaskState): void {
    const path: Record<TaskState, Partial<Record<TaskState, ScsiTaskEvent['type'][]>>> = {
      collecting: { executing: ['DATA_COMPLETE'], done: ['DATA_ERROR'], aborted: ['ABORT'] },
      executing: { responding: ['EXECUTED'], done: ['EXECUTED', 'SENT'], aborted: ['ABORT'] },
      responding: { done: ['SENT'], aborted: ['ABORT'] },
      done: {},
      aborted: {},
    };
    for (const type of path[this.#state][target] ?? []) scsiTaskTable.step(this.#lifecycle, { type });
    assert(
      this.#state === target,
      `SCSI task 0x${this.pdu.initiatorTaskTag.toString(16)} cannot move to ${target}`,
    );
  }

  #sendR2ts(): void {
    for (const r2t of this.#collector?.takeR2ts() ?? []) {
      this.#context.send({
        kind: 'r2t',
        ahs: [],
        data: EMPTY_DATA,
        lun: this.pdu.lun,
        initiatorTaskTag: this.pdu.initiatorTaskTag,
        targetTransferTag: r2t.targetTransferTag,
        r2tSN: r2t.r2tSN,
        bufferOffset: r2t.bufferOffset,
        desiredDataTransferLength: r2t.desiredDataTransferLength,
      });
    }
  }

  #execute(): void {
    this.#advance('executing');
    this.#execution = this.#run().catch(() => {
      if (this.#state === 'executing') {
        this.#finishWith({ status: ScsiStatus.CHECK_CONDITION, sense: INTERNAL_TARGET_FAILURE }, 0);
      }
    });
  }

  async #run(): Promise<void> {
    const pdu = this.pdu;
    const expected = pdu.expectedDataTransferLength;
    let dataOut = this.#collector?.buffer ?? EMPTY_DATA;
    let cdb = pdu.cdb;
    /** What the command wants minus what the initiator expected (write-like commands). */
    let writeResidual = 0;
    if (this.lun && (pdu.write || (!pdu.read && expected === 0))) {
      const blockSize = this.lun.blockSizeBytes;
      const needed = blockDataOutBytes(pdu.cdb, blockSize);
      if (needed !== undefined && needed > expected) {
        // FCP-4 option (a): process the command on what the initiator sends, report the rest
        // as overflow. Commands that cannot be cut get option (b): nothing is written.
        const cut = truncateBlockDataOut(pdu.cdb, blockSize, expected);
        writeResidual = needed - expected;
        if (!cut) {
          this.#finishWith(
            { status: ScsiStatus.CHECK_CONDITION, sense: INVALID_FIELD_IN_CIU },
            writeResidual,
          );
          return;
        }
        if (expected < blockSize) {
          this.#finishWith({ status: ScsiStatus.GOOD }, writeResidual);
          return;
        }
        cdb = cut;
        dataOut = dataOut.subarray(0, expected - (expected % blockSize));
      } else if (needed !== undefined && needed < expected) {
        dataOut = dataOut.subarray(0, needed);
        writeResidual = needed - expected;
      }
    }
    this.#dataBytes = dataOut.length;
    const result = this.lun
      ? await this.lun.execute({
          cdb,
          nexus: this.#context.nexus,
          dataOut,
          expectedLengthBytes: expected,
          taskTag: pdu.initiatorTaskTag,
          taskAttribute: pdu.attr,
          signal: this.#abort,
        })
      : answerAbsentLun(pdu.cdb, this.#context.lunNumbers());
    if (this.#state !== 'executing') return;
    if (!pdu.read || !result.dataIn) {
      // Writes: the unused tail of EDTL. Reads that produced no data: nothing of EDTL moved.
      this.#finishWith(result, pdu.write ? writeResidual : pdu.read ? -expected : 0);
      return;
    }
    this.#respondWithData(result);
  }

  /** Data-In PDUs, the last one carrying GOOD status when it can (phase collapse, §11.7.4). */
  #respondWithData(result: ScsiResult): void {
    this.#advance('responding');
    const expected = this.pdu.expectedDataTransferLength;
    const dataIn = result.dataIn ?? EMPTY_DATA;
    const sent = Math.min(dataIn.length, expected);
    const residual = dataIn.length - expected;
    const collapse = result.status === ScsiStatus.GOOD && !result.sense;
    this.#dataBytes = sent;
    const segmentMax = this.#context.maxSendDataSegmentLengthBytes;
    const burstMax = this.#context.burst.maxBurstLength;
    let dataSN = 0;
    for (let offset = 0; offset < sent; ) {
      const length = Math.min(segmentMax, sent - offset, burstMax - (offset % burstMax));
      const last = offset + length === sent;
      const status = last && collapse;
      if (status) {
        // Done before the status goes out, so the PDU's MaxCmdSN already counts the freed slot.
        this.#advance('done');
        this.#context.finished(this);
        this.#metrics?.completed(this.#direction(), sent, this.#startedMs, result.status, undefined);
      }
      this.#context.send({
        kind: 'data-in',
        ahs: [],
        data: length === dataIn.length ? dataIn : dataIn.subarray(offset, offset + length),
        final: last || (offset + length) % burstMax === 0,
        acknowledge: false,
        residualOverflow: status && residual > 0,
        residualUnderflow: status && residual < 0,
        statusPresent: status,
        status: status ? result.status : 0,
        lun: this.pdu.lun,
        initiatorTaskTag: this.pdu.initiatorTaskTag,
        targetTransferTag: RESERVED_TAG,
        dataSN: dataSN++,
        bufferOffset: offset,
        residualCount: status ? Math.abs(residual) : 0,
      });
      offset += length;
    }
    if (collapse && sent > 0) return;
    this.#finishWith(result, residual, dataSN);
  }

  #direction(): ScsiDirectionIndex {
    return this.pdu.write ? ScsiDirection.WRITE : this.pdu.read ? ScsiDirection.READ : ScsiDirection.OTHER;
  }

  /**
   * The SCSI Response. `residual` is what the command wanted minus what the initiator expected:
   * > 0 an overflow, < 0 an underflow (RFC 7143 §11.4.5). ExpDataSN is the number of R2T and
   * Data-In PDUs sent for the command (§11.4.6).
   */
  #finishWith(result: ScsiResult, residual: number, expDataSN = this.#collector?.r2tCount ?? 0): void {
    if (this.#state === 'done' || this.#state === 'aborted') return;
    this.#advance('done');
    // Finished before the response goes out: its MaxCmdSN must count this task's slot as free,
    // or an initiator with a full window waits for some later PDU to learn of the room.
    this.#context.finished(this);
    const sense = result.senseBytes ?? (result.sense ? encodeSense(result.sense, 'fixed') : undefined);
    if (this.#metrics !== undefined) {
      const senseKey = sense === undefined ? undefined : (result.sense?.key ?? senseKeyOf(sense));
      this.#metrics.completed(this.#direction(), this.#dataBytes, this.#startedMs, result.status, senseKey);
    }
    this.#context.send({
      kind: 'scsi-response',
      ahs: [],
      data: sense ? encodeSenseSegment(sense) : EMPTY_DATA,
      bidirectionalReadResidualOverflow: false,
      bidirectionalReadResidualUnderflow: false,
      residualOverflow: residual > 0,
      residualUnderflow: residual < 0,
      response: IscsiResponse.COMMAND_COMPLETED_AT_TARGET,
      status: result.status,
      initiatorTaskTag: this.pdu.initiatorTaskTag,
      snackTag: 0,
      expDataSN,
      bidirectionalReadResidualCount: 0,
      residualCount: Math.abs(residual),
    });
  }
}

const INVALID_FIELD_IN_CIU: Sense = { key: SenseKey.ILLEGAL_REQUEST, asc: 0x0e, ascq: 0x03 };
const DATA_PHASE_ERROR: Sense = { key: SenseKey.ABORTED_COMMAND, asc: 0x4b, ascq: 0x00 };
const INTERNAL_TARGET_FAILURE: Sense = { key: SenseKey.HARDWARE_ERROR, asc: 0x44, ascq: 0x00 };
