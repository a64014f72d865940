/**
 * Goal: LogicalUnit.execute applies the dispatch rules in order: UNIT ATTENTION delivery (SAM-5
 *: INQUIRY, REPORT LUNS and REQUEST SENSE neither report nor clear), ALUA refusals,
 * reservation gate, opcode and service-action lookup, CDB usage checks, and maps backend failures
 * and its own bugs to sense data; the reset and nexus-loss hooks do what SAM-5 asks.
 * Method: drive a LogicalUnit over a MemoryBackend with real CDBs on numbered nexuses; expected
 * sense triples come from SPC-4 Annex D and the cited sections.
 */
import { describe, expect, test } from 'vitest';
import { BackendError, type BlockBackend } from '../../src/backends/block-backend.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { AluaState } from '../../src/scsi/alua.js';
import type { ReservationGate } from '../../src/scsi/reservation-gate.js';
import type { Nexus, ScsiResult } from '../../src/scsi/scsi-types.js';
import { hex } from '../support/bytes.js';
import {
  inquiryCdb,
  modeSelect6,
  modeSense6,
  reportLunsCdb,
  requestSenseCdb,
  rw10,
  rw16,
  testUnitReadyCdb,
  unmapCdb,
} from '../support/cdb-builder.js';
import { NoReservations } from '../support/no-reservations.js';
import { createTestLu, makeNexus, senseTriple } from '../support/scsi-lu.js';

describe('UNIT ATTENTION delivery', () => {
  test('a new nexus gets 29/00 on its first command, then runs normally', async () => {
    const { run } = await createTestLu({ keepPowerOnAttention: true });
    const first = await run(testUnitReadyCdb());
    expect(first.status).toBe(0x02);
    expect(senseTriple(first)).toEqual([0x6, 0x29, 0x00]);
    expect((await run(testUnitReadyCdb())).status).toBe(0x00);
  });

  test('INQUIRY and REPORT LUNS neither report nor clear it; REQUEST SENSE returns it as data and clears it', async () => {
    const { run } = await createTestLu({ keepPowerOnAttention: true });
    expect((await run(inquiryCdb(false, 0, 96))).status).toBe(0x00);
    expect((await run(reportLunsCdb(0, 64))).status).toBe(0x00);
    const sense = await run(requestSenseCdb(false, 18));
    expect(sense.status).toBe(0x00);
    // Fixed format, UNIT ATTENTION, 29/00 (SPC-4).
    expect(sense.dataIn).toEqual(hex('70 00 06 00000000 0a 00000000 29 00 00 000000'));
    expect((await run(testUnitReadyCdb())).status).toBe(0x00);
  });

  test('REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED (3F/0E) and only that (SPC-4)', async () => {
    const { run, lu, unitAttentions } = await createTestLu();
    const nexus = makeNexus(1);
    lu.reportedLunsChanged();
    unitAttentions.raiseAll({ key: 6, asc: 0x2a, ascq: 0x09 });
    expect((await run(reportLunsCdb(0, 64))).status).toBe(0x00);
    expect(unitAttentions.pendingCount(nexus)).toBe(1);
    expect(senseTriple(await run(testUnitReadyCdb()))).toEqual([0x6, 0x2a, 0x09]);
  });

  test('MODE SELECT raises MODE PARAMETERS CHANGED (2A/01) on the other nexuses only', async () => {
    const { run } = await createTestLu();
    const other = makeNexus(2);
    await run(testUnitReadyCdb(), { nexus: other }); // consume its power-on condition
    const control = (await run(modeSense6({ dbd: true, page: 0x0a, alloc: 255 }))).dataIn!.subarray(4);
    control[2] = control[2]! | 0x04; // D_SENSE
    const list = Buffer.concat([Buffer.alloc(4), control]);
    expect((await run(modeSelect6(list.length), { dataOut: list })).status).toBe(0x00);
    expect((await run(testUnitReadyCdb())).status).toBe(0x00);
    expect(senseTriple(await run(testUnitReadyCdb(), { nexus: other }))).toEqual([0x6, 0x2a, 0x01]);
  });
});

