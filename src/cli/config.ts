/**
 * `collie config ...`: the YAML config of `collie target --config FILE`, checked or imported.
 *
 *   collie config check FILE
 *     validates FILE (target-config-schema.ts) and prints a summary: targets, LUNs, portals; or
 *     one line on stderr, `collie config check: FILE:LINE: KEY: problem (fix)`.
 *   collie config reference [--out FILE]
 *     prints the configuration reference (config-reference.ts: Markdown generated from the
 *     schema), on stdout or in FILE (replaced); docs/config-reference.md is its output.
 *   collie config import-tgt TARGETS.CONF [--out FILE]
 *     converts tgt's targets.conf (tgt-config-import.ts) into Collie's YAML, on stdout or in FILE
 *     (never overwritten), and reports on stderr what it mapped and what it did not (line:
 *     directive: why). `include` patterns are read relative to the including file's directory.
 *
 * Exit codes: 0 done; 1 the imported YAML was written but does not load as it is (a CHAP secret
 * or an address Collie refuses: the report says which); 2 the file is invalid or unreadable, or
 * a usage error (as `collie target` exits for a bad --config).
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { Command, CommanderError } from 'commander';
import { endpointToString } from '../../transports/transport.js';
import { configReferenceMarkdown } from '../target/config-reference.js';
import type { TargetConfig } from '../target/target-config.js';
import { checkTargetConfigText, formatConfigProblem } from '../target/target-config-schema.js';
import {
  formatTgtReport,
  importTgtConfig,
  TgtConfigSyntaxError,
  type TgtSource,
} from '../target/tgt-config-import.js';

export const CONFIG_EXIT = { ok: 0, needsFix: 1, invalid: 2 } as const;

/** A problem to print as one line with this exit code. */
class ConfigCliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = CONFIG_EXIT.invalid,
  ) {
    super(message);
  }
}

export function registerConfigCommands(program: Command): void {
  const config = program
    .command('config')
    .description('check a target config, or import one from tgt')
    .exitOverride((error: CommanderError) => {
      // Help is not an error; everything else commander rejects is a usage error.
      process.exit(error.exitCode === 0 ? 0 : CONFIG_EXIT.invalid);
    });

  config
    .command('check <file>')
    .description('validate a `collie target --config` YAML file and summarise it')
    .action(async (file: string) => {
      await run('check', async () => {
        process.stdout.write(configSummary(file, await loadChecked(file)));
      });
    });

  config
    .command('reference')
    .description('print the configuration reference (Markdown), generated from the schema')
    .option('--out <file>', 'write it here (default: stdout); an existing file is replaced')
    .action(async (options: { out?: string }) => {
      await run('reference', async () => writeReference(options.out));
    });

  config
    .command('import-tgt <targets.conf>')
    .description("convert tgt's targets.conf into a Collie YAML config (report on stderr)")
    .option('--out <file>', 'write the YAML here (default: stdout); an existing file is kept')
    .action(async (file: string, options: { out?: string }) => {
      await run('import-tgt', async () => importTgt(file, options.out));
    });
}

async function run(name: string, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    process.stderr.write(`collie config ${name}: ${(error as Error).message}\n`);
    process.exitCode = error instanceof ConfigCliError ? error.exitCode : CONFIG_EXIT.invalid;
  }
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigCliError(`${file}: cannot read it (${code}; check the path)`);
  }
}

async function loadChecked(file: string): Promise<TargetConfig> {
  const check = checkTargetConfigText(await readText(file), file);
  if (!check.ok) throw new ConfigCliError(formatConfigProblem(check.problem));
  return check.config;
}

