/**
 * An rxjs scheduler on an injected Clock, so time-based operators (timer, delay, debounceTime,
 * timeout...) follow virtual time in the simulator: pass `clockScheduler(clock)` wherever an
 * operator takes a scheduler. Every action is one clock timer; rescheduling (periodic `timer`,
 * `interval`) clears and sets it again, so the clock's (due, sequence) order decides everything.
 * rethrowOnClock keeps a subscriber's exception on the clock too.
 */
import { type SchedulerAction, type SchedulerLike, Subscription } from 'rxjs';
import type { Clock, TimerId } from './clock.js';

type Work<T> = (this: SchedulerAction<T>, state?: T) => void;

class ClockAction<T> extends Subscription implements SchedulerAction<T> {
  private timerId: TimerId | undefined;
  private state: T | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly work: Work<T>,
  ) {
    super();
  }

  override unsubscribe(): void {
    if (this.closed) return;
    this.cancelTimer();
    super.unsubscribe();
  }

  schedule(state?: T, delay = 0): Subscription {
    if (this.closed) return this;
    this.state = state;
    this.cancelTimer();
    // rxjs may pass a negative delay (a Date already past); the clock wants >= 0.
    const delayMs = Number.isFinite(delay) && delay > 0 ? delay : 0;
    this.timerId = this.clock.setTimeout(() => this.execute(), delayMs);
    return this;
  }

  private execute(): void {
    this.timerId = undefined;
    if (this.closed) return;
    try {
      this.work.call(this, this.state);
    } catch (error) {
      this.unsubscribe();
      throw error;
    }
    // Work that did not reschedule itself is finished: release it from its parent subscription.
    if (this.timerId === undefined) this.unsubscribe();
  }

  private cancelTimer(): void {
    if (this.timerId === undefined) return;
    this.clock.clearTimeout(this.timerId);
    this.timerId = undefined;
  }
}

export function clockScheduler(clock: Clock): SchedulerLike {
  return {
    now: () => clock.now(),
    schedule<T>(work: Work<T>, delay?: number, state?: T): Subscription {
      return new ClockAction<T>(clock, work).schedule(state, delay);
    },
  };
}

/**
 * `handler` made safe to subscribe with: an exception it throws is thrown again from a clock timer
 * due now, never handed to rxjs, which would report it later on a real timer, outside the injected
 * clock. In the simulator the run then fails at this instant, as deterministically as it does when
 * a direct call throws into a clock timer.
 */
export function rethrowOnClock<T>(clock: Clock, handler: (value: T) => void): (value: T) => void {
  return (value) => {
    try {
      handler(value);
    } catch (error) {
      clock.setTimeout(() => {
        throw error;
      }, 0);
    }
  };
}
