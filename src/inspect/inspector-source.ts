/**
 * The data behind the inspector's HTTP server (inspector-server.ts), of two kinds:
 * - RecordedSource: every event of a loaded file (event-file.ts) and one Projection over all of them.
 * - LiveSource: follows a running process's EventLog. It keeps a ring of the last `capacity` events
 *   (default 100k) and a Projection with a history limit, and tells listeners (the SSE stream) of
 *   each new event.
 * Both answer meta(), events(query) and snapshot(seq) with the JSON types of inspector-api.ts.
 *
 * The cost rule of a live source: the IO path must not slow down because an inspector could look.
 * With no listener (no page follows the stream), the per-IO events (`deferWhileIdle`, default:
 * types "io.*", a few per IO) skip the projection and go to a small ring of their own (the last
 * `idleDeferredCapacity`, default 10k): holding 100k short-lived objects is what would cost (the
 * garbage collector copies every one it finds alive), so the few events held make them cheap.
 * Every other event (connections, sessions, locks, coherence: a handful per second) is kept in
 * the big ring and projected. Once a page follows the stream, every event is. So:
 * - an IO that started and ended while nobody followed is in the event list (while the small ring
 *   holds it) but not in the snapshots, which show every long-lived machine;
 * - the rare events are not pushed out of the big ring by IO chatter while nobody looks.
 * The events list merges both rings by seq. The simulator, which has no IO path to protect,
 * treats every event alike (`deferWhileIdle: null`). bench/live-source-overhead.ts measures it.
 */

import type { EventSink, LogEvent } from '../core/event.js';
import type { EventLog } from '../core/event-log.js';
import { canonicalEventLine } from '../core/event-sinks.js';
import type { EventFile } from './event-file.js';
import type {
  EventPage,
  EventQuery,
  InspectorMeta,
  ProjectionSnapshot,
  ViolationMark,
} from './inspector-api.js';
import { Projection } from './projection.js';

export const EVENTS_LIMIT_MAX = 5000;
export const EVENTS_LIMIT_DEFAULT = 1000;
export const LIVE_CAPACITY_DEFAULT = 100_000;
export const LIVE_IDLE_DEFERRED_CAPACITY_DEFAULT = 10_000;
export const LIVE_HISTORY_LIMIT_DEFAULT = 2000;

/** A request the source cannot answer as asked (the server answers 400 with the message). */
export class SourceQueryError extends Error {
  override readonly name = 'SourceQueryError';
}

export interface InspectorSource {
  readonly kind: 'file' | 'live';
  meta(): InspectorMeta;
  events(query: EventQuery): EventPage;
  snapshot(seq: number): ProjectionSnapshot;
  /**
   * Live only: calls listener with each new event, synchronously, inside EventLog.append (so it
   * must be quick and must not throw). Returns the unsubscribe function.
   */
  subscribe?(listener: (event: LogEvent) => void): () => void;
  /** Stops following (live); the source still answers with what it holds. */
  dispose(): void;
}

// ---- shared: filters -----------------------------------------------------------------------------

/**
 * Held events by position, oldest first, in seq order (an array, or a ring). A source holds one
 * or more of these (a live source: its ring, and the ring of per-IO events kept while idle); a
 * page merges them by seq.
 */
interface HeldEvents {
  size(): number;
  at(index: number): LogEvent;
  /** The event's JSON line (a file keeps its lines; a ring writes them on demand). */
  lineAt(index: number): string;
}

/** The oldest and newest seq held, 0 and 0 when nothing is. */
function heldRange(sequences: readonly HeldEvents[]): { firstSeq: number; lastSeq: number } {
  let firstSeq = Number.POSITIVE_INFINITY;
  let lastSeq = 0;
  for (const held of sequences) {
    const size = held.size();
    if (size === 0) continue;
    firstSeq = Math.min(firstSeq, held.at(0).seq);
    lastSeq = Math.max(lastSeq, held.at(size - 1).seq);
  }
  return { firstSeq: lastSeq === 0 ? 0 : firstSeq, lastSeq };
}

