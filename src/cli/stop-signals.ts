/**
 * How a long-running command (`collie up`, `collie target`, `collie sheep`) stops on SIGTERM or
 * SIGINT: the first signal runs its graceful stop (bounded by `deadlineMs`) and exits 0 once it is
 * done (1 when it fails or overruns the deadline); a second signal during the stop exits at once
 * with 128 + the signal's number (143 for SIGTERM, 130 for SIGINT), as a shell reports a process
 * killed by that signal. Each step is logged.
 *
 * The deadline has one rule, stopDeadlineMs: the target's drain and logout wait (--drain-seconds,
 * --logout-seconds, YAML `stop:`) plus STOP_DEADLINE_MARGIN_MS for what follows them (backends,
 * the store's flush, the HTTP server), so it always exceeds the waits it bounds. `collie up`'s
 * nodes stop in parallel with the same waits: the same rule bounds them.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { realClock } from '../core/real-clock.js';
import {
  DRAIN_SECONDS_DEFAULT,
  LOGOUT_REQUEST_SECONDS_DEFAULT,
} from '../iscsi/target/iscsi-target-server.js';

/** What a stop takes beyond the target's two waits: the backends, the store's flush, the HTTP server. */
export const STOP_DEADLINE_MARGIN_MS = 4_000;

/** The graceful stop's deadline for these waits (unset: the target's defaults, 3 s and 2 s). */
export function stopDeadlineMs(waits: {
  readonly drainSeconds?: number;
  readonly logoutSeconds?: number;
}): number {
  const drainSeconds = waits.drainSeconds ?? DRAIN_SECONDS_DEFAULT;
  const logoutSeconds = waits.logoutSeconds ?? LOGOUT_REQUEST_SECONDS_DEFAULT;
  return (drainSeconds + logoutSeconds) * 1000 + STOP_DEADLINE_MARGIN_MS;
}

/** Bound on a whole graceful stop with the default waits (9 s); `collie sheep` has no target and uses it. */
export const STOP_DEADLINE_MS_DEFAULT = stopDeadlineMs({});

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** The exit status for a stop forced by a second signal: 128 + the signal number. */
export const FORCED_EXIT_CODES: Readonly<Record<StopSignal, number>> = { SIGTERM: 143, SIGINT: 130 };

export interface StopSignalOptions {
  readonly logger: Logger;
  /** The graceful stop; the process exits 0 when it resolves. */
  readonly stop: (signal: StopSignal) => Promise<void>;
  /** Past this the process exits 1 even though the stop has not finished (stopDeadlineMs). Default 9 s. */
  readonly deadlineMs?: number;
  /** Times the deadline and the log lines. Default the wall clock. */
  readonly clock?: Clock;
  /** Where the process ends (tests replace it). Default process.exit. */
  readonly exit?: (code: number) => void;
  /** Where the signals come from (tests replace it). Default process. */
  readonly signals?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
}

/** Installs the SIGTERM/SIGINT handlers; returns a function that removes them. */
export function stopOnSignals(options: StopSignalOptions): () => void {
  const { logger, stop } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? process;
  const deadlineMs = options.deadlineMs ?? STOP_DEADLINE_MS_DEFAULT;
  const clock = options.clock ?? realClock;
  let stopping: StopSignal | undefined;
  const onSignal = (signal: StopSignal) => {
    if (stopping !== undefined) {
      const code = FORCED_EXIT_CODES[signal];
      logger.warn({ signal, first: stopping, exitCode: code }, 'second stop signal: exiting at once');
      exit(code);
      return;
    }
    stopping = signal;
    const startMs = clock.now();
    logger.info({ signal, deadlineMs }, 'stopping (send the signal again to stop at once)');
    // Keeps the process alive until the stop ends one way or the other.
    const deadline = clock.setTimeout(() => {
      logger.error({ deadlineMs }, 'the graceful stop did not finish in time: exiting');
      exit(1);
    }, deadlineMs);
    stop(signal).then(
      () => {
        clock.clearTimeout(deadline);
        logger.info({ elapsedMs: clock.now() - startMs }, 'stopped');
        exit(0);
      },
      (error: unknown) => {
        clock.clearTimeout(deadline);
        logger.error({ err: error, elapsedMs: clock.now() - startMs }, 'the graceful stop failed');
        exit(1);
      },
    );
  };
  const handlers = STOP_SIGNALS.map((signal) => [signal, () => onSignal(signal)] as const);
  for (const [signal, handler] of handlers) signals.on(signal, handler);
  return () => {
    for (const [signal, handler] of handlers) signals.off(signal, handler);
  };
}
