/**
 * Goal: the sheepdog backend's `probeEveryRead` reaches users: the YAML key
 * `sheepdogProbeEveryRead` (global and per target, the target's value winning), the
 * `collie target --probe-every-read` flag, and the plumbing through assembleTargets into
 * SheepdogBackend.open's options.
 * Method: parse config documents and flags directly; for the plumbing, SheepdogBackend.open is
 * replaced by a spy that returns a memory backend, so no sheep is needed.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { targetConfigFromFlags } from '../../src/cli/target.js';
import { EventLog } from '../../src/core/event-log.js';
import { createLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { SheepdogBackend } from '../../src/sheepdog/client/sheepdog-backend.js';
import { assembleTargets } from '../../src/target/target-assembly.js';
import { TargetConfigError, targetConfigFromDocument } from '../../src/target/target-config.js';
import { MemoryNetwork } from '../../transports/memory.js';

const IQN_A = 'iqn.2026-01.test.collie:a';
const IQN_B = 'iqn.2026-01.test.collie:b';

function document(global: unknown, perTarget: unknown) {
  return {
    ...(global === undefined ? {} : { sheepdogProbeEveryRead: global }),
    targets: [
      {
        iqn: IQN_A,
        luns: { 1: 'tcp:127.0.0.1:7000:vol0' },
        ...(perTarget === undefined ? {} : { sheepdogProbeEveryRead: perTarget }),
      },
      { iqn: IQN_B, luns: { 1: 'tcp:127.0.0.1:7000:vol1' } },
    ],
  };
}

describe('sheepdogProbeEveryRead in the YAML config', () => {
  test('absent: false globally, unset per target', () => {
    const config = targetConfigFromDocument(document(undefined, undefined), 'test.yaml');
    expect(config.sheepdogProbeEveryRead).toBe(false);
    expect(config.targets[0]!.sheepdogProbeEveryRead).toBeUndefined();
  });

  test('global and per-target values are read', () => {
    const config = targetConfigFromDocument(document(true, false), 'test.yaml');
    expect(config.sheepdogProbeEveryRead).toBe(true);
    expect(config.targets[0]!.sheepdogProbeEveryRead).toBe(false);
    expect(config.targets[1]!.sheepdogProbeEveryRead).toBeUndefined();
  });

  test('a value that is not a boolean is refused, naming the field', () => {
    expect(() => targetConfigFromDocument(document('yes', undefined), 'test.yaml')).toThrow(
      new TargetConfigError(
        'test.yaml: sheepdogProbeEveryRead: "yes" is not true or false (write true or false)',
      ),
    );
    expect(() => targetConfigFromDocument(document(undefined, 1), 'test.yaml')).toThrow(
      /targets\[0\]\.sheepdogProbeEveryRead: 1 is not true or false \(write true or false\)/,
    );
  });
});

describe('collie target --probe-every-read', () => {
  const flags = {
    portal: [],
    iqn: IQN_A,
    lun: ['1=tcp:127.0.0.1:7000:vol0'],
    initiator: [],
    digests: 'allow',
  };

  test('sets the global switch; without it the switch is off', async () => {
    expect((await targetConfigFromFlags({ ...flags, probeEveryRead: true })).sheepdogProbeEveryRead).toBe(
      true,
    );
    expect((await targetConfigFromFlags(flags)).sheepdogProbeEveryRead).toBe(false);
  });
});

describe('the option reaches SheepdogBackend.open', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  async function probeOptionsOpened(config: ReturnType<typeof targetConfigFromDocument>) {
    const open = vi
      .spyOn(SheepdogBackend, 'open')
      .mockImplementation(
        async () => new MemoryBackend({ sizeBytes: 1024 * 1024 }) as unknown as SheepdogBackend,
      );
    const clock = new VirtualClock(0);
    const eventLog = new EventLog(clock);
    const assembled = await assembleTargets(config, {
      transport: new MemoryNetwork({ clock, rng: createRng(1), eventLog }).transport('backends'),
      clock,
      rng: createRng(2),
      eventLog,
      logger: createLogger({ level: 'silent', clock }),
      sheepdogOptions: { requestTimeoutMs: 1234 },
    });
    await assembled.close();
    return open.mock.calls.map(([options]) => ({
      vdiName: options.vdiName,
      probeEveryRead: options.options?.probeEveryRead,
      requestTimeoutMs: options.options?.requestTimeoutMs,
    }));
  }

  test('global true: every sheepdog LU probes; the per-target false wins for its target', async () => {
    const opened = await probeOptionsOpened(targetConfigFromDocument(document(true, false), 'test.yaml'));
    expect(opened).toEqual([
      { vdiName: 'vol0', probeEveryRead: false, requestTimeoutMs: 1234 },
      { vdiName: 'vol1', probeEveryRead: true, requestTimeoutMs: 1234 },
    ]);
  });

  test('only one target asks for it: only its LU probes', async () => {
    const opened = await probeOptionsOpened(targetConfigFromDocument(document(undefined, true), 'test.yaml'));
    expect(opened).toEqual([
      { vdiName: 'vol0', probeEveryRead: true, requestTimeoutMs: 1234 },
      { vdiName: 'vol1', probeEveryRead: false, requestTimeoutMs: 1234 },
    ]);
  });
});
