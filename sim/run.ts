/**
 * Runs one scenario for one seed, VOPR style:
 *   1. print SEED= and every setting drawn from it;
 *   2. build the world (store, targets, the seed's network) and start the scenario's script;
 *   3. safety phase: the script (and, for the swarm scenario, faults) runs for at most
 *      `safetyMsMax` of virtual time;
 *   4. liveness phase: every fault is healed; the script must finish within `livenessMsMax`,
 *      then a fresh host reads back every block the workload touched;
 *   5. the checkers judge the history and the event log; a violation prints the seed, the
 *      shortest window of events that shows it, and the command that replays it.
 * The outcome is 'pass', 'violation' (exit 1) or 'stuck' (liveness failure, exit 3).
 *
 * Liveness checks (checker 'liveness'), besides "the run finishes" ('stuck'):
 *   - read-back-failed: every read of the final read-back must succeed and decode (its values
 *     go through the register checker like any read);
 *   - failed-outside-fault: a workload operation may fail (or read garbage) only while a fault
 *     is active or within FAULT_GRACE_MS after it ended. Fault windows come from the event log
 *     alone (faultWindows): `fault.injected`..`fault.healed` of any fault class (or the
 *     liveness phase's `fault.heal_all`), `sim.target_crashed`..`sim.target_restarted`,
 *     `sim.store_crashed`..`sim.store_restarted`, `net.partitioned`..`net.healed`, and the
 *     instantaneous ones (connectionReset, `net.reset`, `net.host_crashed`), so scripted faults
 *     count as much as the swarm's.
 *
 * Replay: everything depends on (scenario, seed, coherence, client bug, allowed faults) only, so
 * the event log, and its digest, is the same in every run and every process.
 */
import type { EventSink, LogEvent } from '../src/core/event.js';
import { canonicalEventLine } from '../src/core/event-sinks.js';
import { JsonlFileSink } from '../src/core/jsonl-file-sink.js';
import type { LiveMachines } from '../src/core/live-machines.js';
import type { Rng } from '../src/core/rng.js';
import { createRng } from '../src/core/rng.js';
import { drainMicrotasks, type VirtualClock } from '../src/core/virtual-clock.js';
import type { TestOnlyClientBug } from '../src/sheepdog/client/io-runner.js';
import { INITIAL_STAMP, type RegisterViolation } from './checkers/block-register-checker.js';
import { CoherenceChecker } from './checkers/coherence-checker.js';
import { appendViolation, FoundViolations, storeInvariantMessage } from './checkers/violation-events.js';
import {
  DEFAULT_SWARM_FAULTS,
  describeSwarmOptions,
  drawSwarmOptions,
  type FaultClass,
  FaultInjector,
  WORKLOAD_CLASSES,
} from './faults.js';
import { MULTIPATH_DEFAULTS, MultipathDevice } from './multipath/multipath-device.js';
import { resolveMutant } from './mutants.js';
import { writeHeaderLine } from './replay-header.js';
import { findScenario } from './scenarios/index.js';
import type { DeviceRequest, ScenarioContext } from './scenarios/scenario.js';
import { wallNowMs } from './wallclock.js';
import { History, type OpRecord } from './workload.js';
import { INITIATOR_HOST, TARGET_IQN, World } from './world.js';

export interface RunOptions {
  readonly scenario: string;
  readonly seed: number;
  /** Store locking and inode coherence (default true); false reproduces sheep without --lock. */
  readonly coherence?: boolean;
  /** Write the ordered event log (JSONL, a header line first) to this file. */
  readonly events?: string;
  /** A bug injected into the client on purpose (simulator self-test). */
  readonly clientBug?: TestOnlyClientBug;
  /** A test-only switch of any layer (sim/mutants.ts): store, client or this runner. */
  readonly mutant?: string;
  /** Fault classes the swarm may draw from (default DEFAULT_SWARM_FAULTS). */
  readonly faults?: readonly FaultClass[];
  /** Where the report goes line by line; default nowhere. */
  readonly print?: (line: string) => void;
  readonly safetyMsMax?: number;
  readonly livenessMsMax?: number;
  /** More sinks for the event log (replay collects the lines). */
  readonly extraSinks?: readonly EventSink[];
  /** A registry the world's log offers its live machines to (test/inspect/projection-live.test.ts). */
  readonly liveMachines?: LiveMachines;
}

