/**
 * Goal: the `Reservations` gate passes libiscsi's reservation suites as iscsi-test-cu drives them
 * (ProutReserve.Access* and Ownership* for all six types, ProutRegister, ProutClear, ProutPreempt,
 * PrinReadKeys, PrinReportCaps, PrinServiceactionRange, Reserve6.*), raises unit attentions on the
 * right nexuses only, calls the PREEMPT AND ABORT hook with the preempted nexuses, saves and
 * restores APTPL state, and survives compare-and-set races.
 * Method: a miniature LU in front of the gate, doing what the real one does in the same order
 * (report a pending UNIT ATTENTION except for INQUIRY/REPORT LUNS/REQUEST SENSE, then ask
 * `check`, then hand reservation commands to `execute`, anything else "runs" GOOD), and two or
 * three nexuses scripted like the suite's two initiators.
 */
import { describe, expect, test } from 'vitest';
import { Reservations, type ReservationsOptions } from '../../../src/scsi/reservations/reservation-gate.js';
import {
  decodeReservationState,
  encodeReservationState,
  InMemoryReservationStore,
  type ReservationState,
  type VersionedReservationState,
} from '../../../src/scsi/reservations/reservation-state.js';
import {
  type Nexus,
  type ScsiResult,
  ScsiStatus,
  type Sense,
  SenseKey,
} from '../../../src/scsi/scsi-types.js';
import { UnitAttentions } from '../../../src/scsi/unit-attention.js';
import {
  ALL_TYPES,
  basicList,
  INITIATOR_1,
  INITIATOR_2,
  INITIATOR_3,
  INQUIRY,
  iscsiTransportId,
  MODE_SENSE_6,
  moveList,
  nexus,
  ProutSa,
  prinCdb,
  proutCdb,
  READ_16,
  RELEASE_6,
  REPORT_LUNS,
  REQUEST_SENSE,
  RESERVE_6,
  TEST_UNIT_READY,
  Type,
  WRITE_10,
  WRITE_16,
} from './pr-fixtures.js';

const RESERVATION_OPCODES = new Set([0x16, 0x17, 0x56, 0x57, 0x5e, 0x5f]);
const UA_EXEMPT = new Set([INQUIRY[0], REPORT_LUNS[0], REQUEST_SENSE[0]]);

/** A logical unit reduced to what reservations see. */
class MiniLu {
  readonly unitAttentions = new UnitAttentions();
  readonly aborted: string[][] = [];
  readonly saved: (ReservationState | null)[] = [];
  readonly gate: Reservations;

  constructor(options: Partial<ReservationsOptions> = {}) {
    this.gate = new Reservations({
      unitAttentions: this.unitAttentions,
      abortTasksOf: (nexuses) => {
        this.aborted.push(nexuses.map((n) => n.id));
      },
      saveAptpl: (state) => {
        this.saved.push(state);
      },
      ...options,
    });
  }

  async send(who: Nexus, cdb: Buffer, dataOut: Buffer = Buffer.alloc(0)): Promise<ScsiResult> {
    if (!UA_EXEMPT.has(cdb[0]!)) {
      const pending = this.unitAttentions.take(who);
      if (pending !== undefined) return { status: ScsiStatus.CHECK_CONDITION, sense: pending };
    } else {
      this.unitAttentions.register(who);
    }
    if (this.gate.check(who, cdb) === 'conflict') return { status: ScsiStatus.RESERVATION_CONFLICT };
    if (!RESERVATION_OPCODES.has(cdb[0]!)) return { status: ScsiStatus.GOOD };
    return this.gate.execute({
      cdb,
      nexus: who,
      dataOut,
      expectedLengthBytes: 0x4000,
      taskTag: 1,
      taskAttribute: 1,
    });
  }

