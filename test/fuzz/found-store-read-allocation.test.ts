/**
 * Found by the store fuzzer (sim/fuzz/store-fuzz.ts; known bug 'store-read-obj-data-length').
 *
 * Bug: READ_OBJ's data_length goes to ObjectStore.read unchecked. SheepServer #readObject
 * (src/store/sheep-server.ts, the non-refresh path) calls `this.#objects.read(args.oid,
 * args.offset, request.dataLength)`, and both object stores allocate `length` bytes before
 * reading (MemoryObjectStore.read: Buffer.alloc(length); FileObjectStore.read:
 * Buffer.allocUnsafe(length)). So one 48-byte request from any client, READ_OBJ of an object that
 * exists with data_length 0xffffffff, makes the store allocate 4 GiB (and answer it: #reply cuts
 * nothing, the payload is data_length bytes). The endpoint's payload cap (STORE_PAYLOAD_BYTES_MAX)
 * only covers request payloads, not the size a read asks back.
 *
 * Expected: a read is capped before anything is allocated: past the object's end (or above the
 * store's payload cap) it is refused (INVALID_PARMS) or cut to the object, never allocated.
 * Method: the real store on the memory network, its memory objects behind the fuzzer's guard
 * (GuardedObjectStore), which records a read above STORE_PAYLOAD_BYTES_MAX instead of making it.
 */
import { expect, test } from 'vitest';
import { GuardedObjectStore } from '../../sim/fuzz/store-fuzz.js';
import { SheepConnection } from '../../src/sheepdog/sheep-connection.js';
import { resultName, SdOp } from '../../src/sheepdog/wire/constants.js';
import { objRequest } from '../../src/sheepdog/wire/header.js';
import { vidToVdiOid } from '../../src/sheepdog/wire/oid.js';
import { createVdi } from '../support/store-requests.js';
import { STORE_HOST, storeWorld } from '../support/store-world.js';

test('READ_OBJ with data_length 0xffffffff of an existing inode allocates nothing beyond the object', async () => {
  let guard: GuardedObjectStore | undefined;
  const world = await storeWorld({
    wrapObjects: (objects) => {
      guard = new GuardedObjectStore(objects);
      return guard;
    },
  });
  const admin = await world.connect('admin', 7000);
  const vid = await createVdi(world, admin, 'vol');
  // A client that allows huge answers (the store must not rely on clients capping their reads).
  const conn = await world.settle(
    SheepConnection.open(
      world.network.transport('reader'),
      { host: STORE_HOST, port: 7000 },
      {
        clock: world.clock,
        payloadBytesMax: 2 ** 32,
      },
    ),
  );
  const answer = await world.settle(
    conn.request(objRequest({ opcode: SdOp.READ_OBJ, oid: vidToVdiOid(vid), dataLength: 0xffff_ffff })),
  );
  // Today the guard records read(oid, 0, 4294967295) and the store answers EIO (the guard's
  // refusal); without the guard it would allocate 4 GiB.
  expect(guard!.allocations.map((a) => a.what)).toEqual([]);
  expect(resultName(answer.header.result)).toMatch(/^(INVALID_PARMS|SUCCESS) /);
});
