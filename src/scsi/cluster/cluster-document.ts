/**
 * The cluster document: the one value every target node exporting a logical unit shares through
 * the backend's SharedCell (src/backends/shared-cell.ts), and its codec.
 *
 * Rules
 * - It holds exactly the SCSI state that must be the same on every node: persistent and SPC-2
 *   reservations (with a version of their own, which moves only when they change), a bounded log
 *   of unit attention events, the ALUA layout with its ownership epoch, and the mode parameters.
 *   Per-nexus state (pending unit attentions, PREVENT ALLOW MEDIUM REMOVAL) stays on each node.
 * - The encoding is JSON with `v: 1`; 64-bit reservation keys are hex strings (JSON has no 64-bit
 *   integers). An empty cell is the initial document. Anything else that does not decode is
 *   ClusterDocumentError naming the field: nodes never guess at a damaged document.
 * - The unit attention log keeps the newest UA_LOG_LENGTH_MAX events. When the encoded document
 *   would not fit the cell (`maxBytes`) the oldest events are dropped first (a node that had not
 *   seen them detects the gap and raises 29/00, cluster-unit-attentions.ts); if it still does not
 *   fit, encoding fails with ClusterDocumentFull, which says what fills it.
 * - Pure: no I/O, no clock. Mutations of the parts live beside their rules (cluster-alua.ts,
 *   cluster-unit-attentions.ts, cell-reservation-store.ts).
 */
import { AluaState, type AluaStateCode } from '../alua.js';
import { DEFAULT_MODE, type ModeParameters } from '../command-context.js';
import {
  EMPTY_RESERVATION_STATE,
  type ReservationState,
  reservationStateFromJson,
  reservationStateToJson,
} from '../reservations/reservation-state.js';

export const CLUSTER_DOCUMENT_FORMAT = 1;
/** Unit attention events the log keeps (older ones are dropped; see the gap rule). */
export const UA_LOG_LENGTH_MAX = 64;

export type AluaPolicy = 'active-active' | 'single-owner';

/** Who a node is in the ALUA layout: its group and the relative target port ids of its ports. */
export interface ClusterNodeIdentity {
  readonly nodeId: number;
  readonly targetPortGroup: number;
  readonly relativeTargetPortIds: readonly number[];
}

export interface AluaNodeEntry extends ClusterNodeIdentity {
  /** A state SET TARGET PORT GROUPS gave the group; absent: the policy decides (cluster-alua.ts). */
  readonly state?: AluaStateCode;
  /** RTPG STATUS CODE: 0 none, 1 altered by SET TARGET PORT GROUPS, 2 altered implicitly. */
  readonly statusCode: number;
  readonly preferred: boolean;
}

export interface AluaDocument {
  readonly policy: AluaPolicy;
  /** single-owner: the node whose group is active/optimized; null before anyone owns it. */
  readonly owner: number | null;
  /** Moves whenever `owner` changes: the fencing epoch (cluster-alua.ts). */
  readonly epoch: number;
  readonly nodes: readonly AluaNodeEntry[];
}

/** A registration's scope, as a unit attention event names the nexuses it covers. */
export interface RegistrationScope {
  readonly initiatorName: string;
  readonly isid: string | null;
  readonly relativeTargetPortId: number | null;
}

export type UaScope =
  | { readonly kind: 'all' }
  | { readonly kind: 'registrations'; readonly registrations: readonly RegistrationScope[] };

/** The sender's nexus: ids can repeat across nodes, relative target port ids cannot. */
export interface NexusRef {
  readonly id: string;
  readonly relativeTargetPortId: number;
}

export interface UaSense {
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
}

export interface UaEvent {
  readonly seq: number;
  readonly sense: UaSense;
  readonly scope: UaScope;
  readonly exceptNexus?: NexusRef;
}

export interface UaLog {
  /** The seq the next event gets; events hold seqs below it, ascending, without holes. */
  readonly nextSeq: number;
  readonly events: readonly UaEvent[];
}

