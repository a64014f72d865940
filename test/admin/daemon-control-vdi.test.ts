/**
 * Goal: the daemon control's VDI and lock routes work against the embedded store the way dog's
 * commands do (create, snapshot, clone from a snapshot, list, delete; lock list, unlock), refuse
 * what would hurt a user of the VDI (deleting or unlocking a VDI an LU of this process exports,
 * deleting a VDI somebody holds locked) with 409 naming the LU or holder, and answer a missing
 * VDI 404 naming the fix; a LUN given as a VDI name opens it through the store (a shared lock),
 * removing the LUN releases the lock; with two target nodes a change applies to both, each
 * through its own store node, and a memory LUN is refused.
 * Method: the real store and target nodes on the memory network (daemon-control-world.ts); an
 * outside client locks a VDI through its own SheepConnection, as a qemu would.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { drainMicrotasks } from '../../src/core/virtual-clock.js';
import { lockVdi } from '../../src/sheepdog/sheep-admin.js';
import { SheepConnection } from '../../src/sheepdog/sheep-connection.js';
import { LockType } from '../../src/sheepdog/wire/constants.js';
import {
  type ControlWorld,
  checkConditionSense,
  clearUnitAttentions,
  controlWorld,
  MiB,
  STORE,
  TARGET_IQN,
} from './daemon-control-world.js';

let world: ControlWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function start(options: Parameters<typeof controlWorld>[0] = {}): Promise<ControlWorld> {
  world = await controlWorld(options);
  return world;
}

describe('VDIs', () => {
  test('create, snapshot, clone from the snapshot, list, delete', async () => {
    const w = await start();
    const created = await w.settle(w.control.createVdi({ name: 'vol0', sizeBytes: 64 * MiB }));
    expect(created).toMatchObject({
      name: 'vol0',
      snapshot: false,
      clone: false,
      snapid: 0,
      tag: '',
      sizeBytes: 64 * MiB,
      copies: 1,
      usedBytes: 0,
      createdAt: new Date(w.clock.now() - (w.clock.now() % 1000)).toISOString(),
    });
    expect(created.vid).toMatch(/^[0-9a-f]+$/);
    const snapshot = await w.settle(w.control.snapshotVdi('vol0', { tag: 'snap1' }));
    expect(snapshot).toMatchObject({
      name: 'vol0',
      snapshot: true,
      snapid: 1,
      tag: 'snap1',
      vid: created.vid,
    });
    const clone = await w.settle(w.control.cloneVdi('vol0', { snapshot: 'snap1', name: 'vol1' }));
    expect(clone).toMatchObject({ name: 'vol1', clone: true, snapshot: false, sizeBytes: 64 * MiB });
    const listed = await w.settle(w.control.vdis());
    expect(listed.map((row) => [row.name, row.snapshot, row.clone])).toEqual([
      ['vol0', true, false],
      ['vol0', false, false],
      ['vol1', false, true],
    ]);
    await w.settle(w.control.deleteVdi('vol1', undefined));
    await w.settle(w.control.deleteVdi('vol0', 'snap1'));
    expect((await w.settle(w.control.vdis())).map((row) => [row.name, row.snapshot])).toEqual([
      ['vol0', false],
    ]);
  });

  test('refusals: missing 404 naming the fix, existing 409, bad input 400, clone of a working VDI 409', async () => {
    const w = await start();
    await w.settle(w.control.createVdi({ name: 'vol0', sizeBytes: 8 * MiB }));
    const missing = await w.refusal(() => w.control.deleteVdi('vol9', undefined));
    expect(missing.status).toBe(404);
    expect(missing.message).toBe(
      'VDI "vol9" not found on 192.168.0.20:7000 (list them: collie adm vdi list)',
    );
    expect((await w.refusal(() => w.control.snapshotVdi('vol9', {}))).status).toBe(404);
    expect((await w.refusal(() => w.control.deleteVdi('vol0', 'nosuchtag'))).status).toBe(404);
    const exists = await w.refusal(() => w.control.createVdi({ name: 'vol0', sizeBytes: 8 * MiB }));
    expect(exists.status).toBe(409);
    expect(exists.message).toContain('already exists');
    expect((await w.refusal(() => w.control.createVdi({ name: 'vol2', sizeBytes: -1 }))).status).toBe(400);
    expect((await w.refusal(() => w.control.snapshotVdi('vol0', { tag: '42' }))).status).toBe(400);
    expect(
      (await w.refusal(() => w.control.cloneVdi('vol0', { snapshot: 'nope', name: 'vol3' }))).status,
    ).toBe(404);
    await w.settle(w.control.snapshotVdi('vol0', { tag: 'snap1' }));
    const taken = await w.refusal(() => w.control.cloneVdi('vol0', { snapshot: 'snap1', name: 'vol0' }));
    expect(taken.status).toBe(409);
    expect(taken.message).toContain('VDI "vol0" already exists');
  });

  test('no store: every VDI and lock route answers 409 naming the fix', async () => {
    const w = await start({ withStore: false });
    for (const call of [() => w.control.vdis(), () => w.control.locks(), () => w.control.unlock('vol0')]) {
      const refused = await w.refusal(call);
      expect(refused.status).toBe(409);
      expect(refused.message).toMatch(/^this process has no sheepdog store \(.+\)$/);
    }
    const bare = await w.refusal(() => w.control.addLun(TARGET_IQN, { backing: 'vol0' }));
    expect(bare.status).toBe(409);
    expect(bare.message).toContain('tcp:HOST:PORT:vol0');
  });
});

describe('VDI LUNs and locks', () => {
  test('a LUN by VDI name locks it shared; delete and unlock are refused naming the LU; removing the LUN releases it', async () => {
    const w = await start();
    await w.settle(w.control.createVdi({ name: 'vol0', sizeBytes: 16 * MiB }));
    const missing = await w.refusal(() => w.control.addLun(TARGET_IQN, { backing: 'vol9' }));
    expect(missing.status).toBe(404);
    expect(missing.message).toBe(
      'VDI "vol9" not found on 192.168.0.20:7000 (create it: collie adm vdi create vol9 10G)',
    );
    const lun = await w.settle(w.control.addLun(TARGET_IQN, { backing: 'vol0' }));
    expect(lun).toMatchObject({
      lun: 2,
      backing: 'tcp:192.168.0.20:7000:vol0',
      sizeBytes: 16 * MiB,
      thin: false,
    });
    const locks = await w.settle(w.control.locks());
    expect(locks).toHaveLength(1);
    expect(locks[0]).toMatchObject({ name: 'vol0', state: 'shared' });
    expect(locks[0]!.holders).toHaveLength(1);
    expect(locks[0]!.holders[0]).toMatch(/^192.168.0.20:7000 \(/);

    const initiator = await w.login();
    await clearUnitAttentions(w, initiator, 2);
    const data = Buffer.alloc(4096, 0x5a);
    expect((await w.settle(initiator.write(2, 8, data))).status).toBe(0);

    const deleting = await w.refusal(() => w.control.deleteVdi('vol0', undefined));
    expect(deleting.status).toBe(409);
    expect(deleting.message).toContain(`LUN 2 of ${TARGET_IQN}`);
    const unlocking = await w.refusal(() => w.control.unlock('vol0'));
    expect(unlocking.status).toBe(409);
    expect(unlocking.message).toContain('remove the LUN first');
    const resizing = await w.refusal(() => w.control.resizeLun(TARGET_IQN, 2, { sizeBytes: 32 * MiB }));
    expect(resizing.status).toBe(409);
    expect(resizing.message).toContain('sheepdog VDI');

    await w.settle(w.control.removeLun(TARGET_IQN, 2));
    expect(checkConditionSense(await w.settle(initiator.testUnitReady(2)))).toMatchObject({
      key: 5,
      asc: 0x25,
    });
    expect(await w.settle(w.control.locks())).toEqual([]);
    // What the removed LU wrote is in the VDI: a LUN added again reads it back.
    await w.settle(w.control.addLun(TARGET_IQN, { lun: 3, backing: 'tcp:192.168.0.20:7000:vol0' }));
    await clearUnitAttentions(w, initiator, 3);
    expect((await w.settle(initiator.read(3, 8, 8))).dataIn.equals(data)).toBe(true);
    await w.settle(w.control.removeLun(TARGET_IQN, 3));
    await w.settle(w.control.deleteVdi('vol0', undefined));
  });

  test('a VDI LUN removed while writes run: each write is done (and stays) or LUN NOT SUPPORTED, never a closed-backend error', async () => {
    const w = await start();
    await w.settle(w.control.createVdi({ name: 'busy', sizeBytes: 16 * MiB }));
    const initiator = await w.login();
    let completed = 0;
    const outcomes: number[] = [];
    // The removal starts 0, 2, 4, ... timer steps (network deliveries, store replies) into the write.
    for (const [round, steps] of [0, 2, 4, 6, 8, 10, 12, 16, 20].entries()) {
      const lun = 10 + round;
      await w.settle(w.control.addLun(TARGET_IQN, { lun, backing: 'busy' }));
      await clearUnitAttentions(w, initiator, lun);
      const data = Buffer.alloc(64 * 1024, round + 1);
      const writing = initiator.write(lun, round * 128, data);
      for (let step = 0; step < steps; step++) {
        await drainMicrotasks();
        w.clock.step();
      }
      await drainMicrotasks();
      const [written] = await w.settle(Promise.all([writing, w.control.removeLun(TARGET_IQN, lun)]));
      outcomes.push(written.status);
      if (written.status === 0) {
        completed += 1;
        // Done means stored: a LUN added again reads it back.
        await w.settle(w.control.addLun(TARGET_IQN, { lun: 99, backing: 'busy' }));
        await clearUnitAttentions(w, initiator, 99);
        expect((await w.settle(initiator.read(99, round * 128, 128))).dataIn.equals(data)).toBe(true);
        await w.settle(w.control.removeLun(TARGET_IQN, 99));
      } else {
        expect(checkConditionSense(written)).toMatchObject({ key: 5, asc: 0x25, ascq: 0 });
      }
      expect(await w.settle(w.control.locks())).toEqual([]);
    }
    expect(completed).toBeGreaterThan(0);
    expect(outcomes).toContain(0);
  });

  test('a VDI somebody else holds: delete refused naming the holder; unlock releases it', async () => {
    const w = await start();
    await w.settle(w.control.createVdi({ name: 'vol2', sizeBytes: 8 * MiB }));
    const outside = await w.settle(
      SheepConnection.open(w.network.transport('qemu'), STORE, { clock: w.clock }),
    );
    await w.settle(lockVdi(outside, { name: 'vol2', type: LockType.NORMAL }));
    expect(await w.settle(w.control.locks())).toEqual([
      expect.objectContaining({ name: 'vol2', state: 'locked', holders: ['192.168.0.20:7000'] }),
    ]);
    const deleting = await w.refusal(() => w.control.deleteVdi('vol2', undefined));
    expect(deleting.status).toBe(409);
    expect(deleting.message).toContain('locked on 192.168.0.20:7000 by 192.168.0.20:7000');
    await w.settle(w.control.unlock('vol2'));
    expect(await w.settle(w.control.locks())).toEqual([]);
    const again = await w.refusal(() => w.control.unlock('vol2'));
    expect(again.status).toBe(409);
    expect(again.message).toContain('is not locked');
    expect((await w.refusal(() => w.control.unlock('vol9'))).status).toBe(404);
    await w.settle(w.control.deleteVdi('vol2', undefined));
    outside.close();
  });
});

describe('two target nodes', () => {
  test('a VDI LUN is added on both nodes, each through its own store node; memory and explicit tcp are refused', async () => {
    const w = await start({ nodes: 2, targets: [{ iqn: TARGET_IQN, luns: [] }] });
    await w.settle(w.control.createVdi({ name: 'shared', sizeBytes: 8 * MiB }));
    const memory = await w.refusal(() => w.control.addLun(TARGET_IQN, { backing: 'mem:1G' }));
    expect(memory.status).toBe(409);
    expect(memory.message).toContain('use a VDI');
    expect(
      (await w.refusal(() => w.control.addLun(TARGET_IQN, { backing: 'tcp:192.168.0.20:7000:shared' })))
        .status,
    ).toBe(409);
    const lun = await w.settle(w.control.addLun(TARGET_IQN, { backing: 'shared' }));
    expect(lun.lun).toBe(1);
    expect(w.services.map((service) => service.targets()[0]!.luns.map((each) => each.backing))).toEqual([
      ['tcp:192.168.0.20:7000:shared'],
      ['tcp:192.168.0.20:7001:shared'],
    ]);
    const [lock] = await w.settle(w.control.locks());
    expect(lock!.holders.map((holder) => holder.split(' ')[0])).toEqual([
      '192.168.0.20:7000',
      '192.168.0.20:7001',
    ]);
    expect(w.control.targets()[0]!.nodes).toEqual([1, 2]);

    // Through node 2: IO works; the session is listed on node 2 and killed by node.
    const initiator = await w.login({ node: 1 });
    await clearUnitAttentions(w, initiator, 1);
    expect((await w.settle(initiator.write(1, 0, Buffer.alloc(512, 1)))).status).toBe(0);
    const [session] = w.control.sessions();
    expect(session).toMatchObject({ node: 2, target: TARGET_IQN });
    const rows = w.control.alua();
    expect(rows).toEqual([
      {
        target: TARGET_IQN,
        lun: 1,
        policy: 'active-active',
        groups: [
          { group: 1, state: 'active/optimized' },
          { group: 2, state: 'active/optimized' },
        ],
      },
    ]);
    const closed = initiator.closed;
    expect(w.control.killSession(session!.tsih, 2).node).toBe(2);
    await w.settle(closed);

    await w.settle(w.control.removeLun(TARGET_IQN, 1));
    expect(w.services.map((service) => service.targets()[0]!.luns.length)).toEqual([0, 0]);
    expect(await w.settle(w.control.locks())).toEqual([]);
    const added = await w.settle(w.control.addTarget({ iqn: 'iqn.2026-01.test.collie:more' }));
    expect(added.nodes).toEqual([1, 2]);
    expect(w.services.map((service) => service.targets().length)).toEqual([2, 2]);
  });
});
