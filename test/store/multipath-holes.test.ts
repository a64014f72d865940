/**
 * Goal: the holes of issue 8 ("multipath safety, proven") stay closed in the embedded store:
 * each test here reproduces one way an acknowledged write was lost or a stale cache was kept,
 * with raw sheep requests as tgt and Collie's client send them, and fails on a store without
 * the rule that closes it.
 * Method: the real store over the memory transport in virtual time (store-world.ts); two store
 * endpoints are two sheep nodes; a GatedObjects wrapper holds chosen object operations so a test
 * can land a request inside another one's window (a snapshot between its copy of data_vdi_id and
 * its mark, a write the client gave up on).
 */
import { describe, expect, test } from 'vitest';
import type { SheepConnection } from '../../src/sheepdog/sheep-connection.js';
import {
  CollieFeature,
  LockType,
  SD_INODE_HEADER_SIZE,
  SD_SHEEP_PROTO_VER,
  SdFlag,
  SdOp,
  SdRes,
} from '../../src/sheepdog/wire/constants.js';
import { objRequest, plainRequest, vdiRequest } from '../../src/sheepdog/wire/header.js';
import { vidToDataOid, vidToVdiOid } from '../../src/sheepdog/wire/oid.js';
import { gatedStoreWorld, idle } from '../support/gated-objects.js';
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
import { type StoreWorld, storeWorld } from '../support/store-world.js';

const MiB = 1024 * 1024;
const P1 = 7000;
const P2 = 7001;
const P3 = 7002;

function gatedWorld() {
  return gatedStoreWorld({ ports: [P1, P2, P3] });
}

function bytes(fill: number, length: number): Buffer {
  return Buffer.alloc(length, fill);
}

/** Every byte is `fill` (says where the first one is not, without diffing megabytes). */
function expectFilled(actual: Buffer, fill: number, length: number): void {
  expect(actual.length).toBe(length);
  const wrong = actual.findIndex((byte) => byte !== fill);
  expect(wrong === -1 ? 'all' : `byte ${wrong} is ${actual[wrong]}`, `expected 0x${fill.toString(16)}`).toBe(
    'all',
  );
}

function send(conn: SheepConnection, header: Parameters<SheepConnection['request']>[0], payload?: Buffer) {
  return conn.request(header, payload);
}

function write(oid: bigint, offset: number, length: number, flags: number = SdFlag.TGT) {
  return objRequest({ opcode: SdOp.WRITE_OBJ, flags: SdFlag.WRITE | flags, oid, offset, dataLength: length });
}

function snapshotRequest(baseVid: number) {
  return vdiRequest({
    opcode: SdOp.NEW_VDI,
    flags: SdFlag.WRITE,
    dataLength: 256,
    snapid: 1,
    baseVdiId: baseVid,
  });
}

async function dataIndexOf(world: StoreWorld, vid: number, idx: number): Promise<number> {
  const entry = await world.settle(world.objects.read(vidToVdiOid(vid), SD_INODE_HEADER_SIZE + 4 * idx, 4));
  return entry?.readUInt32LE(0) ?? -1;
}

