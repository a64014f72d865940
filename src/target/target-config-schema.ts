/**
 * The YAML config of `collie target --config FILE` and `collie config check FILE` as one zod
 * schema: its keys, their types, defaults and rules (docs/target.md, "Configuration"), and how a
 * problem reads, on one line:
 *
 *   FILE:LINE: KEY: problem (fix)
 *   t.yaml:7: targets[0].chap.secret: is 6 bytes, shorter than 12 (RFC 7143 §9.2.1: use 12 or more)
 *   t.yaml:3: nodeid: unknown key (did you mean nodeId?)
 *
 * LINE is where KEY is written (yaml's parseDocument with a LineCounter), or where its mapping
 * starts when KEY is missing; a document given as a value has no lines (FILE: KEY: ...). Of
 * several problems the one written first is reported. Pure: nothing here reads a file or opens a
 * backend.
 *
 * Every flag of `collie target` that is not about one target has a key here (flags win over the
 * file, src/cli/target.ts). A key that a flag also takes reuses the flag's own rule: HOST:PORT of
 * a portal (parseEndpointArg), [HOST:]PORT of admin and inspect (parseListenArg), the log levels
 * and formats (log-options.ts), and the stop's seconds, whose one rule is `stopSeconds` here
 * (parseStopSeconds in target-config.ts runs it for --drain-seconds and --logout-seconds).
 */

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseEndpointArg } from '../cli/endpoint-arg.js';
import { LOG_LEVELS } from '../cli/log-options.js';
import { STOP_DEADLINE_MARGIN_MS } from '../cli/stop-signals.js';
import { LOG_FORMATS } from '../core/logger.js';
import { parseListenArg } from '../inspect/inspector-server.js';
import { validateAccess } from '../iscsi/login/access.js';
import {
  DRAIN_SECONDS_DEFAULT,
  LOGOUT_REQUEST_SECONDS_DEFAULT,
} from '../iscsi/target/iscsi-target-server.js';
import { TARGET_LIMITS_DEFAULTS, type TargetLimits } from '../iscsi/target/target-limits.js';
import { parseBackingSpec } from './backing.js';
import type { ChapAccountConfig, TargetConfig, TargetDefinition } from './target-config.js';

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
/** LUN numbers a config may use (flat addressing). */
export const LUN_MAX = 16_383;
/** CHAP secrets shorter than this are refused (RFC 7143 §9.2.1). */
export const CHAP_SECRET_BYTES_MIN = 12;

/** The iSCSI names Collie accepts (RFC 7143 §4.2.7): iqn., eui. and naa. forms. */
export const ISCSI_NAME = /^(iqn\.\d{4}-\d{2}\.[^\s]+|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$/;

/** Longest wait of the graceful stop's drain and of its logout request (each, in seconds). */
export const STOP_SECONDS_MAX = 60;

export const DEFAULT_PORTAL = '127.0.0.1:3260';
const BACKING_SYNTAX = 'write mem:SIZE, file:PATH[:SIZE], tcp:HOST:PORT:VDI or unix:PATH:VDI';
const NODE_ID_FIX = `write an integer from ${NODE_ID_MIN} to ${NODE_ID_MAX}, distinct for every target node exporting the same VDI`;

/** One problem of a config: where it is and what to do. */
export interface ConfigProblem {
  readonly file: string;
  /** 1-based line of the key (absent for a document given as a value). */
  readonly line?: number;
  /** The key's path, e.g. targets[0].chap.secret (absent for the document as a whole). */
  readonly key?: string;
  /** "problem (fix)". */
  readonly message: string;
}

export type ConfigCheck =
  | { readonly ok: true; readonly config: TargetConfig }
  | { readonly ok: false; readonly problem: ConfigProblem };

/** `FILE:LINE: KEY: problem (fix)`, one line. */
export function formatConfigProblem(problem: ConfigProblem): string {
  const at = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  return `${at}: ${problem.key === undefined ? '' : `${problem.key}: `}${problem.message}`;
}

function show(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? JSON.stringify(value)
    : Array.isArray(value)
      ? 'a list'
      : 'a mapping';
}

/** A zod error customizer: "is missing (fix)", "is empty (fix)" or "VALUE is not WHAT (fix)". */
function wrong(what: string, fix: string) {
  return {
    error: (issue: { readonly input?: unknown }) =>
      issue.input === undefined
        ? `is missing (${fix})`
        : issue.input === null
          ? `is empty (${fix})`
          : `${show(issue.input)} is not ${what} (${fix})`,
  };
}

/** A transform that runs a throwing parser; its error message becomes the issue. */
function parsedWith<T>(parse: (text: string) => T) {
  return (text: string, ctx: z.RefinementCtx): T => {
    try {
      return parse(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message, input: text });
      return z.NEVER;
    }
  };
}

