/**
 * The small SPC/SBC commands: TEST UNIT READY, REQUEST SENSE, REPORT LUNS, REPORT SUPPORTED
 * OPERATION CODES, REPORT TARGET PORT GROUPS, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL and
 * SEND DIAGNOSTIC.
 *
 * - REQUEST SENSE (SPC-4): returns (and clears) the nexus's oldest pending UNIT ATTENTION,
 *   else the sanitize state (SANITIZE IN PROGRESS with its progress, or SANITIZE COMMAND FAILED),
 *   else the medium state, else NO SENSE; DESC picks descriptor format. Status is GOOD.
 * - REPORT LUNS (SPC-4): LUNs come from the target; peripheral device addressing
 *   below 256, flat space addressing (01b) below 16384. Clears REPORTED LUNS DATA HAS CHANGED.
 * - REPORT SUPPORTED OPERATION CODES (SPC-4): all commands (8-byte command
 *   descriptors) or one (one_command format), with a command timeouts descriptor when RCTD is set.
 *   SET TARGET PORT GROUPS is listed by clustered LUs only.
 * - REPORT TARGET PORT GROUPS (SPC-4): the LU's groups; a clustered LU's come from the cluster
 *   document, so every node answers the same bytes.
 * - START STOP UNIT (SBC-3): power conditions are accepted and ignored (a virtual disk has
 *   none); LOEJ on a non-removable LU is an INVALID FIELD IN CDB; on a removable LU it loads or
 *   ejects unless some nexus prevents removal (ILLEGAL REQUEST, MEDIUM REMOVAL PREVENTED).
 * - PREVENT ALLOW MEDIUM REMOVAL (SBC-3): prevention is held per nexus; any holder blocks
 *   loading and ejecting for all.
 * - SEND DIAGNOSTIC (SPC-4): the self-tests trivially pass; no diagnostic pages.
 */
import { encodeTargetPortGroups, parseReportTargetPortGroups } from './alua.js';
import {
  COMMAND_SPECS,
  type CommandSpec,
  findCommandSpec,
  hasServiceAction,
  isOffered,
  readUint16,
  readUint32,
} from './cdb.js';
import { type CommandContext, checkCondition, good, truncate, withBackend } from './command-context.js';
import type { ScsiResult } from './scsi-types.js';
import { SenseKey } from './scsi-types.js';
import {
  Asc,
  encodeSense,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  MEDIUM_NOT_PRESENT,
  NO_SENSE,
  PARAMETER_LIST_LENGTH_ERROR,
  senseOf,
} from './sense.js';

export function testUnitReady(): ScsiResult {
  return good();
}

export function requestSense(context: CommandContext): ScsiResult {
  const { cdb, lu, nexus } = context;
  const descriptor = (cdb[1]! & 0x01) !== 0;
  const allocationLength = cdb[4]!;
  const pending = lu.unitAttentions.take(nexus);
  const sense =
    pending ?? lu.sanitize.condition() ?? (lu.removable && !lu.mediumLoaded ? MEDIUM_NOT_PRESENT : NO_SENSE);
  return good(truncate(encodeSense(sense, descriptor ? 'descriptor' : 'fixed'), allocationLength));
}

/** The 8-byte LUN field for a single-level LUN (SAM-5). */
export function encodeLun(lun: number): Buffer | undefined {
  const field = Buffer.alloc(8);
  if (lun < 256) {
    field[1] = lun; // peripheral device addressing, bus 0
  } else if (lun < 16384) {
    field[0] = 0x40 | (lun >> 8); // flat space addressing
    field[1] = lun & 0xff;
  } else {
    return undefined;
  }
  return field;
}

