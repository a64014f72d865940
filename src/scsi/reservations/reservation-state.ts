/**
 * The reservation state of one logical unit as plain data, and the store it lives in.
 *
 * Rules
 * - Everything SPC-4 §5.13 and SPC-2 §5.5 need to decide a command is here and nowhere else:
 *   registrations (initiator port, target port, key), PRGENERATION, the persistent reservation
 *   (type and holder), the APTPL flag and the SPC-2 RESERVE holder. No Nexus objects, no
 *   callbacks: the value can be written to a file or a sheep object and read back as it was.
 * - A registration names the I_T nexuses it covers. `isid: null` covers every initiator port of
 *   that iSCSI name (a TransportID of format 00b names the initiator device, not a port);
 *   `relativeTargetPortId: null` covers every target port (ALL_TG_PT). Registrations never
 *   overlap: the code that adds one refuses an overlapping one, so a nexus has at most one.
 * - The holder of a Write Exclusive / Exclusive Access / Registrants Only reservation is one
 *   registration (by `registrationId`); with an ALL_TG_PT registration every nexus it covers
 *   holds it, as READ FULL STATUS reports with R_HOLDER on that one descriptor. All Registrants
 *   reservations have no single holder (`holder: null`): every registrant holds them.
 * - The store is a versioned cell with compare-and-set, the same shape a cluster-wide home
 *   (a sheep object written under a cluster lock, or an xattr with CAS) would have, so moving
 *   the state off this node changes the store and not the rules.
 */
import type { Nexus, Sense } from '../scsi-types.js';

/** PERSISTENT RESERVE OUT TYPE codes (SPC-4 table "Persistent reservation type codes"). */
export const PrType = {
  WRITE_EXCLUSIVE: 0x1,
  EXCLUSIVE_ACCESS: 0x3,
  WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 0x5,
  EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 0x6,
  WRITE_EXCLUSIVE_ALL_REGISTRANTS: 0x7,
  EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 0x8,
} as const;
export type PrTypeCode = (typeof PrType)[keyof typeof PrType];

const PR_TYPE_CODES: ReadonlySet<number> = new Set(Object.values(PrType));

export function isPrType(code: number): code is PrTypeCode {
  return PR_TYPE_CODES.has(code);
}

/** WE-AR and EA-AR: every registrant is a holder. */
export function isAllRegistrantsType(type: PrTypeCode): boolean {
  return type === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS || type === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
}

/** WE-RO and EA-RO. */
export function isRegistrantsOnlyType(type: PrTypeCode): boolean {
  return (
    type === PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY || type === PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY
  );
}

/** WE, WE-RO, WE-AR: reads stay open to everyone. */
export function isWriteExclusiveFamily(type: PrTypeCode): boolean {
  return (
    type === PrType.WRITE_EXCLUSIVE ||
    type === PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY ||
    type === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS
  );
}

export interface Registration {
  /** The reservation key, never 0 (registering key 0 means unregistering). */
  readonly key: bigint;
  /** Lower-case iSCSI name of the initiator. */
  readonly initiatorName: string;
  /** 12 lower-case hex digits ('' if the port name had none), or null for every port of that name. */
  readonly isid: string | null;
  /** RELATIVE TARGET PORT IDENTIFIER, or null for every target port (ALL_TG_PT). */
  readonly relativeTargetPortId: number | null;
}

export interface PersistentReservation {
  readonly type: PrTypeCode;
  /** `registrationId` of the holder; null for the All Registrants types. Scope is always LU. */
  readonly holder: string | null;
}

/** An SPC-2 RESERVE(6)/(10) holder: one I_T nexus, by its ports' names. */
export interface Spc2Reservation {
  readonly initiatorPortName: string;
  readonly targetPortName: string;
}

export interface ReservationState {
  /** PRGENERATION: a 32-bit wrapping counter (SPC-4 §6.16.2). */
  readonly generation: number;
  readonly registrations: readonly Registration[];
  readonly reservation: PersistentReservation | null;
  /** The last valid APTPL bit received (PTPL_A in REPORT CAPABILITIES). */
  readonly aptpl: boolean;
  readonly spc2: Spc2Reservation | null;
}

export const EMPTY_RESERVATION_STATE: ReservationState = {
  generation: 0,
  registrations: [],
  reservation: null,
  aptpl: false,
  spc2: null,
};

/** The next PRGENERATION value, wrapping at 2^32. */
export function nextGeneration(generation: number): number {
  return (generation + 1) >>> 0;
}

/** The initiator port of a nexus: its iSCSI name and ISID, both lower-case. */
export interface InitiatorPort {
  readonly name: string;
  readonly isid: string;
}

const ISID_SEPARATOR = ',i,0x';

