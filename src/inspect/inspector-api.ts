/**
 * The inspector's HTTP API, as types shared by the server (inspector-server.ts) and the page's
 * data layer (web/inspector-data.ts). JSON only; every route is GET and served from 127.0.0.1.
 *
 *   GET /api/meta                       InspectorMeta
 *   GET /api/machines                   MachineSummary[]
 *   GET /api/machines/<id>.svg          the statechart, image/svg+xml (state groups: id "state-<path>")
 *   GET /api/events?after=S&limit=N&actor=&type=&vdi=&text=
 *                                       EventPage (events with seq > S, oldest first, filtered)
 *   GET /api/snapshot?seq=S             ProjectionSnapshot (every machine's state after event S)
 *   GET /api/stream                     text/event-stream: `event: log` per LogEvent (live only)
 */
import type { LogEvent } from '../core/event.js';
import type { MachineId } from '../core/machine-ids.js';

export type { MachineId } from '../core/machine-ids.js';

export interface MachineSummary {
  readonly id: MachineId;
  readonly title: string;
  readonly side: string;
  /** Every state path ("idle", "parent.child"), in definition order. */
  readonly states: readonly string[];
  readonly svgUrl: string;
}

/** One running (or ended) machine instance, as the projection rebuilt it from the log. */
export interface InstanceState {
  /** Stable key: the event log actor, plus "#<sub>" for instances inside one actor (io 7, node X). */
  readonly key: string;
  readonly machine: MachineId;
  /** The process or simulated host it runs on ("store", "target-a", "collie"). */
  readonly node: string;
  /** The VDI it concerns (name or vid hex), when it concerns one. */
  readonly vdi: string | null;
  readonly label: string;
  /** The state path, or null when the instance is known but holds no state (not a participant). */
  readonly state: string | null;
  /** Seq of the event that put it in this state. */
  readonly sinceSeq: number;
  /** The machine event that caused the last transition, when the log names it. */
  readonly lastEvent: string | null;
  /** True once the instance reached a final state or its owner went away. */
  readonly ended: boolean;
}

/** A per-VDI matrix: for each node that took part, its participant state (or null: none). */
export interface CoherenceRow {
  /** The VDI's name when known, else its vid (hex). */
  readonly vdi: string;
  /** The VDI id (6 hex digits): a name has several after snapshots. */
  readonly vid?: string;
  readonly cells: readonly {
    readonly node: string;
    /** The store endpoint ("store:7000") the node is to the store. */
    readonly endpoint?: string;
    readonly participant: string | null;
  }[];
}

export interface ProjectionSnapshot {
  readonly seq: number;
  readonly t: number;
  readonly instances: readonly InstanceState[];
  readonly coherence: readonly CoherenceRow[];
}

export interface ViolationMark {
  readonly seq: number;
  readonly checker: string;
  readonly message: string;
  /** What kind of violation the checker found ("stale-read", "single-writer"...). */
  readonly kind?: string;
  /** First and last seq of the events that show it. */
  readonly evidenceSeqs?: readonly [number, number];
}

export interface InspectorMeta {
  readonly source: 'file' | 'live';
  /** What is being inspected: the file name, or "collie up" etc. */
  readonly title: string;
  /** The recorded header line of a simulator log (scenario, seed...), if any. */
  readonly header: unknown;
  /** Oldest and newest seq held (a live ring drops old events). */
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly violations: readonly ViolationMark[];
  readonly live: boolean;
}

export interface EventPage {
  readonly events: readonly LogEvent[];
  readonly firstSeq: number;
  readonly lastSeq: number;
}

/** Filters of /api/events (query parameters of the same names); empty strings filter nothing. */
export interface EventQuery {
  /** Only events with seq > after (default 0). */
  readonly after?: number;
  /** At most this many (1..5000, default 1000). */
  readonly limit?: number;
  /** A substring of the actor. */
  readonly actor?: string;
  /** A prefix of the type ("lock." or "lock.acquired"). */
  readonly type?: string;
  /** A VDI by name or vid (hex, with or without 0x): events of its store, clients and IOs. */
  readonly vdi?: string;
  /** A substring of the event's JSON line, any case. */
  readonly text?: string;
}
