/**
 * The iSCSI target: listens on portals, runs a connection per accepted stream, and keeps the
 * session table (RFC 7143 §4.2.1, §6.3.5).
 *
 * Sessions are identified by (initiator name, ISID, target); a new login with TSIH 0 for an
 * existing identity reinstates it: the old session's connection is dropped and its tasks are
 * aborted before the new session answers (§6.3.5). A login naming an unknown TSIH is refused
 * by the login layer's rules (Collie negotiates MaxConnections=1, so no connection joins an
 * existing session).
 *
 * Shutdown (close), every wait on the injected clock and bounded:
 * 1. the listeners stop (no new connection);
 * 2. drain: the commands in flight at that moment get up to `drainSeconds` to finish and answer
 *    (commands arriving meanwhile are processed as usual);
 * 3. every full-feature connection gets an Async Message asking its initiator to log out within
 *    `logoutRequestSeconds` (RFC 7143 §11.9.1, AsyncEvent 1), and the target waits that long for
 *    the connections to close, still processing commands; a Logout terminates the session's
 *    pending commands (§11.14), unanswered;
 * 4. what remains is dropped and its sessions' tasks are aborted (never answered: nothing is
 *    acknowledged that did not complete).
 *
 * While it runs (the admin API): `sessions()` lists the sessions with their connection and
 * negotiated parameters; `dropSession` and `dropSessionsOf` end sessions the way a lost
 * connection does (the connection is dropped, the tasks aborted, unanswered; the initiator logs
 * in again); `dropUnfinishedLogins` drops the connections still logging in, so every login after
 * an ACL or CHAP change is decided by the new rules. `targets` is read at every use: a target
 * the node adds or removes is seen by the next SendTargets (target-registry.ts).
 *
 * Limits (`limits`, target-limits.ts; docs/limits.md), resolved once at start:
 * - A connection without a normal session (logging in, or a discovery session) is "unsettled";
 *   at most `loginConnectionsMax` of them, and `loginConnectionsPerAddressMax` from one source
 *   address, exist at once: the next is reset at accept, before it has a framer or a login.
 *   Each one's login must finish within `loginTimeoutMs` (the connection enforces it).
 * - At most `sessionsPerTargetMax` sessions per target node: the next login is answered 0x0302
 *   (Out of resources).
 * - Each target node has one TaskBudget for all its sessions (tasks and data bytes); the
 *   sessions enforce it with their own per-session limits.
 * - `limitStats()` reports what the limits did (for the limits script, tests and operators).
 * `commandWindow`, `nopIntervalMs` and `nopTimeoutMs` may also be given at the top level (older
 * callers); there they win over `limits`.
 */

import type { Endpoint, Listener, Transport } from '../../../transports/transport.js';
import { endpointToString } from '../../../transports/transport.js';
import type { Clock } from '../../core/clock.js';
import type { EventLog } from '../../core/event-log.js';
import type { Logger } from '../../core/logger.js';
import type { TargetMetrics } from '../../metrics/target-metrics.js';
import { answerSendTargets, type DiscoverableTarget, type SendTargetsRequest } from '../login/discovery.js';
import type { NegotiatedParameters } from '../login/negotiate.js';
import type { LoginRequestPdu } from '../pdu/messages.js';
import { IscsiConnection } from './iscsi-connection.js';
import { IscsiSession } from './iscsi-session.js';
import type { LoginDriver, LoginResult } from './login-driver.js';
import { LimitReporter, resolveTargetLimits, type TargetLimits, TaskBudget } from './target-limits.js';
import type { TargetNode } from './target-node.js';

export interface TargetServerOptions {
  readonly transport: Transport;
  readonly portals: readonly Endpoint[];
  /** The targets, read at every use (a live list may change while the server runs). */
  readonly targets: readonly TargetNode[];
  readonly loginDriver: (context: { local: Endpoint; remote: Endpoint }) => LoginDriver;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly eventLog: EventLog;
  readonly commandWindow?: number;
  readonly nopIntervalMs?: number;
  readonly nopTimeoutMs?: number;
  /** close(): seconds initiators get to log out before their connections drop; 0 drops at once. Default 2. */
  readonly logoutRequestSeconds?: number;
  /** close(): seconds the commands in flight get to finish before the logout request; 0 skips. Default 3. */
  readonly drainSeconds?: number;
  /** Where sessions and connections count commands, bytes, latency and stalls (src/metrics/). */
  readonly metrics?: TargetMetrics;
  /** Resource limits (target-limits.ts); unset ones take TARGET_LIMITS_DEFAULTS. */
  readonly limits?: Partial<TargetLimits>;
}

