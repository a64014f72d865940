/**
 * The requests the block backend sends, built as tgt's bs_sheepdog builds them (protocol doc §9,
 * example frames in §2.8), with the codec's header builders. Pure: headers and payloads only.
 *
 * - proto_ver 1 on every public request (tgt and qemu send 1; sheep accepts 0..2 on public
 *   opcodes). tgt forgets to set it on RELEASE_VDI and sends 0; we send 1 there too.
 * - SD_FLAG_CMD_TGT on every object read and write of a client that holds the VDI's shared lock
 *   (`coherent`), so sheep runs the coherence checks (§8.3); SD_FLAG_CMD_CACHE on data writes,
 *   as tgt does (ignored by sheep >= 1.0).
 * - The refresh read is exactly offset 0, length 4,198,968 of the inode: only that read
 *   re-validates an INVALIDATED participant.
 * - The probe reads snap_ctime (8 bytes at offset 520) of the working VDI's inode with the TGT
 *   flag. Like tgt's 1-byte probe it is not a refresh read, so an INVALIDATED participant gets
 *   INODE_INVALIDATED; unlike it, the answer also says whether the VDI became a snapshot.
 * - LOCK_VDI and RELEASE_VDI carry the client's id in vdi_size (unused by both in sheep 1.0, so
 *   real sheep ignores it). Collie's store answers a shared LOCK from the client that already
 *   holds the node's participation SUCCESS, and ignores a RELEASE carrying another client's id.
 * - Allocation claims (sheep 1.0 only, allocation-claims.ts) are GET_VDI_ATTR requests, an
 *   internal op (proto_ver 0x0a) with the full 66,320-byte sheepdog_vdi_attr as payload, on the
 *   VDI by name with an empty tag and snapid 0. The claimant reads a holder's value (the attr
 *   object at offset 784) without the TGT flag: attr objects are not the inode's business.
 * - A lock-less client (not `coherent`: `collie vdi read/write`) holds no lock, so it must never
 *   act on the node's participant, which belongs to a target: no TGT flag anywhere and never the
 *   refresh read (it would VALIDATE a target's stale participant). It loads the inode with dog's
 *   full 12,587,576-byte read. `assertLockless` checks a header against both rules.
 */
import { assert } from '../../core/assert.js';
import type { SheepRequestHeader } from '../sheep-connection.js';
import {
  LockType,
  opcodeName,
  SD_ATTR_OBJ_SIZE,
  SD_CLIENT_PROTO_VER,
  SD_INODE_DATA_END,
  SD_INODE_SIZE,
  SD_MAX_VDI_LEN,
  SD_MAX_VDI_TAG_LEN,
  SD_SHEEP_PROTO_VER,
  SdFlag,
  SdOp,
  SdRes,
} from '../wire/constants.js';
import { objRequest, type RequestHeader, vdiRequest } from '../wire/header.js';
import { dataVidOffset, isVdiOid, vidToAttrOid, vidToDataOid, vidToVdiOid } from '../wire/oid.js';
import { encodeVdiAttr, VDI_ATTR_VALUE_OFFSET } from '../wire/vdi-attr.js';
import { FixedWriter } from '../wire/writer.js';

const PROTO_VER = SD_CLIENT_PROTO_VER;
/** offsetof(struct sd_inode, snap_ctime); != 0 means the VDI is a snapshot. */
export const PROBE_OFFSET = 520;
export const PROBE_LENGTH_BYTES = 8;

/** name[256] + tag[256]: what tgt's find_vdi_name sends with LOCK_VDI (tag empty there). */
export function vdiNamePayload(name: string, tag = ''): Buffer {
  return new FixedWriter(SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN)
    .fixedString(name, SD_MAX_VDI_LEN)
    .fixedString(tag, SD_MAX_VDI_TAG_LEN)
    .finish();
}

/**
 * LOCK_VDI type SHARED by name: join the VDI's participants and learn the working vid.
 * `clientId` goes into vdi_size (see the file comment); 0n sends what tgt sends.
 */
export function lockSharedRequest(clientId = 0n): RequestHeader {
  return vdiRequest({
    opcode: SdOp.LOCK_VDI,
    protoVer: PROTO_VER,
    flags: SdFlag.WRITE,
    dataLength: SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN,
    type: LockType.SHARED,
    vdiSize: clientId,
  });
}

/**
 * GET_VDI_INFO by name (payload vdiNamePayload(name, tag)): the vid without locking. With a tag
 * or a snapshot id it names that snapshot, else the working VDI.
 */
