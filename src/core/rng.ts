/**
 * Seeded randomness. Every random choice in Collie goes through an Rng, so a run replays from its
 * seed.
 *
 * Algorithm: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state, passes
 * PractRand), seeded with splitmix32. The seed text (a number is first turned into its decimal
 * text, so 42 and '42' are the same seed) is hashed into four 32-bit lanes; each lane goes through
 * splitmix32 to fill one word of sfc32 state, and the first 12 outputs are thrown away to mix it.
 *
 * fork(label) gives a subsystem its own stream, TigerBeetle style: the child's seed is the text
 * `${seed}/${label}`, so it depends only on the parent's seed and the label, never on how many
 * numbers the parent has drawn, and createRng(child.seed) reproduces the child exactly. Forking
 * twice with one label gives the same stream twice, by design.
 *
 * Draw counts are part of the contract (they decide every later value): nextUint32, float and
 * chance draw once; int draws once, more only on a rejection; pick draws as int does; shuffle
 * draws once per element but the last.
 */
import { assert } from './assert.js';

export interface Rng {
  /** Uniform in [0, 2^32). */
  nextUint32(): number;
  /** Uniform in [0, 1), with 2^-32 resolution. */
  float(): number;
  /** Uniform integer in [minInclusive, maxExclusive); the range may span at most 2^32 values. */
  int(minInclusive: number, maxExclusive: number): number;
  /** True with the given probability (0..1). */
  chance(probability: number): boolean;
  /** One element, uniformly; the array must not be empty. */
  pick<T>(items: readonly T[]): T;
  /** Fisher-Yates in place; returns the same array. */
  shuffle<T>(items: T[]): T[];
  /** An independent stream derived from (seed, label) only. */
  fork(label: string): Rng;
  /** The seed text; createRng(seed) replays this stream from its start. */
  readonly seed: string;
}

const TWO_POW_32 = 4294967296;
const WARMUP_ROUNDS = 12;

export function createRng(seed: number | string): Rng {
  if (typeof seed === 'number') {
    assert(Number.isSafeInteger(seed), `createRng: a numeric seed must be a safe integer, got ${seed}`);
  }
  return new Sfc32Rng(String(seed));
}

/** One splitmix32 output for `state` (the state itself advances by the golden-ratio constant). */
export function splitmix32(state: number): number {
  let z = (state + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/**
 * Hashes text into four 32-bit lanes. Each lane absorbs every UTF-16 code unit with its own odd
 * multiplier, then the lanes are cross-mixed so every output bit depends on every input unit.
 */
export function hashSeedText(text: string): [number, number, number, number] {
  let h1 = 0x6a09e667 ^ text.length;
  let h2 = 0xbb67ae85;
  let h3 = 0x3c6ef372;
  let h4 = 0xa54ff53a;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ unit, 0x85ebca6b);
    h1 = (h1 << 13) | (h1 >>> 19);
    h2 = Math.imul(h2 ^ unit, 0xc2b2ae35);
    h2 = (h2 << 17) | (h2 >>> 15);
    h3 = Math.imul(h3 ^ unit, 0x27d4eb2f);
    h3 = (h3 << 11) | (h3 >>> 21);
    h4 = Math.imul(h4 ^ unit, 0x165667b1);
    h4 = (h4 << 19) | (h4 >>> 13);
  }
  h1 = Math.imul(h1 ^ (h2 >>> 16), 0x85ebca6b) ^ h3;
  h2 = Math.imul(h2 ^ (h3 >>> 13), 0xc2b2ae35) ^ h4;
  h3 = Math.imul(h3 ^ (h4 >>> 16), 0x27d4eb2f) ^ h1;
  h4 = Math.imul(h4 ^ (h1 >>> 13), 0x165667b1) ^ h2;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

class Sfc32Rng implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: string) {
    const [h1, h2, h3, h4] = hashSeedText(seed);
    this.a = splitmix32(h1) | 0;
    this.b = splitmix32(h2) | 0;
    this.c = splitmix32(h3) | 0;
    this.d = splitmix32(h4) | 0;
    for (let i = 0; i < WARMUP_ROUNDS; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  float(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  int(minInclusive: number, maxExclusive: number): number {
    const range = maxExclusive - minInclusive;
    assert(
      Number.isSafeInteger(minInclusive) && Number.isSafeInteger(maxExclusive),
      `Rng.int(${minInclusive}, ${maxExclusive}): bounds must be safe integers`,
    );
    assert(
      range > 0 && range <= TWO_POW_32,
      `Rng.int(${minInclusive}, ${maxExclusive}): needs 1..2^32 values`,
    );
    // Rejection keeps the result unbiased: draws at or above the largest multiple of range are
    // redrawn (probability < 1/2, and tiny for small ranges).
    const limit = TWO_POW_32 - (TWO_POW_32 % range);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return minInclusive + (x % range);
    }
  }

  chance(probability: number): boolean {
    assert(probability >= 0 && probability <= 1, `Rng.chance(${probability}): probability must be in 0..1`);
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'Rng.pick: the array is empty; there is nothing to pick');
    return items[this.int(0, items.length)]!;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const item = items[i]!;
      items[i] = items[j]!;
      items[j] = item;
    }
    return items;
  }

  fork(label: string): Rng {
    return new Sfc32Rng(`${this.seed}/${label}`);
  }
}
