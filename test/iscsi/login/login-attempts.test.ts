/**
 * Goal: the login core enforces the login rate limit: wrong CHAP proofs and ACL refusals are
 * counted (only those), a blocked initiator is refused with 0x0201 before any challenge is drawn
 * or response computed, a block that starts while other logins wait for their challenge's answer
 * refuses those answers too, and a successful login clears the count. CHAP challenges come from
 * the environment's ChallengeSource, a fresh identifier and challenge per login.
 * Method: play initiators against createLoginCore (login-support.ts) with a LoginRateLimiter on a
 * virtual clock and a ChallengeSource that counts what it hands out; CHAP answers are computed
 * with node:crypto directly.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { LoginCore, LoginRequest, LoginStep } from '../../../machines/login.js';
import { silentLogger } from '../../../src/core/logger.js';
import { createRng } from '../../../src/core/rng.js';
import { VirtualClock } from '../../../src/core/virtual-clock.js';
import { type ChallengeSource, rngChallengeSource } from '../../../src/iscsi/login/chap.js';
import { createLoginCore, type LoginResult } from '../../../src/iscsi/login/login-core.js';
import { LoginRateLimiter } from '../../../src/iscsi/login/login-rate-limit.js';
import { statusText } from '../../../src/iscsi/login/status.js';
import {
  environment,
  find,
  INITIATOR,
  INITIATOR_SECRET,
  LIBISCSI_OPERATIONAL_OFFER,
  loginRequest,
  OTHER_INITIATOR,
  securityRequest,
  TARGET_ACL,
  TARGET_CHAP,
  TARGET_MUTUAL,
} from './login-support.js';

/** A ChallengeSource over a seeded Rng that counts the bytes it hands out. */
function countingSource(seed = 'attempts'): ChallengeSource & { drawn: number } {
  const inner = rngChallengeSource(createRng(seed));
  const source = {
    drawn: 0,
    bytes(count: number) {
      source.drawn += count;
      return inner.bytes(count);
    },
  };
  return source;
}

function world() {
  const clock = new VirtualClock(0);
  const attempts = new LoginRateLimiter({ clock, logger: silentLogger });
  const challenges = countingSource();
  const env = (address = '10.1.2.3') => environment({ challenges, attempts, initiatorAddress: address });
  return { clock, attempts, challenges, env };
}

class Login {
  #core: LoginCore<LoginResult>;
  last: LoginStep<LoginResult> | undefined;
  constructor(env: ReturnType<ReturnType<typeof world>['env']>) {
    this.#core = createLoginCore(env);
  }
  send(request: LoginRequest): LoginStep<LoginResult> {
    const step = this.#core.step(request);
    this.#core = step.core;
    this.last = step;
    return step;
  }
  get status(): string {
    const result = this.last?.result;
    return result?.outcome === 'failed' ? statusText(result.failure) : (this.last?.next ?? 'none');
  }
  get reason(): string {
    const result = this.last?.result;
    return result?.outcome === 'failed' ? result.failure.reason : '';
  }
}

/** Up to the challenge: the target's CHAP_I and CHAP_C (undefined when refused before). */
function challenged(login: Login, name = INITIATOR, target = TARGET_CHAP) {
  const hello = login.send(
    loginRequest({
      keys: [
        ['InitiatorName', name],
        ['TargetName', target],
        ['AuthMethod', 'CHAP'],
      ],
    }),
  );
  if (hello.next === 'failed') return undefined;
  const step = login.send(loginRequest({ keys: [['CHAP_A', '5']] }));
  if (step.next === 'failed') return undefined;
  return {
    id: Number(find(step.response.keys, 'CHAP_I')),
    challenge: Buffer.from(find(step.response.keys, 'CHAP_C')!.slice(2), 'hex'),
  };
}

function answer(login: Login, sent: { id: number; challenge: Buffer }, secret: string): void {
  const response = createHash('md5')
    .update(Buffer.from([sent.id]))
    .update(secret)
    .update(sent.challenge);
  login.send(
    loginRequest({
      transit: true,
      nsg: 1,
      keys: [
        ['CHAP_N', 'alice'],
        ['CHAP_R', `0x${response.digest('hex')}`],
      ],
    }),
  );
  if (login.last?.next === 'operationalNegotiation') {
    login.send(loginRequest({ csg: 1, nsg: 3, transit: true, keys: LIBISCSI_OPERATIONAL_OFFER }));
  }
}

/** A whole CHAP login; returns its status text ('fullFeature' on success). */
function chapLogin(env: ReturnType<ReturnType<typeof world>['env']>, secret: string, name = INITIATOR) {
  const login = new Login(env);
  const sent = challenged(login, name);
  if (sent !== undefined) answer(login, sent, secret);
  return login;
}