/** Nearest of `known` to `key`, when it is near enough to be a typo. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const squash = (text: string) => text.toLowerCase().replace(/[-_\s]/g, '');
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(squash(key), squash(candidate));
    if (best === undefined || distance < best.distance) best = { key: candidate, distance };
  }
  if (best === undefined) return undefined;
  return best.distance <= Math.max(2, Math.floor(key.length / 3)) ? best.key : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** A strict mapping whose unknown keys are errors naming the nearest known key. */
function mapping<T extends z.core.$ZodLooseShape>(shape: T, what: string, fix: string) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return wrong(what, fix).error(issue);
      const key = issue.keys[0] ?? '';
      const near = nearestKey(key, known);
      return near === undefined
        ? `unknown key (remove it; the keys here are ${known.join(', ')})`
        : `unknown key (did you mean ${near}?)`;
    },
  });
}

function list<T extends z.ZodType>(item: T, what: string, fix: string) {
  return z.array(item, wrong(what, fix));
}

const booleanKey = z.boolean(wrong('true or false', 'write true or false'));

const portal = z
  .preprocess(
    (value) => (typeof value === 'number' ? String(value) : value),
    z.string(wrong('an address', 'write HOST:PORT, e.g. 127.0.0.1:3260')).transform(parsedWith(parsePortal)),
  )
  .meta({ title: 'HOST:PORT' });

/** HOST:PORT, its error without parseEndpointArg's flag name. */
function parsePortal(text: string) {
  try {
    return parseEndpointArg(text, 'portal');
  } catch (error) {
    throw new Error(
      (error as Error).message.replace(/^portal /, '').replace('127.0.0.1:7000', DEFAULT_PORTAL),
    );
  }
}

/** `[HOST:]PORT` of a listener (parseListenArg, the --admin and --inspect rule); a bare port is a number in YAML. */
function listenKey(key: string) {
  return z
    .preprocess(
      (value) => (typeof value === 'number' ? String(value) : value),
      z
        .string(wrong('an address', 'write [HOST:]PORT, e.g. 8260 or 127.0.0.1:8260, or 0 for any free port'))
        .transform(
          parsedWith((text) => {
            try {
              return parseListenArg(text, key);
            } catch (error) {
              throw new Error((error as Error).message.slice(key.length + 1));
            }
          }),
        ),
    )
    .meta({ title: '[HOST:]PORT' });
}

/** A file or directory path, relative to the working directory (as a flag's). */
function pathKey(what: string, fix: string) {
  return z
    .string(wrong(what, fix))
    .min(1, `is empty (${fix})`)
    .meta({ title: what === 'a directory' ? 'DIR' : 'FILE' });
}

const chapAccount = mapping(
  {
    user: z
      .string(wrong('a user name', 'write user: NAME, quoted if it looks like a number'))
      .min(1, 'is empty (write the CHAP user name)')
      .describe('The CHAP user name (CHAP_N). Quote it if it looks like a number.'),
    secret: z
      .string(wrong('a secret', 'write secret: TEXT of 12 bytes or more, quoted if it looks like a number'))
      .refine((secret) => Buffer.byteLength(secret) >= CHAP_SECRET_BYTES_MIN, {
        error: (issue) =>
          `is ${Buffer.byteLength(String(issue.input))} bytes, shorter than ${CHAP_SECRET_BYTES_MIN} (RFC 7143 §9.2.1: use ${CHAP_SECRET_BYTES_MIN} or more)`,
      })
      .meta({
        title: `string of ${CHAP_SECRET_BYTES_MIN} bytes or more`,
        description: `The CHAP secret: ${CHAP_SECRET_BYTES_MIN} bytes or more (RFC 7143 §9.2.1). Quote it if it looks like a number. Logs show it as [Redacted].`,
      }),
  },
  'a CHAP account',
  'write { user: NAME, secret: TWELVE-BYTES-MIN }',
);

