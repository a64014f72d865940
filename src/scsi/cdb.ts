/**
 * The CDBs this logical unit understands: field readers, operation codes, and one table entry per
 * command (and service action) with its CDB length and CDB USAGE DATA.
 *
 * Rules
 * - The CDB USAGE DATA mask (SPC-4, REPORT SUPPORTED OPERATION CODES one_command format)
 *   has a bit set for every CDB bit the device server evaluates. The same mask validates incoming
 *   CDBs: a bit set in the CDB but clear in the mask is a reserved (or unsupported, e.g. RDPROTECT
 *   without protection information) field and gets ILLEGAL REQUEST, INVALID FIELD IN CDB with a
 *   field pointer to the most significant offending bit. One table, so what we report and what we
 *   enforce cannot drift apart.
 * - For commands with service actions the SERVICE ACTION field (byte 1 bits 4:0) holds the service
 *   action itself in the usage data, as SPC-4 requires; validation treats that field as evaluated.
 * - The control byte (last CDB byte): NACA (bit 2) is evaluated and refused, because this LU does
 *   not support ACA (SAM-5). LINK and FLAG are obsolete and therefore reserved here.
 * - The iSCSI BHS carries a 16-byte CDB field; a shorter CDB arrives zero-padded. Only the first
 *   `usage.length` bytes belong to the command.
 */

export function readUint16(cdb: Buffer, offset: number): number {
  return cdb.readUInt16BE(offset);
}

export function readUint24(cdb: Buffer, offset: number): number {
  return (cdb[offset]! << 16) | (cdb[offset + 1]! << 8) | cdb[offset + 2]!;
}

export function readUint32(cdb: Buffer, offset: number): number {
  return cdb.readUInt32BE(offset);
}

export function readUint64(cdb: Buffer, offset: number): bigint {
  return cdb.readBigUInt64BE(offset);
}

/** Operation codes (SPC-4 Annex D, operation codes). */
export const Op = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  INQUIRY: 0x12,
  MODE_SELECT_6: 0x15,
  RESERVE_6: 0x16,
  RELEASE_6: 0x17,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  SEND_DIAGNOSTIC: 0x1d,
  PREVENT_ALLOW_MEDIUM_REMOVAL: 0x1e,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  WRITE_AND_VERIFY_10: 0x2e,
  VERIFY_10: 0x2f,
  PRE_FETCH_10: 0x34,
  SYNCHRONIZE_CACHE_10: 0x35,
  READ_DEFECT_DATA_10: 0x37,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  SANITIZE: 0x48,
  MODE_SELECT_10: 0x55,
  RESERVE_10: 0x56,
  RELEASE_10: 0x57,
  MODE_SENSE_10: 0x5a,
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  THIRD_PARTY_COPY_OUT: 0x83,
  THIRD_PARTY_COPY_IN: 0x84,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  ORWRITE_16: 0x8b,
  COMPARE_AND_WRITE: 0x89,
  WRITE_AND_VERIFY_16: 0x8e,
  VERIFY_16: 0x8f,
  PRE_FETCH_16: 0x90,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  WRITE_ATOMIC_16: 0x9c,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
  MAINTENANCE_IN: 0xa3,
  MAINTENANCE_OUT: 0xa4,
  READ_12: 0xa8,
  WRITE_12: 0xaa,
  WRITE_AND_VERIFY_12: 0xae,
  VERIFY_12: 0xaf,
  READ_DEFECT_DATA_12: 0xb7,
} as const;

/** Service actions of SERVICE ACTION IN(16) (SBC-3). */
export const ServiceActionIn16 = { READ_CAPACITY_16: 0x10, GET_LBA_STATUS: 0x12 } as const;

/** Service actions of MAINTENANCE IN (SPC-4). */
export const MaintenanceIn = {
  REPORT_TARGET_PORT_GROUPS: 0x0a,
  REPORT_SUPPORTED_OPERATION_CODES: 0x0c,
} as const;

