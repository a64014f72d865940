/**
 * Which events feed which machine instance, and how each instance's key, node, VDI and label
 * come from the event: the one table the projection (projection.ts) runs. A new machine is one
 * entry of PROJECTION_RULES; entries with `machine: null` only learn facts (where things run,
 * VDI names, crashes) or carry violations.
 *
 * Keys are the event log actor, plus "#<sub>" for instances inside one actor: an io number, a
 * participant's store node, a session's connection (TSIHs are per target server, and in the
 * simulator several servers share one log). The live-machine registry (src/core/live-machines.ts)
 * uses the same keys.
 *
 * Nodes (the process or simulated host an instance runs on): the simulator logs `sim.node` at
 * every start of a node (sim/world.ts), naming its sheep endpoint (which names its client's
 * actors, `sheepdog/<vdi>@<endpoint>/...`) and its portal (where its connections come in:
 * `connection.opened` {local}; a login is the connection's, by the remote endpoint; a session is
 * its connection's). A participant is named by its store endpoint, shown as the node behind it
 * when known. `collie up` logs the same facts as `node.defined` for each of its target nodes.
 * Without either (a plain process), store-side machines run on "store" and the rest on "collie".
 *
 * SCSI tasks are not logged per state (the IO hot path runs them as a compiled table): the
 * scsi-task machine has no entry and no instances.
 */
import type { LogEvent } from '../core/event.js';
import { stateValuePath } from '../core/live-machines.js';
import { catalogEntry, MACHINE_CATALOG, type MachineId } from './machine-catalog.js';

/** Where an instance runs when the log does not say. */
export const DEFAULT_STORE_NODE = 'store';
export const DEFAULT_NODE = 'collie';

/** An instance is (re)stated: created when unknown, else moved to `state`. */
export interface SetUpdate {
  readonly kind: 'set';
  readonly key: string;
  readonly machine: MachineId;
  /** Node, VDI and label are taken when the instance is created. */
  readonly node: string;
  readonly vdi: string | null;
  readonly label: string;
  readonly state: string | null;
  /** The machine event that caused it, when the log names it. */
  readonly event: string | null;
  readonly ended?: boolean;
  /** Only announces the instance: ignored when it is known and not ended. */
  readonly announce?: boolean;
  /** A store endpoint the instance talks through or stands for (participants, inode views). */
  readonly endpoint?: string;
  /** The VDI id (hex) it concerns now (participants, inode views): the coherence matrix. */
  readonly vid?: string;
}

export type Update =
  | SetUpdate
  /** Ends an instance, state unchanged (its owner went away). */
  | { readonly kind: 'end'; readonly key: string }
  /** Ends every instance of these machines, on `node` when given. */
  | { readonly kind: 'end-all'; readonly machines: readonly MachineId[]; readonly node?: string }
  | {
      readonly kind: 'violation';
      readonly checker: string;
      readonly violationKind: string;
      readonly message: string;
      readonly evidenceSeqs?: readonly [number, number];
    };

type Handler = (event: LogEvent, actor: RegExpExecArray, facts: Facts) => readonly Update[] | undefined;

export interface MachineRule {
  /** The machine whose instances it feeds; null: facts and violations only. */
  readonly machine: MachineId | null;
  /** The actors it reads; groups are handed to the handlers. */
  readonly actor: RegExp;
  /** By event type. */
  readonly on: Readonly<Record<string, Handler>>;
}

/** Facts learned from the log that instances are mapped with (mutated by the rules only). */
export class Facts {
  readonly #nodeByStoreEndpoint = new Map<string, string>();
  readonly #nodeByPortal = new Map<string, string>();
  readonly #nodeByHost = new Map<string, string>();
  /** Actor prefixes of a node's own clients (the simulator's admin host), longest first. */
  #nodeByActorPrefix: [string, string][] = [];
  readonly #connections = new Map<string, { node: string; remote: string | undefined }>();
  readonly #nodeByRemote = new Map<string, string>();
  readonly #vdiNames = new Map<string, string>();
  readonly #participants = new Map<string, Set<string>>();
  readonly #incarnations = new Map<string, number>();

