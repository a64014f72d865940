/**
 * The SCSI commands a multipath host sends beyond reads and writes, and readers for their
 * answers: persistent reservations (SPC-4 §6.16, §6.17), ALUA (REPORT / SET TARGET PORT GROUPS,
 * SPC-4 §6.36, §6.41), COMPARE AND WRITE (SBC-3 §5.2), the Device Identification VPD page (0x83,
 * SPC-4 §7.8.6) and the sense codes an initiator acts on (SPC-4 annex D).
 *
 * Written from the standards, sharing no code with Collie's target, so the simulator checks the
 * target rather than agreeing with it.
 */
import { AluaState } from '../../src/scsi/alua.js';
import { PrInServiceAction } from '../../src/scsi/reservations/persistent-reserve-in.js';
import { PrOutServiceAction } from '../../src/scsi/reservations/persistent-reserve-out.js';
import { PrType } from '../../src/scsi/reservations/reservation-state.js';

/** Operation codes of this file. */
export const ClusterOpcode = {
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  COMPARE_AND_WRITE: 0x89,
  MAINTENANCE_IN: 0xa3,
  MAINTENANCE_OUT: 0xa4,
} as const;

/** MAINTENANCE IN / OUT service action of REPORT / SET TARGET PORT GROUPS. */
const TARGET_PORT_GROUPS_SERVICE_ACTION = 0x0a;

/** SPC-4 sense keys the initiator looks at. */
export const SenseKeyCode = {
  NO_SENSE: 0x0,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  ABORTED_COMMAND: 0xb,
  MISCOMPARE: 0xe,
} as const;

/** ASC/ASCQ pairs the initiator acts on (asc << 8 | ascq). */
export const AscAscq = {
  /** NOT READY: asymmetric access state transition (ALUA transitioning). */
  ALUA_TRANSITIONING: 0x040a,
  /** NOT READY: target port in standby state. */
  ALUA_STANDBY: 0x040b,
  /** NOT READY: target port in unavailable state. */
  ALUA_UNAVAILABLE: 0x040c,
  /** ILLEGAL REQUEST: logical unit not supported (the PDL code of ESX). */
  LUN_NOT_SUPPORTED: 0x2500,
  POWER_ON_RESET: 0x2900,
  POWER_ON_OCCURRED: 0x2901,
  SCSI_BUS_RESET: 0x2902,
  BUS_DEVICE_RESET: 0x2903,
  DEVICE_INTERNAL_RESET: 0x2904,
  MODE_PARAMETERS_CHANGED: 0x2a01,
  RESERVATIONS_PREEMPTED: 0x2a03,
  RESERVATIONS_RELEASED: 0x2a04,
  REGISTRATIONS_PREEMPTED: 0x2a05,
  ASYMMETRIC_ACCESS_STATE_CHANGED: 0x2a06,
  IMPLICIT_TRANSITION_FAILED: 0x2a07,
  INQUIRY_DATA_CHANGED: 0x3f03,
  REPORTED_LUNS_CHANGED: 0x3f0e,
  MISCOMPARE_DURING_VERIFY: 0x1d00,
} as const;

export function ascAscq(asc: number, ascq: number): number {
  return ((asc & 0xff) << 8) | (ascq & 0xff);
}

// ---- persistent reservations ----------------------------------------------------------------------

/** PERSISTENT RESERVE OUT / IN service actions: the target's tables, one copy of the spec. */
export const PrOutAction = PrOutServiceAction;
export type PrOutActionCode = (typeof PrOutAction)[keyof typeof PrOutAction];

export const PrInAction = PrInServiceAction;

/** Persistent reservation TYPE values (SPC-4 table 169): the target's table, one copy of the spec. */
export { PrType };
export type PrTypeValue = (typeof PrType)[keyof typeof PrType];

export interface PrOutRequest {
  readonly action: PrOutActionCode;
  /** RESERVATION KEY: the sender's registered key (0 when it has none). */
  readonly key: bigint;
  /** SERVICE ACTION RESERVATION KEY: the new key (REGISTER) or the victim's (PREEMPT). */
  readonly serviceActionKey?: bigint;
  /** TYPE, for RESERVE, RELEASE, PREEMPT and PREEMPT AND ABORT. */
  readonly type?: PrTypeValue;
  readonly aptpl?: boolean;
  readonly allTargetPorts?: boolean;
}

const PR_OUT_LIST_BYTES = 24;
const ALL_TG_PT = 0x04;
const APTPL = 0x01;
const LU_SCOPE = 0x0;

