/**
 * Goal: `collie config import-tgt` turns a realistic tgt targets.conf (several targets, sheepdog
 * and file LUNs in both of tgt-admin's forms, CHAP both ways, address and name ACLs, includes,
 * directives Collie has no use for) into YAML that Collie's schema accepts and whose config is
 * what tgt-admin would have served, with tgt-admin's LUN numbers; and reports every directive it
 * did not map with its file, line and reason. Access limits are never dropped: a secret or an
 * address Collie refuses stays in the YAML, which then fails its check.
 * Method: importTgtConfig on texts built line by line (line numbers are looked up, not counted by
 * hand); the YAML goes through checkTargetConfigText; report lines compared in full.
 */
import { describe, expect, test } from 'vitest';
import { checkTargetConfigText, formatConfigProblem } from '../../src/target/target-config-schema.js';
import {
  formatTgtReport,
  importTgtConfig,
  TgtConfigSyntaxError,
  type TgtImport,
  type TgtSource,
} from '../../src/target/tgt-config-import.js';

const TARGETS_CONF = [
  '# tgt on storage node 1',
  'default-driver iscsi',
  'include conf.d/*.conf',
  'iSNSServerIP 10.0.0.9',
  '',
  '<target iqn.2026-01.com.example:db>',
  '    bs-type sheepdog',
  '    backing-store tcp:10.0.0.1:7000:db-log    # sorted: LUN 2',
  '    backing-store tcp:10.0.0.1:7000:db-data   # LUN 1',
  '    incominguser dbhost secretpass1234',
  '    incominguser backup backupsecret99',
  '    outgoinguser storage targetsecret12',
  '    initiator-address 10.0.1.0/24',
  '    initiator-address 10.0.2.7',
  '    initiator-name iqn.1993-08.org.debian:01:dbhost',
  '    write-cache off',
  '    vendor_id ACME Storage',
  '    MaxRecvDataSegmentLength 262144',
  '    HeaderDigest CRC32C',
  '</target>',
  '',
  '<target iqn.2026-01.com.example:files>',
  '    <backing-store /srv/images/files.img>',
  '        lun 3',
  '        scsi_sn FILES01',
  '    </backing-store>',
  '    <backing-store /srv/images/scratch.img>',
  '        bs-type aio',
  '    </backing-store>',
  '    direct-store /srv/images/passthrough.img',
  '    initiator-address ALL',
  '    controller_tid 7',
  '    allow-in-use yes',
  '</target>',
  '',
  '<target iqn.2026-01.com.example:snap>',
  '    bs-type sheepdog',
  '    backing-store tcp:10.0.0.1:7000:golden:base',
  '</target>',
  '',
  '<target iqn.2026-01.com.example:ceph>',
  '    bs-type rbd',
  '    backing-store rbd/disk0',
  '</target>',
  '',
  '<target iqn.2026-01.com.example:ro>',
  '    backing-store /srv/images/golden.img',
  '    readonly 1',
  '</target>',
  '',
].join('\n');

const WEB_CONF = [
  '<target iqn.2026-01.com.example:web>',
  '    backing-store /srv/images/web.img',
  '    lun 5',
  '    incominguser web webwebwebweb',
  '</target>',
  '',
].join('\n');

function lineOf(text: string, fragment: string): number {
  const index = text.split('\n').findIndex((line) => line.includes(fragment));
  if (index === -1) throw new Error(`no line has ${JSON.stringify(fragment)}`);
  return index + 1;
}

function includeWeb(pattern: string, from: string): TgtSource[] {
  expect({ pattern, from }).toEqual({ pattern: 'conf.d/*.conf', from: 'targets.conf' });
  return [{ file: 'conf.d/web.conf', text: WEB_CONF }];
}

function imported(): TgtImport {
  return importTgtConfig({ file: 'targets.conf', text: TARGETS_CONF }, { include: includeWeb });
}

const at = (fragment: string) => `targets.conf:${lineOf(TARGETS_CONF, fragment)}`;

