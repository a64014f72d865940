/**
 * Field scenario 2 (multipath.md §6.3, §8): a partition while the old owner stays alive.
 *
 * Single-owner ALUA: A owns the LU (active/optimized), B is active/non-optimized. The host writes
 * W0 through A. Then A's link to the store starts holding what A sends (A keeps the link: the
 * bytes arrive later, nothing is reset), the host sends W1 to A, and the host–A link is cut both
 * ways while A keeps running. A's backend waits longer than the host (its request timeout and
 * give-up bound are set past the host's failover here, the misconfiguration §6.5 warns of) and
 * A does not ping the host, so its session, and W1's task, live through the whole failover:
 * A holds a delayed write.
 *
 * The host's W1 times out (15 s), the ALUA device fails path A and retries W1 on the next group,
 * B: the first write reaching the non-optimized B makes it the owner (implicit transition, UA
 * 2A/06) and fences A with a new epoch. B acknowledges W1, then W2 (and maybe more). Then A's
 * store link delivers what it held: A's copy of W1 reaches the store after B served W2. Then the
 * host–A link heals and A's path comes back, now non-optimized: the host stays on B.
 *
 * Correct: A's held write never lands after B served a newer one (fencing). The register
 * checker decides it: the reads after the release (and the final read-back) must return the
 * newest acknowledged write; A's late copy of W1 would make them return W1 after W2 was
 * acknowledged, a stale read. The test-only switch 'no-fencing' (the IO guard always continues,
 * a command is never re-checked against the epoch it was admitted under) must make this fail.
 * Also expected: W1 and W2 acknowledged by B, B the only AO port after the takeover, every node
 * answering RTPG the same, and A coming back non-optimized.
 */
import { AccessState } from '../initiator/scsi-cluster-commands.js';
import { INITIATOR_HOST, STORE_HOST } from '../world.js';
import { describeStates, expectIdenticalRtpg, makeOwner } from './cluster-helpers.js';
import type { Scenario } from './scenario.js';

export const partitionOldOwnerAlive: Scenario = {
  name: 'partition-old-owner-alive',
  field: 2,
  description:
    "single-owner ALUA: A holds a delayed write, the host-A link is cut, B takes over; A's write must never land after B's newer one",
  world: () => ({
    alua: 'single-owner',
    targetOverrides: {
      'target-a': {
        // Slower to give up on the store than the host is to fail over, and no keepalive towards
        // the host: A's held write outlives the failover, inside a session that is still open.
        backend: { requestTimeoutMs: 120_000, unavailableAfterMs: 180_000 },
        nopIntervalMs: 0,
      },
    },
  }),
  async run(context) {
    const { rng, history, world } = context;
    const device = await context.openDevice({ policy: 'alua' });
    const perObject = context.blocksPerObject;
    const block = rng.int(1, 8) * perObject + rng.int(0, perObject);
    await makeOwner(context, device, 'target-a');
    await expectIdenticalRtpg(context, device, 'with A the owner');
    const w0 = await history.write(device, 'host', block);
    context.expect(
      w0.outcome === 'ok' && w0.path === 'target-a',
      `W0 should go through the owner A, went ${w0.path} (${w0.outcome})`,
    );

    context.step("A's link to the store holds what A sends; W1 goes to A");
    world.network.partition('target-a', STORE_HOST, { oneWay: true });
    const w1Done = history.write(device, 'host', block);
    await context.sleep(rng.int(5, 60));
    context.step('the host-A link is cut both ways; A keeps running with W1 inside');
    world.network.partition(INITIATOR_HOST, 'target-a');
    const w1 = await w1Done;
    context.expect(
      w1.outcome === 'ok' && w1.path === 'target-b',
      `W1 should be retried on B and acknowledged there, got ${w1.outcome} through ${w1.path} ${w1.error ?? ''}`,
    );
    let last = w1;
    for (let index = 0, count = rng.int(1, 4); index < count; index++) {
      const write = await history.write(device, 'host', block);
      context.expect(
        write.outcome === 'ok' && write.path === 'target-b',
        `W${index + 2} should go through the new owner B, got ${write.outcome} through ${write.path}`,
      );
      if (write.outcome === 'ok') last = write;
    }
    // The takeover raised 2A/06 on every I_T nexus (the host's through B too): the host has read
    // RTPG again by now, with the next command through B.
    context.expect(
      device.paths().find((path) => path.name === 'target-b')?.alua?.state === AccessState.ACTIVE_OPTIMIZED,
      `after the writes through B the host should know B as the owner (AO; UA 2A/06 after the implicit takeover, then RTPG); RTPG says ${describeStates(device)}`,
    );
    const before = await history.read(device, 'host', block);
    context.expect(
      before.stamp === last.stamp,
      `before the release the block should hold ${last.stamp}, read ${before.stamp}`,
    );

    context.step("A's store link delivers what it held (A's copy of W1)");
    world.network.heal('target-a', STORE_HOST);
    await context.sleep(rng.int(3_000, 10_000));
    const after = await history.read(device, 'host', block);
    context.expect(
      after.stamp === last.stamp,
      `after A's held write was released the block should still hold ${last.stamp} (B's newest), read ${after.stamp}`,
    );

    context.step('the host-A link heals; A comes back non-optimized');
    world.network.heal(INITIATOR_HOST, 'target-a');
    const back = await context.waitFor(() => device.paths().every((path) => path.state === 'active'), 30_000);
    context.expect(back, 'the host should reinstate A within 30 s of the heal');
    const states = device.paths();
    const a = states.find((path) => path.name === 'target-a');
    const b = states.find((path) => path.name === 'target-b');
    context.expect(
      a?.alua?.state !== AccessState.ACTIVE_OPTIMIZED && b?.alua?.state === AccessState.ACTIVE_OPTIMIZED,
      `A should come back non-optimized with B still the owner; RTPG says ${describeStates(device)}`,
    );
    await expectIdenticalRtpg(context, device, 'after A came back');
    for (let index = 0, count = rng.int(1, 3); index < count; index++) {
      const read = await history.read(device, 'host', block);
      context.expect(
        read.path === 'target-b',
        `reads should stay on the owner B (no ping-pong), went ${read.path}`,
      );
    }
  },
};