/** Splits "<iqn>,i,0x<isid>" (RFC 7143 §4.4.1); a name without an ISID part gets isid ''. */
export function initiatorPortOf(nexus: Nexus): InitiatorPort {
  const at = nexus.initiatorPortName.toLowerCase().lastIndexOf(ISID_SEPARATOR);
  if (at < 0) return { name: nexus.initiatorName.toLowerCase(), isid: '' };
  return {
    name: nexus.initiatorPortName.slice(0, at).toLowerCase(),
    isid: nexus.initiatorPortName.slice(at + ISID_SEPARATOR.length).toLowerCase(),
  };
}

/** A stable name for a registration's scope (not its key): holder references use it. */
export function registrationId(registration: Omit<Registration, 'key'>): string {
  const isid = registration.isid ?? '*';
  const port = registration.relativeTargetPortId ?? '*';
  return `${registration.initiatorName}${ISID_SEPARATOR}${isid}@${port}`;
}

/** Whether the registration covers this I_T nexus. */
export function registrationCovers(registration: Registration, nexus: Nexus): boolean {
  const port = initiatorPortOf(nexus);
  return (
    registration.initiatorName === port.name &&
    (registration.isid === null || registration.isid === port.isid) &&
    (registration.relativeTargetPortId === null ||
      registration.relativeTargetPortId === nexus.relativeTargetPortId)
  );
}

/** Whether two registration scopes share at least one I_T nexus. */
export function registrationsOverlap(a: Omit<Registration, 'key'>, b: Omit<Registration, 'key'>): boolean {
  return (
    a.initiatorName === b.initiatorName &&
    (a.isid === null || b.isid === null || a.isid === b.isid) &&
    (a.relativeTargetPortId === null ||
      b.relativeTargetPortId === null ||
      a.relativeTargetPortId === b.relativeTargetPortId)
  );
}

export function findRegistration(state: ReservationState, nexus: Nexus): Registration | undefined {
  return state.registrations.find((registration) => registrationCovers(registration, nexus));
}

/** Whether the registration holds the current persistent reservation. */
export function registrationHolds(state: ReservationState, registration: Registration): boolean {
  const reservation = state.reservation;
  if (reservation === null) return false;
  if (isAllRegistrantsType(reservation.type)) return true;
  return reservation.holder === registrationId(registration);
}

/** Whether commands on this nexus are the persistent reservation holder's. */
export function isPersistentReservationHolder(state: ReservationState, nexus: Nexus): boolean {
  const registration = findRegistration(state, nexus);
  return registration !== undefined && registrationHolds(state, registration);
}

/** The key READ RESERVATION reports: the holder's, or 0 for All Registrants types. */
export function reservationKeyOf(state: ReservationState): bigint {
  const reservation = state.reservation;
  if (reservation === null || reservation.holder === null) return 0n;
  const holder = state.registrations.find((r) => registrationId(r) === reservation.holder);
  return holder?.key ?? 0n;
}

export function isSpc2Holder(spc2: Spc2Reservation, nexus: Nexus): boolean {
  return spc2.initiatorPortName === nexus.initiatorPortName && spc2.targetPortName === nexus.targetPortName;
}

/** What persists through power loss when APTPL is set: everything except SPC-2 reservations. */
export function persistentPart(state: ReservationState): ReservationState {
  return state.spc2 === null ? state : { ...state, spc2: null };
}

// ---------------------------------------------------------------------------------------------
// Store

export interface VersionedReservationState {
  /** Bumped by every successful write; compare-and-set compares it. */
  readonly version: number;
  readonly state: ReservationState;
}

/** A unit attention a committed change raises: on every I_T nexus these registrations cover. */
export interface ReservationUnitAttention {
  readonly sense: Sense;
  readonly registrations: readonly Registration[];
}

/** What a change does besides the next state: the gate (or a publishing store) acts on it. */
export interface ReservationChange {
  /** The nexus the command came in on (never given the unit attentions); none for resets. */
  readonly sender: Nexus | undefined;
  readonly unitAttentions: readonly ReservationUnitAttention[];
}

/**
 * Where one LU's reservation state lives. Readers get a snapshot with its version; a writer
 * computes the next state from a snapshot and commits it only if nobody wrote in between, else
 * reads again and recomputes. Asynchronous so a cluster-wide implementation fits the same shape.
 *
 * A store that `publishesUnitAttentions` commits the change's unit attentions together with the
 * state (one atomic write), and every node raises them from there (cluster/cell-reservation-
 * store.ts); the gate then raises none itself. Otherwise the gate raises them after the commit.
 */
export interface ReservationStore {
  readonly publishesUnitAttentions?: boolean;
  get(): Promise<VersionedReservationState>;
  /** Writes `next` if the stored version is still `expectedVersion`: the new snapshot, or undefined. */
  compareAndSet(
    expectedVersion: number,
    next: ReservationState,
    change?: ReservationChange,
  ): Promise<VersionedReservationState | undefined>;
}

