/**
 * Goal: discovery shows an initiator exactly the targets it may log in to: SendTargets=All lists a
 * target only when its ACL admits the initiator's name and address, the same rule the login
 * applies (a listed target logs in, an unlisted one is refused 0x0202), and an ACL replaced at run
 * time changes the list at once.
 * Method: the production target (security-world.ts) with targets open, ACL'd by name, by address,
 * by both, and to someone else; discovery sessions and logins from each (name, address) pair.
 */
import { describe, expect, test } from 'vitest';
import { INITIATOR_NAME, memoryTarget, securityWorld } from './security-world.js';

const STRANGER = 'iqn.2026-01.test.collie:stranger';
const OPEN = 'iqn.2026-01.test.collie:open';
const BY_NAME = 'iqn.2026-01.test.collie:by-name';
const BY_ADDRESS = 'iqn.2026-01.test.collie:by-address';
const BY_BOTH = 'iqn.2026-01.test.collie:by-both';
const SOMEONE_ELSE = 'iqn.2026-01.test.collie:someone-else';
const ALL = [OPEN, BY_NAME, BY_ADDRESS, BY_BOTH, SOMEONE_ELSE];

const TARGETS = [
  memoryTarget(OPEN),
  memoryTarget(BY_NAME, { initiators: [INITIATOR_NAME] }),
  memoryTarget(BY_ADDRESS, { addresses: ['10.0.0.0/8'] }),
  memoryTarget(BY_BOTH, { initiators: [INITIATOR_NAME], addresses: ['10.0.0.0/8'] }),
  memoryTarget(SOMEONE_ELSE, { initiators: ['iqn.2026-01.test.collie:someone'] }),
];

describe('discovery and ACLs', () => {
  test.each([
    [INITIATOR_NAME, '10.0.0.1', [OPEN, BY_NAME, BY_ADDRESS, BY_BOTH]],
    [INITIATOR_NAME, '172.16.0.9', [OPEN, BY_NAME]],
    [STRANGER, '10.0.0.1', [OPEN, BY_ADDRESS]],
    [STRANGER, '172.16.0.9', [OPEN]],
  ])('%s at %s sees exactly the targets it may log in to', async (name, host, visible) => {
    const world = await securityWorld({ targets: TARGETS });
    expect((await world.discover({ initiatorName: name, host })).sort()).toEqual([...visible].sort());
    for (const target of ALL) {
      const status = await world.loginStatus({ targetName: target, initiatorName: name, host });
      expect(status, target).toBe(visible.includes(target) ? 0 : 0x0202);
    }
    await world.close();
  });

  test('an ACL replaced at run time changes what discovery shows at once', async () => {
    const world = await securityWorld({ targets: TARGETS });
    expect(await world.discover({ initiatorName: STRANGER })).not.toContain(BY_NAME);
    world.service.setAccess(BY_NAME, { initiatorNames: [STRANGER] });
    expect(await world.discover({ initiatorName: STRANGER })).toContain(BY_NAME);
    expect(await world.discover()).not.toContain(BY_NAME);
    await world.close();
  });
});