const lunNumber = z
  .string()
  .regex(/^\d{1,5}$/, {
    error: (issue) => `${show(issue.input)} is not a LUN number (write an integer from 0 to ${LUN_MAX})`,
  })
  .refine((text) => Number(text) <= LUN_MAX, {
    error: (issue) => `${show(issue.input)} is not a LUN number (write an integer from 0 to ${LUN_MAX})`,
  })
  .meta({ title: `LUN number (0 to ${LUN_MAX})` });

const backing = z
  .string(wrong('a backing store', BACKING_SYNTAX))
  .transform(
    parsedWith((text) => ({
      backing: parseBackingSpec(text),
      text,
    })),
  )
  .meta({ title: 'backing store' });

const luns = z
  .record(
    lunNumber,
    backing,
    wrong(
      'a mapping of LUN numbers to backing stores',
      'write luns: { 1: mem:1G, 2: tcp:127.0.0.1:7000:vol0 }',
    ),
  )
  .superRefine((entries, ctx) => {
    const keys = Object.keys(entries);
    if (keys.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'has no LUN (add one, e.g. luns: { 1: mem:1G })',
        input: entries,
      });
    }
    const seen = new Set<number>();
    for (const key of keys) {
      if (seen.has(Number(key))) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `LUN ${Number(key)} is given twice (keep one)`,
          input: key,
        });
      }
      seen.add(Number(key));
    }
  })
  .transform((entries) => Object.entries(entries).map(([lun, value]) => ({ lun: Number(lun), ...value })));

const addresses = list(
  z
    .string(wrong('an address', 'write an IP address or CIDR block, e.g. 10.0.0.0/8'))
    .meta({ title: 'IP address or CIDR block' }),
  'a list of addresses',
  'write addresses: [10.0.0.0/8, 192.0.2.7]',
).superRefine((rules, ctx) => {
  rules.forEach((rule, index) => {
    const [problem] = validateAccess({ initiatorAddresses: [rule] });
    if (problem !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [index],
        message: `${JSON.stringify(rule)} is not an IP address or CIDR block (write 10.0.0.0/8, 192.0.2.7 or fd00::/8)`,
        input: rule,
      });
    }
  });
});

