/**
 * Field scenario 9 (multipath.md §5.2, §8): a Windows failover cluster arbitrates a disk through
 * two target nodes.
 *
 * Two cluster nodes (two hosts), each a PrClusterNode over a "Fail Over Only" device with a
 * stable ISID per path: node 1 prefers A, node 2 prefers B. Each registers its key on both of
 * its paths (REGISTER AND IGNORE EXISTING KEY, one I_T nexus per path). Node 1 reserves WRITE
 * EXCLUSIVE – REGISTRANTS ONLY through A and writes through A. In half the seeds node 1's path
 * to A is lost for a while: its writes go on through B under the same reservation, and A's path
 * comes back (a new login of the same nexus). Node 2 then reads the keys and the reservation
 * through B and through A, and PREEMPTs node 1's key through B.
 *
 * Correct: READ KEYS and READ RESERVATION answer the same through both nodes (same keys, same
 * generation, same holder and type) before and after the preempt; node 1's next commands get
 * UNIT ATTENTION 2A/05 or 2A/03 on its paths (A and B), and its writes RESERVATION CONFLICT
 * through A and through B (refused: the register checker holds that they never land); node 2
 * holds the reservation and its writes succeed.
 */
import { AscAscq, ascAscq, PrType } from '../initiator/scsi-cluster-commands.js';
import { type MultipathDevice, MultipathError } from '../multipath/multipath-device.js';
import { clusterNodeKey, isGood, PrClusterNode } from '../multipath/pr-cluster-node.js';
import { unitAttentionsAfter } from './cluster-helpers.js';
import type { Scenario, ScenarioContext } from './scenario.js';

async function openNode(
  context: ScenarioContext,
  index: number,
  paths: readonly string[],
): Promise<PrClusterNode> {
  const node = new PrClusterNode({
    name: `node-${index}`,
    key: clusterNodeKey(index),
    eventLog: context.world.eventLog,
  });
  const device = await context.openDevice({
    host: `cluster-${index}`,
    policy: 'failover',
    paths,
    stableIsid: true,
    pathSetup: node.pathSetup,
  });
  node.attach(device);
  return node;
}

/** READ KEYS and READ RESERVATION through `path`, as one comparable line. */
async function prView(device: MultipathDevice, path: string): Promise<string> {
  try {
    const keys = await device.readKeys({ path });
    const reservation = await device.readReservation({ path });
    const held = reservation.reservation;
    return (
      `generation ${keys.generation}, keys [${keys.keys
        .map((key) => key.toString(16))
        .sort()
        .join(',')}], ` +
      (held === undefined ? 'no reservation' : `reserved by ${held.key.toString(16)} type ${held.type}`) +
      `, reservation generation ${reservation.generation}`
    );
  } catch (error) {
    if (!(error instanceof MultipathError)) throw error;
    return `failed: ${error.code} ${error.message}`;
  }
}

