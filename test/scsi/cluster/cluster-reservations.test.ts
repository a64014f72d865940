/**
 * Goal: persistent and SPC-2 reservations of a clustered LU hold across nodes: what one node's
 * nexus reserves conflicts on another node, a change's unit attentions reach the nexuses they
 * concern on every node (never the sender's), and the state survives a node restart.
 * Method: createTestCluster (real LogicalUnits over one MemoryBackend and one MemoryCellHub);
 * CDBs and parameter lists from the reservation fixtures.
 */
import { describe, expect, test } from 'vitest';
import { ScsiStatus } from '../../../src/scsi/scsi-types.js';
import { ascOf, clearUnitAttentions, createTestCluster } from '../../support/scsi-cluster.js';
import {
  basicList,
  ProutSa,
  prinCdb,
  proutCdb,
  RELEASE_6,
  RESERVE_6,
  Type,
} from '../reservations/pr-fixtures.js';

const TUR = Buffer.from([0, 0, 0, 0, 0, 0]);
const WRITE_10_LBA_0 = Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
const READ_10_LBA_0 = Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
const BLOCK = Buffer.alloc(512, 0x5a);

async function cluster(nodes = 2) {
  const c = await createTestCluster({ nodes });
  for (const node of c.nodes) {
    await clearUnitAttentions(node, 1);
    await clearUnitAttentions(node, 2);
  }
  const prout = (node: number, initiator: number, sa: number, list: Buffer, type = 0) =>
    c.nodes[node]!.run(proutCdb(sa, type, list.length), { initiator, dataOut: list });
  return { ...c, prout };
}

