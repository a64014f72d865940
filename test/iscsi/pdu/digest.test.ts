/**
 * Goal: CRC32C gives the published values in both implementations, chains across pieces, and
 * lands on the wire least significant byte first, as RFC 3720 B.4 / RFC 7143 A.4 print it.
 * Method: known answers ("123456789", the four 32-byte vectors, the RFC's SCSI Read(10) PDU) for
 * the native and the portable code; a property test that native, portable and a bit-at-a-time
 * reference agree on random data cut into random pieces with random seeds; and the header digest
 * of the RFC PDU as the encoder writes it.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { decodePdu } from '../../../src/iscsi/pdu/decode.js';
import {
  crc32c,
  crc32cImplementation,
  crc32cNative,
  crc32cPortable,
  readDigest,
  writeDigest,
} from '../../../src/iscsi/pdu/digest.js';
import { encodePduBytes } from '../../../src/iscsi/pdu/encode.js';
import { crc32cBitwise, RFC_READ10_BHS, RFC_READ10_DIGEST_WIRE } from './fixtures.js';

const VECTORS: [name: string, input: Buffer, crc: number][] = [
  ['"123456789"', Buffer.from('123456789'), 0xe306_9283],
  ['32 zero bytes', Buffer.alloc(32, 0x00), 0x8a91_36aa],
  ['32 0xff bytes', Buffer.alloc(32, 0xff), 0x62a8_ab43],
  ['32 incrementing bytes 00..1f', Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd_794e],
  ['32 decrementing bytes 1f..00', Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113f_db5c],
  ['empty', Buffer.alloc(0), 0],
];

const IMPLEMENTATIONS = [
  ['portable', crc32cPortable],
  ['bitwise reference', (input: Uint8Array) => crc32cBitwise(input)],
  ...(crc32cNative ? ([['native', crc32cNative]] as const) : []),
] as const;

describe('CRC32C known answers', () => {
  test('the native module loaded on this platform', () => {
    expect(crc32cImplementation).toBe('native');
  });

  for (const [implementation, fn] of IMPLEMENTATIONS) {
    for (const [name, input, crc] of VECTORS) {
      test(`${implementation}: ${name} -> 0x${crc.toString(16)}`, () => {
        expect(fn(input)).toBe(crc);
      });
    }
  }

  test('the RFC 3720 B.4 SCSI Read(10) PDU digest is "56 3a 96 d9" on the wire', () => {
    const wire = Buffer.alloc(4);
    writeDigest(wire, 0, crc32c(RFC_READ10_BHS));
    expect(wire.toString('hex')).toBe(RFC_READ10_DIGEST_WIRE.toString('hex'));
    expect(readDigest(RFC_READ10_DIGEST_WIRE, 0)).toBe(crc32cBitwise(RFC_READ10_BHS));
  });

  test('the encoder puts the same digest after the RFC PDU', () => {
    const decoded = decodePdu({ bhs: RFC_READ10_BHS, ahs: Buffer.alloc(0), data: Buffer.alloc(0) });
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value).toMatchObject({
      kind: 'scsi-command',
      immediate: false,
      final: true,
      read: true,
      write: false,
      initiatorTaskTag: 0x1400_0000,
      expectedDataTransferLength: 1024,
      cmdSN: 0x14,
      expStatSN: 0x18,
    });
    const bytes = encodePduBytes(decoded.value, { headerDigest: true, dataDigest: true });
    expect(bytes.subarray(0, 48).toString('hex')).toBe(RFC_READ10_BHS.toString('hex'));
    expect(bytes.subarray(48).toString('hex')).toBe(RFC_READ10_DIGEST_WIRE.toString('hex'));
  });
});

describe('CRC32C over pieces (property)', () => {
  const pieces = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 });

  propTest.prop([pieces, fc.nat(0xffff_ffff)])(
    'portable and native agree with the reference on any split and seed',
    (parts, seed) => {
      const whole = Buffer.concat(parts);
      const reference = crc32cBitwise(whole);
      expect(crc32cPortable(parts)).toBe(reference);
      expect(crc32cPortable(parts.at(-1) ?? new Uint8Array(), crc32cPortable(parts.slice(0, -1)))).toBe(
        reference,
      );
      expect(crc32cPortable(whole, seed)).toBe(crc32cPortable([whole], seed));
      if (crc32cNative) {
        expect(crc32cNative(parts)).toBe(reference);
        expect(crc32cNative(whole, seed)).toBe(crc32cPortable(whole, seed));
      }
    },
  );

  test('a large buffer (exercises the 8-byte loop far past its tables)', () => {
    const big = Buffer.from(Array.from({ length: 1 << 16 }, (_, i) => (i * 2_654_435_761) >>> 24));
    expect(crc32cPortable(big)).toBe(crc32cBitwise(big));
  });
});
