/**
 * A Windows-like failover-cluster node as a SCSI-3 persistent reservation user (multipath.md
 * §5.2): what ClusDisk and MPIO do with a shared disk, reduced to the PR traffic a multi-node
 * target must get right.
 *
 * - Every path is one I_T nexus (the device logs in with a stable ISID per path), and the node
 *   registers its one key on each, with REGISTER AND IGNORE EXISTING KEY, as soon as the path
 *   logs in (`pathSetup`): at the first login and at every later one (MPIO registers on a path
 *   when it arrives). A node that noticed it was preempted stops registering (it lost the disk).
 * - The owner reserves WRITE EXCLUSIVE – REGISTRANTS ONLY through one path. Its writes may then
 *   go through any registered path: when that path fails the device fails over and the writes go
 *   on through another one, under the same reservation.
 * - A challenger (another node, another host) PREEMPTs the owner's key through its own path:
 *   the owner's registrations go, on every I_T nexus of every target node, and its next command
 *   gets UNIT ATTENTION 2A/05 (or 2A/03), its writes RESERVATION CONFLICT.
 * - READ KEYS and READ RESERVATION can be sent through any one path, so a scenario can compare
 *   what every target node answers.
 *
 * The node watches its device's unit attentions: 2A/03 (reservations preempted) or 2A/05
 * (registrations preempted) mark it preempted (`preempted`, event `pr.preempted_noticed`).
 */
import type { EventLog } from '../../src/core/event-log.js';
import {
  AscAscq,
  ascAscq,
  PrOutAction,
  PrType,
  type PrTypeValue,
  persistentReserveOut,
} from '../initiator/scsi-cluster-commands.js';
import { ScsiStatusCode } from '../initiator/scsi-commands.js';
import type { DeviceAnswer, MultipathDevice, PathSetup, UnitAttentionRecord } from './multipath-device.js';

export interface PrClusterNodeOptions {
  /** The cluster node's name, e.g. "node-1" (for logs). */
  readonly name: string;
  /** Its reservation key (8 bytes). */
  readonly key: bigint;
  readonly eventLog: EventLog;
  /** The reservation type it takes; default WRITE EXCLUSIVE – REGISTRANTS ONLY. */
  readonly type?: PrTypeValue;
  /** The LU (default 1). */
  readonly lun?: number;
}

export class PrClusterNode {
  readonly name: string;
  readonly key: bigint;
  readonly type: PrTypeValue;
  /** Paths registered (the answer of the last REGISTER AND IGNORE on each). */
  readonly registrations = new Map<string, number>();
  readonly #eventLog: EventLog;
  readonly #lun: number;
  #device: MultipathDevice | undefined;
  #preempted = false;

  constructor(options: PrClusterNodeOptions) {
    this.name = options.name;
    this.key = options.key;
    this.type = options.type ?? PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY;
    this.#eventLog = options.eventLog;
    this.#lun = options.lun ?? 1;
  }

  /**
   * The hook the node's device runs on each path after its login: registers the key on that
   * I_T nexus. Give it to the device (DeviceRequest.pathSetup), then attach() the device.
   */
  readonly pathSetup: PathSetup = async (path, send) => {
    if (this.#preempted) {
      this.#log('pr.register_skipped', { path, why: 'preempted' });
      return true;
    }
    const { cdb, parameters } = persistentReserveOut({
      action: PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY,
      key: 0n,
      serviceActionKey: this.key,
    });
    const result = await send({
      lun: this.#lun,
      cdb,
      dataOut: parameters,
      expectedLengthBytes: parameters.length,
    });
    this.registrations.set(path, result.status);
    this.#log('pr.registered', { path, status: result.status });
    // A path whose registration failed still serves reads; its writes will say why.
    return true;
  };

  /** The device the node does its IO through (opened with `pathSetup`). */
  attach(device: MultipathDevice): void {
    this.#device = device;
    device.onUnitAttention((record) => this.#unitAttention(record));
  }

  get device(): MultipathDevice {
    if (this.#device === undefined) throw new Error(`cluster node ${this.name} has no device yet`);
    return this.#device;
  }

  /** True once the node saw 2A/03 or 2A/05: it lost the disk. */
  get preempted(): boolean {
    return this.#preempted;
  }

  /** RESERVE with the node's key and type through `path` (default: any path). */
  async reserve(path?: string): Promise<DeviceAnswer> {
    const answer = await this.device.persistentReserveOut(
      { action: PrOutAction.RESERVE, key: this.key, type: this.type },
      path === undefined ? {} : { path },
    );
    this.#log('pr.reserve', { path: answer.path, status: answer.result.status });
    return answer;
  }

  /** PREEMPT `victim`'s registrations (and its reservation) through `path` (default: any). */
  async preempt(victim: bigint, path?: string): Promise<DeviceAnswer> {
    const answer = await this.device.persistentReserveOut(
      { action: PrOutAction.PREEMPT, key: this.key, serviceActionKey: victim, type: this.type },
      path === undefined ? {} : { path },
    );
    this.#log('pr.preempt', { path: answer.path, victim: victim.toString(16), status: answer.result.status });
    return answer;
  }

  /** RELEASE the node's reservation through `path` (default: any). */
  async release(path?: string): Promise<DeviceAnswer> {
    const answer = await this.device.persistentReserveOut(
      { action: PrOutAction.RELEASE, key: this.key, type: this.type },
      path === undefined ? {} : { path },
    );
    this.#log('pr.release', { path: answer.path, status: answer.result.status });
    return answer;
  }

  #unitAttention(record: UnitAttentionRecord): void {
    const code = ascAscq(record.asc, record.ascq);
    if (code !== AscAscq.REGISTRATIONS_PREEMPTED && code !== AscAscq.RESERVATIONS_PREEMPTED) return;
    if (!this.#preempted)
      this.#log('pr.preempted_noticed', { path: record.path, asc: record.asc, ascq: record.ascq });
    this.#preempted = true;
  }

  #log(type: string, data: Record<string, unknown>): void {
    this.#eventLog.append(`pr/${this.name}`, type, { key: this.key.toString(16), ...data });
  }
}

/** A Windows-style key: the node number in the high half, "CLUS" in the low half. */
export function clusterNodeKey(node: number): bigint {
  return (BigInt(node) << 32n) | 0x434c5553n;
}

/** GOOD, as the scenarios check answers. */
export function isGood(answer: DeviceAnswer): boolean {
  return answer.result.status === ScsiStatusCode.GOOD;
}
