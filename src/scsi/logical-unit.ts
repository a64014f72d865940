/**
 * One SCSI direct-access logical unit (SBC-3) over a BlockBackend, sans-I/O: the session hands it
 * commands, it answers with status, typed sense and data-in.
 *
 * Dispatch order for every command (SAM-5 and SPC-4 rules for unit attentions, reservations and
 * ALUA):
 * 1. UNIT ATTENTION: a pending condition of this nexus is reported (and cleared) instead of running
 *    the command, except for INQUIRY, REPORT LUNS and REQUEST SENSE, which neither report nor
 *    clear it (REQUEST SENSE returns it as its data; REPORT LUNS clears only 3F/0E), and the
 *    READ/WRITEs EXTENDED COPY sends on the nexus's behalf (`thirdPartyCopy`).
 * 1b. SANITIZE running: NOT READY, SANITIZE IN PROGRESS for all but INQUIRY, REPORT LUNS and
 *    REQUEST SENSE (sbc-sanitize.ts).
 * 2. ALUA: the nexus's target port group state may refuse the command (NOT READY, alua.ts).
 * 3. Reservation commands (RESERVE/RELEASE, PERSISTENT RESERVE IN/OUT) go to the ReservationGate.
 * 4. Unknown operation code: INVALID COMMAND OPERATION CODE; unknown service action of a known
 *    opcode: INVALID FIELD IN CDB on byte 1.
 * 5. ReservationGate.check: RESERVATION CONFLICT.
 * 6. CDB usage check (cdb.ts): reserved or unsupported bits, NACA: INVALID FIELD IN CDB.
 * 7. Medium: a removable LU without medium answers NOT READY, MEDIUM NOT PRESENT; after a failed
 *    sanitize a medium command answers MEDIUM ERROR, SANITIZE COMMAND FAILED (sbc-sanitize.ts).
 * 8. The command's handler (spc-*.ts, sbc-*.ts).
 *
 * EXTENDED COPY reaches other LUs of the target through `copyPeers` (a CSCD designator to that
 * LU's command path), which the target assembly gives; without it a copy stays within this LU.
 *
 * Sense format: CHECK CONDITION results carry typed sense and `senseBytes`, the same condition
 * encoded in the format the control mode page's D_SENSE selects, which the session sends.
 *
 * Cluster mode: when the backend has a `sharedCell` (several target nodes export the storage),
 * the LU's SCSI state is cluster-wide, kept in the cluster document (cluster/cluster-state.ts):
 * reservations (over a cell-backed store), unit attention events, mode parameters and ALUA. The
 * LU joins the document at `open` (or lazily before its first command). Then, per command:
 * 0. Freshness: the newest document this node has is applied; every command except INQUIRY,
 *    REPORT LUNS, REQUEST SENSE and the guarded READ/WRITE family first validates the cell (one
 *    store round trip), so what another node changed is seen (cluster/medium-commands.ts).
 * 1a. Fencing (single-owner): a restarted command admitted under another ownership epoch is
 *    refused with UNIT ATTENTION 2A/06 and never touches the medium (cluster-admission.ts).
 * 7a. Takeover (single-owner): a READ/WRITE-family command at a node that does not own the LU
 *    first takes it over (implicit ALUA transition; refused with NOT READY 04/0A during the
 *    hold-off after this node lost ownership) and then runs again from the top, where it meets
 *    the 2A/06 the transition raised on every nexus (SPC-4); the host retries it.
 * 8. The handler runs admitted: its backend IO carries a guard, and when what it was admitted
 *    under changes (reservations, this group's ALUA state, the epoch, a new unit attention for
 *    the nexus) the IO stops and the whole command is dispatched again, at most
 *    RESTARTS_MAX times (then BUSY). A write may be partly written when it restarts.
 * A lost cell race (CellContention) is BUSY; a store that cannot be reached maps like a backend
 * error; a node configuration the document refuses is NOT READY, MANUAL INTERVENTION REQUIRED.
 */
