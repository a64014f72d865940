/**
 * Field scenario 5 (multipath.md §6.6, §8): a COMPARE AND WRITE whose answer is lost is retried
 * on the other path.
 *
 * The host writes V0 through A, then the link A -> host stops delivering (one way): the host's
 * CAW (compare V0, write V1) reaches A, which performs it, and its answer is held. While the
 * host waits, a second host reads the block through B until it sees V1, and (most seeds) moves
 * it on with its own CAW (compare V1, write V2). The host's CAW times out and is retried through
 * B. Correct: the retry answers MISCOMPARE (the first attempt already wrote; CAW is not
 * idempotent), nothing is written twice, and the block ends with the newest value.
 *
 * Checks: the retry's MISCOMPARE and the second host's GOOD (expectations); the register checker
 * with COMPARE AND WRITE: V2 follows V1 (the second CAW compared it), so a read of V1 after V2 was
 * acknowledged is a stale read, which is what a retry that wrote V1 again would leave; the
 * compare of a successful CAW is a read (a compare against a stale value is a stale read).
 * Policy drawn per seed: active-active (the host's device fails over, A first) or single-owner
 * (an ALUA device, A the owner; the second host's read through B takes the LU over).
 */
import { INITIATOR_HOST } from '../world.js';
import { makeOwner } from './cluster-helpers.js';
import type { Scenario } from './scenario.js';

export const lostAckCawRetry: Scenario = {
  name: 'lost-ack-caw-retry',
  field: 5,
  description:
    'a COMPARE AND WRITE whose answer is lost is retried on the other path: MISCOMPARE, no double write',
  world: (rng) => ({ alua: rng.chance(0.5) ? 'active-active' : 'single-owner' }),
  async run(context) {
    const { rng, history, world } = context;
    const singleOwner = world.options.alua === 'single-owner';
    const device = await context.openDevice({ policy: singleOwner ? 'alua' : 'failover' });
    if (singleOwner) await makeOwner(context, device, 'target-a');
    const other = await context.openDevice({ host: 'host-2', paths: ['target-b', 'target-a'] });
    const perObject = context.blocksPerObject;
    const block = rng.int(1, 8) * perObject + rng.int(0, perObject);
    const v0 = await history.write(device, 'host', block);
    context.expect(
      v0.outcome === 'ok' && v0.path === 'target-a',
      `V0 should be written through A, went ${v0.path}`,
    );

    context.step('the link A -> host holds everything; the CAW goes to A');
    world.network.partition('target-a', INITIATOR_HOST, { oneWay: true });
    const cawDone = history.compareAndWrite(device, 'host', block, v0.stamp!);
    const v1 = history.ops[history.ops.length - 1]!;
    await context.sleep(rng.int(200, 2_000));

    context.step("host-2 sees the CAW's value through B");
    let seen = false;
    for (let tries = 0; tries < 20 && !seen; tries++) {
      const read = await history.read(other, 'host-2', block);
      seen = read.stamp === v1.stamp;
      if (!seen) await context.sleep(250);
    }
    context.expect(seen, `host-2 should read the CAW's value ${v1.stamp} through B once A performed it`);
    let newest = v1;
    if (seen && rng.chance(0.7)) {
      const v2 = await history.compareAndWrite(other, 'host-2', block, v1.stamp!);
      context.expect(
        v2.outcome === 'ok',
        `host-2's CAW (compare ${v1.stamp}) through B should succeed, got ${v2.caw?.answer ?? v2.outcome} ${v2.error ?? ''}`,
      );
      if (v2.outcome === 'ok') newest = v2;
    }

    const caw = await cawDone;
    context.expect(
      caw.caw?.answer === 'miscompare',
      `the host's CAW, retried after its answer was lost, should answer MISCOMPARE (it already wrote), got ${caw.caw?.answer ?? caw.outcome} through ${caw.path} ${caw.error ?? ''}`,
    );
    context.expect(caw.path === 'target-b', `the retry should go through B, went through ${caw.path}`);

    context.step('the link heals; the host reads the block');
    world.network.heal('target-a', INITIATOR_HOST);
    await context.waitFor(() => device.paths().every((path) => path.state === 'active'), 30_000);
    for (let index = 0, count = rng.int(1, 3); index < count; index++) {
      const read = await history.read(device, 'host', block);
      context.expect(
        read.stamp === newest.stamp,
        `the block should hold ${newest.stamp} (written once), read ${read.stamp} through ${read.path}`,
      );
    }
  },
};
