/**
 * The types the SCSI layer shares with the iSCSI session above it and the reservation code
 * beside it. A SCSI command comes in as a CDB plus its data-out bytes on an I_T nexus; it goes
 * out as a status, optional sense data and optional data-in bytes.
 */

import type { AbortFlag } from '../core/abort-flag.js';

/** SAM status codes. */
export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;
export type ScsiStatusCode = (typeof ScsiStatus)[keyof typeof ScsiStatus];

/** Sense keys (SPC-4 table 49). */
export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  BLANK_CHECK: 0x8,
  VENDOR_SPECIFIC: 0x9,
  COPY_ABORTED: 0xa,
  ABORTED_COMMAND: 0xb,
  VOLUME_OVERFLOW: 0xd,
  MISCOMPARE: 0xe,
} as const;

/** A sense condition before it is encoded (fixed or descriptor format is the LU's choice). */
export interface Sense {
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
  /** INFORMATION field (e.g. the offset of the first miscompare for COMPARE AND WRITE). */
  readonly information?: bigint;
  /** Sense-key specific: the field pointer of an ILLEGAL REQUEST (byte, and bit when bitValid). */
  readonly fieldPointer?: { readonly inCdb: boolean; readonly byte: number; readonly bit?: number };
  /** Sense-key specific: PROGRESS INDICATION, 0..65535 (NOT READY while an operation runs). */
  readonly progress?: number;
  /** COMMAND-SPECIFIC INFORMATION (EXTENDED COPY: segments processed), 32 bits. */
  readonly commandSpecific?: number;
}

/**
 * The I_T nexus a command arrived on (SAM-5): who sent it through which target port. Used for
 * reservations, unit attentions and per-nexus state. `id` is unique and stable for the nexus.
 */
export interface Nexus {
  /** "<initiator iqn>,i,0x<isid 12 hex>" — the iSCSI initiator port name (RFC 7143 §4.4.1). */
  readonly initiatorPortName: string;
  /** The initiator's iSCSI name alone (ACLs, TransportID with format 0). */
  readonly initiatorName: string;
  /** "<target iqn>,t,0x<tpgt 4 hex>" — the iSCSI target port name. */
  readonly targetPortName: string;
  /** RELATIVE TARGET PORT IDENTIFIER (VPD 0x83), unique per target port in the cluster. */
  readonly relativeTargetPortId: number;
  /** Target port group of that port (ALUA). */
  readonly targetPortGroup: number;
  /** initiatorPortName + '|' + targetPortName. */
  readonly id: string;
}

export interface ScsiResult {
  readonly status: number;
  readonly sense?: Sense;
  /** The sense data already encoded in the format the LU uses (D_SENSE); else fixed from `sense`. */
  readonly senseBytes?: Buffer;
  /** Data-in bytes the command produced (the session truncates to the expected length). */
  readonly dataIn?: Buffer;
}

/**
 * One SCSI command as the session hands it to a logical unit. The session has already gathered
 * all data-out bytes the initiator sent (up to ExpectedDataTransferLength).
 */
export interface ScsiCommand {
  readonly cdb: Buffer;
  readonly nexus: Nexus;
  /** Data-out bytes (writes), exactly what the initiator sent; empty for reads. */
  readonly dataOut: Buffer;
  /** ExpectedDataTransferLength from the initiator. */
  readonly expectedLengthBytes: number;
  /** The initiator's task tag, for ABORT TASK. */
  readonly taskTag: number;
  /** Task attribute: 0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA. */
  readonly taskAttribute: number;
  /** Aborted by task management before or while running: the LU stops as soon as it can. */
  readonly signal?: AbortFlag;
  /**
   * Sent by this target's copy manager (EXTENDED COPY) on the initiator's behalf, to the LU it
   * copies from or to: the LU runs it like the initiator's own command (ALUA, reservations,
   * range locks, the backend) but neither reports nor clears a unit attention for it.
   */
  readonly thirdPartyCopy?: boolean;
}
