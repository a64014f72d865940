/**
 * Sheep wire protocol constants (sheepdog 1.0, include/sheepdog_proto.h and internal_proto.h).
 * All integers on the wire are little-endian; see docs/sheepdog-protocol.md in the shared
 * material for the byte layouts these names refer to.
 */

/** Highest public protocol version a server accepts (public opcodes < 0x80). */
export const SD_PROTO_VER = 0x02;
/** What tgt and qemu send on public opcodes; what Collie's client sends. */
export const SD_CLIENT_PROTO_VER = 0x01;
/** Internal opcodes (>= 0x80) must carry exactly this version (sheep v1.0+). */
export const SD_SHEEP_PROTO_VER = 0x0a;

/** Request and response headers are both 48 bytes. */
export const SD_HEADER_SIZE = 48;
/** Offset of the opcode-specific union inside a request header. */
export const SD_REQ_ARGS_OFFSET = 16;
/** Offset of the opcode-specific union inside a response header (after `result`). */
export const SD_RSP_ARGS_OFFSET = 20;

export const SD_LISTEN_PORT = 7000;

/** Public opcodes (< 0x80) and the internal ones that dog uses. */
export const SdOp = {
  CREATE_AND_WRITE_OBJ: 0x01,
  READ_OBJ: 0x02,
  WRITE_OBJ: 0x03,
  REMOVE_OBJ: 0x04,
  DISCARD_OBJ: 0x05,
  NEW_VDI: 0x11,
  LOCK_VDI: 0x12,
  RELEASE_VDI: 0x13,
  GET_VDI_INFO: 0x14,
  READ_VDIS: 0x15,
  FLUSH_VDI: 0x16,
  DEL_VDI: 0x17,
  GET_CLUSTER_DEFAULT: 0x18,
  // internal (proto_ver must be SD_SHEEP_PROTO_VER)
  GET_NODE_LIST: 0x82,
  MAKE_FS: 0x84,
  SHUTDOWN: 0x85,
  STAT_SHEEP: 0x86,
  STAT_CLUSTER: 0x87,
  GET_VDI_ATTR: 0x89,
  KILL_NODE: 0x9a,
  GET_VDI_COPIES: 0xab,
  CLUSTER_INFO: 0xbe,
  ALTER_CLUSTER_COPY: 0xbf,
  INODE_COHERENCE: 0xc8,
  READ_DEL_VDIS: 0xc9,
  // Collie's own (not in sheep): what Collie's store guarantees past sheep 1.0; real sheep
  // answers it INVALID_PARMS, which is how a client tells the two apart.
  COLLIE_FEATURES: 0xf0,
} as const;

/** Bits of the first u32 (LE) of COLLIE_FEATURES' 8-byte answer. */
export const CollieFeature = {
  /** A data_vdi_id write from a non-participant (or without the TGT flag) invalidates every participant. */
  LOCKLESS_WRITERS_INVALIDATE: 1 << 0,
  /** CREATE_AND_WRITE_OBJ of an object that exists writes the given range (never replaces it). */
  CREATE_NEVER_REPLACES: 1 << 1,
  /** LOCK_VDI / RELEASE_VDI honour a client id in vdi_size (a lock is adopted only by its holder). */
  LOCK_CLIENT_IDS: 1 << 2,
} as const;
export type SdOpName = keyof typeof SdOp;

export function isInternalOpcode(opcode: number): boolean {
  return opcode >= 0x80;
}

