/**
 * Goal: LOGICAL UNIT RESET and TARGET WARM RESET act on the logical unit / target, not on one
 * session (SAM-5, RFC 7143 §11.5.1): the affected tasks of every session are aborted (no status
 * ever arrives for them), the TMF answers only once they stopped touching the LU, and every
 * session gets UNIT ATTENTION 29/03.
 * Method: two initiators on one target; LUN 0 sits behind a wrapper that delays each command on
 * the virtual clock (unless aborted) and counts commands still inside it. A slow read from
 * session 2, then the reset from session 1; the `incoming` hook of session 2 records every
 * status-bearing PDU so a late status would show.
 */

import { describe, expect, test } from 'vitest';
import type { IscsiInitiator } from '../../../sim/initiator/iscsi-initiator.js';
import { parseSense } from '../../../sim/initiator/scsi-commands.js';
import type { AbortFlag } from '../../../src/core/abort-flag.js';
import type { Clock } from '../../../src/core/clock.js';
import { TmfFunction, TmfResponse } from '../../../src/iscsi/pdu/opcodes.js';
import type { IscsiLun } from '../../../src/iscsi/target/target-node.js';
import { type ScsiCommand, type ScsiResult, ScsiStatus } from '../../../src/scsi/scsi-types.js';
import { ready, TARGET_IQN, targetWorld, type World } from './target-world.js';

/** Delays every command by `delayMs` while `slow`; an abort ends the wait and skips the LU. */
class SlowLun {
  clock: Clock | undefined;
  slow = false;
  readonly delayMs = 5000;
  /** Commands inside the wrapper (waiting or executing). */
  inside = 0;

  wrap(unit: IscsiLun): IscsiLun {
    return {
      blockSizeBytes: unit.blockSizeBytes,
      reset: (by) => unit.reset(by),
      nexusLost: (nexus) => unit.nexusLost(nexus),
      execute: async (command: ScsiCommand): Promise<ScsiResult> => {
        this.inside += 1;
        try {
          if (this.slow) await this.#delay(command.signal);
          if (command.signal?.aborted) return { status: ScsiStatus.TASK_ABORTED };
          return await unit.execute(command);
        } finally {
          this.inside -= 1;
        }
      },
    };
  }

  #delay(signal: AbortFlag | undefined): Promise<void> {
    const clock = this.clock!;
    return new Promise((resolve) => {
      const timer = clock.setTimeout(resolve, this.delayMs);
      signal?.onAbort?.(() => {
        clock.clearTimeout(timer);
        resolve();
      });
    });
  }
}

async function setUp() {
  const slowLun = new SlowLun();
  const world = await targetWorld({
    wrapLun: (iqn, lun, unit) => (iqn === TARGET_IQN && lun === 0 ? slowLun.wrap(unit) : unit),
  });
  slowLun.clock = world.clock;
  const first = await world.login();
  const second = await world.login({ host: '10.0.0.2', initiatorName: 'iqn.2026-01.test.collie:second' });
  for (const initiator of [first, second]) {
    await ready(world, initiator, 0);
    await ready(world, initiator, 1);
  }
  const tags: number[] = [];
  const seen: number[] = [];
  second.hooks = {
    outgoing: (pdu) => {
      if (pdu.kind === 'scsi-command') tags.push(pdu.initiatorTaskTag);
      return pdu;
    },
    incoming: (pdu) => {
      if (pdu.kind === 'scsi-response' || pdu.kind === 'data-in') seen.push(pdu.initiatorTaskTag);
    },
  };
  return { slowLun, world, first, second, tags, seen };
}

async function expectResetAttention(world: World, initiator: IscsiInitiator, lun: number) {
  const result = await world.settle(initiator.testUnitReady(lun));
  expect(result.status).toBe(0x02);
  expect(parseSense(result.sense)).toMatchObject({ key: 0x06, asc: 0x29, ascq: 0x03 });
  expect((await world.settle(initiator.testUnitReady(lun))).status).toBe(0);
}

describe('resets reach every session on the logical unit', () => {
  for (const [name, fn] of [
    ['LOGICAL UNIT RESET', TmfFunction.LOGICAL_UNIT_RESET],
    ['TARGET WARM RESET', TmfFunction.TARGET_WARM_RESET],
  ] as const) {
    test(`${name} from session 1 aborts session 2's slow task; both see 29/03`, async () => {
      const { slowLun, world, first, second, tags, seen } = await setUp();
      slowLun.slow = true;
      // The read never answers; its outcome is caught so nothing is left unhandled.
      const read = second.read(0, 0, 8).catch((error: unknown) => error);
      await world.run(50);
      expect(slowLun.inside).toBe(1);
      const tag = tags.at(-1)!;
      const askedAtMs = world.clock.now();
      const answer = first.taskManagement(fn, { lun: 0 });
      let insideAtAnswer = -1;
      void answer.then(() => {
        insideAtAnswer = slowLun.inside;
      });
      expect(await world.settle(answer)).toBe(TmfResponse.FUNCTION_COMPLETE);
      // The answer came well before the delay would have ended, after the task left the LU.
      expect(world.clock.now() - askedAtMs).toBeLessThan(slowLun.delayMs);
      expect(insideAtAnswer).toBe(0);
      slowLun.slow = false;
      await world.run(10_000);
      expect(seen).not.toContain(tag);
      await expectResetAttention(world, first, 0);
      await expectResetAttention(world, second, 0);
      expect(first.violations).toEqual([]);
      expect(second.violations).toEqual([]);
      await world.close();
      await world.settle(read);
    });
  }

  test('LOGICAL UNIT RESET leaves the tasks of other LUNs alone', async () => {
    const { slowLun, world, first, second } = await setUp();
    slowLun.slow = true;
    const other = second.read(1, 0, 8);
    const held = second.read(0, 0, 8).catch((error: unknown) => error);
    await world.run(50);
    expect(await world.settle(first.taskManagement(TmfFunction.LOGICAL_UNIT_RESET, { lun: 0 }))).toBe(
      TmfResponse.FUNCTION_COMPLETE,
    );
    expect((await world.settle(other)).status).toBe(0);
    await world.close();
    await world.settle(held);
  });
});
