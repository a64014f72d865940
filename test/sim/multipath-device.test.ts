/**
 * Goal: the simulated dm-multipath device fails over, requeues, queues with no path and fails
 * back the way its file comment says. Method: a World of the real store and two Collie target
 * nodes on the memory network; the device does IO while target nodes crash, links are cut and
 * nodes come back; virtual time is run with world.settle / world.advance.
 */
import { describe, expect, test } from 'vitest';
import {
  MultipathDevice,
  type MultipathDeviceOptions,
  MultipathError,
} from '../../sim/multipath/multipath-device.js';
import { INITIATOR_HOST, TARGET_IQN, World } from '../../sim/world.js';

function deviceOptions(
  world: World,
  overrides: Partial<MultipathDeviceOptions> = {},
): MultipathDeviceOptions {
  return {
    name: 'host/mpath',
    transport: world.initiatorTransport(INITIATOR_HOST),
    clock: world.clock,
    rng: world.rng.fork('device'),
    eventLog: world.eventLog,
    initiatorName: 'iqn.2026-11.org.collie:host',
    targetName: TARGET_IQN,
    lun: 1,
    paths: world.targets.map((target) => ({ name: target.name, portal: target.portal })),
    ...overrides,
  };
}

const block = (fill: number) => Buffer.alloc(512, fill);

describe('multipath device', () => {
  test('failover: IO goes to A; when A is killed, the IO is requeued on B after the recovery wait', async () => {
    const world = await World.build({ seed: 1 });
    const device = await world.settle(
      MultipathDevice.open(deviceOptions(world, { recoveryTimeoutMs: 1_000 })),
    );
    expect(device.paths().map((path) => path.state)).toEqual(['active', 'active']);
    expect(await world.settle(device.write(2048, block(1)))).toBe('target-a');
    world.crashTarget('target-a');
    const startMs = world.clock.now();
    const read = await world.settle(device.read(2048, 1));
    expect(read.path).toBe('target-b');
    expect(read.data.equals(block(1))).toBe(true);
    expect(world.clock.now() - startMs).toBeGreaterThanOrEqual(1_000);
    expect(device.paths().map((path) => path.state)).toEqual(['failed', 'active']);
  });

  test('round-robin spreads IO over both paths', async () => {
    const world = await World.build({ seed: 2 });
    const device = await world.settle(MultipathDevice.open(deviceOptions(world, { policy: 'round-robin' })));
    const paths = new Set<string>();
    for (let index = 0; index < 4; index++) paths.add(await world.settle(device.write(index, block(index))));
    expect([...paths].sort()).toEqual(['target-a', 'target-b']);
  });

  test('with no path an IO waits (queue_if_no_path) and fails MP_NO_PATH after noPathRetryMs', async () => {
    const world = await World.build({ seed: 3 });
    const device = await world.settle(
      MultipathDevice.open(deviceOptions(world, { noPathRetryMs: 10_000, recoveryTimeoutMs: 0 })),
    );
    world.crashTarget('target-a');
    world.crashTarget('target-b');
    const failure = await world.settle(device.read(0, 1).catch((error: unknown) => error));
    expect(failure).toBeInstanceOf(MultipathError);
    expect((failure as MultipathError).code).toBe('MP_NO_PATH');
  });

  test('the path checker logs in again to a rebooted node and fails back to it', async () => {
    const world = await World.build({ seed: 4 });
    const device = await world.settle(MultipathDevice.open(deviceOptions(world, { recoveryTimeoutMs: 0 })));
    world.crashTarget('target-a', 'power-off');
    await world.advance(10_000);
    expect(device.paths().map((path) => path.state)).toEqual(['failed', 'active']);
    expect(await world.settle(device.write(0, block(7)))).toBe('target-b');
    await world.settle(world.restartTarget('target-a'));
    await world.advance(5_000);
    expect(device.paths().map((path) => path.state)).toEqual(['active', 'active']);
    const read = await world.settle(device.read(0, 1));
    expect(read.path).toBe('target-a');
    expect(read.data.equals(block(7))).toBe(true);
  });
});
