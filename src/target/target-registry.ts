/**
 * The targets one target node serves, as they are now: the one mutable inventory that the iSCSI
 * server (SendTargets), the login policy (which targets exist, their ACL and CHAP), the sessions
 * (LUN lookup per command) and the admin API's changes share.
 *
 * Rules
 * - The iSCSI layer sees read-only views: `targets` is the live list (the same array, never
 *   copied, so a target added or removed is seen by the next SendTargets and the next
 *   connection's login), and every ServedTarget is a TargetNode whose `luns`, `chap` and
 *   `access` read the current values. Only this module and target-service.ts change them.
 * - Sessions keep their ServedTarget object for life: a changed ACL or CHAP applies to new
 *   logins only; a LUN added or removed is seen by the very next command of every session.
 * - A ServedLun counts the commands (and resets) running inside its logical unit, so a removed
 *   LUN's backend is closed only after they finished (`close({ waitForCommands: true })`):
 *   nothing is cut off mid-IO, and a sheepdog backend then releases its VDI lock. From the moment
 *   it is detached nothing new enters it: a command a session took before (its Data-Out still
 *   arriving) is answered as for an absent LUN (LOGICAL UNIT NOT SUPPORTED, absent-lun.ts).
 * - iSCSI names are unique case-insensitively (sameIscsiName), as logins compare them.
 */
import type { BlockBackend } from '../backends/block-backend.js';
import type { InitiatorAccess } from '../iscsi/login/access.js';
import type { ChapSecrets } from '../iscsi/login/chap.js';
import { sameIscsiName } from '../iscsi/login/text-values.js';
import type { IscsiLun, TargetNode } from '../iscsi/target/target-node.js';
import { answerAbsentLun } from '../scsi/absent-lun.js';
import type { LogicalUnit } from '../scsi/logical-unit.js';
import type { Nexus, ScsiCommand, ScsiResult } from '../scsi/scsi-types.js';
import type { BackingSpec } from './backing.js';
import type { AluaPolicy } from './target-config.js';

/** Why a change of the inventory was refused; the message names the thing and the fix. */
export type TargetChangeProblem = 'not-found' | 'conflict' | 'invalid' | 'backend';

export class TargetChangeError extends Error {
  override readonly name = 'TargetChangeError';
  constructor(
    readonly problem: TargetChangeProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One logical unit as a target serves it: the LU, its backend, and how it was written. */
export class ServedLun implements IscsiLun {
  readonly lun: number;
  /** The backing as written ("mem:1G", "tcp:127.0.0.1:7000:vol0"). */
  readonly text: string;
  readonly backing: BackingSpec;
  readonly backend: BlockBackend;
  readonly unit: LogicalUnit;
  /** The target's LUNs now (an absent LUN's REPORT LUNS answer). */
  readonly #lunNumbers: () => readonly number[];
  /** Detached: nothing new enters the logical unit. */
  #detached = false;
  #running = 0;
  readonly #idle = new Set<() => void>();
  #closing: Promise<void> | undefined;
  readonly #settled = (): void => {
    this.#running -= 1;
    if (this.#running === 0) for (const wake of [...this.#idle]) wake();
  };

  constructor(options: {
    lun: number;
    text: string;
    backing: BackingSpec;
    backend: BlockBackend;
    unit: LogicalUnit;
    lunNumbers: () => readonly number[];
  }) {
    this.lun = options.lun;
    this.text = options.text;
    this.backing = options.backing;
    this.backend = options.backend;
    this.unit = options.unit;
    this.#lunNumbers = options.lunNumbers;
  }

  get blockSizeBytes(): number {
    return this.backend.blockSizeBytes;
  }

  /** Commands and resets running inside the logical unit now. */
  get running(): number {
    return this.#running;
  }

  execute(command: ScsiCommand): Promise<ScsiResult> {
    if (this.#detached) return Promise.resolve(answerAbsentLun(command.cdb, this.#lunNumbers()));
    return this.#counted(this.unit.execute(command));
  }

  reset(by: Nexus): Promise<void> {
    if (this.#detached) return Promise.resolve();
    return this.#counted(this.unit.reset(by));
  }

  nexusLost(nexus: Nexus): void {
    if (!this.#detached) this.unit.nexusLost(nexus);
  }

  /** No new command or reset enters the logical unit from now on (ServedTarget.detach). */
  markDetached(): void {
    this.#detached = true;
  }

  /**
   * Closes the LU and its backend (once; later calls share the first). `waitForCommands`: only
   * after every command running now finished (a LUN removed while it serves); without it at
   * once (the target stops, its sessions are already gone).
   */
  close(options: { waitForCommands: boolean }): Promise<void> {
    this.#detached = true;
    this.#closing ??= (async () => {
      if (options.waitForCommands) await this.#whenIdle();
      this.unit.close();
      await this.backend.close();
    })();
    return this.#closing;
  }

  #counted<T>(running: Promise<T>): Promise<T> {
    this.#running += 1;
    running.then(this.#settled, this.#settled);
    return running;
  }

  #whenIdle(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.#idle.delete(wake);
        resolve();
      };
      this.#idle.add(wake);
    });
  }
}

