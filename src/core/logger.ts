/**
 * Human-facing diagnostics (pino). The event log is the record of state changes; the logger is
 * for people. Level: opts.level, else env LOG_LEVEL, else 'info'.
 *
 * With a `clock`, the `time` field comes from it, and pid/hostname are left out, so a simulator
 * run's logs show virtual milliseconds and are identical for the same seed. `pretty` formats with
 * pino-pretty: synchronously into `destination` when one is given (the CLI gives stderr; tests a
 * buffer), otherwise in pino's worker-thread transport writing to stdout. Without `pretty`, JSON
 * lines go to `destination`, else stdout. The CLI picks the format with resolveLogFormat.
 *
 * Secrets are never written: every value under a key that names one (SECRET_KEY: secret,
 * chapSecret, password, token, authorization, CHAP_R, CHAP_C, ...) at any depth of a logged
 * object, a logged Error (its own properties) or the bindings becomes "[Redacted]", and so does
 * every occurrence of a string given in `secrets` (a target's CHAP secrets) in messages, values,
 * error messages and stacks. pino's own `redact` option is not used: its paths have a fixed
 * depth (`*.secret` is one level), and a config object nests accounts deeper.
 */
import { type DestinationStream, type Logger, type LoggerOptions, pino, stdSerializers } from 'pino';
import pinoPretty from 'pino-pretty';
import type { Clock } from './clock.js';
import { realClock } from './real-clock.js';

export type { Logger };

/** What `--log-format` accepts: auto is pretty on a terminal, JSON lines otherwise. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The format to write: `auto` follows whether the log stream is a terminal. */
export function resolveLogFormat(format: LogFormat, isTty: boolean): 'json' | 'pretty' {
  if (format === 'auto') return isTty ? 'pretty' : 'json';
  return format;
}

/** What replaces a secret in the output. */
export const REDACTED = '[Redacted]';

/** Keys whose values are secrets, wherever they appear in a logged object. */
export const SECRET_KEY =
  /secret|passw(?:or)?d|passphrase|token|authorization|cookie|credential|private_?key|^chap_[rc]$/i;

/** Secrets shorter than this are not searched for in text (they would blank out ordinary words). */
const SECRET_TEXT_MIN = 6;
const SCRUB_DEPTH_MAX = 10;

export interface CreateLoggerOptions {
  readonly level?: string;
  readonly pretty?: boolean;
  /** Colours in pretty output (default off): for a terminal only. */
  readonly colorize?: boolean;
  readonly clock?: Clock;
  readonly bindings?: Record<string, unknown>;
  readonly destination?: NodeJS.WritableStream;
  /** Strings never to write (CHAP secrets): replaced wherever they occur. */
  readonly secrets?: readonly string[];
}

export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const { clock, pretty = false, destination, bindings } = opts;
  const scrubber = new Scrubber((opts.secrets ?? []).filter((secret) => secret.length >= SECRET_TEXT_MIN));
  const options: LoggerOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    // Errors arrive already serialized and scrubbed (logMethod below): serializing the plain
    // object again would name its type "Object".
    serializers: { err: (value: unknown) => (value instanceof Error ? stdSerializers.err(value) : value) },
    hooks: {
      logMethod(args, method) {
        method.apply(this, scrubber.args(args) as Parameters<typeof method>);
      },
    },
  };
  if (clock !== undefined) {
    options.timestamp = () => `,"time":${clock.now()}`;
    options.base = undefined;
  }
  // A virtual clock's milliseconds are not dates: print them raw rather than as 1970 timestamps.
  const translateTime = clock === undefined || clock === realClock ? 'SYS:HH:MM:ss.l' : false;
  const prettyOptions = { translateTime, ignore: 'pid,hostname', colorize: opts.colorize === true };

  let root: Logger;
  if (pretty && destination !== undefined) {
    root = pino(options, pinoPretty({ ...prettyOptions, destination, sync: true }));
  } else if (pretty) {
    options.transport = { target: 'pino-pretty', options: prettyOptions };
    root = pino(options);
  } else if (destination !== undefined) {
    root = pino(options, destination as unknown as DestinationStream);
  } else {
    root = pino(options);
  }
  // pino gives no hook for a child's bindings (formatters.bindings sees only the root's): scrub
  // them on the way in. Children inherit this `child` through their prototype.
  const childOf = root.child;
  root.child = function (this: Logger, values, options) {
    return childOf.call(this, scrubber.object(values), options);
  } as Logger['child'];
  return bindings === undefined ? root : root.child(bindings);
}

/** Drops everything; for code and tests that take a logger but have nothing to say. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** Copies of logged values with secrets replaced (see the file comment); the originals are untouched. */
class Scrubber {
  constructor(private readonly secrets: readonly string[]) {}

  /** A log call's arguments: ([object | Error], [message], ...interpolation values). */
  args(args: readonly unknown[]): unknown[] {
    return args.map((arg, index) =>
      // pino names a leading Error `err` and takes its message when none is given; keep that.
      index === 0 && arg instanceof Error ? { err: this.value(arg) } : this.value(arg),
    );
  }

  object(values: Record<string, unknown>): Record<string, unknown> {
    return this.value(values) as Record<string, unknown>;
  }

  private text(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  }

  private value(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
    if (typeof value === 'string') return this.text(value);
    if (typeof value !== 'object' || value === null) return value;
    if (depth > SCRUB_DEPTH_MAX) return '[Too deep]';
    if (seen.has(value)) return '[Circular]';
    if (value instanceof Error) {
      // pino's own serialization (type, message and stack with causes, own properties), then scrubbed.
      seen.add(value);
      return this.entries(stdSerializers.err(value) as unknown as Record<string, unknown>, depth, seen, true);
    }
    if (Array.isArray(value)) {
      seen.add(value);
      return value.map((item) => this.value(item, depth + 1, seen));
    }
    const prototype = Object.getPrototypeOf(value);
    // Buffers, Dates, Maps and class instances are left to pino (JSON.stringify); plain objects,
    // which is what configs and log fields are, are walked.
    if (prototype !== Object.prototype && prototype !== null) return value;
    seen.add(value);
    return this.entries(value as Record<string, unknown>, depth, seen, false);
  }

  private entries(
    source: Record<string, unknown>,
    depth: number,
    seen: WeakSet<object>,
    inherited: boolean,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key in source) {
      if (!inherited && !Object.hasOwn(source, key)) continue;
      const item = source[key];
      if (item === undefined) continue;
      out[key] = SECRET_KEY.test(key) ? REDACTED : this.value(item, depth + 1, seen);
    }
    return out;
  }
}
