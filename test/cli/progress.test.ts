/**
 * Goal: the CLI's progress line shows on a terminal only (never in a pipe, never with
 * --no-progress), redraws in place at most 10 times a second, says done/total, rate and time
 * left, prints nothing for work that ends within the first interval, and ends its line on finish.
 * Method: a fake terminal stream (isTTY true) that records writes, and a clock the test moves.
 */
import { describe, expect, test } from 'vitest';
import { formatDuration, PROGRESS_INTERVAL_MS, Progress } from '../../src/cli/progress.js';

const MB = 1024 * 1024;

function fakeStream(isTTY: boolean): { isTTY: boolean; writes: string[]; write(text: string): boolean } {
  const writes: string[] = [];
  return {
    isTTY,
    writes,
    write(text: string) {
      writes.push(text);
      return true;
    },
  };
}

function fakeClock(): { now(): number; ms: number } {
  return {
    ms: 1_000_000,
    now() {
      return this.ms;
    },
  };
}

describe('Progress', () => {
  test('on a terminal: one line redrawn with \\r, done/total, rate, time left; finish ends it', () => {
    const stream = fakeStream(true);
    const clock = fakeClock();
    const progress = new Progress({ label: 'vdi read', unit: 'bytes', total: 100 * MB, stream, clock });
    expect(progress.active).toBe(true);
    clock.ms += 1_000;
    progress.add(25 * MB);
    expect(stream.writes).toEqual(['\rvdi read: 25 MB / 100 MB (25%), 25 MB/s, 3s left\x1b[K']);
    clock.ms += 1_000;
    progress.add(25 * MB);
    expect(stream.writes.at(-1)).toBe('\rvdi read: 50 MB / 100 MB (50%), 25 MB/s, 2s left\x1b[K');
    clock.ms += 2_000;
    progress.add(50 * MB);
    progress.finish();
    expect(stream.writes.slice(-2)).toEqual(['\rvdi read: 100 MB / 100 MB (100%), 25 MB/s\x1b[K', '\n']);
    // Later updates print nothing.
    clock.ms += 1_000;
    progress.add(1);
    progress.finish();
    expect(stream.writes.at(-1)).toBe('\n');
  });

  test('at most 10 redraws a second, however often it is told', () => {
    const stream = fakeStream(true);
    const clock = fakeClock();
    const progress = new Progress({ label: 'vdi write', unit: 'bytes', total: 10_000, stream, clock });
    for (let i = 0; i < 1_000; i++) {
      clock.ms += 1; // one update a millisecond for one second
      progress.add(10);
    }
    expect(stream.writes.length).toBeLessThanOrEqual(1_000 / PROGRESS_INTERVAL_MS);
    expect(stream.writes.length).toBeGreaterThanOrEqual(9);
  });

  test('nothing in a pipe, nothing with --no-progress, nothing for quick work', () => {
    for (const [isTTY, enabled] of [
      [false, true],
      [true, false],
    ] as const) {
      const stream = fakeStream(isTTY);
      const clock = fakeClock();
      const progress = new Progress({ label: 'swarm', unit: 'seeds', total: 5, enabled, stream, clock });
      expect(progress.active).toBe(false);
      for (let seed = 1; seed <= 5; seed++) {
        clock.ms += 1_000;
        progress.update(seed, '0 failed');
      }
      progress.finish();
      expect(stream.writes).toEqual([]);
    }
    const stream = fakeStream(true);
    const clock = fakeClock();
    const quick = new Progress({ label: 'vdi read', unit: 'bytes', total: MB, stream, clock });
    clock.ms += PROGRESS_INTERVAL_MS - 1;
    quick.add(MB);
    quick.finish();
    expect(stream.writes).toEqual([]);
  });

  test('seeds with a note; an unknown total shows what is done and the rate only', () => {
    const clock = fakeClock();
    const swarm = new Progress({
      label: 'swarm',
      unit: 'seeds',
      total: 1000,
      stream: fakeStream(true),
      clock,
    });
    clock.ms += 10_000;
    swarm.update(120, '2 failed');
    expect(swarm.line()).toBe('swarm: 120/1000 seeds (12%), 12.0 seeds/s, 1m14s left, 2 failed');

    const write = new Progress({ label: 'vdi write', unit: 'bytes', stream: fakeStream(true), clock });
    clock.ms += 2_000;
    write.add(64 * MB);
    expect(write.line()).toBe('vdi write: 64 MB, 32 MB/s');
    // A source read past the total never shows more than the total.
    write.setTotal(60 * MB);
    expect(write.line()).toBe('vdi write: 60 MB / 60 MB (100%), 30 MB/s');
  });

  test('durations: seconds, minutes, hours', () => {
    expect(formatDuration(0.2)).toBe('1s');
    expect(formatDuration(59)).toBe('59s');
    expect(formatDuration(187)).toBe('3m07s');
    expect(formatDuration(7_500)).toBe('2h05m');
  });
});
