/**
 * Unit attentions across the nodes of one logical unit: events in the cluster document's log, and
 * how each node turns them into conditions on its own I_T nexuses (unit-attention.ts).
 *
 * Rules
 * - Whatever must raise a unit attention on nexuses of other nodes (reservation changes, LUN
 *   reset, MODE SELECT, ALUA changes, capacity changes) appends an event to the log in the same
 *   cell update as the change itself, so no node sees the change without its attention.
 * - Every node, the sender's too, raises each event once, in seq order, on the nexuses it knows:
 *   `all`, or those a registration scope covers (registrationCovers); never on `exceptNexus`
 *   (matched by nexus id and relative target port id, which is unique across the nodes).
 * - A node starts at the log's end: events from before it first read the document are not for
 *   its nexuses, which get 29/00 on first access anyway.
 * - Gap: when events this node had not applied were dropped from the log (it holds the newest
 *   UA_LOG_LENGTH_MAX, fewer if the cell is small), the node cannot tell whom they concerned, so
 *   it raises POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29/00) on every nexus it knows, then
 *   applies what is left. Initiators treat 29/00 as "re-read everything".
 */
import { type Registration, registrationCovers } from '../reservations/reservation-state.js';
import type { Nexus, Sense } from '../scsi-types.js';
import { POWER_ON_RESET_UA, type UnitAttentions } from '../unit-attention.js';
import {
  type NexusRef,
  type RegistrationScope,
  UA_LOG_LENGTH_MAX,
  type UaEvent,
  type UaLog,
  type UaScope,
} from './cluster-document.js';

/** An event before the log gives it its seq. */
export type NewUaEvent = Omit<UaEvent, 'seq'>;

export const ALL: UaScope = { kind: 'all' };

export function nexusRef(nexus: Nexus): NexusRef {
  return { id: nexus.id, relativeTargetPortId: nexus.relativeTargetPortId };
}

/** The scopes (keys dropped) of registrations, for a `registrations` event. */
export function registrationsScope(registrations: readonly Registration[]): UaScope {
  return {
    kind: 'registrations',
    registrations: registrations.map((r) => ({
      initiatorName: r.initiatorName,
      isid: r.isid,
      relativeTargetPortId: r.relativeTargetPortId,
    })),
  };
}

/** An event of `sense` for `scope`, never raised on `except`. */
export function uaEvent(sense: Sense, scope: UaScope, except?: Nexus): NewUaEvent {
  const event = { sense: { key: sense.key, asc: sense.asc, ascq: sense.ascq }, scope };
  return except === undefined ? event : { ...event, exceptNexus: nexusRef(except) };
}

/** The log with `events` appended (seqs assigned in order), trimmed to UA_LOG_LENGTH_MAX. */
export function appendUnitAttentions(log: UaLog, events: readonly NewUaEvent[]): UaLog {
  if (events.length === 0) return log;
  const added = events.map((event, index): UaEvent => ({ ...event, seq: log.nextSeq + index }));
  const all = [...log.events, ...added];
  return {
    nextSeq: log.nextSeq + events.length,
    events: all.slice(Math.max(0, all.length - UA_LOG_LENGTH_MAX)),
  };
}

/** What a node that applied events up to `appliedSeq` must do with `log`. */
export function pendingUnitAttentions(
  log: UaLog,
  appliedSeq: number,
): { readonly gap: boolean; readonly events: readonly UaEvent[]; readonly appliedSeq: number } {
  const oldest = log.events[0]?.seq ?? log.nextSeq;
  const gap = oldest > appliedSeq + 1;
  return {
    gap,
    events: log.events.filter((event) => event.seq > appliedSeq),
    appliedSeq: Math.max(appliedSeq, log.nextSeq - 1),
  };
}

function scopeCovers(scope: RegistrationScope, nexus: Nexus): boolean {
  return registrationCovers({ ...scope, key: 0n }, nexus);
}

function isExcepted(event: UaEvent, nexus: Nexus): boolean {
  const except = event.exceptNexus;
  return (
    except !== undefined &&
    except.id === nexus.id &&
    except.relativeTargetPortId === nexus.relativeTargetPortId
  );
}

/** Raises one event on the nexuses of this node it concerns. */
export function raiseUaEvent(unitAttentions: UnitAttentions, event: UaEvent): void {
  const { scope } = event;
  unitAttentions.raise(
    (nexus) =>
      !isExcepted(event, nexus) &&
      (scope.kind === 'all' || scope.registrations.some((registration) => scopeCovers(registration, nexus))),
    { key: event.sense.key, asc: event.sense.asc, ascq: event.sense.ascq },
  );
}

/** Applies the log to this node's nexuses; returns the new applied seq. */
export function applyUnitAttentionLog(
  unitAttentions: UnitAttentions,
  log: UaLog,
  appliedSeq: number,
): number {
  const pending = pendingUnitAttentions(log, appliedSeq);
  if (pending.gap) unitAttentions.raiseAll(POWER_ON_RESET_UA);
  for (const event of pending.events) raiseUaEvent(unitAttentions, event);
  return pending.appliedSeq;
}
