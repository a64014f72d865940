/**
 * What `collie target` serves: portals, targets, LUNs, CHAP and ACLs, from flags or a YAML file.
 *
 *   portals: [127.0.0.1:3260]
 *   targets:
 *     - iqn: iqn.2026-11.org.collie:vol0
 *       luns: { 1: tcp:127.0.0.1:7000:vol0, 2: mem:1G }
 *       chap: { user: alice, secret: twelve-bytes-min }          # one-way CHAP
 *       mutualChap: { user: target, secret: another-secret }     # the target's own account
 *       initiators: [iqn.1993-08.org.debian:01:abc]              # ACL by name (default: all)
 *       addresses: [127.0.0.0/8]                                 # ACL by address (default: all)
 *       sheepdogProbeEveryRead: true                             # this target only (overrides global)
 *       alua: active-active                                      # or single-owner (ALUA policy of its LUs)
 *   nodeId: 1               # this process's target node id (1..65535): portal group tag, relative
 *                           # target port id and target port group of every target here
 *   digests: allow          # none | allow | require (CRC32C header and data digests)
 *   nopIntervalMs: 10000    # keepalive ping when idle; 0 = off
 *   nopTimeoutMs: 15000
 *   sheepdogProbeEveryRead: false  # sheepdog LUs probe coherence on every read (docs/target.md)
 *
 * Errors name the field and the fix; nothing here opens a backend.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Endpoint } from '../../transports/transport.js';
import { parseEndpointArg } from '../cli/endpoint-arg.js';
import { type BackingSpec, parseBackingSpec } from './backing.js';

export interface ChapAccountConfig {
  readonly user: string;
  readonly secret: string;
}

export interface TargetDefinition {
  readonly iqn: string;
  readonly alias?: string;
  readonly luns: ReadonlyArray<{
    readonly lun: number;
    readonly backing: BackingSpec;
    readonly text: string;
  }>;
  readonly chap?: ChapAccountConfig;
  readonly mutualChap?: ChapAccountConfig;
  readonly initiators?: readonly string[];
  readonly addresses?: readonly string[];
  /** Sheepdog LUs of this target probe coherence on every read; unset: the config's global value. */
  readonly sheepdogProbeEveryRead?: boolean;
  /** How the nodes exporting this target's LUs share ALUA access; unset: the logical unit's default. */
  readonly alua?: AluaPolicy;
}

/**
 * ALUA policy of a target's LUs when several target nodes export them: every node's port group
 * active/optimized ('active-active'), or the owner's active/optimized and the others'
 * active/non-optimized ('single-owner'). The SCSI side's cluster document keeps the same type.
 */
export type AluaPolicy = 'active-active' | 'single-owner';
export const ALUA_POLICIES: readonly AluaPolicy[] = ['active-active', 'single-owner'];

/** Target node ids: the portal group tag, relative target port id and target port group (16 bits, 0 reserved). */
export const NODE_ID_MIN = 1;
export const NODE_ID_MAX = 65_535;

export interface TargetConfig {
  readonly portals: readonly Endpoint[];
  readonly targets: readonly TargetDefinition[];
  readonly digests: 'none' | 'allow' | 'require';
  readonly nopIntervalMs: number;
  readonly nopTimeoutMs: number;
  /** Sheepdog LUs probe coherence on every read (SheepdogBackendOptions.probeEveryRead). Default false. */
  readonly sheepdogProbeEveryRead?: boolean;
  /**
   * This process's target node id (NODE_ID_MIN..NODE_ID_MAX; default 1): every target here gets it
   * as its portal group tag, relative target port id and target port group, and every LU learns
   * it as its cluster node. Nodes exporting one VDI need distinct ids.
   */
  readonly nodeId?: number;
  /**
   * Every node exporting these LUs starts now (`collie up`, which runs them all in one process):
   * the LUs' cluster state drops what a power cycle drops. Not a YAML key: one `collie target`
   * cannot know that the other nodes restart with it.
   */
  readonly clusterColdStart?: boolean;
}

export class TargetConfigError extends Error {}

const IQN = /^(iqn\.\d{4}-\d{2}\.[^\s]+|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$/;

export function parseLunArg(text: string): { lun: number; backing: BackingSpec; text: string } {
  const equals = text.indexOf('=');
  const lun = Number(text.slice(0, equals));
  if (equals < 1 || !Number.isInteger(lun) || lun < 0 || lun > 16383) {
    throw new TargetConfigError(
      `--lun ${JSON.stringify(text)}: write N=BACKING with N from 0 to 16383, e.g. 1=mem:1G`,
    );
  }
  const backingText = text.slice(equals + 1);
  return { lun, backing: parseBackingSpec(backingText), text: backingText };
}

/** A node id from the command line or YAML: an integer 1..65535, else an error naming `where`. */
export function parseNodeId(value: unknown, where: string): number {
  const id = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < NODE_ID_MIN || id > NODE_ID_MAX) {
    throw new TargetConfigError(
      `${where} ${JSON.stringify(value)} is not a node id (write an integer from ${NODE_ID_MIN} to ${NODE_ID_MAX}, ` +
        'distinct for every target node exporting the same VDI)',
    );
  }
  return id;
}