import type { BlockBackend } from '../backends/block-backend.js';
import { IoRestart } from '../backends/shared-cell.js';
import { assert } from '../core/assert.js';
import type { Clock } from '../core/clock.js';
import type { EventLog } from '../core/event-log.js';
import type { Logger } from '../core/logger.js';
import {
  type AluaStateCode,
  aluaRefusal,
  singleGroupProvider,
  type TargetPortGroupProvider,
} from './alua.js';
import {
  findCommandSpec,
  findInvalidCdbField,
  hasServiceAction,
  isKnownOpcode,
  isOffered,
  Op,
  RESERVATION_OPCODES,
  serviceActionOf,
} from './cdb.js';
import { admit, CommandAttempt, CommandRestart, isFenced } from './cluster/cluster-admission.js';
import { clusterCompareAndWriteLock } from './cluster/cluster-compare-and-write-lock.js';
import type { AluaPolicy, ClusterNodeIdentity } from './cluster/cluster-document.js';
import type { ClusterState } from './cluster/cluster-state.js';
import { ALL, uaEvent } from './cluster/cluster-unit-attentions.js';
import { clusterFailureResult, clusterStateFor, reservationGateFor } from './cluster/cluster-wiring.js';
import { needsValidation, touchesMedium } from './cluster/medium-commands.js';
import { setTargetPortGroups } from './cluster/set-target-port-groups.js';
import type { TestOnlyClusterBug } from './cluster/test-only-cluster-bugs.js';
import {
  type BlockLimits,
  type CommandContext,
  type CommandHandler,
  checkCondition,
  DEFAULT_MODE,
  type InquiryStrings,
  type LuGeometry,
  type LuRuntime,
} from './command-context.js';
import { LbaRangeLock } from './lba-range-lock.js';
import { DEFAULT_IEEE_COMPANY_ID, deriveLuIdentity } from './lu-identity.js';
import type { ReservationGate } from './reservation-gate.js';
import type { ReservationsOptions } from './reservations/reservation-gate.js';
import { preFetch, synchronizeCache } from './sbc-cache.js';
import {
  type CompareAndWriteLock,
  compareAndWrite,
  localCompareAndWriteLock,
} from './sbc-compare-and-write.js';
import { readDefectData } from './sbc-defect-data.js';
import { getLbaStatus, readCapacity10, readCapacity16, unmap, writeSame } from './sbc-provisioning.js';
import { orWrite, read, verify, write, writeAndVerify } from './sbc-rw.js';
import { SanitizeState, sanitize } from './sbc-sanitize.js';
import { writeAtomic } from './sbc-write-atomic.js';
import type { Nexus, ScsiCommand, ScsiResult, Sense } from './scsi-types.js';
import { ScsiStatus, SenseKey } from './scsi-types.js';
import { Asc, encodeSense, INVALID_OPCODE, invalidFieldInCdb, MEDIUM_NOT_PRESENT, senseOf } from './sense.js';
import { CopyManager, type CopyPeer, extendedCopy, receiveCopyResults } from './spc-extended-copy.js';
import { inquiry, isDesignatedBy } from './spc-inquiry.js';
import {
  preventAllowMediumRemoval,
  reportLuns,
  reportSupportedOperationCodes,
  reportTargetPortGroups,
  requestSense,
  sendDiagnostic,
  startStopUnit,
  testUnitReady,
} from './spc-misc.js';
import { modeSelect, modeSense } from './spc-mode.js';
import type { UnitAttentions } from './unit-attention.js';

export interface LuIdentityOptions {
  /** T10 VENDOR IDENTIFICATION (8 ASCII characters). */
  readonly vendor?: string;
  /** PRODUCT IDENTIFICATION (16 ASCII characters). */
  readonly product?: string;
  /** PRODUCT REVISION LEVEL (4 ASCII characters). */
  readonly revision?: string;
  /** IEEE COMPANY_ID for the NAA 6 designator (lu-identity.ts). */
  readonly ieeeCompanyId?: number;
  /** Standard INQUIRY MULTIP: the LU is reachable through more than one target port. */
  readonly multiPort?: boolean;
}

