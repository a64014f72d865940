/**
 * Goal: the connection and session machines allow the RFC 7143 paths Collie uses and log each
 * transition under a stable actor name. Method: drive actors started with startLoggedActor and
 * read the event log.
 */
import { describe, expect, test } from 'vitest';
import { iscsiConnectionMachine } from '../../machines/iscsi-connection.js';
import { iscsiSessionMachine } from '../../machines/iscsi-session.js';
import { EventLog } from '../../src/core/event-log.js';
import { MemoryRingSink } from '../../src/core/event-sinks.js';
import { startLoggedActor } from '../../src/core/machine-log.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';

function log() {
  const eventLog = new EventLog(new VirtualClock(0));
  const ring = new MemoryRingSink(100);
  eventLog.addSink(ring);
  return { eventLog, ring };
}

describe('iSCSI lifecycles', () => {
  test('a connection logs in, logs out and closes; each step is logged', () => {
    const { eventLog, ring } = log();
    const actor = startLoggedActor(iscsiConnectionMachine, {
      eventLog,
      actor: 'iscsi/connection/c1',
      type: 'connection.transition',
    });
    actor.send({ type: 'LOGGED_IN' });
    actor.send({ type: 'LOGOUT_REQUESTED' });
    actor.send({ type: 'CLOSED' });
    expect(actor.getSnapshot().status).toBe('done');
    expect(ring.toArray().map((event) => [event.actor, event.data])).toEqual([
      ['iscsi/connection/c1', { from: 'inLogin', to: 'fullFeature', event: 'LOGGED_IN' }],
      ['iscsi/connection/c1', { from: 'fullFeature', to: 'inLogout', event: 'LOGOUT_REQUESTED' }],
      ['iscsi/connection/c1', { from: 'inLogout', to: 'free', event: 'CLOSED' }],
    ]);
  });

  test('a failed login cannot reach full feature phase', () => {
    const { eventLog } = log();
    const actor = startLoggedActor(iscsiConnectionMachine, { eventLog, actor: 'c', type: 't' });
    actor.send({ type: 'LOGIN_FAILED' });
    actor.send({ type: 'LOGGED_IN' });
    expect(actor.getSnapshot().value).toBe('loginFailed');
  });

  test('a session ends through failure, reinstatement or logout', () => {
    const { eventLog } = log();
    for (const [event, middle] of [
      ['CONNECTION_LOST', 'failed'],
      ['REINSTATED', 'reinstated'],
      ['LOGOUT', 'loggingOut'],
    ] as const) {
      const actor = startLoggedActor(iscsiSessionMachine, {
        eventLog,
        actor: 's',
        type: 'session.transition',
      });
      actor.send({ type: event });
      expect(actor.getSnapshot().value).toBe(middle);
      actor.send({ type: 'CLOSED' });
      expect(actor.getSnapshot().status).toBe('done');
    }
  });
});