function pageOf(sequences: readonly HeldEvents[], query: EventQuery, aliases: VdiAliases): EventPage {
  const after = query.after ?? 0;
  const limit = query.limit ?? EVENTS_LIMIT_DEFAULT;
  if (!Number.isSafeInteger(after) || after < 0)
    throw new SourceQueryError(`after must be a whole number >= 0, got ${after}`);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > EVENTS_LIMIT_MAX)
    throw new SourceQueryError(`limit must be a whole number from 1 to ${EVENTS_LIMIT_MAX}, got ${limit}`);
  const actor = query.actor || undefined;
  const type = query.type || undefined;
  const text = query.text ? query.text.toLowerCase() : undefined;
  const vdiKeys = query.vdi ? aliases.aliasesOf(query.vdi) : undefined;
  const sizes = sequences.map((held) => held.size());
  const cursors = sequences.map((held, k) => firstIndexAfter(held, after, sizes[k]!));
  const events: LogEvent[] = [];
  while (events.length < limit) {
    // The sequence whose next event has the lowest seq (they are few: a linear pick).
    let pick = -1;
    for (let k = 0; k < sequences.length; k++) {
      if (cursors[k]! >= sizes[k]!) continue;
      if (pick === -1 || sequences[k]!.at(cursors[k]!).seq < sequences[pick]!.at(cursors[pick]!).seq)
        pick = k;
    }
    if (pick === -1) break;
    const held = sequences[pick]!;
    const index = cursors[pick]!;
    cursors[pick] = index + 1;
    const event = held.at(index);
    if (actor !== undefined && !event.actor.includes(actor)) continue;
    if (type !== undefined && !event.type.startsWith(type)) continue;
    if (vdiKeys !== undefined && !eventVdis(event).some((key) => vdiKeys.has(key))) continue;
    if (text !== undefined && !held.lineAt(index).toLowerCase().includes(text)) continue;
    events.push(event);
  }
  return { events, ...heldRange(sequences) };
}

/** The position of the first held event with seq > after. */
function firstIndexAfter(held: HeldEvents, after: number, count: number): number {
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (held.at(middle).seq <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}

const STORE_VDI_ACTOR = /^store\/vdi\/([0-9a-f]+)(?:\/|$)/;
const CLIENT_ACTOR = /^sheepdog\/([^@/]+)@/;

function vidKey(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value.toString(16);
  if (typeof value === 'string' && /^(0x)?[0-9a-f]+$/i.test(value))
    return value.replace(/^0x/i, '').toLowerCase();
  return undefined;
}

/** The VDI keys an event names: vid hex (no 0x, lower case) and names (lower case). */
function eventVdis(event: LogEvent): string[] {
  const keys: string[] = [];
  const store = STORE_VDI_ACTOR.exec(event.actor);
  if (store) keys.push(store[1]!);
  const client = CLIENT_ACTOR.exec(event.actor);
  if (client) keys.push(client[1]!.toLowerCase());
  const data = event.data;
  if (typeof data === 'object' && data !== null) {
    const fields = data as Record<string, unknown>;
    const vid = vidKey(fields.vid);
    if (vid !== undefined) keys.push(vid);
    if (typeof fields.vdi === 'string') keys.push(fields.vdi.toLowerCase(), ...optional(vidKey(fields.vdi)));
    if (typeof fields.name === 'string' && event.type.startsWith('vdi.'))
      keys.push(fields.name.toLowerCase());
  }
  return keys;
}

function optional<T>(value: T | undefined): T[] {
  return value === undefined ? [] : [value];
}

/**
 * Which VDI names and vids are the same VDI, learned from the events that say so: the store's
 * `vdi.created` (actor store/vdi/<vid>, data.name) and a client's `backend.opened`
 * (actor sheepdog/<name>@..., data.vid).
 */
class VdiAliases {
  private readonly links = new Map<string, Set<string>>();

  learn(event: LogEvent): void {
    if (event.type === 'vdi.created') {
      const store = STORE_VDI_ACTOR.exec(event.actor);
      const name = (event.data as { name?: unknown } | null)?.name;
      if (store && typeof name === 'string') this.link(store[1]!, name.toLowerCase());
    } else if (event.type === 'backend.opened') {
      const client = CLIENT_ACTOR.exec(event.actor);
      const vid = vidKey((event.data as { vid?: unknown } | null)?.vid);
      if (client && vid !== undefined) this.link(vid, client[1]!.toLowerCase());
    }
  }

  /** Every key that means the VDI `query` names. */
  aliasesOf(query: string): Set<string> {
    const keys = new Set<string>([query.toLowerCase(), ...optional(vidKey(query))]);
    for (const key of [...keys]) for (const linked of this.links.get(key) ?? []) keys.add(linked);
    return keys;
  }

  private link(a: string, b: string): void {
    if (a === b) return;
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const set = this.links.get(from) ?? new Set<string>();
      set.add(to);
      this.links.set(from, set);
    }
  }
}

