/**
 * The embedded store's request handler: one sheep request in, one response out, with no
 * sockets (store-endpoint.ts moves the bytes). This is where sheep 1.0's semantics live:
 * object I/O with copy-on-write, the VDI cluster ops, locks, and the inode coherence protocol.
 *
 * Rules
 * - Answers are sheep's: proto_ver 0, flags 0, the request's opcode and id echoed, epoch 1,
 *   errors with no payload, and never more payload than the request's data_length.
 * - `node` is the store endpoint the request arrived on; locks and coherence participants are
 *   nodes, never connections (tgt opens one connection per I/O thread).
 * - Coherence ordering: a data_vdi_id update runs "invalidate the others, then write" and a
 *   refresh read runs "read, then validate" inside one per-VDI critical section, so a refresh
 *   read can never validate a participant with an inode that misses an update whose writer
 *   was already told the others are invalidated.
 * - With locking off, LOCK is a lookup, RELEASE a no-op, and no coherence check runs.
 *
 * Rules past sheep 1.0 (multipath safety, docs/store.md "Past sheep 1.0"; COLLIE_FEATURES says
 * which a client may rely on). Each is a field of StoreRules, decided once by storeRules() from
 * the compat mode ('sheep-1.0' turns every one off, to test clients against sheep 1.0's
 * semantics) and the test-only bug; the handlers below only read those fields:
 * - Object order: every request that changes an object (CREATE, WRITE, DISCARD, REMOVE) runs
 *   alone per object, in arrival order, and one whose connection closed before its turn is not
 *   started. A write a client gave up on (and resent) can then never land after a newer one.
 * - A CREATE of a data object that exists writes its range into it: two targets that both saw
 *   the object unallocated both keep their bytes (sheep replaces the object, losing the first).
 * - A snapshot (or rollback) of working vid V runs inside V's inode section, so an inode update
 *   lands either before the copy of data_vdi_id or after V is marked; an allocation written into
 *   an inode that is already a snapshot is refused READONLY (the client redoes it on the new
 *   working VDI).
 * - A data_vdi_id write or DISCARD by an outside writer (not a participant, or no TGT flag)
 *   invalidates every participant; DISCARD passes the refusals writes pass. (Sheep 1.0: a
 *   participant's data_vdi_id write invalidates the others, with or without TGT; a
 *   non-participant's invalidates nobody; DISCARD neither refuses nor invalidates.)
 * - A snapshot invalidates every participant of the VDI it retires (snapshotInvalidates).
 * - An invalidation is a clean cut for data writes (invalidationDrainsCheckedWrites): a data
 *   write holds its VDI's checked-writes gate (shared) from its INODE_INVALIDATED check until it
 *   landed, and an invalidation takes the gate exclusively, so every write checked before it has
 *   landed before the invalidating request is answered, and every write checked after it is
 *   refused. The shared cell's bump relies on it (src/sheepdog/client/sheep-shared-cell.ts).
 * - LOCK_VDI / RELEASE_VDI honour a client id in vdi_size (sheep 1.0 ignores it).
 * - COLLIE_FEATURES answers (sheep 1.0: INVALID_PARMS, an unknown opcode).
 * - A store invariant that breaks (AssertionError) is never answered as EIO: it is logged as
 *   `store.invariant_broken`, reported to onInvariantBroken, and the connection is dropped.
 */

import { type Endpoint, endpointFromString } from '../../transports/transport.js';
import { AssertionError, assert } from '../core/assert.js';
import type { Clock } from '../core/clock.js';
import type { EventLog } from '../core/event-log.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import type { Logger } from '../core/logger.js';
import { ObjectRangeLock } from '../sheepdog/client/range-lock.js';
import {
  LockState,
  LockType,
  opcodeName,
  ParticipantState,
  resultName,
  SD_ATTR_OBJ_SIZE,
  SD_INODE_DATA_END,
  SD_INODE_HEADER_SIZE,
  SD_INODE_SIZE,
  SD_MAX_BLOCK_SIZE_SHIFT,
  SD_MAX_VDI_LEN,
  SD_MIN_BLOCK_SIZE_SHIFT,
  SD_VDI_BITMAP_SIZE,
  SD_VDI_STATE_SIZE,
  SdFlag,
  SdOp,
  SdRes,
} from '../sheepdog/wire/constants.js';
import {
  type RequestHeader,
  type ResponseArgs,
  type ResponseHeader,
  responseFor,
} from '../sheepdog/wire/header.js';
import { isSnapshot } from '../sheepdog/wire/inode.js';
import { encodeSdNode } from '../sheepdog/wire/node-id.js';
import {
  dataOidToIdx,
  isAttrOid,
  isDataOid,
  isVdiOid,
  oidToHex,
  oidToVid,
  vidToAttrOid,
  vidToDataOid,
  vidToVdiOid,
} from '../sheepdog/wire/oid.js';
import { checkRequestProtoVer } from '../sheepdog/wire/proto-ver.js';
import { decodeVdiAttr, vdiAttrId } from '../sheepdog/wire/vdi-attr.js';
import { sdHashVdi } from '../sheepdog/wire/vdi-hash.js';
import { encodeVdiState } from '../sheepdog/wire/vdi-state.js';
import type { LockTable } from './lock-table.js';
import type { ObjectStore } from './object-store.js';
import { type StoreCompat, type StoreRules, storeRules } from './store-rules.js';
import type { TestOnlyStoreBug } from './test-only-store-bugs.js';
import type { VdiTable } from './vdi-table.js';

/** A store endpoint acting as one sheep node. */
export interface StoreNode {
  /** "127.0.0.1:7000": the participant key. */
  readonly key: string;
  readonly endpoint: Endpoint;
}

