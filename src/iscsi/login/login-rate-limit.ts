/**
 * Failed logins, counted per initiator name and per source address, so nobody can guess CHAP
 * secrets online or scan ACLs at the speed of the network. One LoginRateLimiter per target node,
 * shared by every connection's login (login-core.ts asks it; target-service.ts builds it).
 *
 * Rules (the numbers are LOGIN_RATE_LIMITS; docs/security.md repeats them):
 * - What counts: a CHAP proof that failed (wrong or undecodable CHAP_R, unknown CHAP user, a
 *   reflected challenge: chap.ts `wrongProof`) counts for the initiator name and for the address;
 *   an ACL refusal (0x0202) counts for the address only, so a host the ACL refuses cannot lock a
 *   legitimate initiator out by using its name. Mismatched settings (no common CHAP algorithm,
 *   AuthMethod=None against a CHAP target) do not count: they are not guesses.
 * - Blocking: once a name has nameFailuresMax failures (an address addressFailuresMax) it is
 *   blocked for blockFirstMs; every further failure while it is remembered blocks it again for
 *   twice as long as the block before, up to blockMaxMs. A blocked name or address gets 0x0201
 *   Authentication failure at once, before any CHAP is computed (login-core.ts asks at the first
 *   text and again before verifying a response, so parallel connections cannot run past a block
 *   that began meanwhile); a refusal is not itself a failure, so waiting out a block is enough.
 * - Forgetting: an entry with no failure for forgetAfterMs (and no block running) starts over; a
 *   successful login forgets its name and its address at once.
 * - Memory: each table (names, addresses) keeps at most trackedMax entries, least recently
 *   touched dropped first, so a spray of made-up names cannot grow memory. IPv6 addresses count
 *   per /64 (one host usually owns a whole /64); an IPv4-mapped IPv6 address is its IPv4 address.
 * - Logging: every refusal and every block that starts is one warn line, but at most one per
 *   name or address per logIntervalMs; the next line says how many refusals it left out.
 * - Time: only the injected Clock's now(); no timers (state is updated when it is read).
 */
import { isIP } from 'node:net';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { InitiatorIdentity } from './access.js';

/** What a login tells the limiter and asks it (login-core.ts); a LoginRateLimiter is one. */
export interface LoginAttempts {
  /** Undefined when this initiator may try to log in now; else why not (the refusal's reason). */
  refusal(who: InitiatorIdentity): string | undefined;
  /** A failed proof of a CHAP secret ('credentials') or an ACL refusal ('acl'). */
  failed(who: InitiatorIdentity, why: 'credentials' | 'acl'): void;
  /** A login reached full feature phase: its name and address start over. */
  succeeded(who: InitiatorIdentity): void;
}

export interface LoginRateLimits {
  /** Failures of one initiator name before it is blocked. */
  readonly nameFailuresMax: number;
  /** Failures from one address (IPv6: one /64) before it is blocked; several initiators may share one. */
  readonly addressFailuresMax: number;
  /** The first block; each later one doubles. */
  readonly blockFirstMs: number;
  readonly blockMaxMs: number;
  /** A name or address with no failure for this long starts over. */
  readonly forgetAfterMs: number;
  /** Names (and, separately, addresses) remembered at most. */
  readonly trackedMax: number;
  /** At most one log line per name or address per interval. */
  readonly logIntervalMs: number;
}

export const LOGIN_RATE_LIMITS: LoginRateLimits = {
  nameFailuresMax: 5,
  addressFailuresMax: 10,
  blockFirstMs: 5_000,
  blockMaxMs: 5 * 60_000,
  forgetAfterMs: 15 * 60_000,
  trackedMax: 4096,
  logIntervalMs: 60_000,
};

interface Entry {
  failures: number;
  /** Blocks so far; the next one lasts blockFirstMs * 2^blocks (at most blockMaxMs). */
  blocks: number;
  lastFailureMs: number;
  blockedUntilMs: number;
  /** When the last log line about this entry was written; -Infinity: never. */
  loggedAtMs: number;
  /** Refusals since that line, not logged. */
  refusalsUnlogged: number;
}

type Kind = 'name' | 'address';

export class LoginRateLimiter implements LoginAttempts {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #limits: LoginRateLimits;
  readonly #tables: Record<Kind, Map<string, Entry>> = { name: new Map(), address: new Map() };

  constructor(options: { clock: Clock; logger: Logger; limits?: Partial<LoginRateLimits> }) {
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#limits = { ...LOGIN_RATE_LIMITS, ...options.limits };
  }

