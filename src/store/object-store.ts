/**
 * Where the store keeps sheep objects (data objects, inode objects, attribute objects), by oid.
 * Two implementations: file-object-store.ts (one file per object in a directory: the real
 * store) and memory-object-store.ts (the simulator's, with no I/O).
 *
 * Semantics every implementation keeps (sheep's plain store):
 * - An object has a fixed size set at creation; a read past its end yields zeros.
 * - create() replaces an existing object atomically: a reader sees the old object or the new
 *   one, never a mix, even if the process is killed in between.
 * - write() changes a range of an existing object; it reports a missing object.
 * - flush() returns once every create/write/remove that completed before it was called is
 *   durable (fsync on the real store).
 */
export interface CreateObject {
  /** The object's size in bytes (data objects: 1 << block_size_shift). */
  readonly sizeBytes: number;
  /** Initial content from offset 0 (copy-on-write source); the rest is zero. */
  readonly base?: Buffer;
  /** Bytes to write at `offset` over the base. */
  readonly data: Buffer;
  readonly offset: number;
}

export interface ObjectStore {
  /** `length` bytes at `offset`, zero-filled past the object's end; undefined when absent. */
  read(oid: bigint, offset: number, length: number): Promise<Buffer | undefined>;
  /** Creates or atomically replaces the object. */
  create(oid: bigint, object: CreateObject): Promise<void>;
  /** Writes into an existing object; false when it does not exist. */
  write(oid: bigint, offset: number, data: Buffer): Promise<boolean>;
  /** Removes the object; false when it did not exist. */
  remove(oid: bigint): Promise<boolean>;
  exists(oid: bigint): Promise<boolean>;
  /** Size in bytes of an existing object, undefined when absent. */
  sizeOf(oid: bigint): Promise<number | undefined>;
  /** Makes everything completed so far durable. */
  flush(): Promise<void>;
  /** Every stored oid, ascending. */
  list(): Promise<bigint[]>;
  close(): Promise<void>;
}
