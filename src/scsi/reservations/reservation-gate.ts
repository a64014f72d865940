/**
 * `Reservations`: the logical unit's ReservationGate. It ties the pure rules (access-rules,
 * persistent-reserve-in/out, spc2-reservation) to a ReservationStore, the LU's unit attentions,
 * the PREEMPT AND ABORT hook and the APTPL save hook.
 *
 * How it runs
 * - Every command that reads or changes the state runs through one queue, in arrival order, so
 *   two PERSISTENT RESERVE OUTs never interleave on this node. Inside its turn a command reads
 *   the store, plans, and commits with compare-and-set; if another writer (a future cluster
 *   peer) got in first it re-reads and plans again, and after `casAttemptsMax` losses it answers
 *   BUSY so the initiator retries.
 * - `check` is synchronous and answers from the last snapshot this node saw. LUN reset and nexus
 *   loss apply to that snapshot at once (so the next `check` already sees the SPC-2 reservation
 *   gone) and then queue the same change for the store.
 * - Effects happen only after a successful commit: unit attentions at once (on every covered
 *   nexus except the sender's), the APTPL save inside the turn (saves stay in order), and the
 *   abort hook after the turn (an aborted task may itself be waiting in the queue), awaited before
 *   PREEMPT AND ABORT answers GOOD.
 * - A store that publishes unit attentions (the cluster's, cluster/cell-reservation-store.ts)
 *   gets them with the commit, in the same atomic write, and every node raises them from there:
 *   the gate raises none itself then. Such a store also tells the gate about other nodes'
 *   changes through `observe`, so `check` answers from the newest state this node has seen.
 */
import type { Logger } from '../../core/logger.js';
import { silentLogger } from '../../core/logger.js';
import type { ReservationGate } from '../reservation-gate.js';
import type { Nexus, ScsiCommand, ScsiResult } from '../scsi-types.js';
import { ScsiStatus } from '../scsi-types.js';
import type { UnitAttentions } from '../unit-attention.js';
import { decideAccess } from './access-rules.js';
import { answerPersistentReserveIn } from './persistent-reserve-in.js';
import { type ProutEffects, planPersistentReserveOut, REGISTRATIONS_MAX } from './persistent-reserve-out.js';
import { BUSY, GOOD, INVALID_COMMAND_OPERATION_CODE, RESERVATION_CONFLICT } from './reservation-answers.js';
import {
  EMPTY_RESERVATION_STATE,
  InMemoryReservationStore,
  persistentPart,
  type Registration,
  type ReservationState,
  type ReservationStore,
  registrationCovers,
  type VersionedReservationState,
} from './reservation-state.js';
import { afterLunReset, afterNexusLoss, isSpc2Command, planSpc2 } from './spc2-reservation.js';

const PERSISTENT_RESERVE_IN = 0x5e;
const PERSISTENT_RESERVE_OUT = 0x5f;
const CAS_ATTEMPTS_MAX = 8;

export interface ReservationsOptions {
  readonly unitAttentions: UnitAttentions;
  /** Where the state lives; default: in memory, starting from `initialState`. */
  readonly store?: ReservationStore;
  /** Start state for the default store, e.g. the last APTPL save read back at start-up. */
  readonly initialState?: ReservationState;
  /** PREEMPT AND ABORT: abort every task of these nexuses (TAS and ACA are the LU's business). */
  readonly abortTasksOf?: (nexuses: readonly Nexus[]) => void | Promise<void>;
  /**
   * Persist-through-power-loss: called after every change of the persistent part of the state
   * while APTPL is set, with that part; with null when APTPL has just been turned off (drop the
   * saved copy). Feed the saved copy back as `initialState` after a restart.
   */
  readonly saveAptpl?: (state: ReservationState | null) => void | Promise<void>;
  readonly logger?: Logger;
  readonly registrationsMax?: number;
  /** Relative target port identifiers of this target's ports, for REGISTER AND MOVE. */
  readonly targetPortIds?: readonly number[];
  /** Further ports REGISTER AND MOVE may name (a cluster: every node's ports). */
  readonly isKnownTargetPort?: (relativeTargetPortId: number) => boolean;
  readonly casAttemptsMax?: number;
}

/** One planned change: the next state (or none), the answer, and what to do after committing. */
interface Decision {
  readonly result: ScsiResult;
  readonly next?: ReservationState;
  readonly effects?: ProutEffects;
  readonly note: string;
}

const NO_ABORT = async (): Promise<void> => {};

