/**
 * Asymmetric logical unit access (SPC-4). On a single node implicit only (TPGS = 01b): the target
 * tells the LU which target port groups exist and their states. A clustered LU takes groups and
 * states from the cluster document and also accepts SET TARGET PORT GROUPS (TPGS = 11b,
 * cluster/cluster-alua.ts). Either way the LU reports them (REPORT TARGET PORT GROUPS) and
 * refuses commands a port's state does not allow.
 *
 * - Access states (RTPG descriptor byte 0): 0 active/optimized, 1 active/non-optimized,
 *   2 standby, 3 unavailable, 4 LBA dependent, 0Eh offline, 0Fh transitioning.
 * - Commands allowed per state follow SPC-4's ALUA access state rules (as LIO and SCST apply them,
 *   docs: multipath.md §1.3); everything else gets NOT READY with the state's ASC/ASCQ.
 * - REPORT TARGET PORT GROUPS parameter data: SPC-4 (length header, optional
 *   extended header with IMPLICIT TRANSITION TIME, one descriptor per group with its ports).
 */
import { MaintenanceIn, MaintenanceOut, Op, readUint32, ServiceActionIn16 } from './cdb.js';
import type { Nexus, Sense } from './scsi-types.js';
import { SenseKey } from './scsi-types.js';
import { type AdditionalSenseCode, Asc, invalidFieldInCdb, senseOf } from './sense.js';

export const AluaState = {
  ACTIVE_OPTIMIZED: 0x0,
  ACTIVE_NON_OPTIMIZED: 0x1,
  STANDBY: 0x2,
  UNAVAILABLE: 0x3,
  LBA_DEPENDENT: 0x4,
  OFFLINE: 0xe,
  TRANSITIONING: 0xf,
} as const;
export type AluaStateCode = (typeof AluaState)[keyof typeof AluaState];

export interface TargetPortGroup {
  readonly id: number;
  readonly state: AluaStateCode;
  readonly preferred?: boolean;
  /** STATUS CODE: 0 none, 1 changed by SET TARGET PORT GROUPS, 2 changed by implicit behaviour. */
  readonly statusCode?: number;
  readonly relativeTargetPortIds: readonly number[];
}

/** The groups of the whole (multi-node) target, as seen by this nexus. */
export type TargetPortGroupProvider = (nexus: Nexus) => readonly TargetPortGroup[];

/** One group holding only the nexus's own port, active/optimized: the single-node default. */
export const singleGroupProvider: TargetPortGroupProvider = (nexus) => [
  {
    id: nexus.targetPortGroup,
    state: AluaState.ACTIVE_OPTIMIZED,
    relativeTargetPortIds: [nexus.relativeTargetPortId],
  },
];

// T_SUP, U_SUP, S_SUP, AN_SUP, AO_SUP: the states an implicit-ALUA cluster of Collie nodes may use.
const SUPPORTED_STATES = 0x80 | 0x08 | 0x04 | 0x02 | 0x01;

/** REPORT TARGET PORT GROUPS parameter data; `extended` selects PARAMETER DATA FORMAT 001b. */
export function encodeTargetPortGroups(
  groups: readonly TargetPortGroup[],
  options: { extended: boolean; implicitTransitionTimeSec: number },
): Buffer {
  const headerBytes = options.extended ? 8 : 4;
  const parts: Buffer[] = [];
  for (const group of groups) {
    const descriptor = Buffer.alloc(8 + 4 * group.relativeTargetPortIds.length);
    descriptor[0] = (group.preferred ? 0x80 : 0) | (group.state & 0x0f);
    descriptor[1] = SUPPORTED_STATES;
    descriptor.writeUInt16BE(group.id & 0xffff, 2);
    descriptor[5] = group.statusCode ?? 0;
    descriptor[7] = group.relativeTargetPortIds.length & 0xff;
    group.relativeTargetPortIds.forEach((portId, index) => {
      descriptor.writeUInt16BE(portId & 0xffff, 8 + 4 * index + 2);
    });
    parts.push(descriptor);
  }
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(headerBytes);
  header.writeUInt32BE(headerBytes - 4 + body.length, 0);
  if (options.extended) {
    header[4] = 0x10; // FORMAT TYPE 001b
    header[5] = Math.min(255, Math.max(0, Math.round(options.implicitTransitionTimeSec)));
  }
  return Buffer.concat([header, body]);
}

