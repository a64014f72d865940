/**
 * Goal: a LUN the admin API removes never has its backend closed under a command running in its
 * logical unit: the backend closes only once that command finished, and from the removal on
 * nothing new enters the LU (a command a session took before, its Data-Out still arriving, is
 * answered LOGICAL UNIT NOT SUPPORTED, as for an absent LUN).
 * Method: a ServedLun (target-registry.ts) over a real LogicalUnit whose memory backend holds
 * writes until the test opens a gate and records when it is closed.
 */
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { drainMicrotasks } from '../../src/core/virtual-clock.js';
import { ScsiStatus } from '../../src/scsi/scsi-types.js';
import { parseBackingSpec } from '../../src/target/backing.js';
import { ServedLun } from '../../src/target/target-registry.js';
import { rw10 } from '../support/cdb-builder.js';
import { createTestLu, makeNexus } from '../support/scsi-lu.js';

/** A memory backend whose writes wait for open(), and which remembers being closed. */
class GatedBackend extends MemoryBackend {
  #gate: Promise<void> = Promise.resolve();
  #open: () => void = () => undefined;
  closed = false;

  hold(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  release(): void {
    this.#open();
  }

  override async write(offsetBytes: number, data: Buffer): Promise<void> {
    await this.#gate;
    return super.write(offsetBytes, data);
  }

  override async close(): Promise<void> {
    this.closed = true;
    return super.close();
  }
}

function command(cdb: Buffer, dataOut = Buffer.alloc(0)) {
  return {
    cdb: Buffer.concat([cdb, Buffer.alloc(16 - cdb.length)]),
    nexus: makeNexus(1),
    dataOut,
    expectedLengthBytes: dataOut.length,
    taskTag: 1,
    taskAttribute: 1,
  };
}

describe('a removed LUN', () => {
  test('closes its backend only after the command running in it finished; nothing new enters it', async () => {
    const backend = new GatedBackend({ sizeBytes: 1024 * 1024 });
    const { lu } = await createTestLu({ backend });
    const served = new ServedLun({
      lun: 1,
      text: 'mem:1M',
      backing: parseBackingSpec('mem:1M'),
      backend,
      unit: lu,
      lunNumbers: () => [2],
    });
    backend.hold();
    const data = Buffer.alloc(4096, 0x77);
    const writing = served.execute(command(rw10(0x2a, 16, 8), data));
    await drainMicrotasks();
    expect(served.running).toBe(1);

    const closing = served.close({ waitForCommands: true });
    await drainMicrotasks();
    expect(backend.closed).toBe(false);
    const late = await served.execute(command(Buffer.from([0, 0, 0, 0, 0, 0])));
    expect(late).toMatchObject({
      status: ScsiStatus.CHECK_CONDITION,
      sense: { key: 0x5, asc: 0x25, ascq: 0 },
    });
    expect(served.running).toBe(1);

    backend.release();
    expect((await writing).status).toBe(ScsiStatus.GOOD);
    await closing;
    expect(backend.closed).toBe(true);
    expect(served.running).toBe(0);
  });
});
