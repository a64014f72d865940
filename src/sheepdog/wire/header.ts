/**
 * The 48-byte request (`struct sd_req`) and response (`struct sd_rsp`) headers, sections 1.2-1.3
 * and 2 of the protocol doc. Little-endian throughout.
 *
 * Rules:
 * - Bytes 0-15 are common: proto_ver, opcode, flags, epoch, id, data_length. A request's
 *   opcode-specific union is bytes 16-47; a response has `result` at 16 and its union at 20-47.
 * - Which union a header carries is a pure function of the opcode (`requestArgsKind`,
 *   `responseArgsKind`). Opcodes whose union Collie does not interpret decode as `raw` (the
 *   bytes, copied), so decoding 48 bytes never fails, whatever they contain.
 * - Encoding writes only the fields of the chosen variant into a zero-filled buffer, so padding
 *   and reserved bytes are always zero. Encoding args of the wrong kind for the opcode is
 *   Collie's bug and asserts (a `raw` union is allowed for any opcode, for tests and relays).
 * - Decoding then encoding a typed header is the identity; bytes that no variant names (pads,
 *   qemu's upper half of the 64-bit obj.offset) are dropped by decoding, on purpose.
 */
import { assert } from '../../core/assert.js';
import {
  isInternalOpcode,
  SD_CLIENT_PROTO_VER,
  SD_HEADER_SIZE,
  SD_SHEEP_PROTO_VER,
  SdOp,
} from './constants.js';
import { WireReader } from './reader.js';
import { FixedWriter } from './writer.js';

/** Size of the request union (bytes 16-47). */
const REQUEST_ARGS_BYTES = 32;
/** Size of the response union (bytes 20-47). */
const RESPONSE_ARGS_BYTES = 28;
const REQUEST_ARGS_OFFSET = 16;
const RESULT_OFFSET = 16;
const RESPONSE_ARGS_OFFSET = 20;

// ---- request unions (section 2.1, 2.2, 2.6) --------------------------------------------------

/** `obj`: object I/O (0x01-0x05) and FLUSH_VDI (0x16, which names the inode in obj.oid). */
export interface ObjRequestArgs {
  readonly kind: 'obj';
  readonly oid: bigint;
  /** Source object for CREATE_AND_WRITE_OBJ with SD_FLAG_CMD_COW, else 0. */
  readonly cowOid: bigint;
  /** Redundancy hint; 0 = the VDI's value. */
  readonly copies: number;
  readonly copyPolicy: number;
  readonly ecIndex: number;
  readonly tgtEpoch: number;
  /** Byte offset inside the object (u32 at 40; qemu's u64 is wire-identical below 4 GiB). */
  readonly offset: number;
}

/** `vdi`: VDI operations (0x11-0x15, 0x17) and GET_VDI_ATTR (0x89). */
export interface VdiRequestArgs {
  readonly kind: 'vdi';
  /** NEW_VDI: size in bytes. */
  readonly vdiSize: bigint;
  /** NEW_VDI: base vid; RELEASE_VDI: the vid to unlock (tgt calls it vdi_id). */
  readonly baseVdiId: number;
  readonly copies: number;
  readonly copyPolicy: number;
  /** 0 = flat data_vdi_id[], 1 = B-tree (tgt calls this byte ec_index). */
  readonly storePolicy: number;
  readonly blockSizeShift: number;
  /** NEW_VDI: != 0 makes a snapshot; lookups: snapshot id (0 = current). */
  readonly snapid: number;
  /** LOCK_VDI / RELEASE_VDI: LockType. */
  readonly type: number;
}

/** `inode_coherence` (0xC8): sheep-internal, the gateway sends it to itself (section 8.2). */
export interface InodeCoherenceRequestArgs {
  readonly kind: 'inodeCoherence';
  readonly vid: number;
  /** true = validate (u32 1), false = invalidate (u32 0). */
  readonly validate: boolean;
}