export function getVdiInfoRequest(snapid = 0): RequestHeader {
  return vdiRequest({
    opcode: SdOp.GET_VDI_INFO,
    protoVer: PROTO_VER,
    flags: SdFlag.WRITE,
    dataLength: SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN,
    snapid,
  });
}

/** RELEASE_VDI type SHARED of `vid` (base_vdi_id carries the vid), with the LOCK's client id. */
export function releaseSharedRequest(vid: number, clientId = 0n): RequestHeader {
  return vdiRequest({
    opcode: SdOp.RELEASE_VDI,
    protoVer: PROTO_VER,
    baseVdiId: vid,
    type: LockType.SHARED,
    vdiSize: clientId,
  });
}

/** The refresh read: the inode from offset 0 through data_vdi_id[], 4,198,968 bytes. */
export function refreshReadRequest(vid: number): RequestHeader {
  return objRequest({
    opcode: SdOp.READ_OBJ,
    protoVer: PROTO_VER,
    flags: SdFlag.TGT,
    oid: vidToVdiOid(vid),
    offset: 0,
    dataLength: SD_INODE_DATA_END,
  });
}

/**
 * The coherence probe of the working VDI (see the file comment). Not `coherent` (a lock-less
 * client checking snap_ctime after its inode update): the same read without the TGT flag, which
 * only says whether the VDI became a snapshot.
 */
export function probeRequest(vid: number, coherent = true): RequestHeader {
  return objRequest({
    opcode: SdOp.READ_OBJ,
    protoVer: PROTO_VER,
    flags: coherent ? SdFlag.TGT : 0,
    oid: vidToVdiOid(vid),
    offset: PROBE_OFFSET,
    dataLength: PROBE_LENGTH_BYTES,
  });
}

/**
 * The probe's answer as a result code: a snapshot (snap_ctime != 0), or a missing inode (the
 * VDI is mid-snapshot or gone), reads as READONLY: re-resolve the working VDI.
 */
export function probeResult(code: number, payload: Buffer): number {
  if (code === SdRes.NO_OBJ) return SdRes.READONLY;
  if (code !== SdRes.SUCCESS) return code;
  if (payload.length >= PROBE_LENGTH_BYTES && payload.readBigUInt64LE(0) !== 0n) return SdRes.READONLY;
  return code;
}

/**
 * A lock-less client's inode load: the whole 12,587,576-byte inode as dog reads it, without the
 * TGT flag. Its length is not the refresh read's, so it validates nobody.
 */
export function locklessInodeReadRequest(vid: number): RequestHeader {
  return objRequest({
    opcode: SdOp.READ_OBJ,
    protoVer: PROTO_VER,
    oid: vidToVdiOid(vid),
    offset: 0,
    dataLength: SD_INODE_SIZE,
  });
}

/** True for tgt's refresh read: a READ_OBJ of an inode at offset 0 for exactly 4,198,968 bytes. */
export function isRefreshRead(header: SheepRequestHeader): boolean {
  return (
    header.opcode === SdOp.READ_OBJ &&
    header.args.kind === 'obj' &&
    isVdiOid(header.args.oid) &&
    header.args.offset === 0 &&
    header.dataLength === SD_INODE_DATA_END
  );
}

/** The two rules of a lock-less client (see the file comment); a breach is Collie's bug. */
export function assertLockless(header: SheepRequestHeader): void {
  assert(
    (header.flags & SdFlag.TGT) === 0,
    `a lock-less client must not set SD_FLAG_CMD_TGT (${opcodeName(header.opcode)}): it would act on a target's participant`,
  );
  assert(
    !isRefreshRead(header),
    "a lock-less client must not send the refresh read: it would validate a target's participant",
  );
}

export interface DataRange {
  /** The data object's index. */
  readonly idx: number;
  /** Byte offset inside the object. */
  readonly offset: number;
  readonly lengthBytes: number;
}

/** TGT for a client in the coherence protocol (it holds the shared lock), none for a lock-less one. */
function tgtFlag(coherent: boolean): number {
  return coherent ? SdFlag.TGT : 0;
}

/** READ_OBJ of data object `idx` owned by `ownerVid` (ours or an ancestor snapshot's). */
export function readDataRequest(ownerVid: number, range: DataRange, coherent = true): RequestHeader {
  return objRequest({
    opcode: SdOp.READ_OBJ,
    protoVer: PROTO_VER,
    flags: tgtFlag(coherent),
    oid: vidToDataOid(ownerVid, range.idx),
    offset: range.offset,
    dataLength: range.lengthBytes,
  });
}

