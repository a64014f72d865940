/**
 * The 8-byte LUN field of iSCSI PDUs (RFC 7143 §11.2.1), held big-endian as a bigint by the
 * codec, for single-level SAM-5 LUNs: peripheral device addressing (method 00b) for LUNs 0-255,
 * flat space addressing (method 01b) for 256-16383. Both sides use these: the target to find the
 * logical unit, the simulated initiator to address it.
 */

export const LUN_NUMBER_MAX = 16383;

/** The LUN number of a field, or undefined for an addressing method Collie does not serve. */
export function lunFromWire(lun: bigint): number | undefined {
  const first = Number((lun >> 48n) & 0xffffn);
  if ((lun & 0x0000_ffff_ffff_ffffn) !== 0n) return undefined;
  const method = first >> 14;
  if (method === 0) return first >> 8 === 0 ? first & 0xff : undefined;
  if (method === 1) return first & 0x3fff;
  return undefined;
}

/** The field for a LUN number; throws for a number outside 0..LUN_NUMBER_MAX. */
export function lunToWire(lun: number): bigint {
  if (!Number.isInteger(lun) || lun < 0 || lun > LUN_NUMBER_MAX) {
    throw new RangeError(`LUN ${lun} is not a LUN number from 0 to ${LUN_NUMBER_MAX}`);
  }
  const firstLevel = lun < 256 ? lun : 0x4000 | lun;
  return BigInt(firstLevel) << 48n;
}
