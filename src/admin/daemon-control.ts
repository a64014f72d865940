/**
 * The daemon's AdminControl (admin-api.ts): what `collie adm` changes in a running process, done
 * on its target nodes (TargetService's runtime API, target-service.ts) and its store
 * (vdi-control.ts), without a restart.
 *
 * Rules
 * - Every node of the process serves every target: a change is applied to each node in node
 *   order, and a node that fails undoes it on the nodes before it (a LUN that opened on node 1
 *   but not on node 2 is removed from node 1), so the nodes never disagree. Changes run one at a
 *   time (one queue for the process).
 * - A memory or file LUN is refused with more than one node: each node would serve its own
 *   storage where the initiator expects one disk through every node. Use a VDI.
 * - A LUN given as a bare VDI name is tcp:<store>:NAME, each node through its own store node
 *   (DaemonControlOptions.nodes[].store, else the process's store); with more than one node they
 *   must differ (one store node is one participant of the VDI's shared lock), and an explicit
 *   tcp:HOST:PORT:VDI would put every node on one store node, so it is refused there.
 * - A VDI LUN on the process's store is looked up first: a missing VDI is 404 naming the fix.
 * - The service's refusals (TargetChangeError) map to 404 (not found), 409 (conflict), 400
 *   (invalid); a backend that cannot be opened is 502 for a VDI, 400 for a file.
 * - Validation is the config schema's (ISCSI_NAME, CHAP_SECRET_BYTES_MIN, LUN_MAX through the
 *   service, validateAccess): one implementation of each rule.
 * - Sessions: listed per node; killed as a lost connection ends them (the initiator logs in
 *   again; its tasks are aborted, never answered).
 */
import type { Endpoint } from '../../transports/transport.js';
import { endpointToString } from '../../transports/transport.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import { formatBackingStoreSpec } from '../sheepdog/client/backing-store-spec.js';
import { BackingSpecError, parseBackingSpec } from '../target/backing.js';
import { TargetChangeError } from '../target/target-registry.js';
import type { LunState, TargetService, TargetState } from '../target/target-service.js';
import {
  type AclRequest,
  type AddLunRequest,
  type AddTargetRequest,
  type AdminControl,
  AdminError,
  type ChapRequest,
  type DaemonControlOptions,
  type TargetInfo,
} from './admin-api.js';
import { aluaRows, lunInfo, sessionInfo } from './daemon-views.js';
import { createVdiControl, NO_STORE_FIX } from './vdi-control.js';

type Node = DaemonControlOptions['nodes'][number];

const KILL_REASON = 'session killed by the administrator (collie adm session kill)';

