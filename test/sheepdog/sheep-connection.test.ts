/**
 * Goal: SheepConnection matches pipelined answers by id whatever their order and chunking,
 * keeps at most inFlightMax requests on the wire, and on any broken promise of the protocol
 * (stream closed, unknown id, surplus payload, wrong opcode, timeout) rejects every pending
 * request with one SheepConnectionError that names the endpoint.
 * Method: a scripted peer built here. In-memory: a ByteStream whose writes are framed and
 * decoded with the real codec (side 'request'), and whose answers are real encoded response
 * headers delivered in chunks the test chooses. Time is a VirtualClock. One suite runs the same
 * kind of script over TCP loopback with TcpTransport to check the real adapter too.
 */
import { describe, expect, test } from 'vitest';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import {
  SheepConnection,
  SheepConnectionError,
  type SheepConnectionOptions,
  SheepResultError,
} from '../../src/sheepdog/sheep-connection.js';
import { SdFlag, SdOp, SdRes } from '../../src/sheepdog/wire/constants.js';
import { SheepFramer } from '../../src/sheepdog/wire/framer.js';
import {
  decodeRequestHeader,
  encodeResponseHeader,
  objRequest,
  type RequestHeader,
  responseFor,
} from '../../src/sheepdog/wire/header.js';
import { TcpTransport } from '../../transports/tcp.js';
import type { ByteStream, ByteStreamHandlers, CloseReason, Endpoint } from '../../transports/transport.js';

const PEER: Endpoint = { host: '10.0.0.7', port: 7000 };

interface SeenRequest {
  readonly header: RequestHeader;
  readonly payload: Buffer | undefined;
}

/** The client's end of an in-memory stream; the test plays sheep through `answer`/`deliver`. */
class ScriptedPeer implements ByteStream {
  readonly id = 'scripted:1';
  readonly local: Endpoint = { host: '10.0.0.1', port: 40000 };
  readonly remote: Endpoint = PEER;
  readonly bufferedBytes = 0;
  readonly requests: SeenRequest[] = [];
  destroyed = false;
  ended = false;
  #handlers: ByteStreamHandlers | undefined;
  readonly #framer = new SheepFramer({ side: 'request', payloadBytesMax: 64 * 1024 * 1024 });

  attach(handlers: ByteStreamHandlers): void {
    this.#handlers = handlers;
  }

  write(chunk: Buffer): boolean {
    this.#framer.push(chunk);
    for (let frame = this.#framer.next(); frame !== undefined; frame = this.#framer.next()) {
      if (frame.kind !== 'message') throw new Error('client sent an oversize request');
      this.requests.push({ header: decodeRequestHeader(frame.header), payload: frame.payload });
    }
    return true;
  }

  pause(): void {}
  resume(): void {}

  end(): void {
    this.ended = true;
  }

  destroy(): void {
    this.destroyed = true;
  }

  /** Bytes sheep would send for request `index`: header (+ payload). */
  responseBytes(
    index: number,
    options: { result?: number; payload?: Buffer; id?: number; opcode?: number } = {},
  ): Buffer {
    const request = this.requests[index]!.header;
    const payload = options.payload ?? Buffer.alloc(0);
    const header = responseFor(request, options.result ?? SdRes.SUCCESS, {
      epoch: 1,
      dataLength: payload.length,
    });
    const patched = { ...header, id: options.id ?? header.id, opcode: options.opcode ?? header.opcode };
    return Buffer.concat([encodeResponseHeader(patched), payload]);
  }

  /** Delivers bytes to the client, cut into chunks of `chunkBytes` (default: one chunk). */
  deliver(bytes: Buffer, chunkBytes = bytes.length): void {
    for (let at = 0; at < bytes.length; at += chunkBytes) {
      this.#handlers!.data(Buffer.from(bytes.subarray(at, at + chunkBytes)));
    }
  }

  close(reason: CloseReason = { kind: 'end' }): void {
    this.#handlers!.close(reason);
  }
}

function readRequest(lengthBytes: number, idx = 0): RequestHeader {
  return objRequest({ opcode: SdOp.READ_OBJ, dataLength: lengthBytes, oid: 0x7c2b2500000000n + BigInt(idx) });
}