/** What the limits did since start (see limitStats). */
export interface TargetLimitStats {
  /** Refusals by limit name (LimitName), only those that happened. */
  readonly refusals: Readonly<Record<string, number>>;
  /** Connections without a normal session now (logging in, or discovery). */
  readonly unsettledConnections: number;
  readonly connections: number;
  readonly sessions: number;
  /** The most bytes queued towards one peer, seen when its transport pushed back. */
  readonly outputPeakBytes: number;
  /** Per target node: its task budget now and at its peak. */
  readonly budgets: ReadonlyArray<{
    readonly iqn: string;
    readonly tasks: number;
    readonly bytes: number;
    readonly tasksPeak: number;
    readonly bytesPeak: number;
  }>;
}

export const LOGOUT_REQUEST_SECONDS_DEFAULT = 2;
export const DRAIN_SECONDS_DEFAULT = 3;

interface SessionEntry {
  readonly session: IscsiSession;
  connection: IscsiConnection | undefined;
  /** The connection's ends, as the transport reported them at accept. */
  readonly ends: { readonly local: Endpoint; readonly remote: Endpoint };
  readonly parameters: NegotiatedParameters;
}

/** One session as the server keeps it (a snapshot: read again for fresh numbers). */
export interface ServedSession {
  readonly tsih: number;
  /** 12 hex digits. */
  readonly isid: string;
  readonly initiatorName: string;
  readonly target: TargetNode;
  /** Absent once its connection is gone (the session is ending). */
  readonly connection?: { readonly id: string; readonly local: Endpoint; readonly remote: Endpoint };
  /** What the login negotiated. */
  readonly parameters: NegotiatedParameters;
  readonly activeTasks: number;
}

export class IscsiTargetServer {
  readonly #options: TargetServerOptions;
  readonly #listeners: Listener[] = [];
  readonly #connections = new Set<IscsiConnection>();
  readonly #sessions = new Map<number, SessionEntry>();
  readonly #byIdentity = new Map<string, number>();
  #tsihLast = 0;
  /** Set while close() waits for the initiators to log out. */
  #onConnectionGone: ((connection: IscsiConnection) => void) | undefined;
  readonly #limits: TargetLimits;
  readonly #reporter: LimitReporter;
  /** Connections without a normal session (see the file comment), with their source address. */
  readonly #unsettled = new Map<IscsiConnection, string>();
  readonly #unsettledByAddress = new Map<string, number>();
  /** Each target node's task budget, by IQN (made at its first session). */
  readonly #budgets = new Map<string, TaskBudget>();
  #outputPeakBytes = 0;

