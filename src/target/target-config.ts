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
 *   stop: { drainSeconds: 3, logoutSeconds: 2 }   # the graceful stop's waits, 0..60 s each
 *   log: { level: info, format: auto }             # as --log-level, --log-format
 *   events: events.jsonl                           # as --events FILE
 *   admin: 127.0.0.1:8260                          # as --admin (or inspect:, as --inspect)
 *   data: .collie                                  # as --data DIR
 *
 * The file's keys, types, defaults and rules are one zod schema (target-config-schema.ts); a
 * problem is one line, `FILE:LINE: KEY: problem (fix)`. The flags' own checks are here; a flag
 * that a key also takes runs the key's rule (parseStopSeconds). Nothing here opens a backend.
 */

import { readFile } from 'node:fs/promises';
import type { Endpoint } from '../../transports/transport.js';
import type { LogFlags } from '../cli/log-options.js';
import type { ListenSpec } from '../inspect/inspector-server.js';
import {
  DRAIN_SECONDS_DEFAULT,
  LOGOUT_REQUEST_SECONDS_DEFAULT,
} from '../iscsi/target/iscsi-target-server.js';
import type { TargetLimits } from '../iscsi/target/target-limits.js';
import { type BackingSpec, parseBackingSpec } from './backing.js';
import {
  ALUA_POLICIES,
  type AluaPolicy,
  CHAP_SECRET_BYTES_MIN,
  type ConfigCheck,
  checkTargetConfigDocument,
  checkTargetConfigText,
  formatConfigProblem,
  ISCSI_NAME,
  LUN_MAX,
  NODE_ID_MAX,
  NODE_ID_MIN,
  STOP_SECONDS_MAX,
  stopSeconds,
} from './target-config-schema.js';

export { ALUA_POLICIES, type AluaPolicy, NODE_ID_MAX, NODE_ID_MIN, STOP_SECONDS_MAX };

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
  /**
   * The graceful stop's waits (IscsiTargetServer's drainSeconds and logoutRequestSeconds), each
   * 0..STOP_SECONDS_MAX: YAML `stop:`, --drain-seconds and --logout-seconds. Unset: the server's
   * defaults (3 s, 2 s). The process's stop deadline follows them (stopDeadlineMs).
   */
  readonly drainSeconds?: number;
  readonly logoutSeconds?: number;
  /** Resource limits (YAML `limits:`, docs/limits.md); unset keys keep the server's defaults. */
  readonly limits?: Partial<TargetLimits>;
  // The `collie target` process around the targets (flags of the same name win); startTargetService
  // does not read these.
  /** JSONL file every event is appended to (--events). */
  readonly events?: string;
  /** The admin API, /metrics and inspector listener (--admin). */
  readonly admin?: ListenSpec;
  /** The inspector and /metrics listener, without the admin API (--inspect); never with `admin`. */
  readonly inspect?: ListenSpec;
  /** Where `admin` keeps its token and admin.json (--data); unset: .collie. */
  readonly data?: string;
  /** --log-level and --log-format. */
  readonly log?: LogFlags;
}

/** A config or flag problem; its message is one line naming the thing and the fix. */
export class TargetConfigError extends Error {}

export function parseLunArg(text: string): { lun: number; backing: BackingSpec; text: string } {
  const equals = text.indexOf('=');
  const lun = Number(text.slice(0, equals));
  if (equals < 1 || !Number.isInteger(lun) || lun < 0 || lun > LUN_MAX) {
    throw new TargetConfigError(
      `--lun ${JSON.stringify(text)}: write N=BACKING with N from 0 to ${LUN_MAX}, e.g. 1=mem:1G`,
    );
  }
  const backingText = text.slice(equals + 1);
  return { lun, backing: parseBackingSpec(backingText), text: backingText };
}

/** A node id from the command line: an integer 1..65535, else an error naming `where`. */
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

/** The help of --drain-seconds and --logout-seconds (`collie target`, `collie up`). */
export const STOP_FLAGS_HELP = {
  drainSeconds: `on SIGTERM or SIGINT, seconds the commands in flight get to finish: 0 to ${STOP_SECONDS_MAX} (default ${DRAIN_SECONDS_DEFAULT})`,
  logoutSeconds: `then seconds the initiators get to log out when asked: 0 to ${STOP_SECONDS_MAX} (default ${LOGOUT_REQUEST_SECONDS_DEFAULT})`,
} as const;

/** Seconds of a graceful stop's wait from the command line (the YAML `stop:` rule), else an error naming `where`. */
export function parseStopSeconds(value: unknown, where: string): number {
  const parsed = stopSeconds.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new TargetConfigError(
    `${where} ${parsed.error.issues[0]?.message ?? `is not a number of seconds (write whole seconds from 0 to ${STOP_SECONDS_MAX})`}`,
  );
}

/** An ALUA policy from the command line, else an error naming `where`. */
export function parseAluaPolicy(value: unknown, where: string): AluaPolicy {
  if (typeof value !== 'string' || !(ALUA_POLICIES as readonly string[]).includes(value)) {
    throw new TargetConfigError(
      `${where} ${JSON.stringify(value)} is not an ALUA policy (write ${ALUA_POLICIES.join(' or ')})`,
    );
  }
  return value as AluaPolicy;
}

export function checkTarget(target: TargetDefinition, where: string): TargetDefinition {
  if (!ISCSI_NAME.test(target.iqn)) {
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
    if (account && Buffer.byteLength(account.secret) < CHAP_SECRET_BYTES_MIN) {
      throw new TargetConfigError(
        `${where}: the ${name} secret of ${target.iqn} is shorter than ${CHAP_SECRET_BYTES_MIN} bytes (RFC 7143 §9.2.1: use ${CHAP_SECRET_BYTES_MIN} or more)`,
      );
    }
  }
  if (target.mutualChap && !target.chap) {
    throw new TargetConfigError(`${where}: mutualChap needs chap too (the initiator authenticates first)`);
  }
  return target;
}

/** Reads and checks a YAML config; a problem throws TargetConfigError `FILE:LINE: KEY: problem (fix)`. */
export async function loadTargetConfig(path: string): Promise<TargetConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new TargetConfigError(`${path}: cannot read it (${code}; check the path)`);
  }
  return configOrThrow(checkTargetConfigText(text, path));
}

/** Checks a parsed document (no lines known: problems read `WHERE: KEY: problem (fix)`). */
export function targetConfigFromDocument(document: unknown, where: string): TargetConfig {
  return configOrThrow(checkTargetConfigDocument(document, where));
}

function configOrThrow(check: ConfigCheck): TargetConfig {
  if (!check.ok) throw new TargetConfigError(formatConfigProblem(check.problem));
  return check.config;
}

/** USER:SECRET from the command line. */
export function parseChapArg(text: string, flag: string): ChapAccountConfig {
  const colon = text.indexOf(':');
  if (colon < 1) throw new TargetConfigError(`${flag} ${JSON.stringify(text)}: write USER:SECRET`);
  return { user: text.slice(0, colon), secret: text.slice(colon + 1) };
}
