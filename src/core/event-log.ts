/**
 * The ordered event log: one per process (one per world in the simulator). append() stamps an
 * event with the next sequence number (1, 2, 3... with no gaps) and the injected clock's time,
 * then puts it, synchronously, on the hot rxjs stream `events$`: the event spine. Every consumer
 * is a subscriber of that one stream, in the order it subscribed: the sinks added with addSink
 * (JSONL file, digest, ring, the simulator's checkers, the inspector's live source) and anyone
 * who subscribes to `events$` directly.
 *
 * Rules:
 * - append never throws because of a sink. A sink that throws is unsubscribed at once and
 *   reported once through `onSinkError`; the others still get the event. (rxjs would report a
 *   throwing subscriber on a real timer, outside the injected clock: sinks catch their own.)
 * - The event object (and its data) is shared with every sink: nobody mutates it after append.
 * - After close(), append still numbers and returns events (late shutdown chatter must not
 *   crash), but delivers them nowhere.
 * - With no sink and no subscriber, append costs one small object: nothing is put on the stream.
 */
import { NEVER, type Observable, type Subscription } from 'rxjs';
import { AssertionError } from './assert.js';
import type { Clock } from './clock.js';
import type { EventSink, LogEvent } from './event.js';
import { LiveMachines } from './live-machines.js';
import { Fanout } from './rx-fanout.js';

export interface EventLogOptions {
  /** Told once about each sink that threw (it has already been removed). */
  readonly onSinkError?: (error: unknown, sink: EventSink) => void;
  /** The registry of live machine actors to offer the log's owners (see `liveMachines`). */
  readonly liveMachines?: LiveMachines;
}

export class EventLog {
  /** Hot: subscribers see the events appended after they subscribed. Completes on close(). */
  readonly events$: Observable<LogEvent>;
  // A light hot stream: every sink rides it, and an IO appends events (src/core/rx-fanout.ts).
  private readonly subject = new Fanout<LogEvent>();
  /** Sinks subscribed now, in the order added (close() closes them in that order). */
  private readonly sinks = new Map<EventSink, Subscription>();
  private seqLast = 0;
  private closed = false;
  #liveMachines: LiveMachines | null;

  constructor(
    private readonly clock: Clock,
    private readonly options: EventLogOptions = {},
  ) {
    this.events$ = this.subject.stream$;
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
    if (this.subject.observed) this.subject.push(event);
    return event;
  }

  /** Subscribes a sink to `events$`; the returned function unsubscribes it (without closing it). */
  addSink(sink: EventSink): () => void {
    if (this.closed) throw new AssertionError('EventLog.addSink after close(); add sinks before closing');
    const subscription = this.subject.stream$.subscribe((event) => {
      try {
        sink.write(event);
      } catch (error) {
        this.removeFailedSink(sink, error);
      }
    });
    this.sinks.set(sink, subscription);
    return () => {
      this.sinks.get(sink)?.unsubscribe();
      this.sinks.delete(sink);
    };
  }

  /** Completes events$, then closes every sink (in the order added) and drops them. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subject.complete();
    const sinks = [...this.sinks.keys()];
    this.sinks.clear();
    for (const sink of sinks) {
      try {
        await sink.close?.();
      } catch (error) {
        this.options.onSinkError?.(error, sink);
      }
    }
  }

  private removeFailedSink(sink: EventSink, error: unknown): void {
    const subscription = this.sinks.get(sink);
    if (subscription === undefined) return;
    subscription.unsubscribe();
    this.sinks.delete(sink);
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
