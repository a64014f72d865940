/**
 * Goal: an invalidation is a clean cut for data writes. A data write whose INODE_INVALIDATED
 * check passed before another node's data_vdi_id write invalidated its sender has landed before
 * that data_vdi_id write is answered; one checked after it is refused. The shared cell
 * (src/sheepdog/client/sheep-shared-cell.ts) rests on this: node B bumps (a 4-byte zero write
 * into data_vdi_id[MAX_DATA_OBJS - 2]) and then reads; a write of node A that B's bump did not
 * refuse must be in what B reads.
 * Method: the real store over the memory transport in virtual time; GatedObjects holds A's data
 * write inside the store after its check, then B bumps. Compat 'sheep-1.0' keeps sheep 1.0's
 * window (a write checked before the invalidation may land after it), which the last test shows.
 */
import { describe, expect, test } from 'vitest';
import type { SheepConnection } from '../../src/sheepdog/sheep-connection.js';
import {
  SD_INODE_DATA_INDEX,
  SD_INODE_HEADER_SIZE,
  SdFlag,
  SdOp,
  SdRes,
} from '../../src/sheepdog/wire/constants.js';
import { objRequest } from '../../src/sheepdog/wire/header.js';
import { vidToDataOid, vidToVdiOid } from '../../src/sheepdog/wire/oid.js';
import type { StoreCompat } from '../../src/store/store-rules.js';
import { gatedStoreWorld, idle } from '../support/gated-objects.js';
import {
  createVdi,
  lockShared,
  participants,
  refreshRead,
  tgtCreate,
  tgtInodeUpdate,
  tgtRead,
} from '../support/store-requests.js';

const P1 = 7000;
const P2 = 7001;
/** The shared cell's bump slot: data_vdi_id[MAX_DATA_OBJS - 2], always 0. */
const BUMP_IDX = SD_INODE_DATA_INDEX - 2;

function bump(conn: SheepConnection, vid: number) {
  return conn.request(
    objRequest({
      opcode: SdOp.WRITE_OBJ,
      flags: SdFlag.WRITE | SdFlag.TGT,
      oid: vidToVdiOid(vid),
      offset: SD_INODE_HEADER_SIZE + 4 * BUMP_IDX,
      dataLength: 4,
    }),
    Buffer.alloc(4),
  );
}

function dataWrite(conn: SheepConnection, oid: bigint, fill: number, opcode: number) {
  return conn.request(
    objRequest({
      opcode,
      flags: SdFlag.WRITE | SdFlag.TGT,
      oid,
      offset: 0,
      dataLength: 4096,
    }),
    Buffer.alloc(4096, fill),
  );
}

/** Two participants A (7000) and B (7001) of "vol", both SHARED, object 1 allocated by A. */
async function twoParticipants(compat: StoreCompat) {
  const { world, gated } = await gatedStoreWorld({ ports: [P1, P2], compat });
  const a = await world.connect('target-a', P1);
  const b = await world.connect('target-b', P2);
  const vid = await createVdi(world, a, 'vol');
  await lockShared(world, a, 'vol');
  await lockShared(world, b, 'vol');
  const oid = vidToDataOid(vid, 1);
  expect((await tgtCreate(world, a, oid, Buffer.alloc(4096, 0x10))).header.result).toBe(SdRes.SUCCESS);
  expect((await tgtInodeUpdate(world, a, vid, 1, vid)).header.result).toBe(SdRes.SUCCESS);
  await refreshRead(world, b, vid);
  expect(participants(world, vid)).toEqual({ 'store:7000': 'shared', 'store:7001': 'shared' });
  return { world, gated, a, b, vid, oid };
}

describe.each(['collie', 'sheep-1.0'] as const)('compat %s: the bump', (compat) => {
  test('a 4-byte zero write into data_vdi_id[MAX_DATA_OBJS - 2] passes the store rules and invalidates the others', async () => {
    const { world, a, b, vid } = await twoParticipants(compat);
    expect((await world.settle(bump(b, vid))).header.result).toBe(SdRes.SUCCESS);
    expect(participants(world, vid)).toEqual({ 'store:7000': 'invalidated', 'store:7001': 'modified' });
    // Again while MODIFIED: nothing to invalidate, still SUCCESS; A stays INVALIDATED.
    expect((await world.settle(bump(b, vid))).header.result).toBe(SdRes.SUCCESS);
    expect(participants(world, vid)).toEqual({ 'store:7000': 'invalidated', 'store:7001': 'modified' });
    // An INVALIDATED participant's bump is refused, as any TGT request of it is.
    expect((await world.settle(bump(a, vid))).header.result).toBe(SdRes.INODE_INVALIDATED);
    const entry = await world.settle(
      world.objects.read(vidToVdiOid(vid), SD_INODE_HEADER_SIZE + 4 * BUMP_IDX, 4),
    );
    expect(entry?.readUInt32LE(0)).toBe(0);
  });
});

describe('a data write checked before another node invalidated its sender', () => {
  for (const [what, opcode] of [
    ['WRITE_OBJ', SdOp.WRITE_OBJ],
    ['CREATE_AND_WRITE_OBJ', SdOp.CREATE_AND_WRITE_OBJ],
  ] as const) {
    test(`(${what}) has landed before the invalidating data_vdi_id write is answered`, async () => {
      const { world, gated, a, b, vid, oid } = await twoParticipants('collie');
      const target = opcode === SdOp.WRITE_OBJ ? oid : vidToDataOid(vid, 2);
      const gate = gated.hold((op) => (op.kind === 'write' || op.kind === 'create') && op.oid === target);
      const written = dataWrite(a, target, 0x11, opcode);
      await idle(world);
      expect(gate.heldCount()).toBe(1);
      let bumpAnswered = false;
      const bumped = bump(b, vid).then((answer) => {
        bumpAnswered = true;
        return answer;
      });
      await idle(world);
      // Without the rule B's bump is answered now, and B's read after it misses A's write, which
      // still lands (A was not invalidated when it was checked).
      expect(bumpAnswered).toBe(false);
      gate.release();
      const [writeAnswer, bumpAnswer] = await world.settle(Promise.all([written, bumped]));
      expect(writeAnswer.header.result).toBe(SdRes.SUCCESS);
      expect(bumpAnswer.header.result).toBe(SdRes.SUCCESS);
      const read = await tgtRead(world, b, target, 4096);
      expect(read.header.result).toBe(SdRes.SUCCESS);
      expect(read.payload.equals(Buffer.alloc(4096, 0x11))).toBe(true);
      // A write of A checked after the bump is refused.
      expect((await world.settle(dataWrite(a, oid, 0x12, SdOp.WRITE_OBJ))).header.result).toBe(
        SdRes.INODE_INVALIDATED,
      );
    });
  }

  test("compat 'sheep-1.0' keeps sheep 1.0's window: the bump is answered while the write is still held", async () => {
    const { world, gated, a, b, vid, oid } = await twoParticipants('sheep-1.0');
    const gate = gated.hold((op) => op.kind === 'write' && op.oid === oid);
    const written = dataWrite(a, oid, 0x11, SdOp.WRITE_OBJ);
    await idle(world);
    expect(gate.heldCount()).toBe(1);
    expect((await world.settle(bump(b, vid))).header.result).toBe(SdRes.SUCCESS);
    expect((await tgtRead(world, b, oid, 4096)).payload.equals(Buffer.alloc(4096, 0x10))).toBe(true);
    gate.release();
    expect((await world.settle(written)).header.result).toBe(SdRes.SUCCESS);
  });
});
