/**
 * Starts an xstate actor whose every state change is appended to the event log as
 * `<type> {from, to, event, ...data}` under a stable actor name (never xstate's session id, which
 * comes from a process-global counter and does not replay). For long-lived, low-rate machines
 * only (connections, sessions): inspection roughly halves an actor's event rate.
 *
 * With `live`, the actor is registered in the log's live-machine registry (when the log has one,
 * src/core/live-machines.ts) under `live.key` (default: the actor name) until it reaches a final
 * state or is stopped.
 */
import { type Actor, type AnyStateMachine, createActor, type InspectionEvent } from 'xstate';
import type { EventLog } from './event-log.js';
import { stateValuePath } from './live-machines.js';
import type { MachineId } from './machine-ids.js';

export function startLoggedActor<M extends AnyStateMachine>(
  machine: M,
  options: {
    eventLog: EventLog;
    actor: string;
    type: string;
    /** Added to every transition event (say, which connection a session belongs to). */
    data?: Readonly<Record<string, unknown>>;
    live?: { readonly machine: MachineId; readonly key?: string };
  },
): Actor<M> {
  let previous: unknown;
  const actor = (createActor as (logic: AnyStateMachine, options: object) => Actor<M>)(machine, {
    inspect: (inspection: InspectionEvent) => {
      if (inspection.type !== '@xstate.snapshot') return;
      const value = (inspection.snapshot as { value?: unknown }).value;
      const event = (inspection.event as { type?: string }).type ?? 'unknown';
      if (previous !== undefined && JSON.stringify(previous) !== JSON.stringify(value)) {
        options.eventLog.append(options.actor, options.type, {
          from: previous,
          to: value,
          event,
          ...options.data,
        });
      }
      previous = value;
    },
  });
  actor.start();
  const registry = options.live === undefined ? null : options.eventLog.liveMachines;
  if (registry !== null && options.live !== undefined) {
    const snapshot = () => actor.getSnapshot() as { value: unknown; status: string };
    const unregister = registry.register({
      key: options.live.key ?? options.actor,
      machine: options.live.machine,
      state: () => stateValuePath(snapshot().value),
    });
    if (snapshot().status !== 'active') unregister();
    else {
      actor.subscribe({
        complete: unregister,
        error: (error: unknown) => {
          unregister();
          // Still reported as unhandled, as it is when nobody subscribes.
          throw error;
        },
      });
    }
  }
  return actor;
}
