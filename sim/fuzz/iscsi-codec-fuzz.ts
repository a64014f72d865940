/**
 * The codec fuzzer: the iSCSI PDU codec (framer, decoder, encoder, text and sense segments,
 * Reject building) and the sheep wire codec (headers, framer, inode/attr/node/state decoders),
 * pure functions, no world.
 *
 * Each case:
 * 1. A valid PDU of a random kind (pdu-gen.ts) with random digests: encode, frame it from random
 *    chunks with a MaxRecvDataSegmentLength that admits it, decode. Oracle: exactly one frame,
 *    decoded equal to the PDU, and encode(decoded) byte-identical (the codec is a bijection on
 *    what it produces).
 * 2. Its wire bytes mutated (mutateWire), framed with random options (digests that may not
 *    match, limits, skip or stop on oversize), every frame decoded; every decoded PDU must
 *    re-encode and decode to itself, a data segment must parse as text or sense without throwing,
 *    every error must be one of the typed codes, and a Reject must build from every errored BHS.
 *    Memory oracle: once next() wants more bytes the framer holds less than one PDU's worth.
 * 3. One case in four also runs sheep bytes: a request/response header round trip, a mutated
 *    stream through SheepFramer, and the payload decoders on mutated payloads.
 * Any throw is a failure: decoders return typed errors, never throw on peer bytes.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Rng } from '../../src/core/rng.js';
import { DATA_SEGMENT_LENGTH_MAX, type DigestOptions } from '../../src/iscsi/pdu/bhs.js';
import { decodePdu } from '../../src/iscsi/pdu/decode.js';
import { encodePduBytes } from '../../src/iscsi/pdu/encode.js';
import type { PduErrorCode } from '../../src/iscsi/pdu/errors.js';
import { PduFramer } from '../../src/iscsi/pdu/framer.js';
import type { Pdu } from '../../src/iscsi/pdu/messages.js';
import { rejectFor } from '../../src/iscsi/pdu/reject.js';
import { decodeSenseSegment } from '../../src/iscsi/pdu/sense.js';
import { encodeTextData, parseTextData, TextAccumulator } from '../../src/iscsi/pdu/text.js';
import {
  SD_ATTR_OBJ_SIZE,
  SD_HEADER_SIZE,
  SD_INODE_HEADER_SIZE,
  SdOp,
} from '../../src/sheepdog/wire/constants.js';
import { type FramerSide, SheepFramer } from '../../src/sheepdog/wire/framer.js';
import {
  decodeRequestHeader,
  decodeResponseHeader,
  encodeRequestHeader,
  encodeResponseHeader,
} from '../../src/sheepdog/wire/header.js';
import { decodeInodeHeader } from '../../src/sheepdog/wire/inode.js';
import { decodeSdNodeList } from '../../src/sheepdog/wire/node-id.js';
import { decodeVdiAttr } from '../../src/sheepdog/wire/vdi-attr.js';
import { decodeVdiStateList } from '../../src/sheepdog/wire/vdi-state.js';
import {
  check,
  type FuzzBatch,
  type FuzzTarget,
  flipBits,
  hostileU32,
  randomChunks,
  rngBytes,
  setBytes,
  type Tally,
  truncate,
} from './fuzz-common.js';
import { mutateWire, randomPdu } from './pdu-gen.js';

const PDU_ERROR_CODES: ReadonlySet<PduErrorCode> = new Set<PduErrorCode>([
  'ISCSI_ERR_UNKNOWN_OPCODE',
  'ISCSI_ERR_FRAME_MISMATCH',
  'ISCSI_ERR_BAD_AHS',
  'ISCSI_ERR_HEADER_DIGEST',
  'ISCSI_ERR_DATA_DIGEST',
  'ISCSI_ERR_OVERSIZE_DATA_SEGMENT',
  'ISCSI_ERR_TEXT_MISSING_EQUALS',
  'ISCSI_ERR_TEXT_BAD_KEY',
  'ISCSI_ERR_TEXT_VALUE_TOO_LONG',
  'ISCSI_ERR_TEXT_NOT_UTF8',
  'ISCSI_ERR_TEXT_UNTERMINATED',
  'ISCSI_ERR_TEXT_TOO_LONG',
  'ISCSI_ERR_BAD_SENSE_SEGMENT',
]);

const MAX_RECV_CHOICES = [0, 1, 512, 8192, 65536, 262144, DATA_SEGMENT_LENGTH_MAX] as const;

function randomDigests(rng: Rng): DigestOptions {
  return { headerDigest: rng.chance(0.3), dataDigest: rng.chance(0.3) };
}

function describePdu(pdu: Pdu): string {
  return `${pdu.kind} (${pdu.ahs.length} AHS, ${pdu.data.length}-byte data)`;
}

/** decode(encode(pdu)) is pdu and encode is stable: the round trip every decoded PDU must pass. */
function checkRoundTrip(pdu: Pdu, digests: DigestOptions, context: string): Buffer {
  const wire = encodePduBytes(pdu, digests);
  const ahsBytes = wire[4]! * 4;
  const headerEnd = 48 + ahsBytes + (digests.headerDigest ? 4 : 0);
  const frame = {
    bhs: wire.subarray(0, 48),
    ahs: wire.subarray(48, 48 + ahsBytes),
    data: wire.subarray(headerEnd, headerEnd + pdu.data.length),
  };
  const again = decodePdu(frame);
  check(
    again.ok,
    `${context}: decode(encode(${describePdu(pdu)})) failed: ${again.ok ? '' : again.error.message}`,
  );
  check(
    isDeepStrictEqual(again.value, pdu),
    `${context}: decode(encode(pdu)) differs from pdu for ${describePdu(pdu)}`,
  );
  const rewire = encodePduBytes(again.value, digests);
  check(rewire.equals(wire), `${context}: encode is not stable for ${describePdu(pdu)}`);
  return wire;
}

