/**
 * Goal: the target side of CHAP authenticates initiators with each IANA algorithm (5 MD5, 6 SHA-1,
 * 7 SHA-256, 8 SHA3-256), answers mutual challenges correctly, and refuses everything else with
 * 0x0201 (0x0207 for a missing key, 0x0300 for a misconfigured target) without logging secrets.
 * Method: play the initiator: compute responses independently in the test with RFC 1994's
 * formula hash(id || secret || challenge) (node:crypto directly, not chap.ts), pin them with
 * vectors computed by a separate tool (Python hashlib), and feed hex and base64 spellings.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { createRng } from '../../../src/core/rng.js';
import {
  CHAP_ALGORITHMS,
  type ChapChallenge,
  type ChapSecrets,
  chapAccount,
  chapResponse,
  rngChallengeSource,
  startChap,
  validateChapSecrets,
  verifyChap,
} from '../../../src/iscsi/login/chap.js';
import { statusText } from '../../../src/iscsi/login/status.js';
import { decodeBinary } from '../../../src/iscsi/login/text-values.js';
import { find } from './login-support.js';

const INITIATOR_SECRET = 'initiator-secret-16';
const TARGET_SECRET = 'target-secret-1234';
const ONE_WAY: ChapSecrets = { incoming: [chapAccount('alice', INITIATOR_SECRET)] };
const MUTUAL: ChapSecrets = { ...ONE_WAY, outgoing: chapAccount('collie', TARGET_SECRET) };

const HASH_OF = { 5: 'md5', 6: 'sha1', 7: 'sha256', 8: 'sha3-256' } as const;

/** RFC 1994 §4.1, written out independently of chap.ts. */
function rfc1994(code: 5 | 6 | 7 | 8, id: number, secret: string, challenge: Uint8Array): string {
  const hash = createHash(HASH_OF[code]);
  hash.update(Buffer.from([id]));
  hash.update(Buffer.from(secret, 'utf8'));
  hash.update(challenge);
  return hash.digest('hex');
}

function challengeFrom(reply: Array<[string, string]>) {
  const id = Number(find(reply, 'CHAP_I'));
  const bytes = decodeBinary(find(reply, 'CHAP_C')!)!;
  return { id, bytes };
}

function start(offered: string, secrets: ChapSecrets = ONE_WAY, seed = 'chap') {
  const started = startChap({ offered, challenges: rngChallengeSource(createRng(seed)), secrets });
  if (!started.ok) throw new Error(started.failure.reason);
  return started;
}

describe('chapResponse against vectors from Python hashlib', () => {
  // id 0x2a, secret "collie-secret-1", challenge 00 01 .. 0f
  test.each([
    [5, '590d1fb7600c1af21667aebe9e5d5513'],
    [6, 'd26432b646b9223351f60fd3dedf1c79ca680579'],
    [7, 'b7aaecf7bbbe134d8ea8bacf9cb8b4a682b2f5d4e27381dd56bbaf66dfaf3bac'],
    [8, '16a837553bc7ad2d830fe83279673bf6c0304dcb3a40d0e6a6cefe19d0883a69'],
  ])('CHAP_A=%i', (code, expected) => {
    const algorithm = CHAP_ALGORITHMS.find((a) => a.code === code)!;
    const challenge = Uint8Array.from({ length: 16 }, (_, i) => i);
    expect(chapResponse(algorithm, 0x2a, Buffer.from('collie-secret-1'), challenge).toString('hex')).toBe(
      expected,
    );
  });
});

