/**
 * The active/active run of issue 8 as steps any pair of targets can run: targets A and B export
 * one VDI through two store endpoints; two qemu-io processes start together, A's writing
 * `aio_write -P 0xa1` at base + k·4 MiB and B's `aio_write -P 0xb2` at base + k·4 MiB + 2 MiB
 * (64 KiB each, k = 0..63, so every one of the 64 objects gets one range from each writer, and
 * none of them is allocated yet), then `aio_flush`. Every write must be acknowledged; the
 * acknowledged ranges (all 128 when all were) are read back and verified through each target
 * (256 range reads per round).
 *
 * A round owns the 256 MiB area [base, base + 256 MiB): rounds on one VDI use disjoint areas, so
 * each starts on unallocated objects while both targets stay open.
 *
 * Failure reports name the failed ranges per target and, for the first few, what the store
 * itself holds there (`collie vdi read`): zeros in the store mean the range was lost (a later
 * CREATE replaced the object); the right bytes in the store mean a target served a stale view.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { assertCollieBuilt, COLLIE_BIN, REPO_ROOT } from '../support/collie.js';
import { runProcess } from '../support/processes.js';
import {
  type PatternRange,
  type RangesCheck,
  type RangesWriteStream,
  readRanges,
  startWriteRangesAio,
  writeRangesAio,
} from '../support/qemu-io.js';
import { type CollieEvent, eventsFileOf } from './multipath-failover-steps.js';
import {
  type ColliePath,
  KiB,
  MiB,
  OBJECT_SIZE_BYTES,
  type StoreRig,
  sleep,
  type TargetPath,
} from './sheep-store-rig.js';

export const A_PATTERN = 0xa1;
export const B_PATTERN = 0xb2;
export const RANGE_BYTES = 64 * KiB;
/** k = 0..63: one range of each writer in each of 64 objects. */
export const OBJECTS_PER_ROUND = 64;
/** The area one round writes into. */
export const ROUND_AREA_BYTES = OBJECTS_PER_ROUND * OBJECT_SIZE_BYTES;
/** B's range starts this far into each object. */
const B_OFFSET_IN_OBJECT = 2 * MiB;
/** Failed ranges whose store bytes a failure report quotes. */
const STORE_SAMPLES = 4;
/** Reading 128 ranges, or 64 writes in flight over iSCSI, is far below this. */
const QEMU_IO_TIMEOUT_MS = 40_000;

export interface WriterRanges {
  a: PatternRange[];
  b: PatternRange[];
}

/** The ranges of one round in the area starting at base (a multiple of 4 MiB). */
export function twoWriterRanges(base: number): WriterRanges {
  const objects = Array.from({ length: OBJECTS_PER_ROUND }, (_, k) => base + k * OBJECT_SIZE_BYTES);
  return {
    a: objects.map((offset) => ({ pattern: A_PATTERN, offset, length: RANGE_BYTES })),
    b: objects.map((offset) => ({
      pattern: B_PATTERN,
      offset: offset + B_OFFSET_IN_OBJECT,
      length: RANGE_BYTES,
    })),
  };
}

/** Every range of both writers, in offset order. */
export function allRanges(ranges: WriterRanges): PatternRange[] {
  return [...ranges.a, ...ranges.b].sort((x, y) => x.offset - y.offset);
}

/** What both writers' runs got acknowledged. */
export interface WriteOutcome {
  /** Ranges reported written (the ones a read-back must find), in offset order. */
  acknowledged: PatternRange[];
  /** Writes not reported written (failed, e.g. COMMAND ABORTED, or never completed). */
  unacknowledged: number;
  /** Every write issued. */
  total: number;
  /** Empty when both runs were clean (exit 0, no error line, every write reported). */
  report: string;
}

