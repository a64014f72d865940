/**
 * Goal: SendTargets answers list exactly the targets an initiator may reach, each as TargetName
 * then one TargetAddress per portal (IPv6 in brackets, tag always present), following RFC 7143
 * Appendix C for All / a name / an empty value in discovery and normal sessions; ACLs match by
 * name and by address (CIDR, IPv4-mapped IPv6).
 * Method: a fixed catalogue of targets, answered for several initiators and request values.
 */
import { describe, expect, test } from 'vitest';
import { isInitiatorAllowed, validateAccess } from '../../../src/iscsi/login/access.js';
import {
  answerSendTargets,
  type DiscoverableTarget,
  formatTargetAddress,
  type SendTargetsRequest,
} from '../../../src/iscsi/login/discovery.js';

const ALPHA = 'iqn.2026-01.test:alpha';
const BETA = 'iqn.2026-01.test:beta';
const GAMMA = 'iqn.2026-01.test:gamma';
const HOST_A = 'iqn.2026-01.test:host-a';
const HOST_B = 'iqn.2026-01.test:host-b';

const TARGETS: DiscoverableTarget[] = [
  {
    name: ALPHA,
    portals: [
      { host: '192.0.2.10', port: 3260, portalGroupTag: 1 },
      { host: '2001:db8::10', port: 3260, portalGroupTag: 1 },
    ],
    access: {},
  },
  {
    name: BETA,
    portals: [{ host: '192.0.2.11', port: 3261, portalGroupTag: 2 }],
    access: { initiatorNames: [HOST_A] },
  },
  {
    name: GAMMA,
    portals: [{ host: '0.0.0.0', port: 3260, portalGroupTag: 3 }],
    access: { initiatorAddresses: ['10.0.0.0/8'] },
  },
];

function ask(request: Partial<SendTargetsRequest> & { value: string }) {
  return answerSendTargets(
    { sessionType: 'Discovery', initiator: { name: HOST_A, address: '10.9.8.7' }, ...request },
    TARGETS,
  );
}

describe('answerSendTargets in a discovery session', () => {
  test('All lists every visible target with all its portals, in configuration order', () => {
    expect(ask({ value: 'All', localAddress: '10.0.0.1' })).toEqual([
      ['TargetName', ALPHA],
      ['TargetAddress', '192.0.2.10:3260,1'],
      ['TargetAddress', '[2001:db8::10]:3260,1'],
      ['TargetName', BETA],
      ['TargetAddress', '192.0.2.11:3261,2'],
      ['TargetName', GAMMA],
      ['TargetAddress', '10.0.0.1:3260,3'],
    ]);
  });

  test('ACLs hide targets: another name, another address', () => {
    const answer = ask({ value: 'All', initiator: { name: HOST_B, address: '192.168.1.5' } });
    expect(answer.filter(([key]) => key === 'TargetName').map(([, name]) => name)).toEqual([ALPHA]);
  });

  test('a wildcard portal is reported with the local address, or left out when it is unknown', () => {
    expect(ask({ value: GAMMA })).toEqual([['TargetName', GAMMA]]);
    expect(ask({ value: GAMMA, localAddress: 'fd00::1' })).toEqual([
      ['TargetName', GAMMA],
      ['TargetAddress', '[fd00::1]:3260,3'],
    ]);
  });

  test('a name returns that target (case-insensitively); unknown and hidden names return nothing', () => {
    expect(ask({ value: BETA.toUpperCase() })).toEqual([
      ['TargetName', BETA],
      ['TargetAddress', '192.0.2.11:3261,2'],
    ]);
    expect(ask({ value: 'iqn.2026-01.test:nope' })).toEqual([]);
    expect(ask({ value: BETA, initiator: { name: HOST_B, address: '10.0.0.2' } })).toEqual([]);
  });

  test('an empty value is Rejected: a discovery session has no target of its own', () => {
    expect(ask({ value: '' })).toEqual([['SendTargets', 'Reject']]);
  });
});

describe('answerSendTargets in a normal session', () => {
  const normal = { sessionType: 'Normal' as const, sessionTargetName: ALPHA };

  test('an empty value or the own name returns the session target', () => {
    const own = [
      ['TargetName', ALPHA],
      ['TargetAddress', '192.0.2.10:3260,1'],
      ['TargetAddress', '[2001:db8::10]:3260,1'],
    ];
    expect(ask({ ...normal, value: '' })).toEqual(own);
    expect(ask({ ...normal, value: ALPHA })).toEqual(own);
  });

  test('other targets are not reported and All is Rejected', () => {
    expect(ask({ ...normal, value: BETA })).toEqual([]);
    expect(ask({ ...normal, value: 'All' })).toEqual([['SendTargets', 'Reject']]);
  });
});

describe('formatTargetAddress', () => {
  test.each([
    ['192.0.2.1', 3260, 1, '192.0.2.1:3260,1'],
    ['::1', 3260, 0, '[::1]:3260,0'],
    ['storage.example.com', 3262, 65535, 'storage.example.com:3262,65535'],
  ])('%s %i %i -> %s', (host, port, tag, expected) => {
    expect(formatTargetAddress(host, port, tag)).toBe(expected);
  });
});

describe('isInitiatorAllowed', () => {
  test.each([
    [{}, HOST_A, '203.0.113.9', true],
    [{ initiatorNames: [HOST_A] }, HOST_A.toUpperCase(), '203.0.113.9', true],
    [{ initiatorNames: [HOST_A] }, HOST_B, '203.0.113.9', false],
    [{ initiatorAddresses: ['10.0.0.0/8'] }, HOST_B, '10.255.0.1', true],
    [{ initiatorAddresses: ['10.0.0.0/8'] }, HOST_B, '11.0.0.1', false],
    [{ initiatorAddresses: ['10.0.0.0/8'] }, HOST_B, '::ffff:10.1.1.1', true],
    [{ initiatorAddresses: ['192.0.2.7'] }, HOST_B, '192.0.2.7', true],
    [{ initiatorAddresses: ['192.0.2.7'] }, HOST_B, '192.0.2.8', false],
    [{ initiatorAddresses: ['fd00::/8'] }, HOST_B, 'fd12::1', true],
    [{ initiatorAddresses: ['fd00::/8'] }, HOST_B, '10.0.0.1', false],
    [{ initiatorAddresses: ['not-an-address'] }, HOST_B, '10.0.0.1', false],
    [{ initiatorNames: [HOST_A], initiatorAddresses: ['10.0.0.0/8'] }, HOST_A, '11.0.0.1', false],
    [{ initiatorNames: [], initiatorAddresses: [] }, HOST_A, '10.0.0.1', false],
  ])('%j admits %s at %s: %s', (access, name, address, expected) => {
    expect(isInitiatorAllowed(access, { name, address })).toBe(expected);
  });

  test('validateAccess names unusable address rules', () => {
    expect(validateAccess({ initiatorAddresses: ['10.0.0.0/8', '::1', '10.0.0.0/33', 'host'] })).toHaveLength(
      2,
    );
  });
});
