/**
 * What a hostile iSCSI initiator sends, drawn from an Rng: SCSI commands whose CDBs follow the
 * LU's own command table (src/scsi/cdb.ts COMMAND_SPECS: every field the device server reads,
 * with small LBAs and lengths so that most commands reach the medium, plus reserved bits, bad
 * control bytes and undefined opcodes), with data that lies about its length; Data-Out that
 * answers R2Ts right or wrong; task management of every function; NOP-Outs, text, logout and
 * SNACK requests; undefined opcodes; and any of those with mutated wire bytes.
 */
import type { Rng } from '../../src/core/rng.js';
import { encodePduBytes } from '../../src/iscsi/pdu/encode.js';
import type { DataOutPdu, InitiatorPdu, R2tPdu, ScsiCommandPdu } from '../../src/iscsi/pdu/messages.js';
import { RESERVED_TAG } from '../../src/iscsi/pdu/opcodes.js';
import { encodeTextData } from '../../src/iscsi/pdu/text.js';
import { COMMAND_SPECS, type CommandSpec, Op } from '../../src/scsi/cdb.js';
import { hostileU32, rngBytes } from './fuzz-common.js';
import { ALL_OPCODES, mutateWire, randomPdu, randomTextData } from './pdu-gen.js';
import type { RawIscsiClient } from './raw-iscsi-client.js';

const WRITE_OPCODES: ReadonlySet<number> = new Set([
  Op.WRITE_6,
  Op.WRITE_10,
  Op.WRITE_12,
  Op.WRITE_16,
  Op.WRITE_AND_VERIFY_10,
  Op.WRITE_AND_VERIFY_12,
  Op.WRITE_AND_VERIFY_16,
  Op.WRITE_SAME_10,
  Op.WRITE_SAME_16,
  Op.ORWRITE_16,
  Op.COMPARE_AND_WRITE,
  Op.UNMAP,
  Op.MODE_SELECT_6,
  Op.MODE_SELECT_10,
  Op.PERSISTENT_RESERVE_OUT,
  Op.MAINTENANCE_OUT,
  Op.SEND_DIAGNOSTIC,
  Op.VERIFY_10,
  Op.VERIFY_12,
  Op.VERIFY_16,
]);

/** Commands that change what a later well-behaved initiator sees; drawn less often. */
const STATEFUL_OPCODES: ReadonlySet<number> = new Set([
  Op.PERSISTENT_RESERVE_OUT,
  Op.RESERVE_6,
  Op.RESERVE_10,
  Op.START_STOP_UNIT,
  Op.MODE_SELECT_6,
  Op.MODE_SELECT_10,
  Op.MAINTENANCE_OUT,
]);

/** LUN field values: the two LUs, an absent one, odd addressing methods, random 64 bits. */
export function hostileLun(rng: Rng): bigint {
  switch (rng.int(0, 10)) {
    case 0:
      return 2n << 48n; // no such LUN
    case 1:
      return (0x4000n | BigInt(rng.int(0, 0x4000))) << 48n; // flat space addressing
    case 2:
      return BigInt.asUintN(64, (BigInt(rng.nextUint32()) << 32n) | BigInt(rng.nextUint32()));
    case 3:
    case 4:
      return 1n << 48n;
    default:
      return 0n;
  }
}

/** A CDB for one of the LU's commands: valid fields mostly small, sometimes reserved bits set. */
export function hostileCdb(rng: Rng): { cdb: Buffer; spec: CommandSpec | undefined } {
  if (rng.chance(0.04)) {
    const cdb = rngBytes(rng, 16);
    return { cdb, spec: undefined };
  }
  let spec = rng.pick(COMMAND_SPECS);
  if (STATEFUL_OPCODES.has(spec.opcode) && rng.chance(0.7)) spec = rng.pick(COMMAND_SPECS);
  const usage = spec.usage;
  const cdb = Buffer.alloc(Math.max(16, usage.length));
  const strict = rng.chance(0.9);
  for (let i = 1; i < usage.length; i++) {
    const mask = usage[i]!;
    const value = rng.int(0, 256);
    cdb[i] = strict ? value & mask : value;
  }
  // Keep numbers small: in every run of fully used bytes (LBA, lengths) zero all but the last.
  if (rng.chance(0.8)) {
    for (let i = 1; i < usage.length; i++) {
      const runEnd = usage[i] === 0xff && usage[i + 1] !== 0xff;
      if (usage[i] === 0xff && !runEnd) cdb[i] = 0;
      else if (runEnd && rng.chance(0.5)) cdb[i] = cdb[i]! & 0x1f;
    }
  }
  cdb[0] = spec.opcode;
  if (spec.serviceAction !== undefined) cdb[1] = (cdb[1]! & 0xe0) | spec.serviceAction;
  // NACA and the obsolete bits of the control byte, rarely.
  cdb[usage.length - 1] = rng.chance(0.95) ? 0 : rng.int(0, 256);
  return { cdb, spec };
}

