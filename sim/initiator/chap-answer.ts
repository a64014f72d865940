/**
 * CHAP, initiator side (RFC 7143 §12.1.3 on RFC 1994 §4.1): the answer to the target's challenge,
 * and, for mutual CHAP, our own challenge and the check of the target's answer.
 *
 * answer = hash(identifier byte || secret || challenge). Algorithms are the IANA "PPP
 * Authentication Algorithms" numbers iSCSI uses: 5 MD5, 6 SHA-1, 7 SHA-256, 8 SHA3-256. Binary
 * values travel as "0x" + hex; "0b" + base64 is read too. Written independently of the target's
 * chap.ts so a mistake there shows up as a failed login rather than as agreement.
 */
import { createHash } from 'node:crypto';
import type { Rng } from '../../src/core/rng.js';

const HASHES: ReadonlyMap<number, { readonly hash: string; readonly digestBytes: number }> = new Map([
  [5, { hash: 'md5', digestBytes: 16 }],
  [6, { hash: 'sha1', digestBytes: 20 }],
  [7, { hash: 'sha256', digestBytes: 32 }],
  [8, { hash: 'sha3-256', digestBytes: 32 }],
]);

/** RFC 7143 §12.1.3: a challenge is never shorter than 16 bytes. */
const CHALLENGE_BYTES_MIN = 16;

export function isChapAlgorithm(code: number): boolean {
  return HASHES.has(code);
}

export function chapAnswer(algorithm: number, identifier: number, secret: Buffer, challenge: Buffer): Buffer {
  const hash = HASHES.get(algorithm);
  if (hash === undefined) throw new RangeError(`CHAP algorithm ${algorithm} is not 5, 6, 7 or 8`);
  return createHash(hash.hash).update(Buffer.of(identifier)).update(secret).update(challenge).digest();
}

/** Bytes of a "0x" hex or "0b" base64 value; undefined for anything else. */
export function parseChapBinary(text: string): Buffer | undefined {
  const hex = /^0[xX]([0-9a-fA-F]+)$/.exec(text);
  if (hex) {
    const digits = hex[1]!;
    return Buffer.from(digits.length % 2 === 0 ? digits : `0${digits}`, 'hex');
  }
  const base64 = /^0[bB]([A-Za-z0-9+/]+={0,2})$/.exec(text);
  if (base64 && base64[1]!.length % 4 === 0) return Buffer.from(base64[1]!, 'base64');
  return undefined;
}

export function formatChapHex(bytes: Buffer): string {
  return `0x${bytes.toString('hex')}`;
}

/** Our mutual-CHAP challenge: identifier and bytes drawn from the Rng, as long as the digest. */
export function drawChapChallenge(rng: Rng, algorithm: number): { identifier: number; challenge: Buffer } {
  const digestBytes = HASHES.get(algorithm)?.digestBytes ?? CHALLENGE_BYTES_MIN;
  const challenge = Buffer.alloc(Math.max(CHALLENGE_BYTES_MIN, digestBytes));
  for (let at = 0; at < challenge.length; at += 4) {
    const word = rng.nextUint32();
    for (let shift = 0; shift < 4 && at + shift < challenge.length; shift++) {
      challenge[at + shift] = (word >>> (8 * shift)) & 0xff;
    }
  }
  return { identifier: rng.int(0, 256), challenge };
}
