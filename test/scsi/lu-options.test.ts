/**
 * Goal: the LU options a backing store text can carry (`,ro`, `,removable`, src/target/backing.ts)
 * parse as documented and do what SBC-3 says of a write-protected or removable LU: WP in MODE
 * SENSE and DATA PROTECT, WRITE PROTECTED (07/27/00) for every write; RMB in INQUIRY and a medium
 * START STOP UNIT can eject.
 * Method: parseBackingSpec and luOptionsFor on literal texts; LUs built with the options they
 * give; CDBs from test/support/cdb-builder.ts.
 */
import { describe, expect, test } from 'vitest';
import { BackingSpecError, luOptionsFor, parseBackingSpec } from '../../src/target/backing.js';
import { be16, be64 } from '../support/bytes.js';
import {
  compareAndWriteCdb,
  inquiryCdb,
  modeSense6,
  rw10,
  rw16,
  startStopUnitCdb,
  testUnitReadyCdb,
  unmapCdb,
  unmapList,
  writeSame16Cdb,
} from '../support/cdb-builder.js';
import { createTestLu, senseTriple } from '../support/scsi-lu.js';

describe('backing store LU options', () => {
  test('`,ro` and `,removable`, in any order, after any kind of store', () => {
    expect(parseBackingSpec('mem:64M,removable')).toEqual({
      kind: 'memory',
      sizeBytes: 64 * 1024 * 1024,
      lu: { removable: true },
    });
    expect(parseBackingSpec('file:/srv/a.img:1G,ro')).toEqual({
      kind: 'file',
      path: '/srv/a.img',
      sizeBytes: 1024 ** 3,
      lu: { readOnly: true },
    });
    const sheepdog = parseBackingSpec('tcp:127.0.0.1:7000:vol0,ro,removable');
    expect(sheepdog.kind).toBe('sheepdog');
    expect(luOptionsFor(sheepdog)).toEqual({ readOnly: true, removable: true });
    expect(luOptionsFor(parseBackingSpec('mem:1G'))).toEqual({});
    expect(parseBackingSpec('mem:1G')).toEqual({ kind: 'memory', sizeBytes: 1024 ** 3 });
  });

  test('other words after a comma stay part of the store (a file path may hold commas)', () => {
    expect(parseBackingSpec('file:/srv/a,b.img,ro')).toEqual({
      kind: 'file',
      path: '/srv/a,b.img',
      lu: { readOnly: true },
    });
    expect(() => parseBackingSpec('mem:1G,rw')).toThrow(BackingSpecError);
  });
});

describe('a write-protected LU (readOnly)', () => {
  test('MODE SENSE reports WP; every write is DATA PROTECT, WRITE PROTECTED; reads work', async () => {
    const { run } = await createTestLu({ readOnly: true });
    expect((await run(modeSense6({ page: 0x3f, alloc: 255 }))).dataIn![2]! & 0x80).toBe(0x80);
    const block = Buffer.alloc(512, 1);
    const writes: Array<[Buffer, Buffer | undefined]> = [
      [rw10(0x2a, 0, 1), block],
      [rw16(0x8a, 0n, 1), block],
      [rw10(0x2e, 0, 1), block],
      [rw16(0x8b, 0n, 1), block],
      [compareAndWriteCdb(0n, 1), Buffer.alloc(1024)],
      [writeSame16Cdb(0n, 1), block],
      [unmapCdb(24), unmapList([{ lba: 0n, blocks: 1 }])],
      [Buffer.from([0x9c, 0, ...be64(0n), 0, 0, ...be16(8), 0, 0]), Buffer.alloc(8 * 512)],
      [Buffer.from([0x48, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]), undefined],
    ];
    for (const [cdb, dataOut] of writes) {
      expect(
        senseTriple(await run(cdb, dataOut === undefined ? {} : { dataOut })),
        cdb.toString('hex'),
      ).toEqual([0x7, 0x27, 0x00]);
    }
    expect((await run(rw10(0x28, 0, 1))).status).toBe(0);
  });
});

describe('a removable LU', () => {
  test('INQUIRY RMB; START STOP UNIT LOEJ ejects, commands then see MEDIUM NOT PRESENT', async () => {
    const { run } = await createTestLu({ removable: true });
    expect((await run(inquiryCdb(false, 0, 96))).dataIn![1]).toBe(0x80);
    expect((await run(startStopUnitCdb({ loej: true, start: false }))).status).toBe(0);
    expect(senseTriple(await run(testUnitReadyCdb()))).toEqual([0x2, 0x3a, 0x00]);
    expect((await run(startStopUnitCdb({ loej: true, start: true }))).status).toBe(0);
    expect((await run(testUnitReadyCdb())).status).toBe(0);
  });
});