  private constructor(options: TargetServerOptions) {
    this.#options = options;
    this.#limits = resolveTargetLimits({
      ...options.limits,
      ...(options.commandWindow === undefined ? {} : { commandWindow: options.commandWindow }),
      ...(options.nopIntervalMs === undefined ? {} : { nopIntervalMs: options.nopIntervalMs }),
      ...(options.nopTimeoutMs === undefined ? {} : { nopTimeoutMs: options.nopTimeoutMs }),
    });
    this.#reporter = new LimitReporter({
      clock: options.clock,
      logger: options.logger,
      eventLog: options.eventLog,
    });
  }

  /** The limits in force (defaults with the options on top). */
  get limits(): TargetLimits {
    return this.#limits;
  }

  /** What the limits did since start. */
  limitStats(): TargetLimitStats {
    let outputPeakBytes = this.#outputPeakBytes;
    for (const connection of this.#connections)
      outputPeakBytes = Math.max(outputPeakBytes, connection.outputPeakBytes);
    return {
      refusals: this.#reporter.counts(),
      unsettledConnections: this.#unsettled.size,
      connections: this.#connections.size,
      sessions: this.#sessions.size,
      outputPeakBytes,
      budgets: [...this.#budgets].map(([iqn, budget]) => ({
        iqn,
        tasks: budget.tasks,
        bytes: budget.bytes,
        tasksPeak: budget.tasksPeak,
        bytesPeak: budget.bytesPeak,
      })),
    };
  }

  static async start(options: TargetServerOptions): Promise<IscsiTargetServer> {
    const server = new IscsiTargetServer(options);
    try {
      for (const portal of options.portals) {
        server.#listeners.push(await options.transport.listen(portal, (stream) => server.#accept(stream)));
      }
    } catch (error) {
      await server.close();
      throw error;
    }
    return server;
  }

  get portals(): Endpoint[] {
    return this.#listeners.map((listener) => listener.address);
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The commands running in every session now. */
  get activeTaskCount(): number {
    let count = 0;
    for (const entry of this.#sessions.values()) count += entry.session.activeTaskCount;
    return count;
  }

  /** Every session now, by TSIH. */
  sessions(): ServedSession[] {
    return [...this.#sessions.values()]
      .map((entry) => describeSession(entry))
      .sort((a, b) => a.tsih - b.tsih);
  }

  /**
   * Ends one session as a lost connection would: its connection is dropped, its tasks are
   * aborted (never answered) and its LUs forget the nexus; the initiator logs in again. Returns
   * what it was, or undefined when no session has that TSIH.
   */
  dropSession(tsih: number, why: string): ServedSession | undefined {
    const entry = this.#sessions.get(tsih);
    if (entry === undefined) return undefined;
    const was = describeSession(entry);
    this.#options.logger.info({ tsih, why }, 'ending a session');
    this.#endSession(tsih, entry, why);
    return was;
  }

  /** Ends every session of `target` (dropSession each); resolves once they are closed. */
  async dropSessionsOf(target: TargetNode, why: string): Promise<number> {
    const ending = [...this.#sessions].filter(([, entry]) => entry.session.identity.target === target);
    for (const [tsih, entry] of ending) this.#endSession(tsih, entry, why);
    await Promise.all(ending.map(([, entry]) => entry.session.close()));
    return ending.length;
  }

  /** Drops every connection still in its login phase (they log in again, under today's rules). */
  dropUnfinishedLogins(why: string): number {
    let dropped = 0;
    for (const connection of this.#connections) {
      if (connection.phase !== 'login') continue;
      connection.drop(why);
      dropped += 1;
    }
    return dropped;
  }

  #endSession(tsih: number, entry: SessionEntry, why: string): void {
    if (entry.connection !== undefined) {
      // The connection's closed hook (#connectionClosed) forgets the session and closes it.
      entry.connection.drop(why);
      return;
    }
    this.#forget(tsih);
    void entry.session.close();
  }

  async close(): Promise<void> {
    const logger = this.#options.logger;
    const listening = this.#listeners.length;
    for (const listener of this.#listeners.splice(0)) await listener.close();
    if (this.#connections.size === 0 && this.#sessions.size === 0) return;
    logger.info(
      { listeners: listening, connections: this.#connections.size, sessions: this.#sessions.size },
      'target stopping: no longer accepting connections',
    );
    await this.#drain();
    await this.#askForLogouts();
    const remaining = this.#connections.size;
    const tasks = this.activeTaskCount;
    for (const connection of this.#connections) connection.drop('target stopping');
    await Promise.all([...this.#sessions.values()].map((entry) => entry.session.close()));
    this.#sessions.clear();
    this.#byIdentity.clear();
    logger.info({ droppedConnections: remaining, abortedTasks: tasks }, 'target stopped');
  }

  /** Waits (bounded) for the commands in flight now to finish; later ones are not waited for. */
  async #drain(): Promise<void> {
    const seconds = Math.max(0, this.#options.drainSeconds ?? DRAIN_SECONDS_DEFAULT);
    const inFlight = this.activeTaskCount;
    if (seconds === 0 || inFlight === 0) return;
    const logger = this.#options.logger;
    logger.info({ tasks: inFlight, seconds }, 'target stopping: draining the commands in flight');
    const clock = this.#options.clock;
    const startMs = clock.now();
    const settled = Promise.all([...this.#sessions.values()].map((entry) => entry.session.tasksSettled()));
    const drained = await new Promise<boolean>((resolve) => {
      const timer = clock.setTimeout(() => resolve(false), seconds * 1000);
      void settled.then(() => {
        clock.clearTimeout(timer);
        resolve(true);
      });
    });
    logger.info(
      { drained, elapsedMs: clock.now() - startMs, tasksNow: this.activeTaskCount },
      drained ? 'target stopping: commands in flight drained' : 'target stopping: drain timed out',
    );
  }

  /** Async Message "log out" to every full-feature connection, then waits for them to close (or time). */
  async #askForLogouts(): Promise<void> {
    const seconds = Math.min(
      0xffff,
      Math.max(0, this.#options.logoutRequestSeconds ?? LOGOUT_REQUEST_SECONDS_DEFAULT),
    );
    if (seconds === 0) return;
    const asked = new Set([...this.#connections].filter((connection) => connection.requestLogout(seconds)));
    if (asked.size === 0) return;
    this.#options.logger.info(
      { connections: asked.size, seconds },
      'target stopping: asked the initiators to log out',
    );
    const clock = this.#options.clock;
    const startMs = clock.now();
    await new Promise<void>((resolve) => {
      const timer = clock.setTimeout(() => finish(), seconds * 1000);
      const finish = () => {
        clock.clearTimeout(timer);
        this.#onConnectionGone = undefined;
        resolve();
      };
      this.#onConnectionGone = (gone) => {
        asked.delete(gone);
        if (asked.size === 0) finish();
      };
    });
    this.#options.logger.info(
      { loggedOut: asked.size === 0, waitingFor: asked.size, elapsedMs: clock.now() - startMs },
      'target stopping: logout wait over',
    );
  }

  #accept(stream: Parameters<Parameters<Transport['listen']>[1]>[0]): void {
    const address = stream.remote.host;
    const limits = this.#limits;
    const fromAddress = this.#unsettledByAddress.get(address) ?? 0;
    if (this.#unsettled.size >= limits.loginConnectionsMax) {
      this.#reporter.hit(
        'login-connections',
        { initiator: endpointToString(stream.remote), unsettled: this.#unsettled.size },
        `refused a connection at accept: ${limits.loginConnectionsMax} connections are logging in or in discovery; a login flood? (or raise loginConnectionsMax)`,
        { event: true },
      );
      stream.destroy();
      return;
    }
    if (fromAddress >= limits.loginConnectionsPerAddressMax) {
      this.#reporter.hit(
        'login-connections-per-address',
        { initiator: endpointToString(stream.remote), fromAddress },
        `refused a connection at accept: ${address} already has ${fromAddress} connections logging in or in discovery; the initiator must finish its logins first (or raise loginConnectionsPerAddressMax)`,
        { event: true },
      );
      stream.destroy();
      return;
    }
    const connection: IscsiConnection = new IscsiConnection({
      stream,
      login: this.#options.loginDriver({ local: stream.local, remote: stream.remote }),
      clock: this.#options.clock,
      logger: this.#options.logger,
      eventLog: this.#options.eventLog,
      nopIntervalMs: limits.nopIntervalMs,
      nopTimeoutMs: limits.nopTimeoutMs,
      limits,
      reporter: this.#reporter,
      ...(this.#options.metrics === undefined ? {} : { metrics: this.#options.metrics }),
      hooks: {
        sessionFor: (result, request) =>
          this.#sessionFor(connection, { local: stream.local, remote: stream.remote }, result, request),
        sendTargets: (request) => this.#sendTargets(request),
        closed: (closing, session) => this.#connectionClosed(closing, session),
        targetColdReset: (resetting, session) => this.#targetColdReset(resetting, session),
      },
    });
    this.#connections.add(connection);
    this.#unsettled.set(connection, address);
    this.#unsettledByAddress.set(address, fromAddress + 1);
  }

  /** The connection has a normal session now, or is gone: it no longer counts as logging in. */
  #settle(connection: IscsiConnection): void {
    const address = this.#unsettled.get(connection);
    if (address === undefined) return;
    this.#unsettled.delete(connection);
    const left = (this.#unsettledByAddress.get(address) ?? 1) - 1;
    if (left > 0) this.#unsettledByAddress.set(address, left);
    else this.#unsettledByAddress.delete(address);
  }

  #budgetOf(target: TargetNode): TaskBudget {
    let budget = this.#budgets.get(target.iqn);
    if (budget === undefined) {
      budget = new TaskBudget(this.#limits);
      this.#budgets.set(target.iqn, budget);
    }
    return budget;
  }

  #sessionFor(
    connection: IscsiConnection,
    ends: SessionEntry['ends'],
    result: LoginResult,
    request: LoginRequestPdu,
  ): { session: IscsiSession; tsih: number } | undefined {
    const target = result.target;
    if (!target) return undefined;
    const identity = `${result.initiatorName}|${request.isid}|${target.iqn}`;
    const previous = this.#byIdentity.get(identity);
    if (previous !== undefined) {
      const entry = this.#sessions.get(previous);
      this.#sessions.delete(previous);
      this.#byIdentity.delete(identity);
      if (entry) {
        this.#options.eventLog.append(`iscsi/session/${previous}`, 'session.reinstated', {});
        entry.connection?.drop('session reinstated by a new login');
        void entry.session.close('reinstated');
      }
    }
    let sessionsOfTarget = 0;
    for (const entry of this.#sessions.values())
      if (entry.session.identity.target.iqn === target.iqn) sessionsOfTarget += 1;
    if (sessionsOfTarget >= this.#limits.sessionsPerTargetMax) {
      this.#reporter.hit(
        'sessions-per-target',
        { initiator: result.initiatorName, target: target.iqn, sessions: sessionsOfTarget },
        `refused a session (login status 0x0302, out of resources): target ${target.iqn} has ${sessionsOfTarget} sessions; end unused sessions (or raise sessionsPerTargetMax)`,
        { event: true },
      );
      return undefined;
    }
    const tsih = this.#nextTsih();
    const session = new IscsiSession({
      identity: { tsih, isid: request.isid, initiatorName: result.initiatorName, target },
      parameters: result.parameters,
      firstCmdSN: request.cmdSN,
      logger: this.#options.logger.child({
        tsih,
        isid: request.isid,
        initiator: result.initiatorName,
        target: target.iqn,
      }),
      eventLog: this.#options.eventLog,
      commandWindow: this.#limits.commandWindow,
      clock: this.#options.clock,
      budget: this.#budgetOf(target),
      reporter: this.#reporter,
      taskDataBytesMax: this.#limits.taskDataBytesPerSessionMax,
      dataOutTimeoutMs: this.#limits.dataOutTimeoutMs,
      peers: () => [...this.#sessions.values()].map((entry) => entry.session),
      connectionId: connection.id,
      ...(this.#options.metrics === undefined ? {} : { metrics: this.#options.metrics }),
    });
    this.#sessions.set(tsih, { session, connection, ends, parameters: result.parameters });
    this.#byIdentity.set(identity, tsih);
    this.#settle(connection);
    this.#options.eventLog.append(`iscsi/session/${tsih}`, 'session.created', {
      initiator: result.initiatorName,
      isid: request.isid,
      target: target.iqn,
      connection: connection.id,
    });
    return { session, tsih };
  }

  #sendTargets(request: SendTargetsRequest): Array<[string, string]> {
    const targets: DiscoverableTarget[] = this.#options.targets.map((target) => ({
      name: target.iqn,
      access: target.access ?? {},
      portals: this.portals.map((portal) => ({ ...portal, portalGroupTag: target.portalGroupTag })),
    }));
    return answerSendTargets(request, targets);
  }

  #connectionClosed(connection: IscsiConnection, session: IscsiSession | undefined): void {
    this.#connections.delete(connection);
    this.#settle(connection);
    this.#outputPeakBytes = Math.max(this.#outputPeakBytes, connection.outputPeakBytes);
    this.#onConnectionGone?.(connection);
    if (!session) return;
    const tsih = session.identity.tsih;
    const entry = this.#sessions.get(tsih);
    if (entry?.connection !== connection) return;
    // MaxConnections=1 and ERL 0: the session ends with its only connection.
    this.#forget(tsih);
    void session.close();
  }

  #forget(tsih: number): void {
    this.#sessions.delete(tsih);
    for (const [identity, value] of this.#byIdentity) if (value === tsih) this.#byIdentity.delete(identity);
  }

  /** TARGET COLD RESET ends every session of the target (§11.5.1); `resetting` closes itself. */
  #targetColdReset(resetting: IscsiConnection, session: IscsiSession): void {
    const target = session.identity.target;
    for (const entry of this.#sessions.values()) {
      if (entry.connection === resetting || entry.session.identity.target !== target) continue;
      entry.connection?.drop('target cold reset by another session');
    }
  }

  #nextTsih(): number {
    for (let steps = 0; steps < 0x10000; steps++) {
      this.#tsihLast = (this.#tsihLast % 0xffff) + 1;
      if (!this.#sessions.has(this.#tsihLast)) return this.#tsihLast;
    }
    throw new Error('no free TSIH: 65,535 sessions are open');
  }
}

function describeSession(entry: SessionEntry): ServedSession {
  const { identity } = entry.session;
  return {
    tsih: identity.tsih,
    isid: identity.isid,
    initiatorName: identity.initiatorName,
    target: identity.target,
    ...(entry.connection === undefined
      ? {}
      : { connection: { id: entry.connection.id, local: entry.ends.local, remote: entry.ends.remote } }),
    parameters: entry.parameters,
    activeTasks: entry.session.activeTaskCount,
  };
}

export function describePortals(portals: readonly Endpoint[]): string {
  return portals.map(endpointToString).join(', ');
}
