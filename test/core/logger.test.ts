/**
 * Goal: createLogger honours level, bindings and an injected clock (virtual timestamps, no
 * pid/hostname), and pretty output can be written synchronously for tests.
 * Method: log into an in-memory Writable and parse or match what arrived.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, test } from 'vitest';
import { createLogger, silentLogger } from '../../src/core/logger.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';

function memoryDestination(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('createLogger', () => {
  const savedLevel = process.env.LOG_LEVEL;
  afterEach(() => {
    if (savedLevel === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = savedLevel;
  });

  test('JSON lines carry virtual time and bindings, not pid/hostname', async () => {
    const clock = new VirtualClock();
    const out = memoryDestination();
    const logger = createLogger({ clock, destination: out.stream, bindings: { seed: 'abc' } });
    clock.advanceTo(1234);
    logger.info({ vdi: 'v1' }, 'opened');
    logger.debug('hidden at info');
    await new Promise((resolve) => setImmediate(resolve));
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ level: 30, time: 1234, seed: 'abc', vdi: 'v1', msg: 'opened' });
    expect(line.pid).toBeUndefined();
    expect(line.hostname).toBeUndefined();
  });

  test('level comes from opts, else LOG_LEVEL, else info', () => {
    process.env.LOG_LEVEL = 'warn';
    expect(createLogger({ destination: memoryDestination().stream }).level).toBe('warn');
    expect(createLogger({ level: 'trace', destination: memoryDestination().stream }).level).toBe('trace');
    delete process.env.LOG_LEVEL;
    expect(createLogger({ destination: memoryDestination().stream }).level).toBe('info');
    expect(silentLogger.level).toBe('silent');
  });

  test('pretty output goes synchronously into a given destination', () => {
    const clock = new VirtualClock(5000);
    const out = memoryDestination();
    const logger = createLogger({ clock, pretty: true, destination: out.stream });
    logger.warn({ path: 'p1' }, 'path down');
    expect(out.text()).toMatch(/\[5000\] WARN: path down/);
    expect(out.text()).toMatch(/path: "p1"/);
  });
});
