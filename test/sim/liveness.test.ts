/**
 * Goal: the runner's liveness checks (sim/run.ts) judge failures by the event log alone: an
 * operation may fail only inside a fault window or its grace; any failed or garbage read of the
 * final read-back is a violation; windows come from `fault.*` events of any class, scripted
 * target crashes (`sim.target_crashed`), store crashes and network faults. Method: a hand-made
 * History on a virtual clock with a fake multipath device whose answers the test sets, and
 * fault events appended by hand.
 */
import { describe, expect, test } from 'vitest';
import { type MultipathDevice, MultipathError } from '../../sim/multipath/multipath-device.js';
import {
  DOCUMENTED_RECOVERY_MS,
  FAULT_GRACE_MS,
  faultWindows,
  livenessViolations,
  readBackCoverage,
  storeInvariantViolations,
} from '../../sim/run.js';
import { History, type OpRecord } from '../../sim/workload.js';
import type { LogEvent } from '../../src/core/event.js';
import { EventLog } from '../../src/core/event-log.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';

/** A device whose next answers the test chooses: 'ok', 'fail', or garbage bytes. */
class FakeDevice {
  answer: 'ok' | 'fail' | 'garbage' = 'ok';
  readonly blocks = new Map<number, Buffer>();

  async write(block: number, data: Buffer): Promise<string> {
    if (this.answer === 'fail') throw new MultipathError('MP_IO_ERROR', 'write failed (test)');
    this.blocks.set(block, data);
    return 'target-a';
  }

  async read(block: number, _count: number): Promise<{ data: Buffer; path: string }> {
    if (this.answer === 'fail') throw new MultipathError('MP_IO_ERROR', 'read failed (test)');
    if (this.answer === 'garbage') return { data: Buffer.alloc(512, 7), path: 'target-b' };
    return { data: this.blocks.get(block) ?? Buffer.alloc(512), path: 'target-b' };
  }
}

function setup() {
  const clock = new VirtualClock(0);
  const events: LogEvent[] = [];
  const eventLog = new EventLog(clock);
  eventLog.addSink({ write: (event) => events.push(event) });
  const history = new History(eventLog);
  const fake = new FakeDevice();
  const device = fake as unknown as MultipathDevice;
  const at = (ms: number) => clock.advanceTo(ms);
  const log = (type: string, data: Record<string, unknown> = {}, actor = 'sim/faults') =>
    eventLog.append(actor, type, data);
  return { clock, events, history, fake, device, at, log };
}

function kindsOf(history: History, events: readonly LogEvent[], readBack: readonly OpRecord[] = []) {
  return livenessViolations(history, events, readBack).map((violation) => violation.kind);
}

