/**
 * Field scenario 10 (multipath.md §6.8–§6.9, §8): a LUN RESET, or a target restart, on one node.
 *
 * Two hosts, each with an ALUA device over both nodes, do light IO. Before anything happens each
 * path's Device Identification page (VPD 0x83) and each node's RTPG answer are recorded. Then,
 * per seed, either a host sends LOGICAL UNIT RESET through one of its paths, or one target node
 * is killed and restarted.
 *
 * Correct (libiscsi's MultipathIO.Reset, and §8's list):
 * - after a LUN RESET, a UNIT ATTENTION (29/xx) on every path of every host, through both nodes,
 *   on the sessions that existed before the reset (a new login's 29/00 does not count): the LU is
 *   one, so is its reset;
 * - after a restart, a UNIT ATTENTION on every path through the restarted node (its nexuses are
 *   new), and the paths rejoin the same device: the WWID is checked at every login;
 * - either way the identity does not change: every path answers the same VPD 0x83 page as
 *   before, every node the same RTPG group and port ids, and nothing answers ILLEGAL REQUEST 25/00
 *   (LUN not supported, the PDL of ESX);
 * - the IO goes on: the register checker judges every read, and no IO fails outside the restart.
 */

import type { MultipathDevice } from '../multipath/multipath-device.js';
import { runClient, workloadBlocks } from '../workload.js';
import { expectIdenticalRtpg, hex2, unitAttentionsAfter } from './cluster-helpers.js';
import type { Scenario } from './scenario.js';

export const lunResetAllPaths: Scenario = {
  name: 'lun-reset-all-paths',
  field: 10,
  description: 'LUN RESET or a target restart on one node: a UA on every path, identity unchanged',
  world: (rng) => ({ alua: rng.chance(0.5) ? 'active-active' : 'single-owner' }),
  async run(context) {
    const { rng, history, world } = context;
    const hosts = ['host-1', 'host-2'];
    const devices: MultipathDevice[] = [];
    for (const host of hosts) devices.push(await context.openDevice({ host, policy: 'alua' }));
    const identity = new Map<string, string>();
    for (const [index, device] of devices.entries()) {
      for (const path of device.paths()) {
        identity.set(
          `${hosts[index]}/${path.name}`,
          (await device.deviceIdentification(path.name)).toString('hex'),
        );
      }
    }
    const layout = (answers: Map<string, string>) =>
      [...answers.values()].map((text) =>
        text.replace(/ (AO|ANO|standby|unavailable|transitioning|offline)/g, ''),
      );
    const rtpgBefore = layout(await expectIdenticalRtpg(context, devices[0]!, 'before the reset'));

    const blocks = workloadBlocks(rng, {
      objectBytes: context.objectBytes,
      objectCount: rng.int(1, 3),
      perObject: rng.int(1, 3),
      firstObject: 1,
    });
    const io = devices.map((device, index) =>
      runClient({
        history,
        device,
        client: `h${index + 1}`,
        rng: rng.fork(`client-${index + 1}`),
        clock: world.clock,
        blocks,
        opsCount: rng.int(8, 20),
        readRatio: 0.5,
        thinkMsMax: 300,
      }),
    );
    await context.sleep(rng.int(100, 2_000));

    const action = rng.chance(0.6) ? 'lun-reset' : 'restart';
    const logins = devices.map((device) => new Map(device.paths().map((path) => [path.name, path.logins])));
    const actionSeq = world.eventLog.lastSeq;
    let restarted: string | undefined;
    if (action === 'lun-reset') {
      const device = rng.pick(devices);
      const path = rng.pick(device.paths().filter((candidate) => candidate.state === 'active')).name;
      context.step('LOGICAL UNIT RESET', { device: device.name, path });
      const response = await device.lunReset(path);
      context.expect(
        response === 0,
        `the LUN RESET through ${path} should complete (TMF response ${response})`,
      );
    } else {
      restarted = rng.pick(world.targets).name;
      context.step('a target node restarts', { node: restarted });
      world.crashTarget(restarted, 'kill');
      await context.sleep(rng.int(500, 3_000));
      await world.restartTarget(restarted);
    }

    // Which paths must report a unit attention, and on which login.
    const expected = devices.flatMap((device, index) =>
      device
        .paths()
        .filter((path) => action === 'lun-reset' || path.name === restarted)
        .map((path) => ({
          device,
          host: hosts[index]!,
          path: path.name,
          login: action === 'lun-reset' ? logins[index]!.get(path.name) : undefined,
        })),
    );
    const reported = () =>
      expected.every(
        ({ device, path, login }) => unitAttentionsAfter(device, path, actionSeq, login).length > 0,
      );
    await context.waitFor(reported, 30_000);
    for (const { device, host, path, login } of expected) {
      const seen = unitAttentionsAfter(device, path, actionSeq, login);
      context.expect(
        seen.length > 0 && (action === 'restart' || seen.some((record) => record.asc === 0x29)),
        `after the ${action} ${host}'s path ${path} should report a UNIT ATTENTION${action === 'lun-reset' ? ' 29/xx on its session from before the reset' : ''}; it got [${seen
          .map((record) => `${hex2(record.asc)}/${hex2(record.ascq)}`)
          .join(', ')}]`,
      );
    }

    await Promise.all(io);
    const back = await context.waitFor(
      () => devices.every((device) => device.paths().every((path) => path.state === 'active')),
      30_000,
    );
    context.expect(back, `every path should be back within 30 s of the ${action}`);
    for (const [index, device] of devices.entries()) {
      for (const path of device.paths()) {
        const key = `${hosts[index]}/${path.name}`;
        const page = (await device.deviceIdentification(path.name).catch(() => Buffer.alloc(0))).toString(
          'hex',
        );
        context.expect(
          page === identity.get(key),
          `${key} should answer the same VPD 0x83 page after the ${action}`,
        );
        context.expect(
          path.wwid === device.wwid,
          `${key} should rejoin the same device (WWID ${device.wwid}), answered ${path.wwid}`,
        );
      }
    }
    const rtpgAfter = layout(await expectIdenticalRtpg(context, devices[0]!, `after the ${action}`));
    context.expect(
      rtpgAfter[0] === rtpgBefore[0],
      `the target port groups and their ports should not change: before ${rtpgBefore[0]}, after ${rtpgAfter[0]}`,
    );
    const pdl = history.ops.filter((op) => op.error?.includes('sense 5/25/00'));
    context.expect(
      pdl.length === 0,
      `no IO may be answered LUN NOT SUPPORTED (PDL): ${pdl.map((op) => op.id)}`,
    );
  },
};
