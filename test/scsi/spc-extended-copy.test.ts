/**
 * Goal: EXTENDED COPY (LID1) copies blocks within a LU and between LUs of one target through the
 * LUs' own command paths (reservations, write protection, range locks), refuses every malformed
 * parameter list before moving a block with the sense SPC-4 (and libiscsi's ExtendedCopy suite)
 * expects, and RECEIVE COPY RESULTS reports operating parameters and held copy statuses.
 * Method: LUs over MemoryBackends (createTestLu), CDBs and parameter lists written byte by byte
 * from SPC-4 (EXTENDED COPY LID1, identification CSCD descriptor E4h, block device to block
 * device segment descriptor 02h, RECEIVE COPY RESULTS); the CSCD designator is the NAA
 * designator the LU itself reports in VPD 83h, as libiscsi and VMware take it.
 */
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { TaskAbort } from '../../src/core/abort-flag.js';
import type { ReservationGate } from '../../src/scsi/reservation-gate.js';
import type { Nexus, ScsiCommand, ScsiResult } from '../../src/scsi/scsi-types.js';
import { be16, be24, be32, be64 } from '../support/bytes.js';
import { compareAndWriteCdb, inquiryCdb, rw16 } from '../support/cdb-builder.js';
import { NoReservations } from '../support/no-reservations.js';
import { createTestLu, makeNexus, senseTriple, type TestLu } from '../support/scsi-lu.js';

const BLOCK = 512;

/** EXTENDED COPY (SPC-4, THIRD-PARTY COPY OUT 83h, service action 00h LID1). */
function extendedCopyCdb(listLength: number, serviceAction = 0x00): Buffer {
  return Buffer.from([0x83, serviceAction, 0, 0, 0, 0, 0, 0, 0, 0, ...be32(listLength), 0, 0]);
}

/** RECEIVE COPY RESULTS (SPC-4, THIRD-PARTY COPY IN 84h): 00h COPY STATUS, 03h OPERATING PARAMETERS. */
function receiveCopyResultsCdb(serviceAction: number, listId: number, allocationLength: number): Buffer {
  return Buffer.from([0x84, serviceAction, listId, 0, 0, 0, 0, 0, 0, 0, ...be32(allocationLength), 0, 0]);
}

/** The 16-byte LID1 parameter list header. */
function header(options: {
  listId?: number;
  usage?: number;
  cscdBytes: number;
  segmentBytes: number;
  inlineBytes?: number;
}): number[] {
  return [
    options.listId ?? 1,
    (options.usage ?? 0) << 3, // LIST ID USAGE bits 4:3
    ...be16(options.cscdBytes),
    0,
    0,
    0,
    0,
    ...be32(options.segmentBytes),
    ...be32(options.inlineBytes ?? 0),
  ];
}

/** Identification CSCD descriptor (E4h): designation descriptor at 4-27, DISK BLOCK LENGTH at 29-31. */
function identificationCscd(
  designator: Buffer,
  options: { type?: number; peripheralType?: number; blockLength?: number } = {},
): number[] {
  const descriptor = Buffer.alloc(32);
  descriptor[0] = options.type ?? 0xe4;
  descriptor[1] = options.peripheralType ?? 0x00;
  designator.copy(descriptor, 4);
  Buffer.from(be24(options.blockLength ?? BLOCK)).copy(descriptor, 29);
  return [...descriptor];
}

/** Block device to block device segment descriptor (02h), 28 bytes. */
function blockSegment(options: {
  source?: number;
  destination?: number;
  blocks: number;
  sourceLba: bigint;
  destinationLba: bigint;
  dc?: boolean;
  type?: number;
  descriptorLength?: number;
}): number[] {
  return [
    options.type ?? 0x02,
    options.dc ? 0x02 : 0x00,
    ...be16(options.descriptorLength ?? 0x18),
    ...be16(options.source ?? 0),
    ...be16(options.destination ?? 0),
    0,
    0,
    ...be16(options.blocks),
    ...be64(options.sourceLba),
    ...be64(options.destinationLba),
  ];
}

/** A whole parameter list of CSCD descriptors and segments (lengths from what is given). */
function copyList(
  cscds: number[][],
  segments: number[][],
  options: { listId?: number; usage?: number } = {},
): Buffer {
  const cscdBytes = cscds.flat();
  const segmentBytes = segments.flat();
  return Buffer.from([
    ...header({ ...options, cscdBytes: cscdBytes.length, segmentBytes: segmentBytes.length }),
    ...cscdBytes,
    ...segmentBytes,
  ]);
}