  /** libiscsi's testunitready_clear_ua: TUR until something other than a UNIT ATTENTION. */
  async clearUnitAttentions(who: Nexus): Promise<Sense[]> {
    const seen: Sense[] = [];
    for (let i = 0; i < 32; i++) {
      const result = await this.send(who, TEST_UNIT_READY);
      if (result.sense?.key !== SenseKey.UNIT_ATTENTION) return seen;
      seen.push(result.sense);
    }
    throw new Error('unit attentions never stopped');
  }

  prout(who: Nexus, sa: number, list: Buffer, type = 0): Promise<ScsiResult> {
    return this.send(who, proutCdb(sa, type, list.length), list);
  }

  registerAndIgnore(who: Nexus, key: bigint): Promise<ScsiResult> {
    return this.prout(who, ProutSa.REGISTER_AND_IGNORE, basicList({ saKey: key }));
  }

  /** REGISTER with RESERVATION KEY `key` and SERVICE ACTION RESERVATION KEY `saKey` (0 unregisters). */
  register(who: Nexus, saKey: bigint, key: bigint): Promise<ScsiResult> {
    return this.prout(who, ProutSa.REGISTER, basicList({ key, saKey }));
  }

  async readKeys(
    who: Nexus,
    allocationLength = 0x4000,
  ): Promise<{ generation: number; keys: bigint[]; raw: Buffer }> {
    const result = await this.send(who, prinCdb(0, allocationLength));
    expect(result.status).toBe(ScsiStatus.GOOD);
    const raw = result.dataIn!;
    const keys: bigint[] = [];
    for (let at = 8; at + 8 <= raw.length; at += 8) keys.push(raw.readBigUInt64BE(at));
    return { generation: raw.readUInt32BE(0), keys, raw };
  }

  /** READ RESERVATION: undefined when not reserved. */
  async readReservation(who: Nexus): Promise<{ key: bigint; type: number } | undefined> {
    const result = await this.send(who, prinCdb(1));
    expect(result.status, `READ RESERVATION answered ${JSON.stringify(result)}`).toBe(ScsiStatus.GOOD);
    const data = result.dataIn!;
    if (data.readUInt32BE(4) === 0) return undefined;
    return { key: data.readBigUInt64BE(8), type: data[21]! & 0x0f };
  }
}

const isAllRegistrants = (type: number) => type === Type.WE_AR || type === Type.EA_AR;
const GOOD = { status: ScsiStatus.GOOD };
const CONFLICT = { status: ScsiStatus.RESERVATION_CONFLICT };

describe('libiscsi ProutReserve.Ownership*', () => {
  test.each(ALL_TYPES)('type %i: the holder unregisters and hears nothing about it', async (type) => {
    const lu = new MiniLu();
    const sd1 = nexus(INITIATOR_1);
    const sd2 = nexus(INITIATOR_2);
    await lu.clearUnitAttentions(sd1);
    await lu.clearUnitAttentions(sd2);
    expect(await lu.registerAndIgnore(sd1, 0x1111n)).toEqual(GOOD);
    expect(await lu.registerAndIgnore(sd2, 0x2222n)).toEqual(GOOD);
    expect(await lu.prout(sd1, ProutSa.RESERVE, basicList({ key: 0x1111n }), type)).toEqual(GOOD);
    expect(await lu.readReservation(sd1)).toEqual({ key: isAllRegistrants(type) ? 0n : 0x1111n, type });

    expect(await lu.register(sd1, 0n, 0x1111n)).toEqual(GOOD);
    // The unregistering nexus must not get RESERVATIONS RELEASED (tgt's bug).
    expect(lu.unitAttentions.pendingCount(sd1)).toBe(0);
    if (isAllRegistrants(type)) {
      expect(await lu.readReservation(sd1)).toEqual({ key: 0n, type });
      expect(await lu.prout(sd2, ProutSa.RELEASE, basicList({ key: 0x2222n }), type)).toEqual(GOOD);
    } else {
      expect(await lu.readReservation(sd1)).toBeUndefined();
      const heard = await lu.clearUnitAttentions(sd2);
      const registrantsOnly = type === Type.WE_RO || type === Type.EA_RO;
      expect(heard.map((s) => [s.asc, s.ascq])).toEqual(registrantsOnly ? [[0x2a, 0x04]] : []);
    }
    expect(await lu.register(sd2, 0n, 0x2222n)).toEqual(GOOD);
    expect((await lu.readKeys(sd1)).keys).toEqual([]);
  });
});

