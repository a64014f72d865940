/**
 * Builds dist/ once before the test run, so tests that start `collie` as a real process (the
 * store, the target, the inspector and its page) never run a stale build.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  // The inspector's page (browser code, DOM types) has its own program: tsconfig.web.json.
  for (const project of ['tsconfig.build.json', 'tsconfig.web.json']) {
    execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  }
}