/** Result codes. Public 0x00-0x1D use the v0.9/tgt numbering, which v1.0 kept for these. */
export const SdRes = {
  SUCCESS: 0x00,
  UNKNOWN: 0x01,
  NO_OBJ: 0x02,
  EIO: 0x03,
  VDI_EXIST: 0x04,
  INVALID_PARMS: 0x05,
  SYSTEM_ERROR: 0x06,
  VDI_LOCKED: 0x07,
  NO_VDI: 0x08,
  NO_BASE_VDI: 0x09,
  VDI_READ: 0x0a,
  VDI_WRITE: 0x0b,
  BASE_VDI_READ: 0x0c,
  BASE_VDI_WRITE: 0x0d,
  NO_TAG: 0x0e,
  STARTUP: 0x0f,
  VDI_NOT_LOCKED: 0x10,
  SHUTDOWN: 0x11,
  NO_MEM: 0x12,
  FULL_VDI: 0x13,
  VER_MISMATCH: 0x14,
  NO_SPACE: 0x15,
  WAIT_FOR_FORMAT: 0x16,
  WAIT_FOR_JOIN: 0x17,
  JOIN_FAILED: 0x18,
  HALT: 0x19,
  READONLY: 0x1a,
  INODE_INVALIDATED: 0x1d,
  // internal (v1.0+)
  OLD_NODE_VER: 0x81,
  NEW_NODE_VER: 0x82,
  NOT_FORMATTED: 0x83,
  INVALID_CTIME: 0x84,
  INVALID_EPOCH: 0x85,
  NETWORK_ERROR: 0x86,
  NO_CACHE: 0x87,
  BUFFER_SMALL: 0x88,
  FORCE_RECOVER: 0x89,
  NO_STORE: 0x8a,
  NO_SUPPORT: 0x8b,
  NODE_IN_RECOVERY: 0x8c,
  KILLED: 0x8d,
  OID_EXIST: 0x8e,
  AGAIN: 0x8f,
  STALE_OBJ: 0x90,
  CLUSTER_ERROR: 0x91,
  VDI_NOT_EMPTY: 0x92,
  NOT_FOUND: 0x93,
  INCOMPLETE: 0x94,
  COLLECTING_CINFO: 0x95,
  GATEWAY_MODE: 0x97,
  INVALID_VNODES_STRATEGY: 0x98,
  NO_CHECKPOINT_ENTRY: 0x99,
} as const;
export type SdResName = keyof typeof SdRes;

const resultNames = new Map<number, SdResName>(
  (Object.entries(SdRes) as [SdResName, number][]).map(([name, code]) => [code, name]),
);
// tgt (and sheep v0.9.x) number these two differently; name them for log lines from old peers.
const legacyResultNames = new Map<number, string>([
  [0x1b, 'INCOMPLETE(v0.9)'],
  [0x1c, 'COLLECTING_CINFO(v0.9)'],
]);

/** "NO_OBJ (0x02)"; unknown codes print as hex. */
export function resultName(code: number): string {
  const name = resultNames.get(code) ?? legacyResultNames.get(code) ?? 'UNKNOWN_RESULT';
  return `${name} (0x${code.toString(16).padStart(2, '0')})`;
}

const opNames = new Map<number, SdOpName>(
  (Object.entries(SdOp) as [SdOpName, number][]).map(([name, code]) => [code, name]),
);

export function opcodeName(opcode: number): string {
  return opNames.get(opcode) ?? `OP_0x${opcode.toString(16).padStart(2, '0')}`;
}

/** Header flags (u16 at offset 2). */
export const SdFlag = {
  /** A payload of data_length bytes follows the request header. */
  WRITE: 0x0001,
  /** CREATE_AND_WRITE_OBJ: copy-on-write from obj.cow_oid. */
  COW: 0x0002,
  /** Writeback-cache hint; ignored by sheep >= 1.0. tgt sets it on data writes. */
  CACHE: 0x0004,
  /** Bypass-cache hint; ignored by sheep >= 1.0. dog sets it on many reads. */
  DIRECT: 0x0008,
  /** With WRITE: the response carries a payload too. */
  PIGGYBACK: 0x0010,
  /** The request comes from an iSCSI target: enables the inode coherence checks. */
  TGT: 0x0020,
  FWD: 0x0040,
  RECOVERY: 0x0080,
  /** GET_VDI_ATTR: create the attribute if absent (same bit as WILDCARD). */
  CREAT: 0x0100,
  /** GET_VDI_ATTR: fail with VDI_EXIST if the key exists. */
  EXCL: 0x0200,
  /** GET_VDI_ATTR: delete the attribute. */
  DEL: 0x0400,
} as const;

