/**
 * Goal: SYNCHRONIZE CACHE flushes the backend and PRE-FETCH answers GOOD, both after 64-bit range
 * checks where a zero length means "to the last LBA".
 * Method: a LU over a MemoryBackend whose flush() is counted; CDBs from SBC-3 PRE-FETCH and
 * SYNCHRONIZE CACHE; GOOD is 00h (SAM-5 status codes), not
 * CONDITION MET.
 */
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { rw10, rw16 } from '../support/cdb-builder.js';
import { createTestLu, senseTriple } from '../support/scsi-lu.js';

const BLOCKS = 2048;
const LBA_OOB = [0x5, 0x21, 0x00];

class CountingBackend extends MemoryBackend {
  flushes = 0;
  override async flush(): Promise<void> {
    this.flushes += 1;
  }
}

describe('SYNCHRONIZE CACHE', () => {
  test('(10) and (16) flush, with IMMED and SYNC_NV accepted', async () => {
    const backend = new CountingBackend({ sizeBytes: BLOCKS * 512 });
    const { run } = await createTestLu({ backend });
    expect((await run(rw10(0x35, 0, 0))).status).toBe(0);
    expect((await run(rw10(0x35, 10, 5, 0x06))).status).toBe(0);
    expect((await run(rw16(0x91, 0n, 0, 0x02))).status).toBe(0);
    expect(backend.flushes).toBe(3);
  });

  test('ranges: end+1 with 0 blocks, crossing the end, 2^63, 2^64-1', async () => {
    const backend = new CountingBackend({ sizeBytes: BLOCKS * 512 });
    const { run } = await createTestLu({ backend });
    expect((await run(rw10(0x35, BLOCKS, 0))).status).toBe(0);
    expect(senseTriple(await run(rw10(0x35, BLOCKS + 1, 0)))).toEqual(LBA_OOB);
    expect(senseTriple(await run(rw10(0x35, BLOCKS - 1, 2)))).toEqual(LBA_OOB);
    expect(senseTriple(await run(rw16(0x91, 2n ** 63n, 1)))).toEqual(LBA_OOB);
    expect(senseTriple(await run(rw16(0x91, 2n ** 64n - 1n, 0)))).toEqual(LBA_OOB);
    expect(backend.flushes).toBe(1);
  });
});

describe('PRE-FETCH', () => {
  test('GOOD inside the LU with IMMED and GROUP NUMBER; LBA OUT OF RANGE outside', async () => {
    const { run } = await createTestLu();
    expect((await run(rw10(0x34, 0, 1, 0x02, 3))).status).toBe(0);
    expect((await run(rw10(0x34, BLOCKS - 1, 0))).status).toBe(0);
    expect((await run(rw16(0x90, 0n, 1, 0x02, 3))).status).toBe(0);
    for (const cdb of [
      rw10(0x34, BLOCKS + 1, 0),
      rw10(0x34, 0x80000000, 1),
      rw10(0x34, 0xffffffff, 0),
      rw16(0x90, BigInt(BLOCKS + 1), 0),
      rw16(0x90, 2n ** 63n, 1),
      rw16(0x90, 2n ** 64n - 1n, 1),
    ]) {
      expect(senseTriple(await run(cdb))).toEqual(LBA_OOB);
    }
  });
});
