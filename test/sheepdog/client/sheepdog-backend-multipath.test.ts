/**
 * Goal: two targets exporting one VDI through two sheep nodes (multipath) never serve stale
 * data and never clobber each other's allocations: the coherence protocol of protocol doc §8 as
 * the client must run it, including the gaps tgt leaves (unallocated-area reads, reads of areas
 * a parent snapshot owns, §8.3 "Important gap"), and the one left open by default (a snapshot
 * taken under both targets; probeEveryRead closes it).
 * Method: backends A (host targetA, store node 7000) and B (targetB, node 7001) on the real
 * embedded store in virtual time. Scenarios follow §8.5; each checks the data returned and the
 * event log (which request got INODE_INVALIDATED, how many reloads ran). Where a moment must be
 * forced (an invalidation between B's create and B's inode update), B talks to a scripted store
 * node that runs the store's own handler and flips the lock table just before that request.
 */
import { describe, expect, test } from 'vitest';
import { BackendError } from '../../../src/backends/block-backend.js';
import { readInode, readVdiBytes } from '../../../src/sheepdog/sheep-admin.js';
import { SD_INODE_DATA_END, SdFlag, SdOp, SdRes } from '../../../src/sheepdog/wire/constants.js';
import { objRequest, responseFor } from '../../../src/sheepdog/wire/header.js';
import { readDataVdiId } from '../../../src/sheepdog/wire/inode.js';
import { vidToDataOid } from '../../../src/sheepdog/wire/oid.js';
import {
  type ClientWorld,
  clientWorld,
  firstDifference,
  isInodeUpdate,
  isTgtObjectIo,
  MiB,
  OBJECT_BYTES,
  pattern,
  scriptedEndpoint,
} from './client-world.js';

const B = 'sheepdog/vol@store:7001';

function resultsOf(world: ClientWorld, actor: string) {
  return world
    .eventsOf('io.transition', `${actor}/io`)
    .filter((event) => event.data.event === 'RESULT')
    .map((event) => event.data);
}

function reloadsOf(world: ClientWorld, actor: string) {
  return world
    .eventsOf('inode.transition', `${actor}/inode`)
    .filter((event) => event.data.event === 'RELOAD_NEEDED')
    .map((event) => event.data.reason);
}

async function pair(world: ClientWorld) {
  const vid = await world.createVdi('vol', 64 * MiB);
  const a = await world.open('targetA', 7000);
  const b = await world.open('targetB', 7001);
  return { vid, a, b };
}

describe('stale reads are impossible', () => {
  test('unallocated-area read: A writes a new area, B (cache says unallocated) reads A data', async () => {
    const world = await clientWorld();
    const { vid, a, b } = await pair(world);
    expect(world.store.locks.view(vid).participants.map((p) => p.state)).toEqual(['shared', 'shared']);
    const offset = 10 * OBJECT_BYTES;
    const data = pattern(0xab, offset, 4096);
    await world.settle(a.write(offset, data));
    expect(world.store.locks.participantState(vid, world.node(7001))).toBe('invalidated');

    expect(await world.settle(b.read(offset, 4096))).toEqual(data);
    expect(resultsOf(world, B)).toEqual([
      expect.objectContaining({
        outcome: 'invalidated',
        answeredBy: `the coherence probe of vid 0x${vid.toString(16)}`,
      }),
      expect.objectContaining({ outcome: 'ok' }),
    ]);
    expect(reloadsOf(world, B)).toEqual(['invalidated']);
    expect(world.store.locks.participantState(vid, world.node(7001))).toBe('shared');
  });

  test('parent-snapshot gap: A copies-on-write an area both see as parent-owned; B reads A new data', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const writer = await world.open('targetA', 7000);
    const parentData = pattern(0x11, 3 * OBJECT_BYTES, 8192);
    await world.settle(writer.write(3 * OBJECT_BYTES, parentData));
    await world.settle(writer.close());
    const { snapshotVid, workingVid } = await world.snapshot('vol', 'base');
    const a = await world.open('targetA', 7000);
    const b = await world.open('targetB', 7001);
    // B reads once: the parent's data, and B's cache says the parent owns object 3.
    expect(await world.settle(b.read(3 * OBJECT_BYTES, 8192))).toEqual(parentData);

    const newData = pattern(0x22, 3 * OBJECT_BYTES, 4096);
    await world.settle(a.write(3 * OBJECT_BYTES, newData));
    // Sheep alone would not stop B: a TGT read of the parent's object is checked against the
    // parent vid, which nobody share-locks, so it succeeds with the old bytes.
    const raw = await world.settle(
      (await world.connect('targetB', 7001)).request(
        objRequest({
          opcode: SdOp.READ_OBJ,
          flags: SdFlag.TGT,
          oid: vidToDataOid(snapshotVid, 3),
          dataLength: 4096,
        }),
      ),
    );
    expect(raw.header.result).toBe(SdRes.SUCCESS);
    expect(raw.payload).toEqual(parentData.subarray(0, 4096));

    // The backend's probe catches it: B reloads and reads A's object.
    const seen = await world.settle(b.read(3 * OBJECT_BYTES, 8192));
    expect(seen.subarray(0, 4096)).toEqual(newData);
    expect(seen.subarray(4096)).toEqual(parentData.subarray(4096));
    expect(b.vid).toBe(workingVid);
    expect(reloadsOf(world, B)).toEqual(['invalidated']);
    await world.settle(Promise.all([a.close(), b.close()]));
  });
});

