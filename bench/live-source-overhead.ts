/**
 * What following an EventLog with the inspector's LiveSource costs EventLog.append, per event.
 *
 *   node dist/bench/live-source-overhead.js [--events N] [--rounds R]
 *
 * Method: one process, one EventLog on a counting clock; each variant appends N events built the
 * way the IO path builds them (io-runner's `io.transition`: a fresh data object per event), and
 * the time per append is the median over R rounds, the variants interleaved so drift hits all:
 * - no inspector: the EventLog alone (what every process pays today)
 * - idle: LiveSource.follow (a sink: a subscriber of the log's events$), no page connected: what
 *   `--inspect` costs with no viewer
 * - idle, 100k IO events held: the idle ring of per-IO events as big as the main ring, to show
 *   what holding events costs (the garbage collector copies what is alive)
 * - idle, projected types: no viewer, events the idle source still keeps in its 100k ring and
 *   projects (lock.acquired); only a handful per second in a real process, shown as the bound
 * - viewer: a stream listener connected, so every event is projected and handed on
 * Each variant's source is disposed before the next starts, so only one follows at a time.
 */
import { parseArgs } from 'node:util';
import type { Clock } from '../src/core/clock.js';
import { EventLog } from '../src/core/event-log.js';
import { LiveSource } from '../src/inspect/inspector-source.js';

function counterClock(): Clock {
  let now = 0;
  return {
    now: () => {
      now += 1;
      return now;
    },
    setTimeout: () => 0,
    clearTimeout: () => undefined,
  };
}

interface Variant {
  readonly name: string;
  /** Sets up the log; returns the teardown. */
  setUp(log: EventLog): () => void;
  readonly type: string;
}

const VARIANTS: readonly Variant[] = [
  { name: 'no inspector', type: 'io.transition', setUp: () => () => undefined },
  {
    name: 'idle',
    type: 'io.transition',
    setUp: (log) => {
      const source = LiveSource.follow(log, { title: 'bench' });
      return () => source.dispose();
    },
  },
  {
    name: 'idle, 100k IO events held',
    type: 'io.transition',
    setUp: (log) => {
      const source = LiveSource.follow(log, { title: 'bench', idleDeferredCapacity: 100_000 });
      return () => source.dispose();
    },
  },
  {
    name: 'idle, projected types',
    type: 'lock.acquired',
    setUp: (log) => {
      const source = LiveSource.follow(log, { title: 'bench' });
      return () => source.dispose();
    },
  },
  {
    name: 'viewer connected',
    type: 'io.transition',
    setUp: (log) => {
      const source = LiveSource.follow(log, { title: 'bench' });
      let seen = 0;
      const unsubscribe = source.subscribe(() => {
        seen += 1;
      });
      return () => {
        unsubscribe();
        source.dispose();
        if (seen === 0) throw new Error('the listener saw nothing');
      };
    },
  },
];

function appendLoop(log: EventLog, type: string, count: number): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    log.append('sheepdog/vol0@127.0.0.1:7000/io', type, {
      io: i,
      op: 'read',
      from: 'sending',
      event: 'RESULT',
      outcome: 'ok',
      code: 0,
      to: 'done',
    });
  }
  return Number(process.hrtime.bigint() - started) / count;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function main(): void {
  const { values } = parseArgs({
    options: { events: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '7' } },
  });
  const count = Number.parseInt(values.events, 10);
  const rounds = Number.parseInt(values.rounds, 10);
  if (!(count >= 1000) || !(rounds >= 1)) throw new Error('--events must be >= 1000 and --rounds >= 1');
  const log = new EventLog(counterClock());
  const samples = new Map<string, number[]>(VARIANTS.map((variant) => [variant.name, []]));
  // Warm-up: every path compiled before timing.
  for (const variant of VARIANTS) {
    const tearDown = variant.setUp(log);
    appendLoop(log, variant.type, Math.min(count, 200_000));
    tearDown();
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const variant of order) {
      const tearDown = variant.setUp(log);
      samples.get(variant.name)!.push(appendLoop(log, variant.type, count));
      tearDown();
    }
  }
  const base = median(samples.get('no inspector')!);
  process.stdout.write(
    `EventLog.append with a LiveSource following: ${count} events x ${rounds} rounds, median ns per append\n\n`,
  );
  for (const variant of VARIANTS) {
    const ns = median(samples.get(variant.name)!);
    const extra = ns - base;
    process.stdout.write(
      `  ${variant.name.padEnd(24)} ${ns.toFixed(0).padStart(6)} ns${variant.name === 'no inspector' ? '' : `  (+${extra.toFixed(0)} ns)`}\n`,
    );
  }
}

main();
