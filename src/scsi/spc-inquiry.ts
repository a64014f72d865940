/**
 * INQUIRY (SPC-4): standard data and the VPD pages.
 *
 * - Standard data (SPC-4): 96 bytes, peripheral device type 0 (SBC), RMB for a removable LU,
 *   VERSION 06h (SPC-4), HISUP, RESPONSE DATA FORMAT 2, TPGS 01b (implicit ALUA; 11b, implicit
 *   and explicit, on a clustered LU, which accepts SET TARGET PORT GROUPS), 3PC (EXTENDED COPY),
 *   MULTIP, CMDQUE, version descriptors SAM-5 (00A0h), SPC-4 (0460h), SBC-3 (04C0h), iSCSI
 *   (0960h) (SPC-4 version descriptor values).
 * - VPD pages: 00h supported pages, 80h unit serial number, 83h device identification, 86h
 *   Extended INQUIRY data, B0h Block Limits (with SBC-4's atomic write fields at bytes 44-55),
 *   B1h Block Device Characteristics, B2h Logical Block Provisioning. LU designators come from
 *   lu-identity.ts (identical on every node); EXTENDED COPY names LUs by them
 *   (isDesignatedBy); target-port designators come from the nexus (different per port).
 * - EVPD = 0 with a non-zero PAGE CODE, or an unknown page: INVALID FIELD IN CDB (byte 2).
 */
import { readUint16 } from './cdb.js';
import { type CommandContext, checkCondition, good, type LuRuntime, truncate } from './command-context.js';
import type { Nexus, ScsiResult } from './scsi-types.js';
import { invalidFieldInCdb } from './sense.js';

export const STANDARD_INQUIRY_LENGTH_BYTES = 96;

/** VERSION DESCRIPTOR codes (SPC-4 version descriptor values, "no version claimed" variants). */
export const VersionDescriptor = { SAM_5: 0x00a0, SPC_4: 0x0460, SBC_3: 0x04c0, ISCSI: 0x0960 } as const;

export const VpdPage = {
  SUPPORTED_PAGES: 0x00,
  UNIT_SERIAL_NUMBER: 0x80,
  DEVICE_IDENTIFICATION: 0x83,
  EXTENDED_INQUIRY: 0x86,
  BLOCK_LIMITS: 0xb0,
  BLOCK_DEVICE_CHARACTERISTICS: 0xb1,
  LOGICAL_BLOCK_PROVISIONING: 0xb2,
} as const;

const SUPPORTED_PAGES: readonly number[] = Object.values(VpdPage);

function ascii(text: string, lengthBytes: number): Buffer {
  const field = Buffer.alloc(lengthBytes, 0x20);
  field.write(text.replace(/[^\x20-\x7e]/g, '?').slice(0, lengthBytes), 0, 'latin1');
  return field;
}

export function standardInquiry(lu: LuRuntime): Buffer {
  const data = Buffer.alloc(STANDARD_INQUIRY_LENGTH_BYTES);
  data[0] = 0x00; // PERIPHERAL QUALIFIER 000b, PERIPHERAL DEVICE TYPE 00h (direct access block device)
  data[1] = lu.removable ? 0x80 : 0x00; // RMB
  data[2] = 0x06; // VERSION: SPC-4
  data[3] = 0x10 | 0x02; // HISUP, RESPONSE DATA FORMAT 2
  data[4] = STANDARD_INQUIRY_LENGTH_BYTES - 5; // ADDITIONAL LENGTH
  // TPGS 01b: implicit only; 11b: and explicit. 3PC: EXTENDED COPY (spc-extended-copy.ts).
  data[5] = (lu.cluster === undefined ? 0x10 : 0x30) | 0x08;
  data[6] = lu.multiPort ? 0x10 : 0x00; // MULTIP
  data[7] = 0x02; // CMDQUE
  ascii(lu.strings.vendor, 8).copy(data, 8);
  ascii(lu.strings.product, 16).copy(data, 16);
  ascii(lu.strings.revision, 4).copy(data, 32);
  const descriptors = [
    VersionDescriptor.SAM_5,
    VersionDescriptor.ISCSI,
    VersionDescriptor.SPC_4,
    VersionDescriptor.SBC_3,
  ];
  descriptors.forEach((code, index) => {
    data.writeUInt16BE(code, 58 + 2 * index);
  });
  return data;
}

