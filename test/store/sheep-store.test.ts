/**
 * Goal: the embedded store answers the sheep protocol as sheep 1.0 does, on the wire, including
 * its answers to malformed and hostile requests, and runs the inode coherence protocol per
 * endpoint (node). Method: the real store, codec and client connection over the memory transport
 * in virtual time (test/support/store-world.ts); requests are built with the codec's builders
 * and checked by result code, payload and the participants' states.
 */
import { describe, expect, test } from 'vitest';
import {
  SD_ATTR_OBJ_SIZE,
  SD_INODE_DATA_END,
  SD_INODE_HEADER_SIZE,
  SD_INODE_SIZE,
  SD_VDI_BITMAP_SIZE,
  SdFlag,
  SdOp,
  SdRes,
} from '../../src/sheepdog/wire/constants.js';
import { encodeRequestHeader, objRequest, plainRequest, vdiRequest } from '../../src/sheepdog/wire/header.js';
import { decodeInodeHeader } from '../../src/sheepdog/wire/inode.js';
import { vidToAttrOid, vidToDataOid, vidToVdiOid } from '../../src/sheepdog/wire/oid.js';
import { encodeVdiAttr, vdiAttrId } from '../../src/sheepdog/wire/vdi-attr.js';
import { sdHashVdi } from '../../src/sheepdog/wire/vdi-hash.js';
import {
  call,
  createVdi,
  lockShared,
  names,
  participants,
  refreshRead,
  tgtCreate,
  tgtInodeUpdate,
  tgtRead,
} from '../support/store-requests.js';
import { STORE_HOST, storeWorld } from '../support/store-world.js';

const MiB = 1024 * 1024;
const OBJECT = 4 * MiB;

