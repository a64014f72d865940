/**
 * The LU's copy manager (SPC-4 third-party copy, LID1): EXTENDED COPY with identification CSCD
 * descriptors (E4h) and block device to block device segment descriptors (02h), the pair VMware's
 * VAAI XCOPY sends, and RECEIVE COPY RESULTS with COPY STATUS and OPERATING PARAMETERS. A copy
 * moves blocks within this LU or between LUs of the same target.
 *
 * EXTENDED COPY parameter list: a 16-byte header (LIST IDENTIFIER; STR, LIST ID USAGE bits 4:3,
 * PRIORITY; CSCD DESCRIPTOR LIST LENGTH bytes 2-3; SEGMENT DESCRIPTOR LIST LENGTH bytes 8-11;
 * INLINE DATA LENGTH bytes 12-15), the CSCD descriptors (32 bytes each), the segment descriptors
 * (02h: 28 bytes), the inline data.
 *
 * Rules, in the order they are checked; nothing is copied before all of them passed
 * - PARAMETER LIST LENGTH 0: nothing to do, GOOD. Below the 16-byte header, or more than the
 *   Data-Out carries: PARAMETER LIST LENGTH ERROR.
 * - LIST ID USAGE 01b is reserved; 11b (no list identifier, SNLID = 1) needs LIST IDENTIFIER 0:
 *   else INVALID FIELD IN PARAMETER LIST on the field.
 * - The three list lengths must fit in the parameter list (PARAMETER LIST LENGTH ERROR). Inline
 *   data is not supported (MAXIMUM INLINE DATA LENGTH 0): INLINE DATA LENGTH EXCEEDED (26/0B).
 *   The CSCD and segment lists together above MAXIMUM DESCRIPTOR LIST LENGTH: PARAMETER LIST
 *   LENGTH ERROR (libiscsi's DescrLimits wants this before the counts).
 * - More CSCD descriptors than MAXIMUM CSCD DESCRIPTOR COUNT: TOO MANY TARGET DESCRIPTORS (26/06);
 *   a CSCD list length that is not a multiple of 32: PARAMETER LIST LENGTH ERROR. More segment
 *   descriptors than MAXIMUM SEGMENT DESCRIPTOR COUNT: TOO MANY SEGMENT DESCRIPTORS (26/08); a
 *   segment descriptor running past its list: PARAMETER LIST LENGTH ERROR. The lists are walked
 *   by their length fields only, never allocated from them.
 * - A CSCD descriptor type other than E4h: UNSUPPORTED TARGET DESCRIPTOR TYPE CODE (26/07); a
 *   segment descriptor type other than 02h: UNSUPPORTED SEGMENT DESCRIPTOR TYPE CODE (26/09); both
 *   with the field pointer at the type code. Other bad fields (DESCRIPTOR LENGTH not 0018h, a
 *   designator longer than 20 bytes, a segment longer than MAXIMUM SEGMENT LENGTH): INVALID FIELD
 *   IN PARAMETER LIST pointing at the field. A CSCD DESCRIPTOR ID past the CSCD list: COPY
 *   ABORTED, UNREACHABLE COPY TARGET (0A/08/04). LU ID TYPE, NUL and RELATIVE INITIATOR PORT
 *   IDENTIFIER are not evaluated (an LU is found by its designator alone).
 * - An E4h descriptor names an LU by one of its logical-unit designators of VPD 83h (in practice
 *   the NAA one, lu-identity.ts; the T10 vendor ID one is longer than 20 bytes): this LU, or through `LogicalUnitOptions.copyPeers` another LU of
 *   the same target. A peripheral device type other than 00h, or a designator no LU has: COPY
 *   ABORTED, UNREACHABLE COPY TARGET (0A/08/04). A DISK BLOCK LENGTH other than 0 or the LU's:
 *   COPY ABORTED, INCORRECT COPY TARGET DEVICE TYPE (0A/0D/03).
 * - Every segment's source and destination ranges must lie inside their LUs: COPY ABORTED, COPY
 *   TARGET DEVICE NOT REACHABLE (0A/0D/02), as Linux LIO answers (libiscsi's ValidSegDescr
 *   accepts 08/04 or 0D/02 only). Its bytes (NUMBER OF BLOCKS in source blocks, or destination
 *   blocks with DC) must be whole blocks of both LUs: COPY ABORTED, UNEXPECTED INEXACT SEGMENT
 *   (26/0A).
 * - LIST ID USAGE 00b or 10b with a LIST IDENTIFIER a running copy of this nexus uses: ILLEGAL
 *   REQUEST, OPERATION IN PROGRESS (00/16). More than TOTAL CONCURRENT COPIES running: BUSY.
 *
 * Copying
 * - Through the LUs' own command path, never around it: each piece is a READ(16) to the source
 *   and a WRITE(16) to the destination, run by that LU as a command of the initiator's nexus
 *   (ALUA, reservations, sanitize and medium state, its LBA range lock, in cluster mode its
 *   admission and IO guard), marked `thirdPartyCopy` so no unit attention is reported or
 *   cleared by it. A copy is as coherence-safe as the same WRITEs from the host, and not atomic.
 * - Pieces of at most 1 MiB, one at a time: a copy holds one piece in memory. Within one LU a
 *   destination that overlaps the source above it is copied from the end down.
 * - A piece that fails ends the copy: a CHECK CONDITION becomes COPY ABORTED with that LU's
 *   ASC/ASCQ, RESERVATION CONFLICT, BUSY and TASK SET FULL are answered as they came, and
 *   COMMAND-SPECIFIC INFORMATION holds the number of segments completed. Task abort stops it
 *   between pieces. Segments already copied stay copied.
 * - LIST ID USAGE 00b: the copy's status (running, then completed with or without errors,
 *   segments processed, bytes moved) is held per nexus for RECEIVE COPY RESULTS COPY STATUS,
 *   at most HELD_STATUSES_MAX per nexus (the oldest finished one goes first); a nexus loss or a
 *   LUN reset drops them. No data is held (HELD DATA LIMIT 0).
 *
 * RECEIVE COPY RESULTS
 * - COPY STATUS (00h): the held status of LIST IDENTIFIER for this nexus; none held: INVALID FIELD
 *   IN CDB on byte 2. TRANSFER COUNT UNITS 00h (bytes).
 * - OPERATING PARAMETERS (03h): COPY_LIMITS below, and the two descriptor types implemented.
 * - Other service actions are INVALID FIELD IN CDB (byte 1), from the dispatcher.
 */