/** The LU's NAA designation descriptor, as VPD 83h reports it (its first designator). */
async function naaOf(lu: TestLu): Promise<Buffer> {
  const page = (await lu.run(inquiryCdb(true, 0x83, 255))).dataIn!;
  return page.subarray(4, 4 + 4 + page[7]!);
}

function pattern(blocks: number, seed: number): Buffer {
  const data = Buffer.alloc(blocks * BLOCK);
  for (let index = 0; index < data.length; index++) data[index] = (index * 7 + seed) & 0xff;
  return data;
}

async function writeBlocks(lu: TestLu, lba: number, data: Buffer): Promise<void> {
  expect((await lu.run(rw16(0x8a, BigInt(lba), data.length / BLOCK), { dataOut: data })).status).toBe(0);
}

async function readBlocks(lu: TestLu, lba: number, blocks: number): Promise<Buffer> {
  return (await lu.run(rw16(0x88, BigInt(lba), blocks))).dataIn!;
}

function copy(lu: TestLu, list: Buffer, nexus?: Nexus): Promise<ScsiResult> {
  return lu.run(extendedCopyCdb(list.length), { dataOut: list, ...(nexus === undefined ? {} : { nexus }) });
}

describe('RECEIVE COPY RESULTS, OPERATING PARAMETERS', () => {
  test('the limits and the two descriptor types (byte-exact)', async () => {
    const lu = await createTestLu();
    const result = await lu.run(receiveCopyResultsCdb(0x03, 0, 1024));
    expect(result.dataIn).toEqual(
      Buffer.from([
        ...be32(42), // AVAILABLE DATA
        0x01, // SNLID
        0,
        0,
        0,
        ...be16(8), // MAXIMUM CSCD DESCRIPTOR COUNT
        ...be16(16), // MAXIMUM SEGMENT DESCRIPTOR COUNT
        ...be32(8 * 32 + 16 * 28), // MAXIMUM DESCRIPTOR LIST LENGTH
        ...be32(16 * 1024 * 1024), // MAXIMUM SEGMENT LENGTH
        ...be32(0), // MAXIMUM INLINE DATA LENGTH
        ...be32(0), // HELD DATA LIMIT
        ...be32(0), // MAXIMUM STREAM DEVICE TRANSFER SIZE
        0,
        0,
        ...be16(16), // TOTAL CONCURRENT COPIES
        16, // MAXIMUM CONCURRENT COPIES
        9, // DATA SEGMENT GRANULARITY: 2^9 = one 512-byte block
        0, // INLINE DATA GRANULARITY
        0, // HELD DATA GRANULARITY
        0,
        0,
        0,
        2, // IMPLEMENTED DESCRIPTOR LIST LENGTH
        0x02, // block device to block device
        0xe4, // identification CSCD descriptor
      ]),
    );
    expect((await lu.run(receiveCopyResultsCdb(0x03, 0, 10))).dataIn!.length).toBe(10);
  });

  test('an unknown service action of 83h or 84h is INVALID FIELD IN CDB on byte 1', async () => {
    const lu = await createTestLu();
    for (const cdb of [extendedCopyCdb(0, 0x01), receiveCopyResultsCdb(0x04, 0, 64)]) {
      const result = await lu.run(cdb);
      expect(senseTriple(result)).toEqual([0x5, 0x24, 0x00]);
      expect(result.sense!.fieldPointer).toEqual({ inCdb: true, byte: 1, bit: 4 });
    }
  });
});