/** Parameter data a command's data-out might carry: random, or shaped like its parameter list. */
function parameterData(rng: Rng, opcode: number, lengthBytes: number): Buffer {
  const data = rng.chance(0.5) ? Buffer.alloc(lengthBytes) : rngBytes(rng, lengthBytes);
  if (opcode === Op.UNMAP && lengthBytes >= 8) {
    const descriptors = Math.floor((lengthBytes - 8) / 16);
    data.writeUInt16BE(Math.min(0xffff, rng.chance(0.8) ? lengthBytes - 2 : rng.int(0, 0x10000)), 0);
    data.writeUInt16BE(Math.min(0xffff, rng.chance(0.8) ? descriptors * 16 : rng.int(0, 0x10000)), 2);
    for (let d = 0; d < descriptors; d++) {
      data.writeBigUInt64BE(BigInt(rng.int(0, 10_000)), 8 + 16 * d);
      data.writeUInt32BE(rng.chance(0.8) ? rng.int(0, 64) : rng.nextUint32(), 16 + 16 * d);
    }
  }
  if (opcode === Op.PERSISTENT_RESERVE_OUT && lengthBytes >= 24 && rng.chance(0.7)) {
    data.fill(0, 0, 24);
    data.writeBigUInt64BE(BigInt(rng.int(0, 4)), 0);
    data.writeBigUInt64BE(BigInt(rng.int(0, 4)), 8);
    data[20] = rng.int(0, 16);
  }
  return data;
}

export interface HostileCommand {
  readonly command: ScsiCommandPdu;
  /** Data-Out that follows unsolicited (F bit 0). */
  readonly unsolicited: DataOutPdu[];
  /** Bytes the command means to write, for answering R2Ts. */
  readonly dataOut: Buffer;
}

/** A SCSI command with its immediate and unsolicited data, mostly consistent, sometimes lying. */
export function hostileCommand(rng: Rng, client: RawIscsiClient): HostileCommand {
  const { cdb, spec } = hostileCdb(rng);
  const opcode = cdb[0]!;
  const writes = WRITE_OPCODES.has(opcode) ? rng.chance(0.9) : rng.chance(0.05);
  const reads = !writes ? rng.chance(0.8) : rng.chance(0.05);
  let expected: number;
  switch (rng.int(0, 6)) {
    case 0:
      expected = 0;
      break;
    case 1:
      expected = 512 * rng.int(1, 9);
      break;
    case 2:
      expected = rng.int(1, 600);
      break;
    case 3:
      expected = 512 * rng.int(1, 65);
      break;
    case 4:
      expected = rng.chance(0.9) ? rng.int(0, 1 << 20) : hostileU32(rng);
      break;
    default:
      expected = spec === undefined ? rng.int(0, 4096) : 24 * rng.int(0, 3) + rng.int(0, 64);
  }
  const dataBytes = writes ? Math.min(expected, 256 * 1024) : 0;
  const dataOut = parameterData(rng, opcode, dataBytes);
  // Within what was negotiated most of the time (else the target just Rejects it).
  const firstBurst = client.numberKey('FirstBurstLength', 65_536);
  const immediateAllowed = client.negotiated.get('ImmediateData') !== 'No' || rng.chance(0.03);
  const unsolicitedAllowed = client.negotiated.get('InitialR2T') === 'No' || rng.chance(0.03);
  const immediateLimit = Math.min(client.targetMaxRecvBytes, firstBurst);
  let immediateBytes =
    writes && immediateAllowed && rng.chance(0.6) ? Math.min(dataBytes, immediateLimit) : 0;
  if (rng.chance(0.03)) immediateBytes = Math.min(rng.int(0, 2048), client.targetMaxRecvBytes);
  const immediateData =
    immediateBytes <= dataOut.length ? dataOut.subarray(0, immediateBytes) : rngBytes(rng, immediateBytes);
  const final = !unsolicitedAllowed || rng.chance(0.5);
  const immediate = rng.chance(0.1);
  const itt = rng.chance(0.97) ? client.nextItt() : rng.pick([RESERVED_TAG, 0, 1]);
  const command: ScsiCommandPdu = {
    kind: 'scsi-command',
    ahs: [],
    data: immediateData,
    immediate,
    final,
    read: reads,
    write: writes,
    attr: rng.chance(0.9) ? 1 : rng.int(0, 8),
    lun: hostileLun(rng),
    initiatorTaskTag: itt,
    expectedDataTransferLength: expected >>> 0,
    cmdSN: immediate ? client.cmdSN : rng.chance(0.95) ? client.takeCmdSN() : hostileU32(rng, client.cmdSN),
    expStatSN: rng.chance(0.95) ? client.expStatSN : rng.nextUint32(),
    cdb,
    ...(rng.chance(0.03) ? { bidirectionalReadExpectedDataTransferLength: rng.int(0, 4096) } : {}),
  };
  const unsolicited: DataOutPdu[] = [];
  if (!final && writes) {
    let offset = immediateBytes;
    const burstEnd = Math.min(dataBytes, rng.chance(0.95) ? firstBurst : dataBytes);
    for (let dataSN = 0; offset < burstEnd && dataSN < 8; dataSN++) {
      const size = Math.min(burstEnd - offset, client.targetMaxRecvBytes, rng.int(1, 16_384));
      const last = offset + size >= burstEnd || rng.chance(0.05);
      unsolicited.push(dataOutPdu(rng, command, RESERVED_TAG, dataSN, offset, dataOut, size, last));
      offset += size;
      if (last) break;
    }
  }
  return { command, unsolicited, dataOut };
}