export interface Violation {
  readonly checker: 'register' | 'coherence' | 'torn-block' | 'scenario' | 'liveness' | 'store';
  readonly kind: string;
  readonly message: string;
  /** First and last event sequence numbers of the window that shows it. */
  readonly windowSeqs: readonly [number, number];
}

export interface RunStats {
  readonly simulatedMs: number;
  readonly realMs: number;
  /** Workload operations completed (reads and writes, the final read-back included). */
  readonly ios: number;
  readonly events: number;
}

export interface RunResult {
  readonly ok: boolean;
  readonly outcome: 'pass' | 'violation' | 'stuck';
  readonly violations: readonly Violation[];
  /** Why the liveness phase did not converge (outcome 'stuck'). */
  readonly pending: string | null;
  readonly digest: string;
  readonly stats: RunStats;
  readonly replayCommand: string;
  readonly settings: string;
}

export const SAFETY_MS_MAX_DEFAULT = 300_000;
export const LIVENESS_MS_MAX_DEFAULT = 300_000;
const WINDOW_EVENTS_MAX = 60;
/** Backend time bounds well under the host's 15 s command timeout (see faults.ts). */
export const SIM_BACKEND = {
  poolSize: 2,
  requestTimeoutMs: 2_000,
  unavailableAfterMs: 5_000,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 500,
};

/**
 * How long after a fault window closes an operation may still fail because of it (virtual ms).
 * The documented recovery, end to end: the host waits `recoveryTimeoutMs` (10 s, open-iscsi's
 * replacement_timeout) after a lost connection before it requeues an IO; a command on a path
 * that went silent fails only after the command timeout (15 s); the target's backend gives up on
 * an unreachable store after `unavailableAfterMs` (5 s) plus one request timeout (2 s). That is
 * 32 s; the rest (to 45 s) covers a path checker round (2 s), a login (up to 5 s) and the
 * retries in between. Change it only with those bounds, never to make a run pass
 * (test/sim/liveness.test.ts checks it against DOCUMENTED_RECOVERY_MS).
 */
export const FAULT_GRACE_MS = 45_000;
/** The sum above, from the settings themselves. */
export const DOCUMENTED_RECOVERY_MS =
  MULTIPATH_DEFAULTS.recoveryTimeoutMs +
  MULTIPATH_DEFAULTS.commandTimeoutMs +
  SIM_BACKEND.unavailableAfterMs +
  SIM_BACKEND.requestTimeoutMs;

/** Keeps every event: the window of a violation is cut from it. */
class ArraySink implements EventSink {
  readonly events: LogEvent[] = [];

  write(event: LogEvent): void {
    this.events.push(event);
  }
}

export function replayCommand(options: RunOptions): string {
  const parts = ['collie sim run', `--scenario ${options.scenario}`, `--seed ${options.seed}`];
  if (options.coherence === false) parts.push('--no-coherence');
  if (options.clientBug !== undefined) parts.push(`--client-bug ${options.clientBug}`);
  if (options.mutant !== undefined) parts.push(`--mutant ${options.mutant}`);
  if (options.faults !== undefined && !sameFaults(options.faults, DEFAULT_SWARM_FAULTS)) {
    parts.push(`--faults ${options.faults.length === 0 ? 'none' : options.faults.join(',')}`);
  }
  return parts.join(' ');
}

function sameFaults(a: readonly FaultClass[], b: readonly FaultClass[]): boolean {
  return a.length === b.length && a.every((fault) => b.includes(fault));
}

