/**
 * Goal: tgt's bs_sheepdog and Collie's sheepdog client follow the same coherence protocol, so
 * one VDI can be exported by a real tgtd on one path and a Collie target on the other, and the
 * multipath failover of sheepdog-protocol.md §8.5 works in both directions.
 * Method: one `collie sheep` with endpoints P1 and P2; target A (tgtd or `collie target`) exports
 * the VDI through P1, target B (the other kind) through P2, both open before anything is written.
 * A writes 0xab into a never-allocated object (40 MiB, object 10) and is SIGKILLed. Then B reads
 * the area, or B first writes 4 KiB elsewhere in the same object and reads. `collie vdi lock list`
 * must show the same states as with two targets of one kind, and `collie vdi read` cross-checks
 * the store. Skipped when tgt or qemu-io are missing, except in CI.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { writePattern } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import {
  A_WRITE,
  B_WRITE,
  bytesOf,
  expectReadThrough,
  expectStoreBytes,
  openPair,
  writeThroughAThenKillA,
} from './multipath-failover-steps.js';
import { StoreRig, type TargetVendor } from './sheep-store-rig.js';

const hasTools = ['tgtd', 'tgtadm', 'qemu-io'].map(requireTool).every(Boolean);

const TEST_TIMEOUT_MS = 60_000;

const MIXES: [TargetVendor, TargetVendor][] = [
  ['tgt', 'collie'],
  ['collie', 'tgt'],
];

describe.skipIf(!hasTools)('failover between a tgtd and a collie target on one collie sheep', () => {
  let rig: StoreRig | undefined;

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && rig) console.log(rig.diagnostics());
    await rig?.dispose();
    rig = undefined;
  });

  describe.each(MIXES)('A is %s, B is %s', (vendorA, vendorB) => {
    test(
      'B reads what A wrote before dying',
      async () => {
        rig = await StoreRig.start({ label: `mixed-read-${vendorA}-${vendorB}`, endpointCount: 2 });
        const pair = await openPair(rig, [vendorA, vendorB]);
        const afterWrite = await writeThroughAThenKillA(rig, pair);
        expect(afterWrite).toEqual({ [pair.p1]: 'MODIFIED', [pair.p2]: 'INVALIDATED' });

        await expectReadThrough(pair.b, A_WRITE, "A's write");
        expect(await rig.participants()).toEqual({ [pair.p1]: 'SHARED', [pair.p2]: 'SHARED' });
        await expectStoreBytes(rig, A_WRITE.offset, bytesOf(A_WRITE), "A's write");
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "B's first write after the failover keeps A's data in the same object",
      async () => {
        rig = await StoreRig.start({ label: `mixed-write-${vendorA}-${vendorB}`, endpointCount: 2 });
        const pair = await openPair(rig, [vendorA, vendorB]);
        const afterWrite = await writeThroughAThenKillA(rig, pair);
        expect(afterWrite).toEqual({ [pair.p1]: 'MODIFIED', [pair.p2]: 'INVALIDATED' });

        const wrote = await writePattern(pair.b.url, B_WRITE);
        expect(wrote.ok, wrote.output).toBe(true);
        expect(await rig.participants()).toEqual({ [pair.p1]: 'SHARED', [pair.p2]: 'SHARED' });
        await expectReadThrough(pair.b, A_WRITE, "A's data after B's write");
        await expectReadThrough(pair.b, B_WRITE, "B's write");
        await expectStoreBytes(rig, A_WRITE.offset, bytesOf(A_WRITE), "A's write");
        await expectStoreBytes(rig, B_WRITE.offset, bytesOf(B_WRITE), "B's write");
      },
      TEST_TIMEOUT_MS,
    );
  });
});
