/**
 * Goal: the store's compat mode 'sheep-1.0' answers as sheep 1.0 does for every rule Collie's
 * store keeps past it (store-rules.ts), so the client can be tested against sheep 1.0's semantics
 * with the real store: a second CREATE replaces the object, writes to one object are not ordered,
 * a snapshot copies data_vdi_id outside the inode section and an allocation into a snapshot's
 * inode is accepted, only sheep's invalidation rule runs, LOCK/RELEASE ignore client ids,
 * COLLIE_FEATURES is an unknown opcode, DISCARD neither refuses nor invalidates, and a snapshot
 * invalidates nobody. Each test runs the same requests against 'collie' mode too, to show that the
 * difference is the mode.
 * Method: the real store over the memory transport in virtual time (store-world.ts), raw sheep
 * requests as tgt and dog send them (store-requests.ts), two or three endpoints as sheep nodes.
 */
import { describe, expect, test } from 'vitest';
import {
  LockType,
  SD_INODE_HEADER_SIZE,
  SD_SHEEP_PROTO_VER,
  SdFlag,
  SdOp,
  SdRes,
} from '../../src/sheepdog/wire/constants.js';
import { objRequest, plainRequest, vdiRequest } from '../../src/sheepdog/wire/header.js';
import { vidToDataOid, vidToVdiOid } from '../../src/sheepdog/wire/oid.js';
import { storeRules } from '../../src/store/store-rules.js';
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
const MODES = ['collie', 'sheep-1.0'] as const;
type Mode = (typeof MODES)[number];

async function world(compat: Mode, ports = [P1, P2, P3]): Promise<StoreWorld> {
  return storeWorld({ ports, compat });
}

function gatedWorld(compat: Mode) {
  return gatedStoreWorld({ ports: [P1, P2, P3], compat });
}

