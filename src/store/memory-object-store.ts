/**
 * The simulator's object store: objects in memory, no I/O. Each object keeps only the bytes up
 * to the highest one written (a 12.5 MB inode with a 4 KiB header costs 4 KiB); reads past that
 * yield zeros, as reads of a sparse file do. Operations complete asynchronously (a resolved
 * promise), like the real store, so callers cannot come to rely on synchronous completion.
 */
import type { CreateObject, ObjectStore } from './object-store.js';

interface StoredObject {
  readonly sizeBytes: number;
  bytes: Buffer;
}

export class MemoryObjectStore implements ObjectStore {
  readonly #objects = new Map<bigint, StoredObject>();

  async read(oid: bigint, offset: number, length: number): Promise<Buffer | undefined> {
    const object = this.#objects.get(oid);
    if (!object) return undefined;
    const result = Buffer.alloc(length);
    if (offset < object.bytes.length)
      object.bytes.copy(result, 0, offset, Math.min(object.bytes.length, offset + length));
    return result;
  }

  async create(oid: bigint, object: CreateObject): Promise<void> {
    const stored: StoredObject = { sizeBytes: object.sizeBytes, bytes: Buffer.alloc(0) };
    if (object.base && object.base.length > 0) writeInto(stored, object.base, 0);
    if (object.data.length > 0) writeInto(stored, object.data, object.offset);
    this.#objects.set(oid, stored);
  }

  async write(oid: bigint, offset: number, data: Buffer): Promise<boolean> {
    const object = this.#objects.get(oid);
    if (!object) return false;
    writeInto(object, data, offset);
    return true;
  }

  async remove(oid: bigint): Promise<boolean> {
    return this.#objects.delete(oid);
  }

  async exists(oid: bigint): Promise<boolean> {
    return this.#objects.has(oid);
  }

  async sizeOf(oid: bigint): Promise<number | undefined> {
    return this.#objects.get(oid)?.sizeBytes;
  }

  async flush(): Promise<void> {}

  async list(): Promise<bigint[]> {
    return [...this.#objects.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async close(): Promise<void> {}
}

function writeInto(object: StoredObject, data: Buffer, offset: number): void {
  const end = offset + data.length;
  if (end > object.bytes.length) {
    const grown = Buffer.alloc(Math.max(end, Math.min(object.sizeBytes, object.bytes.length * 2)));
    object.bytes.copy(grown);
    object.bytes = grown;
  }
  data.copy(object.bytes, offset);
}