describe('EXTENDED COPY within one LU', () => {
  test('copies the blocks; LIST ID USAGE 00b holds a COPY STATUS (byte-exact)', async () => {
    const lu = await createTestLu();
    const data = pattern(16, 3);
    await writeBlocks(lu, 0, data);
    const naa = await naaOf(lu);
    const list = copyList(
      [identificationCscd(naa)],
      [
        blockSegment({ blocks: 8, sourceLba: 0n, destinationLba: 1000n }),
        blockSegment({ blocks: 8, sourceLba: 8n, destinationLba: 1008n }),
      ],
      { listId: 7, usage: 0 },
    );
    expect((await copy(lu, list)).status).toBe(0);
    expect(await readBlocks(lu, 1000, 16)).toEqual(data);
    const status = await lu.run(receiveCopyResultsCdb(0x00, 7, 64));
    expect(status.dataIn).toEqual(
      Buffer.from([
        ...be32(8), // AVAILABLE DATA
        0x01, // HDD 0, COPY MANAGER STATUS: completed without errors
        ...be16(2), // SEGMENTS PROCESSED
        0x00, // TRANSFER COUNT UNITS: bytes
        ...be32(16 * BLOCK), // TRANSFER COUNT
      ]),
    );
  });

  test('an overlapping destination above the source is copied from the end (memmove)', async () => {
    const lu = await createTestLu({ memory: { sizeBytes: 4 * 1024 * 1024 } });
    const data = pattern(3000, 5); // more than one 1 MiB piece
    await writeBlocks(lu, 0, data.subarray(0, 2000 * BLOCK));
    await writeBlocks(lu, 2000, data.subarray(2000 * BLOCK));
    const naa = await naaOf(lu);
    const up = copyList(
      [identificationCscd(naa)],
      [blockSegment({ blocks: 3000, sourceLba: 0n, destinationLba: 100n })],
    );
    expect((await copy(lu, up)).status).toBe(0);
    const moved = Buffer.concat([await readBlocks(lu, 100, 1500), await readBlocks(lu, 1600, 1500)]);
    expect(moved.equals(data)).toBe(true);
    // And down: the original order is right.
    const down = copyList(
      [identificationCscd(naa)],
      [blockSegment({ blocks: 3000, sourceLba: 100n, destinationLba: 50n })],
    );
    expect((await copy(lu, down)).status).toBe(0);
    const back = Buffer.concat([await readBlocks(lu, 50, 1500), await readBlocks(lu, 1550, 1500)]);
    expect(back.equals(data)).toBe(true);
  });

  test('0 blocks, and PARAMETER LIST LENGTH 0, copy nothing and are GOOD', async () => {
    const lu = await createTestLu();
    expect((await lu.run(extendedCopyCdb(0))).status).toBe(0);
    const naa = await naaOf(lu);
    const list = copyList(
      [identificationCscd(naa)],
      [blockSegment({ blocks: 0, sourceLba: 0n, destinationLba: 5n })],
    );
    expect((await copy(lu, list)).status).toBe(0);
  });

  test('LIST ID USAGE 11b (no list identifier) copies and holds nothing', async () => {
    const lu = await createTestLu();
    const naa = await naaOf(lu);
    const list = copyList(
      [identificationCscd(naa)],
      [blockSegment({ blocks: 1, sourceLba: 0n, destinationLba: 5n })],
      { listId: 0, usage: 3 },
    );
    expect((await copy(lu, list)).status).toBe(0);
    expect(senseTriple(await lu.run(receiveCopyResultsCdb(0x00, 0, 64)))).toEqual([0x5, 0x24, 0x00]);
  });
});

describe('COPY STATUS', () => {
  test('none held for the list identifier: INVALID FIELD IN CDB at byte 2', async () => {
    const lu = await createTestLu();
    const result = await lu.run(receiveCopyResultsCdb(0x00, 9, 64));
    expect(senseTriple(result)).toEqual([0x5, 0x24, 0x00]);
    expect(result.sense!.fieldPointer).toEqual({ inCdb: true, byte: 2, bit: 7 });
  });

  test('held per nexus; a nexus loss and a LUN reset drop it', async () => {
    const lu = await createTestLu();
    const naa = await naaOf(lu);
    const list = copyList(
      [identificationCscd(naa)],
      [blockSegment({ blocks: 1, sourceLba: 0n, destinationLba: 5n })],
      {
        listId: 3,
      },
    );
    const other = makeNexus(2);
    await lu.run(Buffer.alloc(6), { nexus: other }); // its power-on unit attention
    expect((await copy(lu, list)).status).toBe(0);
    expect((await lu.run(receiveCopyResultsCdb(0x00, 3, 64))).status).toBe(0);
    expect(senseTriple(await lu.run(receiveCopyResultsCdb(0x00, 3, 64), { nexus: other }))).toEqual([
      0x5, 0x24, 0x00,
    ]);
    lu.lu.nexusLost(makeNexus(1));
    await lu.run(Buffer.alloc(6)); // the power-on condition of the nexus that came back
    expect(senseTriple(await lu.run(receiveCopyResultsCdb(0x00, 3, 64)))).toEqual([0x5, 0x24, 0x00]);
    expect((await copy(lu, list, other)).status).toBe(0);
    await lu.lu.reset();
    await lu.run(Buffer.alloc(6), { nexus: other }); // 29/03
    expect(senseTriple(await lu.run(receiveCopyResultsCdb(0x00, 3, 64), { nexus: other }))).toEqual([
      0x5, 0x24, 0x00,
    ]);
  });

  test('a failed copy is held as completed with errors, with the segments it finished', async () => {
    const lu = await createTestLu();
    const naa = await naaOf(lu);
    const list = copyList(
      [identificationCscd(naa)],
      [blockSegment({ blocks: 1, sourceLba: 0n, destinationLba: 5n })],
      { listId: 4 },
    );
    const modeSelect = await lu.run(Buffer.from([0x55, 0x10, 0, 0, 0, 0, 0, 0, 20, 0]), {
      // MODE SELECT(10): the control page with SWP set, so the copy's WRITE is refused.
      dataOut: Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x0a, 0x02, 0x10, 0x08, 0, 0, 0, 0xff, 0xff, 0, 0]),
    });
    expect(modeSelect.status).toBe(0);
    const result = await copy(lu, list);
    expect(senseTriple(result)).toEqual([0xa, 0x27, 0x00]);
    const status = (await lu.run(receiveCopyResultsCdb(0x00, 4, 64))).dataIn!;
    expect(status.subarray(4, 12)).toEqual(Buffer.from([0x02, 0, 0, 0, 0, 0, 0, 0]));
  });
});

