/**
 * The admin API's files in a daemon's data directory (admin-api.ts): the bearer token and the
 * runtime file that says where the daemon listens.
 *
 * Rules:
 * - `<dir>/admin-token` holds 64 hex digits (32 bytes of the OS's random source) and a newline, mode 0600.
 *   The first start creates it with O_EXCL, so two starts at once never write two tokens: the
 *   loser reads the winner's (waiting briefly while the winner is still writing it). Later starts
 *   reuse it, so a `collie adm --token T` keeps working across restarts.
 * - A token file that its group or others may read or write is refused (the message says
 *   `chmod 600 FILE`): anyone who read it could change the daemon. So is a file that does not
 *   hold a token (the message says to delete it).
 * - `<dir>/admin.json` (AdminRuntimeFile) is written whole or not at all (a temporary file
 *   renamed over it), and removed on a clean stop only while it still names this process.
 */
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { realClock } from '../core/real-clock.js';
import { realEntropy } from '../core/real-entropy.js';
import { sleepMs } from '../core/sleep.js';
import { ADMIN_RUNTIME_FILE, ADMIN_TOKEN_FILE, type AdminRuntimeFile } from './admin-api.js';

/** A token file Collie will not use; the message names the file and the fix. */
export class AdminTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminTokenError';
  }
}

const TOKEN_PATTERN = /^[0-9a-f]{64}$/;
/** How long a start waits for another start that has created the token file to finish writing it. */
const TOKEN_WRITE_WAIT_MS = 2_000;
const TOKEN_WRITE_POLL_MS = 20;

export function adminTokenPath(dir: string): string {
  return join(dir, ADMIN_TOKEN_FILE);
}

export function adminRuntimePath(dir: string): string {
  return join(dir, ADMIN_RUNTIME_FILE);
}

/** The token of `<dir>/admin-token`, created (with `dir`) on first use. */
export async function ensureAdminToken(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = adminTokenPath(dir);
  const token = Buffer.from(realEntropy.bytes(32)).toString('hex');
  try {
    const file = await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0),
      0o600,
    );
    try {
      await file.writeFile(`${token}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new AdminTokenError(`cannot create the admin token ${path}: ${(error as Error).message}`);
    }
  }
  return readAdminToken(path);
}

/** An existing token file's token; refuses one others may read and one without a token. */
async function readAdminToken(path: string): Promise<string> {
  const waitUntil = realClock.now() + TOKEN_WRITE_WAIT_MS;
  for (;;) {
    let text: string;
    const file = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0)).catch(
      (error: unknown) => {
        throw new AdminTokenError(
          `cannot read the admin token ${path}: ${(error as Error).message} (it must be a regular file: delete it to make a new one)`,
        );
      },
    );
    try {
      const stats = await file.stat();
      if (!stats.isFile()) {
        throw new AdminTokenError(
          `the admin token ${path} is not a regular file (delete it to make a new one)`,
        );
      }
      if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) {
        const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
        throw new AdminTokenError(
          `the admin token ${path} is open to others (mode ${mode}): run chmod 600 ${path} and start again`,
        );
      }
      text = await file.readFile('utf8');
    } finally {
      await file.close();
    }
    const token = text.trim();
    if (TOKEN_PATTERN.test(token)) return token;
    // Another start made the file a moment ago and is writing it: wait for its token.
    if (token === '' && realClock.now() < waitUntil) {
      await sleepMs(realClock, TOKEN_WRITE_POLL_MS);
      continue;
    }
    throw new AdminTokenError(
      `the admin token ${path} does not hold 64 hex digits (delete it and start again to make a new one)`,
    );
  }
}

/** Writes `<dir>/admin.json` atomically; returns its path. */
export async function writeAdminRuntimeFile(dir: string, content: AdminRuntimeFile): Promise<string> {
  const path = adminRuntimePath(dir);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o644 });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new Error(`cannot write ${path}: ${(error as Error).message}`);
  }
  return path;
}

/** Removes `<dir>/admin.json` if it names process `pid` (default this one); never throws. */
export async function removeAdminRuntimeFile(dir: string, pid = process.pid): Promise<void> {
  const path = adminRuntimePath(dir);
  try {
    const content = JSON.parse(await readFile(path, 'utf8')) as Partial<AdminRuntimeFile>;
    if (content.pid === pid) await rm(path, { force: true });
  } catch {
    // Gone already, or another process's (or unreadable): nothing of ours to remove.
  }
}