describe('startChap', () => {
  test.each([
    [5, 16],
    [6, 20],
    [7, 32],
    [8, 32],
  ] as const)('CHAP_A=%i: challenge of %i bytes in 0x hex, identifier 0-255', (code, bytes) => {
    const started = start(String(code));
    expect(find(started.reply, 'CHAP_A')).toBe(String(code));
    expect(find(started.reply, 'CHAP_C')).toMatch(new RegExp(`^0x[0-9a-f]{${2 * bytes}}$`));
    const { id } = challengeFrom(started.reply);
    expect(id).toBeGreaterThanOrEqual(0);
    expect(id).toBeLessThanOrEqual(255);
  });

  test("picks the first algorithm of the initiator's list that the target allows", () => {
    expect(find(start('7,5').reply, 'CHAP_A')).toBe('7');
    expect(find(start('99,6,5').reply, 'CHAP_A')).toBe('6');
    const md5Only = start('8,7,5', { ...ONE_WAY, algorithms: ['MD5'] });
    expect(find(md5Only.reply, 'CHAP_A')).toBe('5');
  });

  test('challenges are replayable from the seed and differ between seeds', () => {
    expect(start('5', ONE_WAY, 'a').reply).toEqual(start('5', ONE_WAY, 'a').reply);
    expect(find(start('5', ONE_WAY, 'a').reply, 'CHAP_C')).not.toBe(
      find(start('5', ONE_WAY, 'b').reply, 'CHAP_C'),
    );
  });

  test.each(['', '4', '128,129', '5,', 'MD5'])(
    'CHAP_A=%j with nothing usable fails with 0x0201',
    (offered) => {
      const started = startChap({ offered, challenges: rngChallengeSource(createRng(1)), secrets: ONE_WAY });
      expect(!started.ok && statusText(started.failure)).toBe('0x0201');
    },
  );

  test('an algorithm the target disallows fails with 0x0201 and lists what is allowed', () => {
    const started = startChap({
      offered: '5',
      challenges: rngChallengeSource(createRng(1)),
      secrets: { ...ONE_WAY, algorithms: ['SHA-256'] },
    });
    expect(started.ok).toBe(false);
    if (started.ok) return;
    expect(statusText(started.failure)).toBe('0x0201');
    expect(started.failure.reason).toContain('7 (SHA-256)');
  });

  test('a misconfigured target answers 0x0300 and names the fix', () => {
    const short = startChap({
      offered: '5',
      challenges: rngChallengeSource(createRng(1)),
      secrets: { incoming: [chapAccount('bob', 'short')] },
    });
    expect(!short.ok && statusText(short.failure)).toBe('0x0300');
    expect(!short.ok && short.failure.reason).toContain('at least 12');
    expect(!short.ok && short.failure.reason).not.toContain('short"');
  });
});

describe('validateChapSecrets', () => {
  test('accepts 12-byte secrets and refuses shorter, shared or missing ones', () => {
    expect(validateChapSecrets({ incoming: [chapAccount('a', '123456789012')] })).toEqual([]);
    expect(validateChapSecrets({ incoming: [chapAccount('a', '12345678901')] })).toHaveLength(1);
    expect(validateChapSecrets({ incoming: [] })).toHaveLength(1);
    const shared = validateChapSecrets({
      incoming: [chapAccount('a', INITIATOR_SECRET)],
      outgoing: chapAccount('t', INITIATOR_SECRET),
    });
    expect(shared.join()).toContain('forbids reusing');
    expect(shared.join()).not.toContain(INITIATOR_SECRET);
  });
});

