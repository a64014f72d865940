/**
 * Allocation claims: on a store where a second CREATE of an object replaces it (sheep 1.0, which
 * will not change; COLLIE_FEATURES lacks CREATE_NEVER_REPLACES), the targets sharing a VDI make
 * sure that only one of them creates each object, with what sheep 1.0 offers: an exclusive VDI
 * attribute (GET_VDI_ATTR with CREAT|EXCL is atomic, a cluster op ordered on every node).
 * docs/multipath-safety.md ("Against a real sheep 1.0 cluster") has the proof sketch.
 *
 * The claim of object idx of working vid V is the attribute `collie.alloc.<V hex>.<idx>` of the
 * VDI (by name, empty tag, snapid 0; attributes are keyed by the name, so a snapshot does not
 * move them). Its value names the holder: "collie client <client id> claim <serial>".
 *
 * Rules
 * - Before a round that CREATEs objects, every object it creates is claimed, in ascending idx
 *   order, one GET_VDI_ATTR(WRITE|CREAT|EXCL) each.
 * - SUCCESS: we are the only creator. CREATE, inode update, and only after the inode update
 *   succeeded (when the IO completes) the claim is deleted (GET_VDI_ATTR with DEL). The update
 *   invalidated every other participant first, so a late claimant (one whose cache still calls
 *   the object unallocated) that gets the claim after the delete has its CREATE, sent with the
 *   TGT flag, refused INODE_INVALIDATED; it reloads and writes with WRITE_OBJ.
 * - VDI_EXIST: another target is creating it. The claims this IO took but has not used yet (no
 *   CREATE sent) are deleted first, so nobody holds a claim while waiting for another (no
 *   deadlock, and a live holder's hold time is its own CREATE and inode update only). Then we
 *   wait: every poll (10 ms, doubling to 500 ms) sends the coherence probe; INODE_INVALIDATED
 *   means someone updated the inode: the IO goes back to the machine as 'invalidated', which
 *   reloads (the normal reload path) and replans, and an object the holder mapped meanwhile is
 *   now a WRITE_OBJ. A probe that passes is followed by the claim once more (the holder may
 *   have given up and deleted it).
 * - A dead holder: a claim whose holder (its value) stays the same for `waitMs` while the object
 *   stays unmapped belongs to a claimant that died between its claim and its inode update. Then:
 *   if the object exists (READ_OBJ of 1 byte, TGT), its CREATE landed: we write our range into
 *   it with WRITE_OBJ and do the inode update ourselves ("adopted"). If it does not, we take the
 *   claim over: CREAT|EXCL of the next generation's key `collie.alloc.<V hex>.<idx>.<n>`, which
 *   exactly one waiter wins (deleting the dead key and claiming it again would let two waiters
 *   that time out together both "take it over" and both create). After our inode update we
 *   delete every generation up to ours.
 * - The bound is measured per holder from when this backend first saw it (a later IO, such as
 *   the initiator's retry of an aborted write, goes on from there), and a claim that changed
 *   hands starts a new bound.
 * - A claim whose answer was lost (the connection failed) is asked again; VDI_EXIST then is ours
 *   when the holder's value is ours. A DEL whose answer was lost is not sent again (it could
 *   delete another target's new claim): the claim stays, which blocks nobody once the object is
 *   mapped (a waiter sees the entry on its reload), and is cleaned up by the next holder.
 * - An IO that fails with every answer in deletes the claims it holds (its CREATE may have
 *   landed, but nothing was acknowledged). An IO that fails 'unavailable' keeps them: a CREATE of
 *   its may still be in flight, and a waiter then goes through the dead-holder rule.
 *
 * The one limit: sheep 1.0 cannot tell a dead claimant from a slow one. A CREATE of a claimant
 * that is still inside sheep (or on the wire) after `waitMs`, once a waiter took the claim over,
 * can still replace the waiter's object. The backend's default bound is the pool's time bound
 * plus one request timeout (45 s; SheepdogBackendOptions.allocationClaimWaitMs): by then a live
 * claimant has given up on its requests.
 *
 * Design: the claim is a step the IO runner takes before a round, not states of the io-request
 * machine. Its wait is timed polling, which the machine's table compiler refuses (no delays), and
 * each way out of it is an event the machine already has: ready (send the round), stale plan
 * ('invalidated': reload and replan), snapshot ('readonly'), failure ('error' or UNAVAILABLE).
 * The machine stays the coherence protocol common to both stores, and its property test covers
 * every path a claim leads into.
 *
 * Cost, on sheep 1.0 only: one GET_VDI_ATTR (66,320-byte payload) per allocated object and one
 * DEL; contended claims add polls. Sheep's DEL empties the attribute's name and keeps its object
 * (a tombstone; removing it would break the probe chain of a key stored past it), so every
 * allocation leaves a 66,320-byte attr object behind: about 1.6% of a 4 MiB data object.
 */