describe('a snapshot taken under both targets', () => {
  async function snapshotThenBWrites(world: ClientWorld, probeEveryRead: boolean) {
    await world.createVdi('vol', 64 * MiB);
    const a = await world.open('targetA', 7000, { probeEveryRead });
    const b = await world.open('targetB', 7001);
    const before = pattern(0x31, OBJECT_BYTES, 4096);
    await world.settle(a.write(OBJECT_BYTES, before));
    expect(await world.settle(b.read(OBJECT_BYTES, 4096))).toEqual(before);
    const { workingVid } = await world.snapshot('vol', 'both');
    // B's WRITE_OBJ gets READONLY; B moves to the new working VDI and copies-on-write there.
    const after = pattern(0x32, OBJECT_BYTES, 4096);
    await world.settle(b.write(OBJECT_BYTES, after));
    expect(b.vid).toBe(workingVid);
    return { a, before, after, workingVid };
  }

  test('on sheep 1.0, a read of an object we owned before the snapshot is not checked (the gap)', async () => {
    const world = await clientWorld({ sheep10: true });
    const { a, before } = await snapshotThenBWrites(world, false);
    expect(await world.settle(a.read(OBJECT_BYTES, 4096))).toEqual(before);
  });

  test("Collie's store closes it: the snapshot invalidates A, which reloads and reads B data", async () => {
    const world = await clientWorld();
    const { a, after, workingVid } = await snapshotThenBWrites(world, false);
    expect(await world.settle(a.read(OBJECT_BYTES, 4096))).toEqual(after);
    expect(a.vid).toBe(workingVid);
  });

  test('on sheep 1.0, probeEveryRead closes it: the probe sees snap_ctime, A re-resolves and reads B data', async () => {
    const world = await clientWorld({ sheep10: true });
    const { a, after, workingVid } = await snapshotThenBWrites(world, true);
    expect(await world.settle(a.read(OBJECT_BYTES, 4096))).toEqual(after);
    expect(a.vid).toBe(workingVid);
  });
});