/** The data-segment parsers a receiver runs on a decoded PDU: none may throw. */
function parseSegments(pdu: Pdu, tally: Tally): void {
  if (
    pdu.kind === 'login-request' ||
    pdu.kind === 'login-response' ||
    pdu.kind === 'text-request' ||
    pdu.kind === 'text-response'
  ) {
    const parsed = parseTextData(pdu.data);
    if (parsed.ok) {
      const again = parseTextData(encodeTextData(parsed.value.pairs));
      check(
        again.ok && isDeepStrictEqual(again.value.pairs, parsed.value.pairs),
        'text: parse(encode(pairs)) differs from pairs',
      );
      tally.add('text:ok');
    } else {
      check(PDU_ERROR_CODES.has(parsed.error.code), `text: untyped error code ${parsed.error.code}`);
      tally.add(`text:${parsed.error.code}`);
    }
    const accumulator = new TextAccumulator({ bytesMax: 4096 });
    const half = pdu.data.subarray(0, pdu.data.length >> 1);
    accumulator.push(half, true);
    const joined = accumulator.push(pdu.data.subarray(half.length), false);
    if (joined.ok) check(joined.value?.equals(pdu.data), 'text accumulator: the joined text differs');
  }
  if (pdu.kind === 'scsi-response' || pdu.kind === 'async-message') {
    const sense = decodeSenseSegment(pdu.data);
    tally.add(sense.ok ? 'sense:ok' : `sense:${sense.error.code}`);
  }
}

