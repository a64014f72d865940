/**
 * Goal: negotiate() answers every offer the way RFC 7143 §6.2 and the key table say, for each
 * rule type (OR, AND, min, max, list, declarative, obsolete), at the edges of every range and
 * with wrongly typed values; refuses renegotiation and misplaced keys; and turns what libiscsi
 * 1.19 offers into the fast parameters tgt fails to give.
 * Method: table tests of single offers against a fresh operational-stage state, then whole
 * offers, then finishNegotiation on the resulting state.
 */
import { describe, expect, test } from 'vitest';
import {
  COLLIE_NEGOTIATION_DEFAULTS,
  finishNegotiation,
  initialNegotiationState,
  type NegotiationConfig,
  type NegotiationStage,
  type NegotiationTargetConfig,
  negotiate,
  OFFERED_PAIRS_MAX,
} from '../../../src/iscsi/login/negotiate.js';
import { statusText } from '../../../src/iscsi/login/status.js';
import { find, LIBISCSI_OPERATIONAL_OFFER } from './login-support.js';

const TARGET: NegotiationTargetConfig = { negotiation: COLLIE_NEGOTIATION_DEFAULTS, authMethods: ['None'] };

function state(stage: NegotiationStage = 'operational', leading = true) {
  return initialNegotiationState({ stage, leading });
}

function withConfig(overrides: Partial<NegotiationConfig>): NegotiationTargetConfig {
  return { ...TARGET, negotiation: { ...COLLIE_NEGOTIATION_DEFAULTS, ...overrides } };
}

/** The answer to one offered key (declarations the target adds are left out). */
function answerTo(name: string, value: string, target = TARGET, stage: NegotiationStage = 'operational') {
  const result = negotiate([[name, value]], state(stage), target);
  expect(result.error).toBeUndefined();
  return find(result.reply, name);
}

describe('boolean rules', () => {
  test.each([
    // InitialR2T is OR; Collie says No, so the initiator's value wins.
    ['InitialR2T', 'No', 'No'],
    ['InitialR2T', 'Yes', 'Yes'],
    // ImmediateData is AND; Collie says Yes.
    ['ImmediateData', 'Yes', 'Yes'],
    ['ImmediateData', 'No', 'No'],
    // In-order data is OR with Collie's Yes: always Yes.
    ['DataPDUInOrder', 'No', 'Yes'],
    ['DataSequenceInOrder', 'No', 'Yes'],
    ['DataSequenceInOrder', 'Yes', 'Yes'],
  ])('%s=%s -> %s', (name, offer, expected) => {
    expect(answerTo(name, offer)).toBe(expected);
  });

  test('a target preferring InitialR2T=Yes forces it (OR), one refusing ImmediateData forces No (AND)', () => {
    const strict = withConfig({ initialR2T: true, immediateData: false });
    expect(answerTo('InitialR2T', 'No', strict)).toBe('Yes');
    expect(answerTo('ImmediateData', 'Yes', strict)).toBe('No');
  });

  test.each(['yes', 'no', 'YES', 'true', '1', '', 'Yes,No'])(
    'InitialR2T=%j is Rejected and changes nothing',
    (offer) => {
      const result = negotiate([['InitialR2T', offer]], state(), TARGET);
      expect(find(result.reply, 'InitialR2T')).toBe('Reject');
      expect(result.state.agreed.InitialR2T).toBeUndefined();
    },
  );
});

