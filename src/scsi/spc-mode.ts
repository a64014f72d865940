/**
 * MODE SENSE(6)/(10) and MODE SELECT(6)/(10) (SPC-4) over three mode pages: Caching (08h, SBC-3),
 * Control (0Ah, SPC-4) and Informational Exceptions Control (1Ch, SPC-4).
 *
 * Rules
 * - Changeable bits: Caching WCE; Control D_SENSE and SWP. Nothing is saveable: PC = 11b (saved)
 *   and SP = 1 get ILLEGAL REQUEST, SAVING PARAMETERS NOT SUPPORTED (39/00) resp. INVALID FIELD IN
 *   CDB; the page headers carry PS = 0.
 * - Mode parameter header with the SBC device-specific parameter: WP = write protected (backend
 *   read-only or SWP), DPOFUA = 1 (DPO and FUA honoured). Block descriptor unless DBD: short LBA
 *   or, with MODE SENSE(10) LLBAA, long LBA (SBC-3).
 * - MODE SELECT validates the whole parameter list before changing anything: a bad header, block
 *   length or page gets INVALID FIELD IN PARAMETER LIST with a field pointer into the list; a
 *   truncated list gets PARAMETER LIST LENGTH ERROR. A change of any current value raises MODE
 *   PARAMETERS CHANGED (2A/01) on every other nexus (SPC-4).
 * - A clustered LU's mode parameters live in the cluster document: MODE SELECT writes the values
 *   of the pages it sent there, and the 2A/01 reaches every other nexus of every node in the
 *   same cell update (cluster/cluster-state.ts). LUN reset returns them to their defaults there.
 */
import { Op, readUint16 } from './cdb.js';
import {
  type CommandContext,
  checkCondition,
  DEFAULT_MODE,
  good,
  isWriteProtected,
  type LuRuntime,
  type ModeParameters,
  truncate,
} from './command-context.js';
import type { ScsiResult } from './scsi-types.js';
import { SenseKey } from './scsi-types.js';
import {
  Asc,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  PARAMETER_LIST_LENGTH_ERROR,
  senseOf,
} from './sense.js';

export const ModePage = { CACHING: 0x08, CONTROL: 0x0a, INFORMATIONAL_EXCEPTIONS: 0x1c, ALL: 0x3f } as const;

const PageControl = { CURRENT: 0, CHANGEABLE: 1, DEFAULT: 2, SAVED: 3 } as const;

interface PageDefinition {
  readonly code: number;
  /** The page's bytes (including the 2-byte header) for the given values. */
  encode(mode: ModeParameters): Buffer;
  /** The page's bytes with 1s where a bit is changeable. */
  readonly changeable: Buffer;
  /** Reads the changeable values from a page body into `into`. */
  apply(page: Buffer, into: Partial<ModeParameters>): void;
}

function pageBytes(code: number, lengthBytes: number): Buffer {
  const page = Buffer.alloc(lengthBytes + 2);
  page[0] = code; // PS = 0, SPF = 0
  page[1] = lengthBytes;
  return page;
}

const cachingPage: PageDefinition = {
  code: ModePage.CACHING,
  encode(mode) {
    const page = pageBytes(ModePage.CACHING, 0x12);
    if (mode.writeCacheEnabled) page[2] = 0x04; // WCE
    return page;
  },
  changeable: (() => {
    const page = pageBytes(ModePage.CACHING, 0x12);
    page[2] = 0x04;
    return page;
  })(),
  apply(page, into) {
    into.writeCacheEnabled = (page[2]! & 0x04) !== 0;
  },
};

