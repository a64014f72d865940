/**
 * Goal: hostile or broken bytes on one connection of `collie target` get a protocol answer
 * (Reject, a failed login, or a closed connection) and never a crash or a hang: the process stays
 * up and a real initiator on another connection keeps working.
 *
 * Method: one real `collie target` with a memory LUN; a raw client (target-raw-initiator.ts, on
 * node:net) sends, before login, HTTP garbage, a NOP-Out, a SCSI command and a Login Request
 * claiming a 16 MiB data segment (each must close the connection), and a login to an unknown
 * target (status 0x0203); in a discovery session it checks SendTargets; after a real login it
 * sends an undefined opcode, a target-only opcode, a data segment over the target's
 * MaxRecvDataSegmentLength, a 16 MiB DataSegmentLength followed by those 16 MiB, a bad data digest
 * (each must be Rejected with the connection going on) and a bad header digest (the connection
 * must close). After every case, qemu-io writes and reads a pattern on a connection of its own
 * and the target process must still be running. Skipped without qemu-io, except in CI.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  encodePduBytes,
  encodeTextData,
  type InitiatorPdu,
  RESERVED_TAG,
} from '../../src/iscsi/pdu/index.js';
import { startTarget, type TargetHandle } from '../support/collie.js';
import { allocatePort } from '../support/ports.js';
import { readPattern, writePattern } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import { bhsOf, describeReceived, hex4, RawInitiator } from './target-raw-initiator.js';

const hasTools = requireTool('qemu-io');

const IQN = 'iqn.2026-11.test.collie:malformed';
const KiB = 1024;
/** How long the target may take to close a connection it must close. */
const CLOSE_WITHIN_MS = 3_000;

function nopOut(initiator: RawInitiator, data: Buffer): Extract<InitiatorPdu, { kind: 'nop-out' }> {
  return {
    kind: 'nop-out',
    ahs: [],
    data,
    immediate: true,
    lun: 0n,
    initiatorTaskTag: initiator.nextItt(),
    targetTransferTag: RESERVED_TAG,
    cmdSN: initiator.cmdSN,
    expStatSN: initiator.expStatSN,
  };
}

function read10(lba: number, blocks: number): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x28;
  cdb.writeUInt32BE(lba, 2);
  cdb.writeUInt16BE(blocks, 7);
  return cdb;
}

