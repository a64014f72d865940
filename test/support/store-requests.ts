/**
 * Requests a test sends to the embedded store, built with the codec's builders as tgt and dog
 * build them, each sent and answered in virtual time (store-world.ts).
 */
import { expect } from 'vitest';
import type { SheepConnection } from '../../src/sheepdog/sheep-connection.js';
import {
  LockType,
  SD_INODE_DATA_END,
  SD_INODE_HEADER_SIZE,
  SdFlag,
  SdOp,
  SdRes,
} from '../../src/sheepdog/wire/constants.js';
import { objRequest, vdiRequest } from '../../src/sheepdog/wire/header.js';
import { vidToVdiOid } from '../../src/sheepdog/wire/oid.js';
import type { StoreWorld } from './store-world.js';

export function names(name: string, tag?: string): Buffer {
  const bytes = Buffer.alloc(tag === undefined ? 256 : 512);
  bytes.write(name, 0);
  if (tag !== undefined) bytes.write(tag, 256);
  return bytes;
}

export async function call(
  world: StoreWorld,
  conn: SheepConnection,
  header: Parameters<SheepConnection['request']>[0],
  payload?: Buffer,
) {
  return world.settle(conn.request(header, payload));
}

export async function createVdi(
  world: StoreWorld,
  conn: SheepConnection,
  name: string,
  sizeBytes = 1n << 30n,
) {
  const response = await call(
    world,
    conn,
    vdiRequest({ opcode: SdOp.NEW_VDI, flags: SdFlag.WRITE, dataLength: 256, vdiSize: sizeBytes }),
    names(name),
  );
  expect(response.header.result).toBe(SdRes.SUCCESS);
  return response.header.args.kind === 'vdi' ? response.header.args.vdiId : -1;
}

export function lockShared(world: StoreWorld, conn: SheepConnection, name: string) {
  return call(
    world,
    conn,
    vdiRequest({ opcode: SdOp.LOCK_VDI, flags: SdFlag.WRITE, dataLength: 512, type: LockType.SHARED }),
    names(name, ''),
  );
}

export function refreshRead(world: StoreWorld, conn: SheepConnection, vid: number) {
  return call(
    world,
    conn,
    objRequest({
      opcode: SdOp.READ_OBJ,
      flags: SdFlag.TGT,
      oid: vidToVdiOid(vid),
      dataLength: SD_INODE_DATA_END,
    }),
  );
}

export function tgtRead(world: StoreWorld, conn: SheepConnection, oid: bigint, length: number, offset = 0) {
  return call(
    world,
    conn,
    objRequest({ opcode: SdOp.READ_OBJ, flags: SdFlag.TGT, oid, offset, dataLength: length }),
  );
}

export function tgtCreate(
  world: StoreWorld,
  conn: SheepConnection,
  oid: bigint,
  data: Buffer,
  extra: { offset?: number; cowOid?: bigint; flags?: number } = {},
) {
  return call(
    world,
    conn,
    objRequest({
      opcode: SdOp.CREATE_AND_WRITE_OBJ,
      flags: SdFlag.WRITE | SdFlag.CACHE | SdFlag.TGT | (extra.flags ?? 0),
      oid,
      cowOid: extra.cowOid ?? 0n,
      offset: extra.offset ?? 0,
      dataLength: data.length,
    }),
    data,
  );
}

export function tgtInodeUpdate(
  world: StoreWorld,
  conn: SheepConnection,
  vid: number,
  idx: number,
  value: number,
  flags: number = SdFlag.TGT,
) {
  const entry = Buffer.alloc(4);
  entry.writeUInt32LE(value);
  return call(
    world,
    conn,
    objRequest({
      opcode: SdOp.WRITE_OBJ,
      flags: SdFlag.WRITE | flags,
      oid: vidToVdiOid(vid),
      offset: SD_INODE_HEADER_SIZE + 4 * idx,
      dataLength: 4,
    }),
    entry,
  );
}

export function participants(world: StoreWorld, vid: number) {
  return Object.fromEntries(world.store.locks.view(vid).participants.map((p) => [p.node, p.state]));
}