export function reportLuns(context: CommandContext): ScsiResult {
  const { cdb, lu, nexus } = context;
  const selectReport = cdb[2]!;
  const allocationLength = readUint32(cdb, 6);
  if (selectReport > 0x02) return checkCondition(invalidFieldInCdb(2, 7));
  // 01h asks for well-known LUNs only; this target has none.
  const luns = selectReport === 0x01 ? [] : lu.reportLuns(nexus);
  const fields = luns.map(encodeLun).filter((field): field is Buffer => field !== undefined);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(fields.length * 8, 0);
  lu.unitAttentions.discard(
    nexus,
    Asc.REPORTED_LUNS_DATA_HAS_CHANGED.asc,
    Asc.REPORTED_LUNS_DATA_HAS_CHANGED.ascq,
  );
  return good(truncate(Buffer.concat([header, ...fields]), allocationLength));
}

// Command timeouts descriptor (SPC-4): no nominal time given, 30 s recommended.
const RECOMMENDED_TIMEOUT_SEC = 30;

function timeoutsDescriptor(): Buffer {
  const descriptor = Buffer.alloc(12);
  descriptor.writeUInt16BE(0x000a, 0);
  descriptor.writeUInt32BE(0, 4);
  descriptor.writeUInt32BE(RECOMMENDED_TIMEOUT_SEC, 8);
  return descriptor;
}

function allCommandsDescriptor(entry: CommandSpec, withTimeouts: boolean): Buffer {
  const descriptor = Buffer.alloc(8);
  descriptor[0] = entry.opcode;
  descriptor.writeUInt16BE(entry.serviceAction ?? 0, 2);
  // CTDP, SERVACTV.
  descriptor[5] = (withTimeouts ? 0x02 : 0) | (entry.serviceAction !== undefined ? 0x01 : 0);
  descriptor.writeUInt16BE(entry.usage.length, 6);
  return withTimeouts ? Buffer.concat([descriptor, timeoutsDescriptor()]) : descriptor;
}

function oneCommandData(entry: CommandSpec | undefined, withTimeouts: boolean): Buffer {
  const header = Buffer.alloc(4);
  if (entry === undefined) {
    header[1] = 0x01; // SUPPORT 001b: not supported
    return header;
  }
  header[1] = (withTimeouts ? 0x80 : 0) | 0x03; // CTDP, SUPPORT 011b: supported, conforming
  header.writeUInt16BE(entry.usage.length, 2);
  const parts: Buffer[] = [header, Buffer.from(entry.usage)];
  if (withTimeouts) parts.push(timeoutsDescriptor());
  return Buffer.concat(parts);
}

export function reportSupportedOperationCodes(context: CommandContext): ScsiResult {
  const { cdb, lu } = context;
  const withTimeouts = (cdb[2]! & 0x80) !== 0;
  const reportingOptions = cdb[2]! & 0x07;
  const opcode = cdb[3]!;
  const serviceAction = readUint16(cdb, 4);
  const allocationLength = readUint32(cdb, 6);
  const explicitAlua = lu.cluster !== undefined;
  const offered = (entry: CommandSpec | undefined) =>
    entry !== undefined && isOffered(entry, lu.backend.thin, explicitAlua) ? entry : undefined;
  let data: Buffer;
  switch (reportingOptions) {
    case 0: {
      const descriptors = COMMAND_SPECS.filter((entry) =>
        isOffered(entry, lu.backend.thin, explicitAlua),
      ).map((entry) => allCommandsDescriptor(entry, withTimeouts));
      const body = Buffer.concat(descriptors);
      const header = Buffer.alloc(4);
      header.writeUInt32BE(body.length, 0);
      data = Buffer.concat([header, body]);
      break;
    }
    case 1: // one command, no service action
      if (hasServiceAction(opcode)) return checkCondition(invalidFieldInCdb(2, 2));
      data = oneCommandData(offered(findCommandSpec(opcode)), withTimeouts);
      break;
    case 2: // one command with a service action
      if (!hasServiceAction(opcode)) return checkCondition(invalidFieldInCdb(2, 2));
      data = oneCommandData(
        serviceAction > 0x1f ? undefined : offered(findCommandSpec(opcode, serviceAction)),
        withTimeouts,
      );
      break;
    case 3: // one command, with or without a service action (SPC-4 r37)
      data = oneCommandData(
        hasServiceAction(opcode)
          ? serviceAction > 0x1f
            ? undefined
            : offered(findCommandSpec(opcode, serviceAction))
          : serviceAction === 0
            ? offered(findCommandSpec(opcode))
            : undefined,
        withTimeouts,
      );
      break;
    default:
      return checkCondition(invalidFieldInCdb(2, 2));
  }
  return good(truncate(data, allocationLength));
}

