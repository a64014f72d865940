/**
 * Goal: READ/WRITE/VERIFY/WRITE AND VERIFY in all CDB sizes and ORWRITE move the right blocks,
 * check ranges 64-bit safely (end, end+1, 2^31, 2^63, 2^64-1, zero lengths), honour the transfer
 * limit, FUA and WCE, the Data-Out residual rules, write protection and BYTCHK.
 * Method: a 2048-block LU over a MemoryBackend wrapped to record write options; CDBs from SBC-3
 * (READ, WRITE, VERIFY, WRITE AND VERIFY, ORWRITE); LBA OUT OF RANGE is 05/21/00, INVALID FIELD IN
 * CDB 05/24/00, MISCOMPARE 0E/1D/00 (SPC-4 Annex D).
 */
import { describe, expect, test } from 'vitest';
import type { BlockBackend } from '../../src/backends/block-backend.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { modeSelect6, modeSense6, rw6, rw10, rw12, rw16 } from '../support/cdb-builder.js';
import { createTestLu, senseTriple } from '../support/scsi-lu.js';

const BLOCKS = 2048;
const LBA_OOB = [0x5, 0x21, 0x00];

function pattern(blocks: number, seed: number): Buffer {
  const data = Buffer.alloc(blocks * 512);
  for (let index = 0; index < data.length; index++) data[index] = (index * 7 + seed) & 0xff;
  return data;
}

function recordingBackend(): { backend: BlockBackend; fuaWrites: boolean[] } {
  const inner = new MemoryBackend({ sizeBytes: BLOCKS * 512, identity: 'memory:recording' });
  const fuaWrites: boolean[] = [];
  const backend: BlockBackend = {
    blockSizeBytes: 512,
    sizeBytes: inner.sizeBytes,
    thin: true,
    readOnly: false,
    identity: inner.identity,
    read: (offset, length) => inner.read(offset, length),
    write: (offset, data, options) => {
      fuaWrites.push(options?.fua === true);
      return inner.write(offset, data, options);
    },
    flush: () => inner.flush(),
    unmap: (offset, length) => inner.unmap(offset, length),
    mapStatus: (offset, length) => inner.mapStatus(offset, length),
    close: () => inner.close(),
  };
  return { backend, fuaWrites };
}

describe('READ and WRITE round trips', () => {
  test.each([
    ['6', (op: number, lba: number, n: number) => rw6(op === 0x28 ? 0x08 : 0x0a, lba, n)],
    ['10', (op: number, lba: number, n: number) => rw10(op, lba, n)],
    ['12', (op: number, lba: number, n: number) => rw12(op === 0x28 ? 0xa8 : 0xaa, lba, n)],
    ['16', (op: number, lba: number, n: number) => rw16(op === 0x28 ? 0x88 : 0x8a, BigInt(lba), n)],
  ])('(%s) at the start and at the last blocks', async (_size, cdb) => {
    const { run } = await createTestLu();
    for (const lba of [0, BLOCKS - 5]) {
      const data = pattern(5, lba);
      expect((await run(cdb(0x2a, lba, 5), { dataOut: data })).status).toBe(0);
      expect((await run(cdb(0x28, lba, 5))).dataIn).toEqual(data);
    }
  });

  test('READ(6)/WRITE(6) with TRANSFER LENGTH 0 move 256 blocks (SBC-3)', async () => {
    const { run } = await createTestLu();
    const data = pattern(256, 3);
    expect((await run(rw6(0x0a, 10, 0), { dataOut: data })).status).toBe(0);
    expect((await run(rw6(0x08, 10, 0))).dataIn).toEqual(data);
  });

  test('TRANSFER LENGTH 0 in 10/12/16-byte CDBs transfers nothing and is GOOD', async () => {
    const { run } = await createTestLu();
    for (const cdb of [
      rw10(0x28, 0, 0),
      rw12(0xa8, 0, 0),
      rw16(0x88, 0n, 0),
      rw10(0x2a, 0, 0),
      rw16(0x8a, 0n, 0),
    ]) {
      const result = await run(cdb);
      expect(result.status).toBe(0);
      expect(result.dataIn?.length ?? 0).toBe(0);
    }
  });

  test('DPO, FUA, FUA_NV and GROUP NUMBER are accepted; RDPROTECT/WRPROTECT are refused', async () => {
    const { run } = await createTestLu();
    expect((await run(rw10(0x28, 0, 1, 0x1a, 0x1f))).status).toBe(0);
    expect((await run(rw16(0x8a, 0n, 1, 0x18), { dataOut: pattern(1, 0) })).status).toBe(0);
    for (let protect = 1; protect < 8; protect++) {
      expect(senseTriple(await run(rw10(0x28, 0, 1, protect << 5)))).toEqual([0x5, 0x24, 0x00]);
      expect(senseTriple(await run(rw12(0xaa, 0, 1, protect << 5), { dataOut: pattern(1, 0) }))).toEqual([
        0x5, 0x24, 0x00,
      ]);
    }
  });
});

