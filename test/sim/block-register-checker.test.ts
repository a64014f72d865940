/**
 * Goal: the register checker flags stale and phantom reads and nothing else, including with
 * writes whose outcome is unknown. Method: hand-built histories with known answers.
 */
import { describe, expect, test } from 'vitest';
import { BlockRegisterChecker, INITIAL_STAMP } from '../../sim/checkers/block-register-checker.js';
import { decodeBlock, stampBlock } from '../../sim/checkers/write-stamps.js';

function history() {
  return new BlockRegisterChecker();
}

describe('block register checker', () => {
  test('a read after an acknowledged write that returns the old value is stale', () => {
    const checker = history();
    checker.writeInvoked('a1', 7, 10);
    checker.writeAcknowledged('a1', 20);
    checker.read({ block: 7, invokedAtMs: 30, completedAtMs: 31, stamp: INITIAL_STAMP, path: 'B' });
    const [violation] = checker.check();
    expect(violation?.kind).toBe('stale-read');
    expect(violation?.message).toContain('through B');
  });

  test('a read concurrent with a write may return either value', () => {
    const checker = history();
    checker.writeInvoked('a1', 7, 10);
    checker.read({ block: 7, invokedAtMs: 12, completedAtMs: 14, stamp: INITIAL_STAMP });
    checker.read({ block: 7, invokedAtMs: 12, completedAtMs: 15, stamp: 'a1' });
    checker.writeAcknowledged('a1', 20);
    expect(checker.check()).toEqual([]);
  });

  test('an older acknowledged write read after a newer one was acknowledged is stale (clobbered)', () => {
    const checker = history();
    checker.writeInvoked('a1', 3, 10);
    checker.writeAcknowledged('a1', 11);
    checker.writeInvoked('b1', 3, 20);
    checker.writeAcknowledged('b1', 21);
    checker.read({ block: 3, invokedAtMs: 30, completedAtMs: 31, stamp: 'a1' });
    expect(checker.check().map((v) => v.kind)).toEqual(['stale-read']);
  });

  test('writes with unknown outcome may or may not have happened', () => {
    const checker = history();
    checker.writeInvoked('a1', 3, 10);
    checker.writeAcknowledged('a1', 11);
    checker.writeInvoked('lost', 3, 20);
    checker.read({ block: 3, invokedAtMs: 30, completedAtMs: 31, stamp: 'a1' });
    checker.read({ block: 3, invokedAtMs: 40, completedAtMs: 41, stamp: 'lost' });
    expect(checker.check()).toEqual([]);
  });

  test('a value read before its write was issued, or never written, is reported', () => {
    const checker = history();
    checker.read({ block: 1, invokedAtMs: 1, completedAtMs: 2, stamp: 'later' });
    checker.writeInvoked('later', 1, 5);
    checker.read({ block: 1, invokedAtMs: 6, completedAtMs: 7, stamp: 'nobody' });
    expect(checker.check().map((v) => v.kind)).toEqual(['phantom-read', 'unknown-value']);
  });

  test('stamps round-trip and expose torn or misplaced blocks', () => {
    expect(decodeBlock(stampBlock('c1:42', 9), 9)).toEqual({ kind: 'stamp', stamp: 'c1:42' });
    expect(decodeBlock(Buffer.alloc(512), 9)).toEqual({ kind: 'stamp', stamp: INITIAL_STAMP });
    expect(decodeBlock(stampBlock('c1:42', 9), 8).kind).toBe('garbage');
    const torn = stampBlock('c1:42', 9);
    torn[100] = 1;
    expect(decodeBlock(torn, 9).kind).toBe('garbage');
  });
});
