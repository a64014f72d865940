/**
 * Goal: the default swarm has teeth: every switch of the mutation table (a realistic mistake in
 * the store, the client or the simulator's own checking) is found within 300 seeds, and the
 * failing seed's replay command names the switch.
 * Method: `collie sim mutants --seeds 300 --jobs 2` as a real process (the build from the global
 * setup), which runs the default swarm per switch and stops at its first failing seed; its
 * table is printed with the test output. No timing is asserted.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { allMutants } from '../../sim/mutants.js';
import { REPO_ROOT } from '../support/collie.js';

const run = promisify(execFile);
const SEEDS = 300;

test(
  'collie sim mutants finds every switch within 300 seeds',
  async () => {
    const { stdout } = await run(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'collie.js'), 'sim', 'mutants', '--seeds', String(SEEDS), '--jobs', '2'],
      { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 },
    ).catch((error: { stdout?: string; stderr?: string; code?: number }) => {
      // Exit 1 means some switch was not found: show the table, then fail below.
      return { stdout: error.stdout ?? '', stderr: error.stderr ?? '' };
    });
    console.log(stdout);
    const lines = stdout.trim().split('\n');
    for (const mutant of allMutants()) {
      const line = lines.find((candidate) => candidate.includes(` ${mutant.name} `));
      expect(line, `no line for ${mutant.name}`).toBeDefined();
      expect(line, `${mutant.name} was not found`).toMatch(/found at seed \d+/);
    }
    expect(lines[lines.length - 1]).toBe(
      `mutants: ${allMutants().length} switches, ${allMutants().length} found within ${SEEDS} seeds`,
    );
  },
  15 * 60_000,
);
