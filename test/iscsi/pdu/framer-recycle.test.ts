/**
 * Goal: PduFramer.recycle lets the framer reuse its own copy of a large data segment that spanned
 * chunks, and nothing else: a recycled copy serves the next large span with the right bytes;
 * views of pushed chunks, older copies, small copies and copies still in use are never reused.
 * Method: Data-Out PDUs with distinct byte patterns, encoded by the codec and pushed in chunks
 * smaller than their data segments (so they span) or larger (so they are views); frames are
 * checked by content and by which memory their data lives in (`buffer`, `byteOffset`).
 */
import { describe, expect, test } from 'vitest';
import { encodePduBytes } from '../../../src/iscsi/pdu/encode.js';
import { type Frame, PduFramer } from '../../../src/iscsi/pdu/framer.js';
import type { DataOutPdu } from '../../../src/iscsi/pdu/messages.js';

const NO_DIGESTS = { headerDigest: false, dataDigest: false };
const SEGMENT_MAX = 262144;

function dataOut(lengthBytes: number, fill: number, dataSN = 0): Buffer {
  const pdu: DataOutPdu = {
    kind: 'data-out',
    ahs: [],
    data: Buffer.alloc(lengthBytes, fill),
    final: true,
    lun: 0n,
    initiatorTaskTag: 1,
    targetTransferTag: 7,
    expStatSN: 1,
    dataSN,
    bufferOffset: 0,
  };
  return encodePduBytes(pdu, NO_DIGESTS);
}

/** Pushes `bytes` in chunks of `chunkBytes` and returns the frames that come out. */
function frames(framer: PduFramer, bytes: Buffer, chunkBytes: number): Frame[] {
  const out: Frame[] = [];
  for (let at = 0; at < bytes.length; at += chunkBytes) {
    framer.push(Buffer.from(bytes.subarray(at, at + chunkBytes)));
    for (let next = framer.next(); next !== undefined; next = framer.next()) {
      if (next.kind === 'error') throw new Error(next.error.message);
      out.push(next);
    }
  }
  return out;
}

function only(list: Frame[]): Frame {
  expect(list).toHaveLength(1);
  return list[0]!;
}

function sameMemory(a: Buffer, b: Buffer): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset;
}

describe('PduFramer.recycle', () => {
  test('a recycled large span copy carries the next large span, with its own bytes', () => {
    const framer = new PduFramer({ ...NO_DIGESTS, maxRecvDataSegmentLength: SEGMENT_MAX });
    const first = only(frames(framer, dataOut(256 * 1024, 0x11), 64 * 1024));
    expect(first.data.equals(Buffer.alloc(256 * 1024, 0x11))).toBe(true);
    framer.recycle(first.data);
    const second = only(frames(framer, dataOut(200 * 1024, 0x22), 64 * 1024));
    expect(sameMemory(second.data, first.data)).toBe(true);
    expect(second.data.equals(Buffer.alloc(200 * 1024, 0x22))).toBe(true);
  });

  test('without recycle, or after a copy is kept, each large span gets fresh memory', () => {
    const framer = new PduFramer({ ...NO_DIGESTS, maxRecvDataSegmentLength: SEGMENT_MAX });
    const kept = only(frames(framer, dataOut(128 * 1024, 0x33), 50_000));
    const next = only(frames(framer, dataOut(128 * 1024, 0x44), 50_000));
    expect(sameMemory(next.data, kept.data)).toBe(false);
    // Recycling the older frame is ignored: only the last span copy may come back.
    framer.recycle(kept.data);
    const third = only(frames(framer, dataOut(128 * 1024, 0x55), 50_000));
    expect(sameMemory(third.data, kept.data)).toBe(false);
    expect(kept.data.equals(Buffer.alloc(128 * 1024, 0x33))).toBe(true);
    expect(next.data.equals(Buffer.alloc(128 * 1024, 0x44))).toBe(true);
  });

  test('views of pushed chunks and small copies are never reused', () => {
    const framer = new PduFramer({ ...NO_DIGESTS, maxRecvDataSegmentLength: SEGMENT_MAX });
    // Whole PDU in one chunk: its data is a view of that chunk.
    const view = only(frames(framer, dataOut(100 * 1024, 0x66), 1024 * 1024));
    framer.recycle(view.data);
    const spanned = only(frames(framer, dataOut(100 * 1024, 0x77), 30_000));
    expect(spanned.data.buffer).not.toBe(view.data.buffer);
    expect(view.data.equals(Buffer.alloc(100 * 1024, 0x66))).toBe(true);
    // A small span (below the recycling size) is a plain pool copy.
    const small = only(frames(framer, dataOut(8 * 1024, 0x12), 3000));
    framer.recycle(small.data);
    const smallNext = only(frames(framer, dataOut(8 * 1024, 0x13), 3000));
    expect(sameMemory(smallNext.data, small.data)).toBe(false);
    expect(small.data.equals(Buffer.alloc(8 * 1024, 0x12))).toBe(true);
  });

  test('a spare too small for the next span is replaced, never overrun', () => {
    const framer = new PduFramer({ ...NO_DIGESTS, maxRecvDataSegmentLength: SEGMENT_MAX });
    const small = only(frames(framer, dataOut(64 * 1024, 0x21), 20_000));
    framer.recycle(small.data);
    const large = only(frames(framer, dataOut(256 * 1024, 0x31), 20_000));
    expect(sameMemory(large.data, small.data)).toBe(false);
    expect(large.data.equals(Buffer.alloc(256 * 1024, 0x31))).toBe(true);
  });
});