function checkSnapshotSeq(seq: number, lastSeq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0)
    throw new SourceQueryError(`seq must be a whole number >= 0, got ${seq}`);
  if (seq > lastSeq)
    throw new SourceQueryError(
      `seq ${seq} is past the newest event held (${lastSeq}); ask for seq <= ${lastSeq}`,
    );
}

// ---- recorded ------------------------------------------------------------------------------------

/** Every event of a loaded file, projected once. */
export class RecordedSource implements InspectorSource {
  readonly kind = 'file';
  private readonly projection: Projection;
  private readonly aliases = new VdiAliases();
  private readonly held: HeldEvents;
  /** Why the projection stopped (an inspector bug), or undefined. */
  readonly projectionError: string | undefined;

  constructor(
    private readonly file: EventFile,
    private readonly title: string = file.path,
  ) {
    const { events, lines } = file;
    this.held = { size: () => events.length, at: (i) => events[i]!, lineAt: (i) => lines[i]! };
    this.projection = new Projection();
    let failure: string | undefined;
    for (const event of events) {
      this.aliases.learn(event);
      if (failure !== undefined) continue;
      try {
        this.projection.apply(event);
      } catch (error) {
        failure = projectionFailure(event, error);
      }
    }
    this.projectionError = failure;
  }

  meta(): InspectorMeta {
    const { events } = this.file;
    return {
      source: 'file',
      title: this.title,
      header: this.file.header,
      firstSeq: events[0]?.seq ?? 0,
      lastSeq: events.at(-1)?.seq ?? 0,
      violations: this.violations(),
      live: false,
    };
  }

  violations(): readonly ViolationMark[] {
    return this.projection.violations();
  }

  events(query: EventQuery): EventPage {
    return pageOf([this.held], query, this.aliases);
  }

  snapshot(seq: number): ProjectionSnapshot {
    checkSnapshotSeq(seq, this.file.events.at(-1)?.seq ?? 0);
    if (this.projectionError !== undefined) throw new Error(this.projectionError);
    return this.projection.snapshotAt(seq);
  }

  dispose(): void {}
}

function projectionFailure(event: LogEvent, error: unknown): string {
  return `the projection failed at seq ${event.seq} (${event.type}): ${(error as Error).message ?? String(error)} (an inspector bug: snapshots stop there; the event list is complete)`;
}

// ---- live ----------------------------------------------------------------------------------------

export interface LiveSourceOptions {
  /** What is inspected, for the page ("collie target", "collie sim run --scenario x --seed 1"). */
  readonly title: string;
  /** Shown as meta.header (the simulator's run settings). */
  readonly header?: unknown;
  /** Events kept (default LIVE_CAPACITY_DEFAULT). */
  readonly capacity?: number;
  /** Deferred (per-IO) events kept while no page follows (default LIVE_IDLE_DEFERRED_CAPACITY_DEFAULT). */
  readonly idleDeferredCapacity?: number;
  /** The projection's history bound (default LIVE_HISTORY_LIMIT_DEFAULT). */
  readonly historyLimit?: number;
  /**
   * Events that, while no listener follows the stream, skip the projection and go to the small
   * ring (see the file comment). Default: types starting with "io.". null: treat every event alike.
   */
  readonly deferWhileIdle?: ((event: LogEvent) => boolean) | null;
  /** Told once if the projection throws (an inspector bug); default nowhere. */
  readonly onProblem?: (message: string) => void;
}

const deferIoEvents = (event: LogEvent): boolean => event.type.startsWith('io.');

/** The last `capacity` events pushed, oldest first. */
class EventRing implements HeldEvents {
  private readonly slots: (LogEvent | undefined)[];
  /** Where the next event goes. */
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`LiveSource ring capacity must be a whole number >= 1, got ${capacity}`);
    this.slots = new Array<LogEvent | undefined>(capacity).fill(undefined);
  }

  push(event: LogEvent): void {
    const head = this.head;
    this.slots[head] = event;
    this.head = head + 1 === this.capacity ? 0 : head + 1;
    if (this.count < this.capacity) this.count += 1;
  }

  size(): number {
    return this.count;
  }

  at(index: number): LogEvent {
    const slot = (this.count < this.capacity ? 0 : this.head) + index;
    return this.slots[slot >= this.capacity ? slot - this.capacity : slot]!;
  }

  lineAt(index: number): string {
    return canonicalEventLine(this.at(index));
  }
}

