/**
 * Goal: the per-nexus UNIT ATTENTION queues behave as SAM-5 and unit-attention.ts promise.
 * Method: register nexuses, raise conditions with each API, and take them back in order.
 */
import { describe, expect, test } from 'vitest';
import { POWER_ON_RESET_UA, UnitAttentions } from '../../src/scsi/unit-attention.js';
import { makeNexus } from '../support/scsi-lu.js';

const modeChanged = { key: 6, asc: 0x2a, ascq: 0x01 };
const released = { key: 6, asc: 0x2a, ascq: 0x04 };

describe('UnitAttentions', () => {
  test('a new nexus first gets POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29/00), once', () => {
    const attentions = new UnitAttentions();
    const nexus = makeNexus(1);
    expect(attentions.take(nexus)).toEqual(POWER_ON_RESET_UA);
    expect(attentions.take(nexus)).toBeUndefined();
  });

  test('raiseAllExcept skips the sender; raise with a filter; duplicates are not queued twice', () => {
    const attentions = new UnitAttentions();
    const [a, b, c] = [makeNexus(1), makeNexus(2), makeNexus(3)];
    for (const nexus of [a, b, c]) {
      attentions.register(nexus);
      attentions.take(nexus);
    }
    attentions.raiseAllExcept(a, modeChanged);
    attentions.raiseAllExcept(a, modeChanged);
    attentions.raise((nexus) => nexus.id === c.id, released);
    expect(attentions.pendingCount(a)).toBe(0);
    expect(attentions.take(b)).toEqual(modeChanged);
    expect(attentions.take(b)).toBeUndefined();
    expect(attentions.take(c)).toEqual(modeChanged);
    expect(attentions.take(c)).toEqual(released);
  });

  test('a reset condition (ASC 29h) replaces everything queued before it', () => {
    const attentions = new UnitAttentions();
    const nexus = makeNexus(1);
    attentions.take(nexus);
    attentions.raiseAll(modeChanged);
    attentions.raiseAll({ key: 6, asc: 0x29, ascq: 0x03 });
    expect(attentions.take(nexus)).toEqual({ key: 6, asc: 0x29, ascq: 0x03 });
    expect(attentions.take(nexus)).toBeUndefined();
  });

  test('the queue is bounded; discard drops one code; forget makes the nexus new again', () => {
    const attentions = new UnitAttentions({ queueLengthMax: 2 });
    const nexus = makeNexus(1);
    attentions.take(nexus);
    for (let ascq = 0; ascq < 5; ascq++) attentions.raiseAll({ key: 6, asc: 0x3f, ascq });
    expect(attentions.pendingCount(nexus)).toBe(2);
    attentions.discard(nexus, 0x3f, 0x00);
    expect(attentions.take(nexus)).toEqual({ key: 6, asc: 0x3f, ascq: 0x01 });
    attentions.forget(nexus);
    expect(attentions.pendingCount(nexus)).toBe(0);
    expect(attentions.take(nexus)).toEqual(POWER_ON_RESET_UA);
  });
});