export function createDaemonControl(options: DaemonControlOptions): AdminControl {
  const nodes = options.nodes;
  if (nodes.length === 0) throw new Error('createDaemonControl: the process runs no target node');
  const first = nodes[0]!.service;
  const queue = new KeyedMutex<'changes'>();
  const serialized = <T>(work: () => Promise<T>): Promise<T> => queue.run('changes', () => adminErrors(work));
  const nodeIds = () => nodes.map((node) => node.nodeId);
  const vdis = createVdiControl({
    ...(options.store === undefined ? {} : { store: options.store }),
    transport: options.transport,
    clock: options.clock,
    exportersOf: (vdiName) =>
      first
        .targets()
        .flatMap((target) =>
          target.luns
            .filter((lun) => lun.kind === 'sheepdog' && lun.vdiName === vdiName)
            .map((lun) => `LUN ${lun.lun} of ${target.iqn}`),
        ),
  });
  const targetInfo = (target: TargetState): TargetInfo => ({
    iqn: target.iqn,
    ...(target.alias === undefined ? {} : { alias: target.alias }),
    nodes: nodeIds(),
    luns: target.luns.map(lunInfo),
    acl: {
      initiators: [...(target.access.initiatorNames ?? [])],
      addresses: [...(target.access.initiatorAddresses ?? [])],
    },
    chap: {
      users: [...target.chapUsers],
      ...(target.mutualChapUser === undefined ? {} : { mutualUser: target.mutualChapUser }),
    },
  });

  /** Applies a synchronous change to every node; node 0 first, since it validates. */
  const onEveryNode = <T>(change: (service: TargetService) => T): T => {
    const results = nodes.map((node) => syncAdminErrors(() => change(node.service)));
    return results[0]!;
  };

  /** The backing text each node opens for `backing`, after the multi-node and store rules. */
  const backingPerNode = (backing: string): string[] => {
    if (!backing.includes(':')) {
      const stores = nodes.map((node) => node.store ?? options.store);
      if (stores.some((store) => store === undefined)) {
        throw new AdminError(
          409,
          `"${backing}" names a VDI, but this process has no sheepdog store (${NO_STORE_FIX}; or write tcp:HOST:PORT:${backing})`,
        );
      }
      const endpoints = stores as Endpoint[];
      if (new Set(endpoints.map(endpointToString)).size !== endpoints.length) {
        throw new AdminError(
          409,
          `the ${nodes.length} target nodes of this process share the store node ${endpointToString(endpoints[0]!)}, and one store node is one participant of a VDI's lock: start each node with its own store node (collie up --nodes does)`,
        );
      }
      return endpoints.map((endpoint) => formatBackingStoreSpec({ kind: 'tcp', endpoint, vdiName: backing }));
    }
    let kind: string;
    try {
      const spec = parseBackingSpec(backing);
      kind = spec.kind === 'sheepdog' ? spec.spec.kind : spec.kind;
    } catch (error) {
      if (error instanceof BackingSpecError) throw new AdminError(400, error.message);
      throw error;
    }
    if (kind === 'unix') {
      throw new AdminError(
        400,
        `backing "${backing}": unix sheep sockets are not supported (use tcp:HOST:PORT:VDI)`,
      );
    }
    if (nodes.length > 1) {
      if (kind === 'memory' || kind === 'file') {
        throw new AdminError(
          409,
          `backing "${backing}": this process runs ${nodes.length} target nodes, and each would serve its own ${kind === 'memory' ? 'memory' : 'copy of the file'}, not one shared disk: use a VDI (give its name: collie adm lun add IQN NAME)`,
        );
      }
      throw new AdminError(
        409,
        `backing "${backing}": this process runs ${nodes.length} target nodes, which would all reach the VDI through that one store node: give the VDI name alone, so each node uses its own store node`,
      );
    }
    return [backing];
  };

  /** A VDI on the process's store must exist before a node tries to open it (404 naming the fix). */
  const requireStoreVdi = async (backing: string): Promise<void> => {
    if (options.store === undefined) return;
    const spec = parseBackingSpec(backing);
    if (spec.kind !== 'sheepdog' || spec.spec.kind !== 'tcp') return;
    const storeEndpoints = new Set(
      [options.store, ...nodes.map((node) => node.store)].flatMap((endpoint) =>
        endpoint === undefined ? [] : [endpointToString(endpoint)],
      ),
    );
    if (!storeEndpoints.has(endpointToString(spec.spec.endpoint))) return;
    try {
      await vdis.requireVdi(spec.spec.vdiName);
    } catch (error) {
      if (error instanceof AdminError && error.status === 404) {
        const name = spec.spec.vdiName;
        throw new AdminError(
          404,
          `VDI "${name}" not found on ${endpointToString(options.store)} (create it: collie adm vdi create ${name} 10G)`,
        );
      }
      throw error;
    }
  };

  return {
    status: () => ({
      version: options.version,
      pid: process.pid,
      kind: options.kind,
      startedAt: new Date(options.startedAtMs).toISOString(), // determinism-ok: formats a given timestamp, reads no clock
      uptimeSeconds: Math.max(0, Math.floor((options.clock.now() - options.startedAtMs) / 1000)),
      nodes: nodes.map((node) => ({
        nodeId: node.nodeId,
        portals: node.service.server.portals.map(endpointToString),
      })),
      ...(options.store === undefined ? {} : { store: endpointToString(options.store) }),
      sessions: nodes.reduce((sum, node) => sum + node.service.server.sessionCount, 0),
      urls: options.urls(),
    }),

    targets: () => first.targets().map(targetInfo),

    addTarget: (request: AddTargetRequest) =>
      serialized(async () => {
        const iqn = requireText(request.iqn, 'iqn', 'the target name, e.g. iqn.2026-11.org.collie:vol1');
        const alias =
          request.alias === undefined ? undefined : requireText(request.alias, 'alias', 'its TargetAlias');
        const added: Node[] = [];
        try {
          for (const node of nodes) {
            node.service.addTarget({ iqn, ...(alias === undefined ? {} : { alias }) });
            added.push(node);
          }
        } catch (error) {
          for (const node of added) await node.service.removeTarget(iqn).catch(() => undefined);
          throw error;
        }
        return targetInfo(first.target(iqn));
      }),

    removeTarget: (iqn: string) =>
      serialized(async () => {
        first.target(iqn);
        await settleAll(nodes.map((node) => node.service.removeTarget(iqn)));
      }),

    addLun: (iqn: string, request: AddLunRequest) =>
      serialized(async () => {
        const target = first.target(iqn);
        const backing = requireText(
          request.backing,
          'backing',
          'mem:SIZE, file:PATH[:SIZE], tcp:HOST:PORT:VDI or a VDI name',
        );
        const lun = request.lun ?? lowestFreeLun(target);
        const perNode = backingPerNode(backing);
        await requireStoreVdi(perNode[0]!);
        const added: Node[] = [];
        let info: LunState | undefined;
        try {
          for (const [index, node] of nodes.entries()) {
            const state = await node.service.addLun(target.iqn, lun, perNode[index]!);
            info ??= state;
            added.push(node);
          }
        } catch (error) {
          for (const node of added) await node.service.removeLun(target.iqn, lun).catch(() => undefined);
          throw backendError(error, backing);
        }
        return lunInfo(info!);
      }),

    removeLun: (iqn: string, lun: number) =>
      serialized(async () => {
        const target = first.target(iqn);
        // Every node at once: each waits for the commands running in its LU, then closes it.
        await settleAll(nodes.map((node) => node.service.removeLun(target.iqn, lun)));
      }),

    resizeLun: (iqn: string, lun: number, request) =>
      serialized(async () => {
        const sizeBytes = request.sizeBytes;
        if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
          throw new AdminError(
            400,
            `sizeBytes ${JSON.stringify(sizeBytes)} is not a size (give a positive whole number of bytes)`,
          );
        }
        // Every node: each serves the LU (the first node's answer describes it).
        let info: LunState | undefined;
        for (const node of nodes) {
          const resized = await node.service.resizeLun(iqn, lun, sizeBytes);
          info ??= resized;
        }
        return lunInfo(info!);
      }),

    setAcl: (iqn: string, request: AclRequest) => {
      const initiators = requireTextList(request.initiators, 'initiators', 'iSCSI names');
      const addresses = requireTextList(request.addresses, 'addresses', 'IP addresses or CIDR blocks');
      return targetInfo(
        onEveryNode((service) =>
          service.setAccess(iqn, { initiatorNames: initiators, initiatorAddresses: addresses }),
        ),
      );
    },

    setChap: (iqn: string, request: ChapRequest | undefined) => {
      const chap =
        request === undefined
          ? undefined
          : {
              user: requireText(request.user, 'user', 'the CHAP user name'),
              secret: requireText(request.secret, 'secret', 'the CHAP secret, 12 bytes or more'),
              ...(request.mutual === undefined
                ? {}
                : {
                    mutual: {
                      user: requireText(request.mutual.user, 'mutual.user', "the target's CHAP user name"),
                      secret: requireText(request.mutual.secret, 'mutual.secret', "the target's CHAP secret"),
                    },
                  }),
            };
      return targetInfo(onEveryNode((service) => service.setChap(iqn, chap)));
    },

    sessions: () =>
      nodes.flatMap((node) => node.service.sessions().map((session) => sessionInfo(node.nodeId, session))),

    killSession: (tsih: number, nodeId: number | undefined) => {
      if (nodeId !== undefined && !nodes.some((node) => node.nodeId === nodeId)) {
        throw new AdminError(
          404,
          `no target node ${nodeId} in this process (its nodes: ${nodeIds().join(', ')})`,
        );
      }
      const holding = nodes.filter(
        (node) =>
          (nodeId === undefined || node.nodeId === nodeId) &&
          node.service.sessions().some((session) => session.tsih === tsih),
      );
      if (holding.length === 0) {
        throw new AdminError(
          404,
          `no session with TSIH ${tsih}${nodeId === undefined ? '' : ` on node ${nodeId}`} (list them: collie adm session list)`,
        );
      }
      if (holding.length > 1) {
        throw new AdminError(
          409,
          `nodes ${holding.map((node) => node.nodeId).join(' and ')} each have a session with TSIH ${tsih} (say which: collie adm session kill ${tsih} --node N)`,
        );
      }
      const node = holding[0]!;
      const killed = node.service.dropSession(tsih, KILL_REASON);
      if (killed === undefined) throw new AdminError(404, `the session with TSIH ${tsih} ended meanwhile`);
      options.logger.info({ node: node.nodeId, tsih, initiator: killed.initiatorName }, 'session killed');
      return sessionInfo(node.nodeId, killed);
    },

    vdis: () => vdis.vdis(),
    createVdi: async (request) => {
      const name = requireText(request.name, 'name', 'the VDI name');
      const sizeBytes = request.sizeBytes;
      if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
        throw new AdminError(
          400,
          `sizeBytes ${JSON.stringify(sizeBytes)} is not a size (give a positive whole number of bytes)`,
        );
      }
      return vdis.createVdi({ name, sizeBytes });
    },
    snapshotVdi: (name, request) => vdis.snapshotVdi(name, request),
    cloneVdi: async (name, request) =>
      vdis.cloneVdi(name, {
        snapshot: requireText(request.snapshot, 'snapshot', 'the snapshot tag or id to clone from'),
        name: requireText(request.name, 'name', 'the new VDI name'),
      }),
    deleteVdi: (name, snapshot) => vdis.deleteVdi(name, snapshot),
    locks: () => vdis.locks(),
    unlock: (name) => vdis.unlock(name),

    alua: () => aluaRows(nodes.map((node) => ({ nodeId: node.nodeId, states: node.service.alua() }))),
  };
}

