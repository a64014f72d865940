/**
 * Goal: the register checker flags stale, phantom and non-monotonic reads and nothing else,
 * including with writes whose outcome is unknown and writes of zeros, and orders events by
 * their integer sequence numbers only. Method: hand-built histories with known answers; an
 * instant is written `at(seq)` (virtual ms = seq, except where a test sets them apart).
 */
import { describe, expect, test } from 'vitest';
import {
  BlockRegisterChecker,
  definitelyOlder,
  INITIAL_STAMP,
  type Instant,
  type ReadRecord,
} from '../../sim/checkers/block-register-checker.js';
import { decodeBlock, stampBlock } from '../../sim/checkers/write-stamps.js';

function at(seq: number, ms = seq): Instant {
  return { seq, ms };
}

function read(block: number, invoked: number, completed: number, stamp: string, path?: string): ReadRecord {
  return { block, invoked: at(invoked), completed: at(completed), stamp, ...(path ? { path } : {}) };
}

function kinds(checker: BlockRegisterChecker): string[] {
  return checker.check().map((violation) => violation.kind);
}

describe('block register checker: stale and phantom reads', () => {
  test('a read after an acknowledged write that returns the old value is stale', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('a1', 7, at(10));
    checker.writeAcknowledged('a1', at(20));
    checker.read(read(7, 30, 31, INITIAL_STAMP, 'B'));
    const [violation] = checker.check();
    expect(violation?.kind).toBe('stale-read');
    expect(violation?.message).toContain('through B');
  });

  test('a read concurrent with a write may return either value', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('a1', 7, at(10));
    checker.read(read(7, 12, 14, INITIAL_STAMP));
    checker.read(read(7, 13, 15, 'a1'));
    checker.writeAcknowledged('a1', at(20));
    expect(checker.check()).toEqual([]);
  });

  test('an older acknowledged write read after a newer one was acknowledged is stale (clobbered)', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('a1', 3, at(10));
    checker.writeAcknowledged('a1', at(11));
    checker.writeInvoked('b1', 3, at(20));
    checker.writeAcknowledged('b1', at(21));
    checker.read(read(3, 30, 31, 'a1'));
    expect(kinds(checker)).toEqual(['stale-read']);
  });

  test('writes with unknown outcome may or may not have happened', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('a1', 3, at(10));
    checker.writeAcknowledged('a1', at(11));
    checker.writeInvoked('lost', 3, at(20));
    checker.read(read(3, 30, 31, 'a1'));
    checker.read(read(3, 40, 41, 'lost'));
    expect(checker.check()).toEqual([]);
  });

  test('a value read before its write was issued, or never written, is reported', () => {
    const checker = new BlockRegisterChecker();
    checker.read(read(1, 1, 2, 'later'));
    checker.writeInvoked('later', 1, at(5));
    checker.read(read(1, 6, 7, 'nobody'));
    expect(kinds(checker)).toEqual(['phantom-read', 'unknown-value']);
  });

  test('order is by sequence number, not virtual ms: events of one millisecond are ordered', () => {
    const checker = new BlockRegisterChecker();
    // All in virtual ms 100: write acknowledged at seq 3, read invoked at seq 4.
    checker.writeInvoked('a1', 5, at(2, 100));
    checker.writeAcknowledged('a1', at(3, 100));
    checker.read({ block: 5, invoked: at(4, 100), completed: at(5, 100), stamp: INITIAL_STAMP });
    expect(kinds(checker)).toEqual(['stale-read']);
    // The same, but the read was invoked (seq 2) before the acknowledgement (seq 3): fine.
    const concurrent = new BlockRegisterChecker();
    concurrent.writeInvoked('a1', 5, at(1, 100));
    concurrent.read({ block: 5, invoked: at(2, 100), completed: at(4, 100), stamp: INITIAL_STAMP });
    concurrent.writeAcknowledged('a1', at(3, 100));
    expect(concurrent.check()).toEqual([]);
  });

  test('sequence numbers far beyond float precision of t + seq * 1e-9 still order exactly', () => {
    const checker = new BlockRegisterChecker();
    const base = 2 ** 40;
    checker.writeInvoked('a1', 5, at(base + 1, 1e9));
    checker.writeAcknowledged('a1', at(base + 2, 1e9));
    checker.read({
      block: 5,
      invoked: at(base + 3, 1e9),
      completed: at(base + 4, 1e9),
      stamp: INITIAL_STAMP,
    });
    expect(kinds(checker)).toEqual(['stale-read']);
  });

  test('a stamp used twice or an acknowledgement of nothing is a bug in the recording', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('a1', 5, at(1));
    expect(() => checker.writeInvoked('a1', 6, at(2))).toThrow(/used twice/);
    expect(() => checker.writeAcknowledged('b1', at(3))).toThrow(/never invoked/);
  });
});