function setup(options: Partial<SheepConnectionOptions> = {}) {
  const clock = new VirtualClock();
  const peer = new ScriptedPeer();
  const conn = new SheepConnection(peer, { clock, ...options });
  return { clock, peer, conn };
}

/** Lets promise continuations run (settled promises are observed in the next microtasks). */
async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('SheepConnection: matching', () => {
  test('answers that come back out of order reach the request with the same id', async () => {
    const { peer, conn } = setup();
    const pending = [0, 1, 2].map((idx) => conn.request(readRequest(4, idx)));
    expect(peer.requests.map((r) => r.header.id)).toEqual([1, 2, 3]);
    peer.deliver(peer.responseBytes(2, { payload: Buffer.from('ccc2') }));
    peer.deliver(peer.responseBytes(0, { payload: Buffer.from('aaa0') }));
    peer.deliver(peer.responseBytes(1, { payload: Buffer.from('bbb1') }));
    const answers = await Promise.all(pending);
    expect(answers.map((a) => a.payload.toString())).toEqual(['aaa0', 'bbb1', 'ccc2']);
    expect(answers.map((a) => a.header.id)).toEqual([1, 2, 3]);
    expect(conn.inFlightCount).toBe(0);
  });

  test('answers split at every byte offset and glued together still match', async () => {
    const { peer, conn } = setup();
    const first = conn.request(readRequest(5, 0));
    const second = conn.request(readRequest(3, 1));
    const bytes = Buffer.concat([
      peer.responseBytes(1, { payload: Buffer.from('xyz') }),
      peer.responseBytes(0, { payload: Buffer.from('hello') }),
    ]);
    peer.deliver(bytes, 1);
    expect((await first).payload.toString()).toBe('hello');
    expect((await second).payload.toString()).toBe('xyz');
  });

  test('a write sends header then exactly data_length payload bytes, with a fresh id', async () => {
    const { peer, conn } = setup();
    const data = Buffer.from('payload!');
    const done = conn.request(
      objRequest({ opcode: SdOp.WRITE_OBJ, flags: SdFlag.WRITE, dataLength: data.length, oid: 1n, id: 999 }),
      data,
    );
    expect(peer.requests).toHaveLength(1);
    expect(peer.requests[0]!.header.id).toBe(1);
    expect(peer.requests[0]!.payload?.equals(data)).toBe(true);
    peer.deliver(peer.responseBytes(0));
    expect((await done).payload.length).toBe(0);
  });

  test('requestOk turns a result code into a SheepResultError naming result, opcode and endpoint', async () => {
    const { peer, conn } = setup();
    const done = conn.requestOk(readRequest(4), undefined, { context: 'read object 0' });
    peer.deliver(peer.responseBytes(0, { result: SdRes.NO_OBJ }));
    const error = await rejectionOf(done);
    expect(error).toBeInstanceOf(SheepResultError);
    const resultError = error as SheepResultError;
    expect(resultError.result).toBe(SdRes.NO_OBJ);
    expect(resultError.resultName).toBe('NO_OBJ (0x02)');
    expect(resultError.opcodeName).toBe('READ_OBJ');
    expect(resultError.message).toContain('10.0.0.7:7000');
    expect(conn.closed).toBe(false);
  });

  test('okResults lets an expected non-success result through', async () => {
    const { peer, conn } = setup();
    const done = conn.requestOk(readRequest(4), undefined, { okResults: [SdRes.NO_TAG] });
    peer.deliver(peer.responseBytes(0, { result: SdRes.NO_TAG }));
    expect((await done).header.result).toBe(SdRes.NO_TAG);
  });
});