/** A Data-Out, right most of the time; wrong DataSN, offset, TTT, ITT or length otherwise. */
export function dataOutPdu(
  rng: Rng,
  command: ScsiCommandPdu,
  targetTransferTag: number,
  dataSN: number,
  offset: number,
  source: Buffer,
  lengthBytes: number,
  final: boolean,
): DataOutPdu {
  const wrong = rng.chance(0.1);
  const data = source.subarray(offset, offset + lengthBytes);
  return {
    kind: 'data-out',
    ahs: [],
    data: wrong && rng.chance(0.3) ? rngBytes(rng, rng.int(0, lengthBytes + 600)) : data,
    final: wrong && rng.chance(0.3) ? !final : final,
    lun: command.lun,
    initiatorTaskTag: wrong && rng.chance(0.2) ? rng.nextUint32() : command.initiatorTaskTag,
    targetTransferTag: wrong && rng.chance(0.2) ? rng.nextUint32() : targetTransferTag,
    expStatSN: 0,
    dataSN: wrong && rng.chance(0.3) ? hostileU32(rng, dataSN) : dataSN,
    bufferOffset: wrong && rng.chance(0.3) ? hostileU32(rng, offset) : offset,
  };
}

/** Data-Out answering one R2T: the whole burst in PDUs of at most the target's segment size. */
export function answerR2t(
  rng: Rng,
  client: RawIscsiClient,
  r2t: R2tPdu,
  pending: HostileCommand,
): DataOutPdu[] {
  const out: DataOutPdu[] = [];
  const end = Math.min(r2t.bufferOffset + r2t.desiredDataTransferLength, pending.dataOut.length);
  let offset = r2t.bufferOffset;
  for (let dataSN = 0; offset < end && dataSN < 64; dataSN++) {
    const size = Math.min(end - offset, client.targetMaxRecvBytes);
    out.push(
      dataOutPdu(
        rng,
        pending.command,
        r2t.targetTransferTag,
        dataSN,
        offset,
        pending.dataOut,
        size,
        offset + size >= end,
      ),
    );
    offset += size;
  }
  return out;
}

