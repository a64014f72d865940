/**
 * Goal: REQUEST SENSE, REPORT LUNS, REPORT SUPPORTED OPERATION CODES, REPORT TARGET PORT GROUPS,
 * START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL and SEND DIAGNOSTIC answer as SPC-4/SBC-3 say,
 * including the removable-medium flows libiscsi's NoMedia and PreventAllow suites exercise.
 * Method: real CDBs on a test LU; expected bytes from SPC-4 (sense data, REPORT LUNS, REPORT
 * SUPPORTED OPERATION CODES, REPORT TARGET PORT GROUPS) and SBC-3 (PREVENT ALLOW MEDIUM REMOVAL,
 * START STOP UNIT).
 */
import { describe, expect, test } from 'vitest';
import { AluaState } from '../../src/scsi/alua.js';
import { be16, be32, hex } from '../support/bytes.js';
import {
  inquiryCdb,
  preventAllowCdb,
  readCapacity16Cdb,
  reportLunsCdb,
  reportSupportedOpcodesCdb,
  reportTargetPortGroupsCdb,
  requestSenseCdb,
  rw10,
  sendDiagnosticCdb,
  startStopUnitCdb,
  testUnitReadyCdb,
  unmapCdb,
} from '../support/cdb-builder.js';
import { createTestLu, makeNexus, senseTriple } from '../support/scsi-lu.js';

describe('REQUEST SENSE', () => {
  test('without a pending condition: NO SENSE, fixed or descriptor format by DESC', async () => {
    const { run } = await createTestLu();
    expect((await run(requestSenseCdb(false, 252))).dataIn).toEqual(
      hex('70 00 00 00000000 0a 00000000 00 00 00 000000'),
    );
    expect((await run(requestSenseCdb(true, 252))).dataIn).toEqual(hex('72 00 00 00 000000 00'));
    expect((await run(requestSenseCdb(false, 8))).dataIn!.length).toBe(8);
  });
});

describe('REPORT LUNS (SPC-4)', () => {
  test('peripheral device addressing below 256, flat space addressing above; truncation', async () => {
    const { run } = await createTestLu({ reportLuns: () => [0, 1, 300] });
    expect((await run(reportLunsCdb(0, 1024))).dataIn).toEqual(
      hex('00000018 00000000 | 0000000000000000 | 0001000000000000 | 412c000000000000'),
    );
    expect((await run(reportLunsCdb(2, 16))).dataIn).toEqual(hex('00000018 00000000 0000000000000000'));
    expect((await run(reportLunsCdb(1, 1024))).dataIn).toEqual(hex('00000000 00000000'));
    expect(senseTriple(await run(reportLunsCdb(3, 1024)))).toEqual([0x5, 0x24, 0x00]);
  });
});