export interface LogicalUnitOptions {
  readonly backend: BlockBackend;
  readonly lun: number;
  readonly identity?: LuIdentityOptions;
  /**
   * The reservation gate; default: a `Reservations` the LU builds in memory. In cluster mode the
   * LU always builds its own over the shared cell, and one given here is not used (logged).
   */
  readonly reservations?: ReservationGate;
  /** Options for the `Reservations` gate the LU builds itself. */
  readonly reservationOptions?: Omit<
    ReservationsOptions,
    'unitAttentions' | 'store' | 'initialState' | 'saveAptpl' | 'isKnownTargetPort'
  >;
  readonly unitAttentions: UnitAttentions;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly eventLog: EventLog;
  /** The LUNs this nexus may see (REPORT LUNS). */
  readonly reportLuns: (nexus: Nexus) => readonly number[];
  /** ALUA groups; default: one active/optimized group holding the nexus's port. */
  readonly targetPortGroups?: TargetPortGroupProvider;
  readonly implicitTransitionTimeSec?: number;
  /** Removable medium (INQUIRY RMB, START STOP UNIT LOEJ, PREVENT ALLOW); default false. */
  readonly removable?: boolean;
  /**
   * Write-protected LU (SBC-3): MODE SENSE reports WP and every write is refused with DATA
   * PROTECT, WRITE PROTECTED, whatever the backend allows; default false.
   */
  readonly readOnly?: boolean;
  /**
   * EXTENDED COPY: the other LUs of the same target, by designator (a designation descriptor as
   * a CSCD descriptor carries it; match with `LogicalUnit.isDesignatedBy`), each as the command
   * path the target runs its commands through. Default: none, a copy stays within this LU.
   */
  readonly copyPeers?: (designator: Buffer) => CopyPeer | undefined;
  /** SANITIZE writes at most this many bytes per second (sbc-sanitize.ts); default 64 MiB/s, 0: no limit. */
  readonly sanitizeBytesPerSecond?: number;
  /** Cross-node atomicity for COMPARE AND WRITE and ORWRITE; default: this node only. */
  readonly compareAndWriteLock?: CompareAndWriteLock;
  readonly limits?: Partial<BlockLimits>;
  /**
   * LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT; default 0. (A larger value is legal, but libiscsi's
   * GetLBAStatus.UnmapSingle then expects a descriptor to start one physical block past the LBA it
   * asked about, which a correct GET LBA STATUS cannot do.)
   */
  readonly physicalBlockExponent?: number;
  /** Commands slower than this are logged as warnings; default 10 s. */
  readonly slowCommandMs?: number;
  /**
   * Cluster mode (the backend has a sharedCell): who this node is in the LU's ALUA layout. Every
   * node needs its own node id, target port group and relative target port ids, and keeps them.
   */
  readonly clusterNode?: ClusterNodeIdentity;
  /** Cluster mode: the ALUA policy; default the cluster document's (active-active when new). */
  readonly aluaPolicy?: AluaPolicy;
  /**
   * Cluster mode: every node of the LU is starting now (the service knows, e.g. `collie up`), so
   * the join drops what a power cycle drops: registrations without APTPL, SPC-2 reservations.
   */
  readonly clusterColdStart?: boolean;
  /** Cluster mode, single-owner: after losing ownership no implicit takeover for this long; 1 s. */
  readonly takeoverHoldOffMs?: number;
  /** Test and simulator only: a deliberate cluster bug (cluster/test-only-cluster-bugs.ts). */
  readonly testOnlyBug?: TestOnlyClusterBug;
}

export const DEFAULT_INQUIRY_STRINGS: InquiryStrings = {
  vendor: 'COLLIE',
  product: 'VIRTUAL DISK',
  revision: '0001',
};

const MiB = 1024 * 1024;
const ATOMIC_UNIT_BYTES = 4096;

