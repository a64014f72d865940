/**
 * Two or three target "nodes" exporting one logical unit: each node is a real LogicalUnit over a
 * MemoryClusterBackend (the same MemoryBackend data for all) with its own MemorySharedCell of one
 * MemoryCellHub, its own UnitAttentions and event log, and one virtual clock for all.
 *
 * Node i (0-based) has node id i + 1, target port group i + 1 and relative target port i + 1;
 * its nexuses name the target port "<iqn>,t,0x000<i+1>". `hold(node)` keeps that node's next
 * write (or read) from reaching the store until released, to put an IO in flight across other
 * nodes' actions.
 */
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { EventLog } from '../../src/core/event-log.js';
import { MemoryRingSink } from '../../src/core/event-sinks.js';
import { silentLogger } from '../../src/core/logger.js';
import { VirtualClock } from '../../src/core/virtual-clock.js';
import type { AluaPolicy } from '../../src/scsi/cluster/cluster-document.js';
import { MemoryClusterBackend, type StoreIo } from '../../src/scsi/cluster/memory-cluster-backend.js';
import {
  MemoryCellHub,
  type MemoryCellHubOptions,
  type MemorySharedCell,
} from '../../src/scsi/cluster/memory-shared-cell.js';
import type { TestOnlyClusterBug } from '../../src/scsi/cluster/test-only-cluster-bugs.js';
import { LogicalUnit, type LogicalUnitOptions } from '../../src/scsi/logical-unit.js';
import type { Nexus, ScsiResult } from '../../src/scsi/scsi-types.js';
import { UnitAttentions } from '../../src/scsi/unit-attention.js';

export const CLUSTER_TARGET_IQN = 'iqn.2026-01.org.collie:cluster';

/** Initiator n's nexus through node `node` (0-based). */
export function clusterNexus(node: number, n = 1): Nexus {
  const initiatorName = `iqn.2026-01.org.example:host-${n}`;
  const initiatorPortName = `${initiatorName},i,0x00023d${n.toString(16).padStart(6, '0')}`;
  const targetPortName = `${CLUSTER_TARGET_IQN},t,0x${(node + 1).toString(16).padStart(4, '0')}`;
  return {
    initiatorPortName,
    initiatorName,
    targetPortName,
    relativeTargetPortId: node + 1,
    targetPortGroup: node + 1,
    id: `${initiatorPortName}|${targetPortName}`,
  };
}

export interface RunOptions {
  readonly dataOut?: Buffer;
  readonly expectedLengthBytes?: number;
  /** Initiator number; default 1. */
  readonly initiator?: number;
  readonly signal?: AbortSignal;
}

export interface ClusterNode {
  readonly index: number;
  readonly lu: LogicalUnit;
  readonly backend: MemoryClusterBackend;
  readonly cell: MemorySharedCell;
  readonly unitAttentions: UnitAttentions;
  readonly events: MemoryRingSink;
  nexus(initiator?: number): Nexus;
  run(cdb: Buffer, options?: RunOptions): Promise<ScsiResult>;
}

export interface HeldIo {
  /** Resolves when the held IO has been issued and is waiting. */
  readonly reached: Promise<StoreIo>;
  /** Lets it reach the store. */
  release(): void;
}

export interface TestCluster {
  readonly hub: MemoryCellHub;
  readonly data: MemoryBackend;
  readonly clock: VirtualClock;
  readonly nodes: ClusterNode[];
  /** Holds node `index`'s next IO of `kind` before the store. */
  hold(index: number, kind?: StoreIo['kind']): HeldIo;
  /** A new LogicalUnit for node `index` (a restart): new cell, unit attentions and LU; opened unless told. */
  restart(
    index: number,
    options?: Partial<LogicalUnitOptions>,
    how?: { open?: boolean },
  ): Promise<ClusterNode>;
}

export interface TestClusterOptions {
  readonly nodes?: number;
  readonly policy?: AluaPolicy;
  readonly hub?: MemoryCellHubOptions;
  readonly testOnlyBug?: TestOnlyClusterBug;
  readonly takeoverHoldOffMs?: number;
  /** Open (join) the nodes in order; default true. */
  readonly open?: boolean;
  readonly lu?: Partial<LogicalUnitOptions>;
}

