/**
 * A ReservationGate with no reservations, for logical-unit tests only: every command may run,
 * and the reservation commands themselves answer INVALID COMMAND OPERATION CODE (as a target
 * without reservation support would). It counts the reset hooks so tests can see they were called.
 */
import type { ReservationGate } from '../../src/scsi/reservation-gate.js';
import type { Nexus, ScsiCommand, ScsiResult } from '../../src/scsi/scsi-types.js';

export class NoReservations implements ReservationGate {
  lunResets = 0;
  readonly lostNexuses: string[] = [];
  readonly executed: Buffer[] = [];

  check(_nexus: Nexus, _cdb: Buffer): 'ok' | 'conflict' {
    return 'ok';
  }

  execute(command: ScsiCommand): ScsiResult {
    this.executed.push(command.cdb);
    // CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE (SPC-4 Table D.1, 20h/00h).
    return { status: 0x02, sense: { key: 0x5, asc: 0x20, ascq: 0x00 } };
  }

  onLunReset(): void {
    this.lunResets += 1;
  }

  onNexusLoss(nexus: Nexus): void {
    this.lostNexuses.push(nexus.id);
  }
}