/** An ALUA policy from the command line or YAML, else an error naming `where`. */
export function parseAluaPolicy(value: unknown, where: string): AluaPolicy {
  if (typeof value !== 'string' || !(ALUA_POLICIES as readonly string[]).includes(value)) {
    throw new TargetConfigError(
      `${where} ${JSON.stringify(value)} is not an ALUA policy (write ${ALUA_POLICIES.join(' or ')})`,
    );
  }
  return value as AluaPolicy;
}

export function checkTarget(target: TargetDefinition, where: string): TargetDefinition {
  if (!IQN.test(target.iqn)) {
    throw new TargetConfigError(
      `${where}: ${JSON.stringify(target.iqn)} is not an iSCSI name (write iqn.YYYY-MM.reversed.domain:name)`,
    );
  }
  if (target.luns.length === 0)
    throw new TargetConfigError(`${where}: target ${target.iqn} has no LUN (add --lun 1=mem:1G)`);
  const seen = new Set<number>();
  for (const { lun } of target.luns) {
    if (seen.has(lun)) throw new TargetConfigError(`${where}: LUN ${lun} of ${target.iqn} is given twice`);
    seen.add(lun);
  }
  for (const [name, account] of [
    ['chap', target.chap],
    ['mutualChap', target.mutualChap],
  ] as const) {
    if (account && Buffer.byteLength(account.secret) < 12) {
      throw new TargetConfigError(
        `${where}: the ${name} secret of ${target.iqn} is shorter than 12 bytes (RFC 7143 §9.2.1: use 12 or more)`,
      );
    }
  }
  if (target.mutualChap && !target.chap) {
    throw new TargetConfigError(`${where}: mutualChap needs chap too (the initiator authenticates first)`);
  }
  return target;
}

export async function loadTargetConfig(path: string): Promise<TargetConfig> {
  let document: unknown;
  try {
    document = parseYaml(await readFile(path, 'utf8'));
  } catch (error) {
    throw new TargetConfigError(`${path}: ${(error as Error).message}`);
  }
  return targetConfigFromDocument(document, path);
}

export function targetConfigFromDocument(document: unknown, where: string): TargetConfig {
  const root = object(document, where);
  const portals = array(root.portals ?? ['127.0.0.1:3260'], `${where}: portals`).map((portal, index) =>
    parseEndpointArg(String(portal), `${where}: portals[${index}]`),
  );
  const targets = array(root.targets, `${where}: targets`).map((value, index) => {
    const at = `${where}: targets[${index}]`;
    const target = object(value, at);
    const luns = Object.entries(object(target.luns, `${at}.luns`)).map(([lun, backing]) =>
      parseLunArg(`${lun}=${String(backing)}`),
    );
    return checkTarget(
      {
        iqn: String(target.iqn ?? ''),
        alias: target.alias === undefined ? undefined : String(target.alias),
        luns,
        chap: account(target.chap, `${at}.chap`),
        mutualChap: account(target.mutualChap, `${at}.mutualChap`),
        initiators:
          target.initiators === undefined
            ? undefined
            : array(target.initiators, `${at}.initiators`).map(String),
        addresses:
          target.addresses === undefined ? undefined : array(target.addresses, `${at}.addresses`).map(String),
        sheepdogProbeEveryRead: boolean(target.sheepdogProbeEveryRead, `${at}.sheepdogProbeEveryRead`),
        ...(target.alua === undefined ? {} : { alua: parseAluaPolicy(target.alua, `${at}.alua`) }),
      },
      at,
    );
  });
  const digests = String(root.digests ?? 'allow');
  if (digests !== 'none' && digests !== 'allow' && digests !== 'require') {
    throw new TargetConfigError(`${where}: digests must be none, allow or require`);
  }
  return {
    portals,
    targets,
    digests,
    nopIntervalMs: number(root.nopIntervalMs ?? 10_000, `${where}: nopIntervalMs`),
    nopTimeoutMs: number(root.nopTimeoutMs ?? 15_000, `${where}: nopTimeoutMs`),
    sheepdogProbeEveryRead: boolean(root.sheepdogProbeEveryRead, `${where}: sheepdogProbeEveryRead`) ?? false,
    nodeId: root.nodeId === undefined ? 1 : parseNodeId(root.nodeId, `${where}: nodeId`),
  };
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new TargetConfigError(`${where} must be a mapping`);
  return value as Record<string, unknown>;
}

function array(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new TargetConfigError(`${where} must be a list`);
  return value;
}

function number(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new TargetConfigError(`${where} must be a number >= 0`);
  return value;
}

function boolean(value: unknown, where: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new TargetConfigError(`${where} must be true or false`);
  return value;
}

function account(value: unknown, where: string): ChapAccountConfig | undefined {
  if (value === undefined) return undefined;
  const fields = object(value, where);
  if (typeof fields.user !== 'string' || typeof fields.secret !== 'string') {
    throw new TargetConfigError(`${where} needs user and secret strings`);
  }
  return { user: fields.user, secret: fields.secret };
}

/** USER:SECRET from the command line. */
export function parseChapArg(text: string, flag: string): ChapAccountConfig {
  const colon = text.indexOf(':');
  if (colon < 1) throw new TargetConfigError(`${flag} ${JSON.stringify(text)}: write USER:SECRET`);
  return { user: text.slice(0, colon), secret: text.slice(colon + 1) };
}
