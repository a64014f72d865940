/**
 * Goal: MODE SENSE returns the caching, control and informational exceptions pages with the right
 * headers and block descriptors for every PC, and MODE SELECT changes exactly the changeable bits
 * (WCE, D_SENSE, SWP) with the documented refusals; SWP write-protects the LU.
 * Method: compare with bytes from SPC-4 (mode parameter headers, control page,
 * informational exceptions control page) and SBC-3 (block descriptors, device-specific parameter,
 * caching page); then round-trip MODE SELECT.
 */
import { describe, expect, test } from 'vitest';
import { hex } from '../support/bytes.js';
import { modeSelect6, modeSelect10, modeSense6, modeSense10, rw10, rw16 } from '../support/cdb-builder.js';
import { createTestLu, senseTriple } from '../support/scsi-lu.js';

// SBC-3 caching mode page: header, flags (WCE 04h), retention, 4 x 2-byte prefetch fields, 2 bytes, segment
// size, reserved, 3 obsolete bytes: 20 bytes in all.
const CACHING = hex('08 12 04 00 0000 0000 0000 0000 00 00 0000 00 000000');
const CONTROL = hex('0a 0a 02 10 00 00 0000 ffff 0000');
const INFORMATIONAL = hex('1c 0a 08 00 00000000 00000000');
const SHORT_DESCRIPTOR = hex('00000800 00 000200'); // 2048 blocks of 512 bytes

describe('MODE SENSE', () => {
  test('(6) all pages with a short block descriptor', async () => {
    const { run } = await createTestLu();
    const data = (await run(modeSense6({ page: 0x3f, alloc: 255 }))).dataIn!;
    // MODE DATA LENGTH 55, MEDIUM TYPE 0, DPOFUA (10h), BLOCK DESCRIPTOR LENGTH 8.
    expect(data).toEqual(
      Buffer.concat([hex('37 00 10 08'), SHORT_DESCRIPTOR, CACHING, CONTROL, INFORMATIONAL]),
    );
  });

  test('(10) with LLBAA returns a long LBA block descriptor and LONGLBA', async () => {
    const { run } = await createTestLu();
    const data = (await run(modeSense10({ llbaa: true, page: 0x08, alloc: 255 }))).dataIn!;
    expect(data).toEqual(
      Buffer.concat([
        hex('002a 00 10 01 00 0010'), // 8 + 16 + 20 bytes, MODE DATA LENGTH 42
        hex('0000000000000800 00000000 00000200'),
        CACHING,
      ]),
    );
  });

  test('DBD leaves out the block descriptor; subpage FFh means the page and its (no) subpages', async () => {
    const { run } = await createTestLu();
    expect((await run(modeSense6({ dbd: true, page: 0x0a, alloc: 255 }))).dataIn).toEqual(
      Buffer.concat([hex('0f 00 10 00'), CONTROL]),
    );
    expect((await run(modeSense6({ dbd: true, page: 0x0a, subpage: 0xff, alloc: 255 }))).dataIn).toEqual(
      Buffer.concat([hex('0f 00 10 00'), CONTROL]),
    );
  });

  test('PC changeable shows WCE, D_SENSE and SWP; default equals the initial current values', async () => {
    const { run } = await createTestLu();
    const changeable = (await run(modeSense6({ dbd: true, pc: 1, page: 0x3f, alloc: 255 }))).dataIn!;
    expect(changeable.subarray(4)).toEqual(
      Buffer.concat([
        hex('08 12 04 00 0000 0000 0000 0000 00 00 0000 00 000000'),
        hex('0a 0a 04 00 08 00 0000 0000 0000'),
        hex('1c 0a 00 00 00000000 00000000'),
      ]),
    );
    const defaults = (await run(modeSense6({ dbd: true, pc: 2, page: 0x3f, alloc: 255 }))).dataIn!;
    expect(defaults.subarray(4)).toEqual(Buffer.concat([CACHING, CONTROL, INFORMATIONAL]));
  });

  test('saved values: SAVING PARAMETERS NOT SUPPORTED; unknown page: INVALID FIELD IN CDB', async () => {
    const { run } = await createTestLu();
    expect(senseTriple(await run(modeSense6({ pc: 3, page: 0x08, alloc: 255 })))).toEqual([0x5, 0x39, 0x00]);
    expect((await run(modeSense6({ page: 0x19, alloc: 255 }))).sense).toMatchObject({
      asc: 0x24,
      fieldPointer: { inCdb: true, byte: 2, bit: 5 },
    });
    expect((await run(modeSense6({ page: 0x08, subpage: 0x01, alloc: 255 }))).sense).toMatchObject({
      asc: 0x24,
      fieldPointer: { byte: 3 },
    });
  });

  test('the allocation length truncates without changing MODE DATA LENGTH', async () => {
    const { run } = await createTestLu();
    expect((await run(modeSense6({ page: 0x3f, alloc: 4 }))).dataIn).toEqual(hex('37 00 10 08'));
  });
});

