/**
 * The ordered event log: one per process (one per world in the simulator). append() stamps an
 * event with the next sequence number (1, 2, 3... with no gaps) and the injected clock's time,
 * then hands it, synchronously and in order, to every sink and to the hot `events$` stream.
 *
 * Rules:
 * - append never throws because of a sink. A sink that throws is removed at once and reported
 *   once through `onSinkError`; the others still get the event.
 * - The event object (and its data) is shared with every sink: nobody mutates it after append.
 * - After close(), append still numbers and returns events (late shutdown chatter must not
 *   crash), but delivers them nowhere.
 * - With no sink and no subscriber, append costs one small object.
 */
import { NEVER, type Observable, Subject } from 'rxjs';
import { AssertionError } from './assert.js';
import type { Clock } from './clock.js';
import type { EventSink, LogEvent } from './event.js';
import { LiveMachines } from './live-machines.js';

export interface EventLogOptions {
  /** Told once about each sink that threw (it has already been removed). */
  readonly onSinkError?: (error: unknown, sink: EventSink) => void;
  /** The registry of live machine actors to offer the log's owners (see `liveMachines`). */
  readonly liveMachines?: LiveMachines;
}

export class EventLog {
  /** Hot: subscribers see the events appended after they subscribed. Completes on close(). */
  readonly events$: Observable<LogEvent>;
  private readonly subject = new Subject<LogEvent>();
  // Replaced, never mutated, when sinks come and go: an append iterating the old array is safe.
  private sinks: readonly EventSink[] = [];
  private seqLast = 0;
  private closed = false;
  #liveMachines: LiveMachines | null;

  constructor(
    private readonly clock: Clock,
    private readonly options: EventLogOptions = {},
  ) {
    this.events$ = this.subject.asObservable();
    this.#liveMachines = options.liveMachines ?? null;
  }

  get lastSeq(): number {
    return this.seqLast;
  }

  /**
   * The live xstate actors of long-lived machines (src/core/live-machines.ts), which their owners
   * register into; null (nobody registers anything) unless given to the constructor or asked for
   * with trackLiveMachines() before the owners start.
   */
  get liveMachines(): LiveMachines | null {
    return this.#liveMachines;
  }

  /** Creates the live-machine registry (once) and returns it. */
  trackLiveMachines(): LiveMachines {
    this.#liveMachines ??= new LiveMachines();
    return this.#liveMachines;
  }

  append<D>(actor: string, type: string, data: D): LogEvent<D> {
    this.seqLast += 1;
    const event: LogEvent<D> = { seq: this.seqLast, t: this.clock.now(), actor, type, data };
    if (this.closed) return event;
    const sinks = this.sinks;
    for (let i = 0; i < sinks.length; i++) {
      const sink = sinks[i]!;
      try {
        sink.write(event);
      } catch (error) {
        this.removeFailedSink(sink, error);
      }
    }
    if (this.subject.observed) this.subject.next(event);
    return event;
  }

  /** Adds a sink; the returned function removes it (without closing it). */
  addSink(sink: EventSink): () => void {
    if (this.closed) throw new AssertionError('EventLog.addSink after close(); add sinks before closing');
    this.sinks = [...this.sinks, sink];
    return () => {
      this.sinks = this.sinks.filter((s) => s !== sink);
    };
  }

  /** Completes events$, then closes every sink (in the order added) and drops them. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subject.complete();
    const sinks = this.sinks;
    this.sinks = [];
    for (const sink of sinks) {
      try {
        await sink.close?.();
      } catch (error) {
        this.options.onSinkError?.(error, sink);
      }
    }
  }

  private removeFailedSink(sink: EventSink, error: unknown): void {
    if (!this.sinks.includes(sink)) return;
    this.sinks = this.sinks.filter((s) => s !== sink);
    this.options.onSinkError?.(error, sink);
  }
}

const zeroClock: Clock = {
  now: () => 0,
  setTimeout: () => {
    throw new AssertionError('nullEventLog has no timers');
  },
  clearTimeout: () => {},
};

/**
 * For code that runs without an event log: numbers events (t = 0) and delivers them nowhere.
 * Shared, so adding a sink to it is a bug (it would see everyone's events).
 */
class NullEventLog extends EventLog {
  override readonly events$: Observable<LogEvent> = NEVER;

  override addSink(_sink: EventSink): () => void {
    throw new AssertionError('nullEventLog takes no sinks; create an EventLog to observe events');
  }

  override trackLiveMachines(): LiveMachines {
    throw new AssertionError('nullEventLog tracks no live machines; create an EventLog to track them');
  }
}

export const nullEventLog: EventLog = new NullEventLog(zeroClock);
