/**
 * Goal: SANITIZE (SBC-3) overwrites or block-erases every block, refuses every malformed request
 * before touching one, makes every other command NOT READY, SANITIZE IN PROGRESS (with a
 * progress indication) while it runs, goes on through task aborts and LUN resets, paces its
 * writes, and leaves a failed LU in sanitize failure mode until EXIT FAILURE MODE (with AUSE) or
 * a sanitize that completes.
 * Method: LUs over MemoryBackends whose writes can be held or fail, on a virtual clock; CDBs and
 * the OVERWRITE parameter list written byte by byte from SBC-3.
 */
import { describe, expect, test } from 'vitest';
import { BackendError, type WriteOptions } from '../../src/backends/block-backend.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { TaskAbort } from '../../src/core/abort-flag.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import type { ScsiCommand } from '../../src/scsi/scsi-types.js';
import { be16 } from '../support/bytes.js';
import {
  inquiryCdb,
  reportLunsCdb,
  reportSupportedOpcodesCdb,
  requestSenseCdb,
  rw16,
  testUnitReadyCdb,
} from '../support/cdb-builder.js';
import { createTestLu, makeNexus, senseTriple, type TestLuOptions } from '../support/scsi-lu.js';

const BLOCK = 512;
const BLOCKS = 2048;

/** SANITIZE (SBC-3): IMMED 80h, AUSE 20h, SERVICE ACTION bits 4:0; PARAMETER LIST LENGTH bytes 7-8. */
function sanitizeCdb(
  serviceAction: number,
  options: { immediate?: boolean; ause?: boolean; listLength?: number; byte1?: number } = {},
): Buffer {
  const byte1 =
    (options.immediate ? 0x80 : 0) | (options.ause ? 0x20 : 0) | serviceAction | (options.byte1 ?? 0);
  return Buffer.from([0x48, byte1, 0, 0, 0, 0, 0, ...be16(options.listLength ?? 0), 0]);
}

const OVERWRITE = 0x01;
const BLOCK_ERASE = 0x02;
const CRYPTOGRAPHIC_ERASE = 0x03;
const EXIT_FAILURE_MODE = 0x1f;

/** OVERWRITE parameter list (SBC-3): INVERT, TEST, OVERWRITE COUNT; INITIALIZATION PATTERN LENGTH. */
function overwriteList(
  pattern: Buffer,
  options: { count?: number; invert?: boolean; test?: number } = {},
): Buffer {
  return Buffer.from([
    (options.invert ? 0x80 : 0) | ((options.test ?? 0) << 5) | (options.count ?? 1),
    0,
    ...be16(pattern.length),
    ...pattern,
  ]);
}

/** A MemoryBackend whose writes can be held, or fail. */
class TestBackend extends MemoryBackend {
  readonly waiting: Array<() => void> = [];
  writes = 0;
  gate = false;
  failWrites = false;
  override async write(offsetBytes: number, data: Buffer, options?: WriteOptions): Promise<void> {
    this.writes += 1;
    if (this.gate) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.failWrites) throw new BackendError('medium', 'test: the write failed');
    return super.write(offsetBytes, data, options);
  }
  release(): void {
    while (this.waiting.length > 0) this.waiting.shift()!();
  }
}

/** One pass of zeros: an OVERWRITE parameter list of 5 bytes. */
const ZEROS = Buffer.from([0x01, 0, 0, 1, 0]);

async function settle(): Promise<void> {
  for (let turn = 0; turn < 40; turn++) await Promise.resolve();
}

async function sanitizeLu({ thin = true, ...options }: TestLuOptions & { thin?: boolean } = {}) {
  const backend = new TestBackend({ sizeBytes: BLOCKS * BLOCK, identity: 'memory:sanitize', thin });
  const lu = await createTestLu({ sanitizeBytesPerSecond: 0, ...options, backend });
  return { ...lu, backend };
}

