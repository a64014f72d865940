/**
 * Goal: one SheepdogBackend maps block IO onto a VDI the way protocol doc §6.1 and tgt's
 * bs_sheepdog do: open = LOCK_VDI shared + the refresh read, close = RELEASE_VDI, IO split by the
 * VDI's object size, allocation = CREATE then the partial inode update (acknowledged after
 * both), COW from a parent snapshot, READONLY after a snapshot taken under an open backend,
 * a snapshot racing an allocating write, COLLECTING_CINFO at open, FLUSH_VDI durable on the
 * embedded store and accepted as sheep 1.0 answers it.
 * Method: the real embedded store on the memory network in virtual time (client-world.ts);
 * results are checked through the backend, through dog-like admin reads, and in the store's
 * lock table and the event log.
 */
import { describe, expect, test } from 'vitest';
import { BackendError } from '../../../src/backends/block-backend.js';
import { readVdiBytes } from '../../../src/sheepdog/sheep-admin.js';
import { SD_INODE_DATA_END, SdOp, SdRes } from '../../../src/sheepdog/wire/constants.js';
import { type RequestHeader, responseFor } from '../../../src/sheepdog/wire/header.js';
import {
  clientWorld,
  firstDifference,
  isInodeUpdate,
  MiB,
  OBJECT_BYTES,
  pattern,
  scriptedEndpoint,
} from './client-world.js';

describe('open and close', () => {
  test('open locks the VDI shared and does the exact refresh read; close releases it', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    const backend = await world.open('targetA', 7000);
    expect(backend.sizeBytes).toBe(64 * MiB);
    expect(backend.blockSizeBytes).toBe(512);
    expect(backend.identity).toBe('sheepdog:vol');
    expect(backend.thin).toBe(false);
    expect(backend.vid).toBe(vid);
    expect(backend.inodeState).toBe('shared');
    expect(world.store.locks.view(vid)).toMatchObject({
      state: 'shared',
      participants: [{ node: world.node(7000), state: 'modified' }],
    });
    await world.settle(backend.close());
    expect(world.store.locks.view(vid).state).toBe('unlocked');
    await expect(world.settle(backend.read(0, 512))).rejects.toMatchObject({ kind: 'unavailable' });
  });

  test('a missing VDI, a VDI locked through the same node and an unreachable sheep fail with the fix', async () => {
    const world = await clientWorld();
    await expect(world.open('targetA', 7000, {}, 'nope')).rejects.toThrow(/not found.*create it first/);
    await world.createVdi('vol');
    const first = await world.open('targetA', 7000);
    const second = world.open('targetB', 7000);
    await expect(second).rejects.toThrow(
      /already locked through sheep at store:7000.*dog vdi lock unlock vol/,
    );
    await expect(world.open('targetB', 7999)).rejects.toMatchObject({ kind: 'unavailable' });
    await world.settle(first.close());
  });
});

describe('IO mapping', () => {
  test('writes allocate with CREATE then one inode update; reads come back; unwritten areas are zeros', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    const backend = await world.open('targetA', 7000);
    // 8 KiB across the boundary of objects 1 and 2: two creates, one update of [1..2].
    const offset = 2 * OBJECT_BYTES - 4096;
    const data = pattern(1, offset, 8192);
    await world.settle(backend.write(offset, data));
    expect(await world.settle(backend.read(offset, 8192))).toEqual(data);
    expect(await world.settle(backend.read(0, 4096))).toEqual(Buffer.alloc(4096));
    const sends = world
      .eventsOf('io.transition')
      .filter((e) => e.data.event === 'SEND' && e.data.op === 'write');
    expect(sends.map((e) => e.data.creates)).toEqual([2]);
    // Seen through dog: the inode maps objects 1 and 2 to our vid, and the bytes are there.
    const viaDog = await world.settle(readVdiBytes(world.admin, { name: 'vol', offset, lengthBytes: 8192 }));
    expect(viaDog).toEqual(data);
    expect(world.store.locks.view(vid).participants[0]?.state).toBe('modified');
    // A second write into the same objects is a plain WRITE_OBJ (no creates, no inode update).
    await world.settle(backend.write(offset + 512, pattern(2, offset + 512, 512)));
    const later = world
      .eventsOf('io.transition')
      .filter((e) => e.data.event === 'SEND' && e.data.op === 'write');
    expect(later.map((e) => e.data.creates)).toEqual([2, 0]);
    await world.settle(backend.close());
  });

  test('the object size comes from the inode (block_size_shift 20: 1 MiB objects)', async () => {
    const world = await clientWorld();
    const { newVdi } = await import('../../../src/sheepdog/sheep-admin.js');
    await world.settle(newVdi(world.admin, { name: 'small', sizeBytes: 8 * MiB, blockSizeShift: 20 }));
    const backend = await world.open('targetA', 7000, {}, 'small');
    const data = pattern(3, MiB - 512, 1024);
    await world.settle(backend.write(MiB - 512, data));
    const sends = world
      .eventsOf('io.transition')
      .filter((e) => e.data.event === 'SEND' && e.data.op === 'write');
    expect(sends.map((e) => e.data.creates)).toEqual([2]);
    expect(await world.settle(backend.read(MiB - 512, 1024))).toEqual(data);
    expect(await world.settle(backend.mapStatus(0, 4 * MiB))).toEqual([
      { offsetBytes: 0, lengthBytes: 2 * MiB, mapped: true },
      { offsetBytes: 2 * MiB, lengthBytes: 2 * MiB, mapped: false },
    ]);
    await world.settle(backend.close());
  });
});