/** `cluster` (MAKE_FS 0x84, ALTER_CLUSTER_COPY 0xBF): section 2.6. */
export interface ClusterRequestArgs {
  readonly kind: 'cluster';
  readonly oid: bigint;
  readonly ctime: bigint;
  readonly copies: number;
  readonly copyPolicy: number;
  /** Cluster flags, e.g. SD_CLUSTER_FLAG_USE_LOCK. */
  readonly flags: number;
  readonly tag: number;
  readonly nodesNr: number;
  readonly blockSizeShift: number;
}

/** Any union Collie does not interpret: the bytes, copied (32 for requests, 28 for responses). */
export interface RawArgs {
  readonly kind: 'raw';
  readonly bytes: Buffer;
}

export type RequestArgs =
  | ObjRequestArgs
  | VdiRequestArgs
  | InodeCoherenceRequestArgs
  | ClusterRequestArgs
  | RawArgs;

export interface RequestHeader {
  readonly protoVer: number;
  readonly opcode: number;
  readonly flags: number;
  readonly epoch: number;
  readonly id: number;
  /** With SD_FLAG_CMD_WRITE: payload bytes that follow; without: bytes wanted back. */
  readonly dataLength: number;
  readonly args: RequestArgs;
}

// ---- response unions (section 2.3-2.6) ---------------------------------------------------------

export interface ObjResponseArgs {
  readonly kind: 'obj';
  readonly copies: number;
  /** Only meaningful for the historical zero trimming; always 0 from sheep >= 0.8. */
  readonly offset: bigint;
}

export interface VdiResponseArgs {
  readonly kind: 'vdi';
  readonly rsvd: number;
  readonly vdiId: number;
  /** GET_VDI_ATTR: the attribute's id. */
  readonly attrId: number;
  readonly copies: number;
  readonly blockSizeShift: number;
}

/** GET_CLUSTER_DEFAULT (0x18). */
export interface ClusterDefaultResponseArgs {
  readonly kind: 'clusterDefault';
  readonly nrCopies: number;
  readonly copyPolicy: number;
  readonly blockSizeShift: number;
}

/** STAT_SHEEP (0x86). */
export interface NodeResponseArgs {
  readonly kind: 'node';
  readonly nrNodes: number;
  /** Bytes. */
  readonly storeSize: bigint;
  /** Bytes. */
  readonly storeFree: bigint;
}

export type ResponseArgs =
  | ObjResponseArgs
  | VdiResponseArgs
  | ClusterDefaultResponseArgs
  | NodeResponseArgs
  | RawArgs;

export interface ResponseHeader {
  readonly protoVer: number;
  readonly opcode: number;
  readonly flags: number;
  readonly epoch: number;
  readonly id: number;
  /** Payload bytes that follow this header. */
  readonly dataLength: number;
  /** SD_RES_*. */
  readonly result: number;
  readonly args: ResponseArgs;
}

// ---- which union an opcode uses ----------------------------------------------------------------

export function requestArgsKind(opcode: number): RequestArgs['kind'] {
  switch (opcode) {
    case SdOp.CREATE_AND_WRITE_OBJ:
    case SdOp.READ_OBJ:
    case SdOp.WRITE_OBJ:
    case SdOp.REMOVE_OBJ:
    case SdOp.DISCARD_OBJ:
    case SdOp.FLUSH_VDI:
      return 'obj';
    case SdOp.NEW_VDI:
    case SdOp.LOCK_VDI:
    case SdOp.RELEASE_VDI:
    case SdOp.GET_VDI_INFO:
    case SdOp.READ_VDIS:
    case SdOp.DEL_VDI:
    case SdOp.GET_VDI_ATTR:
      return 'vdi';
    case SdOp.INODE_COHERENCE:
      return 'inodeCoherence';
    case SdOp.MAKE_FS:
    case SdOp.ALTER_CLUSTER_COPY:
      return 'cluster';
    default:
      return 'raw';
  }
}

