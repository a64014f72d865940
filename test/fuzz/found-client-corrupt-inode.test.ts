/**
 * Found by the client fuzzer (sim/fuzz/client-fuzz.ts; known bug 'client-corrupt-inode-vid').
 *
 * Bug: the sheepdog client trusts the data_vdi_id[] entries of the inodes sheep sends. An entry
 * that is not a 24-bit vid (a corrupt inode: bit rot, a broken sheep, a hostile one) goes into the
 * inode cache as the object's owner, and the IO that plans against it builds the object's oid
 * with vidToDataOid (src/sheepdog/wire/oid.ts:28), which asserts: "vid 30103130 is not a 24-bit VDI
 * id" at vidBits <- vidToDataOid <- createDataRequest (src/sheepdog/client/tgt-requests.ts) <-
 * IoRunner #sendObjects (src/sheepdog/client/io-runner.ts). So backend.write/read reject with an
 * AssertionError, not the BackendError the BlockBackend contract promises, and withBackend
 * (src/scsi/command-context.ts:189) rethrows it: the SCSI task answers CHECK CONDITION
 * HARDWARE ERROR / INTERNAL TARGET FAILURE (04/44/00) with nothing logged. Nothing reloads the
 * inode afterwards, so every IO on that object keeps failing the same way after sheep is healthy
 * again (the fuzzer's recovery check: "the write after sheep healed rejected with something
 * other than a BackendError: AssertionError: vid 550196826 is not a 24-bit VDI id").
 *
 * Expected: a data_vdi_id entry >= 2^24 is a bad answer from sheep: the load (or the IO) fails
 * with a BackendError ('medium'), and the next load of a sane inode serves IO again.
 * Setup: the real store behind the fuzzer's hostile node, which rewrites the refresh reads of
 * the inode so that data_vdi_id[1] holds vid | 2^24.
 */
import { expect, test } from 'vitest';
import { HostileSheep } from '../../sim/fuzz/client-fuzz.js';
import { BackendError } from '../../src/backends/block-backend.js';
import { EventLog } from '../../src/core/event-log.js';
import { silentLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { SheepdogBackend } from '../../src/sheepdog/client/sheepdog-backend.js';
import { newVdi } from '../../src/sheepdog/sheep-admin.js';
import { SheepConnection } from '../../src/sheepdog/sheep-connection.js';
import { SD_INODE_DATA_END, SD_INODE_HEADER_SIZE, SdOp } from '../../src/sheepdog/wire/constants.js';
import { isVdiOid } from '../../src/sheepdog/wire/oid.js';
import { MemoryObjectStore } from '../../src/store/memory-object-store.js';
import { SheepStore } from '../../src/store/sheep-store.js';
import { MemoryNetwork } from '../../transports/memory.js';

const HOST = '10.0.0.70';
const STORE = { host: HOST, port: 7000 };
const HOSTILE = { host: HOST, port: 7002 };
const OBJECT_BYTES = 4 * 1024 * 1024;

test('an inode entry above 24 bits fails IO with a BackendError, and a sane reload serves IO again', async () => {
  const clock = new VirtualClock(1_700_000_000_000);
  const eventLog = new EventLog(clock);
  const network = new MemoryNetwork({ clock, rng: createRng(1), eventLog, options: { delayMsMax: 1 } });
  const store = await clock.settle(
    SheepStore.open({
      objects: new MemoryObjectStore(),
      defaults: { copies: 1, copyPolicy: 0, blockSizeShift: 22 },
      locking: true,
      transport: network.transport(HOST),
      listen: [STORE],
      clock,
      eventLog,
      logger: silentLogger,
    }),
  );
  const admin = await clock.settle(SheepConnection.open(network.transport('admin'), STORE, { clock }));
  const { vid } = await clock.settle(newVdi(admin, { name: 'vol', sizeBytes: 64 * 1024 * 1024 }));
  const sheep = new HostileSheep({ clock, network, store });
  await clock.settle(sheep.listen(HOSTILE));
  // Every refresh read of the inode says object 1 belongs to vid | 2^24.
  sheep.plan = {
    probability: 0,
    faults: [],
    rng: createRng(3),
    rewrite: (request, reply) => {
      const refresh =
        request.opcode === SdOp.READ_OBJ &&
        request.args.kind === 'obj' &&
        isVdiOid(request.args.oid) &&
        request.dataLength === SD_INODE_DATA_END;
      if (!refresh || reply.payload === undefined) return reply;
      const payload = Buffer.from(reply.payload);
      payload.writeUInt32LE((vid | 0x0100_0000) >>> 0, SD_INODE_HEADER_SIZE + 4);
      return { ...reply, payload };
    },
  };
  const open = () =>
    SheepdogBackend.open({
      transport: network.transport('target'),
      endpoint: HOSTILE,
      vdiName: 'vol',
      clock,
      rng: createRng(2),
      eventLog,
      logger: silentLogger,
    });
  // The corrupt inode fails its load as a bad answer from sheep (it was: AssertionError: vid
  // 30103130 is not a 24-bit VDI id, at the first IO of the object).
  const refused = await clock.settle(open()).then(
    () => 'opened',
    (error: unknown) => error,
  );
  expect(refused).toBeInstanceOf(BackendError);
  expect(String(refused)).toMatch(/data_vdi_id\[1\] is \d+, not a 24-bit vid/);
  // Sheep is sane again: the inode loads and the object serves IO.
  sheep.plan = undefined;
  const backend = await clock.settle(open());
  await clock.settle(backend.write(OBJECT_BYTES, Buffer.alloc(4096, 2)));
  expect(await clock.settle(backend.read(OBJECT_BYTES, 4096))).toEqual(Buffer.alloc(4096, 2));
});