const target = mapping(
  {
    iqn: z
      .string(wrong('an iSCSI name', 'write iqn.YYYY-MM.reversed.domain:name'))
      .regex(ISCSI_NAME, wrong('an iSCSI name', 'write iqn.YYYY-MM.reversed.domain:name'))
      .meta({
        title: 'iSCSI name',
        description:
          "The target's name: `iqn.YYYY-MM.reversed.domain:name`, `eui.` and 16 hex digits, or `naa.` and 16 to 32 hex digits. Unique in the file (compared without case).",
      }),
    alias: z
      .union([z.string(), z.number()], wrong('an alias', 'write alias: TEXT'))
      .transform(String)
      .optional()
      .describe(
        'A human-readable name, sent to initiators as TargetAlias at login. A number is taken as text.',
      ),
    luns: luns.describe(
      `The target's logical units, at least one: LUN number to backing store. \`mem:SIZE\`: in memory, thin, lost when the process stops. \`file:PATH[:SIZE]\`: a file; SIZE creates it (sparse) when it is missing. \`tcp:HOST:PORT:VDI\`: a sheepdog VDI on sheep or on the embedded store (tgt's syntax). \`unix:PATH:VDI\` is accepted here but does not open yet (use tcp:). SIZE is a byte count with an optional K, M, G or T suffix (binary), e.g. 10G.`,
    ),
    chap: chapAccount
      .optional()
      .describe(
        'One-way CHAP: initiators must log in with this account. Unset: no authentication (AuthMethod None).',
      ),
    mutualChap: chapAccount
      .optional()
      .describe(
        "The target's own account for mutual CHAP: the initiator checks the target with it. Needs `chap`.",
      ),
    initiators: list(
      z
        .string(wrong('an initiator name', 'write an iSCSI name, e.g. iqn.1993-08.org.debian:01:abc'))
        .meta({ title: 'iSCSI name' }),
      'a list of initiator names',
      'write initiators: [iqn.1993-08.org.debian:01:abc]',
    )
      .optional()
      .describe(
        'Only these initiator names may log in (compared without case). Others get login status 0x0202 (authorization failure) and do not see the target in SendTargets. Unset: any name.',
      ),
    addresses: addresses
      .optional()
      .describe(
        'Only initiators connecting from these addresses may log in: IPv4 or IPv6 addresses or CIDR blocks (an IPv4-mapped IPv6 peer counts as its IPv4 address). With `initiators` set too, both must match. Unset: any address.',
      ),
    sheepdogProbeEveryRead: booleanKey
      .optional()
      .describe(
        "This target's sheepdog LUs only: overrides the top-level `sheepdogProbeEveryRead`. Unset: the top-level value.",
      ),
    alua: z
      .enum(ALUA_POLICIES, wrong('an ALUA policy', `write ${ALUA_POLICIES.join(' or ')}`))
      .optional()
      .describe(
        "ALUA policy of this target's LUs when several target nodes export them: `active-active` (every node's port group active/optimized) or `single-owner` (the owner's group active/optimized, the others active/non-optimized, with implicit takeover and fencing). Unset: `--alua`, else `active-active`. The first node that joins a LU fixes its policy (docs/cluster-scsi.md).",
      ),
  },
  'a target',
  'write - { iqn: iqn.2026-11.org.collie:vol0, luns: { 1: mem:1G } }',
)
  .superRefine((value, ctx) => {
    if (value.mutualChap !== undefined && value.chap === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['mutualChap'],
        message: 'needs chap too (add chap: { user, secret }: the initiator authenticates first)',
        input: value.mutualChap,
      });
    }
  })
  .transform(
    (value): TargetDefinition => ({
      iqn: value.iqn,
      ...(value.alias === undefined ? {} : { alias: value.alias }),
      luns: value.luns,
      ...(value.chap === undefined ? {} : { chap: value.chap as ChapAccountConfig }),
      ...(value.mutualChap === undefined ? {} : { mutualChap: value.mutualChap as ChapAccountConfig }),
      ...(value.initiators === undefined ? {} : { initiators: value.initiators }),
      ...(value.addresses === undefined ? {} : { addresses: value.addresses }),
      ...(value.sheepdogProbeEveryRead === undefined
        ? {}
        : { sheepdogProbeEveryRead: value.sheepdogProbeEveryRead }),
      ...(value.alua === undefined ? {} : { alua: value.alua }),
    }),
  );

/** A digit string as the number it writes (YAML may quote a number; a flag's value is text). */
function digitsAsNumber(value: unknown): unknown {
  return typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
}

const nodeId = z.preprocess(
  digitsAsNumber,
  z
    .number(wrong('a node id', NODE_ID_FIX))
    .int(wrong('a node id', NODE_ID_FIX))
    .min(NODE_ID_MIN, wrong('a node id', NODE_ID_FIX))
    .max(NODE_ID_MAX, wrong('a node id', NODE_ID_FIX)),
);

const STOP_SECONDS_FIX = `write whole seconds from 0 to ${STOP_SECONDS_MAX}`;

/**
 * Seconds of one of the graceful stop's waits: an integer 0..STOP_SECONDS_MAX (a digit string
 * too). The one rule of `stop.drainSeconds`, `stop.logoutSeconds`, --drain-seconds and
 * --logout-seconds (parseStopSeconds in target-config.ts).
 */
