/**
 * Goal: CI runs the short form of every fuzzer (sim/fuzz/): malformed, truncated, oversized and
 * random PDUs to the iSCSI codec and to a live target, malformed sheep requests to the store,
 * and hostile sheep answers to the client and to a target's sheepdog LU, with no crash, hang,
 * leak, unhandled rejection or unbounded allocation (the fuzzers' oracles), and the same counts
 * from the same seed (a failure replays from its seed and case).
 * Method: runFuzz with a few thousand cases per target (fewer for the client, whose cases run
 * tens of seconds of virtual time each), from a fixed seed; the counts are printed. Known bugs
 * (KNOWN_BUGS in sim/fuzz/fuzz-common.ts, each with its failing test/fuzz/found-*.test.ts) are
 * counted, not failed; `npm run fuzz -- --strict` fails on them.
 */
import { describe, expect, test } from 'vitest';
import { clientFuzzTarget } from '../../sim/fuzz/client-fuzz.js';
import type { FuzzTarget, FuzzTargetName } from '../../sim/fuzz/fuzz-common.js';
import { describeReports, runFuzz } from '../../sim/fuzz/fuzz-run.js';
import { codecFuzzTarget } from '../../sim/fuzz/iscsi-codec-fuzz.js';
import { liveTargetFuzzTarget } from '../../sim/fuzz/live-target-fuzz.js';
import { storeFuzzTarget } from '../../sim/fuzz/store-fuzz.js';

const SEED = 'ci';

async function fuzz(target: FuzzTarget, cases: number, seed = SEED) {
  const reports = await runFuzz({
    seed,
    cases: new Map<FuzzTargetName, number>([[target.name, cases]]),
    targets: [target],
  });
  for (const line of describeReports(reports)) console.log(line);
  const report = reports[0]!;
  expect(report.failure?.message, report.failure?.replay).toBeUndefined();
  expect(report.cases).toBe(cases);
  return report;
}

describe('short fuzz runs', () => {
  test('codec: 5,000 cases', { timeout: 60_000 }, async () => {
    const report = await fuzz(codecFuzzTarget, 5_000);
    expect(report.tally.get('valid:round-trip')).toBe(5_000);
  });

  test('store: 3,000 cases', { timeout: 60_000 }, async () => {
    const report = await fuzz(storeFuzzTarget, 3_000);
    expect(report.tally.get('answer:INVALID_PARMS')).toBeGreaterThan(0);
  });

  test('live target: 1,500 cases', { timeout: 90_000 }, async () => {
    const report = await fuzz(liveTargetFuzzTarget, 1_500);
    expect(report.tally.get('good:io-verified')).toBe(1_500);
  });

  test('client: 400 cases', { timeout: 120_000 }, async () => {
    const report = await fuzz(clientFuzzTarget, 400);
    // Every case ends with the client recovering, but one whose world a known bug poisoned.
    const recovered = report.tally.get('recovered') + report.tally.get('recovered:verified');
    expect(recovered).toBe(400 - report.tally.get('world-rebuilt'));
  });

  test('a run replays from its seed: the same counts twice', { timeout: 60_000 }, async () => {
    for (const [target, cases] of [
      [codecFuzzTarget, 300],
      [storeFuzzTarget, 250],
      [liveTargetFuzzTarget, 120],
    ] as const) {
      const first = await runFuzz({
        seed: 'replay',
        cases: new Map([[target.name, cases]]),
        targets: [target],
      });
      const second = await runFuzz({
        seed: 'replay',
        cases: new Map([[target.name, cases]]),
        targets: [target],
      });
      expect([...second[0]!.tally.counts].sort(), target.name).toEqual([...first[0]!.tally.counts].sort());
    }
  });

  test('--case K replays case K alone (with its batch): the same outcomes', { timeout: 30_000 }, async () => {
    const whole = await runFuzz({
      seed: 'replay',
      cases: new Map([['store', 12]]),
      targets: [storeFuzzTarget],
    });
    const upTo11 = await runFuzz({
      seed: 'replay',
      cases: new Map([['store', 11]]),
      targets: [storeFuzzTarget],
    });
    const alone = await runFuzz({
      seed: 'replay',
      cases: new Map(),
      targets: [storeFuzzTarget],
      caseIndex: 11,
    });
    expect(alone[0]!.cases).toBe(12); // the batch's cases 0..11
    expect(alone[0]!.tally.counts).toEqual(whole[0]!.tally.counts);
    expect(upTo11[0]!.cases).toBe(11);
  });
});
