/**
 * Builds the targets a config describes: opens each LUN's backend, wraps it in a SCSI logical
 * unit with its reservations and unit attentions, and puts the targets into the node's
 * TargetRegistry (target-registry.ts), which the iSCSI layer reads. A LUN added while the node
 * runs (the admin API, target-service.ts) is built by the same `assembleLun`.
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
import type { TargetNode } from '../iscsi/target/target-node.js';
import { LogicalUnit } from '../scsi/logical-unit.js';
import { UnitAttentions } from '../scsi/unit-attention.js';
import { type BackendEnvironment, type BackingSpec, luOptionsFor, openBackend } from './backing.js';
import type { AluaPolicy, ChapAccountConfig, TargetConfig, TargetDefinition } from './target-config.js';
import { ServedLun, ServedTarget, TargetChangeError, TargetRegistry } from './target-registry.js';

export interface AssembledTargets {
  /** The live list of the registry (read-only). */
  readonly targets: readonly TargetNode[];
  readonly registry: TargetRegistry;
  /** Closes the backend of every LUN the registry holds now (the node stops; sessions are gone). */
  close(): Promise<void>;
}

export async function assembleTargets(
  config: TargetConfig,
  environment: BackendEnvironment,
): Promise<AssembledTargets> {
  const registry = new TargetRegistry();
  const close = async () => {
    for (const target of registry.served()) {
      for (const lun of target.servedLuns())
        await lun.close({ waitForCommands: false }).catch(() => undefined);
    }
  };
  try {
    const nodeId = config.nodeId ?? 1;
    for (const definition of config.targets) {
      const target = servedTargetFor(definition, nodeId);
      registry.add(target);
      for (const { lun, backing, text } of definition.luns) {
        target.attach(
          await assembleLun({
            target,
            lun,
            backing,
            text,
            nodeId,
            coldStart: config.clusterColdStart ?? false,
            environment: environmentFor(config, definition, environment),
          }),
        );
      }
    }
    return { targets: registry.targets, registry, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A target of the config, without its LUNs yet. */
export function servedTargetFor(definition: TargetDefinition, nodeId: number): ServedTarget {
  return new ServedTarget({
    iqn: definition.iqn,
    ...(definition.alias === undefined ? {} : { alias: definition.alias }),
    nodeId,
    chap: chapSecretsFor(definition.chap, definition.mutualChap),
    access: { initiatorNames: definition.initiators, initiatorAddresses: definition.addresses },
    ...(definition.alua === undefined ? {} : { alua: definition.alua }),
    ...(definition.sheepdogProbeEveryRead === undefined
      ? {}
      : { sheepdogProbeEveryRead: definition.sheepdogProbeEveryRead }),
  });
}

/** The login's CHAP accounts of a target: one incoming account and, for mutual CHAP, the target's. */
export function chapSecretsFor(
  chap: ChapAccountConfig | undefined,
  mutualChap: ChapAccountConfig | undefined,
): ChapSecrets | undefined {
  if (chap === undefined) return undefined;
  return {
    incoming: [chapAccount(chap.user, chap.secret)],
    outgoing: mutualChap ? chapAccount(mutualChap.user, mutualChap.secret) : undefined,
  };
}

/** The backend environment of one target: its probe-every-read choice over the config's. */
export function environmentFor(
  config: Pick<TargetConfig, 'sheepdogProbeEveryRead'>,
  target: Pick<TargetDefinition, 'sheepdogProbeEveryRead'>,
  environment: BackendEnvironment,
): BackendEnvironment {
  const probeEveryRead = target.sheepdogProbeEveryRead ?? config.sheepdogProbeEveryRead;
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

export interface AssembleLunOptions {
  /** The target it will be attached to (the caller attaches it): its ALUA policy, its LUN list. */
  readonly target: ServedTarget;
  readonly lun: number;
  readonly backing: BackingSpec;
  /** The backing as written. */
  readonly text: string;
  readonly nodeId: number;
  /** Every node of the LU starts now (TargetConfig.clusterColdStart); false for a LUN added later. */
  readonly coldStart: boolean;
  /** environmentFor(config, target, ...): the target's probe-every-read choice applied. */
  readonly environment: BackendEnvironment;
}

/**
 * Opens a LUN's backend and builds its logical unit (in cluster mode it joins the LU's cluster
 * document now, so a node id or policy clash is an error here, not NOT READY on every command).
 * A failure closes what was opened and throws TargetChangeError('backend') naming the LUN.
 */
export async function assembleLun(options: AssembleLunOptions): Promise<ServedLun> {
  const { target, lun, backing, text, environment } = options;
  // One child logger per LU: its backend, reservation gate and commands log with target and lun.
  const logger = environment.logger.child({ target: target.iqn, lun });
  const failure = (error: unknown) =>
    new TargetChangeError('backend', `LUN ${lun} of ${target.iqn} (${text}): ${(error as Error).message}`, {
      cause: error,
    });
  let backend: BlockBackend;
  try {
    backend = await openBackend(
      backing,
      { ...environment, logger },
      { nodeId: options.nodeId, iqn: target.iqn, lun },
    );
  } catch (error) {
    throw failure(error);
  }
  const unit = new LogicalUnit({
    ...clusterLuOptions(options.nodeId, target.alua, options.coldStart),
    backend,
    lun,
    // The LU builds its reservation gate: in memory, or over the backend's shared cell.
    reservationOptions: { logger },
    unitAttentions: new UnitAttentions(),
    clock: environment.clock,
    logger,
    eventLog: environment.eventLog,
    reportLuns: () => target.lunNumbers(),
    ...luOptionsFor(backing),
    // EXTENDED COPY finds the target's other LUs by their designators.
    copyPeers: (designator) => target.servedLuns().find((served) => served.unit.isDesignatedBy(designator)),
    ...(environment.clusterBug === undefined ? {} : { testOnlyBug: environment.clusterBug }),
  });
  try {
    await unit.open();
  } catch (error) {
    unit.close();
    await backend.close().catch(() => undefined);
    throw failure(error);
  }
  return new ServedLun({ lun, text, backing, backend, unit, lunNumbers: () => target.lunNumbers() });
}