export const prPreemptAcrossNodes: Scenario = {
  name: 'pr-preempt-across-nodes',
  field: 9,
  description:
    'PR through B preempts a holder registered through A: A gets RESERVATION CONFLICT and UA 2A/05',
  world: () => ({ alua: 'active-active' }),
  async run(context) {
    const { rng, history, world } = context;
    const perObject = context.blocksPerObject;
    const blocks = rng
      .shuffle([1, 2, 3, 4, 5, 6])
      .slice(0, rng.int(1, 4))
      .map((object) => object * perObject + rng.int(0, perObject));
    const one = await openNode(context, 1, ['target-a', 'target-b']);
    const two = await openNode(context, 2, ['target-b', 'target-a']);
    const k1 = one.key.toString(16);
    const k2 = two.key.toString(16);

    context.step('node 1 reserves WRITE EXCLUSIVE - REGISTRANTS ONLY through A and writes');
    const reserved = await one.reserve('target-a');
    context.expect(
      isGood(reserved),
      `node 1's RESERVE through A should succeed, status 0x${reserved.result.status.toString(16)}`,
    );
    for (const block of blocks) {
      const write = await history.write(one.device, 'n1', block);
      context.expect(
        write.outcome === 'ok',
        `node 1's write of block ${block} should succeed, got ${write.outcome} ${write.error ?? ''}`,
      );
    }

    if (rng.chance(0.5)) {
      context.step("node 1's path to A is lost; its writes go on through B under the reservation");
      world.network.partition('cluster-1', 'target-a');
      for (const block of blocks) {
        const write = await history.write(one.device, 'n1', block);
        context.expect(
          write.outcome === 'ok' && write.path === 'target-b',
          `node 1's write of block ${block} should go on through B (registered there), got ${write.outcome} through ${write.path} ${write.error ?? ''}`,
        );
      }
      world.network.heal('cluster-1', 'target-a');
      const back = await context.waitFor(() => one.device.paths()[0]?.state === 'active', 30_000);
      context.expect(back, "node 1's path to A should come back within 30 s");
      const again = await history.write(one.device, 'n1', blocks[0]!);
      context.expect(
        again.outcome === 'ok',
        `node 1's write after A came back should succeed, got ${again.outcome} ${again.error ?? ''}`,
      );
    }

    context.step('node 2 reads the keys and the reservation through B and through A');
    const beforeB = await prView(two.device, 'target-b');
    const beforeA = await prView(two.device, 'target-a');
    context.expect(
      beforeA === beforeB,
      `before the preempt both nodes should answer the same: B: ${beforeB} | A: ${beforeA}`,
    );
    context.expect(
      beforeB.includes(k1) &&
        beforeB.includes(k2) &&
        beforeB.includes(`reserved by ${k1} type ${PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY}`),
      `before the preempt the keys should include ${k1} and ${k2}, reserved by ${k1} (WERO): ${beforeB}`,
    );

    context.step("node 2 preempts node 1's key through B");
    const preemptSeq = world.eventLog.lastSeq;
    const preempted = await two.preempt(one.key, 'target-b');
    context.expect(
      isGood(preempted),
      `node 2's PREEMPT through B should succeed, status 0x${preempted.result.status.toString(16)}`,
    );

    const afterB = await prView(two.device, 'target-b');
    const afterA = await prView(two.device, 'target-a');
    context.expect(
      afterA === afterB,
      `after the preempt both nodes should answer the same: B: ${afterB} | A: ${afterA}`,
    );
    context.expect(
      !afterB.includes(k1) && afterB.includes(`reserved by ${k2}`),
      `after the preempt only ${k2} should be registered, holding the reservation: ${afterB}`,
    );

    context.step('node 1 writes through A, then through B: RESERVATION CONFLICT');
    const throughA = await history.write(one.device, 'n1', blocks[0]!, { path: 'target-a' });
    context.expect(
      throughA.outcome === 'refused',
      `node 1's write through A after the preempt should get RESERVATION CONFLICT, got ${throughA.outcome} ${throughA.error ?? ''}`,
    );
    const throughB = await history.write(one.device, 'n1', blocks[blocks.length - 1]!, { path: 'target-b' });
    context.expect(
      throughB.outcome === 'refused',
      `node 1's write through B after the preempt should get RESERVATION CONFLICT, got ${throughB.outcome} ${throughB.error ?? ''}`,
    );
    for (const path of ['target-a', 'target-b']) {
      await context.waitFor(() => unitAttentionsAfter(one.device, path, preemptSeq).length > 0, 5_000);
      const seen = unitAttentionsAfter(one.device, path, preemptSeq).map((record) =>
        ascAscq(record.asc, record.ascq),
      );
      context.expect(
        seen.includes(AscAscq.REGISTRATIONS_PREEMPTED) || seen.includes(AscAscq.RESERVATIONS_PREEMPTED),
        `node 1 should get UNIT ATTENTION 2A/05 (or 2A/03) through ${path} after the preempt; it got [${seen.map((code) => code.toString(16).padStart(4, '0')).join(', ')}]`,
      );
    }
    context.expect(one.preempted, 'node 1 should have noticed that it was preempted');

    context.step('node 2 writes: it holds the disk now');
    for (const block of blocks) {
      const write = await history.write(two.device, 'n2', block);
      context.expect(
        write.outcome === 'ok',
        `node 2's write of block ${block} should succeed, got ${write.outcome} ${write.error ?? ''}`,
      );
    }
    for (const block of blocks) await history.read(two.device, 'n2', block);
  },
};
