/**
 * Goal: the login rate limit blocks an initiator name after 5 failed proofs and an address after
 * 10, for a back-off that doubles from 5 s up to 5 min; ACL refusals count for the address only;
 * a success or 15 quiet minutes start over; its memory stays bounded under a spray of names; IPv6
 * counts per /64; and it writes at most one log line per name or address per minute.
 * Method: a LoginRateLimiter on a virtual clock with a logger writing into memory; failures,
 * refusals and successes are fed by hand and the clock is moved between them.
 */
import { Writable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import { VirtualClock } from '../../../src/core/virtual-clock.js';
import {
  addressKey,
  LOGIN_RATE_LIMITS,
  LoginRateLimiter,
  type LoginRateLimits,
} from '../../../src/iscsi/login/login-rate-limit.js';

const NAME = 'iqn.2026-01.test:guesser';
const HOST = '10.0.0.7';

function limiterWorld(limits: Partial<LoginRateLimits> = {}) {
  const clock = new VirtualClock(1_000_000);
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
      callback();
    },
  });
  const logger = createLogger({ level: 'info', clock, destination });
  const limiter = new LoginRateLimiter({ clock, logger, limits });
  const wait = (ms: number) => clock.advanceTo(clock.now() + ms);
  return { clock, lines, limiter, wait };
}

