/**
 * Locks and inode coherence for every VDI of the store: sheep's vdi_state table, run as xstate
 * machines (machines/vdi-lock.ts per VDI, machines/participant.ts per (VDI, node)).
 *
 * Rules (sheep 1.0, sheep/vdi.c; docs: "Locking" and "The inode coherence protocol"):
 * - A node is a store endpoint ("127.0.0.1:7000"), never a client connection.
 * - LOCK shared: the first participant joins MODIFIED, a later one INVALIDATED when someone is
 *   MODIFIED, else SHARED. The same node locking again, a NORMAL lock, or a full table: refused.
 * - invalidate(vid, S) before a data_vdi_id write through S: S -> MODIFIED, others -> INVALIDATED.
 * - validate(vid, S) after a successful refresh read through an INVALIDATED S: S -> SHARED, a
 *   MODIFIED peer -> SHARED, INVALIDATED peers stay.
 * - At most one participant is MODIFIED; asserted after every change.
 * - Past sheep 1.0: a data_vdi_id write from an outside writer (not a participant, or no TGT flag)
 *   invalidates every participant (invalidateForInodeWrite); a Collie client's id makes LOCK
 *   idempotent for its holder and keeps other clients' RELEASEs from removing it.
 * - With locking off (a store formatted or started without locks) every lock succeeds, nothing is
 *   recorded and no coherence state exists: that reproduces the multipath bug on purpose.
 *
 * Every transition is appended to the event log (actor `store/vdi/<vid hex>`).
 *
 * Inputs: every event for the table's machines goes onto one rxjs stream, `inputs$`, addressed
 * to a VDI's lock or to one participant of it, and the table's own subscriber (the first) hands
 * it to that actor. A plain Subject: delivery is synchronous, inside the store's per-VDI critical section,
 * so each change is done (and logged right after) in the order it was pushed. Watchers see each
 * input after its machine moved.
 */
import { type Observable, Subject } from 'rxjs';
import { type Actor, type AnyStateMachine, createActor } from 'xstate';
import {
  type ParticipantEvent,
  type ParticipantStateName,
  participantMachine,
} from '../../machines/participant.js';
import { type VdiLockEvent, type VdiLockStateName, vdiLockMachine } from '../../machines/vdi-lock.js';
import { assert } from '../core/assert.js';
import type { EventLog } from '../core/event-log.js';
import { stateValuePath } from '../core/live-machines.js';

export type LockResult = 'ok' | 'locked';

/** One input of the table's machines: for a VDI's lock, or for one participant (node) of it. */
export type LockTableInput =
  | { readonly vid: number; readonly machine: 'vdi-lock'; readonly event: VdiLockEvent }
  | {
      readonly vid: number;
      readonly machine: 'participant';
      readonly node: string;
      readonly event: ParticipantEvent;
    };

interface VdiEntry {
  readonly lock: Actor<typeof vdiLockMachine>;
  readonly participants: Map<string, Actor<typeof participantMachine>>;
  /** The client id each participant joined with (0n: none given, as tgt and dog send). */
  readonly clients: Map<string, bigint>;
  /** Live-machine registrations to drop, by node (LOCK_KEY: the lock's). */
  readonly unregister: Map<string, () => void>;
}

/** The lock's own entry among VdiEntry.unregister (nodes are endpoints: never this). */
const LOCK_KEY = '';

export interface VdiLockView {
  readonly vid: number;
  readonly state: VdiLockStateName;
  readonly owner: string | undefined;
  readonly participants: ReadonlyArray<{ node: string; state: ParticipantStateName }>;
}

export function vidHex(vid: number): string {
  return vid.toString(16).padStart(6, '0');
}

export class LockTable {
  readonly #entries = new Map<number, VdiEntry>();
  readonly #eventLog: EventLog;
  readonly #inputs = new Subject<LockTableInput>();
  /** Every input of the table's machines, read-only (see the file comment). */
  readonly inputs$: Observable<LockTableInput> = this.#inputs.asObservable();
  readonly enabled: boolean;

