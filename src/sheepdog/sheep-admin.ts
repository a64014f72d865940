/**
 * The operations `dog` performs, as small async functions over a SheepConnection, plus the
 * composite sequences dog runs for `vdi snapshot`, `vdi delete` and `vdi list` (protocol doc
 * section 3.3, "Observed dog op sequences"). Reading and writing a VDI's bytes is not here: that
 * goes through the one IO planner the target uses too (client/lockless-vdi.ts,
 * client/vdi-stream.ts), and before a lock-less write through lockless-write-guard.ts.
 *
 * Rules:
 * - proto_ver is what dog's sd_init_req sets: 0x02 on public opcodes, SD_SHEEP_PROTO_VER (0x0a)
 *   on internal ones (section 1.4).
 * - Sizes dog uses are kept: names are name[256] (+ tag[256]); NEW_VDI carries exactly 256
 *   bytes; a full inode read is 12,587,576 bytes; READ_VDIS / READ_DEL_VDIS read 2 MiB bitmaps;
 *   GET_VDI_COPIES starts at 512 records and doubles on BUFFER_SMALL.
 * - Only flat VDIs (store_policy 0) are listed with usage: their data_vdi_id[2^20] caps them at
 *   2^20 objects (4 TiB with 4 MiB objects). Creating a flat VDI above that is refused here, as
 *   dog refuses it, because the objects past 2^20 could never be addressed.
 * - Sheep's result codes surface as SheepResultError (with what we were doing); mistakes the
 *   caller can fix before anything is sent surface as SheepAdminError with a stable code.
 */
import { assert } from '../core/assert.js';
import { forEachOrdered } from './ordered-window.js';
import { SheepAdminError } from './sheep-admin-error.js';
import { type SheepConnection, SheepResultError } from './sheep-connection.js';
import {
  isInternalOpcode,
  LockType,
  SD_INODE_DATA_INDEX,
  SD_INODE_HEADER_SIZE,
  SD_INODE_SIZE,
  SD_MAX_BLOCK_SIZE_SHIFT,
  SD_MAX_VDI_LEN,
  SD_MAX_VDI_TAG_LEN,
  SD_MIN_BLOCK_SIZE_SHIFT,
  SD_PROTO_VER,
  SD_SHEEP_PROTO_VER,
  SD_VDI_BITMAP_SIZE,
  SD_VDI_STATE_SIZE,
  SdFlag,
  SdOp,
  SdRes,
} from './wire/constants.js';
import {
  objRequest,
  plainRequest,
  type RequestHeader,
  type ResponseArgs,
  vdiRequest,
} from './wire/header.js';
import { decodeInodeHeader, type InodeHeader, isSnapshot, readDataVdiId } from './wire/inode.js';
import { dataVidOffset, vidToVdiOid } from './wire/oid.js';
import { decodeVdiStateList, type VdiState } from './wire/vdi-state.js';
import { FixedWriter, fixedStringFits } from './wire/writer.js';

export { SheepAdminError, type SheepAdminErrorCode } from './sheep-admin-error.js';
// Byte-range IO lives with the one IO planner; re-exported for callers of the old functions.
export { type ReadVdiOptions, readVdi, readVdiBytes, type WriteVdiOptions, writeVdi } from './vdi-io.js';

/** Inode reads kept in flight by `vdi list`. */
export const LIST_WINDOW_MAX_DEFAULT = 16;
/** dog zeroes data_vdi_id[] on delete in batches of this many non-zero entries. */
export const DELETE_BATCH_ENTRIES = 128;
/** dog's first GET_VDI_COPIES buffer: 512 records. */
export const VDI_COPIES_RECORDS_INITIAL = 512;
/** dog's `vdi list` inode read: the header plus the 8-byte B-tree index header. */
export const INODE_LIST_READ_BYTES = SD_INODE_HEADER_SIZE + 8;
const TAG_OFFSET = 256;

/** dog's sd_init_req: 0x02 on public opcodes, 0x0a on internal ones. */
export function dogProtoVer(opcode: number): number {
  return isInternalOpcode(opcode) ? SD_SHEEP_PROTO_VER : SD_PROTO_VER;
}