describe('SANITIZE OVERWRITE', () => {
  test('fills every block with the pattern repeated; INVERT inverts every second pass', async () => {
    const { run, backend } = await sanitizeLu();
    await run(rw16(0x8a, 0n, 4), { dataOut: Buffer.alloc(4 * BLOCK, 0x61) });
    const pattern = Buffer.from([0x01, 0x02, 0x03]);
    const list = overwriteList(pattern, { count: 3, invert: true });
    expect((await run(sanitizeCdb(OVERWRITE, { listLength: list.length }), { dataOut: list })).status).toBe(
      0,
    );
    const block = Buffer.alloc(BLOCK);
    for (let offset = 0; offset < BLOCK; offset += 3) pattern.copy(block, offset);
    const stored = (await run(rw16(0x88, 0n, BLOCKS))).dataIn!;
    for (let lba = 0; lba < BLOCKS; lba++) {
      expect(stored.subarray(lba * BLOCK, (lba + 1) * BLOCK).equals(block)).toBe(true);
    }
    expect(backend.writes).toBe(1 + 3); // the setup WRITE, then one 1 MiB piece per pass
  });

  interface Refusal {
    readonly name: string;
    readonly cdb: Buffer;
    readonly list?: Buffer;
    readonly sense: [number, number, number];
    readonly pointer: { inCdb: boolean; byte: number; bit?: number } | undefined;
  }
  const fullBlock = overwriteList(Buffer.alloc(BLOCK, 0xaa));
  const refusals: Refusal[] = [
    ...[0, 1, 4, BLOCK + 5].map(
      (listLength): Refusal => ({
        name: `PARAMETER LIST LENGTH ${listLength}`,
        cdb: sanitizeCdb(OVERWRITE, { listLength }),
        list: Buffer.alloc(listLength),
        sense: [0x5, 0x24, 0x00],
        pointer: { inCdb: true, byte: 7, bit: 7 },
      }),
    ),
    {
      name: 'OVERWRITE COUNT 0',
      cdb: sanitizeCdb(OVERWRITE, { listLength: 8 }),
      list: overwriteList(Buffer.alloc(4), { count: 0 }),
      sense: [0x5, 0x26, 0x00],
      pointer: { inCdb: false, byte: 0, bit: 4 },
    },
    {
      name: 'TEST 01b',
      cdb: sanitizeCdb(OVERWRITE, { listLength: 8 }),
      list: overwriteList(Buffer.alloc(4), { test: 1 }),
      sense: [0x5, 0x26, 0x00],
      pointer: { inCdb: false, byte: 0, bit: 6 },
    },
    {
      name: 'INITIALIZATION PATTERN LENGTH 0',
      cdb: sanitizeCdb(OVERWRITE, { listLength: 8 }),
      list: Buffer.from([1, 0, 0, 0, 1, 2, 3, 4]),
      sense: [0x5, 0x26, 0x00],
      pointer: { inCdb: false, byte: 2, bit: 7 },
    },
    {
      name: 'INITIALIZATION PATTERN LENGTH above the block length',
      cdb: sanitizeCdb(OVERWRITE, { listLength: BLOCK + 4 }),
      list: Buffer.from([1, 0, ...be16(BLOCK + 4), ...Buffer.alloc(BLOCK)]),
      sense: [0x5, 0x26, 0x00],
      pointer: { inCdb: false, byte: 2, bit: 7 },
    },
    {
      name: 'INITIALIZATION PATTERN LENGTH + 4 not the PARAMETER LIST LENGTH',
      cdb: sanitizeCdb(OVERWRITE, { listLength: 8 }),
      list: Buffer.from([1, 0, ...be16(3), 1, 2, 3, 4]),
      sense: [0x5, 0x26, 0x00],
      pointer: { inCdb: false, byte: 2, bit: 7 },
    },
    {
      name: 'a Data-Out shorter than the PARAMETER LIST LENGTH',
      cdb: sanitizeCdb(OVERWRITE, { listLength: fullBlock.length }),
      list: fullBlock.subarray(0, 100),
      sense: [0x5, 0x1a, 0x00],
      pointer: undefined,
    },
    {
      name: 'BLOCK ERASE with a parameter list',
      cdb: sanitizeCdb(BLOCK_ERASE, { listLength: 8 }),
      list: Buffer.alloc(8),
      sense: [0x5, 0x24, 0x00],
      pointer: { inCdb: true, byte: 7, bit: 7 },
    },
    {
      name: 'EXIT FAILURE MODE with a parameter list',
      cdb: sanitizeCdb(EXIT_FAILURE_MODE, { listLength: 8 }),
      list: Buffer.alloc(8),
      sense: [0x5, 0x24, 0x00],
      pointer: { inCdb: true, byte: 7, bit: 7 },
    },
    {
      name: 'the reserved bit 6 of byte 1',
      cdb: sanitizeCdb(BLOCK_ERASE, { byte1: 0x40 }),
      sense: [0x5, 0x24, 0x00],
      pointer: { inCdb: true, byte: 1, bit: 6 },
    },
    {
      name: 'a reserved byte (3)',
      cdb: Buffer.from([0x48, BLOCK_ERASE, 0, 1, 0, 0, 0, 0, 0, 0]),
      sense: [0x5, 0x24, 0x00],
      pointer: { inCdb: true, byte: 3, bit: 0 },
    },
    {
      name: 'CRYPTOGRAPHIC ERASE (not offered)',
      cdb: sanitizeCdb(CRYPTOGRAPHIC_ERASE),
      sense: [0x5, 0x24, 0x00],
      pointer: { inCdb: true, byte: 1, bit: 4 },
    },
  ];
  for (const { name, cdb, list, sense, pointer } of refusals) {
    test(`refused before any write: ${name}`, async () => {
      const { run, backend } = await sanitizeLu();
      const result = await run(cdb, list === undefined ? {} : { dataOut: list });
      expect(senseTriple(result)).toEqual(sense);
      expect(result.sense!.fieldPointer).toEqual(pointer);
      expect(backend.writes).toBe(0);
      expect((await run(testUnitReadyCdb())).status).toBe(0);
    });
  }

  test('a write-protected LU: DATA PROTECT, WRITE PROTECTED', async () => {
    const { run } = await sanitizeLu({ readOnly: true });
    const list = overwriteList(Buffer.from([1]));
    expect(senseTriple(await run(sanitizeCdb(OVERWRITE, { listLength: 5 }), { dataOut: list }))).toEqual([
      0x7, 0x27, 0x00,
    ]);
    expect(senseTriple(await run(sanitizeCdb(BLOCK_ERASE)))).toEqual([0x7, 0x27, 0x00]);
  });
});

