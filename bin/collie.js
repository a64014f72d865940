#!/usr/bin/env node
// The `collie` command: runs the compiled CLI (npm ci / npm install build it through `prepare`).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const entry = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write(`collie: ${entry} is missing (build it: npm run build)\n`);
  process.exit(2);
}
const { main } = await import(entry);
await main(process.argv.slice(2));
