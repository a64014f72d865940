/**
 * Goal: MemoryNetwork keeps the Transport contract under simulated delays and faults, and a run
 * replays exactly from its seed.
 * Method: a VirtualClock drives everything; runUntilIdle() fires timers and drains promises.
 * Streams carry numbered bytes so reordering, loss or duplication shows as a content mismatch.
 * Faults (partition, reset, crashHost) are injected between steps and their effects checked at
 * known virtual times. Determinism: one scripted workload with random delays, splits and a
 * partition is run per seed, and the event-log digests compared.
 */
import { describe, expect, test } from 'vitest';
import { EventLog } from '../../src/core/event-log.js';
import { DigestSink, MemoryRingSink } from '../../src/core/event-sinks.js';
import { createRng } from '../../src/core/rng.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { MemoryNetwork, type MemoryNetworkOptions } from '../../transports/memory.js';
import type { ByteStream, CloseReason, Endpoint } from '../../transports/transport.js';

interface Collected {
  readonly chunks: Buffer[];
  readonly dataTimesMs: number[];
  closeReason: CloseReason | undefined;
  closedAtMs: number | undefined;
  drains: number;
  bytes(): Buffer;
}

function collect(stream: ByteStream, clock: VirtualClock): Collected {
  const collected: Collected = {
    chunks: [],
    dataTimesMs: [],
    closeReason: undefined,
    closedAtMs: undefined,
    drains: 0,
    bytes: () => Buffer.concat(collected.chunks),
  };
  stream.attach({
    data: (chunk) => {
      if (collected.closeReason !== undefined) throw new Error('data after close');
      collected.chunks.push(chunk);
      collected.dataTimesMs.push(clock.now());
    },
    drain: () => {
      collected.drains += 1;
    },
    close: (reason) => {
      if (collected.closeReason !== undefined) throw new Error('close called twice');
      collected.closeReason = reason;
      collected.closedAtMs = clock.now();
    },
  });
  return collected;
}

function numberedBytes(start: number, lengthBytes: number): Buffer {
  const buffer = Buffer.alloc(lengthBytes);
  for (let i = 0; i < lengthBytes; i++) buffer[i] = (start + i) & 0xff;
  return buffer;
}

function world(seed: string | number, options: Partial<MemoryNetworkOptions> = {}) {
  const clock = new VirtualClock();
  const eventLog = new EventLog(clock);
  const ring = new MemoryRingSink(10_000);
  eventLog.addSink(ring);
  const network = new MemoryNetwork({ clock, rng: createRng(seed).fork('net'), eventLog, options });
  const run = (untilMs?: number) =>
    clock.runUntilIdle(untilMs === undefined ? { stepsMax: 1_000_000 } : { stepsMax: 1_000_000, untilMs });
  const eventTypes = () => ring.toArray().map((e) => e.type);
  return { clock, eventLog, ring, network, run, eventTypes };
}

/** Listens on `host:port` and hands out accepted server ends in order. */
async function serve(network: MemoryNetwork, host: string, port: number) {
  const accepted: ByteStream[] = [];
  const listener = await network.transport(host).listen({ host, port }, (stream) => accepted.push(stream));
  return { listener, accepted };
}

