/**
 * SANITIZE (SBC-3): OVERWRITE and BLOCK ERASE of every block of the LU, EXIT FAILURE MODE, and
 * the sanitize state every other command meets while a sanitize runs or after one failed.
 *
 * Rules
 * - Service actions OVERWRITE (01h), BLOCK ERASE (02h) and EXIT FAILURE MODE (1Fh).
 *   CRYPTOGRAPHIC ERASE (03h) is not offered (no LU encrypts its blocks, so there is no key to
 *   change); like any unknown service action it is INVALID FIELD IN CDB (byte 1), from the
 *   dispatcher. Reserved CDB bits are refused by the CDB usage check (cdb.ts).
 * - PARAMETER LIST LENGTH: BLOCK ERASE and EXIT FAILURE MODE take none (else INVALID FIELD IN
 *   CDB, byte 7). OVERWRITE needs one of 5 to (logical block length + 4) bytes (else INVALID FIELD
 *   IN CDB, byte 7); a Data-Out shorter than it is PARAMETER LIST LENGTH ERROR.
 * - OVERWRITE parameter list: INVERT (byte 0 bit 7), TEST (bits 6:5, must be 00b), OVERWRITE
 *   COUNT (bits 4:0, 00h reserved), INITIALIZATION PATTERN LENGTH (bytes 2-3, 1 to the logical
 *   block length, and PARAMETER LIST LENGTH - 4), the pattern: any other value is INVALID FIELD IN
 *   PARAMETER LIST pointing at it. Each pass fills every block with the pattern repeated from the
 *   block's first byte; with INVERT every second pass writes it inverted.
 * - BLOCK ERASE deallocates every block: only a thin-provisioned LU offers it (cdb.ts; on any
 *   other it is an unknown service action: libiscsi wants BLOCK ERASE only with LBPME). It unmaps
 *   every block; they read as zeros afterwards (LBPRZ; WABEREQ 01b in the Block Device
 *   Characteristics page).
 * - Paced: a sanitize is maintenance beside the LUs that share the store, so it writes at most
 *   `bytesPerSecond` (LogicalUnitOptions.sanitizeBytesPerSecond, default 64 MiB/s; 0: no limit),
 *   waiting on the LU's clock between 1 MiB pieces. Unmapping is not paced.
 * - Write protection (read-only backend or LU, SWP): DATA PROTECT, WRITE PROTECTED.
 * - While a sanitize runs, every command except INQUIRY, REPORT LUNS and REQUEST SENSE is refused
 *   with NOT READY, LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS (02/04/1B) and a PROGRESS
 *   INDICATION (blocks done of blocks to do, in 65536ths); REQUEST SENSE returns that as its
 *   data. The sanitize takes the LU's whole LBA range exclusive, so writes already running end
 *   before it writes.
 * - IMMED: GOOD once the sanitize has started; else the status when it ended. Task management
 *   and nexus loss do not stop it (a sanitize continues until it completes, SBC-3): aborting the
 *   SANITIZE task answers TASK ABORTED at once and the sanitize goes on. The state survives a
 *   LUN reset.
 * - A failed sanitize (a backend error) leaves the LU in sanitize failure mode: every medium
 *   command except SANITIZE gets MEDIUM ERROR, SANITIZE COMMAND FAILED (03/31/03) until a
 *   sanitize completes, or until EXIT FAILURE MODE if the failed one had AUSE set (without AUSE,
 *   EXIT FAILURE MODE is INVALID FIELD IN CDB on byte 1). EXIT FAILURE MODE outside failure mode
 *   has nothing to do and is GOOD.
 * - The sanitize writes as the device server, not as a nexus: its backend calls carry no command
 *   guard, so no cluster restart can stop it half way. Its state is this node's: on a LU other
 *   target nodes export too, their commands are not refused while it runs.
 * - No unit attention: SBC-3 establishes none for a completed sanitize.
 */
import { BackendError } from '../backends/block-backend.js';
import type { Clock } from '../core/clock.js';
import { Op, readUint16, SanitizeAction } from './cdb.js';
import {
  type CommandContext,
  checkCondition,
  good,
  type LuRuntime,
  TASK_ABORTED_RESULT,
  writeProtectSense,
} from './command-context.js';
import type { ScsiResult, Sense } from './scsi-types.js';
import { SenseKey } from './scsi-types.js';
import {
  Asc,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  PARAMETER_LIST_LENGTH_ERROR,
  senseOf,
} from './sense.js';

export const SANITIZE_FAILED: Sense = senseOf(SenseKey.MEDIUM_ERROR, Asc.SANITIZE_COMMAND_FAILED);

// Answered normally while a sanitize runs (SBC-3).
const ALLOWED_WHILE_RUNNING: ReadonlySet<number> = new Set([Op.INQUIRY, Op.REPORT_LUNS, Op.REQUEST_SENSE]);