  constructor(options: { eventLog: EventLog; enabled: boolean }) {
    this.#eventLog = options.eventLog;
    this.enabled = options.enabled;
    this.#inputs.subscribe((input) => this.#deliver(input));
  }

  /**
   * LOCK_VDI. `client` is the id a Collie client sends (0n from tgt, qemu, dog): a shared LOCK
   * from the client that already holds the node's participation answers 'ok' and changes
   * nothing, so a client whose earlier LOCK lost its answer learns that the lock is its own.
   */
  lock(vid: number, node: string, type: 'normal' | 'shared', client = 0n): LockResult {
    if (!this.enabled) return 'ok';
    const entry = this.#entry(vid);
    if (type === 'shared' && client !== 0n && entry.clients.get(node) === client) {
      this.#log(vid, 'lock.reaffirmed', { node, client: client.toString(16) });
      return 'ok';
    }
    const event: VdiLockEvent = { type: type === 'normal' ? 'LOCK_NORMAL' : 'LOCK_SHARED', node };
    if (!entry.lock.getSnapshot().can(event)) {
      this.#log(vid, 'lock.refused', { node, type, state: entry.lock.getSnapshot().value });
      return 'locked';
    }
    // The participant joins first, then the lock moves: each change is logged right after it
    // happens, so the log never runs ahead of (or behind) the machines.
    if (type === 'shared') {
      const actor = createActor(participantMachine, {
        input: { vid, node, initial: this.#joiningState(entry) },
      });
      entry.participants.set(node, actor);
      entry.clients.set(node, client);
      actor.start();
      this.#register(vid, node, actor);
      this.#log(vid, 'coherence.joined', { node, state: actor.getSnapshot().value });
    }
    this.#toLock(vid, event);
    this.#log(vid, 'lock.acquired', { node, type, state: entry.lock.getSnapshot().value });
    return 'ok';
  }

  /**
   * RELEASE_VDI. A shared release carrying a client id other than the holder's is ignored: it
   * comes from another client on the same node, which must not take the holder out of the
   * coherence protocol. Without ids (0n on either side) it releases, as sheep 1.0 does.
   */
  release(vid: number, node: string, type: 'normal' | 'shared', client = 0n): void {
    if (!this.enabled) return;
    const entry = this.#entries.get(vid);
    if (!entry) return;
    const holder = entry.clients.get(node) ?? 0n;
    if (type === 'shared' && client !== 0n && holder !== 0n && holder !== client) {
      this.#log(vid, 'lock.release_ignored', {
        node,
        client: client.toString(16),
        holder: holder.toString(16),
      });
      return;
    }
    if (type === 'shared') this.#dropParticipant(vid, entry, node);
    this.#toLock(vid, { type: type === 'normal' ? 'RELEASE_NORMAL' : 'RELEASE_SHARED', node });
    this.#log(vid, 'lock.released', { node, type, state: entry.lock.getSnapshot().value });
    this.#forgetIfUnlocked(vid, entry);
  }

  /** A node left the cluster (its endpoint went away): it leaves every VDI it participates in. */
  nodeLeft(node: string): void {
    for (const [vid, entry] of [...this.#entries]) {
      if (!entry.participants.has(node)) continue;
      this.#dropParticipant(vid, entry, node);
      this.#toLock(vid, { type: 'NODE_LEFT', node });
      this.#log(vid, 'lock.node_left', { node, state: entry.lock.getSnapshot().value });
      this.#forgetIfUnlocked(vid, entry);
    }
  }

  /** A VDI was deleted: its lock state goes with it. */
  forget(vid: number): void {
    const entry = this.#entries.get(vid);
    if (!entry) return;
    for (const actor of entry.participants.values()) actor.stop();
    entry.lock.stop();
    for (const unregister of entry.unregister.values()) unregister();
    entry.unregister.clear();
    this.#entries.delete(vid);
    this.#log(vid, 'lock.forgotten', {});
  }

  /** The coherence state of `node` for `vid`, or undefined when it does not participate. */
  participantState(vid: number, node: string): ParticipantStateName | undefined {
    const actor = this.#entries.get(vid)?.participants.get(node);
    return actor ? (actor.getSnapshot().value as ParticipantStateName) : undefined;
  }

  /** True when TGT-flagged IO on `vid` through `node` must be refused with INODE_INVALIDATED. */
  isInvalidated(vid: number, node: string): boolean {
    return this.participantState(vid, node) === 'invalidated';
  }

  /**
   * Before a data_vdi_id update through `node`: when `node` participates and is not MODIFIED it
   * becomes MODIFIED and every other participant INVALIDATED. Returns true when that happened.
   */
  invalidateOthers(vid: number, node: string): boolean {
    const entry = this.#entries.get(vid);
    const state = entry?.participants.get(node)?.getSnapshot().value;
    if (!entry || state === undefined || state === 'modified') return false;
    this.#broadcast(vid, entry, node, { type: 'LOCAL_INODE_WRITE' }, { type: 'PEER_INODE_WRITE' });
    this.#log(vid, 'coherence.invalidated', { by: node, states: this.#states(entry) });
    return true;
  }

  /**
   * Before a data_vdi_id update (or DISCARD) through `node`. A participant writing with the TGT
   * flag follows sheep's rule (invalidateOthers). Anyone else (a node that does not participate,
   * or a write without the TGT flag: dog, qemu, `collie vdi write`, a client that shares the node
   * with a target) is an outside writer: every participant's cache is stale, so every participant
   * is invalidated, none stays MODIFIED. Sheep 1.0 invalidates nobody for a non-participant and
   * spares the node's own participant; this is the rule that makes lock-less writers safe here.
   * Returns true when some state changed.
   */
  invalidateForInodeWrite(vid: number, node: string, tgtFlag: boolean): boolean {
    const entry = this.#entries.get(vid);
    if (!entry || entry.participants.size === 0) return false;
    if (tgtFlag && entry.participants.has(node)) return this.invalidateOthers(vid, node);
    for (const participant of entry.participants.keys()) {
      this.#toParticipant(vid, participant, { type: 'OUTSIDE_INODE_WRITE' });
    }
    this.#assertSingleWriter(vid, entry);
    this.#log(vid, 'coherence.outside_write', { by: node, tgtFlag, states: this.#states(entry) });
    return true;
  }

  /**
   * After a successful refresh read through an INVALIDATED `node`: it becomes SHARED and a
   * MODIFIED peer is demoted to SHARED. Returns true when that happened.
   */
  validate(vid: number, node: string): boolean {
    const entry = this.#entries.get(vid);
    if (entry === undefined) return false;
    if (entry.participants.get(node)?.getSnapshot().value !== 'invalidated') return false;
    this.#broadcast(vid, entry, node, { type: 'LOCAL_REFRESH' }, { type: 'PEER_REFRESH' });
    this.#log(vid, 'coherence.validated', { by: node, states: this.#states(entry) });
    return true;
  }

  /**
   * The VDI just became a snapshot: every participant's cached inode is stale (its working VDI
   * moved on), so all of them are invalidated. Returns how many were.
   */
  invalidateAll(vid: number): number {
    const entry = this.#entries.get(vid);
    if (!entry) return 0;
    for (const participant of entry.participants.keys()) {
      this.#toParticipant(vid, participant, { type: 'VDI_SNAPSHOTTED' });
    }
    this.#log(vid, 'coherence.snapshotted', { states: this.#states(entry) });
    return entry.participants.size;
  }

  view(vid: number): VdiLockView {
    const entry = this.#entries.get(vid);
    if (!entry) return { vid, state: 'unlocked', owner: undefined, participants: [] };
    const snapshot = entry.lock.getSnapshot();
    return {
      vid,
      state: snapshot.value as VdiLockStateName,
      owner: snapshot.context.owner,
      participants: snapshot.context.participants.map((node) => ({
        node,
        state: entry.participants.get(node)!.getSnapshot().value as ParticipantStateName,
      })),
    };
  }

  /** Every VDI that is not unlocked, in ascending vid order. */
  views(): VdiLockView[] {
    return [...this.#entries.keys()].sort((a, b) => a - b).map((vid) => this.view(vid));
  }

  #entry(vid: number): VdiEntry {
    let entry = this.#entries.get(vid);
    if (!entry) {
      const lock = createActor(vdiLockMachine, { input: { vid } });
      lock.start();
      entry = { lock, participants: new Map(), clients: new Map(), unregister: new Map() };
      this.#entries.set(vid, entry);
      this.#register(vid, undefined, lock);
    }
    return entry;
  }

  #joiningState(entry: VdiEntry): ParticipantStateName {
    if (entry.participants.size === 0) return 'modified';
    for (const actor of entry.participants.values()) {
      if (actor.getSnapshot().value === 'modified') return 'invalidated';
    }
    return 'shared';
  }

  #broadcast(
    vid: number,
    entry: VdiEntry,
    node: string,
    local: ParticipantEvent,
    peer: ParticipantEvent,
  ): void {
    for (const other of entry.participants.keys())
      this.#toParticipant(vid, other, other === node ? local : peer);
    this.#assertSingleWriter(vid, entry);
  }

  #assertSingleWriter(vid: number, entry: VdiEntry): void {
    let modified = 0;
    for (const actor of entry.participants.values()) if (actor.getSnapshot().value === 'modified') modified++;
    assert(modified <= 1, `VDI ${vidHex(vid)} has ${modified} MODIFIED participants`);
  }

  #dropParticipant(vid: number, entry: VdiEntry, node: string): void {
    const actor = entry.participants.get(node);
    if (!actor) return;
    actor.stop();
    entry.participants.delete(node);
    entry.clients.delete(node);
    entry.unregister.get(node)?.();
    entry.unregister.delete(node);
    this.#log(vid, 'coherence.left', { node });
  }

  #forgetIfUnlocked(vid: number, entry: VdiEntry): void {
    if (entry.lock.getSnapshot().value === 'unlocked' && entry.participants.size === 0) {
      entry.lock.stop();
      entry.unregister.get(LOCK_KEY)?.();
      entry.unregister.delete(LOCK_KEY);
      this.#entries.delete(vid);
    }
  }

  #states(entry: VdiEntry): Record<string, string> {
    const states: Record<string, string> = {};
    for (const [node, actor] of entry.participants) states[node] = actor.getSnapshot().value as string;
    return states;
  }

  /**
   * Offers the lock (node undefined) or a participant to the log's live-machine registry, under
   * the inspector's instance keys: `store/vdi/<vid hex>` and `store/vdi/<vid hex>#<node>`.
   */
  #register(vid: number, node: string | undefined, actor: Actor<AnyStateMachine>): void {
    const registry = this.#eventLog.liveMachines;
    if (registry === null) return;
    const actorName = `store/vdi/${vidHex(vid)}`;
    const unregister = registry.register({
      key: node === undefined ? actorName : `${actorName}#${node}`,
      machine: node === undefined ? 'vdi-lock' : 'participant',
      state: () => stateValuePath(actor.getSnapshot().value),
    });
    this.#entries.get(vid)!.unregister.set(node ?? LOCK_KEY, unregister);
  }

  #toLock(vid: number, event: VdiLockEvent): void {
    this.#inputs.next({ vid, machine: 'vdi-lock', event });
  }

  #toParticipant(vid: number, node: string, event: ParticipantEvent): void {
    this.#inputs.next({ vid, machine: 'participant', node, event });
  }

  /** The inputs' subscriber: hands each to its actor. Never throws (xstate's send does not). */
  #deliver(input: LockTableInput): void {
    const entry = this.#entries.get(input.vid);
    if (input.machine === 'vdi-lock') entry?.lock.send(input.event);
    else entry?.participants.get(input.node)?.send(input.event);
  }

  #log(vid: number, type: string, data: Record<string, unknown>): void {
    this.#eventLog.append(`store/vdi/${vidHex(vid)}`, type, data);
  }
}
