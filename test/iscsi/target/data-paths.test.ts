/**
 * Goal: the target moves data right on every path RFC 7143 allows: immediate data, unsolicited
 * Data-Out (InitialR2T=No), R2T-solicited Data-Out within MaxBurstLength and MaxOutstandingR2T,
 * and Data-In cut at the initiator's MaxRecvDataSegmentLength with F at every MaxBurstLength
 * boundary and status in the last PDU; for transfers from one block to 4 MiB, with and without
 * digests.
 * Method: for each negotiated combination, write then read back transfers of many sizes through
 * the simulated initiator, and check both the bytes and the shape of every PDU on the wire
 * (recorded by the initiator's hooks) against what the negotiated values demand.
 */
import { describe, expect, test } from 'vitest';
import type { IscsiInitiator } from '../../../sim/initiator/iscsi-initiator.js';
import type { OperationalOffer } from '../../../sim/initiator/operational-offer.js';
import type { DataInPdu, DataOutPdu, R2tPdu, ScsiCommandPdu } from '../../../src/iscsi/pdu/messages.js';
import { RESERVED_TAG } from '../../../src/iscsi/pdu/opcodes.js';
import type { MemoryNetworkOptions } from '../../../transports/memory.js';
import { pattern, ready, targetWorld, type World } from './target-world.js';

interface Recorded {
  commands: ScsiCommandPdu[];
  dataOuts: DataOutPdu[];
  r2ts: R2tPdu[];
  dataIns: DataInPdu[];
}

function record(initiator: IscsiInitiator): Recorded {
  const seen: Recorded = { commands: [], dataOuts: [], r2ts: [], dataIns: [] };
  initiator.hooks = {
    outgoing: (pdu) => {
      if (pdu.kind === 'scsi-command') seen.commands.push(pdu);
      if (pdu.kind === 'data-out') seen.dataOuts.push(pdu);
      return pdu;
    },
    incoming: (pdu) => {
      if (pdu.kind === 'r2t') seen.r2ts.push(pdu);
      if (pdu.kind === 'data-in') seen.dataIns.push(pdu);
    },
  };
  return seen;
}

function clear(seen: Recorded): void {
  seen.commands.length = 0;
  seen.dataOuts.length = 0;
  seen.r2ts.length = 0;
  seen.dataIns.length = 0;
}

/** The write's PDUs match the negotiated data-out rules (RFC 7143 §4.2.5, §11.7, §11.8). */
function checkWriteShape(initiator: IscsiInitiator, seen: Recorded, sizeBytes: number): void {
  const p = initiator.parameters;
  const segmentMax = p.maxSendDataSegmentLengthBytes;
  expect(seen.commands).toHaveLength(1);
  const command = seen.commands[0]!;
  const immediate = p.immediateData ? Math.min(sizeBytes, p.firstBurstLengthBytes, segmentMax) : 0;
  const unsolicitedEnd = p.initialR2T
    ? immediate
    : Math.max(immediate, Math.min(p.firstBurstLengthBytes, sizeBytes));
  expect(command.data.length).toBe(immediate);
  expect(command.final).toBe(unsolicitedEnd === immediate);
  const unsolicited = seen.dataOuts.filter((pdu) => pdu.targetTransferTag === RESERVED_TAG);
  checkSequence(unsolicited, immediate, unsolicitedEnd, segmentMax);
  let solicitedFrom = unsolicitedEnd;
  seen.r2ts.forEach((r2t, index) => {
    expect(r2t.r2tSN).toBe(index);
    expect(r2t.bufferOffset).toBe(solicitedFrom);
    expect(r2t.desiredDataTransferLength).toBeLessThanOrEqual(p.maxBurstLengthBytes);
    const burst = seen.dataOuts.filter((pdu) => pdu.targetTransferTag === r2t.targetTransferTag);
    checkSequence(burst, r2t.bufferOffset, r2t.bufferOffset + r2t.desiredDataTransferLength, segmentMax);
    solicitedFrom += r2t.desiredDataTransferLength;
  });
  expect(solicitedFrom).toBe(sizeBytes);
}

/** One Data-Out sequence: contiguous from `start` to `end`, DataSN from 0, F on the last only. */
function checkSequence(pdus: readonly DataOutPdu[], start: number, end: number, segmentMax: number): void {
  let offset = start;
  pdus.forEach((pdu, index) => {
    expect(pdu.dataSN).toBe(index);
    expect(pdu.bufferOffset).toBe(offset);
    expect(pdu.data.length).toBeGreaterThan(0);
    expect(pdu.data.length).toBeLessThanOrEqual(segmentMax);
    offset += pdu.data.length;
    expect(pdu.final).toBe(offset === end);
  });
  expect(offset).toBe(end);
}

/** The read's Data-In PDUs: cut at our MRDSL, F at each burst end, status in the last one. */
function checkReadShape(initiator: IscsiInitiator, seen: Recorded, sizeBytes: number): void {
  const p = initiator.parameters;
  let offset = 0;
  seen.dataIns.forEach((pdu, index) => {
    const end = offset + pdu.data.length;
    expect(pdu.dataSN).toBe(index);
    expect(pdu.bufferOffset).toBe(offset);
    expect(pdu.data.length).toBeLessThanOrEqual(p.maxRecvDataSegmentLengthBytes);
    // No PDU crosses a MaxBurstLength boundary, and F marks each burst's end (§11.7.1).
    expect(Math.floor(offset / p.maxBurstLengthBytes)).toBe(Math.floor((end - 1) / p.maxBurstLengthBytes));
    expect(pdu.final).toBe(end === sizeBytes || end % p.maxBurstLengthBytes === 0);
    expect(pdu.statusPresent).toBe(end === sizeBytes);
    offset = end;
  });
  expect(offset).toBe(sizeBytes);
}