  /** `sim.node`: a node (re)starts; `node.defined`: `collie up` names one of its target nodes. */
  learnNode(data: {
    node?: string;
    incarnation?: number;
    host?: string;
    portal?: string;
    storeEndpoint?: string;
    actorPrefixes?: readonly string[];
  }): void {
    const node = data.node;
    if (typeof node !== 'string') return;
    if (typeof data.host === 'string') this.#nodeByHost.set(data.host, node);
    if (typeof data.portal === 'string') this.#nodeByPortal.set(data.portal, node);
    if (typeof data.storeEndpoint === 'string') this.#nodeByStoreEndpoint.set(data.storeEndpoint, node);
    if (Array.isArray(data.actorPrefixes)) {
      const prefixes = data.actorPrefixes.filter((prefix): prefix is string => typeof prefix === 'string');
      this.#nodeByActorPrefix = [
        ...this.#nodeByActorPrefix.filter(([prefix]) => !prefixes.includes(prefix)),
        ...prefixes.map((prefix): [string, string] => [prefix, node]),
      ].sort((a, b) => b[0].length - a[0].length);
    }
    if (typeof data.incarnation === 'number') this.#incarnations.set(node, data.incarnation);
  }

  /** The node a `sim.node` claimed the actor's prefix for. */
  nodeOfActor(actor: string): string | undefined {
    return this.#nodeByActorPrefix.find(([prefix]) => actor.startsWith(prefix))?.[1];
  }

  /**
   * An event appended by the code of a crashed node incarnation (`zombie: "<node>#<n>"`, see
   * sim/incarnation-log.ts): 'current' while that node has not started again (it still tells what
   * the crashed code's machines do; they stay ended), 'superseded' once it has (its actor names are
   * the new incarnation's now: the event moves nothing), undefined for any other event.
   */
  zombie(event: LogEvent): 'current' | 'superseded' | undefined {
    const mark = (event.data as { zombie?: unknown } | null | undefined)?.zombie;
    if (typeof mark !== 'string') return undefined;
    const hash = mark.lastIndexOf('#');
    const node = mark.slice(0, hash);
    const incarnation = Number(mark.slice(hash + 1));
    const current = this.#incarnations.get(node);
    return hash < 0 || current === undefined || current === incarnation ? 'current' : 'superseded';
  }

  /** The node whose client talks to the store through `endpoint` (custom actor suffixes ignored). */
  nodeOfStoreEndpoint(endpoint: string): string | undefined {
    const node = this.#nodeByStoreEndpoint.get(endpoint);
    if (node !== undefined || endpoint.startsWith('unix:')) return node;
    const slash = endpoint.indexOf('/');
    return slash < 0 ? undefined : this.#nodeByStoreEndpoint.get(endpoint.slice(0, slash));
  }

  /** `connection.opened`: the connection runs on the node of its portal (or of its local host). */
  learnConnection(id: string, remote: string | undefined, local: string | undefined): string {
    const node =
      (local === undefined
        ? undefined
        : (this.#nodeByPortal.get(local) ?? this.#nodeByHost.get(hostOf(local)))) ?? DEFAULT_NODE;
    this.#connections.set(id, { node, remote });
    if (remote !== undefined) this.#nodeByRemote.set(remote, node);
    return node;
  }

  nodeOfConnection(id: string | undefined): string {
    return (id === undefined ? undefined : this.#connections.get(id)?.node) ?? DEFAULT_NODE;
  }

  remoteOfConnection(id: string): string | undefined {
    return this.#connections.get(id)?.remote;
  }

  /** The node of the connection that came from `remote` (a login's actor names its remote). */
  nodeOfRemote(remote: string): string {
    return this.#nodeByRemote.get(remote) ?? DEFAULT_NODE;
  }

  learnVdiName(vid: string, name: unknown): void {
    if (typeof name === 'string' && name !== '') this.#vdiNames.set(vid, name);
  }

  vdiName(vid: string): string | undefined {
    return this.#vdiNames.get(vid);
  }

  /** The VDI as people name it: its name when known, else the vid. */
  vdiLabel(vid: string): string {
    return this.#vdiNames.get(vid) ?? vid;
  }

  participantJoined(vid: string, node: string): void {
    let nodes = this.#participants.get(vid);
    if (nodes === undefined) {
      nodes = new Set();
      this.#participants.set(vid, nodes);
    }
    nodes.add(node);
  }

  participantLeft(vid: string, node: string): void {
    this.#participants.get(vid)?.delete(node);
  }

  participantCount(vid: string): number {
    return this.#participants.get(vid)?.size ?? 0;
  }

  /** The store process went away: its lock table with it. */
  storeLost(): void {
    this.#participants.clear();
  }
}

function hostOf(endpoint: string): string {
  const colon = endpoint.lastIndexOf(':');
  return colon < 0 ? endpoint : endpoint.slice(0, colon);
}

/** A vid as the store's actors write it: 6 lowercase hex digits ("0x9196e5" and 9541349 too). */
export function vidKey(vid: unknown): string | undefined {
  if (typeof vid === 'number' && Number.isInteger(vid) && vid >= 0) return vid.toString(16).padStart(6, '0');
  if (typeof vid !== 'string') return undefined;
  const hex = vid.toLowerCase().replace(/^0x/, '');
  return /^[0-9a-f]+$/.test(hex) ? hex.padStart(6, '0') : undefined;
}

/** The state a machine starts in (its definition's `initial`). */
export function initialStateOf(machine: MachineId): string {
  const initial = (catalogEntry(machine)?.machine.config as { initial?: unknown } | undefined)?.initial;
  return typeof initial === 'string' ? initial : 'unknown';
}

/** Machines that run in the store process (a target node's crash does not end them). */
const STORE_MACHINES: ReadonlySet<MachineId> = new Set(
  MACHINE_CATALOG.filter((entry) => entry.side === 'store').map((entry) => entry.id),
);

const CLIENT_AND_TARGET_MACHINES: readonly MachineId[] = MACHINE_CATALOG.filter(
  (entry) => entry.side !== 'store',
).map((entry) => entry.id);

interface Data {
  readonly [field: string]: unknown;
}

const dataOf = (event: LogEvent): Data => (event.data ?? {}) as Data;
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

// ---- the store: participants and VDI locks (src/store/lock-table.ts) --------------------------------

const STORE_VDI = /^store\/vdi\/([0-9a-f]+)$/;

function participant(
  event: LogEvent,
  vid: string,
  endpoint: string,
  state: string | null,
  machineEvent: string | null,
  facts: Facts,
): SetUpdate {
  return {
    kind: 'set',
    key: `${event.actor}#${endpoint}`,
    machine: 'participant',
    node: facts.nodeOfStoreEndpoint(endpoint) ?? endpoint,
    vdi: facts.vdiLabel(vid),
    label: `participant ${endpoint} in ${facts.vdiLabel(vid)}`,
    state,
    event: machineEvent,
    endpoint,
    vid,
    ...(state === null ? { ended: true } : {}),
  };
}

/** coherence.invalidated / validated / outside_write / snapshotted: every participant's state. */
function participantStates(local: string | null, peer: string): Handler {
  return (event, actor, facts) => {
    const data = dataOf(event);
    const states = (data.states ?? {}) as Record<string, unknown>;
    const by = text(data.by);
    return Object.entries(states).map(([endpoint, state]) =>
      participant(
        event,
        actor[1]!,
        endpoint,
        text(state) ?? null,
        by === endpoint ? (local ?? peer) : peer,
        facts,
      ),
    );
  };
}

function lock(machineEvent: (data: Data) => string | null): Handler {
  return (event, actor, facts) => {
    const data = dataOf(event);
    const vid = actor[1]!;
    const state = text(data.state) ?? null;
    // The lock table forgets an unlocked VDI nobody participates in (LockTable.#forgetIfUnlocked).
    const forgotten = state === 'unlocked' && facts.participantCount(vid) === 0;
    return [
      {
        kind: 'set',
        key: event.actor,
        machine: 'vdi-lock',
        node: DEFAULT_STORE_NODE,
        vdi: facts.vdiLabel(vid),
        label: `lock of ${facts.vdiLabel(vid)}`,
        state,
        event: machineEvent(data),
        ended: forgotten,
        vid,
      },
    ];
  };
}

const lockEvent =
  (normal: string, shared: string) =>
  (data: Data): string =>
    data.type === 'normal' ? normal : shared;

// ---- the sheep client: inode views and IO requests (src/sheepdog/client) ----------------------------

/** A target's client (shared-lock): `sheepdog/<vdi>@<endpoint>`; others are lock-less or named. */
const SHARED_LOCK_CLIENT = /^sheepdog\/([^@]*)@(.+)$/;

/** The inode cache's and IO runner's owner, `<client>/inode` and `<client>/io`. */
interface Client {
  readonly node: string;
  readonly vdi: string | null;
  /** The store endpoint of a shared-lock client (the coherence matrix's column). */
  readonly endpoint: string | undefined;
}

function clientOf(client: string, vid: string | undefined, facts: Facts): Client {
  const shared = SHARED_LOCK_CLIENT.exec(client);
  if (shared !== null) {
    return {
      node: facts.nodeOfStoreEndpoint(shared[2]!) ?? DEFAULT_NODE,
      vdi: shared[1]!,
      endpoint: shared[2]!,
    };
  }
  const vdi = /^[^/]+\/([^@/]*)@/.exec(client)?.[1];
  return {
    node: facts.nodeOfActor(client) ?? DEFAULT_NODE,
    vdi: vdi ?? (vid === undefined ? null : facts.vdiLabel(vid)),
    endpoint: undefined,
  };
}

// ---- the iSCSI target (src/iscsi/target) ------------------------------------------------------------

const LOGIN = /^iscsi\/login\/(.+)$/;
const CONNECTION = /^iscsi\/connection\/(.+)$/;
const SESSION = /^iscsi\/session\/([^/#]+)$/;

/** The login at `state` (null: the `to` of a login.stepped), ended once final. */
function loginState(state: string | null, machineEvent: string | null): Handler {
  return (event, actor, facts) => {
    const to = state ?? text(dataOf(event).to) ?? null;
    return [
      {
        kind: 'set',
        key: event.actor,
        machine: 'login',
        node: facts.nodeOfRemote(actor[1]!),
        vdi: null,
        label: `login from ${actor[1]}`,
        state: to,
        event: machineEvent,
        ended: to === 'fullFeature' || to === 'failed',
      },
    ];
  };
}

function sessionKey(event: LogEvent): string {
  const connection = text(dataOf(event).connection);
  return connection === undefined ? event.actor : `${event.actor}#${connection}`;
}

function transition(
  machine: MachineId,
  finals: readonly string[],
  describe: (
    event: LogEvent,
    actor: RegExpExecArray,
    facts: Facts,
  ) => Pick<SetUpdate, 'key' | 'node' | 'label'>,
): Handler {
  return (event, actor, facts) => {
    const data = dataOf(event);
    const state = stateValuePath(data.to);
    return [
      {
        kind: 'set',
        machine,
        vdi: null,
        ...describe(event, actor, facts),
        state,
        event: text(data.event) ?? null,
        ended: state !== null && finals.includes(state),
      },
    ];
  };
}

const connectionInstance = (event: LogEvent, actor: RegExpExecArray, facts: Facts) => {
  const remote = facts.remoteOfConnection(actor[1]!);
  return {
    key: event.actor,
    node: facts.nodeOfConnection(actor[1]!),
    label: remote === undefined ? `connection ${actor[1]}` : `connection ${actor[1]} from ${remote}`,
  };
};

const sessionInstance = (event: LogEvent, actor: RegExpExecArray, facts: Facts) => ({
  key: sessionKey(event),
  node: facts.nodeOfConnection(text(dataOf(event).connection)),
  label: `session ${actor[1]}`,
});

// ---- the table ----------------------------------------------------------------------------------------

export const PROJECTION_RULES: readonly MachineRule[] = [
  {
    // A process running several target nodes (collie up --nodes N) says where each one is.
    machine: null,
    actor: /^node\/(.+)$/,
    on: {
      'node.defined': (event, _actor, facts) => {
        facts.learnNode(dataOf(event) as Parameters<Facts['learnNode']>[0]);
        return undefined;
      },
    },
  },
  {
    machine: null,
    actor: /^sim\/(.+)$/,
    on: {
      'sim.node': (event, _actor, facts) => {
        facts.learnNode(dataOf(event) as Parameters<Facts['learnNode']>[0]);
        return undefined;
      },
      'sim.target_crashed': (_event, actor) => [
        { kind: 'end-all', machines: CLIENT_AND_TARGET_MACHINES, node: actor[1]! },
      ],
      'sim.target_restart_failed': (_event, actor) => [
        { kind: 'end-all', machines: CLIENT_AND_TARGET_MACHINES, node: actor[1]! },
      ],
      'sim.store_crashed': (_event, _actor, facts) => {
        facts.storeLost();
        return [{ kind: 'end-all', machines: [...STORE_MACHINES] }];
      },
    },
  },
  {
    machine: null,
    actor: STORE_VDI,
    on: {
      'vdi.created': (event, actor, facts) => void facts.learnVdiName(actor[1]!, dataOf(event).name),
      'vdi.cloned': (event, actor, facts) => void facts.learnVdiName(actor[1]!, dataOf(event).name),
      'vdi.snapshotted': (event, actor, facts) => void facts.learnVdiName(actor[1]!, dataOf(event).name),
    },
  },
  {
    machine: null,
    actor: /^check\/(.+)$/,
    on: {
      'check.violation': (event, actor) => {
        const data = dataOf(event);
        const seqs = data.evidenceSeqs;
        const evidence =
          Array.isArray(seqs) && seqs.length === 2 && seqs.every((seq) => typeof seq === 'number')
            ? ([seqs[0], seqs[1]] as [number, number])
            : undefined;
        return [
          {
            kind: 'violation',
            checker: text(data.checker) ?? actor[1]!,
            violationKind: text(data.kind) ?? 'violation',
            message: text(data.message) ?? '',
            ...(evidence === undefined ? {} : { evidenceSeqs: evidence }),
          },
        ];
      },
    },
  },
  {
    machine: 'participant',
    actor: STORE_VDI,
    on: {
      'coherence.joined': (event, actor, facts) => {
        const data = dataOf(event);
        const endpoint = text(data.node);
        if (endpoint === undefined) return undefined;
        facts.participantJoined(actor[1]!, endpoint);
        return [participant(event, actor[1]!, endpoint, text(data.state) ?? null, null, facts)];
      },
      'coherence.invalidated': participantStates('LOCAL_INODE_WRITE', 'PEER_INODE_WRITE'),
      'coherence.validated': participantStates('LOCAL_REFRESH', 'PEER_REFRESH'),
      'coherence.outside_write': participantStates(null, 'OUTSIDE_INODE_WRITE'),
      'coherence.snapshotted': participantStates(null, 'VDI_SNAPSHOTTED'),
      'coherence.left': (event, actor, facts) => {
        const endpoint = text(dataOf(event).node);
        if (endpoint === undefined) return undefined;
        facts.participantLeft(actor[1]!, endpoint);
        return [participant(event, actor[1]!, endpoint, null, null, facts)];
      },
    },
  },
  {
    machine: 'vdi-lock',
    actor: STORE_VDI,
    on: {
      'lock.acquired': lock(lockEvent('LOCK_NORMAL', 'LOCK_SHARED')),
      'lock.refused': lock(() => null),
      'lock.released': lock(lockEvent('RELEASE_NORMAL', 'RELEASE_SHARED')),
      'lock.node_left': lock(() => 'NODE_LEFT'),
      'lock.forgotten': (event) => [{ kind: 'end', key: event.actor }],
    },
  },
  {
    machine: 'inode-view',
    actor: /^(.+)\/inode$/,
    on: {
      'inode.transition': (event, actor, facts) => {
        const data = dataOf(event);
        const state = stateValuePath(data.to);
        const vid = vidKey(data.vid);
        const known = vid === undefined || vid === '000000' ? undefined : vid;
        const client = clientOf(actor[1]!, known, facts);
        return [
          {
            kind: 'set',
            key: event.actor,
            machine: 'inode-view',
            node: client.node,
            vdi: client.vdi,
            label:
              client.endpoint === undefined
                ? `inode view of ${actor[1]} (lock-less)`
                : `inode of ${client.vdi} via ${client.endpoint}`,
            state,
            event: text(data.event) ?? null,
            ended: state === 'closed',
            ...(client.endpoint === undefined ? {} : { endpoint: client.endpoint }),
            ...(known === undefined ? {} : { vid: known }),
          },
        ];
      },
    },
  },
  {
    machine: 'io-request',
    actor: /^(.+)\/io$/,
    on: {
      'io.transition': (event, actor, facts) => {
        const data = dataOf(event);
        const state = stateValuePath(data.to);
        const purpose = text(data.purpose);
        const client = clientOf(actor[1]!, vidKey(data.vid), facts);
        return [
          {
            kind: 'set',
            key: `${event.actor}#${String(data.io)}`,
            machine: 'io-request',
            node: client.node,
            vdi: client.vdi,
            label: `io ${String(data.io)} ${String(data.op)}${purpose === undefined ? '' : ` (${purpose})`}`,
            state,
            event: text(data.event) ?? null,
            ended: state === 'done' || state === 'failed',
          },
        ];
      },
    },
  },
  {
    machine: 'login',
    actor: LOGIN,
    on: {
      'login.stepped': loginState(null, 'LOGIN_REQUEST'),
      'login.completed': loginState('fullFeature', null),
      'login.failed': loginState('failed', null),
      'login.aborted': loginState('failed', 'ABORT'),
    },
  },
  {
    machine: 'iscsi-connection',
    actor: CONNECTION,
    on: {
      'connection.opened': (event, actor, facts) => {
        const data = dataOf(event);
        facts.learnConnection(actor[1]!, text(data.remote), text(data.local));
        return [
          {
            kind: 'set',
            machine: 'iscsi-connection',
            vdi: null,
            ...connectionInstance(event, actor, facts),
            state: initialStateOf('iscsi-connection'),
            event: null,
            announce: true,
          },
        ];
      },
      'connection.transition': transition('iscsi-connection', ['free'], connectionInstance),
      'connection.closed': (event, actor, facts) => {
        const remote = facts.remoteOfConnection(actor[1]!);
        // The login of a connection that closed is over, wherever it stood.
        return [
          { kind: 'end', key: event.actor },
          ...(remote === undefined ? [] : [{ kind: 'end', key: `iscsi/login/${remote}` } as const]),
        ];
      },
    },
  },
  {
    machine: 'iscsi-session',
    actor: SESSION,
    on: {
      'session.created': (event, actor, facts) => {
        const initiator = text(dataOf(event).initiator);
        const instance = sessionInstance(event, actor, facts);
        return [
          {
            kind: 'set',
            machine: 'iscsi-session',
            vdi: null,
            ...instance,
            label: initiator === undefined ? instance.label : `${instance.label} of ${initiator}`,
            state: initialStateOf('iscsi-session'),
            event: null,
            announce: true,
          },
        ];
      },
      'session.transition': transition('iscsi-session', ['free'], sessionInstance),
      'session.closed': (event) => [{ kind: 'end', key: sessionKey(event) }],
    },
  },
];
