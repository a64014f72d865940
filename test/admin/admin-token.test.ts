/**
 * Goal: the admin token file is made once (64 hex digits, mode 0600) and reused; starts racing to
 * make it all end up with the same token; a token file others may read is refused with the
 * chmod fix, and so is one without a token; admin.json is written whole and removed only while
 * it names this process.
 * Method: real files in a temporary directory; concurrent ensureAdminToken calls (each open is a
 * real O_EXCL syscall) and concurrent child processes.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  AdminTokenError,
  adminRuntimePath,
  adminTokenPath,
  ensureAdminToken,
  removeAdminRuntimeFile,
  writeAdminRuntimeFile,
} from '../../src/admin/admin-token.js';
import { REPO_ROOT } from '../support/collie.js';

let root: string;
let count = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'collie-admin-token-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const freshDir = () => join(root, `d${++count}`);

describe.skipIf(process.platform === 'win32')('admin-token', () => {
  test('made on first use (with its directory): 64 hex digits and a newline, mode 0600; reused after', async () => {
    const dir = join(freshDir(), 'nested');
    const token = await ensureAdminToken(dir);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    const path = adminTokenPath(dir);
    expect(await readFile(path, 'utf8')).toBe(`${token}\n`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await ensureAdminToken(dir)).toBe(token);
    expect(await ensureAdminToken(freshDir())).not.toBe(token);
  });

  test('a token file open to group or others is refused with the chmod fix; after chmod it is used', async () => {
    const dir = freshDir();
    const token = await ensureAdminToken(dir);
    const path = adminTokenPath(dir);
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      await chmod(path, mode);
      const error = await ensureAdminToken(dir).catch((caught: unknown) => caught);
      expect(error, mode.toString(8)).toBeInstanceOf(AdminTokenError);
      expect((error as Error).message).toBe(
        `the admin token ${path} is open to others (mode 0${mode.toString(8)}): run chmod 600 ${path} and start again`,
      );
    }
    await chmod(path, 0o600);
    expect(await ensureAdminToken(dir)).toBe(token);
    await chmod(path, 0o400);
    expect(await ensureAdminToken(dir)).toBe(token);
  });

  test('a file without a token, or a directory in its place, is refused naming the fix', async () => {
    const dir = freshDir();
    await mkdir(dir);
    await writeFile(adminTokenPath(dir), 'not a token\n', { mode: 0o600 });
    await expect(ensureAdminToken(dir)).rejects.toThrow(
      `the admin token ${adminTokenPath(dir)} does not hold 64 hex digits (delete it and start again to make a new one)`,
    );
    const other = freshDir();
    await mkdir(adminTokenPath(other), { recursive: true, mode: 0o700 });
    await expect(ensureAdminToken(other)).rejects.toThrow(
      /admin token .* (is not a regular file|cannot read)/,
    );
  });

  test('an empty file being written by another start is waited for, then refused if it stays empty', async () => {
    const dir = freshDir();
    await mkdir(dir);
    const path = adminTokenPath(dir);
    await writeFile(path, '', { mode: 0o600 });
    const token = 'ef'.repeat(32);
    setTimeout(() => void writeFile(path, `${token}\n`), 100);
    expect(await ensureAdminToken(dir)).toBe(token);
    const stuck = freshDir();
    await mkdir(stuck);
    await writeFile(adminTokenPath(stuck), '', { mode: 0o600 });
    await expect(ensureAdminToken(stuck)).rejects.toThrow(/does not hold 64 hex digits/);
  });

  test('concurrent starts, in one process and in several, all get the one token', async () => {
    const dir = freshDir();
    const tokens = await Promise.all(Array.from({ length: 16 }, () => ensureAdminToken(dir)));
    expect(new Set(tokens).size).toBe(1);
    expect(await readFile(adminTokenPath(dir), 'utf8')).toBe(`${tokens[0]}\n`);

    const shared = freshDir();
    const script = `import('${join(REPO_ROOT, 'dist/src/admin/admin-token.js')}').then(async (m) => process.stdout.write(await m.ensureAdminToken(process.argv[1])))`;
    const run = promisify(execFile);
    const outputs = await Promise.all(
      Array.from({ length: 6 }, () => run(process.execPath, ['-e', script, shared], { cwd: REPO_ROOT })),
    );
    const fromProcesses = new Set(outputs.map((output) => output.stdout));
    expect(fromProcesses.size).toBe(1);
    expect([...fromProcesses][0]).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(adminTokenPath(shared))).mode & 0o777).toBe(0o600);
  });
});

describe('admin.json', () => {
  test('written whole (no temporary file left), removed only while it names this process', async () => {
    const dir = freshDir();
    await mkdir(dir);
    const content = {
      url: 'http://127.0.0.1:8260/',
      pid: process.pid,
      startedAt: '2026-01-01T00:00:00.000Z',
    };
    const path = await writeAdminRuntimeFile(dir, content);
    expect(path).toBe(adminRuntimePath(dir));
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(content);
    expect(await readdir(dir)).toEqual(['admin.json']);

    await writeAdminRuntimeFile(dir, { ...content, pid: process.pid + 1 });
    await removeAdminRuntimeFile(dir);
    expect(await readdir(dir)).toEqual(['admin.json']);
    await removeAdminRuntimeFile(dir, process.pid + 1);
    expect(await readdir(dir)).toEqual([]);
    // Gone already: nothing to do, no error.
    await removeAdminRuntimeFile(dir);
  });

  test('a directory that cannot be written is an error naming the file', async () => {
    await expect(
      writeAdminRuntimeFile(join(freshDir(), 'missing'), { url: 'x', pid: 1, startedAt: 'y' }),
    ).rejects.toThrow(/^cannot write .*admin\.json: /);
  });
});
