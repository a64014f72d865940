/**
 * Goal: the lock table reproduces sheep 1.0's lock and coherence rules exactly (the state
 * transition summary of the protocol reference, §7 and §8.4), including the scenario timeline of
 * the seed's failover (§8.5). Method: drive the table with the calls the store makes and check
 * every participant's state after each step, plus the event log it writes. The table's machines
 * take their events from one stream, `inputs$`: watched, it shows each input after its machine
 * moved, and before the log entry of the change.
 */
import { describe, expect, test } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { EventLog } from '../../src/core/event-log.js';
import { LockTable, type LockTableInput } from '../../src/store/lock-table.js';

const V = 0x7c2b25;
const A = '127.0.0.1:7000';
const B = '127.0.0.1:7001';
const C = '127.0.0.1:7002';

const frozenClock: Clock = { now: () => 0, setTimeout: () => 0, clearTimeout: () => undefined };

function table(enabled = true) {
  const eventLog = new EventLog(frozenClock);
  const events: string[] = [];
  eventLog.events$.subscribe((event) => events.push(event.type));
  return { locks: new LockTable({ eventLog, enabled }), events };
}

function states(locks: LockTable) {
  return Object.fromEntries(locks.view(V).participants.map((p) => [p.node, p.state]));
}

describe('shared locks (tgt)', () => {
  test('the first participant joins MODIFIED, a later one INVALIDATED while someone is MODIFIED', () => {
    const { locks } = table();
    expect(locks.lock(V, A, 'shared')).toBe('ok');
    expect(states(locks)).toEqual({ [A]: 'modified' });
    expect(locks.lock(V, B, 'shared')).toBe('ok');
    expect(states(locks)).toEqual({ [A]: 'modified', [B]: 'invalidated' });
  });

  test('a participant joins SHARED when nobody is MODIFIED', () => {
    const { locks } = table();
    locks.lock(V, A, 'shared');
    locks.lock(V, B, 'shared');
    locks.validate(V, B);
    locks.lock(V, C, 'shared');
    expect(states(locks)).toEqual({ [A]: 'shared', [B]: 'shared', [C]: 'shared' });
  });

  test('the same node locking twice is refused, and so is a normal lock on a shared VDI', () => {
    const { locks } = table();
    locks.lock(V, A, 'shared');
    expect(locks.lock(V, A, 'shared')).toBe('locked');
    expect(locks.lock(V, B, 'normal')).toBe('locked');
  });

  test('at most 31 participants', () => {
    const { locks } = table();
    for (let port = 0; port < 31; port++) expect(locks.lock(V, `n:${port}`, 'shared')).toBe('ok');
    expect(locks.lock(V, 'n:31', 'shared')).toBe('locked');
  });

  test('release removes only the sender; the last release unlocks', () => {
    const { locks } = table();
    locks.lock(V, A, 'shared');
    locks.lock(V, B, 'shared');
    locks.release(V, A, 'shared');
    expect(states(locks)).toEqual({ [B]: 'invalidated' });
    locks.release(V, B, 'shared');
    expect(locks.view(V).state).toBe('unlocked');
    expect(locks.lock(V, A, 'normal')).toBe('ok');
  });

  test('a node leaving drops it from every VDI it participates in', () => {
    const { locks } = table();
    locks.lock(V, A, 'shared');
    locks.lock(V, B, 'shared');
    locks.lock(V + 1, A, 'shared');
    locks.nodeLeft(A);
    expect(states(locks)).toEqual({ [B]: 'invalidated' });
    expect(locks.view(V + 1).state).toBe('unlocked');
  });
});

describe('normal locks (qemu)', () => {
  test('a second normal lock fails, even through the same node; release does not check the owner', () => {
    const { locks } = table();
    expect(locks.lock(V, A, 'normal')).toBe('ok');
    expect(locks.lock(V, A, 'normal')).toBe('locked');
    expect(locks.lock(V, B, 'shared')).toBe('locked');
    locks.release(V, B, 'normal');
    expect(locks.view(V).state).toBe('unlocked');
  });
});

