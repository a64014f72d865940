/**
 * One entry of the ordered event log. Every state change in Collie is one of these.
 *
 * - `seq`: the global sequence number, gap-free and strictly increasing within one log.
 * - `t`: the injected Clock's time (virtual in the simulator), in milliseconds.
 * - `actor`: a stable id of who changed ("store/vdi/7c2b25", "store/endpoint/127.0.0.1:7000").
 *   Never an xstate sessionId: those come from a process-global counter and do not replay.
 * - `type`: dotted and past tense ("lock.acquired", "coherence.invalidated", "transport.closed").
 * - `data`: JSON-serialisable payload (numbers, strings, booleans, arrays, plain objects; no
 *   bigint, no Buffer: use hex strings).
 */
export interface LogEvent<D = unknown> {
  readonly seq: number;
  readonly t: number;
  readonly actor: string;
  readonly type: string;
  readonly data: D;
}

/** Where events go. A sink must not throw; one that fails reports it through its own channel. */
export interface EventSink {
  write(event: LogEvent): void;
  /** Flushes and releases the sink. */
  close?(): Promise<void> | void;
}