/** Which VDI: by name, and optionally one of its snapshots by tag or snapshot id. */
export interface VdiTarget {
  readonly name: string;
  readonly tag?: string;
  /** 0 or undefined = the current (working) VDI. */
  readonly snapid?: number;
}

export interface VdiInfo {
  readonly vid: number;
  readonly copies: number;
  readonly blockSizeShift: number;
}

export interface ClusterDefault {
  readonly nrCopies: number;
  readonly copyPolicy: number;
  readonly blockSizeShift: number;
}

// ---- payload helpers ---------------------------------------------------------------------------

function checkName(name: string): void {
  if (name.length === 0 || !fixedStringFits(name, SD_MAX_VDI_LEN)) {
    throw new SheepAdminError(
      'BAD_NAME',
      `VDI name ${JSON.stringify(name)} is not usable: give 1 to ${SD_MAX_VDI_LEN - 1} bytes of UTF-8 without NUL`,
    );
  }
}

function checkTag(tag: string): void {
  if (!fixedStringFits(tag, SD_MAX_VDI_TAG_LEN)) {
    throw new SheepAdminError(
      'BAD_TAG',
      `snapshot tag ${JSON.stringify(tag)} is not usable: give at most ${SD_MAX_VDI_TAG_LEN - 1} bytes of UTF-8 without NUL`,
    );
  }
}

/** name[256] + tag[256], as dog sends GET_VDI_INFO, LOCK_VDI and DEL_VDI. */
function nameTagPayload(name: string, tag = ''): Buffer {
  checkName(name);
  checkTag(tag);
  return new FixedWriter(SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN)
    .fixedString(name, SD_MAX_VDI_LEN)
    .fixedString(tag, SD_MAX_VDI_TAG_LEN)
    .finish();
}

function vdiArgs(args: ResponseArgs, opcode: number): VdiInfo {
  assert(args.kind === 'vdi', `a ${opcode} response decodes with vdi args`);
  return { vid: args.vdiId, copies: args.copies, blockSizeShift: args.blockSizeShift };
}

function describeTarget(target: VdiTarget): string {
  if (target.tag) return `VDI "${target.name}" snapshot tag "${target.tag}"`;
  if (target.snapid) return `VDI "${target.name}" snapshot ${target.snapid}`;
  return `VDI "${target.name}"`;
}

function hex(vid: number): string {
  return `0x${vid.toString(16)}`;
}

// ---- single requests ---------------------------------------------------------------------------

export async function getClusterDefault(conn: SheepConnection): Promise<ClusterDefault> {
  const opcode = SdOp.GET_CLUSTER_DEFAULT;
  const { header } = await conn.requestOk(
    plainRequest({ opcode, protoVer: dogProtoVer(opcode) }),
    undefined,
    {
      context: 'read the cluster defaults',
    },
  );
  assert(header.args.kind === 'clusterDefault', 'GET_CLUSTER_DEFAULT decodes with clusterDefault args');
  const { nrCopies, copyPolicy, blockSizeShift } = header.args;
  return { nrCopies, copyPolicy, blockSizeShift };
}

export interface NewVdiOptions {
  readonly name: string;
  readonly sizeBytes: number | bigint;
  /** 0 / undefined = cluster default. */
  readonly copies?: number;
  readonly copyPolicy?: number;
  /** 0 / undefined = cluster default. */
  readonly blockSizeShift?: number;
  /** != 0 makes a snapshot of `baseVdiId` (which must be the working VDI of `name`). */
  readonly snapid?: number;
  readonly baseVdiId?: number;
  /** 0 = flat (default), 1 = B-tree hyper volume. */
  readonly storePolicy?: number;
}

/**
 * NEW_VDI. For a flat VDI the size is checked against 2^20 objects of the VDI's object size
 * first (asking sheep for its default block_size_shift when none is given, as dog does).
 */