import type { IoOutcome } from '../../../machines/io-request.js';
import type { Clock } from '../../core/clock.js';
import type { EventLog } from '../../core/event-log.js';
import { sleepMs } from '../../core/sleep.js';
import { SheepConnectionError, type SheepRequestHeader, type SheepResponse } from '../sheep-connection.js';
import { resultName, SdFlag, SdRes } from '../wire/constants.js';
import type { InodeCache } from './inode-cache.js';
import { outcomeForResult } from './io-outcome.js';
import type { IoPlan } from './io-plan.js';
import {
  RESENDS_MAX,
  SheepReconnectedError,
  type SheepRequestPool,
  SheepUnavailableError,
} from './sheep-pool.js';
import {
  attrValueReadRequest,
  objectExistsRequest,
  probeRequest,
  probeResult,
  vdiAttrPayload,
  vdiAttrRequest,
} from './tgt-requests.js';

const POLL_MS_MIN = 10;
const POLL_MS_MAX = 500;
/** Bytes of a holder's value compared (ours are shorter). */
const HOLDER_BYTES = 64;
/** Takeovers of one object's claim in one IO (each needs a dead holder and a full bound). */
const GENERATIONS_MAX = 16;

/** The claim's attribute key; generation n > 0 is the n-th takeover of a dead holder's claim. */
export function allocationClaimKey(vid: number, idx: number, generation = 0): string {
  const key = `collie.alloc.${vid.toString(16)}.${idx}`;
  return generation === 0 ? key : `${key}.${generation}`;
}

interface ClaimedObject {
  readonly vid: number;
  readonly idx: number;
  /** The generation we hold (held) or the last dead holder's we waited on (adopted). */
  readonly generation: number;
}

function objectOf(vid: number, idx: number): string {
  return `${vid}:${idx}`;
}

/** What one IO holds and found, across its replans. */
export class IoClaims {
  readonly held = new Map<string, ClaimedObject>();
  /** Objects whose CREATE this IO has sent (their claims stay until the IO ends). */
  readonly sent = new Set<string>();
  /** Objects a dead claimant created: written with WRITE_OBJ, mapped by our inode update. */
  readonly adopted = new Map<string, ClaimedObject>();
  /** Claim keys this IO waited on. */
  readonly waited = new Set<string>();

  /** Nothing to release: no claim held, none adopted, none waited on. */
  get isEmpty(): boolean {
    return this.held.size === 0 && this.adopted.size === 0 && this.waited.size === 0;
  }

  isAdopted(vid: number, idx: number): boolean {
    return this.adopted.has(objectOf(vid, idx));
  }

  markSent(vid: number, idx: number): void {
    this.sent.add(objectOf(vid, idx));
  }
}

/** How the claim step ends: send the round, or hand the machine an outcome. */
export type ClaimStep =
  | { readonly kind: 'ready' }
  | { readonly kind: 'result'; readonly outcome: IoOutcome; readonly code: number; readonly what: string }
  | { readonly kind: 'unavailable'; readonly error: SheepUnavailableError };

const READY: ClaimStep = { kind: 'ready' };

type Waited = ClaimStep | 'claimed' | 'stale';
type Holder = Buffer | 'gone' | ClaimStep;

export interface AllocationClaimsOptions {
  readonly pool: SheepRequestPool;
  readonly cache: InodeCache;
  readonly clock: Clock;
  readonly eventLog: EventLog;
  /** Event log actor (the IO runner's). */
  readonly actor: string;
  /** How long one holder may keep a claim, the object unmapped, before it counts as dead. */
  readonly waitMs: number;
  /** Sends a TGT-flagged request tied to the cache's join (IoRunner's request). */
  readonly request: (header: SheepRequestHeader) => Promise<SheepResponse>;
}

