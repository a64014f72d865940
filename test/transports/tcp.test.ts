/**
 * Goal: TcpTransport keeps the Transport contract on real sockets: echo, bytes held until attach,
 * write()/drain backpressure, close kinds ('end', 'reset', 'error'), ECONNREFUSED naming the
 * address, and a listener whose close stops accepting only.
 * Method: real loopback connections on 127.0.0.1 with ports chosen by the OS (port 0); every
 * wait is bounded by vitest's timeout.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { TcpTransport } from '../../transports/tcp.js';
import type { ByteStream, CloseReason, Listener } from '../../transports/transport.js';
import { TransportError } from '../../transports/transport-error.js';

interface Collected {
  readonly chunks: Buffer[];
  readonly closed: Promise<CloseReason>;
  bytes(): Buffer;
  drains: number;
  waitForBytes(count: number): Promise<Buffer>;
}

function collect(stream: ByteStream): Collected {
  const chunks: Buffer[] = [];
  let waiter: { count: number; resolve: (b: Buffer) => void } | undefined;
  let resolveClosed: (reason: CloseReason) => void = () => {};
  const collected: Collected = {
    chunks,
    closed: new Promise<CloseReason>((resolve) => {
      resolveClosed = resolve;
    }),
    bytes: () => Buffer.concat(chunks),
    drains: 0,
    waitForBytes(count) {
      return new Promise((resolve) => {
        waiter = { count, resolve };
        check();
      });
    },
  };
  const check = () => {
    if (waiter !== undefined && collected.bytes().length >= waiter.count) {
      waiter.resolve(collected.bytes());
      waiter = undefined;
    }
  };
  stream.attach({
    data: (chunk) => {
      chunks.push(chunk);
      check();
    },
    drain: () => {
      collected.drains += 1;
    },
    close: (reason) => resolveClosed(reason),
  });
  return collected;
}

const loopback = { host: '127.0.0.1', port: 0 };
const listeners: Listener[] = [];
afterEach(async () => {
  for (const listener of listeners.splice(0)) await listener.close();
});

async function listenWith(
  transport: TcpTransport,
  onConnection: (stream: ByteStream) => void,
): Promise<Listener> {
  const listener = await transport.listen(loopback, onConnection);
  listeners.push(listener);
  return listener;
}

function nextConnection(): { onConnection: (s: ByteStream) => void; accepted: Promise<ByteStream> } {
  let resolve: (s: ByteStream) => void = () => {};
  const accepted = new Promise<ByteStream>((r) => {
    resolve = r;
  });
  return { onConnection: (s) => resolve(s), accepted };
}

describe('TcpTransport', () => {
  test('echo over loopback; ids count up; endpoints are real', async () => {
    const transport = new TcpTransport();
    const listener = await listenWith(transport, (stream) => {
      stream.attach({ data: (chunk) => stream.write(chunk), close: () => {} });
    });
    expect(listener.address.host).toBe('127.0.0.1');
    expect(listener.address.port).toBeGreaterThan(0);
    const client = await transport.connect(listener.address);
    expect(client.id).toMatch(/^tcp:\d+$/);
    expect(client.remote).toEqual(listener.address);
    expect(client.local.port).toBeGreaterThan(0);
    const got = collect(client);
    client.write(Buffer.from('hello, '));
    client.write(Buffer.from('sheep'));
    expect((await got.waitForBytes(12)).toString()).toBe('hello, sheep');
    client.end();
    expect((await got.closed).kind).toBe('end');
  });

  test('bytes that arrive before attach() are held and delivered after it', async () => {
    const transport = new TcpTransport();
    const listener = await listenWith(transport, (stream) => {
      stream.write(Buffer.from('greeting'));
      stream.end();
    });
    const client = await transport.connect(listener.address);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const got = collect(client);
    expect((await got.waitForBytes(8)).toString()).toBe('greeting');
    expect((await got.closed).kind).toBe('end');
  });

  test('a paused reader pushes the writer back; resume brings drain and every byte', async () => {
    const transport = new TcpTransport();
    const connection = nextConnection();
    const listener = await listenWith(transport, connection.onConnection);
    const client = await transport.connect(listener.address);
    const server = await connection.accepted;
    server.pause();
    const serverGot = collect(server);
    const clientGot = collect(client);
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    let written = 0;
    for (let i = 0; i < 4096; i++) {
      written += chunk.length;
      if (!client.write(chunk)) break;
    }
    expect(written).toBeLessThan(4096 * chunk.length); // the kernel and node buffers filled up
    expect(client.bufferedBytes).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(serverGot.bytes().length).toBe(0);
    server.resume();
    const all = await serverGot.waitForBytes(written);
    expect(all.length).toBe(written);
    expect(clientGot.drains).toBe(1);
    expect(client.bufferedBytes).toBe(0);
    client.end();
    await clientGot.closed;
  });

  test("destroy() resets both ends; destroy(error) closes the local end with 'error'", async () => {
    const transport = new TcpTransport();
    const connection = nextConnection();
    const listener = await listenWith(transport, connection.onConnection);
    const client = await transport.connect(listener.address);
    const server = collect(await connection.accepted);
    const clientGot = collect(client);
    client.destroy();
    expect((await clientGot.closed).kind).toBe('reset');
    const serverReason = await server.closed;
    expect(serverReason.kind).toBe('reset');
    expect((serverReason.error as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNRESET');

    const second = nextConnection();
    const listener2 = await listenWith(transport, second.onConnection);
    const client2 = await transport.connect(listener2.address);
    const client2Got = collect(client2);
    const server2 = collect(await second.accepted);
    const failure = new Error('protocol violation');
    client2.destroy(failure);
    expect(await client2Got.closed).toEqual({ kind: 'error', error: failure });
    expect((await server2.closed).kind).toBe('reset');
    // Writes after close are dropped, not thrown.
    expect(client2.write(Buffer.from('late'))).toBe(true);
  });

  test('connect to a port nobody listens on rejects with ECONNREFUSED naming the address', async () => {
    const transport = new TcpTransport();
    const listener = await transport.listen(loopback, () => {});
    const address = listener.address;
    await listener.close();
    const attempt = transport.connect(address);
    await expect(attempt).rejects.toBeInstanceOf(TransportError);
    await expect(attempt).rejects.toMatchObject({ code: 'ECONNREFUSED', address });
    await expect(attempt).rejects.toThrow(`127.0.0.1:${address.port}`);
  });

  test('listen on a taken port rejects with EADDRINUSE', async () => {
    const transport = new TcpTransport();
    const listener = await listenWith(transport, () => {});
    await expect(transport.listen(listener.address, () => {})).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  test('closing a listener stops accepting but keeps streams open', async () => {
    const transport = new TcpTransport();
    const connection = nextConnection();
    const listener = await transport.listen(loopback, (stream) => {
      stream.attach({ data: (chunk) => stream.write(chunk), close: () => {} });
      connection.onConnection(stream);
    });
    const client = await transport.connect(listener.address);
    await connection.accepted;
    await listener.close();
    await expect(transport.connect(listener.address)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const got = collect(client);
    client.write(Buffer.from('still here'));
    expect((await got.waitForBytes(10)).toString()).toBe('still here');
    client.end();
    expect((await got.closed).kind).toBe('end');
  });
});