/** Sums up both runs: acknowledged ranges, and a report of each unclean run. */
export function writeOutcome(
  paths: { a: TargetPath; b: TargetPath },
  wrote: { a: RangesCheck; b: RangesCheck },
  ranges: WriterRanges,
): WriteOutcome {
  const reports: string[] = [];
  const acknowledged: PatternRange[] = [];
  for (const side of ['a', 'b'] as const) {
    const check = wrote[side];
    if (!check.ok) reports.push(`writes through ${paths[side].name}: ${check.output}`);
    const failed = new Set(check.failed);
    acknowledged.push(...ranges[side].filter((range) => !failed.has(range)));
  }
  const total = ranges.a.length + ranges.b.length;
  return {
    acknowledged: acknowledged.sort((x, y) => x.offset - y.offset),
    unacknowledged: total - acknowledged.length,
    total,
    report: reports.join('\n'),
  };
}

/** Starts both writers' qemu-io at once and waits for both. */
export async function writeTogether(
  a: TargetPath,
  b: TargetPath,
  ranges: WriterRanges,
): Promise<WriteOutcome> {
  const [wroteA, wroteB] = await Promise.all([
    writeRangesAio(a.url, ranges.a, { timeoutMs: QEMU_IO_TIMEOUT_MS }),
    writeRangesAio(b.url, ranges.b, { timeoutMs: QEMU_IO_TIMEOUT_MS }),
  ]);
  return writeOutcome({ a, b }, { a: wroteA, b: wroteB }, ranges);
}

/** Both writers' runs as streams, started at once, for tests that act while they are in flight. */
export function startTogether(
  a: TargetPath,
  b: TargetPath,
  ranges: WriterRanges,
): { a: RangesWriteStream; b: RangesWriteStream } {
  return { a: startWriteRangesAio(a.url, ranges.a), b: startWriteRangesAio(b.url, ranges.b) };
}

/** The size of each Collie target's event file now: the marks sendingCreates reads from. */
export async function eventMarks(paths: readonly TargetPath[]): Promise<number[]> {
  return Promise.all(paths.map(async (path) => (await readFileOrEmpty(eventsFileOf(path))).length));
}

/** The size of the store's event file now: the mark storeEventsSince reads from. */
export async function storeEventMark(rig: StoreRig): Promise<number> {
  return (await readFileOrEmpty(storeEventsFile(rig))).length;
}

/** The store's events after mark (a byte offset). */
export function storeEventsSince(rig: StoreRig, mark = 0): Promise<CollieEvent[]> {
  return eventsSince(storeEventsFile(rig), mark);
}

function storeEventsFile(rig: StoreRig): string {
  return join(rig.dir, 'store-events.jsonl');
}

async function readFileOrEmpty(file: string): Promise<Buffer> {
  return readFile(file).catch(() => Buffer.alloc(0));
}

/**
 * The events of a JSONL event file after mark (a byte offset), complete lines only: the file is
 * written through a stream, so its last line may be half written while its writer is busy.
 */
async function eventsSince(file: string, mark: number): Promise<CollieEvent[]> {
  const text = (await readFileOrEmpty(file)).subarray(mark).toString('utf8');
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as CollieEvent);
}

/** The store's event time (ms, wall clock) of the snapshot tagged tag, if it logged one. */
export async function snapshotEventTime(rig: StoreRig, tag: string): Promise<number | undefined> {
  const event = (await storeEventsSince(rig)).find(
    (candidate) => candidate.type === 'vdi.snapshotted' && candidate.data.tag === tag,
  );
  const time = (event as { t?: unknown } | undefined)?.t;
  return typeof time === 'number' ? time : undefined;
}

/**
 * A CREATE that found its object already allocated (`store.create_of_existing`, logged by a store
 * that turns such a CREATE into a write): the two-writer race happened.
 */
export const isCreateOfExisting = (event: CollieEvent) => event.type === 'store.create_of_existing';

/** An LU write about to send an object round (the shared cell's own IO, purpose "cell", is not the LU's). */
const isLuWriteSend = (event: CollieEvent) =>
  event.type === 'io.transition' &&
  event.data.event === 'SEND' &&
  event.data.op === 'write' &&
  event.data.purpose === undefined;

/** The same, for a round that creates (or copies) objects: an allocation has begun. */
const isCreatingSend = (event: CollieEvent) => isLuWriteSend(event) && Number(event.data.creates) > 0;

