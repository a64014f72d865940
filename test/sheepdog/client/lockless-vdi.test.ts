/**
 * Goal: the lock-less client (`collie vdi read/write`, the simulator's outside writer) runs on
 * the target's own planner and never acts on a target's participant: no LOCK/RELEASE, no TGT
 * flag, no refresh read (4,198,968 bytes at 0), no probe; its inode updates invalidate every
 * target on Collie's store, which then read its data; snapshots are read by tag or id at any
 * byte offset; a snapshot taken under a lock-less writer is followed (READONLY, re-resolve,
 * COW); ranges stream in and out in order; and lockless-write-guard.ts refuses a write that
 * would leave lock holders stale (targets on sheep 1.0, a normal lock anywhere).
 * Method: the real embedded store on the memory network in virtual time (client-world.ts); a
 * scripted node records every request with the host that sent it; sheep 1.0 is emulated by
 * sheep10Answer (COLLIE_FEATURES unknown, client ids ignored).
 */
import { describe, expect, test } from 'vitest';
import { BackendError } from '../../../src/backends/block-backend.js';
import { silentLogger } from '../../../src/core/logger.js';
import { createRng } from '../../../src/core/rng.js';
import { SheepdogBackend } from '../../../src/sheepdog/client/sheepdog-backend.js';
import { streamRead, streamWrite } from '../../../src/sheepdog/client/vdi-stream.js';
import { checkLocklessWrite } from '../../../src/sheepdog/lockless-write-guard.js';
import { lockVdi, readVdiBytes, SheepAdminError } from '../../../src/sheepdog/sheep-admin.js';
import { SheepConnection } from '../../../src/sheepdog/sheep-connection.js';
import { LockType, SD_INODE_DATA_END, SdFlag, SdOp } from '../../../src/sheepdog/wire/constants.js';
import type { RequestHeader } from '../../../src/sheepdog/wire/header.js';
import { isVdiOid } from '../../../src/sheepdog/wire/oid.js';
import {
  type ClientWorld,
  clientHostOf,
  clientWorld,
  firstDifference,
  isInodeUpdate,
  MiB,
  OBJECT_BYTES,
  pattern,
  scriptedEndpoint,
  sheep10Answer,
} from './client-world.js';

function connectTo(world: ClientWorld, host: string, port: number): Promise<SheepConnection> {
  return SheepConnection.open(world.network.transport('admin'), { host, port }, { clock: world.clock });
}

/** A target (backend) on a node that listens on `host`. */
function openAt(world: ClientWorld, client: string, host: string, port: number): Promise<SheepdogBackend> {
  return SheepdogBackend.open({
    transport: world.network.transport(client),
    endpoint: { host, port },
    vdiName: 'vol',
    clock: world.clock,
    rng: createRng(`backend/${client}`),
    eventLog: world.eventLog,
    logger: silentLogger,
  });
}

/** Arbitrary bytes (not block-aligned patterns): byte i is (seed + 13 i) mod 251. */
function bytes(lengthBytes: number, seed: number): Buffer {
  const out = Buffer.alloc(lengthBytes);
  for (let i = 0; i < lengthBytes; i++) out[i] = (seed + 13 * i) % 251;
  return out;
}

