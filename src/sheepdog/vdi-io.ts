/**
 * Byte ranges of a VDI over one SheepConnection, as `dog vdi read` / `dog vdi write` do, through
 * the one IO planner in the code base: a lock-less client (client/lockless-vdi.ts) over that
 * connection, streamed by client/vdi-stream.ts. `collie vdi read/write` and the simulator's
 * outside writer use these; targets use the same planner through SheepdogBackend.
 *
 * - An offset past the end of the VDI is refused (SheepAdminError 'OUT_OF_RANGE'); a length is
 *   clipped at the end, as dog clips it. Offsets and lengths are bytes (dog allows any).
 * - writeVdi does not look at locks: `collie vdi write` runs lockless-write-guard.ts first.
 * - Failures of the client are BackendErrors naming the VDI and what sheep answered.
 */
import type { Clock } from '../core/clock.js';
import type { EventLog } from '../core/event-log.js';
import { LocklessVdi } from './client/lockless-vdi.js';
import { STREAM_WINDOW_DEFAULT, streamRead, streamWrite } from './client/vdi-stream.js';
import type { VdiTarget } from './sheep-admin.js';
import { SheepAdminError } from './sheep-admin-error.js';
import type { SheepConnection } from './sheep-connection.js';

/** What every range operation may add: observation and its clock. */
interface VdiIoCommon {
  readonly windowMax?: number;
  /** Called once the range is known (clipped at the end of the VDI), before any IO: for progress. */
  readonly onRange?: (range: { readonly offset: number; readonly lengthBytes: number }) => void;
  readonly eventLog?: EventLog;
  readonly clock?: Clock;
}

export interface ReadVdiOptions extends VdiTarget, VdiIoCommon {
  readonly offset?: number;
  /** Default: to the end of the VDI. Clipped at the end, as dog does. */
  readonly lengthBytes?: number;
  /** Receives the bytes in order; the next chunk waits for its promise. */
  readonly onData: (chunk: Buffer) => void | Promise<void>;
}

export interface WriteVdiOptions extends VdiIoCommon {
  /** The working VDI of this name is written (snapshots are read-only). */
  readonly name: string;
  readonly offset?: number;
  /** Default: all of `data`. Clipped at the end of the VDI, as dog does. */
  readonly lengthBytes?: number;
  readonly data: Buffer | AsyncIterable<Buffer | Uint8Array | string>;
}

function describeTarget(target: VdiTarget): string {
  if (target.tag) return `snapshot "${target.tag}" of VDI "${target.name}"`;
  if (target.snapid) return `snapshot ${target.snapid} of VDI "${target.name}"`;
  return `VDI "${target.name}"`;
}

/** The bytes from `offset` to at most `lengthBytes` on, clipped at the end; refuses a start past it. */
function clippedLength(
  vdi: LocklessVdi,
  target: VdiTarget,
  offset: number,
  lengthBytes: number | undefined,
  verb: string,
): number {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > vdi.sizeBytes) {
    throw new SheepAdminError(
      'OUT_OF_RANGE',
      `${verb} offset ${offset} is beyond the end of ${describeTarget(target)} (${vdi.sizeBytes} bytes); give an offset below the size`,
    );
  }
  return Math.max(0, Math.min(lengthBytes ?? Number.POSITIVE_INFINITY, vdi.sizeBytes - offset));
}

async function withVdi<T>(
  conn: SheepConnection,
  target: VdiTarget,
  options: VdiIoCommon,
  work: (vdi: LocklessVdi) => Promise<T>,
): Promise<T> {
  const vdi = await LocklessVdi.over(conn, {
    vdiName: target.name,
    snapshot: target.tag || target.snapid ? { tag: target.tag, snapid: target.snapid } : undefined,
    eventLog: options.eventLog,
    clock: options.clock,
  });
  try {
    return await work(vdi);
  } finally {
    await vdi.close();
  }
}

/** dog's `vdi read`: the working VDI or a snapshot, streamed to `onData`. */
export async function readVdi(
  conn: SheepConnection,
  options: ReadVdiOptions,
): Promise<{ vid: number; sizeBytes: number; bytesRead: number }> {
  return withVdi(conn, options, options, async (vdi) => {
    const offset = options.offset ?? 0;
    const lengthBytes = clippedLength(vdi, options, offset, options.lengthBytes, 'read');
    options.onRange?.({ offset, lengthBytes });
    const bytesRead = await streamRead(vdi, {
      offsetBytes: offset,
      lengthBytes,
      onData: options.onData,
      windowMax: options.windowMax ?? STREAM_WINDOW_DEFAULT,
    });
    return { vid: vdi.vid, sizeBytes: vdi.sizeBytes, bytesRead };
  });
}

/** readVdi() into one Buffer (for small ranges and tests). */
export async function readVdiBytes(
  conn: SheepConnection,
  options: VdiTarget & VdiIoCommon & { offset?: number; lengthBytes?: number },
): Promise<Buffer> {
  const pieces: Buffer[] = [];
  await readVdi(conn, { ...options, onData: (chunk) => void pieces.push(chunk) });
  return Buffer.concat(pieces);
}

/**
 * dog's `vdi write` into the working VDI: a lock-less writer (no TGT flag, no refresh read) whose
 * inode updates invalidate the VDI's targets on Collie's store. A short `data` writes what it has
 * (no zero padding, unlike dog).
 */
export async function writeVdi(
  conn: SheepConnection,
  options: WriteVdiOptions,
): Promise<{ vid: number; bytesWritten: number }> {
  const target = { name: options.name };
  return withVdi(conn, target, options, async (vdi) => {
    const offset = options.offset ?? 0;
    const lengthBytes = clippedLength(vdi, target, offset, options.lengthBytes, 'write');
    options.onRange?.({ offset, lengthBytes });
    const bytesWritten = await streamWrite(vdi, {
      offsetBytes: offset,
      lengthBytes,
      source: options.data,
      windowMax: options.windowMax ?? STREAM_WINDOW_DEFAULT,
    });
    return { vid: vdi.vid, bytesWritten };
  });
}