describe('one-way CHAP', () => {
  test.each([5, 6, 7, 8] as const)('CHAP_A=%i: the right response in hex is accepted', (code) => {
    const started = start(String(code));
    const { id, bytes } = challengeFrom(started.reply);
    const verified = verifyChap(
      started.challenge,
      { name: 'alice', response: `0x${rfc1994(code, id, INITIATOR_SECRET, bytes)}` },
      ONE_WAY,
    );
    expect(verified).toEqual({ ok: true, user: 'alice', mutual: false, reply: [] });
  });

  test.each([5, 8] as const)(
    'CHAP_A=%i: the right response in base64 (0b) and upper-case hex is accepted',
    (code) => {
      const started = start(String(code));
      const { id, bytes } = challengeFrom(started.reply);
      const hex = rfc1994(code, id, INITIATOR_SECRET, bytes);
      const base64 = `0b${Buffer.from(hex, 'hex').toString('base64')}`;
      expect(verifyChap(started.challenge, { name: 'alice', response: base64 }, ONE_WAY).ok).toBe(true);
      expect(
        verifyChap(started.challenge, { name: 'alice', response: `0X${hex.toUpperCase()}` }, ONE_WAY).ok,
      ).toBe(true);
    },
  );

  function refusal(challenge: ChapChallenge, keys: Parameters<typeof verifyChap>[1], secrets = ONE_WAY) {
    const verified = verifyChap(challenge, keys, secrets);
    expect(verified.ok).toBe(false);
    if (verified.ok) throw new Error('accepted');
    return verified.failure;
  }

  test('bad responses fail with 0x0201 and a reason that holds no secret or response', () => {
    const started = start('5');
    const { id, bytes } = challengeFrom(started.reply);
    const right = rfc1994(5, id, INITIATOR_SECRET, bytes);
    const wrongSecret = rfc1994(5, id, 'other-secret-0000', bytes);
    const cases = [
      { name: 'alice', response: `0x${wrongSecret}` },
      { name: 'alice', response: `0x${right.slice(0, 30)}` },
      { name: 'alice', response: `0x${right}00` },
      { name: 'alice', response: right },
      { name: 'alice', response: '0xnothex' },
      { name: 'mallory', response: `0x${right}` },
      { name: 'Alice', response: `0x${right}` },
    ];
    for (const keys of cases) {
      const failure = refusal(started.challenge, keys);
      expect(statusText(failure), JSON.stringify(keys)).toBe('0x0201');
      expect(failure.reason).not.toContain(INITIATOR_SECRET);
      expect(failure.reason).not.toContain(right);
      expect(failure.reason).not.toContain(wrongSecret);
    }
  });

  test('a response computed for another algorithm is refused', () => {
    const started = start('7');
    const { id, bytes } = challengeFrom(started.reply);
    const md5 = rfc1994(5, id, INITIATOR_SECRET, bytes);
    expect(statusText(refusal(started.challenge, { name: 'alice', response: `0x${md5}` }))).toBe('0x0201');
  });

  test('missing CHAP_N or CHAP_R fails with 0x0207', () => {
    const started = start('5');
    expect(statusText(refusal(started.challenge, { response: '0x00' }))).toBe('0x0207');
    expect(statusText(refusal(started.challenge, { name: 'alice' }))).toBe('0x0207');
  });
});

