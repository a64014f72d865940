/**
 * A throw-away world for end-to-end tests of Collie's embedded store with real peers: one
 * `collie sheep` on a fresh store directory with one or more 4-digit endpoints (each endpoint is a
 * distinct sheep node for locks and coherence), one VDI created with `collie vdi create`, and any
 * number of targets, each exporting that VDI as LUN 1 of its own target through one endpoint: real
 * tgtds (bs_sheepdog) or `collie target` processes (Collie's own sheepdog client), in any mix.
 *
 * Rules:
 * - Everything a rig starts is its own: temp directory, ports, tgtd control channels, processes.
 *   dispose() stops the targets first (their RELEASE_VDI needs the store), then the store, then
 *   removes the directory, and it is bounded even when a target is wedged on a dead store.
 * - The store and every Collie target write their events to JSONL files in the rig's directory,
 *   and Collie targets log at debug level; diagnostics() quotes their tails for failure reports.
 * - The second client for cross-checks is `collie vdi read`, which talks to the store directly.
 * - Lock state is read with `collie vdi lock list` and parsed into endpoint -> participant state.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertCollieBuilt,
  COLLIE_BIN,
  type CollieVdiResult,
  collieVdi,
  type Endpoint,
  formatEndpoint,
  type SheepHandle,
  sheepdogBacking,
  startSheep,
  startTarget,
  type TargetHandle,
} from '../support/collie.js';
import { allocatePort, allocatePorts } from '../support/ports.js';
import { liveProcesses, runProcess } from '../support/processes.js';
import { Tgtd } from '../support/tgt.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** Sheepdog's default object size (block_size_shift 22). */
export const OBJECT_SIZE_BYTES = 4 * MiB;

const HOST = '127.0.0.1';
const TID = 1;
const LUN = 1;

export interface StoreRigOptions {
  /** Short label used in the temp directory and IQNs (letters, digits, '-'). */
  label: string;
  /** How many store endpoints (sheep nodes); default 1. */
  endpointCount?: number;
  /** Start the store with --no-lock (no locks, no coherence). */
  noLock?: boolean;
  vdiName?: string;
  vdiSizeBytes?: number;
}

export type TargetVendor = 'tgt' | 'collie';

/** One target exporting the rig's VDI as LUN 1 through one store endpoint. */
export interface TargetPath {
  readonly vendor: TargetVendor;
  readonly name: string;
  /** The store endpoint its sheepdog client talks to. */
  readonly endpoint: Endpoint;
  /** qemu-io URL of the LUN. */
  readonly url: string;
  /** SIGKILL, as a crash: the target releases nothing. Resolves once it has exited. */
  kill9(): Promise<void>;
}

/** A real tgtd with bstype sheepdog. */
export interface TgtPath extends TargetPath {
  readonly vendor: 'tgt';
  readonly tgtd: Tgtd;
}

/** A `collie target` whose LUN is Collie's SheepdogBackend. */
export interface ColliePath extends TargetPath {
  readonly vendor: 'collie';
  readonly target: TargetHandle;
  /** Its `--events` JSONL file. */
  readonly eventsFile: string;
}

/** A VDI's row in `collie vdi lock list`. */
export interface LockRow {
  name: string;
  /** Hexadecimal, as printed. */
  vid: string;
  /** 'none', 'normal' or 'shared'. */
  lock: string;
  /** "HOST:PORT" -> MODIFIED / SHARED / INVALIDATED (shared locks), or the owner -> 'owner'. */
  holders: Record<string, string>;
}

/** Lines of each log quoted by diagnostics(). */
const DIAGNOSTIC_LINES = 40;

export class StoreRig {
  private readonly tgtds: Tgtd[] = [];
  private readonly collieTargets: ColliePath[] = [];

  private constructor(
    readonly dir: string,
    readonly sheep: SheepHandle,
    readonly vdiName: string,
    readonly vdiSizeBytes: number,
    private readonly label: string,
  ) {}

