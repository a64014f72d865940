/**
 * The swarm: hosts, clients, path policies and fault classes all drawn from the seed
 * (faults.ts drawSwarmOptions). Each host has one multipath device; each client runs random single-block reads and writes over a
 * few objects while faults come and go for the safety phase. Hosts prefer different targets
 * only when the seed switched activeActive on. The workload classes (snapshots, lock-less
 * writers, DISCARD) act on the same blocks, through the fault injector. Faults come within
 * about the time the clients take (faultWindowMs), so that they meet IO.
 */
import { faultWindowMs } from '../faults.js';
import { runClient, workloadBlocks } from '../workload.js';
import type { Scenario } from './scenario.js';

export const swarm: Scenario = {
  name: 'swarm',
  description: 'random hosts, clients, policies and fault classes from the seed (swarm testing)',
  world: (_rng, options) => ({
    network: { delayMsMax: options.delayMsMax, chunkSplitRatio: options.chunkSplitRatio },
  }),
  async run(context) {
    const { rng, history, world, swarm: options } = context;
    const names = world.targets.map((target) => target.name);
    const blocks = workloadBlocks(rng, {
      objectBytes: context.objectBytes,
      objectCount: options.objectCount,
      perObject: options.blocksPerObject,
      firstObject: 1,
    });
    const clients: Promise<void>[] = [];
    for (let hostIndex = 0; hostIndex < options.hostCount; hostIndex++) {
      const host = `host-${hostIndex + 1}`;
      // Active/active: each host prefers another target. Otherwise all prefer A (one writer).
      const shift = options.faults.activeActive ? hostIndex % names.length : 0;
      const paths = [...names.slice(shift), ...names.slice(0, shift)];
      const device = await context.openDevice({ host, paths, policy: options.policy });
      for (let clientIndex = 0; clientIndex < options.clientsPerHost; clientIndex++) {
        const client = `h${hostIndex + 1}c${clientIndex + 1}`;
        clients.push(
          runClient({
            history,
            device,
            client,
            rng: rng.fork(client),
            clock: world.clock,
            blocks,
            opsCount: options.opsPerClient,
            readRatio: options.readRatio,
            thinkMsMax: options.thinkMsMax,
          }),
        );
      }
    }
    context.faults.attachWorkload({ history, blocks, blocksPerObject: context.blocksPerObject });
    const faults = context.faults.runSafety(faultWindowMs(options));
    await Promise.all([...clients, faults]);
  },
};
