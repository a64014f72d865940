/**
 * Runs one block IO through the IO request table (io-table.ts, compiled from
 * machines/io-request.ts): the table decides, this file performs its outputs.
 *
 * Theory of operation: plan against the inode cache (io-plan.ts), then loop: feed an event to
 * the table, perform the outputs it returns (send the object round, send the inode update,
 * reload, replan, record the allocation, complete or fail), and turn what came back into the next
 * event. The loop is bounded: every reload is counted by the machine (reloadsMax), and the step
 * count is capped on top. Every transition goes to the event log (`io.transition`), unless the
 * owner turned IO events off.
 *
 * Sheep's answers become machine outcomes:
 *   SUCCESS -> ok; INODE_INVALIDATED (0x1D) -> invalidated; READONLY (0x1A) -> readonly;
 *   the probe's SUCCESS with snap_ctime != 0, or NO_OBJ on it -> readonly (a snapshot made our
 *   vid read-only, or the inode is mid-snapshot: re-resolve the working VDI);
 *   anything else -> error (the IO fails with a BackendError whose kind fits the code).
 * An allocating write probes once more after its inode update succeeded, to catch a snapshot
 * that raced the update (see #checkNotSnapshotted).
 * When one round has several answers, error beats invalidated beats readonly beats ok.
 * Connection trouble is the pool's business; when it gives up (SheepUnavailableError) the
 * machine gets UNAVAILABLE.
 * After the pool reconnected (the sheep node may have restarted and dropped our participation,
 * inode-cache.ts), no round is sent until the cache rejoined: the round reads as 'invalidated',
 * and the reload LOCKs again. Requests of a round carry the reconnect count they were planned
 * at, so the pool does not resend them over a newer connection (SheepReconnectedError): such a
 * request reads as INODE_INVALIDATED too, and the IO reloads and replans.
 *
 * On a store where a second CREATE replaces an object (sheep 1.0; the backend decides from
 * COLLIE_FEATURES and passes `allocationClaims`), a round that creates objects is preceded by
 * their allocation claims (allocation-claims.ts): the step either lets the round go, or hands
 * the machine an outcome it already knows (a stale plan reads as 'invalidated' and is reloaded
 * and replanned). An object whose dead claimant created it is written with WRITE_OBJ and still
 * mapped by our inode update. The IO deletes its claims when it ends (after its inode update,
 * or after a failure whose answers are all in).
 *
 * Guarded IO (an IoGuard, src/backends/shared-cell.ts: what several target nodes exporting one
 * VDI need to stop an IO once another node changed their shared state). The guard is a step the
 * runner takes, like the allocation claim, not a state of the io-request machine:
 * - Each guarded IO has a baseline: the cache generation up to which its guard has seen the
 *   shared state (GuardedIoSupport.baselineOf: the shared cell's last re-read, or for the cell's
 *   own pinned guards the generation of its bump). No round of it is sent while the cache is at
 *   another generation: the round reads as 'invalidated' (nothing is sent), and the reload step
 *   consults the guard instead of reloading.
 * - After every reload of a guarded IO (INODE_INVALIDATED, READONLY, a rejoin), the runner lets
 *   the shared state catch up with the cache (GuardedIoSupport.catchUp: the cell re-reads) and
 *   then asks guard.afterChange(); 'restart' rejects the IO with IoRestart and nothing more is
 *   sent for it; 'continue' moves its baseline to the generation the guard saw, and the IO
 *   replans as usual. Rounds block reloads (beginRound), so a round sent at the baseline was
 *   checked by the store before anything this node learned later.
 * - A guarded write never creates objects in its own rounds: its objects are first allocated by
 *   an unguarded IO that CREATEs them with no bytes (zeros, or the ancestor's copy with COW) and
 *   maps them, which changes nothing the LU reads; the guarded bytes then go out as WRITE_OBJ,
 *   one round that lands whole or is refused whole. A guarded CREATE could land and its inode
 *   update then be refused: the bytes of an IO that was restarted (a COMPARE AND WRITE that then
 *   reports a miscompare) would sit in an unmapped object, and the next writer's CREATE into it
 *   (Collie's store writes into an object that exists) would make them visible.
 * - Without a guard nothing changes.
 *
 * A lock-less cache (inode-cache.ts mode 'lockless', for `collie vdi read/write`) runs the same
 * plans and the same table, with three differences: no request carries the TGT flag (each is
 * checked by assertLockless), reads carry no probe, and the check after an inode update reads
 * snap_ctime without the TGT flag. Its requests are not tied to a reconnect count (it has no
 * participation to rejoin). READONLY still re-resolves the working VDI and replans.
 *
 * Metrics (optional): every round (object round, inode update, the check after it) that sheep
 * answered INODE_INVALIDATED counts once as an invalidation, and every replan as a retry.
 */

