/**
 * Goal: the projection (src/inspect/projection.ts) rebuilds each machine instance's state at any
 * seq from hand-written events: io lifecycles, the coherence matrix with and without participants,
 * node mapping in a shared log, crashed nodes' late events, bounds (ended ios, history limit),
 * snapshots in the past, and violations.
 * Method: feed events to a Projection and read snapshotAt / latest / violations.
 */
import { describe, expect, test } from 'vitest';
import type { LogEvent } from '../../src/core/event.js';
import type { InstanceState, ProjectionSnapshot } from '../../src/inspect/inspector-api.js';
import { MACHINE_IDS } from '../../src/inspect/machine-catalog.js';
import { Projection, type ProjectionOptions } from '../../src/inspect/projection.js';
import { PROJECTION_RULES } from '../../src/inspect/projection-rules.js';

/** Numbers events 1, 2, 3... at t = 10 × seq, and applies them. */
class Feed {
  readonly projection: Projection;
  seq = 0;

  constructor(options?: ProjectionOptions) {
    this.projection = new Projection(options);
  }

  add(actor: string, type: string, data: Record<string, unknown> = {}): number {
    this.seq += 1;
    const event: LogEvent = { seq: this.seq, t: this.seq * 10, actor, type, data };
    this.projection.apply(event);
    return this.seq;
  }

  /** The simulator's node announcements for target-a (store:7000) and target-b (store:7001). */
  twoTargets(): void {
    this.add('sim/store', 'sim.node', { node: 'store', role: 'store', host: 'store', incarnation: 0 });
    for (const [name, port] of [
      ['target-a', 7000],
      ['target-b', 7001],
    ] as const) {
      this.add(`sim/${name}`, 'sim.node', {
        node: name,
        role: 'target',
        host: name,
        incarnation: 0,
        portal: `${name}:3260`,
        storeEndpoint: `store:${port}`,
      });
    }
  }

  at(seq: number = this.seq): ProjectionSnapshot {
    return this.projection.snapshotAt(seq);
  }
}

const IO_A = 'sheepdog/vol@store:7000/io';
const INODE_A = 'sheepdog/vol@store:7000/inode';
const INODE_B = 'sheepdog/vol@store:7001/inode';
const VDI = 'store/vdi/00abcd';

function io(feed: Feed, n: number, from: string, event: string, to: string): number {
  return feed.add(IO_A, 'io.transition', { io: n, op: 'write', from, event, to });
}

function instance(snapshot: ProjectionSnapshot, key: string): InstanceState | undefined {
  return snapshot.instances.find((candidate) => candidate.key === key);
}