describe('two nodes create the same object', () => {
  test('the later CREATE writes its range; the earlier writer keeps its acknowledged bytes', async () => {
    const world = await storeWorld({ ports: [P1, P2] });
    const a = await world.connect('target-a', P1);
    const b = await world.connect('target-b', P2);
    const vid = await createVdi(world, a, 'vol');
    await lockShared(world, a, 'vol');
    await lockShared(world, b, 'vol');
    await refreshRead(world, b, vid);
    const oid = vidToDataOid(vid, 3);
    // Both caches call object 3 unallocated: both CREATE, A first (0xa1 at 0), then B (0xb2 at 2 MiB).
    expect((await tgtCreate(world, a, oid, bytes(0xa1, 65536))).header.result).toBe(SdRes.SUCCESS);
    expect((await tgtCreate(world, b, oid, bytes(0xb2, 65536), { offset: 2 * MiB })).header.result).toBe(
      SdRes.SUCCESS,
    );
    expectFilled((await tgtRead(world, a, oid, 65536)).payload, 0xa1, 65536);
    expectFilled((await tgtRead(world, a, oid, 65536, 2 * MiB)).payload, 0xb2, 65536);
  });

  test('a copy-on-write CREATE of an object that exists keeps what is there and writes its range', async () => {
    const world = await storeWorld({ ports: [P1, P2] });
    const a = await world.connect('target-a', P1);
    const parent = await createVdi(world, a, 'vol');
    const parentOid = vidToDataOid(parent, 1);
    await tgtCreate(world, a, parentOid, bytes(0x11, 4096));
    await tgtInodeUpdate(world, a, parent, 1, parent);
    const snap = await call(world, a, snapshotRequest(parent), names('vol'));
    const vid = snap.header.args.kind === 'vdi' ? snap.header.args.vdiId : 0;
    const oid = vidToDataOid(vid, 1);
    // A copies on write first (0xa1 at 8 KiB), then B, whose cache still says "parent", too.
    const cow = { cowOid: parentOid, flags: SdFlag.COW };
    await tgtCreate(world, a, oid, bytes(0xa1, 4096), { ...cow, offset: 8192 });
    await tgtCreate(world, a, oid, bytes(0xb2, 4096), { ...cow, offset: 16384 });
    expectFilled((await tgtRead(world, a, oid, 4096, 0)).payload, 0x11, 4096);
    expectFilled((await tgtRead(world, a, oid, 4096, 8192)).payload, 0xa1, 4096);
    expectFilled((await tgtRead(world, a, oid, 4096, 16384)).payload, 0xb2, 4096);
  });
});

describe('a snapshot taken while a target allocates', () => {
  test('an inode update acknowledged as current is in the new working VDI', async () => {
    const { world, gated } = await gatedWorld();
    const a = await world.connect('target-a', P1);
    const admin = await world.connect('admin', P2);
    const vid = await createVdi(world, a, 'vol');
    await lockShared(world, a, 'vol');
    // The snapshot copies data_vdi_id into the new inode, then marks the old one (snap_ctime):
    // hold it right at the mark.
    const gate = gated.hold((op) => op.kind === 'write' && op.oid === vidToVdiOid(vid) && op.offset === 520);
    const snapshot = send(admin, snapshotRequest(vid), names('vol'));
    await idle(world);
    expect(gate.heldCount()).toBe(1);
    // A allocates object 5 inside the gap: create, inode update, then the probe of snap_ctime.
    const oid = vidToDataOid(vid, 5);
    const created = send(
      a,
      objRequest({
        opcode: SdOp.CREATE_AND_WRITE_OBJ,
        flags: SdFlag.WRITE | SdFlag.TGT,
        oid,
        dataLength: 4096,
      }),
      bytes(0xa1, 4096),
    );
    await idle(world);
    const entry = Buffer.alloc(4);
    entry.writeUInt32LE(vid);
    const updated = send(a, write(vidToVdiOid(vid), SD_INODE_HEADER_SIZE + 4 * 5, 4), entry);
    await idle(world);
    const probe = send(
      a,
      objRequest({
        opcode: SdOp.READ_OBJ,
        flags: SdFlag.TGT,
        oid: vidToVdiOid(vid),
        offset: 520,
        dataLength: 8,
      }),
    );
    await idle(world);
    gate.release();
    const snapped = await world.settle(snapshot);
    const working = snapped.header.args.kind === 'vdi' ? snapped.header.args.vdiId : 0;
    const [createResult, updateResult, probeResult] = await world.settle(
      Promise.all([created, updated, probe]),
    );
    const acknowledgedAsCurrent =
      createResult.header.result === SdRes.SUCCESS &&
      updateResult.header.result === SdRes.SUCCESS &&
      probeResult.header.result === SdRes.SUCCESS &&
      probeResult.payload.readBigUInt64LE(0) === 0n;
    // The client acknowledges the SCSI write when all three said so; then the working VDI must map it.
    if (acknowledgedAsCurrent) expect(await dataIndexOf(world, working, 5)).toBe(vid);
    // Whatever the interleaving, the store never lets the update land in the snapshot only.
    if (updateResult.header.result === SdRes.SUCCESS) expect(await dataIndexOf(world, working, 5)).toBe(vid);
  });

  test('an allocation written into an inode that is already a snapshot is refused READONLY', async () => {
    const world = await storeWorld({ ports: [P1, P2] });
    const a = await world.connect('target-a', P1);
    const vid = await createVdi(world, a, 'vol');
    await lockShared(world, a, 'vol');
    await call(world, a, snapshotRequest(vid), names('vol'));
    expect((await tgtInodeUpdate(world, a, vid, 7, vid, SdFlag.TGT)).header.result).toBe(
      SdRes.INODE_INVALIDATED,
    );
    await refreshRead(world, a, vid);
    expect((await tgtInodeUpdate(world, a, vid, 7, vid, SdFlag.TGT)).header.result).toBe(SdRes.READONLY);
    // dog's delete of a snapshot zeroes its entries first: that stays allowed.
    expect((await tgtInodeUpdate(world, a, vid, 7, 0, 0)).header.result).toBe(SdRes.SUCCESS);
  });
});