import {
  type IoOutcome,
  type IoRequestEvent,
  type IoRequestOutput,
  RELOADS_TOTAL_FACTOR,
} from '../../../machines/io-request.js';
import { BackendError, type BackendErrorKind } from '../../backends/block-backend.js';
import { type IoGuard, IoRestart } from '../../backends/shared-cell.js';
import type { AbortFlag } from '../../core/abort-flag.js';
import { assert } from '../../core/assert.js';
import type { Clock } from '../../core/clock.js';
import type { EventLog } from '../../core/event-log.js';
import type { SheepClientMetrics } from '../../metrics/sheep-metrics.js';
import type { SheepRequestHeader, SheepResponse } from '../sheep-connection.js';
import { opcodeName, resultName, SdRes } from '../wire/constants.js';
import { AllocationClaims, IoClaims } from './allocation-claims.js';
import type { InodeCache } from './inode-cache.js';
import { outcomeForResult, rankOutcome } from './io-outcome.js';
import { type IoPiece, type IoPlan, objectRange, planProbe, planRead, planWrite } from './io-plan.js';
import { type IoRun, ioTable } from './io-table.js';
import { ObjectRangeLock } from './range-lock.js';
import {
  type PoolRequestOptions,
  SheepReconnectedError,
  type SheepRequestPool,
  SheepUnavailableError,
} from './sheep-pool.js';
import type { TestOnlyClientBug } from './test-only-client-bugs.js';
import {
  assertLockless,
  createDataRequest,
  inodeUpdateRequest,
  probeRequest,
  probeResult,
  readDataRequest,
  writeDataRequest,
} from './tgt-requests.js';

export { TEST_ONLY_CLIENT_BUGS, type TestOnlyClientBug } from './test-only-client-bugs.js';

export const RELOADS_MAX_DEFAULT = 8;
/** INCOMPLETE and COLLECTING_CINFO as sheep v0.9.x numbers them (tgt's table); v1.0: 0x94, 0x95. */
const LEGACY_INCOMPLETE = 0x1b;
const LEGACY_COLLECTING_CINFO = 0x1c;
/** The 'ack-before-inode-update' bug sends the update this long after the write completed. */
const TEST_ONLY_LATE_INODE_UPDATE_MS = 200;

export type IoKind = 'read' | 'write' | 'probe';

export interface IoSpec {
  readonly kind: IoKind;
  readonly offsetBytes: number;
  readonly lengthBytes: number;
  /** The bytes to write (kind 'write'). */
  readonly data?: Buffer;
  /** The SCSI task was aborted: send nothing more for this IO (BlockBackend.write). */
  readonly signal?: AbortFlag;
  /** Whose IO this is, when not the LU's: logged with every transition (the shared cell's: 'cell'). */
  readonly purpose?: 'cell';
  /** Consulted after the shared state may have changed (see the file comment); undefined: unguarded. */
  readonly guard?: IoGuard;
  /** A read carries the coherence probe whatever the mapping (the shared cell's reads). */
  readonly probe?: boolean;
  /**
   * A write that only allocates: its creates carry no bytes, its WRITE_OBJ pieces are not sent
   * (the first step of a guarded write; see the file comment). `data` is not needed.
   */
  readonly allocateOnly?: boolean;
}

/** What the runner needs to run guarded IO: the shared cell (sheep-shared-cell.ts). */
export interface GuardedIoSupport {
  /** The cache generation up to which `guard` has seen the shared state. */
  baselineOf(guard: IoGuard): number;
  /**
   * Brings the shared state `guard` decides on up to the cache's generation (the cell re-reads
   * when a reload may have changed it); resolves with the generation it is current at. Rejects
   * with SheepUnavailableError or BackendError.
   */
  catchUp(guard: IoGuard): Promise<number>;
}

/** What a finished IO reports (runTracked). */
export interface IoResult {
  /** The bytes of a read. */
  readonly bytes: Buffer | undefined;
  /** The cache generation of the IO's last plan: its last round was sent at it, unrefused. */
  readonly generation: number;
}

export interface IoRunnerOptions {
  readonly pool: SheepRequestPool;
  readonly cache: InodeCache;
  readonly clock: Clock;
  readonly eventLog: EventLog;
  /** Event log actor for IO transitions, e.g. "sheepdog/vol0@127.0.0.1:7000/io". */
  readonly actor: string;
  readonly reloadsMax?: number;
  /** Probe on every read, not only on reads of areas we do not own (see the report on snapshots). */
  readonly probeEveryRead?: boolean;
  /** Log every IO transition (default true). */
  readonly ioEvents?: boolean;
  /** A bug injected on purpose for the simulator's self-test; never set outside tests. */
  readonly testOnlyBug?: TestOnlyClientBug;
  /**
   * Claim each object before creating it (a store without CREATE_NEVER_REPLACES: sheep 1.0);
   * undefined: no claims (Collie's store, or a lock-less client, which never claims).
   */
  readonly allocationClaims?: { readonly waitMs: number };
  /** Where invalidations and replans are counted (see the file comment); default: nowhere. */
  readonly metrics?: SheepClientMetrics;
}