export const stopSeconds = z.preprocess(
  digitsAsNumber,
  z
    .number(wrong('a number of seconds', STOP_SECONDS_FIX))
    .int(wrong('a number of seconds', STOP_SECONDS_FIX))
    .min(0, wrong('a number of seconds', STOP_SECONDS_FIX))
    .max(STOP_SECONDS_MAX, wrong('a number of seconds', STOP_SECONDS_FIX)),
);

const stop = mapping(
  {
    drainSeconds: stopSeconds
      .default(DRAIN_SECONDS_DEFAULT)
      .describe(
        'On SIGTERM or SIGINT, the commands in flight get this long to finish and answer before the initiators are asked to log out. `0` skips the drain. `--drain-seconds` replaces it.',
      ),
    logoutSeconds: stopSeconds
      .default(LOGOUT_REQUEST_SECONDS_DEFAULT)
      .describe(
        'Then every logged-in initiator is asked to log out within this long (Async Message, RFC 7143 §11.9.1) and the target waits that long; connections still open are dropped. `0` drops them at once. `--logout-seconds` replaces it.',
      ),
  },
  'a mapping of stop bounds',
  'write stop: { drainSeconds: 3, logoutSeconds: 2 }',
);

/** A limit of docs/limits.md: a whole number, at least `min`; left out, the default. */
function limitValue(min: number, unit: string) {
  const fix = `write a whole number of ${unit}, ${min} or more; see docs/limits.md`;
  return z
    .number(wrong(`a number of ${unit}`, fix))
    .int(wrong(`a number of ${unit}`, fix))
    .min(min, wrong(`a number of ${unit}`, fix))
    .max(Number.MAX_SAFE_INTEGER, wrong(`a number of ${unit}`, fix))
    .optional();
}

const LIMIT_DEFAULTS = TARGET_LIMITS_DEFAULTS;

/** The target's resource limits (src/iscsi/target/target-limits.ts); each unset key keeps its default. */
const limits = mapping(
  {
    // 0 turns a timeout (or the output progress rule) off, as resolveTargetLimits allows.
    sessionsPerTargetMax: limitValue(1, 'sessions').describe(
      `Normal sessions of one target; the next login is answered Out of resources (0x0302). Default ${LIMIT_DEFAULTS.sessionsPerTargetMax}.`,
    ),
    loginConnectionsMax: limitValue(1, 'connections').describe(
      `Connections still logging in (or in discovery) on the whole server; the next is reset at accept. Default ${LIMIT_DEFAULTS.loginConnectionsMax}.`,
    ),
    loginConnectionsPerAddressMax: limitValue(1, 'connections').describe(
      `The same, from one source address. Default ${LIMIT_DEFAULTS.loginConnectionsPerAddressMax}.`,
    ),
    loginTimeoutMs: limitValue(0, 'milliseconds').describe(
      `A connection must finish its login this long after accept, or it is dropped. Default ${LIMIT_DEFAULTS.loginTimeoutMs}.`,
    ),
    pduTimeoutMs: limitValue(0, 'milliseconds').describe(
      `A PDU whose first bytes came must be complete this long after, or the connection is dropped. Default ${LIMIT_DEFAULTS.pduTimeoutMs}.`,
    ),
    outputStallTimeoutMs: limitValue(0, 'milliseconds').describe(
      `While the peer does not read what the target sends, it must take at least outputProgressBytesMin in every such period, or it is dropped. Default ${LIMIT_DEFAULTS.outputStallTimeoutMs}.`,
    ),
    outputProgressBytesMin: limitValue(0, 'bytes').describe(
      `See outputStallTimeoutMs. Default ${LIMIT_DEFAULTS.outputProgressBytesMin}.`,
    ),
    closeTimeoutMs: limitValue(0, 'milliseconds').describe(
      `After the target ends a connection, the peer must close its side this soon, or the connection is reset. Default ${LIMIT_DEFAULTS.closeTimeoutMs}.`,
    ),
    dataOutTimeoutMs: limitValue(0, 'milliseconds').describe(
      `While a write waits for Data-Out, one must come this often, or the connection is dropped. Default ${LIMIT_DEFAULTS.dataOutTimeoutMs}.`,
    ),
    commandWindow: limitValue(1, 'commands').describe(
      `Commands one session may have in the target (the CmdSN window, MaxCmdSN). Default ${LIMIT_DEFAULTS.commandWindow}.`,
    ),
    tasksPerTargetMax: limitValue(1, 'tasks').describe(
      `SCSI tasks running in all the sessions of one target; beyond, TASK SET FULL. Default ${LIMIT_DEFAULTS.tasksPerTargetMax}.`,
    ),
    taskDataBytesPerSessionMax: limitValue(1, 'bytes').describe(
      `Sum of the data lengths of one session's running tasks; beyond, TASK SET FULL (a session with no task always gets one). Default ${LIMIT_DEFAULTS.taskDataBytesPerSessionMax}.`,
    ),
    taskDataBytesPerTargetMax: limitValue(1, 'bytes').describe(
      `The same over all the sessions of one target. Default ${LIMIT_DEFAULTS.taskDataBytesPerTargetMax}.`,
    ),
  },
  'a mapping of limits',
  'write limits: { sessionsPerTargetMax: 1024, loginTimeoutMs: 15000 } with the keys of docs/limits.md',
);

