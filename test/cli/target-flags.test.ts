/**
 * Goal: `collie target --config FILE` takes every process setting from the file, and a flag given
 * on the command line wins over its key: --drain-seconds and --logout-seconds over `stop:`,
 * --events over `events`, --admin or --inspect over both `admin` and `inspect` (one listener),
 * --data over `data`, --log-level and --log-format over `log:` (each on its own); a flag left out
 * keeps the key. Without --config the flags alone say it. A bad --drain-seconds is a config error
 * naming the flag and the fix.
 * Method: targetConfigFromFlags in-process on YAML files in a temp directory, with the options
 * commander would give (no defaults for the flags a key also sets).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TargetOptions, targetConfigFromFlags } from '../../src/cli/target.js';
import { TargetConfigError } from '../../src/target/target-config.js';

let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'collie-target-flags-'));
  file = join(dir, 'target.yaml');
  await writeFile(
    file,
    [
      'targets:',
      '  - { iqn: iqn.2026-01.test.collie:a, luns: { 1: mem:1M } }',
      'stop: { drainSeconds: 10, logoutSeconds: 5 }',
      'log: { level: debug, format: json }',
      'events: file-events.jsonl',
      'admin: 127.0.0.1:8300',
      'data: file-data',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What commander gives `collie target` with these flags. */
function flags(extra: Partial<TargetOptions> = {}): TargetOptions {
  return { portal: [], lun: [], initiator: [], digests: 'allow', ...extra };
}

describe('collie target: flags win over the file', () => {
  test('no flag: every key of the file', async () => {
    const config = await targetConfigFromFlags(flags({ config: file }));
    expect(config).toMatchObject({
      drainSeconds: 10,
      logoutSeconds: 5,
      log: { logLevel: 'debug', logFormat: 'json' },
      events: 'file-events.jsonl',
      admin: { host: '127.0.0.1', port: 8300, hostGiven: true },
      data: 'file-data',
    });
    expect(config.inspect).toBeUndefined();
  });

  test('every flag: the flags', async () => {
    const config = await targetConfigFromFlags(
      flags({
        config: file,
        drainSeconds: '0',
        logoutSeconds: '60',
        logLevel: 'warn',
        logFormat: 'pretty',
        events: 'flag-events.jsonl',
        admin: { host: '127.0.0.1', port: 0, hostGiven: false },
        data: 'flag-data',
      }),
    );
    expect(config).toMatchObject({
      drainSeconds: 0,
      logoutSeconds: 60,
      log: { logLevel: 'warn', logFormat: 'pretty' },
      events: 'flag-events.jsonl',
      admin: { host: '127.0.0.1', port: 0, hostGiven: false },
      data: 'flag-data',
    });
  });

  test('each flag on its own replaces its key only', async () => {
    const drain = await targetConfigFromFlags(flags({ config: file, drainSeconds: '1' }));
    expect(drain).toMatchObject({ drainSeconds: 1, logoutSeconds: 5 });
    const logout = await targetConfigFromFlags(flags({ config: file, logoutSeconds: '7' }));
    expect(logout).toMatchObject({ drainSeconds: 10, logoutSeconds: 7 });
    const level = await targetConfigFromFlags(flags({ config: file, logLevel: 'error' }));
    expect(level.log).toEqual({ logLevel: 'error', logFormat: 'json' });
    const format = await targetConfigFromFlags(flags({ config: file, logFormat: 'pretty' }));
    expect(format.log).toEqual({ logLevel: 'debug', logFormat: 'pretty' });
  });

  test('--inspect replaces the file admin: (one listener, without the admin API)', async () => {
    const inspect = { host: '127.0.0.1', port: 9400, hostGiven: false };
    const config = await targetConfigFromFlags(flags({ config: file, inspect }));
    expect(config.inspect).toEqual(inspect);
    expect(config.admin).toBeUndefined();
  });

  test('without --config: the flags alone, unset ones left to the defaults', async () => {
    const bare = await targetConfigFromFlags(flags({ iqn: 'iqn.2026-01.test.collie:b', lun: ['1=mem:1M'] }));
    for (const key of ['drainSeconds', 'logoutSeconds', 'events', 'admin', 'inspect', 'data']) {
      expect(bare, key).not.toHaveProperty(key);
    }
    expect(bare.log).toEqual({});
    const given = await targetConfigFromFlags(
      flags({ iqn: 'iqn.2026-01.test.collie:b', lun: ['1=mem:1M'], drainSeconds: '20', logoutSeconds: '30' }),
    );
    expect(given).toMatchObject({ drainSeconds: 20, logoutSeconds: 30 });
  });

  test('a bad --drain-seconds or --logout-seconds: a config error naming the flag and the fix', async () => {
    await expect(targetConfigFromFlags(flags({ config: file, drainSeconds: '61' }))).rejects.toThrow(
      new TargetConfigError(
        '--drain-seconds 61 is not a number of seconds (write whole seconds from 0 to 60)',
      ),
    );
    await expect(targetConfigFromFlags(flags({ config: file, logoutSeconds: 'x' }))).rejects.toThrow(
      new TargetConfigError(
        '--logout-seconds "x" is not a number of seconds (write whole seconds from 0 to 60)',
      ),
    );
  });
});