export async function runScenario(options: RunOptions): Promise<RunResult> {
  const print = options.print ?? (() => undefined);
  const scenario = findScenario(options.scenario);
  if (scenario === undefined)
    throw new RangeError(`no scenario "${options.scenario}" (see: collie sim list)`);
  if (scenario.notYet !== undefined)
    throw new RangeError(`scenario "${scenario.name}" is not supported yet: ${scenario.notYet}`);
  const coherence = options.coherence ?? true;
  const mutant = options.mutant === undefined ? {} : resolveMutant(options.mutant);
  if (mutant === undefined) throw new RangeError(`no test-only switch "${options.mutant}"`);
  const clientBug = options.clientBug ?? mutant.clientBug;
  const allowed = options.faults ?? DEFAULT_SWARM_FAULTS;
  const seedRng = createRng(options.seed);
  const swarm = drawSwarmOptions(seedRng.fork('swarm'), allowed);
  const settings =
    scenario.name === 'swarm'
      ? describeSwarmOptions(swarm)
      : `script=${scenario.name} (settings drawn per step)`;
  print(
    `SEED=${options.seed} scenario=${scenario.name} coherence=${coherence ? 'on' : 'off'} client_bug=${options.clientBug ?? 'none'}` +
      (options.mutant === undefined ? '' : ` mutant=${options.mutant}`),
  );
  print(`settings: ${settings}`);

  const startRealMs = wallNowMs();
  const all = new ArraySink();
  const sinks: EventSink[] = [all, ...(options.extraSinks ?? [])];
  let file: JsonlFileSink | undefined;
  if (options.events !== undefined) {
    writeHeaderLine(options.events, {
      scenario: scenario.name,
      seed: options.seed,
      coherence,
      clientBug: options.clientBug ?? null,
      faults: [...allowed],
      mutant: options.mutant ?? null,
    });
    file = new JsonlFileSink(options.events, { append: true });
    sinks.push(file);
  }
  const coherenceChecker = new CoherenceChecker({ locking: coherence });
  sinks.push(coherenceChecker);
  const found = new FoundViolations(coherenceChecker);
  sinks.push(found);
  const extra = scenario.world?.(seedRng.fork('world'), swarm) ?? {};
  const world = await World.build({
    seed: options.seed,
    coherence,
    ...(clientBug === undefined ? {} : { clientBug }),
    ...(mutant.storeBug === undefined ? {} : { storeBug: mutant.storeBug }),
    ...(mutant.clusterBug === undefined ? {} : { clusterBug: mutant.clusterBug }),
    backend: SIM_BACKEND,
    ...extra,
    sinks,
    ...(options.liveMachines === undefined ? {} : { liveMachines: options.liveMachines }),
  });
  const flushFound = () => found.flushFound(world.eventLog);
  const history = new History(world.eventLog);
  const faults = new FaultInjector(world, world.rng.fork('faults'), swarm);
  const devices: MultipathDevice[] = [];
  const expectations: Violation[] = [];
  const context = makeContext(
    world,
    history,
    world.rng.fork('scenario'),
    swarm,
    faults,
    devices,
    expectations,
  );

  const safetyMsMax = options.safetyMsMax ?? SAFETY_MS_MAX_DEFAULT;
  const livenessMsMax = options.livenessMsMax ?? LIVENESS_MS_MAX_DEFAULT;
  const script = track(scenario.run(context));
  world.eventLog.append('sim/run', 'sim.safety_started', { scenario: scenario.name });
  await runUntil(world.clock, () => script.settled, world.clock.now() + safetyMsMax, flushFound);
  world.eventLog.append('sim/run', 'sim.liveness_started', { scriptDone: script.settled });
  const healing = track(faults.healAll());
  await runUntil(world.clock, () => healing.settled, world.clock.now() + livenessMsMax, flushFound);
  let pending: string | null = null;
  const livenessEndMs = world.clock.now() + livenessMsMax;
  const scriptEnd = await runUntil(world.clock, () => script.settled, livenessEndMs, flushFound);
  if (!script.settled) pending = pendingReason('the scenario script', scriptEnd, history, devices);
  if (script.error !== undefined) throw script.error;
  if (healing.error !== undefined) throw healing.error;
  const readBackOps: OpRecord[] = [];
  if (pending === null && mutant.simBug !== 'skip-final-read-back') {
    const verify = track(readBack(context, history, readBackOps));
    const verifyEnd = await runUntil(
      world.clock,
      () => verify.settled,
      world.clock.now() + livenessMsMax,
      flushFound,
    );
    if (verify.error !== undefined) throw verify.error;
    if (!verify.settled) pending = pendingReason('the final read-back', verifyEnd, history, devices);
  }
  world.eventLog.append('sim/run', 'sim.finished', { pending });

  const checked = collectViolations(history, coherenceChecker, world, coherence);
  const liveness = livenessViolations(history, all.events, readBackOps);
  const coverage = pending === null ? readBackCoverage(history, all.events, readBackOps) : [];
  const violations = [
    ...checked,
    ...storeInvariantViolations(all.events),
    ...expectations,
    ...liveness,
    ...coverage,
  ];
  // Into the log (sim/checkers/violation-events.ts), after every judgement read it: what was found
  // as the run went is there already (the coherence checker's final agreement is flushed now),
  // the end-of-run checks' findings go at the end.
  flushFound();
  for (const violation of [
    ...checked.filter((violation) => violation.checker !== 'coherence'),
    ...liveness,
    ...coverage,
  ]) {
    appendViolation(world.eventLog, { ...violation, evidenceSeqs: violation.windowSeqs });
  }
  const digest = world.digest.digestHex();
  const stats: RunStats = {
    simulatedMs: world.clock.now(),
    realMs: wallNowMs() - startRealMs,
    ios: history.completedCount,
    events: world.eventLog.lastSeq,
  };
  await file?.close();
  const outcome = violations.length > 0 ? 'violation' : pending !== null ? 'stuck' : 'pass';
  const result: RunResult = {
    ok: outcome === 'pass',
    outcome,
    violations,
    pending,
    digest,
    stats,
    replayCommand: replayCommand({ ...options, coherence }),
    settings,
  };
  report(result, all.events, history, print);
  return result;
}

