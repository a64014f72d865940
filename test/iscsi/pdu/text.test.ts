/**
 * Goal: login/text data segments parse into ordered key=value pairs per RFC 7143 §6.1, malformed
 * ones become error values, and continued segments join under a byte cap.
 * Method: hand-written segments for the normal case and each edge case (missing '=', empty value,
 * no trailing NUL, overlong key and value, bad key characters, non-UTF-8, duplicates, empty
 * entries); a property test that encodeTextData and parseTextData are inverse; and the
 * accumulator fed a pair split across three PDUs and an oversize sequence.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import {
  encodeTextData,
  parseTextData,
  TextAccumulator,
  type TextPair,
} from '../../../src/iscsi/pdu/text.js';

const text = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('parseTextData', () => {
  test('pairs come back in order', () => {
    const result = parseTextData(
      text('InitiatorName=iqn.1993-08.org.debian:01:abc\0SessionType=Normal\0AuthMethod=None\0'),
    );
    expect(result).toEqual({
      ok: true,
      value: {
        pairs: [
          ['InitiatorName', 'iqn.1993-08.org.debian:01:abc'],
          ['SessionType', 'Normal'],
          ['AuthMethod', 'None'],
        ],
        duplicateKeys: [],
      },
    });
  });

  test('an empty segment has no pairs', () => {
    expect(parseTextData(Buffer.alloc(0))).toEqual({ ok: true, value: { pairs: [], duplicateKeys: [] } });
  });

  test('an empty value is allowed; only the first "=" separates', () => {
    const result = parseTextData(text('TargetAlias=\0X-com.example.k=a=b\0'));
    expect(result.ok && result.value.pairs).toEqual([
      ['TargetAlias', ''],
      ['X-com.example.k', 'a=b'],
    ]);
  });

  test('duplicates are kept in order and reported once', () => {
    const result = parseTextData(text('TargetAddress=a\0TargetAddress=b\0TargetAddress=c\0K=v\0'));
    expect(result.ok && result.value.pairs.length).toBe(4);
    expect(result.ok && result.value.duplicateKeys).toEqual(['TargetAddress']);
  });

  test('empty entries (stray NULs) are skipped', () => {
    const result = parseTextData(text('A=1\0\0B=2\0\0\0'));
    expect(result.ok && result.value.pairs).toEqual([
      ['A', '1'],
      ['B', '2'],
    ]);
  });

  test('values are UTF-8', () => {
    const result = parseTextData(text('TargetAlias=disque-été\0'));
    expect(result.ok && result.value.pairs).toEqual([['TargetAlias', 'disque-été']]);
  });

  const failures: [name: string, data: Buffer, code: string][] = [
    ['a missing "="', text('A=1\0NoEquals\0'), 'ISCSI_ERR_TEXT_MISSING_EQUALS'],
    ['no trailing NUL', text('A=1\0B=2'), 'ISCSI_ERR_TEXT_UNTERMINATED'],
    ['an empty key', text('=value\0'), 'ISCSI_ERR_TEXT_BAD_KEY'],
    ['a 64-byte key', text(`${'K'.repeat(64)}=v\0`), 'ISCSI_ERR_TEXT_BAD_KEY'],
    ['a key with a space', text('Bad Key=v\0'), 'ISCSI_ERR_TEXT_BAD_KEY'],
    ['an 8193-byte value', text(`K=${'v'.repeat(8193)}\0`), 'ISCSI_ERR_TEXT_VALUE_TOO_LONG'],
    ['a non-UTF-8 value', Buffer.from([0x4b, 0x3d, 0xff, 0xfe, 0x00]), 'ISCSI_ERR_TEXT_NOT_UTF8'],
    ['a non-UTF-8 key', Buffer.from([0x4b, 0xc3, 0x3d, 0x76, 0x00]), 'ISCSI_ERR_TEXT_NOT_UTF8'],
  ];
  for (const [name, data, code] of failures) {
    test(`${name} -> ${code}`, () => {
      expect(parseTextData(data)).toMatchObject({ ok: false, error: { code } });
    });
  }

  test('a 63-byte key and an 8192-byte value are the largest accepted', () => {
    const result = parseTextData(text(`${'K'.repeat(63)}=${'v'.repeat(8192)}\0`));
    expect(result.ok).toBe(true);
  });

  test('limits can be tightened', () => {
    expect(parseTextData(text('K=123456\0'), { valueBytesMax: 5 })).toMatchObject({
      ok: false,
      error: { code: 'ISCSI_ERR_TEXT_VALUE_TOO_LONG', offset: 2 },
    });
  });
});

describe('encodeTextData', () => {
  test('writes key=value NUL for each pair', () => {
    expect(
      encodeTextData([
        ['HeaderDigest', 'None'],
        ['MaxRecvDataSegmentLength', '262144'],
      ]).toString(),
    ).toBe('HeaderDigest=None\0MaxRecvDataSegmentLength=262144\0');
  });

  const key = fc.stringMatching(/^[A-Za-z0-9.\-+@_#]{1,63}$/);
  const value = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((v) => !v.includes('\0'));

  propTest.prop([fc.array(fc.tuple(key, value), { maxLength: 10 })])(
    'parse(encode(pairs)) gives the pairs',
    (pairs) => {
      const result = parseTextData(encodeTextData(pairs as TextPair[]));
      expect(result.ok && result.value.pairs).toEqual(pairs);
    },
  );
});

describe('TextAccumulator', () => {
  test('joins a pair split across three continued PDUs', () => {
    const accumulator = new TextAccumulator({ bytesMax: 1024 });
    expect(accumulator.push(text('InitiatorNa'), true)).toEqual({ ok: true, value: undefined });
    expect(accumulator.push(text('me=iqn.x\0Sess'), true)).toEqual({ ok: true, value: undefined });
    expect(accumulator.pendingBytes).toBe(24);
    const joined = accumulator.push(text('ionType=Normal\0'), false);
    expect(joined.ok && joined.value?.toString()).toBe('InitiatorName=iqn.x\0SessionType=Normal\0');
    expect(accumulator.pendingBytes).toBe(0);
  });

  test('a single PDU is returned as is', () => {
    const accumulator = new TextAccumulator({ bytesMax: 1024 });
    const data = text('A=1\0');
    const result = accumulator.push(data, false);
    expect(result.ok && result.value).toBe(data);
  });

  test('a sequence beyond the cap is refused and forgotten', () => {
    const accumulator = new TextAccumulator({ bytesMax: 10 });
    expect(accumulator.push(Buffer.alloc(8, 0x41), true).ok).toBe(true);
    expect(accumulator.push(Buffer.alloc(8, 0x41), true)).toMatchObject({
      ok: false,
      error: { code: 'ISCSI_ERR_TEXT_TOO_LONG' },
    });
    expect(accumulator.pendingBytes).toBe(0);
    const fresh = accumulator.push(text('A=1\0'), false);
    expect(fresh.ok && fresh.value?.toString()).toBe('A=1\0');
  });
});
