/**
 * What every fuzz target shares: the case/batch contract, the tally of outcomes, the failure
 * that carries a replay line, byte mutators driven by an Rng, and virtual-time helpers.
 *
 * Rules
 * - Every choice comes from the case's Rng (createRng(`${seed}/${target}/${case}`)); nothing
 *   reads Math.random or the wall clock, so a case replays from (seed, target, case).
 * - A target's cases run in batches that share one world (a store, a target, ...); a batch is
 *   rebuilt from scratch every `batchSize` cases, so replaying case K replays its batch from its
 *   first case up to K (the runner does that), and nothing grows without bound across a run.
 * - An oracle that fails throws FuzzFailure (or anything else: every throw is a failure). An
 *   outcome that is a protocol answer is recorded in the tally, never thrown.
 */
import type { Rng } from '../../src/core/rng.js';
import { drainMicrotasks, type VirtualClock } from '../../src/core/virtual-clock.js';

export const FUZZ_TARGETS = ['codec', 'target', 'store', 'client'] as const;
export type FuzzTargetName = (typeof FUZZ_TARGETS)[number];

/** Counts of outcomes by kind ("reject:0x04", "check-condition", "closed", ...). */
export class Tally {
  readonly counts = new Map<string, number>();

  add(kind: string, count = 1): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + count);
  }

  get(kind: string): number {
    return this.counts.get(kind) ?? 0;
  }

  merge(other: Tally): void {
    for (const [kind, count] of other.counts) this.add(kind, count);
  }

  /** "kind=count" pairs, most frequent first, then by name. */
  describe(limit = 40): string {
    const entries = [...this.counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const shown = entries.slice(0, limit).map(([kind, count]) => `${kind}=${count}`);
    if (entries.length > limit) shown.push(`(+${entries.length - limit} more kinds)`);
    return shown.join(' ');
  }
}

/** An oracle failed: the message says which, the runner adds the seed and case. */
export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new FuzzFailure(message);
}

// ---- known bugs ----------------------------------------------------------------------------------

/**
 * Bugs the fuzzer found that are not fixed yet. Each has a failing test (test/fuzz/found-*.test.ts,
 * marked test.fails) that names it. While one is listed, a case that hits it counts
 * `known-bug:<id>` instead of failing, so the fuzzer keeps looking for new ones; `--strict`
 * (setStrictKnownBugs) makes a hit a failure again. Remove an entry with its fix (the fixed ones
 * keep their found-*.test.ts as regression tests, and the fuzzer fails on them again).
 */
export const KNOWN_BUGS = {
  'client-io-deadline': {
    test: 'test/fuzz/found-client-io-deadline.test.ts',
    what:
      'an IO against a sheep that accepts connections but drops or never answers some requests is not ' +
      'bounded by unavailableAfterMs + requestTimeoutMs: each reconnect restarts the clock (rejoin, reload), ' +
      'so the IO (and its SCSI command) outlives the host command timeout',
  },
} as const satisfies Record<string, { test: string; what: string }>;
export type KnownBugId = keyof typeof KNOWN_BUGS;

let strictKnownBugs = false;

export function setStrictKnownBugs(strict: boolean): void {
  strictKnownBugs = strict;
}

/** A case hit a known bug: counted, or a failure under --strict. */
export function knownBug(id: KnownBugId, tally: Tally, detail: string): void {
  check(!strictKnownBugs, `known bug ${id} (${KNOWN_BUGS[id].test}): ${KNOWN_BUGS[id].what}: ${detail}`);
  tally.add(`known-bug:${id}`);
}

/** One world shared by consecutive cases of a target. */
export interface FuzzBatch {
  /** Runs one case; records its outcomes in `tally`; throws on a failed oracle. */
  runCase(rng: Rng, caseIndex: number, tally: Tally): Promise<void>;
  close(): Promise<void>;
}

export interface FuzzTarget {
  readonly name: FuzzTargetName;
  /** Cases per world (1: every case is independent). */
  readonly batchSize: number;
  openBatch(seed: string, batchIndex: number): Promise<FuzzBatch>;
}

// ---- byte mutators ------------------------------------------------------------------------------

/** Values that break length and index arithmetic more often than random ones do. */
export const INTERESTING_U8 = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff] as const;
export const INTERESTING_U32 = [
  0, 1, 2, 3, 4, 47, 48, 49, 0x7f, 0x80, 0xff, 0x100, 0x1000, 0xffff, 0x10000, 0x7fffffff, 0x80000000,
  0xfffffffe, 0xffffffff,
] as const;

