/**
 * CHAP, target side (RFC 7143 §12.1.3 on RFC 1994), one-way and mutual.
 *
 * The exchange, after AuthMethod=CHAP was agreed:
 *   I -> T  CHAP_A=<list of algorithms>
 *   T -> I  CHAP_A=<chosen> CHAP_I=<identifier> CHAP_C=<challenge>        (startChap)
 *   I -> T  CHAP_N=<user> CHAP_R=<response> [CHAP_I=<id> CHAP_C=<chal>]   (verifyChap)
 *   T -> I  [CHAP_N=<target user> CHAP_R=<target response>]   only for mutual CHAP
 * where response = hash(identifier byte || secret || challenge) (RFC 1994 §4.1).
 *
 * Rules:
 * - Algorithms are IANA "PPP Authentication Algorithms" numbers: 5 MD5, 6 SHA-1, 7 SHA-256,
 *   8 SHA3-256 (open-iscsi and the Linux target use the same; tgt's SHA-1 is 7, which is not
 *   IANA's). The target picks the first one in the initiator's list that it allows.
 * - The identifier and the challenge are fresh per login and come from an injected
 *   ChallengeSource: real runs give crypto.randomBytes (src/core/real-entropy.ts), because a
 *   challenge an attacker can predict lets it collect the answer ahead of time by posing as the
 *   target; the simulator gives its seeded Rng (rngChallengeSource) so a seed replays the login.
 *   The challenge is as long as the digest and never shorter than 16 bytes (MD5 16, SHA-1 20,
 *   SHA-256/SHA3-256 32). It is sent as "0x" + hex, the form every initiator reads; CHAP_R and
 *   CHAP_C are accepted in hex ("0x") or base64 ("0b"), at most 1024 bytes.
 * - The initiator is verified before the target answers a mutual challenge, a mutual challenge
 *   equal to the target's own is refused (a reflection attack, §12.1.3), and responses are
 *   compared in constant time (timingSafeEqual over equal-length digests; an unknown user is
 *   checked against a dummy secret, so the time taken does not tell which users exist).
 * - Secrets: at least 12 bytes (96 bits, RFC 7143 §9.2.1 when IPsec is not used), and the secret
 *   that authenticates the target must differ from every initiator secret (§9.2.1). A target
 *   configured otherwise answers 0x0300 Target error, naming the fix.
 * - Failures are 0x0201 Authentication failure (0x0207 when a key is missing); the reason names
 *   the user and what was wrong, never a secret, challenge or response. `wrongProof` marks the
 *   failures where the initiator tried to prove a secret and did not (what the login rate limit
 *   counts, login-rate-limit.ts), as opposed to a mismatch of configuration.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Rng } from '../../core/rng.js';
import { type LoginFailure, loginFailure } from './status.js';
import { decodeBinary, encodeHex, parseList, parseNumberInRange } from './text-values.js';

export type ChapAlgorithmName = 'MD5' | 'SHA-1' | 'SHA-256' | 'SHA3-256';

export interface ChapAlgorithm {
  /** CHAP_A value. */
  readonly code: number;
  readonly name: ChapAlgorithmName;
  /** node:crypto hash name. */
  readonly hash: string;
  readonly digestBytes: number;
}

export const CHAP_ALGORITHMS: readonly ChapAlgorithm[] = [
  { code: 5, name: 'MD5', hash: 'md5', digestBytes: 16 },
  { code: 6, name: 'SHA-1', hash: 'sha1', digestBytes: 20 },
  { code: 7, name: 'SHA-256', hash: 'sha256', digestBytes: 32 },
  { code: 8, name: 'SHA3-256', hash: 'sha3-256', digestBytes: 32 },
];

export const CHAP_SECRET_BYTES_MIN = 12;
export const CHAP_CHALLENGE_BYTES_MIN = 16;
export const CHAP_BINARY_BYTES_MAX = 1024;
/** Hashed in place of the secret of a user that does not exist (the login fails either way). */
const UNKNOWN_USER_SECRET = new Uint8Array(16);

export interface ChapAccount {
  readonly user: string;
  readonly secret: Uint8Array;
}

export interface ChapSecrets {
  /** Accounts an initiator may log in as (its CHAP_N and secret). */
  readonly incoming: readonly ChapAccount[];
  /** The target's own account, for mutual CHAP; without it a mutual request fails. */
  readonly outgoing?: ChapAccount;
  /** Algorithms the target allows; all four when absent. */
  readonly algorithms?: readonly ChapAlgorithmName[];
}

/**
 * Unpredictable bytes for identifiers and challenges. Real runs: realEntropy
 * (src/core/real-entropy.ts, crypto.randomBytes); the simulator and tests: rngChallengeSource.
 */
export interface ChallengeSource {
  /** `count` fresh bytes. */
  bytes(count: number): Uint8Array;
}

/**
 * Challenges from a seeded Rng, four bytes per draw (little-endian), so a seed replays them. Not
 * for real runs: a seeded generator's output can be predicted (its seed is guessable).
 */
