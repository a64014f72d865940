/**
 * Goal: the receiving side of both codecs holds up against any bytes, as properties fast-check
 * can shrink: a stream of valid PDUs cut anywhere frames back into exactly those PDUs, with or
 * without digests; any bytes, and valid PDUs with bits flipped, give frames or typed errors (never
 * a throw), every frame that decodes re-encodes to itself, and the framer never holds more than
 * one PDU while it waits; text segments parse to pairs or a typed error; the sheep framer never
 * hands out a payload above its cap and skips oversize ones without holding them.
 * Method: the real codec functions (src/iscsi/pdu, src/sheepdog/wire) on fast-check inputs,
 * including the PDU arbitraries of test/iscsi/pdu/arbitraries.ts.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { DATA_SEGMENT_LENGTH_MAX, type DigestOptions } from '../../src/iscsi/pdu/bhs.js';
import { decodePdu } from '../../src/iscsi/pdu/decode.js';
import { encodePduBytes } from '../../src/iscsi/pdu/encode.js';
import { PduFramer } from '../../src/iscsi/pdu/framer.js';
import type { Pdu } from '../../src/iscsi/pdu/messages.js';
import { rejectFor } from '../../src/iscsi/pdu/reject.js';
import { encodeTextData, parseTextData } from '../../src/iscsi/pdu/text.js';
import { SD_HEADER_SIZE } from '../../src/sheepdog/wire/constants.js';
import { SheepFramer } from '../../src/sheepdog/wire/framer.js';
import { ANY_PDU } from '../iscsi/pdu/arbitraries.js';

const digestsArb = fc.record({ headerDigest: fc.boolean(), dataDigest: fc.boolean() });
const cutsArb = fc.array(fc.nat(20_000), { maxLength: 20 });

/** `bytes` cut at `cuts` (clamped, sorted), as the chunks a socket might deliver. */
function cut(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let at = 0;
  for (const point of [...points, bytes.length]) {
    if (point > at) chunks.push(bytes.subarray(at, point));
    at = Math.max(at, point);
  }
  return chunks;
}

/** Frames and decodes everything; checks the oracles every receiver relies on. */
function receive(framer: PduFramer, chunks: readonly Buffer[], digests: DigestOptions) {
  const pdus: Pdu[] = [];
  const errors: string[] = [];
  for (const chunk of chunks) {
    framer.push(chunk);
    for (let item = framer.next(); item !== undefined; item = framer.next()) {
      if (item.kind === 'error') {
        errors.push(item.error.code);
        if (item.error.answer !== undefined) {
          const reject = rejectFor(item.bhs, item.error.answer, { statSN: 0, expCmdSN: 0, maxCmdSN: 0 });
          expect(reject.data).toHaveLength(48);
        }
        continue;
      }
      const decoded = decodePdu(item);
      if (!decoded.ok) {
        errors.push(decoded.error.code);
        continue;
      }
      // Whatever decodes re-encodes to bytes that decode to the same PDU.
      const wire = encodePduBytes(decoded.value, digests);
      const headerEnd = 48 + wire[4]! * 4 + (digests.headerDigest ? 4 : 0);
      const again = decodePdu({
        bhs: wire.subarray(0, 48),
        ahs: wire.subarray(48, 48 + wire[4]! * 4),
        data: wire.subarray(headerEnd, headerEnd + decoded.value.data.length),
      });
      expect(again).toEqual({ ok: true, value: decoded.value });
      pdus.push(decoded.value);
    }
    expect(framer.bufferedBytes).toBeLessThanOrEqual(framer.pduBytesMax);
  }
  return { pdus, errors };
}

describe('iSCSI framing and decoding', () => {
  propTest.prop([fc.array(ANY_PDU, { minLength: 1, maxLength: 5 }), digestsArb, cutsArb], { numRuns: 300 })(
    'valid PDUs, cut anywhere, frame back into exactly those PDUs',
    (pdus, digests, cuts) => {
      const stream = Buffer.concat(pdus.map((pdu) => encodePduBytes(pdu, digests)));
      const framer = new PduFramer({ ...digests, maxRecvDataSegmentLength: DATA_SEGMENT_LENGTH_MAX });
      const { pdus: received, errors } = receive(framer, cut(stream, cuts), digests);
      expect(errors).toEqual([]);
      expect(received).toEqual(pdus);
      expect(framer.bufferedBytes).toBe(0);
    },
  );

  propTest.prop(
    [
      fc.uint8Array({ maxLength: 3000 }),
      digestsArb,
      fc.constantFrom(0, 1, 512, 8192, 262_144),
      fc.constantFrom('skip' as const, 'stop' as const),
      cutsArb,
    ],
    { numRuns: 1000 },
  )(
    'any bytes give frames or typed errors, and at most one PDU is held',
    (bytes, digests, maxRecv, oversize, cuts) => {
      const framer = new PduFramer({
        ...digests,
        maxRecvDataSegmentLength: maxRecv,
        oversizeDataSegment: oversize,
      });
      receive(framer, cut(Buffer.from(bytes), cuts), digests);
    },
  );

  propTest.prop([ANY_PDU, digestsArb, fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), cutsArb], {
    numRuns: 1000,
  })('a valid PDU with bits flipped gives frames or typed errors', (pdu, digests, flips, cuts) => {
    const wire = Buffer.from(encodePduBytes(pdu, digests));
    for (const flip of flips) {
      const bit = flip % (wire.length * 8);
      wire[bit >> 3] = wire[bit >> 3]! ^ (1 << (bit & 7));
    }
    const framer = new PduFramer({ ...digests, maxRecvDataSegmentLength: 8192 });
    receive(framer, cut(wire, cuts), digests);
  });
});

describe('text segments', () => {
  propTest.prop([fc.uint8Array({ maxLength: 600 })])('any bytes parse to pairs or a typed error', (bytes) => {
    const parsed = parseTextData(Buffer.from(bytes));
    if (parsed.ok) {
      const again = parseTextData(encodeTextData(parsed.value.pairs));
      expect(again.ok && again.value.pairs).toEqual(parsed.value.pairs);
    } else {
      expect(parsed.error.code).toMatch(/^ISCSI_ERR_TEXT_/);
    }
  });
});

describe('sheep framing', () => {
  propTest.prop(
    [
      fc.uint8Array({ maxLength: 2000 }),
      fc.constantFrom('request' as const, 'response' as const),
      fc.constantFrom(0, 16, 512, 64 * 1024 * 1024),
      cutsArb,
    ],
    { numRuns: 1000 },
  )('any bytes: payloads within the cap, oversize ones skipped and never held', (bytes, side, cap, cuts) => {
    const framer = new SheepFramer({ side, payloadBytesMax: cap });
    let pushed = 0;
    for (const chunk of cut(Buffer.from(bytes), cuts)) {
      framer.push(chunk);
      pushed += chunk.length;
      for (let frame = framer.next(); frame !== undefined; frame = framer.next()) {
        expect(frame.header).toHaveLength(SD_HEADER_SIZE);
        if (frame.kind === 'oversize') expect(frame.payloadBytes).toBeGreaterThan(cap);
        else expect(frame.payload?.length ?? 0).toBeLessThanOrEqual(cap);
      }
      expect(framer.bufferedBytes).toBeLessThanOrEqual(Math.min(pushed, SD_HEADER_SIZE + cap));
    }
  });
});
