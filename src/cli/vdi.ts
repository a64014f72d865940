/**
 * `collie vdi ...`: dog's VDI commands, with dog's argument order, against a sheep or Collie's
 * embedded store:
 *
 *   vdi create NAME SIZE [-c COPIES] [-z SHIFT]     vdi list [NAME] [-r]
 *   vdi snapshot [-s TAG] NAME                      vdi delete [-s TAG|SNAPID] NAME
 *   vdi read [-s TAG|SNAPID] NAME [OFFSET [LEN]]    vdi write NAME [OFFSET [LEN]]   (stdin)
 *   vdi lock list                                   vdi lock unlock NAME
 *
 * Every command takes -a/--address HOST (default 127.0.0.1) and -p/--port PORT (default 7000),
 * opens one pipelined connection, does its work (sheep-admin.ts) and closes it. Failures print
 * one line on stderr naming the thing and the fix, and set exit code 1. `read` writes raw bytes
 * to stdout with backpressure, so it is binary-safe and can stream a whole VDI.
 *
 * `read` and `write` are lock-less clients on the target's own IO planner (vdi-io.ts over
 * client/lockless-vdi.ts): no VDI lock, no TGT flag, no refresh read, so they run while targets
 * serve the VDI through the same sheep node. `write` first checks the VDI's locks
 * (lockless-write-guard.ts): on a store that would not invalidate the targets for it (sheep 1.0)
 * it refuses a VDI that targets hold, and it refuses a normally locked (qemu) VDI everywhere.
 *
 * On a terminal, `read` and `write` show a progress line on stderr (progress.ts: bytes, rate, time
 * left; the total of a `write` from a pipe is unknown); in a pipe or with --no-progress, nothing.
 */
import { fstatSync } from 'node:fs';
import type { Command } from 'commander';
import { TcpTransport } from '../../transports/tcp.js';
import { type Endpoint, endpointToString, type Transport } from '../../transports/transport.js';
import { BackendError } from '../backends/block-backend.js';
import type { Clock } from '../core/clock.js';
import { realClock } from '../core/real-clock.js';
import { checkLocklessWrite } from '../sheepdog/lockless-write-guard.js';
import {
  deleteVdi,
  getVdiCopies,
  getVdiInfo,
  listVdis,
  newVdi,
  SheepAdminError,
  snapshotVdi,
  type VdiTarget,
} from '../sheepdog/sheep-admin.js';
import { SheepConnection, SheepConnectionError, SheepResultError } from '../sheepdog/sheep-connection.js';
import { readVdi, writeVdi } from '../sheepdog/vdi-io.js';
import { releaseLocksNamed } from '../sheepdog/vdi-locks.js';
import { LockState, SD_LISTEN_PORT, SdRes } from '../sheepdog/wire/constants.js';
import { nodeIdKey } from '../sheepdog/wire/node-id.js';
import type { VdiState } from '../sheepdog/wire/vdi-state.js';
import { noProgressOption, Progress } from './progress.js';
import { parseSizeBytes, SizeSyntaxError } from './sizes.js';
import {
  formatLockHolders,
  formatLockRow,
  formatVdiListRow,
  LOCK_LIST_HEADER,
  VDI_LIST_HEADER,
} from './vdi-format.js';

const DEFAULT_HOST = '127.0.0.1';

/** What the commands touch outside themselves; tests pass a memory transport and buffers. */
export interface VdiCliDeps {
  readonly transport: Transport;
  readonly clock: Clock;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: AsyncIterable<Buffer | string>;
  readonly setExitCode: (code: number) => void;
  /** Bytes on stdin when it is a regular file (the total of `write`'s progress); else undefined. */
  readonly stdinBytes?: number;
  /** The progress line's clock; default `clock`. */
  readonly progressClock?: Pick<Clock, 'now'>;
}

