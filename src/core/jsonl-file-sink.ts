/**
 * Appends each event as one canonical JSONL line to a file (`--events FILE`). Writes go through a
 * node:fs write stream, so append() never blocks on the disk; close() resolves once every line is
 * flushed and the file is closed. A write error is reported once through `onError` and later
 * events are dropped (a broken events file must not stop the target).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { EventSink, LogEvent } from './event.js';
import { canonicalEventLine } from './event-sinks.js';

export interface JsonlFileSinkOptions {
  /** Append to an existing file instead of truncating it. */
  readonly append?: boolean;
  readonly onError?: (error: Error) => void;
}

export class JsonlFileSink implements EventSink {
  private readonly stream: WriteStream;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private readonly options: JsonlFileSinkOptions = {},
  ) {
    this.stream = createWriteStream(path, { flags: options.append ? 'a' : 'w', encoding: 'utf8' });
    this.stream.on('error', (error) => {
      if (this.failure !== undefined) return;
      this.failure = error;
      this.options.onError?.(error);
    });
  }

  write(event: LogEvent): void {
    if (this.failure !== undefined || this.closing !== undefined) return;
    this.stream.write(`${canonicalEventLine(event)}\n`);
  }

  /** Flushes and closes the file. Rejects if the file could not be written. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve, reject) => {
      const settle = () => (this.failure === undefined ? resolve() : reject(this.failure));
      if (this.stream.closed) {
        settle();
        return;
      }
      this.stream.once('close', settle);
      this.stream.end();
    });
    return this.closing;
  }
}