/** Service actions of MAINTENANCE OUT (SPC-4). */
export const MaintenanceOut = { SET_TARGET_PORT_GROUPS: 0x0a } as const;

/** Service actions of THIRD-PARTY COPY OUT (SPC-4): only the LID1 EXTENDED COPY is offered. */
export const ThirdPartyCopyOut = { EXTENDED_COPY_LID1: 0x00 } as const;

/** Service actions of THIRD-PARTY COPY IN (SPC-4): RECEIVE COPY RESULTS, LID1. */
export const ThirdPartyCopyIn = { COPY_STATUS_LID1: 0x00, OPERATING_PARAMETERS: 0x03 } as const;

/** Service actions of SANITIZE (SBC-3); CRYPTOGRAPHIC ERASE (03h) is not offered. */
export const SanitizeAction = { OVERWRITE: 0x01, BLOCK_ERASE: 0x02, EXIT_FAILURE_MODE: 0x1f } as const;

/** Operation codes whose CDB byte 1 bits 4:0 hold a SERVICE ACTION. */
const OPCODES_WITH_SERVICE_ACTION: ReadonlySet<number> = new Set([
  Op.PERSISTENT_RESERVE_IN,
  Op.PERSISTENT_RESERVE_OUT,
  Op.SERVICE_ACTION_IN_16,
  Op.MAINTENANCE_IN,
  Op.MAINTENANCE_OUT,
  Op.THIRD_PARTY_COPY_OUT,
  Op.THIRD_PARTY_COPY_IN,
  Op.SANITIZE,
]);

export function hasServiceAction(opcode: number): boolean {
  return OPCODES_WITH_SERVICE_ACTION.has(opcode);
}

export function serviceActionOf(cdb: Buffer): number {
  return (cdb[1] ?? 0) & 0x1f;
}

/** The commands SPC-2 and SPC-4 reservations own; the LU hands them to its ReservationGate. */
export const RESERVATION_OPCODES: ReadonlySet<number> = new Set([
  Op.RESERVE_6,
  Op.RELEASE_6,
  Op.RESERVE_10,
  Op.RELEASE_10,
  Op.PERSISTENT_RESERVE_IN,
  Op.PERSISTENT_RESERVE_OUT,
]);

export interface CommandSpec {
  readonly name: string;
  readonly opcode: number;
  readonly serviceAction?: number;
  /** CDB USAGE DATA; its length is the CDB length. */
  readonly usage: readonly number[];
  /** Needs the medium (NOT READY, MEDIUM NOT PRESENT when a removable LU is unloaded). */
  readonly medium: boolean;
  /** Only on thin-provisioned LUs (UNMAP, SANITIZE BLOCK ERASE). */
  readonly thinOnly?: boolean;
  /** Only with explicit ALUA, i.e. on a clustered LU (SET TARGET PORT GROUPS). */
  readonly explicitAluaOnly?: boolean;
}

const CONTROL = 0x04; // NACA evaluated (and refused)
const FF = 0xff;

function spec(
  name: string,
  opcode: number,
  usage: readonly number[],
  options: { serviceAction?: number; medium?: boolean; thinOnly?: boolean; explicitAluaOnly?: boolean } = {},
): CommandSpec {
  return {
    name,
    opcode,
    usage: [opcode, ...usage, CONTROL],
    medium: options.medium ?? false,
    ...(options.serviceAction === undefined ? {} : { serviceAction: options.serviceAction }),
    ...(options.thinOnly ? { thinOnly: true } : {}),
    ...(options.explicitAluaOnly ? { explicitAluaOnly: true } : {}),
  };
}