import { readUint16, readUint32 } from './cdb.js';
import { type CommandContext, checkCondition, good, type LuRuntime, truncate } from './command-context.js';
import type { Nexus, ScsiCommand, ScsiResult, Sense } from './scsi-types.js';
import { ScsiStatus, SenseKey } from './scsi-types.js';
import {
  Asc,
  illegalRequest,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  PARAMETER_LIST_LENGTH_ERROR,
  senseOf,
} from './sense.js';

/** What EXTENDED COPY accepts, as RECEIVE COPY RESULTS OPERATING PARAMETERS reports it. */
export const COPY_LIMITS = {
  cscdDescriptorsMax: 8,
  segmentDescriptorsMax: 16,
  /** Bytes one segment may move (so one command moves at most 16 x 16 MiB). */
  segmentBytesMax: 16 * 1024 * 1024,
  concurrentCopiesMax: 16,
} as const;

/** RECEIVE COPY RESULTS copy statuses kept per nexus. */
export const HELD_STATUSES_MAX = 16;

const HEADER_BYTES = 16;
const CSCD_BYTES = 32;
const SEGMENT_HEADER_BYTES = 4;
const PIECE_BYTES = 1024 * 1024;

/** Descriptor type codes (SPC-4). */
export const DescriptorType = { BLOCK_TO_BLOCK: 0x02, IDENTIFICATION: 0xe4 } as const;
const BLOCK_TO_BLOCK_LENGTH = 0x18;
const DESIGNATOR_BYTES_MAX = 20;
/** MAXIMUM DESCRIPTOR LIST LENGTH: the most CSCD and segment descriptors the counts allow. */
const DESCRIPTOR_LIST_BYTES_MAX =
  COPY_LIMITS.cscdDescriptorsMax * CSCD_BYTES +
  COPY_LIMITS.segmentDescriptorsMax * (SEGMENT_HEADER_BYTES + BLOCK_TO_BLOCK_LENGTH);

const ListIdUsage = { HOLD: 0, RESERVED: 1, NO_HOLD: 2, NO_LIST_ID: 3 } as const;

