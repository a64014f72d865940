/**
 * SET TARGET PORT GROUPS (MAINTENANCE OUT, service action 0Ah; SPC-4): explicit ALUA, offered by
 * clustered logical units only (standard INQUIRY TPGS 11b).
 *
 * Rules
 * - CDB bytes 6-9: PARAMETER LIST LENGTH. 0 changes nothing (GOOD). The list is a 4-byte
 *   reserved header, then 4-byte descriptors: byte 0 bits 3:0 the ASYMMETRIC ACCESS STATE asked
 *   for, bytes 2-3 the TARGET PORT GROUP. A list shorter than it says, or one that ends inside a
 *   descriptor, is PARAMETER LIST LENGTH ERROR.
 * - Which states may be asked for, and what they do to single-owner ownership: cluster-alua.ts.
 *   A refused descriptor is INVALID FIELD IN PARAMETER LIST pointing at it, and nothing changes.
 * - The new states are written to the cluster document, so every node reports and enforces them;
 *   if any group's state changed, every I_T nexus of every node except the sender's gets
 *   ASYMMETRIC ACCESS STATE CHANGED (2A/06), in the same cell update.
 */
import { readUint32 } from '../cdb.js';
import { type CommandContext, checkCondition, good } from '../command-context.js';
import type { ScsiResult } from '../scsi-types.js';
import { INVALID_OPCODE, invalidFieldInParameterList, PARAMETER_LIST_LENGTH_ERROR } from '../sense.js';
import type { StpgRequest } from './cluster-alua.js';

const HEADER_BYTES = 4;
const DESCRIPTOR_BYTES = 4;

export async function setTargetPortGroups(context: CommandContext): Promise<ScsiResult> {
  const { cdb, lu, nexus, command } = context;
  const cluster = lu.cluster;
  if (cluster === undefined) return checkCondition(INVALID_OPCODE); // never offered then (cdb.ts)
  const listLength = readUint32(cdb, 6);
  if (listLength === 0) return good();
  if (command.dataOut.length < listLength) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  if (listLength < HEADER_BYTES || (listLength - HEADER_BYTES) % DESCRIPTOR_BYTES !== 0) {
    return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  }
  const list = command.dataOut.subarray(0, listLength);
  const requests: StpgRequest[] = [];
  for (let offset = HEADER_BYTES; offset < listLength; offset += DESCRIPTOR_BYTES) {
    requests.push({ state: list[offset]! & 0x0f, targetPortGroup: list.readUInt16BE(offset + 2), offset });
  }
  const outcome = await cluster.setTargetPortGroups(nexus, requests);
  if ('refusedByte' in outcome) {
    lu.logger.info({ nexus: nexus.id, why: outcome.why }, 'SET TARGET PORT GROUPS refused');
    return checkCondition(invalidFieldInParameterList(outcome.refusedByte, outcome.refusedBit));
  }
  lu.eventLog.append(lu.actor, 'lu.alua_set', {
    nexus: nexus.id,
    requests: requests.map(({ state, targetPortGroup }) => ({ state, targetPortGroup })),
    changed: outcome.changed,
  });
  return good();
}
