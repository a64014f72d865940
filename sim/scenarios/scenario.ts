/**
 * What a scenario is: a name, what it shows, and a script for the safety phase that drives hosts
 * (multipath devices), the workload and faults in one world. The runner (sim/run.ts) builds the
 * world, hands the script a ScenarioContext, then runs the liveness phase (heal everything, the
 * script must finish) and a final read of every block the workload touched.
 *
 * Scripts draw every choice from `context.rng` (a fork of the seed's), never from anything else.
 */
import type { Rng } from '../../src/core/rng.js';
import type { FaultInjector, SwarmOptions } from '../faults.js';
import type { MultipathDevice, PathPolicy, PathSetup } from '../multipath/multipath-device.js';
import type { History } from '../workload.js';
import type { World, WorldOptions } from '../world.js';

export interface DeviceRequest {
  /** The initiator host (default "host"). */
  readonly host?: string;
  readonly policy?: PathPolicy;
  readonly failback?: 'immediate' | 'manual';
  /** Target node names in priority order (default: every node, a first). */
  readonly paths?: readonly string[];
  /** Same ISID for every login of a path (default: true with policy alua). */
  readonly stableIsid?: boolean;
  /** Runs on each path after its login, before it is used (a PR host registers there). */
  readonly pathSetup?: PathSetup;
  readonly commandTimeoutMs?: number;
  readonly recoveryTimeoutMs?: number;
}

export interface ScenarioContext {
  readonly world: World;
  readonly history: History;
  readonly rng: Rng;
  /** Settings drawn from the seed (the swarm scenario follows them; scripts may look). */
  readonly swarm: SwarmOptions;
  readonly faults: FaultInjector;
  /** Bytes of one sheep data object, and LU blocks in it. */
  readonly objectBytes: number;
  readonly blocksPerObject: number;
  openDevice(request?: DeviceRequest): Promise<MultipathDevice>;
  /** A line in the event log, to make the script readable in a replay. */
  step(text: string, data?: Record<string, unknown>): void;
  sleep(ms: number): Promise<void>;
  /** Records a scenario-specific expectation that failed (a violation of kind "expectation"). */
  expect(condition: boolean, message: string): void;
  /** Polls every `pollMs` until `predicate` holds or `timeoutMs` passed; true when it held. */
  waitFor(predicate: () => boolean, timeoutMs: number, pollMs?: number): Promise<boolean>;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Its number among the ten field scenarios of multipath.md §8, if it is one. */
  readonly field?: number;
  /** Set when the scenario needs features Collie lacks: why it is not run yet. */
  readonly notYet?: string;
  /** World settings beyond the defaults (drawn from the scenario's rng). */
  readonly world?: (rng: Rng, swarm: SwarmOptions) => Partial<WorldOptions>;
  run(context: ScenarioContext): Promise<void>;
}
