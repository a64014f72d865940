/**
 * Clients of the store that are not Collie targets, as the swarm's workload classes run them:
 * - a lock-less writer (`dog vdi write`, `collie vdi write`): stamped blocks written straight
 *   into the VDI through one store endpoint while the targets serve it, with no VDI lock;
 * - DISCARD_OBJ of one data object (the working VDI's or an older snapshot's) from an admin
 *   client through one store endpoint;
 * Both are recorded for the checkers through outside-history.ts. Snapshots are World.snapshot().
 *
 * Every store request goes through one small adapter function per operation
 * (locklessWriteVdi, discardObject), so the client behind it can be swapped.
 */
import type { Rng } from '../../src/core/rng.js';
import { sleepMs } from '../../src/core/sleep.js';
import { LocklessVdi } from '../../src/sheepdog/client/lockless-vdi.js';
import { getVdiInfo } from '../../src/sheepdog/sheep-admin.js';
import { type SheepConnection, SheepResultError } from '../../src/sheepdog/sheep-connection.js';
import { SdOp, SdRes } from '../../src/sheepdog/wire/constants.js';
import { objRequest } from '../../src/sheepdog/wire/header.js';
import { vidToDataOid } from '../../src/sheepdog/wire/oid.js';
import { type Endpoint, endpointToString } from '../../transports/transport.js';
import { STAMP_BLOCK_BYTES } from '../checkers/write-stamps.js';
import { ADMIN_HOST, ADMIN_REQUEST_TIMEOUT_MS, LOCKLESS_ACTOR_PREFIX, type World } from '../world.js';
import { describeFailure, type OutsideClientHistory } from './outside-history.js';

/**
 * The lock-less write of `data` at byte `offset` of the VDI (`collie vdi write`): the lock-less
 * mode of the sheepdog client (GET_VDI_INFO, no lock, no TGT flag, no refresh read), opened for
 * this one write through `endpoint` from the admin host. ADAPTER: the only place the simulator's
 * outside writer calls that client.
 */
export async function locklessWriteVdi(
  world: World,
  endpoint: Endpoint,
  rng: Rng,
  offset: number,
  data: Buffer,
  /** The writer's name: its actors' (two writers through one endpoint stay apart in the log). */
  client?: string,
): Promise<void> {
  const vdi = await LocklessVdi.open({
    transport: world.network.transport(ADMIN_HOST),
    endpoint,
    vdiName: world.options.vdiName,
    clock: world.clock,
    rng,
    eventLog: world.eventLog,
    actor: `${LOCKLESS_ACTOR_PREFIX}${client === undefined ? '' : `${client}/`}${endpointToString(endpoint)}`,
    poolSize: 1,
    requestTimeoutMs: ADMIN_REQUEST_TIMEOUT_MS,
    unavailableAfterMs: ADMIN_REQUEST_TIMEOUT_MS,
  });
  try {
    await vdi.write(offset, data);
  } finally {
    await vdi.close();
  }
}

/** Re-resolutions of the working VDI when a DISCARD meets a snapshot taken meanwhile. */
const DISCARD_RESOLVES_MAX = 4;

/** DISCARD_OBJ (0x05) of one data object, as an admin client sends it (no TGT flag). */
export async function discardObject(conn: SheepConnection, oid: bigint): Promise<void> {
  await conn.requestOk(objRequest({ opcode: SdOp.DISCARD_OBJ, oid }), undefined, {
    context: `discard object ${oid.toString(16).padStart(16, '0')}`,
  });
}

export interface OutsideWorkload {
  readonly world: World;
  readonly history: OutsideClientHistory;
  /** The blocks the hosts' workload uses (LBAs of 512 bytes). */
  readonly blocks: readonly number[];
  /** Every block written so far (the hosts' and outside clients'), for DISCARD's record. */
  readonly touchedBlocks: () => Iterable<number>;
  readonly blocksPerObject: number;
}

export interface LocklessWriterPlan {
  readonly client: string;
  readonly endpoint: Endpoint;
  readonly writes: number;
  readonly thinkMsMax: number;
}

/**
 * One lock-less writer: `writes` writes, each of 1..8 consecutive blocks from a block of the
 * workload (clipped at its object's end), each a client run of its own (as `collie vdi write`
 * runs). Returns
 * how many were acknowledged.
 */