describe('lookup and CDB checks', () => {
  test('an unknown opcode is INVALID COMMAND OPERATION CODE (20/00)', async () => {
    const { run } = await createTestLu();
    // LOG SELECT (SPC-4): not implemented.
    expect(senseTriple(await run(Buffer.from([0x4c, 0, 0, 0, 0, 0, 0, 0, 0, 0])))).toEqual([0x5, 0x20, 0x00]);
  });

  test('an unknown service action of a known opcode is INVALID FIELD IN CDB at byte 1', async () => {
    const { run } = await createTestLu();
    const result = await run(Buffer.from([0x9e, 0x11, ...new Array(14).fill(0)]));
    expect(senseTriple(result)).toEqual([0x5, 0x24, 0x00]);
    expect(result.sense!.fieldPointer).toEqual({ inCdb: true, byte: 1, bit: 4 });
  });

  test('UNMAP does not exist on a fully provisioned LU', async () => {
    const { run } = await createTestLu({ memory: { thin: false } });
    expect(senseTriple(await run(unmapCdb(24)))).toEqual([0x5, 0x20, 0x00]);
  });

  test('reserved bits and NACA are INVALID FIELD IN CDB with a field pointer', async () => {
    const { run } = await createTestLu();
    const reserved = await run(rw10(0x28, 0, 1, 0x01)); // READ(10) byte 1 bit 0 is reserved
    expect(reserved.sense).toMatchObject({
      key: 5,
      asc: 0x24,
      fieldPointer: { inCdb: true, byte: 1, bit: 0 },
    });
    const naca = rw16(0x88, 0n, 1);
    naca[15] = 0x04;
    expect((await run(naca)).sense).toMatchObject({ asc: 0x24, fieldPointer: { byte: 15, bit: 2 } });
  });
});

describe('reservations', () => {
  class ConflictGate extends NoReservations implements ReservationGate {
    override check(_nexus: Nexus, cdb: Buffer): 'ok' | 'conflict' {
      return cdb[0] === 0x2a ? 'conflict' : 'ok';
    }
  }

  test('the gate decides conflicts and runs the reservation commands', async () => {
    const gate = new ConflictGate();
    const { run } = await createTestLu({ reservations: gate });
    expect((await run(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) })).status).toBe(0x18);
    expect((await run(rw10(0x28, 0, 1))).status).toBe(0x00);
    await run(Buffer.from([0x16, 0, 0, 0, 0, 0])); // RESERVE(6)
    await run(Buffer.from([0x5e, 0x00, 0, 0, 0, 0, 0, 0, 0x20, 0])); // PERSISTENT RESERVE IN, READ KEYS
    expect(gate.executed.map((cdb) => cdb[0])).toEqual([0x16, 0x5e]);
  });
});

describe('ALUA', () => {
  test('a standby port allows INQUIRY and MODE SENSE, refuses media access with 04/0B', async () => {
    const { run } = await createTestLu({
      targetPortGroups: (nexus) => [
        { id: nexus.targetPortGroup, state: AluaState.STANDBY, relativeTargetPortIds: [1] },
      ],
    });
    expect((await run(inquiryCdb(false, 0, 96))).status).toBe(0x00);
    expect((await run(modeSense6({ page: 0x3f, alloc: 255 }))).status).toBe(0x00);
    expect(senseTriple(await run(testUnitReadyCdb()))).toEqual([0x2, 0x04, 0x0b]);
    expect(senseTriple(await run(rw10(0x28, 0, 1)))).toEqual([0x2, 0x04, 0x0b]);
  });

  test('transitioning and unavailable ports refuse all but the always-allowed commands', async () => {
    for (const [state, ascq] of [
      [AluaState.TRANSITIONING, 0x0a],
      [AluaState.UNAVAILABLE, 0x0c],
    ] as const) {
      const { run } = await createTestLu({
        targetPortGroups: (nexus) => [{ id: nexus.targetPortGroup, state, relativeTargetPortIds: [1] }],
      });
      expect(senseTriple(await run(modeSense6({ page: 0x3f, alloc: 255 })))).toEqual([0x2, 0x04, ascq]);
      expect((await run(reportLunsCdb(0, 64))).status).toBe(0x00);
    }
  });
});

/** Delegates to a MemoryBackend but fails chosen operations. */
function failingBackend(fail: { read?: unknown; write?: unknown; flush?: unknown }): BlockBackend {
  const inner = new MemoryBackend({ sizeBytes: 1024 * 1024, identity: 'memory:failing' });
  return {
    blockSizeBytes: inner.blockSizeBytes,
    sizeBytes: inner.sizeBytes,
    thin: true,
    readOnly: false,
    identity: inner.identity,
    read: (offset, length) => (fail.read ? Promise.reject(fail.read) : inner.read(offset, length)),
    write: (offset, data, options) =>
      fail.write ? Promise.reject(fail.write) : inner.write(offset, data, options),
    flush: () => (fail.flush ? Promise.reject(fail.flush) : inner.flush()),
    unmap: (offset, length) => inner.unmap(offset, length),
    mapStatus: (offset, length) => inner.mapStatus(offset, length),
    close: () => inner.close(),
  };
}

