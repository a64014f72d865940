/**
 * tgt's targets.conf (tgt-admin's Config::General file, `man targets.conf`) read into Collie's
 * YAML config (target-config-schema.ts), with a report of every directive: mapped, or not mapped
 * and why. `collie config import-tgt` prints both.
 *
 *   <target IQN>                  a target; a second block with the same IQN merges into the first
 *     backing-store PATH          a LUN; <backing-store PATH> ... </backing-store> with LUN-level
 *     direct-store PATH           directives inside (lun N, bs-type, device-type, readonly, ...)
 *     bs-type rdwr|aio|sheepdog   rdwr and aio: file:PATH; sheepdog: PATH is tcp:HOST:PORT:VDI or
 *                                 unix:PATH:VDI, kept as is (a snapshot's :TAG is refused)
 *     lun N                       the LUN number of the target's one store
 *     incominguser USER SECRET    the first: chap (Collie has one account per target)
 *     outgoinguser USER SECRET    the first: mutualChap
 *     initiator-address ADDR      addresses (ALL: no list); initiator-name NAME: initiators
 *   </target>
 *   include PATTERN               followed through the caller's `include` (globs, directories)
 *   default-driver iscsi
 *
 * LUN numbers are tgt-admin's: backing-stores before direct-stores, each kind in sorted path order,
 * an explicit `lun` wins, the others take the lowest free number from 1. Everything else (vendor_id,
 * write-cache, scsi_sn, MaxRecvDataSegmentLength, controller_tid, allow-in-use, iSNS ...) is
 * reported as not mapped, with its line and the reason. What limits access is never dropped: a
 * CHAP secret or an address Collie refuses is written as it is, so the YAML fails its check
 * instead of serving the target open. Pure: includes are read through a callback.
 */
