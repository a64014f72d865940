/**
 * The configuration reference (docs/config-reference.md), generated from the zod schema of
 * `collie target --config FILE` (target-config-schema.ts), so the page and the checks cannot
 * drift apart: `collie config reference [--out FILE]` prints it, and a test fails when the
 * committed page differs from what this file generates.
 *
 * The walk reads zod 4's definitions (`schema._zod.def`): wrappers (optional, default, prefault,
 * pipe) give a key's default and whether it is required; the core type gives the type text
 * (strings, numbers with their range, enums with their values, lists, mappings); the metadata
 * registered with `.describe()` / `.meta({ title, description })` gives the description and, for
 * a value with a syntax of its own (HOST:PORT, an iSCSI name), the name shown as its type. A
 * mapping's keys become rows of their own (`targets[].chap.user`). Pure: nothing here reads a file.
 */
import { stringify } from 'yaml';
import { z } from 'zod';
import { checkTargetConfigText, formatConfigProblem, targetConfigSchema } from './target-config-schema.js';

/** How to regenerate the page; the test's failure message says it too. */
export const CONFIG_REFERENCE_REGENERATE =
  'npm run build && node bin/collie.js config reference --out docs/config-reference.md';

/** One row of the reference: a key, its type, whether it is required or its default, what it does. */
export interface ConfigKeyDoc {
  /** `portals`, `targets[].chap.user`. */
  readonly path: string;
  readonly type: string;
  /** Required when its mapping is written (and no default applies). */
  readonly required: boolean;
  /** The default as the file would write it (absent: none). */
  readonly defaultValue?: unknown;
  readonly description?: string;
}

type AnySchema = z.core.$ZodType;

interface Meta {
  readonly title?: string;
  readonly description?: string;
}

function metaOf(schema: AnySchema): Meta {
  const meta = z.globalRegistry.get(schema) as Meta | undefined;
  return meta ?? {};
}

function defOf(schema: AnySchema): z.core.$ZodTypes['_zod']['def'] {
  return (schema as z.core.$ZodTypes)._zod.def;
}

interface Unwrapped {
  /** The schema that says what the value is (after optional, default, prefault and pipes). */
  readonly core: AnySchema;
  readonly optional: boolean;
  readonly hasDefault: boolean;
  readonly defaultValue?: unknown;
  readonly title?: string;
  readonly description?: string;
}

/** Steps through wrappers, keeping the outermost title and description found on the way. */
function unwrap(schema: AnySchema): Unwrapped {
  let core = schema;
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  let title: string | undefined;
  let description: string | undefined;
  // Bounded: a schema nests a handful of wrappers; a loop past this is a cycle.
  for (let depth = 0; depth < 32; depth++) {
    const meta = metaOf(core);
    title ??= meta.title;
    description ??= meta.description;
    const def = defOf(core);
    if (def.type === 'optional' || def.type === 'readonly' || def.type === 'nonoptional') {
      if (def.type === 'optional') optional = true;
      core = def.innerType;
    } else if (def.type === 'default' || def.type === 'prefault') {
      if (!hasDefault) defaultValue = def.defaultValue;
      hasDefault = true;
      core = def.innerType;
    } else if (def.type === 'pipe') {
      // z.preprocess(fn, schema) is a pipe from a transform: the value is the schema's. A
      // .transform() after a schema is a pipe into a transform: the value is what goes in.
      core = defOf(def.in).type === 'transform' ? def.out : def.in;
    } else {
      return {
        core,
        optional,
        hasDefault,
        ...(hasDefault ? { defaultValue } : {}),
        ...(title === undefined ? {} : { title }),
        ...(description === undefined ? {} : { description }),
      };
    }
  }
  throw new Error('the config schema nests wrappers more than 32 deep (a cycle?)');
}

interface CheckDef {
  readonly check: string;
  readonly format?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly value?: number;
  readonly inclusive?: boolean;
}

function checksOf(schema: AnySchema): CheckDef[] {
  const checks = (defOf(schema) as { checks?: ReadonlyArray<{ _zod: { def: CheckDef } }> }).checks ?? [];
  return checks.map((check) => check._zod.def);
}

function code(value: string): string {
  return `\`${value}\``;
}

/** "`a`, `b` or `c`". */
function choices(values: readonly string[]): string {
  const quoted = values.map(code);
  return quoted.length <= 1
    ? (quoted[0] ?? '')
    : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}

