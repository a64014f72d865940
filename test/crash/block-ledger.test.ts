/**
 * Goal: the oracle of the crash and soak harnesses (sim/real/block-ledger.ts, block-stamps.ts)
 * refuses what it must (a lost durable write, a lost acknowledged write with no store kill, a torn,
 * misplaced, foreign or ghost block) and accepts what the contract allows (an unacknowledged
 * write landed or not, an unflushed write rolled back by a store kill), so a harness that prints
 * "0 violations" has actually looked.
 * Method: stamped buffers built by hand and fed to the ledger as a target's answers would be.
 */
import { describe, expect, test } from 'vitest';
import { BlockLedger } from '../../sim/real/block-ledger.js';
import { decodeBlock, runTagOf, STAMP_BLOCK_BYTES, stampedData } from '../../sim/real/block-stamps.js';

const TAG = runTagOf('ledger-test');
const SCOPE = 'target';

function ledgerWith(blocks = 64): BlockLedger {
  return new BlockLedger(blocks, TAG);
}

/** Writes `blocks` blocks at `lba` and ends the write as told; returns its record. */
function write(
  ledger: BlockLedger,
  lba: number,
  blocks: number,
  end: 'acked' | 'failed' | 'unknown' | 'in-flight',
  fua = false,
) {
  const record = ledger.beginWrite(lba, blocks, { fua, scope: SCOPE });
  if (end === 'acked') ledger.ackWrite(record);
  else if (end !== 'in-flight') ledger.endWrite(record, end);
  return record;
}

function holding(writeId: number, lba: number, blocks = 1): Buffer {
  return stampedData(TAG, writeId, lba, blocks);
}

function kinds(ledger: BlockLedger): string[] {
  return ledger.violations.map((violation) => violation.kind);
}

describe('block stamps', () => {
  test('a stamp decodes to its write; zeros are zeros; a mix of two writes is torn', () => {
    const one = stampedData(TAG, 7, 100, 3);
    expect(decodeBlock(one, STAMP_BLOCK_BYTES, TAG)).toEqual({
      kind: 'stamp',
      writeId: 7,
      lba: 101,
      index: 1,
      count: 3,
    });
    expect(decodeBlock(Buffer.alloc(STAMP_BLOCK_BYTES), 0, TAG)).toEqual({ kind: 'zero' });
    const mixed = Buffer.concat([holding(7, 100).subarray(0, 256), holding(8, 100).subarray(256)]);
    expect(decodeBlock(mixed, 0, TAG).kind).toBe('torn');
    const flipped = holding(7, 100);
    flipped[400] = flipped[400]! ^ 1;
    expect(decodeBlock(flipped, 0, TAG).kind).toBe('torn');
    expect(decodeBlock(holding(7, 100), 0, runTagOf('another run')).kind).toBe('garbage');
    expect(decodeBlock(Buffer.alloc(STAMP_BLOCK_BYTES, 0xee), 0, TAG).kind).toBe('garbage');
  });
});