describe('libiscsi ProutReserve.Access*', () => {
  // [type, registered sd2 can read, can write, unregistered sd2 can read, can write]
  const ACCESS: readonly [number, boolean, boolean, boolean, boolean][] = [
    [Type.EA, false, false, false, false],
    [Type.WE, true, false, true, false],
    [Type.EA_RO, true, true, false, false],
    [Type.WE_RO, true, true, true, false],
    [Type.EA_AR, true, true, false, false],
    [Type.WE_AR, true, true, true, false],
  ];

  test.each(ACCESS)('type %i', async (type, regRead, regWrite, unregRead, unregWrite) => {
    const lu = new MiniLu();
    const sd1 = nexus(INITIATOR_1);
    const sd2 = nexus(INITIATOR_2);
    await lu.clearUnitAttentions(sd1);
    await lu.clearUnitAttentions(sd2);
    await lu.registerAndIgnore(sd1, 0xa1n);
    await lu.registerAndIgnore(sd2, 0xb2n);
    expect(await lu.prout(sd1, ProutSa.RESERVE, basicList({ key: 0xa1n }), type)).toEqual(GOOD);
    const outcome = async (cdb: Buffer) => (await lu.send(sd2, cdb)).status === ScsiStatus.GOOD;
    expect(await lu.send(sd1, READ_16)).toEqual(GOOD);
    expect(await lu.send(sd1, WRITE_16)).toEqual(GOOD);
    expect([await outcome(READ_16), await outcome(WRITE_16)]).toEqual([regRead, regWrite]);
    expect(await lu.register(sd2, 0n, 0xb2n)).toEqual(GOOD);
    expect([await outcome(READ_16), await outcome(WRITE_16)]).toEqual([unregRead, unregWrite]);
    expect(await lu.prout(sd1, ProutSa.RELEASE, basicList({ key: 0xa1n }), type)).toEqual(GOOD);
    expect(await lu.register(sd1, 0n, 0xa1n)).toEqual(GOOD);
  });
});

