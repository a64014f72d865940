/**
 * Goal: sense data is encoded byte-exactly in both formats.
 * Method: compare encodings with byte strings written from SPC-4's fixed format, descriptor
 * format (information and sense-key specific descriptors) and field pointer layouts
 * (field pointer: SKSV 80h, C/D 40h, BPV 08h, BIT POINTER 2:0).
 */
import { describe, expect, test } from 'vitest';
import {
  Asc,
  encodeDescriptorSense,
  encodeFixedSense,
  invalidFieldInCdb,
  miscompareAt,
  senseOf,
} from '../../src/scsi/sense.js';
import { hex } from '../support/bytes.js';

describe('fixed format (SPC-4)', () => {
  test('INVALID FIELD IN CDB with a field pointer to byte 2 bit 7', () => {
    // 70h current; key 5; ADDITIONAL SENSE LENGTH 0Ah; ASC 24h; SKSV|C/D|BPV|7 = CFh; FIELD POINTER 0002h.
    expect(encodeFixedSense(invalidFieldInCdb(2, 7))).toEqual(
      hex('70 00 05 00000000 0a 00000000 24 00 00 cf 0002'),
    );
  });

  test('a byte-only pointer into the parameter list leaves C/D and BPV clear', () => {
    const sense = senseOf(0x5, Asc.INVALID_FIELD_IN_PARAMETER_LIST, {
      fieldPointer: { inCdb: false, byte: 0x0102 },
    });
    expect(encodeFixedSense(sense)).toEqual(hex('70 00 05 00000000 0a 00000000 26 00 00 80 0102'));
  });

  test('MISCOMPARE puts the offset in INFORMATION and sets VALID', () => {
    expect(encodeFixedSense(miscompareAt(0x1fe5))).toEqual(
      hex('f0 00 0e 00001fe5 0a 00000000 1d 00 00 000000'),
    );
  });

  test('an INFORMATION value above 32 bits does not fit: VALID stays clear', () => {
    const sense = senseOf(0x3, Asc.UNRECOVERED_READ_ERROR, { information: 0x1_0000_0000n });
    expect(encodeFixedSense(sense)).toEqual(hex('70 00 03 00000000 0a 00000000 11 00 00 000000'));
  });
});

describe('descriptor format (SPC-4)', () => {
  test('header only when there is neither INFORMATION nor a field pointer', () => {
    expect(encodeDescriptorSense(senseOf(0x6, Asc.POWER_ON_RESET_OR_BUS_DEVICE_RESET_OCCURRED))).toEqual(
      hex('72 06 29 00 000000 00'),
    );
  });

  test('sense-key specific descriptor (type 02h, length 06h)', () => {
    expect(encodeDescriptorSense(invalidFieldInCdb(2, 7))).toEqual(
      hex('72 05 24 00 000000 08 | 02 06 0000 cf 0002 00'),
    );
  });

  test('information descriptor (type 00h, length 0Ah, VALID) carries 64 bits', () => {
    expect(encodeDescriptorSense(miscompareAt(0x1fe5))).toEqual(
      hex('72 0e 1d 00 000000 0c | 00 0a 80 00 00000000 00001fe5'),
    );
  });
});