export class Reservations implements ReservationGate {
  readonly #store: ReservationStore;
  readonly #unitAttentions: UnitAttentions;
  readonly #abortTasksOf: (nexuses: readonly Nexus[]) => void | Promise<void>;
  readonly #saveAptpl: ((state: ReservationState | null) => void | Promise<void>) | undefined;
  readonly #logger: Logger;
  readonly #registrationsMax: number;
  readonly #casAttemptsMax: number;
  readonly #targetPorts = new Set<number>();
  readonly #isKnownTargetPort: (relativeTargetPortId: number) => boolean;
  /** Nexuses seen since they logged in, by id: PREEMPT AND ABORT needs Nexus values to abort. */
  readonly #nexuses = new Map<string, Nexus>();
  #snapshot: VersionedReservationState;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: ReservationsOptions) {
    this.#unitAttentions = options.unitAttentions;
    this.#abortTasksOf = options.abortTasksOf ?? NO_ABORT;
    this.#saveAptpl = options.saveAptpl;
    this.#logger = options.logger ?? silentLogger;
    this.#registrationsMax = options.registrationsMax ?? REGISTRATIONS_MAX;
    this.#casAttemptsMax = options.casAttemptsMax ?? CAS_ATTEMPTS_MAX;
    for (const id of options.targetPortIds ?? []) this.#targetPorts.add(id);
    this.#isKnownTargetPort = options.isKnownTargetPort ?? (() => false);
    if (options.store === undefined) {
      const store = new InMemoryReservationStore(options.initialState ?? EMPTY_RESERVATION_STATE);
      this.#store = store;
      this.#snapshot = store.peek();
    } else {
      this.#store = options.store;
      // Until `load` or the first command, `check` answers from the given or an empty state.
      this.#snapshot = { version: -1, state: options.initialState ?? EMPTY_RESERVATION_STATE };
    }
  }

  /** Reads the store into the snapshot `check` uses; call before serving a non-empty store. */
  async load(): Promise<void> {
    await this.#inTurn(async () => {
      this.#snapshot = await this.#store.get();
    });
  }

  /** The state as this node last saw it. */
  get state(): ReservationState {
    return this.#snapshot.state;
  }

  /**
   * A newer state the store learned of without a command of this gate (another cluster node's
   * change); an older or equal version is ignored.
   */
  observe(snapshot: VersionedReservationState): void {
    if (snapshot.version > this.#snapshot.version) this.#snapshot = snapshot;
  }

  /** Resolves once every queued command and state change has finished. */
  async settled(): Promise<void> {
    await this.#inTurn(async () => {});
  }

  check(nexus: Nexus, cdb: Buffer): 'ok' | 'conflict' {
    this.#remember(nexus);
    const access = decideAccess(this.#snapshot.state, nexus, cdb);
    if (access.verdict === 'conflict') {
      // Per command: every IO of a nexus the reservation excludes conflicts.
      this.#logger.trace({ nexus: nexus.id, opcode: cdb[0], why: access.why }, 'reservation conflict');
    }
    return access.verdict;
  }

  async execute(command: ScsiCommand): Promise<ScsiResult> {
    const { nexus, cdb } = command;
    this.#remember(nexus);
    const opcode = cdb[0] ?? -1;
    if (opcode !== PERSISTENT_RESERVE_IN && opcode !== PERSISTENT_RESERVE_OUT && !isSpc2Command(opcode)) {
      this.#logger.warn({ nexus: nexus.id, opcode }, 'reservation gate handed a command it does not own');
      return INVALID_COMMAND_OPERATION_CODE;
    }
    let abortAfterwards: readonly Nexus[] = [];
    const result = await this.#change(
      nexus,
      (state): Decision => {
        // Re-check against the fresh state: it may have moved since the LU called `check`.
        const access = decideAccess(state, nexus, cdb);
        if (access.verdict === 'conflict') return { result: RESERVATION_CONFLICT, note: access.why };
        if (opcode === PERSISTENT_RESERVE_IN) {
          return { result: answerPersistentReserveIn(state, cdb), note: 'PERSISTENT RESERVE IN' };
        }
        if (opcode === PERSISTENT_RESERVE_OUT) {
          const plan = planPersistentReserveOut(state, nexus, cdb, command.dataOut, {
            registrationsMax: this.#registrationsMax,
            isKnownTargetPort: (id) => this.#targetPorts.has(id) || this.#isKnownTargetPort(id),
          });
          if (plan.kind === 'answer') return { result: plan.result, note: plan.why };
          return { result: GOOD, next: plan.next, effects: plan.effects, note: plan.what };
        }
        const plan = planSpc2(state, nexus, cdb);
        if (plan.kind === 'answer') return { result: plan.result, note: plan.why };
        return { result: GOOD, next: plan.next, note: plan.what };
      },
      (aborted) => {
        abortAfterwards = aborted;
      },
    );
    if (abortAfterwards.length > 0) {
      try {
        await this.#abortTasksOf(abortAfterwards);
      } catch (error) {
        this.#logger.error(
          { err: error, nexuses: abortAfterwards.map((n) => n.id) },
          'PREEMPT AND ABORT: the abort hook failed; the preempted tasks may still complete',
        );
      }
    }
    return result;
  }

  onLunReset(): void {
    this.#snapshot = { ...this.#snapshot, state: afterLunReset(this.#snapshot.state) };
    this.#background(
      this.#change(undefined, (state) => {
        const next = afterLunReset(state);
        return next === state
          ? { result: GOOD, note: 'LUN reset: no SPC-2 reservation' }
          : { result: GOOD, next, note: 'LUN reset released the SPC-2 reservation' };
      }),
      'LUN reset',
    );
  }

  onNexusLoss(nexus: Nexus): void {
    this.#nexuses.delete(nexus.id);
    this.#snapshot = { ...this.#snapshot, state: afterNexusLoss(this.#snapshot.state, nexus) };
    this.#background(
      this.#change(undefined, (state) => {
        const next = afterNexusLoss(state, nexus);
        return next === state
          ? { result: GOOD, note: 'nexus loss: no SPC-2 reservation of it' }
          : { result: GOOD, next, note: `loss of ${nexus.id} released its SPC-2 reservation` };
      }),
      `loss of ${nexus.id}`,
    );
  }

  /** A state change nobody awaits: a failure is logged, never left as an unhandled rejection. */
  #background(work: Promise<unknown>, what: string): void {
    work.catch((error: unknown) => {
      this.#logger.error(
        { err: error, what },
        'could not write the released SPC-2 reservation to the reservation store; it is released on this node only',
      );
    });
  }

  #remember(nexus: Nexus): void {
    this.#nexuses.set(nexus.id, nexus);
    this.#targetPorts.add(nexus.relativeTargetPortId);
  }

  /** Runs `work` after everything queued before it; a failure does not block later turns. */
  #inTurn<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.#tail.then(work);
    this.#tail = turn.catch(() => {});
    return turn;
  }

  /**
   * One read-plan-commit turn. `sender` is excluded from unit attentions (undefined for resets).
   * `onAbort` receives the nexuses PREEMPT AND ABORT must abort, to be aborted after the turn.
   */
  async #change(
    sender: Nexus | undefined,
    plan: (state: ReservationState) => Decision,
    onAbort: (nexuses: readonly Nexus[]) => void = () => {},
  ): Promise<ScsiResult> {
    return this.#inTurn(async () => {
      for (let attempt = 1; attempt <= this.#casAttemptsMax; attempt++) {
        const current = await this.#store.get();
        this.#snapshot = current;
        const decision = plan(current.state);
        if (decision.next === undefined) {
          if (decision.result.status !== ScsiStatus.GOOD) {
            this.#logger.info(
              {
                nexus: sender?.id,
                status: decision.result.status,
                sense: decision.result.sense,
                why: decision.note,
              },
              'reservation command refused',
            );
          }
          return decision.result;
        }
        const committed = await this.#store.compareAndSet(current.version, decision.next, {
          sender,
          unitAttentions: decision.effects?.unitAttentions ?? [],
        });
        if (committed === undefined) continue;
        if (committed.version > this.#snapshot.version) this.#snapshot = committed;
        this.#logger.info({ nexus: sender?.id, generation: committed.state.generation }, decision.note);
        if (decision.effects !== undefined) {
          if (this.#store.publishesUnitAttentions !== true)
            this.#raiseUnitAttentions(sender, decision.effects);
          onAbort(this.#nexusesCoveredBy(decision.effects.abortRegistrations, sender));
        }
        await this.#persistIfAptpl(current.state, committed.state);
        return decision.result;
      }
      this.#logger.warn(
        { nexus: sender?.id, attempts: this.#casAttemptsMax },
        'reservation state kept changing under us; answering BUSY so the initiator retries',
      );
      return BUSY;
    });
  }

  #raiseUnitAttentions(sender: Nexus | undefined, effects: ProutEffects): void {
    for (const effect of effects.unitAttentions) {
      if (effect.registrations.length === 0) continue;
      this.#unitAttentions.raise(
        (nexus) => nexus.id !== sender?.id && coveredByAny(effect.registrations, nexus),
        effect.sense,
      );
    }
  }

  #nexusesCoveredBy(registrations: readonly Registration[], sender: Nexus | undefined): Nexus[] {
    if (registrations.length === 0) return [];
    return [...this.#nexuses.values()].filter(
      (nexus) => nexus.id !== sender?.id && coveredByAny(registrations, nexus),
    );
  }

  async #persistIfAptpl(before: ReservationState, after: ReservationState): Promise<void> {
    if (this.#saveAptpl === undefined || (!before.aptpl && !after.aptpl)) return;
    const changed =
      before.aptpl !== after.aptpl ||
      before.generation !== after.generation ||
      before.registrations !== after.registrations ||
      before.reservation !== after.reservation;
    if (!changed) return;
    try {
      await this.#saveAptpl(after.aptpl ? persistentPart(after) : null);
    } catch (error) {
      this.#logger.error(
        { err: error },
        'APTPL save failed: registrations will not survive a restart until the next successful save',
      );
    }
  }
}

function coveredByAny(registrations: readonly Registration[], nexus: Nexus): boolean {
  return registrations.some((registration) => registrationCovers(registration, nexus));
}