export interface ClusterDocument {
  readonly v: typeof CLUSTER_DOCUMENT_FORMAT;
  /** Moves on every change of `reservations` (and only then): their compare-and-set version. */
  readonly reservationsVersion: number;
  readonly reservations: ReservationState;
  readonly ua: UaLog;
  readonly alua: AluaDocument;
  readonly mode: Readonly<ModeParameters>;
}

export const EMPTY_CLUSTER_DOCUMENT: ClusterDocument = {
  v: CLUSTER_DOCUMENT_FORMAT,
  reservationsVersion: 0,
  reservations: EMPTY_RESERVATION_STATE,
  ua: { nextSeq: 1, events: [] },
  alua: { policy: 'active-active', owner: null, epoch: 0, nodes: [] },
  mode: { ...DEFAULT_MODE },
};

/** The cell holds something that is not a cluster document of a format this node reads. */
export class ClusterDocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterDocumentError';
  }
}

/** The document does not fit the cell even with an empty unit attention log. */
export class ClusterDocumentFull extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterDocumentFull';
  }
}

/** Encodes `document`, dropping the oldest unit attention events until it fits `maxBytes`. */
export function encodeClusterDocument(document: ClusterDocument, maxBytes: number): Buffer {
  const json = {
    v: document.v,
    reservationsVersion: document.reservationsVersion,
    reservations: reservationStateToJson(document.reservations),
    ua: { nextSeq: document.ua.nextSeq, events: [...document.ua.events] },
    alua: document.alua,
    mode: document.mode,
  };
  for (;;) {
    const bytes = Buffer.from(JSON.stringify(json), 'utf8');
    if (bytes.length <= maxBytes) return bytes;
    if (json.ua.events.length === 0) {
      throw new ClusterDocumentFull(
        `the cluster document needs ${bytes.length} bytes but the shared cell holds ${maxBytes}: ` +
          `${document.reservations.registrations.length} registrations and ${document.alua.nodes.length} ` +
          'nodes fill it; unregister unused reservation keys (PERSISTENT RESERVE OUT REGISTER with key 0)',
      );
    }
    json.ua.events.shift();
  }
}

/** Decodes the cell's bytes; an empty cell is EMPTY_CLUSTER_DOCUMENT. */
export function decodeClusterDocument(bytes: Buffer): ClusterDocument {
  if (bytes.length === 0) return EMPTY_CLUSTER_DOCUMENT;
  const fail = (what: string): never => {
    throw new ClusterDocumentError(
      `cluster document: ${what}; the shared cell was written by something else or is damaged`,
    );
  };
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return fail('not JSON');
  }
  if (!isObject(json)) return fail('not an object');
  if (json.v !== CLUSTER_DOCUMENT_FORMAT) fail(`format v=${String(json.v)} is not 1`);
  const reservationsVersion = counter(json.reservationsVersion, 'reservationsVersion', fail);
  const reservations = reservationStateFromJson(json.reservations, (what) => fail(`reservations: ${what}`));
  return {
    v: CLUSTER_DOCUMENT_FORMAT,
    reservationsVersion,
    reservations,
    ua: decodeUaLog(json.ua, fail),
    alua: decodeAlua(json.alua, fail),
    mode: decodeMode(json.mode, fail),
  };
}

type Fail = (what: string) => never;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function counter(value: unknown, what: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return fail(what);
  return value;
}

function byte(value: unknown, what: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xff) return fail(what);
  return value;
}

function port(value: unknown, what: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) return fail(what);
  return value;
}

