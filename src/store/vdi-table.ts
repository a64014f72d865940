/**
 * The store's VDI catalogue: which vids are in use, each VDI's inode header, and the VDI
 * operations of sheep's cluster ops (NEW_VDI create / snapshot / clone / rollback, DEL_VDI,
 * GET_VDI_INFO lookups), done the way sheep 1.0 does them (sheep/vdi.c), on inode objects kept
 * in the object store so that clients that read inodes directly (tgt, dog, qemu) see the same.
 *
 * Theory of operation
 * - Inode objects are the truth; at open the table scans them and rebuilds the in-use and
 *   deleted bitmaps and the header cache. Nothing else is persisted.
 * - vid allocation (default mode, no RECYCLE_VID): a name hashes to `left`; `right` is the first
 *   clear in-use bit at or after it (wrapping to 1). Every VDI sharing that hash, and every
 *   snapshot of one name, sits in the contiguous run [left, right). A new VDI, snapshot or
 *   clone gets `right`. So "test" is 0x7c2b25 and its first snapshot moves the working VDI to
 *   0x7c2b26, exactly as sheep does.
 * - Lookup scans the run from high vid to low; the working VDI has the highest snap_id.
 * - Mutations run one at a time (sheep orders cluster ops totally).
 * - A snapshot writes the new working inode first, then marks the old one (snap_ctime): a crash
 *   in between leaves two working inodes of one name, which open() repairs by marking the older.
 */
import type { Clock } from '../core/clock.js';
import type { EventLog } from '../core/event-log.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import {
  SD_INODE_DATA_END,
  SD_INODE_HEADER_SIZE,
  SD_INODE_SIZE,
  SD_NR_VDIS,
  SD_VDI_BITMAP_SIZE,
  SdRes,
  VDI_BIT,
} from '../sheepdog/wire/constants.js';
import {
  decodeInodeHeader,
  encodeInodeHeader,
  type InodeHeader,
  isDeleted,
  isSnapshot,
  sdTimeFromMs,
} from '../sheepdog/wire/inode.js';
import { isDataOid, oidToVid, vidToDataOid, vidToVdiOid } from '../sheepdog/wire/oid.js';
import { sdHashVdi } from '../sheepdog/wire/vdi-hash.js';
import { vidHex } from './lock-table.js';
import type { ObjectStore } from './object-store.js';

export interface ClusterDefaults {
  readonly copies: number;
  readonly copyPolicy: number;
  readonly blockSizeShift: number;
}

export interface LookupQuery {
  readonly name: string;
  /** Snapshot tag; empty or absent means none. */
  readonly tag?: string;
  /** Snapshot id; 0 or absent means the working VDI (unless a tag is given). */
  readonly snapid?: number;
}

export type VdiResult =
  | {
      readonly result: typeof SdRes.SUCCESS;
      readonly vid: number;
      /** NEW_VDI snapshot or rollback: the working VDI that just became a snapshot. */
      readonly retiredVid?: number;
    }
  | { readonly result: number };

export interface NewVdiRequest {
  readonly name: string;
  readonly sizeBytes: bigint;
  readonly baseVid: number;
  readonly snapid: number;
  readonly copies: number;
  readonly copyPolicy: number;
  readonly storePolicy: number;
  readonly blockSizeShift: number;
}

const DATA_IDS_BYTES = SD_INODE_DATA_END - SD_INODE_HEADER_SIZE;
const SNAP_CTIME_OFFSET = 520;

export class VdiTable {
  readonly #objects: ObjectStore;
  readonly #clock: Clock;
  readonly #eventLog: EventLog;
  readonly #defaults: ClusterDefaults;
  readonly #headers = new Map<number, InodeHeader>();
  readonly #inUse = new Uint8Array(SD_VDI_BITMAP_SIZE);
  readonly #deleted = new Uint8Array(SD_VDI_BITMAP_SIZE);
  readonly #mutex = new KeyedMutex<'vdis'>();

  private constructor(objects: ObjectStore, clock: Clock, eventLog: EventLog, defaults: ClusterDefaults) {
    this.#objects = objects;
    this.#clock = clock;
    this.#eventLog = eventLog;
    this.#defaults = defaults;
  }

  static async open(options: {
    objects: ObjectStore;
    clock: Clock;
    eventLog: EventLog;
    defaults: ClusterDefaults;
  }): Promise<VdiTable> {
    const table = new VdiTable(options.objects, options.clock, options.eventLog, options.defaults);
    for (const oid of await options.objects.list()) {
      if ((oid & ~0x00ffffffffffffffn) !== VDI_BIT || (oid & 0xffffffffn) !== 0n) continue;
      await table.reloadHeader(oidToVid(oid));
    }
    await table.#repairInterruptedSnapshots();
    return table;
  }