export function rngChallengeSource(rng: Rng): ChallengeSource {
  return { bytes: (count) => drawBytes(rng, count) };
}

/** A CHAP account from text (the secret is its UTF-8 bytes, as initiators use it). */
export function chapAccount(user: string, secret: string): ChapAccount {
  return { user, secret: Buffer.from(secret, 'utf8') };
}

/** The target's half of one exchange, kept between startChap and verifyChap. */
export interface ChapChallenge {
  readonly algorithm: ChapAlgorithm;
  readonly identifier: number;
  readonly challenge: Uint8Array;
}

export type ChapStartResult =
  | { readonly ok: true; readonly reply: Array<[string, string]>; readonly challenge: ChapChallenge }
  | { readonly ok: false; readonly failure: LoginFailure };

export type ChapVerifyResult =
  | {
      readonly ok: true;
      readonly user: string;
      readonly mutual: boolean;
      /** CHAP_N and CHAP_R of the target for mutual CHAP; empty for one-way. */
      readonly reply: Array<[string, string]>;
    }
  | {
      readonly ok: false;
      readonly failure: LoginFailure;
      /** The initiator failed to prove a secret (or reflected ours), rather than mismatched settings. */
      readonly wrongProof: boolean;
    };

/** What the initiator sent with its response: CHAP_N, CHAP_R and, for mutual, CHAP_I, CHAP_C. */
export interface ChapResponseKeys {
  readonly name?: string;
  readonly response?: string;
  readonly identifier?: string;
  readonly challenge?: string;
}

/** RFC 1994 §4.1: hash(identifier || secret || challenge). */
export function chapResponse(
  algorithm: ChapAlgorithm,
  identifier: number,
  secret: Uint8Array,
  challenge: Uint8Array,
): Buffer {
  return createHash(algorithm.hash)
    .update(Uint8Array.of(identifier))
    .update(secret)
    .update(challenge)
    .digest();
}

/** Problems with a CHAP configuration, each naming the fix; empty when it is usable. */
export function validateChapSecrets(secrets: ChapSecrets): string[] {
  const problems: string[] = [];
  if (secrets.incoming.length === 0) problems.push('no incoming CHAP account is configured; add one');
  for (const account of secrets.incoming) {
    if (account.secret.length < CHAP_SECRET_BYTES_MIN) {
      problems.push(
        `the CHAP secret of user "${account.user}" has ${account.secret.length} bytes; RFC 7143 §9.2.1 asks for at least ${CHAP_SECRET_BYTES_MIN} (96 bits): configure a longer one`,
      );
    }
  }
  const outgoing = secrets.outgoing;
  if (outgoing !== undefined) {
    if (outgoing.secret.length < CHAP_SECRET_BYTES_MIN) {
      problems.push(
        `the target's mutual CHAP secret (user "${outgoing.user}") has ${outgoing.secret.length} bytes; configure at least ${CHAP_SECRET_BYTES_MIN}`,
      );
    }
    if (secrets.incoming.some((account) => Buffer.from(account.secret).equals(outgoing.secret))) {
      problems.push(
        `the target's mutual CHAP secret equals an initiator's secret; RFC 7143 §9.2.1 forbids reusing one secret for both directions: configure different secrets`,
      );
    }
  }
  for (const name of secrets.algorithms ?? []) {
    if (!CHAP_ALGORITHMS.some((algorithm) => algorithm.name === name)) {
      problems.push(`unknown CHAP algorithm "${name}"; use MD5, SHA-1, SHA-256 or SHA3-256`);
    }
  }
  return problems;
}

export function startChap(options: {
  /** The value of the initiator's CHAP_A. */
  readonly offered: string;
  readonly challenges: ChallengeSource;
  readonly secrets: ChapSecrets;
}): ChapStartResult {
  const problems = validateChapSecrets(options.secrets);
  if (problems.length > 0) {
    return {
      ok: false,
      failure: loginFailure('TARGET_ERROR', `CHAP is misconfigured: ${problems.join('; ')}`),
    };
  }
  const allowed = options.secrets.algorithms ?? CHAP_ALGORITHMS.map((algorithm) => algorithm.name);
  const algorithm = parseList(options.offered)
    ?.map((code) => CHAP_ALGORITHMS.find((candidate) => String(candidate.code) === code))
    .find((candidate) => candidate !== undefined && allowed.includes(candidate.name));
  if (algorithm === undefined) {
    const codes = CHAP_ALGORITHMS.filter((candidate) => allowed.includes(candidate.name))
      .map((candidate) => `${candidate.code} (${candidate.name})`)
      .join(', ');
    return {
      ok: false,
      failure: loginFailure(
        'AUTHENTICATION_FAILURE',
        `the initiator offered CHAP_A=${options.offered}; this target allows ${codes}: enable one of them on the initiator`,
      ),
    };
  }
  const identifier = options.challenges.bytes(1)[0]!;
  const challenge = options.challenges.bytes(Math.max(CHAP_CHALLENGE_BYTES_MIN, algorithm.digestBytes));
  return {
    ok: true,
    reply: [
      ['CHAP_A', String(algorithm.code)],
      ['CHAP_I', String(identifier)],
      ['CHAP_C', encodeHex(challenge)],
    ],
    challenge: { algorithm, identifier, challenge },
  };
}

