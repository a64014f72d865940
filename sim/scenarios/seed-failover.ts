/**
 * The failover that multipath on sheepdog was built for (sheepdog-protocol.md §8.5, the "seed"
 * scenario): both targets open the VDI; the host writes through A into areas nobody allocated
 * (A allocates objects and updates the inode); A crashes, possibly in the middle of one more
 * write; the host fails over to B and reads everything back. B's cached inode calls those
 * objects unallocated: without the store's coherence (`--no-coherence`) B answers zeros for
 * acknowledged data, a stale read; with it B is INVALIDATED, reloads and reads the data.
 *
 * Seeds vary how many objects are written, where, whether A also writes an object both already
 * know, whether the crash cuts a write in half, and how A dies: killed (the host sees the reset
 * at once) or powered off (the host notices through its path checker or command timeout).
 * Every read after the crash must succeed, through B (scenario expectation).
 */
import type { Scenario } from './scenario.js';

export const seedFailover: Scenario = {
  name: 'seed-failover',
  description: 'A allocates by writing, A crashes (maybe mid-write), the host fails over to B, B reads',
  async run(context) {
    const { rng, history, world } = context;
    const device = await context.openDevice({ policy: 'failover' });
    const perObject = context.blocksPerObject;
    const objects = rng.shuffle([1, 2, 3, 4, 5, 6, 7, 8]).slice(0, rng.int(1, 4));
    const blocks = objects.map((object) => object * perObject + rng.int(0, perObject));
    context.step('A writes into unallocated objects', { blocks });
    for (const block of blocks) await history.write(device, 'host', block);
    if (rng.chance(0.3)) {
      // An object both targets read before: the later crash must not lose this one either.
      const block = rng.int(0, perObject);
      await history.read(device, 'host', block);
      await history.write(device, 'host', block);
      blocks.push(block);
    }
    let inFlight: Promise<unknown> | undefined;
    if (rng.chance(0.5)) {
      const block = rng.int(9, 12) * perObject + rng.int(0, perObject);
      context.step('one more write, cut by the crash', { block });
      inFlight = history.write(device, 'host', block);
      blocks.push(block);
      await context.sleep(rng.int(0, 4));
    }
    const mode = rng.chance(0.7) ? 'power-off' : 'kill';
    context.step('A crashes', { mode });
    world.crashTarget('target-a', mode);
    context.step('the host reads everything back (through B)');
    for (const block of blocks) {
      // B is healthy and A is down: every read must succeed, through B (a backend whose reads
      // fail must not pass; the fault window of A's crash would otherwise excuse it).
      const read = await history.read(device, 'host', block);
      context.expect(
        read.outcome === 'ok' && read.path === 'target-b',
        `after the failover, the read of block ${block} (op ${read.id}) should succeed through B; it ${read.outcome === 'ok' ? `went through ${read.path}` : `ended ${read.outcome}: ${read.error}`}`,
      );
    }
    await inFlight;
  },
};