/**
 * Waits (bounded) until every Collie target has logged, after its mark (eventMarks), an LU write
 * on the wire, and at least one of them an allocating one: both are then writing, with allocations
 * (and their inode updates) in flight. Both usually allocate; but the targets race for the same
 * unallocated objects, so one may find every object of its range already created by the other and
 * never send a CREATE (it then writes into them). Says which happened.
 */
export async function sendingCreates(
  paths: readonly TargetPath[],
  marks: readonly number[],
  timeoutMs = 20_000,
): Promise<string> {
  const deadlineMs = Date.now() + timeoutMs;
  for (;;) {
    const seen = await Promise.all(
      paths.map(async (path, index) => {
        const events = await eventsSince(eventsFileOf(path), marks[index] ?? 0);
        return { writing: events.some(isLuWriteSend), creating: events.some(isCreatingSend) };
      }),
    );
    if (seen.every((s) => s.writing) && seen.some((s) => s.creating)) {
      const writingOnly = paths.filter((_, index) => !seen[index]!.creating).map((path) => path.name);
      return writingOnly.length === 0
        ? 'both allocating'
        : `${writingOnly.join(', ')} writing into objects the other had created`;
    }
    if (Date.now() >= deadlineMs) {
      const describe = (index: number) =>
        seen[index]!.creating
          ? 'allocating'
          : seen[index]!.writing
            ? 'writing, not allocating'
            : 'no LU write sent';
      throw new Error(
        `the targets were not both writing (and one allocating) within ${timeoutMs} ms: ` +
          paths.map((path, index) => `${path.name}: ${describe(index)}`).join('; '),
      );
    }
    await sleep(5);
  }
}

/**
 * Waits (bounded) until each run has reported an acknowledged write (or ended): both targets are
 * then writing, some of their writes acknowledged, the rest (usually) still in flight.
 */
export async function acknowledging(
  runs: { a: RangesWriteStream; b: RangesWriteStream },
  timeoutMs = 20_000,
): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  const started = (run: RangesWriteStream) => run.acknowledgedSoFar().length > 0 || run.stream.process.exited;
  while (!started(runs.a) || !started(runs.b)) {
    if (Date.now() >= deadlineMs) {
      throw new Error(
        `the writers did not both report a write within ${timeoutMs} ms; A:\n${runs.a.stream.process.describeTail()}\n` +
          `B:\n${runs.b.stream.process.describeTail()}`,
      );
    }
    await sleep(5);
  }
}

/**
 * How a round times its snapshot against the two writers:
 * - 'allocating': the targets are SIGSTOPped once both log an IO sending CREATEs, and continued
 *   once the snapshot answered: every write is in flight across it, and the inode updates of the
 *   CREATEs the store already ran reach a vid that became a snapshot;
 * - 'acknowledging': the same, stopped once both runs reported a write, so the snapshot must
 *   hold the writes acknowledged before it;
 * - 'running': nothing is stopped; the snapshot command is launched so that, by the timings the
 *   earlier rounds measured (CLI start to snapshot, writers' start to their first CREATE and to
 *   their first acknowledgement), the store takes it amid the allocations. Where it landed is
 *   reported, never asserted.
 */
export type SnapshotTiming = 'allocating' | 'acknowledging' | 'running';

/** Timings measured by earlier rounds, in ms (see SnapshotTiming). */
export interface SnapshotCalibration {
  /** Launch of `collie vdi snapshot` to the store's vdi.snapshotted event. */
  cliMs: number[];
  /** Writers' start to both targets sending CREATEs. */
  allocatingMs: number[];
  /** Writers' start to both runs having reported a write. */
  acknowledgingMs: number[];
}

export interface SnapshotRound {
  runs: { a: RangesWriteStream; b: RangesWriteStream };
  /** Offsets reported written before the snapshot was asked for: the snapshot must hold them. */
  ackedBefore: Set<number>;
  /** Where the snapshot landed, for the round's line. */
  timing: string;
}