function numberText(schema: AnySchema): string {
  const checks = checksOf(schema);
  const integer = checks.some((check) => check.check === 'number_format' && /int/.test(check.format ?? ''));
  const low = checks.find((check) => check.check === 'greater_than');
  const high = checks.find((check) => check.check === 'less_than');
  const noun = integer ? 'integer' : 'number';
  if (low !== undefined && high !== undefined && low.inclusive && high.inclusive) {
    return `${noun}, ${low.value} to ${high.value}`;
  }
  const parts = [noun];
  if (low !== undefined) parts.push(low.inclusive ? `${low.value} or more` : `more than ${low.value}`);
  if (high !== undefined) parts.push(high.inclusive ? `at most ${high.value}` : `less than ${high.value}`);
  return parts.join(', ');
}

function lengthText(schema: AnySchema, what: string): string {
  const checks = checksOf(schema);
  const min = checks.find((check) => check.check === 'min_length')?.minimum;
  const max = checks.find((check) => check.check === 'max_length')?.maximum;
  const parts: string[] = [];
  if (min === 1) parts.push('not empty');
  else if (min !== undefined && min > 1) parts.push(`at least ${min} ${what}`);
  if (max !== undefined) parts.push(`at most ${max} ${what}`);
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`;
}

/** What a value is, in a few words: "list of HOST:PORT, not empty", "integer, 1 to 65535". */
function typeText(schema: AnySchema): string {
  const { core, title } = unwrap(schema);
  const def = defOf(core);
  switch (def.type) {
    case 'array': {
      const element = defOf(unwrap(def.element).core).type === 'object' ? 'mappings' : typeText(def.element);
      return `list of ${element}${lengthText(core, 'entries')}`;
    }
    case 'record':
      return `mapping of ${typeText(def.keyType)} to ${typeText(def.valueType)}`;
    case 'object':
      return title ?? 'mapping';
    default:
      break;
  }
  if (title !== undefined) return title;
  switch (def.type) {
    case 'string':
      return `string${lengthText(core, 'characters')}`;
    case 'number':
      return numberText(core);
    case 'boolean':
      return choices(['true', 'false']);
    case 'enum':
      return choices(Object.values(def.entries).map(String));
    case 'literal':
      return choices(def.values.map(String));
    case 'union':
      return def.options.map((option) => typeText(option)).join(' or ');
    default:
      return def.type;
  }
}

/** The mapping inside a value, when it is one (or a list of them): its keys become rows. */
function nestedObject(core: AnySchema): { prefix: string; shape: Record<string, AnySchema> } | undefined {
  const def = defOf(core);
  if (def.type === 'object') return { prefix: '', shape: def.shape };
  if (def.type === 'array') {
    const element = unwrap(def.element).core;
    const elementDef = defOf(element);
    if (elementDef.type === 'object') return { prefix: '[]', shape: elementDef.shape };
  }
  return undefined;
}

/** Every key of the schema, depth first in schema order. */
export function configKeyDocs(schema: AnySchema = targetConfigSchema): ConfigKeyDoc[] {
  const rows: ConfigKeyDoc[] = [];
  const walk = (shape: Record<string, AnySchema>, prefix: string) => {
    for (const [key, value] of Object.entries(shape)) {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      const unwrapped = unwrap(value);
      rows.push({
        path,
        type: typeText(value),
        required: !unwrapped.optional && !unwrapped.hasDefault,
        ...(unwrapped.hasDefault ? { defaultValue: unwrapped.defaultValue } : {}),
        ...(unwrapped.description === undefined ? {} : { description: unwrapped.description }),
      });
      const nested = nestedObject(unwrapped.core);
      if (nested !== undefined) walk(nested.shape, `${path}${nested.prefix}`);
    }
  };
  const root = nestedObject(unwrap(schema).core);
  if (root === undefined) throw new Error('the config schema is not a mapping of keys');
  walk(root.shape, '');
  return rows;
}

/** A default as YAML writes it on one line: `[127.0.0.1:3260]`, `allow`, `10000`. */
function yamlInline(value: unknown): string {
  return stringify(value, { flowCollectionPadding: false, collectionStyle: 'flow' }).trim();
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A config that uses most keys; the reference shows it and a test checks that it loads. */
export const CONFIG_EXAMPLE = `portals: [127.0.0.1:3260]
targets:
  - iqn: iqn.2026-11.org.collie:vol0
    alias: vol0
    luns: { 1: tcp:127.0.0.1:7000:vol0, 2: mem:1G }
    chap: { user: alice, secret: twelve-bytes-min }
    mutualChap: { user: target, secret: another-secret }
    initiators: [iqn.1993-08.org.debian:01:abc]
    addresses: [127.0.0.0/8]
    alua: active-active
digests: allow
nopIntervalMs: 10000
nopTimeoutMs: 15000
sheepdogProbeEveryRead: false
nodeId: 1
`;

/** Broken configs whose one-line problems the reference quotes, as the schema reports them. */
const PROBLEM_EXAMPLES: readonly string[] = [
  'targets:\n  - iqn: iqn.2026-11.org.collie:vol0\n    luns: { 1: mem:1G }\nnodeid: 2\n',
  'targets:\n  - iqn: iqn.2026-11.org.collie:vol0\n    luns: { 1: mem:1G }\n    chap: { user: alice, secret: short }\n',
  'targets:\n  - iqn: iqn.2026-11.org.collie:vol0\n    luns: { 1: mem:1G, 2: disk:/x }\n',
  'targets:\n  - iqn: vol0\n    luns: { 1: mem:1G }\n',
  'portals: [127.0.0.1]\ntargets: []\n',
];

function problemLine(text: string): string {
  const check = checkTargetConfigText(text, 't.yaml');
  if (check.ok) throw new Error(`a problem example of the config reference loads:\n${text}`);
  return formatConfigProblem(check.problem);
}

/** The whole page, Markdown. */
export function configReferenceMarkdown(schema: AnySchema = targetConfigSchema): string {
  const rows = configKeyDocs(schema).map((row) => {
    const presence = row.required
      ? 'required'
      : 'defaultValue' in row
        ? code(yamlInline(row.defaultValue))
        : 'unset';
    return `| ${code(row.path)} | ${cell(row.type)} | ${presence} | ${cell(row.description ?? '')} |`;
  });
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/target/target-config-schema.ts by `collie config reference`. Do not edit:',
    `     change the schema's descriptions, then run: ${CONFIG_REFERENCE_REGENERATE} -->`,
    '',
    '`collie target --config FILE` reads one YAML file; `collie config check FILE` checks it without',
    'serving it and prints a summary. Keys are case-sensitive. An unknown key is an error that names',
    'the nearest known key. This page is generated from the schema that checks the file',
    '(`src/target/target-config-schema.ts`).',
    '',
    '## Example',
    '',
    '```yaml',
    CONFIG_EXAMPLE.trimEnd(),
    '```',
    '',
    '## Keys',
    '',
    '"required" applies when the mapping that holds the key is written: `targets[].chap.user` is',
    'required in a `chap` mapping, and `chap` itself may be left out. "unset" means the key has no',
    'default; the description says what leaving it out does.',
    '',
    '| key | type | default | description |',
    '|---|---|---|---|',
    ...rows,
    '',
    '## Flags and the file',
    '',
    'With `--config FILE`, these flags of `collie target` still apply:',
    '',
    '- `--portal HOST:PORT` (repeatable) replaces `portals`.',
    '- `--node-id N` replaces `nodeId`.',
    "- `--probe-every-read` sets the top-level `sheepdogProbeEveryRead` to `true`; a target's own",
    '  `sheepdogProbeEveryRead` still wins.',
    '- `--alua POLICY` applies to the targets that do not set `alua`.',
    '',
    'With `--config`, `--iqn`, `--lun`, `--chap`, `--mutual-chap`, `--initiator` and `--digests` have',
    'no effect: the file says these things.',
    '',
    '## Problems',
    '',
    'A problem is one line, `FILE:LINE: KEY: problem (fix)`. LINE is where KEY is written, or where',
    'its mapping starts when KEY is missing. Of several problems, the first in the file is reported.',
    '`collie target` and `collie config check` print it after their own name and exit 2 (`collie',
    'target` exits 1 when a valid file cannot be served). Examples, as the schema reports them:',
    '',
    '```',
    ...PROBLEM_EXAMPLES.map(problemLine),
    '```',
    '',
    "`collie config import-tgt TARGETS.CONF [--out FILE]` converts tgt's targets.conf into this",
    'format (docs/target.md, "Importing tgt\'s targets.conf").',
    '',
  ];
  return lines.join('\n');
}