describe('LBA ranges', () => {
  test('10-byte: the last block is fine; end, end+1, 2^31 and 2^32-1 are out of range, also with length 0', async () => {
    const { run } = await createTestLu();
    expect((await run(rw10(0x28, BLOCKS - 1, 1))).status).toBe(0);
    expect((await run(rw10(0x28, BLOCKS, 0))).status).toBe(0);
    for (const [lba, blocks] of [
      [BLOCKS, 1],
      [BLOCKS - 1, 2],
      [BLOCKS + 1, 0],
      [0x80000000, 1],
      [0x80000000, 0],
      [0xffffffff, 1],
      [0xffffffff, 0],
    ] as const) {
      expect(senseTriple(await run(rw10(0x28, lba, blocks)))).toEqual(LBA_OOB);
      expect(senseTriple(await run(rw10(0x2a, lba, blocks), { dataOut: pattern(blocks, 0) }))).toEqual(
        LBA_OOB,
      );
      expect(senseTriple(await run(rw10(0x2f, lba, blocks)))).toEqual(LBA_OOB);
      expect(senseTriple(await run(rw10(0x2e, lba, blocks), { dataOut: pattern(blocks, 0) }))).toEqual(
        LBA_OOB,
      );
    }
  });

  test('16-byte: 2^63, 2^(64-9), 2^64-1 never wrap around to a valid block', async () => {
    const { run } = await createTestLu();
    for (const lba of [2n ** 63n, 2n ** 55n, 2n ** 64n - 1n, BigInt(BLOCKS)]) {
      for (const blocks of [0, 1, 256]) {
        if (lba === BigInt(BLOCKS) && blocks === 0) continue;
        expect(senseTriple(await run(rw16(0x88, lba, blocks)))).toEqual(LBA_OOB);
        expect(senseTriple(await run(rw16(0x8a, lba, blocks), { dataOut: pattern(blocks, 0) }))).toEqual(
          LBA_OOB,
        );
        expect(senseTriple(await run(rw16(0x8f, lba, blocks)))).toEqual(LBA_OOB);
        expect(senseTriple(await run(rw16(0x8b, lba, blocks), { dataOut: pattern(blocks, 0) }))).toEqual(
          LBA_OOB,
        );
      }
    }
  });

  test('6-byte: LBA 1FFFFFh and a range crossing the end', async () => {
    const { run } = await createTestLu();
    expect(senseTriple(await run(rw6(0x08, 0x1fffff, 1)))).toEqual(LBA_OOB);
    expect(senseTriple(await run(rw6(0x08, BLOCKS - 1, 2)))).toEqual(LBA_OOB);
    expect(senseTriple(await run(rw6(0x08, BLOCKS - 1, 0)))).toEqual(LBA_OOB); // 0 means 256 blocks
  });

  test('12-byte: end and 2^31', async () => {
    const { run } = await createTestLu();
    expect(senseTriple(await run(rw12(0xa8, BLOCKS, 1)))).toEqual(LBA_OOB);
    expect(senseTriple(await run(rw12(0xa8, 0x80000000, 0)))).toEqual(LBA_OOB);
  });

  test('more than MAXIMUM TRANSFER LENGTH is INVALID FIELD IN CDB on the length field', async () => {
    const { run } = await createTestLu({ limits: { maxTransferBlocks: 16 } });
    expect((await run(rw10(0x28, 0, 16))).status).toBe(0);
    expect((await run(rw10(0x28, 0, 17))).sense).toMatchObject({ asc: 0x24, fieldPointer: { byte: 7 } });
    expect((await run(rw16(0x8a, 0n, 17), { dataOut: pattern(17, 0) })).sense).toMatchObject({
      asc: 0x24,
      fieldPointer: { byte: 10 },
    });
  });
});

describe('Data-Out residuals (the rules libiscsi iSCSIResiduals checks)', () => {
  test('less data than the CDB asks for writes only the whole blocks that arrived', async () => {
    const { run } = await createTestLu();
    await run(rw10(0x2a, 0, 2), { dataOut: Buffer.alloc(1024, 0x61) });
    expect((await run(rw10(0x2a, 0, 2), { dataOut: Buffer.alloc(512, 0x62) })).status).toBe(0);
    expect((await run(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(200, 0x63) })).status).toBe(0);
    expect((await run(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(0) })).status).toBe(0);
    const data = (await run(rw10(0x28, 0, 2))).dataIn!;
    expect(data.subarray(0, 512).every((byte) => byte === 0x62)).toBe(true);
    expect(data.subarray(512).every((byte) => byte === 0x61)).toBe(true);
  });

  test('more data than the CDB asks for writes exactly the CDB blocks', async () => {
    const { run } = await createTestLu();
    await run(rw10(0x2a, 0, 2), { dataOut: Buffer.alloc(1024, 0x61) });
    await run(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(1024, 0x62) });
    const data = (await run(rw10(0x28, 0, 2))).dataIn!;
    expect(data.subarray(512).every((byte) => byte === 0x61)).toBe(true);
  });
});

