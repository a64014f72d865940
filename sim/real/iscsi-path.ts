/**
 * One path of the harnesses: a session of the project's initiator (sim/initiator) over real TCP
 * to one portal, that logs in again after the connection dies. Commands answer an IoOutcome:
 * - good: status GOOD (with the data read);
 * - status: another status (CHECK CONDITION with its sense key, BUSY, TASK SET FULL...): the
 *   target answered, and for a write it may have landed in part;
 * - lost: no answer (the connection died, or the command timed out: then the session is dropped,
 *   as Linux escalates a timeout to a session drop, so nothing more of it runs at the target).
 */
import { realClock } from '../../src/core/real-clock.js';
import { createRng } from '../../src/core/rng.js';
import { sleepMs } from '../../src/core/sleep.js';
import { TcpTransport } from '../../transports/tcp.js';
import type { Endpoint } from '../../transports/transport.js';
import { IscsiInitiator, IscsiInitiatorError, IscsiLoginError } from '../initiator/index.js';
import { parseSense, ScsiStatusCode } from '../initiator/scsi-commands.js';
import { STAMP_BLOCK_BYTES } from './block-stamps.js';

export type IoOutcome =
  | { readonly kind: 'good'; readonly data: Buffer }
  | { readonly kind: 'status'; readonly status: number; readonly senseKey?: number; readonly asc?: number }
  | { readonly kind: 'lost'; readonly why: string };

export interface PathOptions {
  readonly name: string;
  readonly portal: Endpoint;
  readonly targetName: string;
  readonly initiatorName: string;
  /** 12 hex digits: the same on every login, so a new login reinstates the old session. */
  readonly isid: string;
  readonly lun: number;
  readonly commandTimeoutMs: number;
  /** The target node behind this path: a SYNCHRONIZE CACHE through it flushes that node's writes. */
  readonly scope: string;
}

const UNIT_ATTENTION = 0x06;
const NOT_READY = 0x02;
const LOGIN_RETRY_MS = 200;

export function describeOutcome(outcome: IoOutcome): string {
  if (outcome.kind === 'good') return 'GOOD';
  if (outcome.kind === 'lost') return `no answer (${outcome.why})`;
  const sense =
    outcome.senseKey === undefined
      ? ''
      : ` sense key 0x${outcome.senseKey.toString(16)} asc 0x${(outcome.asc ?? 0).toString(16)}`;
  return `status 0x${outcome.status.toString(16)}${sense}`;
}

export class IscsiPath {
  #initiator: IscsiInitiator | undefined;
  logins = 0;
  /** Commands that timed out (each dropped the session). */
  timeouts = 0;
  /** When the last command timed out (real clock ms). */
  lastTimeoutAtMs = Number.NEGATIVE_INFINITY;
  /** RFC 7143 rules the target broke, as the initiator saw them (every session of this path). */
  readonly protocolViolations: string[] = [];
  blockCount = 0;

  constructor(readonly options: PathOptions) {}

  get name(): string {
    return this.options.name;
  }

  get scope(): string {
    return this.options.scope;
  }

  get up(): boolean {
    return this.#initiator !== undefined && !this.#initiator.isClosed;
  }

  /** Logs in (retrying while the target is not there yet) and reads the capacity; rejects after timeoutMs. */
  async connect(timeoutMs: number): Promise<void> {
    const deadline = realClock.now() + timeoutMs;
    let lastError = '';
    while (realClock.now() < deadline) {
      this.drop();
      try {
        const initiator = await IscsiInitiator.login(new TcpTransport(), this.options.portal, {
          clock: realClock,
          initiatorName: this.options.initiatorName,
          targetName: this.options.targetName,
          isid: this.options.isid,
          rng: createRng(`${this.options.name}/login/${this.logins}`),
          loginTimeoutMs: 5_000,
          commandTimeoutMs: this.options.commandTimeoutMs,
        });
        this.#initiator = initiator;
        this.logins++;
        void initiator.closed.then(() => this.#collectViolations(initiator));
        for (let tries = 0; tries < 20; tries++) {
          const capacity = await initiator.readCapacity16(this.options.lun);
          if (capacity.capacity !== undefined) {
            if (capacity.capacity.blockSizeBytes !== STAMP_BLOCK_BYTES) {
              throw new Error(`${this.name}: block size ${capacity.capacity.blockSizeBytes}, expected 512`);
            }
            this.blockCount = capacity.capacity.blockCount;
            return;
          }
          const sense = parseSense(capacity.sense);
          if (sense?.key !== UNIT_ATTENTION && sense?.key !== NOT_READY) {
            throw new Error(`${this.name}: READ CAPACITY answered status 0x${capacity.status.toString(16)}`);
          }
        }
        throw new Error(`${this.name}: READ CAPACITY kept answering unit attentions`);
      } catch (error) {
        lastError = (error as Error).message;
        if (!(error instanceof IscsiInitiatorError) && !(error instanceof IscsiLoginError)) throw error;
        await sleepMs(realClock, LOGIN_RETRY_MS);
      }
    }
    throw new Error(
      `${this.name}: no login to ${this.options.portal.host}:${this.options.portal.port} within ${timeoutMs} ms: ${lastError}`,
    );
  }

  /** Drops the connection at once (a TCP reset); commands in flight end `lost`. */
  drop(): void {
    const initiator = this.#initiator;
    if (initiator === undefined) return;
    initiator.destroy();
    this.#initiator = undefined;
  }

  /** Logs out (or drops the connection); resolves when closed. */
  async close(): Promise<void> {
    const initiator = this.#initiator;
    this.#initiator = undefined;
    if (initiator !== undefined) {
      await initiator.close();
      this.#collectViolations(initiator);
    }
  }

  write(lba: number, data: Buffer, fua: boolean): Promise<IoOutcome> {
    return this.#run((initiator) => initiator.write(this.options.lun, lba, data, { fua }));
  }

  read(lba: number, blocks: number): Promise<IoOutcome> {
    return this.#run((initiator) => initiator.read(this.options.lun, lba, blocks));
  }

  synchronizeCache(): Promise<IoOutcome> {
    return this.#run((initiator) => initiator.synchronizeCache(this.options.lun));
  }

  async #run(
    send: (initiator: IscsiInitiator) => Promise<{ status: number; dataIn: Buffer; sense?: Buffer }>,
  ): Promise<IoOutcome> {
    const initiator = this.#initiator;
    if (initiator === undefined || initiator.isClosed) return { kind: 'lost', why: 'path down' };
    try {
      const result = await send(initiator);
      if (result.status === ScsiStatusCode.GOOD) return { kind: 'good', data: result.dataIn };
      const sense = parseSense(result.sense);
      return {
        kind: 'status',
        status: result.status,
        ...(sense === undefined ? {} : { senseKey: sense.key, asc: sense.asc }),
      };
    } catch (error) {
      if (!(error instanceof IscsiInitiatorError)) throw error;
      if (error.code === 'ISCSI_INIT_TIMEOUT') {
        this.timeouts++;
        this.lastTimeoutAtMs = realClock.now();
        if (this.#initiator === initiator) this.drop();
      }
      return { kind: 'lost', why: error.code };
    }
  }

  #collectViolations(initiator: IscsiInitiator): void {
    for (const violation of initiator.violations) {
      if (!this.protocolViolations.includes(violation)) this.protocolViolations.push(violation);
    }
  }
}
