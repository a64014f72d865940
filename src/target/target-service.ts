/**
 * A running target node: the backends opened, the logical units built, the portals listening.
 * Shared by `collie target` and `collie up`; the simulator builds the same thing on the memory
 * network.
 *
 * It also changes while it runs (the admin API, src/admin/daemon-control.ts), through its
 * TargetRegistry (target-registry.ts), which the iSCSI layer reads live:
 * - targets are added (without LUNs: REPORT LUNS answers an empty list, absent-lun.ts) and
 *   removed (out of SendTargets and logins at once; its sessions end as on a connection loss;
 *   its backends close once the commands running in them finished);
 * - LUNs are added (opened as assembly opens them, assembleLun) and removed (the next command
 *   gets LOGICAL UNIT NOT SUPPORTED; the backend closes once the commands running in it
 *   finished, so a sheepdog backend releases its VDI lock); either way every other LU of the
 *   target raises REPORTED LUNS DATA HAS CHANGED (3F/0E) for every nexus (SPC-4);
 * - memory and file LUNs grow (resizeLun: the backend first, then the LU's geometry and
 *   CAPACITY DATA HAS CHANGED 2A/09); sheepdog LUNs are refused (their size is the VDI's);
 * - a target's ACL and CHAP are replaced: logins from then on use them (connections still
 *   logging in are dropped so none is decided by the old rules); sessions logged in keep going.
 * Changes that open or close backends run one at a time; each throws TargetChangeError, whose
 * `problem` says not-found, conflict, invalid or backend, and whose message names the fix.
 */

import type { Transport } from '../../transports/transport.js';
import { endpointToString } from '../../transports/transport.js';
import type { Clock } from '../core/clock.js';
import type { EventLog } from '../core/event-log.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import type { Logger } from '../core/logger.js';
import type { Rng } from '../core/rng.js';
import { type InitiatorAccess, validateAccess } from '../iscsi/login/access.js';
import type { ChallengeSource } from '../iscsi/login/chap.js';
import { LoginRateLimiter } from '../iscsi/login/login-rate-limit.js';
import { IscsiTargetServer, type ServedSession } from '../iscsi/target/iscsi-target-server.js';
import { machineLoginDriver } from '../iscsi/target/machine-login-driver.js';
import type { SheepClientMetrics } from '../metrics/sheep-metrics.js';
import type { TargetMetrics } from '../metrics/target-metrics.js';
import { AluaState, type TargetPortGroup } from '../scsi/alua.js';
import type { TestOnlyClusterBug } from '../scsi/cluster/test-only-cluster-bugs.js';
import type { SheepdogBackendOptions } from '../sheepdog/client/sheepdog-backend.js';
import { type BackendEnvironment, type BackingSpec, BackingSpecError, parseBackingSpec } from './backing.js';
import { assembleLun, assembleTargets, chapSecretsFor, environmentFor } from './target-assembly.js';
import type { AluaPolicy, ChapAccountConfig, TargetConfig } from './target-config.js';
import { CHAP_SECRET_BYTES_MIN, ISCSI_NAME, LUN_MAX } from './target-config-schema.js';
import { lunNotFound, type ServedLun, ServedTarget, TargetChangeError } from './target-registry.js';

export interface TargetEnvironment {
  /** Where the portals listen (initiators connect). */
  readonly transport: Transport;
  /** How backends reach sheep. */
  readonly backendTransport: Transport;
  readonly clock: Clock;
  readonly rng: Rng;
  /**
   * CHAP challenges: real runs pass realEntropy (src/core/real-entropy.ts); absent, they are
   * drawn from `rng` (the simulator and tests: a seed replays them, and so could an attacker).
   */
  readonly challenges?: ChallengeSource;
  readonly eventLog: EventLog;
  readonly logger: Logger;
  /** Tunables of the sheepdog backends (the simulator's time bounds, test-only switches). */
  readonly sheepdogOptions?: SheepdogBackendOptions;
  /** Test-only: a cluster-state bug every LU gets (test-only-cluster-bugs.ts); never in production. */
  readonly clusterBug?: TestOnlyClusterBug;
  /** This node's metrics (src/metrics/): iSCSI and SCSI counters, and its sheepdog clients'. */
  readonly metrics?: { readonly target: TargetMetrics; readonly sheep: SheepClientMetrics };
}

