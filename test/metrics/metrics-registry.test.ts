/**
 * Goal: the registry renders valid Prometheus text format 0.0.4 (HELP and TYPE per family, label
 * values escaped, histogram buckets cumulative and ending in +Inf with _sum and _count), keeps
 * one family per name (the same shape is shared, another shape is refused naming both), reads
 * collected gauges at scrape time and survives a collect that throws, and times on its clock.
 * Method: families built by hand, the text parsed back with a strict parser (metrics-world.ts)
 * and compared value by value.
 */
import { describe, expect, test } from 'vitest';
import type { MetricsText } from '../../src/admin/admin-api.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { MetricsRegistry, SECONDS_BUCKETS_DEFAULT } from '../../src/metrics/metrics-registry.js';
import { PROMETHEUS_TEXT_CONTENT_TYPE } from '../../src/metrics/prometheus-text.js';
import { parsePrometheusText, sampleValue } from './metrics-world.js';

function registry(): MetricsRegistry {
  return new MetricsRegistry({ clock: new VirtualClock(0) });
}

describe('the text format', () => {
  test('counters and gauges: HELP and TYPE lines, labelled samples, unlabelled ones at 0 from the start', async () => {
    const metrics = registry();
    const commands = metrics.counter('collie_test_commands_total', 'Commands.', ['target', 'direction']);
    metrics.counter('collie_test_idle_total', 'Never moves.');
    const depth = metrics.gauge('collie_test_depth', 'Queue depth.', ['queue']);
    commands.child('iqn.a', 'read').inc();
    commands.child('iqn.a', 'read').inc(2);
    commands.child('iqn.a', 'write').inc(0.5);
    depth.child('q1').set(7);
    depth.child('q1').dec(2);
    depth.child('q2').inc();
    // What the HTTP server serves at /metrics.
    const served: MetricsText = metrics;
    const text = await served.render();
    expect(served.contentType).toBe(PROMETHEUS_TEXT_CONTENT_TYPE);
    expect(metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const parsed = parsePrometheusText(text);
    expect(parsed.type.get('collie_test_commands_total')).toBe('counter');
    expect(parsed.type.get('collie_test_depth')).toBe('gauge');
    expect(parsed.help.get('collie_test_commands_total')).toBe('Commands.');
    expect(sampleValue(parsed, 'collie_test_commands_total', { target: 'iqn.a', direction: 'read' })).toBe(3);
    expect(sampleValue(parsed, 'collie_test_commands_total', { direction: 'write' })).toBe(0.5);
    expect(sampleValue(parsed, 'collie_test_idle_total')).toBe(0);
    expect(sampleValue(parsed, 'collie_test_depth', { queue: 'q1' })).toBe(5);
    expect(sampleValue(parsed, 'collie_test_depth', { queue: 'q2' })).toBe(1);
    // Registration order, then creation order: the same text every time.
    expect(text.indexOf('collie_test_commands_total')).toBeLessThan(text.indexOf('collie_test_depth'));
    expect(text).toBe(metrics.renderText());
    expect(text).toContain('collie_test_commands_total{target="iqn.a",direction="read"} 3\n');
  });

  test('label values and HELP text are escaped and read back unchanged', () => {
    const metrics = registry();
    const weird = 'a\\b "quoted"\nline two';
    metrics.counter('collie_test_escape_total', 'Help with a \\ backslash\nand a newline "kept".', ['v']);
    metrics
      .counter('collie_test_escape_total', 'Help with a \\ backslash\nand a newline "kept".', ['v'])
      .child(weird)
      .inc();
    const text = metrics.renderText();
    expect(text).toContain('{v="a\\\\b \\"quoted\\"\\nline two"} 1');
    expect(text).toContain(
      '# HELP collie_test_escape_total Help with a \\\\ backslash\\nand a newline "kept".',
    );
    const parsed = parsePrometheusText(text);
    expect(parsed.samples[0]!.labels.v).toBe(weird);
    expect(parsed.help.get('collie_test_escape_total')).toBe(
      'Help with a \\ backslash\nand a newline "kept".',
    );
  });

  test('histograms: cumulative buckets ending in +Inf, _sum and _count; le is inclusive', () => {
    const metrics = registry();
    const seconds = metrics.histogram('collie_test_seconds', 'Latency.', ['op'], [0.001, 0.01, 0.1]);
    const read = seconds.child('read');
    for (const value of [0.0005, 0.001, 0.005, 0.05, 3]) read.observe(value);
    read.observe(-1); // a clock that stepped back counts as 0
    seconds.child('idle');
    const parsed = parsePrometheusText(metrics.renderText());
    expect(parsed.type.get('collie_test_seconds')).toBe('histogram');
    const buckets = parsed.samples
      .filter((sample) => sample.name === 'collie_test_seconds_bucket' && sample.labels.op === 'read')
      .map((sample) => [sample.labels.le, sample.value]);
    expect(buckets).toEqual([
      ['0.001', 3],
      ['0.01', 4],
      ['0.1', 5],
      ['+Inf', 6],
    ]);
    expect(sampleValue(parsed, 'collie_test_seconds_count', { op: 'read' })).toBe(6);
    expect(sampleValue(parsed, 'collie_test_seconds_sum', { op: 'read' })).toBeCloseTo(3.0565, 10);
    expect(sampleValue(parsed, 'collie_test_seconds_bucket', { op: 'idle', le: '+Inf' })).toBe(0);
    expect(sampleValue(parsed, 'collie_test_seconds_count', { op: 'idle' })).toBe(0);
  });

  test('the default buckets span 50 µs to 10 s, increasing', () => {
    expect(SECONDS_BUCKETS_DEFAULT[0]).toBe(0.00005);
    expect(SECONDS_BUCKETS_DEFAULT.at(-1)).toBe(10);
    for (let i = 1; i < SECONDS_BUCKETS_DEFAULT.length; i++)
      expect(SECONDS_BUCKETS_DEFAULT[i]!).toBeGreaterThan(SECONDS_BUCKETS_DEFAULT[i - 1]!);
    const metrics = registry();
    metrics.histogram('collie_test_default_seconds', 'Latency.').child().observe(0.0003);
    const parsed = parsePrometheusText(metrics.renderText());
    expect(sampleValue(parsed, 'collie_test_default_seconds_bucket', { le: '0.00025' })).toBe(0);
    expect(sampleValue(parsed, 'collie_test_default_seconds_bucket', { le: '0.0005' })).toBe(1);
    expect(sampleValue(parsed, 'collie_test_default_seconds_bucket', { le: '0.00005' })).toBe(0);
  });

  test('collected gauges are read at each scrape; a collect that throws leaves a comment, not a failed scrape', async () => {
    const metrics = registry();
    let sessions = 2;
    metrics.gauge('collie_test_sessions', 'Sessions.', () => sessions);
    metrics.gauge('collie_test_broken', 'Broken.', () => {
      throw new Error('no server\nyet');
    });
    metrics.counter('collie_test_after_total', 'After the broken one.').child().inc();
    let parsed = parsePrometheusText(await metrics.render());
    expect(sampleValue(parsed, 'collie_test_sessions')).toBe(2);
    sessions = 5;
    const text = await metrics.render();
    parsed = parsePrometheusText(text);
    expect(sampleValue(parsed, 'collie_test_sessions')).toBe(5);
    expect(text).toContain('# collecting collie_test_broken failed: no server yet\n');
    expect(parsed.type.has('collie_test_broken')).toBe(false);
    expect(sampleValue(parsed, 'collie_test_after_total')).toBe(1);
  });
});

describe('families', () => {
  test('the same name and shape is one family (several targets share a registry); another shape is refused', () => {
    const metrics = registry();
    const first = metrics.counter('collie_test_shared_total', 'Shared.', ['lun']);
    expect(metrics.counter('collie_test_shared_total', 'Shared.', ['lun'])).toBe(first);
    expect(first.child('0')).toBe(first.child('0'));
    expect(() => metrics.gauge('collie_test_shared_total', 'Shared.', ['lun'])).toThrow(
      /registered as a counter \[lun\], now asked for as a gauge \[lun\].*rename/,
    );
    expect(() => metrics.counter('collie_test_shared_total', 'Shared.', ['lun', 'x'])).toThrow(/rename/);
    expect(() => metrics.gauge('collie_test_shared_total', 'Shared.', () => 1)).toThrow(/registered already/);
    const seconds = metrics.histogram('collie_test_h_seconds', 'H.', [], [1, 2]);
    expect(metrics.histogram('collie_test_h_seconds', 'H.', [], [1, 2])).toBe(seconds);
    expect(() => metrics.histogram('collie_test_h_seconds', 'H.', [], [1, 3])).toThrow(/rename/);
  });

  test('bad names, labels, buckets and updates are refused with the fix', () => {
    const metrics = registry();
    expect(() => metrics.counter('collie-test', 'Dash.')).toThrow(/metric name "collie-test" is not valid/);
    expect(() => metrics.counter('collie_test_total', ' ')).toThrow(/HELP text/);
    expect(() => metrics.counter('collie_test_total', 'X.', ['1lun'])).toThrow(/label name "1lun"/);
    expect(() => metrics.counter('collie_test_total', 'X.', ['__x'])).toThrow(/label name "__x"/);
    expect(() => metrics.counter('collie_test_total', 'X.', ['a', 'a'])).toThrow(/repeat/);
    expect(() => metrics.histogram('collie_test_seconds', 'X.', ['le'])).toThrow(/'le' is the bucket label/);
    expect(() => metrics.histogram('collie_test_seconds', 'X.', [], [2, 1])).toThrow(/strictly increasing/);
    expect(() => metrics.histogram('collie_test_seconds', 'X.', [], [])).toThrow(/at least one bucket/);
    const family = metrics.counter('collie_test_total', 'X.', ['lun']);
    expect(() => family.child()).toThrow(/has labels \[lun\] but was given 0 value/);
    expect(() => family.child('0').inc(-1)).toThrow(/goes up only/);
  });

  test('nowMs reads the clock the registry was given', () => {
    const clock = new VirtualClock(5_000);
    const metrics = new MetricsRegistry({ clock });
    expect(metrics.nowMs()).toBe(5_000);
    clock.advanceTo(5_250);
    expect(metrics.nowMs()).toBe(5_250);
  });
});