/** The current control page (DBD) with `change` applied, wrapped in a MODE SELECT(6) list. */
async function controlList(
  run: Awaited<ReturnType<typeof createTestLu>>['run'],
  change: (page: Buffer) => void,
) {
  const page = Buffer.from(
    (await run(modeSense6({ dbd: true, page: 0x0a, alloc: 255 }))).dataIn!.subarray(4),
  );
  change(page);
  return Buffer.concat([Buffer.alloc(4), page]);
}

describe('MODE SELECT', () => {
  test('SWP write-protects: WP in the header, writes get DATA PROTECT 27/00, reads work', async () => {
    const { run } = await createTestLu();
    const list = await controlList(run, (page) => {
      page[4] = page[4]! | 0x08;
    });
    expect((await run(modeSelect6(list.length), { dataOut: list })).status).toBe(0);
    expect((await run(modeSense6({ dbd: true, page: 0x0a, alloc: 255 }))).dataIn!.subarray(2, 3)).toEqual(
      hex('90'),
    );
    expect(senseTriple(await run(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }))).toEqual([
      0x7, 0x27, 0x00,
    ]);
    expect((await run(rw10(0x28, 0, 1))).status).toBe(0);
    const clear = await controlList(run, (page) => {
      page[4] = page[4]! & ~0x08;
    });
    await run(modeSelect6(clear.length), { dataOut: clear });
    expect((await run(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) })).status).toBe(0);
  });

  test('D_SENSE switches failing commands to descriptor sense (the test case of libiscsi Control-D_SENSE)', async () => {
    const { run, lu } = await createTestLu();
    const list = await controlList(run, (page) => {
      page[2] = page[2]! | 0x04;
    });
    await run(modeSelect6(list.length), { dataOut: list });
    const failed = await run(rw16(0x88, 0xffff_ffff_ffff_ffffn, 1));
    expect(senseTriple(failed)).toEqual([0x5, 0x21, 0x00]);
    expect(lu.encodeSense(failed.sense!)).toEqual(hex('72 05 21 00 000000 00'));
  });

  test('WCE can be cleared through MODE SELECT(10) with a block descriptor of the right length', async () => {
    const { run } = await createTestLu();
    const caching = Buffer.from(CACHING);
    caching[2] = 0;
    const list = Buffer.concat([hex('0000 00 00 00 00 0008'), SHORT_DESCRIPTOR, caching]);
    expect((await run(modeSelect10(list.length), { dataOut: list })).status).toBe(0);
    expect((await run(modeSense6({ dbd: true, page: 0x08, alloc: 255 }))).dataIn![6]).toBe(0);
  });

  test('refusals: fixed bit, bad length, block length, SP, PF, truncation', async () => {
    const { run } = await createTestLu();
    const fixedBit = await controlList(run, (page) => {
      page[3] = 0x00; // QUEUE ALGORITHM MODIFIER is not changeable
    });
    expect((await run(modeSelect6(fixedBit.length), { dataOut: fixedBit })).sense).toMatchObject({
      key: 5,
      asc: 0x26,
      fieldPointer: { inCdb: false, byte: 4 + 3, bit: 4 },
    });
    const badLength = await controlList(run, (page) => {
      page[1] = 0x0b;
    });
    expect((await run(modeSelect6(badLength.length), { dataOut: badLength })).sense).toMatchObject({
      asc: 0x26,
      fieldPointer: { byte: 5 },
    });
    const blockLength = Buffer.concat([hex('00 00 00 08'), hex('00000000 00 001000')]);
    expect((await run(modeSelect6(blockLength.length), { dataOut: blockLength })).sense).toMatchObject({
      asc: 0x26,
      fieldPointer: { byte: 9 },
    });
    const good = await controlList(run, () => {});
    expect(senseTriple(await run(modeSelect6(good.length, true, true), { dataOut: good }))).toEqual([
      0x5, 0x24, 0x00,
    ]);
    expect(senseTriple(await run(modeSelect6(good.length, false), { dataOut: good }))).toEqual([
      0x5, 0x24, 0x00,
    ]);
    expect(senseTriple(await run(modeSelect6(good.length), { dataOut: good.subarray(0, 10) }))).toEqual([
      0x5, 0x1a, 0x00,
    ]);
    expect(senseTriple(await run(modeSelect6(10), { dataOut: good.subarray(0, 10) }))).toEqual([
      0x5, 0x1a, 0x00,
    ]);
  });

  test('an unchanged page changes nothing and raises no event', async () => {
    const { run, events } = await createTestLu();
    const list = await controlList(run, () => {});
    expect((await run(modeSelect6(list.length), { dataOut: list })).status).toBe(0);
    expect(events.toArray().filter((event) => event.type === 'lu.mode_changed')).toEqual([]);
  });
});
