/**
 * Goal: the event log numbers events 1, 2, 3... with the clock's time, delivers them in order to
 * sinks and to events$, survives a throwing sink, and its digest proves replay.
 * Method: drive logs with a VirtualClock and check the sinks' contents; run one scripted
 * workload twice for the digest and once with a changed event; write a JSONL file and read it
 * back.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AssertionError } from '../../src/core/assert.js';
import type { EventSink, LogEvent } from '../../src/core/event.js';
import { EventLog, nullEventLog } from '../../src/core/event-log.js';
import { canonicalEventLine, DigestSink, MemoryRingSink } from '../../src/core/event-sinks.js';
import { JsonlFileSink } from '../../src/core/jsonl-file-sink.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';

describe('EventLog', () => {
  test('seq starts at 1 and is gap-free; t is the clock time; sinks and events$ see the same order', () => {
    const clock = new VirtualClock();
    const log = new EventLog(clock);
    const ring = new MemoryRingSink(100);
    log.addSink(ring);
    const streamed: LogEvent[] = [];
    const subscription = log.events$.subscribe((e) => streamed.push(e));
    for (let i = 0; i < 10; i++) {
      clock.advanceBy(i);
      const event = log.append(`actor/${i % 3}`, 'thing.happened', { i });
      expect(event.seq).toBe(i + 1);
    }
    subscription.unsubscribe();
    expect(log.lastSeq).toBe(10);
    const events = ring.toArray();
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(events.map((e) => e.t)).toEqual([0, 1, 3, 6, 10, 15, 21, 28, 36, 45]);
    expect(streamed).toEqual(events);
  });

  test('events$ is hot: a late subscriber sees only later events', () => {
    const log = new EventLog(new VirtualClock());
    log.append('a', 'x.done', null);
    const seen: number[] = [];
    log.events$.subscribe((e) => seen.push(e.seq));
    log.append('a', 'y.done', null);
    expect(seen).toEqual([2]);
  });

  test('a throwing sink is removed and reported once; the others and append carry on', () => {
    const errors: unknown[] = [];
    const log = new EventLog(new VirtualClock(), { onSinkError: (error) => errors.push(error) });
    let badCalls = 0;
    const bad: EventSink = {
      write: () => {
        badCalls += 1;
        throw new Error('disk full');
      },
    };
    const before = new MemoryRingSink(10);
    const after = new MemoryRingSink(10);
    log.addSink(before);
    log.addSink(bad);
    log.addSink(after);
    log.append('a', 'one.done', 1);
    log.append('a', 'two.done', 2);
    expect(badCalls).toBe(1);
    expect(errors).toHaveLength(1);
    expect(before.toArray().map((e) => e.seq)).toEqual([1, 2]);
    expect(after.toArray().map((e) => e.seq)).toEqual([1, 2]);
  });

  test('addSink returns a remover; close() completes events$ and closes sinks', async () => {
    const log = new EventLog(new VirtualClock());
    const ring = new MemoryRingSink(10);
    const remove = log.addSink(ring);
    log.append('a', 'one.done', 1);
    remove();
    log.append('a', 'two.done', 2);
    expect(ring.size).toBe(1);
    let closedSinks = 0;
    log.addSink({
      write: () => {},
      close: () => {
        closedSinks += 1;
      },
    });
    let completed = false;
    log.events$.subscribe({
      complete: () => {
        completed = true;
      },
    });
    await log.close();
    expect(completed).toBe(true);
    expect(closedSinks).toBe(1);
    // Late appends are numbered but go nowhere; adding a sink now is a bug.
    expect(log.append('a', 'late.done', 3).seq).toBe(3);
    expect(() => log.addSink(new MemoryRingSink(1))).toThrow(AssertionError);
  });

  test('nullEventLog numbers events and refuses sinks', () => {
    const event = nullEventLog.append('a', 'x.done', { k: 1 });
    expect(event.t).toBe(0);
    expect(event.seq).toBeGreaterThan(0);
    expect(() => nullEventLog.addSink(new MemoryRingSink(1))).toThrow(AssertionError);
  });
});

describe('sinks', () => {
  test('MemoryRingSink keeps the last N, oldest first', () => {
    const log = new EventLog(new VirtualClock());
    const ring = new MemoryRingSink(3);
    log.addSink(ring);
    expect(ring.toArray()).toEqual([]);
    for (let i = 0; i < 7; i++) log.append('a', 'n.done', i);
    expect(ring.size).toBe(3);
    expect(ring.toArray().map((e) => e.data)).toEqual([4, 5, 6]);
    expect(() => new MemoryRingSink(0)).toThrow(AssertionError);
  });

  test('canonicalEventLine has a fixed key order whatever the object was built like', () => {
    const event = { data: { b: 1, a: [true, 'x'] }, type: 't.done', actor: 'me', t: 7, seq: 3 };
    expect(canonicalEventLine(event)).toBe(
      '{"seq":3,"t":7,"actor":"me","type":"t.done","data":{"b":1,"a":[true,"x"]}}',
    );
  });

  function scriptedDigest(variant: number): string {
    const clock = new VirtualClock();
    const log = new EventLog(clock);
    const digest = new DigestSink();
    log.addSink(digest);
    for (let i = 0; i < 100; i++) {
      clock.advanceBy(i % 7);
      log.append(`vdi/${i % 5}`, 'io.completed', { i, lengthBytes: i === 50 ? variant : 4096 });
    }
    expect(digest.count).toBe(100);
    return digest.digestHex();
  }

  test('DigestSink: the same run gives the same digest; one changed field changes it', () => {
    const first = scriptedDigest(4096);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(scriptedDigest(4096)).toBe(first);
    expect(scriptedDigest(512)).not.toBe(first);
  });

  test('DigestSink of nothing is the SHA-256 of the empty string; reading it does not end it', () => {
    const digest = new DigestSink();
    expect(digest.digestHex()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    digest.write({ seq: 1, t: 0, actor: 'a', type: 'x.done', data: null });
    expect(digest.digestHex()).not.toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  test('JsonlFileSink writes canonical lines and flushes on close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'collie-events-'));
    try {
      const path = join(dir, 'events.jsonl');
      const log = new EventLog(new VirtualClock());
      log.addSink(new JsonlFileSink(path));
      const written = [log.append('a', 'one.done', { x: 1 }), log.append('b', 'two.done', 'y')];
      await log.close();
      const text = await readFile(path, 'utf8');
      expect(text).toBe(written.map((e) => `${canonicalEventLine(e)}\n`).join(''));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('JsonlFileSink reports an unwritable path once and close() rejects', async () => {
    const errors: Error[] = [];
    const sink = new JsonlFileSink('/nonexistent-dir/for/sure/events.jsonl', {
      onError: (e) => errors.push(e),
    });
    sink.write({ seq: 1, t: 0, actor: 'a', type: 'x.done', data: null });
    await expect(sink.close()).rejects.toThrow(/ENOENT/);
    expect(errors).toHaveLength(1);
  });
});