describe('projection: machine instances from the log', () => {
  test('an io request goes planned → sending → updatingInode → done, and ends there', () => {
    const feed = new Feed();
    feed.twoTargets();
    const sent = io(feed, 4, 'planned', 'SEND', 'sending');
    const written = io(feed, 4, 'sending', 'RESULT', 'updatingInode');
    const done = io(feed, 4, 'updatingInode', 'RESULT', 'done');
    const key = `${IO_A}#4`;
    expect(instance(feed.at(sent - 1), key)).toBeUndefined();
    expect(instance(feed.at(sent), key)).toEqual({
      key,
      machine: 'io-request',
      node: 'target-a',
      vdi: 'vol',
      label: 'io 4 write',
      state: 'sending',
      sinceSeq: sent,
      lastEvent: 'SEND',
      ended: false,
    });
    expect(instance(feed.at(written), key)?.state).toBe('updatingInode');
    expect(instance(feed.at(done), key)).toMatchObject({ state: 'done', ended: true, sinceSeq: done });
    expect(feed.at(written).t).toBe(written * 10);
  });

  test('only the newest ended io requests are kept; running ones always are', () => {
    const feed = new Feed({ endedIoLimit: 2 });
    io(feed, 1, 'planned', 'SEND', 'sending');
    for (const n of [2, 3, 4, 5]) {
      io(feed, n, 'planned', 'SEND', 'sending');
      io(feed, n, 'sending', 'RESULT', 'done');
    }
    const keys = feed.at().instances.map((state) => state.key);
    expect(keys).toEqual([`${IO_A}#1`, `${IO_A}#4`, `${IO_A}#5`]);
    // Without sim.node the client runs in "collie".
    expect(feed.at().instances[0]!.node).toBe('collie');
  });

  test('a reused io number (a new incarnation) revives the ended instance', () => {
    const feed = new Feed();
    io(feed, 1, 'planned', 'SEND', 'sending');
    io(feed, 1, 'sending', 'RESULT', 'done');
    const again = io(feed, 1, 'planned', 'SEND', 'sending');
    expect(feed.projection.latest(`${IO_A}#1`)).toMatchObject({
      state: 'sending',
      ended: false,
      sinceSeq: again,
    });
  });

  test('iSCSI connections, logins and sessions go to the node of their portal, sessions apart by connection', () => {
    const feed = new Feed();
    feed.twoTargets();
    for (const [id, remote, local] of [
      ['mem:5:s', 'host:49152', 'target-a:3260'],
      ['mem:6:s', 'host:49153', 'target-b:3260'],
    ] as const) {
      feed.add(`iscsi/connection/${id}`, 'connection.opened', { remote, local });
      feed.add(`iscsi/login/${remote}`, 'login.stepped', {
        from: 'securityNegotiation',
        to: 'operationalNegotiation',
      });
      feed.add(`iscsi/login/${remote}`, 'login.stepped', {
        from: 'operationalNegotiation',
        to: 'fullFeature',
      });
      feed.add(`iscsi/login/${remote}`, 'login.completed', {});
      // Both target servers number their first session 1.
      feed.add('iscsi/session/1', 'session.created', { initiator: 'iqn.h', connection: id });
      feed.add(`iscsi/connection/${id}`, 'connection.transition', {
        from: 'inLogin',
        to: 'fullFeature',
        event: 'LOGGED_IN',
      });
    }
    const opened = feed.at();
    const nodes = Object.fromEntries(opened.instances.map((state) => [state.key, [state.node, state.state]]));
    expect(nodes).toEqual({
      'iscsi/login/host:49152': ['target-a', 'fullFeature'],
      'iscsi/login/host:49153': ['target-b', 'fullFeature'],
      'iscsi/connection/mem:5:s': ['target-a', 'fullFeature'],
      'iscsi/connection/mem:6:s': ['target-b', 'fullFeature'],
      'iscsi/session/1#mem:5:s': ['target-a', 'loggedIn'],
      'iscsi/session/1#mem:6:s': ['target-b', 'loggedIn'],
    });
    feed.add('iscsi/connection/mem:5:s', 'connection.transition', {
      from: 'fullFeature',
      to: 'free',
      event: 'DROPPED',
    });
    feed.add('iscsi/connection/mem:5:s', 'connection.closed', { kind: 'reset' });
    feed.add('iscsi/session/1', 'session.transition', {
      from: 'loggedIn',
      to: 'failed',
      event: 'CONNECTION_LOST',
      connection: 'mem:5:s',
    });
    const later = feed.at();
    expect(instance(later, 'iscsi/session/1#mem:5:s')).toMatchObject({ state: 'failed', node: 'target-a' });
    expect(instance(later, 'iscsi/session/1#mem:6:s')).toMatchObject({ state: 'loggedIn', ended: false });
    expect(instance(later, 'iscsi/connection/mem:5:s')).toMatchObject({ state: 'free', ended: true });
  });

  test("collie up --nodes 2: node.defined places each node's client and connections", () => {
    const feed = new Feed();
    for (const id of [1, 2]) {
      feed.add(`node/node-${id}`, 'node.defined', {
        node: `node-${id}`,
        portal: `127.0.0.1:${3259 + id}`,
        storeEndpoint: `127.0.0.1:${6999 + id}`,
      });
    }
    feed.add('sheepdog/vol0@127.0.0.1:7001/io', 'io.transition', {
      io: 1,
      op: 'read',
      from: 'planned',
      event: 'SEND',
      to: 'sending',
    });
    feed.add('iscsi/connection/c1', 'connection.opened', {
      remote: '127.0.0.1:50000',
      local: '127.0.0.1:3260',
    });
    const snapshot = feed.at();
    expect(instance(snapshot, 'sheepdog/vol0@127.0.0.1:7001/io#1')?.node).toBe('node-2');
    expect(instance(snapshot, 'iscsi/connection/c1')?.node).toBe('node-1');
  });

  test('a login whose connection closed mid-negotiation ends where it stood', () => {
    const feed = new Feed();
    feed.add('iscsi/connection/c1', 'connection.opened', { remote: 'h:1', local: '127.0.0.1:3260' });
    feed.add('iscsi/login/h:1', 'login.stepped', {
      from: 'securityNegotiation',
      to: 'operationalNegotiation',
    });
    feed.add('iscsi/connection/c1', 'connection.transition', {
      from: 'inLogin',
      to: 'free',
      event: 'CLOSED',
    });
    feed.add('iscsi/connection/c1', 'connection.closed', { kind: 'end' });
    expect(feed.projection.latest('iscsi/login/h:1')).toMatchObject({
      state: 'operationalNegotiation',
      ended: true,
      node: 'collie',
    });
  });

  test('nested state values become paths', () => {
    const feed = new Feed();
    feed.add('iscsi/connection/c1', 'connection.transition', {
      from: 'inLogin',
      to: { fullFeature: 'idle' },
      event: 'X',
    });
    expect(feed.projection.latest('iscsi/connection/c1')?.state).toBe('fullFeature.idle');
  });
});