describe('the lock-less client and the targets', () => {
  test('a lock-less write through a target node sends no TGT flag, no refresh read, no lock; every target reloads and reads it', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    const seen: Array<{ host: string | undefined; request: RequestHeader }> = [];
    await scriptedEndpoint(world, 7002, {
      answer: (request, payload, node, streamId) => {
        seen.push({ host: clientHostOf(world, streamId), request });
        return world.store.server.handle(request, payload, node);
      },
    });
    const a = await world.open('targetA', 7002);
    const b = await world.open('targetB', 7000);
    const offset = 5 * OBJECT_BYTES - 700; // straddles objects 4 and 5, neither allocated
    expect(await world.settle(a.read(4 * OBJECT_BYTES, 4096))).toEqual(Buffer.alloc(4096));
    expect(await world.settle(b.read(4 * OBJECT_BYTES, 4096))).toEqual(Buffer.alloc(4096));

    const writer = await world.openLockless('writer', 7002);
    const data = bytes(1400, 7);
    await world.settle(writer.write(offset, data));
    await world.settle(writer.close());

    const fromWriter = seen.filter((entry) => entry.host === 'writer').map((entry) => entry.request);
    expect(fromWriter.length).toBeGreaterThan(0);
    expect(fromWriter.every((request) => (request.flags & SdFlag.TGT) === 0)).toBe(true);
    const refresh = (r: RequestHeader) =>
      r.opcode === SdOp.READ_OBJ &&
      r.args.kind === 'obj' &&
      isVdiOid(r.args.oid) &&
      r.args.offset === 0 &&
      r.dataLength === SD_INODE_DATA_END;
    expect(fromWriter.some(refresh)).toBe(false);
    const locking = new Set<number>([SdOp.LOCK_VDI, SdOp.RELEASE_VDI]);
    expect(fromWriter.some((request) => locking.has(request.opcode))).toBe(false);
    expect(fromWriter.filter(isInodeUpdate)).toHaveLength(1);
    // The outside writer's inode update invalidated both targets, the one on its node too.
    expect(world.store.locks.participantState(vid, world.node(7002))).toBe('invalidated');
    expect(world.store.locks.participantState(vid, world.node(7000))).toBe('invalidated');

    const around = Buffer.alloc(8192);
    data.copy(around, 4096 - 700);
    const from = 5 * OBJECT_BYTES - 4096;
    expect(await world.settle(a.read(from, 8192))).toEqual(around);
    expect(await world.settle(b.read(from, 8192))).toEqual(around);
    await world.settle(Promise.all([a.close(), b.close()]));
  });

  test('lock-less reads: snapshots by tag and by id, any byte offset, no probe', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const target = await world.open('targetA', 7000);
    const before = pattern(1, 0, 2 * OBJECT_BYTES);
    await world.settle(target.write(0, before));
    await world.settle(target.close());
    await world.snapshot('vol', 'snap1');
    const after = pattern(2, OBJECT_BYTES - 4096, 8192);
    const writer = await world.openLockless('writer', 7000);
    await world.settle(writer.write(OBJECT_BYTES - 4096, after));
    await world.settle(writer.close());

    const offset = OBJECT_BYTES - 777;
    const length = 1555;
    const byTag = await world.openLockless('reader', 7000, { snapshot: { tag: 'snap1' } });
    expect(await world.settle(byTag.read(offset, length))).toEqual(before.subarray(offset, offset + length));
    await expect(world.settle(byTag.write(0, Buffer.alloc(1)))).rejects.toMatchObject({ kind: 'read-only' });
    await world.settle(byTag.close());
    const byId = await world.openLockless('reader', 7000, { snapshot: { snapid: 1 } });
    expect(await world.settle(byId.read(offset, length))).toEqual(before.subarray(offset, offset + length));
    await world.settle(byId.close());

    const working = await world.openLockless('reader', 7000);
    const expected = Buffer.from(before);
    after.copy(expected, OBJECT_BYTES - 4096);
    expect(await world.settle(working.read(offset, length))).toEqual(
      expected.subarray(offset, offset + length),
    );
    // An unallocated area: zeros without any request but the open's (no probe).
    expect(await world.settle(working.read(9 * OBJECT_BYTES + 3, 10))).toEqual(Buffer.alloc(10));
    await world.settle(working.close());
    const reads = world.eventsOf('io.transition', 'sheepdog-lockless/').filter((e) => e.data.op === 'read');
    expect(reads.length).toBeGreaterThan(0);
    // No read was ever answered INODE_INVALIDATED or READONLY: nothing to reload.
    expect(reads.every((e) => e.data.event !== 'RESULT' || e.data.outcome === 'ok')).toBe(true);
  });

  test('a snapshot taken under a lock-less writer: READONLY, re-resolve by name, COW into the new working VDI', async () => {
    const world = await clientWorld();
    const vid = await world.createVdi('vol', 64 * MiB);
    const writer = await world.openLockless('writer', 7000);
    const first = bytes(8192, 1);
    await world.settle(writer.write(100, first));
    expect(writer.vid).toBe(vid);
    const { workingVid } = await world.snapshot('vol', 'snap1');
    const second = bytes(3000, 2);
    await world.settle(writer.write(5000, second));
    expect(writer.vid).toBe(workingVid);
    await world.settle(writer.close());
    const outcomes = world
      .eventsOf('io.transition', 'sheepdog-lockless/')
      .filter((e) => e.data.event === 'RESULT')
      .map((e) => e.data.outcome);
    expect(outcomes).toContain('readonly');

    const old = await world.settle(
      readVdiBytes(world.admin, { name: 'vol', tag: 'snap1', offset: 100, lengthBytes: 8192 }),
    );
    expect(old).toEqual(first);
    const now = await world.settle(
      readVdiBytes(world.admin, { name: 'vol', offset: 100, lengthBytes: 8192 }),
    );
    const expected = Buffer.from(first);
    second.copy(expected, 4900);
    expect(firstDifference(now, expected)).toBe(-1);
  });

  test('reads see what was acknowledged before the inode load; refresh() loads it again', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const reader = await world.openLockless('reader', 7001);
    const target = await world.open('targetA', 7000);
    const data = pattern(3, 2 * OBJECT_BYTES, 4096);
    await world.settle(target.write(2 * OBJECT_BYTES, data));
    // Acknowledged after the reader loaded the inode: a read may still be older (no probe).
    expect(await world.settle(reader.read(2 * OBJECT_BYTES, 4096))).toEqual(Buffer.alloc(4096));
    await world.settle(reader.refresh());
    expect(await world.settle(reader.read(2 * OBJECT_BYTES, 4096))).toEqual(data);
    await world.settle(Promise.all([reader.close(), target.close()]));
  });

  test('ranges stream in from odd-sized chunks and out in order, across objects, at an unaligned offset', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const vdi = await world.openLockless('writer', 7000);
    const offset = 3 * MiB + 123;
    const data = bytes(13 * MiB + 777, 9);
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let at = 0; at < data.length; at += 65_537)
        yield data.subarray(at, Math.min(data.length, at + 65_537));
    }
    const written = await world.settle(
      streamWrite(vdi, { offsetBytes: offset, lengthBytes: 64 * MiB - offset, source: chunks() }),
    );
    expect(written).toBe(data.length);
    const pieces: Buffer[] = [];
    const read = await world.settle(
      streamRead(vdi, {
        offsetBytes: offset,
        lengthBytes: data.length,
        onData: (chunk) => void pieces.push(chunk),
      }),
    );
    expect(read).toBe(data.length);
    expect(pieces.every((piece) => piece.length <= 4 * MiB)).toBe(true);
    expect(firstDifference(Buffer.concat(pieces), data)).toBe(-1);
    await world.settle(vdi.close());
  });
});

