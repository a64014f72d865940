/**
 * Capacity and logical block provisioning: READ CAPACITY(10)/(16), WRITE SAME(10)/(16), UNMAP and
 * GET LBA STATUS (SBC-3 logical block provisioning and the commands of those names).
 *
 * Rules
 * - Thin LUs (backend.thin) report LBPME and LBPRZ (unmapped blocks read as zeros) in READ
 *   CAPACITY(16) and LBPU/LBPWS/LBPWS10/LBPRZ in VPD B2h. Anchored blocks are not supported
 *   (ANC_SUP = 0): ANCHOR = 1 is INVALID FIELD IN CDB.
 * - WRITE SAME: WSNZ = 0, so NUMBER OF LOGICAL BLOCKS 0 means "from LBA to the last LBA"; more than
 *   MAXIMUM WRITE SAME LENGTH blocks is INVALID FIELD IN CDB. The Data-Out buffer must be exactly
 *   one block (none with NDOB, which writes zeros). UNMAP = 1 unmaps the range whatever the block
 *   holds (SBC-3 lets the device server unmap; afterwards the blocks read as zeros, LBPRZ,
 *   which is what libiscsi's WriteSame*.Unmap* tests check); UNMAP on a fully provisioned LU is
 *   refused, so the UNMAP bit's availability always matches LBPWS/LBPWS10.
 *   LBDATA puts the LBA's low 32 bits in each block's first 4 bytes; PBDATA is not supported.
 * - UNMAP (SBC-3): a parameter list of an 8-byte header and 16-byte block descriptors. Every
 *   descriptor is checked (LBA OUT OF RANGE; too many descriptors or blocks: INVALID
 *   FIELD IN PARAMETER LIST) before any block is unmapped. A zero-length descriptor at the end of
 *   the LU is valid.
 * - GET LBA STATUS (SBC-3): descriptors start exactly at the STARTING LBA (the backend's runs
 *   are clipped to it) and describe consecutive extents; a STARTING LBA past
 *   the last LBA is LBA OUT OF RANGE (compared as a bigint: 2^63 does not wrap to 0).
 * - Cluster mode: WRITE SAME writes carry the command's IO guard like any write (a restarted
 *   WRITE SAME may have written some pieces already). BlockBackend.unmap takes no guard, so an
 *   unmap is only re-checked against the admission locally before it is sent; the LU validated
 *   the shared cell before admitting UNMAP and WRITE SAME with UNMAP (logical-unit.ts).
 */
import { Op, readUint16, readUint32, readUint64 } from './cdb.js';
import {
  type CommandContext,
  checkCondition,
  good,
  ioGuard,
  isAborted,
  type LuRuntime,
  rangeSense,
  TASK_ABORTED_RESULT,
  truncate,
  withBackend,
  writeBlocks,
  writeProtectSense,
} from './command-context.js';
import type { ScsiResult } from './scsi-types.js';
import {
  invalidFieldInCdb,
  invalidFieldInParameterList,
  LBA_OUT_OF_RANGE,
  PARAMETER_LIST_LENGTH_ERROR,
} from './sense.js';

export function readCapacity10(context: CommandContext): ScsiResult {
  const { cdb, lu } = context;
  const partialMediumIndicator = (cdb[8]! & 0x01) !== 0;
  if (!partialMediumIndicator && readUint32(cdb, 2) !== 0) return checkCondition(invalidFieldInCdb(2, 7));
  const data = Buffer.alloc(8);
  // RETURNED LOGICAL BLOCK ADDRESS; FFFFFFFFh tells the initiator to use READ CAPACITY(16).
  data.writeUInt32BE(Math.min(lu.geometry.blockCount - 1, 0xffffffff), 0);
  data.writeUInt32BE(lu.geometry.blockSizeBytes, 4);
  return good(data);
}

export const READ_CAPACITY_16_LENGTH_BYTES = 32;