/** Cluster mode: how often one command may be dispatched again before it is answered BUSY. */
export const RESTARTS_MAX = 8;
const BUSY: ScsiResult = { status: ScsiStatus.BUSY };
const UA_ALUA_CHANGED: Sense = senseOf(SenseKey.UNIT_ATTENTION, Asc.ASYMMETRIC_ACCESS_STATE_CHANGED);
const UA_CAPACITY_CHANGED: Sense = senseOf(SenseKey.UNIT_ATTENTION, Asc.CAPACITY_DATA_HAS_CHANGED);
const UA_BUS_DEVICE_RESET: Sense = senseOf(SenseKey.UNIT_ATTENTION, Asc.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
const NOT_READY_TRANSITIONING: Sense = senseOf(SenseKey.NOT_READY, Asc.ASYMMETRIC_ACCESS_STATE_TRANSITION);

/** Block Limits defaults for a block size (see spc-inquiry.ts for how they are reported). */
export function defaultBlockLimits(blockSizeBytes: number, physicalBlockExponent: number): BlockLimits {
  const physicalBlocks = 2 ** physicalBlockExponent;
  return {
    maxTransferBlocks: Math.floor((8 * MiB) / blockSizeBytes),
    optimalTransferBlocks: Math.floor((4 * MiB) / blockSizeBytes),
    optimalTransferGranularityBlocks: physicalBlocks,
    maxCompareAndWriteBlocks: 255,
    // libiscsi's Inquiry.BlockLimits wants an explicit limit to stay at or below 2^20.
    maxUnmapBlocks: 0x100000,
    maxUnmapDescriptors: 4096,
    optimalUnmapGranularityBlocks: physicalBlocks,
    // As MAXIMUM TRANSFER LENGTH: libiscsi's WriteSame16.Unmap writes, then unmaps, that many blocks.
    maxWriteSameBlocks: Math.floor((8 * MiB) / blockSizeBytes),
    // WRITE ATOMIC(16): up to MAXIMUM TRANSFER LENGTH (its TRANSFER LENGTH field has 16 bits), in
    // whole aligned 4 KiB units, the unit a file system block and Linux's atomic writes use.
    maxAtomicTransferBlocks: Math.min(0xffff, Math.floor((8 * MiB) / blockSizeBytes)),
    atomicAlignmentBlocks: Math.max(1, ATOMIC_UNIT_BYTES / blockSizeBytes),
    atomicGranularityBlocks: Math.max(1, ATOMIC_UNIT_BYTES / blockSizeBytes),
  };
}

// SAM-5: these neither report nor clear a pending UNIT ATTENTION.
const UNIT_ATTENTION_EXEMPT: ReadonlySet<number> = new Set([Op.INQUIRY, Op.REPORT_LUNS, Op.REQUEST_SENSE]);

const HANDLERS: Readonly<Record<string, CommandHandler>> = {
  'TEST UNIT READY': testUnitReady,
  'REQUEST SENSE': requestSense,
  'READ(6)': read,
  'WRITE(6)': write,
  INQUIRY: inquiry,
  'MODE SELECT(6)': modeSelect,
  'MODE SENSE(6)': modeSense,
  'START STOP UNIT': startStopUnit,
  'SEND DIAGNOSTIC': sendDiagnostic,
  'PREVENT ALLOW MEDIUM REMOVAL': preventAllowMediumRemoval,
  'READ CAPACITY(10)': readCapacity10,
  'READ(10)': read,
  'WRITE(10)': write,
  'WRITE AND VERIFY(10)': writeAndVerify,
  'VERIFY(10)': verify,
  'PRE-FETCH(10)': preFetch,
  'SYNCHRONIZE CACHE(10)': synchronizeCache,
  'WRITE SAME(10)': writeSame,
  UNMAP: unmap,
  'MODE SELECT(10)': modeSelect,
  'MODE SENSE(10)': modeSense,
  'READ(16)': read,
  'WRITE(16)': write,
  'COMPARE AND WRITE': compareAndWrite,
  'ORWRITE(16)': orWrite,
  'WRITE AND VERIFY(16)': writeAndVerify,
  'VERIFY(16)': verify,
  'PRE-FETCH(16)': preFetch,
  'SYNCHRONIZE CACHE(16)': synchronizeCache,
  'WRITE SAME(16)': writeSame,
  'READ CAPACITY(16)': readCapacity16,
  'GET LBA STATUS': getLbaStatus,
  'REPORT LUNS': reportLuns,
  'REPORT TARGET PORT GROUPS': reportTargetPortGroups,
  'REPORT SUPPORTED OPERATION CODES': reportSupportedOperationCodes,
  'SET TARGET PORT GROUPS': setTargetPortGroups,
  'READ(12)': read,
  'WRITE(12)': write,
  'WRITE AND VERIFY(12)': writeAndVerify,
  'VERIFY(12)': verify,
  'READ DEFECT DATA(10)': readDefectData,
  'READ DEFECT DATA(12)': readDefectData,
  SANITIZE: sanitize,
  'EXTENDED COPY': extendedCopy,
  'RECEIVE COPY RESULTS': receiveCopyResults,
  'WRITE ATOMIC(16)': writeAtomic,
};

export class LogicalUnit {
  readonly #lu: LuRuntime;
  /** The same object as #lu.geometry, writable here only: backendResized() changes its block count. */
  readonly #geometry: { -readonly [K in keyof LuGeometry]: LuGeometry[K] };
  readonly #reservations: ReservationGate;
  readonly #clock: Clock;
  readonly #slowCommandMs: number;
  readonly #testOnlyBug: TestOnlyClusterBug | undefined;
  #opening: Promise<void> | undefined;

  constructor(options: LogicalUnitOptions) {
    const { backend } = options;
    const blockSizeBytes = backend.blockSizeBytes;
    assert(
      Number.isInteger(blockSizeBytes) &&
        blockSizeBytes >= 512 &&
        (blockSizeBytes & (blockSizeBytes - 1)) === 0,
      `LogicalUnit: backend block size ${blockSizeBytes} must be a power of two >= 512`,
    );
    assert(
      backend.sizeBytes >= blockSizeBytes && backend.sizeBytes % blockSizeBytes === 0,
      `LogicalUnit: backend size ${backend.sizeBytes} must be a non-zero multiple of the block size ${blockSizeBytes}`,
    );
    assert(
      !backend.thin || backend.unmap !== undefined,
      'LogicalUnit: a thin backend must implement unmap()',
    );
    const physicalBlockExponent = options.physicalBlockExponent ?? 0;
    assert(
      Number.isInteger(physicalBlockExponent) && physicalBlockExponent >= 0 && physicalBlockExponent <= 15,
      `LogicalUnit: physicalBlockExponent ${physicalBlockExponent} must be 0..15`,
    );
    const identity = options.identity ?? {};
    const removable = options.removable ?? false;
    // EXTENDED COPY's way to this LU itself: the dispatcher, like any command of the nexus.
    const self: CopyPeer = { execute: (command) => this.execute(command) };
    const copyPeers = options.copyPeers;
    const actor = `scsi/lu/${options.lun}`;
    const mode = { ...DEFAULT_MODE };
    const cluster = clusterStateFor(options, actor, mode);
    this.#reservations = reservationGateFor(options, cluster);
    this.#clock = options.clock;
    this.#slowCommandMs = options.slowCommandMs ?? 10_000;
    this.#testOnlyBug = options.testOnlyBug;
    this.#geometry = {
      blockSizeBytes,
      blockCount: backend.sizeBytes / blockSizeBytes,
      physicalBlockExponent,
    };
    this.#lu = {
      lun: options.lun,
      actor,
      backend,
      geometry: this.#geometry,
      limits: { ...defaultBlockLimits(blockSizeBytes, physicalBlockExponent), ...options.limits },
      identity: deriveLuIdentity(backend.identity, identity.ieeeCompanyId ?? DEFAULT_IEEE_COMPANY_ID),
      strings: {
        vendor: identity.vendor ?? DEFAULT_INQUIRY_STRINGS.vendor,
        product: identity.product ?? DEFAULT_INQUIRY_STRINGS.product,
        revision: identity.revision ?? DEFAULT_INQUIRY_STRINGS.revision,
      },
      multiPort: identity.multiPort ?? true,
      mode,
      readOnly: options.readOnly ?? false,
      removable,
      mediumLoaded: true,
      preventingNexuses: new Set(),
      unitAttentions: options.unitAttentions,
      eventLog: options.eventLog,
      logger: options.logger,
      reportLuns: options.reportLuns,
      targetPortGroups:
        cluster === undefined ? (options.targetPortGroups ?? singleGroupProvider) : () => cluster.groups(),
      implicitTransitionTimeSec: options.implicitTransitionTimeSec ?? 10,
      rangeLock: new LbaRangeLock(),
      compareAndWriteLock:
        options.compareAndWriteLock ??
        (cluster === undefined ? localCompareAndWriteLock : clusterCompareAndWriteLock(backend.sharedCell!)),
      cluster,
      copies: new CopyManager(),
      copyPeer: (designator) => (isDesignatedBy(this.#lu, designator) ? self : copyPeers?.(designator)),
      sanitize: new SanitizeState(options.clock, options.sanitizeBytesPerSecond),
    };
  }

  get lun(): number {
    return this.#lu.lun;
  }

  get blockCount(): number {
    return this.#lu.geometry.blockCount;
  }

  /**
   * Whether a designation descriptor (4-byte header and designator) names this LU: one of its
   * logical-unit designators of VPD 83h. EXTENDED COPY finds its copy targets by it.
   */
  isDesignatedBy(designator: Buffer): boolean {
    return isDesignatedBy(this.#lu, designator);
  }

  /** Cluster mode: this node's view of the shared state (tests, diagnostics); else undefined. */
  get cluster(): ClusterState | undefined {
    return this.#lu.cluster;
  }

  /**
   * Cluster mode: joins the cluster document (once; rejects with ClusterConfigurationError when
   * this node's identity or policy clashes with it). Without it the first command joins. Single
   * node: nothing to do.
   */
  open(): Promise<void> {
    const cluster = this.#lu.cluster;
    if (cluster === undefined || cluster.joined) return Promise.resolve();
    this.#opening ??= cluster.open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  /** Runs one command. Never rejects: a Collie bug becomes HARDWARE ERROR, INTERNAL TARGET FAILURE. */
  async execute(command: ScsiCommand): Promise<ScsiResult> {
    const startedMs = this.#clock.now();
    let result: ScsiResult;
    try {
      result = await this.#dispatch(command);
    } catch (error) {
      this.#lu.logger.error(
        { lun: this.#lu.lun, cdb: command.cdb.toString('hex'), err: error },
        'SCSI command failed inside the logical unit (a Collie bug); answered INTERNAL TARGET FAILURE',
      );
      result = checkCondition(senseOf(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE));
    }
    const elapsedMs = this.#clock.now() - startedMs;
    if (elapsedMs >= this.#slowCommandMs) {
      this.#lu.logger.warn({ lun: this.#lu.lun, opcode: command.cdb[0], elapsedMs }, 'slow SCSI command');
    }
    if (result.sense !== undefined) {
      // Per command (initiators probe unsupported pages, unit attentions follow every reset): trace.
      this.#lu.logger.trace(
        { lun: this.#lu.lun, cdb: command.cdb.toString('hex'), sense: result.sense },
        'CHECK CONDITION',
      );
      if (result.senseBytes === undefined) result = { ...result, senseBytes: this.encodeSense(result.sense) };
    }
    return result;
  }

  /** The sense bytes for a CHECK CONDITION, in the format the control page's D_SENSE selects. */
  encodeSense(sense: Sense): Buffer {
    return encodeSense(sense, this.#lu.mode.descriptorSense ? 'descriptor' : 'fixed');
  }

  /**
   * LOGICAL UNIT RESET (SAM-5): reservations, medium-removal prevention and held copy statuses
   * are dropped, mode parameters return to their defaults (none are saved), and every nexus gets
   * UNIT ATTENTION BUS DEVICE RESET FUNCTION OCCURRED (29/03). A running SANITIZE goes on. Aborting the tasks is the session's part.
   * Single node: all of it has happened when the call returns. Cluster mode: the SPC-2 release,
   * the mode defaults and an `all` 29/03 event are one cell update, which every node applies; the
   * promise resolves once it is committed, so a command through any node afterwards sees the
   * unit attention. If the cell cannot be written the reset is logged and applied here only.
   */
  async reset(_by?: Nexus): Promise<void> {
    const lu = this.#lu;
    lu.preventingNexuses.clear();
    lu.copies.reset();
    const cluster = lu.cluster;
    if (cluster === undefined) {
      this.#reservations.onLunReset();
      Object.assign(lu.mode, DEFAULT_MODE);
      lu.unitAttentions.raiseAll(UA_BUS_DEVICE_RESET);
      lu.eventLog.append(lu.actor, 'lu.reset', {});
      return;
    }
    try {
      if (!cluster.joined) await this.open();
      await cluster.resetLun();
      lu.eventLog.append(lu.actor, 'lu.reset', { cluster: true });
    } catch (error) {
      lu.logger.error(
        { lun: lu.lun, err: error },
        'LUN reset could not be written to the shared cell; other nodes did not see it, this node raised 29/03',
      );
      lu.unitAttentions.raiseAll(UA_BUS_DEVICE_RESET);
      lu.eventLog.append(lu.actor, 'lu.reset', { cluster: false });
    }
  }

  /**
   * I_T nexus loss or logout: the nexus's reservations, prevention, held copy statuses and
   * pending conditions go.
   */
  nexusLost(nexus: Nexus): void {
    this.#reservations.onNexusLoss(nexus);
    this.#lu.preventingNexuses.delete(nexus.id);
    this.#lu.copies.forgetNexus(nexus.id);
    this.#lu.unitAttentions.forget(nexus);
    this.#lu.eventLog.append(this.#lu.actor, 'lu.nexus_lost', { nexus: nexus.id });
  }

  /**
   * The target's LUN inventory changed: REPORTED LUNS DATA HAS CHANGED (3F/0E) on every nexus.
   * The inventory is each node's own, so this stays on this node in cluster mode too.
   */
  reportedLunsChanged(): void {
    this.#lu.unitAttentions.raiseAll(senseOf(SenseKey.UNIT_ATTENTION, Asc.REPORTED_LUNS_DATA_HAS_CHANGED));
  }

  /** Some target port group changed state: ASYMMETRIC ACCESS STATE CHANGED (2A/06) on every nexus. */
  asymmetricAccessStateChanged(): Promise<void> {
    return this.#raiseEverywhere(UA_ALUA_CHANGED);
  }

  /** The capacity changed: CAPACITY DATA HAS CHANGED (2A/09) on every nexus (of every node). */
  capacityChanged(): Promise<void> {
    return this.#raiseEverywhere(UA_CAPACITY_CHANGED);
  }

  /**
   * The backend grew (the admin API's LUN resize, done by the backend first): the block count
   * follows its new size, then CAPACITY DATA HAS CHANGED (2A/09) goes to every nexus (of every
   * node in cluster mode), so hosts read the capacity again. A command already checked against
   * the old block count stays inside it; the next one sees the new one.
   */
  async backendResized(): Promise<void> {
    const { backend } = this.#lu;
    const blockSizeBytes = this.#geometry.blockSizeBytes;
    assert(
      backend.sizeBytes >= blockSizeBytes && backend.sizeBytes % blockSizeBytes === 0,
      `LogicalUnit ${this.#lu.lun}: backend size ${backend.sizeBytes} must be a non-zero multiple of the block size ${blockSizeBytes}`,
    );
    const blockCount = backend.sizeBytes / blockSizeBytes;
    if (blockCount === this.#geometry.blockCount) return;
    const previous = this.#geometry.blockCount;
    this.#geometry.blockCount = blockCount;
    this.#lu.eventLog.append(this.#lu.actor, 'lu.resized', { blockCountBefore: previous, blockCount });
    await this.capacityChanged();
  }

  /** Cluster mode: stops following the shared cell (the LU is going away). */
  close(): void {
    this.#lu.cluster?.close();
  }

  /** A unit attention for every nexus: here (single node) or through the cluster's log. */
  async #raiseEverywhere(sense: Sense): Promise<void> {
    const cluster = this.#lu.cluster;
    if (cluster === undefined) {
      this.#lu.unitAttentions.raiseAll(sense);
      return;
    }
    if (!cluster.joined) await this.open();
    await cluster.publish([uaEvent(sense, ALL)]);
  }

  async #dispatch(command: ScsiCommand): Promise<ScsiResult> {
    if (this.#lu.cluster === undefined) return this.#dispatchOnce(command, undefined);
    const attempt = new CommandAttempt();
    for (;;) {
      try {
        return await this.#dispatchOnce(command, attempt);
      } catch (error) {
        if (error instanceof IoRestart || error instanceof CommandRestart) {
          attempt.restarts += 1;
          if (attempt.restarts <= RESTARTS_MAX) {
            this.#lu.logger.debug(
              { lun: this.#lu.lun, opcode: command.cdb[0], restarts: attempt.restarts, why: error.message },
              'cluster state changed under a command; dispatching it again',
            );
            continue;
          }
          this.#lu.logger.warn(
            { lun: this.#lu.lun, opcode: command.cdb[0], restarts: attempt.restarts },
            'cluster state kept changing under a command; answering BUSY so the initiator retries',
          );
          return BUSY;
        }
        return clusterFailureResult(command, error, this.#lu.logger, this.#lu.lun);
      }
    }
  }

  async #dispatchOnce(command: ScsiCommand, attempt: CommandAttempt | undefined): Promise<ScsiResult> {
    const { cdb, nexus } = command;
    const lu = this.#lu;
    const cluster = lu.cluster;
    if (cdb.length === 0) return checkCondition(INVALID_OPCODE);
    const opcode = cdb[0]!;

    if (cluster !== undefined) {
      if (!cluster.joined) await this.open();
      if (needsValidation(cdb)) await cluster.validate();
      else cluster.applyCached();
    }

    if (command.thirdPartyCopy === true) {
      // EXTENDED COPY's own READ/WRITE: the unit attentions are the initiator's to hear.
    } else if (UNIT_ATTENTION_EXEMPT.has(opcode)) {
      lu.unitAttentions.register(nexus);
    } else {
      const pending = lu.unitAttentions.take(nexus);
      if (pending !== undefined) return checkCondition(pending);
    }

    const sanitizing = lu.sanitize.refusalWhileRunning(opcode);
    if (sanitizing !== undefined) return checkCondition(sanitizing);

    if (cluster !== undefined && attempt !== undefined) {
      if (isFenced({ cluster, attempt, testOnlyBug: this.#testOnlyBug })) {
        lu.logger.info(
          { lun: lu.lun, nexus: nexus.id, admittedEpoch: attempt.admittedEpoch, epoch: cluster.epoch },
          'fenced: a command admitted under an older ownership epoch is refused, not run',
        );
        lu.eventLog.append(lu.actor, 'cluster.fenced', {
          nexus: nexus.id,
          opcode,
          admittedEpoch: attempt.admittedEpoch,
          epoch: cluster.epoch,
        });
        return checkCondition(UA_ALUA_CHANGED);
      }
    }

    const refusal = aluaRefusal(this.#portState(nexus), cdb);
    if (refusal !== undefined) return checkCondition(refusal);

    if (RESERVATION_OPCODES.has(opcode)) return await this.#reservations.execute(command);

    const explicitAlua = cluster !== undefined;
    const entry = findCommandSpec(opcode, serviceActionOf(cdb));
    if (entry === undefined || !isOffered(entry, lu.backend.thin, explicitAlua)) {
      const unknownServiceAction =
        hasServiceAction(opcode) && isKnownOpcode(opcode, lu.backend.thin, explicitAlua);
      return checkCondition(unknownServiceAction ? invalidFieldInCdb(1, 4) : INVALID_OPCODE);
    }

    if (this.#reservations.check(nexus, cdb) === 'conflict')
      return { status: ScsiStatus.RESERVATION_CONFLICT };

    const badField = findInvalidCdbField(cdb, entry);
    if (badField !== undefined) return checkCondition(invalidFieldInCdb(badField.byte, badField.bit));

    if (entry.medium && lu.removable && !lu.mediumLoaded) return checkCondition(MEDIUM_NOT_PRESENT);
    const sanitizeFailed = lu.sanitize.refusalAfterFailure(opcode, entry.medium);
    if (sanitizeFailed !== undefined) return checkCondition(sanitizeFailed);

    let context: CommandContext = { command, cdb, nexus, lu };
    if (cluster !== undefined && attempt !== undefined) {
      if (touchesMedium(cdb) && cluster.needsTakeover()) {
        if (cluster.inTakeoverHoldOff()) return checkCondition(NOT_READY_TRANSITIONING);
        await cluster.takeOver();
        throw new CommandRestart('this node took the LU over');
      }
      const admission = admit({
        cluster,
        unitAttentions: lu.unitAttentions,
        nexus,
        attempt,
        testOnlyBug: this.#testOnlyBug,
      });
      context = { ...context, admission };
    }

    const handler = HANDLERS[entry.name];
    assert(handler !== undefined, `LogicalUnit: no handler for ${entry.name}`);
    return await handler(context);
  }

  #portState(nexus: Nexus): AluaStateCode {
    // Clustered: every nexus of this node comes in through this node's group.
    if (this.#lu.cluster !== undefined) return this.#lu.cluster.myState();
    const group = this.#lu
      .targetPortGroups(nexus)
      .find((candidate) => candidate.id === nexus.targetPortGroup);
    // A port the provider does not know about is not refused here: the target decided to route it.
    return group?.state ?? 0;
  }
}