export async function newVdi(conn: SheepConnection, options: NewVdiOptions): Promise<VdiInfo> {
  checkName(options.name);
  const sizeBytes = BigInt(options.sizeBytes);
  const storePolicy = options.storePolicy ?? 0;
  const requestedShift = options.blockSizeShift ?? 0;
  if (
    requestedShift !== 0 &&
    (requestedShift < SD_MIN_BLOCK_SIZE_SHIFT || requestedShift > SD_MAX_BLOCK_SIZE_SHIFT)
  ) {
    throw new SheepAdminError(
      'BAD_BLOCK_SIZE_SHIFT',
      `block_size_shift ${requestedShift} is out of range; use ${SD_MIN_BLOCK_SIZE_SHIFT}..${SD_MAX_BLOCK_SIZE_SHIFT} (22 = 4 MiB objects)`,
    );
  }
  if (storePolicy === 0) {
    const shift = requestedShift !== 0 ? requestedShift : (await getClusterDefault(conn)).blockSizeShift;
    const maxBytes = BigInt(SD_INODE_DATA_INDEX) << BigInt(shift);
    if (sizeBytes > maxBytes) {
      throw new SheepAdminError(
        'VDI_TOO_LARGE',
        `VDI "${options.name}" of ${sizeBytes} bytes is too large: a flat inode maps at most 2^20 objects of ` +
          `${2 ** shift} bytes (${maxBytes} bytes); use a larger block_size_shift (e.g. -z 23 for 8 TiB) or a smaller size`,
      );
    }
  }
  const opcode = SdOp.NEW_VDI;
  const payload = new FixedWriter(SD_MAX_VDI_LEN).fixedString(options.name, SD_MAX_VDI_LEN).finish();
  const header = vdiRequest({
    opcode,
    protoVer: dogProtoVer(opcode),
    flags: SdFlag.WRITE,
    dataLength: payload.length,
    vdiSize: sizeBytes,
    baseVdiId: options.baseVdiId ?? 0,
    copies: options.copies ?? 0,
    copyPolicy: options.copyPolicy ?? 0,
    storePolicy,
    blockSizeShift: requestedShift,
    snapid: options.snapid ?? 0,
  });
  const response = await conn.requestOk(header, payload, { context: `create VDI "${options.name}"` });
  return vdiArgs(response.header.args, opcode);
}

async function nameLookup(
  conn: SheepConnection,
  opcode: number,
  target: VdiTarget,
  fields: { flags?: number; type?: number; okResults?: readonly number[] },
  context: string,
): Promise<{ result: number; info: VdiInfo }> {
  const payload = nameTagPayload(target.name, target.tag);
  const header = vdiRequest({
    opcode,
    protoVer: dogProtoVer(opcode),
    flags: SdFlag.WRITE | (fields.flags ?? 0),
    dataLength: payload.length,
    snapid: target.snapid ?? 0,
    type: fields.type ?? 0,
  });
  const response = await conn.requestOk(header, payload, { context, okResults: fields.okResults });
  return { result: response.header.result, info: vdiArgs(response.header.args, opcode) };
}

/** GET_VDI_INFO: name (+ tag or snapid) -> vid. NO_VDI / NO_TAG reject as SheepResultError. */
export async function getVdiInfo(conn: SheepConnection, target: VdiTarget): Promise<VdiInfo> {
  const { info } = await nameLookup(conn, SdOp.GET_VDI_INFO, target, {}, `look up ${describeTarget(target)}`);
  return info;
}

/** LOCK_VDI (name + tag, 512 bytes) of the given LockType; answers like GET_VDI_INFO. */
export async function lockVdi(
  conn: SheepConnection,
  target: VdiTarget & { readonly type: number },
): Promise<VdiInfo> {
  const { info } = await nameLookup(
    conn,
    SdOp.LOCK_VDI,
    target,
    { type: target.type },
    `lock ${describeTarget(target)} (${target.type === LockType.SHARED ? 'shared' : 'normal'})`,
  );
  return info;
}

/** RELEASE_VDI of `vid` (base_vdi_id) and LockType; removes the lock of the node we talk to. */
export async function releaseVdi(
  conn: SheepConnection,
  options: { vid: number; type: number },
): Promise<void> {
  const opcode = SdOp.RELEASE_VDI;
  await conn.requestOk(
    vdiRequest({ opcode, protoVer: dogProtoVer(opcode), baseVdiId: options.vid, type: options.type }),
    undefined,
    { context: `release the lock on vid ${hex(options.vid)}`, okResults: [SdRes.VDI_NOT_LOCKED] },
  );
}

