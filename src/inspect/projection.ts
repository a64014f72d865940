/**
 * An event-sourced projection: every machine instance's state at any sequence number, rebuilt
 * from the event log alone (nothing is re-run). Feed events in seq order with apply(); ask
 * snapshotAt(seq) for the state after event seq. Which events feed which machine, and how keys,
 * nodes, VDIs and labels are derived, is the table in projection-rules.ts.
 *
 * Theory of operation
 * - Each instance keeps its transitions (seq, state, event, ended) in seq order; snapshotAt finds
 *   each instance's last transition at or before seq by binary search, so a timeline step costs
 *   O(instances × log transitions), whatever the log's length.
 * - An instance ends at a final state, or when its owner goes away (a connection that closed
 *   ends its login, a crashed simulated node ends its client and target machines). A later event
 *   for the same key (a restarted node's inode view, a reused io number) revives it. Events of a
 *   crashed node's code (still running in the heap, cut off; marked `zombie`, see
 *   sim/incarnation-log.ts) move its machines but keep them ended, until the node starts again:
 *   from then on the names are the new incarnation's and such events move nothing.
 * - Bounds: ended io-requests (a few per IO) are kept `endedIoLimit` at most, oldest dropped
 *   first. With `historyLimit` (a live process, whose ring of events drops old ones), each
 *   instance keeps at most that many transitions (2× before trimming) and at most that many
 *   other ended instances are kept. A snapshot before what is kept shows what is known: an
 *   instance whose transitions there were dropped is left out.
 * - The coherence matrix: per VDI, each store node that took part (a participant, or a client's
 *   inode view of that VDI) with its participant state, null when it has none (the store's
 *   coherence is off, or it left).
 * - Violations: `check.violation` events (sim/checkers/violation-events.ts).
 */
import type { LogEvent } from '../core/event.js';
import type { CoherenceRow, InstanceState, ProjectionSnapshot, ViolationMark } from './inspector-api.js';
import { MACHINE_IDS, type MachineId } from './machine-catalog.js';
import {
  Facts,
  type MachineRule,
  PROJECTION_RULES,
  type SetUpdate,
  type Update,
} from './projection-rules.js';

export interface ProjectionOptions {
  /** Transitions kept per instance and ended instances kept in all (a live ring's bound). */
  readonly historyLimit?: number;
  /** Ended io-requests kept (the newest); default ENDED_IO_LIMIT_DEFAULT. */
  readonly endedIoLimit?: number;
}

export const ENDED_IO_LIMIT_DEFAULT = 1000;
/** With a history limit, the seq→time index keeps this many events at most. */
const TIME_INDEX_MAX = 200_000;

interface Step {
  readonly seq: number;
  readonly t: number;
  readonly state: string | null;
  /** Seq of the step that entered this state (a step may only end the instance). */
  readonly since: number;
  readonly event: string | null;
  readonly ended: boolean;
  readonly vid: string | undefined;
}

interface Instance {
  readonly key: string;
  readonly machine: MachineId;
  readonly node: string;
  readonly vdi: string | null;
  readonly label: string;
  readonly endpoint: string | undefined;
  steps: Step[];
}

const MACHINE_ORDER = new Map<MachineId, number>(MACHINE_IDS.map((id, index) => [id, index]));

/** A FIFO of ended instances, each noted with the seq at which it ended. */
class EndedQueue {
  #items: { key: string; seq: number }[] = [];
  #head = 0;

  push(key: string, seq: number): void {
    this.#items.push({ key, seq });
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  shift(): { key: string; seq: number } | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head]!;
    this.#head += 1;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

export class Projection {
  readonly #historyLimit: number;
  readonly #endedIoLimit: number;
  readonly #handlers = new Map<string, { rule: MachineRule; handler: MachineRule['on'][string] }[]>();
  readonly #facts = new Facts();
  readonly #instances = new Map<string, Instance>();
  readonly #endedIo = new EndedQueue();
  readonly #endedOther = new EndedQueue();
  readonly #violations: ViolationMark[] = [];
  /** seq → t of the applied events (parallel, ascending). */
  #seqs: number[] = [];
  #times: number[] = [];
  #firstSeq = 0;
  #lastSeq = 0;

