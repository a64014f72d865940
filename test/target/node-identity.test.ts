/**
 * Goal: a target node's id and ALUA policy reach everything that needs them: the YAML keys
 * `nodeId` and per-target `alua`, the flags `collie target --node-id/--alua` (over a config file
 * too), `collie up --nodes/--node-id` (ids, portals, store nodes), and through assembleTargets
 * every TargetNode (portal group tag, relative target port id, target port group) and every
 * LogicalUnit (`clusterNode`, `aluaPolicy`, `clusterColdStart`). Bad values are refused naming the key and the fix.
 * Method: parse documents and flags directly; the LogicalUnit class is wrapped to record the
 * options it is built with; mem: LUNs, so nothing is opened.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { targetConfigFromFlags } from '../../src/cli/target.js';
import { UP_NODES_MAX, upNodes } from '../../src/cli/up.js';
import { EventLog } from '../../src/core/event-log.js';
import { createLogger } from '../../src/core/logger.js';
import { createRng } from '../../src/core/rng.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import { assembleTargets, clusterLuOptions } from '../../src/target/target-assembly.js';
import { TargetConfigError, targetConfigFromDocument } from '../../src/target/target-config.js';
import { MemoryNetwork } from '../../transports/memory.js';

const built = vi.hoisted(() => [] as Record<string, unknown>[]);
vi.mock('../../src/scsi/logical-unit.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/scsi/logical-unit.js')>();
  class RecordingLogicalUnit extends actual.LogicalUnit {
    constructor(options: ConstructorParameters<typeof actual.LogicalUnit>[0]) {
      super(options);
      built.push(options as unknown as Record<string, unknown>);
    }
  }
  return { ...actual, LogicalUnit: RecordingLogicalUnit };
});

const IQN_A = 'iqn.2026-01.test.collie:a';
const IQN_B = 'iqn.2026-01.test.collie:b';
const directories: string[] = [];
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

function document(extra: Record<string, unknown>, targetA: Record<string, unknown> = {}) {
  return {
    ...extra,
    targets: [
      { iqn: IQN_A, luns: { 1: 'mem:1M' }, ...targetA },
      { iqn: IQN_B, luns: { 1: 'mem:1M', 2: 'mem:1M' } },
    ],
  };
}

const flags = { portal: [], iqn: IQN_A, lun: ['1=mem:1M'], initiator: [], digests: 'allow' };

describe('the YAML config', () => {
  test('nodeId defaults to 1 and is read; alua is read per target', () => {
    expect(targetConfigFromDocument(document({}), 't.yaml').nodeId).toBe(1);
    const config = targetConfigFromDocument(document({ nodeId: 7 }, { alua: 'single-owner' }), 't.yaml');
    expect(config.nodeId).toBe(7);
    expect(config.targets.map((target) => target.alua)).toEqual(['single-owner', undefined]);
  });

  test.each([0, 65_536, 1.5, -1, 'two', true])(
    'nodeId %s is refused, naming the key and the fix',
    (value) => {
      expect(() => targetConfigFromDocument(document({ nodeId: value }), 't.yaml')).toThrow(
        TargetConfigError,
      );
      expect(() => targetConfigFromDocument(document({ nodeId: value }), 't.yaml')).toThrow(
        /^t\.yaml: nodeId: .* is not a node id \(write an integer from 1 to 65535, distinct for every target node exporting the same VDI\)$/,
      );
    },
  );

  test('an unknown alua policy is refused, naming the target and the choices', () => {
    expect(() => targetConfigFromDocument(document({}, { alua: 'round-robin' }), 't.yaml')).toThrow(
      new TargetConfigError(
        't.yaml: targets[0].alua: "round-robin" is not an ALUA policy (write active-active or single-owner)',
      ),
    );
  });
});

describe('collie target --node-id and --alua', () => {
  test('without them: node 1, no policy', async () => {
    const config = await targetConfigFromFlags(flags);
    expect(config.nodeId).toBe(1);
    expect(config.targets[0]!.alua).toBeUndefined();
  });

  test('they set the node id and the target policy', async () => {
    const config = await targetConfigFromFlags({ ...flags, nodeId: '3', alua: 'single-owner' });
    expect(config.nodeId).toBe(3);
    expect(config.targets[0]!.alua).toBe('single-owner');
  });

  test('bad values are refused naming the flag', async () => {
    await expect(targetConfigFromFlags({ ...flags, nodeId: '0' })).rejects.toThrow(
      /^--node-id "0" is not a node id \(write an integer from 1 to 65535/,
    );
    await expect(targetConfigFromFlags({ ...flags, nodeId: '2x' })).rejects.toThrow(/--node-id "2x"/);
    await expect(targetConfigFromFlags({ ...flags, alua: 'both' })).rejects.toThrow(
      '--alua "both" is not an ALUA policy (write active-active or single-owner)',
    );
  });

  test('with --config: --node-id wins over nodeId, --alua fills in targets without their own', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'collie-node-identity-'));
    directories.push(directory);
    const file = join(directory, 'targets.yaml');
    await writeFile(
      file,
      [
        'nodeId: 4',
        'targets:',
        `  - { iqn: ${IQN_A}, luns: { 1: "mem:1M" }, alua: single-owner }`,
        `  - { iqn: ${IQN_B}, luns: { 1: "mem:1M" } }`,
      ].join('\n'),
    );
    const fromFile = await targetConfigFromFlags({ ...flags, iqn: undefined, lun: [], config: file });
    expect(fromFile.nodeId).toBe(4);
    expect(fromFile.targets.map((target) => target.alua)).toEqual(['single-owner', undefined]);
    const overridden = await targetConfigFromFlags({
      ...flags,
      iqn: undefined,
      lun: [],
      config: file,
      nodeId: '9',
      alua: 'active-active',
    });
    expect(overridden.nodeId).toBe(9);
    expect(overridden.targets.map((target) => target.alua)).toEqual(['single-owner', 'active-active']);
  });
});

describe('collie up --nodes', () => {
  const portal = { host: '127.0.0.1', port: 3260 };
  const sheep = { host: '127.0.0.1', port: 7000 };

  test('one node: id 1 on the given portal and store node (what `npm start` runs)', () => {
    expect(upNodes({ nodes: 1, nodeId: 1, portal, sheep })).toEqual([{ nodeId: 1, portal, sheep }]);
  });

  test('N nodes: ids, portal ports and store ports count up from the given ones', () => {
    expect(upNodes({ nodes: 3, nodeId: 5, portal, sheep })).toEqual([
      { nodeId: 5, portal: { host: '127.0.0.1', port: 3260 }, sheep: { host: '127.0.0.1', port: 7000 } },
      { nodeId: 6, portal: { host: '127.0.0.1', port: 3261 }, sheep: { host: '127.0.0.1', port: 7001 } },
      { nodeId: 7, portal: { host: '127.0.0.1', port: 3262 }, sheep: { host: '127.0.0.1', port: 7002 } },
    ]);
  });

  test('ids or ports past their range are refused naming the flag', () => {
    expect(() => upNodes({ nodes: 2, nodeId: 65_535, portal, sheep })).toThrow(
      '--node-id 65535 with --nodes 2 needs node ids up to 65536, past 65535 (lower --node-id)',
    );
    expect(() => upNodes({ nodes: 2, nodeId: 1, portal: { host: '::1', port: 65_535 }, sheep })).toThrow(
      '--portal port 65535 with --nodes 2 needs ports up to 65536, past 65535 (lower the port)',
    );
    expect(UP_NODES_MAX).toBeGreaterThanOrEqual(2);
  });
});

describe('assembleTargets', () => {
  test('every target and every LU of a process carries its node id and its target policy', async () => {
    built.length = 0;
    const clock = new VirtualClock(0);
    const eventLog = new EventLog(clock);
    const config = targetConfigFromDocument(document({ nodeId: 3 }, { alua: 'single-owner' }), 't.yaml');
    const assembled = await assembleTargets(config, {
      transport: new MemoryNetwork({ clock, rng: createRng(1), eventLog }).transport('backends'),
      clock,
      rng: createRng(2),
      eventLog,
      logger: createLogger({ level: 'silent', clock }),
    });
    await assembled.close();
    expect(
      assembled.targets.map(({ iqn, portalGroupTag, relativeTargetPortId, targetPortGroup }) => ({
        iqn,
        portalGroupTag,
        relativeTargetPortId,
        targetPortGroup,
      })),
    ).toEqual([
      { iqn: IQN_A, portalGroupTag: 3, relativeTargetPortId: 3, targetPortGroup: 3 },
      { iqn: IQN_B, portalGroupTag: 3, relativeTargetPortId: 3, targetPortGroup: 3 },
    ]);
    const node = { nodeId: 3, targetPortGroup: 3, relativeTargetPortIds: [3] };
    expect(built.map((options) => [options.lun, options.clusterNode, options.aluaPolicy])).toEqual([
      [1, node, 'single-owner'],
      [1, node, undefined],
      [2, node, undefined],
    ]);
    expect(built.every((options) => options.clusterColdStart === undefined)).toBe(true);
    expect(clusterLuOptions(1, undefined)).toEqual({
      clusterNode: { nodeId: 1, targetPortGroup: 1, relativeTargetPortIds: [1] },
    });
    // `collie up` runs every node of its LU: it says so (clusterColdStart).
    expect(clusterLuOptions(2, 'active-active', true)).toEqual({
      clusterNode: { nodeId: 2, targetPortGroup: 2, relativeTargetPortIds: [2] },
      aluaPolicy: 'active-active',
      clusterColdStart: true,
    });
  });
});
