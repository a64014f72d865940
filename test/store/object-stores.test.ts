/**
 * Goal: both object stores keep the semantics the sheep server relies on (sparse reads past the
 * end, atomic replace on create, copy-on-write base, missing objects reported, flush), and the
 * file store leaves no torn object behind. Method: run one contract suite against each store;
 * the file store's runs in a fresh temporary directory.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { FileObjectStore } from '../../src/store/file-object-store.js';
import { MemoryObjectStore } from '../../src/store/memory-object-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';

const MiB = 1024 * 1024;
const directories: string[] = [];

afterEach(async () => {
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

async function freshDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'collie-objects-'));
  directories.push(directory);
  return directory;
}

const stores: Array<[string, () => Promise<ObjectStore>]> = [
  ['memory', async () => new MemoryObjectStore()],
  ['file', async () => FileObjectStore.open({ directory: await freshDirectory(), handlesMax: 4 })],
];

describe.each(stores)('%s object store', (_name, open) => {
  test('create, read back, zero-filled past what was written and past the end', async () => {
    const store = await open();
    await store.create(0x7c2b250000000an, { sizeBytes: 4 * MiB, data: Buffer.from('hello'), offset: 4096 });
    expect((await store.read(0x7c2b250000000an, 4096, 5))?.toString()).toBe('hello');
    expect(await store.read(0x7c2b250000000an, 0, 4)).toEqual(Buffer.alloc(4));
    expect(await store.read(0x7c2b250000000an, 4 * MiB - 2, 6)).toEqual(Buffer.alloc(6));
    expect(await store.sizeOf(0x7c2b250000000an)).toBe(4 * MiB);
    await store.close();
  });

  test('missing objects are reported, not invented', async () => {
    const store = await open();
    expect(await store.read(1n, 0, 10)).toBeUndefined();
    expect(await store.write(1n, 0, Buffer.from('x'))).toBe(false);
    expect(await store.remove(1n)).toBe(false);
    expect(await store.exists(1n)).toBe(false);
    await store.close();
  });

  test('create replaces an existing object whole: everything outside the new range is zero', async () => {
    const store = await open();
    await store.create(2n, { sizeBytes: MiB, data: Buffer.alloc(MiB, 0xab), offset: 0 });
    await store.create(2n, { sizeBytes: MiB, data: Buffer.from('new'), offset: 10 });
    expect(await store.read(2n, 0, 16)).toEqual(Buffer.from(`${'\0'.repeat(10)}new\0\0\0`));
    await store.close();
  });

  test('copy-on-write overlays the data on the base', async () => {
    const store = await open();
    const base = Buffer.alloc(MiB, 0x11);
    await store.create(3n, { sizeBytes: MiB, base, data: Buffer.alloc(4, 0x22), offset: 8 });
    expect(await store.read(3n, 6, 8)).toEqual(Buffer.from([0x11, 0x11, 0x22, 0x22, 0x22, 0x22, 0x11, 0x11]));
    await store.close();
  });

  test('write into an existing object, remove, list in oid order', async () => {
    const store = await open();
    for (const oid of [9n, 5n, 7n, 0x807c2b2500000000n]) {
      await store.create(oid, { sizeBytes: 4096, data: Buffer.alloc(0), offset: 0 });
    }
    expect(await store.write(5n, 100, Buffer.from('abc'))).toBe(true);
    expect((await store.read(5n, 100, 3))?.toString()).toBe('abc');
    expect(await store.remove(7n)).toBe(true);
    await store.flush();
    expect(await store.list()).toEqual([5n, 9n, 0x807c2b2500000000n]);
    await store.close();
  });

  test('concurrent creates and writes of one object are applied one at a time', async () => {
    const store = await open();
    await store.create(4n, { sizeBytes: 4096, data: Buffer.alloc(0), offset: 0 });
    const work: Promise<unknown>[] = [];
    for (let round = 0; round < 20; round++) {
      work.push(store.create(4n, { sizeBytes: 4096, data: Buffer.alloc(4096, round), offset: 0 }));
      work.push(store.write(4n, 0, Buffer.alloc(16, 200 + round)));
    }
    await Promise.all(work);
    const bytes = (await store.read(4n, 0, 4096))!;
    expect(bytes.subarray(0, 16)).toEqual(Buffer.alloc(16, 219));
    expect(bytes.subarray(16)).toEqual(Buffer.alloc(4080, 19));
    await store.close();
  });
});

describe('file object store on disk', () => {
  test('objects are files named by 16 hex digits; creates are sparse', async () => {
    const directory = await freshDirectory();
    const store = await FileObjectStore.open({ directory });
    await store.create(0x807c2b2500000000n, {
      sizeBytes: 12_587_576,
      data: Buffer.alloc(4664, 1),
      offset: 0,
    });
    await store.flush();
    const file = await stat(join(directory, '807c2b2500000000'));
    expect(file.size).toBe(12_587_576);
    expect(file.blocks * 512).toBeLessThan(1024 * 1024);
    await store.close();
  });

  test('leftover temporary files from a killed create are removed at open; the object is intact', async () => {
    const directory = await freshDirectory();
    const first = await FileObjectStore.open({ directory });
    await first.create(6n, { sizeBytes: 4096, data: Buffer.from('kept'), offset: 0 });
    await first.close();
    await writeFile(join(directory, '.tmp-0000000000000006-99'), 'half a create');
    const second = await FileObjectStore.open({ directory });
    expect(await readdir(directory)).toEqual(['0000000000000006']);
    expect((await second.read(6n, 0, 4))?.toString()).toBe('kept');
    await second.close();
  });

  test('more objects than cached descriptors stay readable and writable', async () => {
    const store = await FileObjectStore.open({ directory: await freshDirectory(), handlesMax: 2 });
    for (let oid = 1n; oid <= 10n; oid++)
      await store.create(oid, { sizeBytes: 64, data: Buffer.from([Number(oid)]), offset: 0 });
    for (let oid = 1n; oid <= 10n; oid++)
      expect(await store.write(oid, 1, Buffer.from([Number(oid) + 1]))).toBe(true);
    await store.flush();
    for (let oid = 1n; oid <= 10n; oid++) {
      expect(await store.read(oid, 0, 2)).toEqual(Buffer.from([Number(oid), Number(oid) + 1]));
    }
    await store.close();
  });
});
