/**
 * Goal: hostile or broken PDUs decode to error values carrying the Reject reason to send, never
 * to exceptions; a Reject for them is easy to build and encodes as §11.17 says.
 * Method: hand-built BHS and AHS bytes for each failure (unknown opcodes, bad AHS lengths,
 * duplicated Extended CDB AHS, pieces that disagree with the BHS), asserting on codes and
 * answers only; then `rejectFor` on an unknown opcode's BHS, round-tripped through the codec.
 */
import { describe, expect, test } from 'vitest';
import { decodePdu } from '../../../src/iscsi/pdu/decode.js';
import { encodePduBytes } from '../../../src/iscsi/pdu/encode.js';
import { EMPTY_DATA } from '../../../src/iscsi/pdu/messages.js';
import { RejectReason } from '../../../src/iscsi/pdu/opcodes.js';
import { rejectFor } from '../../../src/iscsi/pdu/reject.js';
import { be16, be32, bytes, layout } from '../../support/bytes.js';

/** A SCSI Command BHS with `ahsWords` of AHS declared. */
function commandBhs(ahsWords: number): Buffer {
  return layout(48, [
    [0, [0x01, 0x80]],
    [4, [ahsWords]],
    [16, be32(1)],
  ]);
}

describe('decode errors are values', () => {
  for (const opcode of [0x07, 0x1c, 0x1e, 0x30, 0x3c, 0x3e]) {
    test(`opcode 0x${opcode.toString(16)} -> command not supported`, () => {
      const result = decodePdu({ bhs: layout(48, [[0, [opcode, 0x80]]]), ahs: EMPTY_DATA, data: EMPTY_DATA });
      expect(result).toMatchObject({
        ok: false,
        error: { code: 'ISCSI_ERR_UNKNOWN_OPCODE', answer: RejectReason.COMMAND_NOT_SUPPORTED },
      });
    });
  }

  test('the immediate and reserved bits do not change the opcode', () => {
    const result = decodePdu({ bhs: layout(48, [[0, [0xc0, 0x80]]]), ahs: EMPTY_DATA, data: EMPTY_DATA });
    expect(result).toMatchObject({ ok: true, value: { kind: 'nop-out', immediate: true } });
  });

  test('an AHS longer than TotalAHSLength -> invalid PDU field', () => {
    const ahs = bytes(be16(9), [1, 0], [0xaa, 0xbb, 0xcc]); // claims 9 bytes, has 4 words total
    const result = decodePdu({ bhs: commandBhs(2), ahs: bytes(ahs, [0]), data: EMPTY_DATA });
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'ISCSI_ERR_BAD_AHS', offset: 48, answer: RejectReason.INVALID_PDU_FIELD },
    });
  });

  test('an AHS with AHSLength 0 -> invalid PDU field', () => {
    const result = decodePdu({ bhs: commandBhs(1), ahs: bytes(be16(0), [1, 0]), data: EMPTY_DATA });
    expect(result).toMatchObject({ ok: false, error: { code: 'ISCSI_ERR_BAD_AHS' } });
  });

  test('two Extended CDB AHS -> invalid PDU field', () => {
    const one = bytes(be16(5), [1, 0], [1, 2, 3, 4]);
    const result = decodePdu({ bhs: commandBhs(4), ahs: bytes(one, one), data: EMPTY_DATA });
    expect(result).toMatchObject({ ok: false, error: { code: 'ISCSI_ERR_BAD_AHS' } });
  });

  test('an Extended CDB AHS without CDB bytes -> invalid PDU field', () => {
    const result = decodePdu({ bhs: commandBhs(1), ahs: bytes(be16(1), [1, 0]), data: EMPTY_DATA });
    expect(result).toMatchObject({ ok: false, error: { code: 'ISCSI_ERR_BAD_AHS' } });
  });

  test('a Bidirectional Read Length AHS of the wrong length -> invalid PDU field', () => {
    const result = decodePdu({ bhs: commandBhs(1), ahs: bytes(be16(1), [2, 0]), data: EMPTY_DATA });
    expect(result).toMatchObject({ ok: false, error: { code: 'ISCSI_ERR_BAD_AHS' } });
  });

  test('an unknown AHS type on a SCSI Command is kept, not refused', () => {
    const ahs = bytes(be16(3), [0x3b, 0], [9, 9]);
    const result = decodePdu({ bhs: commandBhs(2), ahs: bytes(ahs, [0, 0]), data: EMPTY_DATA });
    expect(result.ok && result.value.ahs).toEqual([{ ahsType: 0x3b, ahsSpecific: Buffer.from([0, 9, 9]) }]);
  });

  test('pieces that disagree with the BHS -> frame mismatch', () => {
    const bhs = layout(48, [[0, [0x00, 0x80, 0, 0, 0, 0, 0, 8]]]);
    expect(decodePdu({ bhs, ahs: EMPTY_DATA, data: Buffer.alloc(7) })).toMatchObject({
      ok: false,
      error: { code: 'ISCSI_ERR_FRAME_MISMATCH' },
    });
    expect(decodePdu({ bhs: bhs.subarray(0, 47), ahs: EMPTY_DATA, data: EMPTY_DATA })).toMatchObject({
      ok: false,
      error: { code: 'ISCSI_ERR_FRAME_MISMATCH' },
    });
    expect(decodePdu({ bhs: commandBhs(1), ahs: EMPTY_DATA, data: EMPTY_DATA })).toMatchObject({
      ok: false,
      error: { code: 'ISCSI_ERR_FRAME_MISMATCH' },
    });
  });
});

describe('rejectFor', () => {
  test('carries a copy of the rejected BHS and encodes per §11.17', () => {
    const rejected = layout(48, [
      [0, [0x07, 0x80]],
      [16, be32(0xdead_beef)],
    ]);
    const reject = rejectFor(rejected, RejectReason.COMMAND_NOT_SUPPORTED, {
      statSN: 5,
      expCmdSN: 6,
      maxCmdSN: 7,
    });
    rejected[1] = 0; // the caller's buffer may be reused; the Reject must not change
    expect(reject.data[1]).toBe(0x80);
    const wire = encodePduBytes(reject, { headerDigest: false, dataDigest: false });
    expect(wire.subarray(0, 48).toString('hex')).toBe(
      layout(48, [
        [0, [0x3f, 0x80, 0x05, 0x00, 0, 0, 0, 48]],
        [16, be32(0xffff_ffff)],
        [24, be32(5)],
        [28, be32(6)],
        [32, be32(7)],
      ]).toString('hex'),
    );
    expect(wire.subarray(48).readUInt32BE(16)).toBe(0xdead_beef);
  });
});