/** DEL_VDI (name + tag, 512 bytes). Callers normally want deleteVdi(), which clears data first. */
export async function delVdi(conn: SheepConnection, target: VdiTarget): Promise<void> {
  await nameLookup(conn, SdOp.DEL_VDI, target, {}, `delete ${describeTarget(target)}`);
}

export interface ReadObjectOptions {
  readonly oid: bigint;
  readonly offset?: number;
  readonly lengthBytes: number;
  /** Extra flags (DIRECT, TGT). */
  readonly flags?: number;
  readonly context?: string;
}

/**
 * READ_OBJ. Returns exactly `lengthBytes` bytes: sheep sends that much on success, and a
 * shorter answer (allowed by section 1.6) is zero-filled at the end.
 */
export async function readObject(conn: SheepConnection, options: ReadObjectOptions): Promise<Buffer> {
  const opcode = SdOp.READ_OBJ;
  const { payload } = await conn.requestOk(
    objRequest({
      opcode,
      protoVer: dogProtoVer(opcode),
      flags: options.flags ?? 0,
      dataLength: options.lengthBytes,
      oid: options.oid,
      offset: options.offset ?? 0,
    }),
    undefined,
    { context: options.context ?? `read object ${options.oid.toString(16).padStart(16, '0')}` },
  );
  if (payload.length === options.lengthBytes) return payload;
  const out = Buffer.alloc(options.lengthBytes);
  payload.copy(out);
  return out;
}

export interface WriteObjectOptions {
  readonly oid: bigint;
  readonly offset?: number;
  readonly data: Buffer;
  /** Extra flags besides WRITE (DIRECT, CACHE, TGT). */
  readonly flags?: number;
  readonly copies?: number;
  readonly context?: string;
}

/** WRITE_OBJ into an existing object. */
export async function writeObject(conn: SheepConnection, options: WriteObjectOptions): Promise<void> {
  await sendWrite(conn, SdOp.WRITE_OBJ, options, 0n);
}

/** CREATE_AND_WRITE_OBJ; with `cowOid` the COW flag is set and the rest comes from that object. */
export async function createAndWriteObject(
  conn: SheepConnection,
  options: WriteObjectOptions & { readonly cowOid?: bigint },
): Promise<void> {
  await sendWrite(conn, SdOp.CREATE_AND_WRITE_OBJ, options, options.cowOid ?? 0n);
}

async function sendWrite(conn: SheepConnection, opcode: number, options: WriteObjectOptions, cowOid: bigint) {
  const header: RequestHeader = objRequest({
    opcode,
    protoVer: dogProtoVer(opcode),
    flags: SdFlag.WRITE | (cowOid !== 0n ? SdFlag.COW : 0) | (options.flags ?? 0),
    dataLength: options.data.length,
    oid: options.oid,
    cowOid,
    copies: options.copies ?? 0,
    offset: options.offset ?? 0,
  });
  const verb = opcode === SdOp.CREATE_AND_WRITE_OBJ ? 'create' : 'write';
  await conn.requestOk(header, options.data, {
    context: options.context ?? `${verb} object ${options.oid.toString(16).padStart(16, '0')}`,
  });
}

function decodeHeaderOrThrow(bytes: Buffer, vid: number): InodeHeader {
  const decoded = decodeInodeHeader(bytes);
  if (!decoded.ok) {
    throw new SheepAdminError(
      'BAD_REPLY',
      `inode of vid ${hex(vid)} is unreadable: ${decoded.error.message}`,
    );
  }
  return decoded.value;
}

/** READ_OBJ of the 4,664-byte inode header (flags DIRECT, as dog). */
export async function readInodeHeader(conn: SheepConnection, vid: number): Promise<InodeHeader> {
  const bytes = await readObject(conn, {
    oid: vidToVdiOid(vid),
    lengthBytes: SD_INODE_HEADER_SIZE,
    flags: SdFlag.DIRECT,
    context: `read the inode header of vid ${hex(vid)}`,
  });
  return decodeHeaderOrThrow(bytes, vid);
}

export interface Inode {
  readonly header: InodeHeader;
  /** The whole 12,587,576-byte object; data_vdi_id[] is read with readDataVdiId(). */
  readonly bytes: Buffer;
}

