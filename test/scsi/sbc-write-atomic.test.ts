/**
 * Goal: WRITE ATOMIC(16) writes all of its blocks or none, in one backend call, holding its LBA
 * range exclusive so no other write of the LU lands inside it, and refuses what the Block Limits
 * page's atomic fields forbid (SBC-4).
 * Method: a LU over a MemoryBackend whose writes can be held open; CDB written byte by byte from
 * SBC-4 (WRITE ATOMIC(16): LBA bytes 2-9, ATOMIC BOUNDARY 10-11, TRANSFER LENGTH 12-13).
 */
import { describe, expect, test } from 'vitest';
import type { WriteOptions } from '../../src/backends/block-backend.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { blockDataOutBytes, truncateBlockDataOut } from '../../src/scsi/transfer-length.js';
import { be16, be64 } from '../support/bytes.js';
import { rw16 } from '../support/cdb-builder.js';
import { createTestLu, senseTriple } from '../support/scsi-lu.js';

const BLOCK = 512;

/** WRITE ATOMIC(16) (SBC-4): byte 1 DPO 10h, FUA 08h. */
function writeAtomicCdb(
  lba: bigint,
  blocks: number,
  options: { byte1?: number; boundary?: number } = {},
): Buffer {
  return Buffer.from([
    0x9c,
    options.byte1 ?? 0,
    ...be64(lba),
    ...be16(options.boundary ?? 0),
    ...be16(blocks),
    0,
    0,
  ]);
}

/** A MemoryBackend whose writes wait until released, counting the calls. */
class GatedWrites extends MemoryBackend {
  readonly calls: Array<{ offsetBytes: number; lengthBytes: number; fua: boolean }> = [];
  readonly waiting: Array<() => void> = [];
  gate = false;
  override async write(offsetBytes: number, data: Buffer, options?: WriteOptions): Promise<void> {
    this.calls.push({ offsetBytes, lengthBytes: data.length, fua: options?.fua === true });
    if (this.gate) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.write(offsetBytes, data, options);
  }
}

async function settle(): Promise<void> {
  for (let turn = 0; turn < 30; turn++) await Promise.resolve();
}

describe('WRITE ATOMIC(16)', () => {
  test('writes the blocks in one backend call; FUA reaches the backend', async () => {
    const backend = new GatedWrites({ sizeBytes: 8 * 1024 * 1024, identity: 'memory:atomic' });
    const { run } = await createTestLu({ backend });
    const data = Buffer.alloc(4096 * BLOCK, 0x5a);
    expect((await run(writeAtomicCdb(8n, 4096, { byte1: 0x18 }), { dataOut: data })).status).toBe(0);
    expect(backend.calls).toEqual([{ offsetBytes: 8 * BLOCK, lengthBytes: 4096 * BLOCK, fua: true }]);
    expect((await run(rw16(0x88, 8n, 4096))).dataIn!.equals(data)).toBe(true);
  });

  test('holds its range exclusive: an overlapping WRITE waits, one elsewhere does not', async () => {
    const backend = new GatedWrites({ sizeBytes: 1024 * 1024, identity: 'memory:atomic' });
    const { run } = await createTestLu({ backend });
    backend.gate = true;
    const atomic = run(writeAtomicCdb(16n, 16), { dataOut: Buffer.alloc(16 * BLOCK, 0x01) });
    await settle();
    expect(backend.calls.length).toBe(1);
    const overlapping = run(rw16(0x8a, 24n, 1), { dataOut: Buffer.alloc(BLOCK, 0x02) });
    const elsewhere = run(rw16(0x8a, 40n, 1), { dataOut: Buffer.alloc(BLOCK, 0x03) });
    await settle();
    expect(backend.calls.map((call) => call.offsetBytes)).toEqual([16 * BLOCK, 40 * BLOCK]);
    backend.gate = false;
    while (backend.waiting.length > 0) backend.waiting.shift()!();
    expect((await atomic).status).toBe(0);
    expect((await overlapping).status).toBe(0);
    expect((await elsewhere).status).toBe(0);
    const stored = (await run(rw16(0x88, 16n, 16))).dataIn!;
    expect(stored.subarray(8 * BLOCK, 9 * BLOCK)).toEqual(Buffer.alloc(BLOCK, 0x02)); // after the atomic write
    expect(stored.subarray(0, 8 * BLOCK)).toEqual(Buffer.alloc(8 * BLOCK, 0x01));
  });

  test('check order and limits: range, length, granularity, alignment, boundary, write protection', async () => {
    const { run } = await createTestLu({ limits: { maxAtomicTransferBlocks: 32 } });
    const data = Buffer.alloc(64 * BLOCK);
    for (const lba of [2048n - 8n + 1n, 2n ** 63n, 2n ** 64n - 8n]) {
      expect(senseTriple(await run(writeAtomicCdb(lba, 8), { dataOut: data }))).toEqual([0x5, 0x21, 0x00]);
    }
    const tooLong = await run(writeAtomicCdb(0n, 40), { dataOut: data });
    expect(tooLong.sense).toMatchObject({ asc: 0x24, fieldPointer: { inCdb: true, byte: 12, bit: 7 } });
    const granularity = await run(writeAtomicCdb(0n, 4), { dataOut: data });
    expect(granularity.sense).toMatchObject({ asc: 0x24, fieldPointer: { inCdb: true, byte: 12, bit: 7 } });
    const misaligned = await run(writeAtomicCdb(4n, 8), { dataOut: data });
    expect(misaligned.sense).toMatchObject({ asc: 0x24, fieldPointer: { inCdb: true, byte: 2, bit: 7 } });
    const boundary = await run(writeAtomicCdb(0n, 8, { boundary: 8 }), { dataOut: data });
    expect(boundary.sense).toMatchObject({ asc: 0x24, fieldPointer: { inCdb: true, byte: 11 } });
    expect((await run(writeAtomicCdb(0n, 0))).status).toBe(0);
    const readOnly = await createTestLu({ readOnly: true });
    expect(senseTriple(await readOnly.run(writeAtomicCdb(0n, 8), { dataOut: data }))).toEqual([
      0x7, 0x27, 0x00,
    ]);
  });

  test('all or nothing: a Data-Out short of the CDB writes nothing; the iSCSI layer cannot cut it', async () => {
    const { run } = await createTestLu();
    const result = await run(writeAtomicCdb(0n, 16), { dataOut: Buffer.alloc(8 * BLOCK, 0x77) });
    expect(senseTriple(result)).toEqual([0x5, 0x24, 0x00]);
    expect((await run(rw16(0x88, 0n, 16))).dataIn).toEqual(Buffer.alloc(16 * BLOCK));
    const cdb = writeAtomicCdb(0n, 16);
    expect(blockDataOutBytes(cdb, BLOCK)).toBe(16 * BLOCK);
    expect(truncateBlockDataOut(cdb, BLOCK, 8 * BLOCK)).toBeUndefined();
  });
});