describe('lock-less writers invalidate the participants', () => {
  for (const [label, port, flags] of [
    ['through a node no target uses', P3, 0],
    ['through the node a target uses, without the TGT flag', P1, 0],
    ['through a node no target uses, with the TGT flag', P3, SdFlag.TGT],
  ] as const) {
    test(`a data_vdi_id write ${label}`, async () => {
      const world = await storeWorld({ ports: [P1, P2, P3] });
      const a = await world.connect('target-a', P1);
      const b = await world.connect('target-b', P2);
      const vid = await createVdi(world, a, 'vol');
      await lockShared(world, a, 'vol');
      await lockShared(world, b, 'vol');
      await refreshRead(world, b, vid);
      expect(participants(world, vid)).toEqual({ 'store:7000': 'shared', 'store:7001': 'shared' });
      const dog = await world.connect('dog', port);
      await tgtCreate(world, dog, vidToDataOid(vid, 2), bytes(0xd0, 512), { flags: 0 });
      expect((await tgtInodeUpdate(world, dog, vid, 2, vid, flags)).header.result).toBe(SdRes.SUCCESS);
      // Both targets' caches call object 2 unallocated: both must be told.
      expect(participants(world, vid)).toEqual({ 'store:7000': 'invalidated', 'store:7001': 'invalidated' });
      expect((await tgtRead(world, a, vidToDataOid(vid, 2), 512)).header.result).toBe(
        SdRes.INODE_INVALIDATED,
      );
    });
  }
});