/** READ_OBJ of the whole inode, 12,587,576 bytes as dog reads it (not tgt's refresh length). */
export async function readInode(conn: SheepConnection, vid: number): Promise<Inode> {
  const bytes = await readObject(conn, {
    oid: vidToVdiOid(vid),
    lengthBytes: SD_INODE_SIZE,
    flags: SdFlag.DIRECT,
    context: `read the inode of vid ${hex(vid)}`,
  });
  return { header: decodeHeaderOrThrow(bytes, vid), bytes };
}

/** READ_VDIS: the 2 MiB in-use bitmap (bit vid = byte vid>>3, bit vid&7). */
export async function readVdis(conn: SheepConnection): Promise<Buffer> {
  const opcode = SdOp.READ_VDIS;
  return readBitmap(
    conn,
    vdiRequest({ opcode, protoVer: dogProtoVer(opcode), dataLength: SD_VDI_BITMAP_SIZE }),
  );
}

/** READ_DEL_VDIS (internal 0xC9, proto_ver 0x0a): the 2 MiB deleted bitmap. */
export async function readDelVdis(conn: SheepConnection): Promise<Buffer> {
  const opcode = SdOp.READ_DEL_VDIS;
  return readBitmap(
    conn,
    plainRequest({ opcode, protoVer: dogProtoVer(opcode), dataLength: SD_VDI_BITMAP_SIZE }),
  );
}

async function readBitmap(conn: SheepConnection, header: RequestHeader): Promise<Buffer> {
  const { payload } = await conn.requestOk(header, undefined, { context: 'read the VDI bitmap' });
  if (payload.length === SD_VDI_BITMAP_SIZE) return payload;
  const out = Buffer.alloc(SD_VDI_BITMAP_SIZE);
  payload.copy(out);
  return out;
}

/** The vids whose bit is set, ascending. */
export function vidsInBitmap(bitmap: Buffer): number[] {
  const vids: number[] = [];
  for (let byteIndex = 0; byteIndex < bitmap.length; byteIndex++) {
    const byte = bitmap[byteIndex]!;
    if (byte === 0) continue;
    for (let bit = 0; bit < 8; bit++) {
      if ((byte & (1 << bit)) !== 0) vids.push(byteIndex * 8 + bit);
    }
  }
  return vids;
}

function bitmapHas(bitmap: Buffer, vid: number): boolean {
  return ((bitmap[vid >> 3] ?? 0) & (1 << (vid & 7))) !== 0;
}

/** GET_VDI_COPIES (internal 0xAB): every VDI's lock and participant state. */
export async function getVdiCopies(conn: SheepConnection): Promise<VdiState[]> {
  const opcode = SdOp.GET_VDI_COPIES;
  let lengthBytes = VDI_COPIES_RECORDS_INITIAL * SD_VDI_STATE_SIZE;
  // dog doubles without limit; we stop where the connection's payload limit would be crossed.
  for (;;) {
    const { header, payload } = await conn.requestOk(
      plainRequest({ opcode, protoVer: dogProtoVer(opcode), dataLength: lengthBytes }),
      undefined,
      { context: 'read the VDI lock states', okResults: [SdRes.BUFFER_SMALL] },
    );
    if (header.result === SdRes.SUCCESS) {
      const states = decodeVdiStateList(payload);
      if (!states.ok)
        throw new SheepAdminError('BAD_REPLY', `GET_VDI_COPIES answer: ${states.error.message}`);
      return states.value;
    }
    if (lengthBytes * 2 > conn.payloadBytesMax) {
      throw new SheepResultError(
        header.result,
        opcode,
        conn.endpoint,
        `read the VDI lock states (${lengthBytes} bytes)`,
      );
    }
    lengthBytes *= 2;
  }
}

// ---- snapshot ----------------------------------------------------------------------------------

export interface SnapshotResult {
  /** The VDI that became the snapshot (the old working vid). */
  readonly snapshotVid: number;
  /** The new working VDI of the same name. */
  readonly workingVid: number;
}

