/**
 * Which proto_ver a server accepts (section 1.4, sheep's `queue_request`):
 * - public opcodes (< 0x80): anything <= SD_PROTO_VER (2). 0 is fine (tgt's RELEASE_VDI sends 0),
 *   1 is what tgt and qemu send;
 * - internal opcodes (>= 0x80): exactly SD_SHEEP_PROTO_VER (0x0a on sheep 1.0).
 * Anything else is answered with SD_RES_VER_MISMATCH.
 */
import { isInternalOpcode, opcodeName, SD_PROTO_VER, SD_SHEEP_PROTO_VER, SdRes } from './constants.js';
import type { WireError } from './errors.js';

/** undefined when `protoVer` is acceptable for `opcode`, else the error to log and answer. */
export function checkRequestProtoVer(protoVer: number, opcode: number): WireError | undefined {
  if (isInternalOpcode(opcode)) {
    if (protoVer === SD_SHEEP_PROTO_VER) return undefined;
    return {
      code: 'SD_ERR_BAD_PROTO_VER',
      message: `${opcodeName(opcode)} needs proto_ver 0x${SD_SHEEP_PROTO_VER.toString(16)} (internal op) but got 0x${protoVer.toString(16)}; use a dog of the same sheep version`,
      offset: 0,
      answer: SdRes.VER_MISMATCH,
    };
  }
  if (protoVer <= SD_PROTO_VER) return undefined;
  return {
    code: 'SD_ERR_BAD_PROTO_VER',
    message: `${opcodeName(opcode)} accepts proto_ver 0..${SD_PROTO_VER} but got 0x${protoVer.toString(16)}; the client speaks a newer protocol`,
    offset: 0,
    answer: SdRes.VER_MISMATCH,
  };
}
