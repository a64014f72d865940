/**
 * Goal: a write whose SCSI task was aborted (the initiator gave up on it: task management, or
 * the session closed and the host retried it on another path) sends nothing more to sheep, so
 * it can never land after the newer write the host sent instead (a ghost write; found by the
 * simulator: swarm seed 1952, a write that waited 30 s behind its node's loss landed after the
 * host's newer write through the other target).
 * Method: a SheepdogBackend on the real store (memory transport, virtual time); A's store node
 * leaves, a write through A waits for a connection, its AbortSignal fires, a newer write
 * through B is acknowledged, A's node comes back; the newer bytes must stay. (Requests already
 * on the wire when the task is aborted are not retracted: the store drops those of a closed
 * connection that have not started, rule 2 of docs/multipath-safety.md.)
 */
import { expect, test } from 'vitest';
import { BackendError } from '../../../src/backends/block-backend.js';
import { clientWorld, MiB, pattern } from './client-world.js';

test('an aborted write sends nothing once its task is aborted', async () => {
  const world = await clientWorld({ ports: [7000, 7001] });
  await world.createVdi('vol', 64 * MiB);
  const a = await world.open('target-a', 7000);
  const b = await world.open('target-b', 7001);
  const offset = 2 * 4 * MiB;
  const old = pattern(0x01, offset, 4096);
  await world.settle(a.write(offset, old));
  // A loses its store; a write through A waits; the host gives up on it (the task is aborted).
  expect(await world.settle(world.store.leave(world.node(7000)))).toBe(true);
  const abort = new AbortController();
  const ghost = a.write(offset, pattern(0x0a, offset, 4096), { signal: abort.signal }).then(
    () => 'written',
    (error: unknown) => (error instanceof BackendError ? `failed: ${error.kind}` : `threw ${String(error)}`),
  );
  await world.clock.runUntilIdle({ stepsMax: 100_000, untilMs: world.clock.now() + 500 });
  abort.abort();
  // The host retried elsewhere: a newer write through B is acknowledged.
  const newer = pattern(0x0b, offset, 4096);
  await world.settle(b.write(offset, newer));
  await world.settle(world.store.join({ host: 'store', port: 7000 }));
  expect(await world.settle(ghost)).not.toBe('written');
  await world.clock.runUntilIdle({ stepsMax: 1_000_000, untilMs: world.clock.now() + 60_000 });
  expect((await world.settle(b.read(offset, 4096))).equals(newer)).toBe(true);
});