/** One LUN as it is served now. */
export interface LunState {
  readonly lun: number;
  /** The backing as written ("mem:1G", "tcp:127.0.0.1:7000:vol0"). */
  readonly backing: string;
  readonly kind: BackingSpec['kind'];
  /** A sheepdog LUN's VDI name. */
  readonly vdiName?: string;
  readonly sizeBytes: number;
  readonly blockSizeBytes: number;
  readonly readOnly: boolean;
  readonly thin: boolean;
}

/** One target as it is served now (CHAP: user names only). */
export interface TargetState {
  readonly iqn: string;
  readonly alias?: string;
  readonly luns: readonly LunState[];
  readonly access: InitiatorAccess;
  readonly chapUsers: readonly string[];
  readonly mutualChapUser?: string;
  readonly alua?: AluaPolicy;
}

/** The ALUA state of one LU as this node knows it. */
export interface LunAluaState {
  readonly iqn: string;
  readonly lun: number;
  /** The cluster document's policy; 'single-node' for an LU only this node serves. */
  readonly policy: AluaPolicy | 'single-node';
  readonly groups: readonly TargetPortGroup[];
}

/** A CHAP change: the incoming account, and the target's own for mutual CHAP. */
export interface ChapChange {
  readonly user: string;
  readonly secret: string;
  readonly mutual?: ChapAccountConfig;
}

export interface TargetService {
  readonly server: IscsiTargetServer;
  /** This node's id (TargetConfig.nodeId). */
  readonly nodeId: number;
  /** "iscsi://127.0.0.1:3260/IQN/LUN" for each LUN. */
  urls(): string[];
  targets(): TargetState[];
  /** A target that exists already (else TargetChangeError not-found). */
  target(iqn: string): TargetState;
  addTarget(request: { readonly iqn: string; readonly alias?: string }): TargetState;
  removeTarget(iqn: string): Promise<void>;
  addLun(iqn: string, lun: number, backing: string): Promise<LunState>;
  removeLun(iqn: string, lun: number): Promise<void>;
  resizeLun(iqn: string, lun: number, sizeBytes: number): Promise<LunState>;
  /** Empty or absent lists: any initiator. */
  setAccess(iqn: string, access: InitiatorAccess): TargetState;
  /** undefined: no CHAP (AuthMethod=None). */
  setChap(iqn: string, chap: ChapChange | undefined): TargetState;
  sessions(): ServedSession[];
  /** Ends a session as a lost connection does; undefined when no session has that TSIH. */
  dropSession(tsih: number, why: string): ServedSession | undefined;
  alua(): LunAluaState[];
  close(): Promise<void>;
}