/** One IO in flight. */
interface Io {
  readonly id: number;
  readonly spec: IoSpec;
  readonly run: IoRun;
  plan: IoPlan;
  /** The cache's `changes` when the current plan was made (a reload past it is progress). */
  changesAtPlan: number;
  /** The read result (zero-filled; pieces are copied in when a round succeeds). */
  readonly buffer: Buffer | undefined;
  /** The failing answer of the last round, for the error message. */
  failedCode: number;
  failedWhat: string;
  /** Why the pool or the reload gave up. */
  cause: Error | undefined;
  /** Its allocation claims (only with allocationClaims). */
  readonly claims: IoClaims | undefined;
  /** The cache generation up to which its guard has seen the shared state (guarded IO only). */
  guardBaseline: number;
  /** The last 'invalidated' only meant "consult the guard": the cache itself is current. */
  guardOnly: boolean;
}

const STEPS_MAX_EXTRA = 8;
/** Allocations before a guarded write, when each finds its objects unowned again (snapshots racing). */
const ALLOCATIONS_FIRST_MAX = 4;

export class IoRunner {
  readonly #pool: SheepRequestPool;
  readonly #cache: InodeCache;
  /** Object ranges of the IOs in flight (see run). */
  readonly #rangeLock = new ObjectRangeLock();
  readonly #clock: Clock;
  readonly #eventLog: EventLog;
  readonly #actor: string;
  readonly #reloadsMax: number;
  readonly #probeEveryRead: boolean;
  readonly #ioEvents: boolean;
  readonly #testOnlyBug: TestOnlyClientBug | undefined;
  readonly #claims: AllocationClaims | undefined;
  readonly #metrics: SheepClientMetrics | undefined;
  #guardSupport: GuardedIoSupport | undefined;
  #ioCount = 0;