  constructor(readonly options: ProjectionOptions = {}) {
    this.#historyLimit = Math.max(1, options.historyLimit ?? Number.POSITIVE_INFINITY);
    this.#endedIoLimit = Math.max(0, options.endedIoLimit ?? ENDED_IO_LIMIT_DEFAULT);
    for (const rule of PROJECTION_RULES) {
      for (const [type, handler] of Object.entries(rule.on)) {
        let list = this.#handlers.get(type);
        if (list === undefined) {
          list = [];
          this.#handlers.set(type, list);
        }
        list.push({ rule, handler });
      }
    }
  }

  /** Seq of the first event applied (0: none yet). */
  get firstSeq(): number {
    return this.#firstSeq;
  }

  /** Seq of the last event applied (0: none yet). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Applies one event; events must come in seq order (gaps allowed; older or equal seqs ignored). */
  apply(event: LogEvent): void {
    if (event.seq <= this.#lastSeq) return;
    if (this.#firstSeq === 0) this.#firstSeq = event.seq;
    this.#lastSeq = event.seq;
    this.#noteTime(event);
    const handlers = this.#handlers.get(event.type);
    if (handlers === undefined) return;
    const zombie = this.#facts.zombie(event);
    if (zombie === 'superseded') return;
    for (const { rule, handler } of handlers) {
      const actor = rule.actor.exec(event.actor);
      if (actor === null) continue;
      const updates = handler(event, actor, this.#facts);
      if (updates !== undefined)
        for (const update of updates) this.#update(event, update, zombie === 'current');
    }
  }

  /** Every instance's state after event `seq` (what is still known of it), and the coherence matrix. */
  snapshotAt(seq: number): ProjectionSnapshot {
    const instances: InstanceState[] = [];
    const coherence = new CoherenceBuilder(this.#facts);
    for (const instance of this.#instances.values()) {
      const step = stepAt(instance.steps, seq);
      if (step === undefined) continue;
      instances.push(stateOf(instance, step));
      if (instance.machine === 'participant' || instance.machine === 'inode-view')
        coherence.add(instance, step);
    }
    instances.sort(
      (a, b) =>
        MACHINE_ORDER.get(a.machine)! - MACHINE_ORDER.get(b.machine)! ||
        compareText(a.node, b.node) ||
        compareText(a.key, b.key),
    );
    return { seq, t: this.#timeAt(seq), instances, coherence: coherence.rows() };
  }

  /** The newest state of the instance `key`, if it is known. */
  latest(key: string): InstanceState | undefined {
    const instance = this.#instances.get(key);
    const step = instance?.steps.at(-1);
    return instance === undefined || step === undefined ? undefined : stateOf(instance, step);
  }

  /** Every `check.violation` applied, oldest first. */
  violations(): readonly ViolationMark[] {
    return this.#violations;
  }

  #noteTime(event: LogEvent): void {
    this.#seqs.push(event.seq);
    this.#times.push(event.t);
    if (Number.isFinite(this.#historyLimit) && this.#seqs.length > 2 * TIME_INDEX_MAX) {
      this.#seqs = this.#seqs.slice(-TIME_INDEX_MAX);
      this.#times = this.#times.slice(-TIME_INDEX_MAX);
    }
  }

  #timeAt(seq: number): number {
    const index = lastIndexAtOrBefore(this.#seqs, seq, (value) => value);
    return index < 0 ? (this.#times[0] ?? 0) : this.#times[index]!;
  }

  #update(event: LogEvent, update: Update, zombie: boolean): void {
    switch (update.kind) {
      case 'set':
        this.#set(event, update, zombie);
        return;
      case 'end': {
        const instance = this.#instances.get(update.key);
        if (instance !== undefined) this.#end(event, instance);
        return;
      }
      case 'end-all':
        for (const instance of this.#instances.values()) {
          if (!update.machines.includes(instance.machine)) continue;
          if (update.node === undefined || instance.node === update.node) this.#end(event, instance);
        }
        return;
      case 'violation':
        this.#violations.push({
          seq: event.seq,
          checker: update.checker,
          kind: update.violationKind,
          message: update.message,
          ...(update.evidenceSeqs === undefined ? {} : { evidenceSeqs: update.evidenceSeqs }),
        });
        return;
    }
  }

  /** `zombie`: from a crashed node's code, which moves its machines but never revives them. */
  #set(event: LogEvent, update: SetUpdate, zombie: boolean): void {
    let instance = this.#instances.get(update.key);
    const last = instance?.steps.at(-1);
    if (update.announce === true && last !== undefined && !last.ended) return;
    if (instance === undefined) {
      instance = {
        key: update.key,
        machine: update.machine,
        node: update.node,
        vdi: update.vdi,
        label: update.label,
        endpoint: update.endpoint,
        steps: [],
      };
      this.#instances.set(update.key, instance);
    }
    const ended = update.ended === true || zombie;
    const vid = update.vid ?? last?.vid;
    const same = last !== undefined && last.state === update.state;
    if (same && last.ended === ended && last.vid === vid) return;
    this.#push(instance, {
      seq: event.seq,
      t: event.t,
      state: update.state,
      since: same ? last.since : event.seq,
      event: same ? last.event : update.event,
      ended,
      vid,
    });
  }