  get defaults(): ClusterDefaults {
    return this.#defaults;
  }

  header(vid: number): InodeHeader | undefined {
    return this.#headers.get(vid);
  }

  /** Allocated vids (deleted ones included), ascending. */
  vids(): number[] {
    return [...this.#headers.keys()].sort((a, b) => a - b);
  }

  isSnapshot(vid: number): boolean {
    const header = this.#headers.get(vid);
    return header !== undefined && isSnapshot(header);
  }

  /** READ_VDIS: bit `vid` set for every vid ever allocated. */
  inUseBitmap(): Buffer {
    return Buffer.from(this.#inUse);
  }

  /** READ_DEL_VDIS: bit `vid` set for every deleted VDI. */
  deletedBitmap(): Buffer {
    return Buffer.from(this.#deleted);
  }

  /** Re-reads an inode header after a client wrote into it (a tag, a new size). */
  async reloadHeader(vid: number): Promise<void> {
    const bytes = await this.#objects.read(vidToVdiOid(vid), 0, SD_INODE_HEADER_SIZE);
    if (!bytes) {
      this.#headers.delete(vid);
      return;
    }
    const decoded = decodeInodeHeader(bytes);
    if (!decoded.ok) {
      this.#headers.delete(vid);
      return;
    }
    const header = decoded.value;
    this.#headers.set(vid, header);
    setBit(this.#inUse, vid);
    if (isDeleted(header)) setBit(this.#deleted, vid);
  }

  /** GET_VDI_INFO / LOCK_VDI name resolution, as sheep's fill_vdi_info_range. */
  lookup(query: LookupQuery): VdiResult {
    const tag = query.tag ?? '';
    const snapid = query.snapid ?? 0;
    const wantsSnapshot = tag !== '' || snapid !== 0;
    let nameFound = false;
    for (const vid of this.#run(query.name).reverse()) {
      const header = this.#headers.get(vid);
      if (!header || isDeleted(header) || header.name !== query.name) continue;
      nameFound = true;
      if (!wantsSnapshot) {
        // The working VDI has the highest vid; a snapshot found first means it was deleted.
        return isSnapshot(header) ? { result: SdRes.NO_VDI } : { result: SdRes.SUCCESS, vid };
      }
      if (!isSnapshot(header)) continue;
      if ((tag !== '' && header.tag === tag) || (snapid !== 0 && header.snapId === snapid)) {
        return { result: SdRes.SUCCESS, vid };
      }
    }
    return { result: nameFound && wantsSnapshot ? SdRes.NO_TAG : SdRes.NO_VDI };
  }

  /** NEW_VDI: create, clone, snapshot or rollback, chosen by (snapid, base) as sheep does. */
  newVdi(request: NewVdiRequest): Promise<VdiResult> {
    return this.#mutex.run('vdis', async () => {
      if (request.name === '') return { result: SdRes.INVALID_PARMS };
      if (request.snapid === 0 && request.baseVid === 0) return this.#create(request);
      if (request.snapid === 0) return this.#clone(request);
      return this.#snapshot(request);
    });
  }

  /** DEL_VDI: clears the inode (name, size, data index) and reclaims unshared data objects. */
  deleteVdi(query: LookupQuery): Promise<VdiResult> {
    return this.#mutex.run('vdis', async () => {
      const found = this.lookup(query);
      if (!('vid' in found)) return found;
      const vid = found.vid;
      const header = this.#headers.get(vid)!;
      const cleared: InodeHeader = { ...header, name: '', vdiSize: 0n };
      await this.#objects.create(vidToVdiOid(vid), {
        sizeBytes: SD_INODE_SIZE,
        data: encodeInodeHeader(cleared),
        offset: 0,
      });
      this.#headers.set(vid, cleared);
      setBit(this.#deleted, vid);
      const reclaimed = await this.#reclaimObjectsOf(vid);
      this.#eventLog.append(`store/vdi/${vidHex(vid)}`, 'vdi.deleted', { name: header.name, reclaimed });
      return { result: SdRes.SUCCESS, vid };
    });
  }

