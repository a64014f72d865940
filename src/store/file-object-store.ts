/**
 * The real object store: one file per object under `<store>/obj/`, named by its oid in 16
 * lowercase hex digits (sheep's plain store layout).
 *
 * Theory of operation
 * - Per-object serialisation: every operation on one oid runs alone (KeyedMutex), so a CREATE's
 *   rename never races a WRITE into the old file, and cached file descriptors stay valid.
 * - CREATE writes `<obj>/.tmp-<oid>-<n>` (sized with ftruncate, so sparse), then renames it over
 *   the object: a kill -9 leaves the old object or the new one, never a torn mix. Leftover
 *   temporary files are removed at open.
 * - WRITE is an in-place pwrite, as sheep does; READ is a pread, zero-filled past the end.
 * - Durability: writes go to the page cache; `flush()` fsyncs every object written since the
 *   previous flush and the directory (for creates, renames and removes). An acknowledged
 *   SYNCHRONIZE CACHE therefore survives power loss, not only a process kill.
 * - Open descriptors are cached (LRU, bounded); an evicted descriptor is never one in use,
 *   because use happens only inside the object's critical section and eviction skips busy ones.
 *   Evicting a written-to descriptor is fine: fsync through a later descriptor of the same file
 *   flushes its pages too.
 */
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyedMutex } from '../core/keyed-mutex.js';
import { oidFromHex, oidToHex } from '../sheepdog/wire/oid.js';
import type { CreateObject, ObjectStore } from './object-store.js';

const OBJECT_NAME = /^[0-9a-f]{16}$/;
const TEMP_PREFIX = '.tmp-';

interface CachedHandle {
  readonly handle: FileHandle;
  busy: number;
}

export interface FileObjectStoreOptions {
  /** Directory that holds the objects (created if missing). */
  readonly directory: string;
  /** Open descriptors kept cached. */
  readonly handlesMax?: number;
}

export class FileObjectStore implements ObjectStore {
  readonly #directory: string;
  readonly #handlesMax: number;
  readonly #handles = new Map<string, CachedHandle>();
  readonly #mutex = new KeyedMutex<string>();
  #dirty = new Set<string>();
  #directoryDirty = false;
  #tempCounter = 0;
  #closed = false;

  private constructor(options: FileObjectStoreOptions) {
    this.#directory = options.directory;
    this.#handlesMax = options.handlesMax ?? 256;
  }

  static async open(options: FileObjectStoreOptions): Promise<FileObjectStore> {
    await mkdir(options.directory, { recursive: true });
    for (const name of await readdir(options.directory)) {
      if (name.startsWith(TEMP_PREFIX)) await unlink(join(options.directory, name));
    }
    return new FileObjectStore(options);
  }

  read(oid: bigint, offset: number, length: number): Promise<Buffer | undefined> {
    const name = oidToHex(oid);
    return this.#mutex.run(name, async () => {
      const cached = await this.#acquire(name);
      if (!cached) return undefined;
      try {
        const buffer = Buffer.allocUnsafe(length);
        let filled = 0;
        while (filled < length) {
          const { bytesRead } = await cached.handle.read(buffer, filled, length - filled, offset + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        buffer.fill(0, filled);
        return buffer;
      } finally {
        cached.busy--;
      }
    });
  }

  create(oid: bigint, object: CreateObject): Promise<void> {
    const name = oidToHex(oid);
    return this.#mutex.run(name, async () => {
      const tempPath = join(this.#directory, `${TEMP_PREFIX}${name}-${++this.#tempCounter}`);
      const handle = await open(tempPath, 'w+');
      try {
        await handle.truncate(object.sizeBytes);
        if (object.base && object.base.length > 0) await writeAll(handle, object.base, 0);
        if (object.data.length > 0) await writeAll(handle, object.data, object.offset);
      } catch (error) {
        await handle.close();
        await unlink(tempPath).catch(() => undefined);
        throw error;
      }
      await this.#forget(name);
      await rename(tempPath, join(this.#directory, name));
      this.#remember(name, handle);
      this.#dirty.add(name);
      this.#directoryDirty = true;
    });
  }

  write(oid: bigint, offset: number, data: Buffer): Promise<boolean> {
    const name = oidToHex(oid);
    return this.#mutex.run(name, async () => {
      const cached = await this.#acquire(name);
      if (!cached) return false;
      try {
        await writeAll(cached.handle, data, offset);
        this.#dirty.add(name);
        return true;
      } finally {
        cached.busy--;
      }
    });
  }

  remove(oid: bigint): Promise<boolean> {
    const name = oidToHex(oid);
    return this.#mutex.run(name, async () => {
      await this.#forget(name);
      this.#dirty.delete(name);
      try {
        await unlink(join(this.#directory, name));
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
      this.#directoryDirty = true;
      return true;
    });
  }

  async exists(oid: bigint): Promise<boolean> {
    return (await this.sizeOf(oid)) !== undefined;
  }

  sizeOf(oid: bigint): Promise<number | undefined> {
    const name = oidToHex(oid);
    return this.#mutex.run(name, async () => {
      const cached = await this.#acquire(name);
      if (!cached) return undefined;
      try {
        return (await cached.handle.stat()).size;
      } finally {
        cached.busy--;
      }
    });
  }

  async flush(): Promise<void> {
    const dirty = this.#dirty;
    const directoryDirty = this.#directoryDirty;
    this.#dirty = new Set();
    this.#directoryDirty = false;
    for (const name of dirty) {
      await this.#mutex.run(name, async () => {
        const cached = await this.#acquire(name);
        if (!cached) return;
        try {
          await cached.handle.sync();
        } finally {
          cached.busy--;
        }
      });
    }
    if (directoryDirty) {
      const directory = await open(this.#directory, fsConstants.O_RDONLY);
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
    }
  }

  async list(): Promise<bigint[]> {
    const names = (await readdir(this.#directory)).filter((name) => OBJECT_NAME.test(name));
    const oids: bigint[] = [];
    for (const name of names) {
      const oid = oidFromHex(name);
      if (oid !== undefined) oids.push(oid);
    }
    return oids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.flush();
    for (const [name, cached] of this.#handles) {
      this.#handles.delete(name);
      await cached.handle.close();
    }
  }

  /** The object's open handle, marked busy; undefined when the object does not exist. */
  async #acquire(name: string): Promise<CachedHandle | undefined> {
    let cached = this.#handles.get(name);
    if (cached) {
      // Refresh its LRU position.
      this.#handles.delete(name);
      this.#handles.set(name, cached);
    } else {
      let handle: FileHandle;
      try {
        handle = await open(join(this.#directory, name), 'r+');
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      cached = this.#remember(name, handle);
    }
    cached.busy++;
    return cached;
  }

  #remember(name: string, handle: FileHandle): CachedHandle {
    const cached = { handle, busy: 0 };
    this.#handles.set(name, cached);
    if (this.#handles.size > this.#handlesMax) this.#evict();
    return cached;
  }

  #evict(): void {
    for (const [name, cached] of this.#handles) {
      if (this.#handles.size <= this.#handlesMax) return;
      if (cached.busy > 0) continue;
      this.#handles.delete(name);
      void cached.handle.close();
    }
  }

  async #forget(name: string): Promise<void> {
    const cached = this.#handles.get(name);
    if (!cached) return;
    this.#handles.delete(name);
    await cached.handle.close();
  }
}

async function writeAll(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
