/**
 * What a SCSI logical unit stores its blocks in: memory, a file, or a sheepdog VDI. The SCSI
 * layer (src/scsi/) speaks only to this interface; it never knows which one it has.
 *
 * Rules every backend keeps
 * - Offsets and lengths are bytes, multiples of `blockSizeBytes`, inside [0, sizeBytes); the
 *   SCSI layer checks ranges before calling (LBA OUT OF RANGE is its answer, not the backend's).
 * - A write resolves only when the data is stored as the backend promises: readable by every
 *   later read through any path. With `fua`, or after flush() resolves, it is also durable.
 * - Reads and writes may run concurrently; overlapping ones complete in some serial order
 *   (never a torn mix of two writes inside one block).
 * - Failures reject with BackendError, whose kind the SCSI layer maps to sense data.
 */

import type { AbortFlag } from '../core/abort-flag.js';
import type { IoGuard, SharedCell } from './shared-cell.js';

export interface ReadOptions {
  /**
   * Consulted before the IO is resent after another node changed the shared state (a backend
   * with a `sharedCell` only; shared-cell.ts). 'restart' rejects the IO with IoRestart.
   */
  readonly guard?: IoGuard;
}

export interface WriteOptions {
  /** Durable before the promise resolves (FUA). */
  readonly fua?: boolean;
  /** The task was aborted: send nothing more (see BlockBackend.write). */
  readonly signal?: AbortFlag;
  /** As ReadOptions.guard. */
  readonly guard?: IoGuard;
}

export interface BlockBackend {
  /** Logical block size; 512 unless the backend says otherwise. */
  readonly blockSizeBytes: number;
  readonly sizeBytes: number;
  /** Unmap (thin provisioning) is supported: UNMAP, WRITE SAME with UNMAP, GET LBA STATUS. */
  readonly thin: boolean;
  readonly readOnly: boolean;
  /**
   * A stable identity for the LU's designators (VPD 0x80/0x83): the same string on every node
   * that exports the same storage (e.g. "sheepdog:<vdi name>"), so multipath sees one LU.
   */
  readonly identity: string;

  /**
   * The cell several nodes exporting this storage share (shared-cell.ts); absent when only one
   * node can reach the storage (memory, file).
   */
  readonly sharedCell?: SharedCell;

  read(offsetBytes: number, lengthBytes: number, options?: ReadOptions): Promise<Buffer>;
  /**
   * `signal`: the SCSI task was aborted (task management, or its session ended and the host
   * retries it elsewhere). A backend that has not sent everything yet sends nothing more and
   * rejects; what it already sent may still land. Without it, a write held up by a lost store
   * could land after the newer write the host sent instead (a ghost write).
   */
  write(offsetBytes: number, data: Buffer, options?: WriteOptions): Promise<void>;
  /** Makes every write that completed before the call durable. */
  flush(): Promise<void>;
  /** Deallocates a range; later reads return zeros. Only when `thin`. */
  unmap?(offsetBytes: number, lengthBytes: number): Promise<void>;
  /**
   * Which parts of a range are mapped (allocated), for GET LBA STATUS: runs covering the range
   * in order. Backends that cannot tell report one mapped run.
   */
  mapStatus?(
    offsetBytes: number,
    lengthBytes: number,
  ): Promise<Array<{ offsetBytes: number; lengthBytes: number; mapped: boolean }>>;
  close(): Promise<void>;
}

export type BackendErrorKind =
  /** The data could not be read or written (SCSI MEDIUM ERROR). */
  | 'medium'
  /** The backend is temporarily unreachable (NOT READY, LOGICAL UNIT NOT READY / transitioning). */
  | 'unavailable'
  /** No space left to allocate (DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT). */
  | 'space'
  /** The backend refuses writes (DATA PROTECT, WRITE PROTECTED). */
  | 'read-only'
  /** Retried as long as allowed and gave up (e.g. sheep kept answering INODE_INVALIDATED). */
  | 'retries-exhausted';

export class BackendError extends Error {
  readonly kind: BackendErrorKind;

  constructor(kind: BackendErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendError';
    this.kind = kind;
  }
}
