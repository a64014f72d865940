/**
 * The seam between a logical unit and its reservation state (SPC-2 RESERVE/RELEASE and SPC-4
 * persistent reservations). The LU asks the gate before running any command and hands it the
 * reservation commands themselves; the gate owns every reservation rule, the LU owns none.
 */
import type { Nexus, ScsiCommand, ScsiResult } from './scsi-types.js';

export interface ReservationGate {
  /** Whether this command may run on this nexus under the current reservations (SPC-4 §5.13, table of
      commands allowed in the presence of each reservation type; SPC-2 reservation conflicts). */
  check(nexus: Nexus, cdb: Buffer): 'ok' | 'conflict';
  /** RESERVE(6)/(10), RELEASE(6)/(10), PERSISTENT RESERVE IN/OUT. */
  execute(command: ScsiCommand): Promise<ScsiResult> | ScsiResult;
  /** LUN reset / I_T nexus loss / logout hooks. */
  onLunReset(): void;
  onNexusLoss(nexus: Nexus): void;
}
