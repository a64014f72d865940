/**
 * Field scenario 6 (multipath.md §5.1, §8): COMPARE AND WRITE on one LBA through two target
 * nodes at once, as two ESX hosts racing for a VMFS ATS lock.
 *
 * Host 1 reaches the LU only through A, host 2 only through B. The block starts with a value V;
 * in every round both hosts send CAW (compare V, write their own new value) at nearly the same
 * moment (each after 0–3 ms, over a network with per-seed delays). Correct: exactly one of the
 * two succeeds and the other answers MISCOMPARE, in every round; the winner's value is V for the
 * next round; the block ends with the last winner's value.
 *
 * Checks: "exactly one" per round (expectation); the register checker's COMPARE AND WRITE rules:
 * two successful CAWs that compared the same value cannot both have been atomic
 * (caw-not-atomic), a CAW that compared a stale value is a stale read, and a MISCOMPARE in a
 * single attempt never writes (refused-write-landed). Policy drawn per seed: mostly
 * active-active; single-owner in a quarter of the seeds, where every round also moves ownership.
 */
import { runWithDelay } from './cluster-helpers.js';
import type { Scenario } from './scenario.js';

export const concurrentCaw: Scenario = {
  name: 'concurrent-caw',
  field: 6,
  description: 'COMPARE AND WRITE on one LBA through two nodes at once, many rounds: exactly one succeeds',
  world: (rng) => ({
    alua: rng.chance(0.75) ? 'active-active' : 'single-owner',
    network: { delayMsMin: 0, delayMsMax: rng.pick([1, 2, 5, 10]) },
  }),
  async run(context) {
    const { rng, history } = context;
    const first = await context.openDevice({ host: 'host-1', paths: ['target-a'] });
    const second = await context.openDevice({ host: 'host-2', paths: ['target-b'] });
    const perObject = context.blocksPerObject;
    const block = rng.int(1, 8) * perObject + rng.int(0, perObject);
    const start = await history.write(first, 'h1', block);
    context.expect(
      start.outcome === 'ok',
      `the first value should be written through A, got ${start.outcome}`,
    );
    let value = start.stamp!;
    const rounds = rng.int(12, 30);
    context.step('CAW rounds through A and B at once', { rounds });
    for (let round = 1; round <= rounds; round++) {
      const [one, two] = await Promise.all([
        runWithDelay(context, rng.int(0, 4), () => history.compareAndWrite(first, 'h1', block, value)),
        runWithDelay(context, rng.int(0, 4), () => history.compareAndWrite(second, 'h2', block, value)),
      ]);
      const winners = [one, two].filter((op) => op.caw?.answer === 'good');
      const answers = `h1 through A: ${one.caw?.answer ?? `${one.outcome} ${one.error ?? ''}`}, h2 through B: ${two.caw?.answer ?? `${two.outcome} ${two.error ?? ''}`}`;
      context.expect(
        winners.length === 1 && [one, two].every((op) => op.caw?.answer !== undefined),
        `round ${round} (compare ${value}): exactly one CAW should succeed and the other MISCOMPARE; ${answers}`,
      );
      if (winners.length === 1) {
        value = winners[0]!.stamp!;
        continue;
      }
      // Lost track (no winner, or two): learn the block's value before the next round.
      const read = await history.read(first, 'h1', block);
      if (read.stamp === undefined) break;
      value = read.stamp;
    }
    const last = await history.read(second, 'h2', block);
    context.expect(
      last.stamp === value,
      `the block should end with the last winner ${value}, read ${last.stamp}`,
    );
  },
};