const mean = (values: readonly number[]) =>
  values.length === 0 ? undefined : values.reduce((sum, value) => sum + value, 0) / values.length;

/** Runs both writers (started together) and takes snapshot tag through endpointIndex as when says. */
export async function writeWithSnapshot(
  rig: StoreRig,
  pair: { a: TargetPath; b: TargetPath },
  ranges: WriterRanges,
  { when, endpointIndex, tag }: { when: SnapshotTiming; endpointIndex: number; tag: string },
  calibration: SnapshotCalibration,
): Promise<SnapshotRound> {
  const snapshot = async () => {
    const launchedMs = Date.now();
    await rig.vdiOk(['snapshot', '-s', tag, rig.vdiName], { endpointIndex });
    const atMs = await snapshotEventTime(rig, tag);
    if (atMs !== undefined) calibration.cliMs.push(atMs - launchedMs);
    return atMs ?? Date.now();
  };
  const progress = (runs: SnapshotRound['runs'], counts: (run: RangesWriteStream) => number) =>
    `A ${counts(runs.a)}/${OBJECTS_PER_ROUND}, B ${counts(runs.b)}/${OBJECTS_PER_ROUND}`;
  const marks = await eventMarks([pair.a, pair.b]);

  if (when === 'running') {
    const aimMs = mean(
      [mean(calibration.allocatingMs), mean(calibration.acknowledgingMs)].flatMap((v) => v ?? []),
    );
    const leadMs = Math.round((mean(calibration.cliMs) ?? 0) - (aimMs ?? 0));
    let snapshotting: Promise<number>;
    let runs: SnapshotRound['runs'];
    if (leadMs >= 0) {
      snapshotting = snapshot();
      snapshotting.catch(() => undefined); // awaited below; not unhandled while we sleep
      await sleep(leadMs);
      runs = startTogether(pair.a, pair.b, ranges);
    } else {
      runs = startTogether(pair.a, pair.b, ranges);
      await sleep(-leadMs);
      snapshotting = snapshot();
    }
    const atMs = await snapshotting;
    const before = (run: RangesWriteStream) => run.acknowledgedAt().filter((ack) => ack.atMs <= atMs).length;
    const asked = `${Math.abs(leadMs)} ms ${leadMs >= 0 ? 'before' : 'after'} the writers started`;
    return {
      runs,
      ackedBefore: new Set(),
      timing: `asked for ${asked}, taken with at most ${progress(runs, before)} writes acknowledged`,
    };
  }

  const startedMs = Date.now();
  const runs = startTogether(pair.a, pair.b, ranges);
  let stoppedWhen: string = when;
  if (when === 'allocating') {
    stoppedWhen = `allocating (${await sendingCreates([pair.a, pair.b], marks)})`;
    calibration.allocatingMs.push(Date.now() - startedMs);
  } else {
    await acknowledging(runs);
    calibration.acknowledgingMs.push(Date.now() - startedMs);
  }
  // Both targets are stopped from before the snapshot is asked for until it has answered, so both
  // runs are in flight across it, whatever the speed of the machine.
  return whileStopped([pair.a, pair.b], async () => {
    const ackedBefore = new Set([...runs.a.acknowledgedSoFar(), ...runs.b.acknowledgedSoFar()]);
    const atStop = progress(runs, (run) => run.acknowledgedSoFar().length);
    await snapshot();
    return {
      runs,
      ackedBefore,
      timing: `taken with ${atStop} writes acknowledged, the targets stopped once ${stoppedWhen}`,
    };
  });
}

/**
 * SIGSTOPs the Collie targets, runs action, and SIGCONTs them (also when action throws). Requests
 * a stopped target has not sent or whose answers it has not read stay in flight meanwhile: a
 * qemu-io run through it cannot complete while action runs.
 */