describe('DISCARD_OBJ', () => {
  test("refuses a snapshot's object that the working VDI still maps", async () => {
    const world = await storeWorld({ ports: [P1, P2] });
    const a = await world.connect('target-a', P1);
    const vid = await createVdi(world, a, 'vol');
    await tgtCreate(world, a, vidToDataOid(vid, 4), bytes(0x44, 512), { flags: 0 });
    await tgtInodeUpdate(world, a, vid, 4, vid, 0);
    const snapped = await call(world, a, snapshotRequest(vid), names('vol'));
    const working = snapped.header.args.kind === 'vdi' ? snapped.header.args.vdiId : 0;
    expect(await dataIndexOf(world, working, 4)).toBe(vid);
    const discard = await call(world, a, objRequest({ opcode: SdOp.DISCARD_OBJ, oid: vidToDataOid(vid, 4) }));
    expect(discard.header.result).toBe(SdRes.READONLY);
    expectFilled((await tgtRead(world, a, vidToDataOid(vid, 4), 512)).payload, 0x44, 512);
    expect(await dataIndexOf(world, vid, 4)).toBe(vid);
  });

  test('is refused INODE_INVALIDATED to an invalidated participant and invalidates the others', async () => {
    const world = await storeWorld({ ports: [P1, P2] });
    const a = await world.connect('target-a', P1);
    const b = await world.connect('target-b', P2);
    const vid = await createVdi(world, a, 'vol');
    await lockShared(world, a, 'vol');
    await lockShared(world, b, 'vol');
    await tgtCreate(world, a, vidToDataOid(vid, 6), bytes(0x66, 512));
    await tgtInodeUpdate(world, a, vid, 6, vid);
    expect(participants(world, vid)).toEqual({ 'store:7000': 'modified', 'store:7001': 'invalidated' });
    const discard = (conn: SheepConnection) =>
      call(
        world,
        conn,
        objRequest({ opcode: SdOp.DISCARD_OBJ, flags: SdFlag.TGT, oid: vidToDataOid(vid, 6) }),
      );
    expect((await discard(b)).header.result).toBe(SdRes.INODE_INVALIDATED);
    expect(await dataIndexOf(world, vid, 6)).toBe(vid);
    await refreshRead(world, b, vid);
    expect((await discard(b)).header.result).toBe(SdRes.SUCCESS);
    expect(await dataIndexOf(world, vid, 6)).toBe(0);
    // No target sends DISCARD, so its sender is never the participant whose cache is current:
    // every participant is invalidated, the sender's node too (TGT flag or not).
    expect(participants(world, vid)).toEqual({ 'store:7000': 'invalidated', 'store:7001': 'invalidated' });
  });

  test("through a target's node, with the TGT flag, still invalidates that target", async () => {
    const world = await storeWorld({ ports: [P1, P2] });
    const a = await world.connect('target-a', P1);
    const vid = await createVdi(world, a, 'vol');
    await lockShared(world, a, 'vol');
    await tgtCreate(world, a, vidToDataOid(vid, 2), bytes(0x22, 512));
    await tgtInodeUpdate(world, a, vid, 2, vid);
    const admin = await world.connect('admin', P1);
    const discarded = await call(
      world,
      admin,
      objRequest({ opcode: SdOp.DISCARD_OBJ, flags: SdFlag.TGT, oid: vidToDataOid(vid, 2) }),
    );
    expect(discarded.header.result).toBe(SdRes.SUCCESS);
    // Target A's cache still maps object 2: it must be told, or it reads a removed object.
    expect(participants(world, vid)).toEqual({ 'store:7000': 'invalidated' });
  });

  test('an inode update checked before a DISCARD that ran first is refused, never maps a removed object', async () => {
    const { world, gated } = await gatedWorld();
    const a = await world.connect('target-a', P1);
    const b = await world.connect('target-b', P2);
    const admin = await world.connect('admin', P3);
    const vid = await createVdi(world, a, 'vol');
    await lockShared(world, a, 'vol');
    await lockShared(world, b, 'vol');
    await tgtCreate(world, a, vidToDataOid(vid, 2), bytes(0x22, 512));
    await tgtInodeUpdate(world, a, vid, 2, vid);
    // B's refresh read holds the inode section; a DISCARD of object 2 queues behind it, then A
    // (which just wrote object 2 again and so re-sends its inode update) is checked and queues.
    const gate = gated.hold((op) => op.kind === 'read' && op.oid === vidToVdiOid(vid) && op.length > 4096);
    const refresh = send(
      b,
      objRequest({ opcode: SdOp.READ_OBJ, flags: SdFlag.TGT, oid: vidToVdiOid(vid), dataLength: 4_198_968 }),
    );
    await idle(world);
    expect(gate.heldCount()).toBe(1);
    const discard = send(admin, objRequest({ opcode: SdOp.DISCARD_OBJ, oid: vidToDataOid(vid, 2) }));
    await idle(world);
    const entry = Buffer.alloc(4);
    entry.writeUInt32LE(vid);
    const update = send(a, write(vidToVdiOid(vid), SD_INODE_HEADER_SIZE + 4 * 2, 4), entry);
    await idle(world);
    gate.release();
    const [, discarded, updated] = await world.settle(Promise.all([refresh, discard, update]));
    expect(discarded.header.result).toBe(SdRes.SUCCESS);
    if (updated.header.result === SdRes.SUCCESS) {
      // Had it been applied, the VDI would map object 2, which the DISCARD removed.
      expect(await world.settle(world.objects.exists(vidToDataOid(vid, 2)))).toBe(true);
    }
    expect(updated.header.result).toBe(SdRes.INODE_INVALIDATED);
  });
});