const log = mapping(
  {
    level: z
      .enum(LOG_LEVELS, wrong('a log level', `write one of ${LOG_LEVELS.join(', ')}`))
      .optional()
      .describe(
        'The lowest level logged; per-IO lines are at `trace`. `--log-level` replaces it. Unset: env `LOG_LEVEL`, else `info`.',
      ),
    format: z
      .enum(LOG_FORMATS, wrong('a log format', `write ${LOG_FORMATS.join(', ')}`))
      .default('auto')
      .describe(
        'Logs go to stderr: `json` lines, `pretty` (pino-pretty) lines, or `auto`: pretty on a terminal, JSON otherwise. `--log-format` replaces it.',
      ),
  },
  'a mapping of log settings',
  'write log: { level: info, format: json }',
);

function milliseconds(fix: string) {
  return z.number(wrong('a number of milliseconds', fix)).min(0, wrong('a number of milliseconds', fix));
}

/** The whole document: every key, its type, its default. */
export const targetConfigSchema = mapping(
  {
    portals: list(portal, 'a list of addresses', `write portals: [${DEFAULT_PORTAL}]`)
      .min(1, `is empty (write at least one HOST:PORT, or leave portals out for ${DEFAULT_PORTAL})`)
      .prefault([DEFAULT_PORTAL])
      .describe(
        'Where the target listens for iSCSI connections: `HOST:PORT`, `[IPv6]:PORT`, or a bare port (on 127.0.0.1). `--portal` on the command line replaces the list.',
      ),
    targets: list(
      target,
      'a list of targets',
      'write targets: with one entry per target, e.g. - { iqn: iqn.2026-11.org.collie:vol0, luns: { 1: mem:1G } }',
    )
      .superRefine((targets, ctx) => {
        const seen = new Set<string>();
        targets.forEach((entry, index) => {
          const name = entry.iqn.toLowerCase();
          if (seen.has(name)) {
            ctx.addIssue({
              code: 'custom',
              path: [index, 'iqn'],
              message: `${entry.iqn} is given twice (iSCSI names are unique: rename or merge one)`,
              input: entry.iqn,
            });
          }
          seen.add(name);
        });
      })
      .describe(
        'The targets this process serves, one entry per iSCSI target name (the keys below). An empty list serves none.',
      ),
    digests: z
      .enum(['none', 'allow', 'require'], wrong('a digest policy', 'write none, allow or require'))
      .default('allow')
      .describe(
        'CRC32C header and data digests: `none` (never), `allow` (used when the initiator asks for them), `require` (a login that does not negotiate them is refused).',
      ),
    nopIntervalMs: milliseconds('write e.g. 10000; 0 turns the keepalive ping off')
      .default(10_000)
      .describe(
        'When a connection is idle this long, the target sends a NOP-In ping. `0` turns the ping off.',
      ),
    nopTimeoutMs: milliseconds('write e.g. 15000')
      .default(15_000)
      .describe('A ping unanswered this long drops the connection: its session ends and its tasks abort.'),
    sheepdogProbeEveryRead: booleanKey
      .default(false)
      .describe(
        'Every sheepdog LU sends a coherence probe before each read (one more sheep request per read). Needed on a real sheep 1.0 cluster when several targets export one VDI; the embedded store does not need it. `--probe-every-read` sets it.',
      ),
    nodeId: nodeId
      .default(NODE_ID_MIN)
      .describe(
        `This process's target node id: the portal group tag, relative target port id and target port group of every target here. Nodes exporting the same VDI need distinct ids. A digit string is accepted. \`--node-id\` replaces it.`,
      ),
    stop: stop
      .optional()
      .describe(
        `How long the graceful stop (SIGTERM or SIGINT, docs/target.md "Stopping") waits, each 0 to ${STOP_SECONDS_MAX} s. The process exits 1 if the whole stop takes longer than drain + logout + ${STOP_DEADLINE_MARGIN_MS / 1000} s. Unset: ${DRAIN_SECONDS_DEFAULT} s and ${LOGOUT_REQUEST_SECONDS_DEFAULT} s.`,
      ),
    limits: limits
      .optional()
      .describe(
        'Resource limits against hostile or broken initiators (docs/limits.md). Each key left out keeps its default.',
      ),
    log: log.optional().describe('The logs on stderr (docs/target.md, "Logs"). Unset: the defaults below.'),
    events: pathKey('a file', 'write events: FILE, e.g. events.jsonl')
      .optional()
      .describe(
        'Append every event (logins, IO transitions, inode reloads) to this JSONL file, relative to the working directory; `collie inspect FILE` shows it. `--events` replaces it. Unset: no file.',
      ),
    admin: listenKey('admin')
      .optional()
      .describe(
        'Serve the admin API (token in `data`), /metrics and the live inspector on this HTTP listener: 127.0.0.1 unless a host is written, `0` for any free port. `--admin` or `--inspect` replaces it. Unset: no admin API.',
      ),
    inspect: listenKey('inspect')
      .optional()
      .describe(
        'Serve the live inspector and /metrics only (no admin API) here, as `admin` does. Give `admin` or `inspect`, not both: they are the same listener. `--admin` or `--inspect` replaces it.',
      ),
    data: pathKey('a directory', 'write data: DIR, e.g. .collie')
      .optional()
      .describe(
        'Where `admin` keeps its token (`admin-token`) and `admin.json`, relative to the working directory. `--data` replaces it. Unset: `.collie`.',
      ),
  },
  'a mapping of keys',
  'write portals:, targets: and the other keys of docs/target.md',
)
  .superRefine((root, ctx) => {
    if (root.admin !== undefined && root.inspect !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['inspect'],
        message:
          'names the same listener as admin (keep one: admin serves the admin API, /metrics and the inspector; inspect only the inspector and /metrics)',
        input: root.inspect,
      });
    }
  })
  .transform(
    (root): TargetConfig => ({
      portals: root.portals,
      targets: root.targets,
      digests: root.digests,
      nopIntervalMs: root.nopIntervalMs,
      nopTimeoutMs: root.nopTimeoutMs,
      sheepdogProbeEveryRead: root.sheepdogProbeEveryRead,
      nodeId: root.nodeId,
      ...(root.stop === undefined
        ? {}
        : { drainSeconds: root.stop.drainSeconds, logoutSeconds: root.stop.logoutSeconds }),
      ...(root.log === undefined
        ? {}
        : {
            log: {
              ...(root.log.level === undefined ? {} : { logLevel: root.log.level }),
              logFormat: root.log.format,
            },
          }),
      ...(root.limits === undefined ? {} : { limits: definedLimits(root.limits) }),
      ...(root.events === undefined ? {} : { events: root.events }),
      ...(root.admin === undefined ? {} : { admin: root.admin }),
      ...(root.inspect === undefined ? {} : { inspect: root.inspect }),
      ...(root.data === undefined ? {} : { data: root.data }),
    }),
  );

