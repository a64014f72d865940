/**
 * Goal: IscsiTargetServer.close() lets the commands in flight finish (bounded by drainSeconds)
 * before it asks the initiators to log out, keeps serving commands while it waits for the
 * logouts, and ends a command still stuck after the drain without ever answering it.
 * Method: LUN 0 behind a gate that holds commands; simulated initiators on the memory network;
 * close() runs while virtual time is stepped, and the moments of the write's answer and of the
 * Async Message are compared.
 */
import { describe, expect, test } from 'vitest';
import { IscsiInitiatorError } from '../../../sim/initiator/initiator-errors.js';
import type { CommandResult } from '../../../sim/initiator/iscsi-initiator.js';
import {
  DRAIN_SECONDS_DEFAULT,
  LOGOUT_REQUEST_SECONDS_DEFAULT,
} from '../../../src/iscsi/target/iscsi-target-server.js';
import { LunGate, pattern, ready, TARGET_IQN, targetWorld } from './target-world.js';

async function gatedWorld() {
  const gate = new LunGate();
  const world = await targetWorld({
    wrapLun: (iqn, lun, unit) => (iqn === TARGET_IQN && lun === 0 ? gate.wrap(unit) : unit),
  });
  const initiator = await world.login();
  await ready(world, initiator, 0);
  let asyncAtMs: number | undefined;
  initiator.hooks = {
    logoutWhenAsked: true,
    incoming: (pdu) => {
      if (pdu.kind === 'async-message') asyncAtMs ??= world.clock.now();
    },
  };
  return { gate, world, initiator, asyncAt: () => asyncAtMs };
}

function outcome(command: Promise<CommandResult>): Promise<CommandResult | unknown> {
  return command.catch((error: unknown) => error);
}

describe('target shutdown drains the commands in flight first', () => {
  test('a write in flight is answered before the logout request', async () => {
    const { gate, world, initiator, asyncAt } = await gatedWorld();
    gate.close();
    let answeredAtMs: number | undefined;
    const write = initiator.write(0, 8, pattern(4096, 7));
    void write.then(() => {
      answeredAtMs = world.clock.now();
    });
    await world.run(50);
    expect(gate.heldCount).toBe(1);
    const startMs = world.clock.now();
    const closing = world.server.close();
    await world.run(1000);
    // Still draining: no logout request while the write is in flight.
    expect(initiator.asyncMessages).toHaveLength(0);
    gate.open();
    expect((await world.settle(write)).status).toBe(0);
    await world.settle(closing);
    expect(asyncAt()).toBeDefined();
    expect(asyncAt()!).toBeGreaterThanOrEqual(answeredAtMs!);
    expect(world.clock.now() - startMs).toBeLessThan(DRAIN_SECONDS_DEFAULT * 1000);
    expect(world.server.sessionCount).toBe(0);
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  test('the drain is bounded: a stuck write is ended unanswered after drainSeconds', async () => {
    const { gate, world, initiator, asyncAt } = await gatedWorld();
    gate.close();
    const write = outcome(initiator.write(0, 8, pattern(4096, 8)));
    await world.run(50);
    const startMs = world.clock.now();
    await world.settle(world.server.close());
    expect(asyncAt()! - startMs).toBeGreaterThanOrEqual(DRAIN_SECONDS_DEFAULT * 1000);
    expect(asyncAt()! - startMs).toBeLessThan((DRAIN_SECONDS_DEFAULT + 1) * 1000);
    // The initiator logged out when asked; the target terminated the write (RFC 7143 §11.14).
    const ended = await world.settle(write);
    expect(ended).toBeInstanceOf(IscsiInitiatorError);
    expect(gate.heldCount).toBe(0);
    expect(world.server.sessionCount).toBe(0);
    await world.close();
  });

  test('commands keep being served while the target waits for the logout', async () => {
    const world = await targetWorld();
    const initiator = await world.login();
    await ready(world, initiator, 0);
    let during: Promise<CommandResult> | undefined;
    initiator.hooks = {
      incoming: (pdu) => {
        if (pdu.kind === 'async-message') during ??= initiator.write(0, 16, pattern(4096, 9));
      },
    };
    const startMs = world.clock.now();
    const closing = world.server.close();
    await world.run(100);
    expect(during).toBeDefined();
    expect((await world.settle(during!)).status).toBe(0);
    await world.settle(initiator.logout());
    await world.settle(closing);
    expect(world.clock.now() - startMs).toBeLessThan(LOGOUT_REQUEST_SECONDS_DEFAULT * 1000);
    expect(initiator.violations).toEqual([]);
    await world.close();
  });
});