describe('numeric rules', () => {
  test.each([
    // min rule, Collie's limit 16776192, range 512..2^24-1
    ['MaxBurstLength', '512', '512'],
    ['MaxBurstLength', '262144', '262144'],
    ['MaxBurstLength', '0x40000', '262144'],
    ['MaxBurstLength', '16776192', '16776192'],
    ['MaxBurstLength', '16777215', '16776192'],
    ['MaxBurstLength', '511', 'Reject'],
    ['MaxBurstLength', '16777216', 'Reject'],
    ['MaxBurstLength', '0', 'Reject'],
    ['MaxBurstLength', '-1', 'Reject'],
    ['MaxBurstLength', '256k', 'Reject'],
    ['MaxBurstLength', 'Yes', 'Reject'],
    ['MaxBurstLength', '', 'Reject'],
    ['MaxBurstLength', '262144,512', 'Reject'],
    // min rule, limit 16, range 1..65535
    ['MaxOutstandingR2T', '1', '1'],
    ['MaxOutstandingR2T', '16', '16'],
    ['MaxOutstandingR2T', '65535', '16'],
    ['MaxOutstandingR2T', '0', 'Reject'],
    ['MaxOutstandingR2T', '65536', 'Reject'],
    // min rule, limit 1, range 1..65535
    ['MaxConnections', '1', '1'],
    ['MaxConnections', '8', '1'],
    ['MaxConnections', '0', 'Reject'],
    // min rule, limit 0, range 0..2
    ['ErrorRecoveryLevel', '0', '0'],
    ['ErrorRecoveryLevel', '2', '0'],
    ['ErrorRecoveryLevel', '3', 'Reject'],
    // min rule, limit 20, range 0..3600
    ['DefaultTime2Retain', '0', '0'],
    ['DefaultTime2Retain', '20', '20'],
    ['DefaultTime2Retain', '3600', '20'],
    ['DefaultTime2Retain', '3601', 'Reject'],
    // max rule, Collie's floor 2, range 0..3600
    ['DefaultTime2Wait', '0', '2'],
    ['DefaultTime2Wait', '2', '2'],
    ['DefaultTime2Wait', '3600', '3600'],
    ['DefaultTime2Wait', '3601', 'Reject'],
    // min rule, Collie speaks level 1 (RFC 7143), range 0..31
    ['iSCSIProtocolLevel', '0', '0'],
    ['iSCSIProtocolLevel', '2', '1'],
    ['iSCSIProtocolLevel', '31', '1'],
    ['iSCSIProtocolLevel', '32', 'Reject'],
  ])('%s=%s -> %s', (name, offer, expected) => {
    expect(answerTo(name, offer)).toBe(expected);
  });

  test('FirstBurstLength: min with 256 KiB, and never above MaxBurstLength offered in the same PDU', () => {
    expect(answerTo('FirstBurstLength', '65536')).toBe('65536');
    expect(answerTo('FirstBurstLength', '1048576')).toBe('262144');
    const capped = negotiate(
      [
        ['FirstBurstLength', '262144'],
        ['MaxBurstLength', '131072'],
      ],
      state(),
      TARGET,
    );
    expect(capped.reply.slice(0, 2)).toEqual([
      ['FirstBurstLength', '131072'],
      ['MaxBurstLength', '131072'],
    ]);
  });

  test('FirstBurstLength is Irrelevant when InitialR2T=Yes and ImmediateData=No, in any offer order', () => {
    const result = negotiate(
      [
        ['FirstBurstLength', '65536'],
        ['InitialR2T', 'Yes'],
        ['ImmediateData', 'No'],
      ],
      state(),
      TARGET,
    );
    expect(result.reply.slice(0, 3)).toEqual([
      ['FirstBurstLength', 'Irrelevant'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'No'],
    ]);
    // With unsolicited data possible it is relevant again.
    expect(answerTo('FirstBurstLength', '65536')).toBe('65536');
  });
});

describe('list rules', () => {
  test.each([
    ['allow', 'None,CRC32C', 'None'],
    ['allow', 'CRC32C,None', 'CRC32C'],
    ['allow', 'CRC32C', 'CRC32C'],
    ['allow', 'Y-com.example.digest,CRC32C', 'CRC32C'],
    ['allow', 'Y-com.example.digest', 'Reject'],
    ['allow', 'CRC32C,', 'Reject'],
    ['none', 'CRC32C,None', 'None'],
    ['none', 'CRC32C', 'Reject'],
    ['require', 'None,CRC32C', 'CRC32C'],
    ['require', 'CRC32C', 'CRC32C'],
  ] as const)('digest policy %s: HeaderDigest=%s -> %s', (policy, offer, expected) => {
    expect(answerTo('HeaderDigest', offer, withConfig({ headerDigest: policy }))).toBe(expected);
    expect(answerTo('DataDigest', offer, withConfig({ dataDigest: policy }))).toBe(expected);
  });

  test('a required digest the initiator does not offer fails the login with 0x0200', () => {
    const result = negotiate([['HeaderDigest', 'None']], state(), withConfig({ headerDigest: 'require' }));
    expect(result.error && statusText(result.error)).toBe('0x0200');
    expect(result.error?.reason).toContain('requires CRC32C');
  });

  test('TaskReporting: only RFC3720 semantics are implemented', () => {
    expect(answerTo('TaskReporting', 'ResponseFence,RFC3720')).toBe('RFC3720');
    expect(answerTo('TaskReporting', 'FastAbort')).toBe('Reject');
  });

  test('AuthMethod picks the first offered method the login accepts, or fails with 0x0201', () => {
    expect(answerTo('AuthMethod', 'CHAP,None', TARGET, 'security')).toBe('None');
    expect(answerTo('AuthMethod', 'None,CHAP', { ...TARGET, authMethods: ['CHAP'] }, 'security')).toBe(
      'CHAP',
    );
    expect(answerTo('AuthMethod', 'KRB5,SRP,CHAP', { ...TARGET, authMethods: ['CHAP'] }, 'security')).toBe(
      'CHAP',
    );
    const refused = negotiate([['AuthMethod', 'None']], state('security'), {
      ...TARGET,
      authMethods: ['CHAP'],
    });
    expect(refused.error && statusText(refused.error)).toBe('0x0201');
    const noChap = negotiate([['AuthMethod', 'CHAP']], state('security'), TARGET);
    expect(noChap.error && statusText(noChap.error)).toBe('0x0201');
  });
});

