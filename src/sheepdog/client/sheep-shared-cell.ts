/**
 * The shared cell of a sheepdog VDI (src/backends/shared-cell.ts is the contract): a few bytes
 * every target node exporting the VDI sees alike, with linearizable updates, built from nothing
 * but sheep's inode coherence protocol (protocol doc §8) and the client's own data path.
 *
 * Where it lives
 * - The content is data object CELL_OBJECT_IDX = MAX_DATA_OBJS - 1 of the working VDI, beyond the
 *   LU (the backend's range check refuses it to the LU). It is read and written through the IO
 *   runner like any data: planned against the inode cache, created on first write (a claim first
 *   on sheep 1.0), copied on write after a snapshot, so it follows snapshots as the LU's data
 *   does. An unallocated object reads as zeros: empty content, version 0.
 * - Format: a 24-byte header (u32 magic "CCEL", u32 length, u64 version, u32 FNV-1a checksum of
 *   length, version and content, u32 zero), then the content; at most CELL_BYTES_MAX bytes, so it
 *   fits the smallest object (1 MiB). The version is incremented by every update, on any node.
 *   A read that does not check out (wrong magic or checksum: torn by a concurrent write) is read
 *   again.
 * - The bump: a 4-byte zero WRITE_OBJ with the TGT flag into data_vdi_id[CELL_BUMP_IDX =
 *   MAX_DATA_OBJS - 2] of the working VDI's inode, a slot beyond every LU, always 0. It is a
 *   data_vdi_id update, so the store invalidates every other participant before applying it
 *   (§8.3; Collie's store also lets every data write checked before that land first,
 *   store-rules.ts invalidationDrainsCheckedWrites), and it is refused INODE_INVALIDATED when this
 *   node is invalidated itself. A VDI whose objects reach slot CELL_BUMP_IDX (the maximum size),
 *   or a snapshot, has no cell: every operation rejects with a BackendError that says so.
 *
 * update(mutate), serialised per node with exclusive():
 *   1. bump (INODE_INVALIDATED: reload the inode cache, bump again); its generation g is pinned.
 *   2. read the cell with a pinned guard: a round is sent only while the cache is still at g, and
 *      INODE_INVALIDATED or READONLY (another node bumped or a snapshot came since our bump)
 *      is not reloaded-and-resent but ends the read with IoRestart: back to 1.
 *   3. mutate (pure); no `next`: done (linearized at the read).
 *   4. write the cell with the same pinned guard: after another node's bump it never lands
 *      (IoRestart: back to 1). A guarded write allocates its object first with no bytes
 *      (io-runner.ts), so the content goes out as one WRITE_OBJ that lands whole or not at all.
 *   5. announce: bump again, so that every other node that validated its inode since our first
 *      bump (a refresh read re-validates a node without anything of ours in it) is invalidated
 *      once more, now that our write is in; only then does the update resolve.
 *   After `attemptsMax` lost races: CellContention.
 * Why it is linearizable: bumps are serialized by the store; our write lands only if no other
 * node bumped between our bump and the write (the write's check would see us INVALIDATED, or
 * our cache would have reloaded and the pinned guard restarts); a node that bumps after our
 * bump reads after its bump, and so sees our write if it landed (it landed before that bump was
 * answered). Why every node learns of it: after the announce, every other node is INVALIDATED or
 * validated after our write landed; its next TGT request reloads its cache, and any reload makes
 * the cell re-read before a guard is consulted or validate() answers.
 *
 * exclusive(work): bump, then work(guard) with a pinned guard that says 'restart' on any change;
 * IoRestart from work runs it again from the bump (attemptsMax, then CellContention). IO that
 * work does with the guard lands only if no other node bumped since our bump; a node that bumps
 * later reads what we wrote. Two COMPARE AND WRITEs of one block through two nodes: one wins.
 * `work` must not call update or exclusive of the same cell (they wait for it).
 *
 * Learning of changes
 * - The cell is first read by the first validate, update or guarded IO (opening the backend sends
 *   nothing more); until then `cached` is the empty snapshot and no guard has seen anything.
 * - Every completed reload of the inode cache (INODE_INVALIDATED, a snapshot, a rejoin) leaves
 *   the cell stale: `confirmed` (the cache generation its last read went out at) is behind.
 *   With onChange listeners, a re-read runs in the background (one for many reloads); listeners
 *   are called with each snapshot read from the store that differs from the cached one (not for
 *   this node's own updates: their caller knows).
 * - validate(): the coherence probe (TGT); INODE_INVALIDATED or READONLY reloads; then the cell
 *   is re-read if it is stale; resolves with the current snapshot.
 * - As the IO runner's GuardedIoSupport: a guard from outside (the SCSI layer) has seen the cell
 *   up to `confirmed`; catchUp re-reads it before the guard is consulted. The pinned guards of
 *   update and exclusive have seen it up to their bump, and catch up with nothing.
 */