export async function startTargetService(
  config: TargetConfig,
  environment: TargetEnvironment,
): Promise<TargetService> {
  const backendEnvironment: BackendEnvironment = {
    transport: environment.backendTransport,
    clock: environment.clock,
    rng: environment.rng.fork('backends'),
    eventLog: environment.eventLog,
    logger: environment.logger,
    ...(environment.sheepdogOptions === undefined ? {} : { sheepdogOptions: environment.sheepdogOptions }),
    ...(environment.clusterBug === undefined ? {} : { clusterBug: environment.clusterBug }),
    ...(environment.metrics === undefined ? {} : { sheepMetrics: environment.metrics.sheep }),
  };
  const assembled = await assembleTargets(config, backendEnvironment);
  const registry = assembled.registry;
  const nodeId = config.nodeId ?? 1;
  const loginRng = environment.rng.fork('login');
  // One login rate limit for every connection of this node (login-rate-limit.ts).
  const loginAttempts = new LoginRateLimiter({ clock: environment.clock, logger: environment.logger });
  let server: IscsiTargetServer;
  try {
    server = await IscsiTargetServer.start({
      transport: environment.transport,
      portals: config.portals,
      targets: registry.targets,
      loginDriver: ({ remote }) =>
        machineLoginDriver({
          connectionId: `${endpointToString(remote)}`,
          initiatorAddress: remote.host,
          policy: {
            // The live list: each connection's login sees the targets, ACLs and CHAP of now.
            targets: registry.targets,
            digests: config.digests,
            // Every target of this process shares the node's portal group (target-assembly.ts).
            portalGroupTag: nodeId,
          },
          rng: loginRng,
          ...(environment.challenges === undefined ? {} : { challenges: environment.challenges }),
          attempts: loginAttempts,
          eventLog: environment.eventLog,
        }),
      clock: environment.clock,
      logger: environment.logger,
      eventLog: environment.eventLog,
      nopIntervalMs: config.nopIntervalMs,
      nopTimeoutMs: config.nopTimeoutMs,
      // The graceful stop's waits (unset: the server's defaults).
      ...(config.drainSeconds === undefined ? {} : { drainSeconds: config.drainSeconds }),
      ...(config.logoutSeconds === undefined ? {} : { logoutRequestSeconds: config.logoutSeconds }),
      ...(config.limits === undefined ? {} : { limits: config.limits }),
      ...(environment.metrics === undefined ? {} : { metrics: environment.metrics.target }),
    });
  } catch (error) {
    await assembled.close();
    throw error;
  }
  const logger = environment.logger;
  const changes = new KeyedMutex<'changes'>();
  const serialized = <T>(work: () => Promise<T>): Promise<T> => changes.run('changes', work);
  /** Removed LUNs whose backends are still closing (close() waits for them). */
  const retiring = new Set<Promise<void>>();
  const retire = (luns: readonly ServedLun[]): Promise<void> => {
    const closing = Promise.all(luns.map((lun) => lun.close({ waitForCommands: true }))).then(
      () => undefined,
    );
    retiring.add(closing);
    void closing.finally(() => retiring.delete(closing)).catch(() => undefined);
    return closing;
  };
  /** A changed LUN inventory: the target's other LUs tell every nexus (3F/0E). */
  const lunsChanged = (target: ServedTarget, except: number) => {
    for (const other of target.servedLuns()) if (other.lun !== except) other.unit.reportedLunsChanged();
  };
  /** New rules for logins: no login still in progress finishes under the old ones. */
  const loginRulesChanged = (iqn: string, what: string) => {
    const dropped = server.dropUnfinishedLogins(`the ${what} of ${iqn} changed; log in again`);
    logger.info({ target: iqn, droppedLogins: dropped }, `${what} of a target replaced`);
  };

  return {
    server,
    nodeId,
    urls: () =>
      server.portals.flatMap((portal) =>
        registry.targets.flatMap((target) =>
          [...target.luns.keys()]
            .sort((a, b) => a - b)
            .map((lun) => `iscsi://${endpointToString(portal)}/${target.iqn}/${lun}`),
        ),
      ),
    targets: () => registry.served().map(targetState),
    target: (iqn) => targetState(registry.get(iqn)),
    addTarget: (request) => {
      checkIscsiName(request.iqn, 'the target name');
      const target = new ServedTarget({
        iqn: request.iqn,
        ...(request.alias === undefined ? {} : { alias: request.alias }),
        nodeId,
      });
      registry.add(target);
      logger.info({ target: target.iqn }, 'target added');
      return targetState(target);
    },
    removeTarget: (iqn) =>
      serialized(async () => {
        const target = registry.remove(iqn);
        // A connection that began its login before has the target in its login policy.
        server.dropUnfinishedLogins(`target ${target.iqn} was removed`);
        const sessions = await server.dropSessionsOf(target, `target ${target.iqn} was removed`);
        const luns = target.servedLuns();
        for (const lun of luns) target.detach(lun.lun);
        await retire(luns);
        logger.info(
          { target: target.iqn, endedSessions: sessions, closedLuns: luns.length },
          'target removed',
        );
      }),
    addLun: (iqn, lun, backingText) =>
      serialized(async () => {
        const target = registry.get(iqn);
        checkLunNumber(lun);
        if (target.servedLun(lun) !== undefined) {
          throw new TargetChangeError(
            'conflict',
            `LUN ${lun} of ${target.iqn} exists already (remove it first: collie adm lun remove ${target.iqn} ${lun}; or pick another number)`,
          );
        }
        let backing: BackingSpec;
        try {
          backing = parseBackingSpec(backingText);
        } catch (error) {
          if (error instanceof BackingSpecError) throw new TargetChangeError('invalid', error.message);
          throw error;
        }
        const served = await assembleLun({
          target,
          lun,
          backing,
          text: backingText,
          nodeId,
          // The other nodes of a VDI's LU keep running: nothing of its shared state is dropped.
          coldStart: false,
          environment: environmentFor(config, target, backendEnvironment),
        });
        if (registry.find(target.iqn) !== target) {
          await served.close({ waitForCommands: false });
          throw registryChanged(target.iqn);
        }
        target.attach(served);
        lunsChanged(target, lun);
        logger.info({ target: target.iqn, lun, backing: backingText }, 'LUN added');
        return lunState(served);
      }),
    removeLun: (iqn, lun) =>
      serialized(async () => {
        const target = registry.get(iqn);
        const served = target.detach(lun);
        lunsChanged(target, lun);
        logger.info(
          { target: target.iqn, lun, commandsRunning: served.running },
          'LUN removed; its backend closes once its commands finished',
        );
        await retire([served]);
        logger.info({ target: target.iqn, lun }, 'removed LUN closed');
      }),
    resizeLun: (iqn, lun, sizeBytes) =>
      serialized(async () => {
        const target = registry.get(iqn);
        const served = target.servedLun(lun);
        if (served === undefined) throw lunNotFound(target, lun);
        await growLun(target, served, sizeBytes);
        logger.info({ target: target.iqn, lun, sizeBytes }, 'LUN resized');
        return lunState(served);
      }),
    setAccess: (iqn, access) => {
      const target = registry.get(iqn);
      const names = nonEmpty(access.initiatorNames);
      const addresses = nonEmpty(access.initiatorAddresses);
      for (const name of names ?? []) checkIscsiName(name, 'the initiator name');
      const [problem] = validateAccess({ initiatorAddresses: addresses });
      if (problem !== undefined) throw new TargetChangeError('invalid', problem);
      target.setAccess({ initiatorNames: names, initiatorAddresses: addresses });
      loginRulesChanged(target.iqn, 'ACL');
      return targetState(target);
    },
    setChap: (iqn, chap) => {
      const target = registry.get(iqn);
      if (chap !== undefined) {
        checkChapAccount(chap, 'CHAP', target.iqn);
        if (chap.mutual !== undefined) checkChapAccount(chap.mutual, 'mutual CHAP', target.iqn);
      }
      target.setChap(chapSecretsFor(chap, chap?.mutual));
      loginRulesChanged(target.iqn, 'CHAP');
      return targetState(target);
    },
    sessions: () => server.sessions(),
    dropSession: (tsih, why) => server.dropSession(tsih, why),
    alua: () =>
      registry.served().flatMap((target) =>
        target.servedLuns().map((served): LunAluaState => {
          const cluster = served.unit.cluster;
          return {
            iqn: target.iqn,
            lun: served.lun,
            policy: cluster?.policy ?? 'single-node',
            groups: cluster?.groups() ?? [
              {
                id: target.targetPortGroup,
                state: AluaState.ACTIVE_OPTIMIZED,
                relativeTargetPortIds: [target.relativeTargetPortId],
              },
            ],
          };
        }),
      ),
    close: async () => {
      await server.close();
      // Sheepdog backends wait for their requests, then release their VDI locks.
      environment.logger.info(
        { luns: registry.served().reduce((sum, target) => sum + target.luns.size, 0) },
        'closing the backends',
      );
      await assembled.close();
      await Promise.all(retiring);
      environment.logger.info('backends closed');
    },
  };
}

