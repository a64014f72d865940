/**
 * Failover where B writes before anyone reads (the second half of sheepdog-protocol.md §8.5): A
 * allocates an object by writing, A crashes, the host writes through B into the same object and
 * then reads both blocks. B's cache calls the object unallocated: without coherence B creates
 * it afresh (CREATE_AND_WRITE replaces A's object) and A's acknowledged write is lost; with
 * coherence B is INVALIDATED, reloads and writes into A's object.
 */
import type { Scenario } from './scenario.js';

export const failoverBWritesFirst: Scenario = {
  name: 'failover-b-writes-first',
  description: 'A allocates by writing, A crashes, B writes into the same object first, then reads',
  async run(context) {
    const { rng, history, world } = context;
    const device = await context.openDevice({ policy: 'failover' });
    const base = rng.int(1, 8) * context.blocksPerObject;
    const a = base + rng.int(0, context.blocksPerObject);
    const b = rng.chance(0.2) ? a : base + rng.int(0, context.blocksPerObject);
    context.step('A writes into a fresh object', { block: a });
    await history.write(device, 'host', a);
    const mode = rng.chance(0.5) ? 'power-off' : 'kill';
    context.step('A crashes', { mode });
    world.crashTarget('target-a', mode);
    context.step('the host writes into the same object through B', { block: b });
    await history.write(device, 'host', b);
    context.step('the host reads both blocks');
    await history.read(device, 'host', a);
    await history.read(device, 'host', b);
  },
};