describe('REPORT SUPPORTED OPERATION CODES', () => {
  test('all commands: 8-byte command descriptors, SERVACTV only with a service action', async () => {
    const { run } = await createTestLu();
    const data = (await run(reportSupportedOpcodesCdb({ reportingOptions: 0, alloc: 65535 }))).dataIn!;
    const length = data.readUInt32BE(0);
    expect(length % 8).toBe(0);
    expect(data.length).toBe(4 + length);
    const descriptors = [];
    for (let offset = 4; offset < data.length; offset += 8)
      descriptors.push(data.subarray(offset, offset + 8));
    // READ(10): opcode 28h, SA 0, flags 0, CDB LENGTH 10.
    expect(descriptors).toContainEqual(hex('28 00 0000 00 00 000a'));
    // READ CAPACITY(16): 9Eh, SA 10h, SERVACTV, 16 bytes.
    expect(descriptors).toContainEqual(hex('9e 00 0010 00 01 0010'));
    expect(descriptors).toContainEqual(hex('89 00 0000 00 00 0010')); // COMPARE AND WRITE
    expect(descriptors).toContainEqual(hex('42 00 0000 00 00 000a')); // UNMAP on a thin LU
    for (const descriptor of descriptors) {
      if ((descriptor[5]! & 0x01) === 0) expect(descriptor.readUInt16BE(2)).toBe(0);
    }
  });

  test('RCTD adds a 12-byte command timeouts descriptor with length 000Ah (SPC-4)', async () => {
    const { run } = await createTestLu();
    const data = (await run(reportSupportedOpcodesCdb({ rctd: true, reportingOptions: 0, alloc: 65535 })))
      .dataIn!;
    for (let offset = 4; offset < data.length; offset += 20) {
      expect(data[offset + 5]! & 0x02).toBe(0x02); // CTDP
      expect(data.readUInt16BE(offset + 8)).toBe(0x000a);
    }
  });

  test('UNMAP is not listed on a fully provisioned LU', async () => {
    const { run } = await createTestLu({ memory: { thin: false } });
    const data = (await run(reportSupportedOpcodesCdb({ reportingOptions: 0, alloc: 65535 }))).dataIn!;
    const opcodes = [];
    for (let offset = 4; offset < data.length; offset += 8) opcodes.push(data[offset]);
    expect(opcodes).not.toContain(0x42);
    expect(
      (await run(reportSupportedOpcodesCdb({ reportingOptions: 1, opcode: 0x42, alloc: 64 }))).dataIn,
    ).toEqual(hex('00 01 0000'));
    expect(senseTriple(await run(unmapCdb(24)))).toEqual([0x5, 0x20, 0x00]);
  });

  test('one command (one_command format): CDB USAGE DATA of READ(10) from its SBC-3 CDB', async () => {
    const { run } = await createTestLu();
    const data = (await run(reportSupportedOpcodesCdb({ reportingOptions: 1, opcode: 0x28, alloc: 64 })))
      .dataIn!;
    // SUPPORT 011b, CDB SIZE 10, usage: opcode, DPO|FUA|FUA_NV, LBA, GROUP NUMBER, length, NACA.
    expect(data).toEqual(hex('00 03 000a | 28 1a ffffffff 1f ffff 04'));
  });

  test('one command with service action, timeouts; the wrong reporting option is INVALID FIELD IN CDB', async () => {
    const { run } = await createTestLu();
    const data = (
      await run(
        reportSupportedOpcodesCdb({
          rctd: true,
          reportingOptions: 2,
          opcode: 0x9e,
          serviceAction: 0x10,
          alloc: 64,
        }),
      )
    ).dataIn!;
    expect(data.subarray(0, 4)).toEqual(hex('00 83 0010'));
    expect(data.subarray(4, 20)).toEqual(hex('9e 10 ffffffffffffffff ffffffff 01 04'));
    expect(data.subarray(20)).toEqual(Buffer.from([...be16(10), 0, 0, ...be32(0), ...be32(30)]));
    expect(
      senseTriple(await run(reportSupportedOpcodesCdb({ reportingOptions: 1, opcode: 0x9e, alloc: 64 }))),
    ).toEqual([0x5, 0x24, 0x00]);
    expect(
      senseTriple(await run(reportSupportedOpcodesCdb({ reportingOptions: 2, opcode: 0x28, alloc: 64 }))),
    ).toEqual([0x5, 0x24, 0x00]);
    expect(
      (
        await run(
          reportSupportedOpcodesCdb({ reportingOptions: 2, opcode: 0x9e, serviceAction: 0x11, alloc: 64 }),
        )
      ).dataIn,
    ).toEqual(hex('00 01 0000'));
    expect(senseTriple(await run(reportSupportedOpcodesCdb({ reportingOptions: 4, alloc: 64 })))).toEqual([
      0x5, 0x24, 0x00,
    ]);
  });

  test('every listed command answers reporting option 1 or 2 consistently (libiscsi OneCommand)', async () => {
    const { run } = await createTestLu();
    const data = (await run(reportSupportedOpcodesCdb({ reportingOptions: 0, alloc: 65535 }))).dataIn!;
    for (let offset = 4; offset < data.length; offset += 8) {
      const opcode = data[offset]!;
      const serviceAction = data.readUInt16BE(offset + 2);
      const hasServiceAction = (data[offset + 5]! & 0x01) !== 0;
      const one = await run(
        reportSupportedOpcodesCdb({
          reportingOptions: hasServiceAction ? 2 : 1,
          opcode,
          serviceAction,
          alloc: 64,
        }),
      );
      expect(one.dataIn![1]! & 0x07).toBe(0x03);
      expect(one.dataIn![4]).toBe(opcode);
      expect(one.dataIn!.readUInt16BE(2)).toBe(data.readUInt16BE(offset + 6));
    }
  });
});

describe('REPORT TARGET PORT GROUPS (SPC-4)', () => {
  test('default: one active/optimized group holding the nexus port', async () => {
    const { run } = await createTestLu();
    const nexus = makeNexus(1, { relativeTargetPortId: 3, targetPortGroup: 2 });
    expect((await run(reportTargetPortGroupsCdb(0, 1024), { nexus })).dataIn).toEqual(
      hex('0000000c | 00 8f 0002 00 00 00 01 | 0000 0003'),
    );
  });

  // RETURN DATA LENGTH counts the rest of the extended header (4) and both descriptors (16 + 12).
  test('extended header with IMPLICIT TRANSITION TIME; several groups; states and PREF', async () => {
    const { run } = await createTestLu({
      implicitTransitionTimeSec: 5,
      targetPortGroups: () => [
        { id: 1, state: AluaState.ACTIVE_OPTIMIZED, preferred: true, relativeTargetPortIds: [1, 2] },
        { id: 2, state: AluaState.STANDBY, statusCode: 2, relativeTargetPortIds: [3] },
      ],
    });
    expect((await run(reportTargetPortGroupsCdb(1, 1024))).dataIn).toEqual(
      hex(
        '00000020 10 05 0000 | 80 8f 0001 00 00 00 02 0000 0001 0000 0002 | 02 8f 0002 00 02 00 01 0000 0003',
      ),
    );
    expect(senseTriple(await run(reportTargetPortGroupsCdb(2, 1024)))).toEqual([0x5, 0x24, 0x00]);
  });
});