  async #create(request: NewVdiRequest): Promise<VdiResult> {
    if (this.lookup({ name: request.name }).result === SdRes.SUCCESS) return { result: SdRes.VDI_EXIST };
    const vid = this.#allocate(request.name);
    if (vid === undefined) return { result: SdRes.FULL_VDI };
    const header = this.#newHeader(request, vid, { snapId: this.#nextSnapId(request.name), parentVdiId: 0 });
    await this.#writeInode(header, undefined);
    this.#eventLog.append(`store/vdi/${vidHex(vid)}`, 'vdi.created', {
      name: header.name,
      sizeBytes: Number(header.vdiSize),
      blockSizeShift: header.blockSizeShift,
    });
    return { result: SdRes.SUCCESS, vid };
  }

  async #clone(request: NewVdiRequest): Promise<VdiResult> {
    const base = this.#headers.get(request.baseVid);
    if (!base || isDeleted(base)) return { result: SdRes.NO_BASE_VDI };
    if (this.lookup({ name: request.name }).result === SdRes.SUCCESS) return { result: SdRes.VDI_EXIST };
    const vid = this.#allocate(request.name);
    if (vid === undefined) return { result: SdRes.FULL_VDI };
    const dataIds = await this.#readDataIds(request.baseVid);
    if (!dataIds) return { result: SdRes.BASE_VDI_READ };
    const header = this.#newHeader(
      { ...request, sizeBytes: request.sizeBytes === 0n ? base.vdiSize : request.sizeBytes },
      vid,
      { snapId: 1, parentVdiId: request.baseVid, blockSizeShift: base.blockSizeShift },
    );
    await this.#writeInode(header, dataIds);
    this.#eventLog.append(`store/vdi/${vidHex(vid)}`, 'vdi.cloned', {
      name: header.name,
      base: request.baseVid,
    });
    return { result: SdRes.SUCCESS, vid };
  }

  /** Snapshot (base = the working VDI) or rollback (base = an older snapshot of the name). */
  async #snapshot(request: NewVdiRequest): Promise<VdiResult> {
    const working = this.lookup({ name: request.name });
    if (!('vid' in working)) return working;
    const current = this.#headers.get(working.vid)!;
    const base = this.#headers.get(request.baseVid);
    if (!base || isDeleted(base) || base.name !== request.name) return { result: SdRes.NO_BASE_VDI };
    const vid = this.#allocate(request.name);
    if (vid === undefined) return { result: SdRes.FULL_VDI };
    const dataIds = await this.#readDataIds(request.baseVid);
    if (!dataIds) return { result: SdRes.BASE_VDI_READ };
    const header: InodeHeader = {
      ...base,
      tag: '',
      createTime: sdTimeFromMs(this.#clock.now()),
      snapCtime: 0n,
      vdiSize: request.baseVid === working.vid ? current.vdiSize : base.vdiSize,
      snapId: current.snapId + 1,
      vdiId: vid,
      parentVdiId: request.baseVid,
    };
    // The new working inode is written (durably) before the old one is marked, but published to
    // lookups only after: until the mark, a client resolving the name gets the old VDI, whose
    // data objects the new one shares until a copy-on-write. A crash between write and mark
    // leaves two working inodes of one name, which open() repairs.
    await this.#writeInode(header, dataIds, { publish: false });
    await this.#markSnapshot(working.vid);
    this.#publish(header);
    this.#eventLog.append(`store/vdi/${vidHex(vid)}`, 'vdi.snapshotted', {
      name: header.name,
      snapshot: working.vid,
      base: request.baseVid,
      tag: this.#headers.get(working.vid)?.tag ?? '',
    });
    return { result: SdRes.SUCCESS, vid, retiredVid: working.vid };
  }

  async #markSnapshot(vid: number): Promise<void> {
    const snapCtime = sdTimeFromMs(this.#clock.now());
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64LE(snapCtime);
    await this.#objects.write(vidToVdiOid(vid), SNAP_CTIME_OFFSET, bytes);
    const header = this.#headers.get(vid)!;
    this.#headers.set(vid, { ...header, snapCtime });
  }

  #newHeader(
    request: NewVdiRequest,
    vid: number,
    fields: { snapId: number; parentVdiId: number; blockSizeShift?: number },
  ): InodeHeader {
    return {
      name: request.name,
      tag: '',
      createTime: sdTimeFromMs(this.#clock.now()),
      snapCtime: 0n,
      vmClockNsec: 0n,
      vdiSize: request.sizeBytes,
      vmStateSize: 0n,
      copyPolicy: request.copyPolicy,
      storePolicy: request.storePolicy,
      nrCopies: request.copies || this.#defaults.copies,
      blockSizeShift: fields.blockSizeShift ?? (request.blockSizeShift || this.#defaults.blockSizeShift),
      snapId: fields.snapId,
      vdiId: vid,
      parentVdiId: fields.parentVdiId,
      btreeCounter: 0,
    };
  }

  async #writeInode(
    header: InodeHeader,
    dataIds: Buffer | undefined,
    options: { publish: boolean } = { publish: true },
  ): Promise<void> {
    const headerBytes = encodeInodeHeader(header);
    const data = dataIds ? Buffer.concat([headerBytes, dataIds]) : headerBytes;
    await this.#objects.create(vidToVdiOid(header.vdiId), { sizeBytes: SD_INODE_SIZE, data, offset: 0 });
    // Metadata changes are rare and must survive a crash once answered.
    await this.#objects.flush();
    if (options.publish) this.#publish(header);
  }

  /** Lookups, READ_VDIS and GET_VDI_COPIES see the VDI from now on. */
  #publish(header: InodeHeader): void {
    this.#headers.set(header.vdiId, header);
    setBit(this.#inUse, header.vdiId);
  }

  async #readDataIds(vid: number): Promise<Buffer | undefined> {
    return this.#objects.read(vidToVdiOid(vid), SD_INODE_HEADER_SIZE, DATA_IDS_BYTES);
  }

  #nextSnapId(name: string): number {
    let highest = 0;
    for (const vid of this.#run(name)) {
      const header = this.#headers.get(vid);
      if (header && !isDeleted(header) && header.name === name) highest = Math.max(highest, header.snapId);
    }
    return highest + 1;
  }

  /** The vids of the contiguous in-use run that starts at the name's hash, ascending. */
  #run(name: string): number[] {
    const vids: number[] = [];
    let vid = sdHashVdi(name);
    for (let steps = 0; steps < SD_NR_VDIS && testBit(this.#inUse, vid); steps++) {
      vids.push(vid);
      vid = vid + 1 === SD_NR_VDIS ? 1 : vid + 1;
    }
    return vids;
  }

  /** The first clear vid at or after the name's hash, wrapping to 1; undefined when full. */
  #allocate(name: string): number | undefined {
    let vid = sdHashVdi(name);
    for (let steps = 0; steps < SD_NR_VDIS; steps++) {
      if (vid !== 0 && !testBit(this.#inUse, vid)) {
        setBit(this.#inUse, vid);
        return vid;
      }
      vid = vid + 1 === SD_NR_VDIS ? 1 : vid + 1;
    }
    return undefined;
  }

  /**
   * Removes the data objects of a deleted VDI that no live VDI still maps (snapshots share
   * objects with their children through data_vdi_id). Without reference counts this reads the
   * index of every live VDI once: deletes are rare, correctness comes first.
   */
  async #reclaimObjectsOf(vid: number): Promise<number> {
    const owned = (await this.#objects.list()).filter((oid) => isDataOid(oid) && oidToVid(oid) === vid);
    if (owned.length === 0) return 0;
    const stillMapped = new Set<number>();
    for (const [otherVid, header] of this.#headers) {
      if (otherVid === vid || isDeleted(header)) continue;
      const ids = await this.#readDataIds(otherVid);
      if (!ids) continue;
      for (const oid of owned) {
        const idx = Number(oid & 0xffffffffn);
        if (idx * 4 + 4 <= ids.length && ids.readUInt32LE(idx * 4) === vid) stillMapped.add(idx);
      }
    }
    let removed = 0;
    for (const oid of owned) {
      if (stillMapped.has(Number(oid & 0xffffffffn))) continue;
      if (await this.#objects.remove(vidToDataOid(vid, Number(oid & 0xffffffffn)))) removed++;
    }
    return removed;
  }

  async #repairInterruptedSnapshots(): Promise<void> {
    const newestWorking = new Map<string, number>();
    for (const vid of this.vids()) {
      const header = this.#headers.get(vid)!;
      if (isDeleted(header) || isSnapshot(header)) continue;
      const previous = newestWorking.get(header.name);
      if (previous !== undefined) {
        const older = this.#headers.get(previous)!.snapId < header.snapId ? previous : vid;
        await this.#markSnapshot(older);
        this.#eventLog.append(`store/vdi/${vidHex(older)}`, 'vdi.snapshot_repaired', { name: header.name });
        if (older === vid) continue;
      }
      newestWorking.set(header.name, vid);
    }
  }
}

function testBit(bitmap: Uint8Array, bit: number): boolean {
  return ((bitmap[bit >> 3] ?? 0) & (1 << (bit & 7))) !== 0;
}

function setBit(bitmap: Uint8Array, bit: number): void {
  bitmap[bit >> 3] = (bitmap[bit >> 3] ?? 0) | (1 << (bit & 7));
}
