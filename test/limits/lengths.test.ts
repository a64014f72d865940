/**
 * Goal: every length a peer puts on the wire is checked before the target allocates for it
 * (docs/limits.md, "size caps"): a lying DataSegmentLength costs no buffer, in login (the
 * connection drops) and in full feature (Reject 0x04, the bytes are skipped as they come, and a
 * peer that never sends them is timed out); an AHS is bounded by its 8-bit field; a lying
 * ExpectedDataTransferLength is refused before its buffer exists; writes waiting for data hold at
 * most the session's budget. Also the limits' own rules: the reporter's rate-limited log and
 * resolveTargetLimits' checks.
 * Method: PduFramer fed by hand; the real target in virtual time (sim/limits/limits-world.ts)
 * with raw connections and a simulated initiator's rawSend; a recording logger.
 */
import { describe, expect, test } from 'vitest';
import { lunToWire, read16Cdb } from '../../sim/initiator/scsi-commands.js';
import { limitsWorld } from '../../sim/limits/limits-world.js';
import type { Logger } from '../../src/core/logger.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { AHS_BYTES_MAX, BHS_BYTES } from '../../src/iscsi/pdu/bhs.js';
import { encodePduBytes } from '../../src/iscsi/pdu/encode.js';
import { PduFramer } from '../../src/iscsi/pdu/framer.js';
import type { RejectPdu } from '../../src/iscsi/pdu/messages.js';
import { EMPTY_DATA } from '../../src/iscsi/pdu/messages.js';
import { RESERVED_TAG, RejectReason, TaskAttribute } from '../../src/iscsi/pdu/opcodes.js';
import {
  LIMIT_LOG_INTERVAL_MS,
  LimitReporter,
  resolveTargetLimits,
  TARGET_LIMITS_DEFAULTS,
} from '../../src/iscsi/target/target-limits.js';
import { ScsiStatus } from '../../src/scsi/scsi-types.js';

const NO_DIGESTS = { headerDigest: false, dataDigest: false };
const MIB = 1024 * 1024;

/** A NOP-Out header whose DataSegmentLength says `lengthBytes` (no data follows it here). */
function lyingNopOut(lengthBytes: number, opcode = 0x40): Buffer {
  const bhs = encodePduBytes(
    {
      kind: 'nop-out',
      ahs: [],
      data: EMPTY_DATA,
      immediate: true,
      lun: 0n,
      initiatorTaskTag: 0x1234,
      targetTransferTag: RESERVED_TAG,
      cmdSN: 1,
      expStatSN: 0,
    },
    NO_DIGESTS,
  );
  bhs[0] = opcode;
  bhs.writeUIntBE(lengthBytes, 5, 3);
  return bhs;
}

describe('the framer never buffers what a length promises', () => {
  test('a 16 MiB data segment over the limit is reported at its header and skipped as it comes', () => {
    const framer = new PduFramer({ ...NO_DIGESTS, maxRecvDataSegmentLength: 8192 });
    framer.push(lyingNopOut(0xff_ffff));
    const error = framer.next();
    expect(error).toMatchObject({
      kind: 'error',
      fatal: false,
      error: { code: 'ISCSI_ERR_OVERSIZE_DATA_SEGMENT' },
    });
    expect(framer.pduInProgress).toBe(true);
    for (let sent = 0; sent < 0xff_ffff; sent += MIB) {
      framer.push(Buffer.alloc(Math.min(MIB, 0x100_0000 - sent)));
      expect(framer.next()).toBeUndefined();
      expect(framer.bufferedBytes).toBe(0);
    }
    expect(framer.pduInProgress).toBe(false);
  });

  test('an AHS is at most 1020 bytes: the framer waits for no more than its header can say', () => {
    const framer = new PduFramer({ ...NO_DIGESTS, maxRecvDataSegmentLength: 8192 });
    const bhs = lyingNopOut(0);
    bhs[4] = 0xff;
    framer.push(bhs);
    expect(framer.next()).toBeUndefined();
    expect(framer.pduInProgress).toBe(true);
    framer.push(Buffer.alloc(AHS_BYTES_MAX));
    expect(framer.next()).toMatchObject({ kind: 'frame' });
    expect(framer.pduInProgress).toBe(false);
    expect(framer.pduBytesMax).toBeLessThan(BHS_BYTES + AHS_BYTES_MAX + 8192 + 16);
  });
});