/** Runs `work`, turning the service's refusals into AdminErrors. */
async function adminErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toAdminError(error);
  }
}

function syncAdminErrors<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw toAdminError(error);
  }
}

function toAdminError(error: unknown): unknown {
  if (!(error instanceof TargetChangeError)) return error;
  switch (error.problem) {
    case 'not-found':
      return new AdminError(404, error.message);
    case 'conflict':
      return new AdminError(409, error.message);
    case 'invalid':
      return new AdminError(400, error.message);
    case 'backend':
      return new AdminError(502, error.message);
  }
}

/** A LUN that could not be opened: 502 for a VDI (the store's answer), 400 for memory or a file. */
function backendError(error: unknown, backing: string): unknown {
  if (!(error instanceof TargetChangeError) || error.problem !== 'backend') return error;
  const isVdi = !backing.includes(':') || backing.startsWith('tcp:');
  return new AdminError(isVdi ? 502 : 400, error.message);
}

/** Waits for every change; the first failure is thrown once all settled. */
async function settleAll(changes: readonly Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(changes);
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

function lowestFreeLun(target: TargetState): number {
  const used = new Set(target.luns.map((lun) => lun.lun));
  let lun = 1;
  while (used.has(lun)) lun += 1;
  return lun;
}

function requireText(value: unknown, field: string, what: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new AdminError(
      400,
      `${field} ${value === undefined ? 'is missing' : `${JSON.stringify(value)} is not usable`} (give ${what})`,
    );
  }
  return value;
}

function requireTextList(value: unknown, field: string, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((each) => typeof each !== 'string' || each === '')) {
    throw new AdminError(400, `${field} must be a list of ${what} (an empty list: everyone)`);
  }
  return value as string[];
}
