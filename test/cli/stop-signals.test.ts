/**
 * Goal: the shared stop-signal handling of `collie up`, `collie target` and `collie sheep`: the
 * first SIGTERM/SIGINT runs the graceful stop and exits 0 (1 when it fails or overruns its
 * deadline), a second signal exits at once with 128 + its number. The deadline follows the
 * target's two waits (stopDeadlineMs): always past drain + logout + the margin, 9 s by default.
 * Method: a fake signal source and exit function; the stop is a promise the test resolves; every
 * pair of waits the flags and YAML accept.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, test, vi } from 'vitest';
import {
  FORCED_EXIT_CODES,
  STOP_DEADLINE_MARGIN_MS,
  STOP_DEADLINE_MS_DEFAULT,
  stopDeadlineMs,
  stopOnSignals,
} from '../../src/cli/stop-signals.js';
import { createLogger } from '../../src/core/logger.js';
import { STOP_SECONDS_MAX } from '../../src/target/target-config.js';

function rig(deadlineMs = 60_000) {
  const signals = new EventEmitter();
  const exits: number[] = [];
  let finish: (error?: Error) => void = () => undefined;
  const stop = vi.fn(
    () =>
      new Promise<void>((resolve, reject) => {
        finish = (error) => (error ? reject(error) : resolve());
      }),
  );
  const remove = stopOnSignals({
    logger: createLogger({ level: 'silent' }),
    stop,
    deadlineMs,
    exit: (code) => exits.push(code),
    signals,
  });
  return { signals, exits, stop, finish: (error?: Error) => finish(error), remove };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('stopOnSignals', () => {
  test('SIGTERM runs the stop once and exits 0 when it is done', async () => {
    const { signals, exits, stop, finish, remove } = rig();
    signals.emit('SIGTERM');
    expect(stop).toHaveBeenCalledWith('SIGTERM');
    await tick();
    expect(exits).toEqual([]);
    finish();
    await tick();
    expect(exits).toEqual([0]);
    remove();
    expect(signals.listenerCount('SIGTERM')).toBe(0);
  });

  test('a second signal exits at once with 128 + its number', async () => {
    const { signals, exits, stop } = rig();
    signals.emit('SIGINT');
    signals.emit('SIGTERM');
    expect(stop).toHaveBeenCalledTimes(1);
    expect(exits).toEqual([FORCED_EXIT_CODES.SIGTERM]);
    expect(FORCED_EXIT_CODES).toEqual({ SIGTERM: 143, SIGINT: 130 });
  });

  test('a failed stop exits 1', async () => {
    const { signals, exits, finish } = rig();
    signals.emit('SIGTERM');
    finish(new Error('store close failed'));
    await tick();
    expect(exits).toEqual([1]);
  });

  test('a stop past its deadline exits 1', async () => {
    const { signals, exits } = rig(20);
    signals.emit('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(exits).toEqual([1]);
  });
});

describe('stopDeadlineMs: the deadline follows the waits', () => {
  test('the defaults (3 s drain, 2 s logout) give 9 s', () => {
    expect(STOP_DEADLINE_MS_DEFAULT).toBe(9_000);
    expect(stopDeadlineMs({})).toBe(9_000);
    expect(stopDeadlineMs({ drainSeconds: 3, logoutSeconds: 2 })).toBe(9_000);
  });

  test('every pair of waits the flags accept: past drain + logout by the margin', () => {
    expect(STOP_DEADLINE_MARGIN_MS).toBeGreaterThan(0);
    for (let drainSeconds = 0; drainSeconds <= STOP_SECONDS_MAX; drainSeconds++) {
      for (let logoutSeconds = 0; logoutSeconds <= STOP_SECONDS_MAX; logoutSeconds++) {
        expect(stopDeadlineMs({ drainSeconds, logoutSeconds })).toBe(
          (drainSeconds + logoutSeconds) * 1000 + STOP_DEADLINE_MARGIN_MS,
        );
      }
    }
    expect(stopDeadlineMs({ drainSeconds: STOP_SECONDS_MAX, logoutSeconds: STOP_SECONDS_MAX })).toBe(124_000);
    // One wait given: the other keeps its default.
    expect(stopDeadlineMs({ drainSeconds: 0 })).toBe(2_000 + STOP_DEADLINE_MARGIN_MS);
  });
});
