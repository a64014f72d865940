/**
 * iSCSI protocol numbers (RFC 7143). Section numbers refer to RFC 7143; every multi-byte integer
 * in a PDU is big-endian (network order), except the CRC32C digests (see digest.ts).
 */

/** Opcodes sent by an initiator (RFC 7143 §11.2.1.2). */
export const InitiatorOpcode = {
  /** §11.18 */
  NOP_OUT: 0x00,
  /** §11.3 */
  SCSI_COMMAND: 0x01,
  /** §11.5 */
  TMF_REQUEST: 0x02,
  /** §11.12 */
  LOGIN_REQUEST: 0x03,
  /** §11.10 */
  TEXT_REQUEST: 0x04,
  /** §11.7 */
  SCSI_DATA_OUT: 0x05,
  /** §11.14 */
  LOGOUT_REQUEST: 0x06,
  /** §11.16 */
  SNACK_REQUEST: 0x10,
} as const;

/** Opcodes sent by a target (RFC 7143 §11.2.1.2). */
export const TargetOpcode = {
  /** §11.19 */
  NOP_IN: 0x20,
  /** §11.4 */
  SCSI_RESPONSE: 0x21,
  /** §11.6 */
  TMF_RESPONSE: 0x22,
  /** §11.13 */
  LOGIN_RESPONSE: 0x23,
  /** §11.11 */
  TEXT_RESPONSE: 0x24,
  /** §11.7 */
  SCSI_DATA_IN: 0x25,
  /** §11.15 */
  LOGOUT_RESPONSE: 0x26,
  /** §11.8 */
  R2T: 0x31,
  /** §11.9 */
  ASYNC_MESSAGE: 0x32,
  /** §11.17 */
  REJECT: 0x3f,
} as const;

export type InitiatorOpcodeValue = (typeof InitiatorOpcode)[keyof typeof InitiatorOpcode];
export type TargetOpcodeValue = (typeof TargetOpcode)[keyof typeof TargetOpcode];
export type OpcodeValue = InitiatorOpcodeValue | TargetOpcodeValue;

/** Byte 0 of the BHS: bit 7 reserved, bit 6 immediate delivery (I), bits 5-0 the opcode (§11.2.1.1). */
export const OPCODE_MASK = 0x3f;
export const IMMEDIATE_BIT = 0x40;
/** Byte 1 of most PDUs: the Final bit (§11.2.1.2). */
export const FINAL_BIT = 0x80;

/** The "no tag" value of Initiator Task Tag, Target Transfer Tag and SNACK Tag (§11.2.1.7). */
export const RESERVED_TAG = 0xffff_ffff;

/** The only version this RFC defines (Version-max/min/active, §11.12.4). */
export const ISCSI_VERSION = 0x00;

const initiatorOpcodes = new Set<number>(Object.values(InitiatorOpcode));
const targetOpcodes = new Set<number>(Object.values(TargetOpcode));

export function isInitiatorOpcode(opcode: number): opcode is InitiatorOpcodeValue {
  return initiatorOpcodes.has(opcode);
}

export function isTargetOpcode(opcode: number): opcode is TargetOpcodeValue {
  return targetOpcodes.has(opcode);
}

const opcodeNames = new Map<number, string>([
  ...Object.entries(InitiatorOpcode).map(([name, code]) => [code, name] as [number, string]),
  ...Object.entries(TargetOpcode).map(([name, code]) => [code, name] as [number, string]),
]);

/** "SCSI_COMMAND (0x01)"; unknown opcodes print as hex, for log lines. */
export function opcodeName(opcode: number): string {
  return `${opcodeNames.get(opcode) ?? 'UNKNOWN_OPCODE'} (0x${opcode.toString(16).padStart(2, '0')})`;
}

/** AHSType codes (§11.2.2.1); bits 7-6 of the type byte are reserved. */
export const AhsType = {
  /** §11.2.2.3: the CDB bytes beyond the 16 in the BHS. */
  EXTENDED_CDB: 1,
  /** §11.2.2.4: the read length of a bidirectional command. */
  BIDIRECTIONAL_READ_LENGTH: 2,
} as const;

/** SCSI Command ATTR field (§11.3.1): the SAM task attribute. */
export const TaskAttribute = {
  UNTAGGED: 0,
  SIMPLE: 1,
  ORDERED: 2,
  HEAD_OF_QUEUE: 3,
  ACA: 4,
} as const;

/** SCSI Response "Response" field (§11.4.3). 0x80-0xff are vendor specific. */
export const IscsiResponse = {
  COMMAND_COMPLETED_AT_TARGET: 0x00,
  TARGET_FAILURE: 0x01,
} as const;