describe('libiscsi PR IN / PR OUT simple suites', () => {
  test('ProutRegister.Simple: register, see the key, re-register fails, unregister', async () => {
    const lu = new MiniLu();
    const sd = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(sd);
    expect(await lu.registerAndIgnore(sd, 0x42n)).toEqual(GOOD);
    expect((await lu.readKeys(sd)).keys).toEqual([0x42n]);
    expect(await lu.prout(sd, ProutSa.REGISTER, basicList({ saKey: 0x43n }))).toEqual(CONFLICT);
    expect(await lu.register(sd, 0n, 0x42n)).toEqual(GOOD);
    expect((await lu.readKeys(sd)).keys).toEqual([]);
  });

  test('ProutClear.Simple: PRGENERATION moves once for CLEAR, not for RESERVE', async () => {
    const lu = new MiniLu();
    const sd = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(sd);
    await lu.registerAndIgnore(sd, 0x42n);
    const before = (await lu.readKeys(sd)).generation;
    expect(await lu.prout(sd, ProutSa.RESERVE, basicList({ key: 0x42n }), Type.EA)).toEqual(GOOD);
    expect(await lu.readReservation(sd)).toEqual({ key: 0x42n, type: Type.EA });
    expect(await lu.prout(sd, ProutSa.CLEAR, basicList({ key: 0x42n }))).toEqual(GOOD);
    expect(await lu.readReservation(sd)).toBeUndefined();
    const after = await lu.readKeys(sd);
    expect(after.keys).toEqual([]);
    expect(after.generation).toBe(before + 1);
  });

  test('ProutPreempt.RemoveRegistration: the other connection preempts a key with no reservation', async () => {
    const lu = new MiniLu();
    const sd = nexus(INITIATOR_1);
    const sd2 = nexus(INITIATOR_2);
    await lu.clearUnitAttentions(sd);
    await lu.clearUnitAttentions(sd2);
    await lu.registerAndIgnore(sd, 0x1n);
    expect(await lu.prout(sd, ProutSa.CLEAR, basicList({ key: 0x1n }))).toEqual(GOOD);
    await lu.registerAndIgnore(sd, 0x1n);
    await lu.registerAndIgnore(sd2, 0x2n);
    const before = await lu.readKeys(sd);
    expect(before.keys).toHaveLength(2);
    expect(await lu.prout(sd2, ProutSa.PREEMPT, basicList({ key: 0x2n, saKey: 0x1n }), Type.EA)).toEqual(
      GOOD,
    );
    expect((await lu.clearUnitAttentions(sd)).map((s) => s.ascq)).toEqual([0x05]);
    expect(await lu.clearUnitAttentions(sd2)).toEqual([]);
    const after = await lu.readKeys(sd);
    expect(after.keys).toEqual([0x2n]);
    expect(after.generation).toBe(before.generation + 1);
  });

  test('PrinReadKeys.Simple and .Truncate', async () => {
    const lu = new MiniLu();
    const sd = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(sd);
    await lu.registerAndIgnore(sd, 0x42n);
    const full = await lu.readKeys(sd);
    expect(full.raw.readUInt32BE(4)).toBe(full.raw.length - 8);
    const cut = await lu.readKeys(sd, 8);
    expect(cut.raw.length).toBe(8);
    expect(cut.raw.readUInt32BE(4)).not.toBe(0);
  });

  test('PrinServiceactionRange: 0-3 work, 4-1Fh fail', async () => {
    const lu = new MiniLu();
    const sd = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(sd);
    for (let sa = 0; sa < 0x20; sa++) {
      const result = await lu.send(sd, prinCdb(sa));
      expect(result.status).toBe(sa < 4 ? ScsiStatus.GOOD : ScsiStatus.CHECK_CONDITION);
    }
  });

  test('PrinReportCaps.Simple: every advertised type can be reserved, read back and released', async () => {
    const lu = new MiniLu();
    const sd = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(sd);
    await lu.registerAndIgnore(sd, 0x42n);
    const caps = (await lu.send(sd, prinCdb(2))).dataIn!;
    expect(caps.readUInt16BE(0)).toBe(8);
    expect((caps[3]! >> 4) & 0x07).toBeLessThanOrEqual(5);
    const mask = caps.readUInt16BE(4);
    const bit: Record<number, number> = { 1: 0x0200, 3: 0x0800, 5: 0x2000, 6: 0x4000, 7: 0x8000, 8: 0x0001 };
    for (const type of ALL_TYPES) {
      expect(mask & bit[type]!).not.toBe(0);
      expect(await lu.prout(sd, ProutSa.RESERVE, basicList({ key: 0x42n }), type)).toEqual(GOOD);
      expect(await lu.readReservation(sd)).toEqual({ key: isAllRegistrants(type) ? 0n : 0x42n, type });
      expect(await lu.prout(sd, ProutSa.RELEASE, basicList({ key: 0x42n }), type)).toEqual(GOOD);
    }
  });
});