describe('block ledger', () => {
  test('an acknowledged write must be read back; an older one is a lost write', () => {
    const ledger = ledgerWith();
    const first = write(ledger, 10, 2, 'acked');
    const second = write(ledger, 10, 2, 'acked');
    ledger.checkRange(10, holding(second.id, 10, 2), 'test');
    expect(ledger.violationCount).toBe(0);
    ledger.checkRange(10, holding(first.id, 10, 2), 'test');
    expect(kinds(ledger)).toEqual(['acked-write-lost']); // one entry for the two consecutive blocks
    expect(ledger.violations[0]!.blocks).toBe(2);
    expect(ledger.violationCount).toBe(2);
  });

  test('zeros after an acknowledged write are a lost write; before any, they are fine', () => {
    const ledger = ledgerWith();
    ledger.checkRange(0, Buffer.alloc(STAMP_BLOCK_BYTES), 'test');
    expect(ledger.violationCount).toBe(0);
    write(ledger, 0, 1, 'acked');
    ledger.checkRange(0, Buffer.alloc(STAMP_BLOCK_BYTES), 'test');
    expect(kinds(ledger)).toEqual(['acked-write-lost']);
  });

  test('an unanswered or failed write may have landed or not', () => {
    const ledger = ledgerWith();
    const acked = write(ledger, 5, 1, 'acked', true);
    const unknown = write(ledger, 5, 1, 'unknown');
    ledger.checkRange(5, holding(acked.id, 5), 'test');
    ledger.checkRange(5, holding(unknown.id, 5), 'test');
    const failed = write(ledger, 5, 1, 'failed');
    ledger.checkRange(5, holding(failed.id, 5), 'test');
    ledger.checkRange(5, holding(unknown.id, 5), 'test');
    expect(ledger.violationCount).toBe(0);
  });

  test('across a store kill only flushed writes are owed: an unflushed one may roll back, a durable one may not', () => {
    const ledger = ledgerWith();
    const durable = write(ledger, 3, 1, 'acked', true);
    const unflushed = write(ledger, 3, 1, 'acked');
    ledger.storeCrashed();
    ledger.checkRange(3, holding(durable.id, 3), 'test');
    expect(ledger.violationCount).toBe(0);
    expect(ledger.counts.rolledBack).toBe(1);
    ledger.checkRange(3, holding(unflushed.id, 3), 'test');
    ledger.checkRange(3, Buffer.alloc(STAMP_BLOCK_BYTES), 'test');
    expect(kinds(ledger)).toEqual(['durable-write-lost']);
  });

  test('SYNCHRONIZE CACHE makes durable only what was acknowledged before it was sent', () => {
    const ledger = ledgerWith();
    const before = write(ledger, 20, 1, 'acked');
    const token = ledger.beginSync(SCOPE);
    const after = write(ledger, 21, 1, 'acked');
    ledger.ackSync(token);
    ledger.storeCrashed();
    ledger.checkRange(21, Buffer.alloc(STAMP_BLOCK_BYTES), 'test'); // never flushed: may be gone
    expect(ledger.violationCount).toBe(0);
    ledger.checkRange(20, Buffer.alloc(STAMP_BLOCK_BYTES), 'test');
    expect(kinds(ledger)).toEqual(['durable-write-lost']);
    expect(after.durable).toBe(false);
    expect(before.durable).toBe(true);
  });

  test('a SYNCHRONIZE CACHE through one node does not flush the other node', () => {
    const ledger = ledgerWith();
    const record = ledger.beginWrite(0, 1, { fua: false, scope: 'node-1' });
    ledger.ackWrite(record);
    ledger.ackSync(ledger.beginSync('node-2'));
    expect(record.durable).toBe(false);
  });

  test('a block of another write, another place or another run is refused', () => {
    const ledger = ledgerWith();
    const a = write(ledger, 0, 4, 'acked');
    write(ledger, 8, 1, 'acked');
    ledger.checkRange(8, holding(a.id, 8), 'test'); // write a never covered block 8
    ledger.checkRange(8, holding(a.id, 0).subarray(0, STAMP_BLOCK_BYTES), 'test'); // block 0's stamp at 8
    ledger.checkRange(8, holding(999, 8), 'test'); // never sent
    ledger.checkRange(8, stampedData(runTagOf('other'), 2, 8, 1), 'test');
    expect(kinds(ledger)).toEqual(['misplaced-block', 'misplaced-block', 'misplaced-block', 'garbage-block']);
  });

  test('after a settle, an unanswered write that was not there is a ghost if it shows up later', () => {
    const ledger = ledgerWith(4);
    const acked = write(ledger, 0, 1, 'acked', true);
    const lost = write(ledger, 0, 1, 'unknown');
    const seen = ledger.checkRange(0, holding(acked.id, 0), 'verify');
    ledger.settle(0, seen);
    ledger.checkRange(0, holding(lost.id, 0), 'later');
    expect(kinds(ledger)).toEqual(['ghost-write']);
  });

  test('two writes in flight on one block is a harness bug, caught at once', () => {
    const ledger = ledgerWith();
    write(ledger, 0, 4, 'in-flight');
    expect(() => write(ledger, 3, 1, 'acked')).toThrow(/in flight already/);
  });
});