/** LOCK_VDI / RELEASE_VDI `type`. */
export const LockType = {
  NORMAL: 0,
  SHARED: 1,
} as const;

/** Per-VDI lock state as sheep stores it (vdi_state.lock_state). */
export const LockState = {
  UNLOCKED: 1,
  LOCKED: 2,
  SHARED: 3,
} as const;

/** Per-participant inode coherence state (vdi_state.participants_state[]). */
export const ParticipantState = {
  MODIFIED: 1,
  SHARED: 2,
  INVALIDATED: 3,
} as const;

// ---- object ids and sizes (sheepdog_proto.h) ------------------------------------------------

export const VDI_SPACE_SHIFT = 32n;
export const SD_VDI_MASK = 0x00ffffff00000000n;
export const VDI_BIT = 1n << 63n;
export const VMSTATE_BIT = 1n << 62n;
export const VDI_ATTR_BIT = 1n << 61n;
export const VDI_BTREE_BIT = 1n << 60n;
export const LEDGER_BIT = 1n << 59n;

/** Number of VDI ids (24 bits); vid 0 is never used. */
export const SD_NR_VDIS = 1 << 24;
/** READ_VDIS / READ_DEL_VDIS answer with a bitmap of this many bytes. */
export const SD_VDI_BITMAP_SIZE = SD_NR_VDIS / 8;
/** Entries of the flat data_vdi_id[] array. */
export const SD_INODE_DATA_INDEX = 1 << 20;
export const SD_MAX_VDI_LEN = 256;
export const SD_MAX_VDI_TAG_LEN = 256;
export const SD_MAX_VDI_ATTR_KEY_LEN = 256;
export const SD_MAX_VDI_ATTR_VALUE_LEN = 65_536;
export const SD_MAX_COPIES = 31;

export const SD_DEFAULT_BLOCK_SIZE_SHIFT = 22;
export const SD_MIN_BLOCK_SIZE_SHIFT = 20;
export const SD_MAX_BLOCK_SIZE_SHIFT = 31;
/** 4 MiB, the default data object size. */
export const SD_DATA_OBJ_SIZE = 1 << SD_DEFAULT_BLOCK_SIZE_SHIFT;

/** offsetof(struct sd_inode, data_vdi_id). */
export const SD_INODE_HEADER_SIZE = 4664;
/**
 * offsetof(struct sd_inode, gref) = sizeof(inode) as tgt and qemu define it. A READ_OBJ of an
 * inode at offset 0 with exactly this length is the "refresh read" that re-validates a
 * participant (coherence protocol).
 */
export const SD_INODE_DATA_END = SD_INODE_HEADER_SIZE + 4 * SD_INODE_DATA_INDEX; // 4,198,968
/** sizeof(struct sd_inode) in sheep v0.9+: header + data_vdi_id[] + gref[]. */
export const SD_INODE_SIZE = SD_INODE_DATA_END + 8 * SD_INODE_DATA_INDEX; // 12,587,576
/** sizeof(struct sheepdog_vdi_attr). */
export const SD_ATTR_OBJ_SIZE = 66_320;
/** sizeof(struct vdi_state) as GET_VDI_COPIES sends it. */
export const SD_VDI_STATE_SIZE = 1428;
/** sizeof(struct sd_node) as GET_NODE_LIST sends it. */
export const SD_NODE_SIZE = 80;
/** sizeof(struct node_id). */
export const SD_NODE_ID_SIZE = 40;

/** Cluster flag: formatted with --lock (locks and coherence are on). */
export const SD_CLUSTER_FLAG_USE_LOCK = 0x0008;