export function rngBytes(rng: Rng, lengthBytes: number): Buffer {
  const words = new Uint32Array((lengthBytes + 3) >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = rng.nextUint32();
  return Buffer.from(words.buffer, 0, lengthBytes);
}

/** A u32 that is interesting, small, near a given value, or uniform. */
export function hostileU32(rng: Rng, near = 0): number {
  switch (rng.int(0, 4)) {
    case 0:
      return rng.pick(INTERESTING_U32);
    case 1:
      return rng.int(0, 1 << 16);
    case 2:
      return Math.max(0, Math.min(0xffffffff, near + rng.int(-8, 9)));
    default:
      return rng.nextUint32();
  }
}

/** Flips 1..`flipsMax` bits of a copy, each inside [from, to). */
export function flipBits(rng: Rng, bytes: Buffer, flipsMax = 8, from = 0, to = bytes.length): Buffer {
  const out = Buffer.from(bytes);
  if (to <= from) return out;
  const flips = rng.int(1, flipsMax + 1);
  for (let i = 0; i < flips; i++) {
    const at = rng.int(from, to);
    out[at] = out[at]! ^ (1 << rng.int(0, 8));
  }
  return out;
}

/** Sets 1..4 bytes of a copy inside [from, to) to interesting or random values. */
export function setBytes(rng: Rng, bytes: Buffer, from = 0, to = bytes.length): Buffer {
  const out = Buffer.from(bytes);
  if (to <= from) return out;
  const count = rng.int(1, 5);
  for (let i = 0; i < count; i++) {
    out[rng.int(from, to)] = rng.chance(0.5) ? rng.pick(INTERESTING_U8) : rng.int(0, 256);
  }
  return out;
}

/** A prefix: cut at a boundary the caller names (a header end, a length) or anywhere. */
export function truncate(rng: Rng, bytes: Buffer, boundaries: readonly number[] = []): Buffer {
  const inside = boundaries.filter((b) => b >= 0 && b < bytes.length);
  const pick =
    inside.length > 0 && rng.chance(0.6) ? rng.pick(inside) : rng.int(0, Math.max(1, bytes.length));
  const at = rng.chance(0.3) && pick > 0 ? pick - 1 : pick;
  return bytes.subarray(0, at);
}

/** Splits bytes into chunks of random sizes (single bytes, small, large). */
export function randomChunks(rng: Rng, bytes: Buffer): Buffer[] {
  if (bytes.length === 0) return [];
  let style = rng.int(0, 4);
  if (style === 0) return [bytes];
  if (style === 1 && bytes.length > 256) style = 2;
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size =
      style === 1 ? 1 : style === 2 ? rng.int(1, 64) : rng.int(1, Math.max(2, Math.ceil(bytes.length / 2)));
    chunks.push(bytes.subarray(at, Math.min(bytes.length, at + size)));
    at += size;
  }
  return chunks;
}

// ---- virtual time -------------------------------------------------------------------------------

export interface RunUntilOptions {
  /** Virtual milliseconds the predicate has to become true in. */
  readonly withinMs: number;
  /** Timers fired at most (a busy loop of zero-delay timers is a hang too). */
  readonly stepsMax?: number;
  /** What is awaited, for the failure message. */
  readonly what: string;
}

/**
 * Fires timers one at a time (draining microtasks around each) until `done()` holds. Returns
 * false when nothing is left to run or the next timer is past the bound; throws FuzzFailure when
 * `stepsMax` timers fire first (virtual time stuck: a hang).
 */
export async function runUntil(
  clock: VirtualClock,
  done: () => boolean,
  options: RunUntilOptions,
): Promise<boolean> {
  const limitMs = clock.now() + options.withinMs;
  const stepsMax = options.stepsMax ?? 200_000;
  await drainMicrotasks();
  for (let steps = 0; ; steps++) {
    if (done()) return true;
    const next = clock.nextDueMs();
    if (next === undefined || next > limitMs) return false;
    check(
      steps < stepsMax,
      `${options.what}: ${stepsMax} timers fired within ${clock.now() - (limitMs - options.withinMs)} virtual ms ` +
        'without getting there (a timer loop: the event loop is stuck)',
    );
    clock.step();
    await drainMicrotasks();
  }
}

/** As runUntil, but not getting there in time is a failure (a hang). */
export async function runUntilOrFail(
  clock: VirtualClock,
  done: () => boolean,
  options: RunUntilOptions,
): Promise<void> {
  const startMs = clock.now();
  const reached = await runUntil(clock, done, options);
  check(
    reached,
    `${options.what}: not reached within ${options.withinMs} virtual ms ` +
      `(now +${clock.now() - startMs} ms, ${clock.pendingCount} timers pending; a hang)`,
  );
}

/** Settles a promise in virtual time within a bound; a promise still pending is a hang. */
export async function settleWithin<T>(
  clock: VirtualClock,
  promise: Promise<T>,
  options: RunUntilOptions,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  promise.then(
    (value) => {
      outcome = { ok: true, value };
    },
    (error: unknown) => {
      outcome = { ok: false, error };
    },
  );
  await runUntilOrFail(clock, () => outcome !== undefined, options);
  return outcome!;
}

/** Lets virtual time pass (firing every timer due), bounded in timers. */
export async function runFor(clock: VirtualClock, ms: number, stepsMax = 200_000): Promise<void> {
  const untilMs = clock.now() + ms;
  await runUntil(clock, () => false, { withinMs: ms, stepsMax, what: `letting ${ms} virtual ms pass` });
  if (clock.now() < untilMs) clock.advanceTo(untilMs);
}

/** Error text for a failure message: the stack's first lines. */
export function describeError(error: unknown, lines = 6): string {
  if (error instanceof Error) {
    const stack = error.stack ?? `${error.name}: ${error.message}`;
    return stack.split('\n').slice(0, lines).join('\n');
  }
  return String(error);
}
