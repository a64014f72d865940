/**
 * Goal: FileBackend.close() never pulls the descriptor from under reads and writes in flight
 * (they use the raw descriptor, not the FileHandle): every request issued before close() ends
 * with its own data, close() resolves after them, and requests after close() are refused.
 * Method: a real file in a temporary directory; many concurrent requests, then close() at once.
 */
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BackendError } from '../../src/backends/block-backend.js';
import { FileBackend } from '../../src/backends/file-backend.js';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'collie-file-backend-close-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('FileBackend.close with requests in flight', () => {
  test('reads and writes issued before close() complete; close() waits; later ones are refused', async () => {
    const backend = await FileBackend.open({
      path: join(directory, 'disk.img'),
      sizeBytes: 16 * 1024 * 1024,
    });
    const blockBytes = 64 * 1024;
    for (let i = 0; i < 32; i++) await backend.write(i * blockBytes, Buffer.alloc(blockBytes, i + 1));
    let closed = false;
    const reads = Array.from({ length: 32 }, (_, i) =>
      backend.read(i * blockBytes, blockBytes).then((data) => ({ i, data, closedYet: closed })),
    );
    const writes = Array.from({ length: 8 }, (_, i) =>
      backend.write((64 + i) * blockBytes, Buffer.alloc(blockBytes, 0xa0 + i)).then(() => closed),
    );
    const closing = backend.close().then(() => {
      closed = true;
    });
    for (const { i, data, closedYet } of await Promise.all(reads)) {
      expect(closedYet).toBe(false);
      expect(data.equals(Buffer.alloc(blockBytes, i + 1))).toBe(true);
    }
    expect(await Promise.all(writes)).toEqual(Array(8).fill(false));
    await closing;
    await expect(backend.read(0, blockBytes)).rejects.toBeInstanceOf(BackendError);
    const reopened = await FileBackend.open({ path: join(directory, 'disk.img') });
    for (let i = 0; i < 8; i++) {
      expect(
        (await reopened.read((64 + i) * blockBytes, blockBytes)).equals(Buffer.alloc(blockBytes, 0xa0 + i)),
      ).toBe(true);
    }
    await reopened.close();
  });

  test('a read past the end of a shorter file is zero-filled', async () => {
    const path = join(directory, 'short.img');
    const backend = await FileBackend.open({ path, sizeBytes: 1024 * 1024 });
    await backend.write(0, Buffer.alloc(4096, 0x5a));
    await backend.close();
    // Reopen declaring a larger device than the file: reads past the file's end are zeros.
    await truncate(path, 6144);
    const larger = await FileBackend.open({ path, sizeBytes: 1024 * 1024, readOnly: true });
    const data = await larger.read(4096, 8192);
    expect(data.subarray(0, 2048).equals(Buffer.alloc(2048))).toBe(true);
    expect(data.subarray(2048).equals(Buffer.alloc(6144))).toBe(true);
    const mixed = await larger.read(0, 8192);
    expect(mixed.subarray(0, 4096).equals(Buffer.alloc(4096, 0x5a))).toBe(true);
    expect(mixed.subarray(4096).equals(Buffer.alloc(4096))).toBe(true);
    await larger.close();
  });
});
