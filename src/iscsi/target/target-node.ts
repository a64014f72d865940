/**
 * What the iSCSI layer needs to know about a target and its logical units. The SCSI layer's
 * LogicalUnit satisfies `IscsiLun`; the iSCSI layer never looks inside it.
 */
import type { Nexus, ScsiCommand, ScsiResult } from '../../scsi/scsi-types.js';
import type { InitiatorAccess } from '../login/access.js';
import type { ChapSecrets } from '../login/chap.js';

export interface IscsiLun {
  readonly blockSizeBytes: number;
  execute(command: ScsiCommand): Promise<ScsiResult>;
  /** LOGICAL UNIT RESET (and the LU part of a target reset): abort, clear, raise UA 29/xx. */
  reset(by: Nexus): void;
  /** The I_T nexus ended (session closed or reinstated): release what it held. */
  nexusLost(nexus: Nexus): void;
}

export interface TargetNode {
  readonly iqn: string;
  readonly alias?: string;
  readonly portalGroupTag: number;
  readonly relativeTargetPortId: number;
  readonly targetPortGroup: number;
  /** LUN number → logical unit. */
  readonly luns: ReadonlyMap<number, IscsiLun>;
  /** CHAP accounts; none means AuthMethod=None is accepted. */
  readonly chap?: ChapSecrets;
  readonly access?: InitiatorAccess;
}

/**
 * SAM-5 LUN from the 8-byte iSCSI LUN field: peripheral device addressing (method 00b, LUN < 256)
 * and flat space addressing (method 01b, LUN < 16384). Other methods are not LUNs Collie serves.
 */
export function lunFromWire(lun: bigint): number | undefined {
  const first = Number((lun >> 48n) & 0xffffn);
  if ((lun & 0x0000_ffff_ffff_ffffn) !== 0n) return undefined;
  const method = first >> 14;
  if (method === 0) return first >> 8 === 0 ? first & 0xff : undefined;
  if (method === 1) return first & 0x3fff;
  return undefined;
}

export function lunToWire(lun: number): bigint {
  return lun < 256 ? BigInt(lun) << 48n : BigInt(0x4000 | lun) << 48n;
}
