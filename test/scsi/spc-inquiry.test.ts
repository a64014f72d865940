/**
 * Goal: INQUIRY returns the standard data and VPD pages byte-exactly, truncates to the allocation
 * length, refuses bad page requests, and derives LU identity from the backend identity only.
 * Method: run INQUIRY CDBs and compare with bytes written from SPC-4 (CDB and standard data),
 * (standard data), 150 (version descriptors), 589/590 (device identification), 614 (Extended
 * INQUIRY) and SBC-3 (Block Device Characteristics, Block Limits and Logical Block Provisioning
 * VPD pages).
 */
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { be16, be32, hex } from '../support/bytes.js';
import { inquiryCdb } from '../support/cdb-builder.js';
import { createTestLu, makeNexus, senseTriple, TARGET_IQN } from '../support/scsi-lu.js';

function ascii(text: string, length: number): number[] {
  return [...text.padEnd(length, ' ')].map((character) => character.charCodeAt(0));
}

describe('standard INQUIRY data (SPC-4)', () => {
  test('fields', async () => {
    const { run } = await createTestLu();
    const data = (await run(inquiryCdb(false, 0, 255))).dataIn!;
    const expected = Buffer.alloc(96);
    Buffer.from([
      0x00, // qualifier 000b, device type 00h
      0x00, // RMB 0
      0x06, // VERSION: SPC-4
      0x12, // HISUP, RESPONSE DATA FORMAT 2
      91, // ADDITIONAL LENGTH = 96 - 5
      0x18, // TPGS 01b, 3PC (EXTENDED COPY)
      0x10, // MULTIP
      0x02, // CMDQUE
      ...ascii('COLLIE', 8),
      ...ascii('VIRTUAL DISK', 16),
      ...ascii('0001', 4),
    ]).copy(expected, 0);
    // VERSION DESCRIPTORs at byte 58: SAM-5 00A0h, iSCSI 0960h, SPC-4 0460h, SBC-3 04C0h (SPC-4 version descriptor values).
    Buffer.from([...be16(0x00a0), ...be16(0x0960), ...be16(0x0460), ...be16(0x04c0)]).copy(expected, 58);
    expect(data).toEqual(expected);
  });

  test('every allocation length 0-255 truncates; 255 and 256 give the same data', async () => {
    const { run } = await createTestLu();
    const full = (await run(inquiryCdb(false, 0, 256))).dataIn!;
    for (let length = 0; length < 256; length++) {
      const result = await run(inquiryCdb(false, 0, length));
      expect(result.status).toBe(0);
      expect(result.dataIn).toEqual(full.subarray(0, Math.min(length, 96)));
    }
  });

  test('RMB follows the removable option', async () => {
    const { run } = await createTestLu({ removable: true });
    expect((await run(inquiryCdb(false, 0, 96))).dataIn![1]).toBe(0x80);
  });

  test('EVPD = 0 with a page code is INVALID FIELD IN CDB (byte 2); so is an unknown VPD page', async () => {
    const { run } = await createTestLu();
    const bad = await run(inquiryCdb(false, 1, 255));
    expect(senseTriple(bad)).toEqual([0x5, 0x24, 0x00]);
    expect(bad.sense!.fieldPointer).toMatchObject({ inCdb: true, byte: 2 });
    expect(senseTriple(await run(inquiryCdb(true, 0x87, 255)))).toEqual([0x5, 0x24, 0x00]);
  });
});