function decodeUaLog(value: unknown, fail: Fail): UaLog {
  if (!isObject(value)) return fail('ua is not an object');
  const nextSeq = counter(value.nextSeq, 'ua.nextSeq', fail);
  if (!Array.isArray(value.events)) return fail('ua.events is not a list');
  const events = value.events.map((event: unknown, index): UaEvent => {
    const at = `ua.events[${index}]`;
    if (!isObject(event)) return fail(at);
    const seq = counter(event.seq, `${at}.seq`, fail);
    if (!isObject(event.sense)) return fail(`${at}.sense`);
    const sense = {
      key: byte(event.sense.key, `${at}.sense.key`, fail),
      asc: byte(event.sense.asc, `${at}.sense.asc`, fail),
      ascq: byte(event.sense.ascq, `${at}.sense.ascq`, fail),
    };
    const decoded: UaEvent = { seq, sense, scope: decodeScope(event.scope, `${at}.scope`, fail) };
    if (event.exceptNexus === undefined) return decoded;
    const except = event.exceptNexus;
    if (!isObject(except) || typeof except.id !== 'string') return fail(`${at}.exceptNexus`);
    return {
      ...decoded,
      exceptNexus: {
        id: except.id,
        relativeTargetPortId: port(except.relativeTargetPortId, `${at}.exceptNexus`, fail),
      },
    };
  });
  events.forEach((event, index) => {
    const expected = nextSeq - events.length + index;
    if (event.seq !== expected) fail(`ua.events[${index}].seq is ${event.seq}, not ${expected}`);
  });
  return { nextSeq, events };
}

function decodeScope(value: unknown, at: string, fail: Fail): UaScope {
  if (!isObject(value)) return fail(at);
  if (value.kind === 'all') return { kind: 'all' };
  if (value.kind !== 'registrations' || !Array.isArray(value.registrations)) return fail(at);
  return {
    kind: 'registrations',
    registrations: value.registrations.map((scope: unknown, index): RegistrationScope => {
      const where = `${at}.registrations[${index}]`;
      if (!isObject(scope) || typeof scope.initiatorName !== 'string') return fail(where);
      if (scope.isid !== null && typeof scope.isid !== 'string') return fail(`${where}.isid`);
      return {
        initiatorName: scope.initiatorName,
        isid: scope.isid,
        relativeTargetPortId:
          scope.relativeTargetPortId === null ? null : port(scope.relativeTargetPortId, where, fail),
      };
    }),
  };
}

const ALUA_STATES: ReadonlySet<number> = new Set(Object.values(AluaState));

function decodeAlua(value: unknown, fail: Fail): AluaDocument {
  if (!isObject(value)) return fail('alua is not an object');
  const policy = value.policy;
  if (policy !== 'active-active' && policy !== 'single-owner') return fail('alua.policy');
  const owner = value.owner === null ? null : counter(value.owner, 'alua.owner', fail);
  const epoch = counter(value.epoch, 'alua.epoch', fail);
  if (!Array.isArray(value.nodes)) return fail('alua.nodes is not a list');
  const nodes = value.nodes.map((node: unknown, index): AluaNodeEntry => {
    const at = `alua.nodes[${index}]`;
    if (!isObject(node) || !Array.isArray(node.relativeTargetPortIds)) return fail(at);
    const entry: AluaNodeEntry = {
      nodeId: counter(node.nodeId, `${at}.nodeId`, fail),
      targetPortGroup: port(node.targetPortGroup, `${at}.targetPortGroup`, fail),
      relativeTargetPortIds: node.relativeTargetPortIds.map((id: unknown) =>
        port(id, `${at}.relativeTargetPortIds`, fail),
      ),
      statusCode: byte(node.statusCode, `${at}.statusCode`, fail),
      preferred: node.preferred === true,
    };
    if (node.state === undefined) return entry;
    if (typeof node.state !== 'number' || !ALUA_STATES.has(node.state)) return fail(`${at}.state`);
    return { ...entry, state: node.state as AluaStateCode };
  });
  return { policy, owner, epoch, nodes };
}

function decodeMode(value: unknown, fail: Fail): ModeParameters {
  if (!isObject(value)) return fail('mode is not an object');
  const flag = (name: keyof ModeParameters): boolean => {
    const bit = value[name];
    if (typeof bit !== 'boolean') return fail(`mode.${name}`);
    return bit;
  };
  return {
    writeCacheEnabled: flag('writeCacheEnabled'),
    descriptorSense: flag('descriptorSense'),
    softwareWriteProtect: flag('softwareWriteProtect'),
  };
}
