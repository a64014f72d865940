/**
 * Goal: encodePdu and decodePdu match the RFC 7143 §11 layouts byte for byte, for every PDU kind
 * in both directions, and are inverse to each other for any field values.
 * Method: each fixture's bytes are built independently (fixtures.ts); the encoder must produce
 * them (with zero padding and little-endian CRC32C digests from a bit-at-a-time CRC) and the
 * decoder must read them back into the typed PDU. fast-check then draws random values for every
 * field of every kind, including random AHS and extended CDBs, and checks decode(encode(pdu)).
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { BHS_BYTES } from '../../../src/iscsi/pdu/bhs.js';
import { decodePdu } from '../../../src/iscsi/pdu/decode.js';
import { encodePdu, encodePduBytes } from '../../../src/iscsi/pdu/encode.js';
import type { Pdu, PduKind } from '../../../src/iscsi/pdu/messages.js';
import { hex } from '../../support/bytes.js';
import { ANY_PDU, PDU_ARBITRARIES } from './arbitraries.js';
import { SAMPLES, wire } from './fixtures.js';

const DIGEST_CASES = [
  { headerDigest: false, dataDigest: false },
  { headerDigest: true, dataDigest: false },
  { headerDigest: false, dataDigest: true },
  { headerDigest: true, dataDigest: true },
] as const;

/** Splits wire bytes back into the pieces decodePdu takes (no digests). */
function piecesOf(bytes: Buffer): { bhs: Buffer; ahs: Buffer; data: Buffer } {
  const bhs = bytes.subarray(0, BHS_BYTES);
  const ahsBytes = bhs[4]! * 4;
  const dataBytes = bhs.readUIntBE(5, 3);
  return {
    bhs,
    ahs: bytes.subarray(BHS_BYTES, BHS_BYTES + ahsBytes),
    data: bytes.subarray(BHS_BYTES + ahsBytes, BHS_BYTES + ahsBytes + dataBytes),
  };
}

describe('PDU layouts (RFC 7143 §11)', () => {
  test('every kind has a fixture', () => {
    const kinds = new Set(SAMPLES.map((s) => s.pdu.kind));
    expect(kinds.size).toBe(18);
  });

  for (const sample of SAMPLES) {
    describe(sample.name, () => {
      for (const digests of DIGEST_CASES) {
        test(`encodes to the RFC layout (headerDigest=${digests.headerDigest}, dataDigest=${digests.dataDigest})`, () => {
          const expected = wire(sample.bhs, sample.ahs, sample.pdu.data, digests);
          expect(encodePduBytes(sample.pdu, digests).toString('hex')).toBe(expected.toString('hex'));
        });
      }

      test('decodes from the RFC layout', () => {
        const result = decodePdu({ bhs: sample.bhs, ahs: sample.ahs, data: sample.pdu.data });
        expect(result).toEqual({ ok: true, value: sample.pdu });
      });
    });
  }

  test('the data segment is passed through without a copy, padding and digest follow it', () => {
    const data = Buffer.from('abcde');
    const pdu = SAMPLES.find((s) => s.pdu.kind === 'data-out')!.pdu;
    const pieces = encodePdu({ ...pdu, data }, { headerDigest: true, dataDigest: true });
    expect(pieces).toHaveLength(3);
    expect(pieces[1]).toBe(data);
    expect(pieces[2]!.subarray(0, 3).toString('hex')).toBe('000000');
    expect(pieces[2]).toHaveLength(3 + 4);
  });

  test('a 4-byte-aligned data segment without data digest needs no trailer', () => {
    const pdu = SAMPLES.find((s) => s.pdu.kind === 'data-in')!.pdu;
    expect(encodePdu(pdu, { headerDigest: true, dataDigest: false })).toHaveLength(2);
  });

  test('an 18-byte CDB gets a 2-byte Extended CDB AHS padded to 8 bytes', () => {
    const command = SAMPLES[0]!.pdu;
    const cdb = Buffer.from(Array.from({ length: 18 }, (_, i) => i + 1));
    const bytes = encodePduBytes({ ...command, cdb } as Pdu, { headerDigest: false, dataDigest: false });
    expect(bytes[4]).toBe(2); // TotalAHSLength in words
    // AHSLength = 18 - 15 = 3, type 1, reserved, CDB bytes 17 and 18, one byte of padding.
    expect(bytes.subarray(48, 56).toString('hex')).toBe(hex('0003 01 00 11 12 00 00').toString('hex'));
    const decoded = decodePdu(piecesOf(bytes));
    expect(decoded.ok && decoded.value.kind === 'scsi-command' && decoded.value.cdb).toEqual(cdb);
  });

  test('a CDB shorter than 16 bytes is zero-filled in the BHS', () => {
    const command = SAMPLES[0]!.pdu;
    const bytes = encodePduBytes({ ...command, cdb: Buffer.from([0x00, 1, 2, 3, 4, 5]) } as Pdu, {
      headerDigest: false,
      dataDigest: false,
    });
    expect(bytes.subarray(32, 48).toString('hex')).toBe(`000102030405${'00'.repeat(10)}`);
  });

  test('the Login Request I bit is always set, whatever the caller', () => {
    const login = SAMPLES.find((s) => s.pdu.kind === 'login-request')!.pdu;
    expect(encodePduBytes(login, { headerDigest: false, dataDigest: false })[0]).toBe(0x43);
  });
});

describe('round trip (property)', () => {
  for (const [kind, arbitrary] of Object.entries(PDU_ARBITRARIES) as [PduKind, fc.Arbitrary<Pdu>][]) {
    propTest.prop([arbitrary], { numRuns: 150 })(`${kind}: decode(encode(pdu)) equals pdu`, (pdu) => {
      const bytes = encodePduBytes(pdu, { headerDigest: false, dataDigest: false });
      expect(decodePdu(piecesOf(bytes))).toEqual({ ok: true, value: pdu });
    });
  }

  propTest.prop([ANY_PDU])('padding is zero and the length is 48 + AHS + padded data', (pdu) => {
    const bytes = encodePduBytes(pdu, { headerDigest: false, dataDigest: false });
    const { ahs, data } = piecesOf(bytes);
    const dataEnd = BHS_BYTES + ahs.length + data.length;
    const paddedEnd = BHS_BYTES + ahs.length + Math.ceil(data.length / 4) * 4;
    expect(bytes.length).toBe(paddedEnd);
    expect([...bytes.subarray(dataEnd)].every((b) => b === 0)).toBe(true);
  });

  propTest.prop([fc.uint8Array({ minLength: 48, maxLength: 48 }), fc.uint8Array({ maxLength: 64 })])(
    'any BHS with matching pieces decodes to a PDU or an error value, never a throw',
    (bhsBytes, tail) => {
      const bhs = Buffer.from(bhsBytes);
      const ahsBytes = Math.min(bhs[4]! * 4, tail.length - (tail.length % 4));
      bhs[4] = ahsBytes / 4;
      const ahs = Buffer.from(tail.subarray(0, ahsBytes));
      const rest = Buffer.from(tail.subarray(ahsBytes));
      bhs.writeUIntBE(rest.length, 5, 3);
      const result = decodePdu({ bhs, ahs, data: rest });
      expect(typeof result.ok).toBe('boolean');
    },
  );
});