/** Any other initiator PDU a session might send, with session numbers mostly right. */
export function hostileOther(rng: Rng, client: RawIscsiClient, recentTags: readonly number[]): InitiatorPdu {
  const tag = () => (recentTags.length > 0 && rng.chance(0.7) ? rng.pick(recentTags) : rng.nextUint32());
  const cmdSN = (immediate: boolean) =>
    rng.chance(0.95) ? (immediate ? client.cmdSN : client.takeCmdSN()) : hostileU32(rng, client.cmdSN);
  const expStatSN = rng.chance(0.95) ? client.expStatSN : rng.nextUint32();
  switch (rng.int(0, 10)) {
    case 0:
    case 1: {
      const immediate = rng.chance(0.7);
      const fn = rng.chance(0.9) ? rng.int(1, 9) : rng.int(0, 0x80);
      return {
        kind: 'tmf-request',
        ahs: [],
        data: rng.chance(0.05) ? rngBytes(rng, rng.int(1, 64)) : Buffer.alloc(0),
        immediate,
        function: fn,
        lun: hostileLun(rng),
        initiatorTaskTag: client.nextItt(),
        referencedTaskTag: tag(),
        cmdSN: cmdSN(immediate),
        expStatSN,
        refCmdSN: rng.chance(0.5) ? client.cmdSN - 1 : rng.nextUint32(),
        expDataSN: rng.int(0, 4),
      };
    }
    case 2:
    case 3: {
      const immediate = rng.chance(0.8);
      const ping = rng.chance(0.8);
      const pings = client.all('nop-in').filter((nop) => nop.targetTransferTag !== RESERVED_TAG);
      const answer =
        pings.length > 0 && rng.chance(0.7) ? rng.pick(pings).targetTransferTag : rng.nextUint32();
      return {
        kind: 'nop-out',
        ahs: [],
        data: rngBytes(rng, rng.chance(0.9) ? rng.int(0, 300) : rng.int(0, client.targetMaxRecvBytes + 1)),
        immediate,
        lun: 0n,
        initiatorTaskTag: ping ? client.nextItt() : RESERVED_TAG,
        // A ping carries no TTT, an answer to the target's ping carries its TTT (5 %: the other way).
        targetTransferTag: (ping ? rng.chance(0.95) : rng.chance(0.05)) ? RESERVED_TAG : answer,
        cmdSN: cmdSN(immediate),
        expStatSN,
      };
    }
    case 4:
    case 5: {
      const immediate = rng.chance(0.3);
      return {
        kind: 'text-request',
        ahs: [],
        data: rng.chance(0.5)
          ? encodeTextData([['SendTargets', rng.pick(['All', '', 'iqn.x'])]])
          : randomTextData(rng),
        immediate,
        final: rng.chance(0.8),
        continue: rng.chance(0.2),
        lun: 0n,
        initiatorTaskTag: rng.chance(0.9) ? client.nextItt() : tag(),
        targetTransferTag: rng.chance(0.8) ? RESERVED_TAG : rng.nextUint32(),
        cmdSN: cmdSN(immediate),
        expStatSN,
      };
    }
    case 6: {
      const immediate = rng.chance(0.5);
      return {
        kind: 'logout-request',
        ahs: [],
        data: Buffer.alloc(0),
        immediate,
        reasonCode: rng.chance(0.8) ? rng.int(0, 3) : rng.int(0, 0x80),
        initiatorTaskTag: client.nextItt(),
        cid: rng.chance(0.8) ? 1 : rng.int(0, 0x10000),
        cmdSN: cmdSN(immediate),
        expStatSN,
      };
    }
    case 7:
      return {
        kind: 'snack',
        ahs: [],
        data: Buffer.alloc(0),
        type: rng.int(0, 16),
        lun: 0n,
        initiatorTaskTag: tag(),
        targetTransferTag: rng.nextUint32(),
        expStatSN,
        begRun: rng.int(0, 4),
        runLength: rng.int(0, 4),
      };
    case 8: {
      const { pdu } = randomPdu(rng, ALL_OPCODES);
      return pdu as InitiatorPdu;
    }
    default: {
      const data = Buffer.alloc(rng.int(0, 64));
      return {
        kind: 'data-out',
        ahs: [],
        data,
        final: rng.chance(0.5),
        lun: hostileLun(rng),
        initiatorTaskTag: tag(),
        targetTransferTag: rng.chance(0.5) ? RESERVED_TAG : rng.nextUint32(),
        expStatSN,
        dataSN: rng.int(0, 3),
        bufferOffset: rng.chance(0.5) ? 0 : hostileU32(rng),
      };
    }
  }
}

/** Wire bytes for a PDU: as encoded most of the time, mutated (mutateWire) otherwise. */
export function wireOf(
  rng: Rng,
  client: RawIscsiClient,
  pdu: InitiatorPdu | ReturnType<typeof randomPdu>['pdu'],
  mutateProbability: number,
): { bytes: Buffer; mutation: string } {
  const bytes = encodePduBytes(pdu, client.digests);
  if (!rng.chance(mutateProbability)) return { bytes, mutation: 'none' };
  const other = encodePduBytes(randomPdu(rng).pdu, client.digests);
  return mutateWire(rng, bytes, client.digests, other);
}