/**
 * dog's `vdi snapshot -s TAG`: the tag must be new (GET_VDI_INFO(tag) -> NO_TAG), then the
 * working VDI's header is read, the tag is written into it (WRITE_OBJ, 256 bytes at 256), and
 * NEW_VDI(snapid=1, base=vid) turns it into a snapshot under a new working VDI. A numeric tag is
 * refused, because dog's `-s` reads numbers as snapshot ids.
 */
export async function snapshotVdi(
  conn: SheepConnection,
  options: { name: string; tag?: string },
): Promise<SnapshotResult> {
  const tag = options.tag ?? '';
  checkName(options.name);
  checkTag(tag);
  if (/^\d+$/.test(tag)) {
    throw new SheepAdminError(
      'BAD_TAG',
      `snapshot tag "${tag}" is a number, which -s reads as a snapshot id; use a name like "snap${tag}"`,
    );
  }
  if (tag !== '') {
    const probe = await nameLookup(
      conn,
      SdOp.GET_VDI_INFO,
      { name: options.name, tag },
      { okResults: [SdRes.NO_TAG] },
      `look up VDI "${options.name}" snapshot tag "${tag}"`,
    );
    if (probe.result === SdRes.SUCCESS) {
      throw new SheepAdminError(
        'TAG_EXISTS',
        `VDI "${options.name}" already has a snapshot tagged "${tag}" on ${conn.endpoint}; choose another tag`,
      );
    }
  }
  const { vid } = await getVdiInfo(conn, { name: options.name });
  const header = await readInodeHeader(conn, vid);
  if (isSnapshot(header)) {
    throw new SheepAdminError(
      'IS_SNAPSHOT',
      `vid ${hex(vid)} of VDI "${options.name}" is already a snapshot`,
    );
  }
  if (header.storePolicy !== 0) {
    throw new SheepAdminError(
      'HYPER_VOLUME',
      `VDI "${options.name}" is a hyper volume; snapshots of those are not supported (dog refuses too)`,
    );
  }
  await writeObject(conn, {
    oid: vidToVdiOid(vid),
    offset: TAG_OFFSET,
    data: new FixedWriter(SD_MAX_VDI_TAG_LEN).fixedString(tag, SD_MAX_VDI_TAG_LEN).finish(),
    copies: header.nrCopies,
    context: `write snapshot tag "${tag}" into the inode of vid ${hex(vid)}`,
  });
  const created = await newVdi(conn, {
    name: options.name,
    sizeBytes: header.vdiSize,
    baseVdiId: vid,
    snapid: 1,
    copies: header.nrCopies,
    copyPolicy: header.copyPolicy,
    storePolicy: header.storePolicy,
    blockSizeShift: header.blockSizeShift,
  });
  return { snapshotVid: vid, workingVid: created.vid };
}

// ---- delete ------------------------------------------------------------------------------------

/** Entries of data_vdi_id[] that can be in use: ceil(vdi_size / object size), at most 2^20. */
function dataObjectCount(header: InodeHeader): number {
  const shift = BigInt(header.blockSizeShift);
  const count = (header.vdiSize + (1n << shift) - 1n) >> shift;
  return Number(count > BigInt(SD_INODE_DATA_INDEX) ? BigInt(SD_INODE_DATA_INDEX) : count);
}

/**
 * dog's `vdi delete`: look the VDI up, read its whole inode, zero data_vdi_id[] with WRITE_OBJ
 * in batches (each covering up to 128 non-zero entries and the zeros between them; that is how
 * sheep learns to drop references), then DEL_VDI. Hyper volumes go straight to DEL_VDI.
 */
export async function deleteVdi(
  conn: SheepConnection,
  target: VdiTarget,
): Promise<{ vid: number; clearedEntries: number }> {
  const { vid } = await getVdiInfo(conn, target);
  const inode = await readInode(conn, vid);
  let clearedEntries = 0;
  if (inode.header.storePolicy === 0) {
    const count = dataObjectCount(inode.header);
    let idx = 0;
    while (idx < count) {
      while (idx < count && readDataVdiId(inode.bytes, idx) === 0) idx++;
      if (idx >= count) break;
      const startIdx = idx;
      let batchEntries = 0;
      while (idx < count && batchEntries < DELETE_BATCH_ENTRIES) {
        if (readDataVdiId(inode.bytes, idx) !== 0) batchEntries++;
        idx++;
      }
      await writeObject(conn, {
        oid: vidToVdiOid(vid),
        offset: dataVidOffset(startIdx),
        data: Buffer.alloc(4 * (idx - startIdx)),
        flags: SdFlag.DIRECT,
        copies: inode.header.nrCopies,
        context: `clear data_vdi_id[${startIdx}..${idx - 1}] of vid ${hex(vid)}`,
      });
      clearedEntries += batchEntries;
    }
  }
  await delVdi(conn, target);
  return { vid, clearedEntries };
}