describe('VPD pages', () => {
  test('00h lists every page, and every listed page can be read', async () => {
    const { run } = await createTestLu();
    const list = (await run(inquiryCdb(true, 0x00, 255))).dataIn!;
    expect(list).toEqual(hex('00 00 0007 00 80 83 86 b0 b1 b2'));
    for (const page of list.subarray(4)) {
      const result = await run(inquiryCdb(true, page, 255));
      expect(result.status).toBe(0);
      expect(result.dataIn![1]).toBe(page);
      expect(result.dataIn!.readUInt16BE(2)).toBe(result.dataIn!.length - 4);
    }
  });

  test('80h and 83h: LU designators depend only on the backend identity', async () => {
    const a = await createTestLu({ memory: { identity: 'sheepdog:cluster/vol0' }, lun: 1 });
    const b = await createTestLu({ memory: { identity: 'sheepdog:cluster/vol0' }, lun: 7 });
    const c = await createTestLu({ memory: { identity: 'sheepdog:cluster/vol1' }, lun: 1 });
    const serial = async (lu: typeof a) => (await lu.run(inquiryCdb(true, 0x80, 255))).dataIn!;
    const identification = async (lu: typeof a) => (await lu.run(inquiryCdb(true, 0x83, 255))).dataIn!;
    expect(await serial(a)).toEqual(await serial(b));
    expect(await serial(a)).not.toEqual(await serial(c));
    expect(await identification(a)).toEqual(await identification(b));
    expect(await identification(a)).not.toEqual(await identification(c));
    const page80 = await serial(a);
    expect(page80.subarray(0, 4)).toEqual(hex('00 80 0010'));
    expect(page80.subarray(4).toString('latin1')).toMatch(/^[0-9A-F]{16}$/);
  });

  test('83h designator layout (SPC-4)', async () => {
    const nexus = makeNexus(1, { relativeTargetPortId: 0x0102, targetPortGroup: 0x0003 });
    const { run } = await createTestLu({ memory: { identity: 'sheepdog:cluster/vol0' } });
    const page = (await run(inquiryCdb(true, 0x83, 1024), { nexus })).dataIn!;
    const serial = (await run(inquiryCdb(true, 0x80, 255))).dataIn!.subarray(4);
    let offset = 4;
    const next = () => {
      const length = page[offset + 3]!;
      const descriptor = page.subarray(offset, offset + 4 + length);
      offset += 4 + length;
      return descriptor;
    };
    // NAA: code set 1 (binary), association 0 (LU), type 3, length 16; NAA 6 with COMPANY_ID 02C011h.
    const naa = next();
    expect(naa.subarray(0, 4)).toEqual(hex('01 03 00 10'));
    expect(naa[4]! >> 4).toBe(6);
    expect(((naa[4]! & 0x0f) << 20) | (naa[5]! << 12) | (naa[6]! << 4) | (naa[7]! >> 4)).toBe(0x02c011);
    // T10 vendor ID: code set 2 (ASCII), association 0, type 1: "COLLIE  " + serial.
    const t10 = next();
    expect(t10.subarray(0, 4)).toEqual(Buffer.from([0x02, 0x01, 0x00, 8 + serial.length]));
    expect(t10.subarray(4)).toEqual(Buffer.concat([Buffer.from('COLLIE  '), serial]));
    // SCSI name string: protocol 5 (iSCSI), code set 3 (UTF-8), PIV, association 1 (port), type 8.
    const name = next();
    const text = `${TARGET_IQN},t,0x0001`;
    const padded = Math.ceil((text.length + 1) / 4) * 4;
    expect(name.subarray(0, 4)).toEqual(Buffer.from([0x53, 0x98, 0x00, padded]));
    expect(name.subarray(4)).toEqual(Buffer.concat([Buffer.from(text), Buffer.alloc(padded - text.length)]));
    // Relative target port (type 4) and target port group (type 5), binary, PIV, port association.
    expect(next()).toEqual(hex('51 94 00 04 0000 0102'));
    expect(next()).toEqual(hex('51 95 00 04 0000 0003'));
    expect(offset).toBe(page.length);
  });

  test('86h Extended INQUIRY: HEADSUP ORDSUP SIMPSUP, V_SUP (SPC-4)', async () => {
    const { run } = await createTestLu();
    const page = (await run(inquiryCdb(true, 0x86, 255))).dataIn!;
    expect(page.subarray(0, 8)).toEqual(hex('00 86 003c 00 07 01 00'));
    expect(page.length).toBe(64);
  });

  test('B0h Block Limits on a thin LU (SBC-3)', async () => {
    const { run } = await createTestLu();
    const page = (await run(inquiryCdb(true, 0xb0, 64))).dataIn!;
    const expected = Buffer.from([
      0x00,
      0xb0,
      ...be16(0x3c),
      0x00, // WSNZ 0
      255, // MAXIMUM COMPARE AND WRITE LENGTH
      ...be16(1), // OPTIMAL TRANSFER LENGTH GRANULARITY: one physical block (= one logical block)
      ...be32(16384), // MAXIMUM TRANSFER LENGTH: 8 MiB of 512-byte blocks
      ...be32(8192), // OPTIMAL TRANSFER LENGTH: 4 MiB
      ...be32(16384), // MAXIMUM PREFETCH LENGTH
      ...be32(0x100000), // MAXIMUM UNMAP LBA COUNT
      ...be32(4096), // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
      ...be32(1), // OPTIMAL UNMAP GRANULARITY
      ...be32(0), // UGAVALID 0
      ...[0, 0, 0, 0, 0, 0, 0x40, 0x00], // MAXIMUM WRITE SAME LENGTH: 16384 blocks (8 MiB)
      ...be32(16384), // MAXIMUM ATOMIC TRANSFER LENGTH (SBC-4): as MAXIMUM TRANSFER LENGTH
      ...be32(8), // ATOMIC ALIGNMENT: 4 KiB
      ...be32(8), // ATOMIC TRANSFER LENGTH GRANULARITY: 4 KiB
      ...be32(0), // MAXIMUM ATOMIC TRANSFER LENGTH WITH ATOMIC BOUNDARY: none
      ...be32(0), // MAXIMUM ATOMIC BOUNDARY SIZE: none
    ]);
    expect(page).toEqual(expected);
  });

  test('B0h on a fully provisioned LU reports no unmap limits', async () => {
    const { run } = await createTestLu({ memory: { thin: false } });
    const page = (await run(inquiryCdb(true, 0xb0, 64))).dataIn!;
    expect(page.subarray(20, 32)).toEqual(Buffer.alloc(12));
  });

  test('B1h: MEDIUM ROTATION RATE 0001h, non-rotating (SBC-3)', async () => {
    const { run } = await createTestLu();
    // PRODUCT TYPE 0; WABEREQ 01b (SANITIZE BLOCK ERASE leaves readable zeros), WACEREQ 00b.
    expect((await run(inquiryCdb(true, 0xb1, 255))).dataIn!.subarray(0, 8)).toEqual(
      hex('00 b1 003c 0001 00 40'),
    );
    // A fully provisioned LU has no BLOCK ERASE: WABEREQ 00b.
    const full = await createTestLu({ memory: { thin: false } });
    expect((await full.run(inquiryCdb(true, 0xb1, 255))).dataIn!.subarray(0, 8)).toEqual(
      hex('00 b1 003c 0001 00 00'),
    );
  });

  test('B2h: thin LBPU LBPWS LBPWS10 LBPRZ, provisioning type 2; fully provisioned: zeros (SBC-3)', async () => {
    const thin = await createTestLu();
    expect((await thin.run(inquiryCdb(true, 0xb2, 255))).dataIn).toEqual(hex('00 b2 0004 00 e4 02 00'));
    const full = await createTestLu({ backend: new MemoryBackend({ sizeBytes: 1 << 20, thin: false }) });
    expect((await full.run(inquiryCdb(true, 0xb2, 255))).dataIn).toEqual(hex('00 b2 0004 00 00 00 00'));
  });
});