describe('no clobbered allocation', () => {
  test('A writes a new object and dies; B writes first into it: WRITE_OBJ after a reload, A data kept', async () => {
    const world = await clientWorld();
    const { vid, a, b } = await pair(world);
    const offset = 5 * OBJECT_BYTES;
    const aData = pattern(0xa5, offset, OBJECT_BYTES);
    await world.settle(a.write(offset, aData));
    // A's target dies: its connections drop; its node stays a participant (sheep releases nothing).
    world.network.crashHost('targetA');
    void a;

    const bData = pattern(0xb5, offset + 8192, 4096);
    await world.settle(b.write(offset + 8192, bData));
    const results = resultsOf(world, B);
    expect(results[0]).toMatchObject({
      outcome: 'invalidated',
      answeredBy: 'CREATE_AND_WRITE_OBJ of object 5',
    });
    const sends = world.eventsOf('io.transition', `${B}/io`).filter((e) => e.data.event === 'SEND');
    expect(sends.map((e) => e.data.creates)).toEqual([1, 0]);

    const expected = Buffer.from(aData);
    bData.copy(expected, 8192);
    const viaDog = await world.settle(
      readVdiBytes(world.admin, { name: 'vol', offset, lengthBytes: OBJECT_BYTES }),
    );
    expect(firstDifference(viaDog, expected)).toBe(-1);
    expect(firstDifference(await world.settle(b.read(offset, OBJECT_BYTES)), expected)).toBe(-1);
    expect(world.store.locks.view(vid).participants.length).toBe(2);
  });

  test('A and B allocate disjoint objects concurrently: every allocation survives in the inode', async () => {
    const world = await clientWorld();
    const { vid, a, b } = await pair(world);
    const writes: Promise<void>[] = [];
    const expected = new Map<number, Buffer>();
    for (let idx = 0; idx < 12; idx++) {
      const offset = idx * OBJECT_BYTES + 512 * idx;
      const data = pattern(idx + 1, offset, 1024);
      expected.set(offset, data);
      writes.push((idx % 2 === 0 ? a : b).write(offset, data));
    }
    await world.settle(Promise.all(writes));
    // dog's full inode read (12,587,576 bytes): unlike the 4,198,968-byte refresh read it does not
    // validate node 7000, which would hide a stale cache of A's (participants are nodes).
    const inode = await world.settle(readInode(world.admin, vid));
    for (let idx = 0; idx < 12; idx++) expect(readDataVdiId(inode.bytes, idx)).toBe(vid);
    for (const [offset, data] of expected) {
      expect(await world.settle(a.read(offset, data.length))).toEqual(data);
      expect(await world.settle(b.read(offset, data.length))).toEqual(data);
    }
  });
});

