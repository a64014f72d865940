/**
 * Inode coherence, checked from the event log (an EventSink): the store's participant states
 * (`coherence.*` events of `store/vdi/<vid>`) and what the clients did (`io.transition` events
 * of `sheepdog/<vdi>@<node>/io`).
 *
 * What it checks
 *   1. single-writer: at most one participant of a VDI is MODIFIED, after every coherence event.
 *   2. consistent-states: each event that lists the states (invalidated, validated, snapshotted)
 *      names exactly the participants that joined and did not leave.
 *   3. served-by-participant: with locking on, an IO a client completes through a store node that
 *      left the VDI's participants (the node left the cluster) and came back without the client
 *      joining again is served by a node nobody invalidates any more: the client's cache is out of
 *      the protocol. Reported when the IO's last round was sent after the node left and the IO
 *      completes after the node listened again (a round sent before, whose answer arrives late,
 *      was served by the participant).
 *   4. final agreement: at the end, the states it followed equal the store's lock table.
 *
 * What it does not check: whether an INVALIDATED participant's IO was refused (the store does
 * that, and a stale read it would cause is the register checker's business); data; normal locks.
 */
import type { EventSink, LogEvent } from '../../src/core/event.js';
import type { VdiLockView } from '../../src/store/lock-table.js';

export interface CoherenceViolation {
  readonly kind: 'single-writer' | 'consistent-states' | 'served-by-participant' | 'final-agreement';
  readonly seq: number;
  /** Sequence numbers of the events that show it (first to last). */
  readonly windowSeqs: readonly [number, number];
  readonly message: string;
}

interface NodePresence {
  leftSeq: number;
  listeningAgainSeq: number | undefined;
}

const VDI_ACTOR = /^store\/vdi\/([0-9a-f]+)$/;
const NODE_ACTOR = /^store\/node\/(.+)$/;
const IO_ACTOR = /^sheepdog\/[^@]*@(.+)\/io$/;

export class CoherenceChecker implements EventSink {
  readonly violations: CoherenceViolation[] = [];
  readonly #locking: boolean;
  /** vid (hex) -> node -> state. */
  readonly #states = new Map<string, Map<string, string>>();
  /** `${vid}\0${node}` -> when the node left that VDI's participants by leaving the cluster. */
  readonly #departed = new Map<string, NodePresence>();
  /** Each IO's vid and the seq of its last SEND: `${actor}\0${io}` -> {vid hex, seq}. */
  readonly #ioVid = new Map<string, { vid: string; sentSeq: number }>();
  readonly #violationsMax = 20;

  constructor(options: { locking: boolean }) {
    this.#locking = options.locking;
  }

  write(event: LogEvent): void {
    if (event.type.startsWith('coherence.')) this.#coherence(event);
    else if (event.type === 'lock.node_left') this.#nodeLeft(event);
    else if (event.type === 'node.listening') this.#nodeListening(event);
    else if (event.type === 'io.transition') this.#io(event);
  }

