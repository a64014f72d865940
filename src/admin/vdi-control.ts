/**
 * The admin API's VDI and lock routes (AdminControl.vdis ... unlock): dog's VDI commands against
 * the process's sheepdog store, through the same functions `collie vdi` uses (src/sheepdog/sheep-admin.ts,
 * src/sheepdog/vdi-locks.ts, src/sheepdog/vdi-facts.ts).
 *
 * Rules
 * - One SheepConnection per request, opened against the store with the daemon's transport and
 *   closed when the request is done, whatever happened.
 * - No store configured: AdminError 409 naming the fix. What the store refuses becomes an
 *   AdminError naming the thing and the fix: a missing VDI or snapshot 404, a name in use 409,
 *   a bad name, tag or size 400, anything else the store answered 502 with its message.
 * - This process's LUs are checked first, and their use wins: deleting the working VDI an LU
 *   exports, or unlocking a VDI an LU holds, is 409 naming the LU (remove the LUN first). A
 *   working VDI anybody else holds locked is not deleted either (409 naming the holders).
 * - A clone is made from a snapshot only (dog refuses a working VDI): NEW_VDI with the snapshot
 *   as base, its size, copies and object size.
 */
import type { Endpoint, Transport } from '../../transports/transport.js';
import { endpointToString } from '../../transports/transport.js';
import type { Clock } from '../core/clock.js';
import {
  deleteVdi,
  getVdiCopies,
  getVdiInfo,
  listVdis,
  newVdi,
  readInodeHeader,
  SheepAdminError,
  snapshotVdi,
  type VdiListEntry,
  type VdiTarget,
} from '../sheepdog/sheep-admin.js';
import { SheepConnection, SheepConnectionError, SheepResultError } from '../sheepdog/sheep-connection.js';
import { createdSeconds, listedSnapId, lockHolderNames } from '../sheepdog/vdi-facts.js';
import { lockedStates, releaseLocksNamed } from '../sheepdog/vdi-locks.js';
import { LockState, SdRes } from '../sheepdog/wire/constants.js';
import { isSnapshot } from '../sheepdog/wire/inode.js';
import type { VdiState } from '../sheepdog/wire/vdi-state.js';
import { type AdminControl, AdminError, type LockRow, type VdiRow } from './admin-api.js';

export interface VdiControlOptions {
  /** The sheep endpoint; absent: every route answers 409. */
  readonly store?: Endpoint;
  readonly transport: Transport;
  readonly clock: Clock;
  /** The LUs of this process exporting the VDI named so ("LUN 1 of iqn..."); empty: none. */
  readonly exportersOf: (vdiName: string) => string[];
}

/** The admin contract's VDI and lock methods, and what the LUN routes ask of the store. */
export interface VdiControl
  extends Pick<
    AdminControl,
    'vdis' | 'createVdi' | 'snapshotVdi' | 'cloneVdi' | 'deleteVdi' | 'locks' | 'unlock'
  > {
  /** The working VDI `name` exists on the store (else 404 naming the fix); no store: nothing checked. */
  requireVdi(name: string): Promise<void>;
}

/** What a request was about, for its error messages. */
interface Subject {
  readonly name?: string;
  readonly tag?: string;
  readonly snapid?: number;
}

/** The message when the daemon has no store: what to do instead. */
export const NO_STORE_FIX =
  'its LUNs name no single sheep endpoint: run `collie vdi ... -a HOST -p PORT` against the store, or start the daemon with its LUNs on one store';

