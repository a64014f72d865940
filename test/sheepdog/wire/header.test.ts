/**
 * Goal: the 48-byte request/response header codec matches sheep byte for byte.
 * Method: decode the hex vectors of the protocol doc (sections 2.4, 2.5, 2.8) and check every
 * documented field, then rebuild the same headers with the builders and compare the bytes;
 * property tests check typed round trips and that any 48 bytes decode without throwing.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { LockType, SdFlag, SdOp, SdRes } from '../../../src/sheepdog/wire/constants.js';
import {
  decodeRequestHeader,
  decodeResponseHeader,
  encodeRequestHeader,
  encodeResponseHeader,
  objRequest,
  plainRequest,
  type RequestArgs,
  type RequestHeader,
  type ResponseArgs,
  type ResponseHeader,
  requestArgsKind,
  responseArgsKind,
  responseFor,
  vdiRequest,
} from '../../../src/sheepdog/wire/header.js';
import { dataVidOffset, vidToDataOid, vidToVdiOid } from '../../../src/sheepdog/wire/oid.js';
import { checkRequestProtoVer } from '../../../src/sheepdog/wire/proto-ver.js';
import { layout, le32, le64 } from '../../support/bytes.js';
import {
  CREATE_DATA_IDX10,
  LOCK_VDI_SHARED,
  READ_OBJ_REFRESH,
  RELEASE_VDI_SHARED,
  RSP_CLUSTER_DEFAULT,
  RSP_GET_VDI_INFO,
  RSP_READ_INODE_INVALIDATED,
  VID_TEST,
  WRITE_INODE_IDX10,
} from './fixtures.js';

describe('section 2.8 example frames', () => {
  test('LOCK_VDI shared', () => {
    const h = decodeRequestHeader(LOCK_VDI_SHARED);
    expect(h).toMatchObject({ protoVer: 1, opcode: SdOp.LOCK_VDI, flags: SdFlag.WRITE, epoch: 0, id: 0 });
    expect(h.dataLength).toBe(512);
    expect(h.args).toEqual({
      kind: 'vdi',
      vdiSize: 0n,
      baseVdiId: 0,
      copies: 0,
      copyPolicy: 0,
      storePolicy: 0,
      blockSizeShift: 0,
      snapid: 0,
      type: LockType.SHARED,
    });
    const built = vdiRequest({
      opcode: SdOp.LOCK_VDI,
      flags: SdFlag.WRITE,
      dataLength: 512,
      type: LockType.SHARED,
    });
    expect(encodeRequestHeader(built)).toEqual(LOCK_VDI_SHARED);
  });

  test('READ_OBJ inode refresh read (4,198,968 bytes, TGT)', () => {
    const h = decodeRequestHeader(READ_OBJ_REFRESH);
    expect(h).toMatchObject({ protoVer: 1, opcode: SdOp.READ_OBJ, flags: SdFlag.TGT, dataLength: 4_198_968 });
    expect(h.args).toEqual({
      kind: 'obj',
      oid: 0x807c2b2500000000n,
      cowOid: 0n,
      copies: 0,
      copyPolicy: 0,
      ecIndex: 0,
      tgtEpoch: 0,
      offset: 0,
    });
    const built = objRequest({
      opcode: SdOp.READ_OBJ,
      flags: SdFlag.TGT,
      dataLength: 4_198_968,
      oid: vidToVdiOid(VID_TEST),
    });
    expect(encodeRequestHeader(built)).toEqual(READ_OBJ_REFRESH);
  });

  test('CREATE_AND_WRITE_OBJ data idx 10, flags WRITE|CACHE|TGT, copies 1', () => {
    const h = decodeRequestHeader(CREATE_DATA_IDX10);
    expect(h).toMatchObject({
      protoVer: 1,
      opcode: SdOp.CREATE_AND_WRITE_OBJ,
      flags: 0x25,
      dataLength: 4096,
    });
    expect(h.args).toMatchObject({ kind: 'obj', oid: 0x007c2b250000000an, cowOid: 0n, copies: 1, offset: 0 });
    const built = objRequest({
      opcode: SdOp.CREATE_AND_WRITE_OBJ,
      flags: SdFlag.WRITE | SdFlag.CACHE | SdFlag.TGT,
      dataLength: 4096,
      oid: vidToDataOid(VID_TEST, 10),
      copies: 1,
    });
    expect(encodeRequestHeader(built)).toEqual(CREATE_DATA_IDX10);
  });

  test('WRITE_OBJ inode data_vdi_id[10] at offset 4704, 4 bytes', () => {
    const h = decodeRequestHeader(WRITE_INODE_IDX10);
    expect(h).toMatchObject({ protoVer: 1, opcode: SdOp.WRITE_OBJ, flags: 0x21, dataLength: 4 });
    expect(h.args).toMatchObject({ kind: 'obj', oid: 0x807c2b2500000000n, copies: 1, offset: 4704 });
    const built = objRequest({
      opcode: SdOp.WRITE_OBJ,
      flags: SdFlag.WRITE | SdFlag.TGT,
      dataLength: 4,
      oid: vidToVdiOid(VID_TEST),
      copies: 1,
      offset: dataVidOffset(10),
    });
    expect(encodeRequestHeader(built)).toEqual(WRITE_INODE_IDX10);
  });

  test('RELEASE_VDI shared with proto_ver 0 (as tgt sends it)', () => {
    const h = decodeRequestHeader(RELEASE_VDI_SHARED);
    expect(h).toMatchObject({ protoVer: 0, opcode: SdOp.RELEASE_VDI, flags: 0, dataLength: 0 });
    expect(h.args).toMatchObject({ kind: 'vdi', baseVdiId: VID_TEST, type: LockType.SHARED, snapid: 0 });
    const built = vdiRequest({
      opcode: SdOp.RELEASE_VDI,
      protoVer: 0,
      baseVdiId: VID_TEST,
      type: LockType.SHARED,
    });
    expect(encodeRequestHeader(built)).toEqual(RELEASE_VDI_SHARED);
  });

  test('response READ_OBJ -> INODE_INVALIDATED', () => {
    const h = decodeResponseHeader(RSP_READ_INODE_INVALIDATED);
    expect(h).toEqual({
      protoVer: 0,
      opcode: SdOp.READ_OBJ,
      flags: 0,
      epoch: 1,
      id: 0,
      dataLength: 0,
      result: SdRes.INODE_INVALIDATED,
      args: { kind: 'obj', copies: 0, offset: 0n },
    });
    const req = decodeRequestHeader(READ_OBJ_REFRESH);
    const built = responseFor(req, SdRes.INODE_INVALIDATED, { epoch: 1 });
    expect(encodeResponseHeader(built)).toEqual(RSP_READ_INODE_INVALIDATED);
  });
});

describe('response bodies observed from sheep', () => {
  test('GET_VDI_INFO: vdi_id 0x7c2b25, copies 1, block_size_shift 22 (section 2.4)', () => {
    const h = decodeResponseHeader(RSP_GET_VDI_INFO);
    expect(h.result).toBe(SdRes.SUCCESS);
    expect(h.args).toEqual({
      kind: 'vdi',
      rsvd: 0,
      vdiId: VID_TEST,
      attrId: 0,
      copies: 1,
      blockSizeShift: 22,
    });
    const req = vdiRequest({ opcode: SdOp.GET_VDI_INFO, flags: SdFlag.WRITE, dataLength: 256 });
    const built = responseFor(req, SdRes.SUCCESS, {
      epoch: 1,
      args: { kind: 'vdi', rsvd: 0, vdiId: VID_TEST, attrId: 0, copies: 1, blockSizeShift: 22 },
    });
    expect(encodeResponseHeader(built)).toEqual(RSP_GET_VDI_INFO);
  });

  test('GET_CLUSTER_DEFAULT: 01 00 16 (section 2.5)', () => {
    const h = decodeResponseHeader(RSP_CLUSTER_DEFAULT);
    expect(h.args).toEqual({ kind: 'clusterDefault', nrCopies: 1, copyPolicy: 0, blockSizeShift: 22 });
    const built = responseFor(plainRequest({ opcode: SdOp.GET_CLUSTER_DEFAULT }), SdRes.SUCCESS, {
      epoch: 1,
      args: { kind: 'clusterDefault', nrCopies: 1, copyPolicy: 0, blockSizeShift: 22 },
    });
    expect(encodeResponseHeader(built)).toEqual(RSP_CLUSTER_DEFAULT);
  });

  test('STAT_SHEEP node union: nr_nodes@20, store_size@32, store_free@40 (section 2.6)', () => {
    const expected = layout(48, [
      [1, [SdOp.STAT_SHEEP]],
      [4, le32(1)],
      [20, le32(3)],
      [32, le64(0x1_0000_0000n)],
      [40, le64(12345n)],
    ]);
    const built = responseFor(plainRequest({ opcode: SdOp.STAT_SHEEP }), SdRes.SUCCESS, {
      epoch: 1,
      args: { kind: 'node', nrNodes: 3, storeSize: 0x1_0000_0000n, storeFree: 12345n },
    });
    expect(encodeResponseHeader(built)).toEqual(expected);
    expect(decodeResponseHeader(expected).args).toEqual(built.args);
  });
});

describe('internal unions (section 2.6)', () => {
  test('INODE_COHERENCE: vid@16, validate@20', () => {
    const bytes = layout(48, [
      [0, [0x0a, SdOp.INODE_COHERENCE]],
      [16, le32(VID_TEST)],
      [20, le32(1)],
    ]);
    const h = decodeRequestHeader(bytes);
    expect(h.args).toEqual({ kind: 'inodeCoherence', vid: VID_TEST, validate: true });
    expect(encodeRequestHeader(h)).toEqual(bytes);
  });

  test('MAKE_FS cluster: oid@16 ctime@24 copies@32 copy_policy@33 flags@34 tag@36 nodes_nr@40 bss@44', () => {
    const bytes = layout(48, [
      [0, [0x0a, SdOp.MAKE_FS]],
      [16, le64(0x1122n)],
      [24, le64(0x5f00000000000000n)],
      [32, [3, 0x12, 0x08, 0x00]],
      [36, le32(7)],
      [40, le32(2)],
      [44, [22]],
    ]);
    const h = decodeRequestHeader(bytes);
    expect(h.args).toEqual({
      kind: 'cluster',
      oid: 0x1122n,
      ctime: 0x5f00000000000000n,
      copies: 3,
      copyPolicy: 0x12,
      flags: 0x0008,
      tag: 7,
      nodesNr: 2,
      blockSizeShift: 22,
    });
    expect(encodeRequestHeader(h)).toEqual(bytes);
  });

  test('an unknown opcode decodes as raw args, copied out of the buffer', () => {
    const bytes = Buffer.alloc(48, 0xab);
    bytes[1] = 0x7e;
    const req = decodeRequestHeader(bytes);
    const rsp = decodeResponseHeader(bytes);
    expect(req.args.kind).toBe('raw');
    expect(rsp.args.kind).toBe('raw');
    bytes.fill(0, 16);
    expect((req.args as { bytes: Buffer }).bytes).toEqual(Buffer.alloc(32, 0xab));
    expect((rsp.args as { bytes: Buffer }).bytes).toEqual(Buffer.alloc(28, 0xab));
  });

  test('decoding at an offset reads that header', () => {
    const both = Buffer.concat([RELEASE_VDI_SHARED, LOCK_VDI_SHARED]);
    expect(decodeRequestHeader(both, 48)).toEqual(decodeRequestHeader(LOCK_VDI_SHARED));
  });

  test('responseFor echoes opcode and id, with proto_ver 0 and flags 0', () => {
    const req = objRequest({ opcode: SdOp.READ_OBJ, id: 0xdeadbeef, flags: SdFlag.TGT, epoch: 9, oid: 1n });
    const rsp = responseFor(req, SdRes.SUCCESS, { epoch: 4, dataLength: 16 });
    expect(rsp).toMatchObject({
      protoVer: 0,
      opcode: SdOp.READ_OBJ,
      flags: 0,
      epoch: 4,
      id: 0xdeadbeef,
      dataLength: 16,
    });
  });

  test('builders default proto_ver to 1 on public and 0x0a on internal opcodes', () => {
    expect(objRequest({ opcode: SdOp.READ_OBJ }).protoVer).toBe(1);
    expect(vdiRequest({ opcode: SdOp.GET_VDI_ATTR }).protoVer).toBe(0x0a);
  });

  test('encoding args of the wrong kind for the opcode is a Collie bug and asserts', () => {
    const bad: RequestHeader = { ...objRequest({ opcode: SdOp.READ_OBJ }), opcode: SdOp.LOCK_VDI };
    expect(() => encodeRequestHeader(bad)).toThrow();
    expect(() => vdiRequest({ opcode: SdOp.READ_OBJ })).toThrow();
  });
});

describe('proto_ver rules (section 1.4)', () => {
  test('public opcodes accept 0..2 and answer VER_MISMATCH above', () => {
    for (const v of [0, 1, 2]) expect(checkRequestProtoVer(v, SdOp.READ_OBJ)).toBeUndefined();
    expect(checkRequestProtoVer(3, SdOp.READ_OBJ)).toMatchObject({
      code: 'SD_ERR_BAD_PROTO_VER',
      answer: SdRes.VER_MISMATCH,
    });
  });

  test('internal opcodes need exactly 0x0a', () => {
    expect(checkRequestProtoVer(0x0a, SdOp.GET_VDI_ATTR)).toBeUndefined();
    expect(checkRequestProtoVer(2, SdOp.GET_VDI_ATTR)?.code).toBe('SD_ERR_BAD_PROTO_VER');
    expect(checkRequestProtoVer(0x09, SdOp.GET_VDI_COPIES)?.answer).toBe(SdRes.VER_MISMATCH);
  });
});

// ---- properties ------------------------------------------------------------------------------

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const knownOpcodes = Object.values(SdOp) as number[];
const opcode = fc.oneof(fc.constantFrom(...knownOpcodes), u8);

function requestArgsArb(kind: RequestArgs['kind']): fc.Arbitrary<RequestArgs> {
  switch (kind) {
    case 'obj':
      return fc.record({
        kind: fc.constant('obj' as const),
        oid: u64,
        cowOid: u64,
        copies: u8,
        copyPolicy: u8,
        ecIndex: u8,
        tgtEpoch: u32,
        offset: u32,
      });
    case 'vdi':
      return fc.record({
        kind: fc.constant('vdi' as const),
        vdiSize: u64,
        baseVdiId: u32,
        copies: u8,
        copyPolicy: u8,
        storePolicy: u8,
        blockSizeShift: u8,
        snapid: u32,
        type: u32,
      });
    case 'inodeCoherence':
      return fc.record({ kind: fc.constant('inodeCoherence' as const), vid: u32, validate: fc.boolean() });
    case 'cluster':
      return fc.record({
        kind: fc.constant('cluster' as const),
        oid: u64,
        ctime: u64,
        copies: u8,
        copyPolicy: u8,
        flags: u16,
        tag: u32,
        nodesNr: u32,
        blockSizeShift: u8,
      });
    case 'raw':
      return fc
        .uint8Array({ minLength: 32, maxLength: 32 })
        .map((b) => ({ kind: 'raw' as const, bytes: Buffer.from(b) }));
  }
}

function responseArgsArb(kind: ResponseArgs['kind']): fc.Arbitrary<ResponseArgs> {
  switch (kind) {
    case 'obj':
      return fc.record({ kind: fc.constant('obj' as const), copies: u8, offset: u64 });
    case 'vdi':
      return fc.record({
        kind: fc.constant('vdi' as const),
        rsvd: u32,
        vdiId: u32,
        attrId: u32,
        copies: u8,
        blockSizeShift: u8,
      });
    case 'clusterDefault':
      return fc.record({
        kind: fc.constant('clusterDefault' as const),
        nrCopies: u8,
        copyPolicy: u8,
        blockSizeShift: u8,
      });
    case 'node':
      return fc.record({ kind: fc.constant('node' as const), nrNodes: u32, storeSize: u64, storeFree: u64 });
    case 'raw':
      return fc
        .uint8Array({ minLength: 28, maxLength: 28 })
        .map((b) => ({ kind: 'raw' as const, bytes: Buffer.from(b) }));
  }
}

const requestHeaderArb: fc.Arbitrary<RequestHeader> = opcode.chain((op) =>
  fc.record({
    protoVer: u8,
    opcode: fc.constant(op),
    flags: u16,
    epoch: u32,
    id: u32,
    dataLength: u32,
    args: requestArgsArb(requestArgsKind(op)),
  }),
);

const responseHeaderArb: fc.Arbitrary<ResponseHeader> = opcode.chain((op) =>
  fc.record({
    protoVer: u8,
    opcode: fc.constant(op),
    flags: u16,
    epoch: u32,
    id: u32,
    dataLength: u32,
    result: u32,
    args: responseArgsArb(responseArgsKind(op)),
  }),
);

describe('properties', () => {
  propTest.prop([requestHeaderArb])('request headers round-trip through 48 bytes', (h) => {
    const bytes = encodeRequestHeader(h);
    expect(bytes.length).toBe(48);
    expect(decodeRequestHeader(bytes)).toEqual(h);
  });

  propTest.prop([responseHeaderArb])('response headers round-trip through 48 bytes', (h) => {
    const bytes = encodeResponseHeader(h);
    expect(bytes.length).toBe(48);
    expect(decodeResponseHeader(bytes)).toEqual(h);
  });

  propTest.prop([fc.uint8Array({ minLength: 48, maxLength: 48 })])(
    'any 48 bytes decode both ways, and re-encoding is stable',
    (raw) => {
      const buf = Buffer.from(raw);
      const req = decodeRequestHeader(buf);
      const rsp = decodeResponseHeader(buf);
      expect(decodeRequestHeader(encodeRequestHeader(req))).toEqual(req);
      expect(decodeResponseHeader(encodeResponseHeader(rsp))).toEqual(rsp);
    },
  );
});
