/**
 * Fixtures for the reservation tests: nexuses, CDBs and parameter lists spelled out byte by byte
 * from SPC-4 (§6.16, §6.17, §7.6.4.6), sharing no code with src/scsi/reservations, so a layout
 * bug in the source cannot hide behind the same bug here.
 */
import type { Nexus } from '../../../src/scsi/scsi-types.js';

export const TARGET = 'iqn.2026-01.test:collie';

/** An iSCSI I_T nexus: initiator `name` with `isid` (12 hex) through target port `port` (its RTPI). */
export function nexus(name: string, isid = '23d000000001', port = 1): Nexus {
  const initiatorPortName = `${name},i,0x${isid}`;
  const targetPortName = `${TARGET},t,0x${port.toString(16).padStart(4, '0')}`;
  return {
    initiatorPortName,
    initiatorName: name,
    targetPortName,
    relativeTargetPortId: port,
    targetPortGroup: port,
    id: `${initiatorPortName}|${targetPortName}`,
  };
}

export const INITIATOR_1 = 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test';
export const INITIATOR_2 = 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2';
export const INITIATOR_3 = 'iqn.1994-05.com.example:node3';

function be16(value: number): number[] {
  return [(value >> 8) & 0xff, value & 0xff];
}

function be32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

export function be64(value: bigint): number[] {
  const out: number[] = [];
  for (let shift = 56n; shift >= 0n; shift -= 8n) out.push(Number((value >> shift) & 0xffn));
  return out;
}

export const ProutSa = {
  REGISTER: 0,
  RESERVE: 1,
  RELEASE: 2,
  CLEAR: 3,
  PREEMPT: 4,
  PREEMPT_AND_ABORT: 5,
  REGISTER_AND_IGNORE: 6,
  REGISTER_AND_MOVE: 7,
  REPLACE_LOST_RESERVATION: 8,
} as const;

export const Type = { WE: 1, EA: 3, WE_RO: 5, EA_RO: 6, WE_AR: 7, EA_AR: 8 } as const;
export const ALL_TYPES = [Type.WE, Type.EA, Type.WE_RO, Type.EA_RO, Type.WE_AR, Type.EA_AR] as const;

/** PERSISTENT RESERVE OUT CDB (10 bytes). */
export function proutCdb(serviceAction: number, type = 0, listLength = 24, scope = 0): Buffer {
  return Buffer.from([0x5f, serviceAction, (scope << 4) | type, 0, 0, ...be32(listLength), 0]);
}

/** PERSISTENT RESERVE IN CDB (10 bytes). */
export function prinCdb(serviceAction: number, allocationLength = 0x4000): Buffer {
  return Buffer.from([0x5e, serviceAction, 0, 0, 0, 0, 0, ...be16(allocationLength), 0]);
}

export interface BasicListFields {
  readonly key?: bigint;
  readonly saKey?: bigint;
  readonly specIPt?: boolean;
  readonly allTgPt?: boolean;
  readonly aptpl?: boolean;
  /** With specIPt: the TransportIDs, already encoded. */
  readonly transportIds?: readonly Buffer[];
}

/** The basic PERSISTENT RESERVE OUT parameter list (24 bytes, plus TransportIDs with SPEC_I_PT). */
export function basicList(fields: BasicListFields = {}): Buffer {
  const flags = (fields.specIPt ? 0x08 : 0) | (fields.allTgPt ? 0x04 : 0) | (fields.aptpl ? 0x01 : 0);
  const bytes = [...be64(fields.key ?? 0n), ...be64(fields.saKey ?? 0n), 0, 0, 0, 0, flags, 0, 0, 0];
  if (fields.specIPt) {
    const ids = Buffer.concat([...(fields.transportIds ?? [])]);
    return Buffer.concat([Buffer.from([...bytes, ...be32(ids.length)]), ids]);
  }
  return Buffer.from(bytes);
}

export interface MoveListFields {
  readonly key: bigint;
  readonly saKey: bigint;
  readonly unreg?: boolean;
  readonly aptpl?: boolean;
  readonly port: number;
  readonly transportId: Buffer;
}

/** The REGISTER AND MOVE parameter list. */
export function moveList(fields: MoveListFields): Buffer {
  const flags = (fields.unreg ? 0x02 : 0) | (fields.aptpl ? 0x01 : 0);
  return Buffer.concat([
    Buffer.from([
      ...be64(fields.key),
      ...be64(fields.saKey),
      0,
      flags,
      ...be16(fields.port),
      ...be32(fields.transportId.length),
    ]),
    fields.transportId,
  ]);
}

/** An iSCSI TransportID: format 01b with an ISID, 00b without; text null-padded to 4n, min 20. */
export function iscsiTransportId(name: string, isid?: string): Buffer {
  const text = isid === undefined ? name : `${name},i,0x${isid}`;
  const chars = [...text].map((c) => c.charCodeAt(0));
  let additional = chars.length + 1;
  while (additional % 4 !== 0) additional++;
  if (additional < 20) additional = 20;
  const out = [isid === undefined ? 0x05 : 0x45, 0, ...be16(additional), ...chars];
  while (out.length < 4 + additional) out.push(0);
  return Buffer.from(out);
}

export const RESERVE_6 = Buffer.from([0x16, 0, 0, 0, 0, 0]);
export const RELEASE_6 = Buffer.from([0x17, 0, 0, 0, 0, 0]);
export const RESERVE_10 = Buffer.from([0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
export const RELEASE_10 = Buffer.from([0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
export const TEST_UNIT_READY = Buffer.from([0x00, 0, 0, 0, 0, 0]);
export const INQUIRY = Buffer.from([0x12, 0, 0, 0, 0x60, 0]);
export const REPORT_LUNS = Buffer.from([0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]);
export const REQUEST_SENSE = Buffer.from([0x03, 0, 0, 0, 0x12, 0]);
export const MODE_SENSE_6 = Buffer.from([0x1a, 0, 0x3f, 0, 0xff, 0]);
export const MODE_SELECT_6 = Buffer.from([0x15, 0x10, 0, 0, 0x18, 0]);
export const READ_10 = Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
export const WRITE_10 = Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
export const READ_16 = Buffer.from([0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
export const WRITE_16 = Buffer.from([0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
export const READ_CAPACITY_10 = Buffer.from([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
export const READ_CAPACITY_16 = Buffer.from([0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0]);
export const GET_LBA_STATUS = Buffer.from([0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0]);
export const SYNCHRONIZE_CACHE_10 = Buffer.from([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
export const LOG_SENSE = Buffer.from([0x4d, 0, 0, 0, 0, 0, 0, 0, 0xff, 0]);
export const UNMAP = Buffer.from([0x42, 0, 0, 0, 0, 0, 0, 0, 0x18, 0]);
export const REPORT_TARGET_PORT_GROUPS = Buffer.from([0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
export const REPORT_SUPPORTED_OPCODES = Buffer.from([0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