export function responseArgsKind(opcode: number): ResponseArgs['kind'] {
  switch (opcode) {
    case SdOp.CREATE_AND_WRITE_OBJ:
    case SdOp.READ_OBJ:
    case SdOp.WRITE_OBJ:
    case SdOp.REMOVE_OBJ:
    case SdOp.DISCARD_OBJ:
    case SdOp.FLUSH_VDI:
      return 'obj';
    case SdOp.NEW_VDI:
    case SdOp.LOCK_VDI:
    case SdOp.RELEASE_VDI:
    case SdOp.GET_VDI_INFO:
    case SdOp.READ_VDIS:
    case SdOp.DEL_VDI:
    case SdOp.GET_VDI_ATTR:
      return 'vdi';
    case SdOp.GET_CLUSTER_DEFAULT:
      return 'clusterDefault';
    case SdOp.STAT_SHEEP:
      return 'node';
    default:
      return 'raw';
  }
}

// ---- zero values and builders -------------------------------------------------------------------

export function zeroRequestArgs(kind: RequestArgs['kind']): RequestArgs {
  switch (kind) {
    case 'obj':
      return { kind, oid: 0n, cowOid: 0n, copies: 0, copyPolicy: 0, ecIndex: 0, tgtEpoch: 0, offset: 0 };
    case 'vdi':
      return {
        kind,
        vdiSize: 0n,
        baseVdiId: 0,
        copies: 0,
        copyPolicy: 0,
        storePolicy: 0,
        blockSizeShift: 0,
        snapid: 0,
        type: 0,
      };
    case 'inodeCoherence':
      return { kind, vid: 0, validate: false };
    case 'cluster':
      return {
        kind,
        oid: 0n,
        ctime: 0n,
        copies: 0,
        copyPolicy: 0,
        flags: 0,
        tag: 0,
        nodesNr: 0,
        blockSizeShift: 0,
      };
    case 'raw':
      return { kind, bytes: Buffer.alloc(REQUEST_ARGS_BYTES) };
  }
}

export function zeroResponseArgs(kind: ResponseArgs['kind']): ResponseArgs {
  switch (kind) {
    case 'obj':
      return { kind, copies: 0, offset: 0n };
    case 'vdi':
      return { kind, rsvd: 0, vdiId: 0, attrId: 0, copies: 0, blockSizeShift: 0 };
    case 'clusterDefault':
      return { kind, nrCopies: 0, copyPolicy: 0, blockSizeShift: 0 };
    case 'node':
      return { kind, nrNodes: 0, storeSize: 0n, storeFree: 0n };
    case 'raw':
      return { kind, bytes: Buffer.alloc(RESPONSE_ARGS_BYTES) };
  }
}

/**
 * The proto_ver a well-behaved client sends: 1 on public opcodes (as tgt and qemu do),
 * SD_SHEEP_PROTO_VER on internal ones (sheep checks those exactly).
 */
export function clientProtoVer(opcode: number): number {
  return isInternalOpcode(opcode) ? SD_SHEEP_PROTO_VER : SD_CLIENT_PROTO_VER;
}

/** The common header fields a builder accepts; all but `opcode` default to zero. */
export interface RequestCommonFields {
  readonly opcode: number;
  /** Defaults to `clientProtoVer(opcode)`. */
  readonly protoVer?: number;
  readonly flags?: number;
  readonly epoch?: number;
  readonly id?: number;
  readonly dataLength?: number;
}

type ArgFields<A> = { readonly [K in Exclude<keyof A, 'kind'>]?: A[K] };

