/**
 * Goal: the connection's inputs are one rxjs stream (pdu-stream.ts: the transport's chunks framed
 * into PDUs, `closed` at the end; beside it a `received` mark per chunk for the keepalive) and the
 * connection machine moves on what is pushed on it; the keepalive runs on rxjs time with the
 * injected scheduler and keeps its timing (ping exactly `nopIntervalMs` after the last bytes, drop
 * exactly `nopTimeoutMs` after an unanswered ping) and its cost (no timer per received chunk);
 * backpressure still pauses the byte stream until it drains.
 * Method: one IscsiConnection on a scripted ByteStream in virtual time (the test pushes chunks
 * through the handlers the connection attached, and reads what the target wrote with a framer),
 * a login driver that finishes a discovery login at the first Login Request, and a clock that
 * counts the timers it was asked for.
 */
import { describe, expect, test } from 'vitest';
import type { LogEvent } from '../../../src/core/event.js';
import { EventLog } from '../../../src/core/event-log.js';
import { createLogger } from '../../../src/core/logger.js';
import { VirtualClock } from '../../../src/core/virtual-clock.js';
import type { NegotiatedParameters } from '../../../src/iscsi/login/negotiate.js';
import { decodePdu } from '../../../src/iscsi/pdu/decode.js';
import { encodePduBytes } from '../../../src/iscsi/pdu/encode.js';
import { PduFramer } from '../../../src/iscsi/pdu/framer.js';
import { EMPTY_DATA, type InitiatorPdu, type Pdu } from '../../../src/iscsi/pdu/messages.js';
import { LoginStage, RESERVED_TAG } from '../../../src/iscsi/pdu/opcodes.js';
import { IscsiConnection } from '../../../src/iscsi/target/iscsi-connection.js';
import type { LoginDriver } from '../../../src/iscsi/target/login-driver.js';
import { PduStream, type PduStreamItem } from '../../../src/iscsi/target/pdu-stream.js';
import type { ByteStream, ByteStreamHandlers, CloseReason } from '../../../transports/transport.js';

const NO_DIGESTS = { headerDigest: false, dataDigest: false };
const INTERVAL_MS = 1_000;
const TIMEOUT_MS = 1_500;

/** A VirtualClock that counts setTimeout calls. */
class CountingClock extends VirtualClock {
  timersSet = 0;
  override setTimeout(fn: () => void, delayMs: number): number {
    this.timersSet += 1;
    return super.setTimeout(fn, delayMs);
  }
}

/** A ByteStream the test drives: it pushes chunks, reads what was written, closes on the clock. */
class ScriptedStream implements ByteStream {
  readonly id = 'scripted-1';
  readonly local = { host: '192.168.0.10', port: 3260 };
  readonly remote = { host: '10.0.0.1', port: 40_000 };
  readonly bufferedBytes = 0;
  handlers: ByteStreamHandlers | undefined;
  /** What write() answers: false = above the high-water mark. */
  writable = true;
  paused = false;
  destroyedAtMs: number | undefined;
  #closing = false;
  readonly #written = new PduFramer({ ...NO_DIGESTS, maxRecvDataSegmentLength: 65_536 });

  constructor(readonly clock: VirtualClock) {}

  attach(handlers: ByteStreamHandlers): void {
    this.handlers = handlers;
  }