/** WRITE_OBJ into our own existing data object. */
export function writeDataRequest(
  vid: number,
  range: DataRange,
  copies: number,
  coherent = true,
): RequestHeader {
  return objRequest({
    opcode: SdOp.WRITE_OBJ,
    protoVer: PROTO_VER,
    flags: SdFlag.WRITE | SdFlag.CACHE | tgtFlag(coherent),
    oid: vidToDataOid(vid, range.idx),
    offset: range.offset,
    dataLength: range.lengthBytes,
    copies,
  });
}

/**
 * CREATE_AND_WRITE_OBJ of our data object `idx`; with `cowFromVid` (an ancestor owning it) the
 * COW flag is set and sheep fills the rest of the object from that ancestor's object.
 */
export function createDataRequest(
  vid: number,
  range: DataRange,
  copies: number,
  cowFromVid: number,
  coherent = true,
): RequestHeader {
  const cow = cowFromVid !== 0;
  return objRequest({
    opcode: SdOp.CREATE_AND_WRITE_OBJ,
    protoVer: PROTO_VER,
    flags: SdFlag.WRITE | SdFlag.CACHE | tgtFlag(coherent) | (cow ? SdFlag.COW : 0),
    oid: vidToDataOid(vid, range.idx),
    cowOid: cow ? vidToDataOid(cowFromVid, range.idx) : 0n,
    offset: range.offset,
    dataLength: range.lengthBytes,
    copies,
  });
}

/** WRITE_OBJ of data_vdi_id[minIdx..minIdx+count-1] into our inode (the partial inode update). */
export function inodeUpdateRequest(
  vid: number,
  minIdx: number,
  count: number,
  copies: number,
  coherent = true,
): RequestHeader {
  return objRequest({
    opcode: SdOp.WRITE_OBJ,
    protoVer: PROTO_VER,
    flags: SdFlag.WRITE | tgtFlag(coherent),
    oid: vidToVdiOid(vid),
    offset: dataVidOffset(minIdx),
    dataLength: 4 * count,
    copies,
  });
}

/** FLUSH_VDI of `vid` (SYNCHRONIZE CACHE). sheep 1.0 answers INVALID_PARMS; that counts as done. */
export function flushRequest(vid: number): RequestHeader {
  return objRequest({ opcode: SdOp.FLUSH_VDI, protoVer: PROTO_VER, oid: vidToVdiOid(vid) });
}

/**
 * GET_VDI_ATTR of the VDI named in the payload (vdiAttrPayload); `flags` adds SdFlag.CREAT,
 * EXCL or DEL (none: look the attribute up). Internal op: proto_ver 0x0a.
 */
export function vdiAttrRequest(flags = 0): RequestHeader {
  return vdiRequest({
    opcode: SdOp.GET_VDI_ATTR,
    protoVer: SD_SHEEP_PROTO_VER,
    flags: SdFlag.WRITE | flags,
    dataLength: SD_ATTR_OBJ_SIZE,
  });
}

/** The sheepdog_vdi_attr of attribute `key` of VDI `vdiName` (empty tag, snap_id 0). */
export function vdiAttrPayload(vdiName: string, key: string, value: Buffer = Buffer.alloc(0)): Buffer {
  return encodeVdiAttr({ name: vdiName, tag: '', ctime: 0n, snapId: 0, key, value });
}

/**
 * READ_OBJ of the first `lengthBytes` of an attribute's value: the attr object found by
 * GET_VDI_ATTR (`nameVid` and `attrId` from its answer), without the TGT flag.
 */
export function attrValueReadRequest(nameVid: number, attrId: number, lengthBytes: number): RequestHeader {
  return objRequest({
    opcode: SdOp.READ_OBJ,
    protoVer: PROTO_VER,
    oid: vidToAttrOid(nameVid, attrId),
    offset: VDI_ATTR_VALUE_OFFSET,
    dataLength: lengthBytes,
  });
}

/** Does data object `idx` of `vid` exist? One byte of it, read with the TGT flag (NO_OBJ: no). */
export function objectExistsRequest(vid: number, idx: number): RequestHeader {
  return objRequest({
    opcode: SdOp.READ_OBJ,
    protoVer: PROTO_VER,
    flags: SdFlag.TGT,
    oid: vidToDataOid(vid, idx),
    offset: 0,
    dataLength: 1,
  });
}
