/**
 * Goal: the config commands as a user runs them: `collie config check FILE` prints a summary
 * (exit 0) or one line `FILE:LINE: KEY: problem (fix)` (exit 2, no stack trace), and so does
 * `collie target --config` for a bad file; `collie config import-tgt targets.conf [--out FILE]`
 * writes YAML that `config check` accepts, reports on stderr, follows includes relative to the
 * including file, never overwrites, and exits 1 when what it wrote does not load as it is.
 * Method: the built CLI (`node bin/collie.js`, global setup builds dist/) as real processes in a
 * temp directory.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { assertCollieBuilt, COLLIE_BIN } from '../support/collie.js';
import { runProcess } from '../support/processes.js';

let dir: string;
beforeAll(async () => {
  assertCollieBuilt();
  dir = await mkdtemp(join(tmpdir(), 'collie-config-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collie(...args: string[]) {
  const result = await runProcess(process.execPath, [COLLIE_BIN, ...args], { cwd: dir, timeoutMs: 30_000 });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

const GOOD = [
  'portals: [127.0.0.1:3260]',
  'targets:',
  '  - iqn: iqn.2026-01.test.collie:a',
  '    luns: { 1: mem:1M, 2: tcp:127.0.0.1:7000:vol0 }',
  '    chap: { user: alice, secret: twelve-bytes-min }',
  '    addresses: [127.0.0.0/8]',
  '  - iqn: iqn.2026-01.test.collie:b',
  '    luns: { 1: mem:1M }',
  'nodeId: 2',
  '',
].join('\n');

const BAD = GOOD.replace('    addresses:', '    adresses:');

describe('collie config check', () => {
  test('a valid file: a summary of targets, LUNs and portals, exit 0', async () => {
    await writeFile(join(dir, 'good.yaml'), GOOD);
    const result = await collie('config', 'check', 'good.yaml');
    expect(result).toEqual({
      code: 0,
      stdout: [
        'good.yaml: valid: 2 targets, 3 LUNs, portals 127.0.0.1:3260; node id 2, digests allow',
        '  iqn.2026-01.test.collie:a: LUN 1 mem:1M, LUN 2 tcp:127.0.0.1:7000:vol0; CHAP, any initiator, addresses 127.0.0.0/8',
        '  iqn.2026-01.test.collie:b: LUN 1 mem:1M; no CHAP, any initiator, any address',
        '',
      ].join('\n'),
      stderr: '',
    });
  });

  test('an invalid file: one line naming file, line, key and fix; exit 2', async () => {
    await writeFile(join(dir, 'bad.yaml'), BAD);
    expect(await collie('config', 'check', 'bad.yaml')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'collie config check: bad.yaml:6: targets[0].adresses: unknown key (did you mean addresses?)\n',
    });
    expect(await collie('config', 'check', 'missing.yaml')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'collie config check: missing.yaml: cannot read it (ENOENT; check the path)\n',
    });
  });
});

describe('collie target --config', () => {
  test('a bad file: the same one line, exit 2, nothing served', async () => {
    await writeFile(join(dir, 'bad.yaml'), BAD);
    expect(await collie('target', '--config', 'bad.yaml')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'collie target: bad.yaml:6: targets[0].adresses: unknown key (did you mean addresses?)\n',
    });
  });
});

const TARGETS_CONF = [
  'include conf.d/*.conf',
  '<target iqn.2026-01.com.example:db>',
  '    bs-type sheepdog',
  '    backing-store tcp:127.0.0.1:7000:db',
  '    incominguser dbhost secretpass1234',
  '    initiator-address 10.0.0.0/8',
  '    vendor_id ACME',
  '</target>',
  '',
].join('\n');

const WEB_CONF = [
  '<target iqn.2026-01.com.example:web>',
  '    backing-store /srv/web.img',
  '</target>',
  '',
].join('\n');

describe('collie config import-tgt', () => {
  beforeAll(async () => {
    await mkdir(join(dir, 'tgt', 'conf.d'), { recursive: true });
    await writeFile(join(dir, 'tgt', 'targets.conf'), TARGETS_CONF);
    await writeFile(join(dir, 'tgt', 'conf.d', 'web.conf'), WEB_CONF);
  });

  test('--out: YAML that config check accepts, the report on stderr, exit 0; never overwritten', async () => {
    const result = await collie('config', 'import-tgt', 'tgt/targets.conf', '--out', 'imported.yaml');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')).toEqual(
      expect.arrayContaining([
        '  tgt/targets.conf:1: include conf.d/*.conf: read tgt/conf.d/web.conf',
        '  tgt/targets.conf:4: backing-store tcp:127.0.0.1:7000:db: LUN 1 tcp:127.0.0.1:7000:db',
        'not mapped (1):',
        '  tgt/targets.conf:7: vendor_id ACME: Collie answers INQUIRY with vendor COLLIE; update multipath or udev rules that match the vendor',
        '2 targets, 2 LUNs; 1 directives not mapped',
        'wrote imported.yaml; check it with: collie config check imported.yaml',
      ]),
    );
    expect(result.stderr).not.toContain('secretpass1234');
    expect(await readFile(join(dir, 'imported.yaml'), 'utf8')).toContain('secret: secretpass1234');

    const check = await collie('config', 'check', 'imported.yaml');
    expect(check.code).toBe(0);
    expect(check.stdout.split('\n').slice(0, 3)).toEqual([
      'imported.yaml: valid: 2 targets, 2 LUNs, portals 0.0.0.0:3260; node id 1, digests allow',
      '  iqn.2026-01.com.example:web: LUN 1 file:/srv/web.img; no CHAP, any initiator, any address',
      '  iqn.2026-01.com.example:db: LUN 1 tcp:127.0.0.1:7000:db; CHAP, any initiator, addresses 10.0.0.0/8',
    ]);

    expect(await collie('config', 'import-tgt', 'tgt/targets.conf', '--out', 'imported.yaml')).toMatchObject({
      code: 2,
      stderr:
        'collie config import-tgt: imported.yaml exists (remove it or give another --out; it is never overwritten)\n',
    });
  });

  test('without --out: the YAML on stdout', async () => {
    const result = await collie('config', 'import-tgt', 'tgt/targets.conf');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^# Collie target config imported from tgt\/targets\.conf/);
    expect(result.stdout).toContain('  - iqn: iqn.2026-01.com.example:db\n');
  });

  test('a secret Collie refuses: written, and exit 1 with the line it fails at', async () => {
    await writeFile(
      join(dir, 'short.conf'),
      [
        '<target iqn.2026-01.com.example:a>',
        '  backing-store /srv/a.img',
        '  incominguser u short',
        '</target>',
      ].join('\n'),
    );
    const result = await collie('config', 'import-tgt', 'short.conf');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('secret: short');
    expect(result.stderr.trimEnd().split('\n').at(-1)).toMatch(
      /^collie config import-tgt: the YAML does not load as it is: stdout:\d+: targets\[0\]\.chap\.secret: is 5 bytes, shorter than 12 \(RFC 7143 §9\.2\.1: use 12 or more\)$/,
    );
  });

  test('a broken targets.conf: one line, exit 2', async () => {
    await writeFile(
      join(dir, 'broken.conf'),
      '<target iqn.2026-01.com.example:a>\n  backing-store /srv/a.img\n',
    );
    expect(await collie('config', 'import-tgt', 'broken.conf')).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'collie config import-tgt: broken.conf:1: <target iqn.2026-01.com.example:a> is not closed (add </target>)\n',
    });
  });
});