import { BackendError } from '../../backends/block-backend.js';
import {
  CellContention,
  type CellSnapshot,
  type IoGuard,
  IoRestart,
  type SharedCell,
} from '../../backends/shared-cell.js';
import { assert } from '../../core/assert.js';
import type { EventLog } from '../../core/event-log.js';
import type { Logger } from '../../core/logger.js';
import type { SheepRequestHeader } from '../sheep-connection.js';
import { resultName, SD_INODE_DATA_INDEX, SdRes } from '../wire/constants.js';
import type { InodeCache } from './inode-cache.js';
import { type GuardedIoSupport, type IoRunner, kindForResult } from './io-runner.js';
import { SheepReconnectedError, type SheepRequestPool, SheepUnavailableError } from './sheep-pool.js';
import { inodeUpdateRequest, probeRequest, probeResult } from './tgt-requests.js';

/** The data object that holds the cell: the last data_vdi_id slot. */
export const CELL_OBJECT_IDX = SD_INODE_DATA_INDEX - 1;
/** The data_vdi_id slot every update bumps (writes 0 into): the one before the cell's. */
export const CELL_BUMP_IDX = SD_INODE_DATA_INDEX - 2;
/** "CCEL" read as a u32 LE. */
export const CELL_MAGIC = 0x4c454343;
export const CELL_HEADER_BYTES = 24;
/** Largest content: header and content fit the smallest data object (1 MiB). */
export const CELL_BYTES_MAX = 1024 * 1024 - CELL_HEADER_BYTES;
export const CELL_ATTEMPTS_MAX_DEFAULT = 64;
/** The first read of the cell; a longer content takes a second read. */
const CELL_READ_PREFIX_BYTES = 4096;
/** Reads of the cell in one catch-up while the cache keeps reloading or reads come back torn. */
const REREADS_MAX = 8;
/** Reloads one bump may cause before it gives up. */
const BUMP_RELOADS_MAX = 64;

/**
 * Test-only switches that break the cell on purpose, so its tests show they would fail:
 * 'no-bump' sends the coherence probe instead of the bump in step 1 (the view is current, but
 * nobody else is invalidated), 'lenient-write' writes without the pinned guard (INODE_INVALIDATED is
 * reloaded and resent), 'no-announce' skips step 5. Never set outside tests.
 */
export type SharedCellTestOnlyBug = 'no-bump' | 'lenient-write' | 'no-announce';

export interface SheepSharedCellOptions {
  readonly runner: IoRunner;
  readonly cache: InodeCache;
  readonly pool: SheepRequestPool;
  readonly eventLog: EventLog;
  readonly logger: Logger;
  /** Event log actor, e.g. "sheepdog/vol0@127.0.0.1:7000/cell". */
  readonly actor: string;
  /** Lost races before update/exclusive reject with CellContention. Default 64. */
  readonly attemptsMax?: number;
  readonly testOnlyBug?: SharedCellTestOnlyBug;
}

const EMPTY_SNAPSHOT: CellSnapshot = Object.freeze({ version: 0, bytes: Buffer.alloc(0) });
const ZERO_ENTRY = Buffer.alloc(4);

