/**
 * Goal: the simulated initiator's cluster commands are laid out as SPC-4 / SBC-3 say, and its
 * readers take the answers apart the same way: PERSISTENT RESERVE OUT / IN, REPORT and SET TARGET
 * PORT GROUPS, COMPARE AND WRITE, the Device Identification page and the sense INFORMATION field.
 * Method: byte layouts written out by hand from the standards' tables.
 */
import { describe, expect, test } from 'vitest';
import {
  AccessState,
  compareAndWriteCdb,
  PrInAction,
  PrOutAction,
  PrType,
  parseDeviceIdentification,
  parseReadKeys,
  parseReadReservation,
  parseTargetPortGroups,
  persistentReserveInCdb,
  persistentReserveOut,
  reportTargetPortGroupsCdb,
  senseInformation,
  setTargetPortGroups,
} from '../../sim/initiator/scsi-cluster-commands.js';

describe('persistent reservations', () => {
  test('PERSISTENT RESERVE OUT: service action, scope/type, a 24-byte list with both keys and APTPL', () => {
    const { cdb, parameters } = persistentReserveOut({
      action: PrOutAction.PREEMPT,
      key: 0x1122334455667788n,
      serviceActionKey: 0x0102030405060708n,
      type: PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
      aptpl: true,
    });
    expect([...cdb]).toEqual([0x5f, 0x04, 0x05, 0, 0, 0, 0, 0, 24, 0]);
    expect(parameters.length).toBe(24);
    expect(parameters.subarray(0, 8).toString('hex')).toBe('1122334455667788');
    expect(parameters.subarray(8, 16).toString('hex')).toBe('0102030405060708');
    expect(parameters[20]).toBe(0x01);
  });

  test('REGISTER AND IGNORE EXISTING KEY carries the new key as the service action key', () => {
    const { cdb, parameters } = persistentReserveOut({
      action: PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY,
      key: 0n,
      serviceActionKey: 0xabn,
    });
    expect(cdb[1]).toBe(0x06);
    expect(cdb[2]).toBe(0);
    expect(parameters.readBigUInt64BE(0)).toBe(0n);
    expect(parameters.readBigUInt64BE(8)).toBe(0xabn);
  });

  test('PERSISTENT RESERVE IN: service action and allocation length at bytes 7-8', () => {
    expect([...persistentReserveInCdb(PrInAction.READ_RESERVATION, 64)]).toEqual([
      0x5e, 1, 0, 0, 0, 0, 0, 0, 64, 0,
    ]);
  });

  test('READ KEYS: generation, then the keys the additional length covers', () => {
    const data = Buffer.alloc(8 + 16 + 8);
    data.writeUInt32BE(7, 0);
    data.writeUInt32BE(16, 4);
    data.writeBigUInt64BE(0xan, 8);
    data.writeBigUInt64BE(0xbn, 16);
    data.writeBigUInt64BE(0xcn, 24); // past the additional length: not a key
    expect(parseReadKeys(data)).toEqual({ generation: 7, keys: [0xan, 0xbn] });
    expect(parseReadKeys(Buffer.alloc(4))).toBeUndefined();
  });

  test('READ RESERVATION: none (additional length 0), or the holder key and scope/type', () => {
    const none = Buffer.alloc(8);
    none.writeUInt32BE(3, 0);
    expect(parseReadReservation(none)).toEqual({ generation: 3, reservation: undefined });
    const held = Buffer.alloc(24);
    held.writeUInt32BE(4, 0);
    held.writeUInt32BE(16, 4);
    held.writeBigUInt64BE(0x99n, 8);
    held[21] = 0x05;
    expect(parseReadReservation(held)).toEqual({
      generation: 4,
      reservation: { key: 0x99n, scope: 0, type: 5 },
    });
  });
});

