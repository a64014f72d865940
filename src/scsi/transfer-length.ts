/**
 * The SCSI data-out length a CDB asks for (SPDTL), for the commands whose data-out is a number of
 * logical blocks. The iSCSI layer compares it with the initiator's ExpectedDataTransferLength
 * (RFC 7143 §11.4.5, FCP-4's residual rules, which libiscsi's residual tests follow): when the
 * initiator sends less than the command needs, nothing is written and the answer is ILLEGAL
 * REQUEST / INVALID FIELD IN COMMAND INFORMATION UNIT with a residual overflow; when it sends
 * more, only the command's own length is used and the rest is a residual underflow.
 * Commands with parameter lists (MODE SELECT, UNMAP, PERSISTENT RESERVE OUT...) are not listed:
 * they check their own parameter list lengths.
 */
export function blockDataOutBytes(cdb: Buffer, blockSizeBytes: number): number | undefined {
  const blocks = blockDataOutCount(cdb);
  return blocks === undefined ? undefined : blocks * blockSizeBytes;
}

function blockDataOutCount(cdb: Buffer): number | undefined {
  switch (cdb[0]) {
    case 0x0a: // WRITE(6): 0 means 256 blocks
      return cdb[4] === 0 ? 256 : cdb[4];
    case 0x2a: // WRITE(10)
    case 0x2e: // WRITE AND VERIFY(10)
      return cdb.readUInt16BE(7);
    case 0xaa: // WRITE(12)
    case 0xae: // WRITE AND VERIFY(12)
      return cdb.readUInt32BE(6);
    case 0x8a: // WRITE(16)
    case 0x8e: // WRITE AND VERIFY(16)
    case 0x8b: // ORWRITE(16)
      return cdb.readUInt32BE(10);
    case 0x89: // COMPARE AND WRITE: verify data then write data
      return 2 * (cdb[13] ?? 0);
    case 0x9c: // WRITE ATOMIC(16)
      return cdb.readUInt16BE(12);
    default:
      return undefined;
  }
}

/**
 * The CDB of a block WRITE-like command cut down to `availableBytes` of data-out (whole blocks),
 * for FCP-4's option (a) when the initiator expects to send less than the command asks: only
 * what it sends is written. Undefined when the command cannot be cut (WRITE(6), where 0 means
 * 256 blocks, and COMPARE AND WRITE and WRITE ATOMIC, which are all or nothing): answer INVALID FIELD IN COMMAND
 * INFORMATION UNIT instead.
 */
export function truncateBlockDataOut(
  cdb: Buffer,
  blockSizeBytes: number,
  availableBytes: number,
): Buffer | undefined {
  const blocks = Math.floor(availableBytes / blockSizeBytes);
  const cut = Buffer.from(cdb);
  switch (cdb[0]) {
    case 0x2a:
    case 0x2e:
      cut.writeUInt16BE(blocks, 7);
      return cut;
    case 0xaa:
    case 0xae:
      cut.writeUInt32BE(blocks, 6);
      return cut;
    case 0x8a:
    case 0x8e:
    case 0x8b:
      cut.writeUInt32BE(blocks, 10);
      return cut;
    default:
      return undefined;
  }
}
