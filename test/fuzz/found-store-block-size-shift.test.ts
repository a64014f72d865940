/**
 * Found by the store fuzzer (sim/fuzz/store-fuzz.ts; known bug 'store-block-size-shift-unchecked').
 *
 * Bug: NEW_VDI takes block_size_shift from the request as it is (SheepServer #newVdi ->
 * VdiTable.newVdi -> #newHeader, src/store/vdi-table.ts: `request.blockSizeShift ||
 * defaults`), 1..255, where sheep and dog allow 20..31 (SD_MIN/MAX_BLOCK_SIZE_SHIFT; Collie's own
 * admin client checks it, src/sheepdog/sheep-admin.ts newVdi). The VDI's data objects are then
 * 2^bss bytes (SheepServer #objectSize): a CREATE_AND_WRITE_OBJ with the COW flag and a partial
 * payload makes the store read the whole base object into one Buffer
 * (`this.#objects.read(args.cowOid, 0, sizeBytes)` in #createAndWrite; FileObjectStore.read does
 * Buffer.allocUnsafe(length)): 4 GiB for bss 32, a RangeError (answered EIO) above; the file store
 * truncates new objects to 2^bss (sparse terabyte files, or EIO), and writes are accepted
 * gigabytes into an object (the fuzzer's memory store allocated 2.5 GB for one 12-byte write).
 *
 * Expected: NEW_VDI with a block_size_shift outside 20..31 (0 = the cluster default) is refused
 * with INVALID_PARMS, so no object is ever larger than 2 GiB.
 */
import { expect, test } from 'vitest';
import { GuardedObjectStore } from '../../sim/fuzz/store-fuzz.js';
import { SdFlag, SdOp, SdRes } from '../../src/sheepdog/wire/constants.js';
import { objRequest, vdiRequest } from '../../src/sheepdog/wire/header.js';
import { vidToDataOid } from '../../src/sheepdog/wire/oid.js';
import { call, names } from '../support/store-requests.js';
import { storeWorld } from '../support/store-world.js';

test('NEW_VDI with block_size_shift 40 is refused, and no COW create reads a 2^40-byte base', async () => {
  let guard: GuardedObjectStore | undefined;
  const world = await storeWorld({
    wrapObjects: (objects) => {
      guard = new GuardedObjectStore(objects);
      return guard;
    },
  });
  const conn = await world.connect('client', 7000);
  const created = await call(
    world,
    conn,
    vdiRequest({
      opcode: SdOp.NEW_VDI,
      flags: SdFlag.WRITE,
      dataLength: 256,
      vdiSize: 1n << 40n,
      blockSizeShift: 40,
    }),
    names('huge-objects'),
  );
  const vid = created.header.args.kind === 'vdi' ? created.header.args.vdiId : 0;
  // Today: SUCCESS. Then a base object and a copy-on-write create of another one from it.
  const base = vidToDataOid(vid, 0);
  await call(
    world,
    conn,
    objRequest({ opcode: SdOp.CREATE_AND_WRITE_OBJ, flags: SdFlag.WRITE, dataLength: 512, oid: base }),
    Buffer.alloc(512, 7),
  );
  await call(
    world,
    conn,
    objRequest({
      opcode: SdOp.CREATE_AND_WRITE_OBJ,
      flags: SdFlag.WRITE | SdFlag.COW,
      dataLength: 512,
      oid: vidToDataOid(vid, 1),
      cowOid: base,
    }),
    Buffer.alloc(512, 8),
  );
  // Today the guard records read(<base>, 0, 1099511627776): a 1 TiB Buffer asked for.
  expect(guard!.allocations.map((a) => a.what)).toEqual([]);
  expect(created.header.result).toBe(SdRes.INVALID_PARMS);
});