/** What `config check` prints: one line for the whole, one per target. */
export function configSummary(file: string, config: TargetConfig): string {
  const luns = config.targets.reduce((sum, target) => sum + target.luns.length, 0);
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  const lines = [
    `${file}: valid: ${plural(config.targets.length, 'target')}, ${plural(luns, 'LUN')}, ` +
      `portals ${config.portals.map(endpointToString).join(' ')}; node id ${config.nodeId ?? 1}, digests ${config.digests}`,
  ];
  for (const target of config.targets) {
    const access = [
      target.chap === undefined ? 'no CHAP' : target.mutualChap === undefined ? 'CHAP' : 'mutual CHAP',
      target.initiators === undefined ? 'any initiator' : `initiators ${target.initiators.join(' ')}`,
      target.addresses === undefined ? 'any address' : `addresses ${target.addresses.join(' ')}`,
    ];
    lines.push(
      `  ${target.iqn}: ${target.luns.map(({ lun, text }) => `LUN ${lun} ${text}`).join(', ')}; ${access.join(', ')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `config reference`: the generated page, on stdout or in FILE (replaced: it is generated). */
function writeReference(out: string | undefined): void {
  const markdown = configReferenceMarkdown();
  if (out === undefined) {
    process.stdout.write(markdown);
    return;
  }
  try {
    writeFileSync(out, markdown);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigCliError(`cannot write ${out} (${code}; check the path)`);
  }
  process.stderr.write(`wrote ${out}\n`);
}

async function importTgt(file: string, out: string | undefined): Promise<void> {
  const text = await readText(file);
  let result: ReturnType<typeof importTgtConfig>;
  try {
    result = importTgtConfig({ file, text }, { include: readIncluded });
  } catch (error) {
    if (error instanceof TgtConfigSyntaxError) throw new ConfigCliError(error.message);
    throw error;
  }
  if (out === undefined) {
    process.stdout.write(result.yaml);
  } else {
    try {
      writeFileSync(out, result.yaml, { flag: 'wx' });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new ConfigCliError(
        code === 'EEXIST'
          ? `${out} exists (remove it or give another --out; it is never overwritten)`
          : `cannot write ${out} (${code ?? (error as Error).message}; check the path)`,
      );
    }
  }
  process.stderr.write(formatTgtReport(result));
  if (out !== undefined) process.stderr.write(`wrote ${out}; check it with: collie config check ${out}\n`);
  const check = checkTargetConfigText(result.yaml, out ?? 'stdout');
  if (!check.ok) {
    throw new ConfigCliError(
      `the YAML does not load as it is: ${formatConfigProblem(check.problem)}`,
      CONFIG_EXIT.needsFix,
    );
  }
}

/** tgt-admin's include: a file, a directory (its files), or a glob; relative to the including file. */
export function readIncluded(pattern: string, from: string): TgtSource[] {
  return expandGlob(join(dirname(from), pattern))
    .flatMap((path) => (isDirectory(path) ? filesIn(path) : [path]))
    .map((path) => {
      try {
        return { file: path, text: readFileSync(path, 'utf8') };
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        throw new ConfigCliError(`${from}: include ${pattern}: cannot read ${path} (${code})`);
      }
    });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function filesIn(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
    .map((entry) => join(directory, entry.name))
    .sort();
}

/** The existing paths a pattern with *, ? and [...] in any component names, sorted. */
function expandGlob(pattern: string): string[] {
  let paths = [isAbsolute(pattern) ? '/' : '.'];
  for (const part of pattern.split('/').filter((segment) => segment !== '')) {
    if (!/[*?[]/.test(part)) {
      paths = paths.map((path) => join(path, part));
      continue;
    }
    const matcher = globSegment(part);
    paths = paths.flatMap((path) => {
      try {
        return readdirSync(path)
          .filter((name) => matcher.test(name) && (part.startsWith('.') || !name.startsWith('.')))
          .sort()
          .map((name) => join(path, name));
      } catch {
        return [];
      }
    });
  }
  return paths.filter((path) => {
    try {
      statSync(path);
      return true;
    } catch {
      return false;
    }
  });
}

function globSegment(part: string): RegExp {
  let source = '';
  for (let index = 0; index < part.length; index++) {
    const char = part[index]!;
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else if (char === '[') {
      const close = part.indexOf(']', index + 1);
      if (close === -1) source += '\\[';
      else {
        source += `[${part
          .slice(index + 1, close)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        index = close;
      }
    } else source += char.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}
