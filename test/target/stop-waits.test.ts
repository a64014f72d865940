/**
 * Goal: the graceful stop's two waits a config sets (YAML `stop:`, --drain-seconds,
 * --logout-seconds: TargetConfig.drainSeconds and logoutSeconds) reach the iSCSI server through
 * startTargetService: a command stuck in flight is waited for drainSeconds before the logout
 * request, the request's Parameter3 is logoutSeconds, and an initiator that ignores it is dropped
 * logoutSeconds later; 0 and 0 drop at once without asking. Left unset, the server's defaults.
 * Method: startTargetService on the memory network in virtual time; a simulated initiator whose
 * Data-Out PDUs are dropped keeps a WRITE in flight (the target waits for its data); the moments
 * of the Async Message and of the connection's end, from the start of close(), tell the waits.
 */

import { describe, expect, test } from 'vitest';
import { IscsiInitiator } from '../../sim/initiator/iscsi-initiator.js';
import { parseSense } from '../../sim/initiator/scsi-commands.js';
import { EventLog } from '../../src/core/event-log.js';
import { createLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { AsyncEvent } from '../../src/iscsi/pdu/opcodes.js';
import {
  DRAIN_SECONDS_DEFAULT,
  LOGOUT_REQUEST_SECONDS_DEFAULT,
} from '../../src/iscsi/target/iscsi-target-server.js';
import { TARGET_LIMITS_DEFAULTS } from '../../src/iscsi/target/target-limits.js';
import { parseBackingSpec } from '../../src/target/backing.js';
import type { TargetConfig } from '../../src/target/target-config.js';
import { startTargetService } from '../../src/target/target-service.js';
import { MemoryNetwork } from '../../transports/memory.js';
import type { Endpoint } from '../../transports/transport.js';

const PORTAL: Endpoint = { host: '192.168.0.10', port: 3260 };
const IQN = 'iqn.2026-01.test.collie:stop';

/** A target with these waits, one initiator logged in with a WRITE stuck in flight; close() timed. */
async function stopWith(waits: Pick<TargetConfig, 'drainSeconds' | 'logoutSeconds'>) {
  const clock = new VirtualClock(1_000_000);
  const eventLog = new EventLog(clock);
  const rng = createRng('stop-waits');
  const network = new MemoryNetwork({
    clock,
    rng: rng.fork('network'),
    eventLog,
    options: { delayMsMax: 1 },
  });
  const settle = <T>(promise: Promise<T>) => clock.settle(promise, { withinMs: 10 * 60_000 });
  const service = await settle(
    startTargetService(
      {
        portals: [PORTAL],
        targets: [{ iqn: IQN, luns: [{ lun: 0, backing: parseBackingSpec('mem:1M'), text: 'mem:1M' }] }],
        digests: 'allow',
        nopIntervalMs: 0,
        nopTimeoutMs: 15_000,
        ...waits,
      },
      {
        transport: network.transport(PORTAL.host),
        backendTransport: network.transport('backends'),
        clock,
        rng: rng.fork('target'),
        eventLog,
        logger: createLogger({ level: process.env.COLLIE_TEST_LOG ?? 'silent', clock }),
      },
    ),
  );
  const initiator = await settle(
    IscsiInitiator.login(network.transport('10.0.0.1'), PORTAL, {
      clock,
      initiatorName: 'iqn.2026-01.test.collie:initiator',
      eventLog,
      rng: rng.fork('initiator'),
      targetName: IQN,
      // Every byte of a WRITE waits for an R2T: dropping the Data-Out keeps it in flight.
      offer: { initialR2T: true, immediateData: false },
    }),
  );
  for (let attempt = 0; ; attempt++) {
    const result = await settle(initiator.testUnitReady(0));
    if (result.status === 0) break;
    expect(parseSense(result.sense)?.key, 'only a unit attention before GOOD').toBe(0x6);
    expect(attempt).toBeLessThan(3);
  }
  let asyncAtMs: number | undefined;
  initiator.hooks = {
    outgoing: (pdu) => (pdu.kind === 'data-out' ? [] : pdu),
    incoming: (pdu) => {
      if (pdu.kind === 'async-message') asyncAtMs ??= clock.now();
    },
  };
  const stuck = initiator.write(0, 0, Buffer.alloc(4096, 0xab), { blockSizeBytes: 512 }).then(
    () => 'answered',
    () => 'ended unanswered',
  );
  let closedAtMs: number | undefined;
  void initiator.closed.then(() => {
    closedAtMs = clock.now();
  });
  await clock.runUntilIdle({ stepsMax: 10_000, untilMs: clock.now() + 50 });
  expect(service.server.activeTaskCount).toBe(1);
  const startMs = clock.now();
  await settle(service.close());
  await settle(stuck);
  return {
    asyncAfterMs: asyncAtMs === undefined ? undefined : asyncAtMs - startMs,
    closedAfterMs: closedAtMs === undefined ? undefined : closedAtMs - startMs,
    asyncMessages: initiator.asyncMessages,
    stuck: await stuck,
  };
}

describe("the stop's waits reach the server (startTargetService)", () => {
  test('drainSeconds 5, logoutSeconds 4: drain 5 s, then a request for 4 s, then the drop', async () => {
    const stopped = await stopWith({ drainSeconds: 5, logoutSeconds: 4 });
    expect(stopped.asyncMessages).toHaveLength(1);
    expect(stopped.asyncMessages[0]).toMatchObject({
      asyncEvent: AsyncEvent.LOGOUT_REQUESTED,
      parameter3: 4,
    });
    expect(stopped.asyncAfterMs).toBeGreaterThanOrEqual(5_000);
    expect(stopped.asyncAfterMs).toBeLessThan(5_100);
    expect(stopped.closedAfterMs! - stopped.asyncAfterMs!).toBeGreaterThanOrEqual(4_000);
    expect(stopped.closedAfterMs! - stopped.asyncAfterMs!).toBeLessThan(4_100);
    expect(stopped.stuck).toBe('ended unanswered');
  });

  test('0 and 0: no drain, no request, the connection drops at once', async () => {
    const stopped = await stopWith({ drainSeconds: 0, logoutSeconds: 0 });
    expect(stopped.asyncMessages).toEqual([]);
    expect(stopped.closedAfterMs).toBeLessThan(100);
    expect(stopped.stuck).toBe('ended unanswered');
  });

  test('unset: the server defaults (3 s, 2 s)', async () => {
    const stopped = await stopWith({});
    expect(stopped.asyncMessages[0]?.parameter3).toBe(LOGOUT_REQUEST_SECONDS_DEFAULT);
    expect(stopped.asyncAfterMs).toBeGreaterThanOrEqual(DRAIN_SECONDS_DEFAULT * 1000);
    expect(stopped.asyncAfterMs).toBeLessThan(DRAIN_SECONDS_DEFAULT * 1000 + 100);
    expect(stopped.closedAfterMs! - stopped.asyncAfterMs!).toBeGreaterThanOrEqual(
      LOGOUT_REQUEST_SECONDS_DEFAULT * 1000,
    );
  });
});

describe('limits: reach the server', () => {
  test('a config limits: mapping is what the server enforces; keys left out keep their defaults', async () => {
    const clock = new VirtualClock(1_000_000);
    const eventLog = new EventLog(clock);
    const rng = createRng('limits-config');
    const network = new MemoryNetwork({ clock, rng: rng.fork('network'), eventLog });
    const service = await clock.settle(
      startTargetService(
        {
          portals: [PORTAL],
          targets: [{ iqn: IQN, luns: [{ lun: 0, backing: parseBackingSpec('mem:1M'), text: 'mem:1M' }] }],
          digests: 'allow',
          nopIntervalMs: 0,
          nopTimeoutMs: 15_000,
          limits: { sessionsPerTargetMax: 3, loginTimeoutMs: 5_000 },
        },
        {
          transport: network.transport(PORTAL.host),
          backendTransport: network.transport('backends'),
          clock,
          rng: rng.fork('target'),
          eventLog,
          logger: createLogger({ level: 'silent', clock }),
        },
      ),
      { withinMs: 60_000 },
    );
    try {
      expect(service.server.limits).toEqual({
        ...TARGET_LIMITS_DEFAULTS,
        sessionsPerTargetMax: 3,
        loginTimeoutMs: 5_000,
        nopIntervalMs: 0,
        nopTimeoutMs: 15_000,
      });
    } finally {
      await clock.settle(service.close(), { withinMs: 60_000 });
    }
  });
});