// ---- the context given to scripts ------------------------------------------------------------------

function makeContext(
  world: World,
  history: History,
  rng: Rng,
  swarm: ScenarioContext['swarm'],
  faults: FaultInjector,
  devices: MultipathDevice[],
  expectations: Violation[],
): ScenarioContext {
  const objectBytes = 2 ** world.options.blockSizeShift;
  let deviceCount = 0;
  return {
    world,
    history,
    rng,
    swarm,
    faults,
    objectBytes,
    blocksPerObject: objectBytes / 512,
    async openDevice(request: DeviceRequest = {}) {
      const host = request.host ?? INITIATOR_HOST;
      const names = request.paths ?? world.targets.map((target) => target.name);
      deviceCount += 1;
      const device = await MultipathDevice.open({
        name: `${host}/mpath${deviceCount}`,
        transport: world.initiatorTransport(host),
        clock: world.clock,
        rng: world.rng.fork(`device-${deviceCount}`),
        eventLog: world.eventLog,
        initiatorName: `iqn.2026-11.org.collie:${host}`,
        targetName: TARGET_IQN,
        lun: 1,
        paths: names.map((name) => ({ name, portal: world.target(name).portal })),
        ...(request.policy === undefined ? {} : { policy: request.policy }),
        ...(request.failback === undefined ? {} : { failback: request.failback }),
        ...(request.stableIsid === undefined ? {} : { stableIsid: request.stableIsid }),
        ...(request.pathSetup === undefined ? {} : { pathSetup: request.pathSetup }),
        ...(request.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: request.commandTimeoutMs }),
        ...(request.recoveryTimeoutMs === undefined ? {} : { recoveryTimeoutMs: request.recoveryTimeoutMs }),
      });
      devices.push(device);
      return device;
    },
    expect(condition, message) {
      if (condition) return;
      const event = world.eventLog.append('sim/scenario', 'scenario.expectation_failed', { message });
      const violation: Violation = {
        checker: 'scenario',
        kind: 'expectation',
        message,
        windowSeqs: [Math.max(1, event.seq - WINDOW_EVENTS_MAX + 1), event.seq],
      };
      expectations.push(violation);
      appendViolation(world.eventLog, { ...violation, evidenceSeqs: violation.windowSeqs });
    },
    step(text, data = {}) {
      world.eventLog.append('sim/scenario', 'scenario.step', { text, ...data });
    },
    sleep(ms) {
      return new Promise((resolve) => {
        world.clock.setTimeout(resolve, ms);
      });
    },
    async waitFor(predicate, timeoutMs, pollMs = 100) {
      const deadlineMs = world.clock.now() + timeoutMs;
      for (let polls = 0; polls <= Math.ceil(timeoutMs / pollMs); polls++) {
        if (predicate()) return true;
        if (world.clock.now() >= deadlineMs) break;
        await this.sleep(pollMs);
      }
      return predicate();
    },
  };
}

/**
 * A fresh host reads back every block the workload touched (acknowledged writes must be there);
 * each read is pushed onto `ops` (livenessViolations requires every one to succeed).
 */
