/**
 * Field scenario 3 (multipath.md §8): a delayed write arrives after the retry. The host's link
 * to A stops delivering (one way: host -> A) while W1 is on its way; the host times out, fails
 * the path and retries W1 on B, then writes W2 to the same block through B. The link heals and
 * A comes back (failback). Correct: the final read returns W2; W1's held copy must never land.
 */
import type { Scenario } from './scenario.js';

export const delayedWriteAfterRetry: Scenario = {
  name: 'delayed-write-after-retry',
  field: 3,
  description: 'W1 is held on the way to A, retried on B, W2 follows on B, the link heals: W2 stays',
  async run(context) {
    const { rng, history, world } = context;
    const device = await context.openDevice({ policy: 'failover' });
    const block = rng.int(1, 8) * context.blocksPerObject + rng.int(0, context.blocksPerObject);
    if (rng.chance(0.5)) await history.write(device, 'host', block);
    context.step('the link host -> A holds everything');
    world.network.partition('host', 'target-a', { oneWay: true });
    const w1 = await history.write(device, 'host', block);
    context.expect(w1.outcome === 'ok', `W1 should succeed through B, got ${w1.outcome} ${w1.error ?? ''}`);
    const w2 = await history.write(device, 'host', block);
    context.expect(w2.path === 'target-b', `W2 should go through B, went through ${w2.path}`);
    context.step('the link heals; A comes back');
    world.network.heal('host', 'target-a');
    await context.waitFor(() => device.paths().every((path) => path.state === 'active'), 30_000);
    await context.sleep(rng.int(0, 3_000));
    const read = await history.read(device, 'host', block);
    context.expect(read.stamp === w2.stamp, `the final read should return W2 ${w2.stamp}, got ${read.stamp}`);
  },
};