export class AllocationClaims {
  readonly #options: AllocationClaimsOptions;
  readonly #clientHex: string;
  /** When this backend first saw each claim key held, and by whom. */
  readonly #sightings = new Map<string, { atMs: number; holder: Buffer }>();
  #serial = 0;

  constructor(options: AllocationClaimsOptions) {
    this.#options = options;
    this.#clientHex = options.cache.clientId.toString(16);
  }

  /** Before a round of `plan`: every object it creates is claimed by this IO or adopted. */
  async prepare(plan: IoPlan, claims: IoClaims): Promise<ClaimStep> {
    let unsentReleased = false;
    const beforeWait = async () => {
      if (unsentReleased) return;
      unsentReleased = true;
      await this.#releaseUnsent(claims);
    };
    for (const piece of plan.pieces) {
      if (piece.action !== 'create') continue;
      const object = objectOf(plan.vid, piece.idx);
      if (claims.held.has(object) || claims.adopted.has(object)) continue;
      const step = await this.#claim(plan, piece.idx, claims, beforeWait);
      if (step.kind !== 'ready') return step;
    }
    return READY;
  }

  /**
   * The IO ended: 'completed' (its inode update succeeded): delete every claim it holds and
   * every dead holder's it went past; 'failed' (every answer in): delete the claims it holds;
   * 'unavailable': keep them (see the file comment). Never throws.
   */
  async release(claims: IoClaims, how: 'completed' | 'failed' | 'unavailable'): Promise<void> {
    if (claims.isEmpty) return;
    if (how === 'unavailable') {
      if (claims.held.size > 0) {
        this.#log('io.claims_kept', { keys: [...claims.held.values()].map(keyOf), why: 'sheep unreachable' });
      }
      return;
    }
    const keys: string[] = [];
    for (const held of claims.held.values()) {
      const lowest = how === 'completed' ? 0 : held.generation;
      for (let generation = lowest; generation <= held.generation; generation++)
        keys.push(allocationClaimKey(held.vid, held.idx, generation));
    }
    if (how === 'completed') {
      for (const adopted of claims.adopted.values()) {
        for (let generation = 0; generation <= adopted.generation; generation++)
          keys.push(allocationClaimKey(adopted.vid, adopted.idx, generation));
      }
      for (const key of claims.waited) this.#sightings.delete(key);
    }
    claims.held.clear();
    claims.adopted.clear();
    claims.sent.clear();
    await Promise.all(keys.map((key) => this.#delete(key, how)));
  }

  // ---- one object --------------------------------------------------------------------------

  async #claim(
    plan: IoPlan,
    idx: number,
    claims: IoClaims,
    beforeWait: () => Promise<void>,
  ): Promise<ClaimStep> {
    const { vid } = plan;
    for (let generation = 0; generation < GENERATIONS_MAX; generation++) {
      const key = allocationClaimKey(vid, idx, generation);
      const code = await this.#tryClaim(key);
      if (typeof code !== 'number') return code;
      if (code === SdRes.SUCCESS) return this.#taken(claims, vid, idx, generation, key);
      if (code !== SdRes.VDI_EXIST)
        return failed(code, `GET_VDI_ATTR (CREAT|EXCL) of allocation claim ${key}`);
      await beforeWait();
      const waited = await this.#wait(plan, idx, key, claims);
      if (waited === 'claimed') return this.#taken(claims, vid, idx, generation, key);
      if (waited !== 'stale') return waited;
      const exists = await this.#exists(vid, idx);
      if (typeof exists !== 'boolean') return exists;
      if (exists) {
        claims.adopted.set(objectOf(vid, idx), { vid, idx, generation });
        this.#log('io.claim_adopted', {
          key,
          why: 'its holder died after its CREATE: writing into the object',
        });
        return READY;
      }
      this.#log('io.claim_taking_over', { key, why: 'its holder died before its CREATE' });
    }
    return failed(
      SdRes.EIO,
      `allocation claim of object ${idx} of vid 0x${vid.toString(16)}: ${GENERATIONS_MAX} holders in a row died before creating it; check the targets sharing this VDI`,
    );
  }

  #taken(claims: IoClaims, vid: number, idx: number, generation: number, key: string): ClaimStep {
    claims.held.set(objectOf(vid, idx), { vid, idx, generation });
    this.#sightings.delete(key);
    this.#log('io.claim_taken', { key });
    return READY;
  }

  /**
   * Waits while another target holds `key`: 'claimed' (its holder let go and we got it), 'stale'
   * (one holder kept it for waitMs with the object unmapped), or the machine's outcome.
   */
  async #wait(plan: IoPlan, idx: number, key: string, claims: IoClaims): Promise<Waited> {
    const { clock, cache, waitMs } = this.#options;
    claims.waited.add(key);
    this.#log('io.claim_waiting', { key });
    let delayMs = POLL_MS_MIN;
    for (;;) {
      await sleepMs(clock, delayMs);
      delayMs = Math.min(POLL_MS_MAX, 2 * delayMs);
      if (cache.generation !== plan.generation) {
        return {
          kind: 'result',
          outcome: 'invalidated',
          code: SdRes.INODE_INVALIDATED,
          what: `the inode cache (reloaded while this IO waited for allocation claim ${key})`,
        };
      }
      // Did the holder map the object? Its inode update invalidated us: reload and replan.
      const probed = await this.#checked(probeRequest(plan.vid), (response) =>
        probeResult(response.header.result, response.payload),
      );
      if (typeof probed !== 'number') return probed;
      if (probed !== SdRes.SUCCESS) {
        return {
          kind: 'result',
          outcome: outcomeForResult(probed),
          code: probed,
          what: `the coherence probe of vid 0x${plan.vid.toString(16)} while waiting for allocation claim ${key} (object ${idx})`,
        };
      }
      // Did the holder let go without mapping it?
      const again = await this.#tryClaim(key);
      if (typeof again !== 'number') return again;
      if (again === SdRes.SUCCESS) return 'claimed';
      if (again !== SdRes.VDI_EXIST)
        return failed(again, `GET_VDI_ATTR (CREAT|EXCL) of allocation claim ${key}`);
      // Is the holder dead? Who holds it is read when first seen and when the bound has passed.
      const seen = this.#sightings.get(key);
      if (seen !== undefined && clock.now() - seen.atMs < waitMs) continue;
      const holder = await this.#holder(key);
      if (holder === 'gone') continue;
      if (!Buffer.isBuffer(holder)) return holder;
      if (seen === undefined || !seen.holder.equals(holder)) {
        this.#sightings.set(key, { atMs: clock.now(), holder });
        this.#log('io.claim_holder', { key, holder: holderText(holder) });
        continue;
      }
      this.#log('io.claim_stale', { key, holder: holderText(holder), heldMs: clock.now() - seen.atMs });
      return 'stale';
    }
  }

  // ---- requests ----------------------------------------------------------------------------

  /**
   * GET_VDI_ATTR(CREAT|EXCL) of `key` with a fresh holder value: the result code. Not resent by
   * the pool; a lost answer is asked again, and VDI_EXIST then counts as SUCCESS when the holder
   * is this very attempt.
   */
  async #tryClaim(key: string): Promise<number | ClaimStep> {
    const { pool, cache } = this.#options;
    this.#serial += 1;
    const value = Buffer.from(`collie client ${this.#clientHex} claim ${this.#serial}`);
    let outcomeUnknown = false;
    let lastError: unknown;
    for (let attempt = 0; attempt <= RESENDS_MAX; attempt++) {
      let response: SheepResponse;
      try {
        response = await pool.request(
          vdiAttrRequest(SdFlag.CREAT | SdFlag.EXCL),
          vdiAttrPayload(cache.vdiName, key, value),
          { resend: false },
        );
      } catch (error) {
        if (error instanceof SheepUnavailableError) return { kind: 'unavailable', error };
        if (!(error instanceof SheepConnectionError)) throw error;
        outcomeUnknown = true;
        lastError = error;
        continue;
      }
      const code = response.header.result;
      if (code !== SdRes.VDI_EXIST || !outcomeUnknown) return code;
      const holder = await this.#holder(key);
      if (holder === 'gone') continue;
      if (!Buffer.isBuffer(holder)) return holder;
      return holder.equals(padded(value)) ? SdRes.SUCCESS : code;
    }
    return {
      kind: 'unavailable',
      error: new SheepUnavailableError(
        pool.endpoint,
        `GET_VDI_ATTR of allocation claim ${key} lost its connection ${RESENDS_MAX + 1} times; check the network path to sheep at ${pool.endpoint}`,
        { cause: lastError },
      ),
    };
  }

  /** The value of the claim `key` (its holder), 'gone' when nobody holds it. */
  async #holder(key: string): Promise<Holder> {
    const { pool, cache } = this.#options;
    let found: SheepResponse;
    let read: SheepResponse;
    try {
      found = await pool.request(vdiAttrRequest(), vdiAttrPayload(cache.vdiName, key));
      const { header } = found;
      if (header.result === SdRes.NO_OBJ) return 'gone';
      if (header.result !== SdRes.SUCCESS || header.args.kind !== 'vdi')
        return failed(header.result, `GET_VDI_ATTR (lookup) of allocation claim ${key}`);
      read = await pool.request(attrValueReadRequest(header.args.vdiId, header.args.attrId, HOLDER_BYTES));
    } catch (error) {
      if (error instanceof SheepUnavailableError) return { kind: 'unavailable', error };
      throw error;
    }
    if (read.header.result === SdRes.NO_OBJ) return 'gone';
    if (read.header.result !== SdRes.SUCCESS)
      return failed(read.header.result, `READ_OBJ of the holder of allocation claim ${key}`);
    return padded(read.payload);
  }

  /** Does data object idx of vid exist (a dead claimant's CREATE landed)? */
  async #exists(vid: number, idx: number): Promise<boolean | ClaimStep> {
    const code = await this.#checked(objectExistsRequest(vid, idx), (response) => response.header.result);
    if (typeof code !== 'number') return code;
    if (code === SdRes.SUCCESS) return true;
    if (code === SdRes.NO_OBJ) return false;
    return {
      kind: 'result',
      outcome: outcomeForResult(code),
      code,
      what: `READ_OBJ of object ${idx} of vid 0x${vid.toString(16)} (does the dead claimant's object exist?)`,
    };
  }

  /** A TGT request through the runner; a reconnect reads as INODE_INVALIDATED (rejoin first). */
  async #checked(
    header: SheepRequestHeader,
    codeOf: (response: SheepResponse) => number,
  ): Promise<number | ClaimStep> {
    try {
      return codeOf(await this.#options.request(header));
    } catch (error) {
      if (error instanceof SheepReconnectedError) {
        return {
          kind: 'result',
          outcome: 'invalidated',
          code: SdRes.INODE_INVALIDATED,
          what: 'the pool (reconnected to sheep while this IO waited for an allocation claim; rejoining the VDI)',
        };
      }
      if (error instanceof SheepUnavailableError) return { kind: 'unavailable', error };
      throw error;
    }
  }

  /** Deletes the claims this IO holds but has sent no CREATE for (before it waits). */
  async #releaseUnsent(claims: IoClaims): Promise<void> {
    const unsent = [...claims.held].filter(([object]) => !claims.sent.has(object));
    for (const [object] of unsent) claims.held.delete(object);
    await Promise.all(unsent.map(([, held]) => this.#delete(keyOf(held), 'unsent')));
  }

  /** GET_VDI_ATTR(DEL); never resent, never throws (see the file comment). */
  async #delete(key: string, why: string): Promise<void> {
    const { pool, cache } = this.#options;
    try {
      const { header } = await pool.request(vdiAttrRequest(SdFlag.DEL), vdiAttrPayload(cache.vdiName, key), {
        resend: false,
      });
      if (header.result !== SdRes.SUCCESS && header.result !== SdRes.NO_OBJ) {
        this.#log('io.claim_left', { key, why, result: resultName(header.result) });
        return;
      }
      this.#log('io.claim_deleted', { key, why });
    } catch (error) {
      this.#log('io.claim_left', { key, why, error: (error as Error).message });
    }
  }

  #log(type: string, data: Record<string, unknown>): void {
    this.#options.eventLog.append(this.#options.actor, type, data);
  }
}

function keyOf(claim: ClaimedObject): string {
  return allocationClaimKey(claim.vid, claim.idx, claim.generation);
}

function padded(value: Buffer): Buffer {
  const bytes = Buffer.alloc(HOLDER_BYTES);
  value.copy(bytes, 0, 0, Math.min(value.length, HOLDER_BYTES));
  return bytes;
}

function holderText(holder: Buffer): string {
  const end = holder.indexOf(0);
  return holder.subarray(0, end === -1 ? holder.length : end).toString('utf8');
}

function failed(code: number, what: string): ClaimStep {
  return { kind: 'result', outcome: outcomeForResult(code), code, what };
}