export function readCapacity16Data(lu: LuRuntime): Buffer {
  const data = Buffer.alloc(READ_CAPACITY_16_LENGTH_BYTES);
  data.writeBigUInt64BE(BigInt(lu.geometry.blockCount - 1), 0); // RETURNED LOGICAL BLOCK ADDRESS
  data.writeUInt32BE(lu.geometry.blockSizeBytes, 8);
  data[12] = 0x00; // P_TYPE 0, PROT_EN 0
  // P_I_EXPONENT 0, LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.
  data[13] = lu.geometry.physicalBlockExponent & 0x0f;
  data[14] = lu.backend.thin ? 0x80 | 0x40 : 0x00; // LBPME, LBPRZ; LOWEST ALIGNED LBA 0
  return data;
}

export function readCapacity16(context: CommandContext): ScsiResult {
  const { cdb, lu } = context;
  const partialMediumIndicator = (cdb[14]! & 0x01) !== 0;
  if (!partialMediumIndicator && readUint64(cdb, 2) !== 0n) return checkCondition(invalidFieldInCdb(2, 7));
  return good(truncate(readCapacity16Data(lu), readUint32(cdb, 10)));
}

// WRITE SAME writes in pieces of at most this much, so a long range never needs one huge buffer.
const WRITE_SAME_PIECE_BYTES = 1024 * 1024;

export async function writeSame(context: CommandContext): Promise<ScsiResult> {
  const { cdb, lu, command } = context;
  const sixteen = cdb[0] === Op.WRITE_SAME_16;
  const anchor = (cdb[1]! & 0x10) !== 0;
  const unmap = (cdb[1]! & 0x08) !== 0;
  const physicalBlockData = (cdb[1]! & 0x04) !== 0;
  const logicalBlockData = (cdb[1]! & 0x02) !== 0;
  const noDataOut = sixteen && (cdb[1]! & 0x01) !== 0;
  const lba = sixteen ? readUint64(cdb, 2) : BigInt(readUint32(cdb, 2));
  const numberField = sixteen ? readUint32(cdb, 10) : readUint16(cdb, 7);
  const lengthOffset = sixteen ? 10 : 7;
  if (physicalBlockData) return checkCondition(invalidFieldInCdb(1, 2));
  if (anchor) return checkCondition(invalidFieldInCdb(1, 4));
  if (unmap && !lu.backend.thin) return checkCondition(invalidFieldInCdb(1, 3));
  if (unmap && logicalBlockData) return checkCondition(invalidFieldInCdb(1, 1));
  const blockCount = BigInt(lu.geometry.blockCount);
  if (lba > blockCount) return checkCondition(LBA_OUT_OF_RANGE);
  const blocksBig = numberField === 0 ? blockCount - lba : BigInt(numberField);
  const outOfRange = rangeSense(lu, lba, blocksBig);
  if (outOfRange !== undefined) return checkCondition(outOfRange);
  if (blocksBig > BigInt(lu.limits.maxWriteSameBlocks))
    return checkCondition(invalidFieldInCdb(lengthOffset, 7));
  const protectedSense = writeProtectSense(lu);
  if (protectedSense !== undefined) return checkCondition(protectedSense);
  const blockSize = lu.geometry.blockSizeBytes;
  const dataOutBytes = noDataOut ? 0 : blockSize;
  if (command.dataOut.length !== dataOutBytes || command.expectedLengthBytes !== dataOutBytes) {
    return checkCondition(invalidFieldInCdb(lengthOffset, 7));
  }
  const blocks = Number(blocksBig);
  if (blocks === 0) return good();
  const block = noDataOut ? Buffer.alloc(blockSize) : command.dataOut;
  const startLba = Number(lba);
  const fua = !lu.mode.writeCacheEnabled;
  return lu.rangeLock.run(startLba, blocks, 'shared', () =>
    withBackend(context, 'write', async () => {
      if (unmap) {
        if (isAborted(context)) return TASK_ABORTED_RESULT;
        ioGuard(context);
        await lu.backend.unmap!(startLba * blockSize, blocks * blockSize);
        return good();
      }
      const pieceBlocks = Math.max(1, Math.min(blocks, Math.floor(WRITE_SAME_PIECE_BYTES / blockSize)));
      const piece = Buffer.alloc(pieceBlocks * blockSize);
      for (let index = 0; index < pieceBlocks; index++) block.copy(piece, index * blockSize);
      for (let done = 0; done < blocks; done += pieceBlocks) {
        if (isAborted(context)) return TASK_ABORTED_RESULT;
        const count = Math.min(pieceBlocks, blocks - done);
        if (logicalBlockData) {
          for (let index = 0; index < count; index++) {
            piece.writeUInt32BE((startLba + done + index) % 0x100000000, index * blockSize);
          }
        }
        await writeBlocks(context, (startLba + done) * blockSize, piece.subarray(0, count * blockSize), {
          fua,
        });
      }
      return good();
    }),
  );
}

