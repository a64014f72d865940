/**
 * Goal: the production target rate-limits failed logins: after 5 wrong CHAP secrets the initiator
 * is refused 0x0201 even with the right one, other initiators are not, the block ends after its
 * 5 s; 10 ACL refusals block the address; and a flood of refused logins writes a bounded number
 * of rate-limit log lines.
 * Method: the production target (startTargetService via security-world.ts) in virtual time;
 * simulated initiators log in with right and wrong secrets; the log is read back.
 */
import { describe, expect, test } from 'vitest';
import { INITIATOR_NAME, memoryTarget, securityWorld } from './security-world.js';

const CHAP_IQN = 'iqn.2026-01.test.collie:chap';
const ACL_IQN = 'iqn.2026-01.test.collie:acl';
const OPEN_IQN = 'iqn.2026-01.test.collie:open';
const ALICE = { user: 'alice', secret: 'alice-secret-16b' };
const WRONG = { user: 'alice', secret: 'not-the-secret-9' };
const TARGETS = [
  memoryTarget(CHAP_IQN, { chap: ALICE }),
  memoryTarget(ACL_IQN, { initiators: ['iqn.2026-01.test.collie:only-this-one'] }),
  memoryTarget(OPEN_IQN),
];

/** Log lines written by the login rate limit. */
function rateLimitLines(logs: string): string[] {
  return logs
    .split('\n')
    .filter((line) => line.includes('login rate limit') || line.includes('is blocked for'));
}

describe('login rate limit of the target', () => {
  test('5 wrong secrets block the initiator for 5 s; others may log in meanwhile', async () => {
    const world = await securityWorld({ targets: TARGETS });
    for (let k = 0; k < 5; k++)
      expect(await world.loginStatus({ targetName: CHAP_IQN, chap: WRONG })).toBe(0x0201);
    expect(await world.loginStatus({ targetName: CHAP_IQN, chap: ALICE })).toBe(0x0201);
    expect(world.logText()).toContain(`initiator \\"${INITIATOR_NAME}\\" is blocked for 5 s`);
    expect(world.eventText()).toContain(`initiator \\"${INITIATOR_NAME}\\" is refused for another 5 s`);
    expect(
      await world.loginStatus({
        targetName: CHAP_IQN,
        chap: ALICE,
        initiatorName: 'iqn.2026-01.test.collie:colleague',
        host: '10.0.0.2',
      }),
    ).toBe(0);
    await world.run(5_000);
    expect(await world.loginStatus({ targetName: CHAP_IQN, chap: ALICE })).toBe(0);
    await world.close();
  });

  test('10 ACL refusals from one address block it, for every target', async () => {
    const world = await securityWorld({ targets: TARGETS });
    for (let k = 0; k < 10; k++) expect(await world.loginStatus({ targetName: ACL_IQN })).toBe(0x0202);
    expect(await world.loginStatus({ targetName: OPEN_IQN })).toBe(0x0201);
    expect(await world.loginStatus({ targetName: OPEN_IQN, host: '10.0.0.3' })).toBe(0);
    await world.close();
  });

  test('a flood of refused logins writes at most one rate-limit line per initiator per minute', async () => {
    const world = await securityWorld({ targets: TARGETS });
    for (let k = 0; k < 5; k++) await world.loginStatus({ targetName: CHAP_IQN, chap: WRONG });
    for (let k = 0; k < 200; k++) {
      expect(await world.loginStatus({ targetName: CHAP_IQN, chap: ALICE })).toBe(0x0201);
    }
    expect(rateLimitLines(world.logText())).toHaveLength(1);
    await world.close();
  });
});