describe('libiscsi Reserve6.*', () => {
  test('2Initiators: MODE SENSE conflicts for the other initiator (tgt lets it through)', async () => {
    const lu = new MiniLu();
    const sd = nexus(INITIATOR_1);
    const sd2 = nexus(INITIATOR_2);
    await lu.clearUnitAttentions(sd);
    await lu.clearUnitAttentions(sd2);
    expect(await lu.send(sd, RESERVE_6)).toEqual(GOOD);
    expect(await lu.send(sd, RESERVE_6)).toEqual(GOOD);
    expect(await lu.send(sd2, RESERVE_6)).toEqual(CONFLICT);
    expect(await lu.send(sd2, RELEASE_6)).toEqual(GOOD);
    expect(await lu.send(sd, MODE_SENSE_6)).toEqual(GOOD);
    expect(await lu.send(sd2, MODE_SENSE_6)).toEqual(CONFLICT);
    expect(await lu.send(sd2, RESERVE_6)).toEqual(CONFLICT);
    expect(await lu.send(sd, RELEASE_6)).toEqual(GOOD);
    expect(await lu.send(sd2, RESERVE_6)).toEqual(GOOD);
    expect(await lu.send(sd2, RELEASE_6)).toEqual(GOOD);
  });

  test.each([
    ['Logout / ITNexusLoss', (lu: MiniLu, holder: Nexus) => lu.gate.onNexusLoss(holder)],
    ['LUNReset / TargetWarmReset / TargetColdReset', (lu: MiniLu) => lu.gate.onLunReset()],
  ])('%s releases the reservation at once', async (_name, end) => {
    const lu = new MiniLu();
    const sd = nexus(INITIATOR_1);
    const sd2 = nexus(INITIATOR_2);
    await lu.clearUnitAttentions(sd2);
    expect(await lu.send(sd, RESERVE_6)).toMatchObject({ status: ScsiStatus.CHECK_CONDITION }); // 29/00 first
    expect(await lu.send(sd, RESERVE_6)).toEqual(GOOD);
    expect(await lu.send(sd2, RESERVE_6)).toEqual(CONFLICT);
    end(lu, sd);
    // No await in between: `check` already sees the release.
    expect(lu.gate.check(sd2, WRITE_10)).toBe('ok');
    expect(await lu.send(sd2, RESERVE_6)).toEqual(GOOD);
    expect(await lu.send(sd2, RELEASE_6)).toEqual(GOOD);
  });

  test('PERSISTENT RESERVE IN/OUT conflict for everyone while an SPC-2 reservation is held', async () => {
    const lu = new MiniLu();
    const sd = nexus(INITIATOR_1);
    const sd2 = nexus(INITIATOR_2);
    await lu.clearUnitAttentions(sd);
    await lu.clearUnitAttentions(sd2);
    await lu.send(sd, RESERVE_6);
    expect(await lu.send(sd, prinCdb(0))).toEqual(CONFLICT);
    expect(await lu.registerAndIgnore(sd2, 5n)).toEqual(CONFLICT);
  });

  test('a LUN reset leaves persistent reservations alone', async () => {
    const lu = new MiniLu();
    const sd = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(sd);
    await lu.registerAndIgnore(sd, 7n);
    await lu.prout(sd, ProutSa.RESERVE, basicList({ key: 7n }), Type.WE);
    lu.gate.onLunReset();
    await lu.gate.settled();
    expect(await lu.readReservation(sd)).toEqual({ key: 7n, type: Type.WE });
  });
});