describe('object I/O and VDI operations', () => {
  test('create, write, read; a read never returns more than asked; missing objects are NO_OBJ', async () => {
    const world = await storeWorld();
    const conn = await world.connect('client', 7000);
    const vid = await createVdi(world, conn, 'test');
    expect(vid).toBe(0x7c2b25);
    const oid = vidToDataOid(vid, 10);
    expect((await tgtCreate(world, conn, oid, Buffer.from('abcdef'), { offset: 4096 })).header.result).toBe(
      SdRes.SUCCESS,
    );
    const read = await tgtRead(world, conn, oid, 3, 4096);
    expect(read.header.dataLength).toBe(3);
    expect(read.payload.toString()).toBe('abc');
    const missing = await tgtRead(world, conn, vidToDataOid(vid, 11), 4096);
    expect(missing.header.result).toBe(SdRes.NO_OBJ);
    expect(missing.header.dataLength).toBe(0);
    const write = await call(
      world,
      conn,
      objRequest({ opcode: SdOp.WRITE_OBJ, flags: SdFlag.WRITE, oid: vidToDataOid(vid, 11), dataLength: 1 }),
      Buffer.from('x'),
    );
    expect(write.header.result).toBe(SdRes.NO_OBJ);
  });

  test('responses echo opcode and id, carry proto_ver 0 and epoch 1', async () => {
    const world = await storeWorld();
    const conn = await world.connect('client', 7000);
    const response = await call(world, conn, plainRequest({ opcode: SdOp.GET_CLUSTER_DEFAULT }));
    expect(response.header).toMatchObject({
      protoVer: 0,
      opcode: SdOp.GET_CLUSTER_DEFAULT,
      flags: 0,
      epoch: 1,
    });
    expect(response.header.args).toMatchObject({
      kind: 'clusterDefault',
      nrCopies: 1,
      copyPolicy: 0,
      blockSizeShift: 22,
    });
  });

  test('a full 12,587,576-byte inode read works, as dog and qemu do it', async () => {
    const world = await storeWorld();
    const conn = await world.connect('client', 7000);
    const vid = await createVdi(world, conn, 'big');
    const response = await call(
      world,
      conn,
      objRequest({ opcode: SdOp.READ_OBJ, oid: vidToVdiOid(vid), dataLength: SD_INODE_SIZE }),
    );
    expect(response.header.result).toBe(SdRes.SUCCESS);
    expect(response.payload.length).toBe(SD_INODE_SIZE);
    const header = decodeInodeHeader(response.payload);
    expect(header.ok && header.value.name).toBe('big');
  });

  test('copy-on-write from a parent snapshot overlays the payload on the parent object', async () => {
    const world = await storeWorld();
    const conn = await world.connect('client', 7000);
    const vid = await createVdi(world, conn, 'cow');
    await tgtCreate(world, conn, vidToDataOid(vid, 0), Buffer.alloc(OBJECT, 0x11));
    await tgtInodeUpdate(world, conn, vid, 0, vid);
    const snap = await call(
      world,
      conn,
      vdiRequest({
        opcode: SdOp.NEW_VDI,
        flags: SdFlag.WRITE,
        dataLength: 256,
        vdiSize: 1n << 30n,
        snapid: 1,
        baseVdiId: vid,
      }),
      names('cow'),
    );
    const working = snap.header.args.kind === 'vdi' ? snap.header.args.vdiId : 0;
    expect(working).toBe(vid + 1);
    // The old vid is now a snapshot: writes into its data objects are READONLY.
    const readonly = await call(
      world,
      conn,
      objRequest({
        opcode: SdOp.WRITE_OBJ,
        flags: SdFlag.WRITE | SdFlag.TGT,
        oid: vidToDataOid(vid, 0),
        dataLength: 1,
      }),
      Buffer.from('x'),
    );
    expect(readonly.header.result).toBe(SdRes.READONLY);
    const created = await tgtCreate(world, conn, vidToDataOid(working, 0), Buffer.alloc(2, 0x22), {
      offset: 100,
      cowOid: vidToDataOid(vid, 0),
      flags: SdFlag.COW,
    });
    expect(created.header.result).toBe(SdRes.SUCCESS);
    expect((await tgtRead(world, conn, vidToDataOid(working, 0), 4, 99)).payload).toEqual(
      Buffer.from([0x11, 0x22, 0x22, 0x11]),
    );
    expect((await tgtRead(world, conn, vidToDataOid(vid, 0), 4, 99)).payload).toEqual(Buffer.alloc(4, 0x11));
  });

  test('GET_VDI_ATTR creates, finds, refuses with EXCL and deletes an attribute', async () => {
    const world = await storeWorld();
    const conn = await world.connect('client', 7000);
    await createVdi(world, conn, 'attrs');
    const attr = encodeVdiAttr({
      name: 'attrs',
      tag: '',
      ctime: 0n,
      snapId: 0,
      key: 'owner',
      value: Buffer.from('alice'),
    });
    expect(attr.length).toBe(SD_ATTR_OBJ_SIZE);
    const ask = (flags: number) =>
      call(
        world,
        conn,
        vdiRequest({ opcode: SdOp.GET_VDI_ATTR, flags: SdFlag.WRITE | flags, dataLength: attr.length }),
        attr,
      );
    expect((await ask(0)).header.result).toBe(SdRes.NO_OBJ);
    const created = await ask(SdFlag.CREAT);
    expect(created.header.result).toBe(SdRes.SUCCESS);
    expect((await ask(0)).header.args).toEqual(created.header.args);
    expect((await ask(SdFlag.CREAT | SdFlag.EXCL)).header.result).toBe(SdRes.VDI_EXIST);
    expect((await ask(SdFlag.DEL)).header.result).toBe(SdRes.SUCCESS);
    expect((await ask(0)).header.result).toBe(SdRes.NO_OBJ);
  });

  test('a deleted attribute stays as a tombstone, so a key stored past it in the probe chain is still found', async () => {
    const world = await storeWorld();
    const conn = await world.connect('client', 7000);
    await createVdi(world, conn, 'attrs');
    const attr = (key: string) =>
      encodeVdiAttr({ name: 'attrs', tag: '', ctime: 0n, snapId: 0, key, value: Buffer.alloc(0) });
    const ask = (key: string, flags: number) =>
      call(
        world,
        conn,
        vdiRequest({ opcode: SdOp.GET_VDI_ATTR, flags: SdFlag.WRITE | flags, dataLength: SD_ATTR_OBJ_SIZE }),
        attr(key),
      );
    // Two keys whose attr ids collide (found by search): the second is stored one slot on.
    const [first, second] = ['k479938', 'k1001811'];
    const id = vdiAttrId(attr(first));
    expect(vdiAttrId(attr(second))).toBe(id);
    expect((await ask(first, SdFlag.CREAT | SdFlag.EXCL)).header.args).toMatchObject({ attrId: id });
    expect((await ask(second, SdFlag.CREAT | SdFlag.EXCL)).header.args).toMatchObject({ attrId: id + 1 });
    // Deleting the first must not hide the second: an exclusive create of it is still refused.
    expect((await ask(first, SdFlag.DEL)).header.result).toBe(SdRes.SUCCESS);
    expect((await ask(first, 0)).header.result).toBe(SdRes.NO_OBJ);
    expect((await ask(second, SdFlag.CREAT | SdFlag.EXCL)).header.result).toBe(SdRes.VDI_EXIST);
    expect(await world.settle(world.objects.exists(vidToAttrOid(sdHashVdi('attrs'), id)))).toBe(true);
    // A new claim of the first key goes past its tombstone and past the second.
    expect((await ask(first, SdFlag.CREAT | SdFlag.EXCL)).header.args).toMatchObject({ attrId: id + 2 });
  });

  test('FLUSH_VDI really flushes and answers SUCCESS', async () => {
    const world = await storeWorld();
    const conn = await world.connect('client', 7000);
    const vid = await createVdi(world, conn, 'f');
    const response = await call(world, conn, objRequest({ opcode: SdOp.FLUSH_VDI, oid: vidToVdiOid(vid) }));
    expect(response.header.result).toBe(SdRes.SUCCESS);
  });
});

