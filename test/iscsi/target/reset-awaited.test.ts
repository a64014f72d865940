/**
 * Goal: the session answers LOGICAL UNIT RESET and TARGET WARM RESET only after the logical
 * unit's reset has resolved. A clustered LU's reset is a shared-cell update, and once the
 * initiator has the answer a command through another node must already see the 29/03.
 * Method: LUN 0 behind a wrapper whose reset takes 3 s of virtual time before it calls the real
 * one; the TMF answer must not come earlier, and the reset must be complete when it does.
 */
import { describe, expect, test } from 'vitest';
import type { Clock } from '../../../src/core/clock.js';
import { TmfFunction, TmfResponse } from '../../../src/iscsi/pdu/opcodes.js';
import type { IscsiLun } from '../../../src/iscsi/target/target-node.js';
import { ready, TARGET_IQN, targetWorld } from './target-world.js';

const RESET_DELAY_MS = 3000;

class SlowResetLun {
  clock: Clock | undefined;
  resetsDone = 0;

  wrap(unit: IscsiLun): IscsiLun {
    return {
      blockSizeBytes: unit.blockSizeBytes,
      execute: (command) => unit.execute(command),
      nexusLost: (nexus) => unit.nexusLost(nexus),
      reset: async (by) => {
        await new Promise<void>((resolve) => this.clock!.setTimeout(resolve, RESET_DELAY_MS));
        await unit.reset(by);
        this.resetsDone += 1;
      },
    };
  }
}

describe('the TMF answer waits for the logical unit reset', () => {
  for (const [name, fn] of [
    ['LOGICAL UNIT RESET', TmfFunction.LOGICAL_UNIT_RESET],
    ['TARGET WARM RESET', TmfFunction.TARGET_WARM_RESET],
  ] as const) {
    test(`${name} is answered after the reset resolved`, async () => {
      const slow = new SlowResetLun();
      const world = await targetWorld({
        wrapLun: (iqn, lun, unit) => (iqn === TARGET_IQN && lun === 0 ? slow.wrap(unit) : unit),
      });
      slow.clock = world.clock;
      const initiator = await world.login();
      await ready(world, initiator, 0);
      const askedAtMs = world.clock.now();
      let doneAtAnswer = -1;
      const answer = initiator.taskManagement(fn, { lun: 0 });
      void answer.then(() => {
        doneAtAnswer = slow.resetsDone;
      });
      expect(await world.settle(answer)).toBe(TmfResponse.FUNCTION_COMPLETE);
      expect(world.clock.now() - askedAtMs).toBeGreaterThanOrEqual(RESET_DELAY_MS);
      expect(doneAtAnswer).toBe(1);
      await world.close();
    });
  }
});