describe('an inode update maps only objects that exist', () => {
  test("a lock-less writer's update after a DISCARD removed the object it created is refused NO_OBJ", async () => {
    const world = await storeWorld({ ports: [P1, P2] });
    const dog = await world.connect('dog', P1);
    const admin = await world.connect('admin', P2);
    const vid = await createVdi(world, dog, 'vol');
    // The lock-less writer creates object 1; a DISCARD removes it before the writer maps it.
    await tgtCreate(world, dog, vidToDataOid(vid, 1), bytes(0x51, 512), { flags: 0 });
    const discarded = await call(
      world,
      admin,
      objRequest({ opcode: SdOp.DISCARD_OBJ, oid: vidToDataOid(vid, 1) }),
    );
    expect(discarded.header.result).toBe(SdRes.SUCCESS);
    const updated = await tgtInodeUpdate(world, dog, vid, 1, vid, 0);
    // Mapped, object 1 would answer NO_OBJ to every read from then on.
    expect(updated.header.result).toBe(SdRes.NO_OBJ);
    expect(await dataIndexOf(world, vid, 1)).toBe(0);
    // Unmapping (zeros) and mapping an object that exists stay allowed.
    expect((await tgtInodeUpdate(world, dog, vid, 1, 0, 0)).header.result).toBe(SdRes.SUCCESS);
    await tgtCreate(world, dog, vidToDataOid(vid, 1), bytes(0x52, 512), { flags: 0 });
    expect((await tgtInodeUpdate(world, dog, vid, 1, vid, 0)).header.result).toBe(SdRes.SUCCESS);
  });
});

describe('a snapshot and data writes', () => {
  test('a data write in flight when the snapshot starts lands before its copy, not in the retired VDI only', async () => {
    const { world, gated } = await gatedWorld();
    const a = await world.connect('target-a', P1);
    const admin = await world.connect('admin', P2);
    const vid = await createVdi(world, a, 'vol');
    const oid = vidToDataOid(vid, 1);
    await tgtCreate(world, a, oid, bytes(0x10, 4096), { flags: 0 });
    await tgtInodeUpdate(world, a, vid, 1, vid, 0);
    // A write to object 1 is held inside the store; the snapshot starts meanwhile.
    const gate = gated.hold((op) => op.kind === 'write' && op.oid === oid);
    const written = send(a, write(oid, 0, 4096, 0), bytes(0x11, 4096));
    await idle(world);
    expect(gate.heldCount()).toBe(1);
    let snapped: Awaited<ReturnType<typeof send>> | undefined;
    const snapshot = send(admin, snapshotRequest(vid), names('vol')).then((answer) => {
      snapped = answer;
      return answer;
    });
    await idle(world);
    // A target copies object 1 on write into the new working VDI as soon as that VDI exists.
    const copyOnWrite = (working: number) =>
      tgtCreate(world, a, vidToDataOid(working, 1), bytes(0x12, 512), {
        offset: 8192,
        cowOid: oid,
        flags: SdFlag.COW,
      });
    const workingOf = (answer: Awaited<ReturnType<typeof send>>) =>
      answer.header.args.kind === 'vdi' ? answer.header.args.vdiId : 0;
    if (snapped !== undefined) await copyOnWrite(workingOf(snapped));
    gate.release();
    const [writeResult, answer] = await world.settle(Promise.all([written, snapshot]));
    expect(writeResult.header.result).toBe(SdRes.SUCCESS);
    const working = workingOf(answer);
    if (snapped === undefined || (await dataIndexOf(world, working, 1)) !== working)
      await copyOnWrite(working);
    expectFilled((await tgtRead(world, a, vidToDataOid(working, 1), 4096)).payload, 0x11, 4096);
  });

  test('the new working VDI is not found by name before the retired one is marked', async () => {
    const { world, gated } = await gatedWorld();
    const a = await world.connect('target-a', P1);
    const admin = await world.connect('admin', P2);
    const vid = await createVdi(world, a, 'vol');
    const gate = gated.hold((op) => op.kind === 'write' && op.oid === vidToVdiOid(vid) && op.offset === 520);
    const snapshot = send(admin, snapshotRequest(vid), names('vol'));
    await idle(world);
    expect(gate.heldCount()).toBe(1);
    // Between the copy and the mark, a client resolving the name still gets the old VDI, whose
    // data objects are shared with the new one until someone copies them on write.
    const found = await call(
      world,
      a,
      vdiRequest({ opcode: SdOp.GET_VDI_INFO, flags: SdFlag.WRITE, dataLength: 256 }),
      names('vol'),
    );
    expect(found.header.args.kind === 'vdi' ? found.header.args.vdiId : 0).toBe(vid);
    gate.release();
    await world.settle(snapshot);
  });
});