/** Grows a memory or file LUN: the backend first, then the LU's geometry and 2A/09. */
async function growLun(target: ServedTarget, served: ServedLun, sizeBytes: number): Promise<void> {
  const { backend, backing } = served;
  const what = `LUN ${served.lun} of ${target.iqn} (${served.text})`;
  if (backing.kind === 'sheepdog') {
    throw new TargetChangeError(
      'conflict',
      `${what} is a sheepdog VDI, whose size is the VDI's: it cannot be resized here (create a larger VDI, copy the data, and swap the LUN: collie adm lun remove, then collie adm lun add)`,
    );
  }
  const blockSizeBytes = backend.blockSizeBytes;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % blockSizeBytes !== 0) {
    throw new TargetChangeError(
      'invalid',
      `${what}: ${sizeBytes} bytes is not a size it can have (give a positive multiple of its ${blockSizeBytes}-byte block)`,
    );
  }
  if (sizeBytes < backend.sizeBytes) {
    throw new TargetChangeError(
      'conflict',
      `${what} has ${backend.sizeBytes} bytes; shrinking it would cut off data a host may use (give ${backend.sizeBytes} bytes or more)`,
    );
  }
  if (sizeBytes === backend.sizeBytes) return;
  const resizable = backend as typeof backend & { resize?: (bytes: number) => Promise<void> };
  if (resizable.resize === undefined) {
    throw new TargetChangeError('conflict', `${what}: its backend cannot be resized`);
  }
  try {
    await resizable.resize(sizeBytes);
  } catch (error) {
    throw new TargetChangeError('backend', `${what}: resize failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  await served.unit.backendResized();
}

function registryChanged(iqn: string): TargetChangeError {
  return new TargetChangeError('conflict', `target ${iqn} was removed meanwhile (add it again first)`);
}

function nonEmpty(list: readonly string[] | undefined): readonly string[] | undefined {
  return list === undefined || list.length === 0 ? undefined : [...list];
}

/** The iSCSI name rule of the config schema (ISCSI_NAME, RFC 7143 §4.2.7). */
function checkIscsiName(name: string, what: string): void {
  if (typeof name !== 'string' || !ISCSI_NAME.test(name)) {
    throw new TargetChangeError(
      'invalid',
      `${what} ${JSON.stringify(name)} is not an iSCSI name (write iqn.YYYY-MM.reversed.domain:name, eui.<16 hex> or naa.<16 or 32 hex>)`,
    );
  }
}

function checkLunNumber(lun: number): void {
  if (!Number.isInteger(lun) || lun < 0 || lun > LUN_MAX) {
    throw new TargetChangeError(
      'invalid',
      `${lun} is not a LUN number (give an integer from 0 to ${LUN_MAX})`,
    );
  }
}

/** The config schema's CHAP rules: a user name, a secret of CHAP_SECRET_BYTES_MIN bytes or more. */
function checkChapAccount(account: ChapAccountConfig, what: string, iqn: string): void {
  if (typeof account.user !== 'string' || account.user.length === 0) {
    throw new TargetChangeError('invalid', `the ${what} user of ${iqn} is empty (give the CHAP user name)`);
  }
  const bytes = typeof account.secret === 'string' ? Buffer.byteLength(account.secret) : 0;
  if (bytes < CHAP_SECRET_BYTES_MIN) {
    throw new TargetChangeError(
      'invalid',
      `the ${what} secret of ${iqn} is ${bytes} bytes, shorter than ${CHAP_SECRET_BYTES_MIN} (RFC 7143 §9.2.1: use ${CHAP_SECRET_BYTES_MIN} or more)`,
    );
  }
}

function lunState(served: ServedLun): LunState {
  const { backend, backing } = served;
  return {
    lun: served.lun,
    backing: served.text,
    kind: backing.kind,
    ...(backing.kind === 'sheepdog' ? { vdiName: backing.spec.vdiName } : {}),
    sizeBytes: backend.sizeBytes,
    blockSizeBytes: backend.blockSizeBytes,
    readOnly: backend.readOnly,
    thin: backend.thin,
  };
}

function targetState(target: ServedTarget): TargetState {
  return {
    iqn: target.iqn,
    ...(target.alias === undefined ? {} : { alias: target.alias }),
    luns: target.servedLuns().map(lunState),
    access: target.access,
    chapUsers: target.chap?.incoming.map((account) => account.user) ?? [],
    ...(target.chap?.outgoing === undefined ? {} : { mutualChapUser: target.chap.outgoing.user }),
    ...(target.alua === undefined ? {} : { alua: target.alua }),
  };
}
