/**
 * A full verification, with nothing in flight: every block of the LU read through the target and
 * checked by the ledger, then the same bytes read from the store by `collie vdi read` (the
 * lock-less client: it reads the VDI's inode and objects as they are on the store) and compared
 * block by block, and the store's object directory listed (no torn or leftover temporary object
 * files). Optionally a SYNCHRONIZE CACHE after it settles the ledger (BlockLedger.settle).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockLedger } from './block-ledger.js';
import { decodeBlock, STAMP_BLOCK_BYTES } from './block-stamps.js';
import { describeOutcome, type IscsiPath } from './iscsi-path.js';
import { runCollie } from './real-processes.js';

const CHUNK_BLOCKS = 2048;
const CHUNK_TRIES = 10;

export interface VerifyOptions {
  readonly ledger: BlockLedger;
  readonly path: IscsiPath;
  readonly where: string;
  /** `collie vdi read` of this VDI through this store endpoint; skipped when undefined. */
  readonly store?: { readonly vdi: string; readonly port: number; readonly objectDir: string };
  /** Send SYNCHRONIZE CACHE after the reads and, on GOOD, settle the ledger to what was seen. */
  readonly settle: boolean;
  /** Reconnects the path when it dropped during the verification. */
  readonly reconnect: () => Promise<void>;
}

export interface VerifyResult {
  readonly blocks: number;
  readonly violationsBefore: number;
  readonly violationsAfter: number;
  readonly storeObjects: number;
}

export async function verifyAll(options: VerifyOptions): Promise<VerifyResult> {
  const { ledger, path } = options;
  const violationsBefore = ledger.violationCount;
  const blocks = ledger.blockCount;
  const image = Buffer.alloc(blocks * STAMP_BLOCK_BYTES);
  for (let lba = 0; lba < blocks; lba += CHUNK_BLOCKS) {
    const count = Math.min(CHUNK_BLOCKS, blocks - lba);
    let outcome = await path.read(lba, count);
    for (let tries = 1; outcome.kind !== 'good' && tries < CHUNK_TRIES; tries++) {
      if (!path.up) await options.reconnect();
      outcome = await path.read(lba, count);
    }
    if (outcome.kind !== 'good') {
      throw new Error(`${options.where}: reading blocks ${lba}+${count} failed: ${describeOutcome(outcome)}`);
    }
    outcome.data.copy(image, lba * STAMP_BLOCK_BYTES);
  }
  const seen = ledger.checkRange(0, image, `${options.where} (verify, target)`);
  let storeObjects = 0;
  if (options.store !== undefined) {
    storeObjects = checkObjectDir(ledger, options.store.objectDir, options.where);
    const read = await runCollie(
      ['vdi', 'read', '--no-progress', '-p', String(options.store.port), options.store.vdi],
      120_000,
    );
    if (read.code !== 0) {
      ledger.violation(
        'other',
        0,
        `${options.where}: collie vdi read failed (${read.code}): ${read.stderr.trim()}`,
      );
    } else if (read.stdout.length !== image.length) {
      ledger.violation(
        'store-differs',
        0,
        `${options.where}: collie vdi read gave ${read.stdout.length} bytes, the target ${image.length}`,
      );
    } else if (!read.stdout.equals(image)) {
      for (let lba = 0; lba < blocks; lba++) {
        const at = lba * STAMP_BLOCK_BYTES;
        if (read.stdout.compare(image, at, at + STAMP_BLOCK_BYTES, at, at + STAMP_BLOCK_BYTES) === 0)
          continue;
        const fromStore = decodeBlock(read.stdout, at, ledger.runTag);
        const fromTarget = decodeBlock(image, at, ledger.runTag);
        ledger.violation(
          'store-differs',
          lba,
          `${options.where}: block ${lba}: the store holds ${JSON.stringify(fromStore)}, the target read ${JSON.stringify(fromTarget)}`,
          `${options.where} (store copy)`,
        );
      }
    }
  }
  if (options.settle) {
    const token = ledger.beginSync(path.scope);
    const outcome = await path.synchronizeCache();
    if (outcome.kind === 'good') {
      ledger.ackSync(token);
      ledger.settle(0, seen);
    }
  }
  return { blocks, violationsBefore, violationsAfter: ledger.violationCount, storeObjects };
}

/** Object files only (16 hex digits), no leftover temporary file: the store cleans them at start. */
function checkObjectDir(ledger: BlockLedger, objectDir: string, where: string): number {
  let names: string[];
  try {
    names = readdirSync(objectDir);
  } catch (error) {
    ledger.violation('other', 0, `${where}: cannot list ${objectDir}: ${(error as Error).message}`);
    return 0;
  }
  const strays = names.filter((name) => !/^[0-9a-f]{16}$/.test(name));
  if (strays.length > 0) {
    ledger.violation(
      'other',
      0,
      `${where}: ${join(objectDir, strays[0]!)} and ${strays.length - 1} more are not object files`,
    );
  }
  return names.length - strays.length;
}