describe('a request the client gave up on', () => {
  test('never lands after a newer acknowledged write to the same bytes', async () => {
    const { world, gated } = await gatedWorld();
    const first = await world.connect('target-a', P1);
    const vid = await createVdi(world, first, 'vol');
    const oid = vidToDataOid(vid, 1);
    await tgtCreate(world, first, oid, bytes(0, 4096), { flags: 0 });
    // The store is slow with the first write; the client times out, drops the connection, resends
    // the same bytes on a new one, then the host writes newer bytes there.
    const gate = gated.hold((op) => op.kind === 'write' && op.oid === oid);
    const old = send(first, write(oid, 0, 4096, 0), bytes(0x01, 4096)).catch(() => undefined);
    await idle(world);
    expect(gate.heldCount()).toBe(1);
    first.close();
    await idle(world);
    const second = await world.connect('target-a', P1);
    const resent = send(second, write(oid, 0, 4096, 0), bytes(0x01, 4096));
    const newer = send(second, write(oid, 0, 4096, 0), bytes(0x02, 4096));
    await idle(world);
    gate.release();
    await world.settle(old);
    expect((await world.settle(resent)).header.result).toBe(SdRes.SUCCESS);
    expect((await world.settle(newer)).header.result).toBe(SdRes.SUCCESS);
    await idle(world);
    expectFilled((await tgtRead(world, second, oid, 4096)).payload, 0x02, 4096);
  });

  test('is not started once its connection is gone', async () => {
    const { world, gated } = await gatedWorld();
    const conn = await world.connect('target-a', P1);
    const vid = await createVdi(world, conn, 'vol');
    const oid = vidToDataOid(vid, 1);
    await tgtCreate(world, conn, oid, bytes(0, 4096), { flags: 0 });
    const gate = gated.hold((op) => op.kind === 'write' && op.oid === oid);
    const held = send(conn, write(oid, 0, 512, 0), bytes(0x01, 512)).catch(() => undefined);
    const queued = send(conn, write(oid, 512, 512, 0), bytes(0x02, 512)).catch(() => undefined);
    await idle(world);
    conn.close();
    await idle(world);
    gate.release();
    await world.settle(Promise.all([held, queued]));
    await idle(world);
    const other = await world.connect('reader', P2);
    expectFilled((await tgtRead(world, other, oid, 512, 512)).payload, 0, 512);
  });
});

