/**
 * A connection's input as rxjs streams: the transport's ByteStream (attach: data, drain, close)
 * turned into the PDUs the initiator sent, framed by the PduFramer (iscsi/pdu/framer.ts).
 *
 * - `pdus$`: each PDU as the framer returns it, a Frame or a FramingError (`kind: 'error'`), in
 *   arrival order; then `closed` with the transport's reason, exactly once, and completion.
 * - `received$`: one mark after the PDUs of each chunk: bytes arrived (a chunk that holds only
 *   part of a PDU counts too). The keepalive watches these; completes after `closed`.
 *
 * Synchronous and hot: each PDU reaches every subscriber before the next is framed, so a
 * subscriber may change the framer's options (digests and the data segment limit at the final
 * Login Response) and they apply from the next PDU, as framer.ts requires. Never put a scheduler
 * (observeOn, delay) between these streams and the connection. Subscribe before start(), which
 * attaches to the byte stream (bytes that came before are held by it and delivered then).
 * Subscribers must not throw (rxjs would report it on a real timer; see rethrowOnClock). Both
 * streams are Fanouts (core/rx-fanout.ts): a Subject would cost more per PDU than the rest of
 * this file.
 *
 * Backpressure: rxjs has none. pauseUntilDrained() pauses the byte stream (no more chunks; TCP
 * flow control pushes the initiator back) until its send buffer drains; the PDUs of the chunk
 * being delivered still come.
 */
import type { Observable } from 'rxjs';
import type { ByteStream, CloseReason } from '../../../transports/transport.js';
import { Fanout } from '../../core/rx-fanout.js';
import type { Frame, FramingError, PduFramer } from '../pdu/framer.js';

export interface StreamClosed {
  readonly kind: 'closed';
  readonly reason: CloseReason;
}

export type PduStreamItem = Frame | FramingError | StreamClosed;

/** Bytes arrived; follows the PDUs framed from them. */
export interface BytesReceived {
  readonly kind: 'received';
}

/** One object for every chunk: the mark carries nothing, so nothing is allocated per chunk. */
const RECEIVED: BytesReceived = Object.freeze({ kind: 'received' });

export class PduStream {
  readonly #stream: ByteStream;
  readonly #framer: PduFramer;
  readonly #pdus = new Fanout<PduStreamItem>();
  readonly #received = new Fanout<BytesReceived>();
  /** See the file comment. */
  readonly pdus$: Observable<PduStreamItem> = this.#pdus.stream$;
  /** See the file comment. */
  readonly received$: Observable<BytesReceived> = this.#received.stream$;
  #readPaused = false;
  #started = false;

  constructor(stream: ByteStream, framer: PduFramer) {
    this.#stream = stream;
    this.#framer = framer;
  }

  /** Attaches to the byte stream (once): from now on chunks come in as PDUs. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#stream.attach({
      data: (chunk) => this.#receive(chunk),
      drain: () => this.#resumeReading(),
      close: (reason) => {
        this.#pdus.push({ kind: 'closed', reason });
        this.#pdus.complete();
        this.#received.complete();
      },
    });
  }

  /** Stops reading until the byte stream's send buffer drains (see the file comment). */
  pauseUntilDrained(): void {
    if (this.#readPaused) return;
    this.#readPaused = true;
    this.#stream.pause();
  }

  #resumeReading(): void {
    if (!this.#readPaused) return;
    this.#readPaused = false;
    this.#stream.resume();
  }

  #receive(chunk: Buffer): void {
    const framer = this.#framer;
    const pdus = this.#pdus;
    framer.push(chunk);
    for (let item = framer.next(); item !== undefined; item = framer.next()) pdus.push(item);
    this.#received.push(RECEIVED);
  }
}