export function reportTargetPortGroups(context: CommandContext): ScsiResult {
  const { cdb, lu, nexus } = context;
  const request = parseReportTargetPortGroups(cdb);
  if ('key' in request) return checkCondition(request);
  const data = encodeTargetPortGroups(lu.targetPortGroups(nexus), {
    extended: request.extended,
    implicitTransitionTimeSec: lu.implicitTransitionTimeSec,
  });
  return good(truncate(data, request.allocationLength));
}

export async function startStopUnit(context: CommandContext): Promise<ScsiResult> {
  const { cdb, lu, nexus } = context;
  const powerCondition = cdb[4]! >> 4;
  const noFlush = (cdb[4]! & 0x04) !== 0;
  const loadEject = (cdb[4]! & 0x02) !== 0;
  const start = (cdb[4]! & 0x01) !== 0;
  // SBC-3: with a POWER CONDITION other than START_VALID (0h), START and LOEJ are ignored.
  if (powerCondition !== 0 || !loadEject) return good();
  if (!lu.removable) return checkCondition(invalidFieldInCdb(4, 1));
  if (lu.preventingNexuses.size > 0) {
    return checkCondition(senseOf(SenseKey.ILLEGAL_REQUEST, Asc.MEDIUM_REMOVAL_PREVENTED));
  }
  if (start === lu.mediumLoaded) return good();
  if (!start && !noFlush) {
    const flushed = await withBackend(context, 'flush', async () => {
      await lu.backend.flush();
      return good();
    });
    if (flushed.status !== 0) return flushed;
  }
  lu.mediumLoaded = start;
  lu.eventLog.append(lu.actor, start ? 'lu.medium_loaded' : 'lu.medium_ejected', { nexus: nexus.id });
  return good();
}

export function preventAllowMediumRemoval(context: CommandContext): ScsiResult {
  const { cdb, lu, nexus } = context;
  const prevent = cdb[4]! & 0x03;
  // 10b and 11b are for medium changers (SBC-3 PREVENT field values).
  if (prevent > 1) return checkCondition(invalidFieldInCdb(4, 1));
  const before = lu.preventingNexuses.has(nexus.id);
  if (prevent === 1) lu.preventingNexuses.add(nexus.id);
  else lu.preventingNexuses.delete(nexus.id);
  if (before !== (prevent === 1)) {
    lu.eventLog.append(lu.actor, 'lu.prevent_changed', { nexus: nexus.id, prevent: prevent === 1 });
  }
  return good();
}

export function sendDiagnostic(context: CommandContext): ScsiResult {
  const { cdb, command } = context;
  const selfTestCode = cdb[1]! >> 5;
  const selfTest = (cdb[1]! & 0x04) !== 0;
  const listLength = readUint16(cdb, 3);
  // SPC-4 SELF-TEST CODE field: codes 3 and 7 are reserved; with SELFTEST set the code must be 0.
  if (selfTestCode === 3 || selfTestCode === 7 || (selfTest && selfTestCode !== 0)) {
    return checkCondition(invalidFieldInCdb(1, 7));
  }
  if (listLength > 0) {
    if (command.dataOut.length < listLength) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
    return checkCondition(invalidFieldInParameterList(0, 7)); // no diagnostic pages supported
  }
  return good();
}
