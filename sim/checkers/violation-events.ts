/**
 * Violations in the event log: every violation a run finds is appended to the world's log as
 * `check.violation` (actor `check/<checker>`), so a recorded events file carries what was wrong
 * and where, and the inspector (src/inspect/projection.ts) marks it on the timeline.
 *
 * When: at the moment it is found for the checks that judge as the run goes (the coherence
 * checker's, a scenario's expectations, a store invariant that broke), at the end of the run for
 * the end-of-run ones (the register checker's, liveness, read-back coverage, the coherence
 * checker's final agreement). A checker that is itself an event sink never appends from inside
 * its write(): that would deliver the new event to the sinks after it before the one being
 * delivered. It records, and the runner flushes between clock steps (flushFound).
 *
 * Appending changes the run's digest, deterministically: the same seed gives the same events.
 */
import type { EventSink, LogEvent } from '../../src/core/event.js';
import type { EventLog } from '../../src/core/event-log.js';
import type { CoherenceChecker } from './coherence-checker.js';

export const VIOLATION_EVENT = 'check.violation';

export interface ViolationEventData {
  readonly checker: string;
  readonly kind: string;
  readonly message: string;
  /** First and last seq of the events that show it. */
  readonly evidenceSeqs?: readonly [number, number];
}

export function appendViolation(eventLog: EventLog, violation: ViolationEventData): LogEvent {
  const data: ViolationEventData = {
    checker: violation.checker,
    kind: violation.kind,
    message: violation.message,
    ...(violation.evidenceSeqs === undefined ? {} : { evidenceSeqs: [...violation.evidenceSeqs] }),
  };
  return eventLog.append(`check/${violation.checker}`, VIOLATION_EVENT, data);
}

/**
 * The violations found while the run goes, appended when the runner calls flushFound() (between
 * clock steps, never inside an append). It is a sink, to notice `store.invariant_broken`.
 */
export class FoundViolations implements EventSink {
  readonly #coherence: CoherenceChecker;
  #coherenceLogged = 0;
  readonly #pending: ViolationEventData[] = [];

  constructor(coherence: CoherenceChecker) {
    this.#coherence = coherence;
  }

  write(event: LogEvent): void {
    if (event.type !== 'store.invariant_broken') return;
    const data = event.data as { op?: string; message?: string };
    this.#pending.push({
      checker: 'store',
      kind: 'invariant',
      message: storeInvariantMessage(data),
      evidenceSeqs: [event.seq, event.seq],
    });
  }

  /** Appends to `eventLog` what was found since the last flush. */
  flushFound(eventLog: EventLog): void {
    const found = this.#coherence.violations;
    while (this.#coherenceLogged < found.length) {
      const violation = found[this.#coherenceLogged]!;
      this.#coherenceLogged += 1;
      this.#pending.push({
        checker: 'coherence',
        kind: violation.kind,
        message: violation.message,
        evidenceSeqs: violation.windowSeqs,
      });
    }
    for (const violation of this.#pending.splice(0)) appendViolation(eventLog, violation);
  }
}

/** The message of a `store.invariant_broken` violation (the run's report says the same). */
export function storeInvariantMessage(data: { op?: string; message?: string }): string {
  return `a store invariant broke at ${data.op ?? 'a request'}: ${data.message ?? ''}`;
}