describe.skipIf(!hasTools)('collie target survives malformed PDUs', () => {
  let target: TargetHandle | undefined;
  let port = 0;
  let round = 0;
  const clients: RawInitiator[] = [];

  async function connect(): Promise<RawInitiator> {
    const client = await RawInitiator.connect(port);
    clients.push(client);
    return client;
  }

  async function loggedIn(digests: { header?: string; data?: string } = {}): Promise<RawInitiator> {
    const client = await connect();
    const login = await client.login({
      targetName: IQN,
      headerDigest: digests.header,
      dataDigest: digests.data,
    });
    expect(login.status, `login answered ${hex4(login.status)}`).toBe(0);
    await client.ping(); // full feature phase works before we break anything
    return client;
  }

  beforeAll(async () => {
    port = await allocatePort();
    target = await startTarget({
      portal: { host: '127.0.0.1', port },
      iqn: IQN,
      luns: [{ lun: 1, backing: 'mem:64M' }],
      logLevel: 'debug',
    });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    // The target is alive and a real initiator on a new connection still gets its bytes right.
    expect(target?.process.exitInfo, target?.process.describeTail()).toBeUndefined();
    round++;
    const range = { pattern: 0x10 + round, offset: round * 64 * KiB, length: 64 * KiB };
    const wrote = await writePattern(target!.url(1), range);
    expect(wrote.ok, wrote.output).toBe(true);
    const read = await readPattern(target!.url(1), range);
    expect(read.ok, read.output).toBe(true);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    const exit = await target?.stop();
    // SIGTERM is a clean stop: status 0, not a crash.
    expect(exit?.code, target?.process.describeTail()).toBe(0);
  });

  describe('before login: the connection is closed', () => {
    test('HTTP garbage', async () => {
      const client = await connect();
      const request = Buffer.alloc(64, 0x20);
      request.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      client.sendRaw(request);
      expect(await client.waitClosed(CLOSE_WITHIN_MS)).toBe('closed');
      expect(client.drain().map(describeReceived)).toEqual([]);
    });

    test('48 bytes of 0xff (a target opcode with every flag set)', async () => {
      const client = await connect();
      client.sendRaw(Buffer.alloc(48, 0xff));
      expect(await client.waitClosed(CLOSE_WITHIN_MS)).toBe('closed');
      expect(client.drain().map(describeReceived)).toEqual([]);
    });

    test('a NOP-Out', async () => {
      const client = await connect();
      client.send(nopOut(client, Buffer.from('hello')));
      expect(await client.waitClosed(CLOSE_WITHIN_MS)).toBe('closed');
      expect(client.drain().map(describeReceived)).toEqual([]);
    });

    test('a SCSI READ(10): no data comes back', async () => {
      const client = await connect();
      client.send({
        kind: 'scsi-command',
        ahs: [],
        data: Buffer.alloc(0),
        immediate: false,
        final: true,
        read: true,
        write: false,
        attr: 1,
        lun: 1n << 48n,
        initiatorTaskTag: client.nextItt(),
        expectedDataTransferLength: 4096,
        cmdSN: client.nextCmdSN(),
        expStatSN: 0,
        cdb: read10(0, 8),
      });
      expect(await client.waitClosed(CLOSE_WITHIN_MS)).toBe('closed');
      expect(client.drain().map(describeReceived)).toEqual([]);
    });

    test('a Login Request claiming a 16 MiB data segment', async () => {
      const client = await connect();
      const bhs = bhsOf({
        kind: 'login-request',
        ahs: [],
        data: Buffer.alloc(0),
        transit: true,
        continue: false,
        csg: 1,
        nsg: 3,
        versionMax: 0,
        versionMin: 0,
        isid: client.isid,
        tsih: 0,
        initiatorTaskTag: client.nextItt(),
        cid: 1,
        cmdSN: 1,
        expStatSN: 0,
      });
      bhs.writeUIntBE(0xff_ffff, 5, 3); // DataSegmentLength, with no data behind it
      client.sendRaw(bhs);
      client.sendRaw(Buffer.alloc(64 * KiB, 0x41)); // a start of the claimed segment
      expect(await client.waitClosed(CLOSE_WITHIN_MS)).toBe('closed');
    });
  });

  describe('login answers', () => {
    test('an unknown TargetName gets status 0x0203 (not found)', async () => {
      const client = await connect();
      const login = await client.login({ targetName: 'iqn.2026-11.test.collie:no-such-target' });
      expect(hex4(login.status)).toBe('0x0203');
      expect(await client.waitClosed(CLOSE_WITHIN_MS)).toBe('closed');
    });

    test('SendTargets=All in a discovery session lists the target and its portal', async () => {
      const client = await connect();
      const login = await client.login({ sessionType: 'Discovery' });
      expect(login.status, `discovery login answered ${hex4(login.status)}`).toBe(0);
      const itt = client.nextItt();
      client.send({
        kind: 'text-request',
        ahs: [],
        data: encodeTextData([['SendTargets', 'All']]),
        immediate: false,
        final: true,
        continue: false,
        lun: 0n,
        initiatorTaskTag: itt,
        targetTransferTag: RESERVED_TAG,
        cmdSN: client.nextCmdSN(),
        expStatSN: client.expStatSN,
      });
      const answer = await client.expect('text-response');
      expect(answer.initiatorTaskTag).toBe(itt);
      expect(answer.final).toBe(true);
      const text = answer.data.toString('utf8').split('\0').filter(Boolean);
      expect(text).toEqual([`TargetName=${IQN}`, `TargetAddress=127.0.0.1:${port},1`]);
    });
  });

  describe('after login: Reject, and the connection goes on', () => {
    test('an opcode RFC 7143 does not define (0x0e) is Rejected as "command not supported"', async () => {
      const client = await loggedIn();
      const bhs = bhsOf(nopOut(client, Buffer.alloc(0)));
      bhs[0] = 0x40 | 0x0e;
      client.sendRaw(bhs);
      const reject = await client.expect('reject');
      expect(reject.reason).toBe(0x05);
      expect(reject.data.equals(bhs), 'the Reject carries the rejected header').toBe(true);
      await client.ping();
    });

    test('a target-only opcode (NOP-In) from the initiator is Rejected', async () => {
      const client = await loggedIn();
      const bhs = bhsOf(nopOut(client, Buffer.alloc(0)));
      bhs[0] = 0x20; // NOP-In
      bhs.writeUInt32BE(0x1234, 16); // a task tag, so that it is not a keepalive answer
      client.sendRaw(bhs);
      const answer = await client.next(3_000, 'a Reject of the NOP-In');
      expect(describeReceived(answer)).toMatch(/^a Reject \(reason 0x0[45]\)$/);
      await client.ping();
    });

    test("a data segment longer than the target's MaxRecvDataSegmentLength is Rejected (protocol error)", async () => {
      const client = await loggedIn();
      const oversize = Buffer.alloc(client.targetMaxRecvDataSegmentBytes + 4, 0x5a);
      const pdu = nopOut(client, oversize);
      client.send(pdu);
      const reject = await client.expect('reject');
      expect(reject.reason).toBe(0x04);
      expect(reject.data.equals(bhsOf(pdu))).toBe(true);
      await client.ping();
    });

    test('a 16 MiB DataSegmentLength is Rejected at once, and the stream resynchronises after it', async () => {
      const client = await loggedIn();
      const bhs = bhsOf(nopOut(client, Buffer.alloc(0)));
      bhs.writeUIntBE(0xff_ffff, 5, 3);
      client.sendRaw(bhs);
      // Answered from the header alone: the target does not wait for (or buffer) 16 MiB.
      const reject = await client.expect('reject', 3_000);
      expect(reject.reason).toBe(0x04);
      // The claimed segment (padded to 4) then goes by in chunks, and the next PDU is understood.
      const chunk = Buffer.alloc(1024 * KiB, 0xee);
      for (let sent = 0; sent < 16 * 1024 * KiB; sent += chunk.length) client.sendRaw(chunk);
      await client.ping(Buffer.from('after 16 MiB'), 15_000);
      expect(target?.process.exitInfo).toBeUndefined();
    });

    test('a data digest error is Rejected with reason 0x02', async () => {
      const client = await loggedIn({ header: 'CRC32C', data: 'CRC32C' });
      expect(client.digests).toEqual({ headerDigest: true, dataDigest: true });
      const pdu = nopOut(client, Buffer.from('twelve bytes'));
      const wire = encodePduBytes(pdu, client.digests);
      wire[wire.length - 1] = (wire[wire.length - 1] ?? 0) ^ 0x01; // flip a bit of the data digest
      client.sendRaw(wire);
      const reject = await client.expect('reject');
      expect(reject.reason).toBe(0x02);
      await client.ping();
    });
  });

  test('after login with header digests: a header digest error closes the connection', async () => {
    const client = await loggedIn({ header: 'CRC32C' });
    expect(client.digests.headerDigest).toBe(true);
    const wire = encodePduBytes(nopOut(client, Buffer.alloc(0)), client.digests);
    wire[48] = (wire[48] ?? 0) ^ 0x80; // the first byte of the header digest
    client.sendRaw(wire);
    expect(await client.waitClosed(CLOSE_WITHIN_MS)).toBe('closed');
    expect(client.drain().map(describeReceived)).toEqual([]);
  });
});
