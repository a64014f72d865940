/**
 * Goal: the daemon's AdminControl changes a running target without a restart, as initiators see
 * it: a LUN added while a session is logged in raises REPORTED LUNS DATA HAS CHANGED (3F/0E) on
 * the other LUs, is listed by REPORT LUNS and serves IO; a removed LUN answers LOGICAL UNIT NOT
 * SUPPORTED at once; a grown memory LUN raises CAPACITY DATA HAS CHANGED (2A/09) and READ
 * CAPACITY shows the new size; a killed session's connection closes and the initiator can log in
 * again; ACL and CHAP changes decide new logins while sessions logged in keep working; targets
 * come and go. Refusals are AdminErrors with the status the contract names.
 * Method: real target nodes (startTargetService) and the real control on the memory network in
 * virtual time (daemon-control-world.ts), simulated initiators speaking real iSCSI.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { IscsiLoginError } from '../../sim/initiator/initiator-errors.js';
import type { IscsiInitiator } from '../../sim/initiator/iscsi-initiator.js';
import { FileBackend } from '../../src/backends/file-backend.js';
import {
  type ControlWorld,
  checkConditionSense,
  clearUnitAttentions,
  controlWorld,
  INITIATOR_NAME,
  MiB,
  TARGET_IQN,
} from './daemon-control-world.js';

const UNIT_ATTENTION = 0x6;
const ILLEGAL_REQUEST = 0x5;

let world: ControlWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function start(options: Parameters<typeof controlWorld>[0] = {}): Promise<ControlWorld> {
  world = await controlWorld(options);
  return world;
}

async function loggedIn(w: ControlWorld, lun = 1): Promise<IscsiInitiator> {
  const initiator = await w.login();
  await clearUnitAttentions(w, initiator, lun);
  return initiator;
}

function pattern(bytes: number, seed: number): Buffer {
  const data = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; at++) data[at] = (at * 31 + seed) & 0xff;
  return data;
}

describe('LUNs change under a logged-in session', () => {
  test('adding a LUN: 3F/0E on LUN 1, REPORT LUNS lists it, IO to it works', async () => {
    const w = await start();
    const initiator = await loggedIn(w);
    const added = await w.settle(w.control.addLun(TARGET_IQN, { backing: 'mem:4M' }));
    expect(added).toEqual({
      lun: 2,
      backing: 'mem:4M',
      sizeBytes: 4 * MiB,
      blockSizeBytes: 512,
      readOnly: false,
      thin: true,
    });
    const next = await w.settle(initiator.testUnitReady(1));
    expect(checkConditionSense(next)).toMatchObject({ key: UNIT_ATTENTION, asc: 0x3f, ascq: 0x0e });
    expect((await w.settle(initiator.reportLuns(1))).luns).toEqual([1, 2]);
    await clearUnitAttentions(w, initiator, 2);
    const data = pattern(8192, 5);
    expect((await w.settle(initiator.write(2, 100, data))).status).toBe(0);
    const read = await w.settle(initiator.read(2, 100, 16));
    expect(read.status).toBe(0);
    expect(Buffer.compare(read.dataIn, data)).toBe(0);
    expect(w.control.targets()[0]!.luns.map((lun) => lun.lun)).toEqual([1, 2]);
    expect(w.services[0]!.urls()).toEqual([
      `iscsi://192.168.0.10:3260/${TARGET_IQN}/1`,
      `iscsi://192.168.0.10:3260/${TARGET_IQN}/2`,
    ]);
  });

  test('removing a LUN: its commands get LOGICAL UNIT NOT SUPPORTED, the other LU 3F/0E', async () => {
    const w = await start();
    await w.settle(w.control.addLun(TARGET_IQN, { lun: 5, backing: 'mem:1M' }));
    const initiator = await loggedIn(w);
    await clearUnitAttentions(w, initiator, 5);
    await w.settle(w.control.removeLun(TARGET_IQN, 5));
    const gone = await w.settle(initiator.testUnitReady(5));
    expect(checkConditionSense(gone)).toMatchObject({ key: ILLEGAL_REQUEST, asc: 0x25, ascq: 0x00 });
    expect(checkConditionSense(await w.settle(initiator.testUnitReady(1)))).toMatchObject({
      key: UNIT_ATTENTION,
      asc: 0x3f,
      ascq: 0x0e,
    });
    expect((await w.settle(initiator.reportLuns(1))).luns).toEqual([1]);
    expect((await w.refusal(() => w.control.removeLun(TARGET_IQN, 5))).status).toBe(404);
  });

  test("a LUN removed while a write arrives: the write is done or LUN NOT SUPPORTED, never a closed backend's error", async () => {
    const w = await start();
    const initiator = await loggedIn(w);
    const served = w.services[0]!;
    // A write of 4 MiB runs over several virtual ticks (the memory network's delays).
    const writing = initiator.write(1, 0, pattern(4 * MiB, 9));
    await w.settle(new Promise((resolve) => w.clock.setTimeout(() => resolve(undefined), 1)));
    const removing = w.control.removeLun(TARGET_IQN, 1);
    const [written] = await w.settle(Promise.all([writing, removing]));
    // Either it reached the LU before the removal (GOOD) or after it (LUN NOT SUPPORTED);
    // never a failure of a closed backend.
    if (written.status !== 0) {
      expect(checkConditionSense(written)).toMatchObject({ key: ILLEGAL_REQUEST, asc: 0x25 });
    }
    expect(served.targets()[0]!.luns).toEqual([]);
  });

  test('resizing a memory LUN: 2A/09, READ CAPACITY shows the new size, the new blocks work', async () => {
    const w = await start();
    const initiator = await loggedIn(w);
    expect((await w.settle(initiator.readCapacity16(1))).capacity).toEqual({
      blockCount: (8 * MiB) / 512,
      blockSizeBytes: 512,
    });
    const resized = await w.settle(w.control.resizeLun(TARGET_IQN, 1, { sizeBytes: 16 * MiB }));
    expect(resized.sizeBytes).toBe(16 * MiB);
    expect(checkConditionSense(await w.settle(initiator.testUnitReady(1)))).toMatchObject({
      key: UNIT_ATTENTION,
      asc: 0x2a,
      ascq: 0x09,
    });
    expect((await w.settle(initiator.readCapacity16(1))).capacity).toEqual({
      blockCount: (16 * MiB) / 512,
      blockSizeBytes: 512,
    });
    const lastBlock = (16 * MiB) / 512 - 1;
    const data = pattern(512, 3);
    expect((await w.settle(initiator.write(1, lastBlock, data))).status).toBe(0);
    expect((await w.settle(initiator.read(1, lastBlock, 1))).dataIn.equals(data)).toBe(true);

    const shrink = await w.refusal(() => w.control.resizeLun(TARGET_IQN, 1, { sizeBytes: 4 * MiB }));
    expect(shrink.status).toBe(409);
    expect(shrink.message).toMatch(/shrinking/);
    expect((await w.refusal(() => w.control.resizeLun(TARGET_IQN, 1, { sizeBytes: 1000 }))).status).toBe(400);
    expect((await w.refusal(() => w.control.resizeLun(TARGET_IQN, 9, { sizeBytes: 16 * MiB }))).status).toBe(
      404,
    );
  });

  test('resizing a file LUN grows the file (sparse) and the LU; the backend reads zeros past the old end', async () => {
    const w = await start();
    const directory = await mkdtemp(join(tmpdir(), 'collie-admin-'));
    try {
      const path = join(directory, 'lun.img');
      // Real file IO: awaited directly (no virtual timer is involved).
      const added = await w.control.addLun(TARGET_IQN, { lun: 3, backing: `file:${path}:1M` });
      expect(added).toMatchObject({ lun: 3, backing: `file:${path}:1M`, sizeBytes: MiB, thin: false });
      const resized = await w.control.resizeLun(TARGET_IQN, 3, { sizeBytes: 3 * MiB });
      expect(resized.sizeBytes).toBe(3 * MiB);
      expect((await stat(path)).size).toBe(3 * MiB);
      const backend = await FileBackend.open({ path });
      expect(backend.sizeBytes).toBe(3 * MiB);
      await backend.close();
      expect((await w.refusal(() => w.control.resizeLun(TARGET_IQN, 3, { sizeBytes: MiB }))).status).toBe(
        409,
      );
      await w.control.removeLun(TARGET_IQN, 3);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test('LUN refusals: a number in use 409, a bad backing 400, an unknown target 404', async () => {
    const w = await start();
    const inUse = await w.refusal(() => w.control.addLun(TARGET_IQN, { lun: 1, backing: 'mem:1M' }));
    expect(inUse.status).toBe(409);
    expect(inUse.message).toContain('LUN 1 of');
    expect((await w.refusal(() => w.control.addLun(TARGET_IQN, { backing: 'nfs:/x' }))).status).toBe(400);
    expect(
      (await w.refusal(() => w.control.addLun(TARGET_IQN, { lun: 20000, backing: 'mem:1M' }))).status,
    ).toBe(400);
    const unknown = await w.refusal(() =>
      w.control.addLun('iqn.2026-01.test.collie:nope', { backing: 'mem:1M' }),
    );
    expect(unknown.status).toBe(404);
    expect(unknown.message).toContain(TARGET_IQN);
  });
});

describe('targets', () => {
  test('a new target has no LUN (LUN 0 absent), serves a LUN added later, and goes away with its sessions', async () => {
    const w = await start();
    const iqn = 'iqn.2026-01.test.collie:second';
    const info = await w.settle(w.control.addTarget({ iqn, alias: 'second' }));
    expect(info).toMatchObject({ iqn, alias: 'second', nodes: [1], luns: [] });
    expect(w.control.targets().map((target) => target.iqn)).toEqual([TARGET_IQN, iqn]);
    const initiator = await w.login({ targetName: iqn });
    expect((await w.settle(initiator.reportLuns(0))).luns).toEqual([]);
    expect(checkConditionSense(await w.settle(initiator.testUnitReady(0)))).toMatchObject({
      key: ILLEGAL_REQUEST,
      asc: 0x25,
    });
    await w.settle(w.control.addLun(iqn, { lun: 0, backing: 'mem:1M' }));
    expect((await w.settle(initiator.reportLuns(0))).luns).toEqual([0]);

    const closed = initiator.closed;
    await w.settle(w.control.removeTarget(iqn));
    expect((await w.settle(closed)).kind).not.toBe('logout');
    expect(w.control.sessions()).toEqual([]);
    const refused = await w.settle(w.login({ targetName: iqn }).catch((error: unknown) => error));
    expect(refused).toBeInstanceOf(IscsiLoginError);
    expect((refused as IscsiLoginError).status).toBe(0x0203);
    expect((await w.refusal(() => w.control.removeTarget(iqn))).status).toBe(404);
  });

  test('target refusals: a name in use 409 (case-insensitively), a bad name 400', async () => {
    const w = await start();
    expect(
      (await w.refusal(() => w.control.addTarget({ iqn: TARGET_IQN.replace('disk', 'DISK') }))).status,
    ).toBe(409);
    const bad = await w.refusal(() => w.control.addTarget({ iqn: 'disk1' }));
    expect(bad.status).toBe(400);
    expect(bad.message).toContain('iqn.YYYY-MM');
  });
});

describe('sessions', () => {
  test('list shows the session; kill drops its connection; the initiator logs in again', async () => {
    const w = await start();
    const initiator = await loggedIn(w);
    const [session] = w.control.sessions();
    expect(session).toMatchObject({
      node: 1,
      initiator: INITIATOR_NAME,
      target: TARGET_IQN,
      activeTasks: 0,
      connection: { local: '192.168.0.10:3260' },
      parameters: { HeaderDigest: 'None', ErrorRecoveryLevel: '0', MaxConnections: '1' },
    });
    expect(session!.isid).toMatch(/^[0-9a-f]{12}$/);
    expect(session!.connection!.remote).toMatch(/^10\.0\.0\.1:\d+$/);
    const closed = initiator.closed;
    const killed = w.control.killSession(session!.tsih, undefined);
    expect(killed.tsih).toBe(session!.tsih);
    expect((await w.settle(closed)).kind).not.toBe('logout');
    await w.settle(new Promise((resolve) => w.clock.setTimeout(() => resolve(undefined), 10)));
    expect(w.control.sessions()).toEqual([]);
    const again = await w.login();
    await clearUnitAttentions(w, again, 1);
    expect((await w.settle(again.testUnitReady(1))).status).toBe(0);
    expect(w.control.sessions()).toHaveLength(1);
    expect((await w.refusal(() => w.control.killSession(999, undefined))).status).toBe(404);
    expect((await w.refusal(() => w.control.killSession(session!.tsih, 7))).status).toBe(404);
  });
});

describe('ACL and CHAP apply to new logins; sessions logged in keep working', () => {
  test('ACL: a name not on the list is refused (class 2), the session logged in still works', async () => {
    const w = await start();
    const initiator = await loggedIn(w);
    const allowed = 'iqn.2026-01.test.collie:allowed';
    const info = w.control.setAcl(TARGET_IQN, { initiators: [allowed] });
    expect(info.acl).toEqual({ initiators: [allowed], addresses: [] });
    const refused = await w.settle(w.login({ host: '10.0.0.2' }).catch((error: unknown) => error));
    expect(refused).toBeInstanceOf(IscsiLoginError);
    expect((refused as IscsiLoginError).status >> 8).toBe(2);
    expect((await w.settle(initiator.testUnitReady(1))).status).toBe(0);
    const other = await w.login({ host: '10.0.0.3', initiatorName: allowed });
    await clearUnitAttentions(w, other, 1);
    // Addresses: the allowed name from another network is refused too; an empty ACL lets all in.
    w.control.setAcl(TARGET_IQN, { initiators: [allowed], addresses: ['192.168.0.0/16'] });
    const byAddress = await w.settle(
      w.login({ host: '10.0.0.4', initiatorName: allowed }).catch((error: unknown) => error),
    );
    expect((byAddress as IscsiLoginError).status >> 8).toBe(2);
    w.control.setAcl(TARGET_IQN, {});
    await w.login({ host: '10.0.0.5' });
    expect((await w.refusal(() => w.control.setAcl(TARGET_IQN, { addresses: ['10.0.0.0/33'] }))).status).toBe(
      400,
    );
    expect((await w.refusal(() => w.control.setAcl(TARGET_IQN, { initiators: ['bob'] }))).status).toBe(400);
  });

  test('CHAP: a login without it is refused, with it accepted; clearing it lets AuthMethod=None in', async () => {
    const w = await start();
    const initiator = await loggedIn(w);
    const info = w.control.setChap(TARGET_IQN, {
      user: 'alice',
      secret: 'twelve-bytes-min',
      mutual: { user: 'target', secret: 'another-secret' },
    });
    expect(info.chap).toEqual({ users: ['alice'], mutualUser: 'target' });
    expect(JSON.stringify(info)).not.toContain('twelve-bytes-min');
    const refused = await w.settle(w.login({ host: '10.0.0.2' }).catch((error: unknown) => error));
    expect(refused).toBeInstanceOf(IscsiLoginError);
    expect((refused as IscsiLoginError).status >> 8).toBe(2);
    expect((await w.settle(initiator.testUnitReady(1))).status).toBe(0);
    await w.login({
      host: '10.0.0.3',
      chap: {
        user: 'alice',
        secret: 'twelve-bytes-min',
        mutual: { user: 'target', secret: 'another-secret' },
      },
    });
    w.control.setChap(TARGET_IQN, undefined);
    expect(w.control.targets()[0]!.chap).toEqual({ users: [] });
    await w.login({ host: '10.0.0.4' });
    const short = await w.refusal(() => w.control.setChap(TARGET_IQN, { user: 'alice', secret: 'short' }));
    expect(short.status).toBe(400);
    expect(short.message).toContain('12');
  });
});

describe('status and ALUA', () => {
  test('status reports the nodes, portals, sessions and store; alua one row per LU', async () => {
    const w = await start();
    await loggedIn(w);
    await w.settle(new Promise((resolve) => w.clock.setTimeout(() => resolve(undefined), 5_000)));
    const status = w.control.status();
    expect(status).toMatchObject({
      version: '0.0.0-test',
      kind: 'target',
      startedAt: new Date(1_700_000_000_000).toISOString(),
      nodes: [{ nodeId: 1, portals: ['192.168.0.10:3260'] }],
      store: '192.168.0.20:7000',
      sessions: 1,
    });
    expect(status.uptimeSeconds).toBeGreaterThanOrEqual(5);
    expect(w.control.alua()).toEqual([
      {
        target: TARGET_IQN,
        lun: 1,
        policy: 'single-node',
        groups: [{ group: 1, state: 'active/optimized' }],
      },
    ]);
  });
});
