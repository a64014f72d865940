/**
 * What the simulated hosts do with their multipath devices: single-block reads and writes of
 * stamped blocks (checkers/write-stamps.ts) over a small set of LBAs, so every path and every
 * target keeps meeting on the same sheep objects, and new objects get allocated through all of
 * them. Every operation is recorded twice: in the event log (`workload.invoked`,
 * `workload.completed`) and in the History the checkers read.
 *
 * Times given to the register checker are event-log instants: the virtual ms of the event plus
 * its sequence number times 1e-9, a total order that respects causality inside one millisecond
 * (many operations start and end in the same virtual ms).
 *
 * A write whose outcome is unknown (the device failed it: no path, an IO error, closed) stays
 * open in the checker: it may land at any time after its invocation, or never. A read that
 * failed says nothing and is not checked; a read that returned bytes nobody wrote is "garbage".
 */

import type { LogEvent } from '../src/core/event.js';
import type { EventLog } from '../src/core/event-log.js';
import type { Rng } from '../src/core/rng.js';
import { sleepMs } from '../src/core/sleep.js';
import type { VirtualClock } from '../src/core/virtual-clock.js';
import { BlockRegisterChecker } from './checkers/block-register-checker.js';
import { decodeBlock, stampBlock } from './checkers/write-stamps.js';
import { type MultipathDevice, MultipathError } from './multipath/multipath-device.js';

export type OpKind = 'read' | 'write';
export type OpOutcome = 'ok' | 'failed' | 'garbage';

export interface OpRecord {
  readonly id: number;
  readonly client: string;
  readonly kind: OpKind;
  readonly block: number;
  /** The write's stamp; for a completed read, the stamp it found. */
  stamp: string | undefined;
  readonly invokedSeq: number;
  readonly invokedAt: number;
  completedSeq: number | undefined;
  completedAt: number | undefined;
  outcome: OpOutcome | undefined;
  path: string | undefined;
  error: string | undefined;
}

/** An event's place in the run's total order, in virtual ms (see the file comment). */
export function instantOf(event: LogEvent): number {
  return event.t + event.seq * 1e-9;
}

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
    return this.ops.find((op) => op.kind === 'write' && op.stamp === stamp);
  }

  async write(device: MultipathDevice, client: string, block: number): Promise<OpRecord> {
    const count = (this.#writesByClient.get(client) ?? 0) + 1;
    this.#writesByClient.set(client, count);
    const stamp = `${client}.w${count}`;
    const op = this.#invoke(client, 'write', block, stamp);
    this.checker.writeInvoked(stamp, block, op.invokedAt);
    try {
      const path = await device.write(block, stampBlock(stamp, block));
      const done = this.#complete(op, 'ok', { path });
      this.checker.writeAcknowledged(stamp, done);
    } catch (error) {
      if (!(error instanceof MultipathError)) throw error;
      this.#complete(op, 'failed', { error: `${error.code}: ${error.message}` });
    }
    return op;
  }

  async read(device: MultipathDevice, client: string, block: number): Promise<OpRecord> {
    const op = this.#invoke(client, 'read', block, undefined);
    let data: Buffer;
    let path: string;
    try {
      ({ data, path } = await device.read(block, 1));
    } catch (error) {
      if (!(error instanceof MultipathError)) throw error;
      this.#complete(op, 'failed', { error: `${error.code}: ${error.message}` });
      return op;
    }
    const decoded = decodeBlock(data, block);
    if (decoded.kind === 'garbage') {
      this.#complete(op, 'garbage', { path, error: decoded.why });
      return op;
    }
    op.stamp = decoded.stamp;
    const done = this.#complete(op, 'ok', { path });
    this.checker.read({ block, invokedAtMs: op.invokedAt, completedAtMs: done, stamp: decoded.stamp, path });
    return op;
  }

  #invoke(client: string, kind: OpKind, block: number, stamp: string | undefined): OpRecord {
    const id = this.ops.length + 1;
    const event = this.#eventLog.append(`workload/${client}`, 'workload.invoked', {
      op: id,
      kind,
      block,
      ...(stamp === undefined ? {} : { stamp }),
    });
    const op: OpRecord = {
      id,
      client,
      kind,
      block,
      stamp,
      invokedSeq: event.seq,
      invokedAt: instantOf(event),
      completedSeq: undefined,
      completedAt: undefined,
      outcome: undefined,
      path: undefined,
      error: undefined,
    };
    this.ops.push(op);
    return op;
  }

  #complete(op: OpRecord, outcome: OpOutcome, extra: { path?: string; error?: string }): number {
    const event = this.#eventLog.append(`workload/${op.client}`, 'workload.completed', {
      op: op.id,
      outcome,
      ...(op.kind === 'read' && op.stamp !== undefined ? { stamp: op.stamp } : {}),
      ...extra,
    });
    op.completedSeq = event.seq;
    op.completedAt = instantOf(event);
    op.outcome = outcome;
    op.path = extra.path;
    op.error = extra.error;
    return op.completedAt;
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
