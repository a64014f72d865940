/**
 * The OS's random source for real runs: crypto.randomBytes behind the one-method shape the
 * protocol code asks for (chap.ts ChallengeSource), so CHAP challenges and identifiers cannot be
 * predicted. The seeded Rng (rng.ts) is reproducible by design and so is guessable from its seed
 * (the CLI seeds it from the pid and the start time): it must never make a challenge in a real
 * run. The simulator does not use this file; it draws challenges from its Rng to replay a seed.
 */
import { randomBytes } from 'node:crypto';

export const realEntropy: { bytes(count: number): Uint8Array } = {
  bytes(count: number): Uint8Array {
    return randomBytes(count);
  },
};