describe('block register checker: writes of zeros (DISCARD)', () => {
  test('a read of zeros after an acknowledged write is fine when a zeroing explains it', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('a1', 4, at(10));
    checker.writeAcknowledged('a1', at(11));
    checker.writeInvoked('d1.z1@4', 4, at(20), { zeros: true });
    checker.writeAcknowledged('d1.z1@4', at(21));
    checker.read(read(4, 30, 31, INITIAL_STAMP));
    expect(checker.check()).toEqual([]);
  });

  test('zeros read before the zeroing was issued are still stale', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('a1', 4, at(10));
    checker.writeAcknowledged('a1', at(11));
    checker.read(read(4, 15, 16, INITIAL_STAMP));
    checker.writeInvoked('d1.z1@4', 4, at(20), { zeros: true });
    expect(kinds(checker)).toEqual(['stale-read']);
  });

  test("a zeroing's stamp is never read back as a stamp", () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('d1.z1@4', 4, at(20), { zeros: true });
    checker.read(read(4, 30, 31, 'd1.z1@4'));
    expect(kinds(checker)).toEqual(['unknown-value']);
  });
});

describe('block register checker: monotonic reads across the cluster', () => {
  test('the initial zeros after a read saw a write: non-monotonic, even if the write never acknowledged', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('a1', 9, at(10)); // indeterminate: never acknowledged
    checker.read(read(9, 11, 12, 'a1', 'A'));
    checker.read(read(9, 13, 14, INITIAL_STAMP, 'B'));
    const violations = checker.check();
    expect(violations.map((violation) => violation.kind)).toEqual(['non-monotonic-read']);
    expect(violations[0]?.earlierRead?.completed.seq).toBe(12);
    expect(violations[0]?.earlierObserved?.stamp).toBe('a1');
    expect(violations[0]?.message).toContain('through B');
  });

  test('an acknowledged W0 read after a read saw W1 (invoked after W0 acked, W1 indeterminate)', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('w0', 9, at(10));
    checker.writeAcknowledged('w0', at(11));
    checker.writeInvoked('w1', 9, at(12)); // never acknowledged: check 1 cannot see this
    checker.read(read(9, 13, 14, 'w1'));
    checker.read(read(9, 15, 16, 'w0'));
    expect(kinds(checker)).toEqual(['non-monotonic-read']);
  });

  test('W1 acknowledged only after the second read began: check 2 finds what check 1 cannot', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('w0', 9, at(10));
    checker.writeAcknowledged('w0', at(11));
    checker.writeInvoked('w1', 9, at(12));
    checker.read(read(9, 13, 14, 'w1'));
    checker.read(read(9, 15, 17, 'w0'));
    checker.writeAcknowledged('w1', at(18));
    expect(kinds(checker)).toEqual(['non-monotonic-read']);
  });

  test('an indeterminate write is never definitely older', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('lost', 9, at(10)); // never acknowledged
    checker.writeInvoked('w1', 9, at(20));
    checker.writeAcknowledged('w1', at(21));
    // 'lost' may land after w1: reading w1 then 'lost' is possible.
    checker.read(read(9, 22, 23, 'w1'));
    checker.read(read(9, 24, 25, 'lost'));
    expect(checker.check()).toEqual([]);
    expect(definitelyOlder(checker.write('lost')!, checker.write('w1')!)).toBe(false);
    expect(definitelyOlder(INITIAL_STAMP, checker.write('lost')!)).toBe(true);
    expect(definitelyOlder(checker.write('w1')!, INITIAL_STAMP)).toBe(false);
  });

  test('concurrent writes may be read in either order by overlapping or later reads', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('x', 9, at(10));
    checker.writeInvoked('y', 9, at(11));
    checker.writeAcknowledged('x', at(12));
    checker.writeAcknowledged('y', at(13));
    // x and y overlap: neither is definitely older.
    checker.read(read(9, 14, 15, 'y'));
    checker.read(read(9, 16, 17, 'x'));
    expect(checker.check()).toEqual([]);
  });

  test('a read that overlaps the earlier read may still return the older value', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('w1', 9, at(10));
    checker.read(read(9, 11, 14, 'w1'));
    checker.read(read(9, 12, 15, INITIAL_STAMP)); // invoked before the first completed
    checker.writeAcknowledged('w1', at(16));
    expect(checker.check()).toEqual([]);
  });

  test('zeros after a read of a write are fine when a zeroing invoked after it explains them', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('w1', 9, at(10));
    checker.read(read(9, 11, 12, 'w1'));
    checker.writeInvoked('d.z1@9', 9, at(13), { zeros: true }); // indeterminate DISCARD
    checker.read(read(9, 14, 15, INITIAL_STAMP));
    expect(checker.check()).toEqual([]);
  });

  test('zeros after a read of a write are non-monotonic when every zeroing is older', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('d.z1@9', 9, at(5), { zeros: true });
    checker.writeAcknowledged('d.z1@9', at(6));
    checker.writeInvoked('w1', 9, at(10));
    checker.read(read(9, 11, 12, 'w1'));
    checker.read(read(9, 14, 15, INITIAL_STAMP));
    expect(kinds(checker)).toEqual(['non-monotonic-read']);
  });

  test('a read already found stale is not reported again as non-monotonic', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('w1', 9, at(10));
    checker.writeAcknowledged('w1', at(11));
    checker.read(read(9, 12, 13, 'w1'));
    checker.read(read(9, 14, 15, INITIAL_STAMP));
    expect(kinds(checker)).toEqual(['stale-read']);
  });

  test('different blocks are different registers', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('w1', 9, at(10));
    checker.read(read(9, 11, 12, 'w1'));
    checker.read(read(8, 13, 14, INITIAL_STAMP));
    expect(checker.check()).toEqual([]);
  });
});