/** The size of the file open on descriptor fd, when it is a regular file. */
function regularFileBytes(fd: number): number | undefined {
  try {
    const stat = fstatSync(fd);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}

function defaultDeps(): VdiCliDeps {
  return {
    transport: new TcpTransport(),
    clock: realClock,
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    setExitCode: (code) => {
      process.exitCode = code;
    },
    stdinBytes: regularFileBytes(0),
  };
}

interface AddressOptions {
  address: string;
  /** Validated by endpointOf() inside the error handling, so a bad port is a one-line error. */
  port: string;
}

/** What a command was about, for error messages. */
interface CommandContext {
  readonly endpoint: Endpoint;
  readonly name?: string;
  readonly tag?: string;
  readonly snapid?: number;
}

/** Thrown for a problem the user can fix on the command line. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new UsageError(
      `-p/--port "${text}" is not a TCP port; give 1..65535 (sheep listens on ${SD_LISTEN_PORT})`,
    );
  }
  return port;
}

function parseInteger(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new UsageError(`${flag} "${text}" must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** dog's -s: digits are a snapshot id, anything else a tag. */
function snapshotSelector(text: string | undefined): { tag?: string; snapid?: number } {
  if (text === undefined || text === '') return {};
  if (/^\d+$/.test(text)) return { snapid: Number(text) };
  return { tag: text };
}

/** Adds -a/--address and -p/--port (dog's flags) to a leaf command. */
function withAddress(command: Command): Command {
  return command
    .option('-a, --address <host>', 'sheep address', DEFAULT_HOST)
    .option('-p, --port <port>', 'sheep port', String(SD_LISTEN_PORT));
}

function endpointOf(options: AddressOptions): Endpoint {
  return { host: options.address, port: parsePort(options.port) };
}

/** " -a HOST -p PORT" when not the defaults, so hints can be pasted as they are. */
function addressFlags(endpoint: Endpoint): string {
  const host = endpoint.host === DEFAULT_HOST ? '' : ` -a ${endpoint.host}`;
  const port = endpoint.port === SD_LISTEN_PORT ? '' : ` -p ${endpoint.port}`;
  return `${host}${port}`;
}

function quoteArg(text: string): string {
  return /^[\w.@%+=:,/-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function snapshotWords(ctx: CommandContext): string {
  if (ctx.tag) return `snapshot "${ctx.tag}" of VDI "${ctx.name}"`;
  if (ctx.snapid) return `snapshot ${ctx.snapid} of VDI "${ctx.name}"`;
  return `VDI "${ctx.name}"`;
}

/** One line for the user: what failed and how to fix it. */
export function describeFailure(error: unknown, ctx: CommandContext): string {
  const where = endpointToString(ctx.endpoint);
  const flags = addressFlags(ctx.endpoint);
  const name = ctx.name === undefined ? '' : quoteArg(ctx.name);
  if (error instanceof SheepConnectionError) {
    if (error.kind === 'connect') {
      const code = error.errnoCode;
      const why = code === undefined || code === 'ECONNREFUSED' ? '' : `: ${code}`;
      return `cannot reach sheep at ${where}${why} (is it running? start one: collie sheep --store DIR --listen ${where})`;
    }
    return error.message;
  }
  if (error instanceof SheepResultError) {
    switch (error.result) {
      case SdRes.NO_VDI:
        return `VDI "${ctx.name}" not found on ${where} (create it: collie vdi create ${name} 10G${flags})`;
      case SdRes.NO_TAG:
        return `${snapshotWords(ctx)} not found on ${where} (list snapshots: collie vdi list ${name}${flags})`;
      case SdRes.VDI_EXIST:
        return `VDI "${ctx.name}" already exists on ${where} (choose another name, or delete it first: collie vdi delete ${name}${flags})`;
      case SdRes.READONLY:
        return `${snapshotWords(ctx)} is a snapshot on ${where} and read-only (write to the working VDI)`;
      case SdRes.WAIT_FOR_FORMAT:
      case SdRes.NOT_FORMATTED:
        return `sheep at ${where} is not formatted (format the cluster: dog cluster format)`;
      case SdRes.NO_SPACE:
        return `sheep at ${where} has no space left for ${snapshotWords(ctx)} (free space in its store)`;
      default:
        return error.message;
    }
  }
  if (
    error instanceof SheepAdminError ||
    error instanceof SizeSyntaxError ||
    error instanceof UsageError ||
    error instanceof BackendError
  ) {
    return error.message;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `unexpected failure against sheep at ${where}: ${message} (this is a bug in collie; please report it)`;
}

/** Opens a connection, runs `work`, closes; any failure becomes one stderr line and exit 1. */
async function runAgainstSheep(
  deps: VdiCliDeps,
  options: AddressOptions,
  ctxFields: Omit<CommandContext, 'endpoint'>,
  work: (conn: SheepConnection, ctx: CommandContext) => Promise<void>,
): Promise<void> {
  let ctx: CommandContext = { endpoint: { host: options.address, port: SD_LISTEN_PORT }, ...ctxFields };
  let conn: SheepConnection | undefined;
  try {
    ctx = { ...ctx, endpoint: endpointOf(options) };
    conn = await SheepConnection.open(deps.transport, ctx.endpoint, { clock: deps.clock });
    await work(conn, ctx);
  } catch (error) {
    deps.stderr.write(`${describeFailure(error, ctx)}\n`);
    deps.setExitCode(1);
  } finally {
    conn?.close();
  }
}

/** Writes to a stream and waits for 'drain' when it says its buffer is full. */
async function writeOut(stream: NodeJS.WritableStream, chunk: Buffer | string): Promise<void> {
  if (stream.write(chunk)) return;
  await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}

export function registerVdiCommands(program: Command, overrides: Partial<VdiCliDeps> = {}): void {
  let resolved: VdiCliDeps | undefined;
  // Built on first use, so registering the commands opens nothing.
  const deps = (): VdiCliDeps => {
    resolved ??= { ...defaultDeps(), ...overrides };
    return resolved;
  };
  const vdi = program
    .command('vdi')
    .description('create, list, read, write, snapshot and delete VDIs (like dog vdi)');

  withAddress(vdi.command('create').argument('<name>').argument('<size>', 'e.g. 10G, 512M, 4096'))
    .description('create a VDI')
    .option('-c, --copies <n>', 'copies (default: the cluster default)')
    .option(
      '-z, --block-size-shift <shift>',
      'object size as a power of two, 20..31 (default: the cluster default, 22)',
    )
    .action(async (name: string, sizeText: string, options: CreateOptions) => {
      await runAgainstSheep(deps(), options, { name }, async (conn) => {
        const sizeBytes = parseSizeBytes(sizeText, 'SIZE');
        const copies = options.copies === undefined ? 0 : parseInteger(options.copies, '-c/--copies', 1, 31);
        const shift =
          options.blockSizeShift === undefined
            ? 0
            : parseInteger(options.blockSizeShift, '-z/--block-size-shift', 20, 31);
        await newVdi(conn, { name, sizeBytes, copies, blockSizeShift: shift });
      });
    });

  withAddress(vdi.command('list').argument('[name]', 'only this VDI and its snapshots'))
    .description('list VDIs and snapshots')
    .option('-r, --raw', 'raw output: exact byte counts, Unix times, no header')
    .action(async (name: string | undefined, options: AddressOptions & { raw?: boolean }) => {
      await runAgainstSheep(deps(), options, name === undefined ? {} : { name }, async (conn) => {
        const entries = await listVdis(conn, { usage: true });
        const raw = options.raw === true;
        const lines = raw ? [] : [VDI_LIST_HEADER];
        for (const entry of entries) {
          if (name === undefined || entry.header.name === name) lines.push(formatVdiListRow(entry, raw));
        }
        await writeOut(deps().stdout, `${lines.join('\n')}${lines.length > 0 ? '\n' : ''}`);
      });
    });

  withAddress(vdi.command('delete').argument('<name>'))
    .description('delete a VDI or one of its snapshots')
    .option('-s, --snapshot <tag|id>', 'delete this snapshot instead of the working VDI')
    .action(async (name: string, options: AddressOptions & { snapshot?: string }) => {
      const target: VdiTarget = { name, ...snapshotSelector(options.snapshot) };
      await runAgainstSheep(deps(), options, target, async (conn) => {
        await deleteVdi(conn, target);
      });
    });

  withAddress(vdi.command('snapshot').argument('<name>'))
    .description('snapshot the working VDI')
    .option('-s, --snapshot <tag>', 'tag for the new snapshot')
    .action(async (name: string, options: AddressOptions & { snapshot?: string }) => {
      await runAgainstSheep(deps(), options, { name, tag: options.snapshot }, async (conn) => {
        await snapshotVdi(conn, { name, tag: options.snapshot ?? '' });
      });
    });

  withAddress(
    vdi
      .command('read')
      .argument('<name>')
      .argument('[offset]', 'byte offset (K/M/G/T suffixes)')
      .argument('[length]', 'bytes to read (default: to the end)'),
  )
    .description('read a VDI (or a snapshot) to stdout')
    .option('-s, --snapshot <tag|id>', 'read this snapshot')
    .addOption(noProgressOption())
    .action(
      async (
        name: string,
        offsetText: string | undefined,
        lengthText: string | undefined,
        options: SnapOptions & ProgressFlag,
      ) => {
        const target: VdiTarget = { name, ...snapshotSelector(options.snapshot) };
        await runAgainstSheep(deps(), options, target, async (conn) => {
          const offset = offsetText === undefined ? 0 : parseSizeBytes(offsetText, 'OFFSET');
          const lengthBytes = lengthText === undefined ? undefined : parseSizeBytes(lengthText, 'LEN');
          // Resolved here first so "not found" reads as every other command says it.
          await getVdiInfo(conn, target);
          const progress = progressLine(deps(), 'vdi read', options);
          try {
            await readVdi(conn, {
              ...target,
              offset,
              lengthBytes,
              onRange: (range) => progress.setTotal(range.lengthBytes),
              onData: async (chunk) => {
                await writeOut(deps().stdout, chunk);
                progress.add(chunk.length);
              },
            });
          } finally {
            progress.finish();
          }
        });
      },
    );

  withAddress(
    vdi
      .command('write')
      .argument('<name>')
      .argument('[offset]', 'byte offset (K/M/G/T suffixes)')
      .argument('[length]', 'bytes to write (default: all of stdin)'),
  )
    .description('write stdin into the working VDI')
    .addOption(noProgressOption())
    .action(
      async (
        name: string,
        offsetText: string | undefined,
        lengthText: string | undefined,
        options: AddressOptions & ProgressFlag,
      ) => {
        await runAgainstSheep(deps(), options, { name }, async (conn) => {
          const offset = offsetText === undefined ? 0 : parseSizeBytes(offsetText, 'OFFSET');
          const lengthBytes = lengthText === undefined ? undefined : parseSizeBytes(lengthText, 'LEN');
          await checkLocklessWrite(conn, name);
          const { stdin, stdinBytes } = deps();
          const progress = progressLine(deps(), 'vdi write', options);
          try {
            await writeVdi(conn, {
              name,
              offset,
              lengthBytes,
              // The range is clipped at the end of the VDI; without LEN, stdin's size bounds it.
              onRange: (range) => {
                const bound = lengthBytes === undefined ? stdinBytes : range.lengthBytes;
                if (bound !== undefined) progress.setTotal(Math.min(bound, range.lengthBytes));
              },
              data: counted(stdin, (bytes) => progress.add(bytes)),
            });
          } finally {
            progress.finish();
          }
        });
      },
    );

  const lock = vdi.command('lock').description('show or break VDI locks');

  withAddress(lock.command('list'))
    .description('list locked VDIs with their owner or shared-lock participants')
    .action(async (options: AddressOptions) => {
      await runAgainstSheep(deps(), options, {}, async (conn) => {
        const states = await getVdiCopies(conn);
        const names = new Map(
          (await listVdis(conn, { usage: false })).map((entry) => [entry.vid, entry.header.name]),
        );
        const lines = [LOCK_LIST_HEADER];
        for (const state of states) {
          if (state.lockState === LockState.UNLOCKED) continue;
          lines.push(formatLockRow(state, names.get(state.vid)));
        }
        await writeOut(deps().stdout, `${lines.join('\n')}\n`);
      });
    });

  withAddress(lock.command('unlock').argument('<name>'))
    .description("release a VDI's lock (a shared lock: this node's participation)")
    .action(async (name: string, options: AddressOptions) => {
      await runAgainstSheep(deps(), options, { name }, async (conn, ctx) => {
        await unlockByName(conn, ctx, name, deps().stderr);
      });
    });
}

interface CreateOptions extends AddressOptions {
  copies?: string;
  blockSizeShift?: string;
}

interface SnapOptions extends AddressOptions {
  snapshot?: string;
}

/** `--no-progress` (commander's negatable flag: true unless given). */
interface ProgressFlag {
  progress: boolean;
}

/** The progress line of `vdi read/write` on stderr: only on a terminal, and not with --no-progress. */
function progressLine(deps: VdiCliDeps, label: string, flags: ProgressFlag): Progress {
  return new Progress({
    label,
    unit: 'bytes',
    enabled: flags.progress,
    stream: deps.stderr,
    clock: deps.progressClock ?? deps.clock,
  });
}

/** `source` as it is, telling `onBytes` how many bytes each chunk has as it is taken. */
async function* counted(
  source: AsyncIterable<Buffer | string>,
  onBytes: (bytes: number) => void,
): AsyncGenerator<Buffer | string> {
  for await (const chunk of source) {
    onBytes(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length);
    yield chunk;
  }
}

/**
 * `vdi lock unlock NAME`, following dog (vdi-locks.ts releases): a name without a lock is an
 * error; a shared lock still held afterwards through other sheep nodes is reported with the
 * command to run against each, and is an error when nothing at all was released through this one.
 */
async function unlockByName(
  conn: SheepConnection,
  ctx: CommandContext,
  name: string,
  stderr: NodeJS.WritableStream,
): Promise<void> {
  const { locked, stillShared: after } = await releaseLocksNamed(conn, name);
  if (locked.length === 0) {
    throw new UsageError(
      `VDI "${name}" is not locked on ${conn.endpoint} (see: collie vdi lock list${addressFlags(ctx.endpoint)})`,
    );
  }
  const remaining = after.flatMap((s) => s.participants.map((p) => ({ state: s, node: p.node })));
  if (remaining.length === 0) return;
  const unchanged = after.every((s) => locked.some((l) => l.vid === s.vid && sameParticipants(l, s)));
  const hints = [...new Set(remaining.map((r) => r.node))].map((node) => {
    const endpoint = { host: node.host, port: node.port };
    return `collie vdi lock unlock ${quoteArg(name)}${addressFlags(endpoint) || ''}`;
  });
  const holders = after.map((s) => formatLockHolders(s)).join('; ');
  const message =
    `VDI "${name}" is still shared-locked by ${holders}; a shared lock is released only through the node that holds it ` +
    `(run: ${[...new Set(hints)].join(' ; ')})`;
  stderr.write(`${message}\n`);
  if (unchanged) throw new UsageError(`nothing was released through ${endpointToString(ctx.endpoint)}`);
}

function sameParticipants(a: VdiState, b: VdiState): boolean {
  const key = (s: VdiState) => s.participants.map((p) => nodeIdKey(p.node)).join(',');
  return key(a) === key(b);
}
