/**
 * Gathers the data-out bytes of one SCSI WRITE-like command (RFC 7143 §4.2.5, §11.7, §11.8):
 * immediate data in the command PDU, an unsolicited burst of Data-Out PDUs (TTT 0xffffffff, up
 * to FirstBurstLength, only when the command's F bit is 0), and solicited bursts answering the
 * target's R2Ts (at most MaxBurstLength each, at most MaxOutstandingR2T outstanding).
 *
 * Checks, all with DataPDUInOrder=Yes and DataSequenceInOrder=Yes (what Collie negotiates):
 * - every sequence (the unsolicited burst, each R2T) numbers its Data-Out PDUs from DataSN 0 up,
 *   and its buffer offsets are contiguous from the sequence's start;
 * - no PDU runs past its sequence's end; the F bit ends a sequence exactly at its end.
 * A violation fails the command: tgt accepts any DataSN (libiscsi's iSCSIDataSnInvalid catches
 * it); Collie answers CHECK CONDITION instead of writing data it cannot trust.
 *
 * Sans-I/O: R2Ts to send come out of `takeR2ts()`; the caller owns the wire and the task.
 *
 * Memory (docs/limits.md): the one buffer sized by the peer, ExpectedDataTransferLength bytes, is
 * allocated here when the command starts, never before its size was checked: ScsiTask refuses an
 * EDTL above TASK_TRANSFER_BYTES_MAX and the session reserved it from its task budgets
 * (target-limits.ts). A Data-Out is copied in only after its offset and length fall inside its
 * sequence, so no length from the wire writes or allocates beyond that buffer; R2Ts are issued
 * at most MaxOutstandingR2T at a time.
 */

import type { DataOutPdu } from '../pdu/messages.js';
import { RESERVED_TAG } from '../pdu/opcodes.js';

export interface BurstLimits {
  readonly initialR2T: boolean;
  readonly firstBurstLength: number;
  readonly maxBurstLength: number;
  readonly maxOutstandingR2T: number;
}

export interface PendingR2t {
  readonly targetTransferTag: number;
  readonly r2tSN: number;
  readonly bufferOffset: number;
  readonly desiredDataTransferLength: number;
}

interface Sequence {
  readonly start: number;
  readonly end: number;
  next: number;
  nextDataSN: number;
}

export type DataOutOutcome = 'more' | 'complete' | { readonly error: string };

export class WriteDataCollector {
  readonly buffer: Buffer;
  readonly #limits: BurstLimits;
  readonly #allocateTag: () => number;
  #received = 0;
  #unsolicited: Sequence | undefined;
  readonly #solicited = new Map<number, Sequence>();
  /** Offset up to which R2Ts have been issued. */
  #solicitedUpTo: number;
  #r2tSN = 0;
  #r2tsToSend: PendingR2t[] = [];

  /**
   * @param expectedLengthBytes ExpectedDataTransferLength.
   * @param immediate the command PDU's data segment.
   * @param finalBit the command PDU's F bit: 1 = no unsolicited Data-Out follows.
   */
  constructor(options: {
    expectedLengthBytes: number;
    immediate: Buffer;
    finalBit: boolean;
    limits: BurstLimits;
    allocateTag: () => number;
  }) {
    const immediateBytes = Math.min(options.immediate.length, options.expectedLengthBytes);
    // All the data came with the command (every small write): use it in place, no copy. The
    // receiver owns received bytes (transport.ts), so nothing changes them under the task.
    if (immediateBytes === options.expectedLengthBytes) {
      this.buffer = options.immediate.subarray(0, immediateBytes);
    } else {
      this.buffer = Buffer.alloc(options.expectedLengthBytes);
      options.immediate.copy(this.buffer, 0, 0, immediateBytes);
    }
    this.#limits = options.limits;
    this.#allocateTag = options.allocateTag;
    this.#received = immediateBytes;
    let unsolicitedEnd = immediateBytes;
    if (!options.finalBit && !options.limits.initialR2T) {
      unsolicitedEnd = Math.min(options.limits.firstBurstLength, options.expectedLengthBytes);
      if (unsolicitedEnd > immediateBytes) {
        this.#unsolicited = {
          start: immediateBytes,
          end: unsolicitedEnd,
          next: immediateBytes,
          nextDataSN: 0,
        };
      } else unsolicitedEnd = immediateBytes;
    }
    this.#solicitedUpTo = unsolicitedEnd;
    this.#issueR2ts();
  }

  /** Immediate data longer than the expected length is a protocol error the caller reports. */
  get complete(): boolean {
    return this.#received >= this.buffer.length;
  }

  /** R2Ts issued so far: the SCSI Response's ExpDataSN counts them (RFC 7143 §11.4.6). */
  get r2tCount(): number {
    return this.#r2tSN;
  }

  /** R2Ts the caller must send now (each once). */
  takeR2ts(): PendingR2t[] {
    const r2ts = this.#r2tsToSend;
    this.#r2tsToSend = [];
    return r2ts;
  }

  /** Target transfer tags of R2Ts still waiting for data. */
  outstandingTags(): number[] {
    return [...this.#solicited.keys()];
  }

  receive(pdu: DataOutPdu): DataOutOutcome {
    const sequence =
      pdu.targetTransferTag === RESERVED_TAG ? this.#unsolicited : this.#solicited.get(pdu.targetTransferTag);
    if (!sequence) {
      return {
        error:
          pdu.targetTransferTag === RESERVED_TAG
            ? 'unsolicited Data-Out without an unsolicited burst'
            : `Data-Out for unknown target transfer tag 0x${pdu.targetTransferTag.toString(16)}`,
      };
    }
    if (pdu.dataSN !== sequence.nextDataSN) {
      return { error: `Data-Out DataSN ${pdu.dataSN}, expected ${sequence.nextDataSN}` };
    }
    if (pdu.bufferOffset !== sequence.next) {
      return { error: `Data-Out buffer offset ${pdu.bufferOffset}, expected ${sequence.next}` };
    }
    const end = pdu.bufferOffset + pdu.data.length;
    if (end > sequence.end)
      return { error: `Data-Out runs to ${end}, past the sequence end ${sequence.end}` };
    if (pdu.final !== (end === sequence.end)) {
      return {
        error: pdu.final
          ? `Data-Out F bit at ${end} before the sequence end ${sequence.end}`
          : 'sequence complete without the F bit',
      };
    }
    pdu.data.copy(this.buffer, pdu.bufferOffset);
    sequence.next = end;
    sequence.nextDataSN++;
    this.#received += pdu.data.length;
    if (end === sequence.end) {
      if (sequence === this.#unsolicited) this.#unsolicited = undefined;
      else this.#solicited.delete(pdu.targetTransferTag);
      this.#issueR2ts();
    }
    return this.complete ? 'complete' : 'more';
  }

  #issueR2ts(): void {
    while (
      this.#solicitedUpTo < this.buffer.length &&
      this.#solicited.size < this.#limits.maxOutstandingR2T
    ) {
      const start = this.#solicitedUpTo;
      const end = Math.min(start + this.#limits.maxBurstLength, this.buffer.length);
      const targetTransferTag = this.#allocateTag();
      this.#solicited.set(targetTransferTag, { start, end, next: start, nextDataSN: 0 });
      this.#r2tsToSend.push({
        targetTransferTag,
        r2tSN: this.#r2tSN++,
        bufferOffset: start,
        desiredDataTransferLength: end - start,
      });
      this.#solicitedUpTo = end;
    }
  }
}
