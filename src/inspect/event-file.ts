/**
 * Loads a JSONL event file for the inspector (`collie inspect FILE`): a simulator's
 * `collie sim run --events FILE` (a header line `{"format":"collie-sim-events",...}` first, see
 * sim/replay-header.ts) or a live process's `--events FILE` (events only).
 *
 * Rules:
 * - Every line is one canonical event `{seq, t, actor, type, data}`; seq strictly increases.
 * - A bad line is an EventFileError naming the file, the line number and what is wrong, never a
 *   parser's stack trace. The one exception: a last line without its newline that does not parse
 *   is a process still writing it, and is ignored (`truncatedTail`).
 * - Empty lines are skipped. An empty file is a file with no events (a process just started).
 * - The file is read as bytes and cut at newlines, so its size is bounded by memory, not by the
 *   longest string V8 allows; the event line texts are kept (free-text search reads them).
 */
import { readFile } from 'node:fs/promises';
import type { LogEvent } from '../core/event.js';

export const SIM_EVENTS_FORMAT = 'collie-sim-events';

export interface EventFile {
  readonly path: string;
  /** The simulator's header line (scenario, seed...), or null for a live process's file. */
  readonly header: Readonly<Record<string, unknown>> | null;
  readonly events: LogEvent[];
  /** The text of each event's line (same index as `events`). */
  readonly lines: string[];
  /** True when an unfinished last line (no newline, not JSON yet) was left out. */
  readonly truncatedTail: boolean;
}

export class EventFileError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'EventFileError';
  }
}

export async function loadEventFile(path: string): Promise<EventFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file (give the file a --events FILE run wrote)'
        : code === 'EISDIR'
          ? 'it is a directory (give the JSONL file itself)'
          : (error as Error).message;
    throw new EventFileError(path, `cannot read ${path}: ${why}`);
  }
  return parseEventFile(path, bytes);
}

const NEWLINE = 0x0a;
const SHOWN_CHARS_MAX = 80;

/** Parses the bytes of an event file (see the rules above); `path` names it in errors. */
export function parseEventFile(path: string, bytes: Buffer): EventFile {
  const events: LogEvent[] = [];
  const lines: string[] = [];
  let header: Record<string, unknown> | null = null;
  let truncatedTail = false;
  let sawFirstLine = false;
  let lastSeq = 0;
  let lineNumber = 0;
  let start = 0;
  const fail = (message: string): never => {
    throw new EventFileError(path, `${path}:${lineNumber}: ${message}`);
  };
  while (start < bytes.length) {
    let end = bytes.indexOf(NEWLINE, start);
    const complete = end !== -1;
    if (!complete) end = bytes.length;
    lineNumber += 1;
    // A CRLF file (edited on Windows) is still read.
    const textEnd = end > start && bytes[end - 1] === 0x0d ? end - 1 : end;
    const text = bytes.toString('utf8', start, textEnd);
    start = end + 1;
    if (text.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      if (!complete) {
        truncatedTail = true;
        break;
      }
      fail(`not a JSON line (${(error as Error).message}): ${shown(text)}`);
    }
    const first = !sawFirstLine;
    sawFirstLine = true;
    if (first && isObject(parsed) && 'format' in parsed) {
      if (parsed.format !== SIM_EVENTS_FORMAT) {
        fail(
          `the header names format ${JSON.stringify(parsed.format)}, not "${SIM_EVENTS_FORMAT}": this is not a Collie event file`,
        );
      }
      header = parsed;
      continue;
    }
    const event = asEvent(parsed);
    if (typeof event === 'string') fail(`${event}: ${shown(text)}`);
    const checked = event as LogEvent;
    if (checked.seq <= lastSeq) {
      fail(
        `seq ${checked.seq} does not follow seq ${lastSeq}: the file holds more than one run or was edited (write each run to its own file)`,
      );
    }
    lastSeq = checked.seq;
    events.push(checked);
    lines.push(text);
  }
  return { path, header, events, lines, truncatedTail };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The event, or what is wrong with it. */
function asEvent(value: unknown): LogEvent | string {
  if (!isObject(value)) return 'not an event object {seq, t, actor, type, data}';
  if (!Number.isSafeInteger(value.seq) || (value.seq as number) < 1) return 'seq is not a whole number >= 1';
  if (typeof value.t !== 'number' || !Number.isFinite(value.t)) return 't is not a number';
  if (typeof value.actor !== 'string') return 'actor is not a string';
  if (typeof value.type !== 'string') return 'type is not a string';
  if (!('data' in value)) return 'data is missing';
  return value as unknown as LogEvent;
}

function shown(text: string): string {
  return text.length <= SHOWN_CHARS_MAX ? text : `${text.slice(0, SHOWN_CHARS_MAX)}...`;
}