describe('reservations across nodes', () => {
  test('an Exclusive Access reservation taken through node A conflicts on node B', async () => {
    const { nodes, prout } = await cluster();
    const [a, b] = nodes as [NonNullable<(typeof nodes)[0]>, NonNullable<(typeof nodes)[0]>];
    expect((await prout(0, 1, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 1n }))).status).toBe(
      ScsiStatus.GOOD,
    );
    expect((await prout(0, 1, ProutSa.RESERVE, basicList({ key: 1n }), Type.EA)).status).toBe(
      ScsiStatus.GOOD,
    );

    expect((await b.run(WRITE_10_LBA_0, { initiator: 2, dataOut: BLOCK })).status).toBe(
      ScsiStatus.RESERVATION_CONFLICT,
    );
    expect((await b.run(READ_10_LBA_0, { initiator: 2 })).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    // The holder's registration names node A's port; through node B the same initiator is not it.
    expect((await b.run(WRITE_10_LBA_0, { initiator: 1, dataOut: BLOCK })).status).toBe(
      ScsiStatus.RESERVATION_CONFLICT,
    );
    expect((await a.run(WRITE_10_LBA_0, { initiator: 1, dataOut: BLOCK })).status).toBe(ScsiStatus.GOOD);

    // READ RESERVATION through B reports A's holder and key.
    const reservation = await b.run(prinCdb(1), { initiator: 2 });
    expect(reservation.status).toBe(ScsiStatus.GOOD);
    expect(reservation.dataIn!.readUInt32BE(4)).toBe(16);
    expect(reservation.dataIn!.readBigUInt64BE(8)).toBe(1n);
    expect(reservation.dataIn![21]! & 0x0f).toBe(Type.EA);
  });

  test('PREEMPT through B: A gets REGISTRATIONS PREEMPTED (2A/05), then RESERVATION CONFLICT', async () => {
    const { nodes, prout } = await cluster();
    const [a, b] = nodes as [NonNullable<(typeof nodes)[0]>, NonNullable<(typeof nodes)[0]>];
    await prout(0, 1, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 1n }));
    await prout(0, 1, ProutSa.RESERVE, basicList({ key: 1n }), Type.EA);
    expect((await prout(1, 2, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 2n }))).status).toBe(
      ScsiStatus.GOOD,
    );
    // SPC-4 PREEMPT: the preempted registrations' nexuses get REGISTRATIONS PREEMPTED (2A/05).
    expect((await prout(1, 2, ProutSa.PREEMPT, basicList({ key: 2n, saKey: 1n }), Type.EA)).status).toBe(
      ScsiStatus.GOOD,
    );
    // The sender's nexus gets nothing.
    expect((await b.run(TUR, { initiator: 2 })).status).toBe(ScsiStatus.GOOD);

    const attention = await a.run(WRITE_10_LBA_0, { initiator: 1, dataOut: BLOCK });
    expect(attention.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(ascOf(attention)).toBe('2a/05');
    expect((await a.run(WRITE_10_LBA_0, { initiator: 1, dataOut: BLOCK })).status).toBe(
      ScsiStatus.RESERVATION_CONFLICT,
    );
    expect((await b.run(WRITE_10_LBA_0, { initiator: 2, dataOut: BLOCK })).status).toBe(ScsiStatus.GOOD);
  });

  test('CLEAR through A: RESERVATIONS PREEMPTED (2A/03) on every other registrant, of every node', async () => {
    const { nodes, prout } = await cluster(3);
    await prout(0, 1, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 1n, allTgPt: true }));
    await prout(1, 2, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 2n }));
    await prout(2, 2, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 3n }));
    expect((await prout(0, 1, ProutSa.CLEAR, basicList({ key: 1n }))).status).toBe(ScsiStatus.GOOD);
    expect(await clearUnitAttentions(nodes[0]!, 1)).toEqual([]); // the sender
    expect(await clearUnitAttentions(nodes[1]!, 1)).toEqual(['2a/03']); // ALL_TG_PT covers A's initiator on B
    expect(await clearUnitAttentions(nodes[1]!, 2)).toEqual(['2a/03']);
    expect(await clearUnitAttentions(nodes[2]!, 2)).toEqual(['2a/03']);
    expect(await clearUnitAttentions(nodes[2]!, 1)).toEqual(['2a/03']);
  });

  test('READ KEYS through any node lists the keys registered through all of them', async () => {
    const { nodes, prout } = await cluster(3);
    await prout(0, 1, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 0x11n }));
    await prout(1, 1, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 0x22n }));
    await prout(2, 2, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 0x33n }));
    const keys = await nodes[1]!.run(prinCdb(0), { initiator: 2 });
    expect(keys.dataIn!.readUInt32BE(0)).toBe(3); // PRGENERATION
    expect(keys.dataIn!.readUInt32BE(4)).toBe(24);
    expect([0, 1, 2].map((i) => keys.dataIn!.readBigUInt64BE(8 + 8 * i))).toEqual([0x11n, 0x22n, 0x33n]);
  });

  test('SPC-2 RESERVE through A conflicts through B; a LUN reset through B releases it everywhere', async () => {
    const { nodes } = await cluster();
    const [a, b] = nodes as [NonNullable<(typeof nodes)[0]>, NonNullable<(typeof nodes)[0]>];
    expect((await a.run(RESERVE_6, { initiator: 1 })).status).toBe(ScsiStatus.GOOD);
    expect((await b.run(TUR, { initiator: 2 })).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect((await b.run(RESERVE_6, { initiator: 1 })).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    await b.lu.reset(b.nexus(2));
    expect(await clearUnitAttentions(a, 1)).toEqual(['29/03']);
    expect(await clearUnitAttentions(b, 2)).toEqual(['29/03']);
    expect((await b.run(RESERVE_6, { initiator: 2 })).status).toBe(ScsiStatus.GOOD);
    expect((await a.run(TUR, { initiator: 1 })).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect((await b.run(RELEASE_6, { initiator: 2 })).status).toBe(ScsiStatus.GOOD);
    expect((await a.run(TUR, { initiator: 1 })).status).toBe(ScsiStatus.GOOD);
  });

  test('a write in flight on B when A takes an Exclusive Access reservation restarts and conflicts', async () => {
    const { nodes, prout, hold, data } = await cluster();
    const b = nodes[1]!;
    const held = hold(1, 'write');
    const write = b.run(WRITE_10_LBA_0, { initiator: 2, dataOut: BLOCK });
    await held.reached;
    await prout(0, 1, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 1n }));
    await prout(0, 1, ProutSa.RESERVE, basicList({ key: 1n }), Type.EA);
    held.release();
    expect((await write).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect(await data.read(0, 512)).toEqual(Buffer.alloc(512));
  });

  test('REGISTER AND MOVE may name a port of another node', async () => {
    const { nodes, prout } = await cluster();
    await prout(0, 1, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 1n }));
    await prout(0, 1, ProutSa.RESERVE, basicList({ key: 1n }), Type.WE);
    const destination = nodes[1]!.nexus(2);
    const name = Buffer.from(`${destination.initiatorPortName}\0`, 'utf8');
    const padded = Buffer.alloc(Math.ceil(name.length / 4) * 4);
    name.copy(padded);
    const transportId = Buffer.concat([Buffer.from([0x45, 0, 0, padded.length]), padded]);
    const list = Buffer.alloc(24 + transportId.length);
    list.writeBigUInt64BE(1n, 0);
    list.writeBigUInt64BE(7n, 8);
    list.writeUInt16BE(destination.relativeTargetPortId, 18);
    list.writeUInt32BE(transportId.length, 20);
    transportId.copy(list, 24);
    expect((await prout(0, 1, ProutSa.REGISTER_AND_MOVE, list, Type.WE)).status).toBe(ScsiStatus.GOOD);
    expect((await nodes[1]!.run(WRITE_10_LBA_0, { initiator: 2, dataOut: BLOCK })).status).toBe(
      ScsiStatus.GOOD,
    );
    expect((await nodes[0]!.run(WRITE_10_LBA_0, { initiator: 1, dataOut: BLOCK })).status).toBe(
      ScsiStatus.RESERVATION_CONFLICT,
    );
  });
});

