/**
 * The error of the admin operations (sheep-admin.ts, vdi-io.ts, lockless-write-guard.ts): a
 * mistake found before or after talking to sheep, with a stable code and a message that names
 * the thing and the fix. Sheep's own result codes are SheepResultError (sheep-connection.ts).
 */
export type SheepAdminErrorCode =
  /** A VDI name or tag does not fit its 256-byte C string field (or is empty). */
  | 'BAD_NAME'
  | 'BAD_TAG'
  /** A flat VDI larger than 2^20 objects. */
  | 'VDI_TOO_LARGE'
  | 'BAD_BLOCK_SIZE_SHIFT'
  /** Snapshot tag already in use. */
  | 'TAG_EXISTS'
  /** Snapshotting a snapshot. */
  | 'IS_SNAPSHOT'
  /** A B-tree (store_policy 1) VDI where only flat ones are supported. */
  | 'HYPER_VOLUME'
  /** Offset beyond the end of the VDI. */
  | 'OUT_OF_RANGE'
  /** A lock holder would be left with a stale inode by a lock-less write (lockless-write-guard.ts). */
  | 'VDI_IN_USE'
  /** Sheep answered SUCCESS with something unusable (short inode, bad record list). */
  | 'BAD_REPLY';

/** A problem found before or after talking to sheep; the message names the thing and the fix. */
export class SheepAdminError extends Error {
  override readonly name = 'SheepAdminError';
  constructor(
    readonly code: SheepAdminErrorCode,
    message: string,
  ) {
    super(message);
  }
}
