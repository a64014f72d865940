/**
 * Goal: the admin operations send what dog sends (protocol doc section 3.3 sequences, proto_ver
 * 0x02 public / 0x0a internal, dog's buffer sizes), and a VDI write (the lock-less client on the
 * target's IO planner) writes data_vdi_id as section 6.1 says (CREATE with COW + cow_oid for a
 * parent's object, one inode update covering min..max) without the TGT flag or refresh read.
 * Method: the embedded store on TCP loopback, reached through a recording transport that decodes
 * every request the client writes with the real codec; assertions are on those headers.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { EventLog } from '../../src/core/event-log.js';
import { silentLogger } from '../../src/core/logger.js';
import { realClock } from '../../src/core/real-clock.js';
import {
  deleteVdi,
  getVdiCopies,
  getVdiInfo,
  listVdis,
  newVdi,
  readVdiBytes,
  SheepAdminError,
  snapshotVdi,
  vidsInBitmap,
  writeVdi,
} from '../../src/sheepdog/sheep-admin.js';
import { SheepConnection } from '../../src/sheepdog/sheep-connection.js';
import { SdFlag, SdOp } from '../../src/sheepdog/wire/constants.js';
import { SheepFramer } from '../../src/sheepdog/wire/framer.js';
import { decodeRequestHeader, type RequestHeader } from '../../src/sheepdog/wire/header.js';
import { vidToDataOid, vidToVdiOid } from '../../src/sheepdog/wire/oid.js';
import { MemoryObjectStore } from '../../src/store/memory-object-store.js';
import { SheepStore } from '../../src/store/sheep-store.js';
import { TcpTransport } from '../../transports/tcp.js';
import type { ByteStream, Endpoint, Transport } from '../../transports/transport.js';

const MiB = 1024 * 1024;

/** A Transport whose client streams record every request header they carry. */
class RecordingTransport implements Transport {
  readonly sent: RequestHeader[] = [];
  readonly #inner = new TcpTransport();

  listen: Transport['listen'] = (address, onConnection) => this.#inner.listen(address, onConnection);

  async connect(address: Endpoint): Promise<ByteStream> {
    const stream = await this.#inner.connect(address);
    const framer = new SheepFramer({ side: 'request', payloadBytesMax: 64 * MiB });
    const write = stream.write.bind(stream);
    return Object.assign(Object.create(stream) as ByteStream, {
      write: (chunk: Buffer) => {
        framer.push(Buffer.from(chunk));
        for (let frame = framer.next(); frame !== undefined; frame = framer.next()) {
          this.sent.push(decodeRequestHeader(frame.header));
        }
        return write(chunk);
      },
      attach: stream.attach.bind(stream),
      end: stream.end.bind(stream),
      destroy: stream.destroy.bind(stream),
    });
  }

  /** Opcodes sent since `from`, as names for readable failures. */
  opcodes(from = 0): number[] {
    return this.sent.slice(from).map((h) => h.opcode);
  }
}

let store: SheepStore;
let recorder: RecordingTransport;
let conn: SheepConnection;

beforeEach(async () => {
  store = await SheepStore.open({
    objects: new MemoryObjectStore(),
    defaults: { copies: 1, copyPolicy: 0, blockSizeShift: 22 },
    locking: true,
    transport: new TcpTransport(),
    listen: [{ host: '127.0.0.1', port: 0 }],
    clock: realClock,
    eventLog: new EventLog(realClock),
    logger: silentLogger,
  });
  recorder = new RecordingTransport();
  conn = await SheepConnection.open(recorder, store.nodes()[0]!.endpoint, { clock: realClock });
});

afterEach(async () => {
  conn.close();
  await store.close();
});

