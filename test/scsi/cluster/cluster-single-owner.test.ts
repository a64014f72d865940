/**
 * Goal: the single-owner ALUA policy: the first node to join owns the LU (active/optimized, the
 * others active/non-optimized); the first READ/WRITE at a non-owner takes it over (an implicit
 * transition, 2A/06 elsewhere); and fencing: once another node took ownership and served a
 * write, no write the old owner admitted before can land, even when the old owner's nexus has
 * already consumed the unit attention. With the test-only bug 'no-fencing' the ghost write lands,
 * which is what the simulator's checkers must catch.
 * Method: createTestCluster with policy single-owner; `hold` keeps node A's write in flight
 * (issued, not yet at the store) while node B takes over and writes.
 */
import { describe, expect, test } from 'vitest';
import type { TestOnlyClusterBug } from '../../../src/scsi/cluster/test-only-cluster-bugs.js';
import { ScsiStatus } from '../../../src/scsi/scsi-types.js';
import { reportTargetPortGroupsCdb } from '../../support/cdb-builder.js';
import {
  ascOf,
  type ClusterNode,
  clearUnitAttentions,
  createTestCluster,
  type RunOptions,
} from '../../support/scsi-cluster.js';

const READ_10_LBA_0 = Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
const WRITE_10_LBA_0 = Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
const TUR = Buffer.from([0, 0, 0, 0, 0, 0]);
const OLD = Buffer.alloc(512, 0xa1);
const NEW = Buffer.alloc(512, 0xb2);

/** (state, status code) of each group, through `node`. */
async function states(run: (cdb: Buffer) => Promise<{ dataIn?: Buffer }>) {
  const data = (await run(reportTargetPortGroupsCdb(0, 1024))).dataIn!;
  const out: [number, number][] = [];
  for (let offset = 4; offset < data.length; offset += 8 + 4 * data[offset + 7]!) {
    out.push([data[offset]! & 0x0f, data[offset + 5]!]);
  }
  return out;
}

/** Runs a command again after the UNIT ATTENTIONs it meets (as a host retries them). */
async function retryingAttentions(node: ClusterNode, cdb: Buffer, options: RunOptions = {}) {
  const seen: string[] = [];
  for (let index = 0; index < 4; index++) {
    const result = await node.run(cdb, options);
    if (result.sense?.key !== 0x6) return { result, seen };
    seen.push(ascOf(result));
  }
  throw new Error('unit attentions never stopped');
}

async function singleOwner(testOnlyBug?: TestOnlyClusterBug, takeoverHoldOffMs = 0) {
  const c = await createTestCluster({
    policy: 'single-owner',
    takeoverHoldOffMs,
    ...(testOnlyBug === undefined ? {} : { testOnlyBug }),
  });
  for (const node of c.nodes) await clearUnitAttentions(node);
  return c;
}