describe('SheepConnection: bounded pipelining', () => {
  test('at most inFlightMax requests are on the wire; the rest wait in FIFO order', async () => {
    const { peer, conn } = setup({ inFlightMax: 4 });
    const pending = Array.from({ length: 10 }, (_, idx) => conn.request(readRequest(1, idx)));
    expect(peer.requests).toHaveLength(4);
    expect(conn.inFlightCount).toBe(4);
    expect(conn.queuedCount).toBe(6);
    peer.deliver(peer.responseBytes(2, { payload: Buffer.from([2]) }));
    expect(peer.requests).toHaveLength(5);
    expect(peer.requests[4]!.header.args).toMatchObject({ kind: 'obj', oid: 0x7c2b2500000004n });
    // Answer whatever is out, newest first, until all ten are answered; the window never exceeds 4.
    const answered = new Set<number>([2]);
    for (let step = 0; step < 9; step++) {
      const index = peer.requests.findLastIndex((_, at) => !answered.has(at));
      answered.add(index);
      peer.deliver(peer.responseBytes(index, { payload: Buffer.from([index]) }));
      expect(conn.inFlightCount).toBeLessThanOrEqual(4);
    }
    const answers = await Promise.all(pending);
    expect(answers.map((a) => a.payload[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const ids = peer.requests.map((r) => r.header.id);
    expect(new Set(ids).size).toBe(10);
  });

  test('a full queue refuses new requests with an overload error', async () => {
    const { conn } = setup({ inFlightMax: 1, queuedMax: 2 });
    conn.request(readRequest(1, 0)).catch(() => {});
    conn.request(readRequest(1, 1)).catch(() => {});
    conn.request(readRequest(1, 2)).catch(() => {});
    const error = await rejectionOf(conn.request(readRequest(1, 3)));
    expect(error).toBeInstanceOf(SheepConnectionError);
    expect((error as SheepConnectionError).kind).toBe('overload');
    conn.close();
  });
});

describe('SheepConnection: failures reject everything pending', () => {
  test('the stream closing mid-response rejects in-flight and queued requests, naming the endpoint', async () => {
    const { peer, conn } = setup({ inFlightMax: 2 });
    const pending = [0, 1, 2].map((idx) => rejectionOf(conn.request(readRequest(8, idx))));
    const bytes = peer.responseBytes(0, { payload: Buffer.alloc(8, 1) });
    peer.deliver(bytes.subarray(0, 48 + 3));
    peer.close({ kind: 'reset' });
    const errors = await Promise.all(pending);
    for (const error of errors) {
      expect(error).toBeInstanceOf(SheepConnectionError);
      expect((error as SheepConnectionError).kind).toBe('closed');
      expect((error as Error).message).toContain('10.0.0.7:7000');
      expect((error as Error).message).toContain('middle of a response');
    }
    const late = await rejectionOf(conn.request(readRequest(1)));
    expect((late as SheepConnectionError).kind).toBe('closed');
  });

  test('an answer with an unknown id is a protocol error: stream destroyed, all pending rejected', async () => {
    const { peer, conn } = setup();
    const pending = [0, 1].map((idx) => rejectionOf(conn.request(readRequest(4, idx))));
    peer.deliver(peer.responseBytes(0, { id: 77 }));
    const errors = await Promise.all(pending);
    expect(peer.destroyed).toBe(true);
    for (const error of errors) {
      expect((error as SheepConnectionError).kind).toBe('protocol');
      expect((error as Error).message).toMatch(/id 77.*not pending/);
    }
  });

  test('more payload than the request asked for is a protocol error', async () => {
    const { peer, conn } = setup();
    const pending = rejectionOf(conn.request(readRequest(4)));
    peer.deliver(peer.responseBytes(0, { payload: Buffer.alloc(5) }));
    const error = (await pending) as SheepConnectionError;
    expect(error.kind).toBe('protocol');
    expect(error.message).toContain('at most 4');
    expect(peer.destroyed).toBe(true);
  });

  test('an answer with another opcode than its request is a protocol error', async () => {
    const { peer, conn } = setup();
    const pending = rejectionOf(conn.request(readRequest(4)));
    peer.deliver(peer.responseBytes(0, { opcode: SdOp.WRITE_OBJ }));
    expect(((await pending) as SheepConnectionError).kind).toBe('protocol');
  });

  test('an answer larger than payloadBytesMax is a protocol error before its payload arrives', async () => {
    const { peer, conn } = setup({ payloadBytesMax: 16 });
    const pending = rejectionOf(conn.request(readRequest(16)));
    peer.deliver(peer.responseBytes(0, { payload: Buffer.alloc(17) }).subarray(0, 48));
    expect(((await pending) as SheepConnectionError).kind).toBe('protocol');
  });

  test('a request without an answer times out on the injected clock and closes the connection', async () => {
    const { clock, peer, conn } = setup({ requestTimeoutMs: 1000 });
    const first = rejectionOf(conn.request(readRequest(4, 0)));
    const second = rejectionOf(conn.request(readRequest(4, 1)));
    clock.advanceBy(999);
    await settle();
    expect(conn.closed).toBe(false);
    clock.advanceBy(1);
    const errors = await Promise.all([first, second]);
    for (const error of errors) {
      expect((error as SheepConnectionError).kind).toBe('timeout');
      expect((error as Error).message).toContain('within 1000 ms');
    }
    expect(peer.destroyed).toBe(true);
    expect(clock.pendingCount).toBe(0);
  });

  test('answered requests leave no timers behind', async () => {
    const { clock, peer, conn } = setup();
    const done = conn.request(readRequest(1));
    expect(clock.pendingCount).toBe(1);
    peer.deliver(peer.responseBytes(0, { payload: Buffer.from([7]) }));
    await done;
    expect(clock.pendingCount).toBe(0);
  });

  test('close() rejects what is pending and ends the stream', async () => {
    const { peer, conn } = setup();
    const pending = rejectionOf(conn.request(readRequest(4)));
    conn.close();
    expect(((await pending) as SheepConnectionError).kind).toBe('local-close');
    expect(peer.ended).toBe(true);
  });
});

describe('SheepConnection over TCP loopback', () => {
  test('a refused connect is a SheepConnectionError of kind connect with the errno code', async () => {
    const transport = new TcpTransport();
    // Listen, learn a free port, close: nobody listens there any more.
    const listener = await transport.listen({ host: '127.0.0.1', port: 0 }, () => {});
    const endpoint = listener.address;
    await listener.close();
    const error = await rejectionOf(SheepConnection.open(transport, endpoint, { clock: new VirtualClock() }));
    expect(error).toBeInstanceOf(SheepConnectionError);
    expect((error as SheepConnectionError).kind).toBe('connect');
    expect((error as SheepConnectionError).errnoCode).toBe('ECONNREFUSED');
    expect((error as Error).message).toContain(`127.0.0.1:${endpoint.port}`);
  });

  test('pipelined requests answered in reverse order over a real socket', async () => {
    const transport = new TcpTransport();
    const requestCount = 20;
    const listener = await transport.listen({ host: '127.0.0.1', port: 0 }, (server) => {
      const framer = new SheepFramer({ side: 'request', payloadBytesMax: 1024 });
      const seen: RequestHeader[] = [];
      server.attach({
        data: (chunk) => {
          framer.push(chunk);
          for (let frame = framer.next(); frame !== undefined; frame = framer.next()) {
            if (frame.kind === 'message') seen.push(decodeRequestHeader(frame.header));
          }
          if (seen.length < requestCount) return;
          // Answer newest first, all in one write, so responses also share TCP segments.
          const answers = seen.toReversed().map((request) => {
            const payload = Buffer.alloc(
              request.dataLength,
              request.args.kind === 'obj' ? Number(request.args.oid & 0xffn) : 0,
            );
            return Buffer.concat([
              encodeResponseHeader(
                responseFor(request, SdRes.SUCCESS, { epoch: 1, dataLength: payload.length }),
              ),
              payload,
            ]);
          });
          server.write(Buffer.concat(answers));
        },
        close: () => {},
      });
    });
    const conn = await SheepConnection.open(transport, listener.address, {
      clock: new VirtualClock(),
      inFlightMax: requestCount,
    });
    const answers = await Promise.all(
      Array.from({ length: requestCount }, (_, idx) => conn.request(readRequest(100 + idx, idx))),
    );
    answers.forEach((answer, idx) => {
      expect(answer.payload.length).toBe(100 + idx);
      expect(answer.payload.every((byte) => byte === idx)).toBe(true);
    });
    conn.close();
    await listener.close();
  });
});
