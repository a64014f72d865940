/**
 * Goal: SIGKILL of `collie sheep` in the middle of a write load through a real tgtd loses no
 * acknowledged write: tgt's bs_sheepdog reconnects by itself (every 1 s, resending the request)
 * once the store is back on the same endpoint and directory, and the load completes.
 * Method: one endpoint, a 200 MiB VDI, tgtd exporting it. One qemu-io run of 200 iterations of
 * `write -P n OFF 64k` + `flush` (SCSI SYNCHRONIZE CACHE, tgt's FLUSH_VDI). Write i goes to object
 * i/4 at (i%4) MiB, so every fourth write allocates a new object and the others write into an
 * object that exists. When qemu-io has reported KILL_AFTER_WRITES writes, the store is SIGKILLed,
 * restarted ~0.5 s later on the same endpoint and directory, and the run must end by itself within
 * its bound. (Each of tgt's 16 I/O threads finds its socket dead once and sleeps 1 s, and a write
 * and its flush run on different threads, so the load resumes only ~16 s later.) Every write
 * qemu-io reported ("wrote") must then read back with its pattern, through tgt and through
 * `collie vdi read`. tgt's shared lock is gone after the restart (locks live in the store's memory,
 * as in a whole-cluster restart); that is expected and not checked. Skipped
 * when tgt or qemu-io are missing, except in CI.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { SheepHandle } from '../support/collie.js';
import { type QemuIoStream, qemuIo, startQemuIo } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import { filled, firstDifference, KiB, MiB, OBJECT_SIZE_BYTES, StoreRig, sleep } from './sheep-store-rig.js';

const hasTools = ['tgtd', 'tgtadm', 'qemu-io'].map(requireTool).every(Boolean);

const WRITE_COUNT = 200;
const WRITES_PER_OBJECT = 4;
const WRITE_LENGTH_BYTES = 64 * KiB;
const VDI_SIZE_BYTES = (WRITE_COUNT / WRITES_PER_OBJECT) * OBJECT_SIZE_BYTES;
const KILL_AFTER_WRITES = 40;
const RESTART_DELAY_MS = 500;
/** tgt's reconnects cost ~16 s (see above); the writes themselves take a second or two. */
const LOAD_TIMEOUT_MS = 45_000;

function writeOffset(index: number): number {
  return Math.floor(index / WRITES_PER_OBJECT) * OBJECT_SIZE_BYTES + (index % WRITES_PER_OBJECT) * MiB;
}

/** 1..255, never 0 (which an unallocated area would also read as). */
function writePattern(index: number): number {
  return (index % 255) + 1;
}

const patternByOffset = new Map(
  Array.from({ length: WRITE_COUNT }, (_, index) => [writeOffset(index), writePattern(index)]),
);

/** Offsets of the writes qemu-io reported, in order. */
function acknowledgedOffsets(stdoutLines: readonly string[]): number[] {
  const offsets: number[] = [];
  for (const line of stdoutLines) {
    const match = /^wrote (\d+)\/(\d+) bytes at offset (\d+)/.exec(line);
    if (match && match[1] === match[2]) offsets.push(Number(match[3]));
  }
  return offsets;
}

/**
 * SIGKILLs the store the moment qemu-io reports its count-th write (synchronously in the line
 * listener, so the kill lands while qemu-io is still writing); resolves with that count. Rejects if
 * qemu-io ends first or the writes do not come within LOAD_TIMEOUT_MS.
 */
function killStoreAfterWrites(load: QemuIoStream, sheep: SheepHandle, count: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let reported = 0;
    const finish = (error?: Error) => {
      clearTimeout(timer);
      unsubscribe();
      load.process.child.off('exit', onExit);
      if (error) reject(error);
      else resolve(reported);
    };
    const unsubscribe = load.process.onLine(({ text }) => {
      if (!text.startsWith('wrote ')) return;
      reported++;
      if (reported === count) {
        sheep.kill('SIGKILL');
        finish();
      }
    });
    const onExit = () =>
      finish(
        new Error(`qemu-io ended after ${reported} of ${count} writes:\n${load.process.describeTail()}`),
      );
    load.process.child.once('exit', onExit);
    const timer = setTimeout(
      () => finish(new Error(`qemu-io reported ${reported} of ${count} writes in ${LOAD_TIMEOUT_MS} ms`)),
      LOAD_TIMEOUT_MS,
    );
    if (load.process.exited) onExit();
  });
}

describe.skipIf(!hasTools)('kill -9 of collie sheep under a write load through tgt', () => {
  let rig: StoreRig | undefined;

  afterEach(async () => {
    await rig?.dispose();
    rig = undefined;
  });

  test('tgt reconnects to the restarted store and every acknowledged write reads back', async () => {
    rig = await StoreRig.start({ label: 'tgt-restart', vdiSizeBytes: VDI_SIZE_BYTES });
    const { sheep } = rig;
    const tgt = await rig.exportThrough(0);

    const commands = Array.from({ length: WRITE_COUNT }, (_, index) => [
      `write -P 0x${writePattern(index).toString(16)} ${writeOffset(index)} ${WRITE_LENGTH_BYTES}`,
      'flush',
    ]).flat();
    const load = startQemuIo(tgt.url, commands);
    const acknowledgedBeforeKill = await killStoreAfterWrites(load, sheep, KILL_AFTER_WRITES);
    const killedAtMs = Date.now();
    const exit = await sheep.process.waitForExit(5_000);
    expect(exit.signal).toBe('SIGKILL');
    await sleep(RESTART_DELAY_MS);
    await sheep.restart();
    const restartedAfterMs = Date.now() - killedAtMs;

    const result = await load.result(LOAD_TIMEOUT_MS);
    const acknowledged = acknowledgedOffsets(load.process.stdoutLines);
    console.log(
      `store killed after ${acknowledgedBeforeKill} acknowledged writes, back after ${restartedAfterMs} ms; ` +
        `qemu-io finished ${result.durationMs} ms after its start with ${acknowledged.length}/${WRITE_COUNT} writes acknowledged`,
    );
    const output = `${result.stdout}\n${result.stderr}`;
    expect(result.signal, output).toBeNull();
    expect(result.errors, output).toEqual([]);
    expect(acknowledged.length, output).toBe(WRITE_COUNT);

    // Through tgt: one qemu-io run checking every acknowledged write's pattern.
    const verify = await qemuIo(
      tgt.url,
      acknowledged.map(
        (offset) => `read -P 0x${patternByOffset.get(offset)?.toString(16)} ${offset} ${WRITE_LENGTH_BYTES}`,
      ),
      { timeoutMs: 30_000 },
    );
    expect(verify.patternFailures, verify.stdout + verify.stderr).toEqual([]);
    expect(verify.errors, verify.stdout + verify.stderr).toEqual([]);
    expect(verify.read).toBe(acknowledged.length * WRITE_LENGTH_BYTES);

    // Through the store directly: the whole VDI in one read, sliced per write.
    const image = await rig.readVdiViaFile(0, VDI_SIZE_BYTES);
    for (const offset of acknowledged) {
      const bytes = image.subarray(offset, offset + WRITE_LENGTH_BYTES);
      const expected = filled(patternByOffset.get(offset) ?? -1, WRITE_LENGTH_BYTES);
      expect(bytes.equals(expected), `write at ${offset}: ${firstDifference(bytes, expected)}`).toBe(true);
    }
  }, 120_000);
});
