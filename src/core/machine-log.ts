/**
 * Starts an xstate actor whose every state change is appended to the event log as
 * `<type> {from, to, event}` under a stable actor name (never xstate's session id, which comes
 * from a process-global counter and does not replay). For long-lived, low-rate machines only
 * (connections, sessions): inspection roughly halves an actor's event rate.
 */
import { type Actor, type AnyStateMachine, createActor, type InspectionEvent } from 'xstate';
import type { EventLog } from './event-log.js';

export function startLoggedActor<M extends AnyStateMachine>(
  machine: M,
  options: { eventLog: EventLog; actor: string; type: string },
): Actor<M> {
  let previous: unknown;
  const actor = (createActor as (logic: AnyStateMachine, options: object) => Actor<M>)(machine, {
    inspect: (inspection: InspectionEvent) => {
      if (inspection.type !== '@xstate.snapshot') return;
      const value = (inspection.snapshot as { value?: unknown }).value;
      const event = (inspection.event as { type?: string }).type ?? 'unknown';
      if (previous !== undefined && JSON.stringify(previous) !== JSON.stringify(value)) {
        options.eventLog.append(options.actor, options.type, { from: previous, to: value, event });
      }
      previous = value;
    },
  });
  actor.start();
  return actor;
}