describe('block register checker: refused writes and COMPARE AND WRITE', () => {
  test('a write the LU refused must never be read', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('n1', 4, at(10));
    checker.writeRefused('n1');
    checker.read(read(4, 20, 21, INITIAL_STAMP));
    expect(checker.check()).toEqual([]);
    checker.read(read(4, 22, 23, 'n1', 'A'));
    const [violation] = checker.check();
    expect(violation?.kind).toBe('refused-write-landed');
    expect(violation?.message).toContain('"n1"');
  });

  test('a CAW that compared an open write follows it: reading that write after the CAW is stale', () => {
    // The host's CAW v1 lost its answer (open); host-2's CAW compared v1 and wrote v2.
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('v0', 5, at(1));
    checker.writeAcknowledged('v0', at(2));
    checker.writeInvoked('v1', 5, at(10));
    checker.writeInvoked('v2', 5, at(20));
    checker.writeAcknowledged('v2', at(25));
    checker.compareAndWriteSucceeded('v2', read(5, 20, 25, 'v1', 'B'));
    checker.read(read(5, 30, 31, 'v2'));
    expect(checker.check()).toEqual([]);
    // A retried v1 written again after v2 would leave v1 there.
    checker.read(read(5, 40, 41, 'v1'));
    expect(kinds(checker)).toEqual(['stale-read']);
  });

  test('without the CAW edge an open write read late is not a violation', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('v1', 5, at(10));
    checker.writeInvoked('v2', 5, at(20));
    checker.writeAcknowledged('v2', at(25));
    checker.read(read(5, 40, 41, 'v1'));
    expect(checker.check()).toEqual([]);
  });

  test('two successful CAWs that compared the same value were not atomic', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('v0', 6, at(1));
    checker.writeAcknowledged('v0', at(2));
    checker.writeInvoked('a1', 6, at(10));
    checker.writeInvoked('b1', 6, at(11));
    checker.writeAcknowledged('a1', at(14));
    checker.compareAndWriteSucceeded('a1', read(6, 10, 14, 'v0', 'A'));
    checker.writeAcknowledged('b1', at(15));
    checker.compareAndWriteSucceeded('b1', read(6, 11, 15, 'v0', 'B'));
    const violations = checker.check();
    expect(violations.map((violation) => violation.kind)).toEqual(['caw-not-atomic']);
    expect(violations[0]?.message).toContain('"a1" through A, then "b1" through B');
  });

  test('a CAW that compared a value already overwritten (and acknowledged) read a stale value', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('v0', 7, at(1));
    checker.writeAcknowledged('v0', at(2));
    checker.writeInvoked('v1', 7, at(3));
    checker.writeAcknowledged('v1', at(4));
    checker.writeInvoked('c1', 7, at(10));
    checker.writeAcknowledged('c1', at(12));
    checker.compareAndWriteSucceeded('c1', read(7, 10, 12, 'v0', 'B'));
    expect(kinds(checker)).toEqual(['stale-read']);
  });

  test('CAWs comparing the initial zeros count only while no zeros were written', () => {
    const checker = new BlockRegisterChecker();
    checker.writeInvoked('z1', 8, at(1), { zeros: true });
    checker.writeAcknowledged('z1', at(2));
    for (const [stamp, seq] of [
      ['a1', 10],
      ['b1', 20],
    ] as const) {
      checker.writeInvoked(stamp, 8, at(seq));
      checker.writeAcknowledged(stamp, at(seq + 1));
    }
    checker.compareAndWriteSucceeded('a1', read(8, 10, 11, INITIAL_STAMP));
    checker.compareAndWriteSucceeded('b1', read(8, 20, 21, INITIAL_STAMP));
    // b1's compare of zeros after a1 was acknowledged is stale, but "the same value" is not
    // established: zeros were written (a DISCARD) and may have been written again.
    expect(kinds(checker)).toEqual(['stale-read']);
  });
});

describe('write stamps', () => {
  test('stamps round-trip and expose torn or misplaced blocks', () => {
    expect(decodeBlock(stampBlock('c1:42', 9), 9)).toEqual({ kind: 'stamp', stamp: 'c1:42' });
    expect(decodeBlock(Buffer.alloc(512), 9)).toEqual({ kind: 'stamp', stamp: INITIAL_STAMP });
    expect(decodeBlock(stampBlock('c1:42', 9), 8).kind).toBe('garbage');
    const torn = stampBlock('c1:42', 9);
    torn[100] = 1;
    expect(decodeBlock(torn, 9).kind).toBe('garbage');
  });
});
