/**
 * One node's view of a clustered logical unit's shared state: it reads the cluster document from
 * the backend's SharedCell, applies every new version to this node (unit attentions on its
 * nexuses, mode parameters, the reservation snapshot, ALUA ownership), and makes every change of
 * the shared state one linearizable cell update.
 *
 * Rules
 * - Apply: a snapshot is applied once, and only if its version is newer than the last applied
 *   one (cell versions increase). It arrives through `onChange`, after this node's own updates,
 *   and before every command (`applyCached`, plus `validate` for commands that do not touch the
 *   medium, logical-unit.ts). Applying is synchronous and does no I/O.
 * - Change: `update` decodes the current document, lets a pure function compute the next one,
 *   encodes it within the cell's size, and applies the result at once. A change and the unit
 *   attentions it raises are one update: no node ever sees one without the other.
 * - Join (`open`): this node enters the ALUA layout (cluster-alua.ts) and starts following the
 *   unit attention log from its end. With `coldStart` (the
 *   service knows every node of the LU is starting, e.g. `collie up`) the join also does what a
 *   power cycle of the LU does: registrations go unless APTPL is set, SPC-2 reservations go.
 *   Without it nothing is dropped: a single node restarting is not a power loss of the LU, whose
 *   other nodes kept serving it; the cell is the persistent copy APTPL asks for.
 * - Ownership loss (single-owner): when an applied document moves ownership away from this node,
 *   the time is kept; `inTakeoverHoldOff` refuses an implicit takeover back for `holdOffMs`, so
 *   two nodes receiving I/O for the LU at once do not trade ownership on every command.
 */
import type { CellSnapshot, SharedCell } from '../../backends/shared-cell.js';
import type { Clock } from '../../core/clock.js';
import type { EventLog } from '../../core/event-log.js';
import type { Logger } from '../../core/logger.js';
import { AluaState, type AluaStateCode, type TargetPortGroup } from '../alua.js';
import { DEFAULT_MODE, type ModeParameters } from '../command-context.js';
import {
  EMPTY_RESERVATION_STATE,
  persistentPart,
  type ReservationState,
  type VersionedReservationState,
} from '../reservations/reservation-state.js';
import { afterLunReset } from '../reservations/spc2-reservation.js';
import type { Nexus, Sense } from '../scsi-types.js';
import { SenseKey } from '../scsi-types.js';
import { Asc, senseOf } from '../sense.js';
import type { UnitAttentions } from '../unit-attention.js';
import {
  aluaGroups,
  findNode,
  isClusterPort,
  joinAlua,
  nodeState,
  type StpgOutcome,
  type StpgRequest,
  setTargetPortGroups,
  takeOver,
} from './cluster-alua.js';
import {
  type AluaPolicy,
  type ClusterDocument,
  type ClusterNodeIdentity,
  decodeClusterDocument,
  EMPTY_CLUSTER_DOCUMENT,
  encodeClusterDocument,
} from './cluster-document.js';
import {
  ALL,
  appendUnitAttentions,
  applyUnitAttentionLog,
  type NewUaEvent,
  uaEvent,
} from './cluster-unit-attentions.js';

/** The node's configuration does not fit the cluster document (a node id clash, a policy clash). */
export class ClusterConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterConfigurationError';
  }
}

export interface ClusterStateOptions {
  readonly cell: SharedCell;
  readonly identity: ClusterNodeIdentity;
  /** undefined: whatever the document says (active-active for a new one). */
  readonly policy: AluaPolicy | undefined;
  readonly coldStart: boolean;
  readonly holdOffMs: number;
  readonly unitAttentions: UnitAttentions;
  /** The LU's current mode parameters: kept equal to the document's. */
  readonly mode: ModeParameters;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly eventLog: EventLog;
  readonly actor: string;
}

/** A document change: the next document (or none) and what the caller gets back. */
export interface DocumentChange<T> {
  readonly document?: ClusterDocument;
  readonly value: T;
}

