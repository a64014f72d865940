/**
 * A store directory on disk: `config.json` (written when the directory is formatted, on first
 * start) and `obj/` (one file per object). Formatting uses sheep's defaults for a one-node
 * cluster: one copy, replication, 4 MiB objects, locking on.
 */
import { mkdir, readFile, rename, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SD_DEFAULT_BLOCK_SIZE_SHIFT,
  SD_MAX_BLOCK_SIZE_SHIFT,
  SD_MIN_BLOCK_SIZE_SHIFT,
} from '../sheepdog/wire/constants.js';
import { FileObjectStore } from './file-object-store.js';
import type { ClusterDefaults } from './vdi-table.js';

export interface StoreConfig extends ClusterDefaults {
  readonly format: 1;
  /** Formatted with locks (inode coherence on). */
  readonly locking: boolean;
}

export const DEFAULT_STORE_CONFIG: StoreConfig = {
  format: 1,
  copies: 1,
  copyPolicy: 0,
  blockSizeShift: SD_DEFAULT_BLOCK_SIZE_SHIFT,
  locking: true,
};

export class StoreConfigError extends Error {}

export async function openStoreDirectory(
  directory: string,
): Promise<{ config: StoreConfig; objects: FileObjectStore; formatted: boolean }> {
  await mkdir(directory, { recursive: true });
  const configPath = join(directory, 'config.json');
  let config: StoreConfig;
  let formatted = false;
  let text: string | undefined;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text === undefined) {
    config = DEFAULT_STORE_CONFIG;
    await writeFile(`${configPath}.tmp`, `${JSON.stringify(config, null, 2)}\n`);
    await rename(`${configPath}.tmp`, configPath);
    formatted = true;
  } else {
    config = parseStoreConfig(text, configPath);
  }
  const objects = await FileObjectStore.open({ directory: join(directory, 'obj') });
  return { config, objects, formatted };
}

export function parseStoreConfig(text: string, path: string): StoreConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StoreConfigError(`${path} is not valid JSON (fix it, or move it away to format a new store)`);
  }
  const config = value as Partial<StoreConfig>;
  const shift = config.blockSizeShift;
  if (
    config.format !== 1 ||
    typeof config.copies !== 'number' ||
    typeof config.copyPolicy !== 'number' ||
    typeof shift !== 'number' ||
    shift < SD_MIN_BLOCK_SIZE_SHIFT ||
    shift > SD_MAX_BLOCK_SIZE_SHIFT ||
    typeof config.locking !== 'boolean'
  ) {
    throw new StoreConfigError(
      `${path} is not a Collie store config (expected format 1 with copies, copyPolicy, blockSizeShift ${SD_MIN_BLOCK_SIZE_SHIFT}-${SD_MAX_BLOCK_SIZE_SHIFT}, locking)`,
    );
  }
  return config as StoreConfig;
}

export async function directoryCapacity(
  directory: string,
): Promise<{ sizeBytes: bigint; freeBytes: bigint }> {
  const stats = await statfs(directory, { bigint: true });
  return { sizeBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize };
}