function requestWith(common: RequestCommonFields, args: RequestArgs): RequestHeader {
  assert(
    requestArgsKind(common.opcode) === args.kind,
    `opcode 0x${common.opcode.toString(16)} does not carry '${args.kind}' args (use the builder for its kind)`,
  );
  return {
    protoVer: common.protoVer ?? clientProtoVer(common.opcode),
    opcode: common.opcode,
    flags: common.flags ?? 0,
    epoch: common.epoch ?? 0,
    id: common.id ?? 0,
    dataLength: common.dataLength ?? 0,
    args,
  };
}

/** An object I/O request; unspecified fields are zero. */
export function objRequest(fields: RequestCommonFields & ArgFields<ObjRequestArgs>): RequestHeader {
  const zero = zeroRequestArgs('obj') as ObjRequestArgs;
  return requestWith(fields, {
    kind: 'obj',
    oid: fields.oid ?? zero.oid,
    cowOid: fields.cowOid ?? zero.cowOid,
    copies: fields.copies ?? zero.copies,
    copyPolicy: fields.copyPolicy ?? zero.copyPolicy,
    ecIndex: fields.ecIndex ?? zero.ecIndex,
    tgtEpoch: fields.tgtEpoch ?? zero.tgtEpoch,
    offset: fields.offset ?? zero.offset,
  });
}

/** A VDI request; unspecified fields are zero. */
export function vdiRequest(fields: RequestCommonFields & ArgFields<VdiRequestArgs>): RequestHeader {
  const zero = zeroRequestArgs('vdi') as VdiRequestArgs;
  return requestWith(fields, {
    kind: 'vdi',
    vdiSize: fields.vdiSize ?? zero.vdiSize,
    baseVdiId: fields.baseVdiId ?? zero.baseVdiId,
    copies: fields.copies ?? zero.copies,
    copyPolicy: fields.copyPolicy ?? zero.copyPolicy,
    storePolicy: fields.storePolicy ?? zero.storePolicy,
    blockSizeShift: fields.blockSizeShift ?? zero.blockSizeShift,
    snapid: fields.snapid ?? zero.snapid,
    type: fields.type ?? zero.type,
  });
}

/** A request whose union Collie does not use (e.g. GET_CLUSTER_DEFAULT): 32 zero bytes. */
export function plainRequest(fields: RequestCommonFields): RequestHeader {
  return requestWith(fields, zeroRequestArgs(requestArgsKind(fields.opcode)));
}

export interface ResponseFields {
  /** The server's cluster epoch (sheep: 1 after a fresh format). */
  readonly epoch: number;
  /** Defaults to the zero union for the request's opcode. */
  readonly args?: ResponseArgs;
  /** Payload bytes that will follow; must not exceed what the request asked for. */
  readonly dataLength?: number;
}

/**
 * The response header sheep would send for `req`: opcode and id echoed, proto_ver 0 and
 * flags 0 (observed on the wire), the server's epoch.
 */
export function responseFor(req: RequestHeader, result: number, fields: ResponseFields): ResponseHeader {
  const args = fields.args ?? zeroResponseArgs(responseArgsKind(req.opcode));
  assertResponseKind(req.opcode, args);
  return {
    protoVer: 0,
    opcode: req.opcode,
    flags: 0,
    epoch: fields.epoch,
    id: req.id,
    dataLength: fields.dataLength ?? 0,
    result,
    args,
  };
}

// ---- encode -----------------------------------------------------------------------------------

function writeCommon(w: FixedWriter, h: RequestHeader | ResponseHeader): void {
  w.seek(0).u8(h.protoVer).u8(h.opcode).u16(h.flags).u32(h.epoch).u32(h.id).u32(h.dataLength);
}

