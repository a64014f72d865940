/**
 * The `collie` command line: parses, wires, starts. Each subcommand lives in its own file.
 */
import { Command } from 'commander';
import { registerAdmCommand } from './adm.js';
import { registerConfigCommands } from './config.js';
import { registerInspectCommand } from './inspect.js';
import { registerMachinesCommand } from './machines.js';
import { registerSheepCommand } from './sheep.js';
import { registerSimCommand } from './sim.js';
import { registerTargetCommand } from './target.js';
import { registerUpCommand } from './up.js';
import { registerVdiCommands } from './vdi.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('collie')
    .description('iSCSI target on sheepdog VDIs, with an embedded sheep-compatible store')
    .showHelpAfterError();
  registerUpCommand(program);
  registerSheepCommand(program);
  registerTargetCommand(program);
  registerConfigCommands(program);
  registerVdiCommands(program);
  registerSimCommand(program);
  registerInspectCommand(program);
  registerMachinesCommand(program);
  registerAdmCommand(program);
  await program.parseAsync(argv, { from: 'user' });
}