describe('liveness: failures bounded to fault windows', () => {
  test('the grace covers the documented recovery (multipath and backend timeouts)', () => {
    expect(FAULT_GRACE_MS).toBeGreaterThanOrEqual(DOCUMENTED_RECOVERY_MS);
  });

  test('a failed read with no fault at all is a violation', async () => {
    const { events, history, fake, device, at } = setup();
    at(1_000);
    fake.answer = 'fail';
    await history.read(device, 'c1', 5);
    const violations = livenessViolations(history, events, []);
    expect(violations.map((violation) => violation.kind)).toEqual(['failed-outside-fault']);
    expect(violations[0]?.checker).toBe('liveness');
    expect(violations[0]?.message).toContain('no fault came before it');
  });

  test('a failed write, and a garbage read, outside any window are violations too', async () => {
    const { events, history, fake, device, at } = setup();
    at(1_000);
    fake.answer = 'fail';
    await history.write(device, 'c1', 5);
    fake.answer = 'garbage';
    await history.read(device, 'c1', 5);
    expect(kindsOf(history, events)).toEqual(['failed-outside-fault', 'failed-outside-fault']);
  });

  test('a failure inside a fault window, or within its grace, is not; after the grace it is', async () => {
    const { events, history, fake, device, at, log } = setup();
    at(1_000);
    log('fault.injected', { fault: 'partitionBoth', id: 1, from: 'host', to: 'target-a' });
    fake.answer = 'fail';
    at(2_000);
    await history.read(device, 'c1', 5); // inside
    at(3_000);
    log('fault.healed', { fault: 'partitionBoth', id: 1 });
    at(3_000 + FAULT_GRACE_MS - 1);
    await history.read(device, 'c1', 6); // within the grace
    expect(kindsOf(history, events)).toEqual([]);
    at(3_000 + FAULT_GRACE_MS + 1);
    const late = await history.read(device, 'c1', 7);
    const violations = livenessViolations(history, events, []);
    expect(violations.map((violation) => violation.message)).toEqual([
      expect.stringContaining(`(op ${late.id}`),
    ]);
    expect(violations[0]?.message).toContain('partitionBoth#1');
  });

  test('an operation that began in the grace and failed much later still overlaps it', async () => {
    const { events, history, at, log } = setup();
    log('fault.injected', { fault: 'slowStore', id: 1 });
    at(100);
    log('fault.healed', { fault: 'slowStore', id: 1 });
    at(FAULT_GRACE_MS);
    let fail: (error: Error) => void = () => undefined;
    const slow = {
      write: () => new Promise<string>((_, reject) => (fail = reject)),
    } as unknown as MultipathDevice;
    const pending = history.write(slow, 'c1', 3); // invoked within the grace
    at(FAULT_GRACE_MS * 3);
    fail(new MultipathError('MP_NO_PATH', 'no path (test)')); // completes long after it
    await pending;
    expect(history.ops[0]?.outcome).toBe('failed');
    expect(kindsOf(history, events)).toEqual([]);
  });

  test('a fault class unknown to the runner counts: windows key on event types, not classes', async () => {
    const { events, history, fake, device, at, log } = setup();
    log('fault.injected', { fault: 'someFutureFault', id: 9 });
    at(60_000);
    fake.answer = 'fail';
    await history.read(device, 'c1', 1); // the window never healed: open till heal_all
    log('fault.heal_all');
    at(60_000 + FAULT_GRACE_MS + 10);
    await history.read(device, 'c1', 2);
    expect(kindsOf(history, events)).toEqual(['failed-outside-fault']);
    expect(faultWindows(events).map((window) => [window.what, window.closeMs])).toEqual([
      ['someFutureFault#9', 60_000],
    ]);
  });

  test('connectionReset is instantaneous: its window closes where it opens', async () => {
    const { events, history, fake, device, at, log } = setup();
    at(10);
    log('fault.injected', { fault: 'connectionReset', id: 1, stream: 's1' });
    fake.answer = 'fail';
    at(10 + FAULT_GRACE_MS - 5);
    await history.read(device, 'c1', 1);
    at(10 + FAULT_GRACE_MS + 5);
    await history.read(device, 'c1', 2);
    expect(kindsOf(history, events)).toEqual(['failed-outside-fault']);
  });

  test('a heal that failed keeps the fault open until heal_all', async () => {
    const { events, history, fake, device, at, log } = setup();
    log('fault.injected', { fault: 'targetCrash', id: 2, target: 'target-a' });
    at(100);
    log('fault.healed', { fault: 'targetCrash', id: 2 });
    log('fault.heal_failed', { fault: 'targetCrash', id: 2, why: 'store link cut' });
    at(200_000);
    fake.answer = 'fail';
    await history.read(device, 'c1', 1);
    expect(kindsOf(history, events)).toEqual([]);
  });

  test("a scenario's own target crash (sim.target_crashed) opens a window until the restart", async () => {
    const { events, history, fake, device, at, log } = setup();
    at(50);
    log('sim.target_crashed', { mode: 'power-off' }, 'sim/target-a');
    at(100_000);
    fake.answer = 'fail';
    await history.read(device, 'host', 1);
    log('sim.target_restarted', { incarnation: 2 }, 'sim/target-a');
    expect(kindsOf(history, events)).toEqual([]);
    at(100_000 + FAULT_GRACE_MS + 1);
    await history.read(device, 'host', 2);
    expect(kindsOf(history, events)).toEqual(['failed-outside-fault']);
  });

  test('scripted network faults count: a partition until its heal, a reset at once', () => {
    const { events, at, log } = setup();
    log('net.partitioned', { a: 'host', b: 'target-a', oneWay: true }, 'net');
    log('net.partitioned', { a: 'target-b', b: 'store', oneWay: false }, 'net');
    at(10);
    log('net.healed', { a: 'host', b: 'target-a' }, 'net');
    at(20);
    log('net.reset', { id: 's7' }, 'net');
    at(30);
    log('net.healed', { a: null, b: null }, 'net');
    log('sim.store_crashed', { incarnation: 1 }, 'sim/store');
    at(40);
    log('sim.store_restarted', { incarnation: 1 }, 'sim/store');
    expect(faultWindows(events).map((window) => [window.what, window.openMs, window.closeMs])).toEqual([
      ['link host>target-a cut', 0, 10],
      ['link target-b>store cut', 0, 30],
      ['link store>target-b cut', 0, 30],
      ['stream s7 reset', 20, 20],
      ['store crashed', 30, 40],
    ]);
  });

  test('a successful operation is never a liveness violation', async () => {
    const { events, history, device, at } = setup();
    at(5);
    await history.write(device, 'c1', 1);
    await history.read(device, 'c1', 1);
    expect(kindsOf(history, events)).toEqual([]);
  });
});