const controlPage: PageDefinition = {
  code: ModePage.CONTROL,
  encode(mode) {
    const page = pageBytes(ModePage.CONTROL, 0x0a);
    page[2] = (mode.descriptorSense ? 0x04 : 0) | 0x02; // D_SENSE, GLTSD (no log parameters to save)
    page[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1: unrestricted reordering allowed; QERR 00b
    page[4] = mode.softwareWriteProtect ? 0x08 : 0; // SWP
    page.writeUInt16BE(0xffff, 8); // BUSY TIMEOUT PERIOD: unlimited
    return page;
  },
  changeable: (() => {
    const page = pageBytes(ModePage.CONTROL, 0x0a);
    page[2] = 0x04;
    page[4] = 0x08;
    return page;
  })(),
  apply(page, into) {
    into.descriptorSense = (page[2]! & 0x04) !== 0;
    into.softwareWriteProtect = (page[4]! & 0x08) !== 0;
  },
};

const informationalExceptionsPage: PageDefinition = {
  code: ModePage.INFORMATIONAL_EXCEPTIONS,
  encode() {
    const page = pageBytes(ModePage.INFORMATIONAL_EXCEPTIONS, 0x0a);
    page[2] = 0x08; // DEXCPT: no informational exception reporting; MRIE 0
    return page;
  },
  changeable: pageBytes(ModePage.INFORMATIONAL_EXCEPTIONS, 0x0a),
  apply() {},
};

/** In ascending page-code order, as "return all pages" lists them. */
const PAGES: readonly PageDefinition[] = [cachingPage, controlPage, informationalExceptionsPage];

function findPage(code: number): PageDefinition | undefined {
  return PAGES.find((page) => page.code === code);
}

interface ModeSenseRequest {
  readonly ten: boolean;
  readonly dbd: boolean;
  readonly llbaa: boolean;
  readonly pageControl: number;
  readonly pageCode: number;
  readonly subpageCode: number;
  readonly allocationLength: number;
}

function parseModeSense(cdb: Buffer): ModeSenseRequest {
  const ten = cdb[0] === Op.MODE_SENSE_10;
  return {
    ten,
    dbd: (cdb[1]! & 0x08) !== 0,
    llbaa: ten && (cdb[1]! & 0x10) !== 0,
    pageControl: cdb[2]! >> 6,
    pageCode: cdb[2]! & 0x3f,
    subpageCode: cdb[3]!,
    allocationLength: ten ? readUint16(cdb, 7) : cdb[4]!,
  };
}

function blockDescriptor(lu: LuRuntime, long: boolean): Buffer {
  const { blockCount, blockSizeBytes } = lu.geometry;
  if (long) {
    const descriptor = Buffer.alloc(16);
    descriptor.writeBigUInt64BE(BigInt(blockCount), 0);
    descriptor.writeUInt32BE(blockSizeBytes, 12);
    return descriptor;
  }
  const descriptor = Buffer.alloc(8);
  descriptor.writeUInt32BE(Math.min(blockCount, 0xffffffff), 0);
  descriptor.writeUIntBE(blockSizeBytes, 5, 3);
  return descriptor;
}

/** The device-specific parameter byte (SBC-3). */
function deviceSpecificParameter(lu: LuRuntime): number {
  return (isWriteProtected(lu) ? 0x80 : 0) | 0x10; // WP, DPOFUA
}

function selectPages(request: ModeSenseRequest): readonly PageDefinition[] | undefined {
  // We have no subpages: subpage 00h is the page itself, FFh is "the page and all its subpages".
  if (request.subpageCode !== 0x00 && request.subpageCode !== 0xff) return undefined;
  if (request.pageCode === ModePage.ALL) return PAGES;
  const page = findPage(request.pageCode);
  return page === undefined ? undefined : [page];
}

export function modeSense(context: CommandContext): ScsiResult {
  const { lu } = context;
  const request = parseModeSense(context.cdb);
  if (request.pageControl === PageControl.SAVED) {
    return checkCondition(senseOf(SenseKey.ILLEGAL_REQUEST, Asc.SAVING_PARAMETERS_NOT_SUPPORTED));
  }
  const pages = selectPages(request);
  if (pages === undefined) {
    return checkCondition(request.subpageCode > 0 ? invalidFieldInCdb(3, 7) : invalidFieldInCdb(2, 5));
  }
  const body = Buffer.concat(
    pages.map((page) => {
      if (request.pageControl === PageControl.CHANGEABLE) return page.changeable;
      return page.encode(request.pageControl === PageControl.DEFAULT ? { ...DEFAULT_MODE } : lu.mode);
    }),
  );
  const descriptor = request.dbd ? Buffer.alloc(0) : blockDescriptor(lu, request.llbaa);
  const header = Buffer.alloc(request.ten ? 8 : 4);
  const totalBytes = header.length + descriptor.length + body.length;
  if (request.ten) {
    header.writeUInt16BE(totalBytes - 2, 0); // MODE DATA LENGTH
    header[3] = deviceSpecificParameter(lu);
    header[4] = request.llbaa && !request.dbd ? 0x01 : 0; // LONGLBA
    header.writeUInt16BE(descriptor.length, 6);
  } else {
    header[0] = totalBytes - 1;
    header[2] = deviceSpecificParameter(lu);
    header[3] = descriptor.length;
  }
  return good(truncate(Buffer.concat([header, descriptor, body]), request.allocationLength));
}

/**
 * Validates a MODE SELECT parameter list and returns the values of the pages it sent, or the CHECK
 * CONDITION that refuses it.
 */
function parseModeSelectList(
  list: Buffer,
  ten: boolean,
  lu: LuRuntime,
): Partial<ModeParameters> | ScsiResult {
  const headerBytes = ten ? 8 : 4;
  if (list.length < headerBytes) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  const mediumTypeOffset = ten ? 2 : 1;
  if (list[mediumTypeOffset] !== 0) return checkCondition(invalidFieldInParameterList(mediumTypeOffset, 7));
  const longLba = ten && (list[4]! & 0x01) !== 0;
  const descriptorBytes = ten ? readUint16(list, 6) : list[3]!;
  const descriptorSize = longLba ? 16 : 8;
  const descriptorLengthOffset = ten ? 6 : 3;
  if (descriptorBytes % descriptorSize !== 0) {
    return checkCondition(invalidFieldInParameterList(descriptorLengthOffset, 7));
  }
  if (headerBytes + descriptorBytes > list.length) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  for (let offset = headerBytes; offset < headerBytes + descriptorBytes; offset += descriptorSize) {
    const lengthOffset = longLba ? offset + 12 : offset + 5;
    const blockLength = longLba ? list.readUInt32BE(lengthOffset) : list.readUIntBE(lengthOffset, 3);
    if (blockLength !== lu.geometry.blockSizeBytes) {
      return checkCondition(invalidFieldInParameterList(lengthOffset, 7));
    }
  }
  const wanted: Partial<ModeParameters> = {};
  let offset = headerBytes + descriptorBytes;
  while (offset < list.length) {
    if (offset + 2 > list.length) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
    const first = list[offset]!;
    // SPF set: a subpage, and this LU has none.
    if ((first & 0x40) !== 0) return checkCondition(invalidFieldInParameterList(offset, 6));
    const page = findPage(first & 0x3f);
    if (page === undefined) return checkCondition(invalidFieldInParameterList(offset, 5));
    const current = page.encode(lu.mode);
    const lengthBytes = list[offset + 1]!;
    if (lengthBytes !== current[1]) return checkCondition(invalidFieldInParameterList(offset + 1, 7));
    if (offset + 2 + lengthBytes > list.length) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
    const sent = list.subarray(offset, offset + 2 + lengthBytes);
    // Byte 0 holds PS (reserved in MODE SELECT) and the page code; compare from byte 2 on.
    for (let index = 2; index < sent.length; index++) {
      const fixedBits = (sent[index]! ^ current[index]!) & ~page.changeable[index]! & 0xff;
      if (fixedBits !== 0) {
        return checkCondition(invalidFieldInParameterList(offset + index, 31 - Math.clz32(fixedBits)));
      }
    }
    page.apply(sent, wanted);
    offset += 2 + lengthBytes;
  }
  return wanted;
}

function isResult(value: Partial<ModeParameters> | ScsiResult): value is ScsiResult {
  return 'status' in value;
}

export async function modeSelect(context: CommandContext): Promise<ScsiResult> {
  const { cdb, lu, nexus, command } = context;
  const ten = cdb[0] === Op.MODE_SELECT_10;
  const pageFormat = (cdb[1]! & 0x10) !== 0;
  const savePages = (cdb[1]! & 0x01) !== 0;
  const listLength = ten ? readUint16(cdb, 7) : cdb[4]!;
  if (savePages) return checkCondition(invalidFieldInCdb(1, 0));
  if (listLength === 0) return good();
  if (!pageFormat) return checkCondition(invalidFieldInCdb(1, 4));
  if (command.dataOut.length < listLength) return checkCondition(PARAMETER_LIST_LENGTH_ERROR);
  const wanted = parseModeSelectList(command.dataOut.subarray(0, listLength), ten, lu);
  if (isResult(wanted)) return wanted;
  let changed: (keyof ModeParameters)[];
  if (lu.cluster !== undefined) {
    changed = await lu.cluster.changeMode(nexus, wanted);
  } else {
    changed = (Object.keys(wanted) as (keyof ModeParameters)[]).filter(
      (name) => wanted[name] !== lu.mode[name],
    );
    if (changed.length > 0) {
      Object.assign(lu.mode, wanted);
      lu.unitAttentions.raiseAllExcept(nexus, senseOf(SenseKey.UNIT_ATTENTION, Asc.MODE_PARAMETERS_CHANGED));
    }
  }
  if (changed.length > 0) {
    lu.eventLog.append(lu.actor, 'lu.mode_changed', { nexus: nexus.id, changed, mode: { ...lu.mode } });
  }
  return good();
}