describe('snapshots', () => {
  test('COW from a parent snapshot: the new object has the write over the parent data; the snapshot keeps its data', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const before = pattern(10, 0, OBJECT_BYTES);
    const writer = await world.open('targetA', 7000);
    await world.settle(writer.write(0, before));
    await world.settle(writer.close());
    const { snapshotVid, workingVid } = await world.snapshot('vol', 'snap1');

    const backend = await world.open('targetA', 7000);
    expect(backend.vid).toBe(workingVid);
    const update = pattern(11, 4096, 1024);
    await world.settle(backend.write(4096, update));
    const sends = world
      .eventsOf('io.transition')
      .filter((e) => e.data.event === 'SEND' && e.data.op === 'write');
    expect(sends.at(-1)?.data).toMatchObject({ creates: 1, vid: workingVid });
    const expected = Buffer.from(before);
    update.copy(expected, 4096);
    expect(firstDifference(await world.settle(backend.read(0, OBJECT_BYTES)), expected)).toBe(-1);
    const snapshotBytes = await world.settle(
      readVdiBytes(world.admin, { name: 'vol', tag: 'snap1', offset: 0, lengthBytes: OBJECT_BYTES }),
    );
    expect(firstDifference(snapshotBytes, before)).toBe(-1);
    expect(snapshotVid).not.toBe(workingVid);
    await world.settle(backend.close());
  });

  test('READONLY after a snapshot taken under an open backend: it re-resolves the working VDI and COWs', async () => {
    const world = await clientWorld({ sheep10: true });
    await world.createVdi('vol', 64 * MiB);
    const backend = await world.open('targetA', 7000);
    const first = pattern(20, 0, 8192);
    await world.settle(backend.write(0, first));
    const { snapshotVid, workingVid } = await world.snapshot('vol', 'under');
    expect(backend.vid).toBe(snapshotVid);

    // Our own object now belongs to a snapshot: WRITE_OBJ gets READONLY, we re-resolve by name.
    const second = pattern(21, 512, 512);
    await world.settle(backend.write(512, second));
    expect(backend.vid).toBe(workingVid);
    const results = world.eventsOf('io.transition').filter((e) => e.data.event === 'RESULT');
    expect(results.some((e) => e.data.outcome === 'readonly' && e.data.code === SdRes.READONLY)).toBe(true);
    const expected = Buffer.from(first);
    second.copy(expected, 512);
    expect(await world.settle(backend.read(0, 8192))).toEqual(expected);
    const snapshotBytes = await world.settle(
      readVdiBytes(world.admin, { name: 'vol', tag: 'under', offset: 0, lengthBytes: 8192 }),
    );
    expect(snapshotBytes).toEqual(first);
    // Both vids were locked; close releases both.
    expect(world.store.locks.view(workingVid).state).toBe('shared');
    await world.settle(backend.close());
    expect(world.store.locks.view(snapshotVid).state).toBe('unlocked');
    expect(world.store.locks.view(workingVid).state).toBe('unlocked');
  });

  test('a read after a snapshot taken under us notices it through the probe (unallocated area)', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const backend = await world.open('targetA', 7000);
    const { workingVid } = await world.snapshot('vol', 's');
    expect(await world.settle(backend.read(OBJECT_BYTES, 512))).toEqual(Buffer.alloc(512));
    expect(backend.vid).toBe(workingVid);
    await world.settle(backend.close());
  });
});

describe('snapshot races', () => {
  test('a snapshot between our create and our inode update: the write is redone in the new working VDI', async () => {
    const world = await clientWorld({ sheep10: true });
    await world.createVdi('vol', 64 * MiB);
    let armed = true;
    await scriptedEndpoint(world, 7002, {
      answer: async (request, payload, node) => {
        if (armed && isInodeUpdate(request)) {
          armed = false;
          // Sheep takes inode writes into a snapshot's inode: this update will land in the
          // snapshot, and the new working VDI's data_vdi_id (copied just now) will not have it.
          await world.snapshot('vol', 'race');
        }
        return world.store.server.handle(request, payload, node);
      },
    });
    const backend = await world.open('targetA', 7002);
    const offset = 6 * OBJECT_BYTES;
    const data = pattern(0x66, offset, 4096);
    await world.settle(backend.write(offset, data));
    const results = world.eventsOf('io.transition').filter((e) => e.data.event === 'RESULT');
    expect(results.map((e) => e.data.outcome)).toEqual(['ok', 'readonly', 'ok', 'ok']);
    const viaDog = await world.settle(readVdiBytes(world.admin, { name: 'vol', offset, lengthBytes: 4096 }));
    expect(viaDog).toEqual(data);
    expect(await world.settle(backend.read(offset, 4096))).toEqual(data);
    await world.settle(backend.close());
  });

  test('COLLECTING_CINFO from a node that just joined is waited out at open', async () => {
    const world = await clientWorld();
    await world.createVdi('vol');
    let refusals = 2;
    await scriptedEndpoint(world, 7002, {
      answer: async (request, payload, node) => {
        if (request.opcode === SdOp.LOCK_VDI && refusals > 0) {
          refusals -= 1;
          return { header: responseFor(request, SdRes.COLLECTING_CINFO, { epoch: 1 }) };
        }
        return world.store.server.handle(request, payload, node);
      },
    });
    const backend = await world.open('targetA', 7002);
    expect(world.eventsOf('inode.lock_retried').map((e) => e.data.retryInMs)).toEqual([100, 200]);
    await world.settle(backend.close());
  });
});

