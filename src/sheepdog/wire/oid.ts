/**
 * Object ids (section 5.1). An oid is a u64, kept as bigint:
 *   bits 0-31 data index (or attr id / B-tree id), 32-55 vid (24 bits), 59 LEDGER,
 *   60 VDI_BTREE, 61 VDI_ATTR, 62 VMSTATE, 63 VDI (inode).
 * Vids and indexes are numbers (they fit in 32 bits). Passing an out-of-range vid or index is
 * Collie's bug and asserts; `oidFromHex` validates outside input (file names) and returns
 * undefined instead.
 */
import { assert } from '../../core/assert.js';
import {
  LEDGER_BIT,
  SD_INODE_HEADER_SIZE,
  SD_NR_VDIS,
  SD_VDI_MASK,
  VDI_ATTR_BIT,
  VDI_BIT,
  VDI_BTREE_BIT,
  VDI_SPACE_SHIFT,
  VMSTATE_BIT,
} from './constants.js';

const LOW32_MASK = 0xffff_ffffn;
const U64_LIMIT = 1n << 64n;
const TYPE_BITS = VDI_BIT | VMSTATE_BIT | VDI_ATTR_BIT | VDI_BTREE_BIT | LEDGER_BIT;
const OID_HEX_PATTERN = /^[0-9a-f]{16}$/;

function vidBits(vid: number): bigint {
  assert(Number.isInteger(vid) && vid >= 0 && vid < SD_NR_VDIS, `vid ${vid} is not a 24-bit VDI id`);
  return BigInt(vid) << VDI_SPACE_SHIFT;
}

function low32(value: number, what: string): bigint {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff, `${what} ${value} is not a u32`);
  return BigInt(value);
}

/** The inode object of `vid`: (1<<63) | vid<<32. */
export function vidToVdiOid(vid: number): bigint {
  return VDI_BIT | vidBits(vid);
}

/** Data object `idx` of `vid`: vid<<32 | idx. */
export function vidToDataOid(vid: number, idx: number): bigint {
  return vidBits(vid) | low32(idx, 'data index');
}

/** qemu savevm state object `idx` of `vid`. */
export function vidToVmstateOid(vid: number, idx: number): bigint {
  return VMSTATE_BIT | vidBits(vid) | low32(idx, 'vmstate index');
}

/** Attribute object `attrId` (GET_VDI_ATTR uses the *name hash* as vid here). */
export function vidToAttrOid(vid: number, attrId: number): bigint {
  return VDI_ATTR_BIT | vidBits(vid) | low32(attrId, 'attr id');
}

/** B-tree node object `id` of a hyper volume. */
export function vidToBtreeOid(vid: number, id: number): bigint {
  return VDI_BTREE_BIT | vidBits(vid) | low32(id, 'btree id');
}

/** The ledger (reference count) object of a data object. */
export function dataOidToLedgerOid(dataOid: bigint): bigint {
  assert(isDataOid(dataOid), `oid ${oidToHex(dataOid)} is not a data object`);
  return LEDGER_BIT | dataOid;
}

export function oidToVid(oid: bigint): number {
  return Number((oid & SD_VDI_MASK) >> VDI_SPACE_SHIFT);
}

/** Bits 0-31 (the data index for data objects, the attr id for attr objects). */
export function dataOidToIdx(oid: bigint): number {
  return Number(oid & LOW32_MASK);
}

/** None of the type bits 59-63 set. */
export function isDataOid(oid: bigint): boolean {
  return (oid & TYPE_BITS) === 0n;
}

export function isVdiOid(oid: bigint): boolean {
  return (oid & VDI_BIT) !== 0n;
}

export function isVmstateOid(oid: bigint): boolean {
  return (oid & VMSTATE_BIT) !== 0n;
}

export function isAttrOid(oid: bigint): boolean {
  return (oid & VDI_ATTR_BIT) !== 0n;
}

export function isBtreeOid(oid: bigint): boolean {
  return (oid & VDI_BTREE_BIT) !== 0n;
}

export function isLedgerOid(oid: bigint): boolean {
  return (oid & LEDGER_BIT) !== 0n;
}

/** 16 lowercase hex digits: the plain store's object file name (e.g. "807c2b2500000000"). */
export function oidToHex(oid: bigint): string {
  assert(oid >= 0n && oid < U64_LIMIT, `oid ${oid} is not a u64`);
  return oid.toString(16).padStart(16, '0');
}

/** Parses exactly 16 lowercase hex digits; anything else (a stray file name) gives undefined. */
export function oidFromHex(text: string): bigint | undefined {
  if (!OID_HEX_PATTERN.test(text)) return undefined;
  return BigInt(`0x${text}`);
}

/** Byte offset of data_vdi_id[idx] inside an inode: 4664 + 4 * idx. */
export function dataVidOffset(idx: number): number {
  assert(Number.isInteger(idx) && idx >= 0 && idx <= 0xffff_ffff, `data index ${idx} is not a u32`);
  return SD_INODE_HEADER_SIZE + 4 * idx;
}