describe('lockless-write-guard: may a lock-less write go ahead?', () => {
  // GET_VDI_COPIES names nodes by IP address, so these nodes listen on 127.0.0.1.
  const IP = '127.0.0.1';

  test('targets hold the VDI: allowed on Collie store (it invalidates them), refused on sheep 1.0 with the fix', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    await scriptedEndpoint(world, 7002, { host: IP, answer: sheep10Answer(world) });
    await scriptedEndpoint(world, 7003, { host: IP });
    const target = await world.settle(openAt(world, 'targetA', IP, 7002));
    const onSheep10 = await world.settle(connectTo(world, IP, 7002));
    const refused = await world.settle(checkLocklessWrite(onSheep10, 'vol')).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SheepAdminError);
    expect((refused as SheepAdminError).code).toBe('VDI_IN_USE');
    expect((refused as Error).message).toMatch(
      /VDI "vol" is shared-locked by targets through 127\.0\.0\.1:7002.*does not invalidate them.*collie vdi lock unlock vol -a 127\.0\.0\.1 -p 7002/,
    );
    const onCollie = await world.settle(connectTo(world, IP, 7003));
    const clearance = await world.settle(checkLocklessWrite(onCollie, 'vol'));
    expect(clearance.participants).toEqual(['127.0.0.1:7002']);
    await world.settle(target.close());
    expect((await world.settle(checkLocklessWrite(onSheep10, 'vol'))).participants).toEqual([]);
    onSheep10.close();
    onCollie.close();
  });

  test('a normally locked VDI (qemu) is refused on every store', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    await scriptedEndpoint(world, 7003, { host: IP });
    const conn = await world.settle(connectTo(world, IP, 7003));
    await world.settle(lockVdi(conn, { name: 'vol', type: LockType.NORMAL }));
    const refused = await world.settle(checkLocklessWrite(conn, 'vol')).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SheepAdminError);
    expect((refused as Error).message).toMatch(
      /VDI "vol" is locked exclusively \(normal lock, e\.g\. qemu\).*stop it.*collie vdi lock unlock vol/,
    );
    conn.close();
  });

  test('errors of the lock-less client are BackendErrors naming the VDI and the fix', async () => {
    const world = await clientWorld();
    await expect(world.openLockless('writer', 7000, { vdiName: 'nope' })).rejects.toThrow(
      /VDI "nope" not found on sheep at store:7000; create it first/,
    );
    await world.createVdi('vol', 64 * MiB);
    const missing = world.openLockless('reader', 7000, { snapshot: { tag: 'nope' } });
    await expect(missing).rejects.toBeInstanceOf(BackendError);
    await expect(missing).rejects.toThrow(/snapshot "nope" of VDI "vol" not found.*collie vdi list vol/);
  });
});

describe('a lock-less client whose inode went stale', () => {
  test('a write into an object a DISCARD removed since it loaded re-reads the inode and creates it again', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 16 * MiB);
    const writer = await world.openLockless('dog', 7000);
    const first = pattern(0x31, OBJECT_BYTES, 4096);
    await world.settle(writer.write(OBJECT_BYTES, first));
    // Someone discards object 1 after the writer loaded the inode that maps it.
    const admin = await world.settle(connectTo(world, 'store', 7001));
    const { objRequest } = await import('../../../src/sheepdog/wire/header.js');
    const { vidToDataOid } = await import('../../../src/sheepdog/wire/oid.js');
    const discarded = await world.settle(
      admin.request(objRequest({ opcode: SdOp.DISCARD_OBJ, oid: vidToDataOid(writer.vid, 1) })),
    );
    expect(discarded.header.result).toBe(0);
    const second = pattern(0x32, OBJECT_BYTES + 8192, 4096);
    await world.settle(writer.write(OBJECT_BYTES + 8192, second));
    const reader = await world.openLockless('reader', 7001);
    expect(await world.settle(reader.read(OBJECT_BYTES + 8192, 4096))).toEqual(second);
    expect(await world.settle(reader.read(OBJECT_BYTES, 4096))).toEqual(Buffer.alloc(4096));
  });
});