// Pieces written (or unmapped) per backend call; the sanitize never holds more than one.
const PIECE_BYTES = 1024 * 1024;
const OVERWRITE_HEADER_BYTES = 4;

/** Default SANITIZE write rate (LogicalUnitOptions.sanitizeBytesPerSecond). */
export const SANITIZE_BYTES_PER_SECOND_DEFAULT = 64 * 1024 * 1024;

/** The LU's sanitize state: running with its progress, failed, or neither; and its pace. */
export class SanitizeState {
  #running: { done: number; total: number } | undefined;
  #failed: { readonly ause: boolean } | undefined;
  readonly #clock: Clock;
  readonly #bytesPerSecond: number;

  constructor(clock: Clock, bytesPerSecond = SANITIZE_BYTES_PER_SECOND_DEFAULT) {
    this.#clock = clock;
    this.#bytesPerSecond = bytesPerSecond;
  }

  /** Waits until `bytesWritten` since `startedMs` keeps within the rate. */
  async pace(startedMs: number, bytesWritten: number): Promise<void> {
    if (this.#bytesPerSecond <= 0) return;
    const dueMs = startedMs + (bytesWritten / this.#bytesPerSecond) * 1000;
    const waitMs = dueMs - this.#clock.now();
    if (waitMs > 0) await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, waitMs));
  }