/** COPY MANAGER STATUS (SPC-4 COPY STATUS, LID1). */
const CopyManagerStatus = { IN_PROGRESS: 0x00, COMPLETED: 0x01, FAILED: 0x02 } as const;

/** An LU the copy manager reads or writes: a command path (LogicalUnit, or the target's ServedLun). */
export interface CopyPeer {
  execute(command: ScsiCommand): Promise<ScsiResult>;
}

interface CopyStatus {
  status: number;
  segmentsProcessed: number;
  transferredBytes: number;
}

/** One LU's copy manager state: statuses held per nexus, list identifiers of running copies. */
export class CopyManager {
  readonly #held = new Map<string, Map<number, CopyStatus>>();
  readonly #runningIds = new Map<string, Set<number>>();
  #running = 0;

  /** Registers a copy; `listId` undefined for LIST ID USAGE 11b. */
  begin(nexus: Nexus, listId: number | undefined, hold: boolean): CopyStatus | 'in-use' | 'busy' {
    if (listId !== undefined && this.#runningIds.get(nexus.id)?.has(listId)) return 'in-use';
    if (this.#running >= COPY_LIMITS.concurrentCopiesMax) return 'busy';
    this.#running += 1;
    const status: CopyStatus = {
      status: CopyManagerStatus.IN_PROGRESS,
      segmentsProcessed: 0,
      transferredBytes: 0,
    };
    if (listId === undefined) return status;
    const ids = this.#runningIds.get(nexus.id) ?? new Set<number>();
    this.#runningIds.set(nexus.id, ids);
    ids.add(listId);
    if (hold) this.#hold(nexus.id, listId, status);
    return status;
  }

  end(nexus: Nexus, listId: number | undefined, status: CopyStatus, ok: boolean): void {
    this.#running -= 1;
    status.status = ok ? CopyManagerStatus.COMPLETED : CopyManagerStatus.FAILED;
    if (listId === undefined) return;
    const ids = this.#runningIds.get(nexus.id);
    ids?.delete(listId);
    if (ids?.size === 0) this.#runningIds.delete(nexus.id);
  }

  status(nexus: Nexus, listId: number): Readonly<CopyStatus> | undefined {
    return this.#held.get(nexus.id)?.get(listId);
  }

  /** I_T nexus loss: its held statuses go. */
  forgetNexus(nexusId: string): void {
    this.#held.delete(nexusId);
  }

  /** LUN reset: every held status goes (running copies still end normally). */
  reset(): void {
    this.#held.clear();
  }

  #hold(nexusId: string, listId: number, status: CopyStatus): void {
    const statuses = this.#held.get(nexusId) ?? new Map<number, CopyStatus>();
    this.#held.set(nexusId, statuses);
    statuses.delete(listId);
    if (statuses.size >= HELD_STATUSES_MAX) {
      for (const [id, held] of statuses) {
        if (held.status !== CopyManagerStatus.IN_PROGRESS) {
          statuses.delete(id);
          break;
        }
      }
    }
    statuses.set(listId, status);
  }
}

const COPY_ABORTED = (code: { asc: number; ascq: number }, extra: Partial<Sense> = {}): Sense =>
  senseOf(SenseKey.COPY_ABORTED, code, extra);

interface Cscd {
  readonly offset: number;
  readonly designator: Buffer;
  readonly peripheralType: number;
  readonly diskBlockLength: number;
}

interface Segment {
  readonly offset: number;
  readonly sourceIndex: number;
  readonly destinationIndex: number;
  readonly destinationCount: boolean;
  readonly blocks: number;
  readonly sourceLba: bigint;
  readonly destinationLba: bigint;
}

interface CopyTarget {
  readonly peer: CopyPeer;
  readonly blockSizeBytes: number;
  readonly blockCount: bigint;
}

interface ParsedList {
  readonly listId: number | undefined;
  readonly hold: boolean;
  readonly cscds: readonly Cscd[];
  readonly segments: readonly Segment[];
}

/** Header and descriptor checks (no LU is asked anything yet); the lists, or the refusal. */
export function parseExtendedCopyList(list: Buffer): ParsedList | Sense {
  if (list.length < HEADER_BYTES) return PARAMETER_LIST_LENGTH_ERROR;
  const usage = (list[1]! >> 3) & 0x03;
  if (usage === ListIdUsage.RESERVED) return invalidFieldInParameterList(1, 4);
  if (usage === ListIdUsage.NO_LIST_ID && list[0] !== 0) return invalidFieldInParameterList(0, 7);
  const cscdBytes = readUint16(list, 2);
  const segmentBytes = readUint32(list, 8);
  const inlineBytes = readUint32(list, 12);
  if (HEADER_BYTES + cscdBytes + segmentBytes + inlineBytes > list.length) return PARAMETER_LIST_LENGTH_ERROR;
  if (inlineBytes > 0) return illegalRequestAt(Asc.INLINE_DATA_LENGTH_EXCEEDED, 12);
  if (cscdBytes + segmentBytes > DESCRIPTOR_LIST_BYTES_MAX) return PARAMETER_LIST_LENGTH_ERROR;
  if (Math.ceil(cscdBytes / CSCD_BYTES) > COPY_LIMITS.cscdDescriptorsMax) {
    return illegalRequestAt(Asc.TOO_MANY_TARGET_DESCRIPTORS, 2);
  }
  if (cscdBytes % CSCD_BYTES !== 0) return PARAMETER_LIST_LENGTH_ERROR;
  // Segment descriptors by their lengths alone: count them, and that they tile the list.
  const segmentsStart = HEADER_BYTES + cscdBytes;
  const segmentsEnd = segmentsStart + segmentBytes;
  const segmentOffsets: number[] = [];
  for (let offset = segmentsStart; offset < segmentsEnd; ) {
    if (segmentOffsets.length === COPY_LIMITS.segmentDescriptorsMax) {
      return illegalRequestAt(Asc.TOO_MANY_SEGMENT_DESCRIPTORS, 8);
    }
    if (offset + SEGMENT_HEADER_BYTES > segmentsEnd) return PARAMETER_LIST_LENGTH_ERROR;
    const next = offset + SEGMENT_HEADER_BYTES + readUint16(list, offset + 2);
    if (next > segmentsEnd) return PARAMETER_LIST_LENGTH_ERROR;
    segmentOffsets.push(offset);
    offset = next;
  }
  const cscds: Cscd[] = [];
  for (let offset = HEADER_BYTES; offset < segmentsStart; offset += CSCD_BYTES) {
    const cscd = parseCscd(list, offset);
    if ('key' in cscd) return cscd;
    cscds.push(cscd);
  }
  const segments: Segment[] = [];
  for (const offset of segmentOffsets) {
    const segment = parseSegment(list, offset, cscds.length);
    if ('key' in segment) return segment;
    segments.push(segment);
  }
  return {
    listId: usage === ListIdUsage.NO_LIST_ID ? undefined : list[0]!,
    hold: usage === ListIdUsage.HOLD,
    cscds,
    segments,
  };
}

function illegalRequestAt(code: { asc: number; ascq: number }, byte: number, bit = 7): Sense {
  return senseOf(SenseKey.ILLEGAL_REQUEST, code, { fieldPointer: { inCdb: false, byte, bit } });
}

/** Identification CSCD descriptor (E4h, SPC-4), with SBC-3's device type specific parameters. */
function parseCscd(list: Buffer, offset: number): Cscd | Sense {
  if (list[offset] !== DescriptorType.IDENTIFICATION) {
    return illegalRequestAt(Asc.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE, offset);
  }
  const designatorLength = list[offset + 7]!;
  if (designatorLength > DESIGNATOR_BYTES_MAX) return invalidFieldInParameterList(offset + 7, 7);
  return {
    offset,
    // The designation descriptor header (CODE SET, ASSOCIATION, DESIGNATOR TYPE, LENGTH) and value.
    designator: list.subarray(offset + 4, offset + 8 + designatorLength),
    peripheralType: list[offset + 1]! & 0x1f,
    diskBlockLength: list.readUIntBE(offset + 29, 3),
  };
}

/** Block device to block device segment descriptor (02h, SPC-4). */
function parseSegment(list: Buffer, offset: number, cscdCount: number): Segment | Sense {
  if (list[offset] !== DescriptorType.BLOCK_TO_BLOCK) {
    return illegalRequestAt(Asc.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE, offset);
  }
  if (readUint16(list, offset + 2) !== BLOCK_TO_BLOCK_LENGTH)
    return invalidFieldInParameterList(offset + 2, 7);
  const sourceIndex = readUint16(list, offset + 4);
  const destinationIndex = readUint16(list, offset + 6);
  if (sourceIndex >= cscdCount || destinationIndex >= cscdCount)
    return COPY_ABORTED(Asc.UNREACHABLE_COPY_TARGET);
  return {
    offset,
    sourceIndex,
    destinationIndex,
    destinationCount: (list[offset + 1]! & 0x02) !== 0,
    blocks: readUint16(list, offset + 10),
    sourceLba: list.readBigUInt64BE(offset + 12),
    destinationLba: list.readBigUInt64BE(offset + 20),
  };
}

/** One command the copy manager sends a copy target on the initiator's nexus. */
function peerCommand(
  context: CommandContext,
  cdb: Buffer,
  dataOut: Buffer,
  expectedLengthBytes: number,
): ScsiCommand {
  const { command } = context;
  return {
    cdb,
    nexus: context.nexus,
    dataOut,
    expectedLengthBytes,
    taskTag: command.taskTag,
    taskAttribute: 1,
    thirdPartyCopy: true,
    ...(command.signal === undefined ? {} : { signal: command.signal }),
  };
}

function read16(lba: bigint, blocks: number): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x88;
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(blocks, 10);
  return cdb;
}

