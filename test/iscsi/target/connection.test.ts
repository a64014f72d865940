/**
 * Goal: the life of a connection: NOP-Out pings, the target's NOP-In keepalive (answered, and
 * timing out a silent initiator), logout, session reinstatement, commands to a LUN that does not
 * exist, malformed and out-of-place PDUs (Reject and go on, or close when the stream cannot be
 * trusted), and bounded buffering when the initiator stops reading.
 * Method: the simulated initiator against the real target in virtual time; `rawSend` and raw
 * streams deliver the malformed bytes; the target's accepted streams are watched for their
 * buffered bytes.
 */
import { describe, expect, test } from 'vitest';
import type { IscsiInitiatorError } from '../../../sim/initiator/initiator-errors.js';
import type { IscsiInitiator } from '../../../sim/initiator/iscsi-initiator.js';
import { lunToWire, parseSense, read16Cdb, testUnitReadyCdb } from '../../../sim/initiator/scsi-commands.js';
import { encodePduBytes } from '../../../src/iscsi/pdu/encode.js';
import type { InitiatorPdu, RejectPdu } from '../../../src/iscsi/pdu/messages.js';
import { EMPTY_DATA } from '../../../src/iscsi/pdu/messages.js';
import { RESERVED_TAG, RejectReason, TaskAttribute } from '../../../src/iscsi/pdu/opcodes.js';
import { memoryNetworkDefaults } from '../../../transports/memory.js';
import type { CloseReason } from '../../../transports/transport.js';
import {
  INITIATOR_HOST,
  LunGate,
  PORTAL,
  pattern,
  ready,
  TARGET_IQN,
  targetWorld,
  type World,
} from './target-world.js';

function watchRejects(initiator: IscsiInitiator): RejectPdu[] {
  const rejects: RejectPdu[] = [];
  initiator.hooks = {
    incoming: (pdu) => {
      if (pdu.kind === 'reject') rejects.push(pdu);
    },
  };
  return rejects;
}

function nopOut(initiator: IscsiInitiator, tag: number, data: Buffer): InitiatorPdu {
  return {
    kind: 'nop-out',
    ahs: [],
    data,
    immediate: true,
    lun: 0n,
    initiatorTaskTag: tag,
    targetTransferTag: RESERVED_TAG,
    cmdSN: initiator.sequence.cmdSN,
    expStatSN: initiator.sequence.expStatSN,
  };
}

async function stillWorks(world: World, initiator: IscsiInitiator): Promise<void> {
  expect((await world.settle(initiator.ping(Buffer.from('ok')))).toString()).toBe('ok');
  expect((await world.settle(initiator.read(0, 0, 1))).status).toBe(0);
}

