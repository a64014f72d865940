/**
 * The LU's names for the outside world, derived only from the backend's identity string (e.g.
 * "sheepdog:<cluster>/<vdi>"), never from a target id, a LUN or a node: every node exporting the
 * same storage must present byte-identical LU designators, or multipath sees different disks
 * (docs: multipath.md §1.1).
 *
 * - Unit serial number (VPD 80h): 16 upper-case hex digits of SHA-256("collie-lu\0" + identity).
 * - NAA IEEE Registered Extended designator (NAA 6, SPC-4): NAA (4 bits),
 *   IEEE COMPANY_ID (24 bits), then 100 bits of the same hash as VENDOR SPECIFIC IDENTIFIER (36)
 *   and VENDOR SPECIFIC IDENTIFIER EXTENSION (64).
 * - The default COMPANY_ID has the IEEE "local" (X) bit set (first octet 02h), so it cannot be
 *   somebody's OUI; a deployment that owns an OUI or CID can pass its own.
 */
import { createHash } from 'node:crypto';

/** 02-C0-11: locally administered company ID (X bit set), "C011ie". */
export const DEFAULT_IEEE_COMPANY_ID = 0x02c011;

export interface LuIdentity {
  /** VPD 80h PRODUCT SERIAL NUMBER (ASCII). */
  readonly serial: string;
  /** 16-byte NAA 6 designator. */
  readonly naa: Buffer;
}

export function deriveLuIdentity(identity: string, companyId = DEFAULT_IEEE_COMPANY_ID): LuIdentity {
  const hash = createHash('sha256').update(`collie-lu\0${identity}`).digest();
  const serial = hash.subarray(0, 8).toString('hex').toUpperCase();
  const naa = Buffer.alloc(16);
  naa[0] = 0x60 | ((companyId >>> 20) & 0x0f);
  naa[1] = (companyId >>> 12) & 0xff;
  naa[2] = (companyId >>> 4) & 0xff;
  naa[3] = ((companyId & 0x0f) << 4) | (hash[8]! & 0x0f);
  hash.copy(naa, 4, 9, 21);
  return { serial, naa };
}
