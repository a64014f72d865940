/**
 * What a command handler sees: the command, and the LU's state and services (`LuRuntime`), plus
 * the small helpers every handler shares (results, allocation-length truncation, range and
 * write-protect checks, backend-error mapping).
 *
 * Handlers return values, never throw for protocol errors: a CHECK CONDITION is a ScsiResult with
 * typed sense. A throw out of a handler is a Collie bug; the dispatcher answers it with HARDWARE
 * ERROR / INTERNAL TARGET FAILURE and logs it. The exceptions are the restarts of a clustered LU
 * (IoRestart from the backend, CommandRestart from `admission.recheck`): they pass through
 * `withBackend` untouched and the dispatcher runs the whole command again.
 *
 * Backend reads and writes of a command go through `readBlocks` / `writeBlocks`: in cluster mode
 * they first re-check what the command was admitted under (no I/O) and give the backend the
 * command's IO guard; otherwise they call the backend exactly as a single node always did.
 */
import { BackendError, type BlockBackend, type WriteOptions } from '../backends/block-backend.js';
import type { IoGuard } from '../backends/shared-cell.js';
import type { EventLog } from '../core/event-log.js';
import type { Logger } from '../core/logger.js';
import type { TargetPortGroupProvider } from './alua.js';
import type { ClusterState } from './cluster/cluster-state.js';
import type { LbaRangeLock } from './lba-range-lock.js';
import type { LuIdentity } from './lu-identity.js';
import type { CompareAndWriteLock } from './sbc-compare-and-write.js';
import type { SanitizeState } from './sbc-sanitize.js';
import type { Nexus, ScsiCommand, ScsiResult, Sense } from './scsi-types.js';
import { ScsiStatus, SenseKey } from './scsi-types.js';
import { Asc, LBA_OUT_OF_RANGE, senseOf, WRITE_PROTECTED } from './sense.js';
import type { CopyManager, CopyPeer } from './spc-extended-copy.js';
import type { UnitAttentions } from './unit-attention.js';

export interface LuGeometry {
  readonly blockSizeBytes: number;
  readonly blockCount: number;
  /** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (READ CAPACITY(16) byte 13). */
  readonly physicalBlockExponent: number;
}

/** The Block Limits VPD page values (SBC-3 Block Limits VPD page), all in logical blocks. */
export interface BlockLimits {
  readonly maxTransferBlocks: number;
  readonly optimalTransferBlocks: number;
  readonly optimalTransferGranularityBlocks: number;
  readonly maxCompareAndWriteBlocks: number;
  readonly maxUnmapBlocks: number;
  readonly maxUnmapDescriptors: number;
  readonly optimalUnmapGranularityBlocks: number;
  readonly maxWriteSameBlocks: number;
  /** MAXIMUM ATOMIC TRANSFER LENGTH (SBC-4): WRITE ATOMIC(16) writes at most this many blocks. */
  readonly maxAtomicTransferBlocks: number;
  /** ATOMIC ALIGNMENT (SBC-4): a WRITE ATOMIC's LBA is a multiple of this (1: any LBA). */
  readonly atomicAlignmentBlocks: number;
  /** ATOMIC TRANSFER LENGTH GRANULARITY (SBC-4): its length is a multiple of this (1: any). */
  readonly atomicGranularityBlocks: number;
}

/** The changeable mode parameters (current values). */
export interface ModeParameters {
  /** Caching page WCE: writes may sit in a volatile cache until SYNCHRONIZE CACHE. */
  writeCacheEnabled: boolean;
  /** Control page D_SENSE: descriptor-format sense data. */
  descriptorSense: boolean;
  /** Control page SWP: software write protect. */
  softwareWriteProtect: boolean;
}

export const DEFAULT_MODE: Readonly<ModeParameters> = {
  writeCacheEnabled: true,
  descriptorSense: false,
  softwareWriteProtect: false,
};

/** INQUIRY strings (ASCII, padded with spaces on output). */
export interface InquiryStrings {
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
}