describe('unit attentions and aborts across three nexuses', () => {
  test('PREEMPT AND ABORT aborts every nexus of the preempted registration, and only those', async () => {
    const lu = new MiniLu();
    const a1 = nexus(INITIATOR_1, '23d000000001', 1);
    const a2 = nexus(INITIATOR_1, '23d000000001', 2);
    const b = nexus(INITIATOR_2, '23d000000001', 1);
    const c = nexus(INITIATOR_3, '23d000000001', 2);
    for (const n of [a1, a2, b, c]) await lu.clearUnitAttentions(n);
    expect(await lu.prout(a1, ProutSa.REGISTER, basicList({ saKey: 0xan, allTgPt: true }))).toEqual(GOOD);
    await lu.registerAndIgnore(b, 0xbn);
    await lu.registerAndIgnore(c, 0xcn);
    expect(await lu.prout(a2, ProutSa.RESERVE, basicList({ key: 0xan }), Type.EA)).toEqual(GOOD);
    expect(await lu.send(a1, WRITE_10)).toEqual(GOOD);
    expect(await lu.send(b, WRITE_10)).toEqual(CONFLICT);

    const preempt = basicList({ key: 0xbn, saKey: 0xan });
    expect(await lu.prout(b, ProutSa.PREEMPT_AND_ABORT, preempt, Type.WE)).toEqual(GOOD);
    expect(lu.aborted).toEqual([[a1.id, a2.id]]);
    const heard = async (n: Nexus) => (await lu.clearUnitAttentions(n)).map((s) => s.ascq);
    expect(await heard(a1)).toEqual([0x05]);
    expect(await heard(a2)).toEqual([0x05]);
    expect(await heard(c)).toEqual([0x04]); // the type changed from EA to WE
    expect(await heard(b)).toEqual([]);
    expect(await lu.send(b, WRITE_10)).toEqual(GOOD);
    expect(await lu.send(a1, WRITE_10)).toEqual(CONFLICT);
  });

  test('CLEAR: RESERVATIONS PREEMPTED for every other registered nexus, not the sender, not strangers', async () => {
    const lu = new MiniLu();
    const a = nexus(INITIATOR_1);
    const b = nexus(INITIATOR_2);
    const c = nexus(INITIATOR_3);
    for (const n of [a, b, c]) await lu.clearUnitAttentions(n);
    await lu.registerAndIgnore(a, 1n);
    await lu.registerAndIgnore(b, 2n);
    expect(await lu.prout(a, ProutSa.CLEAR, basicList({ key: 1n }))).toEqual(GOOD);
    expect(lu.unitAttentions.pendingCount(a)).toBe(0);
    expect(lu.unitAttentions.peek(b)).toMatchObject({ asc: 0x2a, ascq: 0x03 });
    expect(lu.unitAttentions.pendingCount(c)).toBe(0);
  });

  test('RELEASE of a Registrants Only reservation tells the other registrants, not the releaser', async () => {
    const lu = new MiniLu();
    const a = nexus(INITIATOR_1);
    const b = nexus(INITIATOR_2);
    for (const n of [a, b]) await lu.clearUnitAttentions(n);
    await lu.registerAndIgnore(a, 1n);
    await lu.registerAndIgnore(b, 2n);
    await lu.prout(a, ProutSa.RESERVE, basicList({ key: 1n }), Type.WE_RO);
    expect(await lu.prout(a, ProutSa.RELEASE, basicList({ key: 1n }), Type.WE_RO)).toEqual(GOOD);
    expect(lu.unitAttentions.pendingCount(a)).toBe(0);
    expect(lu.unitAttentions.peek(b)).toMatchObject({ asc: 0x2a, ascq: 0x04 });
  });
});

describe('REGISTER AND MOVE through the gate', () => {
  test('moves to a configured target port the destination has not used yet', async () => {
    const lu = new MiniLu({ targetPortIds: [1, 2] });
    const a = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(a);
    await lu.registerAndIgnore(a, 1n);
    await lu.prout(a, ProutSa.RESERVE, basicList({ key: 1n }), Type.EA);
    const list = moveList({
      key: 1n,
      saKey: 9n,
      port: 2,
      unreg: true,
      transportId: iscsiTransportId(INITIATOR_2),
    });
    expect(await lu.prout(a, ProutSa.REGISTER_AND_MOVE, list)).toEqual(GOOD);
    const b = nexus(INITIATOR_2, '23d000000007', 2);
    await lu.clearUnitAttentions(b);
    expect(await lu.send(b, WRITE_10)).toEqual(GOOD);
    expect(await lu.send(a, WRITE_10)).toEqual(CONFLICT);
  });
});