describe('ALUA', () => {
  test('REPORT TARGET PORT GROUPS CDB: MAINTENANCE IN 0x0a with the format in bits 7:5', () => {
    const cdb = reportTargetPortGroupsCdb({ extended: true, allocationLengthBytes: 0x200 });
    expect(cdb[0]).toBe(0xa3);
    expect(cdb[1]).toBe(0x2a);
    expect(cdb.readUInt32BE(6)).toBe(0x200);
    expect(reportTargetPortGroupsCdb()[1]).toBe(0x0a);
  });

  function descriptor(id: number, state: number, ports: number[], preferred = false): Buffer {
    const bytes = Buffer.alloc(8 + 4 * ports.length);
    bytes[0] = (preferred ? 0x80 : 0) | state;
    bytes[1] = 0x8f;
    bytes.writeUInt16BE(id, 2);
    bytes[5] = 2;
    bytes[7] = ports.length;
    ports.forEach((port, index) => {
      bytes.writeUInt16BE(port, 8 + 4 * index + 2);
    });
    return bytes;
  }

  test('RTPG with the extended header: transition time and every descriptor with its ports', () => {
    const body = Buffer.concat([
      descriptor(1, AccessState.ACTIVE_OPTIMIZED, [1]),
      descriptor(2, 1, [2, 5], true),
    ]);
    const header = Buffer.alloc(8);
    header.writeUInt32BE(4 + body.length, 0);
    header[4] = 0x10;
    header[5] = 30;
    const parsed = parseTargetPortGroups(Buffer.concat([header, body]));
    expect(parsed?.extended).toBe(true);
    expect(parsed?.implicitTransitionTimeSec).toBe(30);
    expect(parsed?.totalBytes).toBe(8 + body.length);
    expect(parsed?.groups).toEqual([
      { id: 1, state: 0, preferred: false, supported: 0x8f, statusCode: 2, relativeTargetPortIds: [1] },
      { id: 2, state: 1, preferred: true, supported: 0x8f, statusCode: 2, relativeTargetPortIds: [2, 5] },
    ]);
  });

  test('RTPG with the length-only header; a short buffer keeps the whole length to ask again', () => {
    const body = descriptor(3, AccessState.STANDBY, [3]);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length + 12, 0); // more than was sent
    const parsed = parseTargetPortGroups(Buffer.concat([header, body]));
    expect(parsed?.extended).toBe(false);
    expect(parsed?.totalBytes).toBe(4 + body.length + 12);
    expect(parsed?.groups.map((group) => group.id)).toEqual([3]);
  });

  test('SET TARGET PORT GROUPS: 4 reserved bytes, then state and group id per descriptor', () => {
    const { cdb, parameters } = setTargetPortGroups([{ id: 2, state: AccessState.ACTIVE_OPTIMIZED }]);
    expect(cdb[0]).toBe(0xa4);
    expect(cdb[1]).toBe(0x0a);
    expect(cdb.readUInt32BE(6)).toBe(8);
    expect([...parameters]).toEqual([0, 0, 0, 0, 0, 0, 0, 2]);
  });

  test('Device Identification: LU designators, relative target port and target port group', () => {
    const naa = Buffer.from([0x01, 0x03, 0x00, 0x08, 0x60, 1, 2, 3, 4, 5, 6, 7]);
    const port = Buffer.from([0x61, 0x94, 0x00, 0x04, 0, 0, 0, 2]);
    const group = Buffer.from([0x01, 0x15, 0x00, 0x04, 0, 0, 0, 2]);
    const body = Buffer.concat([naa, port, group]);
    const page = Buffer.concat([Buffer.from([0, 0x83, 0, body.length]), body]);
    expect(parseDeviceIdentification(page)).toEqual({
      luDesignators: ['3:6001020304050607'],
      relativeTargetPortId: 2,
      targetPortGroup: 2,
    });
    expect(parseDeviceIdentification(Buffer.from([0, 0x80, 0, 0]))).toBeUndefined();
  });
});

describe('COMPARE AND WRITE and sense', () => {
  test('COMPARE AND WRITE: opcode 0x89, LBA at 2-9, blocks at 13', () => {
    const cdb = compareAndWriteCdb(0x1_0000_0002, 1);
    expect(cdb.length).toBe(16);
    expect(cdb[0]).toBe(0x89);
    expect(cdb.readBigUInt64BE(2)).toBe(0x1_0000_0002n);
    expect(cdb[13]).toBe(1);
  });

  test('the INFORMATION field of fixed (VALID) and descriptor sense', () => {
    const fixed = Buffer.alloc(18);
    fixed[0] = 0xf0;
    fixed[2] = 0x0e;
    fixed.writeUInt32BE(17, 3);
    expect(senseInformation(fixed)).toBe(17n);
    fixed[0] = 0x70;
    expect(senseInformation(fixed)).toBeUndefined();
    const descriptor = Buffer.alloc(20);
    descriptor[0] = 0x72;
    descriptor[1] = 0x0e;
    descriptor[7] = 12;
    descriptor[8] = 0x00;
    descriptor[9] = 0x0a;
    descriptor[10] = 0x80;
    descriptor.writeBigUInt64BE(513n, 12);
    expect(senseInformation(descriptor)).toBe(513n);
  });
});
