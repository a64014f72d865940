/**
 * `collie adm ...`: changes a running Collie (`collie up`, `collie target`) without a restart,
 * through its admin API (src/admin/admin-api.ts, via admin-client.ts).
 *
 *   collie adm [--data DIR] [--url URL] [--token TOKEN] [--json] COMMAND
 *     status
 *     target list | target add IQN [--alias A] | target remove IQN
 *     lun list [IQN] | lun add [IQN] BACKING [--lun N] | lun remove [IQN] LUN
 *     lun resize [IQN] LUN SIZE
 *     acl set IQN [--initiator NAME ...] [--address CIDR ...]     (none given: anyone may log in)
 *     chap set IQN USER SECRET [--mutual USER:SECRET] | chap clear IQN
 *     session list | session kill TSIH [--node N]
 *     vdi list | vdi create NAME SIZE | vdi snapshot NAME [-s TAG]
 *     vdi clone NAME SNAPSHOT NEWNAME | vdi delete NAME [-s TAG|ID]
 *     lock list | lock unlock NAME
 *     alua
 *
 * The daemon: --url, else `<DIR>/admin.json` (DIR: --data, default .collie); the token: --token,
 * else COLLIE_ADMIN_TOKEN, else `<DIR>/admin-token`. A LUN command's IQN may be left out when the
 * daemon has exactly one target. SIZE is 10G, 512M, 4096 (sizes.ts).
 *
 * Output: lists are aligned tables with a header (sizes as `formatSize` shows them, "10 GB");
 * a change prints one confirmation line naming what changed (CHAP secrets are never printed).
 * With --json every command prints the API's JSON answer instead, one document (`lun list`:
 * one row per LUN, `{ target, ...LunInfo }`, as the table shows it).
 * Failures print one line on stderr, `collie adm: <problem and fix>`, never a stack: exit 2 for
 * a usage error (commander's, or an argument this file refuses: a bad size, number or missing
 * IQN), exit 1 for everything else (no daemon, refused token, the daemon's own refusals).
 */
import type { Command, CommanderError } from 'commander';
import type {
  AdminStatus,
  AluaRow,
  LockRow,
  LunInfo,
  SessionInfo,
  TargetInfo,
  VdiRow,
} from '../admin/admin-api.js';
import {
  type AdminClient,
  AdminClientError,
  connectAdminClient,
  type FetchLike,
} from '../admin/admin-client.js';
import { LUN_MAX, NODE_ID_MAX, NODE_ID_MIN } from '../target/target-config-schema.js';
import { CONFIG_EXIT } from './config.js';
import { formatDuration } from './progress.js';
import { formatSize, parseSizeBytes, SizeSyntaxError } from './sizes.js';
import { formatKeyValues, formatTable, type TableColumn } from './text-table.js';
import { formatLocalMinute } from './vdi-format.js';

const USAGE_EXIT = CONFIG_EXIT.invalid;
const FAILURE_EXIT = 1;
const TSIH_MAX = 0xffff;

/** What the commands touch outside themselves; tests pass buffers and a short timeout. */
export interface AdmCliDeps {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Where COLLIE_ADMIN_TOKEN is read. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly setExitCode: (code: number) => void;
  /** Ends the process after a commander usage error or --help (tests throw instead). */
  readonly exit: (code: number) => void;
  /** Bound on each request; default the client's (30 s). */
  readonly timeoutMs?: number;
  readonly fetch?: FetchLike;
}

function defaultDeps(): AdmCliDeps {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    setExitCode: (code) => {
      process.exitCode = code;
    },
    exit: (code) => process.exit(code),
  };
}

interface AdmGlobalOptions {
  data?: string;
  url?: string;
  token?: string;
  json?: boolean;
}