// Byte 1 of READ/WRITE/ORWRITE/COMPARE AND WRITE: DPO 0x10, FUA 0x08, FUA_NV 0x02 (SBC-3).
// RDPROTECT/WRPROTECT (bits 7:5) are absent: no protection information, so a non-zero value is refused.
const RW_FLAGS = 0x1a;
// WRITE AND VERIFY: DPO 0x10, BYTCHK 0x02 (SBC-3). VERIFY: DPO 0x10, BYTCHK 0x06.
const WV_FLAGS = 0x12;
const V_FLAGS = 0x16;
const GROUP = 0x1f;
const LBA32 = [FF, FF, FF, FF] as const;
const LBA64 = [FF, FF, FF, FF, FF, FF, FF, FF] as const;
const LEN16 = [FF, FF] as const;
const LEN32 = [FF, FF, FF, FF] as const;

/**
 * Every command this LU implements, in the order REPORT SUPPORTED OPERATION CODES lists them.
 * Usage bytes cite the CDB tables of SPC-4 (r37), SBC-3 (r35) and, for WRITE ATOMIC(16), SBC-4.
 */
export const COMMAND_SPECS: readonly CommandSpec[] = [
  spec('TEST UNIT READY', Op.TEST_UNIT_READY, [0, 0, 0, 0], { medium: true }), // SPC-4
  spec('REQUEST SENSE', Op.REQUEST_SENSE, [0x01, 0, 0, FF]), // SPC-4: DESC
  spec('READ(6)', Op.READ_6, [0x1f, FF, FF, FF], { medium: true }), // SBC-3
  spec('WRITE(6)', Op.WRITE_6, [0x1f, FF, FF, FF], { medium: true }), // SBC-3
  spec('INQUIRY', Op.INQUIRY, [0x01, FF, FF, FF]), // SPC-4: EVPD, PAGE CODE, ALLOCATION LENGTH
  spec('MODE SELECT(6)', Op.MODE_SELECT_6, [0x11, 0, 0, FF]), // SPC-4: PF, SP
  spec('RESERVE(6)', Op.RESERVE_6, [0, 0, 0, 0]), // SPC-2
  spec('RELEASE(6)', Op.RELEASE_6, [0, 0, 0, 0]), // SPC-2
  spec('MODE SENSE(6)', Op.MODE_SENSE_6, [0x08, FF, FF, FF]), // SPC-4: DBD, PC+PAGE, SUBPAGE
  spec('START STOP UNIT', Op.START_STOP_UNIT, [0x01, 0, 0x0f, 0xf7]), // SBC-3
  spec('SEND DIAGNOSTIC', Op.SEND_DIAGNOSTIC, [0xf7, 0, FF, FF]), // SPC-4
  spec('PREVENT ALLOW MEDIUM REMOVAL', Op.PREVENT_ALLOW_MEDIUM_REMOVAL, [0, 0, 0, 0x03]), // SBC-3
  spec('READ CAPACITY(10)', Op.READ_CAPACITY_10, [0, ...LBA32, 0, 0, 0x01], { medium: true }), // SBC-3
  spec('READ(10)', Op.READ_10, [RW_FLAGS, ...LBA32, GROUP, ...LEN16], { medium: true }), // SBC-3
  spec('WRITE(10)', Op.WRITE_10, [RW_FLAGS, ...LBA32, GROUP, ...LEN16], { medium: true }), // SBC-3
  spec('WRITE AND VERIFY(10)', Op.WRITE_AND_VERIFY_10, [WV_FLAGS, ...LBA32, GROUP, ...LEN16], {
    medium: true,
  }),
  spec('VERIFY(10)', Op.VERIFY_10, [V_FLAGS, ...LBA32, GROUP, ...LEN16], { medium: true }), // SBC-3
  spec('PRE-FETCH(10)', Op.PRE_FETCH_10, [0x02, ...LBA32, GROUP, ...LEN16], { medium: true }), // SBC-3
  spec('SYNCHRONIZE CACHE(10)', Op.SYNCHRONIZE_CACHE_10, [0x06, ...LBA32, GROUP, ...LEN16], { medium: true }),
  // SBC-3: REQ_PLIST 0x10, REQ_GLIST 0x08, DEFECT LIST FORMAT 0x07; ALLOCATION LENGTH.
  spec('READ DEFECT DATA(10)', Op.READ_DEFECT_DATA_10, [0, 0x1f, 0, 0, 0, 0, ...LEN16], { medium: true }),
  // SBC-3 WRITE SAME(10): ANCHOR 0x10, UNMAP 0x08, PBDATA 0x04, LBDATA 0x02.
  spec('WRITE SAME(10)', Op.WRITE_SAME_10, [0x1e, ...LBA32, GROUP, ...LEN16], { medium: true }),
  spec('UNMAP', Op.UNMAP, [0x01, 0, 0, 0, 0, GROUP, ...LEN16], { medium: true, thinOnly: true }), // SBC-3
  // SBC-3 SANITIZE: IMMED 0x80, AUSE 0x20 (not for EXIT FAILURE MODE), PARAMETER LIST LENGTH.
  // BLOCK ERASE deallocates every block, so only a thin-provisioned LU offers it.
  ...[SanitizeAction.OVERWRITE, SanitizeAction.BLOCK_ERASE, SanitizeAction.EXIT_FAILURE_MODE].map((sa) =>
    spec(
      'SANITIZE',
      Op.SANITIZE,
      [(sa === SanitizeAction.EXIT_FAILURE_MODE ? 0x80 : 0xa0) | sa, 0, 0, 0, 0, 0, ...LEN16],
      {
        serviceAction: sa,
        medium: true,
        thinOnly: sa === SanitizeAction.BLOCK_ERASE,
      },
    ),
  ),
  spec('MODE SELECT(10)', Op.MODE_SELECT_10, [0x11, 0, 0, 0, 0, 0, ...LEN16]), // SPC-4
  spec('RESERVE(10)', Op.RESERVE_10, [0x12, 0, FF, 0, 0, 0, ...LEN16]), // SPC-2
  spec('RELEASE(10)', Op.RELEASE_10, [0x12, 0, FF, 0, 0, 0, ...LEN16]), // SPC-2
  spec('MODE SENSE(10)', Op.MODE_SENSE_10, [0x18, FF, FF, 0, 0, 0, ...LEN16]), // SPC-4: LLBAA, DBD
  ...[0x00, 0x01, 0x02, 0x03].map((sa) =>
    spec('PERSISTENT RESERVE IN', Op.PERSISTENT_RESERVE_IN, [sa, 0, 0, 0, 0, 0, ...LEN16], {
      serviceAction: sa,
    }),
  ), // SPC-4 PERSISTENT RESERVE IN
  ...[0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07].map((sa) =>
    spec('PERSISTENT RESERVE OUT', Op.PERSISTENT_RESERVE_OUT, [sa, FF, 0, 0, ...LEN32], {
      serviceAction: sa,
    }),
  ), // SPC-4 PERSISTENT RESERVE OUT
  // SPC-4 THIRD-PARTY COPY OUT, EXTENDED COPY (LID1): PARAMETER LIST LENGTH bytes 10-13.
  spec('EXTENDED COPY', Op.THIRD_PARTY_COPY_OUT, [0x00, 0, 0, 0, 0, 0, 0, 0, 0, ...LEN32, 0], {
    serviceAction: ThirdPartyCopyOut.EXTENDED_COPY_LID1,
  }),
  // SPC-4 THIRD-PARTY COPY IN, RECEIVE COPY RESULTS: LIST IDENTIFIER (COPY STATUS only), ALLOCATION LENGTH.
  spec('RECEIVE COPY RESULTS', Op.THIRD_PARTY_COPY_IN, [0x00, FF, 0, 0, 0, 0, 0, 0, 0, ...LEN32, 0], {
    serviceAction: ThirdPartyCopyIn.COPY_STATUS_LID1,
  }),
  spec('RECEIVE COPY RESULTS', Op.THIRD_PARTY_COPY_IN, [0x03, 0, 0, 0, 0, 0, 0, 0, 0, ...LEN32, 0], {
    serviceAction: ThirdPartyCopyIn.OPERATING_PARAMETERS,
  }),
  spec('READ(16)', Op.READ_16, [RW_FLAGS, ...LBA64, ...LEN32, GROUP], { medium: true }), // SBC-3
  spec('WRITE(16)', Op.WRITE_16, [RW_FLAGS, ...LBA64, ...LEN32, GROUP], { medium: true }), // SBC-3
  spec('COMPARE AND WRITE', Op.COMPARE_AND_WRITE, [RW_FLAGS, ...LBA64, 0, 0, 0, FF, GROUP], { medium: true }),
  spec('ORWRITE(16)', Op.ORWRITE_16, [RW_FLAGS, ...LBA64, ...LEN32, GROUP], { medium: true }), // SBC-3
  spec('WRITE AND VERIFY(16)', Op.WRITE_AND_VERIFY_16, [WV_FLAGS, ...LBA64, ...LEN32, GROUP], {
    medium: true,
  }),
  spec('VERIFY(16)', Op.VERIFY_16, [V_FLAGS, ...LBA64, ...LEN32, GROUP], { medium: true }),
  spec('PRE-FETCH(16)', Op.PRE_FETCH_16, [0x02, ...LBA64, ...LEN32, GROUP], { medium: true }),
  spec('SYNCHRONIZE CACHE(16)', Op.SYNCHRONIZE_CACHE_16, [0x06, ...LBA64, ...LEN32, GROUP], { medium: true }),
  // SBC-3 WRITE SAME(16): as WRITE SAME(10) plus NDOB 0x01.
  spec('WRITE SAME(16)', Op.WRITE_SAME_16, [0x1f, ...LBA64, ...LEN32, GROUP], { medium: true }),
  // SBC-4 WRITE ATOMIC(16): DPO, FUA; ATOMIC BOUNDARY (bytes 10-11) unsupported (MAXIMUM ATOMIC
  // BOUNDARY SIZE 0), so reserved here; TRANSFER LENGTH bytes 12-13.
  spec('WRITE ATOMIC(16)', Op.WRITE_ATOMIC_16, [0x18, ...LBA64, 0, 0, ...LEN16, GROUP], { medium: true }),
  spec('READ CAPACITY(16)', Op.SERVICE_ACTION_IN_16, [0x10, ...LBA64, ...LEN32, 0x01], {
    serviceAction: ServiceActionIn16.READ_CAPACITY_16,
    medium: true,
  }), // SBC-3: PMI
  spec('GET LBA STATUS', Op.SERVICE_ACTION_IN_16, [0x12, ...LBA64, ...LEN32, 0], {
    serviceAction: ServiceActionIn16.GET_LBA_STATUS,
    medium: true,
  }), // SBC-3
  spec('REPORT LUNS', Op.REPORT_LUNS, [0, FF, 0, 0, 0, ...LEN32, 0]), // SPC-4: SELECT REPORT
  // SPC-4: PARAMETER DATA FORMAT (bits 7:5) beside the service action.
  spec('REPORT TARGET PORT GROUPS', Op.MAINTENANCE_IN, [0xea, 0, 0, 0, 0, ...LEN32, 0], {
    serviceAction: MaintenanceIn.REPORT_TARGET_PORT_GROUPS,
  }),
  // SPC-4: RCTD 0x80, REPORTING OPTIONS 0x07, REQUESTED OPERATION CODE, REQUESTED SERVICE ACTION.
  spec('REPORT SUPPORTED OPERATION CODES', Op.MAINTENANCE_IN, [0x0c, 0x87, FF, FF, FF, ...LEN32, 0], {
    serviceAction: MaintenanceIn.REPORT_SUPPORTED_OPERATION_CODES,
  }),
  // SPC-4: PARAMETER LIST LENGTH in bytes 6-9. Offered by clustered LUs only (TPGS 11b).
  spec('SET TARGET PORT GROUPS', Op.MAINTENANCE_OUT, [0x0a, 0, 0, 0, 0, ...LEN32, 0], {
    serviceAction: MaintenanceOut.SET_TARGET_PORT_GROUPS,
    explicitAluaOnly: true,
  }),
  spec('READ(12)', Op.READ_12, [RW_FLAGS, ...LBA32, ...LEN32, GROUP], { medium: true }), // SBC-3
  spec('WRITE(12)', Op.WRITE_12, [RW_FLAGS, ...LBA32, ...LEN32, GROUP], { medium: true }), // SBC-3
  spec('WRITE AND VERIFY(12)', Op.WRITE_AND_VERIFY_12, [WV_FLAGS, ...LBA32, ...LEN32, GROUP], {
    medium: true,
  }),
  spec('VERIFY(12)', Op.VERIFY_12, [V_FLAGS, ...LBA32, ...LEN32, GROUP], { medium: true }),
  // SBC-3: REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT; ADDRESS DESCRIPTOR INDEX; ALLOCATION LENGTH.
  spec('READ DEFECT DATA(12)', Op.READ_DEFECT_DATA_12, [0x1f, ...LBA32, ...LEN32, 0], { medium: true }),
];

