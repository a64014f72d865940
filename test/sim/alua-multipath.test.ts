/**
 * Goal: the ALUA policy of the simulated dm-multipath device (group_by_prio, prio alua, scsi_dh_alua)
 * does what its file comment says against the real clustered target: it learns each path's port
 * group and the one WWID, round-robins inside the best group, fails over to the next group, reads
 * RTPG again on 2A/06 and on reinstatement, and never ping-pongs back; RESERVATION CONFLICT comes
 * back to the caller without failing the path; a stable ISID keeps a PR registration across a new
 * login. Method: a World of the real store and two Collie target nodes (node ids 1 and 2) on the
 * memory network, with the ALUA policy under test; virtual time is run with world.settle.
 */
import { describe, expect, test } from 'vitest';
import { AccessState, PrOutAction, PrType } from '../../sim/initiator/scsi-cluster-commands.js';
import {
  MultipathDevice,
  type MultipathDeviceOptions,
  MultipathError,
} from '../../sim/multipath/multipath-device.js';
import { TARGET_IQN, World } from '../../sim/world.js';

function deviceOptions(
  world: World,
  host: string,
  overrides: Partial<MultipathDeviceOptions> = {},
): MultipathDeviceOptions {
  return {
    name: `${host}/mpath`,
    transport: world.initiatorTransport(host),
    clock: world.clock,
    rng: world.rng.fork(`device-${host}`),
    eventLog: world.eventLog,
    initiatorName: `iqn.2026-11.org.collie:${host}`,
    targetName: TARGET_IQN,
    lun: 1,
    policy: 'alua',
    paths: world.targets.map((target) => ({ name: target.name, portal: target.portal })),
    ...overrides,
  };
}

const block = (fill: number) => Buffer.alloc(512, fill);
const states = (device: MultipathDevice) => device.paths().map((path) => path.alua?.state);

describe('ALUA multipath device', () => {
  test('learns each node as its own port group with the same WWID; active-active round-robins over both', async () => {
    const world = await World.build({ seed: 1, alua: 'active-active' });
    const device = await world.settle(MultipathDevice.open(deviceOptions(world, 'host')));
    const paths = device.paths();
    expect(paths.map((path) => path.alua?.targetPortGroup)).toEqual([1, 2]);
    expect(paths.map((path) => path.alua?.relativeTargetPortId)).toEqual([1, 2]);
    expect(paths.every((path) => path.wwid !== undefined && path.wwid === device.wwid)).toBe(true);
    expect(states(device)).toEqual([AccessState.ACTIVE_OPTIMIZED, AccessState.ACTIVE_OPTIMIZED]);
    const used = new Set<string>();
    for (let index = 0; index < 4; index++) used.add(await world.settle(device.write(index, block(index))));
    expect([...used].sort()).toEqual(['target-a', 'target-b']);
  });

  test('single-owner: IO goes to the owner; when it dies B takes over and the host stays on B when A returns', async () => {
    const world = await World.build({ seed: 2, alua: 'single-owner' });
    const device = await world.settle(
      MultipathDevice.open(deviceOptions(world, 'host', { recoveryTimeoutMs: 1_000 })),
    );
    const stpg = await world.settle(device.setTargetPortGroups('target-a'));
    expect(stpg.result.status).toBe(0);
    expect(states(device)).toEqual([AccessState.ACTIVE_OPTIMIZED, AccessState.ACTIVE_NON_OPTIMIZED]);
    for (let index = 0; index < 3; index++)
      expect(await world.settle(device.write(index, block(1)))).toBe('target-a');

    world.crashTarget('target-a');
    expect(await world.settle(device.write(0, block(2)))).toBe('target-b');
    // The next command through B carries 2A/06; the device reads RTPG again.
    expect(await world.settle(device.write(1, block(2)))).toBe('target-b');
    expect(device.paths()[1]?.alua?.state).toBe(AccessState.ACTIVE_OPTIMIZED);
    expect(
      device
        .unitAttentions()
        .some((record) => record.path === 'target-b' && record.asc === 0x2a && record.ascq === 0x06),
    ).toBe(true);

    await world.settle(world.restartTarget('target-a'));
    await world.advance(6_000);
    expect(device.paths().map((path) => path.state)).toEqual(['active', 'active']);
    expect(states(device)).toEqual([AccessState.ACTIVE_NON_OPTIMIZED, AccessState.ACTIVE_OPTIMIZED]);
    for (let index = 0; index < 3; index++) {
      const read = await world.settle(device.read(0, 1));
      expect(read.path).toBe('target-b');
      expect(read.data.equals(block(2))).toBe(true);
    }
  });

  test('RESERVATION CONFLICT comes back as MP_RESERVATION_CONFLICT, certain, and the path stays up', async () => {
    const world = await World.build({ seed: 3, alua: 'active-active' });
    const owner = await world.settle(
      MultipathDevice.open(
        deviceOptions(world, 'owner', {
          paths: [{ name: 'target-a', portal: world.target('target-a').portal }],
        }),
      ),
    );
    const other = await world.settle(
      MultipathDevice.open(
        deviceOptions(world, 'other', {
          paths: [{ name: 'target-b', portal: world.target('target-b').portal }],
        }),
      ),
    );
    const key = 0x1234n;
    const registered = await world.settle(
      owner.persistentReserveOut({ action: PrOutAction.REGISTER, key: 0n, serviceActionKey: key }),
    );
    expect(registered.result.status).toBe(0);
    const reserved = await world.settle(
      owner.persistentReserveOut({ action: PrOutAction.RESERVE, key, type: PrType.WRITE_EXCLUSIVE }),
    );
    expect(reserved.result.status).toBe(0);
    const failure = await world.settle(other.write(8, block(9)).catch((error: unknown) => error));
    expect(failure).toBeInstanceOf(MultipathError);
    expect((failure as MultipathError).code).toBe('MP_RESERVATION_CONFLICT');
    expect((failure as MultipathError).uncertain).toBe(false);
    await world.advance(5_000);
    expect(other.paths().map((path) => path.state)).toEqual(['active']);
    expect(await world.settle(owner.write(8, block(9)))).toBe('target-a');
  });

  test('with a stable ISID a new login of a path is the same I_T nexus: its PR registration holds', async () => {
    const world = await World.build({ seed: 4, alua: 'active-active' });
    const device = await world.settle(
      MultipathDevice.open(
        deviceOptions(world, 'host', { policy: 'failover', stableIsid: true, recoveryTimeoutMs: 0 }),
      ),
    );
    const key = 0x77n;
    for (const path of ['target-a', 'target-b']) {
      const answer = await world.settle(
        device.persistentReserveOut(
          { action: PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY, key: 0n, serviceActionKey: key },
          { path },
        ),
      );
      expect(answer.result.status).toBe(0);
    }
    const reserved = await world.settle(
      device.persistentReserveOut(
        { action: PrOutAction.RESERVE, key, type: PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY },
        { path: 'target-a' },
      ),
    );
    expect(reserved.result.status).toBe(0);
    const logins = device.paths()[0]!.logins;
    device.failPath('target-a', 'test');
    await world.advance(5_000);
    expect(device.paths()[0]?.logins).toBeGreaterThan(logins);
    expect(await world.settle(device.write(3, block(3), { path: 'target-a' }))).toBe('target-a');
    const keys = await world.settle(device.readKeys({ path: 'target-b' }));
    expect(keys.keys).toEqual([key, key]);
  });
});
