/**
 * What the sheepdog client (a LU's backend: pool, connections, inode cache, IO runner) reports to
 * a MetricsRegistry: request round trips by opcode, answers other than SUCCESS by result,
 * connection failures, reconnects, retries, and the coherence protocol's work (inode reloads,
 * rounds refused INODE_INVALIDATED).
 *
 * Rules
 * - One SheepClientMetrics per node (or process) is shared by every backend; series are not per
 *   VDI. With several nodes in one registry give each a `node` name (first label of every series).
 * - Series are made once: the fixed ones here, the per-opcode and per-result ones on their first
 *   occurrence, kept in arrays indexed by the code (opcodes and results are one byte), so an
 *   answer only indexes an array and bumps numbers.
 * - A round trip is timed on the registry's clock from the request going on the wire (written,
 *   not queued) to its answer; requests that get no answer (the connection failed) are not
 *   observed but counted as connection failures.
 */
import { opcodeName, resultName, SdRes } from '../sheepdog/wire/constants.js';
import type { Counter, Family, Histogram, MetricsRegistry } from './metrics-registry.js';

/** Why something was tried again (collie_sheep_retries_total's `reason`). */
export type SheepRetryReason =
  /** The pool sent a request again on another connection after its connection failed. */
  | 'resend'
  /** LOCK_VDI lost its connection (its outcome unknown) and was sent again. */
  | 'lock_connection_lost'
  /** LOCK_VDI answered COLLECTING_CINFO (a sheep node that just joined) and was sent again later. */
  | 'lock_collecting_cinfo'
  /** An IO was planned and sent again after an inode reload (INODE_INVALIDATED, READONLY, rejoin). */
  | 'io_replan';

const RETRY_REASONS: readonly SheepRetryReason[] = [
  'resend',
  'lock_connection_lost',
  'lock_collecting_cinfo',
  'io_replan',
];

/** Why the inode cache reloaded (collie_coherence_reloads_total's `reason`). */
export type CoherenceReloadReason = 'invalidated' | 'readonly' | 'rejoin';

const RELOAD_REASONS: readonly CoherenceReloadReason[] = ['invalidated', 'readonly', 'rejoin'];

/** How a connection to sheep failed (SheepConnectionError kinds; our own close is no failure). */
export type SheepConnectionFailureKind = 'connect' | 'closed' | 'protocol' | 'timeout';

export interface SheepClientMetricsOptions {
  /** The node's name, as a `node` label on every series (several nodes, one registry). */
  readonly node?: string;
}

export class SheepClientMetrics {
  readonly #registry: MetricsRegistry;
  readonly #prefix: readonly string[];
  readonly #requestSeconds: Family<Histogram>;
  readonly #errors: Family<Counter>;
  readonly #connectionFailures: Family<Counter>;
  /** By opcode, made on first use. */
  readonly #byOpcode: Array<Histogram | undefined> = new Array(256);
  /** By result code, made on first use. */
  readonly #byResult: Array<Counter | undefined> = new Array(256);
  readonly #failuresByKind = new Map<string, Counter>();
  readonly #retries: ReadonlyMap<SheepRetryReason, Counter>;
  readonly #reloads: ReadonlyMap<string, Counter>;
  readonly reconnects: Counter;
  readonly invalidations: Counter;

  constructor(registry: MetricsRegistry, options: SheepClientMetricsOptions = {}) {
    this.#registry = registry;
    this.#prefix = options.node === undefined ? [] : [options.node];
    const node = options.node === undefined ? [] : ['node'];
    const prefix = this.#prefix;
    this.#requestSeconds = registry.histogram(
      'collie_sheep_request_seconds',
      'Round trip of a request to sheep, from being written to its answer, by opcode.',
      [...node, 'op'],
    );
    this.#errors = registry.counter(
      'collie_sheep_errors_total',
      'Answers from sheep other than SUCCESS, by result (INODE_INVALIDATED drives coherence; sheep 1.0 answers FLUSH_VDI and COLLIE_FEATURES with INVALID_PARMS).',
      [...node, 'result'],
    );
    this.#connectionFailures = registry.counter(
      'collie_sheep_connection_failures_total',
      'Connections to sheep that failed, by kind (connect, closed, protocol, timeout); their requests were resent or failed.',
      [...node, 'kind'],
    );
    const retries = registry.counter(
      'collie_sheep_retries_total',
      'Things the sheepdog client tried again: resend (after a connection failure), lock_connection_lost, lock_collecting_cinfo, io_replan (after an inode reload).',
      [...node, 'reason'],
    );
    this.#retries = new Map(RETRY_REASONS.map((reason) => [reason, retries.child(...prefix, reason)]));
    this.reconnects = registry
      .counter(
        'collie_sheep_reconnects_total',
        'Connections to sheep opened after a pool was up (each may reach a restarted node: the VDI is joined again).',
        node,
      )
      .child(...prefix);
    const reloads = registry.counter(
      'collie_coherence_reloads_total',
      'Inode reloads of the sheepdog client, by reason (invalidated, readonly: a snapshot, rejoin: after a reconnect) and result.',
      [...node, 'reason', 'result'],
    );
    const reloadSeries = new Map<string, Counter>();
    for (const reason of RELOAD_REASONS) {
      for (const result of ['ok', 'failed']) {
        reloadSeries.set(`${reason}/${result}`, reloads.child(...prefix, reason, result));
      }
    }
    this.#reloads = reloadSeries;
    this.invalidations = registry
      .counter(
        'collie_coherence_invalidations_total',
        'IO rounds sheep refused with INODE_INVALIDATED (another participant changed the inode, or a snapshot was taken).',
        node,
      )
      .child(...prefix);
  }

  /** Milliseconds on the registry's clock (a request going on the wire). */
  nowMs(): number {
    return this.#registry.nowMs();
  }

  /** Sheep answered a request written at `sentAtMs`. */
  answered(opcode: number, result: number, sentAtMs: number): void {
    const op = opcode & 0xff;
    let histogram = this.#byOpcode[op];
    if (histogram === undefined) {
      histogram = this.#requestSeconds.child(...this.#prefix, opcodeName(op));
      this.#byOpcode[op] = histogram;
    }
    histogram.observe((this.#registry.nowMs() - sentAtMs) / 1000);
    if (result === SdRes.SUCCESS) return;
    const code = result & 0xff;
    let counter = this.#byResult[code];
    if (counter === undefined) {
      counter = this.#errors.child(...this.#prefix, resultLabel(code));
      this.#byResult[code] = counter;
    }
    counter.inc();
  }

  connectionFailed(kind: SheepConnectionFailureKind): void {
    let counter = this.#failuresByKind.get(kind);
    if (counter === undefined) {
      counter = this.#connectionFailures.child(...this.#prefix, kind);
      this.#failuresByKind.set(kind, counter);
    }
    counter.inc();
  }

  retried(reason: SheepRetryReason): void {
    this.#retries.get(reason)!.inc();
  }

  reloaded(reason: CoherenceReloadReason, ok: boolean): void {
    this.#reloads.get(`${reason}/${ok ? 'ok' : 'failed'}`)!.inc();
  }
}

/** "NO_OBJ" for "NO_OBJ (0x02)"; an unknown code keeps its hex ("UNKNOWN_RESULT_0x7f"). */
function resultLabel(code: number): string {
  const named = resultName(code);
  const [name, hex] = named.split(' ');
  return name === 'UNKNOWN_RESULT' ? `${name}_${hex?.replace(/[()]/g, '') ?? code}` : (name ?? named);
}