async function readBack(context: ScenarioContext, history: History, ops: OpRecord[]): Promise<void> {
  const blocks = [...new Set(history.ops.map((op) => op.block))].sort((a, b) => a - b);
  if (blocks.length === 0) return;
  context.step('read-back of every touched block', { blocks: blocks.length });
  // A host of a single-owner cluster is configured for ALUA (it reads through the owner).
  const policy = context.world.options.alua === 'single-owner' ? 'alua' : 'failover';
  const device = await context.openDevice({ host: READ_BACK_HOST, policy });
  for (const block of blocks) ops.push(await history.read(device, READ_BACK_HOST, block));
}

const READ_BACK_HOST = 'verifier';

// ---- running virtual time -----------------------------------------------------------------------

interface Tracked {
  settled: boolean;
  error: unknown;
}

function track(promise: Promise<unknown>): Tracked {
  const tracked: Tracked = { settled: false, error: undefined };
  promise.then(
    () => {
      tracked.settled = true;
    },
    (error: unknown) => {
      tracked.settled = true;
      tracked.error = error;
    },
  );
  return tracked;
}

type RunEnd = 'done' | 'deadline' | 'stalled';

/**
 * Fires timers one by one until `done()`, the deadline, or nothing is left to fire; `afterStep`
 * runs after each (the violations found meanwhile go into the log there).
 */
async function runUntil(
  clock: VirtualClock,
  done: () => boolean,
  deadlineMs: number,
  afterStep: () => void = () => {},
): Promise<RunEnd> {
  await drainMicrotasks();
  afterStep();
  // Bounded: every turn fires one timer and virtual time cannot pass the deadline.
  for (let steps = 0; steps < 50_000_000; steps++) {
    if (done()) return 'done';
    const next = clock.nextDueMs();
    if (next === undefined) return 'stalled';
    if (next > deadlineMs) {
      clock.advanceTo(deadlineMs);
      return 'deadline';
    }
    clock.step();
    await drainMicrotasks();
    afterStep();
  }
  return 'deadline';
}

function pendingReason(what: string, end: RunEnd, history: History, devices: MultipathDevice[]): string {
  const open = history.ops.filter((op) => op.outcome === undefined);
  const ops = open
    .slice(0, 3)
    .map((op) => `${op.client} ${op.kind} of block ${op.block} (op ${op.id})`)
    .join(', ');
  const paths = devices
    .map((device) => `${device.name}: ${device.paths().map((path) => `${path.name}=${path.state}`)}`)
    .join('; ');
  const why = end === 'stalled' ? 'nothing was left to run (a wait that no timer ends)' : 'time ran out';
  return `${what} did not finish after healing (${why}); ${open.length} operation(s) pending${ops ? `: ${ops}` : ''}; paths ${paths}`;
}

// ---- liveness: failures only within fault windows, a complete read-back ----------------------------

/** A time in which faults may make operations fail (the grace after it is FAULT_GRACE_MS). */
export interface FaultWindow {
  /** What it was: `targetCrash#3`, `target-a crashed`, `link host>target-a`, ... */
  readonly what: string;
  /** The event that opened it. */
  readonly openSeq: number;
  readonly openMs: number;
  /** Virtual ms of the event that closed it; undefined: it never closed. */
  closeMs: number | undefined;
}

/**
 * Fault classes whose `fault.injected` is all there is: they happen at once and never log
 * `fault.healed`. Any other class opens a window that only `fault.healed` (same id) or the
 * liveness phase's `fault.heal_all` closes; a new class that is instantaneous but missing here
 * only makes its window longer (till heal_all), never a false alarm.
 */
const INSTANT_FAULT_CLASSES: ReadonlySet<string> = new Set(['connectionReset']);

/**
 * Classes that are ordinary traffic, not faults: a snapshot, a lock-less writer, a DISCARD.
 * Operations must succeed through them, so they open no window that would excuse a failure.
 */
const TRAFFIC_CLASSES: ReadonlySet<string> = new Set(WORKLOAD_CLASSES);

/**
 * The fault windows of a run, from its event log alone (see the file comment). Keyed on event
 * types, not on fault classes: any class that logs `fault.injected` / `fault.healed` with a
 * `fault` field and an `id` is covered.
 */