describe('INODE_INVALIDATED on each request type triggers one reload and a correct retry', () => {
  /** B owns object 1; then A allocates object 2, which invalidates B. */
  async function bInvalidatedOwningObject1(world: ClientWorld) {
    const { vid, a, b } = await pair(world);
    const owned = pattern(0x01, OBJECT_BYTES, 4096);
    await world.settle(b.write(OBJECT_BYTES, owned));
    await world.settle(a.write(2 * OBJECT_BYTES, pattern(0x02, 2 * OBJECT_BYTES, 4096)));
    expect(world.store.locks.participantState(vid, world.node(7001))).toBe('invalidated');
    return { vid, a, b, owned, resultsBefore: resultsOf(world, B).length };
  }

  test('data read (READ_OBJ of our own object)', async () => {
    const world = await clientWorld();
    const { b, owned, resultsBefore } = await bInvalidatedOwningObject1(world);
    expect(await world.settle(b.read(OBJECT_BYTES, 4096))).toEqual(owned);
    expect(resultsOf(world, B).slice(resultsBefore)).toEqual([
      expect.objectContaining({ outcome: 'invalidated', answeredBy: 'READ_OBJ of object 1' }),
      expect.objectContaining({ outcome: 'ok' }),
    ]);
  });

  test('data write (WRITE_OBJ into our own object)', async () => {
    const world = await clientWorld();
    const { b, resultsBefore } = await bInvalidatedOwningObject1(world);
    const data = pattern(0x03, OBJECT_BYTES + 512, 512);
    await world.settle(b.write(OBJECT_BYTES + 512, data));
    expect(resultsOf(world, B).slice(resultsBefore)).toEqual([
      expect.objectContaining({ outcome: 'invalidated', answeredBy: 'WRITE_OBJ of object 1' }),
      expect.objectContaining({ outcome: 'ok' }),
    ]);
    expect(await world.settle(b.read(OBJECT_BYTES + 512, 512))).toEqual(data);
  });

  test('create (CREATE_AND_WRITE_OBJ of an unallocated object)', async () => {
    const world = await clientWorld();
    const { a, b, resultsBefore } = await bInvalidatedOwningObject1(world);
    const data = pattern(0x04, 7 * OBJECT_BYTES, 512);
    await world.settle(b.write(7 * OBJECT_BYTES, data));
    expect(resultsOf(world, B).slice(resultsBefore)).toEqual([
      expect.objectContaining({ outcome: 'invalidated', answeredBy: 'CREATE_AND_WRITE_OBJ of object 7' }),
      expect.objectContaining({ outcome: 'ok' }),
      expect.objectContaining({ outcome: 'ok' }),
    ]);
    expect(await world.settle(a.read(7 * OBJECT_BYTES, 512))).toEqual(data);
  });

  test('inode update (another target allocated between our create and our inode update)', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    await world.open('targetA', 7000);
    let armed = true;
    await scriptedEndpoint(world, 7002, {
      answer: (request, payload, node) => {
        if (armed && isInodeUpdate(request)) {
          armed = false;
          // What A's inode update through node 7000 would do at this moment.
          expect(world.store.locks.invalidateOthers(vid, world.node(7000))).toBe(true);
        }
        return world.store.server.handle(request, payload, node);
      },
    });
    const b = await world.open('targetB', 7002);
    const data = pattern(0x05, 9 * OBJECT_BYTES, 2048);
    await world.settle(b.write(9 * OBJECT_BYTES, data));
    expect(resultsOf(world, 'sheepdog/vol@store:7002')).toEqual([
      expect.objectContaining({ outcome: 'ok' }),
      expect.objectContaining({
        outcome: 'invalidated',
        answeredBy: `the inode update of data_vdi_id[9..9] of vid 0x${vid.toString(16)}`,
      }),
      expect.objectContaining({ outcome: 'ok' }),
      expect.objectContaining({ outcome: 'ok' }),
    ]);
    const viaDog = await world.settle(
      readVdiBytes(world.admin, { name: 'vol', offset: 9 * OBJECT_BYTES, lengthBytes: 2048 }),
    );
    expect(viaDog).toEqual(data);
  });

  test('N concurrent requests that hit INODE_INVALIDATED cause one reload, not N', async () => {
    const world = await clientWorld();
    const { b } = await bInvalidatedOwningObject1(world);
    const reloadsBefore = reloadsOf(world, B).length;
    const reads = Array.from({ length: 6 }, (_, i) => b.read(OBJECT_BYTES + 512 * i, 512));
    await world.settle(Promise.all(reads));
    expect(reloadsOf(world, B).length - reloadsBefore).toBe(1);
    const invalidated = resultsOf(world, B).filter((r) => r.outcome === 'invalidated');
    expect(invalidated.length).toBeGreaterThanOrEqual(6);
  });
});

describe('bounded retries', () => {
  test('a sheep that keeps answering INODE_INVALIDATED ends in retries-exhausted after 8 reloads', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    let refreshReads = 0;
    await scriptedEndpoint(world, 7002, {
      answer: async (request, payload, node) => {
        const refresh = request.opcode === SdOp.READ_OBJ && request.dataLength === SD_INODE_DATA_END;
        if (refresh) refreshReads += 1;
        if (isTgtObjectIo(request) && !refresh) {
          return { header: responseFor(request, SdRes.INODE_INVALIDATED, { epoch: 1 }) };
        }
        return world.store.server.handle(request, payload, node);
      },
    });
    const b = await world.open('targetB', 7002);
    const failure = world.settle(b.write(0, pattern(1, 0, 512)));
    await expect(failure).rejects.toBeInstanceOf(BackendError);
    await expect(failure).rejects.toMatchObject({ kind: 'retries-exhausted' });
    await expect(failure).rejects.toThrow(/VDI "vol".*gave up after 8 inode reloads.*INODE_INVALIDATED/);
    expect(refreshReads).toBe(1 + 8);
    expect(b.inodeState).toBe('shared');
  });
});