describe('the login rate limit in the login core', () => {
  test('5 wrong secrets block the name: the 6th login is refused 0x0201 before a challenge is drawn', () => {
    const { env, challenges, clock } = world();
    for (let k = 0; k < 5; k++) expect(chapLogin(env(), 'wrong-secret-123').status).toBe('0x0201');
    const drawn = challenges.drawn;
    const blocked = chapLogin(env('10.9.9.9'), INITIATOR_SECRET);
    expect(blocked.status).toBe('0x0201');
    expect(blocked.reason).toContain(`initiator "${INITIATOR}" is refused for another 5 s`);
    expect(challenges.drawn).toBe(drawn);
    // Another initiator name from a fresh address is not affected.
    expect(chapLogin(env('10.9.9.9'), INITIATOR_SECRET, OTHER_INITIATOR).status).toBe('fullFeature');
    clock.advanceTo(5_000);
    expect(chapLogin(env(), INITIATOR_SECRET).status).toBe('fullFeature');
  });

  test('answers to challenges handed out before a block began are refused without verifying', () => {
    const { env } = world();
    // 20 logins take their challenges first, in parallel, then answer wrongly one after another.
    const waiting = Array.from({ length: 20 }, () => {
      const login = new Login(env());
      return { login, sent: challenged(login)! };
    });
    const reasons = waiting.map(({ login, sent }) => {
      answer(login, sent, 'wrong-secret-123');
      return login.reason;
    });
    expect(reasons.filter((reason) => reason.includes('does not match'))).toHaveLength(5);
    expect(reasons.slice(5).every((reason) => reason.includes('is refused for another'))).toBe(true);
  });

  test('a successful login clears the count; settings mismatches are not counted', () => {
    const { env } = world();
    for (let k = 0; k < 4; k++) chapLogin(env(), 'wrong-secret-123');
    expect(chapLogin(env(), INITIATOR_SECRET).status).toBe('fullFeature');
    for (let k = 0; k < 4; k++) chapLogin(env(), 'wrong-secret-123');
    // AuthMethod=None against a CHAP target, many times: 0x0201, but not a guess.
    for (let k = 0; k < 20; k++) {
      const login = new Login(env());
      login.send(securityRequest(TARGET_CHAP));
      expect(login.status).toBe('0x0201');
    }
    // Mutual CHAP asked of a target without its own account (after a right proof): not a guess.
    for (let k = 0; k < 20; k++) {
      const login = new Login(env());
      const sent = challenged(login)!;
      const response = createHash('md5')
        .update(Buffer.from([sent.id]))
        .update(INITIATOR_SECRET);
      login.send(
        loginRequest({
          transit: true,
          nsg: 1,
          keys: [
            ['CHAP_N', 'alice'],
            ['CHAP_R', `0x${response.update(sent.challenge).digest('hex')}`],
            ['CHAP_I', '1'],
            ['CHAP_C', `0x${'ab'.repeat(16)}`],
          ],
        }),
      );
      expect(login.reason).toContain('the target has no mutual CHAP account');
    }
    expect(chapLogin(env(), INITIATOR_SECRET).status).toBe('fullFeature');
  });

  test('ACL refusals block the address (not the name) after 10', () => {
    const { env } = world();
    const refusedHere = (address: string) => {
      const login = new Login(env(address));
      login.send(securityRequest(TARGET_ACL));
      return login;
    };
    // TARGET_ACL admits INITIATOR from 10.0.0.0/8 only.
    for (let k = 0; k < 10; k++) expect(refusedHere('192.0.2.1').status).toBe('0x0202');
    const blocked = refusedHere('192.0.2.1');
    expect(blocked.status).toBe('0x0201');
    expect(blocked.reason).toContain('address 192.0.2.1 is refused');
    // The name itself is not blocked: from an admitted address it logs in.
    expect(refusedHere('10.0.0.5').last?.next).toBe('operationalNegotiation');
  });

  test('a reflected mutual challenge counts as a failed proof', () => {
    const { env } = world();
    for (let k = 0; k < 5; k++) {
      const login = new Login(env());
      const sent = challenged(login, INITIATOR, TARGET_MUTUAL)!;
      const response = createHash('md5')
        .update(Buffer.from([sent.id]))
        .update(INITIATOR_SECRET);
      login.send(
        loginRequest({
          transit: true,
          nsg: 1,
          keys: [
            ['CHAP_N', 'alice'],
            ['CHAP_R', `0x${response.update(sent.challenge).digest('hex')}`],
            ['CHAP_I', String(sent.id)],
            ['CHAP_C', `0x${sent.challenge.toString('hex')}`],
          ],
        }),
      );
      expect(login.reason).toContain('reflection attack');
    }
    expect(chapLogin(env(), INITIATOR_SECRET).reason).toContain('is refused for another');
  });
});

describe('CHAP challenges come from the ChallengeSource', () => {
  test('each login draws a fresh identifier (1 byte) and challenge (16 bytes for MD5)', () => {
    const handed: number[] = [];
    let next = 0;
    const source: ChallengeSource = {
      bytes(count) {
        handed.push(count);
        return Uint8Array.from({ length: count }, () => next++ & 0xff);
      },
    };
    const env = environment({ challenges: source });
    const first = challenged(new Login(env))!;
    const second = challenged(new Login(env))!;
    expect(handed).toEqual([1, 16, 1, 16]);
    expect(first.id).toBe(0);
    expect([...first.challenge]).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(second.id).toBe(17);
    expect(second.challenge.equals(first.challenge)).toBe(false);
  });
});
