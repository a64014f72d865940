/**
 * Goal: VDI create / lookup / snapshot / clone / delete behave as sheep 1.0's do, down to the
 * vids they pick (the protocol reference §3.2 NEW_VDI, §5.3, §6), since tgt, dog and qemu read
 * inodes directly. Method: a VdiTable over the memory object store; inodes are checked through
 * the object store, as a client would read them.
 */
import { describe, expect, test } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { EventLog } from '../../src/core/event-log.js';
import { SD_INODE_HEADER_SIZE, SdRes } from '../../src/sheepdog/wire/constants.js';
import { decodeInodeHeader } from '../../src/sheepdog/wire/inode.js';
import { vidToDataOid, vidToVdiOid } from '../../src/sheepdog/wire/oid.js';
import { MemoryObjectStore } from '../../src/store/memory-object-store.js';
import { type NewVdiRequest, VdiTable } from '../../src/store/vdi-table.js';

const GiB = 1024n ** 3n;
let nowMs = 1_700_000_000_000;
const clock: Clock = { now: () => nowMs, setTimeout: () => 0, clearTimeout: () => undefined };

async function open(objects = new MemoryObjectStore()) {
  const vdis = await VdiTable.open({
    objects,
    clock,
    eventLog: new EventLog(clock),
    defaults: { copies: 1, copyPolicy: 0, blockSizeShift: 22 },
  });
  return { vdis, objects };
}

function request(fields: Partial<NewVdiRequest> & { name: string }): NewVdiRequest {
  return {
    sizeBytes: GiB,
    baseVid: 0,
    snapid: 0,
    copies: 0,
    copyPolicy: 0,
    storePolicy: 0,
    blockSizeShift: 0,
    ...fields,
  };
}

async function inodeHeader(objects: MemoryObjectStore, vid: number) {
  const decoded = decodeInodeHeader((await objects.read(vidToVdiOid(vid), 0, SD_INODE_HEADER_SIZE))!);
  if (!decoded.ok) throw new Error(decoded.error.message);
  return decoded.value;
}

describe('create and lookup', () => {
  test('a fresh name gets its FNV hash as vid, snap_id 1, the cluster defaults', async () => {
    const { vdis, objects } = await open();
    expect(await vdis.newVdi(request({ name: 'test' }))).toEqual({ result: SdRes.SUCCESS, vid: 0x7c2b25 });
    const header = await inodeHeader(objects, 0x7c2b25);
    expect(header).toMatchObject({
      name: 'test',
      vdiSize: GiB,
      snapId: 1,
      vdiId: 0x7c2b25,
      nrCopies: 1,
      blockSizeShift: 22,
    });
    expect(vdis.lookup({ name: 'test' })).toEqual({ result: SdRes.SUCCESS, vid: 0x7c2b25 });
    expect(vdis.lookup({ name: 'nope' })).toEqual({ result: SdRes.NO_VDI });
    expect(vdis.inUseBitmap()[0x7c2b25 >> 3]! & (1 << (0x7c2b25 & 7))).not.toBe(0);
  });

  test('creating an existing name answers VDI_EXIST; an empty name INVALID_PARMS', async () => {
    const { vdis } = await open();
    await vdis.newVdi(request({ name: 'test' }));
    expect(await vdis.newVdi(request({ name: 'test' }))).toEqual({ result: SdRes.VDI_EXIST });
    expect(await vdis.newVdi(request({ name: '' }))).toEqual({ result: SdRes.INVALID_PARMS });
  });

  test('a block size shift asked for is kept', async () => {
    const { vdis, objects } = await open();
    const created = await vdis.newVdi(request({ name: 'small', blockSizeShift: 20 }));
    expect((await inodeHeader(objects, (created as { vid: number }).vid)).blockSizeShift).toBe(20);
  });
});