export function createVdiControl(options: VdiControlOptions): VdiControl {
  const storeText = () => (options.store === undefined ? '' : endpointToString(options.store));

  /** Opens a connection, runs `work`, closes it; store failures become AdminErrors. */
  async function withStore<T>(subject: Subject, work: (conn: SheepConnection) => Promise<T>): Promise<T> {
    const store = options.store;
    if (store === undefined) {
      throw new AdminError(409, `this process has no sheepdog store (${NO_STORE_FIX})`);
    }
    let conn: SheepConnection | undefined;
    try {
      conn = await SheepConnection.open(options.transport, store, { clock: options.clock });
      return await work(conn);
    } catch (error) {
      throw storeFailure(error, subject, endpointToString(store));
    } finally {
      conn?.close();
    }
  }

  /** The row of the VDI `vid` (listed with usage), for answers to a creation. */
  async function rowOf(conn: SheepConnection, vid: number): Promise<VdiRow> {
    const entry = (await listVdis(conn, { usage: true })).find((each) => each.vid === vid);
    if (entry === undefined) {
      throw new AdminError(
        502,
        `sheep at ${storeText()} created vid ${vid.toString(16)} but does not list it`,
      );
    }
    return vdiRow(entry);
  }

  function refuseExported(name: string, what: string): void {
    const exporters = options.exportersOf(name);
    if (exporters.length === 0) return;
    throw new AdminError(
      409,
      `VDI "${name}" is exported by ${exporters.join(', ')} of this process: ${what} (remove the LUN first: collie adm lun remove IQN LUN)`,
    );
  }

  return {
    vdis: () => withStore({}, async (conn) => (await listVdis(conn, { usage: true })).map(vdiRow)),

    createVdi: (request) =>
      withStore({ name: request.name }, async (conn) => {
        const { vid } = await newVdi(conn, { name: request.name, sizeBytes: request.sizeBytes });
        return rowOf(conn, vid);
      }),

    snapshotVdi: (name, request) => {
      const tag = request.tag ?? '';
      return withStore({ name, ...(tag === '' ? {} : { tag }) }, async (conn) => {
        const { snapshotVid } = await snapshotVdi(conn, { name, tag });
        return rowOf(conn, snapshotVid);
      });
    },

    cloneVdi: (name, request) => {
      const source = { name, ...snapshotSelector(request.snapshot) };
      return withStore(source, async (conn) => {
        if (source.tag === undefined && source.snapid === undefined) {
          throw new AdminError(
            400,
            `give the snapshot of VDI "${name}" to clone from, by tag or id (list them: collie adm vdi list)`,
          );
        }
        const { vid: baseVid } = await getVdiInfo(conn, source);
        const header = await readInodeHeader(conn, baseVid);
        if (!isSnapshot(header)) {
          throw new AdminError(
            409,
            `${describeSubject(source)} is not a snapshot; only snapshots can be cloned`,
          );
        }
        let created: { vid: number };
        try {
          created = await newVdi(conn, {
            name: request.name,
            sizeBytes: header.vdiSize,
            baseVdiId: baseVid,
            copies: header.nrCopies,
            copyPolicy: header.copyPolicy,
            storePolicy: header.storePolicy,
            blockSizeShift: header.blockSizeShift,
          });
        } catch (error) {
          // Failures of the NEW_VDI are about the clone's name, not the source's.
          throw storeFailure(error, { name: request.name }, storeText());
        }
        return rowOf(conn, created.vid);
      });
    },

    deleteVdi: (name, snapshot) => {
      const target: VdiTarget = { name, ...snapshotSelector(snapshot) };
      const working = target.tag === undefined && target.snapid === undefined;
      if (working) refuseExported(name, 'deleting it would pull it from under the hosts');
      return withStore(target, async (conn) => {
        if (working) {
          // Somebody else (another target, a qemu) holding it: never delete it under them.
          const { vid } = await getVdiInfo(conn, { name });
          const locked = await lockedStates(conn, new Set([vid]));
          if (locked.length > 0) {
            const holders = locked.flatMap(lockHolderNames).join(', ') || 'a client';
            throw new AdminError(
              409,
              `VDI "${name}" is locked on ${storeText()} by ${holders}: deleting it would pull it from under its users (stop them first; if they are gone: collie adm lock unlock ${name})`,
            );
          }
        }
        await deleteVdi(conn, target);
      });
    },

    locks: () =>
      withStore({}, async (conn) => {
        const states = await getVdiCopies(conn);
        const names = new Map(
          (await listVdis(conn, { usage: false })).map((entry) => [entry.vid, entry.header.name]),
        );
        return states
          .filter((state) => state.lockState !== LockState.UNLOCKED)
          .map((state) => lockRow(state, names.get(state.vid)));
      }),

    unlock: (name) => {
      refuseExported(name, "its lock is the LU's, which is serving it");
      return withStore({ name }, async (conn) => {
        const { locked, stillShared } = await releaseLocksNamed(conn, name);
        if (locked.length === 0) {
          throw new AdminError(
            409,
            `VDI "${name}" is not locked on ${storeText()} (see: collie adm lock list)`,
          );
        }
        if (stillShared.length > 0) {
          const holders = stillShared.flatMap(lockHolderNames).join(', ');
          throw new AdminError(
            409,
            `VDI "${name}" is still shared-locked by ${holders}; a shared lock is released only through the sheep node that holds it (run: collie vdi lock unlock ${name} -a HOST -p PORT for each)`,
          );
        }
      });
    },

    requireVdi: async (name) => {
      if (options.store === undefined) return;
      await withStore({ name }, (conn) => getVdiInfo(conn, { name }));
    },
  };
}