describe('MemoryNetwork: streams', () => {
  test('connect, exchange, end: delivery goes through the clock, never inside write()', async () => {
    const { clock, network, run, eventTypes } = world(1);
    const { accepted } = await serve(network, 'sheep1', 7000);
    const connecting = network.transport('iscsi1').connect({ host: 'sheep1', port: 7000 });
    await run();
    const client = await connecting;
    const server = accepted[0]!;
    expect(client.id).toBe('mem:1:c');
    expect(server.id).toBe('mem:1:s');
    expect(client.local).toEqual({ host: 'iscsi1', port: 49152 });
    expect(client.remote).toEqual({ host: 'sheep1', port: 7000 });
    expect(server.remote).toEqual(client.local);
    const serverGot = collect(server, clock);
    const clientGot = collect(client, clock);
    client.write(Buffer.from('ping'));
    expect(serverGot.chunks).toHaveLength(0); // not synchronous, even with 0 ms delay
    expect(client.bufferedBytes).toBe(4);
    await run();
    expect(serverGot.bytes().toString()).toBe('ping');
    expect(client.bufferedBytes).toBe(0);
    server.write(Buffer.from('pong'));
    client.end();
    await run();
    expect(clientGot.bytes().toString()).toBe('pong');
    expect(clientGot.closeReason).toEqual({ kind: 'end' });
    expect(serverGot.closeReason).toEqual({ kind: 'end' });
    expect(network.streams()).toEqual([]);
    expect(eventTypes()).toEqual([
      'net.listening',
      'net.stream_opened',
      'net.stream_closed',
      'net.stream_closed',
    ]);
  });

  test('bytes written before attach() wait for it', async () => {
    const { clock, network, run } = world(1);
    await network.transport('s').listen({ host: 's', port: 1 }, (stream) => {
      stream.write(Buffer.from('hello'));
      stream.end();
    });
    const client = await (async () => {
      const p = network.transport('c').connect({ host: 's', port: 1 });
      await run();
      return p;
    })();
    await run(500);
    const got = collect(client, clock);
    await run();
    expect(got.bytes().toString()).toBe('hello');
    expect(got.closeReason?.kind).toBe('end');
  });

  test('random delays and split chunks keep every byte in order', async () => {
    const { clock, network, run } = world('order', { delayMsMin: 1, delayMsMax: 40, chunkSplitRatio: 0.5 });
    const { accepted } = await serve(network, 's', 9);
    const connecting = network.transport('c').connect({ host: 's', port: 9 });
    await run();
    const client = await connecting;
    const got = collect(accepted[0]!, clock);
    const rng = createRng('sizes');
    let offset = 0;
    const writes = 300;
    for (let i = 0; i < writes; i++) {
      const lengthBytes = rng.int(1, 2000);
      client.write(numberedBytes(offset, lengthBytes));
      offset += lengthBytes;
      if (i % 10 === 0) await run(clock.now() + rng.int(0, 20)); // interleave writes with delivery
    }
    await run();
    expect(got.bytes().equals(numberedBytes(0, offset))).toBe(true);
    expect(got.chunks.length).toBeGreaterThan(writes); // some writes arrived as two chunks
    const times = got.dataTimesMs;
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);
    expect(new Set(times).size).toBeGreaterThan(10); // the delays really varied
  });

  test('write() reports backpressure at highWaterBytes; a paused reader holds delivery; drain follows', async () => {
    const { clock, network, run } = world(1, { highWaterBytes: 1000 });
    const { accepted } = await serve(network, 's', 9);
    const connecting = network.transport('c').connect({ host: 's', port: 9 });
    await run();
    const client = await connecting;
    const server = accepted[0]!;
    const clientGot = collect(client, clock);
    server.pause();
    const serverGot = collect(server, clock);
    expect(client.write(Buffer.alloc(600))).toBe(true);
    expect(client.write(Buffer.alloc(600))).toBe(false);
    await run(1000);
    expect(serverGot.chunks).toHaveLength(0);
    expect(client.bufferedBytes).toBe(1200);
    expect(clientGot.drains).toBe(0);
    server.resume();
    await run();
    expect(serverGot.bytes().length).toBe(1200);
    expect(client.bufferedBytes).toBe(0);
    expect(clientGot.drains).toBe(1);
  });

  test('pause() from inside data() stops delivery of the rest until resume()', async () => {
    const { clock, network, run } = world(1);
    const { accepted } = await serve(network, 's', 9);
    const connecting = network.transport('c').connect({ host: 's', port: 9 });
    await run();
    const client = await connecting;
    const server = accepted[0]!;
    const seen: string[] = [];
    server.attach({
      data: (chunk) => {
        seen.push(chunk.toString());
        server.pause();
      },
      close: () => {},
    });
    client.write(Buffer.from('a'));
    client.write(Buffer.from('b'));
    client.write(Buffer.from('c'));
    await run();
    expect(seen).toEqual(['a']);
    server.resume();
    await run();
    expect(seen).toEqual(['a', 'b']);
    server.resume();
    await run();
    server.resume();
    await run();
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(clock.now()).toBe(0);
  });
});

