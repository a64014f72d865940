/**
 * Goal: IscsiTargetServer.close() asks every full-feature connection to log out (Async Message,
 * AsyncEvent 1, Parameter3 = seconds, RFC 7143 §11.9.1), waits up to that long on the virtual
 * clock for the initiators to do so, then drops what remains.
 * Method: simulated initiators on the memory network; one logs out when asked
 * (`hooks.logoutWhenAsked`), one ignores the request; virtual time at close tells how long the
 * target waited.
 */
import { describe, expect, test } from 'vitest';
import type { IscsiInitiator } from '../../../sim/initiator/iscsi-initiator.js';
import { AsyncEvent } from '../../../src/iscsi/pdu/opcodes.js';
import { LOGOUT_REQUEST_SECONDS_DEFAULT } from '../../../src/iscsi/target/iscsi-target-server.js';
import { ready, targetWorld, type World } from './target-world.js';

function closedAt(world: World, initiator: IscsiInitiator) {
  return initiator.closed.then((closed) => ({ ...closed, atMs: world.clock.now() }));
}

function expectLogoutRequest(initiator: IscsiInitiator) {
  expect(initiator.asyncMessages).toHaveLength(1);
  expect(initiator.asyncMessages[0]).toMatchObject({
    asyncEvent: AsyncEvent.LOGOUT_REQUESTED,
    parameter3: LOGOUT_REQUEST_SECONDS_DEFAULT,
  });
}

describe('target shutdown asks the initiators to log out', () => {
  test('initiators that log out when asked: close ends as soon as they are gone', async () => {
    const world = await targetWorld();
    const first = await world.login();
    const second = await world.login({ host: '10.0.0.2' });
    for (const initiator of [first, second]) {
      await ready(world, initiator);
      initiator.hooks = { logoutWhenAsked: true };
    }
    const startMs = world.clock.now();
    const closes = [closedAt(world, first), closedAt(world, second)];
    await world.close();
    expect(world.clock.now() - startMs).toBeLessThan(LOGOUT_REQUEST_SECONDS_DEFAULT * 1000);
    for (const initiator of [first, second]) expectLogoutRequest(initiator);
    for (const closed of await Promise.all(closes)) expect(closed.kind).toBe('logout');
    expect(first.violations).toEqual([]);
    expect(world.server.sessionCount).toBe(0);
  });

  test('an initiator that ignores the request is dropped after Parameter3 seconds', async () => {
    const world = await targetWorld();
    const polite = await world.login();
    const deaf = await world.login({ host: '10.0.0.2' });
    polite.hooks = { logoutWhenAsked: true };
    const startMs = world.clock.now();
    const politeClosed = closedAt(world, polite);
    const deafClosed = closedAt(world, deaf);
    await world.close();
    expectLogoutRequest(polite);
    expectLogoutRequest(deaf);
    const [early, late] = [await world.settle(politeClosed), await world.settle(deafClosed)];
    expect(early.kind).toBe('logout');
    expect(early.atMs - startMs).toBeLessThan(1000);
    expect(late.kind).not.toBe('logout');
    expect(late.atMs - startMs).toBeGreaterThanOrEqual(LOGOUT_REQUEST_SECONDS_DEFAULT * 1000);
    // The Async Message took a StatSN the initiator accepted without complaint.
    expect(deaf.violations).toEqual([]);
    expect(world.server.sessionCount).toBe(0);
  });

  test('the production assembly (startTargetService) asks too', async () => {
    const world = await targetWorld({ service: true });
    const initiator = await world.login();
    initiator.hooks = { logoutWhenAsked: true };
    const closed = closedAt(world, initiator);
    await world.close();
    expectLogoutRequest(initiator);
    expect((await world.settle(closed)).kind).toBe('logout');
  });
});