  /** The LU clock's time, where a paced erase starts counting. */
  now(): number {
    return this.#clock.now();
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  get failed(): boolean {
    return this.#failed !== undefined;
  }

  /** While a sanitize runs: NOT READY, SANITIZE IN PROGRESS for every command but three. */
  refusalWhileRunning(opcode: number): Sense | undefined {
    if (this.#running === undefined || ALLOWED_WHILE_RUNNING.has(opcode)) return undefined;
    return this.#progressSense();
  }

  /** In failure mode: SANITIZE COMMAND FAILED for every medium command but SANITIZE. */
  refusalAfterFailure(opcode: number, medium: boolean): Sense | undefined {
    if (this.#failed === undefined || !medium || opcode === Op.SANITIZE) return undefined;
    return SANITIZE_FAILED;
  }

  /** What REQUEST SENSE reports when no unit attention is pending. */
  condition(): Sense | undefined {
    if (this.#running !== undefined) return this.#progressSense();
    return this.#failed === undefined ? undefined : SANITIZE_FAILED;
  }

  start(total: number): void {
    this.#running = { done: 0, total: Math.max(1, total) };
  }

  advance(done: number): void {
    if (this.#running !== undefined) this.#running.done = done;
  }

  finish(outcome: { ok: true } | { ok: false; ause: boolean }): void {
    this.#running = undefined;
    this.#failed = outcome.ok ? undefined : { ause: outcome.ause };
  }

  /** EXIT FAILURE MODE: 'ok' when the LU left (or was not in) failure mode. */
  exitFailureMode(): 'ok' | 'not-allowed' {
    if (this.#failed === undefined) return 'ok';
    if (!this.#failed.ause) return 'not-allowed';
    this.#failed = undefined;
    return 'ok';
  }

  #progressSense(): Sense {
    const running = this.#running!;
    return senseOf(SenseKey.NOT_READY, Asc.LOGICAL_UNIT_NOT_READY_SANITIZE_IN_PROGRESS, {
      progress: Math.floor((running.done / running.total) * 0x10000),
    });
  }
}

/** What the sanitize does to every block. */
type ErasePlan =
  | { readonly kind: 'unmap' }
  | { readonly kind: 'overwrite'; readonly passes: readonly Buffer[] };

export async function sanitize(context: CommandContext): Promise<ScsiResult> {
  const { cdb, lu, command } = context;
  const serviceAction = cdb[1]! & 0x1f;
  const immediate = (cdb[1]! & 0x80) !== 0;
  const ause = (cdb[1]! & 0x20) !== 0;
  const listLength = readUint16(cdb, 7);
  if (serviceAction === SanitizeAction.EXIT_FAILURE_MODE) {
    if (listLength !== 0) return checkCondition(invalidFieldInCdb(7, 7));
    if (lu.sanitize.exitFailureMode() === 'not-allowed') return checkCondition(invalidFieldInCdb(1, 4));
    lu.eventLog.append(lu.actor, 'lu.sanitize_failure_mode_exited', { nexus: context.nexus.id });
    return good();
  }
  let plan: ErasePlan;
  if (serviceAction === SanitizeAction.OVERWRITE) {
    const blockSize = lu.geometry.blockSizeBytes;
    if (listLength <= OVERWRITE_HEADER_BYTES || listLength > blockSize + OVERWRITE_HEADER_BYTES) {
      return checkCondition(invalidFieldInCdb(7, 7));
    }
    const protectedSense = writeProtectSense(lu);
    if (protectedSense !== undefined) return checkCondition(protectedSense);
    if (command.dataOut.length < listLength) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
    const parsed = parseOverwriteList(command.dataOut.subarray(0, listLength), blockSize);
    if ('key' in parsed) return checkCondition(parsed);
    plan = parsed;
  } else {
    if (listLength !== 0) return checkCondition(invalidFieldInCdb(7, 7));
    const protectedSense = writeProtectSense(lu);
    if (protectedSense !== undefined) return checkCondition(protectedSense);
    plan = { kind: 'unmap' };
  }
  const blockCount = lu.geometry.blockCount;
  const passes = plan.kind === 'unmap' ? 1 : plan.passes.length;
  lu.sanitize.start(blockCount * passes);
  lu.eventLog.append(lu.actor, 'lu.sanitize_started', {
    nexus: context.nexus.id,
    serviceAction,
    immediate,
    blockCount,
  });
  const work = erase(lu, plan, blockCount).then(
    () => {
      lu.sanitize.finish({ ok: true });
      lu.eventLog.append(lu.actor, 'lu.sanitize_completed', { serviceAction });
      return good();
    },
    (error: unknown) => {
      lu.sanitize.finish({ ok: false, ause });
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof BackendError) {
        lu.logger.warn({ lun: lu.lun, kind: error.kind, err: message }, 'SANITIZE failed in the backend');
      } else {
        lu.logger.error(
          { lun: lu.lun, err: error },
          'SANITIZE failed inside the logical unit (a Collie bug)',
        );
      }
      lu.eventLog.append(lu.actor, 'lu.sanitize_failed', { serviceAction, error: message });
      return checkCondition(SANITIZE_FAILED);
    },
  );
  if (immediate) return good();
  // Aborting the SANITIZE task ends the task, not the sanitize: answer TASK ABORTED at once.
  const signal = command.signal;
  if (signal?.onAbort === undefined) return work;
  return Promise.race([
    work,
    new Promise<ScsiResult>((resolve) => signal.onAbort!(() => resolve(TASK_ABORTED_RESULT))),
  ]);
}

/** Validates an OVERWRITE parameter list; the passes' block images, or the refusal. */
function parseOverwriteList(list: Buffer, blockSize: number): ErasePlan | Sense {
  const invert = (list[0]! & 0x80) !== 0;
  const test = (list[0]! >> 5) & 0x03;
  const count = list[0]! & 0x1f;
  if (test !== 0) return invalidFieldInParameterList(0, 6);
  if (count === 0) return invalidFieldInParameterList(0, 4);
  const patternLength = readUint16(list, 2);
  if (
    patternLength === 0 ||
    patternLength > blockSize ||
    patternLength + OVERWRITE_HEADER_BYTES !== list.length
  ) {
    return invalidFieldInParameterList(2, 7);
  }
  const pattern = list.subarray(OVERWRITE_HEADER_BYTES);
  const block = Buffer.alloc(blockSize);
  for (let offset = 0; offset < blockSize; offset += patternLength) pattern.copy(block, offset);
  const inverted = Buffer.from(block.map((byte) => byte ^ 0xff));
  const passes = Array.from({ length: count }, (_, pass) => (invert && pass % 2 === 1 ? inverted : block));
  return { kind: 'overwrite', passes };
}

/** Erases blocks [0, blockCount) holding the whole range exclusive; progress goes to lu.sanitize. */
async function erase(lu: LuRuntime, plan: ErasePlan, blockCount: number): Promise<void> {
  const blockSize = lu.geometry.blockSizeBytes;
  const backend = lu.backend;
  const pieceBlocks = Math.max(1, Math.min(blockCount, Math.floor(PIECE_BYTES / blockSize)));
  await lu.rangeLock.run(0, blockCount, 'exclusive', async () => {
    if (plan.kind === 'unmap') {
      for (let done = 0; done < blockCount; done += pieceBlocks) {
        const count = Math.min(pieceBlocks, blockCount - done);
        await backend.unmap!(done * blockSize, count * blockSize);
        lu.sanitize.advance(done + count);
      }
    } else {
      const piece = Buffer.alloc(pieceBlocks * blockSize);
      const startedMs = lu.sanitize.now();
      let progress = 0;
      for (const image of plan.passes) {
        for (let index = 0; index < pieceBlocks; index++) image.copy(piece, index * blockSize);
        for (let done = 0; done < blockCount; done += pieceBlocks) {
          const count = Math.min(pieceBlocks, blockCount - done);
          await lu.sanitize.pace(startedMs, progress * blockSize);
          await backend.write(done * blockSize, piece.subarray(0, count * blockSize));
          progress += count;
          lu.sanitize.advance(progress);
        }
      }
    }
    await backend.flush();
  });
}
