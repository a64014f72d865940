/**
 * A streaming parser for `text/event-stream` (the WHATWG "server-sent events" format), fed text
 * chunks in arrival order, cut anywhere: inside a line, between the CR and LF of one line end,
 * inside a field name. It keeps the unfinished line and the message being built across pushes.
 * No DOM and no EventSource: it runs in the browser and in Node alike (Node 20 has no EventSource).
 *
 * Rules followed: lines end in CRLF, LF or CR; a leading BOM is dropped; a line starting with ':'
 * is a comment; `field: value` drops one space after the colon; `data` lines join with '\n'; an
 * empty line dispatches the message (a message with no data is dropped, as the spec says); `id`
 * containing NUL is ignored; `retry` only takes digits and is kept for the whole stream. The event type defaults to "message".
 */

export interface SseMessage {
  /** The `event:` field, or "message". */
  readonly event: string;
  /** The `data:` lines joined with '\n'. */
  readonly data: string;
  /** The last event id seen so far in the stream (it carries over, as the spec says). */
  readonly id: string;
}

export class SseParser {
  private buffer = '';
  private started = false;
  /** A chunk ended in CR: a LF opening the next chunk belongs to that line end. */
  private pendingCr = false;
  private eventType = '';
  private dataLines: string[] = [];
  private hasData = false;
  private lastId = '';
  private retryMs: number | undefined;

  /** Feeds one decoded chunk; returns the messages it completed, oldest first. */
  push(chunk: string): SseMessage[] {
    let text = chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const messages: SseMessage[] = [];
    let start = 0;
    for (;;) {
      const end = this.nextLineEnd(start);
      if (end === -1) break;
      const line = this.buffer.slice(start, end);
      if (this.buffer[end] === '\r') {
        if (end + 1 === this.buffer.length) {
          this.pendingCr = true;
          start = end + 1;
        } else start = this.buffer[end + 1] === '\n' ? end + 2 : end + 1;
      } else start = end + 1;
      const message = this.line(line);
      if (message) messages.push(message);
    }
    this.buffer = this.buffer.slice(start);
    return messages;
  }

  /**
   * The stream ended. A message not closed by an empty line is dropped, as a browser's
   * EventSource drops it; returns nothing, and the parser is ready for a new stream (the last id is kept).
   */
  end(): SseMessage[] {
    this.buffer = '';
    this.started = false;
    this.pendingCr = false;
    this.resetMessage();
    return [];
  }

  /** The id of the last message seen, for a reconnect's Last-Event-ID. */
  get lastEventId(): string {
    return this.lastId;
  }

  /** The reconnection delay the server last asked for with `retry:`, if it did. */
  get reconnectMs(): number | undefined {
    return this.retryMs;
  }

  private nextLineEnd(from: number): number {
    for (let index = from; index < this.buffer.length; index++) {
      const code = this.buffer.charCodeAt(index);
      if (code === 0x0a || code === 0x0d) return index;
    }
    return -1;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.dataLines.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return undefined;
  }

  private dispatch(): SseMessage | undefined {
    const message: SseMessage | undefined = this.hasData
      ? { event: this.eventType || 'message', data: this.dataLines.join('\n'), id: this.lastId }
      : undefined;
    this.resetMessage();
    return message;
  }

  private resetMessage(): void {
    this.eventType = '';
    this.dataLines = [];
    this.hasData = false;
  }
}