describe('mutual CHAP', () => {
  const initiatorChallenge = Buffer.from('f00dfeedcafebeef0011223344556677', 'hex');

  test.each([5, 6, 7, 8] as const)(
    "CHAP_A=%i: the target answers with its own name and hash(id || target secret || initiator's challenge)",
    (code) => {
      const started = start(String(code), MUTUAL);
      const { id, bytes } = challengeFrom(started.reply);
      const verified = verifyChap(
        started.challenge,
        {
          name: 'alice',
          response: `0x${rfc1994(code, id, INITIATOR_SECRET, bytes)}`,
          identifier: '77',
          challenge: `0x${initiatorChallenge.toString('hex')}`,
        },
        MUTUAL,
      );
      expect(verified).toEqual({
        ok: true,
        user: 'alice',
        mutual: true,
        reply: [
          ['CHAP_N', 'collie'],
          ['CHAP_R', `0x${rfc1994(code, 77, TARGET_SECRET, initiatorChallenge)}`],
        ],
      });
    },
  );

  test('the initiator challenge may be base64 and CHAP_I hex', () => {
    const started = start('5', MUTUAL);
    const { id, bytes } = challengeFrom(started.reply);
    const verified = verifyChap(
      started.challenge,
      {
        name: 'alice',
        response: `0x${rfc1994(5, id, INITIATOR_SECRET, bytes)}`,
        identifier: '0x4d',
        challenge: `0b${initiatorChallenge.toString('base64')}`,
      },
      MUTUAL,
    );
    expect(verified.ok && find(verified.reply, 'CHAP_R')).toBe(
      `0x${rfc1994(5, 0x4d, TARGET_SECRET, initiatorChallenge)}`,
    );
  });

  function mutualRefusal(
    keys: { identifier?: string; challenge?: string; reflect?: boolean },
    secrets = MUTUAL,
  ) {
    const started = start('5', secrets);
    const { id, bytes } = challengeFrom(started.reply);
    const verified = verifyChap(
      started.challenge,
      {
        name: 'alice',
        response: `0x${rfc1994(5, id, INITIATOR_SECRET, bytes)}`,
        ...(keys.identifier !== undefined ? { identifier: keys.identifier } : {}),
        ...(keys.reflect ? { challenge: find(started.reply, 'CHAP_C')! } : {}),
        ...(keys.challenge !== undefined ? { challenge: keys.challenge } : {}),
      },
      secrets,
    );
    expect(verified.ok).toBe(false);
    return verified.ok ? '' : statusText(verified.failure);
  }

  test("a challenge identical to the target's (reflection) is refused with 0x0201", () => {
    expect(mutualRefusal({ identifier: '1', reflect: true })).toBe('0x0201');
  });

  test('mutual CHAP without a target account is refused with 0x0201', () => {
    expect(mutualRefusal({ identifier: '1', challenge: '0x0102' }, ONE_WAY)).toBe('0x0201');
  });

  test.each([
    ['CHAP_I without CHAP_C', { identifier: '1' }, '0x0207'],
    ['CHAP_C without CHAP_I', { challenge: '0x0102' }, '0x0207'],
    ['CHAP_I out of range', { identifier: '256', challenge: '0x0102' }, '0x0201'],
    ['CHAP_I not a number', { identifier: 'x', challenge: '0x0102' }, '0x0201'],
    ['CHAP_C malformed', { identifier: '1', challenge: '0102' }, '0x0201'],
    ['CHAP_C above 1024 bytes', { identifier: '1', challenge: `0x${'ab'.repeat(1025)}` }, '0x0201'],
  ])('%s -> %s', (_what, keys, expected) => {
    expect(mutualRefusal(keys)).toBe(expected);
  });

  test("a reflection spelled differently (the target's challenge in base64) is refused too", () => {
    const started = start('5', MUTUAL);
    const { id, bytes } = challengeFrom(started.reply);
    const verified = verifyChap(
      started.challenge,
      {
        name: 'alice',
        response: `0x${rfc1994(5, id, INITIATOR_SECRET, bytes)}`,
        identifier: '3',
        challenge: `0b${Buffer.from(bytes).toString('base64')}`,
      },
      MUTUAL,
    );
    expect(verified.ok ? '' : verified.failure.reason).toContain('reflection attack');
  });

  test('wrongProof marks failed proofs (what the rate limit counts), not settings mismatches', () => {
    const started = start('5', MUTUAL);
    const { id, bytes } = challengeFrom(started.reply);
    const right = `0x${rfc1994(5, id, INITIATOR_SECRET, bytes)}`;
    const ownChallenge = find(started.reply, 'CHAP_C')!;
    const cases: Array<[Parameters<typeof verifyChap>[1], ChapSecrets, boolean]> = [
      [{ name: 'alice', response: `0x${'00'.repeat(16)}` }, MUTUAL, true],
      [{ name: 'mallory', response: right }, MUTUAL, true],
      [{ name: 'alice', response: '0xzz' }, MUTUAL, true],
      [{ name: 'alice', response: right, identifier: '1', challenge: ownChallenge }, MUTUAL, true],
      [{ name: 'alice' }, MUTUAL, false],
      [{ name: 'alice', response: right, identifier: '1' }, MUTUAL, false],
      [{ name: 'alice', response: right, identifier: '1', challenge: '0x0102' }, ONE_WAY, false],
      [{ name: 'alice', response: right, identifier: '999', challenge: '0x0102' }, MUTUAL, false],
    ];
    for (const [keys, secrets, wrongProof] of cases) {
      const verified = verifyChap(started.challenge, keys, secrets);
      expect(verified.ok ? 'accepted' : verified.wrongProof, JSON.stringify(keys)).toBe(wrongProof);
    }
  });

  test('the target does not answer a mutual challenge when the initiator failed', () => {
    const started = start('5', MUTUAL);
    const verified = verifyChap(
      started.challenge,
      { name: 'alice', response: `0x${'00'.repeat(16)}`, identifier: '1', challenge: '0x0102' },
      MUTUAL,
    );
    expect(verified.ok).toBe(false);
  });
});