function key(opcode: number, serviceAction: number | undefined): number {
  return opcode * 256 + (serviceAction ?? 0);
}

const SPEC_BY_KEY: ReadonlyMap<number, CommandSpec> = new Map(
  COMMAND_SPECS.map((entry) => [key(entry.opcode, entry.serviceAction), entry]),
);

/** The spec for an operation code (and service action, for opcodes that have them), if implemented. */
export function findCommandSpec(opcode: number, serviceAction?: number): CommandSpec | undefined {
  return SPEC_BY_KEY.get(key(opcode, hasServiceAction(opcode) ? (serviceAction ?? 0) : undefined));
}

/**
 * Whether this LU offers the command: UNMAP and SANITIZE BLOCK ERASE only on thin-provisioned LUs,
 * SET TARGET PORT GROUPS only with explicit ALUA (a clustered LU).
 */
export function isOffered(entry: CommandSpec, thin: boolean, explicitAlua = false): boolean {
  return (thin || entry.thinOnly !== true) && (explicitAlua || entry.explicitAluaOnly !== true);
}

/** Whether the opcode exists in the table under any service action this LU offers. */
export function isKnownOpcode(opcode: number, thin = true, explicitAlua = false): boolean {
  return COMMAND_SPECS.some((entry) => entry.opcode === opcode && isOffered(entry, thin, explicitAlua));
}

/** Where a bad CDB field is: byte, and the most significant bad bit. */
export interface CdbFieldError {
  readonly byte: number;
  readonly bit: number;
}

/**
 * Checks a CDB against its usage mask: every bit set in the CDB must be evaluated, and NACA must be
 * clear. Returns the first offending field (lowest byte, highest bit), or undefined.
 */
export function findInvalidCdbField(cdb: Buffer, entry: CommandSpec): CdbFieldError | undefined {
  const length = entry.usage.length;
  if (cdb.length < length) return { byte: cdb.length, bit: 7 };
  const lastIndex = length - 1;
  for (let index = 1; index < length; index++) {
    let allowed = entry.usage[index]!;
    if (index === 1 && entry.serviceAction !== undefined) allowed |= 0x1f;
    if (index === lastIndex) allowed &= ~0x04; // NACA: evaluated, but ACA is not supported
    const offending = cdb[index]! & ~allowed & 0xff;
    if (offending !== 0) return { byte: index, bit: 31 - Math.clz32(offending) };
  }
  return undefined;
}
