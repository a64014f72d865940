/**
 * Goal: the login step function answers whole login sequences the way RFC 7143 §6.3 and §11.12-13
 * describe (security -> operational -> full feature, operational only, CHAP one-way and mutual,
 * discovery, continued text) and refuses every bad request with the right status: 0x0200, 0x0201,
 * 0x0202, 0x0203, 0x0205, 0x0207, 0x0209 and 0x0300.
 * Method: play an initiator against createLoginCore with naive text helpers (login-support.ts),
 * computing CHAP responses with node:crypto directly; check response fields, keys and results.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { LoginRequest, LoginStep } from '../../../machines/login.js';
import { chapAccount } from '../../../src/iscsi/login/chap.js';
import {
  createLoginCore,
  LOGIN_REQUESTS_MAX,
  type LoginEnvironment,
  type LoginResult,
  type LoginSuccess,
} from '../../../src/iscsi/login/login-core.js';
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
  TARGET_OPEN,
  TARGET_SECRET,
  TEST_CONFIG,
  text,
} from './login-support.js';

/** Feeds requests one by one; stops after a final step. */
function play(requests: LoginRequest[], env: LoginEnvironment = environment()): LoginStep<LoginResult>[] {
  let core = createLoginCore(env);
  const steps: LoginStep<LoginResult>[] = [];
  for (const request of requests) {
    const step = core.step(request);
    steps.push(step);
    core = step.core;
    if (step.next === 'fullFeature' || step.next === 'failed') break;
  }
  return steps;
}

function last(steps: LoginStep<LoginResult>[]): LoginStep<LoginResult> {
  return steps[steps.length - 1]!;
}

function success(steps: LoginStep<LoginResult>[]): LoginSuccess {
  const result = last(steps).result;
  if (result?.outcome !== 'fullFeature') throw new Error(`login failed: ${last(steps).note}`);
  return result;
}

function failureStatus(steps: LoginStep<LoginResult>[]): string {
  const step = last(steps);
  expect(step.next).toBe('failed');
  expect(step.response.keys).toEqual([]);
  expect(step.response.transit).toBe(false);
  const result = step.result;
  if (result?.outcome !== 'failed') throw new Error('login did not fail');
  expect(statusText(step.response)).toBe(statusText(result.failure));
  return statusText(result.failure);
}

const operational = (keys: ReadonlyArray<readonly [string, string]> = LIBISCSI_OPERATIONAL_OFFER) =>
  loginRequest({ csg: 1, nsg: 3, transit: true, keys });

function chapHash(algorithm: string, id: number, secret: string, challenge: Buffer): string {
  return createHash(algorithm)
    .update(Buffer.from([id]))
    .update(secret)
    .update(challenge)
    .digest('hex');
}

