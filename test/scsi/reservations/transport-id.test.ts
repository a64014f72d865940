/**
 * Goal: iSCSI TransportIDs are written exactly as SPC-4 §7.6.4.6 lays them out and read back
 * from any well-formed list, while damaged ones get a reason and the byte at fault.
 * Method: compare with bytes built by hand (pr-fixtures.ts), then feed truncated, mislabelled and
 * malformed TransportIDs and check the failure offsets.
 */
import { describe, expect, test } from 'vitest';
import {
  decodeIscsiTransportId,
  encodeIscsiTransportId,
} from '../../../src/scsi/reservations/transport-id.js';
import { INITIATOR_1, iscsiTransportId } from './pr-fixtures.js';

describe('encodeIscsiTransportId', () => {
  test('format 01b carries name, separator and ISID, null-terminated and padded to 4n', () => {
    const bytes = encodeIscsiTransportId({ name: INITIATOR_1, isid: '23d000000001' });
    expect(bytes).toEqual(iscsiTransportId(INITIATOR_1, '23d000000001'));
    expect(bytes[0]).toBe(0x45);
    expect(bytes.readUInt16BE(2) % 4).toBe(0);
    expect(bytes.subarray(4).toString('latin1')).toMatch(/^iqn\.2007-10[^\0]*,i,0x23d000000001\0+$/);
  });

  test('format 00b names the device; a short name is padded to the minimum additional length 20', () => {
    const bytes = encodeIscsiTransportId({ name: 'iqn.a:b', isid: null });
    expect([...bytes.subarray(0, 4)]).toEqual([0x05, 0x00, 0x00, 20]);
    expect(bytes.length).toBe(24);
    expect(bytes).toEqual(iscsiTransportId('iqn.a:b'));
  });
});

describe('decodeIscsiTransportId', () => {
  test('reads both formats, lower-casing name and ISID', () => {
    const port = decodeIscsiTransportId(iscsiTransportId('IQN.X:Y', '23D000000001'), 0);
    expect(port).toEqual({ ok: true, value: { name: 'iqn.x:y', isid: '23d000000001' }, lengthBytes: 32 });
    const device = decodeIscsiTransportId(iscsiTransportId(INITIATOR_1), 0);
    expect(device.ok && device.value).toEqual({ name: INITIATOR_1, isid: null });
  });

  test('reads at an offset inside a longer list', () => {
    const list = Buffer.concat([Buffer.alloc(28), iscsiTransportId('iqn.a:b', '000000000001')]);
    // "iqn.a:b,i,0x000000000001" is 24 characters; with its null, padded to 28, plus the header.
    const parsed = decodeIscsiTransportId(list, 28);
    expect(parsed.ok && parsed.lengthBytes).toBe(32);
  });

  test.each([
    ['a header cut short', Buffer.from([0x05, 0, 0]), 0],
    ['a non-iSCSI protocol (FC = 0)', Buffer.from([0x00, 0, 0, 20, ...Buffer.alloc(20)]), 0],
    ['a reserved format code', Buffer.from([0x85, 0, 0, 20, ...Buffer.alloc(20)]), 0],
    ['a length past the end', Buffer.from([0x05, 0, 0, 40, ...Buffer.alloc(20)]), 2],
    ['an empty name', Buffer.from([0x05, 0, 0, 20, ...Buffer.alloc(20)]), 4],
  ])('refuses %s', (_what, bytes, byte) => {
    const parsed = decodeIscsiTransportId(bytes, 0);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.byte).toBe(byte);
  });

  test('refuses format 01b without the separator or with a short ISID', () => {
    const noSeparator = iscsiTransportId('iqn.a:b');
    noSeparator[0] = 0x45;
    expect(decodeIscsiTransportId(noSeparator, 0).ok).toBe(false);
    const shortIsid = decodeIscsiTransportId(iscsiTransportId('iqn.a:b', '1234'), 0);
    expect(!shortIsid.ok && shortIsid.reason).toMatch(/ISID/);
  });

  test('refuses control characters in the name', () => {
    const bytes = iscsiTransportId('iqn.a:b');
    bytes[5] = 0x07;
    expect(decodeIscsiTransportId(bytes, 0).ok).toBe(false);
  });
});
