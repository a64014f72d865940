/**
 * Goal: ALUA of a clustered LU comes from the cluster document: REPORT TARGET PORT GROUPS is the
 * same bytes through every node, SET TARGET PORT GROUPS through one node is enforced by all,
 * INQUIRY says TPGS 11b, a node whose identity clashes cannot join, and under single-owner the
 * first READ/WRITE at a non-owner takes the LU over.
 * Method: createTestCluster with two or three nodes; CDBs built byte by byte here.
 */
import { describe, expect, test } from 'vitest';
import { ScsiStatus } from '../../../src/scsi/scsi-types.js';
import { reportSupportedOpcodesCdb, reportTargetPortGroupsCdb } from '../../support/cdb-builder.js';
import { ascOf, clearUnitAttentions, createTestCluster } from '../../support/scsi-cluster.js';

const READ_10_LBA_0 = Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
const INQUIRY = Buffer.from([0x12, 0, 0, 0, 96, 0]);

/** SET TARGET PORT GROUPS (SPC-4): MAINTENANCE OUT A4h, SA 0Ah, PARAMETER LIST LENGTH bytes 6-9. */
function stpgCdb(listLength: number): Buffer {
  const cdb = Buffer.alloc(12);
  cdb[0] = 0xa4;
  cdb[1] = 0x0a;
  cdb.writeUInt32BE(listLength, 6);
  return cdb;
}

/** The STPG parameter list: 4 reserved bytes, then (state, group) descriptors. */
function stpgList(descriptors: ReadonlyArray<{ state: number; group: number }>): Buffer {
  const list = Buffer.alloc(4 + 4 * descriptors.length);
  descriptors.forEach(({ state, group }, index) => {
    list[4 + 4 * index] = state;
    list.writeUInt16BE(group, 4 + 4 * index + 2);
  });
  return list;
}

/** RTPG descriptors as (group, state, status code, ports). */
function parseGroups(data: Buffer, extended: boolean) {
  const groups: { group: number; state: number; status: number; ports: number[] }[] = [];
  let offset = extended ? 8 : 4;
  while (offset < 4 + data.readUInt32BE(0)) {
    const count = data[offset + 7]!;
    const ports = Array.from({ length: count }, (_, i) => data.readUInt16BE(offset + 8 + 4 * i + 2));
    groups.push({
      group: data.readUInt16BE(offset + 2),
      state: data[offset]! & 0x0f,
      status: data[offset + 5]!,
      ports,
    });
    offset += 8 + 4 * count;
  }
  return groups;
}

describe('REPORT TARGET PORT GROUPS from the cluster document', () => {
  test('every node answers the same bytes: groups by id, each with its port', async () => {
    const { nodes } = await createTestCluster({ nodes: 3 });
    for (const node of nodes) await clearUnitAttentions(node);
    const answers = await Promise.all(nodes.map((node) => node.run(reportTargetPortGroupsCdb(1, 1024))));
    for (const answer of answers) {
      expect(answer.status).toBe(ScsiStatus.GOOD);
      expect(answer.dataIn).toEqual(answers[0]!.dataIn);
    }
    const data = answers[0]!.dataIn!;
    expect(data[4]).toBe(0x10); // extended header
    expect(data[5]).toBe(10); // implicit transition time
    expect(parseGroups(data, true)).toEqual([
      { group: 1, state: 0, status: 0, ports: [1] },
      { group: 2, state: 0, status: 0, ports: [2] },
      { group: 3, state: 0, status: 0, ports: [3] },
    ]);
  });

  test('standard INQUIRY reports TPGS 11b (implicit and explicit)', async () => {
    const { nodes } = await createTestCluster();
    const inquiry = await nodes[0]!.run(INQUIRY);
    expect((inquiry.dataIn![5]! >> 4) & 0x03).toBe(0b11);
  });

  test('REPORT SUPPORTED OPERATION CODES lists SET TARGET PORT GROUPS', async () => {
    const { nodes } = await createTestCluster();
    await clearUnitAttentions(nodes[0]!);
    const one = await nodes[0]!.run(
      reportSupportedOpcodesCdb({ reportingOptions: 2, opcode: 0xa4, serviceAction: 0x0a, alloc: 64 }),
    );
    expect(one.status).toBe(ScsiStatus.GOOD);
    expect(one.dataIn![1]! & 0x07).toBe(0x03);
    expect(one.dataIn!.readUInt16BE(2)).toBe(12);
  });
});