/** A read of the cell that did not check out (torn by a concurrent write, or damaged). */
class CellUnreadable extends Error {}

export class SheepSharedCell implements SharedCell, GuardedIoSupport {
  readonly maxBytes = CELL_BYTES_MAX;
  readonly #runner: IoRunner;
  readonly #cache: InodeCache;
  readonly #pool: SheepRequestPool;
  readonly #eventLog: EventLog;
  readonly #logger: Logger;
  readonly #actor: string;
  readonly #attemptsMax: number;
  readonly #testOnlyBug: SharedCellTestOnlyBug | undefined;
  readonly #listeners = new Set<(snapshot: CellSnapshot) => void>();
  /** The pinned guards of update and exclusive, with the generation of their bump. */
  readonly #pinned = new WeakMap<IoGuard, number>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #stopListening: () => void;
  #snapshot: CellSnapshot = EMPTY_SNAPSHOT;
  /** The cache generation the last read of the cell went out at; -1 before the first. */
  #confirmed = -1;
  #refreshing: Promise<void> | undefined;
  #background: Promise<void> | undefined;
  /** update and exclusive run one at a time on this node. */
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: SheepSharedCellOptions) {
    this.#runner = options.runner;
    this.#cache = options.cache;
    this.#pool = options.pool;
    this.#eventLog = options.eventLog;
    this.#logger = options.logger;
    this.#actor = options.actor;
    this.#attemptsMax = options.attemptsMax ?? CELL_ATTEMPTS_MAX_DEFAULT;
    this.#testOnlyBug = options.testOnlyBug;
    assert(
      Number.isSafeInteger(this.#attemptsMax) && this.#attemptsMax >= 1,
      `shared cell attemptsMax ${this.#attemptsMax} must be an integer >= 1`,
    );
    assert(this.#cache.coherent, 'a shared cell needs a shared-lock (coherent) inode cache');
    this.#stopListening = this.#cache.onReloaded(() => this.#scheduleCatchUp());
  }

  /**
   * Logs, once, when this VDI has no cell. No IO: the cell is first read by the first validate,
   * update, or guarded IO (until then `cached` is the empty snapshot, and no guard has seen it).
   */
  open(): void {
    const refusal = this.#refusal();
    if (refusal === undefined) return;
    this.#logger.warn(
      { vdi: this.#cache.vdiName },
      `${refusal}; SCSI state shared across target nodes (reservations, COMPARE AND WRITE) fails on this LU`,
    );
    this.#log('cell.refused', { why: refusal });
  }

  get cached(): CellSnapshot {
    return this.#snapshot;
  }

  onChange(listener: (snapshot: CellSnapshot) => void): () => void {
    this.#listeners.add(listener);
    // Stale already (a reload came while nobody listened): catch up for the new listener.
    this.#scheduleCatchUp();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  validate(): Promise<CellSnapshot> {
    return this.#operation('validate', async () => {
      const answer = await this.#sendCoherent((vid) => probeRequest(vid));
      const code = probeResult(answer.code, answer.payload);
      if (code === SdRes.INODE_INVALIDATED) await this.#cache.reload('invalidated', answer.generation);
      else if (code === SdRes.READONLY) await this.#cache.reload('readonly', answer.generation);
      else if (code !== SdRes.SUCCESS) throw this.#resultError(code, 'the coherence probe');
      await this.#catchUp();
      return this.#snapshot;
    });
  }

  update<T>(mutate: (current: CellSnapshot) => { readonly next?: Buffer; readonly value: T }): Promise<T> {
    return this.#operation('update', () =>
      this.#serially(async () => {
        let unreadable = 0;
        for (let attempt = 1; attempt <= this.#attemptsMax; attempt++) {
          const generation = await this.#bump('bump');
          const pin = this.#pinnedGuard(generation);
          let current: CellSnapshot;
          try {
            current = await this.#read(pin);
          } catch (error) {
            if (!(error instanceof IoRestart) && !(error instanceof CellUnreadable)) throw error;
            if (error instanceof CellUnreadable) unreadable += 1;
            this.#log('cell.restarted', { op: 'update', attempt, step: 'read', why: error.message });
            continue;
          }
          this.#adopt(current, generation, 'read');
          const { next, value } = mutate(current);
          if (next === undefined) return value;
          assert(
            next.length <= this.maxBytes,
            `shared cell content of ${next.length} bytes exceeds its ${this.maxBytes}-byte maximum`,
          );
          const written: CellSnapshot = { version: current.version + 1, bytes: Buffer.from(next) };
          try {
            await this.#write(written, this.#testOnlyBug === 'lenient-write' ? undefined : pin);
          } catch (error) {
            if (!(error instanceof IoRestart)) throw error;
            this.#log('cell.restarted', { op: 'update', attempt, step: 'write', why: error.message });
            continue;
          }
          if (this.#testOnlyBug !== 'no-announce') await this.#bump('announce');
          this.#adopt(written, generation, 'own');
          this.#log('cell.updated', { version: written.version, bytes: written.bytes.length, attempt });
          return value;
        }
        if (unreadable === this.#attemptsMax) {
          throw new BackendError(
            'medium',
            `VDI "${this.#cache.vdiName}": the shared cell (data object ${CELL_OBJECT_IDX}) did not check out in ${unreadable} reads in a row: it is damaged (or something other than Collie writes it)`,
          );
        }
        throw this.#contention('update');
      }),
    );
  }

  exclusive<T>(work: (guard: IoGuard) => Promise<T>): Promise<T> {
    return this.#operation('exclusive', () =>
      this.#serially(async () => {
        for (let attempt = 1; attempt <= this.#attemptsMax; attempt++) {
          const generation = await this.#bump('bump');
          try {
            return await work(this.#pinnedGuard(generation));
          } catch (error) {
            if (!(error instanceof IoRestart)) throw error;
            this.#log('cell.restarted', { op: 'exclusive', attempt, why: error.message });
          }
        }
        throw this.#contention('exclusive');
      }),
    );
  }

  /** Stops learning of changes and waits for the cell's operations in flight (backend close). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopListening();
    await Promise.allSettled([...this.#inFlight, this.#background]);
  }

  // ---- GuardedIoSupport (io-runner.ts) -----------------------------------------------------------

  baselineOf(guard: IoGuard): number {
    const pinned = this.#pinned.get(guard);
    if (pinned !== undefined) return pinned;
    return this.#refusal() === undefined ? this.#confirmed : this.#cache.generation;
  }

  async catchUp(guard: IoGuard): Promise<number> {
    if (this.#pinned.has(guard) || this.#refusal() !== undefined) return this.#cache.generation;
    return this.#catchUp();
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Why this VDI has no cell, or undefined (see the file comment). */
  #refusal(): string | undefined {
    const name = this.#cache.vdiName;
    if (this.#cache.isSnapshot) return `VDI "${name}" is opened as a snapshot, which has no shared cell`;
    const objects = Math.ceil(Number(this.#cache.header.vdiSize) / this.#cache.objectBytes);
    if (objects > CELL_BUMP_IDX) {
      return `VDI "${name}" has ${objects} data objects: the shared cell needs data_vdi_id slots ${CELL_BUMP_IDX} and ${CELL_OBJECT_IDX} beyond the LU, so a VDI of more than ${CELL_BUMP_IDX} objects (${CELL_BUMP_IDX * this.#cache.objectBytes} bytes at this object size) has none`;
    }
    return undefined;
  }

  /** Runs a public operation: refused without a cell or after close, tracked, errors mapped. */
  async #operation<T>(what: string, work: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      throw new BackendError(
        'unavailable',
        `${what} of the shared cell of VDI "${this.#cache.vdiName}" after the backend was closed`,
      );
    }
    const refusal = this.#refusal();
    if (refusal !== undefined) throw new BackendError('medium', `${what} of the shared cell: ${refusal}`);
    const running = (async () => {
      try {
        return await work();
      } catch (error) {
        if (!(error instanceof SheepUnavailableError)) throw error;
        throw new BackendError(
          'unavailable',
          `${what} of the shared cell of VDI "${this.#cache.vdiName}" failed: ${error.message}`,
          { cause: error },
        );
      }
    })();
    this.#inFlight.add(running);
    const forget = () => this.#inFlight.delete(running);
    running.then(forget, forget);
    return running;
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(work);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  #pinnedGuard(generation: number): IoGuard {
    const guard: IoGuard = { afterChange: async () => 'restart' };
    this.#pinned.set(guard, generation);
    return guard;
  }

  /**
   * One request of this node's participant for the working VDI, as a round of the IO runner's
   * would go: after any reload in flight, after a rejoin the pool asks for, counted as a round
   * (no reload starts meanwhile), tied to the reconnect count. Returns the answer and the cache
   * generation it went out at.
   */
  async #sendCoherent(
    build: (vid: number) => SheepRequestHeader,
    payload?: Buffer,
  ): Promise<{ code: number; readonly payload: Buffer; readonly generation: number }> {
    const cache = this.#cache;
    for (let attempt = 0; ; attempt++) {
      if (attempt > BUMP_RELOADS_MAX) {
        throw new BackendError(
          'retries-exhausted',
          `VDI "${cache.vdiName}": the inode cache kept reloading or the pool kept reconnecting while the shared cell sent a request; retry`,
        );
      }
      for (let reloading = cache.reloadInFlight; reloading !== undefined; reloading = cache.reloadInFlight)
        await reloading.catch(() => undefined);
      if (cache.rejoinNeeded || cache.state === 'invalidated') {
        await cache.reload('invalidated', cache.generation);
        continue;
      }
      const generation = cache.generation;
      const end = cache.beginRound();
      try {
        const response = await this.#pool.request(build(cache.vid), payload, {
          sendOnlyAtReconnects: cache.reconnectsAtJoin,
        });
        return { code: response.header.result, payload: response.payload, generation };
      } catch (error) {
        // Planned before the pool reconnected: rejoin first (next time around).
        if (error instanceof SheepReconnectedError) continue;
        throw error;
      } finally {
        end();
      }
    }
  }

  /**
   * The bump (step 1) or the announce (step 5): a 4-byte zero write into data_vdi_id[CELL_BUMP_IDX];
   * the cache generation it succeeded at.
   */
  async #bump(what: 'bump' | 'announce'): Promise<number> {
    const probeOnly = what === 'bump' && this.#testOnlyBug === 'no-bump';
    for (let reload = 0; ; reload++) {
      if (reload > BUMP_RELOADS_MAX) {
        throw new BackendError(
          'retries-exhausted',
          `VDI "${this.#cache.vdiName}": the shared cell's ${what} was refused after ${BUMP_RELOADS_MAX} inode reloads; retry`,
        );
      }
      const answer = probeOnly
        ? await this.#sendCoherent((vid) => probeRequest(vid))
        : await this.#sendCoherent(
            (vid) => inodeUpdateRequest(vid, CELL_BUMP_IDX, 1, this.#cache.copies),
            ZERO_ENTRY,
          );
      if (probeOnly) answer.code = probeResult(answer.code, answer.payload);
      if (answer.code === SdRes.SUCCESS) {
        this.#log(`cell.${what}`, { generation: answer.generation, vid: hex(this.#cache.vid) });
        return answer.generation;
      }
      if (answer.code === SdRes.INODE_INVALIDATED) await this.#cache.reload('invalidated', answer.generation);
      else if (answer.code === SdRes.READONLY || answer.code === SdRes.NO_OBJ)
        await this.#cache.reload('readonly', answer.generation);
      else throw this.#resultError(answer.code, `the shared cell's ${what}`);
    }
  }

  /**
   * Reads the cell (with the probe, so a stale mapping or a snapshot is caught whoever owns the
   * object): the snapshot and the generation the read went out at. Throws CellUnreadable when
   * the bytes do not check out, IoRestart from a pinned guard.
   */
  async #readGenerational(
    guard: IoGuard | undefined,
  ): Promise<{ snapshot: CellSnapshot; generation: number }> {
    const base = CELL_OBJECT_IDX * this.#cache.objectBytes;
    const first = await this.#runner.runTracked({
      purpose: 'cell',
      kind: 'read',
      offsetBytes: base,
      lengthBytes: CELL_READ_PREFIX_BYTES,
      guard,
      probe: true,
    });
    const prefix = first.bytes!;
    const magic = prefix.readUInt32LE(0);
    const length = prefix.readUInt32LE(4);
    if (magic === 0) {
      if (!isZero(prefix.subarray(0, CELL_HEADER_BYTES)))
        throw new CellUnreadable('the cell header has no magic but is not empty');
      return { snapshot: EMPTY_SNAPSHOT, generation: first.generation };
    }
    if (magic !== CELL_MAGIC || length > CELL_BYTES_MAX) {
      throw new CellUnreadable(
        `the cell header is not one (magic 0x${magic.toString(16)}, length ${length})`,
      );
    }
    let whole = prefix;
    if (CELL_HEADER_BYTES + length > CELL_READ_PREFIX_BYTES) {
      const rest = await this.#runner.runTracked({
        purpose: 'cell',
        kind: 'read',
        offsetBytes: base + CELL_READ_PREFIX_BYTES,
        lengthBytes: CELL_HEADER_BYTES + length - CELL_READ_PREFIX_BYTES,
        guard,
        probe: true,
      });
      if (rest.generation !== first.generation)
        throw new CellUnreadable('the inode cache reloaded between the two reads of the cell');
      whole = Buffer.concat([prefix, rest.bytes!]);
    }
    const decoded = decodeCell(whole);
    if (decoded === undefined)
      throw new CellUnreadable('the cell checksum does not match (a write was under way?)');
    return { snapshot: decoded, generation: first.generation };
  }

  /** A read of update's step 2 (pinned guard). */
  async #read(guard: IoGuard): Promise<CellSnapshot> {
    return (await this.#readGenerational(guard)).snapshot;
  }

  async #write(snapshot: CellSnapshot, guard: IoGuard | undefined): Promise<void> {
    const encoded = encodeCell(snapshot);
    await this.#runner.runTracked({
      purpose: 'cell',
      kind: 'write',
      offsetBytes: CELL_OBJECT_IDX * this.#cache.objectBytes,
      lengthBytes: encoded.length,
      data: encoded,
      guard,
    });
  }

  /**
   * Re-reads the cell until it is current at the cache's generation (one read for everyone who
   * asks meanwhile); resolves with that generation.
   */
  async #catchUp(): Promise<number> {
    for (let read = 0; this.#confirmed < this.#cache.generation; read++) {
      if (read >= REREADS_MAX) {
        throw new BackendError(
          'retries-exhausted',
          `VDI "${this.#cache.vdiName}": the shared cell could not be read at a steady inode (${REREADS_MAX} reads: the inode kept reloading, or the cell's bytes did not check out); retry`,
        );
      }
      this.#refreshing ??= this.#refreshOnce().finally(() => {
        this.#refreshing = undefined;
      });
      await this.#refreshing;
    }
    return this.#confirmed;
  }

  async #refreshOnce(): Promise<void> {
    try {
      const { snapshot, generation } = await this.#readGenerational(undefined);
      this.#adopt(snapshot, generation, 'read');
    } catch (error) {
      // Torn: the caller's loop reads again (and gives up after REREADS_MAX).
      if (!(error instanceof CellUnreadable)) throw error;
      this.#log('cell.unreadable', { why: error.message });
    }
  }

  /**
   * Takes a snapshot current at `generation`: a later generation wins, at the same generation the
   * higher version (two reads at one generation can straddle our own write). Listeners hear of
   * content read from the store that differs from what was cached.
   */
  #adopt(snapshot: CellSnapshot, generation: number, from: 'read' | 'own'): void {
    if (generation < this.#confirmed) return;
    const newer = generation > this.#confirmed || snapshot.version >= this.#snapshot.version;
    this.#confirmed = generation;
    if (!newer) return;
    const previous = this.#snapshot;
    const changed = snapshot.version !== previous.version || !snapshot.bytes.equals(previous.bytes);
    this.#snapshot = snapshot;
    if (!changed || from === 'own') return;
    this.#log('cell.changed', { version: snapshot.version, bytes: snapshot.bytes.length, generation });
    for (const listener of [...this.#listeners]) {
      try {
        listener(snapshot);
      } catch (error) {
        this.#logger.error({ err: error, vdi: this.#cache.vdiName }, 'a shared cell onChange listener threw');
      }
    }
  }

  /**
   * After a reload, with listeners: re-read in the background (one at a time; a reload that
   * comes meanwhile is caught by the loop, or by the check when it ends).
   */
  #scheduleCatchUp(): void {
    if (this.#closed || this.#background !== undefined || this.#listeners.size === 0) return;
    if (this.#refusal() !== undefined || this.#confirmed >= this.#cache.generation) return;
    this.#background = this.#catchUp()
      .then(
        () => undefined,
        (error: unknown) => {
          this.#log('cell.refresh_failed', { why: (error as Error).message });
        },
      )
      .finally(() => {
        this.#background = undefined;
        if (this.#confirmed < this.#cache.generation) this.#scheduleCatchUp();
      });
  }

  #contention(what: 'update' | 'exclusive'): CellContention {
    this.#log('cell.contention', { op: what, attempts: this.#attemptsMax });
    return new CellContention(
      `VDI "${this.#cache.vdiName}": the shared cell's ${what} lost ${this.#attemptsMax} races in a row to other target nodes; retry the command`,
    );
  }

  #resultError(code: number, what: string): BackendError {
    return new BackendError(
      kindForResult(code),
      `VDI "${this.#cache.vdiName}" (vid ${hex(this.#cache.vid)}): ${what} on sheep at ${this.#pool.endpoint} failed: ${resultName(code)}`,
    );
  }

  #log(type: string, data: Record<string, unknown>): void {
    this.#eventLog.append(this.#actor, type, data);
  }
}