/** A problem to print as one line with this exit code. */
class AdmFailure extends Error {
  override readonly name = 'AdmFailure';

  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function usageError(message: string): AdmFailure {
  return new AdmFailure(message, USAGE_EXIT);
}

/** What a command's handler gets: the client (connected on first use) and the output. */
interface AdmRun {
  readonly json: boolean;
  client(): Promise<AdminClient>;
  lines(lines: readonly string[]): void;
  printJson(value: unknown): void;
}

/** The one line `collie adm:` prints for a failure. */
export function describeAdmFailure(error: unknown): string {
  if (error instanceof AdminClientError || error instanceof AdmFailure || error instanceof SizeSyntaxError) {
    return error.message;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `unexpected failure: ${message.split('\n')[0]} (a bug in collie adm; please report it)`;
}

function exitCodeOf(error: unknown): number {
  if (error instanceof AdmFailure) return error.exitCode;
  if (error instanceof SizeSyntaxError) return USAGE_EXIT;
  return FAILURE_EXIT;
}

export function registerAdmCommand(program: Command, overrides: Partial<AdmCliDeps> = {}): void {
  let resolved: AdmCliDeps | undefined;
  // Built on first use, so registering the command touches nothing.
  const deps = (): AdmCliDeps => {
    resolved ??= { ...defaultDeps(), ...overrides };
    return resolved;
  };

  /** Runs a handler; every failure becomes one stderr line and an exit code. */
  const run = async (command: Command, handler: (adm: AdmRun) => Promise<void>): Promise<void> => {
    const { stdout, stderr, env, timeoutMs, fetch, setExitCode } = deps();
    try {
      const options = command.optsWithGlobals() as AdmGlobalOptions;
      let client: Promise<AdminClient> | undefined;
      await handler({
        json: options.json === true,
        client: () => {
          client ??= connectAdminClient({
            data: options.data,
            url: options.url,
            token: options.token,
            env,
            timeoutMs,
            fetch,
          });
          return client;
        },
        lines: (lines) => {
          stdout.write(lines.length === 0 ? '' : `${lines.join('\n')}\n`);
        },
        printJson: (value) => {
          stdout.write(`${JSON.stringify(value, null, 2)}\n`);
        },
      });
    } catch (error) {
      stderr.write(`collie adm: ${describeAdmFailure(error)}\n`);
      setExitCode(exitCodeOf(error));
    }
  };

  const adm = program
    .command('adm')
    .description(
      'change a running Collie without a restart: targets, LUNs, ACLs, CHAP, sessions, VDIs, locks',
    )
    .option(
      '--data <dir>',
      'data directory of the running Collie (its admin.json and admin-token)',
      '.collie',
    )
    .option('--url <url>', 'the admin URL (default: the url in <data>/admin.json)')
    .option('--token <token>', 'the admin token (default: $COLLIE_ADMIN_TOKEN, else <data>/admin-token)')
    .option('--json', "print the admin API's JSON answer instead of a table or a sentence")
    .showHelpAfterError('(see: collie adm --help)')
    .configureOutput({
      writeOut: (text) => deps().stdout.write(text),
      writeErr: (text) => deps().stderr.write(text),
    })
    .exitOverride((error: CommanderError) => {
      // Help is not an error; everything else commander rejects is a usage error.
      deps().exit(error.exitCode === 0 ? 0 : USAGE_EXIT);
    });

  adm
    .command('status')
    .description('what runs: version, nodes and portals, store, sessions, URLs')
    .action(async (_options: object, command: Command) => {
      await run(command, async (out) => {
        const status = await (await out.client()).status();
        if (out.json) out.printJson(status);
        else out.lines(statusLines(status));
      });
    });

  registerTargetCommands(adm, run);
  registerLunCommands(adm, run);
  registerAccessCommands(adm, run);
  registerSessionCommands(adm, run);
  registerVdiCommands(adm, run);

  adm
    .command('alua')
    .description('ALUA state of every LUN: policy and target port group states')
    .action(async (_options: object, command: Command) => {
      await run(command, async (out) => {
        const rows = await (await out.client()).alua();
        if (out.json) out.printJson(rows);
        else out.lines(rows.length === 0 ? ['no LUNs'] : formatTable(ALUA_COLUMNS, rows));
      });
    });
}

type Runner = (command: Command, handler: (adm: AdmRun) => Promise<void>) => Promise<void>;

// ---- targets and LUNs ------------------------------------------------------------------------------

function registerTargetCommands(adm: Command, run: Runner): void {
  const target = adm.command('target').description('list, add or remove targets');

  target
    .command('list')
    .description('targets with their LUNs, ACL and CHAP users')
    .action(async (_options: object, command: Command) => {
      await run(command, async (out) => {
        const targets = await (await out.client()).targets();
        if (out.json) out.printJson(targets);
        else out.lines(targets.length === 0 ? ['no targets'] : formatTable(TARGET_COLUMNS, targets));
      });
    });

  target
    .command('add')
    .argument('<iqn>', 'the new target name')
    .option('--alias <alias>', 'its TargetAlias')
    .description('add a target (no LUNs yet; every node of the process serves it)')
    .action(async (iqn: string, options: { alias?: string }, command: Command) => {
      await run(command, async (out) => {
        const added = await (await out.client()).addTarget({
          iqn,
          ...(options.alias === undefined ? {} : { alias: options.alias }),
        });
        if (out.json) return out.printJson(added);
        const alias = added.alias === undefined ? '' : ` (alias ${added.alias})`;
        out.lines([
          `added target ${added.iqn}${alias} on ${nodesWords(added.nodes)}; give it a LUN: collie adm lun add ${added.iqn} BACKING`,
        ]);
      });
    });

  target
    .command('remove')
    .argument('<iqn>')
    .description('remove a target; its sessions are dropped')
    .action(async (iqn: string, _options: object, command: Command) => {
      await run(command, async (out) => {
        const answer = await (await out.client()).removeTarget(iqn);
        if (out.json) out.printJson(answer);
        else out.lines([`removed target ${answer.removed}; its sessions were dropped`]);
      });
    });
}

function registerLunCommands(adm: Command, run: Runner): void {
  const lun = adm
    .command('lun')
    .description('list, add, remove or resize LUNs (IQN optional with one target)');

  lun
    .command('list')
    .argument('[iqn]', "only this target's LUNs")
    .description('LUNs of every target (or of one)')
    .action(async (iqn: string | undefined, _options: object, command: Command) => {
      await run(command, async (out) => {
        const targets = await (await out.client()).targets();
        const shown = iqn === undefined ? targets : [findTarget(targets, iqn)];
        const rows: LunRow[] = shown.flatMap((target) =>
          target.luns.map((info) => ({ target: target.iqn, ...info })),
        );
        if (out.json) out.printJson(rows);
        else out.lines(rows.length === 0 ? ['no LUNs'] : formatTable(LUN_COLUMNS, rows));
      });
    });

  lun
    .command('add')
    .usage('[options] [IQN] BACKING')
    .argument('<iqn-or-backing>', 'the target (optional with one target), then the backing')
    .argument('[backing]', 'mem:SIZE, file:PATH[:SIZE], tcp:HOST:PORT:VDI, or a VDI name on the store')
    .option('--lun <n>', `the LUN number, 0..${LUN_MAX} (default: the lowest free from 1)`)
    .description('add a LUN; initiators get REPORTED LUNS DATA HAS CHANGED')
    .action(
      async (first: string, second: string | undefined, options: { lun?: string }, command: Command) => {
        await run(command, async (out) => {
          const [iqnGiven, backing] = second === undefined ? [undefined, first] : [first, second];
          const number = options.lun === undefined ? undefined : parseWhole(options.lun, '--lun', 0, LUN_MAX);
          const client = await out.client();
          const iqn = await resolveIqn(client, iqnGiven);
          const added = await client.addLun(iqn, {
            backing,
            ...(number === undefined ? {} : { lun: number }),
          });
          if (out.json) return out.printJson(added);
          out.lines([
            `added LUN ${added.lun} (${added.backing}, ${formatSize(added.sizeBytes)}) to ${iqn}; initiators get REPORTED LUNS DATA HAS CHANGED`,
          ]);
        });
      },
    );

  lun
    .command('remove')
    .usage('[options] [IQN] LUN')
    .argument('<iqn-or-lun>', 'the target (optional with one target), then the LUN number')
    .argument('[lun]')
    .description('remove a LUN; initiators get REPORTED LUNS DATA HAS CHANGED')
    .action(async (first: string, second: string | undefined, _options: object, command: Command) => {
      await run(command, async (out) => {
        const [iqnGiven, lunText] = second === undefined ? [undefined, first] : [first, second];
        const number = parseWhole(lunText, 'LUN', 0, LUN_MAX);
        const client = await out.client();
        const iqn = await resolveIqn(client, iqnGiven);
        const answer = await client.removeLun(iqn, number);
        if (out.json) return out.printJson(answer);
        out.lines([
          `removed LUN ${answer.removed} from ${iqn}; initiators get REPORTED LUNS DATA HAS CHANGED`,
        ]);
      });
    });

  lun
    .command('resize')
    .usage('[options] [IQN] LUN SIZE')
    .argument('<iqn-or-lun>', 'the target (optional with one target), then the LUN number')
    .argument('<lun-or-size>')
    .argument('[size]', 'the new size: 10G, 512M, 4096')
    .description('resize a LUN; initiators get CAPACITY DATA HAS CHANGED')
    .action(
      async (
        first: string,
        second: string,
        third: string | undefined,
        _options: object,
        command: Command,
      ) => {
        await run(command, async (out) => {
          const [iqnGiven, lunText, sizeText] =
            third === undefined ? [undefined, first, second] : [first, second, third];
          const number = parseWhole(lunText, 'LUN', 0, LUN_MAX);
          const sizeBytes = parseSizeBytes(sizeText, 'SIZE');
          const client = await out.client();
          const iqn = await resolveIqn(client, iqnGiven);
          const resized = await client.resizeLun(iqn, number, { sizeBytes });
          if (out.json) return out.printJson(resized);
          out.lines([
            `resized LUN ${resized.lun} of ${iqn} to ${formatSize(resized.sizeBytes)}; initiators get CAPACITY DATA HAS CHANGED`,
          ]);
        });
      },
    );
}

/** The IQN given, or the daemon's only target. */
async function resolveIqn(client: AdminClient, given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const targets = await client.targets();
  if (targets.length === 1) return targets[0]!.iqn;
  if (targets.length === 0) {
    throw new AdmFailure('the daemon has no targets: add one first: collie adm target add IQN', FAILURE_EXIT);
  }
  throw usageError(
    `give the target IQN: the daemon has ${targets.length} targets (${targets.map((t) => t.iqn).join(', ')})`,
  );
}

function findTarget(targets: readonly TargetInfo[], iqn: string): TargetInfo {
  const found = targets.find((target) => target.iqn === iqn);
  if (found !== undefined) return found;
  const known = targets.length === 0 ? 'it has none' : `it has ${targets.map((t) => t.iqn).join(', ')}`;
  throw new AdmFailure(
    `no target ${iqn} on the daemon (${known}; see: collie adm target list)`,
    FAILURE_EXIT,
  );
}

// ---- ACL and CHAP ----------------------------------------------------------------------------------

function registerAccessCommands(adm: Command, run: Runner): void {
  adm
    .command('acl')
    .description('who may log in to a target: initiator names and addresses')
    .command('set')
    .argument('<iqn>')
    .option('--initiator <name>', 'allow this initiator name (repeatable)', collect, [] as string[])
    .option(
      '--address <cidr>',
      'allow initiators from this address or CIDR (repeatable)',
      collect,
      [] as string[],
    )
    .description("replace a target's ACL (neither given: anyone may log in, CHAP permitting)")
    .action(async (iqn: string, options: { initiator: string[]; address: string[] }, command: Command) => {
      await run(command, async (out) => {
        const updated = await (await out.client()).setAcl(iqn, {
          initiators: options.initiator,
          addresses: options.address,
        });
        if (out.json) return out.printJson(updated);
        out.lines([`ACL of ${updated.iqn}: ${aclWords(updated.acl)}`]);
      });
    });

  const chap = adm.command('chap').description("a target's CHAP accounts (secrets are never shown)");

  chap
    .command('set')
    .argument('<iqn>')
    .argument('<user>')
    .argument('<secret>', 'at least 12 characters')
    .option('--mutual <user:secret>', "the target's own account, for mutual CHAP")
    .description('require CHAP on a target (new logins)')
    .action(
      async (iqn: string, user: string, secret: string, options: { mutual?: string }, command: Command) => {
        await run(command, async (out) => {
          const mutual = options.mutual === undefined ? undefined : parseMutual(options.mutual);
          const updated = await (await out.client()).setChap(iqn, {
            user,
            secret,
            ...(mutual === undefined ? {} : { mutual }),
          });
          if (out.json) return out.printJson(updated);
          out.lines([`CHAP of ${updated.iqn}: ${chapWords(updated.chap)}; new logins must authenticate`]);
        });
      },
    );

  chap
    .command('clear')
    .argument('<iqn>')
    .description('remove CHAP from a target (AuthMethod None)')
    .action(async (iqn: string, _options: object, command: Command) => {
      await run(command, async (out) => {
        const updated = await (await out.client()).clearChap(iqn);
        if (out.json) return out.printJson(updated);
        out.lines([`CHAP of ${updated.iqn} cleared: AuthMethod None (the ACL alone decides who logs in)`]);
      });
    });
}

/** USER:SECRET; the message never repeats the text, which holds a secret. */
function parseMutual(text: string): { user: string; secret: string } {
  const colon = text.indexOf(':');
  if (colon < 1 || colon === text.length - 1) {
    throw usageError(
      "--mutual must be USER:SECRET (the target's own CHAP account), e.g. --mutual target:0123456789ab",
    );
  }
  return { user: text.slice(0, colon), secret: text.slice(colon + 1) };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

// ---- sessions --------------------------------------------------------------------------------------

function registerSessionCommands(adm: Command, run: Runner): void {
  const session = adm.command('session').description('list or kill iSCSI sessions');

  session
    .command('list')
    .description('sessions: initiator, target, connection addresses, negotiated keys')
    .action(async (_options: object, command: Command) => {
      await run(command, async (out) => {
        const sessions = await (await out.client()).sessions();
        if (out.json) out.printJson(sessions);
        else out.lines(sessions.length === 0 ? ['no sessions'] : formatTable(SESSION_COLUMNS, sessions));
      });
    });

  session
    .command('kill')
    .argument('<tsih>', 'the session (TSIH column of session list)')
    .option('--node <n>', 'the target node holding it (needed when two nodes have that TSIH)')
    .description('drop a session and its connections')
    .action(async (tsihText: string, options: { node?: string }, command: Command) => {
      await run(command, async (out) => {
        const tsih = parseWhole(tsihText, 'TSIH', 1, TSIH_MAX);
        const node =
          options.node === undefined
            ? undefined
            : parseWhole(options.node, '--node', NODE_ID_MIN, NODE_ID_MAX);
        const answer = await (await out.client()).killSession(tsih, node);
        if (out.json) return out.printJson(answer);
        const killed = answer.killed;
        out.lines([
          `killed session TSIH ${killed.tsih} on node ${killed.node} (${killed.initiator} on ${killed.target})`,
        ]);
      });
    });
}

// ---- VDIs and locks --------------------------------------------------------------------------------

function registerVdiCommands(adm: Command, run: Runner): void {
  const vdi = adm
    .command('vdi')
    .description("VDIs on the daemon's store: list, create, snapshot, clone, delete");

  vdi
    .command('list')
    .description('VDIs and snapshots')
    .action(async (_options: object, command: Command) => {
      await run(command, async (out) => {
        const rows = await (await out.client()).vdis();
        if (out.json) out.printJson(rows);
        else out.lines(rows.length === 0 ? ['no VDIs'] : formatTable(VDI_COLUMNS, rows));
      });
    });

  vdi
    .command('create')
    .argument('<name>')
    .argument('<size>', 'e.g. 10G, 512M, 4096')
    .description('create a VDI')
    .action(async (name: string, sizeText: string, _options: object, command: Command) => {
      await run(command, async (out) => {
        const sizeBytes = parseSizeBytes(sizeText, 'SIZE');
        const created = await (await out.client()).createVdi({ name, sizeBytes });
        if (out.json) return out.printJson(created);
        out.lines([`created VDI ${created.name} (${formatSize(created.sizeBytes)}, vid ${created.vid})`]);
      });
    });

  vdi
    .command('snapshot')
    .argument('<name>')
    .option('-s, --snapshot <tag>', 'tag for the new snapshot')
    .description('snapshot the working VDI')
    .action(async (name: string, options: { snapshot?: string }, command: Command) => {
      await run(command, async (out) => {
        const taken = await (await out.client()).snapshotVdi(
          name,
          options.snapshot === undefined ? {} : { tag: options.snapshot },
        );
        if (out.json) return out.printJson(taken);
        const tag = taken.tag === '' ? '' : `, tag ${taken.tag}`;
        out.lines([`snapshot ${taken.snapid}${tag} of VDI ${taken.name} taken (vid ${taken.vid})`]);
      });
    });

  vdi
    .command('clone')
    .argument('<name>', 'the VDI to clone')
    .argument('<snapshot>', 'its snapshot (tag or id) to clone from')
    .argument('<newname>', 'the new VDI')
    .description('clone a snapshot into a new writable VDI')
    .action(async (name: string, snapshot: string, newName: string, _options: object, command: Command) => {
      await run(command, async (out) => {
        const clone = await (await out.client()).cloneVdi(name, { snapshot, name: newName });
        if (out.json) return out.printJson(clone);
        out.lines([
          `cloned snapshot ${snapshot} of VDI ${name} into ${clone.name} (${formatSize(clone.sizeBytes)}, vid ${clone.vid})`,
        ]);
      });
    });

  vdi
    .command('delete')
    .argument('<name>')
    .option('-s, --snapshot <tag|id>', 'delete this snapshot instead of the working VDI')
    .description('delete a VDI or one of its snapshots')
    .action(async (name: string, options: { snapshot?: string }, command: Command) => {
      await run(command, async (out) => {
        const answer = await (await out.client()).deleteVdi(name, options.snapshot);
        if (out.json) return out.printJson(answer);
        const what =
          options.snapshot === undefined
            ? `VDI ${answer.removed}`
            : `snapshot ${options.snapshot} of VDI ${answer.removed}`;
        out.lines([`deleted ${what}`]);
      });
    });

  const lock = adm.command('lock').description("VDI locks on the daemon's store: list, unlock");

  lock
    .command('list')
    .description('locked VDIs with their owner or shared-lock participants')
    .action(async (_options: object, command: Command) => {
      await run(command, async (out) => {
        const rows = await (await out.client()).locks();
        if (out.json) out.printJson(rows);
        else out.lines(rows.length === 0 ? ['no locked VDIs'] : formatTable(LOCK_COLUMNS, rows));
      });
    });

  lock
    .command('unlock')
    .argument('<name>')
    .description("release a VDI's lock (a crashed owner's)")
    .action(async (name: string, _options: object, command: Command) => {
      await run(command, async (out) => {
        const answer = await (await out.client()).unlock(name);
        if (out.json) out.printJson(answer);
        else out.lines([`unlocked VDI ${answer.unlocked}`]);
      });
    });
}

// ---- parsing ---------------------------------------------------------------------------------------

function parseWhole(text: string, what: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw usageError(`${what} "${text}" must be a whole number from ${min} to ${max}`);
  }
  return value;
}

// ---- output ----------------------------------------------------------------------------------------

/** One row of `lun list`: a LUN with its target. */
export type LunRow = { readonly target: string } & LunInfo;

function orDash(text: string | undefined): string {
  return text === undefined || text === '' ? '-' : text;
}

function nodesWords(nodes: readonly number[]): string {
  return nodes.length === 1 ? `node ${nodes[0]}` : `nodes ${nodes.join(', ')}`;
}

function aclWords(acl: TargetInfo['acl']): string {
  if (acl.initiators.length === 0 && acl.addresses.length === 0) return 'anyone may log in (CHAP permitting)';
  const initiators =
    acl.initiators.length === 0 ? 'any initiator' : `initiators ${acl.initiators.join(', ')}`;
  const addresses = acl.addresses.length === 0 ? 'any address' : `addresses ${acl.addresses.join(', ')}`;
  return `${initiators}; ${addresses}`;
}

function chapWords(chap: TargetInfo['chap']): string {
  if (chap.users.length === 0) return 'none';
  const mutual = chap.mutualUser === undefined ? '' : `, mutual user ${chap.mutualUser}`;
  return `user ${chap.users.join(', ')}${mutual}`;
}

function optionalSize(bytes: number | undefined): string {
  return bytes === undefined ? '-' : formatSize(bytes);
}

function localMinute(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? orDash(iso) : formatLocalMinute(ms / 1000);
}

export function statusLines(status: AdminStatus): string[] {
  const nodes = status.nodes.map((node) => `${node.nodeId} (${node.portals.join(', ') || 'no portals'})`);
  return formatKeyValues([
    ['version', status.version],
    ['running', `collie ${status.kind}, pid ${status.pid}`],
    ['started', `${status.startedAt} (up ${formatDuration(status.uptimeSeconds)})`],
    ['nodes', nodes.join('; ')],
    ['store', status.store ?? 'none (vdi and lock commands need one)'],
    ['sessions', String(status.sessions)],
    ['inspector', status.urls.inspector],
    ['metrics', status.urls.metrics],
    ['admin', status.urls.admin],
  ]);
}

export const TARGET_COLUMNS: readonly TableColumn<TargetInfo>[] = [
  { header: 'IQN', cell: (t) => t.iqn },
  { header: 'ALIAS', cell: (t) => orDash(t.alias) },
  { header: 'NODES', cell: (t) => t.nodes.join(',') },
  { header: 'LUNS', cell: (t) => orDash(t.luns.map((l) => l.lun).join(',')) },
  {
    header: 'ACL',
    cell: (t) =>
      t.acl.initiators.length === 0 && t.acl.addresses.length === 0
        ? 'any'
        : [...t.acl.initiators, ...t.acl.addresses].join(','),
  },
  { header: 'CHAP', cell: (t) => chapWords(t.chap) },
];

export const LUN_COLUMNS: readonly TableColumn<LunRow>[] = [
  { header: 'TARGET', cell: (r) => r.target },
  { header: 'LUN', cell: (r) => String(r.lun), align: 'right' },
  { header: 'SIZE', cell: (r) => formatSize(r.sizeBytes), align: 'right' },
  { header: 'BLOCK', cell: (r) => String(r.blockSizeBytes), align: 'right' },
  {
    header: 'FLAGS',
    cell: (r) => orDash([r.readOnly ? 'read-only' : '', r.thin ? 'thin' : ''].filter(Boolean).join(',')),
  },
  { header: 'BACKING', cell: (r) => r.backing },
];

export const SESSION_COLUMNS: readonly TableColumn<SessionInfo>[] = [
  { header: 'NODE', cell: (s) => String(s.node), align: 'right' },
  { header: 'TSIH', cell: (s) => String(s.tsih), align: 'right' },
  { header: 'ISID', cell: (s) => s.isid },
  { header: 'INITIATOR', cell: (s) => s.initiator },
  { header: 'TARGET', cell: (s) => s.target },
  { header: 'LOCAL', cell: (s) => orDash(s.connection?.local) },
  { header: 'REMOTE', cell: (s) => orDash(s.connection?.remote) },
  { header: 'TASKS', cell: (s) => String(s.activeTasks), align: 'right' },
  {
    header: 'KEYS',
    cell: (s) =>
      orDash(
        Object.entries(s.parameters)
          .map(([key, value]) => `${key}=${value}`)
          .join(' '),
      ),
  },
];

export const VDI_COLUMNS: readonly TableColumn<VdiRow>[] = [
  { header: 'NAME', cell: (v) => v.name },
  { header: 'TYPE', cell: (v) => (v.snapshot ? 'snapshot' : v.clone ? 'clone' : 'working') },
  { header: 'ID', cell: (v) => String(v.snapid), align: 'right' },
  { header: 'TAG', cell: (v) => orDash(v.tag) },
  { header: 'SIZE', cell: (v) => formatSize(v.sizeBytes), align: 'right' },
  { header: 'USED', cell: (v) => optionalSize(v.usedBytes), align: 'right' },
  { header: 'SHARED', cell: (v) => optionalSize(v.sharedBytes), align: 'right' },
  { header: 'COPIES', cell: (v) => String(v.copies), align: 'right' },
  { header: 'CREATED', cell: (v) => localMinute(v.createdAt) },
  { header: 'VDI ID', cell: (v) => v.vid, align: 'right' },
];

export const LOCK_COLUMNS: readonly TableColumn<LockRow>[] = [
  { header: 'NAME', cell: (l) => l.name },
  { header: 'VDI ID', cell: (l) => l.vid, align: 'right' },
  { header: 'STATE', cell: (l) => l.state },
  { header: 'HOLDERS', cell: (l) => orDash(l.holders.join(', ')) },
];

export const ALUA_COLUMNS: readonly TableColumn<AluaRow>[] = [
  { header: 'TARGET', cell: (a) => a.target },
  { header: 'LUN', cell: (a) => String(a.lun), align: 'right' },
  { header: 'POLICY', cell: (a) => a.policy },
  { header: 'PORT GROUPS', cell: (a) => orDash(a.groups.map((g) => `${g.group}=${g.state}`).join(' ')) },
];