const UA_MODE_PARAMETERS_CHANGED: Sense = senseOf(SenseKey.UNIT_ATTENTION, Asc.MODE_PARAMETERS_CHANGED);
const UA_BUS_DEVICE_RESET: Sense = senseOf(SenseKey.UNIT_ATTENTION, Asc.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
const UA_ALUA_CHANGED: Sense = senseOf(SenseKey.UNIT_ATTENTION, Asc.ASYMMETRIC_ACCESS_STATE_CHANGED);

/** `document` with `state` as its reservations, their version moved if they changed. */
export function withReservations(document: ClusterDocument, state: ReservationState): ClusterDocument {
  if (state === document.reservations) return document;
  return { ...document, reservations: state, reservationsVersion: document.reservationsVersion + 1 };
}

export class ClusterState {
  readonly #cell: SharedCell;
  readonly #identity: ClusterNodeIdentity;
  readonly #options: ClusterStateOptions;
  readonly #reservationObservers: ((snapshot: VersionedReservationState) => void)[] = [];
  #document: ClusterDocument = EMPTY_CLUSTER_DOCUMENT;
  #version = Number.NEGATIVE_INFINITY;
  /** The seq of the last unit attention event applied; undefined until the first document. */
  #uaApplied: number | undefined;
  #ownershipLostAtMs: number | undefined;
  #joined = false;
  readonly #unsubscribe: () => void;

  constructor(options: ClusterStateOptions) {
    this.#options = options;
    this.#cell = options.cell;
    this.#identity = options.identity;
    this.#unsubscribe = options.cell.onChange((snapshot) => {
      this.#applyLogged(snapshot);
    });
  }

  /** Stops following the cell (the LU is going away). */
  close(): void {
    this.#unsubscribe();
  }

  get document(): ClusterDocument {
    return this.#document;
  }

  get nodeId(): number {
    return this.#identity.nodeId;
  }

  get joined(): boolean {
    return this.#joined;
  }

  /** Told of every newer reservation state applied (the gate's `observe`). */
  observeReservations(observer: (snapshot: VersionedReservationState) => void): void {
    this.#reservationObservers.push(observer);
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  /** Applies the cell's cached content if this node has not yet (no I/O). */
  applyCached(): void {
    this.#apply(this.#cell.cached);
  }

  /** One store round trip: afterwards this node has applied the current document. */
  async validate(): Promise<void> {
    const snapshot = await this.#cell.validate();
    this.#apply(snapshot);
  }

  /** The groups REPORT TARGET PORT GROUPS reports, identical on every node with this document. */
  groups(): TargetPortGroup[] {
    return aluaGroups(this.#document.alua);
  }

  /** The ALUA state of this node's group (active/optimized until it joined). */
  myState(): AluaStateCode {
    const me = findNode(this.#document.alua, this.nodeId);
    return me === undefined ? AluaState.ACTIVE_OPTIMIZED : nodeState(this.#document.alua, me);
  }

  get policy(): AluaPolicy {
    return this.#document.alua.policy;
  }

  get epoch(): number {
    return this.#document.alua.epoch;
  }

  /** single-owner and another node (or nobody) owns the LU. */
  needsTakeover(): boolean {
    const alua = this.#document.alua;
    return alua.policy === 'single-owner' && alua.owner !== this.nodeId;
  }

  /** This node lost ownership less than `holdOffMs` ago. */
  inTakeoverHoldOff(): boolean {
    const lostAt = this.#ownershipLostAtMs;
    return lostAt !== undefined && this.#options.clock.now() - lostAt < this.#options.holdOffMs;
  }

  isClusterPort(relativeTargetPortId: number): boolean {
    return isClusterPort(this.#document.alua, relativeTargetPortId);
  }

  // -------------------------------------------------------------------------------------------
  // Changing

  /** One linearizable change of the document (`change` must be pure: it may run again). */
  async update<T>(change: (document: ClusterDocument) => DocumentChange<T>): Promise<T> {
    const maxBytes = this.#cell.maxBytes;
    const value = await this.#cell.update((current: CellSnapshot) => {
      const document = decodeClusterDocument(current.bytes);
      const outcome = change(document);
      if (outcome.document === undefined || outcome.document === document) return { value: outcome.value };
      return { next: encodeClusterDocument(outcome.document, maxBytes), value: outcome.value };
    });
    this.applyCached();
    return value;
  }

  /** Enters this node into the document (once; later calls only re-apply). */
  async open(): Promise<void> {
    if (this.#joined) return;
    const { identity, policy, coldStart } = this.#options;
    const error = await this.update((document): DocumentChange<string | undefined> => {
      const joined = joinAlua(document.alua, identity, policy);
      if ('error' in joined) return { value: joined.error };
      let next: ClusterDocument = { ...document, alua: joined.alua };
      if (coldStart) {
        const state = document.reservations;
        next = withReservations(next, state.aptpl ? persistentPart(state) : EMPTY_RESERVATION_STATE);
      }
      return { document: next, value: undefined };
    });
    if (error !== undefined) throw new ClusterConfigurationError(`${this.#options.actor}: ${error}`);
    // The log starts here for this node: what came before concerned nexuses it does not have.
    this.#uaApplied = this.#document.ua.nextSeq - 1;
    this.#joined = true;
    this.#options.eventLog.append(this.#options.actor, 'cluster.joined', {
      nodeId: identity.nodeId,
      policy: this.policy,
      owner: this.#document.alua.owner,
      epoch: this.epoch,
    });
  }

  /** Appends unit attention events (and nothing else). */
  async publish(events: readonly NewUaEvent[]): Promise<void> {
    await this.update((document) => ({
      document: { ...document, ua: appendUnitAttentions(document.ua, events) },
      value: undefined,
    }));
  }

  /**
   * single-owner implicit takeover by this node. SPC-4 (implicit transitions): 2A/06 on every
   * I_T nexus, the one whose command caused it included; that command meets it when it runs
   * again, and the host retries it after reading RTPG (as with LIO).
   */
  async takeOver(): Promise<void> {
    const nodeId = this.nodeId;
    const moved = await this.update((document): DocumentChange<boolean> => {
      const alua = takeOver(document.alua, nodeId);
      if (alua === document.alua) return { value: false };
      const ua = appendUnitAttentions(document.ua, [uaEvent(UA_ALUA_CHANGED, ALL)]);
      return { document: { ...document, alua, ua }, value: true };
    });
    if (moved) {
      this.#options.logger.info(
        { nodeId, epoch: this.epoch },
        'implicit ALUA takeover: this node owns the LU',
      );
      this.#options.eventLog.append(this.#options.actor, 'cluster.takeover', { nodeId, epoch: this.epoch });
    }
  }

  /** LOGICAL UNIT RESET through any node: SPC-2 reservation and mode parameters go, 29/03 to all. */
  async resetLun(): Promise<void> {
    await this.update((document) => ({
      document: {
        ...withReservations(document, afterLunReset(document.reservations)),
        mode: { ...DEFAULT_MODE },
        ua: appendUnitAttentions(document.ua, [uaEvent(UA_BUS_DEVICE_RESET, ALL)]),
      },
      value: undefined,
    }));
  }

  /** MODE SELECT: the values of the pages sent; 2A/01 to every other nexus if any changed. */
  async changeMode(sender: Nexus, wanted: Partial<ModeParameters>): Promise<(keyof ModeParameters)[]> {
    return this.update((document): DocumentChange<(keyof ModeParameters)[]> => {
      const next: ModeParameters = { ...document.mode, ...wanted };
      const changed = (Object.keys(next) as (keyof ModeParameters)[]).filter(
        (name) => next[name] !== document.mode[name],
      );
      if (changed.length === 0) return { value: [] };
      const ua = appendUnitAttentions(document.ua, [uaEvent(UA_MODE_PARAMETERS_CHANGED, ALL, sender)]);
      return { document: { ...document, mode: next, ua }, value: changed };
    });
  }

  /** SET TARGET PORT GROUPS; 2A/06 to every other nexus if a state changed. */
  async setTargetPortGroups(sender: Nexus, requests: readonly StpgRequest[]): Promise<StpgOutcome> {
    return this.update((document): DocumentChange<StpgOutcome> => {
      const outcome = setTargetPortGroups(document.alua, requests);
      if (!('alua' in outcome)) return { value: outcome };
      const ua = outcome.changed
        ? appendUnitAttentions(document.ua, [uaEvent(UA_ALUA_CHANGED, ALL, sender)])
        : document.ua;
      return { document: { ...document, alua: outcome.alua, ua }, value: outcome };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Applying

  #applyLogged(snapshot: CellSnapshot): void {
    try {
      this.#apply(snapshot);
    } catch (error) {
      // The next command applies again and answers for it; a listener must not throw.
      this.#options.logger.error(
        { err: error, version: snapshot.version },
        'could not apply the cluster document',
      );
    }
  }

  #apply(snapshot: CellSnapshot): void {
    if (snapshot.version <= this.#version) return;
    const document = decodeClusterDocument(snapshot.bytes);
    const before = this.#document;
    this.#version = snapshot.version;
    this.#document = document;
    const { unitAttentions, mode } = this.#options;

    Object.assign(mode, document.mode);
    if (document.reservationsVersion !== before.reservationsVersion || before === EMPTY_CLUSTER_DOCUMENT) {
      const versioned = { version: document.reservationsVersion, state: document.reservations };
      for (const observer of this.#reservationObservers) observer(versioned);
    }
    const { alua } = document;
    if (before.alua.owner === this.nodeId && alua.owner !== this.nodeId) {
      this.#ownershipLostAtMs = this.#options.clock.now();
      this.#options.logger.warn(
        { nodeId: this.nodeId, owner: alua.owner, epoch: alua.epoch },
        'another node took this LU over: in-flight medium commands of the old epoch are fenced',
      );
      this.#options.eventLog.append(this.#options.actor, 'cluster.ownership_lost', {
        nodeId: this.nodeId,
        owner: alua.owner,
        epoch: alua.epoch,
      });
    }
    if (this.#uaApplied === undefined) {
      this.#uaApplied = document.ua.nextSeq - 1;
    } else {
      this.#uaApplied = applyUnitAttentionLog(unitAttentions, document.ua, this.#uaApplied);
    }
  }
}