describe('failures', () => {
  test.each([
    ['medium read', { read: new BackendError('medium', 'x') }, rw10(0x28, 0, 1), [0x3, 0x11, 0x00]],
    ['medium write', { write: new BackendError('medium', 'x') }, rw10(0x2a, 0, 1), [0x3, 0x0c, 0x00]],
    ['no space', { write: new BackendError('space', 'x') }, rw10(0x2a, 0, 1), [0x7, 0x27, 0x07]],
    ['read-only', { write: new BackendError('read-only', 'x') }, rw10(0x2a, 0, 1), [0x7, 0x27, 0x00]],
    ['unavailable', { read: new BackendError('unavailable', 'x') }, rw10(0x28, 0, 1), [0x2, 0x04, 0x0a]],
    [
      'retries exhausted',
      { flush: new BackendError('retries-exhausted', 'x') },
      rw10(0x35, 0, 0),
      [0xb, 0x08, 0x00],
    ],
    ['a bug', { read: new TypeError('bug') }, rw10(0x28, 0, 1), [0x4, 0x44, 0x00]],
  ] as const)('%s', async (_name, fail, cdb, expected) => {
    const { run } = await createTestLu({ backend: failingBackend(fail) });
    expect(senseTriple(await run(cdb, { dataOut: Buffer.alloc(512) }))).toEqual(expected);
  });

  test('an aborted command answers TASK ABORTED without touching the backend', async () => {
    const { run, backend } = await createTestLu();
    const controller = new AbortController();
    controller.abort();
    const result = await run(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512, 7), signal: controller.signal });
    expect(result.status).toBe(0x40);
    expect((await backend.read(0, 512)).every((byte) => byte === 0)).toBe(true);
  });
});

describe('reset and nexus loss', () => {
  test('LUN reset: gate told, mode back to defaults, 29/03 on every nexus', async () => {
    const gate = new NoReservations();
    const { run, lu, events } = await createTestLu({ reservations: gate });
    const other = makeNexus(2);
    await run(testUnitReadyCdb(), { nexus: other });
    const control = (await run(modeSense6({ dbd: true, page: 0x0a, alloc: 255 }))).dataIn!.subarray(4);
    control[4] = control[4]! | 0x08; // SWP
    const list = Buffer.concat([Buffer.alloc(4), control]);
    await run(modeSelect6(list.length), { dataOut: list });
    lu.reset();
    expect(gate.lunResets).toBe(1);
    for (const nexus of [makeNexus(1), other]) {
      expect(senseTriple(await run(testUnitReadyCdb(), { nexus }))).toEqual([0x6, 0x29, 0x03]);
    }
    const after = (await run(modeSense6({ dbd: true, page: 0x0a, alloc: 255 }))).dataIn!;
    expect(after[2]! & 0x80).toBe(0); // WP clear again
    expect(events.toArray().map((event) => event.type)).toContain('lu.reset');
  });

  test('nexus loss: gate told, and the nexus is new again (29/00)', async () => {
    const gate = new NoReservations();
    const { run, lu } = await createTestLu({ reservations: gate });
    lu.nexusLost(makeNexus(1));
    expect(gate.lostNexuses).toEqual([makeNexus(1).id]);
    expect(senseTriple(await run(testUnitReadyCdb()))).toEqual([0x6, 0x29, 0x00]);
  });
});

describe('sense bytes', () => {
  test('senseBytes and encodeSense follow D_SENSE of the control mode page', async () => {
    const { run, lu } = await createTestLu();
    const failure = (await run(rw16(0x88, 0xffff_ffff_ffff_ffffn, 1))) as ScsiResult;
    // Fixed format, ILLEGAL REQUEST, LBA OUT OF RANGE (SPC-4).
    expect(failure.senseBytes).toEqual(hex('70 00 05 00000000 0a 00000000 21 00 00 000000'));
    expect(lu.encodeSense(failure.sense!)[0]).toBe(0x70);
    const control = (await run(modeSense6({ dbd: true, page: 0x0a, alloc: 255 }))).dataIn!.subarray(4);
    control[2] = control[2]! | 0x04;
    const list = Buffer.concat([Buffer.alloc(4), control]);
    await run(modeSelect6(list.length), { dataOut: list });
    expect(lu.encodeSense(failure.sense!)[0]).toBe(0x72);
    expect((await run(rw16(0x88, 0xffff_ffff_ffff_ffffn, 1))).senseBytes).toEqual(
      hex('72 05 21 00 000000 00'),
    );
  });
});
