/**
 * Goal: the SCSI Response / Async Message data segment (SenseLength, sense, response data) is
 * built and split as RFC 7143 §11.4.7 says, and a malformed one is an error value.
 * Method: a hand-written segment round-trips; short and overlong SenseLength values are refused.
 */
import { describe, expect, test } from 'vitest';
import { EMPTY_DATA } from '../../../src/iscsi/pdu/messages.js';
import { decodeSenseSegment, encodeSenseSegment } from '../../../src/iscsi/pdu/sense.js';

describe('sense segment (§11.4.7)', () => {
  test('SenseLength, sense data, response data round-trip', () => {
    const sense = Buffer.from([0x70, 0, 0x05]);
    const segment = encodeSenseSegment(sense, Buffer.from([0xee]));
    expect(segment.toString('hex')).toBe(['0003', '700005', 'ee'].join(''));
    expect(decodeSenseSegment(segment)).toEqual({
      ok: true,
      value: { sense, responseData: Buffer.from([0xee]) },
    });
  });

  test('an empty segment has no sense; a short or overlong one is an error value', () => {
    expect(decodeSenseSegment(EMPTY_DATA)).toMatchObject({ ok: true, value: { sense: EMPTY_DATA } });
    expect(decodeSenseSegment(Buffer.from([0]))).toMatchObject({
      ok: false,
      error: { code: 'ISCSI_ERR_BAD_SENSE_SEGMENT' },
    });
    expect(decodeSenseSegment(Buffer.from([0, 4, 1, 2]))).toMatchObject({
      ok: false,
      error: { code: 'ISCSI_ERR_BAD_SENSE_SEGMENT' },
    });
  });
});