/** PERSISTENT RESERVE OUT: the CDB and its basic parameter list (24 bytes, no SPEC_I_PT). */
export function persistentReserveOut(request: PrOutRequest): { cdb: Buffer; parameters: Buffer } {
  const cdb = Buffer.alloc(10);
  cdb[0] = ClusterOpcode.PERSISTENT_RESERVE_OUT;
  cdb[1] = request.action & 0x1f;
  cdb[2] = (LU_SCOPE << 4) | ((request.type ?? 0) & 0x0f);
  cdb.writeUInt32BE(PR_OUT_LIST_BYTES, 5);
  const parameters = Buffer.alloc(PR_OUT_LIST_BYTES);
  parameters.writeBigUInt64BE(BigInt.asUintN(64, request.key), 0);
  parameters.writeBigUInt64BE(BigInt.asUintN(64, request.serviceActionKey ?? 0n), 8);
  parameters[20] = (request.allTargetPorts ? ALL_TG_PT : 0) | (request.aptpl ? APTPL : 0);
  return { cdb, parameters };
}

export function persistentReserveInCdb(action: number, allocationLengthBytes = 1024): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = ClusterOpcode.PERSISTENT_RESERVE_IN;
  cdb[1] = action & 0x1f;
  cdb.writeUInt16BE(Math.min(0xffff, allocationLengthBytes), 7);
  return cdb;
}

export interface PrKeys {
  readonly generation: number;
  /** Every registered key, one per registered I_T nexus, in the order the target lists them. */
  readonly keys: readonly bigint[];
}

/** READ KEYS parameter data; undefined when shorter than its header. */
export function parseReadKeys(data: Buffer): PrKeys | undefined {
  if (data.length < 8) return undefined;
  const listBytes = Math.min(data.readUInt32BE(4), data.length - 8);
  const keys: bigint[] = [];
  for (let at = 8; at + 8 <= 8 + listBytes; at += 8) keys.push(data.readBigUInt64BE(at));
  return { generation: data.readUInt32BE(0), keys };
}

export interface PrReservation {
  readonly generation: number;
  /** The holder's key and the type; undefined when nothing is reserved. */
  readonly reservation: { readonly key: bigint; readonly type: number; readonly scope: number } | undefined;
}

/** READ RESERVATION parameter data; undefined when shorter than its header. */
export function parseReadReservation(data: Buffer): PrReservation | undefined {
  if (data.length < 8) return undefined;
  const generation = data.readUInt32BE(0);
  const length = data.readUInt32BE(4);
  if (length < 16 || data.length < 24) return { generation, reservation: undefined };
  return {
    generation,
    reservation: { key: data.readBigUInt64BE(8), scope: data[21]! >> 4, type: data[21]! & 0x0f },
  };
}

// ---- ALUA -----------------------------------------------------------------------------------------

/** Asymmetric access states (RTPG descriptor byte 0, low nibble): the target's table. */
export const AccessState = AluaState;

export function accessStateName(state: number): string {
  switch (state) {
    case AccessState.ACTIVE_OPTIMIZED:
      return 'AO';
    case AccessState.ACTIVE_NON_OPTIMIZED:
      return 'ANO';
    case AccessState.STANDBY:
      return 'standby';
    case AccessState.UNAVAILABLE:
      return 'unavailable';
    case AccessState.LBA_DEPENDENT:
      return 'lba-dependent';
    case AccessState.OFFLINE:
      return 'offline';
    case AccessState.TRANSITIONING:
      return 'transitioning';
    default:
      return `state-${state}`;
  }
}

export function reportTargetPortGroupsCdb(
  options: { extended?: boolean; allocationLengthBytes?: number } = {},
): Buffer {
  const cdb = Buffer.alloc(12);
  cdb[0] = ClusterOpcode.MAINTENANCE_IN;
  cdb[1] = ((options.extended ? 1 : 0) << 5) | TARGET_PORT_GROUPS_SERVICE_ACTION;
  cdb.writeUInt32BE(options.allocationLengthBytes ?? 1024, 6);
  return cdb;
}

export interface TargetPortGroupDescriptor {
  readonly id: number;
  readonly state: number;
  readonly preferred: boolean;
  /** Supported-state bits (T_SUP 0x80 ... AO_SUP 0x01). */
  readonly supported: number;
  /** STATUS CODE: 0 none, 1 set by SET TARGET PORT GROUPS, 2 by an implicit transition. */
  readonly statusCode: number;
  readonly relativeTargetPortIds: readonly number[];
}

export interface TargetPortGroups {
  /** RETURN DATA LENGTH + 4: bytes the whole answer needs (to re-ask with a big enough buffer). */
  readonly totalBytes: number;
  readonly extended: boolean;
  /** IMPLICIT TRANSITION TIME (seconds), from the extended header. */
  readonly implicitTransitionTimeSec: number | undefined;
  readonly groups: readonly TargetPortGroupDescriptor[];
}