describe('bad input gets a sheep answer, and the connection keeps working', () => {
  test('proto_ver: public ops accept up to 2, internal ops need exactly 0x0a', async () => {
    const world = await storeWorld();
    const conn = await world.connect('client', 7000);
    expect(
      (await call(world, conn, plainRequest({ opcode: SdOp.GET_CLUSTER_DEFAULT, protoVer: 3 }))).header
        .result,
    ).toBe(SdRes.VER_MISMATCH);
    const bitmap = (protoVer: number) =>
      call(
        world,
        conn,
        plainRequest({ opcode: SdOp.READ_DEL_VDIS, protoVer, dataLength: SD_VDI_BITMAP_SIZE }),
      );
    expect((await bitmap(2)).header.result).toBe(SdRes.VER_MISMATCH);
    expect((await bitmap(0x0a)).header.result).toBe(SdRes.SUCCESS);
    expect((await call(world, conn, plainRequest({ opcode: SdOp.GET_CLUSTER_DEFAULT }))).header.result).toBe(
      SdRes.SUCCESS,
    );
  });

  test('unknown opcodes and wrong lengths answer INVALID_PARMS', async () => {
    const world = await storeWorld();
    const conn = await world.connect('client', 7000);
    expect((await call(world, conn, plainRequest({ opcode: 0x7f }))).header.result).toBe(SdRes.INVALID_PARMS);
    const newVdi = await call(
      world,
      conn,
      vdiRequest({ opcode: SdOp.NEW_VDI, flags: SdFlag.WRITE, dataLength: 257, vdiSize: 1n << 20n }),
      Buffer.alloc(257, 0x61),
    );
    expect(newVdi.header.result).toBe(SdRes.INVALID_PARMS);
    const lock = await call(
      world,
      conn,
      vdiRequest({ opcode: SdOp.LOCK_VDI, flags: SdFlag.WRITE, dataLength: 100 }),
      Buffer.alloc(100),
    );
    expect(lock.header.result).toBe(SdRes.INVALID_PARMS);
    const vdis = await call(world, conn, plainRequest({ opcode: SdOp.READ_VDIS, dataLength: 4096 }));
    expect(vdis.header.result).toBe(SdRes.INVALID_PARMS);
    const pastEnd = await tgtCreate(world, conn, vidToDataOid(1, 0), Buffer.alloc(8), { offset: OBJECT - 4 });
    expect(pastEnd.header.result).toBe(SdRes.INVALID_PARMS);
    expect((await call(world, conn, plainRequest({ opcode: SdOp.GET_CLUSTER_DEFAULT }))).header.result).toBe(
      SdRes.SUCCESS,
    );
  });

  test('a 4 GiB payload claim is refused at once and costs no memory', async () => {
    const world = await storeWorld();
    const stream = await world.settle(
      world.network.transport('hostile').connect({ host: STORE_HOST, port: 7000 }),
    );
    const answers: Buffer[] = [];
    stream.attach({ data: (chunk) => answers.push(chunk), close: () => undefined });
    const header = encodeRequestHeader(
      objRequest({
        opcode: SdOp.WRITE_OBJ,
        flags: SdFlag.WRITE,
        id: 7,
        oid: vidToDataOid(1, 0),
        dataLength: 0xffff_ffff,
      }),
    );
    const heapBefore = process.memoryUsage().arrayBuffers;
    stream.write(header);
    // Stream a few MiB of the claimed payload: it must be discarded, not buffered.
    for (let chunk = 0; chunk < 16; chunk++) stream.write(Buffer.alloc(MiB));
    await world.clock.runUntilIdle({ stepsMax: 10_000 });
    const reply = Buffer.concat(answers);
    expect(reply.length).toBe(48);
    expect(reply.readUInt32LE(8)).toBe(7);
    expect(reply.readUInt32LE(16)).toBe(SdRes.INVALID_PARMS);
    expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(64 * MiB);
    stream.destroy();
  });
});