  write(chunk: Buffer): boolean {
    this.#written.push(chunk);
    return this.writable;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  end(): void {
    this.close({ kind: 'end' });
  }

  destroy(): void {
    this.destroyedAtMs ??= this.clock.now();
    this.close({ kind: 'reset' });
  }

  /** The transport closes: the close handler runs from a clock timer, as memory.ts does. */
  close(reason: CloseReason): void {
    if (this.#closing) return;
    this.#closing = true;
    this.clock.setTimeout(() => this.handlers!.close(reason), 0);
  }

  /** Bytes from the initiator, in one chunk. */
  push(...pdus: InitiatorPdu[]): void {
    this.handlers!.data(Buffer.concat(pdus.map((pdu) => encodePduBytes(pdu, NO_DIGESTS))));
  }

  /** The PDUs the target wrote since the last call. */
  received(): Pdu[] {
    const pdus: Pdu[] = [];
    for (let frame = this.#written.next(); frame; frame = this.#written.next()) {
      if (frame.kind !== 'frame') throw new Error(frame.error.message);
      const decoded = decodePdu(frame);
      if (!decoded.ok) throw new Error(decoded.error.message);
      pdus.push(decoded.value);
    }
    return pdus;
  }
}

const PARAMETERS = {
  session: { sessionType: 'Discovery' },
  connection: {
    headerDigest: 'None',
    dataDigest: 'None',
    maxSendDataSegmentLengthBytes: 8192,
    maxRecvDataSegmentLengthBytes: 8192,
  },
} as unknown as NegotiatedParameters;

/** Finishes a discovery login at the first Login Request. */
const discoveryLogin: LoginDriver = {
  handle: () => ({
    statusClass: 0,
    statusDetail: 0,
    transit: true,
    continue: false,
    csg: LoginStage.LOGIN_OPERATIONAL_NEGOTIATION,
    nsg: LoginStage.FULL_FEATURE_PHASE,
    data: EMPTY_DATA,
    outcome: 'done',
    result: { sessionType: 'Discovery', initiatorName: 'iqn.2026-01.test:initiator', parameters: PARAMETERS },
  }),
};

const LOGIN_REQUEST: InitiatorPdu = {
  kind: 'login-request',
  ahs: [],
  data: EMPTY_DATA,
  transit: true,
  continue: false,
  csg: LoginStage.LOGIN_OPERATIONAL_NEGOTIATION,
  nsg: LoginStage.FULL_FEATURE_PHASE,
  versionMax: 0,
  versionMin: 0,
  isid: '400001370000',
  tsih: 0,
  initiatorTaskTag: 1,
  cid: 0,
  cmdSN: 1,
  expStatSN: 0,
};

/** A NOP-Out: a ping of ours (answered with a NOP-In) or, with `answering`, the answer to the target's. */
function nopOut(tag: number, answering?: number): InitiatorPdu {
  return {
    kind: 'nop-out',
    ahs: [],
    data: EMPTY_DATA,
    immediate: true,
    lun: 0n,
    initiatorTaskTag: answering === undefined ? tag : RESERVED_TAG,
    targetTransferTag: answering ?? RESERVED_TAG,
    cmdSN: 2,
    expStatSN: 1,
  };
}

function connectionOn(options: { nopIntervalMs?: number; nopTimeoutMs?: number } = {}) {
  const clock = new CountingClock(1_000_000);
  const eventLog = new EventLog(clock);
  const events: LogEvent[] = [];
  eventLog.events$.subscribe((event) => events.push(event));
  const stream = new ScriptedStream(clock);
  const closed: string[] = [];
  const connection = new IscsiConnection({
    stream,
    login: discoveryLogin,
    hooks: {
      sessionFor: () => undefined,
      sendTargets: () => [],
      closed: (closing) => closed.push(closing.id),
    },
    clock,
    logger: createLogger({ level: 'silent', clock }),
    eventLog,
    nopIntervalMs: options.nopIntervalMs ?? INTERVAL_MS,
    nopTimeoutMs: options.nopTimeoutMs ?? TIMEOUT_MS,
  });
  const transitions = () =>
    events.filter((event) => event.type === 'connection.transition').map((event) => event.data);
  return { clock, stream, connection, closed, transitions };
}

/** Target pings (NOP-In with the reserved Initiator Task Tag) among `pdus`. */
function pings(pdus: readonly Pdu[]): number[] {
  return pdus.flatMap((pdu) =>
    pdu.kind === 'nop-in' && pdu.initiatorTaskTag === RESERVED_TAG ? [pdu.targetTransferTag] : [],
  );
}

describe('the PDU stream (pdu-stream.ts)', () => {
  test('chunks become frames (a PDU split across chunks comes whole), a received mark per chunk, closed, complete', () => {
    const clock = new VirtualClock();
    const stream = new ScriptedStream(clock);
    const pdus = new PduStream(stream, new PduFramer({ ...NO_DIGESTS, maxRecvDataSegmentLength: 8192 }));
    const seen: string[] = [];
    let completed = 0;
    const complete = () => {
      completed += 1;
    };
    pdus.pdus$.subscribe({
      next: (item) => seen.push(item.kind === 'closed' ? `closed:${item.reason.kind}` : item.kind),
      complete,
    });
    pdus.received$.subscribe({ next: (mark) => seen.push(mark.kind), complete });
    expect(stream.handlers).toBeUndefined();
    pdus.start();
    const two = Buffer.concat([encodePduBytes(nopOut(1), NO_DIGESTS), encodePduBytes(nopOut(2), NO_DIGESTS)]);
    stream.handlers!.data(two.subarray(0, 60));
    expect(seen).toEqual(['frame', 'received']);
    stream.handlers!.data(two.subarray(60));
    expect(seen).toEqual(['frame', 'received', 'frame', 'received']);
    // A BHS whose opcode byte is fine but whose DataSegmentLength is beyond the limit.
    const oversize = encodePduBytes(nopOut(3), NO_DIGESTS);
    oversize.writeUIntBE(100_000, 5, 3);
    stream.handlers!.data(oversize);
    expect(seen.slice(4)).toEqual(['error', 'received']);
    stream.close({ kind: 'end' });
    clock.advanceBy(0);
    expect(seen.slice(6)).toEqual(['closed:end']);
    expect(completed).toBe(2);
    // Late subscribers complete at once.
    pdus.pdus$.subscribe({ complete });
    expect(completed).toBe(3);
  });

  test('pauseUntilDrained pauses the byte stream once; drain resumes it', () => {
    const stream = new ScriptedStream(new VirtualClock());
    const pdus = new PduStream(stream, new PduFramer({ ...NO_DIGESTS, maxRecvDataSegmentLength: 8192 }));
    pdus.start();
    pdus.pauseUntilDrained();
    pdus.pauseUntilDrained();
    expect(stream.paused).toBe(true);
    stream.handlers!.drain!();
    expect(stream.paused).toBe(false);
  });
});

describe('the connection machine on its input stream', () => {
  test('a Login Request pushed on the stream moves inLogin -> fullFeature, the close moves it to free', () => {
    const { clock, stream, connection, closed, transitions } = connectionOn();
    const seen: Array<{ kind: PduStreamItem['kind']; phase: string }> = [];
    connection.inputs$.subscribe((item) => seen.push({ kind: item.kind, phase: connection.phase }));
    expect(connection.phase).toBe('login');
    stream.push(LOGIN_REQUEST);
    // Watchers see each input after the connection handled it.
    expect(seen).toEqual([{ kind: 'frame', phase: 'full-feature' }]);
    expect(stream.received().map((pdu) => pdu.kind)).toEqual(['login-response']);
    stream.push(nopOut(7));
    expect(stream.received().map((pdu) => pdu.kind)).toEqual(['nop-in']);
    stream.close({ kind: 'end' });
    clock.advanceBy(0);
    expect(seen.at(-1)).toEqual({ kind: 'closed', phase: 'closed' });
    expect(closed).toEqual(['scripted-1']);
    expect(transitions()).toEqual([
      { from: 'inLogin', to: 'fullFeature', event: 'LOGGED_IN' },
      { from: 'fullFeature', to: 'free', event: 'CLOSED' },
    ]);
  });

  test('a PDU other than a Login Request before login completes drops the connection', () => {
    const { clock, stream, connection, transitions } = connectionOn();
    stream.push(nopOut(1));
    expect(connection.phase).toBe('closed');
    expect(stream.destroyedAtMs).toBe(clock.now());
    expect(transitions()).toEqual([{ from: 'inLogin', to: 'free', event: 'DROPPED' }]);
  });

  test('an initiator that stops reading pauses the byte stream until the send buffer drains', () => {
    const { stream } = connectionOn();
    stream.push(LOGIN_REQUEST);
    stream.writable = false;
    stream.push(nopOut(1));
    expect(stream.paused).toBe(true);
    stream.writable = true;
    stream.handlers!.drain!();
    expect(stream.paused).toBe(false);
  });
});

describe('keepalive on virtual time', () => {
  test('the ping goes exactly nopIntervalMs after the last bytes; no answer drops exactly nopTimeoutMs later', () => {
    const { clock, stream, connection } = connectionOn();
    stream.push(LOGIN_REQUEST);
    const loginMs = clock.now();
    stream.received();
    clock.advanceBy(300);
    stream.push(nopOut(1));
    clock.advanceBy(400);
    stream.push(nopOut(2));
    const lastBytesMs = clock.now();
    expect(lastBytesMs - loginMs).toBe(700);
    expect(pings(stream.received())).toEqual([]);
    clock.advanceTo(lastBytesMs + INTERVAL_MS - 1);
    expect(pings(stream.received())).toEqual([]);
    clock.advanceTo(lastBytesMs + INTERVAL_MS);
    expect(pings(stream.received())).toHaveLength(1);
    const pingMs = clock.now();
    clock.advanceTo(pingMs + TIMEOUT_MS - 1);
    expect(connection.phase).toBe('full-feature');
    expect(stream.destroyedAtMs).toBeUndefined();
    clock.advanceTo(pingMs + TIMEOUT_MS);
    expect(connection.phase).toBe('closed');
    expect(stream.destroyedAtMs).toBe(pingMs + TIMEOUT_MS);
    clock.advanceBy(10 * INTERVAL_MS);
    expect(pings(stream.received())).toEqual([]);
    expect(clock.pendingCount).toBe(0);
  });

  test('an answered ping starts the interval again from the answer', () => {
    const { clock, stream, connection } = connectionOn();
    stream.push(LOGIN_REQUEST);
    const loginMs = clock.now();
    clock.advanceTo(loginMs + INTERVAL_MS);
    const [tag] = pings(stream.received());
    expect(tag).toBeDefined();
    clock.advanceBy(200);
    stream.push(nopOut(0, tag));
    const answerMs = clock.now();
    expect(stream.received()).toEqual([]);
    clock.advanceTo(answerMs + TIMEOUT_MS + 1);
    expect(connection.phase).toBe('full-feature');
    expect(pings(stream.received())).toHaveLength(1);
    // The second ping came exactly one interval after the answer.
    clock.advanceTo(answerMs + INTERVAL_MS + TIMEOUT_MS - 1);
    expect(connection.phase).toBe('full-feature');
    clock.advanceTo(answerMs + INTERVAL_MS + TIMEOUT_MS);
    expect(connection.phase).toBe('closed');
  });

  test('received chunks cost no timer: one keepalive timer whatever the traffic', () => {
    const { clock, stream } = connectionOn({ nopIntervalMs: 10_000, nopTimeoutMs: 15_000 });
    stream.push(LOGIN_REQUEST);
    expect(clock.pendingCount).toBe(1);
    const timersBefore = clock.timersSet;
    for (let i = 0; i < 3000; i++) {
      stream.push(nopOut(i + 1));
      clock.advanceBy(5);
    }
    expect(stream.received()).toHaveLength(1 + 3000);
    // 15 s of traffic, 3000 chunks: the idle timer armed at login fired once (at 10 s) and slept
    // again for the rest of the interval; that is the only timer set meanwhile.
    expect(clock.timersSet - timersBefore).toBe(1);
    expect(clock.pendingCount).toBe(1);
  });

  test('nopIntervalMs 0 turns the keepalive off', () => {
    const { clock, stream, connection } = connectionOn({ nopIntervalMs: 0 });
    stream.push(LOGIN_REQUEST);
    expect(clock.pendingCount).toBe(0);
    clock.advanceBy(100 * INTERVAL_MS);
    expect(pings(stream.received())).toEqual([]);
    expect(connection.phase).toBe('full-feature');
  });
});