describe('SANITIZE BLOCK ERASE', () => {
  test('a thin LU unmaps every block', async () => {
    const { run, backend } = await sanitizeLu();
    await run(rw16(0x8a, 100n, 8), { dataOut: Buffer.alloc(8 * BLOCK, 0x61) });
    expect((await run(sanitizeCdb(BLOCK_ERASE))).status).toBe(0);
    expect(await backend.mapStatus(0, BLOCKS * BLOCK)).toEqual([
      { offsetBytes: 0, lengthBytes: BLOCKS * BLOCK, mapped: false },
    ]);
    expect(backend.writes).toBe(1);
  });

  test('a fully provisioned LU does not offer it (it deallocates): INVALID FIELD IN CDB on byte 1', async () => {
    const { run, backend } = await sanitizeLu({ thin: false });
    const result = await run(sanitizeCdb(BLOCK_ERASE));
    expect(senseTriple(result)).toEqual([0x5, 0x24, 0x00]);
    expect(result.sense!.fieldPointer).toEqual({ inCdb: true, byte: 1, bit: 4 });
    expect(backend.writes).toBe(0);
    const support = (
      await run(reportSupportedOpcodesCdb({ reportingOptions: 2, opcode: 0x48, serviceAction: 2, alloc: 64 }))
    ).dataIn!;
    expect(support[1]).toBe(0x01);
  });

  test('listed by REPORT SUPPORTED OPERATION CODES with OVERWRITE and EXIT FAILURE MODE, not CRYPTOGRAPHIC ERASE', async () => {
    const { run } = await sanitizeLu();
    const support = async (serviceAction: number) =>
      (await run(reportSupportedOpcodesCdb({ reportingOptions: 2, opcode: 0x48, serviceAction, alloc: 64 })))
        .dataIn!;
    expect((await support(BLOCK_ERASE)).subarray(0, 4 + 10)).toEqual(
      Buffer.from([0, 0x03, ...be16(10), 0x48, 0xa0 | BLOCK_ERASE, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04]),
    );
    expect((await support(OVERWRITE))[1]).toBe(0x03);
    expect((await support(EXIT_FAILURE_MODE)).subarray(4, 6)).toEqual(
      Buffer.from([0x48, 0x80 | EXIT_FAILURE_MODE]),
    );
    expect((await support(CRYPTOGRAPHIC_ERASE))[1]).toBe(0x01);
  });
});

