/**
 * Goal: the sheepdog client's metrics move when its real code runs against the real store: round
 * trips by opcode (timed on the virtual clock), answers other than SUCCESS by result, coherence
 * (a round refused INODE_INVALIDATED, the reload it caused, the IO replanned), connection failures,
 * resends, reconnects and the rejoin after them, and LOCK_VDI's COLLECTING_CINFO retries.
 * Method: SheepdogBackends on the embedded store on the memory network in virtual time
 * (client-world.ts), each target with its own registry as a simulated node has; the multipath
 * and fault scenarios are the backend tests' own (a write by A invalidates B; a network reset
 * with a write in flight; a node that answers COLLECTING_CINFO at first).
 */
import { describe, expect, test } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { drainMicrotasks } from '../../src/core/virtual-clock.js';
import { MetricsRegistry } from '../../src/metrics/metrics-registry.js';
import { SheepClientMetrics } from '../../src/metrics/sheep-metrics.js';
import { SheepdogBackend } from '../../src/sheepdog/client/sheepdog-backend.js';
import { SdOp, SdRes } from '../../src/sheepdog/wire/constants.js';
import { responseFor } from '../../src/sheepdog/wire/header.js';
import {
  type ClientWorld,
  clientWorld,
  MiB,
  OBJECT_BYTES,
  pattern,
  STORE_HOST,
  scriptedEndpoint,
} from '../sheepdog/client/client-world.js';
import { parsePrometheusText, sampleValue, sumOf } from './metrics-world.js';

/** A backend from `host` to the store node at `port`, reporting to a registry of its own. */
async function openWithMetrics(world: ClientWorld, host: string, port: number) {
  const registry = new MetricsRegistry({ clock: world.clock });
  const backend = await world.settle(
    SheepdogBackend.open({
      transport: world.network.transport(host),
      endpoint: { host: STORE_HOST, port },
      vdiName: 'vol',
      clock: world.clock,
      rng: createRng(`backend/${host}`),
      eventLog: world.eventLog,
      logger: silentLogger,
      metrics: new SheepClientMetrics(registry),
    }),
  );
  return { backend, scrape: () => parsePrometheusText(registry.renderText()) };
}

function resetStreamsOf(world: ClientWorld, host: string): number {
  let count = 0;
  for (const stream of world.network.streams()) {
    if (stream.client.host === host && world.network.reset(stream.id)) count += 1;
  }
  return count;
}

describe('round trips and results', () => {
  test('every request is timed by opcode; open, an allocating write and a read show their requests', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const { backend, scrape } = await openWithMetrics(world, 'targetA', 7000);
    let parsed = scrape();
    expect(sampleValue(parsed, 'collie_sheep_request_seconds_count', { op: 'LOCK_VDI' })).toBe(1);
    expect(sampleValue(parsed, 'collie_sheep_request_seconds_count', { op: 'COLLIE_FEATURES' })).toBe(1);
    const readsAtOpen = sampleValue(parsed, 'collie_sheep_request_seconds_count', { op: 'READ_OBJ' })!;
    expect(readsAtOpen).toBe(1);

    const data = pattern(7, OBJECT_BYTES, 8192);
    await world.settle(backend.write(OBJECT_BYTES, data));
    expect(await world.settle(backend.read(OBJECT_BYTES, 8192))).toEqual(data);
    parsed = scrape();
    expect(sampleValue(parsed, 'collie_sheep_request_seconds_count', { op: 'CREATE_AND_WRITE_OBJ' })).toBe(1);
    // The inode update.
    expect(sampleValue(parsed, 'collie_sheep_request_seconds_count', { op: 'WRITE_OBJ' })).toBe(1);
    expect(sampleValue(parsed, 'collie_sheep_request_seconds_count', { op: 'READ_OBJ' })).toBeGreaterThan(
      readsAtOpen,
    );
    // Round trips cross the memory network (0..1 ms each way): timed on the virtual clock.
    const total = sumOf(parsed, 'collie_sheep_request_seconds_count');
    expect(sumOf(parsed, 'collie_sheep_request_seconds_bucket', { le: '+Inf' })).toBe(total);
    expect(sumOf(parsed, 'collie_sheep_request_seconds_sum')).toBeGreaterThan(0);
    expect(sumOf(parsed, 'collie_sheep_request_seconds_bucket', { le: '0.0025' })).toBe(total);
    expect(sumOf(parsed, 'collie_sheep_errors_total')).toBe(0);
    expect(sumOf(parsed, 'collie_coherence_invalidations_total')).toBe(0);
    await world.settle(backend.close());
    expect(sampleValue(scrape(), 'collie_sheep_request_seconds_count', { op: 'RELEASE_VDI' })).toBe(1);
  });
});

