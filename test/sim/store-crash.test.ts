/**
 * Goal: World.crashStore() is a whole store process dying — every endpoint stops at once, the
 * lock table's participations are gone (logged as nodes leaving), object writes in flight are
 * dropped, applied or torn on the disk — and World.restartStore() brings a store back from the
 * same objects that knows the VDI and serves it. A lock-less write torn by the crash stays torn:
 * a prefix of whole sectors of it, and nothing else, is what the VDI holds after the restart.
 * Method: a simulated world; the lock-less client (the swarm's outside writer) writes and reads
 * through the admin host; crash fates forced with a scripted Rng.
 */
import { describe, expect, test } from 'vitest';
import { locklessWriteVdi } from '../../sim/workloads/outside-clients.js';
import { ADMIN_HOST, World } from '../../sim/world.js';
import type { LogEvent } from '../../src/core/event.js';
import { createRng } from '../../src/core/rng.js';
import { LocklessVdi } from '../../src/sheepdog/client/lockless-vdi.js';
import { vidToDataOid } from '../../src/sheepdog/wire/oid.js';
import type { Endpoint } from '../../transports/transport.js';
import { tearingRng } from './scripted-rng.js';

const SECTOR = 512;

async function readVdi(world: World, endpoint: Endpoint, offset: number, length: number): Promise<Buffer> {
  const vdi = await world.settle(
    LocklessVdi.open({
      transport: world.network.transport(ADMIN_HOST),
      endpoint,
      vdiName: world.options.vdiName,
      clock: world.clock,
      rng: createRng('reader'),
      eventLog: world.eventLog,
    }),
  );
  try {
    return await world.settle(vdi.read(offset, length));
  } finally {
    await world.settle(vdi.close());
  }
}

function collect(world: World): LogEvent[] {
  const events: LogEvent[] = [];
  world.eventLog.addSink({ write: (event) => events.push(event) });
  return events;
}

describe('store crash and restart', () => {
  test('every endpoint stops, participations are gone, and the restarted store serves the VDI again', async () => {
    const world = await World.build({ seed: 3 });
    const events = collect(world);
    const endpoint = world.targets[0]!.storeEndpoint;
    const lookup = world.store.vdis.lookup({ name: 'simvol' });
    expect('vid' in lookup).toBe(true);
    const vid = 'vid' in lookup ? lookup.vid : 0;
    expect(world.store.locks.view(vid).participants).toHaveLength(2);
    const before = world.store;

    await world.crashStore(createRng(1));
    expect(world.storeCrashed).toBe(true);
    expect(before.locks.view(vid).participants).toEqual([]);
    expect(events.filter((event) => event.type === 'coherence.left')).toHaveLength(2);
    expect(events.some((event) => event.type === 'sim.store_crashed')).toBe(true);
    await expect(world.settle(world.adminConnection(endpoint))).rejects.toThrow(/ECONNREFUSED/);

    await world.settle(world.restartStore());
    expect(world.storeCrashed).toBe(false);
    expect(world.store).not.toBe(before);
    expect(world.store.nodes().map((node) => node.key)).toEqual(['store:7000', 'store:7001']);
    const again = world.store.vdis.lookup({ name: 'simvol' });
    expect('vid' in again && again.vid).toBe(vid);
    const data = Buffer.alloc(4 * SECTOR, 0x5a);
    await world.settle(locklessWriteVdi(world, endpoint, createRng('w'), 3 * 1024 * 1024, data));
    expect((await readVdi(world, endpoint, 3 * 1024 * 1024, data.length)).equals(data)).toBe(true);
  });

  test('the old store process cannot listen or touch an object after the crash', async () => {
    const world = await World.build({ seed: 4 });
    const dead = world.store;
    await world.crashStore(createRng(1));
    await expect(dead.join({ host: 'store', port: 7005 })).rejects.toThrow();
    let settled = false;
    void dead.vdis
      .newVdi({
        name: 'zombie',
        sizeBytes: 1n << 20n,
        baseVid: 0,
        snapid: 0,
        copies: 0,
        copyPolicy: 0,
        storePolicy: 0,
        blockSizeShift: 0,
      })
      .then(() => {
        settled = true;
      });
    await world.advance(1_000);
    expect(settled).toBe(false);
    await world.settle(world.restartStore());
    expect('vid' in world.store.vdis.lookup({ name: 'zombie' })).toBe(false);
  });

  test('a lock-less write held at the crash is torn: a prefix of whole sectors lands, and the VDI keeps it after the restart', async () => {
    const world = await World.build({ seed: 5 });
    const endpoint = world.targets[1]!.storeEndpoint;
    const offset = 1024 * 1024; // object 1, block 2048
    const old = Buffer.alloc(8 * SECTOR, 0x11);
    await world.settle(locklessWriteVdi(world, endpoint, createRng('first'), offset, old));

    // Slow the store and send the second write until its WRITE_OBJ is the one held (the delay
    // drawn for it may be 0, and the inode read before it is held first).
    world.slowStore.delayMsMax = 1_000;
    const fresh = Buffer.alloc(8 * SECTOR, 0x22);
    const held = () =>
      world.slowStore.heldOperations().find((op) => op.kind === 'write' && op.lengthBytes === fresh.length);
    let attempt = 0;
    while (held() === undefined && attempt < 20) {
      attempt += 1;
      const writing = locklessWriteVdi(world, endpoint, createRng(`second-${attempt}`), offset, fresh);
      writing.catch(() => undefined);
      for (let ms = 0; ms < 3_000 && held() === undefined; ms += 10) await world.advance(10);
      if (held() === undefined) await world.settle(writing);
    }
    const op = held();
    expect(op).toBeDefined();

    const inFlight = await world.crashStore(tearingRng(2));
    const torn = inFlight.find((entry) => entry.fate === 'torn');
    expect(torn).toMatchObject({ kind: 'write', appliedBytes: 3 * SECTOR });
    // On the disk: three sectors of the new write, then the old bytes.
    const lookup = world.store.vdis.lookup({ name: 'simvol' });
    expect(op!.oid).toBe(vidToDataOid('vid' in lookup ? lookup.vid : 0, 1));
    const disk = (await world.objects.read(op!.oid, 0, 8 * SECTOR))!;
    expect(disk.subarray(0, 3 * SECTOR).equals(fresh.subarray(0, 3 * SECTOR))).toBe(true);
    expect(disk.subarray(3 * SECTOR).equals(old.subarray(3 * SECTOR))).toBe(true);

    // The writer gives up while the store is down (it would resend the whole write otherwise).
    world.slowStore.delayMsMax = 0;
    await world.advance(15_000);
    await world.settle(world.restartStore());
    const read = await readVdi(world, endpoint, offset, 8 * SECTOR);
    expect(read.subarray(0, 3 * SECTOR).equals(fresh.subarray(0, 3 * SECTOR))).toBe(true);
    expect(read.subarray(3 * SECTOR).equals(old.subarray(3 * SECTOR))).toBe(true);
  });
});