/** A store in this process's memory: the default, and what tests use. */
export class InMemoryReservationStore implements ReservationStore {
  #current: VersionedReservationState;

  constructor(initial: ReservationState = EMPTY_RESERVATION_STATE) {
    this.#current = { version: 0, state: initial };
  }

  async get(): Promise<VersionedReservationState> {
    return this.#current;
  }

  async compareAndSet(
    expectedVersion: number,
    next: ReservationState,
  ): Promise<VersionedReservationState | undefined> {
    if (this.#current.version !== expectedVersion) return undefined;
    this.#current = { version: expectedVersion + 1, state: next };
    return this.#current;
  }

  /** The current snapshot without waiting (tests, diagnostics). */
  peek(): VersionedReservationState {
    return this.#current;
  }
}

// ---------------------------------------------------------------------------------------------
// Text form, for APTPL files and the cluster document (cluster/cluster-document.ts). Keys are hex
// strings because JSON has no 64-bit integers.

interface RegistrationJson {
  key: string;
  initiatorName: string;
  isid: string | null;
  relativeTargetPortId: number | null;
}

export interface ReservationStateJson {
  format: 'collie-reservations-1';
  generation: number;
  registrations: RegistrationJson[];
  reservation: { type: number; holder: string | null } | null;
  aptpl: boolean;
  spc2: Spc2Reservation | null;
}

/** The state as a JSON-ready object (what `encodeReservationState` stringifies). */
export function reservationStateToJson(state: ReservationState): ReservationStateJson {
  return {
    format: 'collie-reservations-1',
    generation: state.generation,
    registrations: state.registrations.map((r) => ({
      key: r.key.toString(16).padStart(16, '0'),
      initiatorName: r.initiatorName,
      isid: r.isid,
      relativeTargetPortId: r.relativeTargetPortId,
    })),
    reservation: state.reservation,
    aptpl: state.aptpl,
    spc2: state.spc2,
  };
}

export function encodeReservationState(state: ReservationState): string {
  return JSON.stringify(reservationStateToJson(state));
}

/** Parses what `encodeReservationState` wrote; throws an Error naming the bad field otherwise. */
export function decodeReservationState(text: string): ReservationState {
  const fail = (what: string): never => {
    throw new Error(`reservation state: ${what}; the saved file is damaged, delete it to start empty`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail('not JSON');
  }
  return reservationStateFromJson(json, fail);
}

/**
 * Checks and converts what `reservationStateToJson` produced (already parsed from JSON); `fail` is
 * called with the name of the first bad field and must throw.
 */
export function reservationStateFromJson(json: unknown, fail: (what: string) => never): ReservationState {
  if (typeof json !== 'object' || json === null) return fail('not an object');
  const o = json as Partial<ReservationStateJson>;
  if (o.format !== 'collie-reservations-1') fail(`unknown format ${String(o.format)}`);
  if (typeof o.generation !== 'number' || !Number.isInteger(o.generation) || o.generation < 0) {
    fail('generation is not a 32-bit counter');
  }
  if (!Array.isArray(o.registrations)) return fail('registrations is not a list');
  const registrations = o.registrations.map((r, i): Registration => {
    if (typeof r?.key !== 'string' || !/^[0-9a-f]{16}$/.test(r.key)) fail(`registrations[${i}].key`);
    if (typeof r.initiatorName !== 'string' || r.initiatorName === '')
      fail(`registrations[${i}].initiatorName`);
    if (r.isid !== null && (typeof r.isid !== 'string' || !/^([0-9a-f]{12})?$/.test(r.isid))) {
      fail(`registrations[${i}].isid`);
    }
    const port = r.relativeTargetPortId;
    if (port !== null && (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 0xffff)) {
      fail(`registrations[${i}].relativeTargetPortId`);
    }
    return {
      key: BigInt(`0x${r.key}`),
      initiatorName: r.initiatorName,
      isid: r.isid,
      relativeTargetPortId: port,
    };
  });
  let reservation: PersistentReservation | null = null;
  if (o.reservation !== null && o.reservation !== undefined) {
    const { type, holder } = o.reservation;
    if (typeof type !== 'number' || !isPrType(type)) return fail('reservation.type');
    if (holder !== null && typeof holder !== 'string') fail('reservation.holder');
    reservation = { type, holder };
  }
  const spc2 = o.spc2 ?? null;
  if (
    spc2 !== null &&
    (typeof spc2.initiatorPortName !== 'string' || typeof spc2.targetPortName !== 'string')
  ) {
    fail('spc2');
  }
  return {
    generation: o.generation! >>> 0,
    registrations,
    reservation,
    aptpl: o.aptpl === true,
    spc2,
  };
}
