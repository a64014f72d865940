/**
 * Failover after a snapshot (sheepdog commit 245abd6e; multipath.md §6.7): both targets run, A
 * writes X into a fresh object, a snapshot is taken under both, A writes Y into the same object
 * (its write gets READONLY, A re-resolves the new working VDI and copies the object on write), A
 * crashes and the host reads X's and Y's blocks through B. B may have read X before the
 * snapshot (its cache then maps the object to the old vid, now the snapshot), and after the
 * failover B may write first. Correct: every acknowledged write is read back.
 */
import type { Scenario } from './scenario.js';

export const failoverAfterSnapshot: Scenario = {
  name: 'failover-after-snapshot',
  description: 'A writes, a snapshot is taken, A writes again (copy-on-write), A crashes, B reads',
  async run(context) {
    const { rng, history, world } = context;
    const device = await context.openDevice({ policy: 'failover' });
    const object = rng.int(1, 8);
    const base = object * context.blocksPerObject;
    const x = base + rng.int(0, context.blocksPerObject);
    const y = rng.chance(0.5) ? x : base + rng.int(0, context.blocksPerObject);
    context.step('A writes X into a fresh object', { block: x });
    await history.write(device, 'host', x);
    if (rng.chance(0.5)) {
      context.step('B reads X before the snapshot (its cache learns the old vid)');
      const viaB = await context.openDevice({ host: 'host-b', paths: ['target-b'] });
      await history.read(viaB, 'host-b', x);
    }
    context.step('snapshot');
    await world.snapshot('snap1');
    context.step('A writes Y into the same object (copy-on-write)', { block: y });
    await history.write(device, 'host', y);
    const mode = rng.chance(0.5) ? 'power-off' : 'kill';
    context.step('A crashes', { mode });
    world.crashTarget('target-a', mode);
    if (rng.chance(0.5)) {
      const z = base + rng.int(0, context.blocksPerObject);
      context.step('B writes first after the failover', { block: z });
      await history.write(device, 'host', z);
    }
    context.step('the host reads X and Y through B');
    await history.read(device, 'host', x);
    await history.read(device, 'host', y);
  },
};