describe('a realistic targets.conf', () => {
  test('YAML the schema accepts, with what tgt-admin would serve', () => {
    const result = imported();
    const check = checkTargetConfigText(result.yaml, 'imported.yaml');
    if (!check.ok) throw new Error(formatConfigProblem(check.problem));
    expect(check.config.portals).toEqual([{ host: '0.0.0.0', port: 3260 }]);
    expect(
      check.config.targets.map((target) => ({
        ...target,
        luns: Object.fromEntries(target.luns.map(({ lun, text }) => [lun, text])),
      })),
    ).toEqual([
      {
        iqn: 'iqn.2026-01.com.example:web',
        luns: { 5: 'file:/srv/images/web.img' },
        chap: { user: 'web', secret: 'webwebwebweb' },
      },
      {
        iqn: 'iqn.2026-01.com.example:db',
        // tgt-admin numbers a target's backing-stores in sorted path order.
        luns: { 1: 'tcp:10.0.0.1:7000:db-data', 2: 'tcp:10.0.0.1:7000:db-log' },
        chap: { user: 'dbhost', secret: 'secretpass1234' },
        mutualChap: { user: 'storage', secret: 'targetsecret12' },
        initiators: ['iqn.1993-08.org.debian:01:dbhost'],
        addresses: ['10.0.1.0/24', '10.0.2.7'],
      },
      {
        iqn: 'iqn.2026-01.com.example:files',
        // lun 3 is reserved; the others take the lowest free numbers, backing-stores first.
        luns: {
          1: 'file:/srv/images/scratch.img',
          2: 'file:/srv/images/passthrough.img',
          3: 'file:/srv/images/files.img',
        },
      },
    ]);
    expect(check.config.targets[1]!.luns[0]!.backing).toEqual({
      kind: 'sheepdog',
      spec: { kind: 'tcp', endpoint: { host: '10.0.0.1', port: 7000 }, vdiName: 'db-data' },
    });
    expect(result.document.targets.map((target) => target.iqn)).toEqual(
      check.config.targets.map((target) => target.iqn),
    );
  });

  test('the YAML says where each entry came from', () => {
    const { yaml } = imported();
    expect(yaml).toContain(
      `  # ${at('<target iqn.2026-01.com.example:db>')}: <target iqn.2026-01.com.example:db>\n`,
    );
    expect(yaml).toContain(
      `      1: tcp:10.0.0.1:7000:db-data # ${at('db-data')}: backing-store tcp:10.0.0.1:7000:db-data\n`,
    );
    expect(yaml).toContain(`  #   ${at('vendor_id')}: vendor_id ACME Storage\n`);
  });

  test('every directive it did not map: file, line, directive, why', () => {
    const report = imported().notMapped.map(
      (line) => `${line.file}:${line.line}: ${line.directive}: ${line.note}`,
    );
    expect([...report].sort()).toEqual(
      [
        `${at('iSNSServerIP')}: iSNSServerIP 10.0.0.9: Collie does not register with iSNS; initiators find its targets by SendTargets discovery`,
        `${at('incominguser backup')}: incominguser backup ********: Collie has one CHAP account per target and uses dbhost's (give that account to this initiator too)`,
        `${at('write-cache off')}: write-cache off: Collie LUs start with the write cache on; an initiator may turn it off (MODE SELECT, Caching page WCE)`,
        `${at('vendor_id')}: vendor_id ACME Storage: Collie answers INQUIRY with vendor COLLIE; update multipath or udev rules that match the vendor`,
        `${at('MaxRecvDataSegmentLength')}: MaxRecvDataSegmentLength 262144: Collie negotiates its own values (docs/target.md, "What it negotiates")`,
        `${at('HeaderDigest')}: HeaderDigest CRC32C: Collie negotiates digests for all targets at once: set digests: none, allow or require at the top of the YAML`,
        `${at('scsi_sn')}: scsi_sn FILES01: Collie derives the unit serial number (VPD 80h) from the backing store, equal on every node exporting it`,
        `${at('controller_tid')}: controller_tid 7: Collie has no target ids (targets are known by their IQN)`,
        `${at('allow-in-use')}: allow-in-use yes: Collie does not check whether a file is in use; a sheepdog VDI is shared by design`,
        `${at('golden:base')}: backing-store tcp:10.0.0.1:7000:golden:base: backing store "tcp:10.0.0.1:7000:golden:base": "golden:base" has a ':' (a snapshot LUN, VDI:TAG); snapshots cannot back a LU, so export a clone of the snapshot instead; write it as tcp:HOST:PORT:VDI or unix:PATH:VDI`,
        `${at(':snap>')}: <target iqn.2026-01.com.example:snap>: no LUN Collie can serve (see the lines of its stores); the target is left out`,
        `${at('bs-type rbd')}: bs-type rbd: Collie has no rbd backing store (it serves files, memory and sheepdog VDIs)`,
        `${at('rbd/disk0')}: backing-store rbd/disk0: Collie has no rbd backing store (it serves files, memory and sheepdog VDIs)`,
        `${at(':ceph>')}: <target iqn.2026-01.com.example:ceph>: no LUN Collie can serve (see the lines of its stores); the target is left out`,
        `${at('golden.img')}: backing-store /srv/images/golden.img: read-only (line ${lineOf(TARGETS_CONF, 'readonly 1')}): Collie has no read-only LUs yet, and serving it writable could let initiators change it`,
        `${at(':ro>')}: <target iqn.2026-01.com.example:ro>: no LUN Collie can serve (see the lines of its stores); the target is left out`,
      ].sort(),
    );
  });

  test('what it mapped, among others', () => {
    const report = imported().mapped.map(
      (line) => `${line.file}:${line.line}: ${line.directive}: ${line.note}`,
    );
    expect(report).toEqual(
      expect.arrayContaining([
        `${at('include')}: include conf.d/*.conf: read conf.d/web.conf`,
        `${at('default-driver')}: default-driver iscsi: Collie serves iSCSI over TCP (nothing to write)`,
        `${at('db-data')}: backing-store tcp:10.0.0.1:7000:db-data: LUN 1 tcp:10.0.0.1:7000:db-data`,
        `${at('incominguser dbhost')}: incominguser dbhost ********: chap dbhost`,
        `${at('outgoinguser')}: outgoinguser storage ********: mutualChap storage`,
        `${at('10.0.1.0/24')}: initiator-address 10.0.1.0/24: addresses: 10.0.1.0/24`,
        `${at('initiator-address ALL')}: initiator-address ALL: every address may connect (no addresses list)`,
        `${at('passthrough.img')}: direct-store /srv/images/passthrough.img: LUN 2 file:/srv/images/passthrough.img, but a file LU: Collie answers INQUIRY itself (tgt's direct-store copies the device's)`,
        `conf.d/web.conf:${lineOf(WEB_CONF, 'lun 5')}: lun 5: LUN 5`,
      ]),
    );
    // No secret reaches the report.
    expect(formatTgtReport(imported())).not.toMatch(/secretpass1234|targetsecret12|backupsecret99/);
  });

  test('the report: mapped, not mapped, a summary', () => {
    const text = formatTgtReport(imported());
    expect(text).toMatch(/^mapped \(\d+\):\n {2}conf\.d\/web\.conf:1: /);
    expect(text).toContain(`\nnot mapped (16):\n  ${at('iSNSServerIP')}: iSNSServerIP 10.0.0.9: `);
    expect(text.endsWith('\n3 targets, 6 LUNs; 16 directives not mapped\n')).toBe(true);
  });

  test('without an include reader, includes are reported, not followed', () => {
    const result = importTgtConfig({ file: 'targets.conf', text: TARGETS_CONF });
    expect(result.notMapped).toContainEqual({
      file: 'targets.conf',
      line: lineOf(TARGETS_CONF, 'include'),
      directive: 'include conf.d/*.conf',
      note: 'not followed (import that file too)',
    });
    expect(result.document.targets.map((target) => target.iqn)).not.toContain('iqn.2026-01.com.example:web');
  });
});