  constructor(options: IoRunnerOptions) {
    this.#pool = options.pool;
    this.#cache = options.cache;
    this.#clock = options.clock;
    this.#eventLog = options.eventLog;
    this.#actor = options.actor;
    this.#reloadsMax = options.reloadsMax ?? RELOADS_MAX_DEFAULT;
    this.#probeEveryRead = options.probeEveryRead ?? false;
    this.#ioEvents = options.ioEvents ?? true;
    this.#testOnlyBug = options.testOnlyBug;
    this.#metrics = options.metrics;
    assert(
      Number.isSafeInteger(this.#reloadsMax) && this.#reloadsMax >= 0,
      `reloadsMax ${this.#reloadsMax} must be an integer >= 0`,
    );
    const claims = options.allocationClaims;
    assert(
      claims === undefined || this.#cache.coherent,
      `VDI "${this.#cache.vdiName}": allocation claims need a shared-lock (coherent) inode cache`,
    );
    this.#claims =
      claims === undefined
        ? undefined
        : new AllocationClaims({
            pool: this.#pool,
            cache: this.#cache,
            clock: this.#clock,
            eventLog: this.#eventLog,
            actor: this.#actor,
            waitMs: claims.waitMs,
            request: (header) => this.#request(header),
          });
  }

  /** Wires the shared cell in as the runner's guarded-IO support (once, by the backend). */
  useGuardSupport(support: GuardedIoSupport): void {
    assert(this.#guardSupport === undefined, 'the IO runner has its guarded-IO support already');
    this.#guardSupport = support;
  }

  /** True when this runner claims objects before creating them (see the file comment). */
  get claimsAllocations(): boolean {
    return this.#claims !== undefined;
  }

  /**
   * Runs the IO to completion (reads resolve with the bytes; failures reject with BackendError).
   * A read or write holds its object range meanwhile (range-lock.ts: writes exclusive, reads
   * shared, arrival order), so a write plans against every earlier overlapping write's recorded
   * allocation; a probe takes no range.
   */
  async run(spec: IoSpec): Promise<Buffer | undefined> {
    return (await this.runTracked(spec)).bytes;
  }

  /** As run, and says at which cache generation the IO's last round went out (IoResult). */
  async runTracked(spec: IoSpec): Promise<IoResult> {
    // Taken before waiting for the range: what the guard has seen when the IO was handed over.
    const guardBaseline = this.#baselineOf(spec.guard);
    if (spec.kind === 'probe') return this.#run(spec, guardBaseline);
    const { firstIdx, lastIdx } = objectRange(spec.offsetBytes, spec.lengthBytes, this.#cache.objectBytes);
    const release = await this.#rangeLock.acquire(
      firstIdx,
      lastIdx,
      spec.kind === 'write' ? 'exclusive' : 'shared',
    );
    try {
      return await this.#run(spec, guardBaseline);
    } finally {
      release();
    }
  }

  #baselineOf(guard: IoGuard | undefined): number {
    if (guard === undefined) return this.#cache.generation;
    return this.#guardSupport?.baselineOf(guard) ?? this.#cache.generation;
  }

  async #run(spec: IoSpec, guardBaseline: number): Promise<IoResult> {
    // Test-only bugs break the LU's IO, never the shared cell's (purpose 'cell'), whose catch-up
    // would otherwise spin on them.
    if (spec.kind === 'read' && this.#testOnlyBug === 'reads-fail' && spec.purpose === undefined) {
      throw new BackendError(
        'medium',
        `VDI "${this.#cache.vdiName}": read failed (test-only bug reads-fail)`,
      );
    }
    if (spec.kind === 'write' && this.#cache.isSnapshot) {
      throw new BackendError(
        'read-only',
        `VDI "${this.#cache.vdiName}" was opened as a snapshot (vid ${hex(this.#cache.vid)}), which is read-only; write to the working VDI`,
      );
    }
    assert(
      spec.allocateOnly !== true || (spec.kind === 'write' && spec.guard === undefined),
      'only an unguarded write allocates only',
    );
    this.#ioCount += 1;
    const io: Io = {
      id: this.#ioCount,
      spec,
      run: ioTable.start({ reloadsMax: this.#reloadsMax }),
      plan: this.#plan(spec),
      changesAtPlan: this.#cache.changes,
      buffer: spec.kind === 'read' ? Buffer.alloc(spec.lengthBytes) : undefined,
      failedCode: SdRes.SUCCESS,
      failedWhat: '',
      cause: undefined,
      claims: this.#claims === undefined ? undefined : new IoClaims(),
      guardBaseline,
      guardOnly: false,
    };
    const stepsMax = 4 * (RELOADS_TOTAL_FACTOR * Math.max(1, this.#reloadsMax) + 1) + STEPS_MAX_EXTRA;
    let event: IoRequestEvent | undefined;
    try {
      await this.#allocateFirst(io);
      event = { type: 'SEND', creates: io.plan.createCount };
      for (let steps = 0; event !== undefined; steps++) {
        assert(steps < stepsMax, `io ${io.id} took more than ${stepsMax} steps; the io machine loops`);
        const outputs = this.#step(io, event);
        event = undefined;
        for (const output of outputs) {
          const next = await this.#perform(io, output);
          if (next === 'complete') {
            if (io.claims !== undefined) await this.#claims!.release(io.claims, 'completed');
            return { bytes: io.buffer, generation: io.plan.generation };
          }
          event = next ?? event;
        }
      }
    } catch (error) {
      if (io.claims !== undefined) {
        // 'unavailable': a CREATE of ours may still be on its way; keep the claims (see allocation-claims.ts).
        // IoRestart comes only after a round whose answers are all in.
        const answersIn =
          (error instanceof BackendError && error.kind !== 'unavailable') || error instanceof IoRestart;
        await this.#claims!.release(io.claims, answersIn ? 'failed' : 'unavailable');
      }
      throw error;
    }
    assert(false, `io ${io.id} stopped in ${ioTable.stateName(io.run.state)} without completing or failing`);
  }

  /**
   * A guarded write's objects that its plan would create are allocated first, by an unguarded
   * IO that creates them with no bytes (see the file comment); the write is then planned again,
   * as WRITE_OBJ only. The caller holds the IO's object range.
   */
  async #allocateFirst(io: Io): Promise<void> {
    const { spec } = io;
    if (spec.guard === undefined || spec.kind !== 'write') return;
    for (let allocation = 0; io.plan.createCount > 0; allocation++) {
      // The guard is behind already: it is consulted at the first send (and then this runs again
      // after the replan); an allocation now would invalidate the other nodes for nothing.
      if (this.#cache.generation !== io.guardBaseline) return;
      if (allocation >= ALLOCATIONS_FIRST_MAX) {
        throw new BackendError(
          'retries-exhausted',
          `${this.#describe(io)}: its objects were unallocated again after ${ALLOCATIONS_FIRST_MAX} allocations (snapshots racing?); retry the command`,
        );
      }
      await this.#run(
        {
          kind: 'write',
          offsetBytes: spec.offsetBytes,
          lengthBytes: spec.lengthBytes,
          signal: spec.signal,
          allocateOnly: true,
        },
        this.#cache.generation,
      );
      io.plan = this.#plan(spec);
      io.changesAtPlan = this.#cache.changes;
    }
  }

  #plan(spec: IoSpec): IoPlan {
    const cache = this.#cache;
    const mapping = {
      vid: cache.vid,
      objectBytes: cache.objectBytes,
      generation: cache.generation,
      owner: (idx: number) => cache.owner(idx),
    };
    switch (spec.kind) {
      case 'read':
        return planRead(mapping, spec.offsetBytes, spec.lengthBytes, {
          probe: !cache.coherent ? 'never' : this.#probeEveryRead || spec.probe ? 'always' : 'unowned',
          testOnlySkipUnallocatedProbe: this.#testOnlyBug === 'skip-unallocated-probe',
        });
      case 'write':
        return planWrite(mapping, spec.offsetBytes, spec.lengthBytes);
      case 'probe':
        return planProbe(mapping);
    }
  }

  #step(io: Io, event: IoRequestEvent): readonly IoRequestOutput[] {
    const from = io.run.state;
    const outputs = ioTable.step(io.run, event);
    if (this.#ioEvents) {
      this.#eventLog.append(this.#actor, 'io.transition', {
        io: io.id,
        op: io.spec.kind,
        ...(io.spec.purpose === undefined ? {} : { purpose: io.spec.purpose }),
        from: ioTable.stateName(from),
        event: event.type,
        ...(event.type === 'RESULT' ? { outcome: event.outcome, code: io.failedCode } : {}),
        ...(event.type === 'RESULT' && event.outcome !== 'ok' ? { answeredBy: io.failedWhat } : {}),
        ...(event.type === 'SEND' ? { creates: event.creates, vid: io.plan.vid } : {}),
        to: ioTable.stateName(io.run.state),
      });
    }
    return outputs;
  }

  /** Performs one output; returns the next event, 'complete', or undefined (none yet). */
  async #perform(io: Io, output: IoRequestOutput): Promise<IoRequestEvent | 'complete' | undefined> {
    switch (output) {
      case 'sendObjects':
        return this.#sendObjects(io);
      case 'sendInodeUpdate':
        if (this.#testOnlyBug === 'ack-before-inode-update') return this.#testOnlyAckBeforeInodeUpdate(io);
        return this.#sendInodeUpdate(io);
      case 'reloadInvalidated':
        return this.#reload(io, 'invalidated');
      case 'reloadReadonly':
        return this.#reload(io, 'readonly');
      case 'replan':
        this.#metrics?.retried('io_replan');
        io.plan = this.#plan(io.spec);
        io.changesAtPlan = this.#cache.changes;
        await this.#allocateFirst(io);
        return { type: 'SEND', creates: io.plan.createCount };
      case 'recordAllocation':
        this.#cache.recordAllocation(io.plan.vid, io.plan.createMinIdx, io.plan.createMaxIdx);
        return undefined;
      case 'complete':
        return 'complete';
      case 'failRetriesExhausted':
        throw new BackendError(
          'retries-exhausted',
          `${this.#describe(io)} gave up after ${io.run.context.reloadsTotal} inode reloads (${io.run.context.reloads} of them found nothing changed): sheep kept answering ${resultName(io.failedCode)} (${io.failedWhat}); another target may keep changing the inode, or snapshots keep being taken; retry the command`,
        );
      case 'failResult':
        throw new BackendError(
          kindForResult(io.failedCode),
          `${this.#describe(io)} failed: ${io.failedWhat} answered ${resultName(io.failedCode)}`,
        );
      case 'failUnavailable':
        throw new BackendError(
          'unavailable',
          `${this.#describe(io)} failed: ${io.cause?.message ?? 'sheep unreachable'}`,
          {
            cause: io.cause,
          },
        );
      case 'failReload':
        if (io.cause instanceof BackendError) throw io.cause;
        throw new BackendError('medium', `${this.#describe(io)} failed: the inode reload failed`, {
          cause: io.cause,
        });
    }
  }

  /**
   * Waits out a reload in progress; true when the IO's plan is from an older mapping than the
   * cache holds now (the caller then asks for a reload, which returns at once, and replans).
   */
  async #planOutdated(io: Io): Promise<boolean> {
    const reloading = this.#cache.reloadInFlight;
    if (reloading !== undefined) await reloading.catch(() => undefined);
    if (io.plan.generation === this.#cache.generation) return false;
    io.failedCode = SdRes.INODE_INVALIDATED;
    io.failedWhat = 'the inode cache (reloaded while this IO was planned)';
    return true;
  }

  /** Sends one round (its requests started by `send`) counted by the cache; see beginRound. */
  async #round<T>(send: () => Promise<T>): Promise<T> {
    const end = this.#cache.beginRound();
    try {
      return await send();
    } finally {
      end();
    }
  }

  /**
   * The task behind this IO was aborted (the host gave up on it and may retry it elsewhere):
   * nothing more is sent, so a write that waited out a lost store cannot land after the newer
   * write the host sent instead (a ghost write; the simulator's swarm seed 1952).
   */
  #abandoned(io: Io): IoRequestEvent | undefined {
    if (io.spec.signal?.aborted !== true) return undefined;
    return this.#unavailable(
      io,
      new SheepUnavailableError(
        this.#pool.endpoint,
        'the SCSI task was aborted before this IO was done; nothing more is sent for it',
      ),
    );
  }

  async #sendObjects(io: Io): Promise<IoRequestEvent> {
    const abandoned = this.#abandoned(io);
    if (abandoned !== undefined) return abandoned;
    if (await this.#planOutdated(io)) return { type: 'RESULT', outcome: 'invalidated' };
    const { plan } = io;
    if (this.#cache.state === 'invalidated') {
      // A reload failed earlier: the cache itself knows it is stale, so reload before sending.
      io.failedCode = SdRes.INODE_INVALIDATED;
      io.failedWhat = 'the inode cache (an earlier reload failed)';
      return { type: 'RESULT', outcome: 'invalidated' };
    }
    if (this.#cache.rejoinNeeded) return this.#rejoinFirst(io);
    // Before any claim: a guarded write whose guard is behind sends nothing, claims included.
    if (io.spec.guard !== undefined && this.#cache.generation !== io.guardBaseline)
      return this.#guardFirst(io);
    if (io.claims !== undefined && plan.createCount > 0) {
      const step = await this.#claims!.prepare(plan, io.claims);
      if (step.kind === 'unavailable') return this.#unavailable(io, step.error);
      if (step.kind === 'result') {
        io.failedCode = step.code;
        io.failedWhat = step.what;
        return { type: 'RESULT', outcome: step.outcome };
      }
      // Another IO may have reloaded the cache (or the pool reconnected) while this one claimed.
      if (await this.#planOutdated(io)) return { type: 'RESULT', outcome: 'invalidated' };
      if (this.#cache.rejoinNeeded) return this.#rejoinFirst(io);
    }
    // Nothing may be awaited from here until the round is counted (beginRound), so no reload
    // can start between this check and the requests.
    if (io.spec.guard !== undefined && this.#cache.generation !== io.guardBaseline)
      return this.#guardFirst(io);
    const copies = this.#cache.copies;
    const coherent = this.#cache.coherent;
    const data = io.spec.data;
    const allocateOnly = io.spec.allocateOnly === true;
    const sent: Array<{ piece: IoPiece | undefined; answer: Promise<SheepResponse> }> = [];
    for (const originalPiece of plan.pieces) {
      if (originalPiece.action === 'zero') continue;
      if (originalPiece.action === 'read') {
        sent.push({
          piece: originalPiece,
          answer: this.#request(readDataRequest(originalPiece.sourceVid, originalPiece, coherent)),
        });
        continue;
      }
      // Allocating only: our own objects need nothing; a create carries no bytes.
      if (allocateOnly && originalPiece.action === 'write') continue;
      const piece = allocateOnly ? { ...originalPiece, offset: 0, lengthBytes: 0 } : originalPiece;
      assert(data !== undefined || allocateOnly, 'a write IO carries its data');
      const bytes =
        data === undefined || allocateOnly
          ? EMPTY
          : data.subarray(piece.bufferOffset, piece.bufferOffset + piece.lengthBytes);
      // The test-only bug 'wrong-cow-oid': copy from our own (missing) object, not the ancestor's.
      const cowFrom =
        this.#testOnlyBug === 'wrong-cow-oid' && piece.sourceVid !== 0 ? plan.vid : piece.sourceVid;
      // An object a dead claimant created is written into; our inode update still maps it.
      const adopted = piece.action === 'create' && io.claims?.isAdopted(plan.vid, piece.idx) === true;
      const header =
        piece.action === 'write' || adopted
          ? writeDataRequest(plan.vid, piece, copies, coherent)
          : createDataRequest(plan.vid, piece, copies, cowFrom, coherent);
      if (piece.action === 'create' && !adopted) io.claims?.markSent(plan.vid, piece.idx);
      sent.push({ piece, answer: this.#request(header, bytes) });
    }
    if (plan.probe) {
      sent.push({ piece: undefined, answer: this.#request(probeRequest(plan.vid)) });
    }

    let responses: Array<SheepResponse | undefined>;
    try {
      // Settle every answer before the round ends, so a reload never overtakes one of them.
      responses = await this.#round(async () => {
        const settled = await Promise.allSettled(sent.map((request) => request.answer));
        for (const outcome of settled) {
          if (outcome.status === 'rejected' && !(outcome.reason instanceof SheepReconnectedError))
            throw outcome.reason;
        }
        // undefined: not sent, because the pool reconnected (read below as INODE_INVALIDATED).
        return settled.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : undefined));
      });
    } catch (error) {
      return this.#unavailable(io, error);
    }
    let outcome: IoOutcome = 'ok';
    let invalidatedBySheep = false;
    for (let i = 0; i < responses.length; i++) {
      const response = responses[i];
      const piece = sent[i]!.piece;
      if (response === undefined) {
        if (rankOutcome('invalidated') > rankOutcome(outcome)) {
          outcome = 'invalidated';
          io.failedCode = SdRes.INODE_INVALIDATED;
          io.failedWhat = `the pool (reconnected to sheep before ${piece === undefined ? 'the coherence probe' : `the request for object ${piece.idx}`} was sent; rejoining the VDI)`;
        }
        continue;
      }
      const { header, payload } = response;
      let code = header.result;
      if (piece === undefined) code = probeResult(code, payload);
      if (code === SdRes.INODE_INVALIDATED) invalidatedBySheep = true;
      // A lock-less client is told of nobody's changes: an object its inode maps but the store
      // no longer has (a DISCARD since it loaded) means its mapping is stale. Reload and replan.
      if (piece !== undefined && code === SdRes.NO_OBJ && !this.#cache.coherent)
        code = SdRes.INODE_INVALIDATED;
      const pieceOutcome = outcomeForResult(code);
      if (rankOutcome(pieceOutcome) > rankOutcome(outcome)) {
        outcome = pieceOutcome;
        io.failedCode = code;
        io.failedWhat =
          piece === undefined
            ? `the coherence probe of vid ${hex(plan.vid)}`
            : `${opcodeName(header.opcode)} of object ${piece.idx}`;
      }
    }
    if (outcome === 'ok' && io.buffer !== undefined) {
      for (let i = 0; i < responses.length; i++) {
        const piece = sent[i]!.piece;
        if (piece === undefined) continue;
        const payload = responses[i]!.payload;
        // A shorter answer than asked (allowed by §1.6) leaves the rest zero.
        payload.copy(io.buffer, piece.bufferOffset, 0, Math.min(payload.length, piece.lengthBytes));
      }
    }
    if (outcome === 'ok') io.failedCode = SdRes.SUCCESS;
    if (invalidatedBySheep) this.#metrics?.invalidations.inc();
    return { type: 'RESULT', outcome };
  }

  async #sendInodeUpdate(io: Io): Promise<IoRequestEvent> {
    const abandoned = this.#abandoned(io);
    if (abandoned !== undefined) return abandoned;
    const { plan } = io;
    const count = plan.createMaxIdx - plan.createMinIdx + 1;
    assert(plan.createMinIdx >= 0 && count >= 1, `io ${io.id} updates the inode without creates`);
    if (this.#cache.rejoinNeeded) return this.#rejoinFirst(io);
    // Guarded writes allocate first (#allocateFirst): their own rounds create nothing.
    assert(io.spec.guard === undefined, `io ${io.id}: a guarded write sends an inode update`);
    // Pieces are contiguous objects, so after the round every entry in min..max is ours.
    const entries = Buffer.alloc(4 * count);
    for (let i = 0; i < count; i++) entries.writeUInt32LE(plan.vid, 4 * i);
    let response: SheepResponse;
    try {
      response = await this.#round(() =>
        this.#request(
          inodeUpdateRequest(plan.vid, plan.createMinIdx, count, this.#cache.copies, this.#cache.coherent),
          entries,
        ),
      );
    } catch (error) {
      if (error instanceof SheepReconnectedError) return this.#rejoinFirst(io);
      return this.#unavailable(io, error);
    }
    const code = response.header.result;
    if (code === SdRes.INODE_INVALIDATED) this.#metrics?.invalidations.inc();
    io.failedCode = code;
    io.failedWhat = `the inode update of data_vdi_id[${plan.createMinIdx}..${plan.createMaxIdx}] of vid ${hex(plan.vid)}`;
    // Collie's store refuses to map an object that is gone (a DISCARD removed what this IO
    // created): the plan is stale, so reload and create it again.
    if (code === SdRes.NO_OBJ) return { type: 'RESULT', outcome: 'invalidated' };
    if (code !== SdRes.SUCCESS) return { type: 'RESULT', outcome: outcomeForResult(code) };
    return this.#checkNotSnapshotted(io);
  }

  /**
   * After a successful inode update, one probe: was our vid snapshotted before the update
   * landed? Sheep accepts inode writes into a snapshot's inode, so an update racing a snapshot
   * would map our new object in the snapshot only, and the working VDI would miss the write.
   * The probe is sent after the update's answer, so it sees any snapshot that preceded it; a
   * snapshot reads as 'readonly', and the write is redone against the new working VDI (COW
   * from the object we just wrote). INODE_INVALIDATED here is no failure: our update is in.
   */
  async #checkNotSnapshotted(io: Io): Promise<IoRequestEvent> {
    let response: SheepResponse;
    try {
      // Lock-less: the same read without the TGT flag (it only asks whether we are a snapshot).
      // Tied to the reconnect count like every request of the IO: a probe answered by a node
      // that restarted and no longer counts us a participant proves nothing; the IO rejoins
      // and redoes the write (the same bytes, so doing it twice is harmless).
      response = await this.#round(() => this.#request(probeRequest(io.plan.vid, this.#cache.coherent)));
    } catch (error) {
      if (error instanceof SheepReconnectedError) return this.#rejoinFirst(io);
      return this.#unavailable(io, error);
    }
    const code = probeResult(response.header.result, response.payload);
    if (code === SdRes.INODE_INVALIDATED) this.#metrics?.invalidations.inc();
    if (code === SdRes.SUCCESS || code === SdRes.INODE_INVALIDATED) {
      io.failedCode = SdRes.SUCCESS;
      return { type: 'RESULT', outcome: 'ok' };
    }
    io.failedCode = code;
    io.failedWhat = `the probe after the inode update of vid ${hex(io.plan.vid)}`;
    return { type: 'RESULT', outcome: outcomeForResult(code) };
  }

  /**
   * One object request of a round. A coherent cache's requests are tied to the reconnect count
   * it joined at (see the file comment); a lock-less cache's are checked against its rules.
   */
  #request(header: SheepRequestHeader, payload?: Buffer): Promise<SheepResponse> {
    const cache = this.#cache;
    let options: PoolRequestOptions = {};
    if (cache.coherent) options = { sendOnlyAtReconnects: cache.reconnectsAtJoin };
    else assertLockless(header);
    return this.#pool.request(header, payload, options);
  }

  /**
   * The test-only bug 'ack-before-inode-update': the write completes now, as if its inode update
   * had succeeded, and the update goes out later in the background (its answer is ignored).
   */
  #testOnlyAckBeforeInodeUpdate(io: Io): 'complete' {
    const { plan } = io;
    this.#cache.recordAllocation(plan.vid, plan.createMinIdx, plan.createMaxIdx);
    this.#clock.setTimeout(() => {
      this.#sendInodeUpdate(io).catch(() => undefined);
    }, TEST_ONLY_LATE_INODE_UPDATE_MS);
    return 'complete';
  }

  /** The pool reconnected since the cache joined the VDI: reload (which rejoins) before sending. */
  #rejoinFirst(io: Io): IoRequestEvent {
    io.failedCode = SdRes.INODE_INVALIDATED;
    io.failedWhat = 'the inode cache (the pool reconnected to sheep since the last LOCK_VDI; rejoining)';
    return { type: 'RESULT', outcome: 'invalidated' };
  }

  /** The cache moved past what the IO's guard has seen: consult it (via the reload step) before sending. */
  #guardFirst(io: Io): IoRequestEvent {
    io.guardOnly = true;
    io.failedCode = SdRes.INODE_INVALIDATED;
    io.failedWhat = `the shared state (the inode cache reloaded since this IO's guard last looked: generation ${io.guardBaseline} -> ${this.#cache.generation})`;
    return { type: 'RESULT', outcome: 'invalidated' };
  }

  async #reload(io: Io, reason: 'invalidated' | 'readonly'): Promise<IoRequestEvent> {
    // The test-only bug 'retry-without-reload': replan from the same (stale) cache and resend.
    if (
      reason === 'invalidated' &&
      this.#testOnlyBug === 'retry-without-reload' &&
      io.spec.guard === undefined &&
      io.spec.purpose === undefined
    )
      return { type: 'RELOADED', progress: false };
    try {
      // Only the guard was behind: the cache is current, nothing to reload.
      if (!io.guardOnly) await this.#cache.reload(reason, io.plan.generation);
      io.guardOnly = false;
      if (io.spec.guard !== undefined) {
        const stopped = await this.#consultGuard(io, io.spec.guard);
        if (stopped !== undefined) return stopped;
      }
      return { type: 'RELOADED', progress: this.#cache.changes !== io.changesAtPlan };
    } catch (error) {
      if (error instanceof SheepUnavailableError) return this.#unavailable(io, error);
      if (!(error instanceof BackendError)) throw error;
      io.cause = error;
      return { type: 'RELOAD_FAILED' };
    }
  }

  /**
   * After a reload of a guarded IO: the shared state catches up with the cache, then the guard
   * decides. 'restart' throws IoRestart (nothing more is sent for the IO); 'continue' moves the
   * IO's baseline. Returns the event that ends the IO when catching up failed.
   */
  async #consultGuard(io: Io, guard: IoGuard): Promise<IoRequestEvent | undefined> {
    let current: number;
    try {
      current =
        this.#guardSupport === undefined ? this.#cache.generation : await this.#guardSupport.catchUp(guard);
    } catch (error) {
      if (error instanceof SheepUnavailableError) return this.#unavailable(io, error);
      if (!(error instanceof BackendError)) throw error;
      io.cause = error;
      return { type: 'RELOAD_FAILED' };
    }
    const decision = await guard.afterChange();
    if (this.#ioEvents) {
      this.#eventLog.append(this.#actor, 'io.guard_consulted', {
        io: io.id,
        op: io.spec.kind,
        decision,
        from: io.guardBaseline,
        generation: current,
      });
    }
    if (decision === 'restart') {
      throw new IoRestart(
        `${this.#describe(io)} stopped: the shared state changed under it (another target node changed it; the guard said restart); nothing more is sent for it, run the command again`,
      );
    }
    io.guardBaseline = current;
    return undefined;
  }

  #unavailable(io: Io, error: unknown): IoRequestEvent {
    if (!(error instanceof SheepUnavailableError)) throw error;
    io.cause = error;
    return { type: 'UNAVAILABLE' };
  }

  #describe(io: Io): string {
    const { kind, offsetBytes, lengthBytes } = io.spec;
    return `VDI "${this.#cache.vdiName}" (vid ${hex(io.plan.vid)}): ${kind} of ${lengthBytes} bytes at ${offsetBytes}`;
  }
}

const EMPTY = Buffer.alloc(0);

function hex(vid: number): string {
  return `0x${vid.toString(16)}`;
}

/** Which SCSI-facing kind a sheep result that reloading cannot fix maps to. */
export function kindForResult(code: number): BackendErrorKind {
  switch (code) {
    case SdRes.NO_SPACE:
    case SdRes.FULL_VDI:
      return 'space';
    case SdRes.READONLY:
      return 'read-only';
    case SdRes.STARTUP:
    case SdRes.SHUTDOWN:
    case SdRes.WAIT_FOR_FORMAT:
    case SdRes.WAIT_FOR_JOIN:
    case SdRes.HALT:
    case SdRes.NETWORK_ERROR:
    case SdRes.NODE_IN_RECOVERY:
    case SdRes.KILLED:
    case SdRes.INCOMPLETE:
    case SdRes.COLLECTING_CINFO:
    case LEGACY_INCOMPLETE:
    case LEGACY_COLLECTING_CINFO:
      return 'unavailable';
    default:
      return 'medium';
  }
}