export function faultWindows(events: Iterable<LogEvent>): FaultWindow[] {
  const windows: FaultWindow[] = [];
  const open = new Map<string, FaultWindow>();
  const opened = (key: string, what: string, event: LogEvent) => {
    if (open.has(key)) return;
    const window: FaultWindow = { what, openSeq: event.seq, openMs: event.t, closeMs: undefined };
    windows.push(window);
    open.set(key, window);
  };
  const closed = (key: string, event: LogEvent) => {
    const window = open.get(key);
    if (!window) return;
    window.closeMs = event.t;
    open.delete(key);
  };
  const instant = (what: string, event: LogEvent) => {
    windows.push({ what, openSeq: event.seq, openMs: event.t, closeMs: event.t });
  };
  for (const event of events) {
    const data = (event.data ?? {}) as Record<string, unknown>;
    switch (event.type) {
      case 'fault.injected': {
        const what = `${String(data.fault)}#${String(data.id)}`;
        if (TRAFFIC_CLASSES.has(String(data.fault))) break;
        if (INSTANT_FAULT_CLASSES.has(String(data.fault))) instant(what, event);
        else opened(`fault:${String(data.id)}`, what, event);
        break;
      }
      case 'fault.healed':
        closed(`fault:${String(data.id)}`, event);
        break;
      case 'fault.heal_failed':
        // The heal did not take (a reboot that failed): the fault stays until heal_all.
        opened(`fault:${String(data.id)}`, `${String(data.fault)}#${String(data.id)} (heal failed)`, event);
        break;
      case 'fault.heal_all':
        for (const key of [...open.keys()]) if (key.startsWith('fault:')) closed(key, event);
        break;
      case 'sim.target_crashed':
        opened(`node:${event.actor}`, `${event.actor.replace(/^sim\//, '')} crashed`, event);
        break;
      case 'sim.target_restarted':
        closed(`node:${event.actor}`, event);
        break;
      case 'sim.store_crashed':
        opened('store', 'store crashed', event);
        break;
      case 'sim.store_restarted':
        closed('store', event);
        break;
      case 'net.partitioned': {
        const a = String(data.a);
        const b = String(data.b);
        opened(`link:${a}>${b}`, `link ${a}>${b} cut`, event);
        if (data.oneWay !== true) opened(`link:${b}>${a}`, `link ${b}>${a} cut`, event);
        break;
      }
      case 'net.healed': {
        const a = typeof data.a === 'string' ? data.a : undefined;
        const b = typeof data.b === 'string' ? data.b : undefined;
        for (const key of [...open.keys()]) {
          if (!key.startsWith('link:')) continue;
          const [from, to] = key.slice('link:'.length).split('>') as [string, string];
          const touches =
            a === undefined ||
            (b === undefined ? from === a || to === a : (from === a && to === b) || (from === b && to === a));
          if (touches) closed(key, event);
        }
        break;
      }
      case 'net.reset':
        instant(`stream ${String(data.id)} reset`, event);
        break;
      case 'net.host_crashed':
        instant(`host ${String(data.host)} crashed`, event);
        break;
    }
  }
  return windows;
}

/** The window (with its grace) during which `op` ran, if any. */
export function faultWindowOf(op: OpRecord, windows: readonly FaultWindow[]): FaultWindow | undefined {
  const completedSeq = op.completedAt?.seq ?? Number.POSITIVE_INFINITY;
  return windows.find(
    (window) =>
      completedSeq >= window.openSeq &&
      op.invokedAt.ms <= (window.closeMs ?? Number.POSITIVE_INFINITY) + FAULT_GRACE_MS,
  );
}

/**
 * The read-back is the harness's own duty: every block the workload touched is read once more
 * after healing. A block it did not read is a hole in the checking (the mutant
 * skip-final-read-back), never a pass.
 */
export function readBackCoverage(
  history: History,
  events: readonly LogEvent[],
  readBackOps: readonly OpRecord[],
): Violation[] {
  const violations: Violation[] = [];
  const readBackBlocks = new Set(readBackOps.map((op) => op.block));
  const touched = [...new Set(history.ops.filter((op) => !readBackOps.includes(op)).map((op) => op.block))];
  const unread = touched.filter((block) => !readBackBlocks.has(block));
  if (unread.length > 0) {
    const lastSeq = events[events.length - 1]?.seq ?? 1;
    violations.push({
      checker: 'liveness',
      kind: 'read-back-missing',
      message: `the final read-back did not read ${unread.length} of the ${touched.length} blocks the workload touched (first: block ${unread[0]}): acknowledged writes there were never verified`,
      windowSeqs: [lastSeq, lastSeq],
    });
  }
  return violations;
}