describe('EXTENDED COPY across LUs of one target', () => {
  async function twoLus(sibling: Parameters<typeof createTestLu>[0] = {}) {
    const second = await createTestLu({
      lun: 2,
      ...sibling,
      backend: sibling.backend ?? new MemoryBackend({ sizeBytes: 1024 * 1024, identity: 'memory:sibling' }),
    });
    const secondNaa = await naaOf(second);
    const first = await createTestLu({
      copyPeers: (designator) => (second.lu.isDesignatedBy(designator) ? second.lu : undefined),
    });
    return { first, second, firstNaa: await naaOf(first), secondNaa };
  }

  test('copies from this LU to its sibling and back, found by the sibling NAA designator', async () => {
    const { first, second, firstNaa, secondNaa } = await twoLus();
    const data = pattern(40, 11);
    await writeBlocks(first, 10, data);
    const list = copyList(
      [identificationCscd(firstNaa), identificationCscd(secondNaa)],
      [blockSegment({ source: 0, destination: 1, blocks: 40, sourceLba: 10n, destinationLba: 2000n })],
    );
    expect((await copy(first, list)).status).toBe(0);
    expect(await readBlocks(second, 2000, 40)).toEqual(data);
    const back = copyList(
      [identificationCscd(secondNaa), identificationCscd(firstNaa)],
      [blockSegment({ source: 0, destination: 1, blocks: 40, sourceLba: 2000n, destinationLba: 500n })],
    );
    expect((await copy(first, back)).status).toBe(0);
    expect(await readBlocks(first, 500, 40)).toEqual(data);
  });

  test("the sibling's unit attentions stay pending: the copy's commands neither report nor clear them", async () => {
    const { first, second, firstNaa, secondNaa } = await twoLus();
    second.lu.reportedLunsChanged(); // a 3F/0E for every nexus of the sibling
    expect(second.unitAttentions.pendingCount(makeNexus(1))).toBe(1);
    const list = copyList(
      [identificationCscd(firstNaa), identificationCscd(secondNaa)],
      [blockSegment({ source: 0, destination: 1, blocks: 4, sourceLba: 0n, destinationLba: 8n })],
    );
    expect((await copy(first, list)).status).toBe(0);
    expect(second.unitAttentions.pendingCount(makeNexus(1))).toBe(1);
  });

  test('the T10 vendor ID designator (24 bytes) does not fit a CSCD descriptor: 26/00 at its length', async () => {
    const { first, second } = await twoLus();
    const page = (await second.run(inquiryCdb(true, 0x83, 255))).dataIn!;
    const t10Offset = 4 + 4 + page[7]!;
    const t10 = page.subarray(t10Offset, t10Offset + 4 + page[t10Offset + 3]!);
    expect(t10[1]! & 0x0f).toBe(1); // DESIGNATOR TYPE: T10 vendor ID
    // Its 4-byte header (DESIGNATOR LENGTH 24) in an otherwise empty E4h descriptor.
    const descriptor = identificationCscd(Buffer.alloc(0));
    descriptor.splice(4, 4, ...t10.subarray(0, 4));
    const result = await copy(
      first,
      copyList([descriptor], [blockSegment({ blocks: 1, sourceLba: 0n, destinationLba: 8n })]),
    );
    expect(senseTriple(result)).toEqual([0x5, 0x26, 0x00]);
    expect(result.sense!.fieldPointer).toEqual({ inCdb: false, byte: 16 + 7, bit: 7 });
  });

  test('without copyPeers a sibling is unreachable: COPY ABORTED, UNREACHABLE COPY TARGET', async () => {
    const second = await createTestLu({
      backend: new MemoryBackend({ sizeBytes: 1024 * 1024, identity: 'memory:sibling' }),
    });
    const first = await createTestLu();
    const list = copyList(
      [identificationCscd(await naaOf(first)), identificationCscd(await naaOf(second))],
      [blockSegment({ source: 0, destination: 1, blocks: 1, sourceLba: 0n, destinationLba: 0n })],
    );
    expect(senseTriple(await copy(first, list))).toEqual([0xa, 0x08, 0x04]);
  });

  test("the sibling's reservations apply: its RESERVATION CONFLICT ends the copy", async () => {
    const writesRefused: ReservationGate = Object.assign(new NoReservations(), {
      check: (_nexus: Nexus, cdb: Buffer) => (cdb[0] === 0x8a ? ('conflict' as const) : ('ok' as const)),
    });
    const { first, secondNaa, firstNaa } = await twoLus({ reservations: writesRefused });
    const list = copyList(
      [identificationCscd(firstNaa), identificationCscd(secondNaa)],
      [blockSegment({ source: 0, destination: 1, blocks: 1, sourceLba: 0n, destinationLba: 0n })],
    );
    expect((await copy(first, list)).status).toBe(0x18);
  });

  test('a write-protected sibling: COPY ABORTED with its ASC (27/00), COMMAND-SPECIFIC INFORMATION = segments done', async () => {
    const { first, firstNaa, secondNaa } = await twoLus({ readOnly: true });
    const list = copyList(
      [identificationCscd(firstNaa), identificationCscd(secondNaa)],
      [
        blockSegment({ source: 0, destination: 0, blocks: 2, sourceLba: 0n, destinationLba: 100n }),
        blockSegment({ source: 0, destination: 1, blocks: 2, sourceLba: 0n, destinationLba: 100n }),
      ],
    );
    const result = await copy(first, list);
    expect(senseTriple(result)).toEqual([0xa, 0x27, 0x00]);
    expect(result.sense!.commandSpecific).toBe(1);
    expect(result.senseBytes!.subarray(8, 12)).toEqual(Buffer.from([0, 0, 0, 1])); // fixed format
  });

  test('different block sizes: whole blocks of both copy, an inexact segment is 0A/26/0A', async () => {
    const { first, second, firstNaa, secondNaa } = await twoLus({
      backend: new MemoryBackend({ sizeBytes: 1024 * 1024, blockSizeBytes: 4096, identity: 'memory:4k' }),
    });
    const data = pattern(8, 2);
    await writeBlocks(first, 0, data);
    const whole = copyList(
      [identificationCscd(firstNaa), identificationCscd(secondNaa, { blockLength: 4096 })],
      [blockSegment({ source: 0, destination: 1, blocks: 8, sourceLba: 0n, destinationLba: 3n })],
    );
    expect((await copy(first, whole)).status).toBe(0);
    const stored = (await second.run(rw16(0x88, 3n, 1))).dataIn!;
    expect(stored).toEqual(data);
    // DC: NUMBER OF BLOCKS counts destination blocks; DISK BLOCK LENGTH 0 takes the LU's.
    const byDestination = copyList(
      [identificationCscd(firstNaa), identificationCscd(secondNaa, { blockLength: 0 })],
      [blockSegment({ source: 0, destination: 1, blocks: 1, sourceLba: 0n, destinationLba: 10n, dc: true })],
    );
    expect((await copy(first, byDestination)).status).toBe(0);
    expect((await second.run(rw16(0x88, 10n, 1))).dataIn).toEqual(data);
    const inexact = copyList(
      [identificationCscd(firstNaa), identificationCscd(secondNaa, { blockLength: 4096 })],
      [blockSegment({ source: 0, destination: 1, blocks: 3, sourceLba: 0n, destinationLba: 3n })],
    );
    expect(senseTriple(await copy(first, inexact))).toEqual([0xa, 0x26, 0x0a]);
    const wrongLength = copyList(
      [identificationCscd(firstNaa), identificationCscd(secondNaa, { blockLength: 512 })],
      [blockSegment({ source: 0, destination: 1, blocks: 8, sourceLba: 0n, destinationLba: 3n })],
    );
    expect(senseTriple(await copy(first, wrongLength))).toEqual([0xa, 0x0d, 0x03]);
  });
});

