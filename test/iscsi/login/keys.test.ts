/**
 * Goal: the key table lists every login/text key of RFC 7143 §12/§13 the target must understand,
 * once, with facts that hold together (defaults inside their ranges, leading-only keys
 * session-wide, the obsoleted marker keys answered as §13.25 demands).
 * Method: check the table against the list of names from the RFC and walk every entry.
 */
import { describe, expect, test } from 'vitest';
import { isExtensionKey, KEY_DEFINITIONS, keyDefinition } from '../../../src/iscsi/login/keys.js';
import { parseBoolean, parseNumber } from '../../../src/iscsi/login/text-values.js';

const RFC_KEYS = [
  'HeaderDigest',
  'DataDigest',
  'MaxConnections',
  'SendTargets',
  'TargetName',
  'InitiatorName',
  'TargetAlias',
  'InitiatorAlias',
  'TargetAddress',
  'TargetPortalGroupTag',
  'InitialR2T',
  'ImmediateData',
  'MaxRecvDataSegmentLength',
  'MaxBurstLength',
  'FirstBurstLength',
  'DefaultTime2Wait',
  'DefaultTime2Retain',
  'MaxOutstandingR2T',
  'DataPDUInOrder',
  'DataSequenceInOrder',
  'ErrorRecoveryLevel',
  'SessionType',
  'AuthMethod',
  'CHAP_A',
  'CHAP_I',
  'CHAP_C',
  'CHAP_N',
  'CHAP_R',
  'IFMarker',
  'OFMarker',
  'IFMarkInt',
  'OFMarkInt',
  'TaskReporting',
  'iSCSIProtocolLevel',
  'X#NodeArchitecture',
];

describe('KEY_DEFINITIONS', () => {
  test('holds every RFC 7143 key exactly once and nothing else', () => {
    const names = KEY_DEFINITIONS.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual([...RFC_KEYS].sort());
  });

  test('lookup is case-sensitive; extension keys are recognised by prefix', () => {
    expect(keyDefinition('MaxBurstLength')?.section).toBe('13.13');
    expect(keyDefinition('maxburstlength')).toBeUndefined();
    expect(isExtensionKey('X-com.example.thing')).toBe(true);
    expect(isExtensionKey('X#NodeArchitecture')).toBe(true);
    expect(isExtensionKey('Xylophone')).toBe(false);
  });

  test.each(KEY_DEFINITIONS.map((d) => [d.name, d] as const))(
    '%s: default fits its rule',
    (_name, definition) => {
      const { rule, rfcDefault } = definition;
      if (rfcDefault === undefined) return;
      if (rule.type === 'boolean-and' || rule.type === 'boolean-or') {
        expect(parseBoolean(rfcDefault)).toBeDefined();
      } else if (rule.type === 'number-min' || rule.type === 'number-max') {
        const value = parseNumber(rfcDefault)!;
        expect(value).toBeGreaterThanOrEqual(rule.range.min);
        expect(value).toBeLessThanOrEqual(rule.range.max);
      } else if (rule.type === 'list') {
        expect(rule.values).toContain(rfcDefault);
      } else if (rule.type === 'declarative' && rule.format.kind === 'number') {
        expect(parseNumber(rfcDefault)).toBeGreaterThanOrEqual(rule.format.range.min);
      }
    },
  );

  test('leading-only keys are session-wide; security keys are connection-scoped', () => {
    for (const definition of KEY_DEFINITIONS) {
      if (definition.leadingOnly) expect(definition.scope, definition.name).toBe('session');
      if (definition.phase === 'security') expect(definition.scope, definition.name).toBe('connection');
    }
  });

  test('RFC defaults the negotiation depends on', () => {
    const defaults = Object.fromEntries(KEY_DEFINITIONS.map((d) => [d.name, d.rfcDefault]));
    expect(defaults).toMatchObject({
      InitialR2T: 'Yes',
      ImmediateData: 'Yes',
      MaxRecvDataSegmentLength: '8192',
      MaxBurstLength: '262144',
      FirstBurstLength: '65536',
      DefaultTime2Wait: '2',
      DefaultTime2Retain: '20',
      MaxOutstandingR2T: '1',
      ErrorRecoveryLevel: '0',
      MaxConnections: '1',
      HeaderDigest: 'None',
      SessionType: 'Normal',
    });
  });

  test('obsoleted marker keys: IFMarker/OFMarker answered No, IFMarkInt/OFMarkInt Reject (§13.25)', () => {
    expect(keyDefinition('IFMarker')?.rule).toEqual({ type: 'obsolete', answer: 'No' });
    expect(keyDefinition('OFMarker')?.rule).toEqual({ type: 'obsolete', answer: 'No' });
    expect(keyDefinition('IFMarkInt')?.rule).toEqual({ type: 'obsolete', answer: 'Reject' });
    expect(keyDefinition('OFMarkInt')?.rule).toEqual({ type: 'obsolete', answer: 'Reject' });
  });

  test('rule types of the negotiated keys', () => {
    const rules = Object.fromEntries(KEY_DEFINITIONS.map((d) => [d.name, d.rule.type]));
    expect(rules).toMatchObject({
      InitialR2T: 'boolean-or',
      DataPDUInOrder: 'boolean-or',
      DataSequenceInOrder: 'boolean-or',
      ImmediateData: 'boolean-and',
      MaxBurstLength: 'number-min',
      FirstBurstLength: 'number-min',
      DefaultTime2Retain: 'number-min',
      DefaultTime2Wait: 'number-max',
      MaxRecvDataSegmentLength: 'declarative',
      HeaderDigest: 'list',
      AuthMethod: 'list',
      SendTargets: 'inquiry',
      CHAP_R: 'exchange',
    });
  });
});