export async function runLocklessWriter(
  workload: OutsideWorkload,
  rng: Rng,
  plan: LocklessWriterPlan,
): Promise<number> {
  const { world } = workload;
  let acknowledged = 0;
  for (let index = 0; index < plan.writes; index++) {
    const first = rng.pick(workload.blocks);
    const objectEnd = (Math.floor(first / workload.blocksPerObject) + 1) * workload.blocksPerObject;
    const count = Math.min(rng.int(1, 9), objectEnd - first);
    const blocks = Array.from({ length: count }, (_, offset) => first + offset);
    const writeRng = rng.fork(`write-${index}`);
    const ok = await workload.history.recordWrite(plan.client, blocks, (data) =>
      locklessWriteVdi(world, plan.endpoint, writeRng, first * STAMP_BLOCK_BYTES, data, plan.client),
    );
    if (ok) acknowledged += 1;
    const thinkMs = plan.thinkMsMax > 0 ? rng.int(0, plan.thinkMsMax + 1) : 0;
    if (thinkMs > 0) await sleepMs(world.clock, thinkMs);
  }
  return acknowledged;
}

export interface DiscardPlan {
  readonly client: string;
  readonly endpoint: Endpoint;
  /** The data object's index in the VDI. */
  readonly idx: number;
  /** The working VDI's object, or this older snapshot's (vid). */
  readonly snapshotVid: number | undefined;
}

export interface DiscardOutcome {
  readonly vid: number | undefined;
  readonly ok: boolean;
  /** Blocks recorded as zeroed (none for a snapshot's object: the working VDI must not change). */
  readonly zeroedBlocks: readonly number[];
  readonly error: string | undefined;
}

/**
 * DISCARD of object `idx` of the working VDI (looked up by name first, as an admin tool does),
 * recorded as a write of zeros over every block of that object the workload uses; or of an
 * older snapshot's object, recorded as nothing: the working VDI may still map it, so its blocks
 * must read as before (the store refuses it READONLY).
 */
export async function runDiscard(workload: OutsideWorkload, plan: DiscardPlan): Promise<DiscardOutcome> {
  const { world } = workload;
  let conn: SheepConnection;
  try {
    conn = await world.adminConnection(plan.endpoint);
  } catch (error) {
    return { vid: undefined, ok: false, zeroedBlocks: [], error: describeFailure(error) };
  }
  try {
    if (plan.snapshotVid !== undefined) {
      const vid = plan.snapshotVid;
      try {
        await discardObject(conn, vidToDataOid(vid, plan.idx));
        return { vid, ok: true, zeroedBlocks: [], error: undefined };
      } catch (error) {
        return { vid, ok: false, zeroedBlocks: [], error: describeFailure(error) };
      }
    }
    let vid: number;
    try {
      ({ vid } = await getVdiInfo(conn, { name: world.options.vdiName }));
    } catch (error) {
      return { vid: undefined, ok: false, zeroedBlocks: [], error: describeFailure(error) };
    }
    const first = plan.idx * workload.blocksPerObject;
    const end = first + workload.blocksPerObject;
    const zeroedBlocks = [...new Set([...workload.blocks, ...workload.touchedBlocks()])]
      .filter((block) => block >= first && block < end)
      .sort((a, b) => a - b);
    let error: string | undefined;
    const ok = await workload.history.recordZeroing(plan.client, zeroedBlocks, async () => {
      // A snapshot taken since the lookup retired that vid (READONLY): look the working VDI up
      // again and discard its object, as a client that handles READONLY does. Bounded.
      for (let attempt = 0; ; attempt++) {
        try {
          await discardObject(conn, vidToDataOid(vid, plan.idx));
          return;
        } catch (caught) {
          const readonly = caught instanceof SheepResultError && caught.result === SdRes.READONLY;
          if (!readonly || attempt >= DISCARD_RESOLVES_MAX) {
            error = describeFailure(caught);
            throw caught;
          }
          ({ vid } = await getVdiInfo(conn, { name: world.options.vdiName }));
        }
      }
    });
    return { vid, ok, zeroedBlocks, error };
  } finally {
    conn.close();
  }
}