  /** Names and addresses remembered now (tests: the tables stay bounded). */
  get trackedCount(): { readonly names: number; readonly addresses: number } {
    return { names: this.#tables.name.size, addresses: this.#tables.address.size };
  }

  refusal(who: InitiatorIdentity): string | undefined {
    const now = this.#clock.now();
    for (const kind of ['name', 'address'] as const) {
      const entry = this.#live(kind, keyOf(kind, who), now);
      if (entry === undefined || entry.blockedUntilMs <= now) continue;
      const reason = `${subject(kind, who)} is refused for another ${seconds(entry.blockedUntilMs - now)} s after ${entry.failures} failed logins (login rate limit, docs/security.md); fix the initiator's CHAP secret or the target's ACL, then wait`;
      const fields = { initiator: who.name, address: who.address, failures: entry.failures };
      if (!this.#log(entry, now, fields, `refused a login: ${reason}`)) entry.refusalsUnlogged += 1;
      return reason;
    }
    return undefined;
  }

  failed(who: InitiatorIdentity, why: 'credentials' | 'acl'): void {
    const now = this.#clock.now();
    const kinds: readonly Kind[] = why === 'credentials' ? ['name', 'address'] : ['address'];
    for (const kind of kinds) {
      const table = this.#tables[kind];
      const key = keyOf(kind, who);
      const entry = this.#live(kind, key, now) ?? freshEntry();
      table.delete(key);
      table.set(key, entry);
      if (table.size > this.#limits.trackedMax) table.delete(table.keys().next().value!);
      entry.failures += 1;
      entry.lastFailureMs = now;
      const failuresMax = kind === 'name' ? this.#limits.nameFailuresMax : this.#limits.addressFailuresMax;
      if (entry.failures < failuresMax) continue;
      const blockMs = Math.min(this.#limits.blockFirstMs * 2 ** entry.blocks, this.#limits.blockMaxMs);
      entry.blocks += 1;
      entry.blockedUntilMs = now + blockMs;
      this.#log(
        entry,
        now,
        { initiator: who.name, address: who.address, failures: entry.failures, blockedMs: blockMs },
        `${subject(kind, who)} is blocked for ${seconds(blockMs)} s after ${entry.failures} failed logins (${kind === 'name' ? 'wrong CHAP proofs' : 'wrong CHAP proofs and ACL refusals'}); its logins are refused until then: check the initiator's CHAP secret and the target's ACL`,
      );
    }
  }

  succeeded(who: InitiatorIdentity): void {
    this.#tables.name.delete(keyOf('name', who));
    this.#tables.address.delete(keyOf('address', who));
  }

  /** The entry, or undefined when there is none or it has been forgotten (then it is dropped). */
  #live(kind: Kind, key: string, now: number): Entry | undefined {
    const table = this.#tables[kind];
    const entry = table.get(key);
    if (entry === undefined) return undefined;
    if (entry.blockedUntilMs <= now && now - entry.lastFailureMs >= this.#limits.forgetAfterMs) {
      table.delete(key);
      return undefined;
    }
    return entry;
  }

  /** One warn line unless this entry had one less than logIntervalMs ago; true when written. */
  #log(entry: Entry, now: number, fields: Record<string, unknown>, message: string): boolean {
    if (now - entry.loggedAtMs < this.#limits.logIntervalMs) return false;
    const unlogged = entry.refusalsUnlogged;
    this.#logger.warn(unlogged === 0 ? fields : { ...fields, refusalsNotLogged: unlogged }, message);
    entry.loggedAtMs = now;
    entry.refusalsUnlogged = 0;
    return true;
  }
}

function freshEntry(): Entry {
  return {
    failures: 0,
    blocks: 0,
    lastFailureMs: 0,
    blockedUntilMs: Number.NEGATIVE_INFINITY,
    loggedAtMs: Number.NEGATIVE_INFINITY,
    refusalsUnlogged: 0,
  };
}

function subject(kind: Kind, who: InitiatorIdentity): string {
  return kind === 'name' ? `initiator "${who.name}"` : `address ${addressKey(who.address)}`;
}

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function keyOf(kind: Kind, who: InitiatorIdentity): string {
  // iSCSI names compare case-insensitively (text-values.ts sameIscsiName).
  return kind === 'name' ? who.name.toLowerCase() : addressKey(who.address);
}

/**
 * The address as the limiter counts it: IPv4 as is (also when IPv4-mapped), IPv6 as its /64
 * ("2001:db8:0:7::/64"), anything else (not an IP address) as given.
 */
export function addressKey(address: string): string {
  const unzoned = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(unzoned);
  if (mapped) return mapped[1]!;
  if (isIP(unzoned) !== 6) return address;
  const groups = ipv6Groups(unzoned);
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (with "::" and a trailing dotted quad). */
function ipv6Groups(address: string): number[] {
  const toGroups = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').flatMap((piece) => {
      if (!piece.includes('.')) return [Number.parseInt(piece, 16)];
      const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number];
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const gap = address.indexOf('::');
  if (gap === -1) return toGroups(address);
  const head = toGroups(address.slice(0, gap));
  const tail = toGroups(address.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}
