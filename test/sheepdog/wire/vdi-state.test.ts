/**
 * Goal: vdi_state records (GET_VDI_COPIES, `dog vdi lock list`) match the verified 1,428-byte
 * layout of section 7.
 * Method: a record with a lock owner and two participants, built with the naive builder at the
 * documented offsets; decode, re-encode, and check the participant-count limit.
 */
import { describe, expect, test } from 'vitest';
import { LockState, ParticipantState } from '../../../src/sheepdog/wire/constants.js';
import {
  decodeVdiState,
  decodeVdiStateList,
  encodeVdiState,
  type VdiState,
} from '../../../src/sheepdog/wire/vdi-state.js';
import { bytes, hex, layout, le16, le32, zeros } from '../../support/bytes.js';

const nodeBytes = (last: number, port: number) => bytes(zeros(12), [127, 0, 0, last], le16(port), zeros(22));

const IMAGE = layout(1428, [
  [0, le32(0x7c2b25)],
  [4, [1, 0, 0, 0, 22]],
  [12, le32(0x7c2b24)],
  [16, le32(LockState.SHARED)],
  [60, le32(2)],
  [64, le32(ParticipantState.MODIFIED)],
  [68, le32(ParticipantState.INVALIDATED)],
  [188, nodeBytes(1, 7000)],
  [228, nodeBytes(1, 7001)],
]);

const STATE: VdiState = {
  vid: 0x7c2b25,
  nrCopies: 1,
  snapshot: false,
  deleted: false,
  copyPolicy: 0,
  blockSizeShift: 22,
  parentVid: 0x7c2b24,
  lockState: LockState.SHARED,
  lockOwner: undefined,
  participants: [
    { node: { host: '127.0.0.1', port: 7000 }, state: ParticipantState.MODIFIED },
    { node: { host: '127.0.0.1', port: 7001 }, state: ParticipantState.INVALIDATED },
  ],
};

describe('vdi_state', () => {
  test('decodes the section 7 layout', () => {
    expect(decodeVdiState(IMAGE)).toEqual({ ok: true, value: STATE });
  });

  test('encodes the same 1,428 bytes', () => {
    expect(encodeVdiState(STATE)).toEqual(IMAGE);
  });

  test('a normal lock owner sits at 20; snapshot and deleted flags at 5 and 6', () => {
    const locked: VdiState = {
      ...STATE,
      snapshot: true,
      deleted: true,
      lockState: LockState.LOCKED,
      lockOwner: { host: '127.0.0.1', port: 7001 },
      participants: [],
    };
    const expected = layout(1428, [
      [0, le32(0x7c2b25)],
      [4, [1, 1, 1, 0, 22]],
      [12, le32(0x7c2b24)],
      [16, le32(LockState.LOCKED)],
      [20, hex('00000000 00000000 00000000 7f000001 591b')],
    ]);
    expect(encodeVdiState(locked)).toEqual(expected);
    expect(decodeVdiState(expected)).toEqual({ ok: true, value: locked });
  });

  test('more than 31 participants is a SD_ERR_BAD_FIELD value', () => {
    const bad = Buffer.from(IMAGE);
    bad.writeUInt32LE(32, 60);
    expect(decodeVdiState(bad)).toMatchObject({ ok: false, error: { code: 'SD_ERR_BAD_FIELD', offset: 60 } });
  });

  test('lists: whole records only; short records are values', () => {
    expect(decodeVdiStateList(Buffer.concat([IMAGE, IMAGE]))).toEqual({ ok: true, value: [STATE, STATE] });
    expect(decodeVdiStateList(IMAGE.subarray(0, 1000))).toMatchObject({
      ok: false,
      error: { code: 'SD_ERR_BAD_FIELD' },
    });
    expect(decodeVdiState(IMAGE.subarray(0, 1427))).toMatchObject({
      ok: false,
      error: { code: 'SD_ERR_SHORT_BUFFER' },
    });
  });
});
