/**
 * Builds the targets a config describes: opens each LUN's backend, wraps it in a SCSI logical
 * unit with its reservations and unit attentions, and hands the iSCSI layer TargetNodes.
 * A target's `sheepdogProbeEveryRead` (else the config's) joins the environment's sheepdog options.
 */
import type { BlockBackend } from '../backends/block-backend.js';
import { type ChapSecrets, chapAccount } from '../iscsi/login/chap.js';
import type { IscsiLun, TargetNode } from '../iscsi/target/target-node.js';
import { LogicalUnit } from '../scsi/logical-unit.js';
import { Reservations } from '../scsi/reservations/reservation-gate.js';
import { UnitAttentions } from '../scsi/unit-attention.js';
import { type BackendEnvironment, openBackend } from './backing.js';
import type { TargetConfig, TargetDefinition } from './target-config.js';

export interface AssembledTargets {
  readonly targets: TargetNode[];
  close(): Promise<void>;
}

export async function assembleTargets(
  config: TargetConfig,
  environment: BackendEnvironment,
): Promise<AssembledTargets> {
  const backends: BlockBackend[] = [];
  const close = async () => {
    for (const backend of backends.splice(0)) await backend.close().catch(() => undefined);
  };
  try {
    const targets: TargetNode[] = [];
    for (const definition of config.targets) {
      targets.push(
        await assembleTarget(definition, environmentFor(config, definition, environment), backends),
      );
    }
    return { targets, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The backend environment of one target: its probe-every-read choice over the config's. */
export function environmentFor(
  config: TargetConfig,
  definition: TargetDefinition,
  environment: BackendEnvironment,
): BackendEnvironment {
  const probeEveryRead = definition.sheepdogProbeEveryRead ?? config.sheepdogProbeEveryRead;
  if (probeEveryRead === undefined) return environment;
  return { ...environment, sheepdogOptions: { ...environment.sheepdogOptions, probeEveryRead } };
}

async function assembleTarget(
  definition: TargetDefinition,
  environment: BackendEnvironment,
  backends: BlockBackend[],
): Promise<TargetNode> {
  const luns = new Map<number, IscsiLun>();
  const lunNumbers = () => [...luns.keys()].sort((a, b) => a - b);
  for (const { lun, backing, text } of definition.luns) {
    let backend: BlockBackend;
    try {
      backend = await openBackend(backing, environment);
    } catch (error) {
      throw new Error(`LUN ${lun} of ${definition.iqn} (${text}): ${(error as Error).message}`, {
        cause: error,
      });
    }
    backends.push(backend);
    const unitAttentions = new UnitAttentions();
    const unit = new LogicalUnit({
      backend,
      lun,
      reservations: new Reservations({ unitAttentions, logger: environment.logger }),
      unitAttentions,
      clock: environment.clock,
      logger: environment.logger.child({ target: definition.iqn, lun }),
      eventLog: environment.eventLog,
      reportLuns: lunNumbers,
    });
    luns.set(lun, {
      blockSizeBytes: backend.blockSizeBytes,
      execute: (command) => unit.execute(command),
      reset: () => unit.reset(),
      nexusLost: (nexus) => unit.nexusLost(nexus),
    });
  }
  const chap: ChapSecrets | undefined = definition.chap
    ? {
        incoming: [chapAccount(definition.chap.user, definition.chap.secret)],
        outgoing: definition.mutualChap
          ? chapAccount(definition.mutualChap.user, definition.mutualChap.secret)
          : undefined,
      }
    : undefined;
  return {
    iqn: definition.iqn,
    alias: definition.alias,
    // One portal group per node for now; multipath gives each node its own ids.
    portalGroupTag: 1,
    relativeTargetPortId: 1,
    targetPortGroup: 1,
    luns,
    chap,
    access: { initiatorNames: definition.initiators, initiatorAddresses: definition.addresses },
  };
}