/** dog's -s: digits are a snapshot id, anything else a tag. */
function snapshotSelector(text: string | undefined): { tag?: string; snapid?: number } {
  if (text === undefined || text === '') return {};
  if (/^\d+$/.test(text)) return { snapid: Number(text) };
  return { tag: text };
}

function describeSubject(subject: Subject): string {
  if (subject.tag !== undefined) return `snapshot "${subject.tag}" of VDI "${subject.name}"`;
  if (subject.snapid !== undefined) return `snapshot ${subject.snapid} of VDI "${subject.name}"`;
  return `VDI "${subject.name}"`;
}

/** A store failure as the AdminError the caller gets (an AdminError passes as it is). */
function storeFailure(error: unknown, subject: Subject, where: string): unknown {
  if (error instanceof AdminError) return error;
  const name = subject.name ?? '';
  if (error instanceof SheepConnectionError) {
    if (error.kind === 'connect') {
      return new AdminError(502, `cannot reach sheep at ${where} (${error.message}; is the store running?)`);
    }
    return new AdminError(502, error.message);
  }
  if (error instanceof SheepResultError) {
    switch (error.result) {
      case SdRes.NO_VDI:
        return new AdminError(404, `VDI "${name}" not found on ${where} (list them: collie adm vdi list)`);
      case SdRes.NO_TAG:
        return new AdminError(
          404,
          `${describeSubject(subject)} not found on ${where} (list the snapshots: collie adm vdi list)`,
        );
      case SdRes.VDI_EXIST:
        return new AdminError(
          409,
          `VDI "${name}" already exists on ${where} (choose another name, or delete it first: collie adm vdi delete ${name})`,
        );
      case SdRes.READONLY:
        return new AdminError(409, `${describeSubject(subject)} is a snapshot on ${where} and read-only`);
      case SdRes.NO_BASE_VDI:
        return new AdminError(404, `${describeSubject(subject)}: its base VDI is gone on ${where}`);
      default:
        return new AdminError(502, error.message);
    }
  }
  if (error instanceof SheepAdminError) {
    switch (error.code) {
      case 'BAD_NAME':
      case 'BAD_TAG':
      case 'VDI_TOO_LARGE':
      case 'BAD_BLOCK_SIZE_SHIFT':
      case 'OUT_OF_RANGE':
        return new AdminError(400, error.message);
      case 'TAG_EXISTS':
      case 'IS_SNAPSHOT':
      case 'HYPER_VOLUME':
      case 'VDI_IN_USE':
        return new AdminError(409, error.message);
      case 'BAD_REPLY':
        return new AdminError(502, error.message);
    }
  }
  return error;
}

/** One VDI as the admin API lists it (the values `collie vdi list` shows). */
export function vdiRow(entry: VdiListEntry): VdiRow {
  const header = entry.header;
  return {
    name: header.name,
    vid: entry.vid.toString(16),
    snapshot: entry.snapshot,
    clone: entry.clone,
    snapid: listedSnapId(entry),
    tag: header.tag,
    sizeBytes: Number(header.vdiSize),
    ...(entry.usedBytes === undefined ? {} : { usedBytes: entry.usedBytes }),
    ...(entry.sharedBytes === undefined ? {} : { sharedBytes: entry.sharedBytes }),
    copies: header.nrCopies,
    createdAt: new Date(createdSeconds(entry) * 1000).toISOString(), // determinism-ok: formats a stored timestamp, reads no clock
  };
}

function lockRow(state: VdiState, name: string | undefined): LockRow {
  return {
    name: name ?? `(vid ${state.vid.toString(16)})`,
    vid: state.vid.toString(16),
    state: state.lockState === LockState.SHARED ? 'shared' : 'locked',
    holders: lockHolderNames(state),
  };
}