const UNMAP_HEADER_BYTES = 8;
const UNMAP_DESCRIPTOR_BYTES = 16;

interface UnmapExtent {
  readonly lba: number;
  readonly blocks: number;
}

/** Parses and checks an UNMAP parameter list (SBC-3 UNMAP parameter list); the extents or the refusal. */
function parseUnmapList(lu: LuRuntime, list: Buffer): UnmapExtent[] | ScsiResult {
  const declaredBytes = readUint16(list, 2);
  const available = list.length - UNMAP_HEADER_BYTES;
  const descriptorBytes = Math.min(declaredBytes, available);
  const count = Math.floor(descriptorBytes / UNMAP_DESCRIPTOR_BYTES);
  if (count > lu.limits.maxUnmapDescriptors) return checkCondition(invalidFieldInParameterList(2, 7));
  const extents: UnmapExtent[] = [];
  let totalBlocks = 0;
  for (let index = 0; index < count; index++) {
    const offset = UNMAP_HEADER_BYTES + index * UNMAP_DESCRIPTOR_BYTES;
    const lba = list.readBigUInt64BE(offset);
    const blocks = list.readUInt32BE(offset + 8);
    const outOfRange = rangeSense(lu, lba, blocks);
    if (outOfRange !== undefined) return checkCondition(outOfRange);
    totalBlocks += blocks;
    if (totalBlocks > lu.limits.maxUnmapBlocks)
      return checkCondition(invalidFieldInParameterList(offset + 8, 7));
    if (blocks > 0) extents.push({ lba: Number(lba), blocks });
  }
  return extents;
}

export async function unmap(context: CommandContext): Promise<ScsiResult> {
  const { cdb, lu, command } = context;
  if ((cdb[1]! & 0x01) !== 0) return checkCondition(invalidFieldInCdb(1, 0)); // ANCHOR: ANC_SUP = 0
  const listLength = readUint16(cdb, 7);
  if (listLength === 0) return good();
  if (listLength < UNMAP_HEADER_BYTES) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  const protectedSense = writeProtectSense(lu);
  if (protectedSense !== undefined) return checkCondition(protectedSense);
  if (command.dataOut.length < UNMAP_HEADER_BYTES) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  const extents = parseUnmapList(lu, command.dataOut.subarray(0, listLength));
  if (!Array.isArray(extents)) return extents;
  const blockSize = lu.geometry.blockSizeBytes;
  return withBackend(context, 'write', async () => {
    for (const extent of extents) {
      if (isAborted(context)) return TASK_ABORTED_RESULT;
      await lu.rangeLock.run(extent.lba, extent.blocks, 'shared', () => {
        ioGuard(context);
        return lu.backend.unmap!(extent.lba * blockSize, extent.blocks * blockSize);
      });
    }
    return good();
  });
}

