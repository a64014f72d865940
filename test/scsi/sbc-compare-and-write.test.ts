/**
 * Goal: COMPARE AND WRITE writes only when the verify instance matches, reports the first
 * differing byte, checks its length field against the Block Limits and the Data-Out size, and is
 * atomic: of two concurrent COMPARE AND WRITEs expecting the same data on one LBA exactly one
 * wins, and a concurrent WRITE never lands between another's compare and write.
 * Method: a LU over a MemoryBackend whose reads can be held open to force interleavings; CDB from
 * SBC-3; MISCOMPARE is 0E/1D/00 with INFORMATION = byte offset (SBC-3).
 */
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import type { CompareAndWriteLock, CompareAndWriteRange } from '../../src/scsi/sbc-compare-and-write.js';
import { compareAndWriteCdb, rw10, rw16, testUnitReadyCdb } from '../support/cdb-builder.js';
import { createTestLu, makeNexus, senseTriple } from '../support/scsi-lu.js';

const BLOCKS = 2048;

function twice(expected: Buffer, replacement: Buffer): Buffer {
  return Buffer.concat([expected, replacement]);
}

describe('COMPARE AND WRITE', () => {
  test('match: the write instance is stored; FUA and DPO accepted', async () => {
    const { run } = await createTestLu();
    await run(rw10(0x2a, 10, 2), { dataOut: Buffer.alloc(1024, 0x41) });
    const result = await run(compareAndWriteCdb(10n, 2, 0x18), {
      dataOut: twice(Buffer.alloc(1024, 0x41), Buffer.alloc(1024, 0x42)),
    });
    expect(result.status).toBe(0);
    expect((await run(rw10(0x28, 10, 2))).dataIn).toEqual(Buffer.alloc(1024, 0x42));
  });

  test('miscompare: 0E/1D/00, INFORMATION is the offset of the first bad byte, nothing written', async () => {
    const { run } = await createTestLu();
    await run(rw16(0x8a, BigInt(BLOCKS - 3), 3), { dataOut: Buffer.alloc(1536, 0x41) });
    const expected = Buffer.alloc(1536, 0x41);
    expected[1536 - 27] = 0x43;
    const result = await run(compareAndWriteCdb(BigInt(BLOCKS - 3), 3), {
      dataOut: twice(expected, Buffer.alloc(1536, 0x42)),
    });
    expect(senseTriple(result)).toEqual([0xe, 0x1d, 0x00]);
    expect(result.sense!.information).toBe(BigInt(1536 - 27));
    expect((await run(rw16(0x88, BigInt(BLOCKS - 3), 3))).dataIn).toEqual(Buffer.alloc(1536, 0x41));
  });

  test('unwritten (thin, zero) blocks miscompare with non-zero verify data', async () => {
    const { run } = await createTestLu();
    const result = await run(compareAndWriteCdb(7n, 1), {
      dataOut: twice(Buffer.alloc(512, 0x25), Buffer.alloc(512, 0x42)),
    });
    expect(result.sense!.information).toBe(0n);
  });

  test('length checks: above MAXIMUM COMPARE AND WRITE LENGTH, Data-Out too small or too large, 0 blocks', async () => {
    const { run } = await createTestLu({ limits: { maxCompareAndWriteBlocks: 2 } });
    expect((await run(compareAndWriteCdb(0n, 3), { dataOut: Buffer.alloc(6 * 512) })).sense).toMatchObject({
      asc: 0x24,
      fieldPointer: { byte: 13 },
    });
    expect(senseTriple(await run(compareAndWriteCdb(0n, 1), { dataOut: Buffer.alloc(4 * 512) }))).toEqual([
      0x5, 0x24, 0x00,
    ]);
    expect(senseTriple(await run(compareAndWriteCdb(0n, 2), { dataOut: Buffer.alloc(3 * 512) }))).toEqual([
      0x5, 0x24, 0x00,
    ]);
    // A session that already cut a 4-block Data-Out to the 2 blocks the CDB needs: EDTL still says 4.
    expect(
      senseTriple(
        await run(compareAndWriteCdb(0n, 1), {
          dataOut: Buffer.alloc(2 * 512),
          expectedLengthBytes: 4 * 512,
        }),
      ),
    ).toEqual([0x5, 0x24, 0x00]);
    expect((await run(compareAndWriteCdb(0n, 0))).status).toBe(0);
    // 256 blocks encode as 0 in the one-byte field; with data attached that is a mismatch, not a no-op.
    expect(senseTriple(await run(compareAndWriteCdb(0n, 0), { dataOut: Buffer.alloc(512 * 512) }))).toEqual([
      0x5, 0x24, 0x00,
    ]);
  });

  test('range: end, 2^63, 2^64-1; write protection', async () => {
    const { run } = await createTestLu();
    for (const lba of [BigInt(BLOCKS), 2n ** 63n, 2n ** 64n - 1n]) {
      expect(senseTriple(await run(compareAndWriteCdb(lba, 1), { dataOut: Buffer.alloc(1024) }))).toEqual([
        0x5, 0x21, 0x00,
      ]);
    }
    const readOnly = await createTestLu({
      backend: new MemoryBackend({ sizeBytes: BLOCKS * 512, readOnly: true }),
    });
    expect(
      senseTriple(await readOnly.run(compareAndWriteCdb(0n, 1), { dataOut: Buffer.alloc(1024) })),
    ).toEqual([0x7, 0x27, 0x00]);
  });
});

