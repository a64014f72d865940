/**
 * Goal: residuals follow RFC 7143 §11.4.5 and FCP-4 option (a) the way libiscsi's tests expect:
 * a read whose ExpectedDataTransferLength is short of the CDB is cut and reports overflow, a
 * longer one reports underflow; a write with a short EDTL writes only the whole blocks it carries
 * and reports overflow, a longer one writes what the CDB asks and reports underflow.
 * Method: SCSI commands with explicit CDBs and EDTLs through the simulated initiator against the
 * real target; the medium is checked by reading it back with matching lengths.
 */
import { describe, expect, test } from 'vitest';
import { inquiryCdb, read16Cdb, write16Cdb } from '../../../sim/initiator/scsi-commands.js';
import { pattern, ready, targetWorld } from './target-world.js';

async function setUp() {
  const world = await targetWorld();
  const initiator = await world.login();
  await ready(world, initiator, 0);
  return { world, initiator };
}

describe('residuals', () => {
  test('read with EDTL above the CDB: all the data, underflow of the difference', async () => {
    const { world, initiator } = await setUp();
    const data = pattern(4096, 5);
    await world.settle(initiator.write(0, 0, data));
    const result = await world.settle(
      initiator.command({ lun: 0, cdb: read16Cdb(0, 8), expectedLengthBytes: 8192, read: true }),
    );
    expect(result.status).toBe(0);
    expect(result.residual).toEqual({ overflow: false, underflow: true, count: 4096 });
    expect(result.dataIn.equals(data)).toBe(true);
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  test('read with EDTL below the CDB: the data is cut at EDTL, overflow of the rest', async () => {
    const { world, initiator } = await setUp();
    const data = pattern(4096, 6);
    await world.settle(initiator.write(0, 0, data));
    const result = await world.settle(
      initiator.command({ lun: 0, cdb: read16Cdb(0, 8), expectedLengthBytes: 2048, read: true }),
    );
    expect(result.status).toBe(0);
    expect(result.residual).toEqual({ overflow: true, underflow: false, count: 2048 });
    expect(result.dataIn.equals(data.subarray(0, 2048))).toBe(true);
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  test('read of 0 blocks with an EDTL: no data, underflow of the whole EDTL', async () => {
    const { world, initiator } = await setUp();
    const result = await world.settle(
      initiator.command({ lun: 0, cdb: read16Cdb(0, 0), expectedLengthBytes: 512, read: true }),
    );
    expect(result.status).toBe(0);
    expect(result.dataIn.length).toBe(0);
    expect(result.residual).toEqual({ overflow: false, underflow: true, count: 512 });
    await world.close();
  });

  test('write with EDTL below the CDB (option a): the blocks sent are written, overflow of the rest', async () => {
    const { world, initiator } = await setUp();
    const before = pattern(4096, 7);
    await world.settle(initiator.write(0, 16, before));
    const sent = pattern(2048, 8);
    const result = await world.settle(
      initiator.command({ lun: 0, cdb: write16Cdb(16, 8), dataOut: sent, expectedLengthBytes: 2048 }),
    );
    expect(result.status).toBe(0);
    expect(result.residual).toEqual({ overflow: true, underflow: false, count: 2048 });
    const after = await world.settle(initiator.read(0, 16, 8));
    expect(after.dataIn.subarray(0, 2048).equals(sent)).toBe(true);
    expect(after.dataIn.subarray(2048).equals(before.subarray(2048))).toBe(true);
    await world.close();
  });

  test('write with EDTL above the CDB: the CDB decides what is written, underflow of the rest', async () => {
    const { world, initiator } = await setUp();
    const before = pattern(1024, 9);
    await world.settle(initiator.write(0, 32, before));
    const sent = pattern(1024, 10);
    const result = await world.settle(
      initiator.command({ lun: 0, cdb: write16Cdb(32, 1), dataOut: sent, expectedLengthBytes: 1024 }),
    );
    expect(result.status).toBe(0);
    expect(result.residual).toEqual({ overflow: false, underflow: true, count: 512 });
    const after = await world.settle(initiator.read(0, 32, 2));
    expect(after.dataIn.subarray(0, 512).equals(sent.subarray(0, 512))).toBe(true);
    expect(after.dataIn.subarray(512).equals(before.subarray(512))).toBe(true);
    await world.close();
  });

  test('write with EDTL 0 for one block: nothing is written, overflow of the block', async () => {
    const { world, initiator } = await setUp();
    const before = pattern(512, 11);
    await world.settle(initiator.write(0, 40, before));
    const result = await world.settle(
      initiator.command({ lun: 0, cdb: write16Cdb(40, 1), expectedLengthBytes: 0 }),
    );
    expect(result.status).toBe(0);
    expect(result.residual).toEqual({ overflow: true, underflow: false, count: 512 });
    expect((await world.settle(initiator.read(0, 40, 1))).dataIn.equals(before)).toBe(true);
    await world.close();
  });

  test('a large write with a short EDTL crosses bursts and still cuts at whole blocks', async () => {
    const { world, initiator } = await setUp();
    const sent = pattern(600 * 1024, 12);
    const result = await world.settle(
      initiator.command({
        lun: 0,
        cdb: write16Cdb(1000, 2048),
        dataOut: sent,
        expectedLengthBytes: sent.length,
      }),
    );
    expect(result.status).toBe(0);
    expect(result.residual).toEqual({ overflow: true, underflow: false, count: 2048 * 512 - sent.length });
    expect((await world.settle(initiator.read(0, 1000, 1200))).dataIn.equals(sent)).toBe(true);
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  test('INQUIRY with a small EDTL reports the overflow of the data it could not carry', async () => {
    const { world, initiator } = await setUp();
    const full = await world.settle(initiator.inquiry(0, { allocationLengthBytes: 255 }));
    expect(full.status).toBe(0);
    const dataBytes = full.dataIn.length;
    expect(full.residual).toEqual({ overflow: false, underflow: true, count: 255 - dataBytes });
    const cut = await world.settle(
      initiator.command({ lun: 0, cdb: inquiryCdb({ allocationLengthBytes: 255 }), expectedLengthBytes: 36 }),
    );
    expect(cut.residual).toEqual({ overflow: true, underflow: false, count: dataBytes - 36 });
    expect(cut.dataIn.equals(full.dataIn.subarray(0, 36))).toBe(true);
    await world.close();
  });
});