/** PROVISIONING STATUS values (SBC-3 LBA status descriptor). */
export const ProvisioningStatus = { MAPPED: 0, DEALLOCATED: 1, ANCHORED: 2 } as const;

const LBA_STATUS_HEADER_BYTES = 8;
const LBA_STATUS_DESCRIPTOR_BYTES = 16;
// One GET LBA STATUS looks at most this far ahead; the initiator asks again from where we stopped.
const LBA_STATUS_WINDOW_BLOCKS = 1 << 24;
const LBA_STATUS_DESCRIPTORS_MAX = 1024;

interface StatusExtent {
  lba: number;
  blocks: number;
  readonly status: number;
}

async function lbaStatusExtents(
  lu: LuRuntime,
  startLba: number,
  windowBlocks: number,
): Promise<StatusExtent[]> {
  const blockSize = lu.geometry.blockSizeBytes;
  const endLba = startLba + windowBlocks;
  if (lu.backend.mapStatus === undefined)
    return [{ lba: startLba, blocks: windowBlocks, status: ProvisioningStatus.MAPPED }];
  const runs = await lu.backend.mapStatus(startLba * blockSize, windowBlocks * blockSize);
  const extents: StatusExtent[] = [];
  let cursor = startLba;
  for (const run of runs) {
    // Clip each run to whole blocks inside the window, in order, without gaps or overlaps.
    const runStart = Math.max(cursor, Math.floor(run.offsetBytes / blockSize));
    const runEnd = Math.min(endLba, Math.ceil((run.offsetBytes + run.lengthBytes) / blockSize));
    if (runEnd <= runStart) continue;
    if (runStart > cursor)
      extents.push({ lba: cursor, blocks: runStart - cursor, status: ProvisioningStatus.MAPPED });
    const status = run.mapped ? ProvisioningStatus.MAPPED : ProvisioningStatus.DEALLOCATED;
    const last = extents[extents.length - 1];
    if (last !== undefined && last.status === status && last.lba + last.blocks === runStart) {
      last.blocks += runEnd - runStart;
    } else {
      extents.push({ lba: runStart, blocks: runEnd - runStart, status });
    }
    cursor = runEnd;
  }
  if (cursor < endLba)
    extents.push({ lba: cursor, blocks: endLba - cursor, status: ProvisioningStatus.MAPPED });
  return extents;
}

export async function getLbaStatus(context: CommandContext): Promise<ScsiResult> {
  const { cdb, lu } = context;
  const startLba = readUint64(cdb, 2);
  const allocationLength = readUint32(cdb, 10);
  if (startLba >= BigInt(lu.geometry.blockCount)) return checkCondition(LBA_OUT_OF_RANGE);
  const start = Number(startLba);
  const windowBlocks = Math.min(lu.geometry.blockCount - start, LBA_STATUS_WINDOW_BLOCKS);
  const descriptorsMax = Math.min(
    LBA_STATUS_DESCRIPTORS_MAX,
    Math.max(1, Math.floor((allocationLength - LBA_STATUS_HEADER_BYTES) / LBA_STATUS_DESCRIPTOR_BYTES)),
  );
  return withBackend(context, 'read', async () => {
    const extents = (await lbaStatusExtents(lu, start, windowBlocks)).slice(0, descriptorsMax);
    const data = Buffer.alloc(LBA_STATUS_HEADER_BYTES + extents.length * LBA_STATUS_DESCRIPTOR_BYTES);
    data.writeUInt32BE(data.length - 4, 0); // PARAMETER DATA LENGTH: the bytes after this field
    extents.forEach((extent, index) => {
      const offset = LBA_STATUS_HEADER_BYTES + index * LBA_STATUS_DESCRIPTOR_BYTES;
      data.writeBigUInt64BE(BigInt(extent.lba), offset);
      data.writeUInt32BE(extent.blocks, offset + 8); // the window keeps this below 2^32
      data[offset + 12] = extent.status;
    });
    return good(truncate(data, allocationLength));
  });
}
