/**
 * ALUA for a logical unit exported by several nodes, decided from the cluster document alone, so
 * every node reports the same groups and states (multipath.md §1.3: ESX and Windows take every
 * port's state from the answer of any one path).
 *
 * Rules
 * - Every node has its own target port group and its own relative target port ids; a node joins
 *   the document once (`joinAlua`) and keeps its layout: the same node id with another layout, or
 *   a group or port another node already has, is a configuration error naming both.
 * - A group's state is the one SET TARGET PORT GROUPS gave it, else the policy's:
 *   · active-active: every group active/optimized;
 *   · single-owner: the owner's group active/optimized, every other active/non-optimized.
 * - single-owner ownership moves in two ways, each moving the epoch by one: an implicit takeover
 *   (`takeOver`: the first READ/WRITE-family command arriving at a non-owner, STATUS CODE 2 on
 *   both groups, 2A/06 on every nexus) or SET TARGET PORT GROUPS asking for active/optimized on another node's group
 *   (STATUS CODE 1). The epoch is the fencing token: a medium command admitted under one epoch
 *   never lands under another (cluster-admission.ts).
 * - SET TARGET PORT GROUPS may ask for active/optimized, active/non-optimized, standby or
 *   unavailable (what the RTPG descriptors say we support besides transitioning, which only the
 *   target enters). Anything else, an unknown group, or two active/optimized groups under
 *   single-owner is INVALID FIELD IN PARAMETER LIST at that descriptor.
 * - RTPG lists the groups in ascending id order, each with its ports ascending.
 * - Pure: documents in, documents out.
 */
import { AluaState, type AluaStateCode, type TargetPortGroup } from '../alua.js';
import type { AluaDocument, AluaNodeEntry, AluaPolicy, ClusterNodeIdentity } from './cluster-document.js';

export const AluaStatusCode = { NONE: 0, EXPLICIT: 1, IMPLICIT: 2 } as const;

/** The state RTPG reports for a node's group. */
export function nodeState(alua: AluaDocument, node: AluaNodeEntry): AluaStateCode {
  if (node.state !== undefined) return node.state;
  if (alua.policy === 'active-active') return AluaState.ACTIVE_OPTIMIZED;
  return alua.owner === node.nodeId ? AluaState.ACTIVE_OPTIMIZED : AluaState.ACTIVE_NON_OPTIMIZED;
}

export function findNode(alua: AluaDocument, nodeId: number): AluaNodeEntry | undefined {
  return alua.nodes.find((node) => node.nodeId === nodeId);
}

/** Every group of the LU, as REPORT TARGET PORT GROUPS lists them. */
export function aluaGroups(alua: AluaDocument): TargetPortGroup[] {
  return [...alua.nodes]
    .sort((a, b) => a.targetPortGroup - b.targetPortGroup)
    .map((node) => ({
      id: node.targetPortGroup,
      state: nodeState(alua, node),
      preferred: node.preferred,
      statusCode: node.statusCode,
      relativeTargetPortIds: [...node.relativeTargetPortIds].sort((a, b) => a - b),
    }));
}

/** Whether a relative target port id belongs to any node (REGISTER AND MOVE). */
export function isClusterPort(alua: AluaDocument, relativeTargetPortId: number): boolean {
  return alua.nodes.some((node) => node.relativeTargetPortIds.includes(relativeTargetPortId));
}

function describe(node: ClusterNodeIdentity): string {
  return `target port group ${node.targetPortGroup}, relative target ports [${node.relativeTargetPortIds.join(', ')}]`;
}

function samePorts(a: readonly number[], b: readonly number[]): boolean {
  const left = [...a].sort((x, y) => x - y);
  const right = [...b].sort((x, y) => x - y);
  return left.length === right.length && left.every((id, index) => id === right[index]);
}

/**
 * Adds this node to the layout (or finds it there unchanged). `policy` undefined: take the
 * document's. The first node to join a single-owner document owns it.
 */
export function joinAlua(
  alua: AluaDocument,
  me: ClusterNodeIdentity,
  policy: AluaPolicy | undefined,
): { readonly alua: AluaDocument } | { readonly error: string } {
  if (me.relativeTargetPortIds.length === 0) {
    return { error: `node ${me.nodeId} has no relative target port ids; give it at least one` };
  }
  if (new Set(me.relativeTargetPortIds).size !== me.relativeTargetPortIds.length) {
    return { error: `node ${me.nodeId} lists a relative target port id twice (${describe(me)})` };
  }
  const existing = findNode(alua, me.nodeId);
  if (existing !== undefined) {
    if (
      existing.targetPortGroup !== me.targetPortGroup ||
      !samePorts(existing.relativeTargetPortIds, me.relativeTargetPortIds)
    ) {
      return {
        error:
          `node id ${me.nodeId} is already in this LU's cluster document with ${describe(existing)}, ` +
          `but this node says ${describe(me)}: give every node its own node id, and keep a node's ` +
          'group and ports across restarts (initiators remember them)',
      };
    }
  }
  for (const other of alua.nodes) {
    if (other.nodeId === me.nodeId) continue;
    if (other.targetPortGroup === me.targetPortGroup) {
      return {
        error:
          `target port group ${me.targetPortGroup} of node ${me.nodeId} already belongs to node ` +
          `${other.nodeId} (${describe(other)}): every node needs a target port group of its own`,
      };
    }
    const shared = me.relativeTargetPortIds.filter((id) => other.relativeTargetPortIds.includes(id));
    if (shared.length > 0) {
      return {
        error:
          `relative target port ids [${shared.join(', ')}] of node ${me.nodeId} already belong to node ` +
          `${other.nodeId} (${describe(other)}): relative target port ids must be unique across the nodes`,
      };
    }
  }
  let next = alua;
  const joinedBefore = alua.nodes.filter((node) => node.nodeId !== me.nodeId).length > 0;
  if (policy !== undefined && policy !== alua.policy) {
    if (joinedBefore) {
      return {
        error:
          `this node's ALUA policy is ${policy} but the nodes that joined before chose ${alua.policy}: ` +
          'configure every node exporting this LU with the same policy',
      };
    }
    next = { ...next, policy };
  }
  if (existing === undefined) {
    const entry: AluaNodeEntry = {
      nodeId: me.nodeId,
      targetPortGroup: me.targetPortGroup,
      relativeTargetPortIds: [...me.relativeTargetPortIds].sort((a, b) => a - b),
      statusCode: AluaStatusCode.NONE,
      preferred: false,
    };
    const nodes = [...next.nodes, entry].sort((a, b) => a.targetPortGroup - b.targetPortGroup);
    next = { ...next, nodes };
  }
  if (next.policy === 'single-owner' && next.owner === null) {
    next = { ...next, owner: me.nodeId, epoch: next.epoch + 1 };
  }
  return { alua: next };
}