describe('SET TARGET PORT GROUPS', () => {
  test('through A: RTPG changes on every node, B refuses READ in standby, 2A/06 everywhere but the sender', async () => {
    const { nodes } = await createTestCluster({ nodes: 3 });
    for (const node of nodes) {
      await clearUnitAttentions(node, 1);
      await clearUnitAttentions(node, 2);
    }
    const list = stpgList([{ state: 0x2, group: 2 }]);
    expect((await nodes[0]!.run(stpgCdb(list.length), { dataOut: list })).status).toBe(ScsiStatus.GOOD);
    expect(await clearUnitAttentions(nodes[0]!, 1)).toEqual([]);
    expect(await clearUnitAttentions(nodes[0]!, 2)).toEqual(['2a/06']);
    expect(await clearUnitAttentions(nodes[1]!, 1)).toEqual(['2a/06']);
    expect(await clearUnitAttentions(nodes[2]!, 1)).toEqual(['2a/06']);
    const answers = await Promise.all(nodes.map((node) => node.run(reportTargetPortGroupsCdb(0, 1024))));
    for (const answer of answers) expect(answer.dataIn).toEqual(answers[0]!.dataIn);
    expect(parseGroups(answers[0]!.dataIn!, false).map(({ state, status }) => [state, status])).toEqual([
      [0, 0],
      [2, 1],
      [0, 0],
    ]);
    const refused = await nodes[1]!.run(READ_10_LBA_0);
    expect(refused.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(refused.sense?.key).toBe(0x2);
    expect(ascOf(refused)).toBe('04/0b');
    // STPG itself is allowed in standby: B asks to be active again.
    const back = stpgList([{ state: 0x0, group: 2 }]);
    expect((await nodes[1]!.run(stpgCdb(back.length), { dataOut: back })).status).toBe(ScsiStatus.GOOD);
    expect((await nodes[1]!.run(READ_10_LBA_0)).status).toBe(ScsiStatus.GOOD);
  });

  test.each([
    ['LBA dependent', 0x4, 4, 3],
    ['offline', 0xe, 4, 3],
    ['transitioning', 0xf, 4, 3],
  ])('asking for %s is INVALID FIELD IN PARAMETER LIST', async (_name, state, byte, bit) => {
    const { nodes } = await createTestCluster();
    await clearUnitAttentions(nodes[0]!);
    const list = stpgList([{ state, group: 1 }]);
    const result = await nodes[0]!.run(stpgCdb(list.length), { dataOut: list });
    expect(result.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(ascOf(result)).toBe('26/00');
    expect(result.sense?.fieldPointer).toEqual({ inCdb: false, byte, bit });
  });

  test('an unknown group is INVALID FIELD IN PARAMETER LIST and nothing changes', async () => {
    const { nodes } = await createTestCluster();
    await clearUnitAttentions(nodes[0]!);
    const list = stpgList([
      { state: 0x2, group: 1 },
      { state: 0x2, group: 9 },
    ]);
    const result = await nodes[0]!.run(stpgCdb(list.length), { dataOut: list });
    expect(ascOf(result)).toBe('26/00');
    expect(result.sense?.fieldPointer).toEqual({ inCdb: false, byte: 10, bit: 7 });
    expect((await nodes[0]!.run(READ_10_LBA_0)).status).toBe(ScsiStatus.GOOD);
  });

  test('a list that ends inside a descriptor is PARAMETER LIST LENGTH ERROR', async () => {
    const { nodes } = await createTestCluster();
    await clearUnitAttentions(nodes[0]!);
    const list = Buffer.alloc(6);
    expect(ascOf(await nodes[0]!.run(stpgCdb(6), { dataOut: list }))).toBe('1a/00');
  });
});

describe('joining the cluster document', () => {
  test('a node id already there with another group is refused, naming both layouts', async () => {
    const { restart } = await createTestCluster();
    await expect(
      restart(1, { clusterNode: { nodeId: 2, targetPortGroup: 7, relativeTargetPortIds: [2] } }),
    ).rejects.toThrow(/node id 2 is already .* target port group 2, .* this node says target port group 7/);
  });

  test("another node's group or port is refused", async () => {
    const { restart } = await createTestCluster();
    await expect(
      restart(1, { clusterNode: { nodeId: 5, targetPortGroup: 1, relativeTargetPortIds: [5] } }),
    ).rejects.toThrow(/target port group 1 of node 5 already belongs to node 1/);
    await expect(
      restart(1, { clusterNode: { nodeId: 5, targetPortGroup: 5, relativeTargetPortIds: [1] } }),
    ).rejects.toThrow(/relative target port ids \[1\] of node 5 already belong to node 1/);
  });

  test('a policy other than the one the first nodes chose is refused', async () => {
    const { restart } = await createTestCluster({ policy: 'active-active' });
    await expect(restart(1, { aluaPolicy: 'single-owner' })).rejects.toThrow(/same policy/);
  });

  test('a command through a node that cannot join answers NOT READY, MANUAL INTERVENTION REQUIRED', async () => {
    const { restart } = await createTestCluster();
    const clashing = await restart(
      1,
      { clusterNode: { nodeId: 3, targetPortGroup: 1, relativeTargetPortIds: [3] } },
      { open: false },
    );
    const result = await clashing.run(Buffer.from([0, 0, 0, 0, 0, 0]));
    expect(result.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(ascOf(result)).toBe('04/03');
  });
});