  /** Starts the store, creates the VDI. On failure everything started so far is stopped. */
  static async start(options: StoreRigOptions): Promise<StoreRig> {
    const dir = await mkdtemp(join(tmpdir(), `collie-${options.label}-`));
    const ports = await allocatePorts(options.endpointCount ?? 1);
    let sheep: SheepHandle | undefined;
    try {
      sheep = await startSheep({
        storeDir: join(dir, 'store'),
        listen: ports.map((port) => ({ host: HOST, port })),
        noLock: options.noLock,
        eventsFile: join(dir, 'store-events.jsonl'),
      });
      const rig = new StoreRig(
        dir,
        sheep,
        options.vdiName ?? 'vol',
        options.vdiSizeBytes ?? 64 * MiB,
        options.label,
      );
      await rig.vdiOk(['create', rig.vdiName, String(rig.vdiSizeBytes)]);
      return rig;
    } catch (error) {
      await sheep?.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  get endpoints(): Endpoint[] {
    return this.sheep.endpoints;
  }

  /** True when the store runs with --no-lock (no locks, no coherence). */
  get noLock(): boolean {
    return this.sheep.options.noLock === true;
  }

  /** "HOST:PORT" of endpoint i, as `vdi lock list` prints participants. */
  endpointKey(index: number): string {
    return formatEndpoint(this.endpointAt(index));
  }

  private endpointAt(index: number): Endpoint {
    const endpoint = this.endpoints[index];
    if (!endpoint) throw new Error(`StoreRig: no endpoint ${index}; the rig has ${this.endpoints.length}`);
    return endpoint;
  }

  /** Starts a tgtd whose LUN 1 is the rig's VDI through endpoint endpointIndex. */
  async exportThrough(endpointIndex: number, name = `tgt${this.tgtds.length}`): Promise<TgtPath> {
    const endpoint = this.endpointAt(endpointIndex);
    const tgtd = await Tgtd.start();
    this.tgtds.push(tgtd); // stopped by dispose() even if the LUN cannot be added
    const iqn = `iqn.2026-11.test.collie:${this.label}-${name}`;
    await tgtd.createTarget(TID, iqn);
    await tgtd.addLun(TID, LUN, {
      bstype: 'sheepdog',
      backingStore: { host: endpoint.host, port: endpoint.port, vdi: this.vdiName },
    });
    return { vendor: 'tgt', name, tgtd, endpoint, url: tgtd.url(TID, LUN), kill9: () => tgtd.kill9() };
  }

  /**
   * Starts a `collie target` whose LUN 1 is the rig's VDI through endpoint endpointIndex; it
   * returns once the LUN is open (locked and loaded) and the portal listens.
   */
  async exportThroughCollie(
    endpointIndex: number,
    name = `collie${this.collieTargets.length}`,
  ): Promise<ColliePath> {
    const endpoint = this.endpointAt(endpointIndex);
    const eventsFile = join(this.dir, `${name}-events.jsonl`);
    const target = await startTarget({
      portal: { host: HOST, port: await allocatePort() },
      iqn: `iqn.2026-11.test.collie:${this.label}-${name}`,
      luns: [{ lun: LUN, backing: sheepdogBacking(endpoint, this.vdiName) }],
      eventsFile,
      logLevel: 'debug',
    });
    const path: ColliePath = {
      vendor: 'collie',
      name,
      target,
      endpoint,
      url: target.url(LUN),
      eventsFile,
      kill9: async () => {
        await target.kill9();
      },
    };
    this.collieTargets.push(path);
    return path;
  }

  /** A tgtd or a `collie target` exporting the VDI through endpoint endpointIndex. */
  exportVia(vendor: TargetVendor, endpointIndex: number, name?: string): Promise<TargetPath> {
    return vendor === 'tgt'
      ? this.exportThrough(endpointIndex, name)
      : this.exportThroughCollie(endpointIndex, name);
  }

  /** Runs `collie vdi ARGS -a HOST -p PORT` against endpoint endpointIndex (default 0). */
  vdi(
    args: readonly string[],
    options: { input?: Buffer; endpointIndex?: number } = {},
  ): Promise<CollieVdiResult> {
    const endpoint = this.endpointAt(options.endpointIndex ?? 0);
    return collieVdi([...args, '-a', endpoint.host, '-p', String(endpoint.port)], { input: options.input });
  }

  /** Like vdi(), but throws with stderr unless the command exited 0. */
  async vdiOk(
    args: readonly string[],
    options: { input?: Buffer; endpointIndex?: number } = {},
  ): Promise<Buffer> {
    const result = await this.vdi(args, options);
    if (result.exitCode !== 0) {
      throw new Error(`collie vdi ${args.join(' ')} exited ${result.exitCode}: ${result.stderr.trim()}`);
    }
    return result.stdout;
  }

  /** `collie vdi read [-s TAG] VDI OFF LEN`: the bytes, exactly length of them. */
  async readVdi(offset: number, length: number, snapshotTag?: string): Promise<Buffer> {
    const snapshot = snapshotTag === undefined ? [] : ['-s', snapshotTag];
    const bytes = await this.vdiOk(['read', ...snapshot, this.vdiName, String(offset), String(length)]);
    if (bytes.length !== length) {
      throw new Error(`collie vdi read ${this.vdiName} ${offset} ${length} returned ${bytes.length} bytes`);
    }
    return bytes;
  }

  /**
   * `collie vdi read VDI OFF LEN` through a file, for large ranges: the harness splits a child's
   * stdout into lines, which is quadratic on megabytes of binary without newlines.
   */
  async readVdiViaFile(offset: number, length: number): Promise<Buffer> {
    assertCollieBuilt();
    const endpoint = this.endpointAt(0);
    const file = join(this.dir, `read-${offset}-${length}.bin`);
    const args = ['vdi', 'read', this.vdiName, String(offset), String(length)];
    const run = await runProcess(
      'sh',
      [
        '-c',
        'out="$1"; shift; exec "$@" > "$out"',
        'sh',
        file,
        process.execPath,
        COLLIE_BIN,
        ...args,
        '-a',
        endpoint.host,
        '-p',
        String(endpoint.port),
      ],
      { name: `collie ${args.join(' ')} > ${file}`, timeoutMs: 60_000 },
    );
    if (run.exitCode !== 0) {
      throw new Error(
        `collie ${args.join(' ')} exited ${run.exitCode ?? run.signal}: ${run.stderr.toString().trim()}`,
      );
    }
    const bytes = await readFile(file);
    await rm(file, { force: true });
    if (bytes.length !== length) {
      throw new Error(`collie vdi read ${this.vdiName} ${offset} ${length} returned ${bytes.length} bytes`);
    }
    return bytes;
  }

  /** The working VDI's vid and each snapshot's vid by tag, hexadecimal as printed (`vdi list -r`). */
  async vids(name = this.vdiName): Promise<{ working: string | undefined; byTag: Record<string, string> }> {
    const text = (await this.vdiOk(['list', '-r', name])).toString();
    let working: string | undefined;
    const byTag: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const match = /^([=sc]) \S+ \d+ \d+ \d+ \d+ \d+ ([0-9a-f]+) \S+ (\S*) \d+$/.exec(line);
      if (!match) continue;
      const [, marker = '', vid = '', tag = ''] = match;
      if (marker === '=') working = vid;
      else if (tag) byTag[tag] = vid;
    }
    return { working, byTag };
  }

  /** Shared-lock participants of the VDI with vid (hexadecimal): endpoint key -> state ({} when unlocked). */
  async participantsOfVid(vid: string): Promise<Record<string, string>> {
    return (await this.lockRows()).find((row) => row.vid === vid)?.holders ?? {};
  }

  /**
   * The last lines of the store's events and of each Collie target's events and output, for a
   * failure report (call it before dispose(), which removes the files).
   */
  diagnostics(): string {
    const tail = (file: string) =>
      existsSync(file)
        ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-DIAGNOSTIC_LINES)
        : ['(no file)'];
    const sections = [
      `store events (${this.dir}/store-events.jsonl):`,
      ...tail(join(this.dir, 'store-events.jsonl')),
    ];
    for (const path of this.collieTargets) {
      sections.push(`collie target ${path.name} events (${path.eventsFile}):`, ...tail(path.eventsFile));
      sections.push(`collie target ${path.name} output:`, path.target.process.describeTail(DIAGNOSTIC_LINES));
    }
    return sections.join('\n');
  }

