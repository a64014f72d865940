/**
 * A swarm worker process (forked by swarm.ts): runs each seed it is sent and answers with its
 * SeedOutcome, until the parent disconnects.
 */
import { runOneSeed, type SeedRequest } from './swarm.js';

process.on('message', (request: SeedRequest) => {
  runOneSeed(request).then(
    (outcome) => process.send?.(outcome),
    (error: unknown) =>
      process.send?.({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