describe('malformed parameter lists: refused before any block moves', () => {
  interface Case {
    readonly name: string;
    readonly list: (naa: Buffer) => Buffer;
    readonly sense: [number, number, number];
    readonly pointer?: { inCdb: boolean; byte: number; bit?: number };
  }
  const one = (naa: Buffer) => identificationCscd(naa);
  const segment = blockSegment({ blocks: 1, sourceLba: 0n, destinationLba: 8n });
  const cases: Case[] = [
    {
      name: 'shorter than the 16-byte header',
      list: () => Buffer.alloc(15),
      sense: [0x5, 0x1a, 0x00],
    },
    {
      name: 'LIST ID USAGE 01b (reserved)',
      list: (naa) => copyList([one(naa)], [segment], { usage: 1 }),
      sense: [0x5, 0x26, 0x00],
      pointer: { inCdb: false, byte: 1, bit: 4 },
    },
    {
      name: 'LIST ID USAGE 11b with a LIST IDENTIFIER',
      list: (naa) => copyList([one(naa)], [segment], { usage: 3, listId: 5 }),
      sense: [0x5, 0x26, 0x00],
      pointer: { inCdb: false, byte: 0, bit: 7 },
    },
    {
      name: 'the header lengths lie: more segment bytes than the list holds',
      list: (naa) => Buffer.from([...header({ cscdBytes: 32, segmentBytes: 56 }), ...one(naa), ...segment]),
      sense: [0x5, 0x1a, 0x00],
    },
    {
      name: 'inline data (MAXIMUM INLINE DATA LENGTH 0)',
      list: (naa) =>
        Buffer.from([
          ...header({ cscdBytes: 32, segmentBytes: 28, inlineBytes: 4 }),
          ...one(naa),
          ...segment,
          1,
          2,
          3,
          4,
        ]),
      sense: [0x5, 0x26, 0x0b],
      pointer: { inCdb: false, byte: 12, bit: 7 },
    },
    {
      name: 'descriptor lists above MAXIMUM DESCRIPTOR LIST LENGTH',
      list: (naa) => copyList(new Array(23).fill(one(naa)), [segment]),
      sense: [0x5, 0x1a, 0x00],
    },
    {
      name: 'more CSCD descriptors than MAXIMUM CSCD DESCRIPTOR COUNT',
      list: (naa) => copyList(new Array(9).fill(one(naa)), [segment]),
      sense: [0x5, 0x26, 0x06],
      pointer: { inCdb: false, byte: 2, bit: 7 },
    },
    {
      name: 'more segment descriptors than MAXIMUM SEGMENT DESCRIPTOR COUNT',
      list: (naa) => copyList([one(naa)], new Array(17).fill(segment)),
      sense: [0x5, 0x26, 0x08],
      pointer: { inCdb: false, byte: 8, bit: 7 },
    },
    {
      name: 'a CSCD list length that is not a multiple of 32',
      list: (naa) =>
        Buffer.from([...header({ cscdBytes: 33, segmentBytes: 28 }), ...one(naa), 0, ...segment]),
      sense: [0x5, 0x1a, 0x00],
    },
    {
      name: 'a segment DESCRIPTOR LENGTH running past its list',
      list: (naa) =>
        copyList(
          [one(naa)],
          [blockSegment({ blocks: 1, sourceLba: 0n, destinationLba: 8n, descriptorLength: 0x30 })],
        ),
      sense: [0x5, 0x1a, 0x00],
    },
    {
      name: 'a segment list too short for a descriptor header',
      list: (naa) => Buffer.from([...header({ cscdBytes: 32, segmentBytes: 3 }), ...one(naa), 0x02, 0, 0]),
      sense: [0x5, 0x1a, 0x00],
    },
    {
      name: 'an unsupported CSCD descriptor type (E0h, Fibre Channel N_Port_Name)',
      list: (naa) => copyList([identificationCscd(naa, { type: 0xe0 })], [segment]),
      sense: [0x5, 0x26, 0x07],
      pointer: { inCdb: false, byte: 16, bit: 7 },
    },
    {
      name: 'an unsupported segment descriptor type (03h, stream to stream)',
      list: (naa) =>
        copyList(
          [one(naa), one(naa)],
          [segment, blockSegment({ type: 0x03, blocks: 1, sourceLba: 0n, destinationLba: 8n })],
        ),
      sense: [0x5, 0x26, 0x09],
      pointer: { inCdb: false, byte: 16 + 64 + 28, bit: 7 },
    },
    {
      name: 'a block-to-block DESCRIPTOR LENGTH other than 0018h',
      list: (naa) =>
        copyList(
          [one(naa)],
          [
            [
              ...blockSegment({ blocks: 1, sourceLba: 0n, destinationLba: 8n, descriptorLength: 0x1c }),
              0,
              0,
              0,
              0,
            ],
          ],
        ),
      sense: [0x5, 0x26, 0x00],
      pointer: { inCdb: false, byte: 16 + 32 + 2, bit: 7 },
    },
    {
      name: 'a designator longer than 20 bytes',
      list: (naa) => {
        const cscd = identificationCscd(naa);
        cscd[7] = 21;
        return copyList([cscd], [segment]);
      },
      sense: [0x5, 0x26, 0x00],
      pointer: { inCdb: false, byte: 16 + 7, bit: 7 },
    },
    {
      name: 'a segment longer than MAXIMUM SEGMENT LENGTH',
      list: (naa) =>
        copyList([one(naa)], [blockSegment({ blocks: 40000, sourceLba: 0n, destinationLba: 8n })]),
      sense: [0x5, 0x26, 0x00],
      pointer: { inCdb: false, byte: 16 + 32 + 10, bit: 7 },
    },
    {
      name: 'a CSCD DESCRIPTOR ID past the CSCD list',
      list: (naa) =>
        copyList(
          [one(naa)],
          [blockSegment({ destination: 1, blocks: 1, sourceLba: 0n, destinationLba: 8n })],
        ),
      sense: [0xa, 0x08, 0x04],
    },
    {
      name: 'a designator no LU of the target has',
      list: () =>
        copyList([identificationCscd(Buffer.from([1, 3, 0, 16, ...new Array(16).fill(0x5a)]))], [segment]),
      sense: [0xa, 0x08, 0x04],
    },
    {
      name: 'a peripheral device type other than 00h',
      list: (naa) => copyList([identificationCscd(naa, { peripheralType: 0x01 })], [segment]),
      sense: [0xa, 0x08, 0x04],
    },
    {
      name: 'a segment beyond the end of the LU',
      list: (naa) =>
        copyList([one(naa)], [blockSegment({ blocks: 2, sourceLba: 0n, destinationLba: 2047n })]),
      sense: [0xa, 0x0d, 0x02],
    },
    {
      name: 'a source LBA of 2^64 - 1',
      list: (naa) =>
        copyList([one(naa)], [blockSegment({ blocks: 1, sourceLba: 2n ** 64n - 1n, destinationLba: 0n })]),
      sense: [0xa, 0x0d, 0x02],
    },
  ];

  for (const { name, list, sense, pointer } of cases) {
    test(name, async () => {
      const lu = await createTestLu();
      const original = pattern(2048, 9);
      await writeBlocks(lu, 0, original);
      const bytes = list(await naaOf(lu));
      // A later valid segment would move blocks 0..1 onto 8..9: nothing may have moved.
      const result = await copy(lu, bytes);
      expect(senseTriple(result)).toEqual(sense);
      if (pointer !== undefined) expect(result.sense!.fieldPointer).toEqual(pointer);
      expect((await readBlocks(lu, 0, 2048)).equals(original)).toBe(true);
    });
  }

  test('a Data-Out shorter than PARAMETER LIST LENGTH: PARAMETER LIST LENGTH ERROR', async () => {
    const lu = await createTestLu();
    const list = copyList([identificationCscd(await naaOf(lu))], [segment]);
    const result = await lu.run(extendedCopyCdb(list.length + 4), { dataOut: list });
    expect(senseTriple(result)).toEqual([0x5, 0x1a, 0x00]);
  });
});

