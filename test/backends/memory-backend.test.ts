/**
 * Goal: the memory backend is sparse, exact about what is mapped, zero-filled where unmapped,
 * refuses writes when read-only, and treats contract violations as Collie bugs.
 * Method: write, unmap and read ranges that cross 64 KiB chunk boundaries; check mapStatus runs
 * and the bytes held.
 */
import { describe, expect, test } from 'vitest';
import { BackendError } from '../../src/backends/block-backend.js';
import { MEMORY_CHUNK_BYTES, MemoryBackend } from '../../src/backends/memory-backend.js';
import { AssertionError } from '../../src/core/assert.js';

describe('MemoryBackend', () => {
  test('reads back what was written across chunk boundaries; the rest reads zeros', async () => {
    const backend = new MemoryBackend({ sizeBytes: 1 << 20 });
    const data = Buffer.alloc(3 * 512, 0xab);
    const offset = MEMORY_CHUNK_BYTES - 512;
    await backend.write(offset, data);
    expect(await backend.read(offset, data.length)).toEqual(data);
    expect(await backend.read(0, 512)).toEqual(Buffer.alloc(512));
    expect(backend.allocatedBytes).toBe(2 * MEMORY_CHUNK_BYTES);
  });

  test('mapStatus is exact to the block; unmap zeroes and frees whole chunks', async () => {
    const backend = new MemoryBackend({ sizeBytes: 1 << 20 });
    await backend.write(MEMORY_CHUNK_BYTES - 1024, Buffer.alloc(4096, 1));
    await backend.unmap(MEMORY_CHUNK_BYTES - 512, 1024);
    expect(await backend.mapStatus(MEMORY_CHUNK_BYTES - 2048, 8192)).toEqual([
      { offsetBytes: MEMORY_CHUNK_BYTES - 2048, lengthBytes: 1024, mapped: false },
      { offsetBytes: MEMORY_CHUNK_BYTES - 1024, lengthBytes: 512, mapped: true },
      { offsetBytes: MEMORY_CHUNK_BYTES - 512, lengthBytes: 1024, mapped: false },
      { offsetBytes: MEMORY_CHUNK_BYTES + 512, lengthBytes: 2560, mapped: true },
      { offsetBytes: MEMORY_CHUNK_BYTES + 3072, lengthBytes: 3072, mapped: false },
    ]);
    expect(await backend.read(MEMORY_CHUNK_BYTES - 512, 1024)).toEqual(Buffer.alloc(1024));
    await backend.unmap(0, 1 << 20);
    expect(backend.allocatedBytes).toBe(0);
    expect(await backend.mapStatus(0, 1 << 20)).toEqual([
      { offsetBytes: 0, lengthBytes: 1 << 20, mapped: false },
    ]);
  });

  test('a read-only backend refuses writes with BackendError read-only; close makes it unavailable', async () => {
    const backend = new MemoryBackend({ sizeBytes: 1 << 20, readOnly: true });
    await expect(backend.write(0, Buffer.alloc(512))).rejects.toMatchObject({ kind: 'read-only' });
    await backend.close();
    await expect(backend.read(0, 512)).rejects.toBeInstanceOf(BackendError);
  });

  test('unaligned or out-of-range calls are Collie bugs', async () => {
    const backend = new MemoryBackend({ sizeBytes: 1 << 20 });
    await expect(backend.read(1, 512)).rejects.toBeInstanceOf(AssertionError);
    await expect(backend.write(1 << 20, Buffer.alloc(512))).rejects.toBeInstanceOf(AssertionError);
    expect(() => new MemoryBackend({ sizeBytes: 1000 })).toThrow(AssertionError);
  });
});