export function encodeRequestHeader(h: RequestHeader): Buffer {
  const args = h.args;
  assert(
    args.kind === 'raw' || requestArgsKind(h.opcode) === args.kind,
    `opcode 0x${h.opcode.toString(16)} does not carry '${args.kind}' args`,
  );
  const w = new FixedWriter(SD_HEADER_SIZE);
  writeCommon(w, h);
  w.seek(REQUEST_ARGS_OFFSET);
  switch (args.kind) {
    case 'obj':
      // oid@16 cow_oid@24 copies@32 copy_policy@33 ec_index@34 reserved@35 tgt_epoch@36 offset@40 pad@44
      w.u64(args.oid).u64(args.cowOid).u8(args.copies).u8(args.copyPolicy).u8(args.ecIndex).skip(1);
      w.u32(args.tgtEpoch).u32(args.offset);
      break;
    case 'vdi':
      // vdi_size@16 base_vdi_id@24 copies@28 copy_policy@29 store_policy@30 bss@31 snapid@32 type@36
      w.u64(args.vdiSize).u32(args.baseVdiId).u8(args.copies).u8(args.copyPolicy).u8(args.storePolicy);
      w.u8(args.blockSizeShift).u32(args.snapid).u32(args.type);
      break;
    case 'inodeCoherence':
      // vid@16 validate@20
      w.u32(args.vid).u32(args.validate ? 1 : 0);
      break;
    case 'cluster':
      // oid@16 ctime@24 copies@32 copy_policy@33 flags@34 tag@36 nodes_nr@40 bss@44
      w.u64(args.oid).u64(args.ctime).u8(args.copies).u8(args.copyPolicy).u16(args.flags);
      w.u32(args.tag).u32(args.nodesNr).u8(args.blockSizeShift);
      break;
    case 'raw':
      assert(
        args.bytes.length === REQUEST_ARGS_BYTES,
        `raw request args must be ${REQUEST_ARGS_BYTES} bytes`,
      );
      w.bytes(args.bytes);
      break;
  }
  return w.finish();
}

function assertResponseKind(opcode: number, args: ResponseArgs): void {
  assert(
    args.kind === 'raw' || responseArgsKind(opcode) === args.kind,
    `a response to opcode 0x${opcode.toString(16)} does not carry '${args.kind}' args`,
  );
}

export function encodeResponseHeader(h: ResponseHeader): Buffer {
  const args = h.args;
  assertResponseKind(h.opcode, args);
  const w = new FixedWriter(SD_HEADER_SIZE);
  writeCommon(w, h);
  w.seek(RESULT_OFFSET).u32(h.result);
  switch (args.kind) {
    case 'obj':
      // copies@20 reserved@21 offset@24
      w.u8(args.copies).skip(3).u64(args.offset);
      break;
    case 'vdi':
      // rsvd@20 vdi_id@24 attr_id@28 copies@32 bss@33
      w.u32(args.rsvd).u32(args.vdiId).u32(args.attrId).u8(args.copies).u8(args.blockSizeShift);
      break;
    case 'clusterDefault':
      // nr_copies@20 copy_policy@21 bss@22
      w.u8(args.nrCopies).u8(args.copyPolicy).u8(args.blockSizeShift);
      break;
    case 'node':
      // nr_nodes@20 store_size@32 store_free@40
      w.u32(args.nrNodes).seek(32).u64(args.storeSize).u64(args.storeFree);
      break;
    case 'raw':
      assert(
        args.bytes.length === RESPONSE_ARGS_BYTES,
        `raw response args must be ${RESPONSE_ARGS_BYTES} bytes`,
      );
      w.bytes(args.bytes);
      break;
  }
  return w.finish();
}

// ---- decode -----------------------------------------------------------------------------------

function headerReader(buf: Buffer, offset: number): WireReader {
  // The framer hands out exactly 48-byte headers; a shorter buffer here is Collie's bug.
  assert(
    Number.isInteger(offset) && offset >= 0 && buf.length - offset >= SD_HEADER_SIZE,
    `a sheep header needs ${SD_HEADER_SIZE} bytes at offset ${offset} of a ${buf.length}-byte buffer`,
  );
  return new WireReader(buf.subarray(offset, offset + SD_HEADER_SIZE));
}

