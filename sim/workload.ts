/**
 * What the simulated hosts do with their multipath devices: single-block reads and writes of
 * stamped blocks (checkers/write-stamps.ts) over a small set of LBAs, so every path and every
 * target keeps meeting on the same sheep objects, and new objects get allocated through all of
 * them. Every operation is recorded twice: in the event log (`workload.invoked`,
 * `workload.completed`) and in the History the checkers read. Clients that are not multipath
 * devices (a lock-less writer, a DISCARD) are recorded the same way (recordWrite, recordZeroing).
 *
 * Times given to the register checker are Instants of events (instantOf): the event's sequence
 * number, an integer and a total order that respects causality even inside one virtual
 * millisecond (many operations start and end in the same ms), and its virtual ms for messages.
 *
 * A write whose outcome is unknown (the device failed it: no path, an IO error, closed) stays
 * open in the checker: it may land at any time after its invocation, or never. A write the LU
 * refused in its only attempt (RESERVATION CONFLICT) is `refused`: the checker holds that it
 * never lands. A read that failed says nothing about the register (the liveness check in run.ts
 * judges it); a read that returned bytes nobody wrote is "garbage".
 *
 * COMPARE AND WRITE (`caw`) writes a stamped block if the block holds the stamp it expects:
 * GOOD is an acknowledged write that follows the compared value (and its compare a read of it);
 * MISCOMPARE in a single attempt is `refused`; MISCOMPARE after an attempt whose answer was lost
 * leaves the write open (the lost attempt may have written it: field scenario 5).
 */

import type { LogEvent } from '../src/core/event.js';
import type { EventLog } from '../src/core/event-log.js';
import type { Rng } from '../src/core/rng.js';
import { sleepMs } from '../src/core/sleep.js';
import type { VirtualClock } from '../src/core/virtual-clock.js';
import { BlockRegisterChecker, INITIAL_STAMP, type Instant } from './checkers/block-register-checker.js';
import { decodeBlock, stampBlock } from './checkers/write-stamps.js';
import { type MultipathDevice, MultipathError } from './multipath/multipath-device.js';

export type { Instant } from './checkers/block-register-checker.js';
export type OpKind = 'read' | 'write' | 'caw';
/** refused: the LU answered that it did not do it (RESERVATION CONFLICT, MISCOMPARE). */
export type OpOutcome = 'ok' | 'failed' | 'garbage' | 'refused';

export interface OpRecord {
  readonly id: number;
  readonly client: string;
  readonly kind: OpKind;
  readonly block: number;
  /** The write's stamp; for a completed read, the stamp it found. */
  stamp: string | undefined;
  /** A write of zeros (a DISCARD) rather than of a stamped block. */
  readonly zeros?: boolean;
  /** Its `workload.invoked` event: `.seq` orders it, `.ms` is for messages. */
  readonly invokedAt: Instant;
  /** Its `workload.completed` event, once completed. */
  completedAt: Instant | undefined;
  outcome: OpOutcome | undefined;
  path: string | undefined;
  error: string | undefined;
  /** COMPARE AND WRITE: the stamp it compared against, and the LU's answer once known. */
  readonly caw?: { readonly compared: string; answer: 'good' | 'miscompare' | undefined };
  /** The device's answer came after an attempt whose outcome is unknown (a lost answer). */
  uncertain?: boolean;
}

/** An event's place in the run: its sequence number (the order) and virtual ms (messages). */
export function instantOf(event: LogEvent): Instant {
  return { seq: event.seq, ms: event.t };
}

/** "Name: message" of an error an outside client's run rejected with. */
export type DescribeFailure = (error: unknown) => string;

const describeAnyError: DescribeFailure = (error) => {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  throw error;
};

export class History {
  readonly checker = new BlockRegisterChecker();
  readonly ops: OpRecord[] = [];
  readonly #eventLog: EventLog;
  readonly #writesByClient = new Map<string, number>();

  constructor(eventLog: EventLog) {
    this.#eventLog = eventLog;
  }

  /** Operations invoked and not completed yet. */
  get pendingCount(): number {
    return this.ops.filter((op) => op.outcome === undefined).length;
  }

  get completedCount(): number {
    return this.ops.length - this.pendingCount;
  }

  opById(id: number): OpRecord | undefined {
    return this.ops[id - 1];
  }

  /** The write that put `stamp` there. */
  writeOf(stamp: string): OpRecord | undefined {
    return this.ops.find((op) => op.kind !== 'read' && op.stamp === stamp);
  }

  /** The operation whose completion is event `seq`. */
  opCompletedAt(seq: number): OpRecord | undefined {
    return this.ops.find((op) => op.completedAt?.seq === seq);
  }