function filled(actual: Buffer, fill: number): boolean {
  return actual.every((byte) => byte === fill);
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

async function dataIndexOf(w: StoreWorld, vid: number, idx: number): Promise<number> {
  const entry = await w.settle(w.objects.read(vidToVdiOid(vid), SD_INODE_HEADER_SIZE + 4 * idx, 4));
  return entry?.readUInt32LE(0) ?? -1;
}

/** Two targets through P1 and P2, both share-locked, B refreshed: both SHARED. */
async function twoTargets(w: StoreWorld) {
  const a = await w.connect('target-a', P1);
  const b = await w.connect('target-b', P2);
  const vid = await createVdi(w, a, 'vol');
  await lockShared(w, a, 'vol');
  await lockShared(w, b, 'vol');
  await refreshRead(w, b, vid);
  return { a, b, vid };
}

describe.each(MODES)('compat %s', (mode) => {
  const sheep10 = mode === 'sheep-1.0';

  test(`a second CREATE of an object ${sheep10 ? 'replaces it' : 'writes its range into it'}`, async () => {
    const w = await world(mode);
    const { a, b, vid } = await twoTargets(w);
    const oid = vidToDataOid(vid, 3);
    await tgtCreate(w, a, oid, Buffer.alloc(4096, 0xa1));
    expect((await tgtCreate(w, b, oid, Buffer.alloc(4096, 0xb2), { offset: 2 * MiB })).header.result).toBe(
      SdRes.SUCCESS,
    );
    const first = (await tgtRead(w, a, oid, 4096)).payload;
    expect(filled(first, sheep10 ? 0 : 0xa1)).toBe(true);
    expect(filled((await tgtRead(w, a, oid, 4096, 2 * MiB)).payload, 0xb2)).toBe(true);
  });

  test(`a write to an object ${sheep10 ? 'does not wait for' : 'waits for'} an earlier one to the same object`, async () => {
    const { world: w, gated } = await gatedWorld(mode);
    const first = await w.connect('first', P1);
    const second = await w.connect('second', P2);
    const vid = await createVdi(w, first, 'vol');
    const oid = vidToDataOid(vid, 1);
    await tgtCreate(w, first, oid, Buffer.alloc(4096), { flags: 0 });
    const write = (offset: number) =>
      objRequest({ opcode: SdOp.WRITE_OBJ, flags: SdFlag.WRITE, oid, offset, dataLength: 512 });
    const gate = gated.hold((op) => op.kind === 'write' && op.oid === oid);
    const held = first.request(write(0), Buffer.alloc(512, 1));
    await idle(w);
    expect(gate.heldCount()).toBe(1);
    let laterAnswered = false;
    const later = second.request(write(512), Buffer.alloc(512, 2)).then((response) => {
      laterAnswered = true;
      return response;
    });
    await idle(w);
    expect(laterAnswered).toBe(sheep10);
    gate.release();
    await w.settle(Promise.all([held, later]));
  });

  test(`a snapshot ${sheep10 ? 'lets an allocation land between its copy and its mark, and accepts allocations into the snapshot' : 'is atomic with inode updates'}`, async () => {
    const { world: w, gated } = await gatedWorld(mode);
    const a = await w.connect('target-a', P1);
    const admin = await w.connect('admin', P2);
    const vid = await createVdi(w, a, 'vol');
    await lockShared(w, a, 'vol');
    // Hold the snapshot at its mark (snap_ctime, offset 520 of the retired inode).
    const gate = gated.hold((op) => op.kind === 'write' && op.oid === vidToVdiOid(vid) && op.offset === 520);
    const snapshot = admin.request(snapshotRequest(vid), names('vol'));
    await idle(w);
    expect(gate.heldCount()).toBe(1);
    const update = tgtInodeUpdate(w, a, vid, 5, vid);
    if (sheep10) {
      // Sheep 1.0: nothing holds the update; it lands in the inode that becomes the snapshot only.
      expect((await update).header.result).toBe(SdRes.SUCCESS);
      gate.release();
      const snapped = await w.settle(snapshot);
      const working = snapped.header.args.kind === 'vdi' ? snapped.header.args.vdiId : 0;
      expect(await dataIndexOf(w, vid, 5)).toBe(vid);
      expect(await dataIndexOf(w, working, 5)).toBe(0);
      // And an allocation written into the snapshot's inode is accepted (no READONLY).
      await refreshRead(w, a, vid);
      expect((await tgtInodeUpdate(w, a, vid, 6, vid)).header.result).toBe(SdRes.SUCCESS);
    } else {
      // Collie: the update waits for the snapshot's inode section; checked again there, it is
      // refused INODE_INVALIDATED (the snapshot invalidated A; its reload then sees snap_ctime).
      let settled = false;
      void update.then(() => {
        settled = true;
      });
      await idle(w);
      expect(settled).toBe(false);
      gate.release();
      await w.settle(snapshot);
      expect((await update).header.result).toBe(SdRes.INODE_INVALIDATED);
    }
  });

  test(`a non-participant's data_vdi_id write ${sheep10 ? 'invalidates nobody' : 'invalidates every participant'}`, async () => {
    const w = await world(mode);
    const { vid } = await twoTargets(w);
    const dog = await w.connect('dog', P3);
    await tgtCreate(w, dog, vidToDataOid(vid, 2), Buffer.alloc(512, 2), { flags: 0 });
    expect((await tgtInodeUpdate(w, dog, vid, 2, vid, 0)).header.result).toBe(SdRes.SUCCESS);
    expect(participants(w, vid)).toEqual(
      sheep10
        ? { 'store:7000': 'shared', 'store:7001': 'shared' }
        : { 'store:7000': 'invalidated', 'store:7001': 'invalidated' },
    );
  });

  test(`a participant's data_vdi_id write without TGT ${sheep10 ? "makes it MODIFIED (sheep's rule)" : 'invalidates every participant'}`, async () => {
    const w = await world(mode);
    const { a, vid } = await twoTargets(w);
    await tgtCreate(w, a, vidToDataOid(vid, 2), Buffer.alloc(512, 2), { flags: 0 });
    expect((await tgtInodeUpdate(w, a, vid, 2, vid, 0)).header.result).toBe(SdRes.SUCCESS);
    expect(participants(w, vid)).toEqual(
      sheep10
        ? { 'store:7000': 'modified', 'store:7001': 'invalidated' }
        : { 'store:7000': 'invalidated', 'store:7001': 'invalidated' },
    );
  });

  test(`LOCK_VDI and RELEASE_VDI ${sheep10 ? 'ignore' : 'honour'} the client id`, async () => {
    const w = await world(mode, [P1]);
    const conn = await w.connect('target', P1);
    const vid = await createVdi(w, conn, 'vol');
    const lock = (client: bigint) =>
      call(
        w,
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
    expect((await lock(0x1111n)).header.result).toBe(SdRes.SUCCESS);
    expect((await lock(0x1111n)).header.result).toBe(sheep10 ? SdRes.VDI_LOCKED : SdRes.SUCCESS);
    await call(
      w,
      conn,
      vdiRequest({ opcode: SdOp.RELEASE_VDI, baseVdiId: vid, type: LockType.SHARED, vdiSize: 0x2222n }),
    );
    expect(participants(w, vid)).toEqual(sheep10 ? {} : { 'store:7000': 'modified' });
  });

  test(`COLLIE_FEATURES is ${sheep10 ? 'an unknown opcode' : 'answered'}`, async () => {
    const w = await world(mode, [P1]);
    const conn = await w.connect('client', P1);
    const answer = await call(
      w,
      conn,
      plainRequest({ opcode: SdOp.COLLIE_FEATURES, protoVer: SD_SHEEP_PROTO_VER, dataLength: 8 }),
    );
    expect(answer.header.result).toBe(sheep10 ? SdRes.INVALID_PARMS : SdRes.SUCCESS);
  });

  test(`DISCARD_OBJ ${sheep10 ? 'neither refuses an INVALIDATED participant nor invalidates' : 'is refused to an INVALIDATED participant'}`, async () => {
    const w = await world(mode);
    const { a, b, vid } = await twoTargets(w);
    await tgtCreate(w, a, vidToDataOid(vid, 6), Buffer.alloc(512, 0x66));
    await tgtInodeUpdate(w, a, vid, 6, vid);
    expect(participants(w, vid)).toEqual({ 'store:7000': 'modified', 'store:7001': 'invalidated' });
    const discard = await call(
      w,
      b,
      objRequest({ opcode: SdOp.DISCARD_OBJ, flags: SdFlag.TGT, oid: vidToDataOid(vid, 6) }),
    );
    expect(discard.header.result).toBe(sheep10 ? SdRes.SUCCESS : SdRes.INODE_INVALIDATED);
    expect(participants(w, vid)).toEqual({ 'store:7000': 'modified', 'store:7001': 'invalidated' });
  });

  test(`a snapshot ${sheep10 ? 'invalidates nobody' : 'invalidates every participant of the retired VDI'}`, async () => {
    const w = await world(mode);
    const { a, vid } = await twoTargets(w);
    await call(w, a, snapshotRequest(vid), names('vol'));
    expect(participants(w, vid)).toEqual(
      sheep10
        ? { 'store:7000': 'shared', 'store:7001': 'shared' }
        : { 'store:7000': 'invalidated', 'store:7001': 'invalidated' },
    );
  });

  test('the rules sheep 1.0 keeps stay on: READONLY into a snapshot, INODE_INVALIDATED', async () => {
    const w = await world(mode);
    const { a, b, vid } = await twoTargets(w);
    await tgtCreate(w, a, vidToDataOid(vid, 1), Buffer.alloc(512, 1));
    await tgtInodeUpdate(w, a, vid, 1, vid);
    expect((await tgtRead(w, b, vidToDataOid(vid, 1), 512)).header.result).toBe(SdRes.INODE_INVALIDATED);
    await call(w, a, snapshotRequest(vid), names('vol'));
    await refreshRead(w, a, vid);
    const write = await call(
      w,
      a,
      objRequest({ opcode: SdOp.WRITE_OBJ, flags: SdFlag.WRITE, oid: vidToDataOid(vid, 1), dataLength: 512 }),
      Buffer.alloc(512, 2),
    );
    expect(write.header.result).toBe(SdRes.READONLY);
  });
});

describe('store rules', () => {
  test('sheep-1.0 turns every rule past sheep 1.0 off and promises no feature', () => {
    const rules = storeRules({ compat: 'sheep-1.0', locking: true });
    expect(rules).toMatchObject({
      objectOrder: false,
      createNeverReplaces: false,
      snapshotHoldsInodeSection: false,
      readonlyAllocationIntoSnapshot: false,
      outsideWritersInvalidate: false,
      discardIsAWrite: false,
      snapshotInvalidates: false,
      lockClientIds: false,
      collieFeatures: false,
      invalidatedRefusal: true,
      readonlyDataWriteIntoSnapshot: true,
      inodeUpdateInvalidates: true,
      features: 0,
    });
  });

  test('a test-only bug breaks its rule but not the promise', () => {
    const rules = storeRules({ locking: true, testOnlyBug: 'create-replaces' });
    expect(rules.createNeverReplaces).toBe(false);
    expect(rules.features).toBe(storeRules({ locking: true }).features);
  });

  test('snapshotInvalidates true with sheep-1.0 is refused, naming the fix', () => {
    expect(() => storeRules({ compat: 'sheep-1.0', locking: true, snapshotInvalidates: true })).toThrow(
      /contradicts compat 'sheep-1.0'.*drop one/,
    );
  });
});
