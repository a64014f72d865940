/**
 * Goal: READ DEFECT DATA(10) and (12) answer an empty defect list in the format asked, echo
 * REQ_PLIST/REQ_GLIST as PLISTV/GLISTV, refuse the reserved format 111b, and truncate to the
 * ALLOCATION LENGTH (SBC-3).
 * Method: CDBs written byte by byte from SBC-3; parameter data compared byte for byte.
 */
import { describe, expect, test } from 'vitest';
import { be16, be32 } from '../support/bytes.js';
import { createTestLu, senseTriple } from '../support/scsi-lu.js';

/** READ DEFECT DATA(10): byte 2 REQ_PLIST 10h, REQ_GLIST 08h, DEFECT LIST FORMAT 07h; ALLOCATION LENGTH 7-8. */
function readDefectData10(byte2: number, allocationLength: number): Buffer {
  return Buffer.from([0x37, 0, byte2, 0, 0, 0, 0, ...be16(allocationLength), 0]);
}

/** READ DEFECT DATA(12): byte 1 as above; ADDRESS DESCRIPTOR INDEX 2-5; ALLOCATION LENGTH 6-9. */
function readDefectData12(byte1: number, index: number, allocationLength: number): Buffer {
  return Buffer.from([0xb7, byte1, ...be32(index), ...be32(allocationLength), 0, 0]);
}

describe('READ DEFECT DATA', () => {
  test('(10): an empty list, PLISTV/GLISTV and the format as asked', async () => {
    const { run } = await createTestLu();
    for (const format of [0, 1, 2, 3, 4, 5, 6]) {
      expect((await run(readDefectData10(0x18 | format, 255))).dataIn).toEqual(
        Buffer.from([0, 0x18 | format, 0, 0]),
      );
    }
    expect((await run(readDefectData10(0x08 | 0x03, 255))).dataIn).toEqual(Buffer.from([0, 0x0b, 0, 0]));
    expect((await run(readDefectData10(0x05, 2))).dataIn).toEqual(Buffer.from([0, 0x05]));
  });

  test('(12): an 8-byte header, DEFECT LIST LENGTH 0, any index', async () => {
    const { run } = await createTestLu();
    expect((await run(readDefectData12(0x13, 0, 255))).dataIn).toEqual(
      Buffer.from([0, 0x13, 0, 0, 0, 0, 0, 0]),
    );
    expect((await run(readDefectData12(0x0d, 99, 255))).dataIn).toEqual(
      Buffer.from([0, 0x0d, 0, 0, 0, 0, 0, 0]),
    );
    expect((await run(readDefectData12(0x18, 0, 0))).dataIn).toEqual(Buffer.alloc(0));
  });

  test('format 111b is reserved: INVALID FIELD IN CDB on the format', async () => {
    const { run } = await createTestLu();
    const ten = await run(readDefectData10(0x07, 255));
    expect(senseTriple(ten)).toEqual([0x5, 0x24, 0x00]);
    expect(ten.sense!.fieldPointer).toEqual({ inCdb: true, byte: 2, bit: 2 });
    const twelve = await run(readDefectData12(0x1f, 0, 255));
    expect(twelve.sense!.fieldPointer).toEqual({ inCdb: true, byte: 1, bit: 2 });
  });

  test('reserved CDB bits are refused by the usage check', async () => {
    const { run } = await createTestLu();
    const result = await run(Buffer.from([0x37, 0x01, 0x18, 0, 0, 0, 0, 0, 4, 0]));
    expect(result.sense!.fieldPointer).toEqual({ inCdb: true, byte: 1, bit: 0 });
  });
});