import { Document, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import { parseBackingSpec } from './backing.js';
import { CHAP_SECRET_BYTES_MIN, ISCSI_NAME, LUN_MAX, nearestKey } from './target-config-schema.js';

/** One file of tgt config: its name (for the report) and its text. */
export interface TgtSource {
  readonly file: string;
  readonly text: string;
}

export interface TgtImportOptions {
  /**
   * The files `include PATTERN` names, in order (the caller expands globs and directories,
   * relative to `from`'s directory); absent: includes are reported, not followed.
   */
  readonly include?: (pattern: string, from: string) => readonly TgtSource[];
}

/** One report line: `FILE:LINE: DIRECTIVE: NOTE`. */
export interface TgtReportLine {
  readonly file: string;
  readonly line: number;
  readonly directive: string;
  readonly note: string;
}

export interface TgtImport {
  /** Collie's YAML config, commented with where each entry came from. */
  readonly yaml: string;
  /** The same config as a plain value. */
  readonly document: { portals: string[]; targets: ImportedTarget[] };
  readonly mapped: readonly TgtReportLine[];
  readonly notMapped: readonly TgtReportLine[];
}

export interface ImportedTarget {
  iqn: string;
  luns: Record<number, string>;
  chap?: { user: string; secret: string };
  mutualChap?: { user: string; secret: string };
  initiators?: string[];
  addresses?: string[];
}

/** targets.conf that tgt-admin could not read either: an unclosed or stray block, an include loop. */
export class TgtConfigSyntaxError extends Error {}

/** tgtd's default portal (every IPv4 address); tgtd takes portals on its command line. */
export const TGT_DEFAULT_PORTAL = '0.0.0.0:3260';

interface Directive {
  readonly kind: 'directive';
  readonly key: string;
  readonly value: string;
  readonly file: string;
  readonly line: number;
}

interface Block {
  readonly kind: 'block';
  readonly name: string;
  readonly arg: string;
  readonly file: string;
  readonly line: number;
  readonly items: Item[];
}

type Item = Directive | Block;

class Report {
  readonly mapped: TgtReportLine[] = [];
  readonly notMapped: TgtReportLine[] = [];

  map(at: Item, note: string): void {
    this.mapped.push(line(at, note));
  }

  skip(at: Item, note: string): void {
    this.notMapped.push(line(at, note));
  }
}

function line(at: Item, note: string): TgtReportLine {
  return { file: at.file, line: at.line, directive: shown(at), note };
}

/** The directive as written, secrets masked. */
function shown(item: Item): string {
  if (item.kind === 'block') return `<${item.name}${item.arg === '' ? '' : ` ${item.arg}`}>`;
  // incominguser, outgoinguser, the discovery ones, and their misspellings: USER SECRET.
  if (/user$/i.test(item.key)) {
    const [user] = item.value.split(/\s+/);
    return `${item.key} ${user ?? ''} ********`;
  }
  return item.value === '' ? item.key : `${item.key} ${item.value}`;
}

function unquote(text: string): string {
  return /^"(.*)"$/.test(text) ? text.slice(1, -1) : text;
}

/** Config::General's lines: comments (#, not \#), continuations (trailing \), blocks, key value. */
function parseSource(source: TgtSource, options: TgtImportOptions, report: Report, open: string[]): Item[] {
  if (open.includes(source.file)) {
    throw new TgtConfigSyntaxError(
      `${source.file}: includes itself (through ${open.join(' -> ')}; remove the loop)`,
    );
  }
  const top: Item[] = [];
  const stack: Block[] = [];
  const physical = source.text.split(/\r?\n/);
  for (let index = 0; index < physical.length; index++) {
    const lineNumber = index + 1;
    let text = physical[index]!;
    while (/\\\s*$/.test(text) && index + 1 < physical.length) {
      text = text.replace(/\\\s*$/, '') + physical[++index]!;
    }
    const comment = text.search(/(?<!\\)#/);
    if (comment !== -1) text = text.slice(0, comment);
    text = text.replace(/\\#/g, '#').trim();
    if (text === '') continue;
    const into = stack.at(-1)?.items ?? top;
    const close = /^<\/\s*([^>\s]+)\s*>$/.exec(text);
    if (close) {
      const block = stack.pop();
      if (block === undefined || block.name.toLowerCase() !== close[1]!.toLowerCase()) {
        throw new TgtConfigSyntaxError(
          `${source.file}:${lineNumber}: </${close[1]}> closes no <${close[1]}> (${block === undefined ? 'remove it' : `close <${block.name}> of line ${block.line} first`})`,
        );
      }
      continue;
    }
    const openBlock = /^<\s*([^\s>/]+)\s*(.*?)\s*>$/.exec(text);
    if (openBlock && !text.startsWith('<<')) {
      const block: Block = {
        kind: 'block',
        name: openBlock[1]!,
        arg: unquote(openBlock[2]!),
        file: source.file,
        line: lineNumber,
        items: [],
      };
      into.push(block);
      stack.push(block);
      continue;
    }
    const nativeInclude = /^<<\s*include\s+(.+?)\s*>>$/i.exec(text);
    const pair = nativeInclude
      ? ['', 'include', nativeInclude[1]!]
      : /^([^\s=]+)\s*(?:=\s*|\s+|$)(.*)$/.exec(text);
    const directive: Directive = {
      kind: 'directive',
      key: pair?.[1] ?? text,
      value: unquote((pair?.[2] ?? '').trim()),
      file: source.file,
      line: lineNumber,
    };
    if (directive.key.toLowerCase() === 'include') {
      into.push(...includeItems(directive, source, options, report, [...open, source.file]));
    } else {
      into.push(directive);
    }
  }
  const unclosed = stack.at(-1);
  if (unclosed !== undefined) {
    throw new TgtConfigSyntaxError(
      `${source.file}:${unclosed.line}: <${unclosed.name}${unclosed.arg === '' ? '' : ` ${unclosed.arg}`}> is not closed (add </${unclosed.name}>)`,
    );
  }
  return top;
}

function includeItems(
  directive: Directive,
  from: TgtSource,
  options: TgtImportOptions,
  report: Report,
  open: string[],
): Item[] {
  if (options.include === undefined) {
    report.skip(directive, 'not followed (import that file too)');
    return [];
  }
  const sources = options.include(directive.value, from.file);
  report.map(
    directive,
    sources.length === 0
      ? 'no file matches (tgt-admin reads nothing either)'
      : `read ${sources.map((source) => source.file).join(', ')}`,
  );
  return sources.flatMap((source) => parseSource(source, options, report, open));
}

const GLOBAL_NOT_MAPPED: Record<string, string> = {
  'ignore-errors': 'Collie refuses a config with errors; `collie config check` names them',
  'control-port': 'Collie has no tgtd control socket: run one `collie target --config` per config',
  iSNS: 'Collie does not register with iSNS; initiators find its targets by SendTargets discovery',
  iSNSServerIP: 'Collie does not register with iSNS; initiators find its targets by SendTargets discovery',
  iSNSServerPort: 'Collie does not register with iSNS; initiators find its targets by SendTargets discovery',
  iSNSAccessControl:
    'Collie does not register with iSNS; initiators find its targets by SendTargets discovery',
  incomingdiscoveryuser:
    'Collie has no CHAP on discovery sessions; SendTargets shows an initiator only the targets whose ACLs allow it',
  outgoingdiscoveryuser:
    'Collie has no CHAP on discovery sessions; SendTargets shows an initiator only the targets whose ACLs allow it',
};

/** LUN-level directives (at target level they apply to every LUN) Collie has no equivalent of. */
const LUN_NOT_MAPPED: Record<string, string> = {
  'write-cache':
    'Collie LUs start with the write cache on; an initiator may turn it off (MODE SELECT, Caching page WCE)',
  vendor_id:
    'Collie answers INQUIRY with vendor COLLIE; update multipath or udev rules that match the vendor',
  product_id:
    'Collie answers INQUIRY with product VIRTUAL DISK; update multipath or udev rules that match it',
  product_rev: 'Collie reports its own product revision',
  scsi_id:
    'Collie derives the device identifiers (VPD 83h) from the backing store, equal on every node exporting it',
  scsi_sn:
    'Collie derives the unit serial number (VPD 80h) from the backing store, equal on every node exporting it',
  sense_format: 'Collie chooses the sense data format itself',
  removable: 'Collie LUs are not removable media',
  online: 'Collie LUs are online while they are served',
  path: 'a tgt LU parameter with no Collie equivalent',
  mode_page: 'Collie builds its own mode pages',
  'block-size': 'Collie LUs have 512-byte logical blocks',
  lbppbe: 'Collie reports its own physical block exponent (READ CAPACITY 16)',
  la_lba: 'Collie reports its own lowest aligned LBA (READ CAPACITY 16)',
  optimal_xfer_gran: 'Collie reports its own block limits (VPD B0h)',
  optimal_xfer_len: 'Collie reports its own block limits (VPD B0h)',
  params: 'tgtadm --params have no Collie equivalent',
  bsopts: "options of tgt's backing-store modules have no Collie equivalent",
  bsoflags: 'Collie opens backing files itself (no O_DIRECT or O_SYNC choice)',
  'allow-in-use': 'Collie does not check whether a file is in use; a sheepdog VDI is shared by design',
};

const ISCSI_PARAMETERS = new Set([
  'MaxRecvDataSegmentLength',
  'MaxXmitDataSegmentLength',
  'InitialR2T',
  'MaxOutstandingR2T',
  'ImmediateData',
  'FirstBurstLength',
  'MaxBurstLength',
  'DataPDUInOrder',
  'DataSequenceInOrder',
  'ErrorRecoveryLevel',
  'IFMarker',
  'OFMarker',
  'DefaultTime2Wait',
  'DefaultTime2Retain',
  'OFMarkInt',
  'IFMarkInt',
  'MaxConnections',
]);

const TARGET_KEYS = [
  'backing-store',
  'direct-store',
  'lun',
  'bs-type',
  'device-type',
  'readonly',
  'driver',
  'initiator-address',
  'initiator-name',
  'incominguser',
  'outgoinguser',
  'controller_tid',
  'HeaderDigest',
  'DataDigest',
  ...ISCSI_PARAMETERS,
  ...Object.keys(LUN_NOT_MAPPED),
];

/** bs-type values served as a file LU. */
const FILE_BS_TYPES = new Set(['rdwr', 'aio', 'mmap']);

interface Store {
  readonly kind: 'backing-store' | 'direct-store';
  readonly path: string;
  readonly at: Item;
  readonly options: Directive[];
}

/** Reads targets.conf (and what it includes) into Collie's YAML config and a report. */
export function importTgtConfig(source: TgtSource, options: TgtImportOptions = {}): TgtImport {
  const report = new Report();
  const items = parseSource(source, options, report, []);
  const blocks = new Map<string, Block[]>();
  for (const item of items) {
    if (item.kind === 'block') {
      if (item.name !== 'target') {
        report.skip(item, `not a tgt-admin block (tgt-admin reads <target IQN> blocks only)`);
        continue;
      }
      const same = blocks.get(item.arg);
      if (same === undefined) blocks.set(item.arg, [item]);
      else {
        same.push(item);
        report.map(item, `merged into the <target> of line ${same[0]!.line} (tgt-admin merges them too)`);
      }
      continue;
    }
    globalDirective(item, report);
  }
  const targets: RenderedTarget[] = [];
  for (const [iqn, sameName] of blocks) {
    const before = report.notMapped.length;
    const imported = importTarget(iqn, sameName, report);
    const skipped = report.notMapped.slice(before);
    if (imported !== undefined) targets.push({ ...imported, from: sameName[0]!, skipped });
  }
  const document = { portals: [TGT_DEFAULT_PORTAL], targets: targets.map(({ target }) => target) };
  return {
    yaml: renderYaml(source.file, targets),
    document,
    mapped: report.mapped,
    notMapped: report.notMapped,
  };
}

function globalDirective(item: Directive, report: Report): void {
  if (item.key === 'default-driver') {
    if (item.value === 'iscsi') report.map(item, 'Collie serves iSCSI over TCP (nothing to write)');
    else report.skip(item, `Collie has no ${item.value} driver; its targets are served over iSCSI/TCP`);
    return;
  }
  const reason = GLOBAL_NOT_MAPPED[item.key];
  if (reason !== undefined) {
    report.skip(item, reason);
    return;
  }
  const near = nearestKey(item.key, ['default-driver', 'include', ...Object.keys(GLOBAL_NOT_MAPPED)]);
  report.skip(
    item,
    TARGET_KEYS.includes(item.key)
      ? 'a target directive outside <target>: tgt-admin ignores it (move it into a <target> block)'
      : `not a tgt-admin directive; tgt-admin ignores it${near === undefined ? '' : ` (did you mean ${near}?)`}`,
  );
}

function isTrue(value: string): boolean {
  return /^(1|yes|on|true)$/i.test(value.trim());
}

interface RenderedTarget {
  readonly target: ImportedTarget;
  /** Where each LUN's store is written. */
  readonly origins: ReadonlyMap<number, Item>;
  readonly from: Block;
  readonly skipped: readonly TgtReportLine[];
}

function importTarget(
  iqn: string,
  blocks: readonly Block[],
  report: Report,
): { target: ImportedTarget; origins: ReadonlyMap<number, Item> } | undefined {
  const first = blocks[0]!;
  const items = blocks.flatMap((block) => block.items);
  const stores: Store[] = [];
  const defaults: Directive[] = [];
  let targetLun: Directive | undefined;
  const incoming: Directive[] = [];
  const outgoing: Directive[] = [];
  const addresses: Directive[] = [];
  const names: Directive[] = [];
  for (const item of items) {
    if (item.kind === 'block') {
      if (item.name === 'backing-store' || item.name === 'direct-store') {
        const options: Directive[] = [];
        for (const inner of item.items) {
          if (inner.kind === 'block')
            report.skip(inner, `a block inside <${item.name}>: tgt-admin refuses it`);
          else options.push(inner);
        }
        stores.push({ kind: item.name, path: item.arg, at: item, options });
      } else {
        report.skip(
          item,
          'not a block tgt-admin reads inside <target> (only <backing-store> and <direct-store>)',
        );
      }
      continue;
    }
    switch (item.key) {
      case 'backing-store':
      case 'direct-store':
        stores.push({ kind: item.key, path: item.value, at: item, options: [] });
        break;
      case 'lun':
        if (targetLun === undefined) targetLun = item;
        else
          report.skip(
            item,
            `a second lun for the target (tgt-admin refuses it; line ${targetLun.line} is used)`,
          );
        break;
      case 'bs-type':
      case 'device-type':
      case 'readonly':
        defaults.push(item);
        break;
      case 'incominguser':
        incoming.push(item);
        break;
      case 'outgoinguser':
        outgoing.push(item);
        break;
      case 'initiator-address':
        addresses.push(item);
        break;
      case 'initiator-name':
        names.push(item);
        break;
      case 'driver':
        if (item.value === 'iscsi') report.map(item, 'Collie serves iSCSI over TCP (nothing to write)');
        else report.skip(item, `Collie has no ${item.value} driver; the target is served over iSCSI/TCP`);
        break;
      case 'controller_tid':
        report.skip(item, 'Collie has no target ids (targets are known by their IQN)');
        break;
      case 'HeaderDigest':
      case 'DataDigest':
        report.skip(
          item,
          'Collie negotiates digests for all targets at once: set digests: none, allow or require at the top of the YAML',
        );
        break;
      default:
        if (ISCSI_PARAMETERS.has(item.key)) {
          report.skip(item, 'Collie negotiates its own values (docs/target.md, "What it negotiates")');
        } else if (LUN_NOT_MAPPED[item.key] !== undefined) {
          report.skip(item, LUN_NOT_MAPPED[item.key]!);
        } else {
          const near = nearestKey(item.key, TARGET_KEYS);
          report.skip(
            item,
            `not a tgt-admin target directive; tgt-admin ignores it${near === undefined ? '' : ` (did you mean ${near}?)`}`,
          );
        }
    }
  }

  if (!ISCSI_NAME.test(iqn)) {
    report.skip(
      first,
      'not an iSCSI name Collie accepts (iqn.YYYY-MM.reversed.domain:name, eui.… or naa.…): rename the target, and its records on the initiators',
    );
    return undefined;
  }
  const origins = importLuns(stores, defaults, targetLun, report);
  const luns: Record<number, string> = {};
  for (const [lun, { text }] of origins) luns[lun] = text;
  if (origins.size === 0) {
    report.skip(first, 'no LUN Collie can serve (see the lines of its stores); the target is left out');
    return undefined;
  }
  report.map(first, `target ${iqn}`);
  const target: ImportedTarget = { iqn, luns };

  const [chap, ...moreIncoming] = incoming;
  if (chap !== undefined) {
    target.chap = account(chap, 'chap', report);
    for (const extra of moreIncoming) {
      report.skip(
        extra,
        `Collie has one CHAP account per target and uses ${target.chap.user}'s (give that account to this initiator too)`,
      );
    }
  }
  const [mutual, ...moreOutgoing] = outgoing;
  if (mutual !== undefined) {
    if (target.chap === undefined) {
      report.skip(mutual, 'mutual CHAP needs an incominguser too (the initiator authenticates first)');
    } else {
      target.mutualChap = account(mutual, 'mutualChap', report);
    }
    for (const extra of moreOutgoing) report.skip(extra, 'tgt uses only the first outgoinguser too');
  }

  const all = addresses.find((item) => item.value.toUpperCase() === 'ALL');
  for (const item of addresses) {
    if (all !== undefined) {
      report.map(
        item,
        item === all
          ? 'every address may connect (no addresses list)'
          : `has no effect next to ALL (line ${all.line})`,
      );
    } else {
      report.map(
        item,
        isAddressRule(item.value)
          ? `addresses: ${item.value}`
          : `addresses: ${item.value}, but it is not an IP address or CIDR block: the YAML does not load until you fix it`,
      );
    }
  }
  if (all === undefined && addresses.length > 0) target.addresses = addresses.map((item) => item.value);
  for (const item of names) report.map(item, `initiators: ${item.value}`);
  if (names.length > 0) target.initiators = names.map((item) => item.value);
  return { target, origins: new Map([...origins].map(([lun, { at }]) => [lun, at])) };
}

function isAddressRule(text: string): boolean {
  const [address, bits, ...rest] = text.split('/');
  if (rest.length > 0 || address === undefined) return false;
  const v4 =
    /^\d{1,3}(\.\d{1,3}){3}$/.test(address) && address.split('.').every((octet) => Number(octet) <= 255);
  const v6 = address.includes(':') && /^[0-9a-fA-F:.]+$/.test(address);
  if (!v4 && !v6) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (v4 ? 32 : 128));
}

function account(item: Directive, key: string, report: Report): { user: string; secret: string } {
  const [user = '', secret = ''] = item.value.split(/\s+/);
  const bytes = Buffer.byteLength(secret);
  report.map(
    item,
    bytes >= CHAP_SECRET_BYTES_MIN
      ? `${key} ${user}`
      : `${key} ${user}, but its secret is ${bytes} bytes and Collie refuses fewer than ${CHAP_SECRET_BYTES_MIN} (RFC 7143 §9.2.1): set a longer one here and on the initiators; the YAML does not load until then`,
  );
  return { user, secret };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byPlace(a: TgtReportLine, b: TgtReportLine): number {
  return compareText(a.file, b.file) || a.line - b.line;
}

/** tgt-admin's numbering and each store's backing, with its LUN-level directives reported. */
function importLuns(
  stores: readonly Store[],
  defaults: readonly Directive[],
  targetLun: Directive | undefined,
  report: Report,
): Map<number, { text: string; at: Item }> {
  const ordered = [
    ...stores.filter((store) => store.kind === 'backing-store').sort((a, b) => compareText(a.path, b.path)),
    ...stores.filter((store) => store.kind === 'direct-store').sort((a, b) => compareText(a.path, b.path)),
  ];
  const explicit = (store: Store) => store.options.find((option) => option.key === 'lun');
  const reserved = new Set(
    ordered.map((store) => Number(explicit(store)?.value)).filter((lun) => Number.isInteger(lun)),
  );
  const taken = new Map<number, Store>();
  const luns = new Map<number, { text: string; at: Item }>();
  const seen = new Map<string, Store>();
  for (const store of ordered) {
    const key = `${store.kind} ${store.path}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      report.skip(store.at, `given twice (line ${earlier.at.line}); tgt-admin makes one LUN of it`);
      continue;
    }
    seen.set(key, store);
    const setting = (name: string) =>
      store.options.find((option) => option.key === name) ?? defaults.find((option) => option.key === name);
    for (const option of store.options) {
      if (['lun', 'bs-type', 'device-type', 'readonly'].includes(option.key)) continue;
      const reason = LUN_NOT_MAPPED[option.key];
      report.skip(option, reason ?? `not a tgt-admin LUN directive; tgt-admin ignores it`);
    }
    const lunText = targetLun?.value ?? explicit(store)?.value;
    let lun: number;
    if (lunText === undefined) {
      lun = 1;
      while (reserved.has(lun) || taken.has(lun)) lun++;
    } else {
      lun = /^\d+$/.test(lunText) ? Number(lunText) : Number.NaN;
    }
    if (!Number.isInteger(lun) || lun > LUN_MAX) {
      report.skip(store.at, `LUN ${JSON.stringify(lunText)} is not a number from 0 to ${LUN_MAX}`);
      continue;
    }
    const holder = taken.get(lun);
    if (holder !== undefined) {
      report.skip(
        store.at,
        `LUN ${lun} is taken by ${holder.path} (line ${holder.at.line}); give it its own lun`,
      );
      continue;
    }
    const readonly = setting('readonly');
    const deviceType = setting('device-type');
    if (readonly !== undefined && isTrue(readonly.value)) {
      report.skip(
        store.at,
        `read-only (line ${readonly.line}): Collie has no read-only LUs yet, and serving it writable could let initiators change it`,
      );
      continue;
    }
    if (deviceType !== undefined && deviceType.value !== 'disk') {
      report.skip(
        store.at,
        `device-type ${deviceType.value} (line ${deviceType.line}): Collie serves disks only`,
      );
      continue;
    }
    const bsType = store.kind === 'direct-store' ? 'rdwr' : (setting('bs-type')?.value ?? 'rdwr');
    const backing = storeBacking(store, bsType);
    if (!backing.ok) {
      report.skip(store.at, backing.why);
      continue;
    }
    taken.set(lun, store);
    luns.set(lun, { text: backing.text, at: store.at });
    report.map(
      store.at,
      `LUN ${lun} ${backing.text}${backing.note === undefined ? '' : `, but ${backing.note}`}`,
    );
  }
  for (const item of defaults) {
    if (item.key === 'bs-type' && !FILE_BS_TYPES.has(item.value) && item.value !== 'sheepdog') {
      report.skip(
        item,
        `Collie has no ${item.value} backing store (it serves files, memory and sheepdog VDIs)`,
      );
    }
    // The others only matter when a LUN came of them (a target without one is reported whole).
    if (luns.size === 0) continue;
    if (item.key === 'bs-type' && item.value === 'sheepdog') report.map(item, 'the LUNs are sheepdog LUs');
    if (item.key === 'bs-type' && FILE_BS_TYPES.has(item.value)) report.map(item, 'the LUNs are file LUs');
    if (item.key === 'readonly' && !isTrue(item.value)) report.map(item, 'LUs are writable (the default)');
    if (item.key === 'device-type' && item.value === 'disk') report.map(item, 'Collie serves disks');
  }
  for (const store of stores) {
    for (const option of store.options) {
      if (option.key === 'lun' && taken.get(Number(option.value)) === store)
        report.map(option, `LUN ${option.value}`);
      if (option.key === 'bs-type' && FILE_BS_TYPES.has(option.value)) report.map(option, 'a file LU');
      if (option.key === 'bs-type' && option.value === 'sheepdog') report.map(option, 'a sheepdog LU');
      if (option.key === 'readonly' && !isTrue(option.value)) report.map(option, 'writable (the default)');
      if (option.key === 'device-type' && option.value === 'disk') report.map(option, 'Collie serves disks');
    }
  }
  if (targetLun !== undefined && [...taken.values()].length > 0)
    report.map(targetLun, `LUN ${targetLun.value}`);
  return luns;
}

type StoreBacking = { ok: true; text: string; note?: string } | { ok: false; why: string };

function storeBacking(store: Store, bsType: string): StoreBacking {
  if (store.path === '') return { ok: false, why: 'no path (write the file, device or tcp:HOST:PORT:VDI)' };
  if (bsType === 'sheepdog') {
    try {
      parseBackingSpec(store.path);
    } catch (error) {
      return { ok: false, why: (error as Error).message };
    }
    if (!store.path.startsWith('tcp:') && !store.path.startsWith('unix:')) {
      return { ok: false, why: 'a sheepdog store is tcp:HOST:PORT:VDI or unix:PATH:VDI' };
    }
    return store.path.startsWith('unix:')
      ? {
          ok: true,
          text: store.path,
          note: 'collie target cannot open unix: sheep sockets yet: change it to tcp:HOST:7000:VDI',
        }
      : { ok: true, text: store.path };
  }
  if (!FILE_BS_TYPES.has(bsType)) {
    return {
      ok: false,
      why:
        bsType === 'null'
          ? 'bs-type null reads zeros and drops writes; Collie has no such LU (mem:SIZE keeps what is written)'
          : `Collie has no ${bsType} backing store (it serves files, memory and sheepdog VDIs)`,
    };
  }
  const text = `file:${store.path}`;
  try {
    const spec = parseBackingSpec(text);
    if (spec.kind !== 'file' || spec.path !== store.path) {
      return {
        ok: false,
        why: "its path ends in :SIZE, which Collie's file: syntax reads as a size (rename the file)",
      };
    }
  } catch (error) {
    return { ok: false, why: (error as Error).message };
  }
  const notes = [
    ...(store.kind === 'direct-store'
      ? ["a file LU: Collie answers INQUIRY itself (tgt's direct-store copies the device's)"]
      : []),
    ...(store.path.startsWith('/dev/')
      ? [
          'Collie cannot open a block device yet (a file LU takes its size from the file: copy it to a file or a VDI)',
        ]
      : []),
  ];
  return notes.length === 0 ? { ok: true, text } : { ok: true, text, note: notes.join('; ') };
}

function renderYaml(file: string, targets: readonly RenderedTarget[]): string {
  const document = new Document({
    portals: [TGT_DEFAULT_PORTAL],
    targets: targets.map(({ target }) => ({
      ...target,
      luns: new Map(
        Object.entries(target.luns)
          .map(([lun, backing]) => [Number(lun), backing] as const)
          .sort((a, b) => a[0] - b[0]),
      ),
    })),
  });
  document.commentBefore = [
    ` Collie target config imported from ${file} by \`collie config import-tgt\`.`,
    ' Check it: collie config check FILE; serve it: collie target --config FILE (docs/target.md).',
    ` tgtd takes its portals on its command line, not from targets.conf: ${TGT_DEFAULT_PORTAL} is its default.`,
  ].join('\n');
  const sequence = document.get('targets') as YAMLSeq<YAMLMap> | undefined;
  targets.forEach(({ target, origins, from, skipped }, index) => {
    const entry = sequence?.items[index];
    if (entry === undefined) return;
    const notMapped = [...skipped]
      .sort(byPlace)
      .map((line) => `   ${line.file}:${line.line}: ${line.directive}`);
    entry.commentBefore = [
      ` ${from.file}:${from.line}: <target ${target.iqn}>`,
      ...(notMapped.length === 0 ? [] : [' not mapped (see the import report):', ...notMapped]),
    ].join('\n');
    const luns = entry.get('luns') as YAMLMap<Scalar, Scalar> | undefined;
    for (const pair of luns?.items ?? []) {
      const at = origins.get(Number(pair.key.value));
      if (pair.value && at !== undefined) pair.value.comment = ` ${at.file}:${at.line}: ${shown(at)}`;
    }
  });
  return document.toString({ lineWidth: 0 });
}

/** The report: mapped and not mapped lines, `FILE:LINE: DIRECTIVE: NOTE`. */
export function formatTgtReport(result: Pick<TgtImport, 'mapped' | 'notMapped' | 'document'>): string {
  const text = (entry: TgtReportLine) => `  ${entry.file}:${entry.line}: ${entry.directive}: ${entry.note}`;
  const luns = result.document.targets.reduce((sum, target) => sum + Object.keys(target.luns).length, 0);
  return [
    `mapped (${result.mapped.length}):`,
    ...[...result.mapped].sort(byPlace).map(text),
    `not mapped (${result.notMapped.length}):`,
    ...[...result.notMapped].sort(byPlace).map(text),
    `${result.document.targets.length} targets, ${luns} LUNs; ${result.notMapped.length} directives not mapped`,
    '',
  ].join('\n');
}