/**
 * Liveness violations: a read of the final read-back (`readBackOps`) that failed or read garbage
 * (read-back-failed), and any other operation that failed or read garbage outside every fault
 * window and its grace (failed-outside-fault).
 */
export function livenessViolations(
  history: History,
  events: readonly LogEvent[],
  readBackOps: readonly OpRecord[],
): Violation[] {
  const violations: Violation[] = [];
  const windowSeqsOf = (op: OpRecord): [number, number] => [
    op.invokedAt.seq,
    op.completedAt?.seq ?? op.invokedAt.seq,
  ];
  for (const op of readBackOps) {
    if (op.outcome === 'ok') continue;
    violations.push({
      checker: 'liveness',
      kind: 'read-back-failed',
      message: `the final read-back of block ${op.block} (op ${op.id}) ${op.outcome === 'garbage' ? `read garbage through ${op.path}` : 'failed'}, after every fault was healed: ${op.error}`,
      windowSeqs: windowSeqsOf(op),
    });
  }
  const readBack = new Set(readBackOps);
  const windows = faultWindows(events);
  for (const op of history.ops) {
    if (readBack.has(op) || (op.outcome !== 'failed' && op.outcome !== 'garbage')) continue;
    if (faultWindowOf(op, windows) !== undefined) continue;
    const last = windows
      .filter((window) => window.openSeq <= op.invokedAt.seq)
      .reduce<FaultWindow | undefined>(
        (latest, window) =>
          latest === undefined || (window.closeMs ?? 0) > (latest.closeMs ?? 0) ? window : latest,
        undefined,
      );
    const before = last
      ? `the last fault before it (${last.what}) ended at ${last.closeMs} ms`
      : 'no fault came before it';
    violations.push({
      checker: 'liveness',
      kind: 'failed-outside-fault',
      message: `${op.client} ${op.kind} of block ${op.block} (op ${op.id}, ${op.invokedAt.ms}..${op.completedAt?.ms} ms) ${op.outcome === 'garbage' ? 'read garbage' : 'failed'} with no fault active within ${FAULT_GRACE_MS} ms (${before}): ${op.error}`,
      windowSeqs: [last?.openSeq ?? op.invokedAt.seq, op.completedAt?.seq ?? op.invokedAt.seq],
    });
  }
  return violations;
}

// ---- checking and reporting ---------------------------------------------------------------------

/**
 * A store invariant that broke (the store logs `store.invariant_broken` and drops the
 * connection; it never answers EIO, which the register checker would accept as an indeterminate
 * write) fails the run, with the events that led to it.
 */
export function storeInvariantViolations(events: readonly LogEvent[]): Violation[] {
  return events
    .filter((event) => event.type === 'store.invariant_broken')
    .map((event) => ({
      checker: 'store' as const,
      kind: 'invariant',
      message: storeInvariantMessage(event.data as { op?: string; message?: string }),
      windowSeqs: [Math.max(1, event.seq - WINDOW_EVENTS_MAX + 1), event.seq] as const,
    }));
}

function collectViolations(
  history: History,
  coherenceChecker: CoherenceChecker,
  world: World,
  coherence: boolean,
): Violation[] {
  const violations: Violation[] = [];
  for (const violation of history.checker.check()) {
    const read = history.opCompletedAt(violation.read.completed.seq);
    const involved = violation.newer ?? violation.earlierObserved ?? violation.observed;
    const write = involved ? history.writeOf(involved.stamp) : undefined;
    const readSeq = violation.read.invoked.seq;
    const firstSeq = Math.min(
      write?.invokedAt.seq ?? readSeq,
      violation.earlierRead?.invoked.seq ?? readSeq,
      readSeq,
    );
    violations.push({
      checker: 'register',
      kind: violation.kind,
      message: describeRegisterViolation(violation, read, history),
      windowSeqs: [firstSeq, violation.read.completed.seq],
    });
  }
  for (const op of history.ops) {
    if (op.outcome !== 'garbage') continue;
    violations.push({
      checker: 'torn-block',
      kind: 'garbage-read',
      message: `${op.client} read block ${op.block} through ${op.path}: ${op.error}`,
      windowSeqs: [op.invokedAt.seq, op.completedAt?.seq ?? op.invokedAt.seq],
    });
  }
  if (coherence) coherenceChecker.finish(world.store.locks.views(), world.eventLog.lastSeq);
  for (const violation of coherenceChecker.violations) {
    violations.push({
      checker: 'coherence',
      kind: violation.kind,
      message: violation.message,
      windowSeqs: violation.windowSeqs,
    });
  }
  return violations;
}

