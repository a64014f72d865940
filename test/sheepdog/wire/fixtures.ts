/**
 * Hex vectors from the protocol doc (section 2.8: headers as tgt sends them for vid 0x7c2b25;
 * section 2.4/2.5: response bodies observed from sheep 1.0). Left of '|' are bytes 0-15
 * (proto_ver, opcode, flags, epoch, id, data_length); right are bytes 16-47.
 */
import { hex } from '../../support/bytes.js';

export const VID_TEST = 0x7c2b25;

export const LOCK_VDI_SHARED = hex(
  '01 12 01 00 00000000 00000000 00020000 | 00000000 00000000 00000000 00000000 00000000 01000000 00000000 00000000',
);
export const READ_OBJ_REFRESH = hex(
  '01 02 20 00 00000000 00000000 38124000 | 00000000 252b7c80 00000000 00000000 00000000 00000000 00000000 00000000',
);
export const CREATE_DATA_IDX10 = hex(
  '01 01 25 00 00000000 00000000 00100000 | 0a000000 252b7c00 00000000 00000000 01000000 00000000 00000000 00000000',
);
export const WRITE_INODE_IDX10 = hex(
  '01 03 21 00 00000000 00000000 04000000 | 00000000 252b7c80 00000000 00000000 01000000 00000000 60120000 00000000',
);
export const RELEASE_VDI_SHARED = hex(
  '00 13 00 00 00000000 00000000 00000000 | 00000000 00000000 252b7c00 00000000 00000000 01000000 00000000 00000000',
);
/** The doc shows the first 24 bytes; the rest of the header is zero. */
export const RSP_READ_INODE_INVALIDATED = hex(
  '00 02 00 00 01000000 00000000 00000000 | 1d000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000',
);
/** GET_VDI_INFO answer: body from section 2.4 (vdi_id 0x7c2b25, copies 1, bss 22). */
export const RSP_GET_VDI_INFO = hex(
  '00 14 00 00 01000000 00000000 00000000 | 00000000 00000000 252b7c00 00000000 01 16 0000 00000000 00000000 00000000',
);
/** GET_CLUSTER_DEFAULT answer: `01 00 16` at offset 20 (section 2.5). */
export const RSP_CLUSTER_DEFAULT = hex(
  '00 18 00 00 01000000 00000000 00000000 | 00000000 01 00 16 00 00000000 00000000 00000000 00000000 00000000 00000000',
);

/** LOCK_VDI payload: name "test" NUL-padded to 256, then an empty 256-byte tag. */
export const LOCK_PAYLOAD = (() => {
  const out = Buffer.alloc(512);
  out.write('test', 0, 'latin1');
  return out;
})();
/** A 4096-byte data payload with a recognisable pattern. */
export const DATA_PAYLOAD_4K = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff));
/** The data_vdi_id[10] update: vid 0x7c2b25 as u32 LE. */
export const INODE_UPDATE_PAYLOAD = hex('25 2b 7c 00');