async function runIscsiCase(rng: Rng, tally: Tally): Promise<void> {
  // 1. A valid PDU round-trips through encoder, framer (random chunks) and decoder.
  const { pdu } = randomPdu(rng);
  const digests = randomDigests(rng);
  const wire = checkRoundTrip(pdu, digests, 'valid PDU');
  const framer = new PduFramer({
    ...digests,
    maxRecvDataSegmentLength: rng.chance(0.5) ? DATA_SEGMENT_LENGTH_MAX : Math.max(pdu.data.length, 8192),
  });
  const frames: Pdu[] = [];
  for (const chunk of randomChunks(rng, wire)) {
    framer.push(chunk);
    for (let item = framer.next(); item !== undefined; item = framer.next()) {
      check(
        item.kind === 'frame',
        `valid PDU: the framer reported ${item.kind === 'error' ? item.error.code : ''}`,
      );
      const decoded = decodePdu(item);
      check(decoded.ok, `valid PDU: a framed ${describePdu(pdu)} did not decode`);
      frames.push(decoded.value);
    }
  }
  check(frames.length === 1, `valid PDU: ${frames.length} frames from one ${describePdu(pdu)}`);
  check(isDeepStrictEqual(frames[0], pdu), `valid PDU: the framed ${describePdu(pdu)} decoded differently`);
  check(framer.bufferedBytes === 0, `valid PDU: ${framer.bufferedBytes} bytes left in the framer`);
  tally.add('valid:round-trip');

  // 2. Mutated bytes through a framer with random options.
  const other = encodePduBytes(randomPdu(rng).pdu, digests);
  const { bytes, mutation } = mutateWire(rng, wire, digests, other);
  tally.add(`mutation:${mutation}`);
  const options = rng.chance(0.8) ? digests : randomDigests(rng);
  const hostile = new PduFramer({
    ...options,
    maxRecvDataSegmentLength: rng.pick(MAX_RECV_CHOICES),
    oversizeDataSegment: rng.chance(0.5) ? 'skip' : 'stop',
  });
  for (const chunk of randomChunks(rng, bytes)) {
    hostile.push(chunk);
    for (let item = hostile.next(); item !== undefined; item = hostile.next()) {
      if (item.kind === 'error') {
        check(PDU_ERROR_CODES.has(item.error.code), `framer: untyped error code ${item.error.code}`);
        check(item.bhs.length === 48, `framer: an error carries a ${item.bhs.length}-byte BHS`);
        check(!item.fatal || hostile.stopped, 'framer: a fatal error left the framer running');
        tally.add(`framing:${item.error.code}${item.fatal ? ':fatal' : ''}`);
        if (item.error.answer !== undefined) {
          const reject = rejectFor(item.bhs, item.error.answer, { statSN: 1, expCmdSN: 2, maxCmdSN: 3 });
          checkRoundTrip(reject, options, 'Reject of a framing error');
        }
        continue;
      }
      const decoded = decodePdu(item);
      if (!decoded.ok) {
        check(PDU_ERROR_CODES.has(decoded.error.code), `decode: untyped error code ${decoded.error.code}`);
        tally.add(`decode:${decoded.error.code}`);
        if (decoded.error.answer !== undefined) {
          checkRoundTrip(
            rejectFor(item.bhs, decoded.error.answer, { statSN: 1, expCmdSN: 2, maxCmdSN: 3 }),
            options,
            'Reject of a decode error',
          );
        }
        continue;
      }
      tally.add(`decoded:${decoded.value.kind}`);
      checkRoundTrip(decoded.value, options, `decoded from ${mutation} bytes`);
      parseSegments(decoded.value, tally);
    }
    check(
      hostile.bufferedBytes <= hostile.pduBytesMax,
      `framer holds ${hostile.bufferedBytes} bytes while waiting, above one PDU (${hostile.pduBytesMax})`,
    );
  }
  if (hostile.stopped) {
    check(hostile.bufferedBytes === 0, 'framer: stopped but still holds bytes');
    hostile.push(rngBytes(rng, 64));
    check(hostile.next() === undefined && hostile.bufferedBytes === 0, 'framer: a stopped framer took bytes');
  }
}

// ---- sheep wire ---------------------------------------------------------------------------------

const SHEEP_OPCODES: readonly number[] = Object.values(SdOp);