function write16(lba: bigint, blocks: number): Buffer {
  const cdb = read16(lba, blocks);
  cdb[0] = 0x8a;
  return cdb;
}

function readCapacity16(): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x9e;
  cdb[1] = 0x10;
  cdb.writeUInt32BE(32, 10);
  return cdb;
}

/** A copy target's failed answer as the EXTENDED COPY's answer. */
function peerFailure(result: ScsiResult, segmentsProcessed: number): ScsiResult {
  switch (result.status) {
    case ScsiStatus.RESERVATION_CONFLICT:
    case ScsiStatus.BUSY:
    case ScsiStatus.TASK_SET_FULL:
    case ScsiStatus.TASK_ABORTED:
      return { status: result.status };
    case ScsiStatus.CHECK_CONDITION:
      if (result.sense !== undefined) {
        return checkCondition(COPY_ABORTED(result.sense, { commandSpecific: segmentsProcessed }));
      }
  }
  return checkCondition(COPY_ABORTED(Asc.THIRD_PARTY_DEVICE_FAILURE, { commandSpecific: segmentsProcessed }));
}

/** Resolves a CSCD descriptor to its LU and learns its capacity; the target, or the refusal. */
async function resolveCscd(context: CommandContext, cscd: Cscd): Promise<CopyTarget | ScsiResult> {
  const unreachable = checkCondition(COPY_ABORTED(Asc.UNREACHABLE_COPY_TARGET));
  if (cscd.peripheralType !== 0) return unreachable;
  const peer = context.lu.copyPeer(cscd.designator);
  if (peer === undefined) return unreachable;
  const capacity = await peer.execute(peerCommand(context, readCapacity16(), Buffer.alloc(0), 32));
  if (capacity.status !== ScsiStatus.GOOD || capacity.dataIn === undefined || capacity.dataIn.length < 12) {
    return peerFailure(capacity, 0);
  }
  const blockSizeBytes = capacity.dataIn.readUInt32BE(8);
  if (cscd.diskBlockLength !== 0 && cscd.diskBlockLength !== blockSizeBytes) {
    return checkCondition(COPY_ABORTED(Asc.INCORRECT_COPY_TARGET_DEVICE_TYPE));
  }
  return { peer, blockSizeBytes, blockCount: capacity.dataIn.readBigUInt64BE(0) + 1n };
}

