/**
 * `--log-level` and `--log-format` for the long-running commands (up, target, sheep), and the
 * logger they make. Logs go to stderr: stdout carries the friendly lines (`collie up ready: ...`,
 * `inspector: http://...`) that people read and scripts parse. `--log-format auto` (the default)
 * writes pino-pretty lines when stderr is a terminal and JSON lines otherwise (a pipe, a file,
 * journald); json or pretty force one. The level is --log-level, else env LOG_LEVEL, else info;
 * per-IO lines are at trace. Secrets are redacted (core/logger.ts).
 */
import { InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { createLogger, LOG_FORMATS, type LogFormat, type Logger, resolveLogFormat } from '../core/logger.js';

export interface LogFlags {
  readonly logLevel?: string;
  /** Default auto. */
  readonly logFormat?: LogFormat;
}

/** Where the logs go: a writable that may be a terminal. */
export type LogStream = NodeJS.WritableStream & { readonly isTTY?: boolean };

const LEVELS = [...Object.keys(pino.levels.values), 'silent'];

function parseLogLevel(value: string): string {
  if (!LEVELS.includes(value)) {
    throw new InvalidArgumentError(`--log-level ${JSON.stringify(value)}: write one of ${LEVELS.join(', ')}`);
  }
  return value;
}

/** `--log-level LEVEL`: add it with `.addOption(logLevelOption())`. */
export function logLevelOption(): Option {
  return new Option(
    '--log-level <level>',
    `${LEVELS.join(', ')} (default: env LOG_LEVEL, else info)`,
  ).argParser(parseLogLevel);
}

/** `--log-format auto|json|pretty` (default auto): add it with `.addOption(logFormatOption())`. */
export function logFormatOption(): Option {
  return new Option('--log-format <format>', 'logs on stderr as json, pretty, or auto: pretty on a terminal')
    .choices(LOG_FORMATS)
    .default('auto');
}

/** The logger the flags ask for, writing to `stream` (default stderr). */
export function loggerFromFlags(
  flags: LogFlags,
  bindings: Record<string, unknown>,
  extra: { readonly stream?: LogStream; readonly secrets?: readonly string[] } = {},
): Logger {
  const stream = extra.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const pretty = resolveLogFormat(flags.logFormat ?? 'auto', tty) === 'pretty';
  return createLogger({
    level: flags.logLevel,
    pretty,
    colorize: pretty && tty,
    destination: stream,
    bindings,
    ...(extra.secrets === undefined ? {} : { secrets: extra.secrets }),
  });
}