describe('snapshots', () => {
  test('a snapshot keeps the vid and the working VDI moves to hash+1 with snap_id 2 (as sheep)', async () => {
    const { vdis, objects } = await open();
    await vdis.newVdi(request({ name: 'test' }));
    // dog writes the tag into the working inode, then asks for the snapshot.
    await objects.write(vidToVdiOid(0x7c2b25), 256, Buffer.from('snap1\0'));
    await vdis.reloadHeader(0x7c2b25);
    await objects.write(
      vidToVdiOid(0x7c2b25),
      SD_INODE_HEADER_SIZE + 4 * 3,
      Buffer.from([0x25, 0x2b, 0x7c, 0]),
    );
    nowMs += 1000;
    const result = await vdis.newVdi(request({ name: 'test', snapid: 1, baseVid: 0x7c2b25 }));
    expect(result).toEqual({ result: SdRes.SUCCESS, vid: 0x7c2b26, retiredVid: 0x7c2b25 });
    expect(vdis.isSnapshot(0x7c2b25)).toBe(true);
    expect(vdis.isSnapshot(0x7c2b26)).toBe(false);
    const working = await inodeHeader(objects, 0x7c2b26);
    expect(working).toMatchObject({
      name: 'test',
      tag: '',
      snapId: 2,
      parentVdiId: 0x7c2b25,
      vdiId: 0x7c2b26,
    });
    // The data index is inherited, so reads of the working VDI find the snapshot's objects.
    expect(await objects.read(vidToVdiOid(0x7c2b26), SD_INODE_HEADER_SIZE + 12, 4)).toEqual(
      Buffer.from([0x25, 0x2b, 0x7c, 0]),
    );
    expect(vdis.lookup({ name: 'test' })).toEqual({ result: SdRes.SUCCESS, vid: 0x7c2b26 });
    expect(vdis.lookup({ name: 'test', tag: 'snap1' })).toEqual({ result: SdRes.SUCCESS, vid: 0x7c2b25 });
    expect(vdis.lookup({ name: 'test', snapid: 1 })).toEqual({ result: SdRes.SUCCESS, vid: 0x7c2b25 });
    expect(vdis.lookup({ name: 'test', tag: 'nope' })).toEqual({ result: SdRes.NO_TAG });
    expect(vdis.lookup({ name: 'other', tag: 'snap1' })).toEqual({ result: SdRes.NO_VDI });
  });

  test('a snapshot of a name whose working VDI is gone fails with NO_VDI', async () => {
    const { vdis } = await open();
    expect(await vdis.newVdi(request({ name: 'test', snapid: 1, baseVid: 0x7c2b25 }))).toEqual({
      result: SdRes.NO_VDI,
    });
  });

  test('an interrupted snapshot (two working inodes) is repaired at open', async () => {
    const { vdis, objects } = await open();
    await vdis.newVdi(request({ name: 'test' }));
    await vdis.newVdi(request({ name: 'test', snapid: 1, baseVid: 0x7c2b25 }));
    // Undo the second half of the snapshot, as a crash between the two inode writes would.
    await objects.write(vidToVdiOid(0x7c2b25), 520, Buffer.alloc(8));
    const reopened = await open(objects);
    expect(reopened.vdis.isSnapshot(0x7c2b25)).toBe(true);
    expect(reopened.vdis.lookup({ name: 'test' })).toEqual({ result: SdRes.SUCCESS, vid: 0x7c2b26 });
  });
});

describe('clone and delete', () => {
  test('a clone is a new name based on a snapshot', async () => {
    const { vdis, objects } = await open();
    await vdis.newVdi(request({ name: 'test' }));
    await vdis.newVdi(request({ name: 'test', snapid: 1, baseVid: 0x7c2b25 }));
    const clone = await vdis.newVdi(request({ name: 'alice', baseVid: 0x7c2b25, sizeBytes: 0n }));
    expect(clone).toEqual({ result: SdRes.SUCCESS, vid: 0xa03907 });
    expect(await inodeHeader(objects, 0xa03907)).toMatchObject({
      parentVdiId: 0x7c2b25,
      snapId: 1,
      vdiSize: GiB,
    });
  });

  test('delete clears the inode, marks the vid deleted, and frees objects nobody maps', async () => {
    const { vdis, objects } = await open();
    await vdis.newVdi(request({ name: 'vol0' }));
    const vid = 0x83d61e;
    await objects.create(vidToDataOid(vid, 0), { sizeBytes: 4 << 20, data: Buffer.from('x'), offset: 0 });
    expect(await vdis.deleteVdi({ name: 'vol0' })).toEqual({ result: SdRes.SUCCESS, vid });
    expect(vdis.lookup({ name: 'vol0' })).toEqual({ result: SdRes.NO_VDI });
    expect((await inodeHeader(objects, vid)).name).toBe('');
    expect(vdis.deletedBitmap()[vid >> 3]! & (1 << (vid & 7))).not.toBe(0);
    expect(await objects.exists(vidToDataOid(vid, 0))).toBe(false);
    // Re-creating the name takes the next free vid after the deleted one.
    expect(await vdis.newVdi(request({ name: 'vol0' }))).toEqual({ result: SdRes.SUCCESS, vid: vid + 1 });
  });

  test('deleting a snapshot keeps the objects its children still map', async () => {
    const { vdis, objects } = await open();
    await vdis.newVdi(request({ name: 'test' }));
    await objects.create(vidToDataOid(0x7c2b25, 3), {
      sizeBytes: 4 << 20,
      data: Buffer.from('old'),
      offset: 0,
    });
    await objects.write(vidToVdiOid(0x7c2b25), SD_INODE_HEADER_SIZE + 12, Buffer.from([0x25, 0x2b, 0x7c, 0]));
    await objects.write(vidToVdiOid(0x7c2b25), 256, Buffer.from('s1\0'));
    await vdis.reloadHeader(0x7c2b25);
    await vdis.newVdi(request({ name: 'test', snapid: 1, baseVid: 0x7c2b25 }));
    expect(await vdis.deleteVdi({ name: 'test', tag: 's1' })).toEqual({
      result: SdRes.SUCCESS,
      vid: 0x7c2b25,
    });
    expect(await objects.exists(vidToDataOid(0x7c2b25, 3))).toBe(true);
    expect(vdis.lookup({ name: 'test' })).toEqual({ result: SdRes.SUCCESS, vid: 0x7c2b26 });
  });
});