function greatestCommonDivisor(a: number, b: number): number {
  return b === 0 ? a : greatestCommonDivisor(b, a % b);
}

interface PlannedSegment {
  readonly source: CopyTarget;
  readonly destination: CopyTarget;
  readonly sourceByte: number;
  readonly destinationByte: number;
  readonly bytes: number;
  /** Whole blocks of both LUs: every piece is a multiple of it. */
  readonly unitBytes: number;
}

/** A segment's byte ranges, checked against both LUs; the plan, or the refusal. */
function planSegment(segment: Segment, source: CopyTarget, destination: CopyTarget): PlannedSegment | Sense {
  const countBlockSize = segment.destinationCount ? destination.blockSizeBytes : source.blockSizeBytes;
  const bytes = segment.blocks * countBlockSize;
  if (bytes > COPY_LIMITS.segmentBytesMax) return invalidFieldInParameterList(segment.offset + 10, 7);
  if (bytes % source.blockSizeBytes !== 0 || bytes % destination.blockSizeBytes !== 0) {
    return COPY_ABORTED(Asc.UNEXPECTED_INEXACT_SEGMENT);
  }
  const sourceBlocks = BigInt(bytes / source.blockSizeBytes);
  const destinationBlocks = BigInt(bytes / destination.blockSizeBytes);
  if (
    segment.sourceLba + sourceBlocks > source.blockCount ||
    segment.destinationLba + destinationBlocks > destination.blockCount
  ) {
    return COPY_ABORTED(Asc.COPY_TARGET_DEVICE_NOT_REACHABLE);
  }
  const gcd = greatestCommonDivisor(source.blockSizeBytes, destination.blockSizeBytes);
  return {
    source,
    destination,
    sourceByte: Number(segment.sourceLba) * source.blockSizeBytes,
    destinationByte: Number(segment.destinationLba) * destination.blockSizeBytes,
    bytes,
    unitBytes: (source.blockSizeBytes / gcd) * destination.blockSizeBytes,
  };
}