  /** A stamped write of one block (only through `options.path`, when given). */
  async write(
    device: MultipathDevice,
    client: string,
    block: number,
    options: { path?: string } = {},
  ): Promise<OpRecord> {
    const stamp = this.#nextStamp(client, 'w');
    const op = this.#invoke(client, 'write', block, stamp);
    try {
      const path = await device.write(block, stampBlock(stamp, block), options);
      this.#complete(op, 'ok', { path });
    } catch (error) {
      if (!(error instanceof MultipathError)) throw error;
      this.#failed(op, error);
    }
    return op;
  }

  /**
   * COMPARE AND WRITE of one block: expects `compared` (a stamp, or INITIAL_STAMP for zeros),
   * writes a new stamped block (see the file comment). `path` pins it to one path.
   */
  async compareAndWrite(
    device: MultipathDevice,
    client: string,
    block: number,
    compared: string,
    options: { path?: string } = {},
  ): Promise<OpRecord> {
    const stamp = this.#nextStamp(client, 'w');
    const op = this.#invoke(client, 'caw', block, stamp, false, compared);
    const expected = compared === INITIAL_STAMP ? Buffer.alloc(512) : stampBlock(compared, block);
    try {
      const outcome = await device.compareAndWrite(block, expected, stampBlock(stamp, block), options);
      op.caw!.answer = outcome.outcome;
      op.uncertain = outcome.uncertain;
      if (outcome.outcome === 'good') {
        const completed = this.#complete(op, 'ok', { path: outcome.path });
        this.checker.compareAndWriteSucceeded(stamp, {
          block,
          invoked: op.invokedAt,
          completed,
          stamp: compared,
          path: outcome.path,
        });
      } else if (!outcome.uncertain) {
        this.#complete(op, 'refused', { path: outcome.path, error: 'MISCOMPARE' });
        this.checker.writeRefused(stamp);
      } else {
        this.#complete(op, 'failed', {
          path: outcome.path,
          error: 'MISCOMPARE after an attempt whose answer was lost (the write may have landed then)',
        });
      }
    } catch (error) {
      if (!(error instanceof MultipathError)) throw error;
      this.#failed(op, error);
    }
    return op;
  }

  /** A device error: refused when the LU said no in the only attempt, else failed (open). */
  #failed(op: OpRecord, error: MultipathError): void {
    op.uncertain = error.uncertain;
    const text = `${error.code}: ${error.message}`;
    if (error.code === 'MP_RESERVATION_CONFLICT' && !error.uncertain) {
      this.#complete(op, 'refused', { error: text });
      if (op.kind !== 'read') this.checker.writeRefused(op.stamp!);
      return;
    }
    this.#complete(op, 'failed', { error: text });
  }

  /** A read of one block (only through `options.path`, when given). */
  async read(
    device: MultipathDevice,
    client: string,
    block: number,
    options: { path?: string } = {},
  ): Promise<OpRecord> {
    const op = this.#invoke(client, 'read', block, undefined);
    let data: Buffer;
    let path: string;
    try {
      ({ data, path } = await device.read(block, 1, options));
    } catch (error) {
      if (!(error instanceof MultipathError)) throw error;
      this.#failed(op, error);
      return op;
    }
    const decoded = decodeBlock(data, block);
    if (decoded.kind === 'garbage') {
      this.#complete(op, 'garbage', { path, error: decoded.why });
      return op;
    }
    op.stamp = decoded.stamp;
    const completed = this.#complete(op, 'ok', { path });
    this.checker.read({ block, invoked: op.invokedAt, completed, stamp: decoded.stamp, path });
    return op;
  }

  /**
   * A write by `client`, not a multipath device (a lock-less writer), of consecutive `blocks`,
   * each block a stamped write of its own: `run` gets the stamped bytes of all of them, in block
   * order. Every block is invoked before `run` starts and acknowledged together when it
   * resolves; when it rejects each stays open (indeterminate). An error that `describe` rethrows
   * (default: anything not an Error) is not a failure of the write but a bug, and propagates.
   * Resolves true when acknowledged.
   */
  async recordWrite(
    client: string,
    blocks: readonly number[],
    run: (data: Buffer) => Promise<void>,
    describe: DescribeFailure = describeAnyError,
  ): Promise<boolean> {
    const ops = blocks.map((block) => this.#invoke(client, 'write', block, this.#nextStamp(client, 'w')));
    const data = Buffer.concat(ops.map((op) => stampBlock(op.stamp!, op.block)));
    return this.#completeAll(ops, await attempt(() => run(data), describe), client);
  }

  /**
   * A write of zeros over `blocks` (any order) by `client` (a DISCARD), recorded like
   * recordWrite; a later read of zeros may name any zeroing of its block, or the initial value.
   */
  async recordZeroing(
    client: string,
    blocks: readonly number[],
    run: () => Promise<void>,
    describe: DescribeFailure = describeAnyError,
  ): Promise<boolean> {
    const stamp = this.#nextStamp(client, 'z');
    const ops = blocks.map((block) => this.#invoke(client, 'write', block, `${stamp}@${block}`, true));
    return this.#completeAll(ops, await attempt(run, describe), client);
  }

  #completeAll(ops: readonly OpRecord[], error: string | undefined, path: string): boolean {
    for (const op of ops) {
      if (error === undefined) this.#complete(op, 'ok', { path });
      else this.#complete(op, 'failed', { error });
    }
    return error === undefined;
  }

  #nextStamp(client: string, kind: 'w' | 'z'): string {
    const key = `${client}.${kind}`;
    const count = (this.#writesByClient.get(key) ?? 0) + 1;
    this.#writesByClient.set(key, count);
    return `${client}.${kind}${count}`;
  }

  #invoke(
    client: string,
    kind: OpKind,
    block: number,
    stamp: string | undefined,
    zeros = false,
    compared?: string,
  ): OpRecord {
    const id = this.ops.length + 1;
    const event = this.#eventLog.append(`workload/${client}`, 'workload.invoked', {
      op: id,
      kind,
      block,
      ...(stamp === undefined ? {} : { stamp }),
      ...(zeros ? { zeroing: true } : {}),
      ...(compared === undefined ? {} : { compared }),
    });
    const op: OpRecord = {
      id,
      client,
      kind,
      block,
      stamp,
      ...(zeros ? { zeros } : {}),
      invokedAt: instantOf(event),
      completedAt: undefined,
      outcome: undefined,
      path: undefined,
      error: undefined,
      ...(compared === undefined ? {} : { caw: { compared, answer: undefined } }),
    };
    this.ops.push(op);
    if (kind !== 'read') this.checker.writeInvoked(stamp!, block, op.invokedAt, { zeros });
    return op;
  }

  /** Logs the completion, and tells the checker of an acknowledged write. */
  #complete(op: OpRecord, outcome: OpOutcome, extra: { path?: string; error?: string }): Instant {
    const event = this.#eventLog.append(`workload/${op.client}`, 'workload.completed', {
      op: op.id,
      outcome,
      ...(op.kind === 'read' && op.stamp !== undefined ? { stamp: op.stamp } : {}),
      ...(op.caw?.answer === undefined ? {} : { answer: op.caw.answer }),
      ...extra,
    });
    const completed = instantOf(event);
    op.completedAt = completed;
    op.outcome = outcome;
    op.path = extra.path;
    op.error = extra.error;
    if (op.kind !== 'read' && outcome === 'ok') this.checker.writeAcknowledged(op.stamp!, completed);
    return completed;
  }
}

