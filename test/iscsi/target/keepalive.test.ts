/**
 * Goal: the target's keepalive (iscsi-connection.ts): a connection idle for nopIntervalMs gets a
 * NOP-In ping; an initiator that answers keeps its connection; one that does not is dropped
 * nopTimeoutMs after the ping; traffic in between postpones the ping (the target only notes the
 * time of received bytes, its one timer sleeps again for the rest of the interval).
 * Method: the target world in virtual time. The simulated initiator records when target pings
 * (NOP-In with the reserved Initiator Task Tag) arrive, answers them or not (hooks.answerNopIn),
 * and its own NOP-Out pings are the traffic.
 */
import { describe, expect, test } from 'vitest';
import type { IscsiInitiator } from '../../../sim/initiator/iscsi-initiator.js';
import { RESERVED_TAG } from '../../../src/iscsi/pdu/opcodes.js';
import { targetWorld, type World } from './target-world.js';

const INTERVAL_MS = 1_000;
const TIMEOUT_MS = 1_500;
/** Virtual network delays are small; a ping or a drop may come this much late. */
const SLACK_MS = 100;

interface Watched {
  readonly pingTimesMs: number[];
  closedAtMs: number | undefined;
}

function watch(world: World, initiator: IscsiInitiator, answer: boolean): Watched {
  const watched: Watched = { pingTimesMs: [], closedAtMs: undefined };
  initiator.hooks = {
    answerNopIn: answer,
    incoming: (pdu) => {
      if (pdu.kind === 'nop-in' && pdu.initiatorTaskTag === RESERVED_TAG)
        watched.pingTimesMs.push(world.clock.now());
    },
  };
  void initiator.closed.then(() => {
    watched.closedAtMs = world.clock.now();
  });
  return watched;
}

describe('keepalive', () => {
  test('an idle initiator that answers is pinged once per interval and stays connected', async () => {
    const world = await targetWorld({ nopIntervalMs: INTERVAL_MS, nopTimeoutMs: TIMEOUT_MS });
    const initiator = await world.login();
    const watched = watch(world, initiator, true);
    const startMs = world.clock.now();
    await world.run(10 * INTERVAL_MS);
    expect(watched.closedAtMs).toBeUndefined();
    expect(watched.pingTimesMs.length).toBeGreaterThanOrEqual(9);
    expect(watched.pingTimesMs[0]! - startMs).toBeGreaterThanOrEqual(INTERVAL_MS - SLACK_MS);
    for (let i = 1; i < watched.pingTimesMs.length; i++) {
      const gapMs = watched.pingTimesMs[i]! - watched.pingTimesMs[i - 1]!;
      expect(gapMs).toBeGreaterThanOrEqual(INTERVAL_MS);
      expect(gapMs).toBeLessThan(INTERVAL_MS + SLACK_MS);
    }
    await world.close();
  });

  test('an initiator that never answers is dropped nopTimeoutMs after the ping', async () => {
    const world = await targetWorld({ nopIntervalMs: INTERVAL_MS, nopTimeoutMs: TIMEOUT_MS });
    const initiator = await world.login();
    const watched = watch(world, initiator, false);
    const startMs = world.clock.now();
    await world.run(INTERVAL_MS + TIMEOUT_MS + 2 * SLACK_MS);
    expect(watched.pingTimesMs).toHaveLength(1);
    expect(watched.closedAtMs).toBeDefined();
    const pingAfterMs = watched.pingTimesMs[0]! - startMs;
    expect(pingAfterMs).toBeGreaterThanOrEqual(INTERVAL_MS - SLACK_MS);
    expect(watched.closedAtMs! - watched.pingTimesMs[0]!).toBeGreaterThanOrEqual(TIMEOUT_MS - SLACK_MS);
    await world.close();
  });

  test('traffic more often than the interval postpones the ping; silence then brings ping and drop', async () => {
    const world = await targetWorld({ nopIntervalMs: INTERVAL_MS, nopTimeoutMs: TIMEOUT_MS });
    const initiator = await world.login();
    const watched = watch(world, initiator, false);
    for (let i = 0; i < 8; i++) {
      await world.run(0.6 * INTERVAL_MS);
      await world.settle(initiator.ping());
    }
    const lastTrafficMs = world.clock.now();
    expect(watched.pingTimesMs).toEqual([]);
    expect(watched.closedAtMs).toBeUndefined();
    await world.run(INTERVAL_MS + TIMEOUT_MS + 2 * SLACK_MS);
    expect(watched.pingTimesMs).toHaveLength(1);
    expect(watched.pingTimesMs[0]! - lastTrafficMs).toBeGreaterThanOrEqual(INTERVAL_MS - SLACK_MS);
    expect(watched.pingTimesMs[0]! - lastTrafficMs).toBeLessThan(INTERVAL_MS + SLACK_MS);
    expect(watched.closedAtMs).toBeDefined();
    await world.close();
  });
});