describe('START STOP UNIT and PREVENT ALLOW on a fixed disk', () => {
  test('power conditions and START without LOEJ are accepted; LOEJ is INVALID FIELD IN CDB (byte 4 bit 1)', async () => {
    const { run } = await createTestLu();
    expect((await run(startStopUnitCdb({ start: false }))).status).toBe(0);
    expect((await run(startStopUnitCdb({ immed: true, start: true }))).status).toBe(0);
    expect((await run(startStopUnitCdb({ powerCondition: 3, loej: true }))).status).toBe(0);
    expect((await run(startStopUnitCdb({ loej: true }))).sense).toMatchObject({
      asc: 0x24,
      fieldPointer: { inCdb: true, byte: 4, bit: 1 },
    });
    expect((await run(testUnitReadyCdb())).status).toBe(0);
    expect((await run(preventAllowCdb(1))).status).toBe(0);
    expect((await run(preventAllowCdb(0))).status).toBe(0);
    expect(senseTriple(await run(preventAllowCdb(2)))).toEqual([0x5, 0x24, 0x00]);
  });
});

describe('removable medium', () => {
  test('eject: medium commands get NOT READY, MEDIUM NOT PRESENT (3A/00); INQUIRY still works; load again', async () => {
    const { run, events } = await createTestLu({ removable: true });
    expect((await run(startStopUnitCdb({ immed: true, loej: true, start: false }))).status).toBe(0);
    for (const cdb of [testUnitReadyCdb(), rw10(0x28, 0, 1), readCapacity16Cdb(32), rw10(0x35, 0, 1)]) {
      expect(senseTriple(await run(cdb))).toEqual([0x2, 0x3a, 0x00]);
    }
    expect((await run(inquiryCdb(false, 0, 96))).status).toBe(0);
    expect((await run(requestSenseCdb(false, 18))).dataIn!.subarray(12, 14)).toEqual(hex('3a 00'));
    expect((await run(startStopUnitCdb({ loej: true, start: true }))).status).toBe(0);
    expect((await run(testUnitReadyCdb())).status).toBe(0);
    expect(events.toArray().map((event) => event.type)).toEqual(['lu.medium_ejected', 'lu.medium_loaded']);
  });

  test('PREVENT on one nexus blocks eject and load on every nexus until allowed (53/02)', async () => {
    const { run } = await createTestLu({ removable: true });
    const other = makeNexus(2);
    await run(testUnitReadyCdb(), { nexus: other });
    await run(preventAllowCdb(1));
    expect(senseTriple(await run(startStopUnitCdb({ loej: true })))).toEqual([0x5, 0x53, 0x02]);
    expect(senseTriple(await run(startStopUnitCdb({ loej: true }), { nexus: other }))).toEqual([
      0x5, 0x53, 0x02,
    ]);
    expect((await run(testUnitReadyCdb())).status).toBe(0);
    await run(preventAllowCdb(0));
    expect((await run(startStopUnitCdb({ loej: true }))).status).toBe(0);
    await run(preventAllowCdb(1));
    expect(senseTriple(await run(startStopUnitCdb({ loej: true, start: true })))).toEqual([0x5, 0x53, 0x02]);
  });

  test('a LUN reset or the preventing nexus going away clears the prevention', async () => {
    const { run, lu } = await createTestLu({ removable: true });
    await run(preventAllowCdb(1));
    lu.reset();
    await run(testUnitReadyCdb()); // 29/03
    expect((await run(startStopUnitCdb({ loej: true }))).status).toBe(0);
    await run(startStopUnitCdb({ loej: true, start: true }));
    await run(preventAllowCdb(1));
    lu.nexusLost(makeNexus(1));
    await run(testUnitReadyCdb()); // 29/00
    expect((await run(startStopUnitCdb({ loej: true }), { nexus: makeNexus(1) })).status).toBe(0);
  });
});

describe('SEND DIAGNOSTIC (SPC-4)', () => {
  test('self-tests pass; reserved codes and parameter lists are refused', async () => {
    const { run } = await createTestLu();
    expect((await run(sendDiagnosticCdb(0x04))).status).toBe(0); // SELFTEST
    expect((await run(sendDiagnosticCdb(0x20))).status).toBe(0); // background short self-test
    expect((await run(sendDiagnosticCdb(0x00))).status).toBe(0);
    expect(senseTriple(await run(sendDiagnosticCdb(0x24)))).toEqual([0x5, 0x24, 0x00]); // SELFTEST with a code
    expect(senseTriple(await run(sendDiagnosticCdb(0x60)))).toEqual([0x5, 0x24, 0x00]); // code 011b reserved
    expect(senseTriple(await run(sendDiagnosticCdb(0x10, 4), { dataOut: Buffer.alloc(4) }))).toEqual([
      0x5, 0x26, 0x00,
    ]);
  });
});