describe('locks and inode coherence, per endpoint', () => {
  test('the seed failover timeline: invalidation on allocation, 0x1D, reload, data visible', async () => {
    const world = await storeWorld();
    const a = await world.connect('tgtA', 7000);
    const b = await world.connect('tgtB', 7001);
    const vid = await createVdi(world, a, 'test');
    const A = `${STORE_HOST}:7000`;
    const B = `${STORE_HOST}:7001`;
    expect((await lockShared(world, a, 'test')).header.result).toBe(SdRes.SUCCESS);
    expect((await refreshRead(world, a, vid)).header.result).toBe(SdRes.SUCCESS);
    expect((await lockShared(world, b, 'test')).header.result).toBe(SdRes.SUCCESS);
    expect(participants(world, vid)).toEqual({ [A]: 'modified', [B]: 'invalidated' });
    expect((await tgtRead(world, b, vidToVdiOid(vid), 1)).header.result).toBe(SdRes.INODE_INVALIDATED);
    expect((await refreshRead(world, b, vid)).header.result).toBe(SdRes.SUCCESS);
    expect(participants(world, vid)).toEqual({ [A]: 'shared', [B]: 'shared' });
    // A allocates idx 10 and updates the inode: B is invalidated before A is answered.
    expect((await tgtCreate(world, a, vidToDataOid(vid, 10), Buffer.alloc(4096, 0xab))).header.result).toBe(
      SdRes.SUCCESS,
    );
    expect((await tgtInodeUpdate(world, a, vid, 10, vid)).header.result).toBe(SdRes.SUCCESS);
    expect(participants(world, vid)).toEqual({ [A]: 'modified', [B]: 'invalidated' });
    // A dies: its connection closes, nothing changes (sheep keeps participation per node).
    a.close();
    await world.clock.runUntilIdle({ stepsMax: 1000 });
    expect(participants(world, vid)).toEqual({ [A]: 'modified', [B]: 'invalidated' });
    // B's probe of the unallocated area is refused; B reloads and finds A's data.
    expect((await tgtRead(world, b, vidToVdiOid(vid), 1)).header.result).toBe(SdRes.INODE_INVALIDATED);
    const reload = await refreshRead(world, b, vid);
    expect(reload.payload.readUInt32LE(SD_INODE_HEADER_SIZE + 40)).toBe(vid);
    expect((await tgtRead(world, b, vidToDataOid(vid, 10), 4)).payload).toEqual(Buffer.alloc(4, 0xab));
    expect(participants(world, vid)).toEqual({ [A]: 'shared', [B]: 'shared' });
    expect(world.events.toArray().map((event) => event.type)).toContain('coherence.invalidated');
  });

  test('without the TGT flag there is no check: stale state is served (what the protocol prevents)', async () => {
    const world = await storeWorld();
    const a = await world.connect('tgtA', 7000);
    const b = await world.connect('tgtB', 7001);
    const vid = await createVdi(world, a, 'test');
    await lockShared(world, a, 'test');
    await lockShared(world, b, 'test');
    const plain = await call(
      world,
      b,
      objRequest({ opcode: SdOp.READ_OBJ, oid: vidToVdiOid(vid), dataLength: 1 }),
    );
    expect(plain.header.result).toBe(SdRes.SUCCESS);
  });

  test('an invalidated writer is refused every TGT object request, data and inode alike', async () => {
    const world = await storeWorld();
    const a = await world.connect('tgtA', 7000);
    const b = await world.connect('tgtB', 7001);
    const vid = await createVdi(world, a, 'test');
    await lockShared(world, a, 'test');
    await lockShared(world, b, 'test');
    expect((await tgtCreate(world, b, vidToDataOid(vid, 1), Buffer.alloc(512))).header.result).toBe(
      SdRes.INODE_INVALIDATED,
    );
    expect((await tgtInodeUpdate(world, b, vid, 1, vid)).header.result).toBe(SdRes.INODE_INVALIDATED);
    expect((await tgtRead(world, b, vidToVdiOid(vid), SD_INODE_HEADER_SIZE)).header.result).toBe(
      SdRes.INODE_INVALIDATED,
    );
    expect(await world.objects.exists(vidToDataOid(vid, 1))).toBe(false);
  });

  test('two clients through the same endpoint are one node: the second shared lock is refused', async () => {
    const world = await storeWorld();
    const first = await world.connect('tgtA', 7000);
    const second = await world.connect('tgtA2', 7000);
    await createVdi(world, first, 'test');
    expect((await lockShared(world, first, 'test')).header.result).toBe(SdRes.SUCCESS);
    expect((await lockShared(world, second, 'test')).header.result).toBe(SdRes.VDI_LOCKED);
  });

  test('a refresh read racing an inode update never validates a stale inode', async () => {
    const world = await storeWorld();
    const a = await world.connect('tgtA', 7000);
    const b = await world.connect('tgtB', 7001);
    const vid = await createVdi(world, a, 'test');
    await lockShared(world, a, 'test');
    await lockShared(world, b, 'test');
    await refreshRead(world, b, vid);
    await tgtCreate(world, a, vidToDataOid(vid, 5), Buffer.alloc(512, 1));
    // B invalidated by an earlier update, then B's reload and A's next update in flight together.
    await tgtInodeUpdate(world, a, vid, 5, vid);
    const reload = b.request(
      objRequest({
        opcode: SdOp.READ_OBJ,
        flags: SdFlag.TGT,
        oid: vidToVdiOid(vid),
        dataLength: SD_INODE_DATA_END,
      }),
    );
    await tgtCreate(world, a, vidToDataOid(vid, 6), Buffer.alloc(512, 2));
    const update = a.request(
      objRequest({
        opcode: SdOp.WRITE_OBJ,
        flags: SdFlag.WRITE | SdFlag.TGT,
        oid: vidToVdiOid(vid),
        offset: SD_INODE_HEADER_SIZE + 24,
        dataLength: 4,
      }),
      Buffer.from([vid & 0xff, (vid >> 8) & 0xff, vid >> 16, 0]),
    );
    const [reloaded] = await world.settle(Promise.all([reload, update]));
    const sawUpdate = reloaded.payload.readUInt32LE(SD_INODE_HEADER_SIZE + 24) === vid;
    // Either B's reload saw idx 6, or B is invalidated again: never SHARED with a stale inode.
    expect(sawUpdate || world.store.locks.isInvalidated(vid, `${STORE_HOST}:7001`)).toBe(true);
  });

  test('KILL_NODE makes that endpoint leave: its participation goes, others stay', async () => {
    const world = await storeWorld();
    const a = await world.connect('tgtA', 7000);
    const b = await world.connect('tgtB', 7001);
    const vid = await createVdi(world, a, 'test');
    await lockShared(world, a, 'test');
    await lockShared(world, b, 'test');
    const kill = await call(world, a, plainRequest({ opcode: SdOp.KILL_NODE }));
    expect(kill.header.result).toBe(SdRes.SUCCESS);
    await world.clock.runUntilIdle({ stepsMax: 1000 });
    expect(participants(world, vid)).toEqual({ [`${STORE_HOST}:7001`]: 'invalidated' });
    expect(world.store.nodes().map((node) => node.key)).toEqual([`${STORE_HOST}:7001`]);
    await expect(world.connect('late', 7000)).rejects.toThrow(/ECONNREFUSED/);
  });

  test('with locking off, locks always succeed and nobody is ever invalidated (the bug, on purpose)', async () => {
    const world = await storeWorld({ locking: false });
    const a = await world.connect('tgtA', 7000);
    const b = await world.connect('tgtB', 7001);
    const vid = await createVdi(world, a, 'test');
    expect((await lockShared(world, a, 'test')).header.result).toBe(SdRes.SUCCESS);
    expect((await lockShared(world, b, 'test')).header.result).toBe(SdRes.SUCCESS);
    await tgtCreate(world, a, vidToDataOid(vid, 10), Buffer.alloc(512, 0xab));
    await tgtInodeUpdate(world, a, vid, 10, vid);
    expect((await tgtRead(world, b, vidToVdiOid(vid), 1)).header.result).toBe(SdRes.SUCCESS);
    expect(world.store.locks.views()).toEqual([]);
  });
});