describe('connection life', () => {
  test('NOP-Out pings are echoed, from empty to 64 KiB of data', async () => {
    const world = await targetWorld();
    const initiator = await world.login();
    for (const lengthBytes of [0, 1, 1000, 65536]) {
      const data = pattern(lengthBytes - (lengthBytes % 4), lengthBytes);
      expect((await world.settle(initiator.ping(data))).equals(data)).toBe(true);
    }
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  test('an idle initiator that answers the NOP-In keepalive stays connected', async () => {
    const world = await targetWorld({ nopIntervalMs: 10_000, nopTimeoutMs: 15_000 });
    const initiator = await world.login();
    await ready(world, initiator, 0);
    let pings = 0;
    initiator.hooks = {
      incoming: (pdu) => {
        if (pdu.kind === 'nop-in' && pdu.targetTransferTag !== RESERVED_TAG) pings += 1;
      },
    };
    await world.run(120_000);
    expect(initiator.isClosed).toBe(false);
    expect(pings).toBeGreaterThanOrEqual(11);
    expect(pings).toBeLessThanOrEqual(12);
    expect(world.server.sessionCount).toBe(1);
    await stillWorks(world, initiator);
    await world.close();
  });

  test('an initiator that leaves the keepalive unanswered is dropped after interval + timeout', async () => {
    const world = await targetWorld({ nopIntervalMs: 10_000, nopTimeoutMs: 15_000 });
    const initiator = await world.login({ hooks: { answerNopIn: false } });
    const quietSinceMs = world.clock.now();
    const closed = await world.settle(initiator.closed, { withinMs: 60_000 });
    const silentMs = world.clock.now() - quietSinceMs;
    expect(closed.kind).toBe('reset');
    expect(silentMs).toBeGreaterThanOrEqual(25_000);
    expect(silentMs).toBeLessThan(26_000);
    await world.run(100);
    expect(world.server.sessionCount).toBe(0);
    await world.close();
  });

  test('logout answers "closed successfully", ends the session and refuses new requests', async () => {
    const world = await targetWorld();
    const initiator = await world.login();
    await ready(world, initiator, 0);
    expect(await world.settle(initiator.logout())).toBe(0);
    expect((await world.settle(initiator.closed)).kind).toBe('logout');
    const refused = await initiator.testUnitReady(0).catch((error: unknown) => error);
    expect((refused as IscsiInitiatorError).code).toBe('ISCSI_INIT_NOT_ACCEPTING');
    await world.run(100);
    expect(world.server.sessionCount).toBe(0);
    await world.close();
  });

  test('a login with the same initiator name and ISID reinstates the session: the old connection drops', async () => {
    const gate = new LunGate();
    const world = await targetWorld({
      wrapLun: (iqn, lun, unit) => (iqn === TARGET_IQN && lun === 0 ? gate.wrap(unit) : unit),
    });
    const isid = '80abcdef0001';
    const old = await world.login({ isid });
    await ready(world, old, 0);
    gate.close();
    const pending = old.read(0, 0, 1).catch((error: unknown) => error);
    await world.run(50);
    const fresh = await world.login({ isid, host: '10.0.0.2' });
    const closed = await world.settle(old.closed);
    expect(closed.kind).toBe('reset');
    expect(((await world.settle(pending)) as IscsiInitiatorError).code).toBe('ISCSI_INIT_CLOSED');
    gate.open();
    expect(world.server.sessionCount).toBe(1);
    await ready(world, fresh, 0);
    const data = pattern(4096, 4);
    expect((await world.settle(fresh.write(0, 0, data))).status).toBe(0);
    expect((await world.settle(fresh.read(0, 0, 8))).dataIn.equals(data)).toBe(true);
    // Another ISID is another session: both stay.
    const other = await world.login({ isid: '80abcdef0002' });
    expect(world.server.sessionCount).toBe(2);
    expect(fresh.isClosed || other.isClosed).toBe(false);
    await world.close();
  });

  test('a LUN that does not exist: REPORT LUNS lists the real ones, INQUIRY shows an empty slot', async () => {
    const world = await targetWorld();
    const initiator = await world.login();
    const luns = await world.settle(initiator.reportLuns(7));
    expect(luns.status).toBe(0);
    expect(luns.luns).toEqual([0, 1]);
    const inquiry = await world.settle(initiator.inquiry(7));
    expect(inquiry.status).toBe(0);
    expect(inquiry.dataIn[0]).toBe(0x7f); // peripheral qualifier 011b, device type 1Fh
    for (const cdb of [testUnitReadyCdb(), read16Cdb(0, 1)]) {
      const result = await world.settle(
        initiator.command({ lun: 7, cdb, expectedLengthBytes: cdb[0] === 0 ? 0 : 512 }),
      );
      expect(result.status).toBe(0x02);
      expect(parseSense(result.sense)).toMatchObject({ key: 0x05, asc: 0x25, ascq: 0x00 });
    }
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  describe('malformed and out-of-place PDUs', () => {
    test('an unknown opcode is rejected as "command not supported" and the connection goes on', async () => {
      const world = await targetWorld();
      const initiator = await world.login();
      await ready(world, initiator, 0);
      const rejects = watchRejects(initiator);
      const bhs = Buffer.alloc(48);
      bhs[0] = 0x1e; // a vendor-specific initiator opcode Collie does not define
      bhs[1] = 0x80;
      bhs.writeUInt32BE(0x1234, 16);
      initiator.rawSend(bhs);
      await world.run(100);
      expect(rejects.map((reject) => reject.reason)).toEqual([RejectReason.COMMAND_NOT_SUPPORTED]);
      expect(rejects[0]!.data.equals(bhs)).toBe(true);
      await stillWorks(world, initiator);
      expect(initiator.violations).toEqual([]);
      await world.close();
    });

    test('a data segment above the target MaxRecvDataSegmentLength is rejected; the connection goes on', async () => {
      const world = await targetWorld();
      const initiator = await world.login();
      await ready(world, initiator, 0);
      const rejects = watchRejects(initiator);
      initiator.rawSend(nopOut(initiator, 0x5555, Buffer.alloc(300 * 1024, 0xab)));
      await world.run(100);
      expect(rejects.map((reject) => reject.reason)).toEqual([RejectReason.PROTOCOL_ERROR]);
      expect(rejects[0]!.data.readUInt32BE(16)).toBe(0x5555);
      await stillWorks(world, initiator);
      expect(initiator.violations).toEqual([]);
      await world.close();
    });

    test('a Login Request in full feature phase and a SNACK at ERL 0 are rejected', async () => {
      const world = await targetWorld();
      const initiator = await world.login();
      await ready(world, initiator, 0);
      const rejects = watchRejects(initiator);
      initiator.rawSend({
        kind: 'login-request',
        ahs: [],
        data: EMPTY_DATA,
        transit: false,
        continue: false,
        csg: 1,
        nsg: 0,
        versionMax: 0,
        versionMin: 0,
        isid: initiator.isid,
        tsih: initiator.tsih,
        initiatorTaskTag: 0x99,
        cid: 0,
        cmdSN: initiator.sequence.cmdSN,
        expStatSN: initiator.sequence.expStatSN,
      });
      initiator.rawSend({
        kind: 'snack',
        ahs: [],
        data: EMPTY_DATA,
        type: 1,
        lun: 0n,
        initiatorTaskTag: RESERVED_TAG,
        targetTransferTag: RESERVED_TAG,
        expStatSN: initiator.sequence.expStatSN,
        begRun: 0,
        runLength: 0,
      });
      await world.run(100);
      expect(rejects.map((reject) => reject.reason)).toEqual([
        RejectReason.PROTOCOL_ERROR,
        RejectReason.COMMAND_NOT_SUPPORTED,
      ]);
      await stillWorks(world, initiator);
      await world.close();
    });

    test('a bad data digest is rejected (0x02) and the connection goes on; a bad header digest closes it', async () => {
      const world = await targetWorld();
      const initiator = await world.login({ headerDigest: true, dataDigest: true });
      await ready(world, initiator, 0);
      const rejects = watchRejects(initiator);
      const digests = { headerDigest: true, dataDigest: true };
      const badData = encodePduBytes(nopOut(initiator, 0x77, Buffer.alloc(64, 1)), digests);
      badData[badData.length - 1]! ^= 0xff;
      initiator.rawSend(badData);
      await world.run(100);
      expect(rejects.map((reject) => reject.reason)).toEqual([RejectReason.DATA_DIGEST_ERROR]);
      await stillWorks(world, initiator);
      const badHeader = encodePduBytes(nopOut(initiator, 0x78, EMPTY_DATA), digests);
      badHeader[48]! ^= 0xff;
      initiator.rawSend(badHeader);
      expect((await world.settle(initiator.closed, { withinMs: 1000 })).kind).toBe('reset');
      await world.close();
    });

    test.each([
      ['a SCSI command', 'scsi-command'],
      ['unknown bytes', 'garbage'],
    ])('%s before login closes the connection', async (_name, what) => {
      const world = await targetWorld();
      const stream = await world.settle(world.network.transport(INITIATOR_HOST).connect(PORTAL));
      const received: Buffer[] = [];
      let closedWith: CloseReason | undefined;
      const closed = new Promise<void>((resolve) => {
        stream.attach({
          data: (chunk) => received.push(chunk),
          close: (reason) => {
            closedWith = reason;
            resolve();
          },
        });
      });
      const bytes =
        what === 'garbage'
          ? Buffer.concat([Buffer.from([0x1e]), pattern(48 + 12, 9)]).subarray(0, 48)
          : encodePduBytes(
              {
                kind: 'scsi-command',
                ahs: [],
                data: EMPTY_DATA,
                immediate: false,
                final: true,
                read: false,
                write: false,
                attr: TaskAttribute.SIMPLE,
                lun: lunToWire(0),
                initiatorTaskTag: 1,
                expectedDataTransferLength: 0,
                cmdSN: 1,
                expStatSN: 0,
                cdb: testUnitReadyCdb(),
              },
              { headerDigest: false, dataDigest: false },
            );
      stream.write(bytes);
      await world.settle(closed, { withinMs: 1000 });
      expect(closedWith?.kind).toBe('reset');
      expect(Buffer.concat(received).length).toBe(0);
      expect(world.server.sessionCount).toBe(0);
      await world.close();
    });
  });

  test('an initiator that stops reading makes the target stop reading, not buffer without bound', async () => {
    const world = await targetWorld();
    const initiator = await world.login();
    await ready(world, initiator, 0);
    const highWaterBytes = memoryNetworkDefaults.highWaterBytes;
    const targetEnd = world.serverStreams.at(-1)!;
    initiator.pauseReading();
    // 200 pings of 64 KiB each ask for 12.5 MiB of answers that nobody reads.
    const data = pattern(65536, 5);
    const pings = Array.from({ length: 200 }, () => initiator.ping(data));
    let targetBufferedMax = 0;
    for (let step = 0; step < 200; step++) {
      await world.run(10);
      targetBufferedMax = Math.max(targetBufferedMax, targetEnd.bufferedBytes);
    }
    // The target wrote until its stream passed the high-water mark, then paused reading: at most
    // the answers to the requests of the chunk it was reading come on top.
    expect(targetBufferedMax).toBeGreaterThanOrEqual(highWaterBytes);
    expect(targetBufferedMax).toBeLessThan(highWaterBytes + 4 * 65536);
    // The rest waits on the initiator's side, where the writer is pushed back in turn.
    expect(initiator.bufferedBytes).toBeGreaterThan(0);
    initiator.resumeReading();
    const echoed = await world.settle(Promise.all(pings));
    for (const each of echoed) expect(each.equals(data)).toBe(true);
    await stillWorks(world, initiator);
    expect(initiator.violations).toEqual([]);
    await world.close();
  });
});

describe('requests the initiator itself times out', () => {
  test('a command with no answer fails with ISCSI_INIT_TIMEOUT and is aborted in the target', async () => {
    const gate = new LunGate();
    const world = await targetWorld({
      wrapLun: (iqn, lun, unit) => (iqn === TARGET_IQN && lun === 0 ? gate.wrap(unit) : unit),
    });
    const initiator = await world.login({ commandTimeoutMs: 5000 });
    await ready(world, initiator, 0);
    gate.close();
    const startMs = world.clock.now();
    const error = await world.settle(initiator.read(0, 0, 1).catch((caught: unknown) => caught));
    expect((error as IscsiInitiatorError).code).toBe('ISCSI_INIT_TIMEOUT');
    expect(world.clock.now() - startMs).toBe(5000);
    await world.run(100);
    // The ABORT TASK the initiator sent freed the task in the logical unit.
    expect(gate.heldCount).toBe(0);
    gate.open();
    expect((await world.settle(initiator.read(0, 0, 1))).status).toBe(0);
    await world.close();
  });
});