describe('access limits are kept, even when Collie refuses them', () => {
  test('a short CHAP secret stays: the YAML fails its check at that key', () => {
    const text = [
      '<target iqn.2026-01.com.example:a>',
      '  backing-store /srv/a.img',
      '  incominguser u short',
      '</target>',
    ];
    const result = importTgtConfig({ file: 'targets.conf', text: text.join('\n') });
    expect(result.mapped).toContainEqual({
      file: 'targets.conf',
      line: 3,
      directive: 'incominguser u ********',
      note: 'chap u, but its secret is 5 bytes and Collie refuses fewer than 12 (RFC 7143 §9.2.1): set a longer one here and on the initiators; the YAML does not load until then',
    });
    const check = checkTargetConfigText(result.yaml, 'out.yaml');
    expect(check.ok ? 'accepted' : formatConfigProblem(check.problem)).toMatch(
      /^out\.yaml:\d+: targets\[0\]\.chap\.secret: is 5 bytes, shorter than 12 /,
    );
  });

  test('an address Collie cannot read stays: the YAML fails its check at that entry', () => {
    const text = [
      '<target iqn.2026-01.com.example:a>',
      '  backing-store /srv/a.img',
      '  initiator-address host1',
      '</target>',
    ];
    const result = importTgtConfig({ file: 'targets.conf', text: text.join('\n') });
    const check = checkTargetConfigText(result.yaml, 'out.yaml');
    expect(check.ok ? 'accepted' : formatConfigProblem(check.problem)).toMatch(
      /^out\.yaml:\d+: targets\[0\]\.addresses\[0\]: "host1" is not an IP address or CIDR block/,
    );
  });
});