/** Follows one EventLog: attach with LiveSource.follow(log) or pass asSink() where sinks are given. */
export class LiveSource implements InspectorSource {
  readonly kind = 'live';
  /** Every event, or while idle every event but the deferred ones. */
  private readonly ring: EventRing;
  /** The deferred events that came while idle. */
  private readonly idleRing: EventRing;
  private readonly projection: Projection;
  private readonly aliases = new VdiAliases();
  private readonly listeners = new Set<(event: LogEvent) => void>();
  private readonly deferWhileIdle: ((event: LogEvent) => boolean) | null;
  private projectionError: string | undefined;
  private ended = false;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: LiveSourceOptions) {
    this.ring = new EventRing(options.capacity ?? LIVE_CAPACITY_DEFAULT);
    this.idleRing = new EventRing(options.idleDeferredCapacity ?? LIVE_IDLE_DEFERRED_CAPACITY_DEFAULT);
    this.projection = new Projection({ historyLimit: options.historyLimit ?? LIVE_HISTORY_LIMIT_DEFAULT });
    this.deferWhileIdle = options.deferWhileIdle === undefined ? deferIoEvents : options.deferWhileIdle;
  }

  /**
   * A live source that follows `eventLog` from now on. It attaches as a sink, not through the
   * `events$` stream: the same events in the same order, without rxjs's dispatch on the hot path
   * (bench/live-source-overhead.ts measures both).
   */
  static follow(eventLog: EventLog, options: LiveSourceOptions): LiveSource {
    const source = new LiveSource(options);
    source.unsubscribe = eventLog.addSink(source.asSink());
    return source;
  }

  /** The source as an event sink, for a log created elsewhere with its sinks (the simulator's world). */
  asSink(): EventSink {
    return { write: this.receive, close: () => this.end() };
  }

  /**
   * The hot path. Idle, a deferred event only takes a slot in the small ring (few events held,
   * so little for the garbage collector to keep); the others and, with a listener, every event
   * are kept in the big ring, projected and handed on.
   */
  private readonly receive = (event: LogEvent): void => {
    if (this.ended) return;
    if (this.listeners.size === 0 && this.deferWhileIdle !== null && this.deferWhileIdle(event)) {
      this.idleRing.push(event);
      return;
    }
    this.ring.push(event);
    this.aliases.learn(event);
    if (this.projectionError === undefined) {
      try {
        this.projection.apply(event);
      } catch (error) {
        this.projectionError = projectionFailure(event, error);
        this.options.onProblem?.(this.projectionError);
      }
    }
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        // Never let a listener break EventLog.append: it is dropped and reported.
        this.listeners.delete(listener);
        this.options.onProblem?.(
          `an inspector stream listener failed and was dropped: ${(error as Error).message}`,
        );
      }
    }
  };

  get firstSeq(): number {
    return heldRange([this.ring, this.idleRing]).firstSeq;
  }

  get lastSeq(): number {
    return heldRange([this.ring, this.idleRing]).lastSeq;
  }

  /** True until the followed log closed (or dispose()). */
  get live(): boolean {
    return !this.ended;
  }

  meta(): InspectorMeta {
    return {
      source: 'live',
      title: this.options.title,
      header: this.options.header ?? null,
      ...heldRange([this.ring, this.idleRing]),
      violations: this.projection.violations(),
      live: !this.ended,
    };
  }

  events(query: EventQuery): EventPage {
    return pageOf([this.ring, this.idleRing], query, this.aliases);
  }

  snapshot(seq: number): ProjectionSnapshot {
    checkSnapshotSeq(seq, this.lastSeq);
    if (this.projectionError !== undefined) throw new Error(this.projectionError);
    return this.projection.snapshotAt(seq);
  }

  subscribe(listener: (event: LogEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** How many listeners follow now (the SSE clients). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  dispose(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.end();
  }

  private end(): void {
    this.ended = true;
  }
}