function vpd(pageCode: number, body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header[1] = pageCode;
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

/** One designation descriptor (SPC-4). */
function designator(
  options: { protocol: number; codeSet: number; piv: boolean; association: number; type: number },
  value: Buffer,
): Buffer {
  const header = Buffer.alloc(4);
  header[0] = ((options.protocol & 0x0f) << 4) | (options.codeSet & 0x0f);
  header[1] = (options.piv ? 0x80 : 0) | ((options.association & 0x03) << 4) | (options.type & 0x0f);
  header[3] = value.length;
  return Buffer.concat([header, value]);
}

const CodeSet = { BINARY: 1, ASCII: 2, UTF8: 3 } as const;
const Association = { LOGICAL_UNIT: 0, TARGET_PORT: 1 } as const;
const DesignatorType = {
  T10_VENDOR_ID: 1,
  NAA: 3,
  RELATIVE_TARGET_PORT: 4,
  TARGET_PORT_GROUP: 5,
  SCSI_NAME_STRING: 8,
} as const;
const PROTOCOL_ISCSI = 5;

/** SCSI name string: UTF-8, NUL terminated, NUL padded to a multiple of 4 (SPC-4). */
function scsiNameString(name: string): Buffer {
  const text = Buffer.from(name, 'utf8');
  const lengthBytes = Math.min(252, Math.ceil((text.length + 1) / 4) * 4);
  const field = Buffer.alloc(lengthBytes);
  text.copy(field, 0, 0, lengthBytes - 1);
  return field;
}

function twoByteId(id: number): Buffer {
  const value = Buffer.alloc(4);
  value.writeUInt16BE(id & 0xffff, 2);
  return value;
}

/** The LU's own designation descriptors (association: logical unit): NAA 6, then T10 vendor ID. */
export function logicalUnitDesignators(lu: LuRuntime): Buffer[] {
  const lu0 = { protocol: 0, piv: false, association: Association.LOGICAL_UNIT };
  const t10 = Buffer.concat([ascii(lu.strings.vendor, 8), Buffer.from(lu.identity.serial, 'latin1')]);
  return [
    designator({ ...lu0, codeSet: CodeSet.BINARY, type: DesignatorType.NAA }, lu.identity.naa),
    designator({ ...lu0, codeSet: CodeSet.ASCII, type: DesignatorType.T10_VENDOR_ID }, t10),
  ];
}

/**
 * Whether a designation descriptor (4-byte header and designator, as an EXTENDED COPY CSCD
 * descriptor carries it) names this LU: CODE SET, ASSOCIATION, DESIGNATOR TYPE and the designator
 * equal one of `logicalUnitDesignators`; PROTOCOL IDENTIFIER and PIV are not compared.
 */
export function isDesignatedBy(lu: LuRuntime, descriptor: Buffer): boolean {
  if (descriptor.length < 4 || descriptor.length !== 4 + descriptor[3]!) return false;
  return logicalUnitDesignators(lu).some(
    (own) =>
      (own[0]! & 0x0f) === (descriptor[0]! & 0x0f) &&
      (own[1]! & 0x3f) === (descriptor[1]! & 0x3f) &&
      own.subarray(3).equals(descriptor.subarray(3)),
  );
}

export function deviceIdentificationPage(lu: LuRuntime, nexus: Nexus): Buffer {
  const port = { protocol: PROTOCOL_ISCSI, piv: true, association: Association.TARGET_PORT };
  return vpd(
    VpdPage.DEVICE_IDENTIFICATION,
    Buffer.concat([
      ...logicalUnitDesignators(lu),
      designator(
        { ...port, codeSet: CodeSet.UTF8, type: DesignatorType.SCSI_NAME_STRING },
        scsiNameString(nexus.targetPortName),
      ),
      designator(
        { ...port, codeSet: CodeSet.BINARY, type: DesignatorType.RELATIVE_TARGET_PORT },
        twoByteId(nexus.relativeTargetPortId),
      ),
      designator(
        { ...port, codeSet: CodeSet.BINARY, type: DesignatorType.TARGET_PORT_GROUP },
        twoByteId(nexus.targetPortGroup),
      ),
    ]),
  );
}

/** Extended INQUIRY Data VPD page (SPC-4): task attributes, volatile cache. */
function extendedInquiryPage(): Buffer {
  const body = Buffer.alloc(0x3c);
  body[1] = 0x04 | 0x02 | 0x01; // HEADSUP, ORDSUP, SIMPSUP
  body[2] = 0x01; // V_SUP: a volatile cache exists (WCE)
  return vpd(VpdPage.EXTENDED_INQUIRY, body);
}

/** Block Limits VPD page (SBC-3), page length 3Ch. */
export function blockLimitsPage(lu: LuRuntime): Buffer {
  const limits = lu.limits;
  const body = Buffer.alloc(0x3c);
  body[0] = 0x00; // WSNZ = 0: WRITE SAME with 0 blocks means "to the last LBA"
  body[1] = limits.maxCompareAndWriteBlocks & 0xff;
  body.writeUInt16BE(limits.optimalTransferGranularityBlocks & 0xffff, 2);
  body.writeUInt32BE(limits.maxTransferBlocks, 4);
  body.writeUInt32BE(limits.optimalTransferBlocks, 8);
  body.writeUInt32BE(limits.maxTransferBlocks, 12); // MAXIMUM PREFETCH LENGTH
  if (lu.backend.thin) {
    body.writeUInt32BE(limits.maxUnmapBlocks, 16);
    body.writeUInt32BE(limits.maxUnmapDescriptors, 20);
    body.writeUInt32BE(limits.optimalUnmapGranularityBlocks, 24);
  }
  body.writeBigUInt64BE(BigInt(limits.maxWriteSameBlocks), 32);
  // SBC-4 WRITE ATOMIC(16) (sbc-write-atomic.ts); no ATOMIC BOUNDARY support (both fields 0).
  body.writeUInt32BE(limits.maxAtomicTransferBlocks, 40);
  body.writeUInt32BE(limits.atomicAlignmentBlocks, 44);
  body.writeUInt32BE(limits.atomicGranularityBlocks, 48);
  return vpd(VpdPage.BLOCK_LIMITS, body);
}

/**
 * Block Device Characteristics VPD page (SBC-4): MEDIUM ROTATION RATE 1 = non-rotating. WABEREQ
 * 01b on a thin LU, the only kind offering SANITIZE BLOCK ERASE: a block it erased reads with
 * GOOD (as zeros, sbc-sanitize.ts); 00b elsewhere. WACEREQ 00b: no CRYPTOGRAPHIC ERASE.
 */
function blockDeviceCharacteristicsPage(lu: LuRuntime): Buffer {
  const body = Buffer.alloc(0x3c);
  body.writeUInt16BE(0x0001, 0);
  body[3] = lu.backend.thin ? 0x40 : 0x00; // WABEREQ, WACEREQ 00b, NOMINAL FORM FACTOR 0 (not reported)
  return vpd(VpdPage.BLOCK_DEVICE_CHARACTERISTICS, body);
}

/** Logical Block Provisioning VPD page (SBC-3). */
export function logicalBlockProvisioningPage(lu: LuRuntime): Buffer {
  const body = Buffer.alloc(4);
  if (lu.backend.thin) {
    body[1] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ (unmapped blocks read as zeros)
    body[2] = 0x02; // PROVISIONING TYPE: thin
  }
  return vpd(VpdPage.LOGICAL_BLOCK_PROVISIONING, body);
}

function vpdPage(lu: LuRuntime, nexus: Nexus, pageCode: number): Buffer | undefined {
  switch (pageCode) {
    case VpdPage.SUPPORTED_PAGES:
      return vpd(pageCode, Buffer.from(SUPPORTED_PAGES));
    case VpdPage.UNIT_SERIAL_NUMBER:
      return vpd(pageCode, Buffer.from(lu.identity.serial, 'latin1'));
    case VpdPage.DEVICE_IDENTIFICATION:
      return deviceIdentificationPage(lu, nexus);
    case VpdPage.EXTENDED_INQUIRY:
      return extendedInquiryPage();
    case VpdPage.BLOCK_LIMITS:
      return blockLimitsPage(lu);
    case VpdPage.BLOCK_DEVICE_CHARACTERISTICS:
      return blockDeviceCharacteristicsPage(lu);
    case VpdPage.LOGICAL_BLOCK_PROVISIONING:
      return logicalBlockProvisioningPage(lu);
    default:
      return undefined;
  }
}

export function inquiry(context: CommandContext): ScsiResult {
  const { cdb, lu, nexus } = context;
  const evpd = (cdb[1]! & 0x01) !== 0;
  const pageCode = cdb[2]!;
  const allocationLength = readUint16(cdb, 3);
  if (!evpd) {
    if (pageCode !== 0) return checkCondition(invalidFieldInCdb(2, 7));
    return good(truncate(standardInquiry(lu), allocationLength));
  }
  const page = vpdPage(lu, nexus, pageCode);
  if (page === undefined) return checkCondition(invalidFieldInCdb(2, 7));
  return good(truncate(page, allocationLength));
}