describe('MemoryNetwork: connect outcomes', () => {
  test('ECONNREFUSED after the network delay, naming the address', async () => {
    const { clock, network, run, eventTypes } = world(1, { delayMsMin: 5, delayMsMax: 5, connectDelayMs: 2 });
    const attempt = network.transport('c').connect({ host: 's', port: 3260 });
    let rejectedAtMs = -1;
    attempt.catch(() => {
      rejectedAtMs = clock.now();
    });
    await run();
    await expect(attempt).rejects.toMatchObject({ code: 'ECONNREFUSED', address: { host: 's', port: 3260 } });
    await expect(attempt).rejects.toThrow('s:3260');
    expect(rejectedAtMs).toBe(7);
    expect(eventTypes()).toEqual(['net.connect_refused']);
  });

  test('listen: EADDRINUSE, port 0 gets an ephemeral port, a foreign host is EADDRNOTAVAIL', async () => {
    const { network } = world(1);
    const transport = network.transport('s');
    await transport.listen({ host: 's', port: 7000 }, () => {});
    await expect(transport.listen({ host: '0.0.0.0', port: 7000 }, () => {})).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    const ephemeral = await transport.listen({ host: '0.0.0.0', port: 0 }, () => {});
    expect(ephemeral.address).toEqual({ host: 's', port: 49152 });
    await expect(transport.listen({ host: 'other', port: 1 }, () => {})).rejects.toMatchObject({
      code: 'EADDRNOTAVAIL',
    });
  });

  test('a connect across a partition waits for heal, or times out with ETIMEDOUT', async () => {
    const { clock, network, run } = world(1, { connectTimeoutMs: 3000 });
    const { accepted } = await serve(network, 's', 9);
    network.partition('c', 's', { oneWay: true }); // either direction blocks the handshake
    const healed = network.transport('c').connect({ host: 's', port: 9 });
    await run(1000);
    expect(accepted).toHaveLength(0);
    network.heal('c', 's');
    await run(1100);
    const stream = await healed;
    expect(stream.remote).toEqual({ host: 's', port: 9 });
    expect(clock.now()).toBe(1100);

    network.partition('s', 'c', { oneWay: true });
    const timedOut = network.transport('c').connect({ host: 's', port: 9 });
    let rejectedAtMs = -1;
    timedOut.catch(() => {
      rejectedAtMs = clock.now();
    });
    await run(10_000);
    await expect(timedOut).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(rejectedAtMs).toBe(1100 + 3000);
    expect(accepted).toHaveLength(1);
  });
});

describe('MemoryNetwork: faults', () => {
  async function connectedPair(options: Partial<MemoryNetworkOptions> = {}) {
    const w = world(7, options);
    const { accepted } = await serve(w.network, 's', 9);
    const connecting = w.network.transport('c').connect({ host: 's', port: 9 });
    await w.run();
    const client = await connecting;
    const server = accepted[0]!;
    return { ...w, client, server, clientGot: collect(client, w.clock), serverGot: collect(server, w.clock) };
  }

  test('a two-way partition holds bytes (not lost) in both directions until heal', async () => {
    const { network, run, client, server, clientGot, serverGot, eventTypes } = await connectedPair({
      delayMsMin: 1,
      delayMsMax: 3,
    });
    network.partition('c', 's');
    client.write(Buffer.from('to-server'));
    server.write(Buffer.from('to-client'));
    await run(5000);
    expect(serverGot.chunks).toHaveLength(0);
    expect(clientGot.chunks).toHaveLength(0);
    expect(client.bufferedBytes).toBe(9);
    network.heal();
    await run();
    expect(serverGot.bytes().toString()).toBe('to-server');
    expect(clientGot.bytes().toString()).toBe('to-client');
    expect(serverGot.dataTimesMs[0]).toBeGreaterThan(5000);
    expect(eventTypes()).toContain('net.partitioned');
    expect(eventTypes()).toContain('net.healed');
  });

  test('a one-way partition holds only that direction', async () => {
    const { network, run, client, server, clientGot, serverGot } = await connectedPair();
    network.partition('c', 's', { oneWay: true });
    client.write(Buffer.from('held'));
    server.write(Buffer.from('flows'));
    await run(100);
    expect(clientGot.bytes().toString()).toBe('flows');
    expect(serverGot.chunks).toHaveLength(0);
    network.heal('c');
    await run();
    expect(serverGot.bytes().toString()).toBe('held');
  });

  test('reset(id) closes both ends with reset and loses queued bytes', async () => {
    const { network, run, client, server, clientGot, serverGot, eventTypes } = await connectedPair({
      delayMsMin: 10,
      delayMsMax: 10,
    });
    client.write(Buffer.from('lost'));
    expect(network.streams().map((s) => s.id)).toEqual(['mem:1']);
    expect(network.reset('mem:1')).toBe(true);
    expect(network.reset('mem:404')).toBe(false);
    await run();
    expect(serverGot.chunks).toHaveLength(0);
    expect(clientGot.closeReason).toEqual({ kind: 'reset' });
    expect(serverGot.closeReason).toEqual({ kind: 'reset' });
    expect(client.bufferedBytes).toBe(0);
    expect(client.write(Buffer.from('late'))).toBe(true); // dropped quietly
    server.destroy(); // already closed: no second close
    await run();
    expect(network.streams()).toEqual([]);
    expect(eventTypes().slice(-3)).toEqual(['net.reset', 'net.stream_closed', 'net.stream_closed']);
  });

  test("destroy() closes the local end now and the peer with 'reset' after the delay", async () => {
    const { run, client, server, clientGot, serverGot, clock } = await connectedPair({
      delayMsMin: 4,
      delayMsMax: 4,
    });
    const startMs = clock.now();
    server.write(Buffer.from('in flight to client'));
    client.write(Buffer.from('in flight to server'));
    const failure = new Error('bad PDU');
    client.destroy(failure);
    await run();
    expect(clientGot.closeReason).toEqual({ kind: 'error', error: failure });
    expect(clientGot.closedAtMs).toBe(startMs);
    expect(clientGot.chunks).toHaveLength(0);
    expect(serverGot.chunks).toHaveLength(0);
    expect(serverGot.closeReason).toEqual({ kind: 'reset' });
    expect(serverGot.closedAtMs).toBe(startMs + 4);
  });

  test('crashHost resets its streams and removes its listeners; the host can listen again', async () => {
    const { network, run, clientGot, serverGot, eventTypes } = await connectedPair();
    network.crashHost('s');
    await run();
    expect(clientGot.closeReason?.kind).toBe('reset');
    expect(serverGot.closeReason?.kind).toBe('reset');
    const refused = network.transport('c').connect({ host: 's', port: 9 });
    const refusal = refused.catch((error: unknown) => error); // handled before the clock runs
    await run();
    expect(await refusal).toMatchObject({ code: 'ECONNREFUSED' });
    const again = await network.transport('s').listen({ host: 's', port: 9 }, () => {});
    expect(again.address.port).toBe(9);
    expect(eventTypes()).toContain('net.host_crashed');
  });
});

