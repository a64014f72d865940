/**
 * How a logical unit becomes clustered, and how it answers failures of the shared cell itself.
 *
 * Rules
 * - Cluster mode is decided by the backend alone: it has a `sharedCell`. Then the LU needs its
 *   `clusterNode` identity (a missing one is a wiring bug: assertion), takes its target port
 *   groups from the cluster document only (a `targetPortGroups` provider is a wiring bug), and
 *   keeps its reservations in the document through a Reservations gate over CellReservationStore.
 *   A gate passed in is not used, and that is logged (target assembly may still build one).
 * - Without a shared cell the LU is exactly a single node's: the gate passed in, else an
 *   in-memory Reservations.
 * - Failures of the cell: lost races (CellContention, or a BackendError 'retries-exhausted': the
 *   sheepdog cell gives up that way when other nodes keep invalidating it) are BUSY, so the host
 *   retries; an unreachable store maps like a backend error, a node configuration the document refuses is NOT READY, MANUAL INTERVENTION
 *   REQUIRED (04/03), a document full of registrations refuses the PERSISTENT RESERVE OUT that
 *   would grow it (INSUFFICIENT REGISTRATION RESOURCES). Anything else is a bug and rethrown.
 */
import { BackendError } from '../../backends/block-backend.js';
import { CellContention } from '../../backends/shared-cell.js';
import { assert } from '../../core/assert.js';
import type { Logger } from '../../core/logger.js';
import { Op } from '../cdb.js';
import { checkCondition, type ModeParameters, senseForBackendError } from '../command-context.js';
import type { LogicalUnitOptions } from '../logical-unit.js';
import type { ReservationGate } from '../reservation-gate.js';
import { INSUFFICIENT_REGISTRATION_RESOURCES } from '../reservations/reservation-answers.js';
import { Reservations } from '../reservations/reservation-gate.js';
import { type ScsiCommand, type ScsiResult, ScsiStatus, SenseKey } from '../scsi-types.js';
import { Asc, senseOf } from '../sense.js';
import { CellReservationStore } from './cell-reservation-store.js';
import { ClusterDocumentFull } from './cluster-document.js';
import { ClusterConfigurationError, ClusterState } from './cluster-state.js';

/** After losing ownership (single-owner), no implicit takeover for this long by default. */
export const DEFAULT_TAKEOVER_HOLD_OFF_MS = 1000;

const BUSY: ScsiResult = { status: ScsiStatus.BUSY };
const NOT_READY_MANUAL_INTERVENTION = senseOf(
  SenseKey.NOT_READY,
  Asc.LOGICAL_UNIT_NOT_READY_MANUAL_INTERVENTION_REQUIRED,
);

/** The LU's cluster state, or undefined when its backend is not shared. */
export function clusterStateFor(
  options: LogicalUnitOptions,
  actor: string,
  mode: ModeParameters,
): ClusterState | undefined {
  const cell = options.backend.sharedCell;
  if (cell === undefined) return undefined;
  const node = options.clusterNode;
  assert(
    node !== undefined,
    `LogicalUnit ${options.lun}: the backend is shared by several nodes (it has a sharedCell), so the LU ` +
      'needs clusterNode { nodeId, targetPortGroup, relativeTargetPortIds } to run in cluster mode',
  );
  assert(
    options.targetPortGroups === undefined,
    `LogicalUnit ${options.lun}: a clustered LU takes its target port groups from the cluster document; ` +
      'do not pass targetPortGroups',
  );
  if (options.reservations !== undefined) {
    options.logger.warn(
      { lun: options.lun },
      'a clustered LU keeps its reservations in the shared cell: the reservations gate passed in is not ' +
        'used (pass reservationOptions instead)',
    );
  }
  return new ClusterState({
    cell,
    identity: node,
    policy: options.aluaPolicy,
    coldStart: options.clusterColdStart ?? false,
    holdOffMs: options.takeoverHoldOffMs ?? DEFAULT_TAKEOVER_HOLD_OFF_MS,
    unitAttentions: options.unitAttentions,
    mode,
    clock: options.clock,
    logger: options.logger,
    eventLog: options.eventLog,
    actor,
  });
}

/** The LU's reservation gate: over the cluster document when clustered. */
export function reservationGateFor(
  options: LogicalUnitOptions,
  cluster: ClusterState | undefined,
): ReservationGate {
  if (cluster === undefined) {
    return (
      options.reservations ??
      new Reservations({
        unitAttentions: options.unitAttentions,
        logger: options.logger,
        ...options.reservationOptions,
      })
    );
  }
  const gate = new Reservations({
    unitAttentions: options.unitAttentions,
    logger: options.logger,
    ...options.reservationOptions,
    store: new CellReservationStore(cluster),
    isKnownTargetPort: (id) => cluster.isClusterPort(id),
  });
  cluster.observeReservations((snapshot) => gate.observe(snapshot));
  return gate;
}

/** The answer for a failure of the shared cell itself; anything else is rethrown as a bug. */
export function clusterFailureResult(
  command: ScsiCommand,
  error: unknown,
  logger: Logger,
  lun: number,
): ScsiResult {
  // A cell operation that kept losing to other nodes: contention, whichever way the cell says it.
  if (
    error instanceof CellContention ||
    (error instanceof BackendError && error.kind === 'retries-exhausted')
  ) {
    logger.warn({ lun, err: error.message }, 'shared cell contention; answering BUSY');
    return BUSY;
  }
  if (error instanceof BackendError) {
    logger.warn({ lun, kind: error.kind, err: error.message }, 'shared cell unreachable');
    return checkCondition(senseForBackendError(error, 'read'));
  }
  if (error instanceof ClusterConfigurationError) {
    logger.error({ lun, err: error.message }, 'this node cannot join the LU cluster');
    return checkCondition(NOT_READY_MANUAL_INTERVENTION);
  }
  if (error instanceof ClusterDocumentFull && command.cdb[0] === Op.PERSISTENT_RESERVE_OUT) {
    logger.warn({ lun, err: error.message }, 'cluster document full');
    return INSUFFICIENT_REGISTRATION_RESOURCES;
  }
  throw error;
}
