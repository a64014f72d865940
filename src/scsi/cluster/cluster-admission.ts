/**
 * What a command of a clustered logical unit was admitted under, and when that no longer holds:
 * the IO guard its backend IO carries, and the fencing rule for commands that restart.
 *
 * Rules
 * - Admission stamps, right before the handler runs: the reservations' version, the ALUA state of
 *   this node's group, the ownership epoch, and how many unit attentions this nexus has pending.
 * - The guard (consulted by the backend when the shared cell changed under an IO) and `recheck`
 *   (before every backend call, no I/O) apply the newest document and void the admission when
 *   the reservations changed, this node's group changed state, the epoch moved (single-owner
 *   only: under active-active the epoch means nothing) or a new unit attention is pending for
 *   the nexus. A voided command stops (IoRestart from the backend, CommandRestart from
 *   `recheck`) and the LU dispatches it again from the top, so it meets the unit attention,
 *   RESERVATION CONFLICT or ALUA refusal it should. A write may be partly written by then.
 * - Fencing (single-owner): a command keeps the epoch it was first admitted under across its
 *   restarts, and a restart under another epoch is refused (UNIT ATTENTION, ASYMMETRIC ACCESS
 *   STATE CHANGED) without touching the medium and without taking the LU over. So after another
 *   node took ownership and served writes, no write this node admitted before can land, even
 *   if this node regained ownership meanwhile. New commands may take the LU back (after the
 *   hold-off, cluster-state.ts); the host decides their order.
 * - Test-only bug 'no-fencing': the guard always answers 'continue', `recheck` never voids and
 *   restarts are not held to their epoch.
 */
import type { IoGuard } from '../../backends/shared-cell.js';
import type { AluaStateCode } from '../alua.js';
import type { CommandAdmission } from '../command-context.js';
import type { Nexus } from '../scsi-types.js';
import type { UnitAttentions } from '../unit-attention.js';
import type { ClusterState } from './cluster-state.js';
import type { TestOnlyClusterBug } from './test-only-cluster-bugs.js';

/** The command must run again from the top: what it was admitted under changed. */
export class CommandRestart extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandRestart';
  }
}

/** One command across its restarts. */
export class CommandAttempt {
  restarts = 0;
  /** The ownership epoch the command was first admitted under. */
  admittedEpoch: number | undefined;
}

interface Stamp {
  readonly reservationsVersion: number;
  readonly state: AluaStateCode;
  readonly epoch: number;
  readonly pendingAttentions: number;
}

export interface AdmissionContext {
  readonly cluster: ClusterState;
  readonly unitAttentions: UnitAttentions;
  readonly nexus: Nexus;
  readonly attempt: CommandAttempt;
  readonly testOnlyBug: TestOnlyClusterBug | undefined;
}

/** Whether a restarted command must be refused: it was admitted under another ownership epoch. */
export function isFenced(context: Omit<AdmissionContext, 'nexus' | 'unitAttentions'>): boolean {
  const { cluster, attempt } = context;
  return (
    context.testOnlyBug !== 'no-fencing' &&
    attempt.admittedEpoch !== undefined &&
    cluster.policy === 'single-owner' &&
    cluster.epoch !== attempt.admittedEpoch
  );
}

function stampOf(context: AdmissionContext): Stamp {
  const { cluster } = context;
  return {
    reservationsVersion: cluster.document.reservationsVersion,
    state: cluster.myState(),
    epoch: cluster.epoch,
    pendingAttentions: context.unitAttentions.pendingCount(context.nexus),
  };
}

/** Why the admission no longer holds, or undefined. */
function voided(context: AdmissionContext, admitted: Stamp): string | undefined {
  context.cluster.applyCached();
  const now = stampOf(context);
  if (now.reservationsVersion !== admitted.reservationsVersion) return 'the reservations changed';
  if (now.state !== admitted.state) return `this node's ALUA state changed to ${now.state}`;
  if (context.cluster.policy === 'single-owner' && now.epoch !== admitted.epoch) {
    return `ownership moved (epoch ${admitted.epoch} -> ${now.epoch})`;
  }
  if (now.pendingAttentions > admitted.pendingAttentions) return 'a unit attention is pending for the nexus';
  return undefined;
}

/** Admits a command: stamps what it runs under and records its first epoch. */
export function admit(context: AdmissionContext): CommandAdmission {
  const admitted = stampOf(context);
  context.attempt.admittedEpoch ??= admitted.epoch;
  const noFencing = context.testOnlyBug === 'no-fencing';
  const guard: IoGuard = {
    afterChange: async () => {
      try {
        if (noFencing) {
          context.cluster.applyCached();
          return 'continue';
        }
        return voided(context, admitted) === undefined ? 'continue' : 'restart';
      } catch {
        // The document could not be applied: land nothing; the restart meets the error itself.
        return 'restart';
      }
    },
  };
  return {
    guard,
    recheck: () => {
      if (noFencing) return;
      const why = voided(context, admitted);
      if (why !== undefined) throw new CommandRestart(why);
    },
  };
}
