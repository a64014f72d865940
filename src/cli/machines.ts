/**
 * `collie machines ...`: the xstate machines the inspector knows (src/inspect/machine-catalog.ts).
 *
 *   machines list                              id, title, where it runs, number of states
 *   machines draw --out DIR [--format svg|dot] one <id>.svg (or <id>.dot) per machine
 *
 * Drawing is offline (Graphviz as WebAssembly, in this process) and deterministic, so the
 * drawings in docs/machines/ are regenerated with `collie machines draw --out docs/machines`
 * and a test checks they are current.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { MACHINE_CATALOG } from '../inspect/machine-catalog.js';
import { statechartDefinition, statePaths } from '../inspect/statechart-dot.js';
import { renderStatechartSvg, statechartDotFor } from '../inspect/statechart-svg.js';

export type DrawFormat = 'svg' | 'dot';

export interface MachinesCliDeps {
  readonly stdout: NodeJS.WritableStream;
}

/** One line per machine: id, title, side, state count; columns padded. */
export function machinesListLines(): string[] {
  const rows = MACHINE_CATALOG.map((entry) => [
    entry.id,
    entry.title,
    entry.side,
    `${statePaths(statechartDefinition(entry.machine)).length} states`,
  ]);
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => (column < widths.length ? cell.padEnd(widths[column]!) : cell))
      .join('  ')
      .trimEnd(),
  );
}

/** Writes `<id>.<format>` for every catalog machine into `out`; returns the paths written. */
export async function drawMachines(out: string, format: DrawFormat): Promise<string[]> {
  await mkdir(out, { recursive: true });
  const written: string[] = [];
  for (const entry of MACHINE_CATALOG) {
    const text = format === 'svg' ? await renderStatechartSvg(entry.id) : statechartDotFor(entry.id);
    const path = join(out, `${entry.id}.${format}`);
    await writeFile(path, text);
    written.push(path);
  }
  return written;
}

function drawFormat(value: string): DrawFormat {
  if (value !== 'svg' && value !== 'dot') throw new InvalidArgumentError('--format: svg or dot');
  return value;
}

export function registerMachinesCommand(program: Command, overrides: Partial<MachinesCliDeps> = {}): void {
  const deps = (): MachinesCliDeps => ({ stdout: process.stdout, ...overrides });
  const machines = program
    .command('machines')
    .description('list the xstate machines, or draw them as statecharts');

  machines
    .command('list')
    .description('list the machines: id, title, where it runs, number of states')
    .action(() => {
      const { stdout } = deps();
      for (const line of machinesListLines()) stdout.write(`${line}\n`);
    });

  machines
    .command('draw')
    .description('draw every machine as a statechart, offline: DIR/<id>.svg (or .dot)')
    .requiredOption('-o, --out <dir>', 'directory to write into (created if missing)')
    .option('-f, --format <format>', 'svg or dot', drawFormat, 'svg' as DrawFormat)
    .action(async (options: { out: string; format: DrawFormat }) => {
      const { stdout } = deps();
      for (const path of await drawMachines(options.out, options.format)) stdout.write(`wrote ${path}\n`);
    });
}
