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
 * Replay: everything depends on (scenario, seed, coherence, client bug, allowed faults) only, so
 * the event log, and its digest, is the same in every run and every process.
 */
import type { EventSink, LogEvent } from '../src/core/event.js';
import { canonicalEventLine } from '../src/core/event-sinks.js';
import { JsonlFileSink } from '../src/core/jsonl-file-sink.js';
import type { Rng } from '../src/core/rng.js';
import { createRng } from '../src/core/rng.js';
import { drainMicrotasks, type VirtualClock } from '../src/core/virtual-clock.js';
import type { TestOnlyClientBug } from '../src/sheepdog/client/io-runner.js';
import { CoherenceChecker } from './checkers/coherence-checker.js';
import {
  DEFAULT_SWARM_FAULTS,
  describeSwarmOptions,
  drawSwarmOptions,
  type FaultClass,
  FaultInjector,
} from './faults.js';
import { MultipathDevice } from './multipath/multipath-device.js';
import { writeHeaderLine } from './replay-header.js';
import { findScenario } from './scenarios/index.js';
import type { DeviceRequest, ScenarioContext } from './scenarios/scenario.js';
import { wallNowMs } from './wallclock.js';
import { History } from './workload.js';
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
  /** Fault classes the swarm may draw from (default DEFAULT_SWARM_FAULTS). */
  readonly faults?: readonly FaultClass[];
  /** Where the report goes line by line; default nowhere. */
  readonly print?: (line: string) => void;
  readonly safetyMsMax?: number;
  readonly livenessMsMax?: number;
  /** More sinks for the event log (replay collects the lines). */
  readonly extraSinks?: readonly EventSink[];
}

export interface Violation {
  readonly checker: 'register' | 'coherence' | 'torn-block' | 'scenario';
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
const SIM_BACKEND = {
  poolSize: 2,
  requestTimeoutMs: 2_000,
  unavailableAfterMs: 5_000,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 500,
};

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
  const allowed = options.faults ?? DEFAULT_SWARM_FAULTS;
  const seedRng = createRng(options.seed);
  const swarm = drawSwarmOptions(seedRng.fork('swarm'), allowed);
  const settings =
    scenario.name === 'swarm'
      ? describeSwarmOptions(swarm)
      : `script=${scenario.name} (settings drawn per step)`;
  print(
    `SEED=${options.seed} scenario=${scenario.name} coherence=${coherence ? 'on' : 'off'} client_bug=${options.clientBug ?? 'none'}`,
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
    });
    file = new JsonlFileSink(options.events, { append: true });
    sinks.push(file);
  }
  const coherenceChecker = new CoherenceChecker({ locking: coherence });
  sinks.push(coherenceChecker);
  const extra = scenario.world?.(seedRng.fork('world'), swarm) ?? {};
  const world = await World.build({
    seed: options.seed,
    coherence,
    ...(options.clientBug === undefined ? {} : { clientBug: options.clientBug }),
    backend: SIM_BACKEND,
    ...extra,
    sinks,
  });
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
  await runUntil(world.clock, () => script.settled, world.clock.now() + safetyMsMax);
  world.eventLog.append('sim/run', 'sim.liveness_started', { scriptDone: script.settled });
  const healing = track(faults.healAll());
  await runUntil(world.clock, () => healing.settled, world.clock.now() + livenessMsMax);
  let pending: string | null = null;
  const livenessEndMs = world.clock.now() + livenessMsMax;
  const scriptEnd = await runUntil(world.clock, () => script.settled, livenessEndMs);
  if (!script.settled) pending = pendingReason('the scenario script', scriptEnd, history, devices);
  if (script.error !== undefined) throw script.error;
  if (healing.error !== undefined) throw healing.error;
  if (pending === null) {
    const verify = track(readBack(context, history));
    const verifyEnd = await runUntil(world.clock, () => verify.settled, world.clock.now() + livenessMsMax);
    if (verify.error !== undefined) throw verify.error;
    if (!verify.settled) pending = pendingReason('the final read-back', verifyEnd, history, devices);
  }
  world.eventLog.append('sim/run', 'sim.finished', { pending });

  const violations = [...collectViolations(history, coherenceChecker, world, coherence), ...expectations];
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
      });
      devices.push(device);
      return device;
    },
    expect(condition, message) {
      if (condition) return;
      const event = world.eventLog.append('sim/scenario', 'scenario.expectation_failed', { message });
      expectations.push({
        checker: 'scenario',
        kind: 'expectation',
        message,
        windowSeqs: [Math.max(1, event.seq - WINDOW_EVENTS_MAX + 1), event.seq],
      });
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

/** A fresh host reads back every block the workload touched (acknowledged writes must be there). */
async function readBack(context: ScenarioContext, history: History): Promise<void> {
  const blocks = [...new Set(history.ops.map((op) => op.block))].sort((a, b) => a - b);
  if (blocks.length === 0) return;
  context.step('read-back of every touched block', { blocks: blocks.length });
  const device = await context.openDevice({ host: 'verifier', policy: 'failover' });
  for (const block of blocks) await history.read(device, 'verifier', block);
}

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

/** Fires timers one by one until `done()`, the deadline, or nothing is left to fire. */
async function runUntil(clock: VirtualClock, done: () => boolean, deadlineMs: number): Promise<RunEnd> {
  await drainMicrotasks();
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

// ---- checking and reporting ---------------------------------------------------------------------

function collectViolations(
  history: History,
  coherenceChecker: CoherenceChecker,
  world: World,
  coherence: boolean,
): Violation[] {
  const violations: Violation[] = [];
  for (const violation of history.checker.check()) {
    const read = history.ops.find(
      (op) => op.kind === 'read' && op.completedAt === violation.read.completedAtMs,
    );
    const involved = violation.newer ?? violation.observed;
    const write = involved ? history.writeOf(involved.stamp) : undefined;
    const firstSeq = Math.min(write?.invokedSeq ?? read?.invokedSeq ?? 1, read?.invokedSeq ?? 1);
    violations.push({
      checker: 'register',
      kind: violation.kind,
      message: describeRegisterViolation(violation, read, history),
      windowSeqs: [firstSeq, read?.completedSeq ?? firstSeq],
    });
  }
  for (const op of history.ops) {
    if (op.outcome !== 'garbage') continue;
    violations.push({
      checker: 'torn-block',
      kind: 'garbage-read',
      message: `${op.client} read block ${op.block} through ${op.path}: ${op.error}`,
      windowSeqs: [op.invokedSeq, op.completedSeq ?? op.invokedSeq],
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
  violation: ReturnType<History['checker']['check']>[number],
  read: ReturnType<History['opById']>,
  history: History,
): string {
  const who = read ? `${read.client} (op ${read.id}) read block ${violation.block} through ${read.path}` : '';
  const saw = violation.read.stamp === 'initial' ? 'the initial zeros' : `"${violation.read.stamp}"`;
  if (violation.kind === 'stale-read' && violation.newer) {
    const newer = history.writeOf(violation.newer.stamp);
    return `stale read: ${who} and got ${saw}, but "${violation.newer.stamp}" (op ${newer?.id}, through ${newer?.path}) was acknowledged before that read began`;
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
