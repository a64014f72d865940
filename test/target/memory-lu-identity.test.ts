/**
 * Goal: two mem: LUs never share a unit serial number or NAA designator, whatever their sizes: a
 * host's multipath layer (dm-multipath keys on the WWID) would otherwise take two different disks
 * for two paths to one and spread one filesystem's writes over both. mem: LUs of one size in one
 * target and in two targets all differ (a LUN added at runtime is built by the same assembleLun).
 * Method: assemble a config of mem: LUNs and read VPD page 80h (unit serial number) from every LU.
 */
import { describe, expect, test } from 'vitest';
import { EventLog } from '../../src/core/event-log.js';
import { createLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { ScsiStatus } from '../../src/scsi/scsi-types.js';
import { assembleTargets } from '../../src/target/target-assembly.js';
import { targetConfigFromDocument } from '../../src/target/target-config.js';
import { MemoryNetwork } from '../../transports/memory.js';
import { inquiryCdb } from '../support/cdb-builder.js';
import { makeNexus } from '../support/scsi-lu.js';

const IQN_A = 'iqn.2026-01.test.collie:a';
const IQN_B = 'iqn.2026-01.test.collie:b';

describe('mem: LU identity', () => {
  test('every mem: LU has its own unit serial number, sizes equal or not', async () => {
    const clock = new VirtualClock();
    const config = targetConfigFromDocument(
      {
        targets: [
          { iqn: IQN_A, luns: { 1: 'mem:1M' } },
          { iqn: IQN_B, luns: { 1: 'mem:1M', 2: 'mem:1M', 3: 'mem:2M' } },
        ],
      },
      't.yaml',
    );
    const assembled = await assembleTargets(config, {
      transport: new MemoryNetwork({ clock, rng: createRng(1), eventLog: new EventLog(clock) }).transport(
        'node',
      ),
      clock,
      rng: createRng('identity'),
      eventLog: new EventLog(clock),
      logger: createLogger({ level: 'silent' }),
    });
    try {
      const serials: string[] = [];
      for (const target of assembled.targets) {
        for (const [lun, unit] of target.luns) {
          const result = await unit.execute({
            cdb: inquiryCdb(true, 0x80, 255),
            nexus: makeNexus(),
            dataOut: Buffer.alloc(0),
            expectedLengthBytes: 255,
            taskTag: 1,
            taskAttribute: 1,
          });
          expect(result.status, `${target.iqn} LUN ${lun}`).toBe(ScsiStatus.GOOD);
          serials.push(result.dataIn!.subarray(4).toString('latin1'));
        }
      }
      expect(serials).toHaveLength(4);
      expect(new Set(serials).size, serials.join(' ')).toBe(4);
    } finally {
      await assembled.close();
    }
  });
});