describe('flush', () => {
  test('FLUSH_VDI: the embedded store answers SUCCESS; sheep 1.0 answers INVALID_PARMS, which also counts', async () => {
    const world = await clientWorld();
    await world.createVdi('vol');
    const backend = await world.open('targetA', 7000);
    await world.settle(backend.write(0, pattern(1, 0, 512), { fua: true }));
    await world.settle(backend.flush());
    const flushed = world.eventsOf('backend.flushed').map((e) => e.data.result);
    expect(flushed).toEqual([SdRes.SUCCESS, SdRes.SUCCESS]);
    await world.settle(backend.close());

    // A sheep 1.0 node: FLUSH_VDI is obsolete there and always INVALID_PARMS.
    await scriptedEndpoint(world, 7002, {
      answer: async (request, payload, node) =>
        request.opcode === SdOp.FLUSH_VDI
          ? { header: responseFor(request, SdRes.INVALID_PARMS, { epoch: 1 }) }
          : world.store.server.handle(request, payload, node),
    });
    const old = await world.open('targetB', 7002);
    await world.settle(old.flush());
    expect(world.eventsOf('backend.flushed').at(-1)?.data.result).toBe(SdRes.INVALID_PARMS);
    await world.settle(old.close());
  });

  test('FLUSH_VDI answered with another error fails with a medium error naming the VDI', async () => {
    const world = await clientWorld();
    await world.createVdi('vol');
    await scriptedEndpoint(world, 7002, {
      answer: async (request, payload, node) =>
        request.opcode === SdOp.FLUSH_VDI
          ? { header: responseFor(request, SdRes.EIO, { epoch: 1 }) }
          : world.store.server.handle(request, payload, node),
    });
    const backend = await world.open('targetA', 7002);
    const failure = world.settle(backend.flush());
    await expect(failure).rejects.toBeInstanceOf(BackendError);
    await expect(failure).rejects.toThrow(/flush of VDI "vol".*EIO/);
    await world.settle(backend.close());
  });
});

describe('wire details', () => {
  test('every object request is TGT-flagged proto_ver 1; the open asks COLLIE_FEATURES, LOCKs with its client id, does the 4,198,968-byte refresh read', async () => {
    const world = await clientWorld();
    await world.createVdi('vol');
    const seen: RequestHeader[] = [];
    await scriptedEndpoint(world, 7002, {
      answer: (request, payload, node) => {
        seen.push(request);
        return world.store.server.handle(request, payload, node);
      },
    });
    const backend = await world.open('targetA', 7002);
    await world.settle(backend.write(0, pattern(1, 0, 1024)));
    await world.settle(backend.read(0, 1024));
    await world.settle(backend.close());
    const publicOps = seen.filter((request) => request.opcode < 0x80);
    expect(publicOps.every((request) => request.protoVer === 1)).toBe(true);
    const objectOps = new Set<number>([SdOp.READ_OBJ, SdOp.WRITE_OBJ, SdOp.CREATE_AND_WRITE_OBJ]);
    expect(seen.filter((r) => objectOps.has(r.opcode)).every((r) => (r.flags & 0x20) !== 0)).toBe(true);
    expect(seen[0]).toMatchObject({ opcode: SdOp.COLLIE_FEATURES, protoVer: 0x0a, dataLength: 8 });
    expect(seen[1]?.opcode).toBe(SdOp.LOCK_VDI);
    expect(seen[2]).toMatchObject({ opcode: SdOp.READ_OBJ, dataLength: SD_INODE_DATA_END });
    expect(seen.at(-1)?.opcode).toBe(SdOp.RELEASE_VDI);
    // The client id rides in vdi_size of LOCK and RELEASE: the same non-zero value in both.
    const lockId = seen[1]?.args.kind === 'vdi' ? seen[1].args.vdiSize : 0n;
    const releaseId = seen.at(-1)?.args.kind === 'vdi' ? seen.at(-1)?.args : undefined;
    expect(lockId).not.toBe(0n);
    expect(releaseId).toMatchObject({ vdiSize: lockId });
    const create = seen.find((r) => r.opcode === SdOp.CREATE_AND_WRITE_OBJ);
    expect(create?.flags).toBe(0x25);
  });
});