/** REPORT TARGET PORT GROUPS parameter data (either header format); undefined when malformed. */
export function parseTargetPortGroups(data: Buffer): TargetPortGroups | undefined {
  if (data.length < 4) return undefined;
  const totalBytes = data.readUInt32BE(0) + 4;
  const extended = data.length >= 8 && (data[4]! & 0x70) === 0x10;
  const end = Math.min(totalBytes, data.length);
  const groups: TargetPortGroupDescriptor[] = [];
  let at = extended ? 8 : 4;
  while (at + 8 <= end) {
    const count = data[at + 7]!;
    if (at + 8 + 4 * count > end) break;
    const ports: number[] = [];
    for (let index = 0; index < count; index++) ports.push(data.readUInt16BE(at + 8 + 4 * index + 2));
    groups.push({
      id: data.readUInt16BE(at + 2),
      state: data[at]! & 0x0f,
      preferred: (data[at]! & 0x80) !== 0,
      supported: data[at + 1]!,
      statusCode: data[at + 5]!,
      relativeTargetPortIds: ports,
    });
    at += 8 + 4 * count;
  }
  return {
    totalBytes,
    extended,
    implicitTransitionTimeSec: extended ? data[5]! : undefined,
    groups,
  };
}

/** SET TARGET PORT GROUPS: the CDB and its parameter list (4 reserved bytes, 4 per group). */
export function setTargetPortGroups(requests: readonly { readonly id: number; readonly state: number }[]): {
  cdb: Buffer;
  parameters: Buffer;
} {
  const parameters = Buffer.alloc(4 + 4 * requests.length);
  requests.forEach((request, index) => {
    parameters[4 + 4 * index] = request.state & 0x0f;
    parameters.writeUInt16BE(request.id & 0xffff, 4 + 4 * index + 2);
  });
  const cdb = Buffer.alloc(12);
  cdb[0] = ClusterOpcode.MAINTENANCE_OUT;
  cdb[1] = TARGET_PORT_GROUPS_SERVICE_ACTION;
  cdb.writeUInt32BE(parameters.length, 6);
  return { cdb, parameters };
}

// ---- COMPARE AND WRITE ----------------------------------------------------------------------------

/** COMPARE AND WRITE (16-byte CDB); the data-out is the verify blocks, then the write blocks. */
export function compareAndWriteCdb(lba: number, blocks: number): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = ClusterOpcode.COMPARE_AND_WRITE;
  cdb.writeBigUInt64BE(BigInt(lba), 2);
  cdb[13] = blocks & 0xff;
  return cdb;
}

// ---- Device Identification VPD page ---------------------------------------------------------------

export const DEVICE_IDENTIFICATION_PAGE = 0x83;

export interface DeviceIdentification {
  /** The LU's designators (association 0), as "type:hex", in page order: what multipath calls its WWID. */
  readonly luDesignators: readonly string[];
  /** RELATIVE TARGET PORT IDENTIFIER (designator type 4), if present. */
  readonly relativeTargetPortId: number | undefined;
  /** TARGET PORT GROUP (designator type 5), if present. */
  readonly targetPortGroup: number | undefined;
}

/** Device Identification VPD page; undefined when it is not one. */
export function parseDeviceIdentification(page: Buffer): DeviceIdentification | undefined {
  if (page.length < 4 || page[1] !== DEVICE_IDENTIFICATION_PAGE) return undefined;
  const end = Math.min(page.length, 4 + page.readUInt16BE(2));
  const luDesignators: string[] = [];
  let relativeTargetPortId: number | undefined;
  let targetPortGroup: number | undefined;
  for (let at = 4; at + 4 <= end; ) {
    const association = (page[at + 1]! >> 4) & 0x03;
    const type = page[at + 1]! & 0x0f;
    const length = page[at + 3]!;
    const value = page.subarray(at + 4, Math.min(end, at + 4 + length));
    if (association === 0) luDesignators.push(`${type}:${value.toString('hex')}`);
    else if (association === 1 && type === 4 && value.length >= 4)
      relativeTargetPortId = value.readUInt16BE(2);
    else if (association === 1 && type === 5 && value.length >= 4) targetPortGroup = value.readUInt16BE(2);
    at += 4 + length;
  }
  return { luDesignators, relativeTargetPortId, targetPortGroup };
}

// ---- sense details ---------------------------------------------------------------------------------

/** The INFORMATION field of fixed or descriptor sense (e.g. the MISCOMPARE offset), if valid. */
export function senseInformation(sense: Buffer | undefined): bigint | undefined {
  if (sense === undefined || sense.length === 0) return undefined;
  const responseCode = sense[0]! & 0x7f;
  if ((responseCode === 0x70 || responseCode === 0x71) && sense.length >= 7) {
    return (sense[0]! & 0x80) !== 0 ? BigInt(sense.readUInt32BE(3)) : undefined;
  }
  if ((responseCode === 0x72 || responseCode === 0x73) && sense.length >= 8) {
    const end = Math.min(sense.length, 8 + sense[7]!);
    for (let at = 8; at + 2 <= end; ) {
      const type = sense[at]!;
      const length = sense[at + 1]!;
      if (type === 0x00 && length >= 0x0a && at + 12 <= end) {
        return (sense[at + 2]! & 0x80) !== 0 ? sense.readBigUInt64BE(at + 4) : undefined;
      }
      at += 2 + length;
    }
  }
  return undefined;
}