describe('liveness: the final read-back', () => {
  test('a failed or garbage read of the read-back is a violation, even within a fault grace', async () => {
    const { events, history, fake, device, at, log } = setup();
    await history.write(device, 'c1', 1);
    log('fault.heal_all');
    at(1_000);
    fake.answer = 'fail';
    const failed = await history.read(device, 'verifier', 1);
    fake.answer = 'garbage';
    const garbage = await history.read(device, 'verifier', 1);
    const violations = livenessViolations(history, events, [failed, garbage]);
    expect(violations.map((violation) => `${violation.checker}/${violation.kind}`)).toEqual([
      'liveness/read-back-failed',
      'liveness/read-back-failed',
    ]);
    expect(violations[1]?.message).toContain('garbage');
  });

  test('read-back values go through the register checker like any read', async () => {
    const { history, fake, device, at } = setup();
    await history.write(device, 'c1', 1);
    at(10);
    // The store lost the acknowledged write: the read-back finds zeros.
    fake.blocks.set(1, Buffer.alloc(512));
    const op = await history.read(device, 'verifier', 1);
    expect(op.outcome).toBe('ok');
    expect(history.checker.check().map((violation) => violation.kind)).toEqual(['stale-read']);
  });
});

describe('liveness: the final read-back covers every touched block', () => {
  test('a block the workload wrote but the read-back skipped is reported', async () => {
    const { events, history, device, at } = setup();
    at(1_000);
    await history.write(device, 'h1c1', 8);
    await history.write(device, 'h1c1', 9);
    const readBack = [await history.read(device, 'verifier', 8)];
    expect(readBackCoverage(history, events, readBack).map((violation) => violation.kind)).toEqual([
      'read-back-missing',
    ]);
    readBack.push(await history.read(device, 'verifier', 9));
    expect(readBackCoverage(history, events, readBack)).toEqual([]);
  });

  test('traffic classes (snapshots, lock-less writers, DISCARD) open no fault window', () => {
    const { events, log } = setup();
    log('fault.injected', { fault: 'snapshots', id: 1 });
    log('fault.injected', { fault: 'locklessWriter', id: 2 });
    log('fault.injected', { fault: 'discard', id: 3 });
    expect(faultWindows(events)).toEqual([]);
  });
});

test('a broken store invariant fails the run with its event window', () => {
  const { events, log } = setup();
  for (let i = 0; i < 5; i++) log('workload.invoked', { op: i });
  log(
    'store.invariant_broken',
    { op: 'WRITE_OBJ', message: 'VDI 9196e5 has 2 MODIFIED participants' },
    'store/node/store:7000',
  );
  const violations = storeInvariantViolations(events);
  expect(violations.map((violation) => [violation.checker, violation.kind])).toEqual([
    ['store', 'invariant'],
  ]);
  expect(violations[0]!.message).toContain('2 MODIFIED participants');
  expect(violations[0]!.windowSeqs).toEqual([1, 6]);
});