describe('APTPL', () => {
  test('saves the persistent part on every change while set, null when cleared; a restart restores it', async () => {
    const lu = new MiniLu();
    const a = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(a);
    await lu.prout(a, ProutSa.REGISTER, basicList({ saKey: 5n, aptpl: true }));
    await lu.prout(a, ProutSa.RESERVE, basicList({ key: 5n }), Type.WE);
    expect(lu.saved).toHaveLength(2);
    expect(lu.saved[1]).toMatchObject({ aptpl: true, reservation: { type: Type.WE }, spc2: null });

    // Power loss: a new gate starts from the last save, written and read back as text.
    const restored = decodeReservationState(encodeReservationState(lu.saved[1]!));
    const after = new MiniLu({ initialState: restored });
    await after.clearUnitAttentions(a);
    expect(await after.readReservation(a)).toEqual({ key: 5n, type: Type.WE });
    expect((await after.send(a, prinCdb(2))).dataIn![3]! & 0x01).toBe(1);

    expect(await after.register(a, 6n, 5n)).toEqual(GOOD);
    expect(after.saved).toEqual([null]);
  });

  test('nothing is saved while APTPL is off', async () => {
    const lu = new MiniLu();
    const a = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(a);
    await lu.registerAndIgnore(a, 5n);
    await lu.prout(a, ProutSa.RESERVE, basicList({ key: 5n }), Type.WE);
    expect(lu.saved).toEqual([]);
  });
});

describe('store races', () => {
  /** A store where another writer sneaks in before each of our first `losses` writes. */
  class RacingStore extends InMemoryReservationStore {
    constructor(private losses: number) {
      super();
    }

    override async compareAndSet(
      version: number,
      next: ReservationState,
    ): Promise<VersionedReservationState | undefined> {
      if (this.losses > 0) {
        this.losses--;
        const current = this.peek();
        await super.compareAndSet(current.version, {
          ...current.state,
          generation: current.state.generation + 100,
        });
        return undefined;
      }
      return super.compareAndSet(version, next);
    }
  }

  test('a lost compare-and-set re-reads and plans again on the new state', async () => {
    const lu = new MiniLu({ store: new RacingStore(2) });
    const a = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(a);
    expect(await lu.registerAndIgnore(a, 5n)).toEqual(GOOD);
    expect((await lu.readKeys(a)).generation).toBe(201);
  });

  test('losing every attempt answers BUSY and changes nothing', async () => {
    const lu = new MiniLu({ store: new RacingStore(1000), casAttemptsMax: 3 });
    const a = nexus(INITIATOR_1);
    await lu.clearUnitAttentions(a);
    expect(await lu.registerAndIgnore(a, 5n)).toEqual({ status: ScsiStatus.BUSY });
    expect(lu.gate.state.registrations).toEqual([]);
  });

  test('load() picks up a state written to the store by someone else', async () => {
    const store = new InMemoryReservationStore();
    const lu = new MiniLu({ store });
    await store.compareAndSet(0, {
      ...lu.gate.state,
      spc2: { initiatorPortName: `${INITIATOR_1},i,0x23d000000001`, targetPortName: 'x' },
    });
    expect(lu.gate.check(nexus(INITIATOR_2), WRITE_10)).toBe('ok');
    await lu.gate.load();
    expect(lu.gate.check(nexus(INITIATOR_2), WRITE_10)).toBe('conflict');
  });
});

test('a command the gate does not own is INVALID COMMAND OPERATION CODE', async () => {
  const lu = new MiniLu();
  const result = await lu.gate.execute({
    cdb: WRITE_10,
    nexus: nexus(INITIATOR_1),
    dataOut: Buffer.alloc(0),
    expectedLengthBytes: 0,
    taskTag: 1,
    taskAttribute: 1,
  });
  expect(result).toMatchObject({ status: ScsiStatus.CHECK_CONDITION, sense: { asc: 0x20 } });
});