export interface Reply {
  readonly header: ResponseHeader;
  readonly payload?: Buffer;
}

/** Where a request came from: its connection, so work queued for a dead one is not started. */
export interface RequestOrigin {
  readonly closed: boolean;
}

export interface SheepServerOptions {
  readonly objects: ObjectStore;
  readonly vdis: VdiTable;
  readonly locks: LockTable;
  readonly clock: Clock;
  readonly eventLog: EventLog;
  readonly logger: Logger;
  /** The nodes (endpoints) of this store, for GET_NODE_LIST. */
  readonly nodes: () => readonly StoreNode[];
  /** KILL_NODE: the node that received it leaves (its endpoint closes). */
  readonly onNodeKill?: (node: StoreNode) => void;
  /**
   * 'collie' (default): every rule past sheep 1.0; 'sheep-1.0': none, answering as sheep 1.0 does
   * (store-rules.ts), to test clients against sheep 1.0's semantics.
   */
  readonly compat?: StoreCompat;
  /**
   * Invalidate every participant of a VDI that becomes a snapshot (past sheep 1.0). Default: on
   * for compat 'collie', off for 'sheep-1.0'.
   */
  readonly snapshotInvalidates?: boolean;
  /** Bytes of capacity and free space, for STAT_SHEEP. */
  readonly capacity?: () => Promise<{ sizeBytes: bigint; freeBytes: bigint }>;
  /** A store invariant broke (a Collie bug): the process should stop serving (the CLI exits). */
  readonly onInvariantBroken?: (error: AssertionError) => void;
  /** Test only: a mistake put in on purpose for the simulator to find (test-only-store-bugs.ts). */
  readonly testOnlyBug?: TestOnlyStoreBug;
}

/** sheep's cluster epoch; a single-node store never changes membership. */
const EPOCH = 1;
/** How far GET_VDI_ATTR probes past a hash collision before FULL_VDI. */
const ATTR_PROBES_MAX = 4096;

export class SheepServer {
  readonly #options: SheepServerOptions;
  readonly #objects: ObjectStore;
  readonly #vdis: VdiTable;
  readonly #locks: LockTable;
  /** Orders data_vdi_id updates, DISCARDs and snapshots against refresh reads, per vid. */
  readonly #inodeMutex = new KeyedMutex<number>();
  /** Runs the requests that change one object one at a time, in arrival order, per oid. */
  readonly #objectOrder = new KeyedMutex<bigint>();
  /**
   * Per vid (as a one-index range): data-object writes hold it shared, a snapshot retiring the
   * vid holds it exclusive from its copy of data_vdi_id through its mark.
   */
  readonly #snapshotGate = new ObjectRangeLock();
  /**
   * Per vid (as a one-index range): a data-object write holds it shared from its refusal check
   * until it landed; an invalidation holds it exclusive (invalidationDrainsCheckedWrites).
   */
  readonly #checkedWrites = new ObjectRangeLock();
  /** Which rules this store keeps (store-rules.ts): the one place each is decided. */
  readonly rules: StoreRules;

  constructor(options: SheepServerOptions) {
    this.#options = options;
    this.rules = storeRules({
      compat: options.compat,
      locking: options.locks.enabled,
      snapshotInvalidates: options.snapshotInvalidates,
      testOnlyBug: options.testOnlyBug,
    });
    this.#objects = options.objects;
    this.#vdis = options.vdis;
    this.#locks = options.locks;
  }