/** What a target is made from; its LUNs are attached one by one. */
export interface ServedTargetOptions {
  readonly iqn: string;
  readonly alias?: string;
  /** This node's id: the portal group tag, relative target port id and target port group. */
  readonly nodeId: number;
  readonly chap?: ChapSecrets;
  readonly access?: InitiatorAccess;
  /** The ALUA policy its LUs get (target-config.ts). */
  readonly alua?: AluaPolicy;
  /** Its sheepdog LUs probe on every read; unset: the node's config decides. */
  readonly sheepdogProbeEveryRead?: boolean;
}

/** A target as the iSCSI layer sees it (TargetNode), with the changes only the registry's owner makes. */
export class ServedTarget implements TargetNode {
  readonly iqn: string;
  readonly alias?: string;
  readonly portalGroupTag: number;
  readonly relativeTargetPortId: number;
  readonly targetPortGroup: number;
  readonly alua?: AluaPolicy;
  readonly sheepdogProbeEveryRead?: boolean;
  readonly #luns = new Map<number, ServedLun>();
  #chap: ChapSecrets | undefined;
  #access: InitiatorAccess;

  constructor(options: ServedTargetOptions) {
    this.iqn = options.iqn;
    if (options.alias !== undefined) this.alias = options.alias;
    // One portal group, one target port and one target port group per node, all numbered by its id.
    this.portalGroupTag = options.nodeId;
    this.relativeTargetPortId = options.nodeId;
    this.targetPortGroup = options.nodeId;
    if (options.alua !== undefined) this.alua = options.alua;
    if (options.sheepdogProbeEveryRead !== undefined)
      this.sheepdogProbeEveryRead = options.sheepdogProbeEveryRead;
    this.#chap = options.chap;
    this.#access = options.access ?? {};
  }

  get luns(): ReadonlyMap<number, IscsiLun> {
    return this.#luns;
  }

  get chap(): ChapSecrets | undefined {
    return this.#chap;
  }

  get access(): InitiatorAccess {
    return this.#access;
  }

  /** Its LUNs in number order. */
  servedLuns(): ServedLun[] {
    return [...this.#luns.values()].sort((a, b) => a.lun - b.lun);
  }

  /** Its LUN numbers in order (REPORT LUNS). */
  lunNumbers(): number[] {
    return [...this.#luns.keys()].sort((a, b) => a - b);
  }

  servedLun(lun: number): ServedLun | undefined {
    return this.#luns.get(lun);
  }

  /** From now on every session's next command to `lun.lun` reaches it. */
  attach(lun: ServedLun): void {
    if (this.#luns.has(lun.lun)) {
      throw new TargetChangeError(
        'conflict',
        `LUN ${lun.lun} of ${this.iqn} exists already (remove it first, or pick another number)`,
      );
    }
    this.#luns.set(lun.lun, lun);
  }

  /** From now on commands to `lun` are answered LOGICAL UNIT NOT SUPPORTED; the caller retires it. */
  detach(lun: number): ServedLun {
    const served = this.#luns.get(lun);
    if (served === undefined) throw lunNotFound(this, lun);
    this.#luns.delete(lun);
    served.markDetached();
    return served;
  }

  /** New logins check it; sessions logged in keep going. */
  setAccess(access: InitiatorAccess): void {
    this.#access = access;
  }

  /** New logins need it (none: AuthMethod=None is accepted); sessions logged in keep going. */
  setChap(chap: ChapSecrets | undefined): void {
    this.#chap = chap;
  }
}

export function lunNotFound(target: TargetNode, lun: number): TargetChangeError {
  const luns = [...target.luns.keys()].sort((a, b) => a - b);
  return new TargetChangeError(
    'not-found',
    `target ${target.iqn} has no LUN ${lun} (its LUNs: ${luns.length === 0 ? 'none' : luns.join(', ')})`,
  );
}

/** The targets of one node. */
export class TargetRegistry {
  readonly #targets: ServedTarget[] = [];

  /** The live list, read-only for its readers (IscsiTargetServer, the login policy). */
  get targets(): readonly TargetNode[] {
    return this.#targets;
  }

  served(): readonly ServedTarget[] {
    return this.#targets;
  }

  find(iqn: string): ServedTarget | undefined {
    return this.#targets.find((target) => sameIscsiName(target.iqn, iqn));
  }

  /** The target named `iqn`, else a not-found error listing the targets. */
  get(iqn: string): ServedTarget {
    const target = this.find(iqn);
    if (target !== undefined) return target;
    const names = this.#targets.map((each) => each.iqn);
    throw new TargetChangeError(
      'not-found',
      `no target ${iqn} here (the targets: ${names.length === 0 ? 'none' : names.join(', ')}; list them: collie adm target list)`,
    );
  }

  add(target: ServedTarget): void {
    const existing = this.find(target.iqn);
    if (existing !== undefined) {
      throw new TargetChangeError(
        'conflict',
        `target ${existing.iqn} exists already (iSCSI names are unique, case-insensitively: pick another name)`,
      );
    }
    this.#targets.push(target);
  }

  /** Takes the target out of the list (no new login, not in SendTargets); the caller ends the rest. */
  remove(iqn: string): ServedTarget {
    const target = this.get(iqn);
    this.#targets.splice(this.#targets.indexOf(target), 1);
    return target;
  }
}