describe('durability and protection', () => {
  test('FUA writes are durable; with WCE cleared every write is', async () => {
    const { backend, fuaWrites } = recordingBackend();
    const { run } = await createTestLu({ backend });
    await run(rw10(0x2a, 0, 1), { dataOut: pattern(1, 0) });
    await run(rw10(0x2a, 0, 1, 0x08), { dataOut: pattern(1, 0) });
    const caching = Buffer.from(
      (await run(modeSense6({ dbd: true, page: 0x08, alloc: 255 }))).dataIn!.subarray(4),
    );
    caching[2] = 0;
    const list = Buffer.concat([Buffer.alloc(4), caching]);
    await run(modeSelect6(list.length), { dataOut: list });
    await run(rw10(0x2a, 0, 1), { dataOut: pattern(1, 0) });
    expect(fuaWrites).toEqual([false, true, true]);
  });

  test('a read-only backend: DATA PROTECT, WRITE PROTECTED (27/00) for every writing command, reads fine', async () => {
    const { run } = await createTestLu({
      backend: new MemoryBackend({ sizeBytes: BLOCKS * 512, readOnly: true }),
    });
    for (const cdb of [
      rw6(0x0a, 0, 1),
      rw10(0x2a, 0, 1),
      rw12(0xaa, 0, 1),
      rw16(0x8a, 0n, 1),
      rw10(0x2e, 0, 1),
      rw16(0x8b, 0n, 1),
    ]) {
      expect(senseTriple(await run(cdb, { dataOut: pattern(1, 0) }))).toEqual([0x7, 0x27, 0x00]);
    }
    expect((await run(rw10(0x28, 0, 1))).status).toBe(0);
  });
});

describe('VERIFY (SBC-3)', () => {
  test('BYTCHK 00b checks the medium only; 01b compares; 11b compares one block with each', async () => {
    const { run } = await createTestLu();
    const data = pattern(4, 9);
    await run(rw10(0x2a, 100, 4), { dataOut: data });
    expect((await run(rw10(0x2f, 100, 4))).status).toBe(0);
    expect((await run(rw10(0x2f, 100, 4, 0x02), { dataOut: data })).status).toBe(0);
    expect((await run(rw12(0xaf, 100, 4, 0x12), { dataOut: data })).status).toBe(0); // with DPO
    const flipped = Buffer.from(data);
    flipped[1000] = flipped[1000]! ^ 0x58;
    const miscompare = await run(rw16(0x8f, 100n, 4, 0x02), { dataOut: flipped });
    expect(senseTriple(miscompare)).toEqual([0xe, 0x1d, 0x00]);
    expect(miscompare.sense!.information).toBe(1000n);
    const same = Buffer.alloc(512, 0x77);
    await run(rw10(0x2a, 200, 3), { dataOut: Buffer.concat([same, same, same]) });
    expect((await run(rw10(0x2f, 200, 3, 0x06), { dataOut: same })).status).toBe(0);
    const other = Buffer.from(same);
    other[5] = 0;
    expect((await run(rw10(0x2f, 200, 3, 0x06), { dataOut: other })).sense!.information).toBe(5n);
  });

  test('BYTCHK 10b is reserved; VERIFY of 0 blocks is GOOD', async () => {
    const { run } = await createTestLu();
    expect((await run(rw10(0x2f, 0, 1, 0x04))).sense).toMatchObject({
      asc: 0x24,
      fieldPointer: { byte: 1, bit: 2 },
    });
    expect((await run(rw10(0x2f, 0, 0, 0x02))).status).toBe(0);
  });
});

describe('WRITE AND VERIFY and ORWRITE', () => {
  test('WRITE AND VERIFY writes durably and reads back (BYTCHK)', async () => {
    const { backend, fuaWrites } = recordingBackend();
    const { run } = await createTestLu({ backend });
    const data = pattern(3, 5);
    expect((await run(rw12(0xae, 7, 3, 0x12), { dataOut: data })).status).toBe(0);
    expect((await run(rw10(0x28, 7, 3))).dataIn).toEqual(data);
    expect(fuaWrites).toEqual([true]);
  });

  test('ORWRITE(16) stores old OR new: 00 | A5 = A5, A5 | 5A = FF', async () => {
    const { run } = await createTestLu();
    await run(rw10(0x2a, 0, 2), { dataOut: Buffer.alloc(1024) });
    await run(rw16(0x8b, 0n, 2), { dataOut: Buffer.alloc(1024, 0xa5) });
    expect((await run(rw10(0x28, 0, 2))).dataIn).toEqual(Buffer.alloc(1024, 0xa5));
    await run(rw16(0x8b, 0n, 2), { dataOut: Buffer.alloc(1024, 0x5a) });
    expect((await run(rw10(0x28, 0, 2))).dataIn).toEqual(Buffer.alloc(1024, 0xff));
    expect((await run(rw16(0x8b, 0n, 0))).status).toBe(0);
  });
});