describe('sheep-admin wire behaviour', () => {
  test('proto_ver is 0x02 on public ops and 0x0a on internal ones; NEW_VDI carries 256 bytes', async () => {
    await newVdi(conn, { name: 'test', sizeBytes: 8 * MiB, blockSizeShift: 22 });
    await listVdis(conn);
    await getVdiCopies(conn);
    for (const header of recorder.sent) {
      expect(header.protoVer).toBe(header.opcode >= 0x80 ? 0x0a : 0x02);
    }
    const create = recorder.sent.find((h) => h.opcode === SdOp.NEW_VDI)!;
    expect(create.dataLength).toBe(256);
    expect(create.flags).toBe(SdFlag.WRITE);
    expect(recorder.sent.find((h) => h.opcode === SdOp.READ_VDIS)!.dataLength).toBe(2 * MiB);
    expect(recorder.sent.find((h) => h.opcode === SdOp.READ_DEL_VDIS)!.dataLength).toBe(2 * MiB);
    expect(recorder.sent.find((h) => h.opcode === SdOp.GET_VDI_COPIES)!.dataLength).toBe(512 * 1428);
  });

  test('snapshot is GET_VDI_INFO(tag) -> GET_VDI_INFO -> header read -> tag write at 256 -> NEW_VDI(snapid 1)', async () => {
    const { vid } = await newVdi(conn, { name: 'test', sizeBytes: 8 * MiB });
    expect(vid).toBe(0x7c2b25);
    const from = recorder.sent.length;
    const result = await snapshotVdi(conn, { name: 'test', tag: 'snap1' });
    expect(result).toEqual({ snapshotVid: 0x7c2b25, workingVid: 0x7c2b26 });
    const sent = recorder.sent.slice(from);
    expect(sent.map((h) => h.opcode)).toEqual([
      SdOp.GET_VDI_INFO,
      SdOp.GET_VDI_INFO,
      SdOp.READ_OBJ,
      SdOp.WRITE_OBJ,
      SdOp.NEW_VDI,
    ]);
    expect(sent[0]!.dataLength).toBe(512);
    expect(sent[2]).toMatchObject({ dataLength: 4664, args: { oid: vidToVdiOid(vid), offset: 0 } });
    expect(sent[3]).toMatchObject({ dataLength: 256, args: { oid: vidToVdiOid(vid), offset: 256 } });
    expect(sent[4]!.args).toMatchObject({ kind: 'vdi', snapid: 1, baseVdiId: vid, vdiSize: BigInt(8 * MiB) });
    expect(await getVdiInfo(conn, { name: 'test', tag: 'snap1' })).toMatchObject({ vid: 0x7c2b25 });
  });

  test('a write (the lock-less client) over two parent-owned objects COWs both, then one inode update covers idx min..max', async () => {
    const { vid } = await newVdi(conn, { name: 'test', sizeBytes: 16 * MiB });
    await writeVdi(conn, { name: 'test', offset: 0, data: Buffer.alloc(8 * MiB, 0x11) });
    const { workingVid } = await snapshotVdi(conn, { name: 'test', tag: 'base' });
    const from = recorder.sent.length;
    // 4 KiB straddling objects 0 and 1, both still owned by the snapshot.
    await writeVdi(conn, { name: 'test', offset: 4 * MiB - 2048, data: Buffer.alloc(4096, 0x22) });
    const sent = recorder.sent.slice(from);
    expect(sent.map((h) => h.opcode)).toEqual([
      SdOp.GET_VDI_INFO,
      SdOp.READ_OBJ,
      SdOp.CREATE_AND_WRITE_OBJ,
      SdOp.CREATE_AND_WRITE_OBJ,
      SdOp.WRITE_OBJ,
      SdOp.READ_OBJ,
    ]);
    // dog's full inode read (not the 4,198,968-byte refresh read), and no TGT flag anywhere.
    expect(sent[1]).toMatchObject({ dataLength: 12_587_576, flags: 0, args: { offset: 0 } });
    expect(sent.every((h) => (h.flags & SdFlag.TGT) === 0)).toBe(true);
    expect(sent[2]).toMatchObject({
      flags: SdFlag.WRITE | SdFlag.CACHE | SdFlag.COW,
      dataLength: 2048,
      args: { oid: vidToDataOid(workingVid, 0), cowOid: vidToDataOid(vid, 0), offset: 4 * MiB - 2048 },
    });
    expect(sent[3]).toMatchObject({
      flags: SdFlag.WRITE | SdFlag.CACHE | SdFlag.COW,
      args: { oid: vidToDataOid(workingVid, 1), cowOid: vidToDataOid(vid, 1), offset: 0 },
    });
    expect(sent[4]).toMatchObject({
      flags: SdFlag.WRITE,
      dataLength: 8,
      args: { oid: vidToVdiOid(workingVid), offset: 4664 },
    });
    // After the update: is the working VDI still working (snap_ctime), asked without TGT.
    expect(sent[5]).toMatchObject({ dataLength: 8, args: { oid: vidToVdiOid(workingVid), offset: 520 } });

    const bytes = await readVdiBytes(conn, { name: 'test', offset: 4 * MiB - 4096, lengthBytes: 8192 });
    const expected = Buffer.alloc(8192, 0x11);
    expected.fill(0x22, 2048, 6144);
    expect(bytes.equals(expected)).toBe(true);
    const old = await readVdiBytes(conn, {
      name: 'test',
      tag: 'base',
      offset: 4 * MiB - 4096,
      lengthBytes: 8192,
    });
    expect(old.equals(Buffer.alloc(8192, 0x11))).toBe(true);
  });

  test('pieces of one object after its CREATE are WRITE_OBJs (requests are at most 4 MiB)', async () => {
    await newVdi(conn, { name: 'big', sizeBytes: 16 * MiB, blockSizeShift: 23 });
    const from = recorder.sent.length;
    await writeVdi(conn, { name: 'big', data: Buffer.alloc(8 * MiB, 0x33) });
    const dataOps = recorder.sent
      .slice(from)
      .filter((h) => h.args.kind === 'obj' && h.args.oid >> 63n === 0n);
    expect(dataOps.map((h) => [h.opcode, h.dataLength])).toEqual([
      [SdOp.CREATE_AND_WRITE_OBJ, 4 * MiB],
      [SdOp.WRITE_OBJ, 4 * MiB],
    ]);
    expect((await readVdiBytes(conn, { name: 'big', lengthBytes: 8 * MiB })).every((b) => b === 0x33)).toBe(
      true,
    );
  });

  test('delete zeroes data_vdi_id with WRITE|DIRECT before DEL_VDI', async () => {
    const { vid } = await newVdi(conn, { name: 'test', sizeBytes: 16 * MiB });
    await writeVdi(conn, { name: 'test', offset: 4 * MiB, data: Buffer.alloc(4 * MiB + 1, 1) });
    const from = recorder.sent.length;
    expect(await deleteVdi(conn, { name: 'test' })).toEqual({ vid, clearedEntries: 2 });
    const sent = recorder.sent.slice(from);
    expect(sent.map((h) => h.opcode)).toEqual([
      SdOp.GET_VDI_INFO,
      SdOp.READ_OBJ,
      SdOp.WRITE_OBJ,
      SdOp.DEL_VDI,
    ]);
    // Like dog, a batch runs from the first set entry to the 128th set one or the object count,
    // so it covers entries 1..3 (3 is already zero) of this 4-object VDI.
    expect(sent[2]).toMatchObject({
      flags: SdFlag.WRITE | SdFlag.DIRECT,
      dataLength: 12,
      args: { oid: vidToVdiOid(vid), offset: 4664 + 4 },
    });
    expect(sent[3]!.dataLength).toBe(512);
    expect(await listVdis(conn)).toEqual([]);
  });

  test('a flat VDI above 2^20 objects is refused before anything is created', async () => {
    const error = await newVdi(conn, { name: 'huge', sizeBytes: 4 * 2 ** 40 + 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SheepAdminError);
    expect((error as SheepAdminError).code).toBe('VDI_TOO_LARGE');
    expect(recorder.opcodes()).not.toContain(SdOp.NEW_VDI);
    await newVdi(conn, { name: 'max', sizeBytes: 4 * 2 ** 40 });
  });

  test('vidsInBitmap reads bit vid at byte vid>>3, bit vid&7', () => {
    const bitmap = Buffer.alloc(8);
    bitmap[0] = 0b0000_0010;
    bitmap[7] = 0b1000_0001;
    expect(vidsInBitmap(bitmap)).toEqual([1, 56, 63]);
  });
});