function decodeRequestArgs(r: WireReader, opcode: number): RequestArgs {
  r.seek(REQUEST_ARGS_OFFSET);
  const kind = requestArgsKind(opcode);
  switch (kind) {
    case 'obj': {
      const oid = r.u64();
      const cowOid = r.u64();
      const copies = r.u8();
      const copyPolicy = r.u8();
      const ecIndex = r.u8();
      r.skip(1);
      const tgtEpoch = r.u32();
      const offset = r.u32();
      return { kind, oid, cowOid, copies, copyPolicy, ecIndex, tgtEpoch, offset };
    }
    case 'vdi': {
      const vdiSize = r.u64();
      const baseVdiId = r.u32();
      const copies = r.u8();
      const copyPolicy = r.u8();
      const storePolicy = r.u8();
      const blockSizeShift = r.u8();
      const snapid = r.u32();
      const type = r.u32();
      return { kind, vdiSize, baseVdiId, copies, copyPolicy, storePolicy, blockSizeShift, snapid, type };
    }
    case 'inodeCoherence': {
      const vid = r.u32();
      const validate = r.u32() !== 0;
      return { kind, vid, validate };
    }
    case 'cluster': {
      const oid = r.u64();
      const ctime = r.u64();
      const copies = r.u8();
      const copyPolicy = r.u8();
      const flags = r.u16();
      const tag = r.u32();
      const nodesNr = r.u32();
      const blockSizeShift = r.u8();
      return { kind, oid, ctime, copies, copyPolicy, flags, tag, nodesNr, blockSizeShift };
    }
    case 'raw':
      return { kind, bytes: Buffer.from(r.bytes(REQUEST_ARGS_BYTES)) };
  }
}

/** Decodes the 48 bytes at `offset`. Never fails on content: unknown opcodes give `raw` args. */
export function decodeRequestHeader(buf: Buffer, offset = 0): RequestHeader {
  const r = headerReader(buf, offset);
  const protoVer = r.u8();
  const opcode = r.u8();
  const flags = r.u16();
  const epoch = r.u32();
  const id = r.u32();
  const dataLength = r.u32();
  return { protoVer, opcode, flags, epoch, id, dataLength, args: decodeRequestArgs(r, opcode) };
}

function decodeResponseArgs(r: WireReader, opcode: number): ResponseArgs {
  r.seek(RESPONSE_ARGS_OFFSET);
  const kind = responseArgsKind(opcode);
  switch (kind) {
    case 'obj': {
      const copies = r.u8();
      r.skip(3);
      return { kind, copies, offset: r.u64() };
    }
    case 'vdi': {
      const rsvd = r.u32();
      const vdiId = r.u32();
      const attrId = r.u32();
      const copies = r.u8();
      const blockSizeShift = r.u8();
      return { kind, rsvd, vdiId, attrId, copies, blockSizeShift };
    }
    case 'clusterDefault': {
      const nrCopies = r.u8();
      const copyPolicy = r.u8();
      const blockSizeShift = r.u8();
      return { kind, nrCopies, copyPolicy, blockSizeShift };
    }
    case 'node': {
      const nrNodes = r.u32();
      r.seek(32);
      const storeSize = r.u64();
      const storeFree = r.u64();
      return { kind, nrNodes, storeSize, storeFree };
    }
    case 'raw':
      return { kind, bytes: Buffer.from(r.bytes(RESPONSE_ARGS_BYTES)) };
  }
}

/** Decodes the 48 bytes at `offset`. Never fails on content: unknown opcodes give `raw` args. */
export function decodeResponseHeader(buf: Buffer, offset = 0): ResponseHeader {
  const r = headerReader(buf, offset);
  const protoVer = r.u8();
  const opcode = r.u8();
  const flags = r.u16();
  const epoch = r.u32();
  const id = r.u32();
  const dataLength = r.u32();
  const result = r.u32();
  return { protoVer, opcode, flags, epoch, id, dataLength, result, args: decodeResponseArgs(r, opcode) };
}