describe('projection: the coherence matrix', () => {
  test('with participants: each node that took part, its state, null once it left', () => {
    const feed = new Feed();
    feed.twoTargets();
    feed.add(VDI, 'vdi.created', { name: 'vol' });
    feed.add(VDI, 'coherence.joined', { node: 'store:7000', state: 'modified' });
    const locked = feed.add(VDI, 'lock.acquired', { node: 'store:7000', type: 'shared', state: 'shared' });
    feed.add(VDI, 'coherence.joined', { node: 'store:7001', state: 'invalidated' });
    feed.add(VDI, 'lock.acquired', { node: 'store:7001', type: 'shared', state: 'shared' });
    const validated = feed.add(VDI, 'coherence.validated', {
      by: 'store:7001',
      states: { 'store:7000': 'shared', 'store:7001': 'shared' },
    });
    const left = feed.add(VDI, 'coherence.left', { node: 'store:7000' });
    feed.add(VDI, 'lock.node_left', { node: 'store:7000', state: 'shared' });

    expect(feed.at(locked).coherence).toEqual([
      {
        vdi: 'vol',
        vid: '00abcd',
        cells: [{ node: 'target-a', endpoint: 'store:7000', participant: 'modified' }],
      },
    ]);
    const cells = (seq: number) =>
      feed.at(seq).coherence[0]!.cells.map((cell) => [cell.node, cell.participant]);
    expect(cells(validated)).toEqual([
      ['target-a', 'shared'],
      ['target-b', 'shared'],
    ]);
    expect(cells(left)).toEqual([
      ['target-a', null],
      ['target-b', 'shared'],
    ]);
    const participant = instance(feed.at(validated), `${VDI}#store:7001`);
    expect(participant).toMatchObject({
      machine: 'participant',
      node: 'target-b',
      vdi: 'vol',
      state: 'shared',
      lastEvent: 'LOCAL_REFRESH',
    });
    expect(instance(feed.at(validated), `${VDI}#store:7000`)?.lastEvent).toBe('PEER_REFRESH');
    expect(instance(feed.at(), VDI)).toMatchObject({ machine: 'vdi-lock', node: 'store', state: 'shared' });
  });

  test('without participants (coherence off): the nodes come from the clients, participant null', () => {
    const feed = new Feed();
    feed.twoTargets();
    for (const actor of [INODE_A, INODE_B]) {
      feed.add(actor, 'inode.transition', {
        from: 'loading',
        event: 'LOADED',
        to: 'shared',
        vid: '0xabcd',
        generation: 1,
      });
    }
    expect(feed.at().coherence).toEqual([
      {
        vdi: '00abcd',
        vid: '00abcd',
        cells: [
          { node: 'target-a', endpoint: 'store:7000', participant: null },
          { node: 'target-b', endpoint: 'store:7001', participant: null },
        ],
      },
    ]);
    expect(instance(feed.at(), INODE_A)).toMatchObject({
      machine: 'inode-view',
      node: 'target-a',
      vdi: 'vol',
    });
  });

  test('the last participant leaving and the unlock forget the VDI lock', () => {
    const feed = new Feed();
    feed.add(VDI, 'coherence.joined', { node: 'n1', state: 'modified' });
    feed.add(VDI, 'lock.acquired', { node: 'n1', type: 'shared', state: 'shared' });
    feed.add(VDI, 'coherence.left', { node: 'n1' });
    feed.add(VDI, 'lock.released', { node: 'n1', type: 'shared', state: 'unlocked' });
    expect(feed.projection.latest(VDI)).toMatchObject({
      state: 'unlocked',
      ended: true,
      lastEvent: 'RELEASE_SHARED',
    });
    // Outside the simulator a participant is named by its store endpoint.
    expect(feed.projection.latest(`${VDI}#n1`)).toMatchObject({ node: 'n1', state: null, ended: true });
  });
});