describe('the target refuses lying lengths before allocating', () => {
  test('a Login Request declaring 16 MiB is dropped at its header', async () => {
    const world = await limitsWorld();
    const peer = await world.raw('10.6.0.1');
    peer.stream.write(lyingNopOut(0xff_ffff, 0x43));
    await world.run(10);
    expect(peer.closedKind).toBe('reset');
    expect(peer.receivedBytes).toBe(0);
    await world.close();
  });

  test('in full feature: Reject 0x04 at once; a peer that never sends the bytes is timed out', async () => {
    const world = await limitsWorld();
    const initiator = await world.login();
    const rejects: RejectPdu[] = [];
    initiator.hooks = {
      incoming: (pdu) => {
        if (pdu.kind === 'reject') rejects.push(pdu);
      },
    };
    initiator.rawSend(lyingNopOut(0xff_ffff));
    initiator.rawSend(Buffer.alloc(MIB));
    await world.run(100);
    expect(rejects.map((each) => each.reason)).toEqual([RejectReason.PROTOCOL_ERROR]);
    expect(world.server.limitStats().refusals['data-segment-size']).toBe(1);
    await world.settle(initiator.closed, { withinMs: TARGET_LIMITS_DEFAULTS.pduTimeoutMs + 1000 });
    expect(world.server.limitStats().refusals['pdu-timeout']).toBe(1);
    await world.close();
  });

  test('ExpectedDataTransferLength 4 GiB: CHECK CONDITION, nothing reserved or allocated', async () => {
    const world = await limitsWorld();
    const initiator = await world.login();
    await world.settle(initiator.testUnitReady(0).catch(() => undefined));
    const result = await world.settle(
      initiator.command({ lun: 0, cdb: read16Cdb(0, 1), expectedLengthBytes: 0xffff_ffff, read: true }),
    );
    expect(result.status).toBe(ScsiStatus.CHECK_CONDITION);
    const stats = world.server.limitStats();
    expect(stats.refusals['task-transfer-size']).toBe(1);
    expect(stats.budgets[0]!.bytesPeak).toBe(0);
    await world.close();
  });

  test('writes waiting for their data hold at most the session budget; the rest get TASK SET FULL', async () => {
    const world = await limitsWorld({ limits: { taskDataBytesPerSessionMax: 8 * MIB } });
    const initiator = await world.login({
      commandTimeoutMs: 0,
      offer: { initialR2T: true, immediateData: false },
    });
    await world.settle(initiator.testUnitReady(0).catch(() => undefined));
    initiator.hooks = { outgoing: (pdu) => (pdu.kind === 'data-out' ? [] : pdu) };
    const statuses: number[] = [];
    for (let index = 0; index < 10; index++) {
      void initiator
        .write(0, index * 8192, Buffer.alloc(4 * MIB))
        .then((result) => statuses.push(result.status))
        .catch(() => undefined);
    }
    await world.run(100);
    expect(statuses).toEqual(Array(8).fill(ScsiStatus.TASK_SET_FULL));
    const stats = world.server.limitStats();
    expect(stats.budgets[0]).toMatchObject({ tasks: 2, bytes: 8 * MIB, bytesPeak: 8 * MIB });
    expect(stats.refusals['task-data-per-session']).toBe(8);
    await world.close();
  });

  test('a SCSI command with a lying data segment longer than its EDTL is Rejected, not run', async () => {
    const world = await limitsWorld();
    const initiator = await world.login();
    const rejects: RejectPdu[] = [];
    initiator.hooks = {
      incoming: (pdu) => {
        if (pdu.kind === 'reject') rejects.push(pdu);
      },
    };
    initiator.rawSend({
      kind: 'scsi-command',
      ahs: [],
      data: Buffer.alloc(4096),
      immediate: true,
      final: true,
      read: false,
      write: true,
      attr: TaskAttribute.SIMPLE,
      lun: lunToWire(0),
      initiatorTaskTag: 0x6000_0001,
      expectedDataTransferLength: 512,
      cmdSN: initiator.sequence.cmdSN,
      expStatSN: initiator.sequence.expStatSN,
      cdb: read16Cdb(0, 1),
    });
    await world.run(100);
    expect(rejects).toHaveLength(1);
    expect(world.server.activeTaskCount).toBe(0);
    await world.close();
  });
});

describe('the limits themselves', () => {
  test('the reporter counts every refusal and logs the first, then one line per interval with the rest', () => {
    const clock = new VirtualClock(0);
    const lines: Record<string, unknown>[] = [];
    const logger = { warn: (fields: Record<string, unknown>) => lines.push(fields) } as unknown as Logger;
    const reporter = new LimitReporter({ clock, logger });
    for (let index = 0; index < 100; index++) reporter.hit('command-window', {}, 'dropped');
    expect(lines).toHaveLength(1);
    clock.advanceBy(LIMIT_LOG_INTERVAL_MS);
    reporter.hit('command-window', {}, 'dropped');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ limit: 'command-window', option: 'commandWindow', notLogged: 99 });
    expect(reporter.count('command-window')).toBe(101);
  });

  test('resolveTargetLimits takes the defaults, overrides, and refuses what is not a limit', () => {
    expect(resolveTargetLimits()).toEqual(TARGET_LIMITS_DEFAULTS);
    expect(resolveTargetLimits({ sessionsPerTargetMax: 8, pduTimeoutMs: 0 })).toMatchObject({
      sessionsPerTargetMax: 8,
      pduTimeoutMs: 0,
    });
    expect(() => resolveTargetLimits({ sessionsPerTargetMax: 0 })).toThrow(/sessionsPerTargetMax/);
    expect(() => resolveTargetLimits({ loginTimeoutMs: 1.5 })).toThrow(/loginTimeoutMs/);
    expect(() => resolveTargetLimits({ nope: 1 } as never)).toThrow(/unknown limit "nope"/);
  });
});
