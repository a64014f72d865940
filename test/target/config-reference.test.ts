/**
 * Goal: docs/config-reference.md is what the code generates from the config schema, so the page
 * cannot drift from the checks; every key of the schema is documented; the page's example loads;
 * `collie config reference` prints the page and `--out FILE` writes it.
 * Method: configReferenceMarkdown() in-process against the committed file (the failure says how
 * to regenerate it); the rows of configKeyDocs(); the built CLI (`node bin/collie.js`, global
 * setup builds dist/) as a real process in a temp directory.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CONFIG_EXAMPLE,
  CONFIG_REFERENCE_REGENERATE,
  configKeyDocs,
  configReferenceMarkdown,
} from '../../src/target/config-reference.js';
import { checkTargetConfigText, formatConfigProblem } from '../../src/target/target-config-schema.js';
import { assertCollieBuilt, COLLIE_BIN } from '../support/collie.js';
import { runProcess } from '../support/processes.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PAGE = join(ROOT, 'docs', 'config-reference.md');

describe('docs/config-reference.md', () => {
  test('is what `collie config reference` generates from the schema', async () => {
    const committed = await readFile(PAGE, 'utf8');
    expect(
      committed,
      `docs/config-reference.md differs from what src/target/config-reference.ts generates from the schema; regenerate it: ${CONFIG_REFERENCE_REGENERATE}`,
    ).toBe(configReferenceMarkdown());
  });

  test('documents every key of the schema, each with a type and a description', () => {
    const rows = configKeyDocs();
    expect(rows.map((row) => row.path)).toEqual(
      expect.arrayContaining([
        'portals',
        'targets',
        'targets[].iqn',
        'targets[].luns',
        'targets[].chap.user',
        'targets[].mutualChap.secret',
        'targets[].alua',
        'digests',
        'nopIntervalMs',
        'nopTimeoutMs',
        'sheepdogProbeEveryRead',
        'nodeId',
      ]),
    );
    const undocumented = rows.filter((row) => (row.description ?? '').trim() === '').map((row) => row.path);
    expect(undocumented, 'add .describe() to these keys in target-config-schema.ts').toEqual([]);
    expect(rows.find((row) => row.path === 'nodeId')).toMatchObject({
      type: 'integer, 1 to 65535',
      required: false,
      defaultValue: 1,
    });
    expect(rows.find((row) => row.path === 'portals')).toMatchObject({
      type: 'list of HOST:PORT, not empty',
      defaultValue: ['127.0.0.1:3260'],
    });
    expect(rows.find((row) => row.path === 'targets[].iqn')).toMatchObject({ required: true });
    expect(rows.find((row) => row.path === 'digests')?.type).toBe('`none`, `allow` or `require`');
  });

  test('its example loads', () => {
    const check = checkTargetConfigText(CONFIG_EXAMPLE, 'example.yaml');
    expect(check.ok ? 'loads' : formatConfigProblem(check.problem)).toBe('loads');
  });
});

describe('collie config reference', () => {
  let dir: string;
  beforeAll(async () => {
    assertCollieBuilt();
    dir = await mkdtemp(join(tmpdir(), 'collie-config-reference-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function collie(...args: string[]) {
    const result = await runProcess(process.execPath, [COLLIE_BIN, ...args], { cwd: dir, timeoutMs: 30_000 });
    return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
  }

  test('prints the page on stdout, or writes it with --out (replacing the file)', async () => {
    const page = configReferenceMarkdown();
    expect(await collie('config', 'reference')).toEqual({ code: 0, stdout: page, stderr: '' });
    const out = join(dir, 'reference.md');
    for (let round = 0; round < 2; round++) {
      expect(await collie('config', 'reference', '--out', out)).toEqual({
        code: 0,
        stdout: '',
        stderr: `wrote ${out}\n`,
      });
      expect(await readFile(out, 'utf8')).toBe(page);
    }
  });

  test('an unwritable --out: one line, exit 2', async () => {
    const out = join(dir, 'missing', 'reference.md');
    expect(await collie('config', 'reference', '--out', out)).toEqual({
      code: 2,
      stdout: '',
      stderr: `collie config reference: cannot write ${out} (ENOENT; check the path)\n`,
    });
  });
});