describe('tgt-admin syntax', () => {
  test('key = value, continuations, escaped #, unix: sheepdog stores, block devices', () => {
    const text = [
      '<target iqn.2026-01.com.example:a>',
      '  bs-type = sheepdog',
      '  backing-store unix:/var/lib/sheepdog/sock:vol\\',
      '0',
      '  <backing-store /dev/sdb>',
      '    bs-type rdwr',
      '    lun 4',
      '  </backing-store>',
      '  initiator-name iqn.2026-01.com.example:host\\#1',
      '</target>',
    ].join('\n');
    const result = importTgtConfig({ file: 't.conf', text });
    expect(result.document.targets).toEqual([
      {
        iqn: 'iqn.2026-01.com.example:a',
        luns: { 1: 'unix:/var/lib/sheepdog/sock:vol0', 4: 'file:/dev/sdb' },
        initiators: ['iqn.2026-01.com.example:host#1'],
      },
    ]);
    expect(result.mapped.map((line) => `${line.line}: ${line.note}`)).toEqual(
      expect.arrayContaining([
        '3: LUN 1 unix:/var/lib/sheepdog/sock:vol0, but collie target cannot open unix: sheep sockets yet: change it to tcp:HOST:7000:VDI',
        '5: LUN 4 file:/dev/sdb, but Collie cannot open a block device yet (a file LU takes its size from the file: copy it to a file or a VDI)',
      ]),
    );
  });

  test('a duplicate <target> block merges into the first; a target-level lun numbers its store', () => {
    const text = [
      '<target iqn.2026-01.com.example:a>',
      '  backing-store /srv/b.img',
      '</target>',
      '<target iqn.2026-01.com.example:a>',
      '  backing-store /srv/a.img',
      '</target>',
      '<target iqn.2026-01.com.example:b>',
      '  backing-store /srv/c.img',
      '  lun 7',
      '</target>',
    ].join('\n');
    const result = importTgtConfig({ file: 't.conf', text });
    expect(result.document.targets).toEqual([
      { iqn: 'iqn.2026-01.com.example:a', luns: { 1: 'file:/srv/a.img', 2: 'file:/srv/b.img' } },
      { iqn: 'iqn.2026-01.com.example:b', luns: { 7: 'file:/srv/c.img' } },
    ]);
    expect(result.mapped).toContainEqual({
      file: 't.conf',
      line: 4,
      directive: '<target iqn.2026-01.com.example:a>',
      note: 'merged into the <target> of line 1 (tgt-admin merges them too)',
    });
  });

  test('a misspelt directive is reported with the nearest one', () => {
    const text = [
      '<target iqn.2026-01.com.example:a>',
      '  backing-store /srv/a.img',
      '  incomminguser u twelve-bytes-min',
      '</target>',
    ];
    expect(importTgtConfig({ file: 't.conf', text: text.join('\n') }).notMapped).toEqual([
      {
        file: 't.conf',
        line: 3,
        directive: 'incomminguser u ********',
        note: 'not a tgt-admin target directive; tgt-admin ignores it (did you mean incominguser?)',
      },
    ]);
  });

  test.each([
    [
      ['<target iqn.2026-01.com.example:a>', '  backing-store /srv/a.img'],
      't.conf:1: <target iqn.2026-01.com.example:a> is not closed (add </target>)',
    ],
    [['backing-store /srv/a.img', '</target>'], 't.conf:2: </target> closes no <target> (remove it)'],
    [
      ['<target iqn.2026-01.com.example:a>', '  <backing-store /srv/a.img>', '</target>'],
      't.conf:3: </target> closes no <target> (close <backing-store> of line 2 first)',
    ],
  ])('a broken block is a syntax error naming the line and the fix', (lines, message) => {
    expect(() => importTgtConfig({ file: 't.conf', text: lines.join('\n') })).toThrow(
      new TgtConfigSyntaxError(message),
    );
  });

  test('an include loop is refused', () => {
    const loop = (_pattern: string, _from: string) => [
      { file: 'targets.conf', text: 'include targets.conf' },
    ];
    expect(() =>
      importTgtConfig({ file: 'targets.conf', text: 'include targets.conf' }, { include: loop }),
    ).toThrow(TgtConfigSyntaxError);
  });
});
