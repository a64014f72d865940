/**
 * Goal: show what the compiled IO table saves over an xstate actor per IO (ecosystem notes
 * §1.7: an actor per request costs tens of microseconds, too much at 100k IOPS).
 * Method: the same lifecycles run both ways, per iteration one whole IO from start to its final
 * state: a write that allocates (SEND, object round ok, inode update ok) and a read that hits
 * INODE_INVALIDATED once (SEND, invalidated, RELOADED, SEND, ok). Run: npx vitest bench --run.
 */
import { bench, describe } from 'vitest';
import { createActor } from 'xstate';
import { type IoRequestEvent, ioRequestMachine } from '../../../machines/io-request.js';
import { ioTable } from '../../../src/sheepdog/client/io-table.js';

const INPUT = { reloadsMax: 8 };

const lifecycles: ReadonlyArray<[string, readonly IoRequestEvent[]]> = [
  [
    'write with allocation',
    [
      { type: 'SEND', creates: 1 },
      { type: 'RESULT', outcome: 'ok' },
      { type: 'RESULT', outcome: 'ok' },
    ],
  ],
  [
    'read with one reload',
    [
      { type: 'SEND', creates: 0 },
      { type: 'RESULT', outcome: 'invalidated' },
      { type: 'RELOADED', progress: false },
      { type: 'SEND', creates: 0 },
      { type: 'RESULT', outcome: 'ok' },
    ],
  ],
];

for (const [name, events] of lifecycles) {
  describe(`one IO request, ${name}`, () => {
    bench('compiled table', () => {
      const run = ioTable.start(INPUT);
      for (const event of events) ioTable.step(run, event);
      if (!ioTable.isFinal(run.state)) throw new Error('the table run did not finish');
    });

    bench('xstate actor per IO', () => {
      const actor = createActor(ioRequestMachine, { input: INPUT }).start();
      for (const event of events) actor.send(event);
      if (actor.getSnapshot().status !== 'done') throw new Error('the actor did not finish');
      actor.stop();
    });
  });
}
