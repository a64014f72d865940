/**
 * Goal: the default swarm draws from every fault and workload class, and each class does what it
 * says when a seed switches it on: it acts (snapshots taken through some endpoint, lock-less
 * writes and DISCARDs recorded for the checkers, the store crashed and restarted, requests timed
 * out and resent, streams reset mid-PDU), every action is a `fault.injected` with a
 * `fault.healed` of the same id when it ends, and a run with only that class passes.
 * Method: drawSwarmOptions for the settings; runScenario('swarm') with one class allowed on the
 * first seeds that switch it on, collecting the event log.
 */
import { describe, expect, test } from 'vitest';
import {
  DEFAULT_SWARM_FAULTS,
  describeSwarmOptions,
  drawSwarmOptions,
  FAULT_CLASSES,
  type FaultClass,
  faultWindowMs,
  SLOW_STORE_MS_CHOICES,
  type SwarmOptions,
} from '../../sim/faults.js';
import { type RunResult, runScenario } from '../../sim/run.js';
import type { LogEvent } from '../../src/core/event.js';
import { createRng } from '../../src/core/rng.js';

/** The targets' request timeout in the simulator (sim/run.ts SIM_BACKEND). */
const SIM_REQUEST_TIMEOUT_MS = 2_000;

function optionsOf(seed: number, allowed: readonly FaultClass[]): SwarmOptions {
  return drawSwarmOptions(createRng(seed).fork('swarm'), allowed);
}

/** The first `count` seeds from 1 whose settings satisfy `wanted`. */
function seedsWhere(
  count: number,
  wanted: (options: SwarmOptions) => boolean,
  allowed: FaultClass[],
): number[] {
  const seeds: number[] = [];
  for (let seed = 1; seeds.length < count && seed < 10_000; seed++) {
    if (wanted(optionsOf(seed, allowed))) seeds.push(seed);
  }
  return seeds;
}

interface Run {
  readonly seed: number;
  readonly result: RunResult;
  readonly events: LogEvent[];
}

async function runWith(faults: FaultClass[], seeds: readonly number[]): Promise<Run[]> {
  const runs: Run[] = [];
  for (const seed of seeds) {
    const events: LogEvent[] = [];
    const result = await runScenario({
      scenario: 'swarm',
      seed,
      faults,
      extraSinks: [{ write: (event) => events.push(event) }],
    });
    runs.push({ seed, result, events });
  }
  return runs;
}

function ofType(runs: readonly Run[], type: string, fault?: FaultClass): LogEvent[] {
  return runs.flatMap((run) =>
    run.events.filter(
      (event) =>
        event.type === type && (fault === undefined || (event.data as { fault?: string }).fault === fault),
    ),
  );
}

/** Every fault.injected of `fault` has a fault.healed with its id, later, in the same run. */
function expectHealedPairs(runs: readonly Run[], fault: FaultClass): void {
  for (const run of runs) {
    const healed = new Map(
      run.events
        .filter(
          (event) => event.type === 'fault.healed' && (event.data as { fault?: string }).fault === fault,
        )
        .map((event) => [(event.data as { id: number }).id, event.seq]),
    );
    for (const injected of run.events.filter(
      (event) => event.type === 'fault.injected' && (event.data as { fault?: string }).fault === fault,
    )) {
      const id = (injected.data as { id: number }).id;
      expect(healed.get(id), `seed ${run.seed}: ${fault} #${id} was never healed`).toBeGreaterThan(
        injected.seq,
      );
    }
  }
}

function expectPass(runs: readonly Run[]): void {
  const failed = runs
    .filter((run) => !run.result.ok)
    .map(
      (run) =>
        `seed ${run.seed}: ${run.result.outcome} ${run.result.violations[0]?.message ?? run.result.pending}`,
    );
  expect(failed).toEqual([]);
}