describe('inode coherence', () => {
  test('the seed failover timeline (§8.5)', () => {
    const { locks, events } = table();
    locks.lock(V, A, 'shared'); // 1
    expect(locks.validate(V, A)).toBe(false); // 2: refresh read by a MODIFIED node changes nothing
    locks.lock(V, B, 'shared'); // 3
    expect(locks.isInvalidated(V, B)).toBe(true); // 3b: B's TGT I/O would get 0x1D
    expect(locks.validate(V, B)).toBe(true); // 4: B's refresh read
    expect(states(locks)).toEqual({ [A]: 'shared', [B]: 'shared' });
    expect(locks.invalidateOthers(V, A)).toBe(true); // 6: A's data_vdi_id update
    expect(states(locks)).toEqual({ [A]: 'modified', [B]: 'invalidated' });
    expect(locks.invalidateOthers(V, A)).toBe(false); // a MODIFIED writer sends nothing more
    // 7: A dies; nothing changes. 8a: B's probe is refused, 8b: B reloads.
    expect(locks.isInvalidated(V, B)).toBe(true);
    expect(locks.validate(V, B)).toBe(true);
    expect(states(locks)).toEqual({ [A]: 'shared', [B]: 'shared' });
    expect(events).toContain('coherence.invalidated');
    expect(events).toContain('coherence.validated');
  });

  test('a refresh by one invalidated node leaves another invalidated node invalidated', () => {
    const { locks } = table();
    locks.lock(V, A, 'shared');
    locks.lock(V, B, 'shared');
    locks.lock(V, C, 'shared');
    expect(states(locks)).toEqual({ [A]: 'modified', [B]: 'invalidated', [C]: 'invalidated' });
    locks.validate(V, B);
    expect(states(locks)).toEqual({ [A]: 'shared', [B]: 'shared', [C]: 'invalidated' });
  });

  test('an invalidated node that writes without the TGT check becomes the single MODIFIED one', () => {
    const { locks } = table();
    locks.lock(V, A, 'shared');
    locks.lock(V, B, 'shared');
    expect(locks.invalidateOthers(V, B)).toBe(true);
    expect(states(locks)).toEqual({ [A]: 'invalidated', [B]: 'modified' });
  });

  test('a node that does not participate changes nothing', () => {
    const { locks } = table();
    locks.lock(V, A, 'shared');
    expect(locks.invalidateOthers(V, C)).toBe(false);
    expect(locks.validate(V, C)).toBe(false);
    expect(locks.isInvalidated(V, C)).toBe(false);
    expect(states(locks)).toEqual({ [A]: 'modified' });
  });

  test('with locking off every lock succeeds and no state exists', () => {
    const { locks } = table(false);
    expect(locks.lock(V, A, 'normal')).toBe('ok');
    expect(locks.lock(V, A, 'normal')).toBe('ok');
    expect(locks.lock(V, B, 'shared')).toBe('ok');
    expect(locks.isInvalidated(V, B)).toBe(false);
    expect(locks.views()).toEqual([]);
  });
});

describe('past sheep 1.0', () => {
  test('a VDI that becomes a snapshot invalidates every participant', () => {
    const { locks, events } = table();
    locks.lock(V, A, 'shared');
    locks.lock(V, B, 'shared');
    locks.validate(V, B);
    expect(locks.invalidateAll(V)).toBe(2);
    expect(states(locks)).toEqual({ [A]: 'invalidated', [B]: 'invalidated' });
    expect(events).toContain('coherence.snapshotted');
  });
});

describe('the input stream', () => {
  test('inputs pushed on inputs$ move the addressed machine, synchronously, before the change is logged', () => {
    const eventLog = new EventLog(frozenClock);
    const locks = new LockTable({ eventLog, enabled: true });
    const seen: string[] = [];
    eventLog.events$.subscribe((event) => seen.push(`log ${event.type}`));
    const stateOf = (input: LockTableInput) =>
      input.machine === 'vdi-lock'
        ? locks.view(input.vid).state
        : locks.participantState(input.vid, input.node);
    locks.inputs$.subscribe((input) => {
      const to = input.machine === 'participant' ? ` ${input.node}` : '';
      seen.push(`${input.machine}${to} ${input.event.type} -> ${stateOf(input)}`);
    });
    locks.lock(V, A, 'shared');
    locks.lock(V, B, 'shared');
    locks.validate(V, B);
    locks.invalidateOthers(V, B);
    locks.release(V, A, 'shared');
    expect(seen).toEqual([
      `log coherence.joined`,
      `vdi-lock LOCK_SHARED -> shared`,
      `log lock.acquired`,
      `log coherence.joined`,
      `vdi-lock LOCK_SHARED -> shared`,
      `log lock.acquired`,
      `participant ${A} PEER_REFRESH -> shared`,
      `participant ${B} LOCAL_REFRESH -> shared`,
      `log coherence.validated`,
      `participant ${A} PEER_INODE_WRITE -> invalidated`,
      `participant ${B} LOCAL_INODE_WRITE -> modified`,
      `log coherence.invalidated`,
      `log coherence.left`,
      `vdi-lock RELEASE_SHARED -> shared`,
      `log lock.released`,
    ]);
    expect(locks.view(V).participants).toEqual([{ node: B, state: 'modified' }]);
  });
});