/** A MemoryBackend whose reads wait until released, to force two commands to overlap. */
class GatedBackend extends MemoryBackend {
  readonly waiting: Array<() => void> = [];
  gate = false;
  override async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    if (this.gate) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.read(offsetBytes, lengthBytes);
  }
}

async function settle(): Promise<void> {
  for (let turn = 0; turn < 20; turn++) await Promise.resolve();
}

describe('atomicity', () => {
  test('two concurrent COMPARE AND WRITEs on one LBA from two nexuses: exactly one wins', async () => {
    const backend = new GatedBackend({ sizeBytes: BLOCKS * 512 });
    const { run } = await createTestLu({ backend });
    await run(rw10(0x2a, 5, 1), { dataOut: Buffer.alloc(512, 0x41) });
    await run(testUnitReadyCdb(), { nexus: makeNexus(2) }); // consume nexus 2's power-on condition
    backend.gate = true;
    const first = run(compareAndWriteCdb(5n, 1), {
      dataOut: twice(Buffer.alloc(512, 0x41), Buffer.alloc(512, 0x01)),
    });
    const second = run(compareAndWriteCdb(5n, 1), {
      dataOut: twice(Buffer.alloc(512, 0x41), Buffer.alloc(512, 0x02)),
      nexus: makeNexus(2),
    });
    await settle();
    expect(backend.waiting.length).toBe(1); // the second waits for the range, not for the backend
    while (backend.waiting.length > 0) {
      backend.waiting.shift()!();
      await settle();
    }
    const results = await Promise.all([first, second]);
    expect(results.map((result) => result.status).sort()).toEqual([0x00, 0x02]);
    expect(results.find((result) => result.status === 0x02)!.sense!.key).toBe(0xe);
    backend.gate = false;
    const stored = (await run(rw10(0x28, 5, 1))).dataIn!;
    expect([0x01, 0x02]).toContain(stored[0]);
    expect(stored).toEqual(Buffer.alloc(512, stored[0]!));
  });

  test('a WRITE to the same block waits until the COMPARE AND WRITE is done', async () => {
    const backend = new GatedBackend({ sizeBytes: BLOCKS * 512 });
    const { run } = await createTestLu({ backend });
    await run(rw10(0x2a, 5, 1), { dataOut: Buffer.alloc(512, 0x41) });
    backend.gate = true;
    const caw = run(compareAndWriteCdb(5n, 1), {
      dataOut: twice(Buffer.alloc(512, 0x41), Buffer.alloc(512, 0x01)),
    });
    await settle();
    const write = run(rw10(0x2a, 5, 1), { dataOut: Buffer.alloc(512, 0x09) });
    const elsewhere = run(rw10(0x2a, 6, 1), { dataOut: Buffer.alloc(512, 0x07) });
    await settle();
    expect((await elsewhere).status).toBe(0); // other blocks are not held up
    backend.waiting.shift()!();
    expect((await caw).status).toBe(0);
    expect((await write).status).toBe(0);
    backend.gate = false;
    expect((await run(rw10(0x28, 5, 1))).dataIn).toEqual(Buffer.alloc(512, 0x09));
  });

  test('the cluster-wide CompareAndWriteLock hook wraps the read-compare-write', async () => {
    const ranges: CompareAndWriteRange[] = [];
    const lock: CompareAndWriteLock = {
      run: (range, work) => {
        ranges.push(range);
        return work();
      },
    };
    const { run } = await createTestLu({ compareAndWriteLock: lock });
    await run(compareAndWriteCdb(9n, 2), { dataOut: Buffer.alloc(2048) });
    expect(ranges).toEqual([{ startLba: 9, blockCount: 2 }]);
  });
});