function describeRegisterViolation(
  violation: RegisterViolation,
  read: OpRecord | undefined,
  history: History,
): string {
  const who = read ? `${read.client} (op ${read.id}) read block ${violation.block} through ${read.path}` : '';
  const saw = violation.read.stamp === INITIAL_STAMP ? 'the initial zeros' : `"${violation.read.stamp}"`;
  if (violation.kind === 'stale-read' && violation.newer) {
    const newer = history.writeOf(violation.newer.stamp);
    return `stale read: ${who} at ${violation.read.invoked.ms} ms and got ${saw}, but "${violation.newer.stamp}" (op ${newer?.id}, through ${newer?.path}) was acknowledged at ${violation.newer.acknowledged?.ms} ms, before that read began`;
  }
  if (violation.kind === 'non-monotonic-read' && violation.earlierRead) {
    const earlier = history.opCompletedAt(violation.earlierRead.completed.seq);
    const by = earlier ? ` by ${earlier.client} (op ${earlier.id})` : '';
    return `non-monotonic read: ${who}: ${violation.message}${by}`;
  }
  return `${violation.kind}: ${who}: ${violation.message}`;
}

function report(
  result: RunResult,
  events: readonly LogEvent[],
  history: History,
  print: (line: string) => void,
): void {
  const { stats } = result;
  print(
    `simulated ${stats.simulatedMs} ms in ${stats.realMs.toFixed(0)} ms real (${ratio(stats)}x), ${stats.ios} IOs, ${stats.events} events, ${history.ops.length} ops`,
  );
  result.violations.slice(0, 5).forEach((violation, index) => {
    print(`VIOLATION (${violation.checker}/${violation.kind}): ${violation.message}`);
    if (index > 0) return;
    const window = cutWindow(events, violation.windowSeqs);
    print(
      `  the events that show it, seq ${violation.windowSeqs[0]}..${violation.windowSeqs[1]}${window.note}:`,
    );
    for (const event of window.events) print(`    ${canonicalEventLine(event)}`);
  });
  if (result.violations.length > 5) print(`... and ${result.violations.length - 5} more violation(s)`);
  if (result.pending !== null) print(`STUCK (liveness): ${result.pending}`);
  print(`digest: ${result.digest}`);
  if (!result.ok) print(`replay: ${result.replayCommand}`);
  print(`result: ${result.outcome}`);
}

function ratio(stats: RunStats): string {
  return stats.realMs > 0 ? (stats.simulatedMs / stats.realMs).toFixed(0) : 'inf';
}

/** Events whose types tell the multipath story (kept when a window is too long to print whole). */
const STORY =
  /^(workload\.|mpath\.|coherence\.|lock\.|sim\.|fault\.|scenario\.|inode\.|net\.(partitioned|healed|host_crashed|reset))/;

/** The events of a window; past WINDOW_EVENTS_MAX, only the story events, then head and tail. */
export function cutWindow(
  events: readonly LogEvent[],
  seqs: readonly [number, number],
): { events: LogEvent[]; note: string } {
  const [first, last] = seqs;
  const inside = events.filter((event) => event.seq >= first && event.seq <= last);
  if (inside.length <= WINDOW_EVENTS_MAX) return { events: inside, note: '' };
  const story = inside.filter((event) => STORY.test(event.type));
  if (story.length <= WINDOW_EVENTS_MAX)
    return {
      events: story,
      note: ` (${story.length} of ${inside.length}: workload, paths, coherence, faults)`,
    };
  const head = story.slice(0, WINDOW_EVENTS_MAX / 3);
  const tail = story.slice(story.length - (2 * WINDOW_EVENTS_MAX) / 3);
  return {
    events: [...head, ...tail],
    note: ` (first ${head.length} and last ${tail.length} of ${story.length} story events; --events FILE has all)`,
  };
}