describe('projection: crashed simulated nodes', () => {
  test("a crash ends the node's machines; its code's late events move them until the node starts again", () => {
    const feed = new Feed();
    feed.twoTargets();
    feed.add(INODE_A, 'inode.transition', { from: 'loading', event: 'LOADED', to: 'shared', vid: '0xabcd' });
    feed.add(INODE_B, 'inode.transition', { from: 'loading', event: 'LOADED', to: 'shared', vid: '0xabcd' });
    const crashed = feed.add('sim/target-a', 'sim.target_crashed', { mode: 'kill' });
    expect(instance(feed.at(crashed), INODE_A)).toMatchObject({ state: 'shared', ended: true });
    expect(instance(feed.at(crashed), INODE_B)?.ended).toBe(false);
    feed.add(INODE_A, 'inode.transition', {
      from: 'shared',
      event: 'RELOAD_NEEDED',
      to: 'reloading',
      zombie: 'target-a#0',
    });
    expect(feed.projection.latest(INODE_A)).toMatchObject({ state: 'reloading', ended: true });
    feed.add('sim/target-a', 'sim.node', {
      node: 'target-a',
      incarnation: 1,
      host: 'target-a',
      portal: 'target-a:3260',
      storeEndpoint: 'store:7000',
    });
    // The old incarnation's chatter no longer moves the name, which is the new incarnation's now.
    feed.add(INODE_A, 'inode.transition', {
      from: 'reloading',
      event: 'RELOAD_FAILED',
      to: 'invalidated',
      zombie: 'target-a#0',
    });
    expect(feed.projection.latest(INODE_A)).toMatchObject({ state: 'reloading', ended: true });
    const loaded = feed.add(INODE_A, 'inode.transition', {
      from: 'loading',
      event: 'LOADED',
      to: 'shared',
      vid: '0xabcd',
    });
    expect(feed.projection.latest(INODE_A)).toMatchObject({
      state: 'shared',
      ended: false,
      sinceSeq: loaded,
    });
  });
});

