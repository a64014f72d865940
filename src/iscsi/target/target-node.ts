/**
 * What the iSCSI layer needs to know about a target and its logical units. The SCSI layer's
 * LogicalUnit satisfies `IscsiLun`; the iSCSI layer never looks inside it.
 *
 * A running node may change a target (the admin API, src/target/target-registry.ts): `luns`,
 * `chap` and `access` are read-only here but read the current values, so read them when they
 * are needed (per command, per login) and do not keep copies.
 */
import type { Nexus, ScsiCommand, ScsiResult } from '../../scsi/scsi-types.js';
import type { InitiatorAccess } from '../login/access.js';
import type { ChapSecrets } from '../login/chap.js';

export interface IscsiLun {
  readonly blockSizeBytes: number;
  execute(command: ScsiCommand): Promise<ScsiResult>;
  /**
   * LOGICAL UNIT RESET (and the LU part of a target reset): clear, raise UA 29/xx. Resolves once
   * the reset is in effect wherever the LU is served (a clustered LU: committed to the shared
   * state, so a command through another node sees the unit attention); the session answers the
   * task management request only then. Never rejects.
   */
  reset(by: Nexus): Promise<void>;
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