  /** Compares the followed states with the store's own view (check 4). */
  finish(views: readonly VdiLockView[], lastSeq: number): void {
    const actual = new Map<string, Map<string, string>>();
    for (const view of views) {
      if (view.participants.length === 0) continue;
      actual.set(
        vidKey(view.vid),
        new Map(view.participants.map((participant) => [participant.node, participant.state])),
      );
    }
    const followed = [...this.#states].filter(([, nodes]) => nodes.size > 0);
    const text = (entries: Iterable<[string, Map<string, string>]>) =>
      JSON.stringify([...entries].map(([vid, nodes]) => [vid, [...nodes].sort()]).sort());
    if (text(followed) !== text(actual)) {
      this.#report({
        kind: 'final-agreement',
        seq: lastSeq,
        windowSeqs: [lastSeq, lastSeq],
        message: `the coherence events say ${text(followed)} but the store's lock table holds ${text(actual)}`,
      });
    }
  }

  #coherence(event: LogEvent): void {
    const vid = VDI_ACTOR.exec(event.actor)?.[1];
    if (vid === undefined) return;
    const data = event.data as { node?: string; state?: string; states?: Record<string, string> };
    let nodes = this.#states.get(vid);
    if (nodes === undefined) {
      nodes = new Map();
      this.#states.set(vid, nodes);
    }
    switch (event.type) {
      case 'coherence.joined':
        nodes.set(data.node!, data.state!);
        this.#departed.delete(`${vid}\u0000${data.node}`);
        break;
      case 'coherence.left':
        nodes.delete(data.node!);
        break;
      default: {
        const states = data.states ?? {};
        const listed = Object.keys(states).sort().join(',');
        const known = [...nodes.keys()].sort().join(',');
        if (listed !== known) {
          this.#report({
            kind: 'consistent-states',
            seq: event.seq,
            windowSeqs: [event.seq, event.seq],
            message: `${event.type} on vid ${vid} lists participants [${listed}] but [${known}] joined`,
          });
        }
        nodes.clear();
        for (const [node, state] of Object.entries(states)) nodes.set(node, state);
      }
    }
    const modified = [...nodes].filter(([, state]) => state === 'modified').map(([node]) => node);
    if (modified.length > 1) {
      this.#report({
        kind: 'single-writer',
        seq: event.seq,
        windowSeqs: [event.seq, event.seq],
        message: `vid ${vid} has ${modified.length} MODIFIED participants (${modified.join(', ')}) after ${event.type}`,
      });
    }
  }

  #nodeLeft(event: LogEvent): void {
    const vid = VDI_ACTOR.exec(event.actor)?.[1];
    const node = (event.data as { node?: string }).node;
    if (vid === undefined || node === undefined) return;
    this.#departed.set(`${vid}\u0000${node}`, { leftSeq: event.seq, listeningAgainSeq: undefined });
  }

  #nodeListening(event: LogEvent): void {
    const node = NODE_ACTOR.exec(event.actor)?.[1];
    if (node === undefined) return;
    for (const [key, presence] of this.#departed) {
      if (key.endsWith(`\u0000${node}`) && presence.listeningAgainSeq === undefined) {
        presence.listeningAgainSeq = event.seq;
      }
    }
  }

  #io(event: LogEvent): void {
    if (!this.#locking) return;
    const node = IO_ACTOR.exec(event.actor)?.[1];
    if (node === undefined) return;
    const data = event.data as { io: number; event: string; to: string; vid?: number };
    const key = `${event.actor}\u0000${data.io}`;
    if (data.event === 'SEND' && data.vid !== undefined)
      this.#ioVid.set(key, { vid: vidKey(data.vid), sentSeq: event.seq });
    if (data.to !== 'done' && data.to !== 'failed') return;
    const sent = this.#ioVid.get(key);
    this.#ioVid.delete(key);
    if (data.to !== 'done' || sent === undefined) return;
    const vid = sent.vid;
    const presence = this.#departed.get(`${vid}\u0000${node}`);
    if (presence?.listeningAgainSeq === undefined) return;
    // Every request of its last round went out while the node still counted the client as a
    // participant: the node that served them was that participant (a reset connection's held
    // bytes are never delivered to the node's next incarnation, and the pool does not resend a
    // round across a reconnect), even if an answer reached the client only after the node came
    // back. Only a round sent after the node left was served outside the protocol.
    if (sent.sentSeq < presence.leftSeq) return;
    this.#report({
      kind: 'served-by-participant',
      seq: event.seq,
      windowSeqs: [presence.leftSeq, event.seq],
      message:
        `${event.actor} completed IO ${data.io} on vid ${vid} through node ${node}, which left the VDI's ` +
        `participants at seq ${presence.leftSeq} and listened again at seq ${presence.listeningAgainSeq}: ` +
        'nobody invalidates that client any more (it did not LOCK the VDI again)',
    });
  }

  #report(violation: CoherenceViolation): void {
    if (this.violations.length < this.#violationsMax) this.violations.push(violation);
  }
}

function vidKey(vid: number): string {
  return vid.toString(16).padStart(6, '0');
}
