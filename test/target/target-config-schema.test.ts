/**
 * Goal: the YAML config of `collie target --config` is one zod schema that accepts what the
 * hand-written checks accepted, with the same defaults, and reports a problem as one line
 * `FILE:LINE: KEY: problem (fix)`: the line is where the key is written (or where its mapping
 * starts when the key is missing), an unknown key names the nearest known key, and a document
 * given as a value (no lines) reads `FILE: KEY: ...`. The process keys (stop, log, events, admin,
 * inspect, data) follow the rules of the flags they stand for; --drain-seconds and
 * --logout-seconds run the same rule as `stop:` (parseStopSeconds).
 * Method: YAML texts through checkTargetConfigText and loadTargetConfig (a temp file); each
 * expected line is written out in full.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  loadTargetConfig,
  parseStopSeconds,
  TargetConfigError,
  targetConfigFromDocument,
} from '../../src/target/target-config.js';
import {
  checkTargetConfigText,
  formatConfigProblem,
  nearestKey,
} from '../../src/target/target-config-schema.js';

const IQN = 'iqn.2026-01.test.collie:a';

function problem(text: string): string {
  const check = checkTargetConfigText(text, 't.yaml');
  if (check.ok) throw new Error(`expected a problem in:\n${text}`);
  return formatConfigProblem(check.problem);
}

function config(text: string) {
  const check = checkTargetConfigText(text, 't.yaml');
  if (!check.ok) throw new Error(formatConfigProblem(check.problem));
  return check.config;
}

const lines = (...text: string[]) => `${text.join('\n')}\n`;

describe('accepted documents', () => {
  test('defaults: portal 127.0.0.1:3260, digests allow, NOP 10 s / 15 s, no probing, node 1', () => {
    expect(config(lines('targets:', `  - iqn: ${IQN}`, '    luns: { 1: mem:1M }'))).toEqual({
      portals: [{ host: '127.0.0.1', port: 3260 }],
      targets: [
        { iqn: IQN, luns: [{ lun: 1, backing: { kind: 'memory', sizeBytes: 1024 * 1024 }, text: 'mem:1M' }] },
      ],
      digests: 'allow',
      nopIntervalMs: 10_000,
      nopTimeoutMs: 15_000,
      sheepdogProbeEveryRead: false,
      nodeId: 1,
    });
  });

  test('every key of docs/target.md', () => {
    const parsed = config(
      lines(
        'portals: [127.0.0.1:3260, "[::1]:3261", 3262]',
        'targets:',
        `  - iqn: ${IQN}`,
        '    alias: 2026',
        '    luns: { 1: tcp:127.0.0.1:7000:vol0, 2: mem:1G, 3: "file:/tmp/x.img:10M" }',
        '    chap: { user: alice, secret: twelve-bytes-min }',
        '    mutualChap: { user: target, secret: another-secret }',
        '    initiators: [iqn.1993-08.org.debian:01:abc]',
        '    addresses: [127.0.0.0/8, "::1"]',
        '    sheepdogProbeEveryRead: true',
        '    alua: single-owner',
        'digests: require',
        'nopIntervalMs: 0',
        'nopTimeoutMs: 5000',
        'sheepdogProbeEveryRead: true',
        'nodeId: "7"',
      ),
    );
    expect(parsed).toEqual({
      portals: [
        { host: '127.0.0.1', port: 3260 },
        { host: '::1', port: 3261 },
        { host: '127.0.0.1', port: 3262 },
      ],
      targets: [
        {
          iqn: IQN,
          alias: '2026',
          luns: [
            {
              lun: 1,
              backing: {
                kind: 'sheepdog',
                spec: { kind: 'tcp', endpoint: { host: '127.0.0.1', port: 7000 }, vdiName: 'vol0' },
              },
              text: 'tcp:127.0.0.1:7000:vol0',
            },
            { lun: 2, backing: { kind: 'memory', sizeBytes: 1024 ** 3 }, text: 'mem:1G' },
            {
              lun: 3,
              backing: { kind: 'file', path: '/tmp/x.img', sizeBytes: 10 * 1024 * 1024 },
              text: 'file:/tmp/x.img:10M',
            },
          ],
          chap: { user: 'alice', secret: 'twelve-bytes-min' },
          mutualChap: { user: 'target', secret: 'another-secret' },
          initiators: ['iqn.1993-08.org.debian:01:abc'],
          addresses: ['127.0.0.0/8', '::1'],
          sheepdogProbeEveryRead: true,
          alua: 'single-owner',
        },
      ],
      digests: 'require',
      nopIntervalMs: 0,
      nopTimeoutMs: 5000,
      sheepdogProbeEveryRead: true,
      nodeId: 7,
    });
  });

  test('an empty targets list is accepted (as before)', () => {
    expect(config('targets: []\n').targets).toEqual([]);
  });

  test('the process keys: stop, log, events, admin, data (each as its flag takes it)', () => {
    const parsed = config(
      lines(
        'targets: []',
        'stop: { drainSeconds: 10, logoutSeconds: "0" }',
        'log: { level: debug, format: json }',
        'events: events.jsonl',
        'admin: 8260',
        'data: /var/lib/collie',
      ),
    );
    expect(parsed).toMatchObject({
      drainSeconds: 10,
      logoutSeconds: 0,
      log: { logLevel: 'debug', logFormat: 'json' },
      events: 'events.jsonl',
      admin: { host: '127.0.0.1', port: 8260, hostGiven: false },
      data: '/var/lib/collie',
    });
    expect(parsed.inspect).toBeUndefined();
    expect(config(lines('targets: []', 'inspect: "[::1]:0"')).inspect).toEqual({
      host: '::1',
      port: 0,
      hostGiven: true,
    });
  });

  test('a written stop or log mapping fills in its defaults; left out, nothing is set', () => {
    expect(config(lines('targets: []', 'stop: {}', 'log: {}'))).toMatchObject({
      drainSeconds: 3,
      logoutSeconds: 2,
      log: { logFormat: 'auto' },
    });
    const bare = config('targets: []\n');
    for (const key of ['drainSeconds', 'logoutSeconds', 'log', 'events', 'admin', 'inspect', 'data']) {
      expect(bare, key).not.toHaveProperty(key);
    }
  });
});

describe('a problem is one line: FILE:LINE: KEY: problem (fix)', () => {
  const target = (...extra: string[]) =>
    lines('targets:', `  - iqn: ${IQN}`, '    luns: { 1: mem:1M }', ...extra);
  test.each([
    [
      'an unknown key names the nearest known one',
      lines('nodeid: 3', 'targets: []'),
      't.yaml:1: nodeid: unknown key (did you mean nodeId?)',
    ],
    [
      'an unknown key in a target, spelt the tgt way',
      target('    mutual_chap: { user: u, secret: twelve-bytes-min }'),
      't.yaml:4: targets[0].mutual_chap: unknown key (did you mean mutualChap?)',
    ],
    [
      'an unknown key far from every known one lists them',
      target('    vendor: ACME'),
      't.yaml:4: targets[0].vendor: unknown key (remove it; the keys here are iqn, alias, luns, chap, mutualChap, initiators, addresses, sheepdogProbeEveryRead, alua)',
    ],
    [
      'a missing key: the line of its mapping',
      lines('targets:', `  - iqn: ${IQN}`),
      't.yaml:2: targets[0].luns: is missing (write luns: { 1: mem:1G, 2: tcp:127.0.0.1:7000:vol0 })',
    ],
    [
      'no targets',
      lines('portals: [127.0.0.1:3260]'),
      't.yaml:1: targets: is missing (write targets: with one entry per target, e.g. - { iqn: iqn.2026-11.org.collie:vol0, luns: { 1: mem:1G } })',
    ],
    [
      'a bad node id',
      lines('targets: []', 'nodeId: 0'),
      't.yaml:2: nodeId: 0 is not a node id (write an integer from 1 to 65535, distinct for every target node exporting the same VDI)',
    ],
    [
      'a bad iSCSI name',
      lines('targets:', '  - iqn: vol0', '    luns: { 1: mem:1M }'),
      't.yaml:2: targets[0].iqn: "vol0" is not an iSCSI name (write iqn.YYYY-MM.reversed.domain:name)',
    ],
    [
      'a bad LUN number',
      lines('targets:', `  - iqn: ${IQN}`, '    luns:', '      20000: mem:1M'),
      't.yaml:4: targets[0].luns.20000: "20000" is not a LUN number (write an integer from 0 to 16383)',
    ],
    [
      'a bad backing store',
      lines('targets:', `  - iqn: ${IQN}`, '    luns:', '      1: mem:1M', '      2: disk:/x'),
      't.yaml:5: targets[0].luns.2: backing store "disk:/x": unknown kind "disk" (write mem:SIZE, file:PATH[:SIZE], tcp:HOST:PORT:VDI or unix:PATH:VDI)',
    ],
    [
      'no LUN',
      lines('targets:', `  - iqn: ${IQN}`, '    luns: {}'),
      't.yaml:3: targets[0].luns: has no LUN (add one, e.g. luns: { 1: mem:1G })',
    ],
    [
      'a short CHAP secret',
      target('    chap:', '      user: alice', '      secret: short'),
      't.yaml:6: targets[0].chap.secret: is 5 bytes, shorter than 12 (RFC 7143 §9.2.1: use 12 or more)',
    ],
    [
      'a secret YAML reads as a number',
      target('    chap: { user: alice, secret: 123456789012345 }'),
      't.yaml:4: targets[0].chap.secret: 123456789012345 is not a secret (write secret: TEXT of 12 bytes or more, quoted if it looks like a number)',
    ],
    [
      'mutual CHAP without CHAP',
      target('    mutualChap: { user: target, secret: another-secret }'),
      't.yaml:4: targets[0].mutualChap: needs chap too (add chap: { user, secret }: the initiator authenticates first)',
    ],
    [
      'an address that can never match',
      target('    addresses:', '      - 10.0.0.0/8', '      - 10.0.0.300'),
      't.yaml:6: targets[0].addresses[1]: "10.0.0.300" is not an IP address or CIDR block (write 10.0.0.0/8, 192.0.2.7 or fd00::/8)',
    ],
    [
      'a bad portal',
      lines('portals: [localhost]', 'targets: []'),
      't.yaml:1: portals[0]: "localhost" is not an address (write HOST:PORT, e.g. 127.0.0.1:3260)',
    ],
    [
      'no portal',
      lines('portals: []', 'targets: []'),
      't.yaml:1: portals: is empty (write at least one HOST:PORT, or leave portals out for 127.0.0.1:3260)',
    ],
    [
      'a bad digest policy',
      lines('targets: []', 'digests: crc32c'),
      't.yaml:2: digests: "crc32c" is not a digest policy (write none, allow or require)',
    ],
    [
      'a YAML 1.1 boolean',
      lines('targets: []', 'sheepdogProbeEveryRead: yes'),
      't.yaml:2: sheepdogProbeEveryRead: "yes" is not true or false (write true or false)',
    ],
    [
      'a negative interval',
      lines('targets: []', 'nopIntervalMs: -1'),
      't.yaml:2: nopIntervalMs: -1 is not a number of milliseconds (write e.g. 10000; 0 turns the keepalive ping off)',
    ],
    [
      'an empty value',
      target('    chap:'),
      't.yaml:4: targets[0].chap: is empty (write { user: NAME, secret: TWELVE-BYTES-MIN })',
    ],
    [
      'an unknown ALUA policy',
      target('    alua: round-robin'),
      't.yaml:4: targets[0].alua: "round-robin" is not an ALUA policy (write active-active or single-owner)',
    ],
    [
      'one IQN twice',
      lines(
        'targets:',
        `  - { iqn: ${IQN}, luns: { 1: mem:1M } }`,
        `  - { iqn: ${IQN.toUpperCase().replace('IQN.', 'iqn.')}, luns: { 1: mem:1M } }`,
      ),
      `t.yaml:3: targets[1].iqn: ${IQN.toUpperCase().replace('IQN.', 'iqn.')} is given twice (iSCSI names are unique: rename or merge one)`,
    ],
    [
      'a key given twice',
      lines('nodeId: 1', 'nodeId: 2', 'targets: []'),
      't.yaml:2: not YAML: Map keys must be unique (keep one of them)',
    ],
    [
      'broken YAML',
      lines('targets:', '  - { iqn: x', 'nodeId: 1'),
      // yaml's own wording, on the line where it noticed.
      /^t\.yaml:3: not YAML: Flow map.* \(fix the YAML syntax here\)$/,
    ],
    [
      'an empty file',
      '',
      't.yaml:1: the config is empty (write targets: with one entry per target, as in docs/target.md)',
    ],
    [
      'a drain past the bound',
      lines('targets: []', 'stop:', '  drainSeconds: 61'),
      't.yaml:3: stop.drainSeconds: 61 is not a number of seconds (write whole seconds from 0 to 60)',
    ],
    [
      'a negative logout wait',
      lines('targets: []', 'stop: { logoutSeconds: -1 }'),
      't.yaml:2: stop.logoutSeconds: -1 is not a number of seconds (write whole seconds from 0 to 60)',
    ],
    [
      'a fraction of a second',
      lines('targets: []', 'stop: { drainSeconds: 1.5 }'),
      't.yaml:2: stop.drainSeconds: 1.5 is not a number of seconds (write whole seconds from 0 to 60)',
    ],
    [
      'seconds as words',
      lines('targets: []', 'stop: { drainSeconds: soon }'),
      't.yaml:2: stop.drainSeconds: "soon" is not a number of seconds (write whole seconds from 0 to 60)',
    ],
    [
      'a stop key misspelt',
      lines('targets: []', 'stop: { drain_seconds: 3 }'),
      't.yaml:2: stop.drain_seconds: unknown key (did you mean drainSeconds?)',
    ],
    [
      'stop as a number',
      lines('targets: []', 'stop: 5'),
      't.yaml:2: stop: 5 is not a mapping of stop bounds (write stop: { drainSeconds: 3, logoutSeconds: 2 })',
    ],
    [
      'an unknown log level',
      lines('targets: []', 'log: { level: loud }'),
      't.yaml:2: log.level: "loud" is not a log level (write one of trace, debug, info, warn, error, fatal, silent)',
    ],
    [
      'an unknown log format',
      lines('targets: []', 'log:', '  format: xml'),
      't.yaml:3: log.format: "xml" is not a log format (write auto, json, pretty)',
    ],
    [
      'a bad admin address (the --admin rule)',
      lines('targets: []', 'admin: nowhere'),
      't.yaml:2: admin: "nowhere" is not [HOST:]PORT (write e.g. 8080, 127.0.0.1:8080, or 0 for any free port)',
    ],
    [
      'a port past 65535',
      lines('targets: []', 'inspect: 70000'),
      't.yaml:2: inspect: "70000" is not [HOST:]PORT (write e.g. 8080, 127.0.0.1:8080, or 0 for any free port)',
    ],
    [
      'admin and inspect: one listener',
      lines('targets: []', 'admin: 8260', 'inspect: 8261'),
      't.yaml:3: inspect: names the same listener as admin (keep one: admin serves the admin API, /metrics and the inspector; inspect only the inspector and /metrics)',
    ],
    [
      'an empty events file',
      lines('targets: []', 'events: ""'),
      't.yaml:2: events: is empty (write events: FILE, e.g. events.jsonl)',
    ],
    [
      'a list of event files',
      lines('targets: []', 'events: [a.jsonl]'),
      't.yaml:2: events: a list is not a file (write events: FILE, e.g. events.jsonl)',
    ],
    [
      'no data directory written',
      lines('targets: []', 'data:'),
      't.yaml:2: data: is empty (write data: DIR, e.g. .collie)',
    ],
    [
      'a list, not a mapping',
      lines('- a', '- b'),
      't.yaml:1: a list is not a mapping of keys (write portals:, targets: and the other keys of docs/target.md)',
    ],
  ])('%s', (_name, text, expected: string | RegExp) => {
    const line = problem(text);
    if (typeof expected === 'string') expect(line).toBe(expected);
    else expect(line).toMatch(expected);
    expect(line).toMatch(/^t\.yaml:\d+: [^\n]+ \([^\n]+\)$/);
  });

  test('of several problems, the one written first', () => {
    expect(problem(lines('targets:', '  - iqn: vol0', '    luns: { 1: disk:/x }', 'nodeId: 0'))).toBe(
      't.yaml:2: targets[0].iqn: "vol0" is not an iSCSI name (write iqn.YYYY-MM.reversed.domain:name)',
    );
  });

  test('a document without lines names FILE and KEY', () => {
    expect(() =>
      targetConfigFromDocument({ targets: [{ iqn: IQN, luns: { 1: 'mem:1M' }, lun: 2 }] }, 't.yaml'),
    ).toThrow(new TargetConfigError('t.yaml: targets[0].lun: unknown key (did you mean luns?)'));
  });
});

describe('parseStopSeconds: --drain-seconds and --logout-seconds run the stop: rule', () => {
  test('whole seconds 0..60 as text; anything else names the flag and the fix', () => {
    expect(parseStopSeconds('0', '--drain-seconds')).toBe(0);
    expect(parseStopSeconds('60', '--logout-seconds')).toBe(60);
    for (const [text, shown] of [
      ['61', '61'],
      ['-1', '"-1"'],
      ['1.5', '"1.5"'],
      ['soon', '"soon"'],
      ['', '""'],
    ]) {
      expect(() => parseStopSeconds(text, '--drain-seconds')).toThrow(
        new TargetConfigError(
          `--drain-seconds ${shown} is not a number of seconds (write whole seconds from 0 to 60)`,
        ),
      );
    }
  });
});

describe('loadTargetConfig', () => {
  const directories: string[] = [];
  afterAll(async () => {
    for (const directory of directories) await rm(directory, { recursive: true, force: true });
  });

  test('a file problem throws one line with the file, the line and the key', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'collie-config-schema-'));
    directories.push(directory);
    const file = join(directory, 'targets.yaml');
    await writeFile(
      file,
      lines('targets:', `  - iqn: ${IQN}`, '    luns: { 1: mem:1M }', '    initiator: [x]'),
    );
    await expect(loadTargetConfig(file)).rejects.toThrow(
      new TargetConfigError(`${file}:4: targets[0].initiator: unknown key (did you mean initiators?)`),
    );
    await expect(loadTargetConfig(join(directory, 'missing.yaml'))).rejects.toThrow(
      new TargetConfigError(`${join(directory, 'missing.yaml')}: cannot read it (ENOENT; check the path)`),
    );
  });
});

describe('nearestKey', () => {
  test('a typo, another case or separator: the key; anything else: none', () => {
    const known = ['iqn', 'luns', 'initiators', 'mutualChap', 'sheepdogProbeEveryRead'];
    expect(nearestKey('initators', known)).toBe('initiators');
    expect(nearestKey('MUTUAL-CHAP', known)).toBe('mutualChap');
    expect(nearestKey('sheepdog_probe_every_read', known)).toBe('sheepdogProbeEveryRead');
    expect(nearestKey('lun', known)).toBe('luns');
    expect(nearestKey('vendor', known)).toBeUndefined();
  });
});

describe('limits: (docs/limits.md)', () => {
  test('written keys reach the config; keys left out stay out (the server keeps its defaults)', () => {
    const parsed = config('limits:\n  sessionsPerTargetMax: 16\n  loginTimeoutMs: 5000\ntargets: []\n');
    expect(parsed.limits).toEqual({ sessionsPerTargetMax: 16, loginTimeoutMs: 5000 });
    expect(config('targets: []\n').limits).toBeUndefined();
  });

  test.each([
    ['sessionsPerTargetMax: 0', /^t\.yaml:2: limits\.sessionsPerTargetMax: .*1 or more/],
    ['loginTimeoutMs: 1.5', /^t\.yaml:2: limits\.loginTimeoutMs: .*whole number of milliseconds/],
    ['commandWindow: many', /^t\.yaml:2: limits\.commandWindow: /],
    ['sessionsMax: 4', /^t\.yaml:2: limits\.sessionsMax: unknown key/],
  ])('%s is refused in one line naming the key and the fix', (line, message) => {
    expect(problem(`limits:\n  ${line}\ntargets: []\n`)).toMatch(message);
  });
});
