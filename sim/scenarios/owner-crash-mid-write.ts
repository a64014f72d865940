/**
 * Field scenario 1 (multipath.md §8): the owner crashes mid-write. Several clients of one host
 * write (and read) blocks across a few objects through A; A dies at a random moment with writes
 * in flight; the host requeues them on B and the clients go on. Correct: every acknowledged
 * write is readable through the survivor, and each unacknowledged block reads as old or new (the
 * register checker keeps writes with unknown outcome open).
 */
import { runClient, workloadBlocks } from '../workload.js';
import type { Scenario } from './scenario.js';

export const ownerCrashMidWrite: Scenario = {
  name: 'owner-crash-mid-write',
  field: 1,
  description: 'clients write through A, A crashes with writes in flight, the host requeues them on B',
  async run(context) {
    const { rng, history, world } = context;
    const device = await context.openDevice({ policy: 'failover' });
    const blocks = workloadBlocks(rng, {
      objectBytes: context.objectBytes,
      objectCount: rng.int(1, 4),
      perObject: rng.int(1, 4),
      firstObject: 1,
    });
    const clients = Array.from({ length: rng.int(2, 5) }, (_, index) =>
      runClient({
        history,
        device,
        client: `c${index + 1}`,
        rng: rng.fork(`client-${index + 1}`),
        clock: world.clock,
        blocks,
        opsCount: rng.int(8, 20),
        readRatio: 0.3,
        thinkMsMax: 3,
      }),
    );
    await context.sleep(rng.int(2, 40));
    const mode = rng.chance(0.5) ? 'power-off' : 'kill';
    context.step('A crashes mid-write', { mode });
    world.crashTarget('target-a', mode);
    await Promise.all(clients);
  },
};
