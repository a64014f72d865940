/**
 * `struct sheepdog_vdi_attr` (66,320 bytes), the GET_VDI_ATTR payload and the content of attr
 * objects (section 3.2):
 *   name[256]@0 tag[256]@256 ctime u64@512 snap_id u32@520 value_len u32@524 key[256]@528
 *   value[65536]@784
 * The attr id is the low 32 bits of FNV-1a-64 over name[256] ‖ tag[256] ‖ snap_id ‖ key[256]
 * (772 bytes: the raw fields, NUL padding included), probed linearly by the server.
 */
import { assert } from '../../core/assert.js';
import {
  SD_ATTR_OBJ_SIZE,
  SD_MAX_VDI_ATTR_KEY_LEN,
  SD_MAX_VDI_ATTR_VALUE_LEN,
  SD_MAX_VDI_LEN,
  SD_MAX_VDI_TAG_LEN,
  SdRes,
} from './constants.js';
import { type DecodeResult, decoded, decodeFailed, shortBuffer } from './errors.js';
import { WireReader } from './reader.js';
import { fnv1a64 } from './vdi-hash.js';
import { FixedWriter } from './writer.js';

const NAME_OFFSET = 0;
const TAG_OFFSET = 256;
const CTIME_OFFSET = 512;
const SNAP_ID_OFFSET = 520;
const VALUE_LEN_OFFSET = 524;
const KEY_OFFSET = 528;
/** offsetof(value): everything before the value (SD_ATTR_HEADER_SIZE in dog's terms). */
export const VDI_ATTR_VALUE_OFFSET = 784;
/** Bytes hashed for the attr id: name + tag + snap_id + key. */
export const VDI_ATTR_HASH_INPUT_BYTES = 772;

/** What identifies an attribute: the hash input. */
export interface VdiAttrKey {
  readonly name: string;
  readonly tag: string;
  readonly snapId: number;
  readonly key: string;
}

export interface VdiAttr extends VdiAttrKey {
  readonly ctime: bigint;
  /** At most 65,536 bytes; value_len on the wire is its length. */
  readonly value: Buffer;
}

export function encodeVdiAttr(a: VdiAttr): Buffer {
  assert(a.value.length <= SD_MAX_VDI_ATTR_VALUE_LEN, `attr value of ${a.value.length} bytes exceeds 65,536`);
  const w = new FixedWriter(SD_ATTR_OBJ_SIZE);
  w.seek(NAME_OFFSET).fixedString(a.name, SD_MAX_VDI_LEN);
  w.seek(TAG_OFFSET).fixedString(a.tag, SD_MAX_VDI_TAG_LEN);
  w.seek(CTIME_OFFSET).u64(a.ctime);
  w.seek(SNAP_ID_OFFSET).u32(a.snapId);
  w.seek(VALUE_LEN_OFFSET).u32(a.value.length);
  w.seek(KEY_OFFSET).fixedString(a.key, SD_MAX_VDI_ATTR_KEY_LEN);
  w.seek(VDI_ATTR_VALUE_OFFSET).bytes(a.value);
  return w.finish();
}

/**
 * Decodes an attr struct. Needs the 784-byte head plus value_len bytes of value (a full
 * 66,320-byte struct always qualifies). The value is copied out of `buf`.
 */
export function decodeVdiAttr(buf: Buffer): DecodeResult<VdiAttr> {
  if (buf.length < VDI_ATTR_VALUE_OFFSET)
    return shortBuffer('sheepdog_vdi_attr', VDI_ATTR_VALUE_OFFSET, buf.length);
  const r = new WireReader(buf);
  const valueLength = r.seek(VALUE_LEN_OFFSET).u32();
  if (valueLength > SD_MAX_VDI_ATTR_VALUE_LEN) {
    return decodeFailed({
      code: 'SD_ERR_BAD_FIELD',
      message: `sheepdog_vdi_attr value_len ${valueLength} exceeds the 65,536-byte value field`,
      offset: VALUE_LEN_OFFSET,
      answer: SdRes.INVALID_PARMS,
    });
  }
  if (buf.length < VDI_ATTR_VALUE_OFFSET + valueLength) {
    return shortBuffer('sheepdog_vdi_attr with its value', VDI_ATTR_VALUE_OFFSET + valueLength, buf.length);
  }
  return decoded({
    name: r.seek(NAME_OFFSET).fixedString(SD_MAX_VDI_LEN),
    tag: r.seek(TAG_OFFSET).fixedString(SD_MAX_VDI_TAG_LEN),
    ctime: r.seek(CTIME_OFFSET).u64(),
    snapId: r.seek(SNAP_ID_OFFSET).u32(),
    key: r.seek(KEY_OFFSET).fixedString(SD_MAX_VDI_ATTR_KEY_LEN),
    value: Buffer.from(r.seek(VDI_ATTR_VALUE_OFFSET).bytes(valueLength)),
  });
}

/**
 * The 772 bytes sheep hashes: from an encoded struct (bytes as sent, so any garbage after a
 * name's NUL counts, as it does in sheep) or from the fields (NUL padded).
 */
export function attrHashInput(source: Buffer | VdiAttrKey): Buffer {
  if (Buffer.isBuffer(source)) {
    assert(source.length >= VDI_ATTR_VALUE_OFFSET, 'attrHashInput needs at least the 784-byte attr head');
    return Buffer.concat([
      source.subarray(NAME_OFFSET, CTIME_OFFSET),
      source.subarray(SNAP_ID_OFFSET, SNAP_ID_OFFSET + 4),
      source.subarray(KEY_OFFSET, KEY_OFFSET + SD_MAX_VDI_ATTR_KEY_LEN),
    ]);
  }
  const w = new FixedWriter(VDI_ATTR_HASH_INPUT_BYTES);
  w.fixedString(source.name, SD_MAX_VDI_LEN).fixedString(source.tag, SD_MAX_VDI_TAG_LEN).u32(source.snapId);
  w.fixedString(source.key, SD_MAX_VDI_ATTR_KEY_LEN);
  return w.finish();
}

/** The first attr id the server probes for this attribute (low 32 bits of the FNV hash). */
export function vdiAttrId(source: Buffer | VdiAttrKey): number {
  return Number(fnv1a64(attrHashInput(source)) & 0xffff_ffffn);
}
