/**
 * Goal: COMPARE AND WRITE and ORWRITE stay atomic when the same blocks are hit through different
 * nodes at once: of two COMPARE AND WRITEs expecting the same data exactly one writes and the
 * other answers MISCOMPARE; two ORWRITEs both land (neither reads before the other's write).
 * Method: createTestCluster; the commands are started together so their reads and writes would
 * interleave without the shared cell's exclusive section.
 */
import { describe, expect, test } from 'vitest';
import { ScsiStatus, SenseKey } from '../../../src/scsi/scsi-types.js';
import { compareAndWriteCdb, rw16 } from '../../support/cdb-builder.js';
import { clearUnitAttentions, createTestCluster } from '../../support/scsi-cluster.js';

function cawData(expected: number, replacement: number): Buffer {
  return Buffer.concat([Buffer.alloc(512, expected), Buffer.alloc(512, replacement)]);
}

describe('COMPARE AND WRITE across nodes', () => {
  test('two nodes, one LBA, the same expected data: exactly one GOOD, the other MISCOMPARE', async () => {
    const { nodes, data } = await createTestCluster();
    for (const node of nodes) await clearUnitAttentions(node);
    const results = await Promise.all([
      nodes[0]!.run(compareAndWriteCdb(3n, 1), { dataOut: cawData(0x00, 0x11) }),
      nodes[1]!.run(compareAndWriteCdb(3n, 1), { dataOut: cawData(0x00, 0x22) }),
    ]);
    const good = results.filter((result) => result.status === ScsiStatus.GOOD);
    const miscompare = results.filter((result) => result.sense?.key === SenseKey.MISCOMPARE);
    expect(good).toHaveLength(1);
    expect(miscompare).toHaveLength(1);
    const winner = results[0]!.status === ScsiStatus.GOOD ? 0x11 : 0x22;
    expect(await data.read(3 * 512, 512)).toEqual(Buffer.alloc(512, winner));
  });

  test('three nodes racing a lock sector: one winner per round, and the loser sees the winner', async () => {
    const { nodes, data } = await createTestCluster({ nodes: 3 });
    for (const node of nodes) await clearUnitAttentions(node);
    let current = 0x00;
    for (let round = 1; round <= 4; round++) {
      const results = await Promise.all(
        nodes.map((node, index) =>
          node.run(compareAndWriteCdb(7n, 1), { dataOut: cawData(current, round * 16 + index) }),
        ),
      );
      const winners = results.flatMap((result, index) => (result.status === ScsiStatus.GOOD ? [index] : []));
      expect(winners).toHaveLength(1);
      current = round * 16 + winners[0]!;
      expect(await data.read(7 * 512, 512)).toEqual(Buffer.alloc(512, current));
    }
  });

  test('two ORWRITEs of different bits through two nodes both land', async () => {
    const { nodes, data } = await createTestCluster();
    for (const node of nodes) await clearUnitAttentions(node);
    const results = await Promise.all([
      nodes[0]!.run(rw16(0x8b, 5n, 1), { dataOut: Buffer.alloc(512, 0x0f) }),
      nodes[1]!.run(rw16(0x8b, 5n, 1), { dataOut: Buffer.alloc(512, 0xf0) }),
    ]);
    expect(results.map((result) => result.status)).toEqual([ScsiStatus.GOOD, ScsiStatus.GOOD]);
    expect(await data.read(5 * 512, 512)).toEqual(Buffer.alloc(512, 0xff));
  });
});