// ---- list --------------------------------------------------------------------------------------

export interface VdiListEntry {
  readonly vid: number;
  readonly header: InodeHeader;
  readonly snapshot: boolean;
  /** A working VDI cloned from another's snapshot (snap_id 1 with a parent), dog's 'c'. */
  readonly clone: boolean;
  /** Bytes in objects this VDI owns; undefined when not computed (hyper volumes, usage off). */
  readonly usedBytes: number | undefined;
  /** Bytes in objects shared with (owned by) ancestors. */
  readonly sharedBytes: number | undefined;
}

/**
 * dog's `vdi list` data: READ_VDIS, READ_DEL_VDIS, then per in-use, undeleted vid a 4,672-byte
 * inode read and, with `usage`, a read of data_vdi_id[] for the VDI's object count. A sheep
 * that does not answer READ_DEL_VDIS is treated as having no deleted-bitmap (deleted inodes
 * still have an empty name and are skipped).
 */
export async function listVdis(
  conn: SheepConnection,
  options: { usage?: boolean; windowMax?: number } = {},
): Promise<VdiListEntry[]> {
  const inUse = await readVdis(conn);
  let deleted: Buffer | undefined;
  try {
    deleted = await readDelVdis(conn);
  } catch (error) {
    if (!(error instanceof SheepResultError)) throw error;
  }
  const vids = vidsInBitmap(inUse).filter((vid) => deleted === undefined || !bitmapHas(deleted, vid));
  const entries: VdiListEntry[] = [];
  await forEachOrdered(
    vids,
    options.windowMax ?? LIST_WINDOW_MAX_DEFAULT,
    (vid) => listEntry(conn, vid, options.usage ?? true),
    (entry) => {
      if (entry !== undefined) entries.push(entry);
    },
  );
  return entries;
}

async function listEntry(
  conn: SheepConnection,
  vid: number,
  usage: boolean,
): Promise<VdiListEntry | undefined> {
  const bytes = await readObject(conn, {
    oid: vidToVdiOid(vid),
    lengthBytes: INODE_LIST_READ_BYTES,
    flags: SdFlag.DIRECT,
    context: `read the inode header of vid ${hex(vid)}`,
  });
  const header = decodeHeaderOrThrow(bytes, vid);
  if (header.name === '') return undefined;
  const snapshot = isSnapshot(header);
  const clone = !snapshot && header.snapId === 1 && header.parentVdiId !== 0;
  const shift = header.blockSizeShift;
  if (
    !usage ||
    header.storePolicy !== 0 ||
    shift < SD_MIN_BLOCK_SIZE_SHIFT ||
    shift > SD_MAX_BLOCK_SIZE_SHIFT
  ) {
    return { vid, header, snapshot, clone, usedBytes: undefined, sharedBytes: undefined };
  }
  const count = dataObjectCount(header);
  let ownObjects = 0;
  let sharedObjects = 0;
  if (count > 0) {
    const table = await readObject(conn, {
      oid: vidToVdiOid(vid),
      offset: SD_INODE_HEADER_SIZE,
      lengthBytes: 4 * count,
      flags: SdFlag.DIRECT,
      context: `read data_vdi_id[] of vid ${hex(vid)}`,
    });
    for (let idx = 0; idx < count; idx++) {
      const owner = table.readUInt32LE(4 * idx);
      if (owner === vid) ownObjects++;
      else if (owner !== 0) sharedObjects++;
    }
  }
  const objectBytes = 2 ** shift;
  return {
    vid,
    header,
    snapshot,
    clone,
    usedBytes: ownObjects * objectBytes,
    sharedBytes: sharedObjects * objectBytes,
  };
}