describe('coherence', () => {
  test('A writes a new area; B is refused INODE_INVALIDATED, reloads once and replans; A saw none of it', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const a = await openWithMetrics(world, 'targetA', 7000);
    const b = await openWithMetrics(world, 'targetB', 7001);
    const offset = 10 * OBJECT_BYTES;
    const data = pattern(0xab, offset, 4096);
    await world.settle(a.backend.write(offset, data));
    expect(await world.settle(b.backend.read(offset, 4096))).toEqual(data);

    const seenByB = b.scrape();
    expect(sampleValue(seenByB, 'collie_coherence_invalidations_total')).toBe(1);
    expect(
      sampleValue(seenByB, 'collie_coherence_reloads_total', { reason: 'invalidated', result: 'ok' }),
    ).toBe(1);
    expect(
      sampleValue(seenByB, 'collie_coherence_reloads_total', { reason: 'invalidated', result: 'failed' }),
    ).toBe(0);
    expect(sampleValue(seenByB, 'collie_sheep_retries_total', { reason: 'io_replan' })).toBe(1);
    expect(sampleValue(seenByB, 'collie_sheep_errors_total', { result: 'INODE_INVALIDATED' })).toBe(1);

    const seenByA = a.scrape();
    expect(sampleValue(seenByA, 'collie_coherence_invalidations_total')).toBe(0);
    expect(sumOf(seenByA, 'collie_coherence_reloads_total')).toBe(0);
    expect(sumOf(seenByA, 'collie_sheep_retries_total')).toBe(0);
    await world.settle(a.backend.close());
    await world.settle(b.backend.close());
  });
});

describe('faults', () => {
  test('a reset with a write in flight: connection failures, resends, reconnects and the rejoin count', async () => {
    const world = await clientWorld();
    await world.createVdi('vol', 64 * MiB);
    const { backend, scrape } = await openWithMetrics(world, 'targetA', 7000);
    const data = pattern(2, OBJECT_BYTES, 8192);
    const write = backend.write(OBJECT_BYTES, data);
    await drainMicrotasks();
    expect(resetStreamsOf(world, 'targetA')).toBe(4);
    await world.settle(write);
    expect(await world.settle(backend.read(OBJECT_BYTES, 8192))).toEqual(data);
    const parsed = scrape();
    expect(
      sampleValue(parsed, 'collie_sheep_connection_failures_total', { kind: 'closed' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sampleValue(parsed, 'collie_sheep_retries_total', { reason: 'resend' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(parsed, 'collie_sheep_reconnects_total')).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue(parsed, 'collie_coherence_reloads_total', { reason: 'rejoin', result: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    await world.settle(backend.close());
  });

  test('LOCK_VDI answered COLLECTING_CINFO twice at open: two lock retries', async () => {
    const world = await clientWorld();
    await world.createVdi('vol');
    let refusals = 2;
    await scriptedEndpoint(world, 7002, {
      answer: async (request, payload, node) => {
        if (request.opcode === SdOp.LOCK_VDI && refusals > 0) {
          refusals -= 1;
          return { header: responseFor(request, SdRes.COLLECTING_CINFO, { epoch: 1 }) };
        }
        return world.store.server.handle(request, payload, node);
      },
    });
    const { backend, scrape } = await openWithMetrics(world, 'targetA', 7002);
    const parsed = scrape();
    expect(sampleValue(parsed, 'collie_sheep_retries_total', { reason: 'lock_collecting_cinfo' })).toBe(2);
    expect(sampleValue(parsed, 'collie_sheep_errors_total', { result: 'COLLECTING_CINFO' })).toBe(2);
    expect(sampleValue(parsed, 'collie_sheep_request_seconds_count', { op: 'LOCK_VDI' })).toBe(3);
    await world.settle(backend.close());
  });

  test('a store endpoint nobody listens on: the failed connects count', async () => {
    const world = await clientWorld();
    await world.createVdi('vol');
    const registry = new MetricsRegistry({ clock: world.clock });
    await expect(
      world.settle(
        SheepdogBackend.open({
          transport: world.network.transport('targetA'),
          endpoint: { host: STORE_HOST, port: 7999 },
          vdiName: 'vol',
          clock: world.clock,
          rng: createRng('backend/targetA'),
          eventLog: world.eventLog,
          logger: silentLogger,
          metrics: new SheepClientMetrics(registry),
        }),
      ),
    ).rejects.toMatchObject({ kind: 'unavailable' });
    const parsed = parsePrometheusText(registry.renderText());
    // The pool tried each of its 4 slots.
    expect(sampleValue(parsed, 'collie_sheep_connection_failures_total', { kind: 'connect' })).toBe(4);
  });
});
