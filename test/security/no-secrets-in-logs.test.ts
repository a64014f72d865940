/**
 * Goal: no CHAP secret and no CHAP_R or CHAP_C value ever reaches the logs or the event log, at
 * trace level, whether logins succeed, fail, are rate-limited, or use a secret changed at run time
 * (which the logger's redaction list, built from the start-up config, does not know).
 * Method: the production target (security-world.ts) with a trace-level logger that is given no
 * secrets to redact, so only what the code chooses to log is there; mutual CHAP logins, a
 * rotated secret, wrong secrets until the rate limit refuses, and a discovery session; then every
 * secret and every CHAP_R/CHAP_C value recorded on the wire is searched for in the logs and events.
 */
import { describe, expect, test } from 'vitest';
import { chapValuesOnWire, INITIATOR_NAME, memoryTarget, securityWorld } from './security-world.js';

const IQN = 'iqn.2026-01.test.collie:mutual';
const ALICE = { user: 'alice', secret: 'alice-secret-16b' };
const TARGET_ACCOUNT = { user: 'collie', secret: 'collie-secret-16' };
const ROTATED = { user: 'alice', secret: 'rotated-secret-77' };
const ROTATED_TARGET = { user: 'collie', secret: 'rotated-target-88' };
const WRONG = 'not-the-secret-9';

describe('secrets in logs', () => {
  test('a CHAP session of every kind leaves no secret and no CHAP_R/CHAP_C value in logs or events', async () => {
    const world = await securityWorld({
      targets: [memoryTarget(IQN, { chap: ALICE, mutualChap: TARGET_ACCOUNT })],
    });
    const chap = (account: { user: string; secret: string }, mutual: { user: string; secret: string }) => ({
      user: account.user,
      secret: account.secret,
      mutual,
    });
    expect(await world.loginStatus({ targetName: IQN, chap: chap(ALICE, TARGET_ACCOUNT) })).toBe(0);
    world.service.setChap(IQN, { ...ROTATED, mutual: ROTATED_TARGET });
    expect(await world.loginStatus({ targetName: IQN, chap: chap(ROTATED, ROTATED_TARGET) })).toBe(0);
    for (let k = 0; k < 5; k++) {
      expect(
        await world.loginStatus({
          targetName: IQN,
          chap: chap({ ...ROTATED, secret: WRONG }, ROTATED_TARGET),
        }),
      ).toBe(0x0201);
    }
    // Refused by the rate limit now, even with the right secret, and so is discovery.
    expect(await world.loginStatus({ targetName: IQN, chap: chap(ROTATED, ROTATED_TARGET) })).toBe(0x0201);
    await expect(world.discover()).rejects.toMatchObject({ status: 0x0201 });
    await world.run(5_000);
    expect(await world.discover()).toEqual([IQN]);
    await world.close();

    const values = chapValuesOnWire(world.wire);
    // Two mutual logins (4 values each) and five one-sided failures (CHAP_C from the target, the
    // initiator's CHAP_R and CHAP_C): the search below is not vacuous.
    expect(values.length).toBeGreaterThanOrEqual(4 * 2 + 3 * 5);
    const logs = world.logText();
    const events = world.eventText();
    // The logs are not empty: the refusals and the rate limit are there, by user and initiator.
    expect(logs).toContain('refused a login');
    expect(logs).toContain(`initiator \\"${INITIATOR_NAME}\\" is blocked for 5 s`);
    expect(events).toContain('login.stepped');
    expect(events).toContain('"CHAP_R"');
    for (const secret of [ALICE, TARGET_ACCOUNT, ROTATED, ROTATED_TARGET]
      .map((a) => a.secret)
      .concat(WRONG)) {
      expect(logs).not.toContain(secret);
      expect(events).not.toContain(secret);
    }
    for (const value of values) {
      for (const spelling of [value, value.toLowerCase(), value.toUpperCase()]) {
        expect(logs, `CHAP value ${value} in the logs`).not.toContain(spelling);
        expect(events, `CHAP value ${value} in the events`).not.toContain(spelling);
      }
    }
  });
});