export interface LuRuntime {
  readonly lun: number;
  /** Event-log actor name, e.g. "scsi/lu/1". */
  readonly actor: string;
  readonly backend: BlockBackend;
  readonly geometry: LuGeometry;
  readonly limits: BlockLimits;
  readonly identity: LuIdentity;
  readonly strings: InquiryStrings;
  readonly multiPort: boolean;
  readonly mode: ModeParameters;
  /** Write-protected LU (LogicalUnitOptions.readOnly): WP in MODE SENSE, writes refused. */
  readonly readOnly: boolean;
  readonly removable: boolean;
  mediumLoaded: boolean;
  /** Nexus ids holding PREVENT MEDIUM REMOVAL (SBC-3). */
  readonly preventingNexuses: Set<string>;
  readonly unitAttentions: UnitAttentions;
  readonly eventLog: EventLog;
  readonly logger: Logger;
  readonly reportLuns: (nexus: Nexus) => readonly number[];
  readonly targetPortGroups: TargetPortGroupProvider;
  readonly implicitTransitionTimeSec: number;
  readonly rangeLock: LbaRangeLock;
  readonly compareAndWriteLock: CompareAndWriteLock;
  /** Cluster mode (the backend has a shared cell): the shared state; undefined on a single node. */
  readonly cluster: ClusterState | undefined;
  /** EXTENDED COPY's state on this LU: copy statuses held for RECEIVE COPY RESULTS, copies running. */
  readonly copies: CopyManager;
  /**
   * The LU a CSCD designator names (this LU, or another LU of the same target), as the copy
   * manager reaches it: through that LU's own command path.
   */
  readonly copyPeer: (designator: Buffer) => CopyPeer | undefined;
  /** SANITIZE's state: running (progress) or failed; every command meets it (sbc-sanitize.ts). */
  readonly sanitize: SanitizeState;
}

/**
 * Cluster mode: what a command was admitted under (reservations, ALUA state and epoch, pending
 * unit attentions; cluster/cluster-admission.ts), for every backend IO it does.
 */
export interface CommandAdmission {
  /** Given to the backend with every read and write. */
  readonly guard: IoGuard;
  /** Throws a restart of the whole command if what it was admitted under changed (no I/O). */
  recheck(): void;
}

export interface CommandContext {
  readonly command: ScsiCommand;
  readonly cdb: Buffer;
  readonly nexus: Nexus;
  readonly lu: LuRuntime;
  readonly admission?: CommandAdmission;
}

export type CommandHandler = (context: CommandContext) => Promise<ScsiResult> | ScsiResult;

export function good(dataIn?: Buffer): ScsiResult {
  return dataIn === undefined ? { status: ScsiStatus.GOOD } : { status: ScsiStatus.GOOD, dataIn };
}

export function checkCondition(sense: Sense): ScsiResult {
  return { status: ScsiStatus.CHECK_CONDITION, sense };
}

export const TASK_ABORTED_RESULT: ScsiResult = { status: ScsiStatus.TASK_ABORTED };

/** Returns at most `allocationLength` bytes (SPC-4: truncation is not an error). */
export function truncate(data: Buffer, allocationLength: number): Buffer {
  return data.length <= allocationLength ? data : data.subarray(0, allocationLength);
}

/** Whether blocks [lba, lba + count) lie inside the LU; 64-bit safe (LBA 2^64-1 never wraps). */
export function inRange(lu: LuRuntime, lba: bigint, blockCount: number | bigint): boolean {
  return lba + BigInt(blockCount) <= BigInt(lu.geometry.blockCount);
}

/** LBA OUT OF RANGE unless [lba, lba + count) is inside the LU. */
export function rangeSense(lu: LuRuntime, lba: bigint, blockCount: number | bigint): Sense | undefined {
  return inRange(lu, lba, blockCount) ? undefined : LBA_OUT_OF_RANGE;
}