/** 1 MiB of 512-byte blocks, shared by every node. */
export async function createTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const hub = new MemoryCellHub(options.hub);
  const data = new MemoryBackend({ sizeBytes: 1024 * 1024, identity: 'memory:cluster-lu' });
  const clock = new VirtualClock();
  const holds = new Map<
    number,
    { kind: StoreIo['kind'] | undefined; arrive: (io: StoreIo) => void; wait: Promise<void> }
  >();

  const makeNode = (index: number, extra: Partial<LogicalUnitOptions> = {}): ClusterNode => {
    const cell = hub.cell(`node-${index + 1}`);
    const backend = new MemoryClusterBackend(data, cell, {
      beforeStore: async (io) => {
        const held = holds.get(index);
        if (held === undefined || (held.kind !== undefined && held.kind !== io.kind)) return;
        holds.delete(index);
        held.arrive(io);
        await held.wait;
      },
    });
    const eventLog = new EventLog(clock);
    const events = new MemoryRingSink(1000);
    eventLog.addSink(events);
    const unitAttentions = new UnitAttentions();
    const lu = new LogicalUnit({
      backend,
      lun: 1,
      unitAttentions,
      clock,
      logger: silentLogger,
      eventLog,
      reportLuns: () => [1],
      clusterNode: { nodeId: index + 1, targetPortGroup: index + 1, relativeTargetPortIds: [index + 1] },
      ...(options.policy === undefined ? {} : { aluaPolicy: options.policy }),
      ...(options.testOnlyBug === undefined ? {} : { testOnlyBug: options.testOnlyBug }),
      takeoverHoldOffMs: options.takeoverHoldOffMs ?? 0,
      ...options.lu,
      ...extra,
    });
    let tag = 0;
    return {
      index,
      lu,
      backend,
      cell,
      unitAttentions,
      events,
      nexus: (initiator = 1) => clusterNexus(index, initiator),
      run: (cdb, runOptions = {}) => {
        const padded = Buffer.concat([cdb, Buffer.alloc(Math.max(0, 16 - cdb.length))]);
        const dataOut = runOptions.dataOut ?? Buffer.alloc(0);
        tag += 1;
        return lu.execute({
          cdb: padded,
          nexus: clusterNexus(index, runOptions.initiator ?? 1),
          dataOut,
          expectedLengthBytes: runOptions.expectedLengthBytes ?? dataOut.length,
          taskTag: tag,
          taskAttribute: 1,
          ...(runOptions.signal === undefined ? {} : { signal: runOptions.signal }),
        });
      },
    };
  };

  const nodes = Array.from({ length: options.nodes ?? 2 }, (_, index) => makeNode(index));
  if (options.open ?? true) {
    for (const node of nodes) await node.lu.open();
  }
  return {
    hub,
    data,
    clock,
    nodes,
    hold(index, kind) {
      let arrive!: (io: StoreIo) => void;
      let release!: () => void;
      const reached = new Promise<StoreIo>((resolve) => {
        arrive = resolve;
      });
      const wait = new Promise<void>((resolve) => {
        release = resolve;
      });
      holds.set(index, { kind, arrive, wait });
      return { reached, release };
    },
    async restart(index, extra = {}, how = {}) {
      nodes[index]!.lu.close();
      const node = makeNode(index, extra);
      nodes[index] = node;
      if (how.open ?? true) await node.lu.open();
      return node;
    },
  };
}

const TUR = Buffer.from([0, 0, 0, 0, 0, 0]);

/** TEST UNIT READY until it is not a UNIT ATTENTION; returns the (asc, ascq) pairs consumed. */
export async function clearUnitAttentions(node: ClusterNode, initiator = 1): Promise<string[]> {
  const seen: string[] = [];
  for (let index = 0; index < 32; index++) {
    const result = await node.run(TUR, { initiator });
    if (result.sense?.key !== 0x6) return seen;
    seen.push(ascOf(result));
  }
  throw new Error('unit attentions never stopped');
}

/** "asc/ascq" in hex of a result's sense, e.g. "2a/06"; '' without sense. */
export function ascOf(result: ScsiResult): string {
  const sense = result.sense;
  if (sense === undefined) return '';
  return `${sense.asc.toString(16).padStart(2, '0')}/${sense.ascq.toString(16).padStart(2, '0')}`;
}