  /** Every row of `collie vdi lock list` (a VDI and its snapshots share a name, not a vid). */
  async lockRows(): Promise<LockRow[]> {
    const text = (await this.vdiOk(['lock', 'list'])).toString();
    const rows: LockRow[] = [];
    for (const line of text.split('\n').slice(1)) {
      const match = /^(\S+)\s+([0-9a-f]+)\s+(\S+)\s+(.*)$/.exec(line);
      if (!match) continue;
      const [, name = '', vid = '', lock = '', rest = ''] = match;
      const holders: Record<string, string> = {};
      for (const [, node = '', state = ''] of rest.matchAll(/(\S+) \((\w+)\)/g)) holders[node] = state;
      if (lock === 'normal' && rest !== '-') holders[rest] = 'owner';
      rows.push({ name, vid, lock, holders });
    }
    return rows;
  }

  /** The first lock-list row named name (default: the rig's VDI), or undefined when none is locked. */
  async lockRow(name = this.vdiName): Promise<LockRow | undefined> {
    return (await this.lockRows()).find((row) => row.name === name);
  }

  /** Shared-lock participants of the VDI: endpoint key -> state ({} when unlocked). */
  async participants(name = this.vdiName): Promise<Record<string, string>> {
    return (await this.lockRow(name))?.holders ?? {};
  }

  /**
   * Stops every target (tgtd: deleting targets releases their locks; collie: SIGTERM closes its
   * LUNs; both bounded, SIGKILL after it), then the store, then removes the directory. Throws if
   * a process started by this test is still alive.
   */
  async dispose(): Promise<void> {
    await Promise.all([
      ...this.tgtds.map((tgtd) => tgtd.stop({ graceMs: 5_000 }).catch(() => undefined)),
      ...this.collieTargets.map((path) => path.target.stop(5_000).catch(() => undefined)),
    ]);
    await this.sheep.stop(5_000).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
    const left = liveProcesses().map((child) => `${child.name} (pid ${child.pid})`);
    if (left.length > 0) throw new Error(`processes left behind after the test: ${left.join(', ')}`);
  }
}

/** length bytes of value. */
export function filled(value: number, length: number): Buffer {
  return Buffer.alloc(length, value);
}

/** A short description of where two buffers first differ, for assertion messages. */
export function firstDifference(actual: Buffer, expected: Buffer): string {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  const at = actual.findIndex((byte, index) => byte !== expected[index]);
  if (at < 0) return 'equal';
  return `first difference at +${at}: 0x${actual[at]?.toString(16)} instead of 0x${expected[at]?.toString(16)}`;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