/** single-owner: `nodeId` becomes the owner (an implicit transition); unchanged if it is. */
export function takeOver(alua: AluaDocument, nodeId: number): AluaDocument {
  if (alua.owner === nodeId) return alua;
  const formerOwner = alua.owner;
  return {
    ...alua,
    owner: nodeId,
    epoch: alua.epoch + 1,
    nodes: alua.nodes.map((node) => {
      if (node.nodeId === nodeId) return withoutState({ ...node, statusCode: AluaStatusCode.IMPLICIT });
      if (node.nodeId === formerOwner) return { ...node, statusCode: AluaStatusCode.IMPLICIT };
      return node;
    }),
  };
}

function withoutState(node: AluaNodeEntry): AluaNodeEntry {
  if (node.state === undefined) return node;
  const { state: _state, ...rest } = node;
  return rest;
}

/** One SET TARGET PORT GROUPS descriptor, with its offset in the parameter list. */
export interface StpgRequest {
  readonly state: number;
  readonly targetPortGroup: number;
  readonly offset: number;
}

const REQUESTABLE: ReadonlySet<number> = new Set([
  AluaState.ACTIVE_OPTIMIZED,
  AluaState.ACTIVE_NON_OPTIMIZED,
  AluaState.STANDBY,
  AluaState.UNAVAILABLE,
]);

export type StpgOutcome =
  | { readonly alua: AluaDocument; readonly changed: boolean }
  /** INVALID FIELD IN PARAMETER LIST at this byte and bit. */
  | { readonly refusedByte: number; readonly refusedBit: number; readonly why: string };

/** Applies SET TARGET PORT GROUPS descriptors (all checked before any is applied). */
export function setTargetPortGroups(alua: AluaDocument, requests: readonly StpgRequest[]): StpgOutcome {
  let optimized = 0;
  for (const request of requests) {
    if (!REQUESTABLE.has(request.state)) {
      return {
        refusedByte: request.offset,
        refusedBit: 3,
        why: `state ${request.state} cannot be requested`,
      };
    }
    if (!alua.nodes.some((node) => node.targetPortGroup === request.targetPortGroup)) {
      return {
        refusedByte: request.offset + 2,
        refusedBit: 7,
        why: `no target port group ${request.targetPortGroup}`,
      };
    }
    if (request.state === AluaState.ACTIVE_OPTIMIZED && alua.policy === 'single-owner' && ++optimized > 1) {
      return {
        refusedByte: request.offset,
        refusedBit: 3,
        why: 'single-owner has one active/optimized group',
      };
    }
  }
  let next = alua;
  const touched = new Set<number>();
  for (const request of requests) {
    const node = next.nodes.find((each) => each.targetPortGroup === request.targetPortGroup)!;
    touched.add(node.nodeId);
    if (request.state === AluaState.ACTIVE_OPTIMIZED && next.policy === 'single-owner') {
      if (next.owner !== null && next.owner !== node.nodeId) touched.add(next.owner);
      next = {
        ...next,
        owner: node.nodeId,
        epoch: next.owner === node.nodeId ? next.epoch : next.epoch + 1,
      };
    }
    const derived = derivedState(next, node.nodeId);
    next = replaceNode(next, node.nodeId, (entry) =>
      request.state === derived ? withoutState(entry) : { ...entry, state: request.state as AluaStateCode },
    );
  }
  next = {
    ...next,
    nodes: next.nodes.map((node) =>
      touched.has(node.nodeId) ? { ...node, statusCode: AluaStatusCode.EXPLICIT } : node,
    ),
  };
  const changed =
    next.owner !== alua.owner ||
    next.nodes.some((node) => nodeState(next, node) !== nodeState(alua, findNode(alua, node.nodeId)!));
  return { alua: next, changed };
}

/** The state the policy alone gives a node. */
function derivedState(alua: AluaDocument, nodeId: number): AluaStateCode {
  if (alua.policy === 'active-active' || alua.owner === nodeId) return AluaState.ACTIVE_OPTIMIZED;
  return AluaState.ACTIVE_NON_OPTIMIZED;
}

function replaceNode(
  alua: AluaDocument,
  nodeId: number,
  change: (node: AluaNodeEntry) => AluaNodeEntry,
): AluaDocument {
  return { ...alua, nodes: alua.nodes.map((node) => (node.nodeId === nodeId ? change(node) : node)) };
}
