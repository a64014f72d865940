/**
 * Goal: the command table is consistent with the SCSI CDB grouping rules and validates CDBs the
 * way it reports them.
 * Method: check every entry's CDB length against its opcode's group code (SPC-4 operation code group:
 * group 0 six bytes, 1 and 2 ten, 4 sixteen, 5 twelve), that usage byte 0 is the opcode and
 * that SA commands carry their service action; then feed CDBs with reserved bits, protection
 * fields and NACA set and check the reported field pointers.
 */
import { describe, expect, test } from 'vitest';
import { COMMAND_SPECS, findCommandSpec, findInvalidCdbField } from '../../src/scsi/cdb.js';
import { rw10, rw16 } from '../support/cdb-builder.js';

function expectedLength(opcode: number): number {
  const group = opcode >> 5;
  return group === 0 ? 6 : group === 1 || group === 2 ? 10 : group === 4 ? 16 : 12;
}

describe('command table', () => {
  test.each(COMMAND_SPECS.map((entry) => [entry.name, entry] as const))(
    '%s: length, opcode, service action',
    (_name, entry) => {
      expect(entry.usage.length).toBe(expectedLength(entry.opcode));
      expect(entry.usage[0]).toBe(entry.opcode);
      if (entry.serviceAction !== undefined) expect(entry.usage[1]! & 0x1f).toBe(entry.serviceAction);
      // Control byte: NACA (bit 2) is evaluated; LINK and the vendor bits are not.
      expect(entry.usage[entry.usage.length - 1]).toBe(0x04);
    },
  );

  test('opcode and service action pairs are unique', () => {
    const keys = COMMAND_SPECS.map((entry) => `${entry.opcode}/${entry.serviceAction ?? '-'}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test('READ(10) usage reports DPO and FUA (SBC-3 READ(10) byte 1 bits 4 and 3)', () => {
    expect(findCommandSpec(0x28)!.usage[1]! & 0x18).toBe(0x18);
  });
});

describe('findInvalidCdbField', () => {
  const read10 = findCommandSpec(0x28)!;
  const read16 = findCommandSpec(0x88)!;

  test('a clean CDB passes, and padding past the CDB length is not looked at', () => {
    expect(
      findInvalidCdbField(Buffer.concat([rw10(0x28, 5, 1, 0x18, 3), Buffer.from([0xff, 0xff])]), read10),
    ).toBe(undefined);
  });

  test('RDPROTECT without protection information: byte 1, top bit of the field (bit 7)', () => {
    expect(findInvalidCdbField(rw10(0x28, 0, 1, 0x20), read10)).toEqual({ byte: 1, bit: 5 });
    expect(findInvalidCdbField(rw10(0x28, 0, 1, 0xe0), read10)).toEqual({ byte: 1, bit: 7 });
  });

  test('reserved bits of the group byte (SBC-3: bits 7:5 of byte 14 in READ(16))', () => {
    expect(findInvalidCdbField(rw16(0x88, 0n, 1, 0, 0x40), read16)).toEqual({ byte: 14, bit: 6 });
  });

  test('NACA in the control byte is refused (ACA unsupported, SAM-5)', () => {
    const cdb = rw10(0x28, 0, 1);
    cdb[9] = 0x04;
    expect(findInvalidCdbField(cdb, read10)).toEqual({ byte: 9, bit: 2 });
  });

  test('a CDB shorter than the command is invalid at its end', () => {
    expect(findInvalidCdbField(Buffer.from([0x28, 0, 0]), read10)).toEqual({ byte: 3, bit: 7 });
  });
});