export function verifyChap(
  sent: ChapChallenge,
  keys: ChapResponseKeys,
  secrets: ChapSecrets,
): ChapVerifyResult {
  if (keys.name === undefined || keys.response === undefined) {
    const missing = keys.name === undefined ? 'CHAP_N' : 'CHAP_R';
    return fail(
      'MISSING_PARAMETER',
      `${missing} is missing; answer the CHAP challenge with CHAP_N and CHAP_R`,
      false,
    );
  }
  const wantsMutual = keys.identifier !== undefined || keys.challenge !== undefined;
  if (wantsMutual && (keys.identifier === undefined || keys.challenge === undefined)) {
    const missing = keys.identifier === undefined ? 'CHAP_I' : 'CHAP_C';
    return fail(
      'MISSING_PARAMETER',
      `${missing} is missing; mutual CHAP needs both CHAP_I and CHAP_C`,
      false,
    );
  }
  const user = keys.name;
  const response = decodeBinary(keys.response);
  if (response === undefined) {
    return fail(
      'AUTHENTICATION_FAILURE',
      `CHAP_R of user "${user}" is not a hex (0x...) or base64 (0b...) value`,
      true,
    );
  }
  const account = secrets.incoming.find((candidate) => candidate.user === user);
  // An unknown user costs the same hash and compare as a known one (against a secret nobody has).
  const expected = chapResponse(
    sent.algorithm,
    sent.identifier,
    account?.secret ?? UNKNOWN_USER_SECRET,
    sent.challenge,
  );
  // The length is public (it is the digest size); only equal-length buffers reach the compare.
  const matches = response.length === expected.length && timingSafeEqual(response, expected);
  if (account === undefined) {
    return fail('AUTHENTICATION_FAILURE', `CHAP user "${user}" is not configured on this target`, true);
  }
  if (!matches) {
    return fail(
      'AUTHENTICATION_FAILURE',
      `CHAP_R of user "${user}" does not match (${sent.algorithm.name}); the initiator's secret differs from the target's`,
      true,
    );
  }
  if (!wantsMutual) return { ok: true, user, mutual: false, reply: [] };
  return answerMutual(sent, user, keys.identifier!, keys.challenge!, secrets);
}

function answerMutual(
  sent: ChapChallenge,
  user: string,
  identifierText: string,
  challengeText: string,
  secrets: ChapSecrets,
): ChapVerifyResult {
  const outgoing = secrets.outgoing;
  if (outgoing === undefined) {
    return fail(
      'AUTHENTICATION_FAILURE',
      `user "${user}" asked for mutual CHAP but the target has no mutual CHAP account; configure one or turn mutual CHAP off on the initiator`,
      false,
    );
  }
  const identifier = parseNumberInRange(identifierText, { min: 0, max: 255 });
  if (!('value' in identifier)) {
    return fail('AUTHENTICATION_FAILURE', `CHAP_I from user "${user}" is not a number from 0 to 255`, false);
  }
  const challenge = decodeBinary(challengeText);
  if (challenge === undefined || challenge.length === 0 || challenge.length > CHAP_BINARY_BYTES_MAX) {
    return fail(
      'AUTHENTICATION_FAILURE',
      `CHAP_C from user "${user}" is not a hex or base64 value of 1 to ${CHAP_BINARY_BYTES_MAX} bytes`,
      false,
    );
  }
  if (Buffer.from(sent.challenge).equals(challenge)) {
    return fail(
      'AUTHENTICATION_FAILURE',
      `user "${user}" sent back the target's own challenge as CHAP_C (a reflection attack, RFC 7143 §12.1.3); the initiator must generate its own`,
      true,
    );
  }
  const answer = chapResponse(sent.algorithm, identifier.value, outgoing.secret, challenge);
  return {
    ok: true,
    user,
    mutual: true,
    reply: [
      ['CHAP_N', outgoing.user],
      ['CHAP_R', encodeHex(answer)],
    ],
  };
}

function fail(
  status: 'AUTHENTICATION_FAILURE' | 'MISSING_PARAMETER',
  reason: string,
  wrongProof: boolean,
): ChapVerifyResult {
  return { ok: false, failure: loginFailure(status, reason), wrongProof };
}

/** `count` bytes drawn from the Rng, four per draw (little-endian), so a seed replays them. */
function drawBytes(rng: Rng, count: number): Uint8Array {
  const bytes = new Uint8Array(count);
  for (let at = 0; at < count; at += 4) {
    const word = rng.nextUint32();
    for (let shift = 0; shift < 4 && at + shift < count; shift++)
      bytes[at + shift] = (word >>> (8 * shift)) & 0xff;
  }
  return bytes;
}
