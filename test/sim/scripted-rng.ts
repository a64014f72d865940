/**
 * An Rng for tests that must force one choice: pick() answers `choose(items)`, every other draw
 * is a seeded Rng's (so the rest of a run stays deterministic).
 */
import { createRng, type Rng } from '../../src/core/rng.js';

export function scriptedRng(choose: (items: readonly unknown[]) => unknown, seed = 'scripted'): Rng {
  const base = createRng(seed);
  return {
    seed: base.seed,
    nextUint32: () => base.nextUint32(),
    float: () => base.float(),
    int: (min, max) => base.int(min, max),
    chance: (probability) => base.chance(probability),
    pick: <T>(items: readonly T[]) => choose(items) as T,
    shuffle: (items) => base.shuffle(items),
    fork: (label) => base.fork(label),
  };
}

/** Crash fates: tear every WRITE that can tear, at its `cutIndex`-th sector boundary. */
export function tearingRng(cutIndex: number): Rng {
  return scriptedRng((items) => {
    if (items.includes('torn')) return 'torn';
    if (items.includes('applied')) return 'applied';
    return items[Math.min(cutIndex, items.length - 1)];
  });
}