describe('reservations across node restarts', () => {
  test('a node restart keeps the registrations and the reservation (the LU did not lose power)', async () => {
    const { prout, restart } = await cluster();
    await prout(0, 1, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 1n }));
    await prout(0, 1, ProutSa.RESERVE, basicList({ key: 1n }), Type.EA);
    const a = await restart(0);
    expect(await clearUnitAttentions(a, 2)).toEqual(['29/00']);
    expect((await a.run(WRITE_10_LBA_0, { initiator: 2, dataOut: BLOCK })).status).toBe(
      ScsiStatus.RESERVATION_CONFLICT,
    );
  });

  test('a cold start of the cluster drops registrations without APTPL and keeps those with it', async () => {
    const { prout, restart, nodes } = await cluster();
    await prout(0, 1, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 1n }));
    await prout(0, 1, ProutSa.RESERVE, basicList({ key: 1n }), Type.EA);
    await restart(0, { clusterColdStart: true });
    await clearUnitAttentions(nodes[0]!, 2);
    expect((await nodes[0]!.run(WRITE_10_LBA_0, { initiator: 2, dataOut: BLOCK })).status).toBe(
      ScsiStatus.GOOD,
    );

    await clearUnitAttentions(nodes[0]!, 1);
    await prout(0, 1, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: 1n, aptpl: true }));
    await prout(0, 1, ProutSa.RESERVE, basicList({ key: 1n }), Type.EA);
    const a = await restart(0, { clusterColdStart: true });
    await clearUnitAttentions(a, 2);
    expect((await a.run(WRITE_10_LBA_0, { initiator: 2, dataOut: BLOCK })).status).toBe(
      ScsiStatus.RESERVATION_CONFLICT,
    );
  });
});
