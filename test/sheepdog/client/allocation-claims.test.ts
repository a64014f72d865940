/**
 * Goal: on a store where a second CREATE replaces an object (sheep 1.0), two targets allocating
 * the same object at once never lose an acknowledged byte, because each object is claimed
 * (GET_VDI_ATTR CREAT|EXCL) before it is created (allocation-claims.ts); a claimant that dies
 * between its claim and its inode update blocks the others only for the bound, whether it died
 * before its CREATE (a waiter takes the claim over) or after it (a waiter writes into the
 * object); several waiters of one dead claim take it over once; a claim is deleted only after
 * its inode update; a waiting target holds no claim; a claim whose answer was lost is known as
 * ours; Collie's own store gets no claim at all; and open warns once about what stays unsafe on
 * sheep 1.0.
 * Method: the real store in compat 'sheep-1.0' (store-rules.ts) on the memory network in virtual
 * time (client-world.ts), SheepdogBackends through different store endpoints (sheep nodes).
 * Scripted endpoints forward to the store and count requests by opcode; "claims off" is a
 * scripted endpoint that lies in COLLIE_FEATURES (CREATE_NEVER_REPLACES) in front of the same
 * sheep-1.0 store, so the client trusts a rule the store does not keep. A claimant dies by a
 * network partition between its host and the store, set from the event log at the chosen step.
 * Races that need one interleaving get it from scripted endpoints that hold chosen requests
 * (inode updates, DELs) before the store sees them, or hold chosen answers.
 */