/** A MemoryBackend whose reads of chosen byte ranges wait until released. */
class GatedReads extends MemoryBackend {
  readonly waiting: Array<() => void> = [];
  gate: ((offsetBytes: number) => boolean) | undefined;
  readonly writes: Array<{ offsetBytes: number; first: number }> = [];
  override async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    if (this.gate?.(offsetBytes)) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.read(offsetBytes, lengthBytes);
  }
  override async write(offsetBytes: number, data: Buffer): Promise<void> {
    this.writes.push({ offsetBytes, first: data[0]! });
    return super.write(offsetBytes, data);
  }
}

async function settle(): Promise<void> {
  for (let turn = 0; turn < 30; turn++) await Promise.resolve();
}

describe('EXTENDED COPY racing other commands', () => {
  test('its WRITE waits for a COMPARE AND WRITE holding the destination, then lands whole', async () => {
    const backend = new GatedReads({ sizeBytes: 1024 * 1024, identity: 'memory:gated' });
    const lu = await createTestLu({ backend });
    const naa = await naaOf(lu);
    await writeBlocks(lu, 0, Buffer.alloc(4 * BLOCK, 0x11));
    await writeBlocks(lu, 100, Buffer.alloc(4 * BLOCK, 0x22));
    backend.writes.length = 0;
    backend.gate = (offset) => offset === 100 * BLOCK; // only the COMPARE AND WRITE's read
    const caw = lu.run(compareAndWriteCdb(100n, 4), {
      dataOut: Buffer.concat([Buffer.alloc(4 * BLOCK, 0x22), Buffer.alloc(4 * BLOCK, 0x33)]),
    });
    await settle();
    expect(backend.waiting.length).toBe(1);
    const copied = copy(
      lu,
      copyList([identificationCscd(naa)], [blockSegment({ blocks: 4, sourceLba: 0n, destinationLba: 100n })]),
    );
    await settle();
    // The copy read its source but its WRITE waits for the exclusive range: nothing written yet.
    expect(backend.writes.filter((write) => write.offsetBytes === 100 * BLOCK)).toEqual([]);
    backend.waiting.shift()!();
    expect((await caw).status).toBe(0); // its compare saw the old blocks, untouched by the copy
    expect((await copied).status).toBe(0);
    expect(
      backend.writes.filter((write) => write.offsetBytes === 100 * BLOCK).map((write) => write.first),
    ).toEqual([0x33, 0x11]);
    backend.gate = undefined;
    expect(await readBlocks(lu, 100, 4)).toEqual(Buffer.alloc(4 * BLOCK, 0x11));
  });

  test('a WRITE to the source while the copy reads it: the copy moves what it read, whole blocks', async () => {
    const backend = new GatedReads({ sizeBytes: 1024 * 1024, identity: 'memory:gated' });
    const lu = await createTestLu({ backend });
    const naa = await naaOf(lu);
    await writeBlocks(lu, 0, Buffer.alloc(2 * BLOCK, 0x11));
    backend.gate = (offset) => offset === 0;
    const copied = copy(
      lu,
      copyList([identificationCscd(naa)], [blockSegment({ blocks: 2, sourceLba: 0n, destinationLba: 10n })]),
    );
    await settle();
    expect(backend.waiting.length).toBe(1);
    // A host WRITE to the source lands while the copy's READ is in the backend.
    expect((await lu.run(rw16(0x8a, 0n, 2), { dataOut: Buffer.alloc(2 * BLOCK, 0x44) })).status).toBe(0);
    backend.waiting.shift()!();
    expect((await copied).status).toBe(0);
    backend.gate = undefined;
    const destination = await readBlocks(lu, 10, 2);
    // The memory backend serves the read when released, after the WRITE: either image, never a mix.
    expect([0x11, 0x44]).toContain(destination[0]);
    expect(destination).toEqual(Buffer.alloc(2 * BLOCK, destination[0]!));
  });

  test('a list identifier a running copy of the nexus uses: OPERATION IN PROGRESS (05/00/16)', async () => {
    const backend = new GatedReads({ sizeBytes: 1024 * 1024, identity: 'memory:gated' });
    const lu = await createTestLu({ backend });
    const naa = await naaOf(lu);
    const list = copyList(
      [identificationCscd(naa)],
      [blockSegment({ blocks: 1, sourceLba: 0n, destinationLba: 10n })],
      {
        listId: 9,
      },
    );
    backend.gate = (offset) => offset === 0;
    const first = copy(lu, list);
    await settle();
    expect(senseTriple(await copy(lu, list))).toEqual([0x5, 0x00, 0x16]);
    // COPY STATUS meanwhile says "in progress"; another nexus may use the same identifier.
    expect((await lu.run(receiveCopyResultsCdb(0x00, 9, 64))).dataIn![4]).toBe(0x00);
    const other = makeNexus(2);
    await lu.run(Buffer.alloc(6), { nexus: other });
    const second = copy(lu, list, other);
    await settle();
    expect(backend.waiting.length).toBe(2);
    while (backend.waiting.length > 0) backend.waiting.shift()!();
    expect((await first).status).toBe(0);
    expect((await second).status).toBe(0);
    expect((await lu.run(receiveCopyResultsCdb(0x00, 9, 64))).dataIn![4]).toBe(0x01);
  });

  test('an aborted copy stops between pieces with TASK ABORTED', async () => {
    const backend = new GatedReads({ sizeBytes: 4 * 1024 * 1024, identity: 'memory:gated' });
    const lu = await createTestLu({ backend });
    const naa = await naaOf(lu);
    backend.gate = (offset) => offset === 0;
    const abort = new TaskAbort();
    const list = copyList(
      [identificationCscd(naa)],
      [blockSegment({ blocks: 4096, sourceLba: 0n, destinationLba: 4096n })],
    );
    const command: ScsiCommand = {
      cdb: extendedCopyCdb(list.length),
      nexus: makeNexus(1),
      dataOut: list,
      expectedLengthBytes: list.length,
      taskTag: 5,
      taskAttribute: 1,
      signal: abort,
    };
    const copied = lu.lu.execute(command);
    await settle();
    abort.abort();
    backend.waiting.shift()!();
    expect((await copied).status).toBe(0x40);
    // The piece read before the abort is not written: its WRITE sees the abort first.
    expect(backend.writes.filter((write) => write.offsetBytes >= 4096 * BLOCK)).toEqual([]);
  });
});