/** Write protection (SBC-3): a read-only backend, a read-only LU, or the control page's SWP. */
export function isWriteProtected(lu: LuRuntime): boolean {
  return lu.backend.readOnly || lu.readOnly || lu.mode.softwareWriteProtect;
}

export function writeProtectSense(lu: LuRuntime): Sense | undefined {
  return isWriteProtected(lu) ? WRITE_PROTECTED : undefined;
}

export function isAborted(context: CommandContext): boolean {
  return context.command.signal?.aborted === true;
}

export type IoDirection = 'read' | 'write' | 'flush';

/** The sense for a failed backend call (BackendErrorKind, block-backend.ts). */
export function senseForBackendError(error: BackendError, direction: IoDirection): Sense {
  switch (error.kind) {
    case 'medium':
      return direction === 'read'
        ? senseOf(SenseKey.MEDIUM_ERROR, Asc.UNRECOVERED_READ_ERROR)
        : senseOf(SenseKey.MEDIUM_ERROR, Asc.WRITE_ERROR);
    case 'unavailable':
      return senseOf(SenseKey.NOT_READY, Asc.ASYMMETRIC_ACCESS_STATE_TRANSITION);
    case 'space':
      return senseOf(SenseKey.DATA_PROTECT, Asc.SPACE_ALLOCATION_FAILED_WRITE_PROTECT);
    case 'read-only':
      return WRITE_PROTECTED;
    case 'retries-exhausted':
      return senseOf(SenseKey.ABORTED_COMMAND, Asc.LOGICAL_UNIT_COMMUNICATION_FAILURE);
  }
}

/**
 * Runs backend work; a BackendError becomes its CHECK CONDITION (logged), anything else is
 * rethrown as the bug it is.
 */
export async function withBackend(
  context: CommandContext,
  direction: IoDirection,
  work: () => Promise<ScsiResult>,
): Promise<ScsiResult> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof BackendError)) throw error;
    context.lu.logger.warn(
      { lun: context.lu.lun, opcode: context.cdb[0], kind: error.kind, err: error.message },
      'backend failed a SCSI command',
    );
    return checkCondition(senseForBackendError(error, direction));
  }
}

/** The command's IO guard after the admission re-check; undefined on a single node. */
export function ioGuard(context: CommandContext): IoGuard | undefined {
  const admission = context.admission;
  if (admission === undefined) return undefined;
  admission.recheck();
  return admission.guard;
}

/** A backend read for this command; `guard` replaces the command's (COMPARE AND WRITE's lock). */
export function readBlocks(
  context: CommandContext,
  offsetBytes: number,
  lengthBytes: number,
  guard?: IoGuard,
): Promise<Buffer> {
  const own = ioGuard(context);
  const chosen = guard ?? own;
  const backend = context.lu.backend;
  return chosen === undefined
    ? backend.read(offsetBytes, lengthBytes)
    : backend.read(offsetBytes, lengthBytes, { guard: chosen });
}

/** A backend write for this command; `guard` replaces the command's (COMPARE AND WRITE's lock). */
export function writeBlocks(
  context: CommandContext,
  offsetBytes: number,
  data: Buffer,
  options: WriteOptions,
  guard?: IoGuard,
): Promise<void> {
  const own = ioGuard(context);
  const chosen = guard ?? own;
  const backend = context.lu.backend;
  return chosen === undefined
    ? backend.write(offsetBytes, data, options)
    : backend.write(offsetBytes, data, { ...options, guard: chosen });
}

/** Byte offset of the first difference between `a` and `b` (same length), or -1. */
export function firstDifference(a: Buffer, b: Buffer): number {
  if (a.equals(b)) return -1;
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    if (a[index] !== b[index]) return index;
  }
  return length;
}

/** Blocks carried whole by the Data-Out buffer (a shorter buffer than the CDB asks for is a residual). */
export function dataOutBlocks(context: CommandContext, blockCount: number): number {
  return Math.min(
    blockCount,
    Math.floor(context.command.dataOut.length / context.lu.geometry.blockSizeBytes),
  );
}