describe('swarm settings', () => {
  test('the default swarm may draw every class, and each is drawn on within 200 seeds', () => {
    expect([...DEFAULT_SWARM_FAULTS]).toEqual([...FAULT_CLASSES]);
    for (const fault of [
      'activeActive',
      'storeCrash',
      'snapshots',
      'locklessWriter',
      'discard',
      'slowStore',
      'connectionReset',
    ] as const) {
      expect(FAULT_CLASSES).toContain(fault);
    }
    const seen = new Set<FaultClass>();
    for (let seed = 1; seed <= 200; seed++) {
      const options = optionsOf(seed, DEFAULT_SWARM_FAULTS);
      for (const fault of FAULT_CLASSES) if (options.faults[fault]) seen.add(fault);
    }
    expect([...seen].sort()).toEqual([...FAULT_CLASSES].sort());
  });

  test('storeCrash always slows the store; connectionReset always splits chunks; slow stores can outlast the request timeout', () => {
    expect(Math.max(...SLOW_STORE_MS_CHOICES)).toBeGreaterThan(SIM_REQUEST_TIMEOUT_MS);
    let slowerThanTimeout = 0;
    let stalling = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const options = optionsOf(seed, DEFAULT_SWARM_FAULTS);
      if (options.faults.storeCrash) expect(options.slowStoreMsMax).toBeGreaterThan(0);
      if (options.faults.connectionReset) expect(options.chunkSplitRatio).toBeGreaterThan(0);
      if (options.faults.slowStore && options.slowStoreMsMax > SIM_REQUEST_TIMEOUT_MS) slowerThanTimeout += 1;
      if (options.faults.slowStore && options.slowStoreStallRatio > 0) stalling += 1;
      if (!options.faults.slowStore) expect(options.slowStoreStallRatio).toBe(0);
      const windowMs = faultWindowMs(options);
      expect(windowMs).toBeGreaterThanOrEqual(100);
      expect(windowMs).toBeLessThanOrEqual(20_000);
    }
    expect(slowerThanTimeout).toBeGreaterThan(0);
    expect(stalling).toBeGreaterThan(0);
  });

  test('the settings line names the classes drawn', () => {
    const seed = seedsWhere(1, (options) => options.faults.storeCrash && options.faults.discard, [
      ...FAULT_CLASSES,
    ])[0]!;
    const line = describeSwarmOptions(optionsOf(seed, DEFAULT_SWARM_FAULTS));
    expect(line).toMatch(/faults=\S*storeCrash/);
    expect(line).toMatch(/faults=\S*discard/);
    expect(line).toMatch(/fault_window_ms=\d+/);
  });
});

