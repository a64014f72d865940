/**
 * Helpers for the login tests: a deliberately naive login-text parser and builder that share no
 * code with the target (split on NUL, split at the first '='), a standard target configuration,
 * and Login Request builders.
 */
import type { LoginRequest } from '../../../machines/login.js';
import { createRng } from '../../../src/core/rng.js';
import { chapAccount, rngChallengeSource } from '../../../src/iscsi/login/chap.js';
import type {
  LoginEnvironment,
  LoginTargetConfig,
  ParseLoginText,
} from '../../../src/iscsi/login/login-core.js';
import { COLLIE_NEGOTIATION_DEFAULTS } from '../../../src/iscsi/login/negotiate.js';

export const INITIATOR = 'iqn.2026-01.test:initiator';
export const OTHER_INITIATOR = 'iqn.2026-01.test:stranger';
export const TARGET_OPEN = 'iqn.2026-01.test:open';
export const TARGET_CHAP = 'iqn.2026-01.test:chap';
export const TARGET_MUTUAL = 'iqn.2026-01.test:mutual';
export const TARGET_ACL = 'iqn.2026-01.test:acl';
export const INITIATOR_SECRET = 'initiator-secret-16';
export const TARGET_SECRET = 'target-secret-1234';

export const parseTextNaive: ParseLoginText = (data) => {
  const text = Buffer.from(data).toString('utf8');
  const pairs: Array<[string, string]> = [];
  for (const entry of text.split('\0')) {
    if (entry === '') continue;
    const at = entry.indexOf('=');
    if (at <= 0) return { problem: `entry "${entry}" has no key=value shape` };
    pairs.push([entry.slice(0, at), entry.slice(at + 1)]);
  }
  return { pairs };
};

/** key=value\0 for each pair. */
export function text(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.from(pairs.map(([key, value]) => `${key}=${value}\0`).join(''), 'utf8');
}

export const TEST_CONFIG: LoginTargetConfig = {
  portalGroupTag: 1,
  negotiation: COLLIE_NEGOTIATION_DEFAULTS,
  targets: [
    { name: TARGET_OPEN, access: {} },
    {
      name: TARGET_CHAP,
      alias: 'chap disk',
      access: {},
      chap: { incoming: [chapAccount('alice', INITIATOR_SECRET)] },
    },
    {
      name: TARGET_MUTUAL,
      access: {},
      chap: {
        incoming: [chapAccount('alice', INITIATOR_SECRET)],
        outgoing: chapAccount('collie', TARGET_SECRET),
      },
    },
    { name: TARGET_ACL, access: { initiatorNames: [INITIATOR], initiatorAddresses: ['10.0.0.0/8'] } },
  ],
};

export function environment(overrides: Partial<LoginEnvironment> = {}): LoginEnvironment {
  return {
    config: TEST_CONFIG,
    challenges: rngChallengeSource(createRng('login-test')),
    initiatorAddress: '10.1.2.3',
    parseText: parseTextNaive,
    ...overrides,
  };
}

export const ISID = '400001370000';

/** A Login Request with neutral fields; `keys` become the data segment. */
export function loginRequest(
  fields: Partial<LoginRequest> & { keys?: ReadonlyArray<readonly [string, string]> },
): LoginRequest {
  const { keys, ...rest } = fields;
  return {
    transit: false,
    continue: false,
    csg: 0,
    nsg: 0,
    versionMax: 0,
    versionMin: 0,
    isid: ISID,
    tsih: 0,
    cid: 1,
    initiatorTaskTag: 7,
    data: text(keys ?? []),
    ...rest,
  };
}

/** The first request of a normal session without authentication, moving to operational. */
export function securityRequest(
  target: string,
  more: ReadonlyArray<readonly [string, string]> = [],
): LoginRequest {
  return loginRequest({
    csg: 0,
    nsg: 1,
    transit: true,
    keys: [
      ['InitiatorName', INITIATOR],
      ['TargetName', target],
      ['SessionType', 'Normal'],
      ['AuthMethod', 'None'],
      ...more,
    ],
  });
}

/** What libiscsi 1.19 offers in LoginOperationalNegotiation (anchor-tgt.md, login capture). */
export const LIBISCSI_OPERATIONAL_OFFER: ReadonlyArray<readonly [string, string]> = [
  ['HeaderDigest', 'None,CRC32C'],
  ['DataDigest', 'None'],
  ['InitialR2T', 'No'],
  ['ImmediateData', 'Yes'],
  ['MaxBurstLength', '262144'],
  ['FirstBurstLength', '262144'],
  ['MaxRecvDataSegmentLength', '262144'],
  ['MaxOutstandingR2T', '1'],
  ['ErrorRecoveryLevel', '0'],
  ['MaxConnections', '1'],
];

export function find(keys: ReadonlyArray<readonly [string, string]>, name: string): string | undefined {
  return keys.find(([key]) => key === name)?.[1];
}