async function attempt(run: () => Promise<void>, describe: DescribeFailure): Promise<string | undefined> {
  try {
    await run();
    return undefined;
  } catch (error) {
    return describe(error);
  }
}

export interface ClientLoopOptions {
  readonly history: History;
  readonly device: MultipathDevice;
  readonly client: string;
  readonly rng: Rng;
  readonly clock: VirtualClock;
  readonly blocks: readonly number[];
  readonly opsCount: number;
  /** Probability that an operation is a read. */
  readonly readRatio: number;
  /** Pause between operations, drawn in [0, thinkMsMax]. */
  readonly thinkMsMax: number;
  /** Stop early when this returns true (checked between operations). */
  readonly stop?: () => boolean;
}

/** One client: opsCount random operations, one at a time. */
export async function runClient(options: ClientLoopOptions): Promise<void> {
  const { history, device, client, rng, clock, blocks } = options;
  for (let index = 0; index < options.opsCount; index++) {
    if (options.stop?.()) return;
    const block = rng.pick(blocks);
    if (rng.chance(options.readRatio)) await history.read(device, client, block);
    else await history.write(device, client, block);
    const thinkMs = options.thinkMsMax > 0 ? rng.int(0, options.thinkMsMax + 1) : 0;
    if (thinkMs > 0) await sleepMs(clock, thinkMs);
  }
}

/**
 * LBAs for a workload: `perObject` blocks in each of `objectCount` sheep objects of `objectBytes`
 * (first, last and a few drawn ones), so ops collide on objects and allocations are frequent.
 */
export function workloadBlocks(
  rng: Rng,
  options: { objectBytes: number; objectCount: number; perObject: number; firstObject?: number },
): number[] {
  const blocksPerObject = options.objectBytes / 512;
  const blocks: number[] = [];
  const first = options.firstObject ?? 0;
  for (let object = first; object < first + options.objectCount; object++) {
    const base = object * blocksPerObject;
    const picked = new Set<number>([base, base + blocksPerObject - 1]);
    for (let tries = 0; picked.size < options.perObject && tries < 4 * options.perObject; tries++) {
      picked.add(base + rng.int(0, blocksPerObject));
    }
    blocks.push(...[...picked].slice(0, options.perObject));
  }
  return blocks;
}
