/**
 * Goal: unit attentions of a clustered LU reach the nexuses of every node: LUN reset (29/03),
 * MODE SELECT (2A/01, with the mode shared), capacity changes (2A/09), never the sender's nexus;
 * a node that missed events dropped from the bounded log raises 29/00 instead; the iSCSI-facing
 * reset resolves only once the reset is visible through the other node.
 * Method: createTestCluster; the log itself is also driven through its pure functions.
 */
import { describe, expect, test } from 'vitest';
import { UA_LOG_LENGTH_MAX } from '../../../src/scsi/cluster/cluster-document.js';
import {
  ALL,
  appendUnitAttentions,
  pendingUnitAttentions,
  uaEvent,
} from '../../../src/scsi/cluster/cluster-unit-attentions.js';
import { ScsiStatus, SenseKey } from '../../../src/scsi/scsi-types.js';
import { modeSelect6, modeSense6 } from '../../support/cdb-builder.js';
import { ascOf, clearUnitAttentions, createTestCluster } from '../../support/scsi-cluster.js';

const TUR = Buffer.from([0, 0, 0, 0, 0, 0]);
const INQUIRY = Buffer.from([0x12, 0, 0, 0, 96, 0]);

/** MODE SELECT(6) list: header + caching page with WCE as given. */
function cachingList(wce: boolean): Buffer {
  const page = Buffer.alloc(0x14);
  page[0] = 0x08;
  page[1] = 0x12;
  page[2] = wce ? 0x04 : 0;
  return Buffer.concat([Buffer.alloc(4), page]);
}

async function wceOf(run: (cdb: Buffer) => Promise<{ dataIn?: Buffer }>): Promise<boolean> {
  const sense = await run(modeSense6({ dbd: true, page: 0x08, alloc: 255 }));
  return (sense.dataIn![4 + 2]! & 0x04) !== 0;
}

describe('unit attentions across nodes', () => {
  test('LUN reset through A: TEST UNIT READY through B right after gets 29/03', async () => {
    const { nodes } = await createTestCluster();
    const [a, b] = [nodes[0]!, nodes[1]!];
    await clearUnitAttentions(a);
    await clearUnitAttentions(b);
    await a.lu.reset(a.nexus());
    const tur = await b.run(TUR);
    expect(tur.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(tur.sense?.key).toBe(SenseKey.UNIT_ATTENTION);
    expect(ascOf(tur)).toBe('29/03');
    expect(ascOf(await a.run(TUR))).toBe('29/03');
    expect((await b.run(TUR)).status).toBe(ScsiStatus.GOOD);
  });

  test('MODE SELECT through A changes the mode on B and raises 2A/01 on every nexus but the sender', async () => {
    const { nodes } = await createTestCluster();
    const [a, b] = [nodes[0]!, nodes[1]!];
    for (const node of nodes) {
      await clearUnitAttentions(node, 1);
      await clearUnitAttentions(node, 2);
    }
    const list = cachingList(false);
    expect((await a.run(modeSelect6(list.length), { dataOut: list })).status).toBe(ScsiStatus.GOOD);
    expect(await clearUnitAttentions(a, 1)).toEqual([]);
    expect(await clearUnitAttentions(a, 2)).toEqual(['2a/01']);
    expect(await clearUnitAttentions(b, 1)).toEqual(['2a/01']);
    expect(await clearUnitAttentions(b, 2)).toEqual(['2a/01']);
    expect(await wceOf((cdb) => b.run(cdb))).toBe(false);
    // A LUN reset through B returns the shared mode to its defaults.
    await b.lu.reset(b.nexus());
    expect(await clearUnitAttentions(a, 1)).toEqual(['29/03']);
    expect(await wceOf((cdb) => a.run(cdb))).toBe(true);
  });

  test('capacityChanged raises 2A/09 on the nexuses of every node', async () => {
    const { nodes } = await createTestCluster({ nodes: 3 });
    for (const node of nodes) await clearUnitAttentions(node);
    await nodes[2]!.lu.capacityChanged();
    for (const node of nodes) expect(await clearUnitAttentions(node)).toEqual(['2a/09']);
  });

  test('a node that missed events dropped from the log raises 29/00 on its nexuses', async () => {
    const { nodes } = await createTestCluster();
    const [a, b] = [nodes[0]!, nodes[1]!];
    await clearUnitAttentions(a);
    await clearUnitAttentions(b);
    for (let index = 0; index < UA_LOG_LENGTH_MAX + 5; index++) {
      const list = cachingList(index % 2 === 1);
      expect((await a.run(modeSelect6(list.length), { dataOut: list })).status).toBe(ScsiStatus.GOOD);
    }
    expect(b.cell.stale).toBe(true);
    // 29/00 first; the mode change that is still in the log follows it.
    expect(await clearUnitAttentions(b)).toEqual(['29/00', '2a/01']);
  });

  test('INQUIRY neither validates the cell nor reports; the next TUR does both', async () => {
    const { nodes } = await createTestCluster();
    const [a, b] = [nodes[0]!, nodes[1]!];
    await clearUnitAttentions(a);
    await clearUnitAttentions(b);
    await a.lu.capacityChanged();
    expect((await b.run(INQUIRY)).status).toBe(ScsiStatus.GOOD);
    expect(b.cell.stale).toBe(true);
    expect(ascOf(await b.run(TUR))).toBe('2a/09');
  });

  test('a READ through a node that has not seen the change still meets the unit attention', async () => {
    const { nodes } = await createTestCluster();
    const [a, b] = [nodes[0]!, nodes[1]!];
    await clearUnitAttentions(a);
    await clearUnitAttentions(b);
    await a.lu.capacityChanged();
    // READ does not validate first; its IO finds the cell changed, restarts, and meets 2A/09.
    const read = await b.run(Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]));
    expect(ascOf(read)).toBe('2a/09');
    expect((await b.run(Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]))).status).toBe(ScsiStatus.GOOD);
  });
});

describe('the unit attention log', () => {
  const sense = { key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x01 };

  test('appends with consecutive seqs and keeps the newest UA_LOG_LENGTH_MAX', () => {
    let log = { nextSeq: 1, events: [] as ReturnType<typeof appendUnitAttentions>['events'] };
    for (let index = 0; index < UA_LOG_LENGTH_MAX + 3; index++)
      log = appendUnitAttentions(log, [uaEvent(sense, ALL)]);
    expect(log.nextSeq).toBe(UA_LOG_LENGTH_MAX + 4);
    expect(log.events).toHaveLength(UA_LOG_LENGTH_MAX);
    expect(log.events[0]!.seq).toBe(4);
  });

  test('a node behind the oldest kept event sees a gap; one at the edge does not', () => {
    let log = { nextSeq: 1, events: [] as ReturnType<typeof appendUnitAttentions>['events'] };
    for (let index = 0; index < UA_LOG_LENGTH_MAX + 3; index++)
      log = appendUnitAttentions(log, [uaEvent(sense, ALL)]);
    expect(pendingUnitAttentions(log, 2).gap).toBe(true);
    expect(pendingUnitAttentions(log, 3)).toMatchObject({ gap: false, appliedSeq: UA_LOG_LENGTH_MAX + 3 });
    expect(pendingUnitAttentions(log, 3).events).toHaveLength(UA_LOG_LENGTH_MAX);
    expect(pendingUnitAttentions(log, UA_LOG_LENGTH_MAX + 3).events).toHaveLength(0);
  });
});
