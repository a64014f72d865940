/**
 * A LogicalUnit over a MemoryBackend, wired with a NoReservations gate, a virtual clock, a silent
 * logger and an event log with a memory sink, plus helpers to run CDBs on numbered nexuses.
 */

import type { BlockBackend } from '../../src/backends/block-backend.js';
import { MemoryBackend, type MemoryBackendOptions } from '../../src/backends/memory-backend.js';
import { EventLog } from '../../src/core/event-log.js';
import { MemoryRingSink } from '../../src/core/event-sinks.js';
import { silentLogger } from '../../src/core/logger.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { LogicalUnit, type LogicalUnitOptions } from '../../src/scsi/logical-unit.js';
import type { ReservationGate } from '../../src/scsi/reservation-gate.js';
import type { Nexus, ScsiResult } from '../../src/scsi/scsi-types.js';
import { UnitAttentions } from '../../src/scsi/unit-attention.js';
import { NoReservations } from './no-reservations.js';

export const TARGET_IQN = 'iqn.2026-01.org.collie:target';

/** Nexus number n: initiator "...:initiator-<n>", ISID 0x00023d00000n, target portal group 1. */
export function makeNexus(
  n = 1,
  port: { relativeTargetPortId?: number; targetPortGroup?: number } = {},
): Nexus {
  const initiatorName = `iqn.2026-01.org.example:initiator-${n}`;
  const initiatorPortName = `${initiatorName},i,0x00023d${n.toString(16).padStart(6, '0')}`;
  const targetPortName = `${TARGET_IQN},t,0x0001`;
  return {
    initiatorPortName,
    initiatorName,
    targetPortName,
    relativeTargetPortId: port.relativeTargetPortId ?? 1,
    targetPortGroup: port.targetPortGroup ?? 1,
    id: `${initiatorPortName}|${targetPortName}`,
  };
}

export interface TestLu {
  readonly lu: LogicalUnit;
  readonly backend: BlockBackend;
  readonly unitAttentions: UnitAttentions;
  readonly events: MemoryRingSink;
  readonly gate: ReservationGate;
  /** Runs a CDB (zero-padded to 16 bytes like an iSCSI BHS carries it unless `exact`). */
  run(
    cdb: Buffer,
    options?: {
      dataOut?: Buffer;
      expectedLengthBytes?: number;
      nexus?: Nexus;
      signal?: AbortSignal;
      exact?: boolean;
    },
  ): Promise<ScsiResult>;
}

export interface TestLuOptions extends Partial<Omit<LogicalUnitOptions, 'backend'>> {
  readonly backend?: BlockBackend;
  readonly memory?: Partial<MemoryBackendOptions>;
  /** Leave the power-on UNIT ATTENTION of nexus 1 pending (default: consumed). */
  readonly keepPowerOnAttention?: boolean;
}

/** 1 MiB of 512-byte blocks (2048 blocks) unless told otherwise. */
export async function createTestLu(options: TestLuOptions = {}): Promise<TestLu> {
  const backend =
    options.backend ??
    new MemoryBackend({ sizeBytes: 1024 * 1024, identity: 'memory:test-lu', ...options.memory });
  const clock = new VirtualClock();
  const eventLog = new EventLog(clock);
  const events = new MemoryRingSink(1000);
  eventLog.addSink(events);
  const unitAttentions = options.unitAttentions ?? new UnitAttentions();
  const gate = options.reservations ?? new NoReservations();
  const lu = new LogicalUnit({
    lun: 1,
    clock,
    logger: silentLogger,
    eventLog,
    reportLuns: () => [0, 1],
    ...options,
    backend,
    unitAttentions,
    reservations: gate,
  });
  const run: TestLu['run'] = (cdb, runOptions = {}) => {
    const padded = runOptions.exact ? cdb : Buffer.concat([cdb, Buffer.alloc(Math.max(0, 16 - cdb.length))]);
    const dataOut = runOptions.dataOut ?? Buffer.alloc(0);
    return lu.execute({
      cdb: padded,
      nexus: runOptions.nexus ?? makeNexus(1),
      dataOut,
      expectedLengthBytes: runOptions.expectedLengthBytes ?? dataOut.length,
      taskTag: 1,
      taskAttribute: 1,
      ...(runOptions.signal === undefined ? {} : { signal: runOptions.signal }),
    });
  };
  if (!options.keepPowerOnAttention) await run(Buffer.from([0, 0, 0, 0, 0, 0]));
  return { lu, backend, unitAttentions, events, gate, run };
}

/** The sense triple of a result, for compact assertions. */
export function senseTriple(result: ScsiResult): [number, number, number] | undefined {
  return result.sense === undefined ? undefined : [result.sense.key, result.sense.asc, result.sense.ascq];
}
