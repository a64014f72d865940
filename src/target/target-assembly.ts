/**
 * Builds the targets a config describes: opens each LUN's backend, wraps it in a SCSI logical
 * unit with its reservations and unit attentions, and hands the iSCSI layer TargetNodes.
 * A target's `sheepdogProbeEveryRead` (else the config's) joins the environment's sheepdog options.
 *
 * The config's node id N (default 1) is this process's place among the target nodes that export
 * the same VDIs: every target gets portal group tag, relative target port id and target port
 * group N, and every LU gets `clusterNode { nodeId: N, targetPortGroup: N, relativeTargetPortIds:
 * [N] }` and its target's `alua` policy (and `clusterColdStart` when the config says every node
 * starts now), from which the SCSI layer builds the cluster-wide state (reservations, unit
 * attentions, ALUA groups) it keeps in the backend's shared cell.
 */
import type { BlockBackend } from '../backends/block-backend.js';
import { type ChapSecrets, chapAccount } from '../iscsi/login/chap.js';
import type { IscsiLun, TargetNode } from '../iscsi/target/target-node.js';
import { LogicalUnit } from '../scsi/logical-unit.js';
import { UnitAttentions } from '../scsi/unit-attention.js';
import { type BackendEnvironment, openBackend } from './backing.js';
import type { AluaPolicy, TargetConfig, TargetDefinition } from './target-config.js';

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
    const nodeId = config.nodeId ?? 1;
    for (const definition of config.targets) {
      const cluster = clusterLuOptions(nodeId, definition.alua, config.clusterColdStart ?? false);
      targets.push(
        await assembleTarget(
          definition,
          nodeId,
          cluster,
          environmentFor(config, definition, environment),
          backends,
        ),
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

/** What a LogicalUnit learns about the cluster of target nodes it belongs to. */
export interface ClusterLuOptions {
  readonly clusterNode: {
    readonly nodeId: number;
    readonly targetPortGroup: number;
    readonly relativeTargetPortIds: readonly number[];
  };
  readonly aluaPolicy?: AluaPolicy;
  /** Every node of the LU starts now (TargetConfig.clusterColdStart). */
  readonly clusterColdStart?: boolean;
}

/** The cluster options of every LU of a target on node `nodeId`. */
export function clusterLuOptions(
  nodeId: number,
  alua: AluaPolicy | undefined,
  coldStart = false,
): ClusterLuOptions {
  return {
    clusterNode: { nodeId, targetPortGroup: nodeId, relativeTargetPortIds: [nodeId] },
    ...(alua === undefined ? {} : { aluaPolicy: alua }),
    ...(coldStart ? { clusterColdStart: true } : {}),
  };
}

async function assembleTarget(
  definition: TargetDefinition,
  nodeId: number,
  cluster: ClusterLuOptions,
  environment: BackendEnvironment,
  backends: BlockBackend[],
): Promise<TargetNode> {
  const luns = new Map<number, IscsiLun>();
  const lunNumbers = () => [...luns.keys()].sort((a, b) => a - b);
  for (const { lun, backing, text } of definition.luns) {
    // One child logger per LU: its backend, reservation gate and commands log with target and lun.
    const logger = environment.logger.child({ target: definition.iqn, lun });
    let backend: BlockBackend;
    try {
      backend = await openBackend(backing, { ...environment, logger });
    } catch (error) {
      throw new Error(`LUN ${lun} of ${definition.iqn} (${text}): ${(error as Error).message}`, {
        cause: error,
      });
    }
    backends.push(backend);
    const unitAttentions = new UnitAttentions();
    const unit = new LogicalUnit({
      ...cluster,
      backend,
      lun,
      // The LU builds its reservation gate: in memory, or over the backend's shared cell.
      reservationOptions: { logger },
      unitAttentions,
      clock: environment.clock,
      logger,
      eventLog: environment.eventLog,
      reportLuns: lunNumbers,
      ...(environment.clusterBug === undefined ? {} : { testOnlyBug: environment.clusterBug }),
    });
    try {
      // Cluster mode: join the LU's cluster document now, so a node id or policy clash stops the
      // start instead of answering NOT READY on every command.
      await unit.open();
    } catch (error) {
      throw new Error(`LUN ${lun} of ${definition.iqn} (${text}): ${(error as Error).message}`, {
        cause: error,
      });
    }
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
    // One portal group, one target port and one target port group per node, all numbered by its id.
    portalGroupTag: nodeId,
    relativeTargetPortId: nodeId,
    targetPortGroup: nodeId,
    luns,
    chap,
    access: { initiatorNames: definition.initiators, initiatorAddresses: definition.addresses },
  };
}
