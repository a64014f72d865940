/**
 * Field scenario 4 (multipath.md §8): a WRITE's acknowledgement is lost and the write is retried
 * on the other path. The link A -> host stops delivering (one way) just before the write: A
 * performs it, its answer is held; the host times out and re-issues it on B. Correct: the same
 * data, no error for the caller, and reads (after failback to A) return it.
 */
import type { Scenario } from './scenario.js';

export const lostAckRetry: Scenario = {
  name: 'lost-ack-retry',
  field: 4,
  description: 'A writes but its answer is lost; the host retries on B: identical data, no error',
  async run(context) {
    const { rng, history, world } = context;
    const device = await context.openDevice({ policy: 'failover' });
    const block = rng.int(1, 8) * context.blocksPerObject + rng.int(0, context.blocksPerObject);
    if (rng.chance(0.5)) await history.write(device, 'host', block);
    context.step('the link A -> host holds everything');
    world.network.partition('target-a', 'host', { oneWay: true });
    const write = await history.write(device, 'host', block);
    context.expect(
      write.outcome === 'ok',
      `the retried write should succeed, got ${write.outcome} ${write.error ?? ''}`,
    );
    context.expect(write.path === 'target-b', `the retry should be acknowledged by B, was ${write.path}`);
    context.step('the link heals; A comes back');
    world.network.heal('target-a', 'host');
    await context.waitFor(() => device.paths().every((path) => path.state === 'active'), 30_000);
    const read = await history.read(device, 'host', block);
    context.expect(read.stamp === write.stamp, `the read should return ${write.stamp}, got ${read.stamp}`);
  },
};
