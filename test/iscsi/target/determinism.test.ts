/**
 * Goal: a run of the target with simulated initiators replays exactly from its seed, the
 * property the multipath simulator stands on.
 * Method: the production assembly (startTargetService) on a memory network with random delays
 * and chunk splits; two initiators log in (one with CHAP and digests), write and read
 * concurrently, ping, abort, discover and log out. The same seed twice must give the same
 * event-log digest; another seed gives another run.
 */
import { describe, expect, test } from 'vitest';
import type { IscsiInitiator } from '../../../sim/initiator/iscsi-initiator.js';
import { sendTargets } from '../../../sim/initiator/send-targets.js';
import type { EventLog } from '../../../src/core/event-log.js';
import type { Pdu } from '../../../src/iscsi/pdu/messages.js';
import { TmfFunction } from '../../../src/iscsi/pdu/opcodes.js';
import { INITIATOR_HOST, OPEN_TARGET, PORTAL, pattern, ready, targetWorld } from './target-world.js';

const CHAP_IQN = 'iqn.2026-01.test.collie:replay';
const ALICE = { user: 'alice', secret: 'alice-secret-16b' };
const SIZES_BLOCKS = [1, 3, 9, 64, 130, 257, 700, 1500];

/** Every PDU both ways into the event log, so the digest covers the I/O's interleaving too. */
function trace(initiator: IscsiInitiator, eventLog: EventLog, name: string): void {
  const summary = (pdu: Pdu) => ({
    kind: pdu.kind,
    tag: 'initiatorTaskTag' in pdu ? pdu.initiatorTaskTag : null,
    sn: 'cmdSN' in pdu ? pdu.cmdSN : 'statSN' in pdu ? pdu.statSN : null,
    offset: 'bufferOffset' in pdu ? pdu.bufferOffset : null,
    bytes: pdu.data.length,
  });
  initiator.hooks = {
    outgoing: (pdu) => {
      eventLog.append(`test/${name}`, 'pdu.sent', summary(pdu));
      return pdu;
    },
    incoming: (pdu) => {
      eventLog.append(`test/${name}`, 'pdu.received', summary(pdu));
    },
  };
}

async function scenario(seed: number): Promise<{ digest: string; events: number; endMs: number }> {
  const world = await targetWorld({
    service: true,
    seed,
    network: { delayMsMin: 0, delayMsMax: 3, chunkSplitRatio: 0.3 },
    targets: [OPEN_TARGET, { ...OPEN_TARGET, iqn: CHAP_IQN, chap: ALICE }],
  });
  const first = await world.login({ offer: { maxRecvDataSegmentLengthBytes: 8192 } });
  const second = await world.login({
    host: '10.0.0.2',
    targetName: CHAP_IQN,
    chap: ALICE,
    headerDigest: true,
    dataDigest: true,
    offer: { initialR2T: true, maxRecvDataSegmentLengthBytes: 16384 },
  });
  trace(first, world.eventLog, 'first');
  trace(second, world.eventLog, 'second');
  await ready(world, first, 0);
  await ready(world, second, 0);
  const writes = [first, second].flatMap((initiator, which) =>
    SIZES_BLOCKS.map((blocks, index) =>
      initiator.write(0, which * 16384 + index * 2048, pattern(blocks * 512, seed + index)),
    ),
  );
  for (const result of await world.settle(Promise.all(writes))) expect(result.status).toBe(0);
  const reads = [first, second].flatMap((initiator, which) =>
    SIZES_BLOCKS.map((blocks, index) => initiator.read(0, which * 16384 + index * 2048, blocks)),
  );
  for (const result of await world.settle(Promise.all(reads))) expect(result.status).toBe(0);
  await world.settle(first.ping(pattern(1024, seed)));
  await world.settle(second.taskManagement(TmfFunction.ABORT_TASK, { lun: 0, referencedTaskTag: 0x1234 }));
  await world.run(25_000); // keepalive pings both ways
  await world.settle(sendTargets(world.network.transport(INITIATOR_HOST), PORTAL, world.initiatorOptions()));
  await world.settle(first.close());
  await world.settle(second.close());
  await world.close();
  return { digest: world.digest.digestHex(), events: world.digest.count, endMs: world.clock.now() };
}

describe('determinism', () => {
  test('the same seed gives the same event-log digest; another seed another run', async () => {
    const one = await scenario(7);
    const again = await scenario(7);
    expect(again).toEqual(one);
    expect(one.events).toBeGreaterThan(300);
    const other = await scenario(8);
    expect(other.digest).not.toBe(one.digest);
  });
});