describe('MemoryNetwork: determinism', () => {
  /** A busy little world: 3 clients echo through one server with delays, splits and a partition. */
  async function digestOf(seed: string): Promise<string> {
    const clock = new VirtualClock();
    const eventLog = new EventLog(clock);
    const digest = new DigestSink();
    eventLog.addSink(digest);
    const rng = createRng(seed);
    const network = new MemoryNetwork({
      clock,
      rng: rng.fork('net'),
      eventLog,
      options: { delayMsMin: 0, delayMsMax: 25, chunkSplitRatio: 0.3, highWaterBytes: 4096 },
    });
    await network.transport('s').listen({ host: 's', port: 7000 }, (stream) => {
      stream.attach({
        data: (chunk) => {
          eventLog.append('app/server', 'chunk.received', { id: stream.id, lengthBytes: chunk.length });
          stream.write(chunk);
        },
        close: (reason) =>
          eventLog.append('app/server', 'stream.closed', { id: stream.id, kind: reason.kind }),
      });
    });
    const workload = rng.fork('workload');
    const clients = ['c1', 'c2', 'c3'].map(async (host) => {
      const stream = await network.transport(host).connect({ host: 's', port: 7000 });
      let echoed = 0;
      stream.attach({
        data: (chunk) => {
          echoed += chunk.length;
          eventLog.append(`app/${host}`, 'echo.received', { lengthBytes: chunk.length, echoed });
        },
        close: () => {},
      });
      for (let i = 0; i < 20; i++) {
        stream.write(Buffer.alloc(workload.int(1, 3000), i));
        await new Promise<void>((resolve) => clock.setTimeout(resolve, workload.int(0, 30)));
      }
      stream.end();
    });
    clock.setTimeout(() => network.partition('c2', 's'), 100);
    clock.setTimeout(() => network.heal(), 250);
    await clock.runUntilIdle({ stepsMax: 100_000 });
    await Promise.all(clients);
    expect(network.streams()).toEqual([]);
    expect(digest.count).toBeGreaterThan(100);
    return digest.digestHex();
  }

  test('the same seed gives the same event-log digest; another seed another digest', async () => {
    const first = await digestOf('replay-me');
    expect(await digestOf('replay-me')).toBe(first);
    expect(await digestOf('something-else')).not.toBe(first);
  });
});

test('endpoint helper sanity: streams() lists both ends', async () => {
  const { network, run } = world(1);
  await serve(network, 's', 9);
  const connecting = network.transport('c').connect({ host: 's', port: 9 });
  await run();
  await connecting;
  const expected: Endpoint = { host: 'c', port: 49152 };
  expect(network.streams()).toEqual([
    {
      id: 'mem:1',
      clientId: 'mem:1:c',
      serverId: 'mem:1:s',
      client: expected,
      server: { host: 's', port: 9 },
    },
  ]);
});
