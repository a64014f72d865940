/**
 * Goal: createLogger honours level, bindings and an injected clock (virtual timestamps, no
 * pid/hostname), and pretty output can be written synchronously for tests; `--log-format auto`
 * is pretty on a terminal and JSON elsewhere; no secret (CHAP secrets, tokens, CHAP_R/CHAP_C)
 * ever reaches the output, at any depth, in an Error, in bindings or inside a message.
 * Method: log into an in-memory Writable (marked a terminal or not) and parse or match what arrived.
 */
import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, describe, expect, test } from 'vitest';
import { loggerFromFlags } from '../../src/cli/log-options.js';
import { createLogger, REDACTED, resolveLogFormat, silentLogger } from '../../src/core/logger.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';

function memoryDestination(): { stream: Writable & { isTTY?: boolean }; text: () => string } {
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

describe('log format', () => {
  test('auto is pretty on a terminal and JSON otherwise; json and pretty are forced', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });

  test('the CLI logger follows the stream: JSON lines into a pipe, pretty lines on a terminal', async () => {
    const pipe = memoryDestination();
    loggerFromFlags({ logFormat: 'auto' }, { component: 'up' }, { stream: pipe.stream }).info(
      { vdi: 'vol0' },
      'created the default VDI',
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(JSON.parse(pipe.text())).toMatchObject({
      level: 30,
      component: 'up',
      vdi: 'vol0',
      msg: 'created the default VDI',
    });

    const terminal = memoryDestination();
    terminal.stream.isTTY = true;
    loggerFromFlags({ logFormat: 'auto' }, { component: 'up' }, { stream: terminal.stream }).info(
      { vdi: 'vol0' },
      'created the default VDI',
    );
    // A terminal gets colours; without them the line reads "[HH:MM:ss.l] INFO: ...".
    expect(terminal.text()).toContain('\x1b[');
    const text = stripVTControlCharacters(terminal.text());
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: created the default VDI\n/);
    expect(text).toMatch(/component: "up"/);
    expect(() => JSON.parse(text)).toThrow();

    const forced = memoryDestination();
    forced.stream.isTTY = true;
    loggerFromFlags({ logFormat: 'json', logLevel: 'debug' }, {}, { stream: forced.stream }).debug('d');
    await new Promise((resolve) => setImmediate(resolve));
    expect(JSON.parse(forced.text())).toMatchObject({ level: 20, msg: 'd' });
  });
});

describe('secrets are redacted', () => {
  const SECRET = 'alice-chap-secret-123';
  const MUTUAL = 'target-mutual-secret-456';
  const config = {
    portals: ['127.0.0.1:3260'],
    targets: [
      {
        iqn: 'iqn.2026-11.org.collie:vol0',
        chap: { user: 'alice', secret: SECRET },
        mutualChap: { user: 'target', secret: MUTUAL },
      },
    ],
  };

  async function logEverything(pretty: boolean): Promise<string> {
    const out = memoryDestination();
    const logger = createLogger({
      level: 'trace',
      pretty,
      destination: out.stream,
      clock: new VirtualClock(),
      secrets: [SECRET, MUTUAL],
      bindings: { token: 'bound-token-789' },
    });
    logger.info({ config }, 'loaded the config');
    logger.info({ account: { user: 'alice', secret: Buffer.from(SECRET) } }, 'an account');
    logger.debug({ keys: { CHAP_N: 'alice', CHAP_R: '0xresponse01', CHAP_C: '0xchallenge02' } }, 'chap keys');
    logger.info({ headers: { Authorization: 'Bearer abc.def.ghi' }, password: 'hunter2-hunter2' }, 'request');
    // An Error carrying an account, and one whose message and cause name a secret.
    const carrying = Object.assign(new Error('login refused'), {
      account: { user: 'alice', chapSecret: SECRET },
    });
    logger.error(carrying);
    logger.warn(
      { err: new Error(`bad secret ${MUTUAL}`, { cause: new Error(`cause has ${SECRET}`) }) },
      'mutual chap rejected',
    );
    logger.info(`a message that quotes ${SECRET}`);
    logger.child({ session: { authToken: 'child-token' } }).info('child');
    await new Promise((resolve) => setImmediate(resolve));
    return out.text();
  }

  test.each([
    ['JSON', false],
    ['pretty', true],
  ])('%s output never carries a secret, and keeps the rest', async (_name, pretty) => {
    const text = await logEverything(pretty);
    for (const secret of [
      SECRET,
      MUTUAL,
      'bound-token-789',
      '0xresponse01',
      '0xchallenge02',
      'abc.def.ghi',
      'hunter2',
      'child-token',
    ]) {
      expect(text, `leaked ${secret}`).not.toContain(secret);
    }
    // A Buffer secret's bytes must not appear either (as JSON, a Buffer is its byte array).
    expect(text).not.toContain([...Buffer.from(SECRET)].slice(0, 6).join(','));
    expect(text).toContain(REDACTED);
    for (const kept of [
      'alice',
      'target',
      'iqn.2026-11.org.collie:vol0',
      'login refused',
      'mutual chap rejected',
    ]) {
      expect(text).toContain(kept);
    }
  });

  test('a logged Error keeps its type, message and stack; its secret properties are redacted', async () => {
    const out = memoryDestination();
    const logger = createLogger({ destination: out.stream });
    logger.error(
      Object.assign(new TypeError('login refused'), { account: { user: 'alice', secret: SECRET } }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    const line = JSON.parse(out.text());
    expect(line.msg).toBe('login refused');
    expect(line.err).toMatchObject({
      type: 'TypeError',
      message: 'login refused',
      account: { user: 'alice', secret: REDACTED },
    });
    expect(line.err.stack).toMatch(/^TypeError: login refused\n/);
  });

  test('a logged object is not changed by the redaction', () => {
    const logger = createLogger({ destination: memoryDestination().stream, secrets: [SECRET] });
    const account = { user: 'alice', secret: SECRET };
    logger.info({ account }, 'account');
    expect(account.secret).toBe(SECRET);
  });
});