describe('while a sanitize runs', () => {
  test('NOT READY, SANITIZE IN PROGRESS with progress for all but INQUIRY, REPORT LUNS, REQUEST SENSE', async () => {
    const { run, backend } = await sanitizeLu({ thin: false });
    const other = makeNexus(2);
    await run(testUnitReadyCdb(), { nexus: other }); // its power-on unit attention
    backend.gate = true;
    const immediate = await run(sanitizeCdb(OVERWRITE, { immediate: true, listLength: 5 }), {
      dataOut: ZEROS,
    });
    expect(immediate.status).toBe(0); // IMMED: answered once started
    await settle();
    const refused = await run(testUnitReadyCdb());
    expect(senseTriple(refused)).toEqual([0x2, 0x04, 0x1b]);
    expect(refused.sense!.progress).toBe(0);
    // Fixed format: SKSV with PROGRESS INDICATION 0000h in bytes 15-17.
    expect(refused.senseBytes!.subarray(12, 18)).toEqual(Buffer.from([0x04, 0x1b, 0, 0x80, 0, 0]));
    expect(senseTriple(await run(rw16(0x8a, 0n, 1), { dataOut: Buffer.alloc(BLOCK), nexus: other }))).toEqual(
      [0x2, 0x04, 0x1b],
    );
    expect(senseTriple(await run(sanitizeCdb(OVERWRITE, { listLength: 5 }), { dataOut: ZEROS }))).toEqual([
      0x2, 0x04, 0x1b,
    ]);
    expect((await run(inquiryCdb(false, 0, 96))).status).toBe(0);
    expect((await run(reportLunsCdb(0, 64))).status).toBe(0);
    const sense = await run(requestSenseCdb(false, 18));
    expect(sense.status).toBe(0);
    expect(sense.dataIn!.subarray(0, 3)).toEqual(Buffer.from([0x70, 0, 0x02]));
    expect(sense.dataIn!.subarray(12, 18)).toEqual(Buffer.from([0x04, 0x1b, 0, 0x80, 0, 0]));
    backend.gate = false;
    backend.release();
    await settle();
    expect((await run(testUnitReadyCdb())).status).toBe(0);
    expect((await run(rw16(0x88, 0n, 1))).dataIn).toEqual(Buffer.alloc(BLOCK));
  });

  test('paced on the LU clock; the progress indication follows', async () => {
    const clock = new VirtualClock();
    const { run, backend } = await sanitizeLu({
      thin: false,
      clock,
      sanitizeBytesPerSecond: 1024 * 1024,
    });
    // 2048 blocks = 1 MiB = one piece; two passes need one wait of a second.
    const list = overwriteList(Buffer.from([0x0f]), { count: 2 });
    expect(
      (await run(sanitizeCdb(OVERWRITE, { immediate: true, listLength: 5 }), { dataOut: list })).status,
    ).toBe(0);
    await settle();
    expect(backend.writes).toBe(1);
    expect((await run(testUnitReadyCdb())).sense!.progress).toBe(0x8000);
    clock.advanceBy(999);
    await settle();
    expect(backend.writes).toBe(1);
    clock.advanceBy(1);
    await settle();
    expect(backend.writes).toBe(2);
    expect((await run(testUnitReadyCdb())).status).toBe(0);
  });

  test('an aborted SANITIZE task answers TASK ABORTED at once; a LUN reset does not stop the sanitize', async () => {
    const { lu, run, backend } = await sanitizeLu({ thin: false });
    backend.gate = true;
    const abort = new TaskAbort();
    const command: ScsiCommand = {
      cdb: sanitizeCdb(OVERWRITE, { listLength: 5 }),
      nexus: makeNexus(1),
      dataOut: ZEROS,
      expectedLengthBytes: 5,
      taskTag: 3,
      taskAttribute: 1,
      signal: abort,
    };
    const sanitizing = lu.execute(command);
    await settle();
    abort.abort();
    expect((await sanitizing).status).toBe(0x40);
    await lu.reset();
    expect(senseTriple(await run(testUnitReadyCdb()))).toEqual([0x6, 0x29, 0x03]);
    expect(senseTriple(await run(testUnitReadyCdb()))).toEqual([0x2, 0x04, 0x1b]);
    backend.gate = false;
    backend.release();
    await settle();
    expect((await run(testUnitReadyCdb())).status).toBe(0);
    expect((await run(rw16(0x88, 0n, BLOCKS))).dataIn!.equals(Buffer.alloc(BLOCKS * BLOCK))).toBe(true);
  });
});