/** Moves one segment piece by piece; undefined when done, else the answer that ended it. */
async function copySegment(
  context: CommandContext,
  plan: PlannedSegment,
  segmentIndex: number,
  moved: (bytes: number) => void,
): Promise<ScsiResult | undefined> {
  const { source, destination } = plan;
  const pieceBytes = Math.max(plan.unitBytes, Math.floor(PIECE_BYTES / plan.unitBytes) * plan.unitBytes);
  const pieces: number[] = [];
  for (let offset = 0; offset < plan.bytes; offset += pieceBytes) pieces.push(offset);
  // memmove: within one LU, a destination above an overlapping source is copied from the end.
  if (
    source.peer === destination.peer &&
    plan.destinationByte > plan.sourceByte &&
    plan.destinationByte < plan.sourceByte + plan.bytes
  ) {
    pieces.reverse();
  }
  for (const offset of pieces) {
    if (context.command.signal?.aborted === true) return { status: ScsiStatus.TASK_ABORTED };
    const length = Math.min(pieceBytes, plan.bytes - offset);
    const read = await source.peer.execute(
      peerCommand(
        context,
        read16(BigInt((plan.sourceByte + offset) / source.blockSizeBytes), length / source.blockSizeBytes),
        Buffer.alloc(0),
        length,
      ),
    );
    if (read.status !== ScsiStatus.GOOD) return peerFailure(read, segmentIndex);
    if (read.dataIn === undefined || read.dataIn.length !== length) {
      return checkCondition(COPY_ABORTED(Asc.THIRD_PARTY_DEVICE_FAILURE, { commandSpecific: segmentIndex }));
    }
    const written = await destination.peer.execute(
      peerCommand(
        context,
        write16(
          BigInt((plan.destinationByte + offset) / destination.blockSizeBytes),
          length / destination.blockSizeBytes,
        ),
        read.dataIn,
        length,
      ),
    );
    if (written.status !== ScsiStatus.GOOD) return peerFailure(written, segmentIndex);
    moved(length);
  }
  return undefined;
}

export async function extendedCopy(context: CommandContext): Promise<ScsiResult> {
  const { cdb, lu, command, nexus } = context;
  const listLength = readUint32(cdb, 10);
  if (listLength === 0) return good();
  if (listLength < HEADER_BYTES || command.dataOut.length < listLength) {
    return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  }
  const parsed = parseExtendedCopyList(command.dataOut.subarray(0, listLength));
  if ('key' in parsed) return checkCondition(parsed);
  const status = lu.copies.begin(nexus, parsed.listId, parsed.hold);
  if (status === 'in-use') return checkCondition(illegalRequest(Asc.OPERATION_IN_PROGRESS));
  if (status === 'busy') return { status: ScsiStatus.BUSY };
  let ok = false;
  try {
    const result = await runCopy(context, parsed, status);
    ok = result.status === ScsiStatus.GOOD;
    return result;
  } finally {
    lu.copies.end(nexus, parsed.listId, status, ok);
    lu.eventLog.append(lu.actor, 'lu.extended_copy', {
      nexus: nexus.id,
      segments: parsed.segments.length,
      segmentsProcessed: status.segmentsProcessed,
      bytes: status.transferredBytes,
      ok,
    });
  }
}

