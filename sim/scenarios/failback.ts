/**
 * Field scenario 8 (multipath.md §8): failback. The host writes through A; A goes away (it
 * crashes, or only its link to the host is cut while A keeps running with its cached inode); the
 * host writes through B, allocating objects and overwriting A's blocks; A comes back (reboot or
 * heal) and the host fails back to it [failback immediate] and reads everything. Correct: the
 * returning node reloads the inode before serving, so there are no stale reads.
 */
import type { Scenario } from './scenario.js';

export const failback: Scenario = {
  name: 'failback',
  field: 8,
  description: 'A goes away, B serves and allocates, A returns and the host fails back: no stale reads',
  async run(context) {
    const { rng, history, world } = context;
    const device = await context.openDevice({ policy: 'failover', failback: 'immediate' });
    const perObject = context.blocksPerObject;
    const objects = rng.shuffle([1, 2, 3, 4, 5, 6]).slice(0, 4);
    const early = objects.slice(0, 2).map((object) => object * perObject + rng.int(0, perObject));
    const late = objects.slice(2).map((object) => object * perObject + rng.int(0, perObject));
    for (const block of early) await history.write(device, 'host', block);
    const how = rng.pick(['kill', 'power-off', 'link-cut'] as const);
    context.step('A goes away', { how });
    if (how === 'link-cut') world.network.partition('host', 'target-a');
    else world.crashTarget('target-a', how);
    context.step('B serves: new objects and overwrites of A blocks');
    for (const block of [...late, ...early]) await history.write(device, 'host', block);
    context.step('A comes back');
    if (how === 'link-cut') world.network.heal('host', 'target-a');
    else await world.restartTarget('target-a');
    const back = await context.waitFor(() => device.paths()[0]?.state === 'active', 30_000);
    context.expect(back, 'the host should reinstate A within 30 s of its return');
    context.step('the host reads everything (through A again)');
    for (const block of [...early, ...late]) await history.read(device, 'host', block);
  },
};
