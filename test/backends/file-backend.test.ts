/**
 * Goal: the file backend creates a sparse file of the asked size, reads and writes at offsets,
 * reads zeros past a short file's end, flushes, is fully provisioned, and reports OS errors as
 * BackendError naming the file.
 * Method: real files in a fresh temporary directory.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BackendError } from '../../src/backends/block-backend.js';
import { FileBackend } from '../../src/backends/file-backend.js';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'collie-file-backend-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('FileBackend', () => {
  test('creates a sparse file; writes (with and without FUA), reads, flushes', async () => {
    const path = join(directory, 'disk.img');
    const backend = await FileBackend.open({ path, sizeBytes: 64 * 1024 * 1024 });
    expect(backend.thin).toBe(false);
    expect(backend.identity).toMatch(/^file:.*disk\.img$/);
    const info = await stat(path);
    expect(info.size).toBe(64 * 1024 * 1024);
    expect(info.blocks * 512).toBeLessThan(info.size);
    await backend.write(4096, Buffer.alloc(1024, 7));
    await backend.write(8192, Buffer.alloc(512, 9), { fua: true });
    await backend.flush();
    expect(await backend.read(4096, 1024)).toEqual(Buffer.alloc(1024, 7));
    expect(await backend.read(7680, 1024)).toEqual(Buffer.concat([Buffer.alloc(512), Buffer.alloc(512, 9)]));
    await backend.close();
    const reopened = await FileBackend.open({ path });
    expect(reopened.sizeBytes).toBe(64 * 1024 * 1024);
    expect(await reopened.read(8192, 512)).toEqual(Buffer.alloc(512, 9));
    await reopened.close();
  });

  test('a file shorter than the declared size reads zeros past its end (read-only)', async () => {
    const path = join(directory, 'short.img');
    await writeFile(path, Buffer.alloc(512, 3));
    const backend = await FileBackend.open({ path, sizeBytes: 4096, readOnly: true });
    expect(await backend.read(0, 1024)).toEqual(Buffer.concat([Buffer.alloc(512, 3), Buffer.alloc(512)]));
    await expect(backend.write(0, Buffer.alloc(512))).rejects.toMatchObject({ kind: 'read-only' });
    await backend.close();
  });

  test('errors name the file: missing file without a size, bad size, use after close', async () => {
    const missing = join(directory, 'missing.img');
    await expect(FileBackend.open({ path: missing })).rejects.toThrow(/missing\.img/);
    const odd = join(directory, 'odd.img');
    await writeFile(odd, Buffer.alloc(1000));
    await expect(FileBackend.open({ path: odd })).rejects.toThrow(/not a positive multiple of 512/);
    const backend = await FileBackend.open({ path: join(directory, 'x.img'), sizeBytes: 4096 });
    await backend.close();
    await expect(backend.read(0, 512)).rejects.toBeInstanceOf(BackendError);
  });
});
