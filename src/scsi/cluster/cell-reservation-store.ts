/**
 * The ReservationStore of a clustered logical unit: persistent and SPC-2 reservations live in the
 * cluster document (cluster-document.ts), so every node decides RESERVATION CONFLICT from the
 * same state.
 *
 * Rules
 * - `get` answers from the document this node applied last (no I/O): the LU validated the cell
 *   before it handed the command to the gate (logical-unit.ts), and a lost compare-and-set
 *   leaves the newer document applied for the retry.
 * - `compareAndSet` is one cell update: it commits only if the reservations' own version is
 *   still the expected one (other parts of the document may have moved meanwhile), and it
 *   appends the change's unit attentions to the document's log in the same update. Every node,
 *   the sender's too, raises them from there on the nexuses they concern, never on the sender's
 *   (cluster-unit-attentions.ts): the store `publishesUnitAttentions`.
 * - A CellContention from the cell propagates: the LU answers BUSY.
 */
import type {
  ReservationChange,
  ReservationState,
  ReservationStore,
  VersionedReservationState,
} from '../reservations/reservation-state.js';
import type { ClusterState, DocumentChange } from './cluster-state.js';
import { appendUnitAttentions, registrationsScope, uaEvent } from './cluster-unit-attentions.js';

export class CellReservationStore implements ReservationStore {
  readonly publishesUnitAttentions = true;
  readonly #cluster: ClusterState;

  constructor(cluster: ClusterState) {
    this.#cluster = cluster;
  }

  async get(): Promise<VersionedReservationState> {
    this.#cluster.applyCached();
    const document = this.#cluster.document;
    return { version: document.reservationsVersion, state: document.reservations };
  }

  async compareAndSet(
    expectedVersion: number,
    next: ReservationState,
    change?: ReservationChange,
  ): Promise<VersionedReservationState | undefined> {
    const events = (change?.unitAttentions ?? [])
      .filter((effect) => effect.registrations.length > 0)
      .map((effect) => uaEvent(effect.sense, registrationsScope(effect.registrations), change?.sender));
    return this.#cluster.update((document): DocumentChange<VersionedReservationState | undefined> => {
      if (document.reservationsVersion !== expectedVersion) return { value: undefined };
      const version = expectedVersion + 1;
      return {
        document: {
          ...document,
          reservations: next,
          reservationsVersion: version,
          ua: appendUnitAttentions(document.ua, events),
        },
        value: { version, state: next },
      };
    });
  }
}