describe('projection: bounds and the past', () => {
  test('with a history limit, old transitions go and a snapshot before them leaves the instance out', () => {
    const feed = new Feed({ historyLimit: 3 });
    const states = ['shared', 'modified'];
    const seqs: number[] = [];
    for (let index = 0; index < 10; index++) {
      seqs.push(
        feed.add(INODE_A, 'inode.transition', {
          from: states[(index + 1) % 2],
          event: 'E',
          to: states[index % 2],
          vid: '0xabcd',
        }),
      );
    }
    expect(feed.projection.latest(INODE_A)?.state).toBe('modified');
    expect(instance(feed.at(seqs[9]!), INODE_A)?.state).toBe('modified');
    expect(instance(feed.at(seqs[8]!), INODE_A)?.state).toBe('shared');
    expect(instance(feed.at(seqs[0]!), INODE_A)).toBeUndefined();
  });

  test('with a history limit, at most that many other ended instances are kept', () => {
    const feed = new Feed({ historyLimit: 2 });
    for (let id = 1; id <= 5; id++) {
      feed.add(`iscsi/connection/c${id}`, 'connection.opened', { remote: `h:${id}` });
      feed.add(`iscsi/connection/c${id}`, 'connection.transition', {
        from: 'inLogin',
        to: 'free',
        event: 'CLOSED',
      });
    }
    feed.add('iscsi/connection/c6', 'connection.opened', { remote: 'h:6' });
    expect(feed.at().instances.map((state) => state.key)).toEqual([
      'iscsi/connection/c4',
      'iscsi/connection/c5',
      'iscsi/connection/c6',
    ]);
  });

  test('snapshotAt in the past gives the states then; seqs already applied are ignored', () => {
    const feed = new Feed();
    feed.twoTargets();
    const first = io(feed, 1, 'planned', 'SEND', 'sending');
    io(feed, 1, 'sending', 'RESULT', 'failed');
    const second = io(feed, 2, 'planned', 'SEND', 'sending');
    expect(feed.at(first).instances.map((state) => [state.key, state.state])).toEqual([
      [`${IO_A}#1`, 'sending'],
    ]);
    expect(feed.at(second).instances.map((state) => [state.key, state.state])).toEqual([
      [`${IO_A}#1`, 'failed'],
      [`${IO_A}#2`, 'sending'],
    ]);
    expect(feed.at(first)).toMatchObject({ seq: first, t: first * 10 });
    feed.projection.apply({
      seq: first,
      t: 0,
      actor: IO_A,
      type: 'io.transition',
      data: { io: 9, from: 'planned', to: 'sending' },
    });
    expect(feed.projection.latest(`${IO_A}#9`)).toBeUndefined();
    expect(feed.projection.firstSeq).toBe(1);
    expect(feed.projection.lastSeq).toBe(second);
  });
});

describe('projection: violations and the rule table', () => {
  test('check.violation events are collected in order', () => {
    const feed = new Feed();
    feed.add('sim/run', 'sim.finished', {});
    const seq = feed.add('check/register', 'check.violation', {
      checker: 'register',
      kind: 'stale-read',
      message: 'stale read: host read block 7',
      evidenceSeqs: [1, 1],
    });
    const second = feed.add('check/liveness', 'check.violation', {
      checker: 'liveness',
      kind: 'read-back-failed',
      message: 'failed',
    });
    expect(feed.projection.violations()).toEqual([
      {
        seq,
        checker: 'register',
        kind: 'stale-read',
        message: 'stale read: host read block 7',
        evidenceSeqs: [1, 1],
      },
      { seq: second, checker: 'liveness', kind: 'read-back-failed', message: 'failed' },
    ]);
  });

  test('every machine but the SCSI task (not logged per state) has a rule', () => {
    const fed = new Set(PROJECTION_RULES.map((rule) => rule.machine));
    expect(MACHINE_IDS.filter((id) => !fed.has(id))).toEqual(['scsi-task']);
  });

  test('snapshotAt stays cheap on a long log', () => {
    const feed = new Feed();
    feed.twoTargets();
    for (let n = 1; n <= 25_000; n++) {
      io(feed, n, 'planned', 'SEND', 'sending');
      io(feed, n, 'sending', 'RESULT', 'updatingInode');
      io(feed, n, 'updatingInode', 'RESULT', 'done');
      if (n % 5 === 0) feed.add(INODE_A, 'inode.transition', { from: 'x', event: 'E', to: `s${n % 2}` });
    }
    expect(feed.seq).toBeGreaterThan(75_000);
    const start = performance.now();
    for (let step = 0; step < 200; step++) feed.at(Math.floor((feed.seq * step) / 200));
    expect(performance.now() - start).toBeLessThan(2_000);
  });
});