describe('sanitize failure mode', () => {
  test('MEDIUM ERROR, SANITIZE COMMAND FAILED until EXIT FAILURE MODE (AUSE) or a sanitize that completes', async () => {
    const { run, backend } = await sanitizeLu({ thin: false });
    backend.failWrites = true;
    expect(senseTriple(await run(sanitizeCdb(OVERWRITE, { listLength: 5 }), { dataOut: ZEROS }))).toEqual([
      0x3, 0x31, 0x03,
    ]);
    expect(senseTriple(await run(rw16(0x88, 0n, 1)))).toEqual([0x3, 0x31, 0x03]);
    expect(senseTriple(await run(testUnitReadyCdb()))).toEqual([0x3, 0x31, 0x03]);
    expect((await run(inquiryCdb(false, 0, 96))).status).toBe(0);
    expect((await run(requestSenseCdb(false, 18))).dataIn!.subarray(12, 14)).toEqual(
      Buffer.from([0x31, 0x03]),
    );
    // Without AUSE, EXIT FAILURE MODE may not end it.
    const exit = await run(sanitizeCdb(EXIT_FAILURE_MODE));
    expect(senseTriple(exit)).toEqual([0x5, 0x24, 0x00]);
    expect(exit.sense!.fieldPointer).toEqual({ inCdb: true, byte: 1, bit: 4 });
    // A sanitize that completes ends it.
    backend.failWrites = false;
    expect((await run(sanitizeCdb(OVERWRITE, { listLength: 5 }), { dataOut: ZEROS })).status).toBe(0);
    expect((await run(rw16(0x88, 0n, 1))).status).toBe(0);
    // With AUSE, EXIT FAILURE MODE ends it; outside failure mode it is GOOD and does nothing.
    backend.failWrites = true;
    expect(
      senseTriple(await run(sanitizeCdb(OVERWRITE, { ause: true, listLength: 5 }), { dataOut: ZEROS })),
    ).toEqual([0x3, 0x31, 0x03]);
    expect((await run(sanitizeCdb(EXIT_FAILURE_MODE))).status).toBe(0);
    expect((await run(rw16(0x88, 0n, 1))).status).toBe(0);
    expect((await run(sanitizeCdb(EXIT_FAILURE_MODE))).status).toBe(0);
  });
});
