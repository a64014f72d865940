/**
 * The requests the block backend sends, built as tgt's bs_sheepdog builds them (protocol doc §9,
 * example frames in §2.8), with the codec's header builders. Pure: headers and payloads only.
 *
 * - proto_ver 1 on every request (tgt and qemu send 1; sheep accepts 0..2 on public opcodes).
 *   tgt forgets to set it on RELEASE_VDI and sends 0; we send 1 there too.
 * - SD_FLAG_CMD_TGT on every object read and write, so sheep runs the coherence checks (§8.3);
 *   SD_FLAG_CMD_CACHE on data writes, as tgt does (ignored by sheep >= 1.0).
 * - The refresh read is exactly offset 0, length 4,198,968 of the inode: only that read
 *   re-validates an INVALIDATED participant.
 * - The probe reads snap_ctime (8 bytes at offset 520) of the working VDI's inode with the TGT
 *   flag. Like tgt's 1-byte probe it is not a refresh read, so an INVALIDATED participant gets
 *   INODE_INVALIDATED; unlike it, the answer also says whether the VDI became a snapshot.
 */
import {
  LockType,
  SD_CLIENT_PROTO_VER,
  SD_INODE_DATA_END,
  SD_MAX_VDI_LEN,
  SD_MAX_VDI_TAG_LEN,
  SdFlag,
  SdOp,
} from '../wire/constants.js';
import { objRequest, type RequestHeader, vdiRequest } from '../wire/header.js';
import { dataVidOffset, vidToDataOid, vidToVdiOid } from '../wire/oid.js';
import { FixedWriter } from '../wire/writer.js';

const PROTO_VER = SD_CLIENT_PROTO_VER;
/** offsetof(struct sd_inode, snap_ctime); != 0 means the VDI is a snapshot. */
export const PROBE_OFFSET = 520;
export const PROBE_LENGTH_BYTES = 8;

/** name[256] + tag[256] (empty tag): what tgt's find_vdi_name sends with LOCK_VDI. */
export function vdiNamePayload(name: string): Buffer {
  return new FixedWriter(SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN).fixedString(name, SD_MAX_VDI_LEN).finish();
}

/** LOCK_VDI type SHARED by name: join the VDI's participants and learn the working vid. */
export function lockSharedRequest(): RequestHeader {
  return vdiRequest({
    opcode: SdOp.LOCK_VDI,
    protoVer: PROTO_VER,
    flags: SdFlag.WRITE,
    dataLength: SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN,
    type: LockType.SHARED,
  });
}

/** GET_VDI_INFO by name (the working VDI): the vid without locking. */
export function getVdiInfoRequest(): RequestHeader {
  return vdiRequest({
    opcode: SdOp.GET_VDI_INFO,
    protoVer: PROTO_VER,
    flags: SdFlag.WRITE,
    dataLength: SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN,
  });
}

/** RELEASE_VDI type SHARED of `vid` (base_vdi_id carries the vid). */
export function releaseSharedRequest(vid: number): RequestHeader {
  return vdiRequest({ opcode: SdOp.RELEASE_VDI, protoVer: PROTO_VER, baseVdiId: vid, type: LockType.SHARED });
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

/** The coherence probe of the working VDI (see the file comment). */
export function probeRequest(vid: number): RequestHeader {
  return objRequest({
    opcode: SdOp.READ_OBJ,
    protoVer: PROTO_VER,
    flags: SdFlag.TGT,
    oid: vidToVdiOid(vid),
    offset: PROBE_OFFSET,
    dataLength: PROBE_LENGTH_BYTES,
  });
}

export interface DataRange {
  /** The data object's index. */
  readonly idx: number;
  /** Byte offset inside the object. */
  readonly offset: number;
  readonly lengthBytes: number;
}

/** READ_OBJ of data object `idx` owned by `ownerVid` (ours or an ancestor snapshot's). */
export function readDataRequest(ownerVid: number, range: DataRange): RequestHeader {
  return objRequest({
    opcode: SdOp.READ_OBJ,
    protoVer: PROTO_VER,
    flags: SdFlag.TGT,
    oid: vidToDataOid(ownerVid, range.idx),
    offset: range.offset,
    dataLength: range.lengthBytes,
  });
}

/** WRITE_OBJ into our own existing data object. */
export function writeDataRequest(vid: number, range: DataRange, copies: number): RequestHeader {
  return objRequest({
    opcode: SdOp.WRITE_OBJ,
    protoVer: PROTO_VER,
    flags: SdFlag.WRITE | SdFlag.CACHE | SdFlag.TGT,
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
): RequestHeader {
  const cow = cowFromVid !== 0;
  return objRequest({
    opcode: SdOp.CREATE_AND_WRITE_OBJ,
    protoVer: PROTO_VER,
    flags: SdFlag.WRITE | SdFlag.CACHE | SdFlag.TGT | (cow ? SdFlag.COW : 0),
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
): RequestHeader {
  return objRequest({
    opcode: SdOp.WRITE_OBJ,
    protoVer: PROTO_VER,
    flags: SdFlag.WRITE | SdFlag.TGT,
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