  #end(event: LogEvent, instance: Instance): void {
    const last = instance.steps.at(-1);
    if (last === undefined || last.ended) return;
    this.#push(instance, { ...last, seq: event.seq, t: event.t, ended: true });
  }

  #push(instance: Instance, step: Step): void {
    const before = instance.steps.at(-1);
    instance.steps.push(step);
    if (instance.steps.length > 2 * this.#historyLimit)
      instance.steps = instance.steps.slice(-this.#historyLimit);
    if (step.ended && before?.ended !== true) this.#ended(instance, step.seq);
  }

  /** Drops the oldest ended instances past the bounds (unless revived since). */
  #ended(instance: Instance, seq: number): void {
    const io = instance.machine === 'io-request';
    const queue = io ? this.#endedIo : this.#endedOther;
    const limit = io ? this.#endedIoLimit : this.#historyLimit;
    if (!Number.isFinite(limit)) return;
    queue.push(instance.key, seq);
    while (queue.size > limit) {
      const oldest = queue.shift()!;
      const candidate = this.#instances.get(oldest.key);
      // Only the ending noted: a revived (or re-ended) instance has a newer last step.
      if (candidate?.steps.at(-1)?.ended && stepEndedAt(candidate.steps) === oldest.seq)
        this.#instances.delete(oldest.key);
    }
  }
}

/** Seq at which the trailing run of ended steps began. */
function stepEndedAt(steps: readonly Step[]): number {
  let index = steps.length - 1;
  while (index > 0 && steps[index - 1]!.ended) index -= 1;
  return steps[index]!.seq;
}

function stateOf(instance: Instance, step: Step): InstanceState {
  return {
    key: instance.key,
    machine: instance.machine,
    node: instance.node,
    vdi: instance.vdi,
    label: instance.label,
    state: step.state,
    sinceSeq: step.since,
    lastEvent: step.event,
    ended: step.ended,
  };
}

function stepAt(steps: readonly Step[], seq: number): Step | undefined {
  const index = lastIndexAtOrBefore(steps, seq, (step) => step.seq);
  return index < 0 ? undefined : steps[index];
}

/** Index of the last element whose seq is <= seq, or -1. */
function lastIndexAtOrBefore<T>(items: readonly T[], seq: number, seqOf: (item: T) => number): number {
  let low = 0;
  let high = items.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (seqOf(items[middle]!) <= seq) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  return found;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Per VDI (vid), per store endpoint: the participant state, or null. */
class CoherenceBuilder {
  readonly #rows = new Map<string, Map<string, string | null>>();

  constructor(private readonly facts: Facts) {}

  add(instance: Instance, step: Step): void {
    const vid = step.vid;
    const endpoint = instance.endpoint;
    if (vid === undefined || endpoint === undefined) return;
    let cells = this.#rows.get(vid);
    if (cells === undefined) {
      cells = new Map();
      this.#rows.set(vid, cells);
    }
    if (instance.machine === 'participant') cells.set(endpoint, step.state);
    else if (!cells.has(endpoint)) cells.set(endpoint, null);
  }

  rows(): CoherenceRow[] {
    return [...this.#rows]
      .map(([vid, cells]) => ({
        vdi: this.facts.vdiLabel(vid),
        vid,
        cells: [...cells]
          .map(([endpoint, participant]) => ({
            node: this.facts.nodeOfStoreEndpoint(endpoint) ?? endpoint,
            endpoint,
            participant,
          }))
          .sort((a, b) => compareText(a.node, b.node) || compareText(a.endpoint, b.endpoint)),
      }))
      .sort((a, b) => compareText(a.vdi, b.vdi) || compareText(a.vid, b.vid));
  }
}
