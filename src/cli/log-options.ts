/**
 * `--log-level` and `--log-format` for the long-running commands (up, target, sheep), and the
 * logger they make. Logs go to stderr: stdout carries the friendly lines (`collie up ready: ...`,
 * `inspector: http://...`) that people read and scripts parse. `--log-format auto` (the default)
 * writes pino-pretty lines when stderr is a terminal and JSON lines otherwise (a pipe, a file,
 * journald); json or pretty force one. The level is --log-level, else env LOG_LEVEL, else info;
 * per-IO lines are at trace. Secrets are redacted (core/logger.ts). Neither flag has a commander
 * default, so a command that also reads them from a file (`collie target --config`, YAML `log:`)
 * sees whether they were given: the flag wins, then the file, then these defaults. LOG_LEVELS is
 * the one list of levels (the YAML schema takes it too).
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

/** The levels --log-level and YAML `log.level` accept: pino's, and silent. */
export const LOG_LEVELS: readonly string[] = [...Object.keys(pino.levels.values), 'silent'];

function parseLogLevel(value: string): string {
  if (!LOG_LEVELS.includes(value)) {
    throw new InvalidArgumentError(
      `--log-level ${JSON.stringify(value)}: write one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  return value;
}

/** `--log-level LEVEL`: add it with `.addOption(logLevelOption())`. */
export function logLevelOption(): Option {
  return new Option(
    '--log-level <level>',
    `${LOG_LEVELS.join(', ')} (default: env LOG_LEVEL, else info)`,
  ).argParser(parseLogLevel);
}

/** `--log-format auto|json|pretty` (unset: auto, in loggerFromFlags): add it with `.addOption(logFormatOption())`. */
export function logFormatOption(): Option {
  return new Option(
    '--log-format <format>',
    'logs on stderr as json, pretty, or auto: pretty on a terminal (default: auto)',
  ).choices(LOG_FORMATS);
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
