/**
 * Steps the cluster-wide field scenarios share: making a node the ALUA owner, reading what every
 * node answers (RTPG, identity), and waiting for unit attentions on paths.
 */
import { AccessState, accessStateName } from '../initiator/scsi-cluster-commands.js';
import { ScsiStatusCode } from '../initiator/scsi-commands.js';
import { type MultipathDevice, MultipathError } from '../multipath/multipath-device.js';
import type { ScenarioContext } from './scenario.js';

/**
 * Makes `node` the owner of a single-owner LU, as a host does: SET TARGET PORT GROUPS through
 * that node's path, asking active/optimized for its group (explicit ALUA, TPGS 11b). If the
 * target refuses it, a read through that path alone does it (the implicit takeover). Expects
 * the device's RTPG view to show that path AO and every other one not AO afterwards.
 */
export async function makeOwner(
  context: ScenarioContext,
  device: MultipathDevice,
  node: string,
): Promise<void> {
  context.step(`${node} becomes the owner (SET TARGET PORT GROUPS through it)`);
  let explicit = false;
  try {
    explicit = (await device.setTargetPortGroups(node)).result.status === ScsiStatusCode.GOOD;
  } catch (error) {
    if (!(error instanceof MultipathError)) throw error;
  }
  context.expect(explicit, `SET TARGET PORT GROUPS (AO for ${node}'s group) through ${node} should succeed`);
  if (!explicit) {
    try {
      await device.read(0, 1, { path: node });
    } catch (error) {
      if (!(error instanceof MultipathError)) throw error;
    }
    await device.refreshAlua(node, 'after the implicit takeover');
  }
  const paths = device.paths();
  const owner = paths.find((path) => path.name === node);
  context.expect(
    owner?.alua?.state === AccessState.ACTIVE_OPTIMIZED &&
      paths.every((path) => path.name === node || path.alua?.state !== AccessState.ACTIVE_OPTIMIZED),
    `after the ownership change ${node} alone should be active/optimized; RTPG says ${describeStates(device)}`,
  );
}

/** "target-a=AO(prio 50) target-b=ANO(prio 10)". */
export function describeStates(device: MultipathDevice): string {
  return device
    .paths()
    .map(
      (path) =>
        `${path.name}=${path.alua?.state === undefined ? '?' : accessStateName(path.alua.state)}(prio ${path.alua?.prio ?? '-'}, tpg ${path.alua?.targetPortGroup ?? '-'})`,
    )
    .join(' ');
}

/**
 * RTPG through every usable path of `device`, as text per path: every node must answer the same
 * (ESX and Windows take all states from one answer). Expects that; returns the answers.
 */
export async function expectIdenticalRtpg(
  context: ScenarioContext,
  device: MultipathDevice,
  when: string,
): Promise<Map<string, string>> {
  const answers = new Map<string, string>();
  for (const path of device.paths()) {
    if (path.state !== 'active') continue;
    try {
      const groups = await device.reportTargetPortGroups({ path: path.name });
      answers.set(
        path.name,
        groups.groups
          .map(
            (group) =>
              `tpg ${group.id} ${accessStateName(group.state)} ports [${group.relativeTargetPortIds.join(',')}]`,
          )
          .join('; '),
      );
    } catch (error) {
      if (!(error instanceof MultipathError)) throw error;
      answers.set(path.name, `failed: ${error.code}`);
    }
  }
  const distinct = new Set(answers.values());
  context.expect(
    distinct.size <= 1,
    `${when}: every node should answer REPORT TARGET PORT GROUPS the same; ${[...answers]
      .map(([path, text]) => `${path}: ${text}`)
      .join(' | ')}`,
  );
  return answers;
}

/** The path's unit attentions received after event `afterSeq` (on login `login`, if given). */
export function unitAttentionsAfter(device: MultipathDevice, path: string, afterSeq: number, login?: number) {
  return device
    .unitAttentions()
    .filter(
      (record) =>
        record.path === path && record.seq > afterSeq && (login === undefined || record.login === login),
    );
}

export function hex2(value: number): string {
  return value.toString(16).padStart(2, '0');
}

/** Runs `work` after `delayMs` of virtual time (0: at once). */
export async function runWithDelay<T>(
  context: ScenarioContext,
  delayMs: number,
  work: () => Promise<T>,
): Promise<T> {
  if (delayMs > 0) await context.sleep(delayMs);
  return work();
}
