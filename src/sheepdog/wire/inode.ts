/**
 * The sd_inode header (section 6, v0.9+/v1.0 layout) and the data_vdi_id[] array after it.
 *
 *   name[256]@0 tag[256]@256 create_time@512 snap_ctime@520 vm_clock_nsec@528 vdi_size@536
 *   vm_state_size@544 copy_policy@552 store_policy@553 nr_copies@554 block_size_shift@555
 *   snap_id@556 vdi_id@560 parent_vdi_id@564 btree_counter@568 (unused to 4664)
 *   data_vdi_id[2^20] u32 @4664, gref[2^20] @4,198,968, total 12,587,576.
 *
 * The header is SD_INODE_HEADER_SIZE (4664) bytes. sheep's name lookup reads only the first 568
 * bytes, so decoding accepts that much; `btreeCounter` is then reported as 0. Inode bytes come
 * from peers or disk, so a short buffer is a value (SD_ERR_SHORT_BUFFER), not an exception.
 * Times are `(seconds << 32) | nanoseconds`.
 */
import { assert } from '../../core/assert.js';
import {
  SD_INODE_DATA_INDEX,
  SD_INODE_HEADER_SIZE,
  SD_MAX_VDI_LEN,
  SD_MAX_VDI_TAG_LEN,
} from './constants.js';
import { type DecodeResult, decoded, shortBuffer } from './errors.js';
import { dataVidOffset } from './oid.js';
import { WireReader } from './reader.js';
import { FixedWriter } from './writer.js';

/** Bytes sheep reads to compare a VDI's name (up to, not including, btree_counter). */
export const INODE_LOOKUP_BYTES = 568;
const BTREE_COUNTER_OFFSET = 568;
const NAME_OFFSET = 0;
const TAG_OFFSET = 256;
const CREATE_TIME_OFFSET = 512;

export interface InodeHeader {
  readonly name: string;
  readonly tag: string;
  /** (sec << 32) | nsec. */
  readonly createTime: bigint;
  /** != 0: this VDI is a snapshot (read-only). */
  readonly snapCtime: bigint;
  readonly vmClockNsec: bigint;
  /** Bytes. */
  readonly vdiSize: bigint;
  /** Bytes. */
  readonly vmStateSize: bigint;
  readonly copyPolicy: number;
  /** 0 = flat data_vdi_id[], 1 = B-tree (hyper volume). */
  readonly storePolicy: number;
  readonly nrCopies: number;
  /** Object size = 1 << blockSizeShift. */
  readonly blockSizeShift: number;
  readonly snapId: number;
  readonly vdiId: number;
  readonly parentVdiId: number;
  readonly btreeCounter: number;
}

export function decodeInodeHeader(buf: Buffer): DecodeResult<InodeHeader> {
  if (buf.length < INODE_LOOKUP_BYTES) return shortBuffer('sd_inode header', INODE_LOOKUP_BYTES, buf.length);
  const r = new WireReader(buf);
  const name = r.seek(NAME_OFFSET).fixedString(SD_MAX_VDI_LEN);
  const tag = r.seek(TAG_OFFSET).fixedString(SD_MAX_VDI_TAG_LEN);
  r.seek(CREATE_TIME_OFFSET);
  const createTime = r.u64();
  const snapCtime = r.u64();
  const vmClockNsec = r.u64();
  const vdiSize = r.u64();
  const vmStateSize = r.u64();
  const copyPolicy = r.u8();
  const storePolicy = r.u8();
  const nrCopies = r.u8();
  const blockSizeShift = r.u8();
  const snapId = r.u32();
  const vdiId = r.u32();
  const parentVdiId = r.u32();
  const btreeCounter = buf.length >= BTREE_COUNTER_OFFSET + 4 ? r.u32() : 0;
  return decoded({
    name,
    tag,
    createTime,
    snapCtime,
    vmClockNsec,
    vdiSize,
    vmStateSize,
    copyPolicy,
    storePolicy,
    nrCopies,
    blockSizeShift,
    snapId,
    vdiId,
    parentVdiId,
    btreeCounter,
  });
}

/** The 4664-byte header, zero padded (the unused child_vdi_id area stays zero). */
export function encodeInodeHeader(h: InodeHeader): Buffer {
  const w = new FixedWriter(SD_INODE_HEADER_SIZE);
  w.seek(NAME_OFFSET).fixedString(h.name, SD_MAX_VDI_LEN);
  w.seek(TAG_OFFSET).fixedString(h.tag, SD_MAX_VDI_TAG_LEN);
  w.seek(CREATE_TIME_OFFSET).u64(h.createTime).u64(h.snapCtime).u64(h.vmClockNsec).u64(h.vdiSize);
  w.u64(h.vmStateSize).u8(h.copyPolicy).u8(h.storePolicy).u8(h.nrCopies).u8(h.blockSizeShift);
  w.u32(h.snapId).u32(h.vdiId).u32(h.parentVdiId).u32(h.btreeCounter);
  return w.finish();
}

function assertDataIndex(inodeBytes: Buffer, idx: number): number {
  assert(
    Number.isInteger(idx) && idx >= 0 && idx < SD_INODE_DATA_INDEX,
    `data index ${idx} is outside 0..2^20-1`,
  );
  const offset = dataVidOffset(idx);
  assert(
    offset + 4 <= inodeBytes.length,
    `data_vdi_id[${idx}] lies past the ${inodeBytes.length}-byte inode buffer (read the inode through 4,198,968)`,
  );
  return offset;
}

/** data_vdi_id[idx]: the vid owning data object idx, 0 = unallocated. */
export function readDataVdiId(inodeBytes: Buffer, idx: number): number {
  return inodeBytes.readUInt32LE(assertDataIndex(inodeBytes, idx));
}

/** Sets data_vdi_id[idx] = vid in place. */
export function writeDataVdiId(inodeBytes: Buffer, idx: number, vid: number): void {
  assert(Number.isInteger(vid) && vid >= 0 && vid <= 0xffffff, `vid ${vid} is not a 24-bit VDI id`);
  inodeBytes.writeUInt32LE(vid, assertDataIndex(inodeBytes, idx));
}

export function isSnapshot(h: InodeHeader): boolean {
  return h.snapCtime !== 0n;
}

/** DEL_VDI clears the name; an inode with an empty name is a deleted VDI. */
export function isDeleted(h: InodeHeader): boolean {
  return h.name === '';
}

/** `(sec << 32) | nsec` from milliseconds since the epoch (sheep's ctime encoding). */
export function sdTimeFromMs(timeMs: number): bigint {
  assert(Number.isSafeInteger(timeMs) && timeMs >= 0, `time ${timeMs} ms is not a non-negative integer`);
  const seconds = Math.floor(timeMs / 1000);
  const nanoseconds = (timeMs - seconds * 1000) * 1_000_000;
  return (BigInt(seconds) << 32n) | BigInt(nanoseconds);
}

/** Milliseconds since the epoch from `(sec << 32) | nsec` (sub-millisecond part dropped). */
export function sdTimeToMs(time: bigint): number {
  const seconds = Number(time >> 32n);
  const nanoseconds = Number(time & 0xffff_ffffn);
  return seconds * 1000 + Math.floor(nanoseconds / 1_000_000);
}
