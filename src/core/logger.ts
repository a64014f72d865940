/**
 * Human-facing diagnostics (pino). The event log is the record of state changes; the logger is
 * for people. Level: opts.level, else env LOG_LEVEL, else 'info'.
 *
 * With a `clock`, the `time` field comes from it, and pid/hostname are left out, so a simulator
 * run's logs show virtual milliseconds and are identical for the same seed. `pretty` formats with
 * pino-pretty: synchronously into `destination` when one is given (tests), otherwise in pino's
 * worker-thread transport writing to stdout (real runs).
 */
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import pinoPretty from 'pino-pretty';
import type { Clock } from './clock.js';
import { realClock } from './real-clock.js';

export type { Logger };

export interface CreateLoggerOptions {
  readonly level?: string;
  readonly pretty?: boolean;
  readonly clock?: Clock;
  readonly bindings?: Record<string, unknown>;
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const { clock, pretty = false, destination, bindings } = opts;
  const options: LoggerOptions = { level: opts.level ?? process.env.LOG_LEVEL ?? 'info' };
  if (clock !== undefined) {
    options.timestamp = () => `,"time":${clock.now()}`;
    options.base = undefined;
  }
  // A virtual clock's milliseconds are not dates: print them raw rather than as 1970 timestamps.
  const translateTime = clock === undefined || clock === realClock ? 'SYS:HH:MM:ss.l' : false;
  const prettyOptions = { translateTime, ignore: 'pid,hostname', colorize: false };

  let root: Logger;
  if (pretty && destination !== undefined) {
    root = pino(options, pinoPretty({ ...prettyOptions, destination, sync: true }));
  } else if (pretty) {
    options.transport = { target: 'pino-pretty', options: { ...prettyOptions, colorize: true } };
    root = pino(options);
  } else if (destination !== undefined) {
    root = pino(options, destination as unknown as DestinationStream);
  } else {
    root = pino(options);
  }
  return bindings === undefined ? root : root.child(bindings);
}

/** Drops everything; for code and tests that take a logger but have nothing to say. */
export const silentLogger: Logger = pino({ level: 'silent' });