  /**
   * Serves one request. I/O errors are answered EIO; a broken invariant rejects (the endpoint
   * drops the connection) after it was logged and reported, see the file comment.
   */
  async handle(
    request: RequestHeader,
    payload: Buffer | undefined,
    node: StoreNode,
    origin?: RequestOrigin,
  ): Promise<Reply> {
    const badVersion = checkRequestProtoVer(request.protoVer, request.opcode);
    if (badVersion) return this.#fail(request, SdRes.VER_MISMATCH, node, badVersion.message);
    try {
      return await this.#dispatch(request, payload ?? EMPTY, node, origin);
    } catch (error) {
      if (error instanceof AssertionError) {
        this.#options.eventLog.append(`store/node/${node.key}`, 'store.invariant_broken', {
          op: opcodeName(request.opcode),
          message: error.message,
        });
        this.#options.logger.fatal(
          { err: error, op: opcodeName(request.opcode), node: node.key },
          'store invariant broken',
        );
        this.#options.onInvariantBroken?.(error);
        throw error;
      }
      this.#options.logger.error(
        { err: error, op: opcodeName(request.opcode), node: node.key },
        'store request failed with an I/O error',
      );
      return this.#reply(request, SdRes.EIO);
    }
  }

  #dispatch(
    request: RequestHeader,
    payload: Buffer,
    node: StoreNode,
    origin: RequestOrigin | undefined,
  ): Promise<Reply> | Reply {
    switch (request.opcode) {
      case SdOp.CREATE_AND_WRITE_OBJ:
        return this.#inObjectOrder(request, origin, () =>
          this.#beforeSnapshots(request, () =>
            this.#asCheckedWrite(request, () => this.#createAndWrite(request, payload, node)),
          ),
        );
      case SdOp.READ_OBJ:
        return this.#readObject(request, node);
      case SdOp.WRITE_OBJ:
        return this.#inObjectOrder(request, origin, () =>
          this.#beforeSnapshots(request, () =>
            this.#asCheckedWrite(request, () => this.#writeObject(request, payload, node)),
          ),
        );
      case SdOp.REMOVE_OBJ:
        return this.#inObjectOrder(request, origin, () => this.#removeObject(request));
      case SdOp.DISCARD_OBJ:
        return this.#inObjectOrder(request, origin, () =>
          this.#beforeSnapshots(request, () => this.#discardObject(request, node)),
        );
      case SdOp.NEW_VDI:
        return this.#newVdi(request, payload, node);
      case SdOp.LOCK_VDI:
        return this.#lockVdi(request, payload, node);
      case SdOp.RELEASE_VDI:
        return this.#releaseVdi(request, node);
      case SdOp.GET_VDI_INFO:
        return this.#getVdiInfo(request, payload, node);
      case SdOp.READ_VDIS:
        return this.#bitmap(request, this.#vdis.inUseBitmap());
      case SdOp.READ_DEL_VDIS:
        return this.#bitmap(request, this.#vdis.deletedBitmap());
      case SdOp.FLUSH_VDI:
        return this.#flush(request);
      case SdOp.DEL_VDI:
        return this.#deleteVdi(request, payload, node);
      case SdOp.GET_CLUSTER_DEFAULT:
        return this.#clusterDefault(request);
      case SdOp.GET_VDI_ATTR:
        return this.#getVdiAttr(request, payload, node);
      case SdOp.GET_VDI_COPIES:
        return this.#vdiCopies(request);
      case SdOp.GET_NODE_LIST:
        return this.#nodeList(request);
      case SdOp.STAT_SHEEP:
        return this.#statSheep(request);
      case SdOp.KILL_NODE:
        return this.#killNode(request, node);
      case SdOp.INODE_COHERENCE:
        return this.#inodeCoherence(request, node);
      case SdOp.COLLIE_FEATURES:
        if (!this.rules.collieFeatures)
          return this.#fail(request, SdRes.INVALID_PARMS, node, 'unknown opcode');
        return this.#features(request);
      default:
        return this.#fail(request, SdRes.INVALID_PARMS, node, 'unknown opcode');
    }
  }

  // ---- object I/O ---------------------------------------------------------------------------

  /**
   * Runs `work` when every earlier request that changes the same object is done (arrival order);
   * a request whose connection closed meanwhile is dropped unstarted (nobody waits for it, and
   * its client may have resent it: the copy it gave up on must not land after newer writes).
   */
  #inObjectOrder(
    request: RequestHeader,
    origin: RequestOrigin | undefined,
    work: () => Promise<Reply>,
  ): Promise<Reply> {
    const args = objArgs(request);
    if (!args || !this.rules.objectOrder) return work();
    return this.#objectOrder.run(args.oid, async () => {
      if (origin?.closed) {
        this.#options.eventLog.append('store/server', 'store.request_dropped', {
          op: opcodeName(request.opcode),
          oid: oidToHex(args.oid),
          why: 'its connection closed before its turn',
        });
        return this.#reply(request, SdRes.EIO);
      }
      return work();
    });
  }

  /**
   * A write to a data object (CREATE, WRITE, DISCARD) runs while no snapshot retires its VDI:
   * one in flight when a snapshot starts lands before the snapshot copies data_vdi_id (so a
   * copy-on-write into the new working VDI copies it), and one that arrives during it waits and
   * then meets READONLY. Its refusals are checked inside, never before.
   */
  async #beforeSnapshots(request: RequestHeader, work: () => Promise<Reply>): Promise<Reply> {
    const args = objArgs(request);
    if (!args || !isDataOid(args.oid) || !this.rules.snapshotHoldsInodeSection) return work();
    const vid = oidToVid(args.oid);
    const release = await this.#snapshotGate.acquire(vid, vid, 'shared');
    try {
      return await work();
    } finally {
      release();
    }
  }

  /**
   * A write to a data object holds its VDI's checked-writes gate (shared) from its refusal check
   * until it landed, so an invalidation (which takes the gate exclusively) comes cleanly before
   * or after it (see the file comment).
   */
  async #asCheckedWrite(request: RequestHeader, work: () => Promise<Reply>): Promise<Reply> {
    const args = objArgs(request);
    if (!args || !isDataOid(args.oid) || !this.rules.invalidationDrainsCheckedWrites) return work();
    const vid = oidToVid(args.oid);
    const release = await this.#checkedWrites.acquire(vid, vid, 'shared');
    try {
      return await work();
    } finally {
      release();
    }
  }

  /**
   * What every object write checks first: a payload, the coherence and snapshot refusals, and a
   * range inside the object. Returns the arguments and the object's size, or the refusal.
   */
  #checkWrite(
    request: RequestHeader,
    payload: Buffer,
    node: StoreNode,
  ): { args: NonNullable<ReturnType<typeof objArgs>>; sizeBytes: number } | Reply {
    const args = objArgs(request);
    if (!args || (request.flags & SdFlag.WRITE) === 0)
      return this.#fail(request, SdRes.INVALID_PARMS, node, 'no payload');
    const refused = this.#refusal(request, args.oid, node);
    if (refused !== undefined) return this.#reply(request, refused);
    const sizeBytes = this.#objectSize(args.oid);
    if (args.offset + payload.length > sizeBytes) {
      return this.#fail(
        request,
        SdRes.INVALID_PARMS,
        node,
        `write past the end of object ${oidToHex(args.oid)}`,
      );
    }
    return { args, sizeBytes };
  }

  async #createAndWrite(request: RequestHeader, payload: Buffer, node: StoreNode): Promise<Reply> {
    const checked = this.#checkWrite(request, payload, node);
    if ('header' in checked) return checked;
    const { args, sizeBytes } = checked;
    if (isDataOid(args.oid) && this.rules.createNeverReplaces && (await this.#objects.exists(args.oid))) {
      // Another client created it first (its cache and ours both said unallocated): write our
      // range into it. The COW source is not needed: the object already holds its copy.
      this.#options.eventLog.append('store/server', 'store.create_of_existing', {
        oid: oidToHex(args.oid),
        node: node.key,
      });
      const written = await this.#objects.write(args.oid, args.offset, payload);
      return this.#reply(request, written ? SdRes.SUCCESS : SdRes.NO_OBJ);
    }
    let base: Buffer | undefined;
    if ((request.flags & SdFlag.COW) !== 0 && payload.length !== sizeBytes) {
      base = await this.#objects.read(args.cowOid, 0, sizeBytes);
      if (!base)
        return this.#fail(
          request,
          SdRes.NO_OBJ,
          node,
          `copy-on-write source ${oidToHex(args.cowOid)} missing`,
        );
    }
    await this.#objects.create(args.oid, { sizeBytes, base, data: payload, offset: args.offset });
    if (isVdiOid(args.oid)) await this.#vdis.reloadHeader(oidToVid(args.oid));
    return this.#reply(request, SdRes.SUCCESS);
  }

  async #readObject(request: RequestHeader, node: StoreNode): Promise<Reply> {
    const args = objArgs(request);
    if (!args) return this.#fail(request, SdRes.INVALID_PARMS, node, 'bad arguments');
    const vid = oidToVid(args.oid);
    const isRefresh = isVdiOid(args.oid) && args.offset === 0 && request.dataLength === SD_INODE_DATA_END;
    if (!isRefresh) {
      const refused = this.#refusal(request, args.oid, node);
      if (refused !== undefined) return this.#reply(request, refused);
      // The range is checked before the object store allocates the answer: a 48-byte request
      // must not make the store allocate gigabytes (data_length is the client's word).
      const objectBytes = this.#objectSize(args.oid);
      if (args.offset + request.dataLength > objectBytes) {
        return this.#fail(
          request,
          SdRes.INVALID_PARMS,
          node,
          `READ_OBJ of ${request.dataLength} bytes at ${args.offset} runs past the object's ${objectBytes} bytes`,
        );
      }
      const bytes = await this.#objects.read(args.oid, args.offset, request.dataLength);
      return bytes ? this.#reply(request, SdRes.SUCCESS, bytes) : this.#reply(request, SdRes.NO_OBJ);
    }
    return this.#inodeMutex.run(vid, async () => {
      const bytes = await this.#objects.read(args.oid, 0, request.dataLength);
      if (!bytes) return this.#reply(request, SdRes.NO_OBJ);
      this.#locks.validate(vid, node.key);
      return this.#reply(request, SdRes.SUCCESS, bytes);
    });
  }

  async #writeObject(request: RequestHeader, payload: Buffer, node: StoreNode): Promise<Reply> {
    const checked = this.#checkWrite(request, payload, node);
    if ('header' in checked) return checked;
    const { args } = checked;
    const end = args.offset + payload.length;
    if (!isVdiOid(args.oid)) {
      const written = await this.#objects.write(args.oid, args.offset, payload);
      return this.#reply(request, written ? SdRes.SUCCESS : SdRes.NO_OBJ);
    }
    const vid = oidToVid(args.oid);
    const updatesDataIndex = args.offset >= SD_INODE_HEADER_SIZE && end <= SD_INODE_DATA_END;
    const write = async () => {
      if (updatesDataIndex) {
        const refused = await this.#beforeInvalidation(vid, () =>
          this.#checkInodeUpdate(request, args, payload, node),
        );
        if (refused !== undefined) return refused;
      }
      const written = await this.#objects.write(args.oid, args.offset, payload);
      if (written && args.offset < SD_INODE_HEADER_SIZE) await this.#vdis.reloadHeader(vid);
      return this.#reply(request, written ? SdRes.SUCCESS : SdRes.NO_OBJ);
    };
    return updatesDataIndex ? this.#inodeMutex.run(vid, write) : write();
  }

  /**
   * The checks of an inode update (a data_vdi_id write) inside the inode section, then its
   * invalidation; a refusal's reply, or undefined when the update may be applied.
   */
  async #checkInodeUpdate(
    request: RequestHeader,
    args: NonNullable<ReturnType<typeof objArgs>>,
    payload: Buffer,
    node: StoreNode,
  ): Promise<Reply | undefined> {
    const vid = oidToVid(args.oid);
    // Checked again inside the section: a DISCARD or snapshot that ran while this update
    // waited may have invalidated the sender since #checkWrite looked.
    const refusedNow = this.#refusal(request, args.oid, node);
    if (refusedNow !== undefined) return this.#reply(request, refusedNow);
    // Checked inside the section a snapshot holds: the VDI cannot become one meanwhile.
    if (this.#vdis.isSnapshot(vid) && mapsAnything(payload) && this.rules.readonlyAllocationIntoSnapshot) {
      return this.#fail(
        request,
        SdRes.READONLY,
        node,
        `allocation into the inode of snapshot ${oidToHex(args.oid)}`,
      );
    }
    if (this.rules.inodeMapsExistingObjectsOnly) {
      const missing = await this.#missingOwnObject(vid, (args.offset - SD_INODE_HEADER_SIZE) / 4, payload);
      if (missing !== undefined) {
        return this.#fail(
          request,
          SdRes.NO_OBJ,
          node,
          `data_vdi_id[${missing}] of vid ${oidToHex(args.oid)} would map object ${missing}, which does not exist (discarded since it was written?)`,
        );
      }
    }
    this.#invalidateForInodeWrite(vid, node, request);
    return undefined;
  }

  /**
   * Runs `checkAndInvalidate` (the checks of a data_vdi_id change and its invalidation) once no
   * data write of `vid` is between its refusal check and its landing, and keeps new ones from
   * being checked meanwhile (invalidationDrainsCheckedWrites; see the file comment).
   */
  async #beforeInvalidation<T>(vid: number, checkAndInvalidate: () => Promise<T>): Promise<T> {
    if (!this.rules.invalidationDrainsCheckedWrites) return checkAndInvalidate();
    const release = await this.#checkedWrites.acquire(vid, vid, 'exclusive');
    try {
      return await checkAndInvalidate();
    } finally {
      release();
    }
  }

  async #removeObject(request: RequestHeader): Promise<Reply> {
    const args = objArgs(request);
    if (!args) return this.#reply(request, SdRes.INVALID_PARMS);
    return this.#reply(request, (await this.#objects.remove(args.oid)) ? SdRes.SUCCESS : SdRes.NO_OBJ);
  }

  /**
   * DISCARD_OBJ: unmap data_vdi_id[idx] in the inode, then drop the object. It changes
   * data_vdi_id, so it passes the refusals writes pass (INODE_INVALIDATED; READONLY for a
   * snapshot's object, which a newer VDI may still map) and invalidates as an inode update does.
   */
  async #discardObject(request: RequestHeader, node: StoreNode): Promise<Reply> {
    const args = objArgs(request);
    if (!args || !isDataOid(args.oid)) return this.#reply(request, SdRes.INVALID_PARMS);
    const vid = oidToVid(args.oid);
    const idx = dataOidToIdx(args.oid);
    const offset = SD_INODE_HEADER_SIZE + 4 * idx;
    if (offset + 4 > SD_INODE_DATA_END) return this.#reply(request, SdRes.INVALID_PARMS);
    const isAWrite = this.rules.discardIsAWrite;
    return this.#inodeMutex.run(vid, async () => {
      const refusedReply = await this.#beforeInvalidation(vid, async () => {
        // Sheep 1.0 neither refuses nor invalidates for a DISCARD (protocol doc §8.3, "Not triggers").
        const refused = isAWrite ? this.#refusal(request, args.oid, node) : undefined;
        if (refused !== undefined) return this.#reply(request, refused);
        if (this.#vdis.header(vid) === undefined) return this.#reply(request, SdRes.NO_VDI);
        // No target sends DISCARD (tgt and Collie never do): its sender is never the participant
        // whose cache is current, so every participant is invalidated, TGT flag or not.
        if (isAWrite) this.#invalidateForInodeWrite(vid, node, request, { outsideWriter: true });
        return undefined;
      });
      if (refusedReply !== undefined) return refusedReply;
      const written = await this.#objects.write(vidToVdiOid(vid), offset, Buffer.alloc(4));
      if (!written) return this.#reply(request, SdRes.NO_VDI);
      await this.#objects.remove(args.oid);
      return this.#reply(request, SdRes.SUCCESS);
    });
  }

  async #flush(request: RequestHeader): Promise<Reply> {
    // sheep 1.0 answers INVALID_PARMS (FLUSH_VDI is dead there) and clients treat it as
    // success; this store really makes writes durable, so it says SUCCESS.
    await this.#objects.flush();
    return this.#reply(request, SdRes.SUCCESS);
  }

  /**
   * The coherence check for TGT-flagged object I/O: refused with INODE_INVALIDATED when the
   * object's vid is share-locked and this node's participant is INVALIDATED. Then READONLY for
   * writes into a snapshot's data objects.
   */
  #refusal(request: RequestHeader, oid: bigint, node: StoreNode): number | undefined {
    const vid = oidToVid(oid);
    if (
      (request.flags & SdFlag.TGT) !== 0 &&
      this.#locks.isInvalidated(vid, node.key) &&
      this.rules.invalidatedRefusal
    ) {
      return SdRes.INODE_INVALIDATED;
    }
    if (
      request.opcode !== SdOp.READ_OBJ &&
      isDataOid(oid) &&
      this.#vdis.isSnapshot(vid) &&
      this.rules.readonlyDataWriteIntoSnapshot
    )
      return SdRes.READONLY;
    return undefined;
  }

  /**
   * Before a data_vdi_id change (an inode update, a DISCARD): the coherence protocol's step.
   * Sheep 1.0's rule (outsideWritersInvalidate off): the writing node, if it participates,
   * becomes MODIFIED and the others INVALIDATED, TGT flag or not; a non-participant invalidates
   * nobody.
   */
  #invalidateForInodeWrite(
    vid: number,
    node: StoreNode,
    request: RequestHeader,
    how: { outsideWriter?: boolean } = {},
  ): void {
    if (!this.rules.inodeUpdateInvalidates) return;
    if (!this.rules.outsideWritersInvalidate) {
      this.#locks.invalidateOthers(vid, node.key);
      return;
    }
    const participantWrite = (request.flags & SdFlag.TGT) !== 0 && how.outsideWriter !== true;
    this.#locks.invalidateForInodeWrite(vid, node.key, participantWrite);
  }

  /** The first index that `entries` (from `firstIdx`) maps to `vid` itself whose object is missing. */
  async #missingOwnObject(vid: number, firstIdx: number, entries: Buffer): Promise<number | undefined> {
    if (!Number.isInteger(firstIdx)) return undefined;
    for (let i = 0; 4 * i + 4 <= entries.length; i++) {
      if (entries.readUInt32LE(4 * i) !== vid) continue;
      if (!(await this.#objects.exists(vidToDataOid(vid, firstIdx + i)))) return firstIdx + i;
    }
    return undefined;
  }

  #objectSize(oid: bigint): number {
    if (isVdiOid(oid)) return SD_INODE_SIZE;
    if (isAttrOid(oid)) return SD_ATTR_OBJ_SIZE;
    const header = this.#vdis.header(oidToVid(oid));
    return 2 ** (header?.blockSizeShift || this.#vdis.defaults.blockSizeShift);
  }

  // ---- VDI operations -------------------------------------------------------------------------

  async #newVdi(request: RequestHeader, payload: Buffer, node: StoreNode): Promise<Reply> {
    if (request.args.kind !== 'vdi' || payload.length !== SD_MAX_VDI_LEN) {
      return this.#fail(request, SdRes.INVALID_PARMS, node, 'NEW_VDI needs a 256-byte name');
    }
    const args = request.args;
    const name = vdiNameField(payload);
    if (name === undefined) {
      return this.#fail(
        request,
        SdRes.INVALID_PARMS,
        node,
        'NEW_VDI name is not a NUL-terminated UTF-8 string of at most 255 bytes',
      );
    }
    // 0 is the cluster's default; else sheep's and dog's range. Objects of 2^32 bytes and up
    // would make the store allocate gigabytes for one copy-on-write.
    if (
      args.blockSizeShift !== 0 &&
      (args.blockSizeShift < SD_MIN_BLOCK_SIZE_SHIFT || args.blockSizeShift > SD_MAX_BLOCK_SIZE_SHIFT)
    ) {
      return this.#fail(
        request,
        SdRes.INVALID_PARMS,
        node,
        `NEW_VDI block_size_shift ${args.blockSizeShift} is outside ${SD_MIN_BLOCK_SIZE_SHIFT}..${SD_MAX_BLOCK_SIZE_SHIFT} (0: the cluster default)`,
      );
    }
    const run = async () => {
      const result = await this.#vdis.newVdi({
        name,
        sizeBytes: args.vdiSize,
        baseVid: args.baseVdiId,
        snapid: args.snapid,
        copies: args.copies,
        copyPolicy: args.copyPolicy,
        storePolicy: args.storePolicy,
        blockSizeShift: args.blockSizeShift,
      });
      if (this.rules.snapshotInvalidates && 'retiredVid' in result && result.retiredVid !== undefined) {
        this.#locks.invalidateAll(result.retiredVid);
      }
      return result;
    };
    if (args.snapid === 0 || !this.rules.snapshotHoldsInodeSection)
      return this.#vdiReply(request, await run());
    // A snapshot or rollback retires the working VDI: hold its inode section throughout, so no
    // inode update falls between the copy of data_vdi_id and the mark (see the file comment).
    for (let attempt = 0; ; attempt++) {
      const working = this.#vdis.lookup({ name });
      if (!('vid' in working)) return this.#vdiReply(request, working);
      const release = await this.#snapshotGate.acquire(working.vid, working.vid, 'exclusive');
      const result = await this.#inodeMutex
        .run(working.vid, async () => {
          const still = this.#vdis.lookup({ name });
          // Another snapshot retired it while we waited: take the new working VDI's section.
          if (!('vid' in still) || still.vid !== working.vid) return undefined;
          return run();
        })
        .finally(release);
      if (result !== undefined) return this.#vdiReply(request, result);
      assert(attempt < 1024, `NEW_VDI of "${name}": the working VDI kept changing`);
    }
  }

  async #lockVdi(request: RequestHeader, payload: Buffer, node: StoreNode): Promise<Reply> {
    const query = this.#nameQuery(request, payload);
    if (!query)
      return this.#fail(request, SdRes.INVALID_PARMS, node, 'LOCK_VDI needs name[256] or name+tag[512]');
    const found = this.#vdis.lookup(query);
    if (!('vid' in found)) return this.#reply(request, found.result);
    const type = request.args.kind === 'vdi' && request.args.type === LockType.SHARED ? 'shared' : 'normal';
    // vdi_size is unused by LOCK in sheep: a Collie client puts its id there (docs/store.md).
    const client = request.args.kind === 'vdi' && this.rules.lockClientIds ? request.args.vdiSize : 0n;
    if (this.#locks.lock(found.vid, node.key, type, client) === 'locked')
      return this.#reply(request, SdRes.VDI_LOCKED);
    return this.#vdiReply(request, found);
  }

  #releaseVdi(request: RequestHeader, node: StoreNode): Reply {
    if (request.args.kind !== 'vdi') return this.#reply(request, SdRes.INVALID_PARMS);
    const type = request.args.type === LockType.SHARED ? 'shared' : 'normal';
    const client = this.rules.lockClientIds ? request.args.vdiSize : 0n;
    this.#locks.release(request.args.baseVdiId, node.key, type, client);
    return this.#reply(request, SdRes.SUCCESS);
  }

  #getVdiInfo(request: RequestHeader, payload: Buffer, node: StoreNode): Reply {
    const query = this.#nameQuery(request, payload);
    if (!query)
      return this.#fail(request, SdRes.INVALID_PARMS, node, 'GET_VDI_INFO needs name[256] or name+tag[512]');
    return this.#vdiReply(request, this.#vdis.lookup(query));
  }

  async #deleteVdi(request: RequestHeader, payload: Buffer, node: StoreNode): Promise<Reply> {
    const query = this.#nameQuery(request, payload);
    if (!query)
      return this.#fail(request, SdRes.INVALID_PARMS, node, 'DEL_VDI needs name[256] or name+tag[512]');
    const result = await this.#vdis.deleteVdi(query);
    if ('vid' in result) this.#locks.forget(result.vid);
    return this.#vdiReply(request, result);
  }

  #clusterDefault(request: RequestHeader): Reply {
    const defaults = this.#vdis.defaults;
    return this.#reply(request, SdRes.SUCCESS, undefined, {
      kind: 'clusterDefault',
      nrCopies: defaults.copies,
      copyPolicy: defaults.copyPolicy,
      blockSizeShift: defaults.blockSizeShift,
    });
  }

  #bitmap(request: RequestHeader, bitmap: Buffer): Reply {
    if (request.dataLength !== SD_VDI_BITMAP_SIZE) return this.#reply(request, SdRes.INVALID_PARMS);
    return this.#reply(request, SdRes.SUCCESS, bitmap);
  }

  /**
   * GET_VDI_ATTR: find (or create, or delete) the attribute object for (VDI, key). Attribute
   * objects are keyed by the *name* hash so that attributes survive snapshots; collisions are
   * probed linearly, as sheep does. A delete leaves the object as a tombstone (its name emptied),
   * as sheep's does: removing it would end the probe chain of a key stored past it, which a
   * CREAT|EXCL would then create a second time.
   */
  async #getVdiAttr(request: RequestHeader, payload: Buffer, node: StoreNode): Promise<Reply> {
    if (request.args.kind !== 'vdi' || payload.length !== SD_ATTR_OBJ_SIZE) {
      return this.#fail(
        request,
        SdRes.INVALID_PARMS,
        node,
        `GET_VDI_ATTR needs a ${SD_ATTR_OBJ_SIZE}-byte attribute`,
      );
    }
    const decoded = decodeVdiAttr(payload);
    if (!decoded.ok) return this.#fail(request, SdRes.INVALID_PARMS, node, decoded.error.message);
    const attr = decoded.value;
    const found = this.#vdis.lookup({ name: attr.name, tag: attr.tag, snapid: request.args.snapid });
    if (!('vid' in found)) return this.#reply(request, found.result);
    const nameVid = sdHashVdi(attr.name);
    const wanted = attrKeyOf(payload);
    let attrId = vdiAttrId(payload);
    for (let probe = 0; probe < ATTR_PROBES_MAX; probe++, attrId = (attrId + 1) >>> 0) {
      const oid = vidToAttrOid(nameVid, attrId);
      const existing = await this.#objects.read(oid, 0, SD_ATTR_OBJ_SIZE);
      const answer = (result: number) =>
        this.#reply(request, result, undefined, {
          kind: 'vdi',
          rsvd: 0,
          vdiId: nameVid,
          attrId,
          copies: this.#vdis.defaults.copies,
          blockSizeShift: 0,
        });
      if (!existing) {
        if ((request.flags & SdFlag.CREAT) === 0) return answer(SdRes.NO_OBJ);
        await this.#objects.create(oid, { sizeBytes: SD_ATTR_OBJ_SIZE, data: payload, offset: 0 });
        return answer(SdRes.SUCCESS);
      }
      if (!sameAttrKey(attrKeyOf(existing), wanted)) continue;
      if ((request.flags & SdFlag.DEL) !== 0) {
        await this.#objects.write(oid, 0, Buffer.alloc(1));
        return answer(SdRes.SUCCESS);
      }
      if ((request.flags & SdFlag.EXCL) !== 0) return answer(SdRes.VDI_EXIST);
      return answer(SdRes.SUCCESS);
    }
    return this.#reply(request, SdRes.FULL_VDI);
  }

  /** GET_VDI_COPIES: every live VDI's vdi_state record, with its lock and participants. */
  #vdiCopies(request: RequestHeader): Reply {
    const records: Buffer[] = [];
    const nodes = new Map(this.#options.nodes().map((node) => [node.key, node.endpoint]));
    for (const vid of this.#vdis.vids()) {
      const header = this.#vdis.header(vid)!;
      if (header.name === '') continue;
      const lock = this.#locks.view(vid);
      records.push(
        encodeVdiState({
          vid,
          nrCopies: header.nrCopies,
          snapshot: isSnapshot(header),
          deleted: false,
          copyPolicy: header.copyPolicy,
          blockSizeShift: header.blockSizeShift,
          parentVid: header.parentVdiId,
          lockState:
            lock.state === 'locked'
              ? LockState.LOCKED
              : lock.state === 'shared'
                ? LockState.SHARED
                : LockState.UNLOCKED,
          lockOwner: lock.owner ? nodes.get(lock.owner) : undefined,
          participants: lock.participants.map((participant) => ({
            node: nodes.get(participant.node) ?? endpointFromString(participant.node),
            state:
              participant.state === 'modified'
                ? ParticipantState.MODIFIED
                : participant.state === 'shared'
                  ? ParticipantState.SHARED
                  : ParticipantState.INVALIDATED,
          })),
        }),
      );
    }
    const fits = Math.floor(request.dataLength / SD_VDI_STATE_SIZE);
    return this.#reply(request, SdRes.SUCCESS, Buffer.concat(records.slice(0, fits)));
  }

  #nodeList(request: RequestHeader): Reply {
    const nodes = this.#options
      .nodes()
      .map((node) => encodeSdNode({ node: node.endpoint, nrVnodes: 128, zone: 0 }));
    const body = Buffer.concat(nodes);
    return this.#reply(request, SdRes.SUCCESS, body.subarray(0, Math.min(body.length, request.dataLength)), {
      kind: 'raw',
      bytes: Buffer.alloc(28),
    });
  }

  async #statSheep(request: RequestHeader): Promise<Reply> {
    const capacity = (await this.#options.capacity?.()) ?? { sizeBytes: 0n, freeBytes: 0n };
    return this.#reply(request, SdRes.SUCCESS, undefined, {
      kind: 'node',
      nrNodes: this.#options.nodes().length,
      storeSize: capacity.sizeBytes,
      storeFree: capacity.freeBytes,
    });
  }

  #killNode(request: RequestHeader, node: StoreNode): Reply {
    this.#options.eventLog.append(`store/node/${node.key}`, 'node.killed', {});
    this.#locks.nodeLeft(node.key);
    // Leave after this answer is on its way, so the sender learns that it worked.
    this.#options.clock.setTimeout(() => this.#options.onNodeKill?.(node), 0);
    return this.#reply(request, SdRes.SUCCESS);
  }

  /** Sheep sends this to itself; honour it from a client as sheep would from a peer node. */
  #inodeCoherence(request: RequestHeader, node: StoreNode): Reply {
    if (request.args.kind !== 'inodeCoherence') return this.#reply(request, SdRes.INVALID_PARMS);
    const { vid, validate } = request.args;
    if (this.#locks.participantState(vid, node.key) === undefined) return this.#reply(request, SdRes.NO_VDI);
    if (validate) this.#locks.validate(vid, node.key);
    else this.#locks.invalidateOthers(vid, node.key);
    return this.#reply(request, SdRes.SUCCESS);
  }

  /** COLLIE_FEATURES (Collie's own opcode): 8 bytes, the first u32 LE the feature bits. */
  #features(request: RequestHeader): Reply {
    const body = Buffer.alloc(8);
    body.writeUInt32LE(this.rules.features, 0);
    return this.#reply(request, SdRes.SUCCESS, body);
  }

  // ---- helpers --------------------------------------------------------------------------------

  #nameQuery(
    request: RequestHeader,
    payload: Buffer,
  ): { name: string; tag: string; snapid: number } | undefined {
    if (request.args.kind !== 'vdi') return undefined;
    if (payload.length !== SD_MAX_VDI_LEN && payload.length !== 2 * SD_MAX_VDI_LEN) return undefined;
    return {
      name: cString(payload, 0, SD_MAX_VDI_LEN),
      tag: payload.length > SD_MAX_VDI_LEN ? cString(payload, SD_MAX_VDI_LEN, SD_MAX_VDI_LEN) : '',
      snapid: request.args.snapid,
    };
  }

  #vdiReply(request: RequestHeader, result: { result: number; vid?: number }): Reply {
    if (result.result !== SdRes.SUCCESS || result.vid === undefined)
      return this.#reply(request, result.result);
    const header = this.#vdis.header(result.vid);
    return this.#reply(request, SdRes.SUCCESS, undefined, {
      kind: 'vdi',
      rsvd: 0,
      vdiId: result.vid,
      attrId: 0,
      copies: header?.nrCopies ?? this.#vdis.defaults.copies,
      blockSizeShift: header?.blockSizeShift ?? this.#vdis.defaults.blockSizeShift,
    });
  }

  #fail(request: RequestHeader, result: number, node: StoreNode, why: string): Reply {
    this.#options.logger.warn(
      { op: opcodeName(request.opcode), id: request.id, node: node.key, result: resultName(result) },
      `refused a request: ${why}`,
    );
    return this.#reply(request, result);
  }

  #reply(request: RequestHeader, result: number, payload?: Buffer, args?: ResponseArgs): Reply {
    // Never more payload than asked for: the client reads only data_length bytes.
    const body =
      result === SdRes.SUCCESS && payload && payload.length > 0
        ? payload.subarray(0, request.dataLength)
        : undefined;
    return {
      header: responseFor(request, result, { epoch: EPOCH, args, dataLength: body?.length ?? 0 }),
      payload: body,
    };
  }
}