function sheepHeaderBytes(rng: Rng): Buffer {
  const bytes = rngBytes(rng, SD_HEADER_SIZE);
  if (rng.chance(0.8)) bytes[1] = rng.pick(SHEEP_OPCODES);
  if (rng.chance(0.7)) bytes.writeUInt32LE(rng.chance(0.7) ? rng.int(0, 600) : hostileU32(rng), 12);
  return bytes;
}

function runSheepCase(rng: Rng, tally: Tally): void {
  // Headers: decode never fails on content; decode(encode(decode(b))) is decode(b).
  const header = sheepHeaderBytes(rng);
  const request = decodeRequestHeader(header);
  check(
    isDeepStrictEqual(decodeRequestHeader(encodeRequestHeader(request)), request),
    'sheep: request header round trip',
  );
  const response = decodeResponseHeader(header);
  check(
    isDeepStrictEqual(decodeResponseHeader(encodeResponseHeader(response)), response),
    'sheep: response header round trip',
  );
  // A stream of headers with payloads, mutated, through the framer.
  const side: FramerSide = rng.chance(0.5) ? 'request' : 'response';
  const payloadBytesMax = rng.pick([0, 64, 4096, 64 * 1024 * 1024]);
  const parts: Buffer[] = [];
  for (let i = rng.int(1, 4); i > 0; i--) {
    const h = sheepHeaderBytes(rng);
    const flags = h.readUInt16LE(2);
    const declared = h.readUInt32LE(12);
    const carries = side === 'response' || (flags & 1) !== 0;
    parts.push(h);
    if (carries && declared <= 600) parts.push(rngBytes(rng, declared));
  }
  let stream: Buffer = Buffer.concat(parts);
  if (rng.chance(0.3)) stream = flipBits(rng, stream, 4);
  if (rng.chance(0.2)) stream = truncate(rng, stream, [SD_HEADER_SIZE, 2 * SD_HEADER_SIZE]);
  const framer = new SheepFramer({ side, payloadBytesMax });
  for (const chunk of randomChunks(rng, stream)) {
    framer.push(chunk);
    for (let frame = framer.next(); frame !== undefined; frame = framer.next()) {
      check(frame.header.length === SD_HEADER_SIZE, `sheep framer: a ${frame.header.length}-byte header`);
      if (frame.kind === 'oversize') {
        check(frame.payloadBytes > payloadBytesMax, 'sheep framer: oversize below the limit');
        tally.add(`sheep-frame:oversize:${side}`);
        continue;
      }
      check(
        (frame.payload?.length ?? 0) <= payloadBytesMax,
        `sheep framer: a ${frame.payload?.length}-byte payload above the ${payloadBytesMax}-byte limit`,
      );
      tally.add(`sheep-frame:message:${side}`);
    }
    check(
      framer.bufferedBytes <= SD_HEADER_SIZE + payloadBytesMax + chunk.length,
      `sheep framer holds ${framer.bufferedBytes} bytes, above one message`,
    );
  }
  // Payload decoders on mutated payloads.
  const payload = (bytes: number) => {
    const base = rngBytes(rng, bytes);
    return rng.chance(0.5) ? truncate(rng, base) : setBytes(rng, base);
  };
  const results = [
    decodeInodeHeader(payload(rng.chance(0.5) ? SD_INODE_HEADER_SIZE : rng.int(0, 600))),
    decodeVdiAttr(payload(rng.chance(0.05) ? SD_ATTR_OBJ_SIZE : rng.int(700, 1000))),
    decodeSdNodeList(payload(rng.int(0, 400))),
    decodeVdiStateList(payload(rng.int(0, 1500))),
  ];
  for (const result of results)
    tally.add(result.ok ? 'sheep-decode:ok' : `sheep-decode:${result.error.code}`);
}

export const codecFuzzTarget: FuzzTarget = {
  name: 'codec',
  batchSize: 1,
  async openBatch(): Promise<FuzzBatch> {
    return {
      async runCase(rng, _caseIndex, tally) {
        await runIscsiCase(rng, tally);
        if (rng.chance(0.25)) runSheepCase(rng, tally);
      },
      async close() {},
    };
  },
};