/** The limits a document wrote (keys left out stay out: the server keeps its defaults). */
function definedLimits(
  written: Partial<Record<keyof TargetLimits, number | undefined>>,
): Partial<TargetLimits> {
  return Object.fromEntries(
    Object.entries(written).filter((entry) => entry[1] !== undefined),
  ) as Partial<TargetLimits>;
}

type PathSegment = PropertyKey;

/** `targets[0].chap.secret` from ['targets', 0, 'chap', 'secret']. */
export function keyPath(path: readonly PathSegment[]): string | undefined {
  let text = '';
  for (const segment of path) {
    text +=
      typeof segment === 'number' ? `[${segment}]` : text === '' ? String(segment) : `.${String(segment)}`;
  }
  return text === '' ? undefined : text;
}

/** The problems of a zod failure, each with its full path (an unknown key's path ends with it). */
function problemsOf(error: z.ZodError): Array<{ path: PathSegment[]; message: string; unknownKey: boolean }> {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return { path: [...issue.path, issue.keys[0] ?? ''], message: issue.message, unknownKey: true };
    }
    if (issue.code === 'invalid_key') {
      return { path: [...issue.path], message: issue.issues[0]?.message ?? issue.message, unknownKey: false };
    }
    return { path: [...issue.path], message: issue.message, unknownKey: false };
  });
}

