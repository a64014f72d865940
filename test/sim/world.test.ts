/**
 * Goal: a simulated world starts the real store and target nodes on the memory network, and the
 * same seed gives the same event log twice. Method: build worlds and compare digests.
 */
import { describe, expect, test } from 'vitest';
import { World } from '../../sim/world.js';

describe('simulated world', () => {
  test('starts a store and two target nodes; each target holds a shared lock through its own node', async () => {
    const world = await World.build({ seed: 1 });
    expect(world.targets.map((target) => target.name)).toEqual(['target-a', 'target-b']);
    const vid = world.store.vdis.lookup({ name: 'simvol' });
    expect('vid' in vid).toBe(true);
    if ('vid' in vid) {
      const participants = world.store.locks.view(vid.vid).participants;
      expect(participants.map((participant) => participant.node)).toEqual(['store:7000', 'store:7001']);
    }
  });

  test('the same seed replays to the same event-log digest', async () => {
    const first = await World.build({ seed: 7 });
    const second = await World.build({ seed: 7 });
    expect(first.digest.digestHex()).toBe(second.digest.digestHex());
    expect(first.eventLog.lastSeq).toBe(second.eventLog.lastSeq);
  });
});
