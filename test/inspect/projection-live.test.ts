/**
 * Goal: the inspector's projection (src/inspect/projection.ts), rebuilt from the event log alone,
 * equals the machines that really run: after every event of a simulated run, each live actor of
 * a long-lived machine (VDI locks, participants, inode views, logins, iSCSI connections and
 * sessions) is in the state the projection gives its instance.
 * Method: runScenario with a live-machine registry (src/core/live-machines.ts) that the world's
 * log offers its owners, and a sink that applies each event to a Projection, then compares every
 * registered actor; the first mismatch fails with its seq, key and both states. An actor the log
 * has not announced yet (no instance, or its key's previous life ended) must sit in its machine's
 * initial state; an actor inside a step whose log lines run ahead of its snapshot (busy) is
 * compared at the next event. At the end, every instance the projection holds as running must
 * have a live actor. Runs: seed-failover with and without coherence, failback, a snapshot
 * failover, and swarm seeds with faults (target and store crashes among them).
 */
import { describe, expect, test } from 'vitest';
import { type RunOptions, runScenario } from '../../sim/run.js';
import type { EventSink, LogEvent } from '../../src/core/event.js';
import { LiveMachines } from '../../src/core/live-machines.js';
import type { MachineId } from '../../src/inspect/machine-catalog.js';
import { Projection } from '../../src/inspect/projection.js';
import { initialStateOf } from '../../src/inspect/projection-rules.js';

const REGISTERED: ReadonlySet<MachineId> = new Set([
  'participant',
  'vdi-lock',
  'inode-view',
  'login',
  'iscsi-connection',
  'iscsi-session',
]);

class LiveComparison implements EventSink {
  readonly projection = new Projection({ endedIoLimit: 50 });
  /** Comparisons made, by machine. */
  readonly compared = new Map<MachineId, number>();
  readonly eventTypes = new Set<string>();
  mismatch: string | undefined;

  constructor(readonly live: LiveMachines) {}

  write(event: LogEvent): void {
    this.projection.apply(event);
    this.eventTypes.add(event.type);
    if (this.mismatch !== undefined) return;
    for (const machine of this.live.entries()) {
      if (machine.busy?.() === true) continue;
      const expected = machine.state();
      const got = this.projection.latest(machine.key);
      if ((got === undefined || got.ended) && expected === initialStateOf(machine.machine)) continue;
      this.compared.set(machine.machine, (this.compared.get(machine.machine) ?? 0) + 1);
      if (got !== undefined && got.machine === machine.machine && got.state === expected) continue;
      this.mismatch =
        `seq ${event.seq} (${event.type} of ${event.actor}): ${machine.key} (${machine.machine}) is ` +
        `${JSON.stringify(expected)} live, the projection says ` +
        (got === undefined
          ? 'nothing'
          : `${JSON.stringify(got.state)} (${got.machine}${got.ended ? ', ended' : ''})`);
      return;
    }
  }

  /** Instances the projection holds as running without a live actor. */
  orphans(): string[] {
    const snapshot = this.projection.snapshotAt(this.projection.lastSeq);
    return snapshot.instances
      .filter((instance) => REGISTERED.has(instance.machine) && !instance.ended)
      .filter((instance) => this.live.get(instance.key) === undefined)
      .map((instance) => `${instance.key} (${instance.machine}) ${instance.state}`);
  }
}

async function compare(options: RunOptions): Promise<LiveComparison> {
  const live = new LiveMachines();
  const comparison = new LiveComparison(live);
  await runScenario({ ...options, liveMachines: live, extraSinks: [comparison] });
  expect(comparison.mismatch).toBeUndefined();
  expect(comparison.orphans()).toEqual([]);
  return comparison;
}

describe('the projection equals the live machines after every event', () => {
  test.each([1, 2, 3])('seed-failover, seed %i, with coherence', async (seed) => {
    const comparison = await compare({ scenario: 'seed-failover', seed });
    for (const machine of REGISTERED) expect(comparison.compared.get(machine) ?? 0).toBeGreaterThan(0);
    expect(comparison.eventTypes).toContain('sim.target_crashed');
  });

  test.each([1, 3])('seed-failover, seed %i, without coherence (no participants)', async (seed) => {
    const comparison = await compare({ scenario: 'seed-failover', seed, coherence: false });
    expect(comparison.compared.get('participant') ?? 0).toBe(0);
    expect(comparison.compared.get('inode-view') ?? 0).toBeGreaterThan(0);
    const rows = comparison.projection.snapshotAt(comparison.projection.lastSeq).coherence;
    expect(rows.map((row) => row.cells.map((cell) => [cell.node, cell.participant]))).toEqual([
      [
        ['target-a', null],
        ['target-b', null],
      ],
    ]);
  });

  test.each([
    ['failback', 4],
    ['failover-after-snapshot', 2],
    ['lun-reset-all-paths', 1],
  ] as const)('%s, seed %i', async (scenario, seed) => {
    await compare({ scenario, seed });
  });

  test.each([
    [5, ['targetCrash', 'storeCrash', 'connectionReset', 'partitionBoth']],
    [7, ['targetCrash', 'storeEndpointLoss', 'snapshots', 'networkDelay']],
    [11, undefined],
  ] as const)('multipath swarm, seed %i, faults %j', async (seed, faults) => {
    await compare({ scenario: 'swarm', seed, ...(faults === undefined ? {} : { faults: [...faults] }) });
  });
});