async function runCopy(context: CommandContext, parsed: ParsedList, status: CopyStatus): Promise<ScsiResult> {
  // Resolve only the CSCD descriptors some segment uses, each once.
  const targets = new Map<number, CopyTarget>();
  for (const segment of parsed.segments) {
    for (const index of [segment.sourceIndex, segment.destinationIndex]) {
      if (targets.has(index)) continue;
      const target = await resolveCscd(context, parsed.cscds[index]!);
      if ('status' in target) return target;
      targets.set(index, target);
    }
  }
  const plans: PlannedSegment[] = [];
  for (const segment of parsed.segments) {
    const plan = planSegment(
      segment,
      targets.get(segment.sourceIndex)!,
      targets.get(segment.destinationIndex)!,
    );
    if ('key' in plan) return checkCondition(plan);
    plans.push(plan);
  }
  for (const [index, plan] of plans.entries()) {
    const stopped = await copySegment(context, plan, index, (bytes) => {
      status.transferredBytes += bytes;
    });
    if (stopped !== undefined) return stopped;
    status.segmentsProcessed = index + 1;
  }
  return good();
}

export function receiveCopyResults(context: CommandContext): ScsiResult {
  const { cdb, lu, nexus } = context;
  const allocationLength = readUint32(cdb, 10);
  if ((cdb[1]! & 0x1f) === 0x03) return good(truncate(operatingParameters(lu), allocationLength));
  const status = lu.copies.status(nexus, cdb[2]!);
  if (status === undefined) return checkCondition(invalidFieldInCdb(2, 7));
  const data = Buffer.alloc(12);
  data.writeUInt32BE(data.length - 4, 0); // AVAILABLE DATA
  data[4] = status.status; // HDD 0, COPY MANAGER STATUS
  data.writeUInt16BE(Math.min(status.segmentsProcessed, 0xffff), 5);
  data[7] = 0x00; // TRANSFER COUNT UNITS: bytes
  data.writeUInt32BE(Math.min(status.transferredBytes, 0xffffffff), 8);
  return good(truncate(data, allocationLength));
}

/** OPERATING PARAMETERS parameter data (SPC-4 RECEIVE COPY RESULTS, LID1). */
export function operatingParameters(lu: LuRuntime): Buffer {
  const implemented = [DescriptorType.BLOCK_TO_BLOCK, DescriptorType.IDENTIFICATION];
  const data = Buffer.alloc(44 + implemented.length);
  data.writeUInt32BE(data.length - 4, 0); // AVAILABLE DATA
  data[4] = 0x01; // SNLID: LIST ID USAGE 11b supported
  data.writeUInt16BE(COPY_LIMITS.cscdDescriptorsMax, 8);
  data.writeUInt16BE(COPY_LIMITS.segmentDescriptorsMax, 10);
  data.writeUInt32BE(DESCRIPTOR_LIST_BYTES_MAX, 12);
  data.writeUInt32BE(COPY_LIMITS.segmentBytesMax, 16); // MAXIMUM SEGMENT LENGTH
  data.writeUInt32BE(0, 20); // MAXIMUM INLINE DATA LENGTH
  data.writeUInt32BE(0, 24); // HELD DATA LIMIT
  data.writeUInt32BE(0, 28); // MAXIMUM STREAM DEVICE TRANSFER SIZE
  data.writeUInt16BE(COPY_LIMITS.concurrentCopiesMax, 34); // TOTAL CONCURRENT COPIES
  data[36] = COPY_LIMITS.concurrentCopiesMax; // MAXIMUM CONCURRENT COPIES
  data[37] = Math.log2(lu.geometry.blockSizeBytes); // DATA SEGMENT GRANULARITY
  data[38] = 0; // INLINE DATA GRANULARITY
  data[39] = 0; // HELD DATA GRANULARITY
  data[43] = implemented.length; // IMPLEMENTED DESCRIPTOR LIST LENGTH
  implemented.forEach((code, index) => {
    data[44 + index] = code;
  });
  return data;
}