/** Header and content (see the file comment). */
export function encodeCell(snapshot: CellSnapshot): Buffer {
  const bytes = Buffer.alloc(CELL_HEADER_BYTES + snapshot.bytes.length);
  bytes.writeUInt32LE(CELL_MAGIC, 0);
  bytes.writeUInt32LE(snapshot.bytes.length, 4);
  bytes.writeBigUInt64LE(BigInt(snapshot.version), 8);
  snapshot.bytes.copy(bytes, CELL_HEADER_BYTES);
  bytes.writeUInt32LE(cellChecksum(bytes), 16);
  return bytes;
}

/** The snapshot in `bytes` (header first), or undefined when it does not check out. */
export function decodeCell(bytes: Buffer): CellSnapshot | undefined {
  if (bytes.length < CELL_HEADER_BYTES || bytes.readUInt32LE(0) !== CELL_MAGIC) return undefined;
  const length = bytes.readUInt32LE(4);
  if (length > CELL_BYTES_MAX || bytes.length < CELL_HEADER_BYTES + length) return undefined;
  const whole = bytes.subarray(0, CELL_HEADER_BYTES + length);
  if (whole.readUInt32LE(16) !== cellChecksum(whole) || whole.readUInt32LE(20) !== 0) return undefined;
  const version = whole.readBigUInt64LE(8);
  if (version > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return { version: Number(version), bytes: Buffer.from(whole.subarray(CELL_HEADER_BYTES)) };
}

/** FNV-1a 32 of length, version and content (bytes 4..16, then from CELL_HEADER_BYTES on). */
function cellChecksum(whole: Buffer): number {
  let hash = 0x811c9dc5;
  const mix = (from: number, to: number) => {
    for (let i = from; i < to; i++) hash = Math.imul(hash ^ whole[i]!, 0x01000193) >>> 0;
  };
  mix(4, 16);
  mix(CELL_HEADER_BYTES, whole.length);
  return hash >>> 0;
}

function isZero(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

function hex(vid: number): string {
  return `0x${vid.toString(16)}`;
}
