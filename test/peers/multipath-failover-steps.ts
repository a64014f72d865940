/**
 * The multipath failover of sheepdog-protocol.md §8.5 as steps any pair of targets can run: A
 * exports the rig's VDI through store endpoint P1, B through P2 (tgt or Collie, in any mix), both
 * open before anything is written, A writes and is SIGKILLed, then B is checked.
 *
 * Lock states every client that follows the protocol must produce (tgt and Collie alike):
 *   A opens: {P1: MODIFIED}; B opens: B joins INVALIDATED and its open's refresh read validates
 *   it, demoting A: {P1: SHARED, P2: SHARED}; A allocates: {P1: MODIFIED, P2: INVALIDATED}; a
 *   SIGKILLed target releases nothing, so the states stay; B's reload: both SHARED again.
 * With `--no-lock` the store keeps no locks at all: every lock list is empty.
 *
 * Collie targets also leave evidence in their event files (`--events`): an IO whose round sheep
 * answered INODE_INVALIDATED (`io.transition` with outcome "invalidated") and the inode reload.
 */
import { readFile } from 'node:fs/promises';
import { expect } from 'vitest';
import { readPattern, writePattern } from '../support/qemu-io.js';
import {
  type ColliePath,
  filled,
  firstDifference,
  KiB,
  MiB,
  type StoreRig,
  sleep,
  type TargetPath,
  type TargetVendor,
} from './sheep-store-rig.js';

/** A's write: 64 KiB at the start of object 10 (40 MiB), which nobody has allocated. */
export const A_WRITE = { pattern: 0xab, offset: 40 * MiB, length: 64 * KiB };
/** B's write after the failover: 4 KiB further into the same 4 MiB object. */
export const B_WRITE = { pattern: 0xcd, offset: 41 * MiB, length: 4 * KiB };

export interface TargetPair {
  a: TargetPath;
  b: TargetPath;
  /** `vdi lock list` keys of A's and B's store endpoints. */
  p1: string;
  p2: string;
}

/** Opens A (vendor a, endpoint 0) then B (vendor b, endpoint 1) and checks the lock states. */
export async function openPair(rig: StoreRig, vendors: [TargetVendor, TargetVendor]): Promise<TargetPair> {
  const locking = !rig.noLock;
  const p1 = rig.endpointKey(0);
  const p2 = rig.endpointKey(1);
  const a = await rig.exportVia(vendors[0], 0, `a-${vendors[0]}`);
  expect(await rig.participants(), 'after A opened').toEqual(locking ? { [p1]: 'MODIFIED' } : {});
  const b = await rig.exportVia(vendors[1], 1, `b-${vendors[1]}`);
  // A Collie B joins the LU's cluster document at start (a shared-cell update, docs/cluster-scsi.md):
  // its bump makes it MODIFIED and invalidates A. tgt's refresh read leaves both SHARED.
  const afterB =
    vendors[1] === 'collie' ? { [p1]: 'INVALIDATED', [p2]: 'MODIFIED' } : { [p1]: 'SHARED', [p2]: 'SHARED' };
  expect(await rig.participants(), 'after B opened').toEqual(locking ? afterB : {});
  return { a, b, p1, p2 };
}

/** A writes range (acknowledged), then A is SIGKILLed; checks the crash released nothing. */
export async function writeThroughAThenKillA(
  rig: StoreRig,
  pair: TargetPair,
  range = A_WRITE,
): Promise<Record<string, string>> {
  const wrote = await writePattern(pair.a.url, range);
  expect(wrote.ok, wrote.output).toBe(true);
  const afterWrite = await rig.participants();
  await pair.a.kill9();
  expect(await rig.participants(), 'a crashed target releases nothing').toEqual(afterWrite);
  return afterWrite;
}

/** B (or any path) reads range and must see its pattern. */
export async function expectReadThrough(
  path: TargetPath,
  range: typeof A_WRITE,
  what: string,
): Promise<void> {
  const read = await readPattern(path.url, range);
  expect(read.ok, `${what} through ${path.name}: ${read.output}`).toBe(true);
}

/** `collie vdi read [-s tag]` straight from the store must return expected at offset. */
export async function expectStoreBytes(
  rig: StoreRig,
  offset: number,
  expected: Buffer,
  what: string,
  tag?: string,
): Promise<void> {
  const bytes = await rig.readVdi(offset, expected.length, tag);
  const where = tag === undefined ? rig.vdiName : `-s ${tag} ${rig.vdiName}`;
  expect(
    bytes.equals(expected),
    `${what}: collie vdi read ${where} ${offset}: ${firstDifference(bytes, expected)}`,
  ).toBe(true);
}

/** The range's pattern, as `collie vdi read` must return it. */
export function bytesOf(range: { pattern: number; length: number }): Buffer {
  return filled(range.pattern, range.length);
}

export interface CollieEvent {
  seq: number;
  actor: string;
  type: string;
  data: Record<string, unknown>;
}

/** The `--events` file of a Collie target. */
export function eventsFileOf(path: TargetPath): string {
  if (path.vendor !== 'collie')
    throw new Error(`${path.name} is a ${path.vendor} target: it writes no event file`);
  return (path as ColliePath).eventsFile;
}

/** One line per event, for assertion messages. */
export function describeEvents(events: readonly CollieEvent[]): string {
  return events.map((event) => `${event.actor} ${event.type} ${JSON.stringify(event.data)}`).join('\n');
}

/** The parsed lines of a Collie `--events` file. */
export async function readEvents(file: string): Promise<CollieEvent[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as CollieEvent);
}

/**
 * Waits (bounded) until the events file holds an event matching predicate: the file is written
 * through a stream, so the line of an IO qemu-io just saw complete may land a moment later.
 */
export async function waitForEvent(
  file: string,
  predicate: (event: CollieEvent) => boolean,
  timeoutMs = 3_000,
): Promise<CollieEvent | undefined> {
  const deadlineMs = Date.now() + timeoutMs;
  for (;;) {
    const hit = (await readEvents(file)).find(predicate);
    if (hit || Date.now() >= deadlineMs) return hit;
    await sleep(50);
  }
}

/** An IO round that sheep answered INODE_INVALIDATED (0x1D). */
export const isInvalidatedAnswer = (event: CollieEvent) =>
  event.type === 'io.transition' && event.data.outcome === 'invalidated';

/**
 * B learned it was INODE_INVALIDATED: an IO round was refused, or (the first command of a clustered
 * LU validates its view, docs/cluster-scsi.md) the coherence probe was, and the inode reloaded for it.
 */
export const isInvalidationSeen = (event: CollieEvent) =>
  isInvalidatedAnswer(event) ||
  (event.type === 'inode.transition' &&
    event.data.event === 'RELOAD_NEEDED' &&
    event.data.reason === 'invalidated');

/** A completed inode reload. */
export const isInodeReloaded = (event: CollieEvent) =>
  event.type === 'inode.transition' && event.data.event === 'RELOADED';

/** An IO that completed. */
/** An LU IO finished (the shared cell's own IO, `purpose: 'cell'`, is not the initiator's). */
export const isIoDone = (event: CollieEvent) =>
  event.type === 'io.transition' && event.data.to === 'done' && event.data.purpose === undefined;