describe('lock adoption', () => {
  function lockWithId(conn: SheepConnection, client: bigint, world: StoreWorld) {
    return call(
      world,
      conn,
      vdiRequest({
        opcode: SdOp.LOCK_VDI,
        flags: SdFlag.WRITE,
        dataLength: 512,
        type: LockType.SHARED,
        vdiSize: client,
      }),
      names('vol', ''),
    );
  }
  function releaseWithId(conn: SheepConnection, vid: number, client: bigint, world: StoreWorld) {
    return call(
      world,
      conn,
      vdiRequest({ opcode: SdOp.RELEASE_VDI, baseVdiId: vid, type: LockType.SHARED, vdiSize: client }),
    );
  }

  test('a LOCK from the client that holds it succeeds again; another client on the node is refused', async () => {
    const world = await storeWorld({ ports: [P1] });
    const target = await world.connect('target-a', P1);
    const vid = await createVdi(world, target, 'vol');
    expect((await lockWithId(target, 0x1111n, world)).header.result).toBe(SdRes.SUCCESS);
    // The answer was lost; the client asks again: it is told the lock is its own.
    expect((await lockWithId(target, 0x1111n, world)).header.result).toBe(SdRes.SUCCESS);
    const other = await world.connect('target-b', P1);
    expect((await lockWithId(other, 0x2222n, world)).header.result).toBe(SdRes.VDI_LOCKED);
    // The other client's close does not take the holder out of the protocol.
    await releaseWithId(other, vid, 0x2222n, world);
    expect(participants(world, vid)).toEqual({ 'store:7000': 'modified' });
    await releaseWithId(target, vid, 0x1111n, world);
    expect(participants(world, vid)).toEqual({});
  });

  test('without a client id (tgt, dog) LOCK and RELEASE behave as in sheep 1.0', async () => {
    const world = await storeWorld({ ports: [P1] });
    const conn = await world.connect('tgt', P1);
    const vid = await createVdi(world, conn, 'vol');
    expect((await lockShared(world, conn, 'vol')).header.result).toBe(SdRes.SUCCESS);
    expect((await lockShared(world, conn, 'vol')).header.result).toBe(SdRes.VDI_LOCKED);
    await releaseWithId(conn, vid, 0n, world);
    expect(participants(world, vid)).toEqual({});
  });
});

test('COLLIE_FEATURES names what this store guarantees past sheep 1.0', async () => {
  const world = await storeWorld({ ports: [P1] });
  const conn = await world.connect('client', P1);
  const answer = await call(
    world,
    conn,
    plainRequest({ opcode: SdOp.COLLIE_FEATURES, protoVer: SD_SHEEP_PROTO_VER, dataLength: 8 }),
  );
  expect(answer.header.result).toBe(SdRes.SUCCESS);
  const bits = answer.payload.readUInt32LE(0);
  expect(bits & CollieFeature.LOCKLESS_WRITERS_INVALIDATE).not.toBe(0);
  expect(bits & CollieFeature.CREATE_NEVER_REPLACES).not.toBe(0);
  expect(bits & CollieFeature.LOCK_CLIENT_IDS).not.toBe(0);
});

test('a broken store invariant is never answered EIO: it is logged and the connection dropped', async () => {
  const { AssertionError } = await import('../../src/core/assert.js');
  const { world, gated } = await gatedStoreWorld({ ports: [P1] });
  const conn = await world.connect('target-a', P1);
  const vid = await createVdi(world, conn, 'vol');
  await tgtCreate(world, conn, vidToDataOid(vid, 1), bytes(0x61, 512), { flags: 0 });
  gated.failNext(
    (op) => op.kind === 'read' && op.oid === vidToDataOid(vid, 1),
    new AssertionError('test: broken'),
  );
  const answer = await world.settle(
    conn.request(objRequest({ opcode: SdOp.READ_OBJ, oid: vidToDataOid(vid, 1), dataLength: 512 })).then(
      (response) => `answered ${response.header.result}`,
      (error: Error) => `rejected: ${error.name}`,
    ),
  );
  expect(answer).toBe('rejected: SheepConnectionError');
  const broken = world.events.toArray().filter((event) => event.type === 'store.invariant_broken');
  expect(broken.map((event) => (event.data as { message: string }).message)).toEqual(['test: broken']);
});