export async function whileStopped<T>(paths: readonly TargetPath[], action: () => Promise<T>): Promise<T> {
  const targets = paths.map((path) => {
    if (path.vendor !== 'collie') throw new Error(`whileStopped: ${path.name} is not a collie target`);
    return (path as ColliePath).target;
  });
  for (const target of targets) target.kill('SIGSTOP');
  try {
    return await action();
  } finally {
    for (const target of targets) target.kill('SIGCONT');
  }
}

export interface ReadBack {
  /** Range reads that failed verification (or did not complete), over all paths. */
  failedReads: number;
  /** Range reads done: ranges × paths. */
  totalReads: number;
  /** One block per path that had failures, plus store samples: the assertion message. */
  report: string;
}

/** Reads and verifies every range through each path (one qemu-io per path, one after the other). */
export async function readBackThrough(
  rig: StoreRig,
  paths: readonly TargetPath[],
  ranges: readonly PatternRange[],
): Promise<ReadBack> {
  let failedReads = 0;
  const blocks: string[] = [];
  const failedOffsets = new Map<number, PatternRange>();
  for (const path of paths) {
    const read = await readRanges(path.url, ranges, { timeoutMs: QEMU_IO_TIMEOUT_MS });
    // A read that errored names no offset: count it as failed with every range it did not report.
    failedReads += read.failed.length;
    if (!read.ok) blocks.push(`through ${path.name}: ${read.output}`);
    for (const range of read.failed) failedOffsets.set(range.offset, range);
  }
  if (failedOffsets.size > 0) blocks.push(await describeStore(rig, [...failedOffsets.values()]));
  return { failedReads, totalReads: ranges.length * paths.length, report: blocks.join('\n') };
}

/** What the store holds in the first few of ranges (`collie vdi read`), one line each. */
export async function describeStore(
  rig: StoreRig,
  ranges: readonly PatternRange[],
  tag?: string,
): Promise<string> {
  const lines = [`store bytes (collie vdi read${tag === undefined ? '' : ` -s ${tag}`}) of failed ranges:`];
  for (const range of ranges.slice(0, STORE_SAMPLES)) {
    const expected = `0x${range.pattern.toString(16)}`;
    try {
      const bytes = await rig.readVdi(range.offset, range.length, tag);
      lines.push(`  ${range.offset} (expected ${expected}): ${describeBytes(bytes)}`);
    } catch (error) {
      lines.push(`  ${range.offset} (expected ${expected}): ${(error as Error).message}`);
    }
  }
  if (ranges.length > STORE_SAMPLES) lines.push(`  ... ${ranges.length - STORE_SAMPLES} more not sampled`);
  return lines.join('\n');
}

/** Run-length summary of bytes, e.g. "65536 x 0x00" or "32768 x 0xa1, 32768 x 0x00". */
export function describeBytes(bytes: Buffer): string {
  const runs: string[] = [];
  let start = 0;
  for (let i = 1; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] === bytes[start]) continue;
    runs.push(`${i - start} x 0x${(bytes[start] ?? 0).toString(16).padStart(2, '0')}`);
    start = i;
  }
  return runs.length > 6 ? `${runs.slice(0, 6).join(', ')}, ... (${runs.length} runs)` : runs.join(', ');
}

/** `collie vdi write NAME OFFSET LEN < FILE` (the rig's VDI) through endpoint endpointIndex. */
export async function vdiWriteFromFile(
  rig: StoreRig,
  offset: number,
  data: Buffer,
  endpointIndex: number,
): Promise<void> {
  assertCollieBuilt();
  const endpoint = rig.endpoints[endpointIndex];
  if (!endpoint) throw new Error(`vdiWriteFromFile: the rig has no endpoint ${endpointIndex}`);
  const file = join(rig.dir, `vdi-write-${offset}.bin`);
  await writeFile(file, data);
  const args = ['vdi', 'write', rig.vdiName, String(offset), String(data.length)];
  const address = ['-a', endpoint.host, '-p', String(endpoint.port)];
  const run = await runProcess(
    'sh',
    [
      '-c',
      'in="$1"; shift; exec "$@" < "$in"',
      'sh',
      file,
      process.execPath,
      COLLIE_BIN,
      ...args,
      ...address,
    ],
    { name: `collie ${args.join(' ')} < ${file}`, cwd: REPO_ROOT, timeoutMs: 30_000 },
  );
  expect(
    run.exitCode,
    `collie ${args.join(' ')} ${address.join(' ')} < ${file}: ${run.stderr.toString().trim()}`,
  ).toBe(0);
}