/**
 * Checks a parsed document. `lineOf` maps a key path to its line (checkTargetConfigText gives
 * one); without it problems name FILE and KEY only.
 */
export function checkTargetConfigDocument(
  document: unknown,
  file: string,
  lineOf?: (path: readonly PathSegment[]) => number | undefined,
): ConfigCheck {
  if (document === null || document === undefined) {
    return {
      ok: false,
      problem: {
        file,
        ...(lineOf === undefined ? {} : { line: 1 }),
        message: 'the config is empty (write targets: with one entry per target, as in docs/target.md)',
      },
    };
  }
  const result = targetConfigSchema.safeParse(document);
  if (result.success) return { ok: true, config: result.data };
  const located = problemsOf(result.error).map((problem, order) => ({
    ...problem,
    line: lineOf?.(problem.path),
    order,
  }));
  // An unknown key first (a misspelt key also makes the key it meant "missing": the unknown one
  // says what to fix), then the problem written first; problems without a line keep zod's order.
  located.sort(
    (a, b) =>
      Number(b.unknownKey) - Number(a.unknownKey) ||
      (a.line ?? Infinity) - (b.line ?? Infinity) ||
      a.order - b.order,
  );
  const first = located[0]!;
  const key = keyPath(first.path);
  return {
    ok: false,
    problem: {
      file,
      ...(first.line === undefined ? {} : { line: first.line }),
      ...(key === undefined ? {} : { key }),
      message: first.message,
    },
  };
}

/** Parses and checks YAML text; problems carry the line of the key they name. */
export function checkTargetConfigText(text: string, file: string): ConfigCheck {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const syntax = document.errors[0];
  if (syntax !== undefined) {
    const line = lineCounter.linePos(syntax.pos[0]).line;
    const message = syntax.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const fix = syntax.code === 'DUPLICATE_KEY' ? 'keep one of them' : 'fix the YAML syntax here';
    return { ok: false, problem: { file, line, message: `not YAML: ${message} (${fix})` } };
  }
  const lineOf = (path: readonly PathSegment[]): number | undefined => {
    let node: unknown = document.contents;
    let offset = (node as { range?: [number] } | null)?.range?.[0] ?? 0;
    for (const segment of path) {
      if (isAlias(node)) node = node.resolve(document);
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => String(isScalar(item.key) ? item.key.value : item.key) === String(segment),
        );
        // A missing key: the line where its mapping starts.
        if (pair === undefined) break;
        offset = (pair.key as { range?: [number] } | null)?.range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
        node = node.items[segment];
        offset = (node as { range?: [number] } | null)?.range?.[0] ?? offset;
      } else {
        break;
      }
    }
    return lineCounter.linePos(offset).line;
  };
  return checkTargetConfigDocument(document.toJS({ maxAliasCount: 100 }), file, lineOf);
}
