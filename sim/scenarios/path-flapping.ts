/**
 * Field scenario 7 (multipath.md §8): path flapping and hosts that disagree on the path. Two
 * hosts use the LU at once, one preferring A, the other B; A's link to the first host flaps
 * (reset, or cut and healed) every second or two while both write and read the same blocks.
 * Correct here: no stale read, no lost write, every IO finishes. (The world is active-active and
 * the hosts do not use ALUA, so there is no ownership to keep stable: the simulator checks data
 * only. Ownership that does not ping-pong back is checked by partition-old-owner-alive.)
 */
import { runClient, workloadBlocks } from '../workload.js';
import type { Scenario } from './scenario.js';

export const pathFlapping: Scenario = {
  name: 'path-flapping',
  field: 7,
  description: "two hosts on different paths, one host's path to A flaps, both keep doing IO",
  async run(context) {
    const { rng, history, world } = context;
    const first = await context.openDevice({ host: 'host-1', paths: ['target-a', 'target-b'] });
    const second = await context.openDevice({ host: 'host-2', paths: ['target-b', 'target-a'] });
    const blocks = workloadBlocks(rng, {
      objectBytes: context.objectBytes,
      objectCount: rng.int(1, 4),
      perObject: rng.int(1, 4),
      firstObject: 1,
    });
    let stopped = false;
    const loops = [first, second].map((device, index) =>
      runClient({
        history,
        device,
        client: `h${index + 1}`,
        rng: rng.fork(`client-${index + 1}`),
        clock: world.clock,
        blocks,
        opsCount: 40,
        readRatio: 0.5,
        thinkMsMax: 200,
      }),
    );
    const flaps = (async () => {
      for (let flap = 0; flap < rng.int(3, 9) && !stopped; flap++) {
        await context.sleep(rng.int(500, 2_500));
        if (rng.chance(0.5)) {
          const streams = world.network.streams().filter((stream) => stream.client.host === 'host-1');
          context.step('flap: reset host-1 streams', { count: streams.length });
          for (const stream of streams) world.network.reset(stream.id);
        } else {
          context.step('flap: cut host-1 <-> A');
          world.network.partition('host-1', 'target-a');
          await context.sleep(rng.int(200, 6_000));
          world.network.heal('host-1', 'target-a');
        }
      }
    })();
    await Promise.all(loops);
    stopped = true;
    await flaps;
  },
};
