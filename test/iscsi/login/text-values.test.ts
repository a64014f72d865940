/**
 * Goal: the value formats of RFC 7143 §6.1 parse strictly, so anything else can be answered
 * Reject, and never throw on hostile text.
 * Method: tables of valid and invalid spellings per format, plus a property test that random
 * strings never throw.
 */
import { fc, test as fcTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import {
  decodeBinary,
  encodeHex,
  isIscsiName,
  parseBoolean,
  parseList,
  parseNumber,
  parseNumberInRange,
} from '../../../src/iscsi/login/text-values.js';

describe('parseBoolean', () => {
  test.each([
    ['Yes', true],
    ['No', false],
    ['yes', undefined],
    ['NO', undefined],
    ['', undefined],
    ['1', undefined],
    ['Yes ', undefined],
  ])('%j -> %j', (input, expected) => {
    expect(parseBoolean(input)).toBe(expected);
  });
});

describe('parseNumber', () => {
  test.each([
    ['0', 0],
    ['8192', 8192],
    ['16777215', 16777215],
    ['0x2000', 8192],
    ['0X2000', 8192],
    ['0x0', 0],
    ['0x00000000000000ff', 255],
    ['999999999999999999999', Number.POSITIVE_INFINITY],
    ['0xffffffffffffffff', Number.POSITIVE_INFINITY],
  ])('%j -> %j', (input, expected) => {
    expect(parseNumber(input)).toBe(expected);
  });

  test.each([
    '',
    '-1',
    '+1',
    '012',
    '1.5',
    '1e3',
    ' 1',
    '0x',
    '0xg1',
    '0b1010',
    'Yes',
    '0x10000000000000000',
  ])('%j is not a numerical-value', (input) => {
    expect(parseNumber(input)).toBeUndefined();
  });

  test('ranges are inclusive at both ends', () => {
    const range = { min: 512, max: 16777215 };
    expect(parseNumberInRange('512', range)).toEqual({ value: 512 });
    expect(parseNumberInRange('16777215', range)).toEqual({ value: 16777215 });
    expect(parseNumberInRange('511', range)).toEqual({ problem: 'out-of-range' });
    expect(parseNumberInRange('16777216', range)).toEqual({ problem: 'out-of-range' });
    expect(parseNumberInRange('lots', range)).toEqual({ problem: 'not-a-number' });
  });
});

describe('parseList', () => {
  test.each([
    ['CRC32C,None', ['CRC32C', 'None']],
    ['None', ['None']],
    ['5,6,7,8', ['5', '6', '7', '8']],
    ['', undefined],
    ['CRC32C,', undefined],
    [',None', undefined],
    ['CRC32C, None', undefined],
  ])('%j -> %j', (input, expected) => {
    expect(parseList(input)).toEqual(expected);
  });
});

describe('decodeBinary', () => {
  test('hex and base64 constants decode to the same bytes', () => {
    const bytes = Buffer.from('00ff10203040', 'hex');
    expect(decodeBinary('0x00ff10203040')).toEqual(bytes);
    expect(decodeBinary('0X00FF10203040')).toEqual(bytes);
    expect(decodeBinary(`0b${bytes.toString('base64')}`)).toEqual(bytes);
    expect(decodeBinary(`0B${bytes.toString('base64')}`)).toEqual(bytes);
  });

  test('an odd number of hex digits has an implied leading zero', () => {
    expect(decodeBinary('0xabc')).toEqual(Buffer.from([0x0a, 0xbc]));
  });

  test.each(['', '0x', '0b', '12', 'abcd', '0xzz', '0bAB=C', '0bABC', '0b====', '0x 12'])(
    '%j is not a binary value',
    (input) => {
      expect(decodeBinary(input)).toBeUndefined();
    },
  );

  test('encodeHex writes 0x and lowercase digits', () => {
    expect(encodeHex(Uint8Array.of(0xab, 0x01))).toBe('0xab01');
  });
});

describe('isIscsiName', () => {
  test.each([
    ['iqn.2026-01.test:initiator', true],
    ['iqn.1993-08.org.debian:01:abcdef', true],
    ['iqn.2026-01.com.example', true],
    ['eui.02004567A425678D', true],
    ['naa.52004567BA64678D', true],
    ['naa.62004567BA64678D0123456789ABCDEF', true],
    ['iqn.26-01.test:x', false],
    ['iqn.2026-01.test: x', false],
    ['eui.0200', false],
    ['naa.52004567BA64678', false],
    ['target1', false],
    ['', false],
    [`iqn.2026-01.test:${'x'.repeat(220)}`, false],
  ])('%j -> %j', (input, expected) => {
    expect(isIscsiName(input)).toBe(expected);
  });
});

describe('hostile text', () => {
  fcTest.prop([fc.string({ maxLength: 64 })])('no parser throws', (input) => {
    parseBoolean(input);
    parseNumber(input);
    parseList(input);
    decodeBinary(input);
    isIscsiName(input);
  });
});