describe('LoginRateLimiter', () => {
  test('the limits are the documented ones', () => {
    expect(LOGIN_RATE_LIMITS).toEqual({
      nameFailuresMax: 5,
      addressFailuresMax: 10,
      blockFirstMs: 5_000,
      blockMaxMs: 300_000,
      forgetAfterMs: 900_000,
      trackedMax: 4096,
      logIntervalMs: 60_000,
    });
  });

  test('a name is blocked after 5 failed proofs, for 5 s, then twice as long per failure up to 5 min', () => {
    const { limiter, wait } = limiterWorld();
    // Each failure from its own address: only the name counts up.
    const from = (k: number) => ({ name: NAME, address: `192.0.2.${k}` });
    for (let k = 1; k <= 4; k++) {
      limiter.failed(from(k), 'credentials');
      expect(limiter.refusal(from(100))).toBeUndefined();
    }
    limiter.failed(from(5), 'credentials');
    const reason = limiter.refusal(from(100));
    expect(reason).toContain(`initiator "${NAME}" is refused for another 5 s after 5 failed logins`);
    expect(reason).toContain("fix the initiator's CHAP secret or the target's ACL");
    // Names compare case-insensitively, as iSCSI names do.
    expect(limiter.refusal({ name: NAME.toUpperCase(), address: HOST })).toBeDefined();
    expect(limiter.refusal({ name: 'iqn.2026-01.test:other', address: HOST })).toBeUndefined();
    wait(4_999);
    expect(limiter.refusal(from(100))).toBeDefined();
    wait(1);
    expect(limiter.refusal(from(100))).toBeUndefined();

    const blocks: number[] = [];
    for (let k = 6; k < 16; k++) {
      limiter.failed(from(k), 'credentials');
      const seconds = Number(/another (\d+) s/.exec(limiter.refusal(from(100)) ?? '')?.[1]);
      blocks.push(seconds);
      wait(seconds * 1000);
    }
    expect(blocks).toEqual([10, 20, 40, 80, 160, 300, 300, 300, 300, 300]);
  });

  test('refusals are not failures: waiting out a block is enough', () => {
    const { limiter, wait } = limiterWorld();
    const who = { name: NAME, address: HOST };
    for (let k = 0; k < 5; k++) limiter.failed(who, 'credentials');
    for (let k = 0; k < 1000; k++) expect(limiter.refusal(who)).toBeDefined();
    wait(5_000);
    expect(limiter.refusal(who)).toBeUndefined();
  });

  test('an address is blocked after 10 failures whatever the names; other addresses are not', () => {
    const { limiter } = limiterWorld();
    for (let k = 0; k < 9; k++)
      limiter.failed({ name: `iqn.2026-01.test:n${k}`, address: HOST }, 'credentials');
    expect(limiter.refusal({ name: 'iqn.2026-01.test:fresh', address: HOST })).toBeUndefined();
    limiter.failed({ name: 'iqn.2026-01.test:n9', address: HOST }, 'credentials');
    expect(limiter.refusal({ name: 'iqn.2026-01.test:fresh', address: HOST })).toContain(
      `address ${HOST} is refused for another 5 s after 10 failed logins`,
    );
    expect(limiter.refusal({ name: 'iqn.2026-01.test:fresh', address: '10.0.0.8' })).toBeUndefined();
  });

  test('ACL refusals count for the address only: a refused host cannot lock a name out', () => {
    const { limiter } = limiterWorld();
    for (let k = 1; k <= 50; k++) limiter.failed({ name: NAME, address: `198.51.100.${k}` }, 'acl');
    expect(limiter.refusal({ name: NAME, address: HOST })).toBeUndefined();
    for (let k = 0; k < 10; k++) limiter.failed({ name: NAME, address: HOST }, 'acl');
    expect(limiter.refusal({ name: 'iqn.2026-01.test:other', address: HOST })).toBeDefined();
  });

  test('a successful login starts its name and address over', () => {
    const { limiter } = limiterWorld();
    const who = { name: NAME, address: HOST };
    for (let k = 0; k < 4; k++) limiter.failed(who, 'credentials');
    limiter.succeeded(who);
    for (let k = 0; k < 4; k++) limiter.failed(who, 'credentials');
    expect(limiter.refusal(who)).toBeUndefined();
    expect(limiter.trackedCount).toEqual({ names: 1, addresses: 1 });
    limiter.succeeded(who);
    expect(limiter.trackedCount).toEqual({ names: 0, addresses: 0 });
  });

  test('15 minutes without a failure start over (also after blocks)', () => {
    const { limiter, wait } = limiterWorld();
    const who = { name: NAME, address: HOST };
    for (let k = 0; k < 7; k++) limiter.failed(who, 'credentials');
    wait(15 * 60_000);
    limiter.failed(who, 'credentials');
    expect(limiter.refusal(who)).toBeUndefined();
  });

  test('memory stays bounded when every failure names a new initiator from a new address', () => {
    const { limiter } = limiterWorld({ trackedMax: 100 });
    for (let k = 0; k < 5_000; k++) {
      limiter.failed(
        { name: `iqn.2026-01.spray:${k}`, address: `2001:db8:${k.toString(16)}::1` },
        'credentials',
      );
    }
    expect(limiter.trackedCount).toEqual({ names: 100, addresses: 100 });
    expect(LOGIN_RATE_LIMITS.trackedMax).toBe(4096);
  });

  test('IPv6 counts per /64, IPv4-mapped IPv6 as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::ffff:7')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::ffff:10.0.0.7')).toBe('10.0.0.7');
    expect(addressKey('64:ff9b:1:2:3:4:10.0.0.7')).toBe('64:ff9b:1:2::/64');
    expect(addressKey('10.0.0.7')).toBe('10.0.0.7');
    const { limiter } = limiterWorld();
    for (let k = 1; k <= 10; k++) {
      limiter.failed({ name: `iqn.2026-01.test:n${k}`, address: `2001:db8:1:2::${k}` }, 'credentials');
    }
    expect(limiter.refusal({ name: NAME, address: '2001:db8:1:2:ffff::9' })).toContain('2001:db8:1:2::/64');
    expect(limiter.refusal({ name: NAME, address: '2001:db8:1:3::1' })).toBeUndefined();
  });

  test('at most one log line per name or address per minute, however many refusals', () => {
    // The address limit out of the way: this follows the name's entry alone.
    const { limiter, lines, wait } = limiterWorld({ addressFailuresMax: 1_000 });
    const who = { name: NAME, address: HOST };
    for (let k = 0; k < 5; k++) limiter.failed(who, 'credentials');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 40,
      initiator: NAME,
      address: HOST,
      failures: 5,
      blockedMs: 5_000,
    });
    expect(String(lines[0]!.msg)).toContain(`initiator "${NAME}" is blocked for 5 s after 5 failed logins`);
    for (let k = 0; k < 10_000; k++) limiter.refusal(who);
    expect(lines).toHaveLength(1);
    // Still blocked a minute later (a failure every 4 s keeps it so, unlogged): the next refusal
    // is logged, with the count of those left out.
    for (let k = 0; k < 14; k++) {
      wait(4_000);
      limiter.failed(who, 'credentials');
    }
    expect(lines).toHaveLength(1);
    wait(4_000);
    limiter.refusal(who);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ initiator: NAME, refusalsNotLogged: 10_000 });
    expect(String(lines[1]!.msg)).toContain('refused a login');
  });
});