describe('successful logins', () => {
  test('security (AuthMethod=None) -> operational -> full feature, with the fast parameters', () => {
    const steps = play([securityRequest(TARGET_OPEN), operational()]);
    expect(steps.map((s) => s.next)).toEqual(['operationalNegotiation', 'fullFeature']);
    expect(steps[0]!.response).toMatchObject({
      transit: true,
      csg: 0,
      nsg: 1,
      statusClass: 0,
      statusDetail: 0,
    });
    expect(steps[0]!.response.keys).toEqual([
      ['AuthMethod', 'None'],
      ['TargetPortalGroupTag', '1'],
    ]);
    expect(steps[1]!.response).toMatchObject({
      transit: true,
      csg: 1,
      nsg: 3,
      versionMax: 0,
      versionActive: 0,
    });
    expect(find(steps[1]!.response.keys, 'MaxRecvDataSegmentLength')).toBe('262144');
    expect(find(steps[1]!.response.keys, 'InitialR2T')).toBe('No');
    const result = success(steps);
    expect(result).toMatchObject({
      sessionKind: 'normal',
      needsTsih: true,
      isid: '400001370000',
      tsih: 0,
      cid: 1,
      initiatorName: INITIATOR,
      targetName: TARGET_OPEN,
      authenticatedUser: undefined,
    });
    expect(result.parameters.session).toMatchObject({ initialR2T: false, firstBurstLengthBytes: 262144 });
    expect(result.parameters.connection.maxRecvDataSegmentLengthBytes).toBe(262144);
  });

  test('operational only: the first request may start at CSG=1 and go straight to full feature', () => {
    const steps = play([
      operational([['InitiatorName', INITIATOR], ['TargetName', TARGET_OPEN], ...LIBISCSI_OPERATIONAL_OFFER]),
    ]);
    expect(last(steps).next).toBe('fullFeature');
    expect(last(steps).response).toMatchObject({ transit: true, csg: 1, nsg: 3 });
    expect(find(last(steps).response.keys, 'TargetPortalGroupTag')).toBe('1');
    expect(success(steps).targetName).toBe(TARGET_OPEN);
  });

  test('an initiator asking 0 -> 3 is moved to operational negotiation first, so the target can declare', () => {
    const first = loginRequest({ ...securityRequest(TARGET_OPEN), nsg: 3 });
    const steps = play([first, operational([])]);
    expect(steps[0]!.response).toMatchObject({ transit: true, csg: 0, nsg: 1 });
    expect(steps[1]!.response.keys).toEqual([['MaxRecvDataSegmentLength', '262144']]);
    expect(success(steps).parameters.session.initialR2T).toBe(true);
  });

  test('without T the target stays in the stage and answers T=0', () => {
    const stay = loginRequest({ ...securityRequest(TARGET_OPEN), transit: false, nsg: 0 });
    const steps = play([stay, loginRequest({ csg: 0, nsg: 1, transit: true }), operational()]);
    expect(steps.map((s) => s.response.transit)).toEqual([false, true, true]);
    expect(steps[1]!.response.keys).toEqual([]);
    expect(last(steps).next).toBe('fullFeature');
  });

  test('a discovery session needs no TargetName and gets no portal group tag', () => {
    const steps = play([
      loginRequest({
        csg: 0,
        nsg: 1,
        transit: true,
        keys: [
          ['InitiatorName', INITIATOR],
          ['SessionType', 'Discovery'],
          ['AuthMethod', 'None'],
        ],
      }),
      operational([
        ['HeaderDigest', 'None'],
        ['MaxBurstLength', '262144'],
      ]),
    ]);
    expect(steps[0]!.response.keys).toEqual([['AuthMethod', 'None']]);
    expect(steps[1]!.response.keys).toEqual([
      ['HeaderDigest', 'None'],
      ['MaxBurstLength', 'Irrelevant'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
    expect(success(steps)).toMatchObject({ sessionKind: 'discovery', targetName: undefined });
  });

  test('a non-leading connection (TSIH set) does not ask for a new TSIH', () => {
    const steps = play([
      loginRequest({ ...securityRequest(TARGET_OPEN), tsih: 5 }),
      loginRequest({ csg: 1, nsg: 3, transit: true, tsih: 5, keys: [['HeaderDigest', 'None']] }),
    ]);
    expect(success(steps)).toMatchObject({ needsTsih: false, tsih: 5 });
    expect(steps[1]!.response.tsih).toBe(5);
  });
});

describe('CHAP', () => {
  function chapLogin(target: string, transitEarly: boolean, mutual?: { id: number; challenge: Buffer }) {
    const env = environment();
    let core = createLoginCore(env);
    const send = (request: LoginRequest) => {
      const step = core.step(request);
      core = step.core;
      return step;
    };
    const hello = send(
      loginRequest({
        csg: 0,
        nsg: transitEarly ? 1 : 0,
        transit: transitEarly,
        keys: [
          ['InitiatorName', INITIATOR],
          ['TargetName', target],
          ['AuthMethod', 'CHAP,None'],
        ],
      }),
    );
    const challenge = send(
      loginRequest({ csg: 0, nsg: transitEarly ? 1 : 0, transit: transitEarly, keys: [['CHAP_A', '7,5']] }),
    );
    const id = Number(find(challenge.response.keys, 'CHAP_I'));
    const bytes = Buffer.from(find(challenge.response.keys, 'CHAP_C')!.slice(2), 'hex');
    const answer = send(
      loginRequest({
        csg: 0,
        nsg: 1,
        transit: true,
        keys: [
          ['CHAP_N', 'alice'],
          ['CHAP_R', `0x${chapHash('sha256', id, INITIATOR_SECRET, bytes)}`],
          ...(mutual
            ? ([
                ['CHAP_I', String(mutual.id)],
                ['CHAP_C', `0x${mutual.challenge.toString('hex')}`],
              ] as const)
            : []),
        ],
      }),
    );
    const done = answer.next === 'failed' ? answer : send(operational());
    return { hello, challenge, answer, done };
  }

  test.each([false, true])('one-way CHAP (initiator sets T from the start: %s)', (transitEarly) => {
    const { hello, challenge, answer, done } = chapLogin(TARGET_CHAP, transitEarly);
    expect(hello.response).toMatchObject({ transit: false, csg: 0 });
    expect(hello.response.keys).toEqual([
      ['AuthMethod', 'CHAP'],
      ['TargetAlias', 'chap disk'],
      ['TargetPortalGroupTag', '1'],
    ]);
    expect(challenge.response.transit).toBe(false);
    expect(challenge.response.keys.map(([k]) => k)).toEqual(['CHAP_A', 'CHAP_I', 'CHAP_C']);
    expect(find(challenge.response.keys, 'CHAP_A')).toBe('7');
    expect(answer.response).toMatchObject({ transit: true, csg: 0, nsg: 1, keys: [] });
    expect(answer.note).toContain('CHAP user "alice" authenticated');
    expect(done.next).toBe('fullFeature');
    expect(done.result).toMatchObject({ outcome: 'fullFeature', authenticatedUser: 'alice' });
  });

  test('mutual CHAP: the target proves itself with its own secret', () => {
    const mutual = { id: 9, challenge: Buffer.from('00112233445566778899aabbccddeeff', 'hex') };
    const { answer, done } = chapLogin(TARGET_MUTUAL, false, mutual);
    expect(answer.response.keys).toEqual([
      ['CHAP_N', 'collie'],
      ['CHAP_R', `0x${chapHash('sha256', 9, TARGET_SECRET, mutual.challenge)}`],
    ]);
    expect(done.next).toBe('fullFeature');
  });

  test('the wrong secret fails with 0x0201 and the note holds no secret', () => {
    const env = environment({
      config: {
        ...TEST_CONFIG,
        targets: [
          { name: TARGET_CHAP, access: {}, chap: { incoming: [chapAccount('alice', 'a-different-secret')] } },
        ],
      },
    });
    const steps = play(
      [
        loginRequest({
          keys: [
            ['InitiatorName', INITIATOR],
            ['TargetName', TARGET_CHAP],
            ['AuthMethod', 'CHAP'],
          ],
        }),
        loginRequest({ keys: [['CHAP_A', '5']] }),
        loginRequest({
          transit: true,
          nsg: 1,
          keys: [
            ['CHAP_N', 'alice'],
            ['CHAP_R', `0x${'11'.repeat(16)}`],
          ],
        }),
      ],
      env,
    );
    expect(failureStatus(steps)).toBe('0x0201');
    expect(last(steps).note).not.toContain('a-different-secret');
  });

  test.each([
    ['AuthMethod=None offered to a CHAP target', [['AuthMethod', 'None']], '0x0201'],
    ['CHAP_A without AuthMethod=CHAP', [['CHAP_A', '5']], '0x0200'],
  ] as const)('%s -> %s', (_what, keys, status) => {
    const steps = play([
      loginRequest({ keys: [['InitiatorName', INITIATOR], ['TargetName', TARGET_CHAP], ...keys] }),
    ]);
    expect(failureStatus(steps)).toBe(status);
  });

  test('asking to leave security without offering AuthMethod to a CHAP target fails with 0x0201', () => {
    const steps = play([
      loginRequest({
        keys: [
          ['InitiatorName', INITIATOR],
          ['TargetName', TARGET_CHAP],
        ],
      }),
      loginRequest({ transit: true, nsg: 1 }),
    ]);
    expect(steps[0]!.response.transit).toBe(false);
    expect(failureStatus(steps)).toBe('0x0201');
  });

  test('CHAP_N before CHAP_A is a protocol error (0x0200)', () => {
    const steps = play([
      loginRequest({
        keys: [
          ['InitiatorName', INITIATOR],
          ['TargetName', TARGET_CHAP],
          ['AuthMethod', 'CHAP'],
        ],
      }),
      loginRequest({
        keys: [
          ['CHAP_N', 'alice'],
          ['CHAP_R', '0x00'],
        ],
      }),
    ]);
    expect(failureStatus(steps)).toBe('0x0200');
  });

  test('skipping security for a CHAP target fails with 0x0201', () => {
    const steps = play([
      operational([
        ['InitiatorName', INITIATOR],
        ['TargetName', TARGET_CHAP],
      ]),
    ]);
    expect(failureStatus(steps)).toBe('0x0201');
  });

  test('discovery with CHAP configured: skipping security fails with 0x0201', () => {
    const env = environment({
      config: { ...TEST_CONFIG, discoveryChap: { incoming: [chapAccount('d', 'discovery-secret')] } },
    });
    const steps = play(
      [
        operational([
          ['InitiatorName', INITIATOR],
          ['SessionType', 'Discovery'],
        ]),
      ],
      env,
    );
    expect(failureStatus(steps)).toBe('0x0201');
  });

  test('a CHAP secret configured too short answers 0x0300 (target error)', () => {
    const env = environment({
      config: {
        ...TEST_CONFIG,
        targets: [{ name: TARGET_CHAP, access: {}, chap: { incoming: [chapAccount('alice', 'short')] } }],
      },
    });
    const steps = play(
      [
        loginRequest({
          keys: [
            ['InitiatorName', INITIATOR],
            ['TargetName', TARGET_CHAP],
            ['AuthMethod', 'CHAP'],
          ],
        }),
        loginRequest({ keys: [['CHAP_A', '5']] }),
      ],
      env,
    );
    expect(failureStatus(steps)).toBe('0x0300');
  });
});

describe('continued text (C=1)', () => {
  test('each continued request gets an empty T=0 answer; the joined text is negotiated at C=0', () => {
    const whole = text([
      ['InitiatorName', INITIATOR],
      ['TargetName', TARGET_OPEN],
      ...LIBISCSI_OPERATIONAL_OFFER,
    ]);
    // Cut inside a key and inside a value.
    const cuts = [5, 60, whole.length - 3];
    const pieces = [
      whole.subarray(0, cuts[0]),
      whole.subarray(cuts[0], cuts[1]),
      whole.subarray(cuts[1], cuts[2]),
      whole.subarray(cuts[2]!),
    ];
    const requests = pieces.map((data, i) =>
      i < pieces.length - 1
        ? loginRequest({ csg: 1, continue: true, data })
        : loginRequest({ csg: 1, nsg: 3, transit: true, data }),
    );
    const steps = play(requests);
    for (const step of steps.slice(0, -1)) {
      expect(step.response).toMatchObject({
        transit: false,
        continue: false,
        csg: 1,
        statusClass: 0,
        keys: [],
      });
      expect(step.next).toBe('operationalNegotiation');
    }
    const joined = play([
      operational([['InitiatorName', INITIATOR], ['TargetName', TARGET_OPEN], ...LIBISCSI_OPERATIONAL_OFFER]),
    ]);
    expect(last(steps).response).toEqual(last(joined).response);
    expect(success(steps).parameters).toEqual(success(joined).parameters);
  });

  test('C=1 together with T=1 is refused (0x0200)', () => {
    const steps = play([loginRequest({ ...securityRequest(TARGET_OPEN), continue: true })]);
    expect(failureStatus(steps)).toBe('0x0200');
  });

  test('continued text beyond 64 KiB is refused (0x0200)', () => {
    const chunk = Buffer.alloc(16 * 1024, 0x41);
    const steps = play(Array.from({ length: 5 }, () => loginRequest({ continue: true, data: chunk })));
    expect(steps).toHaveLength(5);
    expect(failureStatus(steps)).toBe('0x0200');
  });
});

describe('refusals', () => {
  const hello = (keys: ReadonlyArray<readonly [string, string]>, fields: Partial<LoginRequest> = {}) =>
    loginRequest({ csg: 0, nsg: 1, transit: true, keys, ...fields });

  test.each([
    [
      'Version-min above 0',
      [
        hello(
          [
            ['InitiatorName', INITIATOR],
            ['TargetName', TARGET_OPEN],
          ],
          { versionMin: 1, versionMax: 2 },
        ),
      ],
      '0x0205',
    ],
    ['InitiatorName missing', [hello([['TargetName', TARGET_OPEN]])], '0x0207'],
    ['TargetName missing in a normal session', [hello([['InitiatorName', INITIATOR]])], '0x0207'],
    [
      'unknown target',
      [
        hello([
          ['InitiatorName', INITIATOR],
          ['TargetName', 'iqn.2026-01.test:nope'],
        ]),
      ],
      '0x0203',
    ],
    [
      'malformed TargetName',
      [
        hello([
          ['InitiatorName', INITIATOR],
          ['TargetName', 'disk0'],
        ]),
      ],
      '0x0203',
    ],
    [
      'initiator not in the ACL',
      [
        hello([
          ['InitiatorName', OTHER_INITIATOR],
          ['TargetName', TARGET_ACL],
        ]),
      ],
      '0x0202',
    ],
    [
      'unknown SessionType',
      [
        hello([
          ['InitiatorName', INITIATOR],
          ['SessionType', 'Boot'],
        ]),
      ],
      '0x0209',
    ],
    [
      'malformed InitiatorName',
      [
        hello([
          ['InitiatorName', 'host1'],
          ['TargetName', TARGET_OPEN],
        ]),
      ],
      '0x0200',
    ],
    ['CSG 3 in a Login Request', [hello([['InitiatorName', INITIATOR]], { csg: 3 })], '0x0200'],
    ['CSG 2 (reserved)', [hello([['InitiatorName', INITIATOR]], { csg: 2 })], '0x0200'],
    ['NSG 2 (reserved)', [hello([['InitiatorName', INITIATOR]], { nsg: 2 })], '0x0200'],
    ['T=1 with NSG not after CSG', [hello([['InitiatorName', INITIATOR]], { csg: 1, nsg: 1 })], '0x0200'],
    ['malformed text', [loginRequest({ data: Buffer.from('InitiatorName\0') })], '0x0200'],
  ] as const)('%s -> %s', (_what, requests, status) => {
    expect(failureStatus(play([...requests]))).toBe(status);
  });

  test('the ACL also checks the address', () => {
    const steps = play(
      [
        hello([
          ['InitiatorName', INITIATOR],
          ['TargetName', TARGET_ACL],
        ]),
      ],
      environment({ initiatorAddress: '192.168.0.9' }),
    );
    expect(failureStatus(steps)).toBe('0x0202');
    const allowed = play([
      hello([
        ['InitiatorName', INITIATOR],
        ['TargetName', TARGET_ACL],
      ]),
    ]);
    expect(last(allowed).next).toBe('operationalNegotiation');
  });

  test.each([
    ['CSG back to security after the transit', { csg: 0, nsg: 1, transit: true }],
    ['ISID changed', { csg: 1, isid: '400001370001' }],
    ['TSIH changed', { csg: 1, tsih: 9 }],
    ['CID changed', { csg: 1, cid: 2 }],
    ['Version-max changed', { csg: 1, versionMax: 1 }],
  ] as const)('%s -> 0x0200', (_what, fields) => {
    const steps = play([securityRequest(TARGET_OPEN), loginRequest({ ...fields, keys: [] })]);
    expect(failureStatus(steps)).toBe('0x0200');
  });

  test('a key renegotiated in a later request -> 0x0200', () => {
    const steps = play([
      securityRequest(TARGET_OPEN),
      loginRequest({ csg: 1, keys: [['MaxBurstLength', '262144']] }),
      loginRequest({ csg: 1, keys: [['MaxBurstLength', '65536']] }),
    ]);
    expect(steps).toHaveLength(3);
    expect(failureStatus(steps)).toBe('0x0200');
  });

  test(`more than ${LOGIN_REQUESTS_MAX} requests in one login -> 0x0200`, () => {
    const idle = Array.from({ length: LOGIN_REQUESTS_MAX }, () => loginRequest({ csg: 0 }));
    const steps = play([
      loginRequest({
        keys: [
          ['InitiatorName', INITIATOR],
          ['TargetName', TARGET_OPEN],
        ],
      }),
      ...idle,
    ]);
    expect(steps).toHaveLength(LOGIN_REQUESTS_MAX + 1);
    expect(failureStatus(steps)).toBe('0x0200');
  });

  test('an answer larger than 8192 bytes (a flood of unknown keys) -> 0x0200', () => {
    const flood = Array.from(
      { length: 200 },
      (_, i) => [`X-com.example.${'k'.repeat(40)}${i}`, '1'] as const,
    );
    const steps = play([hello([['InitiatorName', INITIATOR], ['TargetName', TARGET_OPEN], ...flood])]);
    expect(failureStatus(steps)).toBe('0x0200');
  });

  test('operational keys in the security stage -> 0x0200', () => {
    const steps = play([
      hello([
        ['InitiatorName', INITIATOR],
        ['TargetName', TARGET_OPEN],
        ['MaxBurstLength', '512'],
      ]),
    ]);
    expect(failureStatus(steps)).toBe('0x0200');
  });

  test('a refusal echoes ISID, TSIH and the task tag, with Version-max/active 0', () => {
    const steps = play([hello([['TargetName', TARGET_OPEN]], { initiatorTaskTag: 0x1234, versionMax: 3 })]);
    expect(last(steps).response).toMatchObject({
      isid: '400001370000',
      tsih: 0,
      initiatorTaskTag: 0x1234,
      versionMax: 0,
      versionActive: 0,
      statusClass: 2,
      statusDetail: 7,
    });
  });

  test('after the login ended, another request is refused (0x0200)', () => {
    let core = createLoginCore(environment());
    const first = core.step(
      operational([
        ['InitiatorName', INITIATOR],
        ['TargetName', TARGET_OPEN],
      ]),
    );
    expect(first.next).toBe('fullFeature');
    core = first.core;
    const again = core.step(operational([]));
    expect(again.next).toBe('failed');
    expect(statusText(again.response)).toBe('0x0200');
  });
});