describe('swarm classes, one at a time', () => {
  test('snapshots: taken through more than one store endpoint while IO runs; runs pass', async () => {
    const runs = await runWith(
      ['snapshots'],
      seedsWhere(4, (options) => options.faults.snapshots, ['snapshots']),
    );
    const taken = ofType(runs, 'sim.snapshot_taken');
    expect(taken.length).toBeGreaterThan(0);
    expect(new Set(taken.map((event) => (event.data as { endpoint: string }).endpoint)).size).toBeGreaterThan(
      1,
    );
    const injected = ofType(runs, 'fault.injected', 'snapshots');
    expect(injected.length).toBeGreaterThan(0);
    // Each injection is a series of 1..3 snapshots; the healed event counts those taken.
    const healedTaken = ofType(runs, 'fault.healed', 'snapshots').reduce(
      (sum, event) => sum + (event.data as { taken: number }).taken,
      0,
    );
    expect(healedTaken).toBe(taken.length);
    expectHealedPairs(runs, 'snapshots');
    expectPass(runs);
  });

  test('locklessWriter: stamped writes from outside clients are recorded for the checkers and read back; runs pass', async () => {
    const runs = await runWith(
      ['locklessWriter'],
      seedsWhere(4, (options) => options.faults.locklessWriter, ['locklessWriter']),
    );
    const invoked = ofType(runs, 'workload.invoked').filter((event) =>
      event.actor.startsWith('workload/dog'),
    );
    expect(invoked.length).toBeGreaterThan(0);
    const acknowledged = new Set(
      ofType(runs, 'workload.completed')
        .filter((event) => (event.data as { outcome: string }).outcome === 'ok')
        .map((event) => (event.data as { op: number }).op),
    );
    expect(invoked.some((event) => acknowledged.has((event.data as { op: number }).op))).toBe(true);
    // The verifier reads back the blocks the writers wrote.
    for (const run of runs) {
      const written = new Set(
        run.events
          .filter((event) => event.type === 'workload.invoked' && event.actor.startsWith('workload/dog'))
          .map((event) => (event.data as { block: number }).block),
      );
      const verified = new Set(
        run.events
          .filter((event) => event.type === 'workload.invoked' && event.actor === 'workload/verifier')
          .map((event) => (event.data as { block: number }).block),
      );
      for (const block of written) expect(verified.has(block)).toBe(true);
    }
    expectHealedPairs(runs, 'locklessWriter');
    expectPass(runs);
  });

  test('discard: DISCARDs of working objects are recorded as zeroings, of snapshot objects as nothing; runs pass', async () => {
    const runs = await runWith(
      ['discard'],
      seedsWhere(4, (options) => options.faults.discard, ['discard']),
    );
    const zeroings = ofType(runs, 'workload.invoked').filter(
      (event) => (event.data as { zeroing?: boolean }).zeroing === true,
    );
    expect(zeroings.length).toBeGreaterThan(0);
    const healed = ofType(runs, 'fault.healed', 'discard');
    expect(healed.some((event) => (event.data as { outcome: string }).outcome === 'ok')).toBe(true);
    expectHealedPairs(runs, 'discard');
    expectPass(runs);
  });

  test('discard together with snapshots also discards older snapshots, which the store refuses', async () => {
    const seeds = seedsWhere(6, (options) => options.faults.discard && options.faults.snapshots, [
      'discard',
      'snapshots',
    ]);
    const runs = await runWith(['discard', 'snapshots'], seeds);
    const ofSnapshot = ofType(runs, 'fault.injected', 'discard').filter(
      (event) => (event.data as { of: string }).of === 'snapshot',
    );
    expect(ofSnapshot.length).toBeGreaterThan(0);
    // The working VDI may still map a snapshot's object: the store refuses the DISCARD.
    for (const run of runs) {
      const snapshotIds = new Set(
        run.events
          .filter(
            (event) =>
              event.type === 'fault.injected' &&
              (event.data as { fault: string; of?: string }).fault === 'discard' &&
              (event.data as { of?: string }).of === 'snapshot',
          )
          .map((event) => (event.data as { id: number }).id),
      );
      for (const healed of run.events.filter(
        (event) => event.type === 'fault.healed' && snapshotIds.has((event.data as { id: number }).id),
      )) {
        expect(healed.data).toMatchObject({ outcome: 'failed', zeroedBlocks: 0 });
        expect((healed.data as { why: string }).why).toMatch(/READONLY/);
      }
    }
    expectHealedPairs(runs, 'discard');
    expectPass(runs);
  });

  test('storeCrash: the store crashes with operations in flight and restarts; runs pass', async () => {
    const runs = await runWith(
      ['storeCrash'],
      seedsWhere(6, (options) => options.faults.storeCrash, ['storeCrash']),
    );
    const crashed = ofType(runs, 'sim.store_crashed');
    expect(crashed.length).toBeGreaterThan(0);
    expect(ofType(runs, 'sim.store_restarted').length).toBe(crashed.length);
    expect(
      crashed.some((event) => (event.data as { inFlight: unknown[] }).inFlight.length > 0),
      'some crash found object operations in flight',
    ).toBe(true);
    expectHealedPairs(runs, 'storeCrash');
    expectPass(runs);
  });

  test('slowStore: with delays past the request timeout, targets time out and resend; runs pass', async () => {
    const seeds = seedsWhere(
      3,
      (options) => options.faults.slowStore && options.slowStoreMsMax > SIM_REQUEST_TIMEOUT_MS,
      ['slowStore'],
    );
    const runs = await runWith(['slowStore'], seeds);
    const resent = ofType(runs, 'pool.request_resent').filter(
      (event) => (event.data as { why: string }).why === 'timeout',
    );
    expect(resent.length).toBeGreaterThan(0);
    expectHealedPairs(runs, 'slowStore');
    expectPass(runs);
  });

  test('connectionReset: runs split chunks and reset streams; runs pass', async () => {
    const seeds = seedsWhere(4, (options) => options.faults.connectionReset, ['connectionReset']);
    for (const seed of seeds) expect(optionsOf(seed, ['connectionReset']).chunkSplitRatio).toBeGreaterThan(0);
    const runs = await runWith(['connectionReset'], seeds);
    expect(ofType(runs, 'net.reset').length).toBeGreaterThan(0);
    expectPass(runs);
  });
});
