/**
 * Goal: a clustered LU answers failures of the shared cell itself the way initiators recover
 * from best: lost races are BUSY (whether the cell says CellContention or gives up with a
 * BackendError 'retries-exhausted', as the sheepdog cell does when other nodes keep invalidating
 * it), an unreachable store is NOT READY like any backend outage, and a configuration the
 * cluster refuses is NOT READY, MANUAL INTERVENTION REQUIRED. Without a shared cell, a LU given
 * no reservation gate builds its own.
 * Method: clusterFailureResult directly; a LogicalUnit over a MemoryBackend for the last part.
 */
import { describe, expect, test } from 'vitest';
import { BackendError } from '../../../src/backends/block-backend.js';
import { MemoryBackend } from '../../../src/backends/memory-backend.js';
import { CellContention } from '../../../src/backends/shared-cell.js';
import { EventLog } from '../../../src/core/event-log.js';
import { silentLogger } from '../../../src/core/logger.js';
import { VirtualClock } from '../../../src/core/virtual-clock.js';
import { ClusterConfigurationError } from '../../../src/scsi/cluster/cluster-state.js';
import { clusterFailureResult } from '../../../src/scsi/cluster/cluster-wiring.js';
import { LogicalUnit } from '../../../src/scsi/logical-unit.js';
import { type ScsiCommand, ScsiStatus } from '../../../src/scsi/scsi-types.js';
import { UnitAttentions } from '../../../src/scsi/unit-attention.js';
import { makeNexus } from '../../support/scsi-lu.js';

const COMMAND: ScsiCommand = {
  cdb: Buffer.from([0x89, ...Buffer.alloc(15)]),
  nexus: makeNexus(1),
  dataOut: Buffer.alloc(0),
  expectedLengthBytes: 0,
  taskTag: 1,
  taskAttribute: 1,
};

describe('failures of the shared cell', () => {
  test.each([
    ['CellContention', new CellContention('lost 16 races')],
    ["BackendError 'retries-exhausted'", new BackendError('retries-exhausted', 'bump refused 16 times')],
  ])('%s is BUSY', (_name, error) => {
    expect(clusterFailureResult(COMMAND, error, silentLogger, 1)).toEqual({ status: ScsiStatus.BUSY });
  });

  test("BackendError 'unavailable' is NOT READY, as a backend outage is", () => {
    const result = clusterFailureResult(
      COMMAND,
      new BackendError('unavailable', 'store gone'),
      silentLogger,
      1,
    );
    expect(result.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(result.sense).toMatchObject({ key: 0x2, asc: 0x04, ascq: 0x0a });
  });

  test('a refused configuration is NOT READY, MANUAL INTERVENTION REQUIRED', () => {
    const result = clusterFailureResult(
      COMMAND,
      new ClusterConfigurationError('node id clash'),
      silentLogger,
      1,
    );
    expect(result.sense).toMatchObject({ key: 0x2, asc: 0x04, ascq: 0x03 });
  });

  test('anything else is rethrown (a bug)', () => {
    expect(() => clusterFailureResult(COMMAND, new TypeError('oops'), silentLogger, 1)).toThrow(TypeError);
  });
});

describe('a single-node LU without a reservation gate', () => {
  test('builds an in-memory Reservations gate: RESERVE(6) works, and conflicts for another nexus', async () => {
    const clock = new VirtualClock();
    const lu = new LogicalUnit({
      backend: new MemoryBackend({ sizeBytes: 1024 * 1024 }),
      lun: 1,
      unitAttentions: new UnitAttentions(),
      clock,
      logger: silentLogger,
      eventLog: new EventLog(clock),
      reportLuns: () => [1],
    });
    const run = (n: number, cdb: number[]) =>
      lu.execute({
        ...COMMAND,
        cdb: Buffer.from([...cdb, ...Buffer.alloc(16 - cdb.length)]),
        nexus: makeNexus(n),
      });
    await run(1, [0, 0, 0, 0, 0, 0]);
    await run(2, [0, 0, 0, 0, 0, 0]);
    expect((await run(1, [0x16, 0, 0, 0, 0, 0])).status).toBe(ScsiStatus.GOOD);
    expect((await run(2, [0x16, 0, 0, 0, 0, 0])).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
  });
});