const EMPTY = Buffer.alloc(0);

function objArgs(request: RequestHeader) {
  return request.args.kind === 'obj' ? request.args : undefined;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The name a NEW_VDI writes into its inode: NUL-terminated inside the 256-byte field and valid
 * UTF-8, so it fits the inode's C string as it came; anything else is refused (undefined).
 */
function vdiNameField(payload: Buffer): string | undefined {
  const field = payload.subarray(0, SD_MAX_VDI_LEN);
  const end = field.indexOf(0);
  if (end === -1) return undefined;
  try {
    return STRICT_UTF8.decode(field.subarray(0, end));
  } catch {
    return undefined;
  }
}

function cString(bytes: Buffer, offset: number, length: number): string {
  const field = bytes.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

interface AttrKey {
  readonly name: Buffer;
  readonly tag: Buffer;
  readonly snapId: number;
  readonly key: Buffer;
}

/** The fields sheep compares, as strcmp sees them: the bytes before the first NUL. */
function attrKeyOf(attr: Buffer): AttrKey {
  return {
    name: cBytes(attr, 0, 256),
    tag: cBytes(attr, 256, 256),
    snapId: attr.readUInt32LE(520),
    key: cBytes(attr, 528, 256),
  };
}

/** Same attribute (an emptied name, a deleted attribute's tombstone, matches nothing). */
function sameAttrKey(existing: AttrKey, wanted: AttrKey): boolean {
  return (
    existing.name.length > 0 &&
    existing.name.equals(wanted.name) &&
    existing.tag.equals(wanted.tag) &&
    existing.snapId === wanted.snapId &&
    existing.key.equals(wanted.key)
  );
}

function cBytes(bytes: Buffer, offset: number, length: number): Buffer {
  const field = bytes.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return end === -1 ? field : field.subarray(0, end);
}

/** True when some data_vdi_id entry in `entries` (u32 LE each) maps an object (is not 0). */
function mapsAnything(entries: Buffer): boolean {
  for (let offset = 0; offset + 4 <= entries.length; offset += 4)
    if (entries.readUInt32LE(offset) !== 0) return true;
  return false;
}