/** Parses the RTPG CDB: the data format, or the sense for a format we do not have. */
export function parseReportTargetPortGroups(
  cdb: Buffer,
): { extended: boolean; allocationLength: number } | Sense {
  const format = (cdb[1]! >> 5) & 0x07;
  if (format > 1) return invalidFieldInCdb(1, 7);
  return { extended: format === 1, allocationLength: readUint32(cdb, 6) };
}

function isAny(cdb: Buffer, opcodes: readonly number[]): boolean {
  return opcodes.includes(cdb[0]!);
}

function isMaintenanceIn(cdb: Buffer, serviceAction: number): boolean {
  return cdb[0] === Op.MAINTENANCE_IN && (cdb[1]! & 0x1f) === serviceAction;
}

// SET TARGET PORT GROUPS is how a host moves a standby or unavailable group back (SPC-4).
function isSetTargetPortGroups(cdb: Buffer): boolean {
  return cdb[0] === Op.MAINTENANCE_OUT && (cdb[1]! & 0x1f) === MaintenanceOut.SET_TARGET_PORT_GROUPS;
}

// Allowed in every state: INQUIRY, REPORT LUNS, REQUEST SENSE, RTPG, REPORT SUPPORTED OPCODES.
function alwaysAllowed(cdb: Buffer): boolean {
  return (
    isAny(cdb, [Op.INQUIRY, Op.REPORT_LUNS, Op.REQUEST_SENSE]) ||
    isMaintenanceIn(cdb, MaintenanceIn.REPORT_TARGET_PORT_GROUPS) ||
    isMaintenanceIn(cdb, MaintenanceIn.REPORT_SUPPORTED_OPERATION_CODES)
  );
}

// Standby also allows mode pages, capacity, diagnostics and persistent reservations (SPC-4 standby state).
function allowedInStandby(cdb: Buffer): boolean {
  return (
    isAny(cdb, [
      Op.MODE_SENSE_6,
      Op.MODE_SENSE_10,
      Op.MODE_SELECT_6,
      Op.MODE_SELECT_10,
      Op.READ_CAPACITY_10,
      Op.SEND_DIAGNOSTIC,
      Op.PERSISTENT_RESERVE_IN,
      Op.PERSISTENT_RESERVE_OUT,
    ]) ||
    (cdb[0] === Op.SERVICE_ACTION_IN_16 && (cdb[1]! & 0x1f) === ServiceActionIn16.READ_CAPACITY_16) ||
    isSetTargetPortGroups(cdb)
  );
}

/** The NOT READY condition for running `cdb` through a port in `state`, or undefined if allowed. */
export function aluaRefusal(state: AluaStateCode, cdb: Buffer): Sense | undefined {
  let code: AdditionalSenseCode;
  switch (state) {
    case AluaState.ACTIVE_OPTIMIZED:
    case AluaState.ACTIVE_NON_OPTIMIZED:
    case AluaState.LBA_DEPENDENT:
      return undefined;
    case AluaState.STANDBY:
      if (alwaysAllowed(cdb) || allowedInStandby(cdb)) return undefined;
      code = Asc.TARGET_PORT_IN_STANDBY_STATE;
      break;
    case AluaState.UNAVAILABLE:
      if (isSetTargetPortGroups(cdb)) return undefined;
      code = Asc.TARGET_PORT_IN_UNAVAILABLE_STATE;
      break;
    case AluaState.OFFLINE:
      code = Asc.LOGICAL_UNIT_NOT_READY_OFFLINE;
      break;
    case AluaState.TRANSITIONING:
      code = Asc.ASYMMETRIC_ACCESS_STATE_TRANSITION;
      break;
  }
  if (alwaysAllowed(cdb)) return undefined;
  return senseOf(SenseKey.NOT_READY, code);
}