describe('declarative keys', () => {
  test("the initiator's MaxRecvDataSegmentLength is recorded, not answered; Collie declares its own once", () => {
    const first = negotiate([['MaxRecvDataSegmentLength', '65536']], state(), TARGET);
    expect(first.reply).toEqual([['MaxRecvDataSegmentLength', '262144']]);
    expect(first.state.agreed.MaxRecvDataSegmentLength).toBe(65536);
    const second = negotiate([['MaxBurstLength', '262144']], first.state, TARGET);
    expect(second.reply).toEqual([['MaxBurstLength', '262144']]);
  });

  test.each(['511', '16777216', 'big'])(
    'MaxRecvDataSegmentLength=%s is Rejected (the 8192 default stays)',
    (offer) => {
      const result = negotiate([['MaxRecvDataSegmentLength', offer]], state(), TARGET);
      expect(result.reply[0]).toEqual(['MaxRecvDataSegmentLength', 'Reject']);
      expect(result.state.agreed.MaxRecvDataSegmentLength).toBeUndefined();
    },
  );

  test('names, aliases and X#NodeArchitecture are recorded silently in either stage', () => {
    for (const stage of ['security', 'operational'] as const) {
      const result = negotiate(
        [
          ['InitiatorName', 'iqn.2026-01.test:i'],
          ['InitiatorAlias', 'host one'],
          ['TargetName', 'iqn.2026-01.test:t'],
          ['SessionType', 'Normal'],
        ],
        state(stage),
        TARGET,
      );
      expect(result.error).toBeUndefined();
      expect(result.reply.filter(([name]) => name !== 'MaxRecvDataSegmentLength')).toEqual([]);
      expect(result.state.agreed).toMatchObject({ InitiatorAlias: 'host one', SessionType: 'Normal' });
    }
    const node = negotiate([['X#NodeArchitecture', 'collie-test']], state(), TARGET);
    expect(find(node.reply, 'X#NodeArchitecture')).toBeUndefined();
  });

  test('an unknown SessionType fails with 0x0209', () => {
    const result = negotiate([['SessionType', 'Boot']], state('security'), TARGET);
    expect(result.error && statusText(result.error)).toBe('0x0209');
  });

  test('in a discovery session the data-transfer keys are Irrelevant, even offered before SessionType', () => {
    const result = negotiate(
      [
        ['MaxBurstLength', '262144'],
        ['InitialR2T', 'No'],
        ['MaxConnections', '1'],
        ['SessionType', 'Discovery'],
        ['HeaderDigest', 'None'],
        ['ErrorRecoveryLevel', '0'],
      ],
      state(),
      TARGET,
    );
    expect(result.reply.slice(0, 5)).toEqual([
      ['MaxBurstLength', 'Irrelevant'],
      ['InitialR2T', 'Irrelevant'],
      ['MaxConnections', 'Irrelevant'],
      ['HeaderDigest', 'None'],
      ['ErrorRecoveryLevel', '0'],
    ]);
  });

  test('keys only a target may send are Rejected when the initiator sends them', () => {
    expect(answerTo('TargetAlias', 'mine')).toBe('Reject');
    expect(answerTo('TargetPortalGroupTag', '1')).toBe('Reject');
    expect(answerTo('TargetAddress', '10.0.0.1:3260,1')).toBe('Reject');
  });

  test('TargetPortalGroupTag and TargetAlias are declared once, in the first answer', () => {
    const target = { ...TARGET, portalGroupTag: 7, targetAlias: 'disk one' };
    const first = negotiate([['AuthMethod', 'None']], state('security'), target);
    expect(first.reply).toEqual([
      ['AuthMethod', 'None'],
      ['TargetAlias', 'disk one'],
      ['TargetPortalGroupTag', '7'],
    ]);
    const second = negotiate([['MaxBurstLength', '4096']], { ...first.state, stage: 'operational' }, target);
    expect(second.reply).toEqual([
      ['MaxBurstLength', '4096'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
  });
});

describe('unknown, obsolete and reserved', () => {
  test.each([
    ['X-com.example.Feature', 'on', 'NotUnderstood'],
    ['X#OtherPublicKey', '1', 'NotUnderstood'],
    ['RDMAExtensions', 'Yes', 'NotUnderstood'],
    ['MaxBurstlength', '512', 'NotUnderstood'],
    ['IFMarker', 'Yes', 'No'],
    ['OFMarker', 'No', 'No'],
    ['IFMarker', 'maybe', 'Reject'],
    ['IFMarkInt', '2048', 'Reject'],
    ['OFMarkInt', '1~65535', 'Reject'],
    ['MaxBurstLength', 'Reject', 'Reject'],
    ['InitialR2T', 'Irrelevant', 'Reject'],
  ])('%s=%s -> %s', (name, offer, expected) => {
    expect(answerTo(name, offer)).toBe(expected);
  });

  test('an initiator answering our declarations gets no reply and no renegotiation error', () => {
    const result = negotiate(
      [
        ['MaxRecvDataSegmentLength', 'NotUnderstood'],
        ['TargetPortalGroupTag', 'Irrelevant'],
        ['MaxRecvDataSegmentLength', '65536'],
      ],
      state(),
      TARGET,
    );
    expect(result.error).toBeUndefined();
    expect(result.reply).toEqual([['MaxRecvDataSegmentLength', '262144']]);
  });

  test('unknown keys repeated are answered each time, not refused', () => {
    const result = negotiate(
      [
        ['X-vendor.a', '1'],
        ['X-vendor.a', '2'],
      ],
      state(),
      TARGET,
    );
    expect(result.error).toBeUndefined();
    expect(result.reply.slice(0, 2)).toEqual([
      ['X-vendor.a', 'NotUnderstood'],
      ['X-vendor.a', 'NotUnderstood'],
    ]);
  });

  test('a value longer than the key allows is Rejected', () => {
    expect(answerTo('InitiatorAlias', 'a'.repeat(256))).toBe('Reject');
    expect(answerTo('InitiatorAlias', 'a'.repeat(255))).toBeUndefined();
  });
});

describe('protocol errors (0x0200)', () => {
  test('a key offered twice in one PDU', () => {
    const result = negotiate(
      [
        ['MaxBurstLength', '512'],
        ['MaxBurstLength', '1024'],
      ],
      state(),
      TARGET,
    );
    expect(result.error && statusText(result.error)).toBe('0x0200');
    expect(result.error?.reason).toContain('MaxBurstLength was sent twice');
  });

  test('a key renegotiated in a later PDU of the same login', () => {
    const first = negotiate([['InitialR2T', 'No']], state(), TARGET);
    const second = negotiate([['InitialR2T', 'No']], first.state, TARGET);
    expect(second.error && statusText(second.error)).toBe('0x0200');
  });

  test.each([
    ['an operational key during security negotiation', 'security', 'HeaderDigest', 'None'],
    ['a security key during operational negotiation', 'operational', 'AuthMethod', 'None'],
    ['a CHAP key during operational negotiation', 'operational', 'CHAP_A', '5'],
    ['SendTargets during login', 'operational', 'SendTargets', 'All'],
  ] as const)('%s', (_what, stage, name, value) => {
    const result = negotiate([[name, value]], state(stage), TARGET);
    expect(result.error && statusText(result.error)).toBe('0x0200');
  });

  test('leading-only keys on a non-leading connection; connection keys and declarations are fine there', () => {
    const refused = negotiate([['MaxBurstLength', '512']], state('operational', false), TARGET);
    expect(refused.error && statusText(refused.error)).toBe('0x0200');
    const accepted = negotiate(
      [
        ['HeaderDigest', 'None'],
        ['SessionType', 'Normal'],
        ['MaxRecvDataSegmentLength', '8192'],
      ],
      state('operational', false),
      TARGET,
    );
    expect(accepted.error).toBeUndefined();
  });

  test(`more than ${OFFERED_PAIRS_MAX} keys in one offer`, () => {
    const offer = Array.from({ length: OFFERED_PAIRS_MAX + 1 }, (_, i) => [`X-k${i}`, '1'] as const);
    const result = negotiate(offer, state(), TARGET);
    expect(result.error && statusText(result.error)).toBe('0x0200');
  });
});

describe('CHAP keys', () => {
  test('are checked, then handed back for the CHAP exchange instead of answered', () => {
    const result = negotiate(
      [
        ['AuthMethod', 'CHAP'],
        ['CHAP_A', '7,5'],
      ],
      state('security'),
      { ...TARGET, authMethods: ['CHAP'] },
    );
    expect(result.reply).toEqual([['AuthMethod', 'CHAP']]);
    expect(result.authKeys).toEqual([['CHAP_A', '7,5']]);
  });
});

describe('the libiscsi 1.19 offer', () => {
  test('gets the fast answers: InitialR2T=No, 256 KiB bursts, and a declared 256 KiB MaxRecvDataSegmentLength', () => {
    const result = negotiate(LIBISCSI_OPERATIONAL_OFFER, state(), TARGET);
    expect(result.error).toBeUndefined();
    expect(result.reply).toEqual([
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['InitialR2T', 'No'],
      ['ImmediateData', 'Yes'],
      ['MaxBurstLength', '262144'],
      ['FirstBurstLength', '262144'],
      ['MaxOutstandingR2T', '1'],
      ['ErrorRecoveryLevel', '0'],
      ['MaxConnections', '1'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
    const finished = finishNegotiation(result.state, COLLIE_NEGOTIATION_DEFAULTS);
    expect('parameters' in finished).toBe(true);
    if (!('parameters' in finished)) return;
    const { session, connection } = finished.parameters;
    expect(session).toMatchObject({
      sessionType: 'Normal',
      initialR2T: false,
      immediateData: true,
      firstBurstLengthBytes: 262144,
      maxBurstLengthBytes: 262144,
      maxOutstandingR2T: 1,
      errorRecoveryLevel: 0,
      maxConnections: 1,
      defaultTime2WaitSeconds: 2,
      defaultTime2RetainSeconds: 20,
      dataPduInOrder: true,
      dataSequenceInOrder: true,
    });
    expect(connection).toEqual({
      headerDigest: 'None',
      dataDigest: 'None',
      maxSendDataSegmentLengthBytes: 262144,
      maxRecvDataSegmentLengthBytes: 262144,
    });
    // tgt's answer (InitialR2T=Yes, FirstBurstLength=65536, no MaxRecvDataSegmentLength) makes a
    // 1 MiB write 128 Data-Out PDUs of 8 KiB; these parameters make it 4 PDUs of 256 KiB.
    expect(writePdus(1 << 20, session.immediateData, connection.maxRecvDataSegmentLengthBytes)).toBe(4);
    expect(writePdus(1 << 20, true, 8192)).toBe(128);
  });

  test('with the header digest offered first, CRC32C is taken', () => {
    const offer = LIBISCSI_OPERATIONAL_OFFER.map(
      ([k, v]) => [k, k === 'HeaderDigest' ? 'CRC32C,None' : v] as const,
    );
    const result = negotiate(offer, state(), TARGET);
    expect(find(result.reply, 'HeaderDigest')).toBe('CRC32C');
  });
});

/** PDUs carrying a write's data (immediate data counts as one), each at most `segmentBytes`. */
function writePdus(totalBytes: number, immediateData: boolean, segmentBytes: number): number {
  const immediate = immediateData ? 1 : 0;
  return immediate + Math.ceil((totalBytes - (immediate ? segmentBytes : 0)) / segmentBytes);
}

describe('finishNegotiation', () => {
  test('keys never negotiated take their RFC defaults (not the target preferences)', () => {
    const finished = finishNegotiation(state(), COLLIE_NEGOTIATION_DEFAULTS);
    expect('parameters' in finished && finished.parameters).toMatchObject({
      session: {
        initialR2T: true,
        immediateData: true,
        firstBurstLengthBytes: 65536,
        maxBurstLengthBytes: 262144,
      },
      connection: { maxSendDataSegmentLengthBytes: 8192, maxRecvDataSegmentLengthBytes: 8192 },
    });
  });

  test('a required digest never negotiated fails with 0x0200', () => {
    const finished = finishNegotiation(state(), { ...COLLIE_NEGOTIATION_DEFAULTS, dataDigest: 'require' });
    expect('error' in finished && statusText(finished.error)).toBe('0x0200');
  });

  test('FirstBurstLength above MaxBurstLength, offered in that order across PDUs, fails with 0x0200', () => {
    const first = negotiate([['FirstBurstLength', '262144']], state(), TARGET);
    const second = negotiate([['MaxBurstLength', '65536']], first.state, TARGET);
    const finished = finishNegotiation(second.state, COLLIE_NEGOTIATION_DEFAULTS);
    expect('error' in finished && statusText(finished.error)).toBe('0x0200');
  });
});