interface Config {
  readonly name: string;
  readonly offer: Partial<OperationalOffer>;
  readonly digests?: boolean;
  readonly network?: Partial<MemoryNetworkOptions>;
}

const CONFIGS: readonly Config[] = [
  { name: 'InitialR2T=No, ImmediateData=Yes (Collie default)', offer: {} },
  { name: 'InitialR2T=No, ImmediateData=No', offer: { immediateData: false } },
  { name: 'InitialR2T=Yes, ImmediateData=Yes', offer: { initialR2T: true } },
  { name: 'InitialR2T=Yes, ImmediateData=No', offer: { initialR2T: true, immediateData: false } },
  {
    name: 'MRDSL 8 KiB, MaxBurstLength 64 KiB, FirstBurstLength 16 KiB, one outstanding R2T',
    offer: {
      maxRecvDataSegmentLengthBytes: 8192,
      maxBurstLengthBytes: 65536,
      firstBurstLengthBytes: 16384,
      maxOutstandingR2T: 1,
    },
  },
  {
    name: 'MaxBurstLength 1 MiB, FirstBurstLength 512 KiB: Data-Out cut at the target MRDSL',
    offer: { maxBurstLengthBytes: 1048576, firstBurstLengthBytes: 524288, maxOutstandingR2T: 2 },
  },
  {
    name: 'CRC32C digests over a network that splits and delays chunks',
    offer: { maxRecvDataSegmentLengthBytes: 16384 },
    digests: true,
    network: { chunkSplitRatio: 0.5, delayMsMax: 3 },
  },
];

/** 512 B to 4 MiB, around the 64 KiB and 256 KiB boundaries. */
const SIZES_BLOCKS = [1, 8, 127, 128, 129, 512, 513, 1024, 2051, 8192];

async function loggedIn(config: Config): Promise<{ world: World; initiator: IscsiInitiator }> {
  const world = await targetWorld({ ...(config.network ? { network: config.network } : {}) });
  const initiator = await world.login({
    offer: config.offer,
    headerDigest: config.digests ?? false,
    dataDigest: config.digests ?? false,
  });
  await ready(world, initiator, 0);
  return { world, initiator };
}

describe('data paths of the real target', () => {
  describe.each(CONFIGS)('$name', (config) => {
    test('writes and reads back 1 block to 4 MiB with PDUs shaped by the negotiated values', async () => {
      const { world, initiator } = await loggedIn(config);
      expect(initiator.parameters.headerDigest).toBe(config.digests ?? false);
      const seen = record(initiator);
      let lba = 0;
      for (const blocks of SIZES_BLOCKS) {
        const data = pattern(blocks * 512, blocks);
        clear(seen);
        const written = await world.settle(initiator.write(0, lba, data));
        expect(written.status).toBe(0);
        expect(written.residual).toEqual({ overflow: false, underflow: false, count: 0 });
        checkWriteShape(initiator, seen, data.length);
        clear(seen);
        const read = await world.settle(initiator.read(0, lba, blocks));
        expect(read.status).toBe(0);
        expect(read.dataIn.equals(data)).toBe(true);
        checkReadShape(initiator, seen, data.length);
        lba += blocks;
      }
      expect(initiator.violations).toEqual([]);
      await world.close();
    });
  });

  test('32 writes and reads in flight at once land where they belong', async () => {
    const { world, initiator } = await loggedIn({ name: 'concurrent', offer: { maxOutstandingR2T: 2 } });
    const blocksOf = (index: number) => 1 + ((index * 37) % 300);
    const writes = Array.from({ length: 32 }, (_, index) =>
      initiator.write(0, index * 1024, pattern(blocksOf(index) * 512, 100 + index)),
    );
    for (const result of await world.settle(Promise.all(writes))) expect(result.status).toBe(0);
    const reads = Array.from({ length: 32 }, (_, index) => initiator.read(0, index * 1024, blocksOf(index)));
    const results = await world.settle(Promise.all(reads));
    results.forEach((result, index) => {
      expect(result.dataIn.equals(pattern(blocksOf(index) * 512, 100 + index))).toBe(true);
    });
    expect(initiator.violations).toEqual([]);
    await world.close();
  });

  test('LUNs keep their own data; FUA writes and SYNCHRONIZE CACHE succeed', async () => {
    const { world, initiator } = await loggedIn({ name: 'luns', offer: {} });
    await ready(world, initiator, 1);
    const zero = pattern(8192, 1);
    const one = pattern(8192, 2);
    expect((await world.settle(initiator.write(0, 0, zero, { fua: true }))).status).toBe(0);
    expect((await world.settle(initiator.write(1, 0, one))).status).toBe(0);
    expect((await world.settle(initiator.synchronizeCache(1))).status).toBe(0);
    expect((await world.settle(initiator.read(0, 0, 16))).dataIn.equals(zero)).toBe(true);
    expect((await world.settle(initiator.read(1, 0, 16))).dataIn.equals(one)).toBe(true);
    const capacity = await world.settle(initiator.readCapacity16(1));
    expect(capacity.capacity).toEqual({ blockCount: (8 * 1024 * 1024) / 512, blockSizeBytes: 512 });
    await world.close();
  });
});