/** Login stages for CSG and NSG (§11.12.3); 2 is reserved. */
export const LoginStage = {
  SECURITY_NEGOTIATION: 0,
  LOGIN_OPERATIONAL_NEGOTIATION: 1,
  FULL_FEATURE_PHASE: 3,
} as const;

/** Login Response Status-Class (§11.13.5). */
export const LoginStatusClass = {
  SUCCESS: 0x00,
  REDIRECTION: 0x01,
  INITIATOR_ERROR: 0x02,
  TARGET_ERROR: 0x03,
} as const;

/**
 * Login Response Status-Class and Status-Detail together as (class << 8) | detail, the way the
 * table of §11.13.5 prints them ("0201" = class 2, detail 1). Split with `loginStatusParts`.
 */
export const LoginStatus = {
  SUCCESS: 0x0000,
  TARGET_MOVED_TEMPORARILY: 0x0101,
  TARGET_MOVED_PERMANENTLY: 0x0102,
  INITIATOR_ERROR: 0x0200,
  AUTHENTICATION_FAILURE: 0x0201,
  AUTHORIZATION_FAILURE: 0x0202,
  NOT_FOUND: 0x0203,
  TARGET_REMOVED: 0x0204,
  UNSUPPORTED_VERSION: 0x0205,
  TOO_MANY_CONNECTIONS: 0x0206,
  MISSING_PARAMETER: 0x0207,
  CANT_INCLUDE_IN_SESSION: 0x0208,
  SESSION_TYPE_NOT_SUPPORTED: 0x0209,
  SESSION_DOES_NOT_EXIST: 0x020a,
  INVALID_DURING_LOGIN: 0x020b,
  TARGET_ERROR: 0x0300,
  SERVICE_UNAVAILABLE: 0x0301,
  OUT_OF_RESOURCES: 0x0302,
} as const;

export function loginStatusParts(status: number): { statusClass: number; statusDetail: number } {
  return { statusClass: (status >> 8) & 0xff, statusDetail: status & 0xff };
}

/** Reject reasons (§11.17.1). */
export const RejectReason = {
  /** 0x01 is reserved. */
  DATA_DIGEST_ERROR: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_COMMAND_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  LONG_OPERATION_REJECT: 0x0a,
  /** "Negotiation Reset" in RFC 3720; deprecated by RFC 7143. */
  DEPRECATED_NEGOTIATION_RESET: 0x0b,
  WAITING_FOR_LOGOUT: 0x0c,
} as const;
export type RejectReasonValue = (typeof RejectReason)[keyof typeof RejectReason];

/** Task management functions (§11.5.1). */
export const TmfFunction = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LOGICAL_UNIT_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  TASK_REASSIGN: 8,
} as const;

/** Task management responses (§11.6.1). */
export const TmfResponse = {
  FUNCTION_COMPLETE: 0,
  TASK_DOES_NOT_EXIST: 1,
  LUN_DOES_NOT_EXIST: 2,
  TASK_STILL_ALLEGIANT: 3,
  TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED: 4,
  FUNCTION_NOT_SUPPORTED: 5,
  FUNCTION_AUTHORIZATION_FAILED: 6,
  FUNCTION_REJECTED: 255,
} as const;

/** Logout reason codes (§11.14.1). */
export const LogoutReason = {
  CLOSE_SESSION: 0,
  CLOSE_CONNECTION: 1,
  REMOVE_CONNECTION_FOR_RECOVERY: 2,
} as const;

/** Logout responses (§11.15.1). */
export const LogoutResponse = {
  CLOSED_SUCCESSFULLY: 0,
  CID_NOT_FOUND: 1,
  CONNECTION_RECOVERY_NOT_SUPPORTED: 2,
  CLEANUP_FAILED: 3,
} as const;

/** AsyncEvent codes (§11.9.1). */
export const AsyncEvent = {
  SCSI_ASYNC_EVENT: 0,
  LOGOUT_REQUESTED: 1,
  CONNECTION_WILL_BE_DROPPED: 2,
  ALL_CONNECTIONS_WILL_BE_DROPPED: 3,
  PARAMETER_NEGOTIATION_REQUESTED: 4,
  VENDOR_SPECIFIC: 255,
} as const;

/** SNACK types (§11.16.1). */
export const SnackType = {
  DATA_R2T: 0,
  STATUS: 1,
  DATA_ACK: 2,
  R_DATA: 3,
} as const;