import { Writable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import { createRng } from '../../../src/core/rng.js';
import { sleepMs } from '../../../src/core/sleep.js';
import { SheepdogBackend } from '../../../src/sheepdog/client/sheepdog-backend.js';
import { getVdiInfo, newVdi } from '../../../src/sheepdog/sheep-admin.js';
import { CollieFeature, SdFlag, SdOp, SdRes } from '../../../src/sheepdog/wire/constants.js';
import { type RequestHeader, responseFor } from '../../../src/sheepdog/wire/header.js';
import { isDataOid } from '../../../src/sheepdog/wire/oid.js';
import type { StoreCompat } from '../../../src/store/store-rules.js';
import {
  type Answer,
  type ClientWorld,
  clientWorld,
  isInodeUpdate,
  MiB,
  pattern,
  STORE_HOST,
  scriptedEndpoint,
} from './client-world.js';

const OBJECT = 1 * MiB;

async function world(compat: StoreCompat, ports = [7000, 7001, 7002]): Promise<ClientWorld> {
  const built = await clientWorld({ ports, compat });
  await built.settle(newVdi(built.admin, { name: 'vol', sizeBytes: 64 * OBJECT, blockSizeShift: 20 }));
  return built;
}

/** Forwards to the store and counts requests by opcode; `features` forces COLLIE_FEATURES' answer. */
function counting(w: ClientWorld, counts: Map<number, number>, features?: number): Answer {
  return (request, payload, node) => {
    counts.set(request.opcode, (counts.get(request.opcode) ?? 0) + 1);
    if (request.opcode === SdOp.COLLIE_FEATURES && features !== undefined) {
      const body = Buffer.alloc(8);
      body.writeUInt32LE(features, 0);
      return Promise.resolve({
        header: responseFor(request, SdRes.SUCCESS, { epoch: 1, dataLength: 8 }),
        payload: body,
      });
    }
    return w.store.server.handle(request, payload, node);
  };
}

/**
 * Two targets through two counting endpoints each write a different 4 KiB range of the same
 * unallocated objects at once (A at the start, B in the middle of each), all writes in flight
 * together; then every range is read back through both. Returns the ranges that did not read
 * back and the requests by opcode.
 */
async function twoWritersOnEachObject(compat: StoreCompat, forcedFeatures?: number) {
  const w = await world(compat);
  const counts = new Map<number, number>();
  await scriptedEndpoint(w, 7101, { answer: counting(w, counts, forcedFeatures) });
  await scriptedEndpoint(w, 7102, { answer: counting(w, counts, forcedFeatures) });
  const a = await w.open('target-a', 7101);
  const b = await w.open('target-b', 7102);
  const objects = 16;
  const writes: Promise<void>[] = [];
  for (let k = 0; k < objects; k++) {
    writes.push(a.write(k * OBJECT, pattern(0xa0 + k, k * OBJECT, 4096)));
    writes.push(b.write(k * OBJECT + OBJECT / 2, pattern(0xb0 + k, k * OBJECT + OBJECT / 2, 4096)));
  }
  const outcomes = await w.settle(Promise.allSettled(writes));
  expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
  const lost: string[] = [];
  for (let k = 0; k < objects; k++) {
    for (const [who, offset, tag] of [
      ['A', k * OBJECT, 0xa0 + k],
      ['B', k * OBJECT + OBJECT / 2, 0xb0 + k],
    ] as const) {
      for (const [reader, backend] of [
        ['A', a],
        ['B', b],
      ] as const) {
        const bytes = await w.settle(backend.read(offset, 4096));
        if (!bytes.equals(pattern(tag, offset, 4096))) lost.push(`object ${k}: ${who}'s range via ${reader}`);
      }
    }
  }
  await w.settle(Promise.all([a.close(), b.close()]));
  return { lost, counts, world: w };
}

describe('two targets allocate the same objects at once on sheep 1.0', () => {
  test('with claims every acknowledged range reads back through both targets', async () => {
    const { lost, counts, world: w } = await twoWritersOnEachObject('sheep-1.0');
    expect(lost).toEqual([]);
    // Every object was claimed by both (one won, the other waited: 16 waits), and each claim was
    // deleted after its inode update: 3 GET_VDI_ATTR per object.
    expect(w.eventsOf('io.claim_waiting').length).toBe(16);
    expect(counts.get(SdOp.GET_VDI_ATTR) ?? 0).toBe(16 * 3);
    expect(w.eventsOf('io.claim_deleted').length).toBe(16);
  });

  test('without claims (the store lies CREATE_NEVER_REPLACES) a second CREATE loses ranges', async () => {
    const { lost, counts } = await twoWritersOnEachObject('sheep-1.0', CollieFeature.CREATE_NEVER_REPLACES);
    expect(counts.get(SdOp.GET_VDI_ATTR) ?? 0).toBe(0);
    // Measured: 15 of the 32 acknowledged ranges (30 of 64 reads) came back as zeros.
    expect(lost.length).toBeGreaterThan(0);
  });

  test("on Collie's store (CREATE_NEVER_REPLACES) no GET_VDI_ATTR is sent and nothing is lost", async () => {
    const { lost, counts } = await twoWritersOnEachObject('collie');
    expect(counts.get(SdOp.GET_VDI_ATTR) ?? 0).toBe(0);
    expect(counts.get(SdOp.CREATE_AND_WRITE_OBJ) ?? 0).toBeGreaterThan(0);
    expect(lost).toEqual([]);
  });
});

/** Partitions `host` from the store once `event` is logged by its IO (the claimant dies there). */
function dieAt(w: ClientWorld, host: string, when: (type: string, data: Record<string, unknown>) => boolean) {
  let died = false;
  w.eventLog.addSink({
    write: (event) => {
      if (died || !event.actor.includes(host)) return;
      if (!when(event.type, event.data as Record<string, unknown>)) return;
      died = true;
      w.network.partition(host, STORE_HOST);
    },
  });
  return () => died;
}

describe('a claimant that dies between its claim and its inode update', () => {
  const WAIT_MS = 2_000;

  async function deadClaimant(when: (type: string, data: Record<string, unknown>) => boolean) {
    const w = await world('sheep-1.0');
    const a = await w.open('target-a', 7000, { actor: 'sheepdog/vol@store:7000/target-a' });
    const b = await w.open('target-b', 7001, { allocationClaimWaitMs: WAIT_MS });
    const died = dieAt(w, 'target-a', when);
    const aWrite = a.write(3 * OBJECT, pattern(0xa1, 3 * OBJECT, 4096)).then(
      () => 'acknowledged',
      (error: Error) => error.message,
    );
    await w.clock.runUntilIdle({ stepsMax: 100_000, untilMs: w.clock.now() + 50 });
    expect(died()).toBe(true);
    const startedAt = w.clock.now();
    const offset = 3 * OBJECT + OBJECT / 2;
    // Within the bound plus polls: without the dead-claimant rule it would wait forever.
    await w.clock.settle(b.write(offset, pattern(0xb2, offset, 4096)), { withinMs: WAIT_MS + 1_500 });
    const tookMs = w.clock.now() - startedAt;
    expect((await w.settle(b.read(offset, 4096))).equals(pattern(0xb2, offset, 4096))).toBe(true);
    // A never acknowledged (its requests are held in the partition until its pool gives up).
    expect(await w.settle(aWrite)).toMatch(/unreachable|unavailable|gave up|failed/);
    return { w, tookMs };
  }

  test('dead before its CREATE: the other takes the claim over and completes within the bound', async () => {
    const { w, tookMs } = await deadClaimant((type) => type === 'io.claim_taken');
    expect(tookMs).toBeGreaterThanOrEqual(WAIT_MS);
    expect(tookMs).toBeLessThan(WAIT_MS + 1_500);
    expect(w.eventsOf('io.claim_stale').length).toBe(1);
    expect(w.eventsOf('io.claim_taking_over').length).toBe(1);
    const vid = await vidHex(w);
    expect(w.eventsOf('io.claim_taken').map((event) => event.data.key)).toEqual([
      `collie.alloc.${vid}.3`,
      `collie.alloc.${vid}.3.1`,
    ]);
  });

  test('dead after its CREATE landed: the other writes into the object and maps it itself', async () => {
    const { w, tookMs } = await deadClaimant(
      (type, data) => type === 'io.transition' && data.to === 'updatingInode',
    );
    expect(tookMs).toBeGreaterThanOrEqual(WAIT_MS);
    expect(tookMs).toBeLessThan(WAIT_MS + 1_500);
    expect(w.eventsOf('io.claim_adopted').length).toBe(1);
    expect(w.eventsOf('io.claim_taking_over').length).toBe(0);
  });

  test('two waiters of one dead claim: exactly one takes it over, and both ranges survive', async () => {
    // The interleaving in which a takeover by "DEL, then CREAT|EXCL of the same key" loses an
    // acknowledged range: B and C find A's claim dead at the same poll; B's DEL reaches sheep
    // 10 ms late, after C read the holder; C learns 20 ms late that the object does not exist
    // and only then deletes the key, which B holds again by now; C's CREATE lands after B's and
    // before B's inode update (held 50 ms), and C's own update is held longer (200 ms), so B's
    // update succeeds and B acknowledges a range that C's CREATE replaced.
    const w = await world('sheep-1.0', [7000]);
    const held =
      (updateMs: number, deleteMs: number): Answer =>
      (request, payload, node) => {
        const isDelete = request.opcode === SdOp.GET_VDI_ATTR && (request.flags & SdFlag.DEL) !== 0;
        const ms = isInodeUpdate(request) ? updateMs : isDelete ? deleteMs : 0;
        return sleepMs(w.clock, ms).then(() => w.store.server.handle(request, payload, node));
      };
    await scriptedEndpoint(w, 7101, { answer: held(50, 10) });
    await scriptedEndpoint(w, 7102, {
      answer: held(200, 0),
      delayMs: (request) => (isExistsCheck(request) ? 20 : 0),
    });
    const a = await w.open('target-a', 7000, { actor: 'sheepdog/vol@store:7000/target-a' });
    const b = await w.open('target-b', 7101, { allocationClaimWaitMs: WAIT_MS });
    const c = await w.open('target-c', 7102, { allocationClaimWaitMs: WAIT_MS });
    dieAt(w, 'target-a', (type) => type === 'io.claim_taken');
    void a.write(5 * OBJECT, pattern(0xa1, 5 * OBJECT, 4096)).catch(() => undefined);
    await w.clock.runUntilIdle({ stepsMax: 100_000, untilMs: w.clock.now() + 50 });
    const bAt = 5 * OBJECT + 4096;
    const cAt = 5 * OBJECT + 8192;
    await w.clock.settle(
      Promise.all([b.write(bAt, pattern(0xb2, bAt, 4096)), c.write(cAt, pattern(0xc3, cAt, 4096))]),
      { withinMs: 2 * WAIT_MS + 1_500 },
    );
    // Both found the claim dead; with the next generation's key only B took it over.
    expect(w.eventsOf('io.claim_stale').length).toBe(2);
    const lost: string[] = [];
    for (const [reader, backend] of [
      ['B', b],
      ['C', c],
    ] as const) {
      if (!(await w.settle(backend.read(bAt, 4096))).equals(pattern(0xb2, bAt, 4096)))
        lost.push(`B's via ${reader}`);
      if (!(await w.settle(backend.read(cAt, 4096))).equals(pattern(0xc3, cAt, 4096)))
        lost.push(`C's via ${reader}`);
    }
    expect(lost).toEqual([]);
    const takeovers = w.eventsOf('io.claim_taken').filter((event) => String(event.data.key).endsWith('.5.1'));
    expect(takeovers.length).toBe(1);
  });
});

describe('the claim is deleted only after the inode update', () => {
  test("a waiter that gets the claim after a slow holder's update cannot replace the holder's object", async () => {
    // Inode updates reach sheep late: A's by 300 ms, B's by 600 ms; B waits for A's claim.
    // Were the claim deleted before A's update, B would claim and CREATE over A's object, A's
    // update would land first (nobody invalidated A yet) and A would acknowledge a range that
    // is gone.
    const w = await world('sheep-1.0', [7000]);
    const late =
      (ms: number): Answer =>
      (request, payload, node) =>
        sleepMs(w.clock, isInodeUpdate(request) ? ms : 0).then(() =>
          w.store.server.handle(request, payload, node),
        );
    await scriptedEndpoint(w, 7101, { answer: late(300) });
    await scriptedEndpoint(w, 7102, { answer: late(600) });
    const a = await w.open('target-a', 7101);
    const b = await w.open('target-b', 7102);
    const aAt = 4 * OBJECT;
    const bAt = 4 * OBJECT + OBJECT / 2;
    const aWrite = a.write(aAt, pattern(0xa1, aAt, 4096));
    await w.clock.runUntilIdle({ stepsMax: 100_000, untilMs: w.clock.now() + 20 });
    await w.settle(Promise.all([aWrite, b.write(bAt, pattern(0xb2, bAt, 4096))]));
    for (const backend of [a, b]) {
      expect((await w.settle(backend.read(aAt, 4096))).equals(pattern(0xa1, aAt, 4096))).toBe(true);
      expect((await w.settle(backend.read(bAt, 4096))).equals(pattern(0xb2, bAt, 4096))).toBe(true);
    }
    expect(w.eventsOf('io.claim_waiting').length).toBe(1);
  });
});

describe('a target waiting for a claim holds none', () => {
  test("a write waiting for a dead claimant's object does not hold up another target's write", async () => {
    const WAIT_MS = 2_000;
    const w = await world('sheep-1.0', [7000, 7001, 7002]);
    const a = await w.open('target-a', 7000, { actor: 'sheepdog/vol@store:7000/target-a' });
    const x = await w.open('target-x', 7001, { allocationClaimWaitMs: WAIT_MS });
    const z = await w.open('target-z', 7002, { allocationClaimWaitMs: WAIT_MS });
    // A claims object 2 and dies; X writes across objects 1 and 2: it claims 1, then waits for 2.
    dieAt(w, 'target-a', (type) => type === 'io.claim_taken');
    void a.write(2 * OBJECT, pattern(0xa1, 2 * OBJECT, 4096)).catch(() => undefined);
    await w.clock.runUntilIdle({ stepsMax: 100_000, untilMs: w.clock.now() + 50 });
    const xAt = 2 * OBJECT - 4096;
    const xWrite = x.write(xAt, pattern(0x88, xAt, 8192));
    await w.clock.runUntilIdle({ stepsMax: 100_000, untilMs: w.clock.now() + 50 });
    expect(w.eventsOf('io.claim_waiting', 'sheepdog/vol@store:7001').length).toBe(1);
    // Z writes object 1 only: X gave its claim back before it waited, so Z is not held up.
    const startedAt = w.clock.now();
    const zAt = OBJECT;
    await w.clock.settle(z.write(zAt, pattern(0x77, zAt, 4096)), { withinMs: WAIT_MS / 2 });
    expect(w.clock.now() - startedAt).toBeLessThan(WAIT_MS / 2);
    await w.clock.settle(xWrite, { withinMs: WAIT_MS + 1_500 });
    for (const backend of [x, z]) {
      expect((await w.settle(backend.read(xAt, 8192))).equals(pattern(0x88, xAt, 8192))).toBe(true);
      expect((await w.settle(backend.read(zAt, 4096))).equals(pattern(0x77, zAt, 4096))).toBe(true);
    }
  });
});

describe('a claim whose answer was lost', () => {
  test('is asked again, found to be ours by its holder value, and used without waiting', async () => {
    const w = await world('sheep-1.0', [7000]);
    let dropped = 0;
    await scriptedEndpoint(w, 7101, {
      answer: async (request, payload, node, streamId) => {
        const reply = await w.store.server.handle(request, payload, node);
        const claims = request.opcode === SdOp.GET_VDI_ATTR && (request.flags & SdFlag.EXCL) !== 0;
        if (claims && dropped === 0) {
          // Sheep took the claim; the connection dies before its answer is written.
          dropped += 1;
          w.network.reset(streamId);
          return new Promise<never>(() => undefined);
        }
        return reply;
      },
    });
    const b = await w.open('target-b', 7101);
    await w.settle(b.write(2 * OBJECT, pattern(0xb2, 2 * OBJECT, 4096)));
    expect(dropped).toBe(1);
    expect(w.eventsOf('io.claim_waiting')).toEqual([]);
    expect(w.eventsOf('io.claim_taken').length).toBe(1);
    expect(w.eventsOf('io.claim_deleted').length).toBe(1);
    expect((await w.settle(b.read(2 * OBJECT, 4096))).equals(pattern(0xb2, 2 * OBJECT, 4096))).toBe(true);
  });
});

/** The 1-byte data object read of the dead-claimant rule ("does its object exist?"). */
function isExistsCheck(request: RequestHeader): boolean {
  return (
    request.opcode === SdOp.READ_OBJ &&
    request.args.kind === 'obj' &&
    request.dataLength === 1 &&
    isDataOid(request.args.oid)
  );
}

async function vidHex(w: ClientWorld): Promise<string> {
  const info = await w.settle(getVdiInfo(w.admin, { name: 'vol' }));
  return info.vid.toString(16);
}

describe('the warning at open', () => {
  async function warningsAt(compat: StoreCompat): Promise<string[]> {
    const w = await world(compat);
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ level: 'warn', destination, clock: w.clock });
    const backend = await w.settle(
      SheepdogBackend.open({
        transport: w.network.transport('target-a'),
        endpoint: { host: STORE_HOST, port: 7000 },
        vdiName: 'vol',
        clock: w.clock,
        rng: createRng('warning'),
        eventLog: w.eventLog,
        logger,
      }),
    );
    await w.settle(backend.write(0, pattern(1, 0, 4096)));
    await w.settle(backend.close());
    return lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
  }

  test('sheep 1.0: one line naming what stays unsafe and the doc', async () => {
    const lines = await warningsAt('sheep-1.0');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/snapshot taken while they write/);
    expect(lines[0]).toMatch(/request held inside sheep past a timeout/);
    expect(lines[0]).toMatch(/docs\/multipath-safety\.md/);
  });

  test("Collie's store: none", async () => {
    expect(await warningsAt('collie')).toEqual([]);
  });
});