describe('single-owner', () => {
  test('the first node to join owns the LU; the first READ at another takes it over', async () => {
    const { nodes } = await singleOwner();
    const [a, b] = [nodes[0]!, nodes[1]!];
    expect(await states((cdb) => b.run(cdb))).toEqual([
      [0, 0],
      [1, 0],
    ]);
    // SPC-4: an implicit transition raises 2A/06 on every nexus, the one that caused it too.
    const first = await b.run(READ_10_LBA_0);
    expect(ascOf(first)).toBe('2a/06');
    expect((await b.run(READ_10_LBA_0)).status).toBe(ScsiStatus.GOOD);
    expect(await clearUnitAttentions(a)).toEqual(['2a/06']);
    expect(await clearUnitAttentions(b)).toEqual([]);
    expect(await states((cdb) => a.run(cdb))).toEqual([
      [1, 2],
      [0, 2],
    ]);
    expect(b.events.toArray().some((event) => event.type === 'cluster.takeover')).toBe(true);
  });

  test('fencing: a write admitted by A before B took over is refused after it, and never lands', async () => {
    const { nodes, hold, data } = await singleOwner();
    const [a, b] = [nodes[0]!, nodes[1]!];
    const held = hold(0, 'write');
    const stale = a.run(WRITE_10_LBA_0, { dataOut: OLD });
    await held.reached;
    expect((await retryingAttentions(b, WRITE_10_LBA_0, { dataOut: NEW })).result.status).toBe(
      ScsiStatus.GOOD,
    );
    held.release();
    const answer = await stale;
    expect(answer.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(ascOf(answer)).toBe('2a/06');
    expect(await data.read(0, 512)).toEqual(NEW);
  });

  test('fencing holds when A already consumed the 2A/06 (a TUR saw the takeover first)', async () => {
    const { nodes, hold, data } = await singleOwner();
    const [a, b] = [nodes[0]!, nodes[1]!];
    const held = hold(0, 'write');
    const stale = a.run(WRITE_10_LBA_0, { dataOut: OLD });
    await held.reached;
    expect((await retryingAttentions(b, WRITE_10_LBA_0, { dataOut: NEW })).result.status).toBe(
      ScsiStatus.GOOD,
    );
    expect(ascOf(await a.run(TUR))).toBe('2a/06');
    expect((await a.run(TUR)).status).toBe(ScsiStatus.GOOD);
    held.release();
    const answer = await stale;
    expect(ascOf(answer)).toBe('2a/06');
    expect(a.events.toArray().some((event) => event.type === 'cluster.fenced')).toBe(true);
    expect(await data.read(0, 512)).toEqual(NEW);
  });

  test('fencing holds when A took ownership back before its old write resumed', async () => {
    const { nodes, hold, data } = await singleOwner();
    const [a, b] = [nodes[0]!, nodes[1]!];
    const held = hold(0, 'write');
    const stale = a.run(WRITE_10_LBA_0, { dataOut: OLD });
    await held.reached;
    expect((await retryingAttentions(b, WRITE_10_LBA_0, { dataOut: NEW })).result.status).toBe(
      ScsiStatus.GOOD,
    );
    await clearUnitAttentions(a, 2);
    const back = await retryingAttentions(a, READ_10_LBA_0, { initiator: 2 }); // A owns again
    expect(back.result.status).toBe(ScsiStatus.GOOD);
    expect(await clearUnitAttentions(a, 1)).toEqual(['2a/06']); // nothing pending for the held write's nexus
    held.release();
    expect((await stale).status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(await data.read(0, 512)).toEqual(NEW);
  });

  test("with the test-only bug 'no-fencing' the old owner's write lands after the new owner's", async () => {
    const { nodes, hold, data } = await singleOwner('no-fencing');
    const [a, b] = [nodes[0]!, nodes[1]!];
    const held = hold(0, 'write');
    const stale = a.run(WRITE_10_LBA_0, { dataOut: OLD });
    await held.reached;
    expect((await retryingAttentions(b, WRITE_10_LBA_0, { dataOut: NEW })).result.status).toBe(
      ScsiStatus.GOOD,
    );
    held.release();
    expect((await stale).status).toBe(ScsiStatus.GOOD);
    expect(await data.read(0, 512)).toEqual(OLD); // the ghost write
  });

  test('after losing ownership a node does not take it back during the hold-off', async () => {
    const { nodes, clock } = await singleOwner(undefined, 1000);
    const [a, b] = [nodes[0]!, nodes[1]!];
    expect((await retryingAttentions(b, READ_10_LBA_0)).result.status).toBe(ScsiStatus.GOOD);
    expect(await clearUnitAttentions(a)).toEqual(['2a/06']);
    const refused = await a.run(READ_10_LBA_0);
    expect(refused.sense?.key).toBe(0x2);
    expect(ascOf(refused)).toBe('04/0a');
    clock.advanceBy(1000);
    expect(await retryingAttentions(a, READ_10_LBA_0)).toMatchObject({
      result: { status: ScsiStatus.GOOD },
      seen: ['2a/06'],
    });
    expect(await clearUnitAttentions(b)).toEqual(['2a/06']);
  });

  test('SET TARGET PORT GROUPS active/optimized on B moves ownership and fences A', async () => {
    const { nodes, hold, data } = await singleOwner();
    const [a, b] = [nodes[0]!, nodes[1]!];
    const held = hold(0, 'write');
    const stale = a.run(WRITE_10_LBA_0, { dataOut: OLD });
    await held.reached;
    const list = Buffer.from([0, 0, 0, 0, 0x00, 0, 0, 2]);
    const stpg = Buffer.alloc(12);
    stpg[0] = 0xa4;
    stpg[1] = 0x0a;
    stpg.writeUInt32BE(list.length, 6);
    expect((await b.run(stpg, { dataOut: list })).status).toBe(ScsiStatus.GOOD);
    expect(await states((cdb) => b.run(cdb))).toEqual([
      [1, 1],
      [0, 1],
    ]);
    held.release();
    expect((await stale).status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(await data.read(0, 512)).toEqual(Buffer.alloc(512));
  });
});