/**
 * `collie vdi read [-s TAG] NAME OFFSET LEN > FILE`: the bytes, through a file (the harness
 * splits a child's stdout into lines, which is slow on megabytes of binary).
 */
export async function readVdiViaFile(
  rig: StoreRig,
  offset: number,
  length: number,
  tag?: string,
): Promise<Buffer> {
  assertCollieBuilt();
  const endpoint = rig.endpoints[0];
  if (!endpoint) throw new Error('readVdiViaFile: the rig has no endpoint');
  const file = join(rig.dir, `read-${tag ?? 'working'}-${offset}-${length}.bin`);
  const args = [
    'vdi',
    'read',
    ...(tag === undefined ? [] : ['-s', tag]),
    rig.vdiName,
    String(offset),
    String(length),
    '-a',
    endpoint.host,
    '-p',
    String(endpoint.port),
  ];
  const run = await runProcess(
    'sh',
    ['-c', 'out="$1"; shift; exec "$@" > "$out"', 'sh', file, process.execPath, COLLIE_BIN, ...args],
    { name: `collie ${args.join(' ')} > ${file}`, cwd: REPO_ROOT, timeoutMs: 60_000 },
  );
  if (run.exitCode !== 0) {
    throw new Error(
      `collie ${args.join(' ')} exited ${run.exitCode ?? run.signal}: ${run.stderr.toString().trim()}`,
    );
  }
  const bytes = await readFile(file);
  await rm(file, { force: true });
  if (bytes.length !== length) throw new Error(`collie ${args.join(' ')} returned ${bytes.length} bytes`);
  return bytes;
}

/** The ranges whose bytes in span (read from spanOffset) are not their pattern. */
export function rangesNotIn(
  span: Buffer,
  spanOffset: number,
  ranges: readonly PatternRange[],
): PatternRange[] {
  return ranges.filter((range) => {
    const start = range.offset - spanOffset;
    const bytes = span.subarray(start, start + range.length);
    return bytes.length !== range.length || bytes.some((byte) => byte !== range.pattern);
  });
}

/** Objects of a round whose snapshot bytes a check reads (each is one `collie vdi read` process). */
const SNAPSHOT_SAMPLE_OBJECTS = 3;

/**
 * Of ranges (writes acknowledged before snapshot tag was asked for, so the snapshot must hold
 * them), checks those in the first, a middle and the last of their objects, reading each object's
 * span once through `collie vdi read -s TAG`: checked ranges and those the snapshot misses.
 */
export async function snapshotMisses(
  rig: StoreRig,
  tag: string,
  ranges: readonly PatternRange[],
): Promise<{ checked: PatternRange[]; missing: PatternRange[] }> {
  const byObject = new Map<number, PatternRange[]>();
  for (const range of ranges) {
    const object = Math.floor(range.offset / OBJECT_SIZE_BYTES);
    byObject.set(object, [...(byObject.get(object) ?? []), range]);
  }
  const objects = [...byObject.keys()].sort((x, y) => x - y);
  const picked = [...new Set([objects[0], objects[Math.floor(objects.length / 2)], objects.at(-1)])]
    .filter((object): object is number => object !== undefined)
    .slice(0, SNAPSHOT_SAMPLE_OBJECTS);
  const checked: PatternRange[] = [];
  const missing: PatternRange[] = [];
  for (const object of picked) {
    const inObject = byObject.get(object) ?? [];
    const start = object * OBJECT_SIZE_BYTES;
    const end = Math.max(...inObject.map((range) => range.offset + range.length));
    const span = await readVdiViaFile(rig, start, end - start, tag);
    checked.push(...inObject);
    missing.push(...rangesNotIn(span, start, inObject));
  }
  return { checked, missing };
}
