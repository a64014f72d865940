/**
 * What the store behind a connection guarantees past sheep 1.0, asked with COLLIE_FEATURES
 * (0xf0, Collie's own internal opcode, proto_ver 0x0a, data_length 8). Collie's store answers
 * SUCCESS with 8 bytes whose first u32 (LE) holds CollieFeature bits; sheep 1.0 does not know the
 * opcode and answers INVALID_PARMS. Any answer other than SUCCESS counts as "no features", so a
 * client only relies on a rule the store said it keeps. Connection failures are not answers:
 * they reject as the connection or pool reports them.
 */
import type { SheepRequestHeader, SheepResponse } from './sheep-connection.js';
import { CollieFeature, SD_SHEEP_PROTO_VER, SdOp, SdRes } from './wire/constants.js';
import { plainRequest } from './wire/header.js';

/** The answer's length: the feature word and 4 reserved bytes. */
export const COLLIE_FEATURES_BYTES = 8;

/** What sends one request: a SheepConnection or a SheepPool. */
export interface SheepRequester {
  request(header: SheepRequestHeader, payload?: Buffer): Promise<SheepResponse>;
}

export function collieFeaturesRequest(): SheepRequestHeader {
  return plainRequest({
    opcode: SdOp.COLLIE_FEATURES,
    protoVer: SD_SHEEP_PROTO_VER,
    dataLength: COLLIE_FEATURES_BYTES,
  });
}

/** The feature bits an answer carries: 0 unless SUCCESS with at least the 4-byte feature word. */
export function featuresOf(response: SheepResponse): number {
  if (response.header.result !== SdRes.SUCCESS || response.payload.length < 4) return 0;
  return response.payload.readUInt32LE(0);
}

/** The store's CollieFeature bits (0 for sheep 1.0). */
export async function collieFeatures(conn: SheepRequester): Promise<number> {
  return featuresOf(await conn.request(collieFeaturesRequest()));
}

/**
 * True when a data_vdi_id write from a client that is no participant (or sends no TGT flag)
 * invalidates every participant there, so a lock-less writer leaves no target stale.
 */
export async function storeInvalidatesLocklessWriters(conn: SheepRequester): Promise<boolean> {
  return ((await collieFeatures(conn)) & CollieFeature.LOCKLESS_WRITERS_INVALIDATE) !== 0;
}

/**
 * True when a CREATE of an object that exists writes the request's range into it (Collie's
 * store). False (sheep 1.0) means a second CREATE replaces the object: a client that shares a VDI
 * with other writers must make sure only one of them creates each object (allocation claims,
 * src/sheepdog/client/allocation-claims.ts).
 */
export function createsNeverReplace(features: number): boolean {
  return (features & CollieFeature.CREATE_NEVER_REPLACES) !== 0;
}

/** True when a LOCK_VDI / RELEASE_VDI carrying a client id is honoured (Collie's store). */
export function honoursLockClientIds(features: number): boolean {
  return (features & CollieFeature.LOCK_CLIENT_IDS) !== 0;
}
