/**
 * Text output of `collie vdi list` and `collie vdi lock list` (pure: values in, lines out).
 *
 * `vdi list` follows dog's table column for column: a marker ('s' snapshot, 'c' clone, ' '
 * working; raw mode uses '=' for working), name, snapshot id (0 for a working VDI), size, used,
 * shared, creation time (local "YYYY-MM-DD HH:MM"; raw: Unix seconds), vid in hex, copies (or
 * "d:p" for erasure coding), tag, block_size_shift. Raw mode prints exact byte counts and
 * escapes spaces and backslashes in names, so a script can split on spaces.
 *
 * `vdi lock list` is Collie's own layout (dog prints "VDI | owner node"): one line per locked
 * VDI with its vid, lock state, and the owner or every participant with its coherence state.
 *
 * The values behind the columns come from src/sheepdog/vdi-facts.ts, which the admin API's VDI
 * and lock rows read too, so both read an entry one way.
 */

import type { VdiListEntry } from '../sheepdog/sheep-admin.js';
import { createdSeconds, listedSnapId, lockHolderNames } from '../sheepdog/vdi-facts.js';
import { LockState } from '../sheepdog/wire/constants.js';
import type { VdiState } from '../sheepdog/wire/vdi-state.js';
import { formatSize } from './sizes.js';

export const VDI_LIST_HEADER =
  '  Name        Id    Size    Used  Shared    Creation time   VDI id  Copies  Tag   Block Size Shift';

/** Seconds since the epoch -> "YYYY-MM-DD HH:MM" in the local time zone, as dog's strftime. */
export function formatLocalMinute(seconds: number): string {
  const date = new Date(seconds * 1000); // determinism-ok: formats a stored timestamp, reads no clock
  const two = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}`;
}

/** dog's redundancy column: the copy count, or "data:parity" for an erasure-code policy. */
export function formatRedundancy(nrCopies: number, copyPolicy: number): string {
  if (copyPolicy === 0) return String(nrCopies);
  return `${(copyPolicy >> 4) * 2}:${copyPolicy & 0x0f}`;
}

function escapeRawName(name: string): string {
  return name.replace(/[\s\\]/g, (ch) => `\\${ch}`);
}

function optionalSize(bytes: number | undefined, raw: boolean): string {
  return bytes === undefined ? '-' : formatSize(bytes, raw);
}

/** One `vdi list` row (no trailing newline). `formatTime` is injectable for tests. */
export function formatVdiListRow(
  entry: VdiListEntry,
  raw: boolean,
  formatTime: (seconds: number) => string = formatLocalMinute,
): string {
  const h = entry.header;
  const seconds = createdSeconds(entry);
  const snapid = listedSnapId(entry);
  const size = formatSize(h.vdiSize, raw);
  const used = optionalSize(entry.usedBytes, raw);
  const shared = optionalSize(entry.sharedBytes, raw);
  const redundancy = formatRedundancy(h.nrCopies, h.copyPolicy);
  const vid = entry.vid.toString(16);
  if (raw) {
    const marker = entry.snapshot ? 's' : entry.clone ? 'c' : '=';
    return `${marker} ${escapeRawName(h.name)} ${snapid} ${size} ${used} ${shared} ${seconds} ${vid} ${redundancy} ${h.tag} ${h.blockSizeShift}`;
  }
  const marker = entry.snapshot ? 's' : entry.clone ? 'c' : ' ';
  return (
    `${marker} ${h.name.padEnd(8)} ${String(snapid).padStart(5)} ${size.padStart(7)} ${used.padStart(7)} ` +
    `${shared.padStart(7)} ${formatTime(seconds)}  ${vid.padStart(7)} ${redundancy.padStart(6)} ` +
    `${h.tag.padStart(13)} ${String(h.blockSizeShift).padStart(3)}`
  );
}

/** Built with the same padding as formatLockRow so the columns line up. */
export const LOCK_LIST_HEADER = `${'Name'.padEnd(12)} ${'VDI id'.padStart(7)}  ${'Lock'.padEnd(7)} Owner / participants (state)`;

const LOCK_STATE_NAMES: Readonly<Record<number, string>> = {
  [LockState.UNLOCKED]: 'none',
  [LockState.LOCKED]: 'normal',
  [LockState.SHARED]: 'shared',
};

/** "127.0.0.1:7000 (MODIFIED), 127.0.0.1:7001 (INVALIDATED)" or the normal-lock owner. */
export function formatLockHolders(state: VdiState): string {
  const holders = lockHolderNames(state);
  return holders.length === 0 ? '-' : holders.join(', ');
}

/** One `vdi lock list` row; `name` is undefined when no live inode names the vid. */
export function formatLockRow(state: VdiState, name: string | undefined): string {
  const lock = LOCK_STATE_NAMES[state.lockState] ?? `unknown(${state.lockState})`;
  const shownName = name ?? `(vid ${state.vid.toString(16)})`;
  return `${shownName.padEnd(12)} ${state.vid.toString(16).padStart(7)}  ${lock.padEnd(7)} ${formatLockHolders(state)}`;
}
