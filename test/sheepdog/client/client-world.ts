/**
 * Test support for the sheepdog block backend: the store world (the real embedded store on the
 * memory network, virtual clock) plus helpers to open backends ("targets") from named hosts,
 * run dog-like admin operations, and add scripted endpoints: extra store nodes whose answers a
 * test can rewrite or delay (to force INODE_INVALIDATED at a chosen moment, reorder responses,
 * or answer FLUSH_VDI as sheep 1.0 does).
 */
import { silentLogger } from '../../../src/core/logger.js';
import { createRng } from '../../../src/core/rng.js';
import type { SnapshotSelector } from '../../../src/sheepdog/client/inode-cache.js';
import { LocklessVdi } from '../../../src/sheepdog/client/lockless-vdi.js';
import {
  SheepdogBackend,
  type SheepdogBackendOptions,
} from '../../../src/sheepdog/client/sheepdog-backend.js';
import { newVdi, snapshotVdi } from '../../../src/sheepdog/sheep-admin.js';
import type { SheepConnection } from '../../../src/sheepdog/sheep-connection.js';
import {
  SD_INODE_DATA_END,
  SD_INODE_HEADER_SIZE,
  SdFlag,
  SdOp,
  SdRes,
} from '../../../src/sheepdog/wire/constants.js';
import { SheepFramer } from '../../../src/sheepdog/wire/framer.js';
import {
  decodeRequestHeader,
  encodeResponseHeader,
  type RequestHeader,
  responseFor,
} from '../../../src/sheepdog/wire/header.js';
import { isVdiOid } from '../../../src/sheepdog/wire/oid.js';
import type { Reply, StoreNode } from '../../../src/store/sheep-server.js';
import type { StoreCompat } from '../../../src/store/store-rules.js';
import type { ByteStream } from '../../../transports/transport.js';
import { STORE_HOST, type StoreWorld, storeWorld } from '../../support/store-world.js';

export { STORE_HOST };
export const MiB = 1024 * 1024;
export const OBJECT_BYTES = 4 * MiB;

export interface ClientWorld extends StoreWorld {
  admin: SheepConnection;
  /** Opens a backend from `host` to the store endpoint at `port`. */
  open(
    host: string,
    port: number,
    options?: SheepdogBackendOptions,
    vdiName?: string,
  ): Promise<SheepdogBackend>;
  /** A lock-less client (collie vdi read/write) from `host` to the store endpoint at `port`. */
  openLockless(
    host: string,
    port: number,
    options?: { vdiName?: string; snapshot?: SnapshotSelector },
  ): Promise<LocklessVdi>;
  /** dog vdi create. */
  createVdi(name: string, sizeBytes?: number): Promise<number>;
  /** dog vdi snapshot -s tag: returns the old (snapshot) and new (working) vid. */
  snapshot(name: string, tag: string): Promise<{ snapshotVid: number; workingVid: number }>;
  /** Node key of a store port, as the lock table names participants. */
  node(port: number): string;
  /** Event log entries of one type (and actor prefix), oldest first. */
  eventsOf(type: string, actorPrefix?: string): Array<{ actor: string; data: Record<string, unknown> }>;
}

/**
 * `sheep10`: a snapshot invalidates nobody, as in sheep 1.0 (the other rules stay Collie's).
 * `compat: 'sheep-1.0'`: the store keeps none of the rules past sheep 1.0 (store-rules.ts): a
 * second CREATE replaces the object, COLLIE_FEATURES is unknown, client ids are ignored, ...
 */
export async function clientWorld(
  options: { ports?: number[]; seed?: number; sheep10?: boolean; compat?: StoreCompat } = {},
): Promise<ClientWorld> {
  const world = await storeWorld({
    ports: options.ports ?? [7000, 7001],
    seed: options.seed,
    snapshotInvalidates: options.sheep10 ? false : undefined,
    compat: options.compat,
  });
  const admin = await world.connect('admin', 7000);
  return {
    ...world,
    admin,
    open: (host, port, backendOptions, vdiName = 'vol') =>
      world.settle(
        SheepdogBackend.open({
          transport: world.network.transport(host),
          endpoint: { host: STORE_HOST, port },
          vdiName,
          clock: world.clock,
          rng: createRng(`backend/${host}`),
          eventLog: world.eventLog,
          logger: silentLogger,
          options: backendOptions,
        }),
      ),
    openLockless: (host, port, lockless = {}) =>
      world.settle(
        LocklessVdi.open({
          transport: world.network.transport(host),
          endpoint: { host: STORE_HOST, port },
          vdiName: lockless.vdiName ?? 'vol',
          snapshot: lockless.snapshot,
          clock: world.clock,
          rng: createRng(`lockless/${host}`),
          eventLog: world.eventLog,
          ioEvents: true,
        }),
      ),
    createVdi: async (name, sizeBytes = 64 * MiB) =>
      (await world.settle(newVdi(admin, { name, sizeBytes }))).vid,
    snapshot: (name, tag) => world.settle(snapshotVdi(admin, { name, tag })),
    node: (port) => `${STORE_HOST}:${port}`,
    eventsOf: (type, actorPrefix = '') =>
      world.events
        .toArray()
        .filter((event) => event.type === type && event.actor.startsWith(actorPrefix))
        .map((event) => ({ actor: event.actor, data: event.data as Record<string, unknown> })),
  };
}

/** Answers one request; by default the real store does. `streamId` is the server end's stream. */
export type Answer = (
  request: RequestHeader,
  payload: Buffer | undefined,
  node: StoreNode,
  streamId: string,
) => Promise<Reply>;

/**
 * Answers as sheep 1.0 does where Collie's store goes further for clients: COLLIE_FEATURES is an
 * unknown opcode (INVALID_PARMS), and LOCK_VDI / RELEASE_VDI ignore the client id in vdi_size.
 */
export function sheep10Answer(world: StoreWorld): Answer {
  return (request, payload, node) => {
    if (request.opcode === SdOp.COLLIE_FEATURES) {
      return Promise.resolve({ header: responseFor(request, SdRes.INVALID_PARMS, { epoch: 1 }) });
    }
    const locking = request.opcode === SdOp.LOCK_VDI || request.opcode === SdOp.RELEASE_VDI;
    if (locking && request.args.kind === 'vdi') {
      const withoutId: RequestHeader = { ...request, args: { ...request.args, vdiSize: 0n } };
      return world.store.server.handle(withoutId, payload, node);
    }
    return world.store.server.handle(request, payload, node);
  };
}

/** The client host of a server-side stream id (while the stream is open). */
export function clientHostOf(world: StoreWorld, streamId: string): string | undefined {
  return world.network.streams().find((s) => s.serverId === streamId || s.id === streamId)?.client.host;
}

export interface ScriptedEndpoint {
  readonly node: StoreNode;
  /** Request ids in the order their answers were written. */
  readonly answeredIds: number[];
  /** Request ids in arrival order. */
  readonly arrivedIds: number[];
  /** For each arrived request, the id of the stream it came on. */
  readonly arrivedStreams: string[];
  /** Stops listening (connections stay until reset). */
  close(): Promise<void>;
}

/**
 * One more store node at `port` that serves through `answer` (default: the store itself) and
 * writes each answer after `delayMs(request)` virtual milliseconds, so answers can overtake each
 * other as sheep's do.
 */
export async function scriptedEndpoint(
  world: StoreWorld,
  port: number,
  script: {
    answer?: Answer;
    delayMs?: (request: RequestHeader) => number;
    /** Listen on this host instead of STORE_HOST (an IP literal, for GET_VDI_COPIES' node ids). */
    host?: string;
  } = {},
): Promise<ScriptedEndpoint> {
  const address = { host: script.host ?? STORE_HOST, port };
  const node: StoreNode = { key: `${address.host}:${port}`, endpoint: address };
  const answer: Answer =
    script.answer ?? ((request, payload, at) => world.store.server.handle(request, payload, at));
  const arrivedIds: number[] = [];
  const arrivedStreams: string[] = [];
  const answeredIds: number[] = [];
  const serve = (stream: ByteStream) => {
    const framer = new SheepFramer({ side: 'request', payloadBytesMax: 64 * MiB });
    let closed = false;
    stream.attach({
      data: (chunk) => {
        framer.push(chunk);
        for (let frame = framer.next(); frame; frame = framer.next()) {
          if (frame.kind !== 'message') continue;
          const request = decodeRequestHeader(frame.header);
          arrivedIds.push(request.id);
          arrivedStreams.push(stream.id);
          void answer(request, frame.payload, node, stream.id).then((reply) => {
            world.clock.setTimeout(() => {
              if (closed) return;
              answeredIds.push(request.id);
              const header = encodeResponseHeader(reply.header);
              stream.write(reply.payload ? Buffer.concat([header, reply.payload]) : header);
            }, script.delayMs?.(request) ?? 0);
          });
        }
      },
      close: () => {
        closed = true;
      },
    });
  };
  const listener = await world.settle(world.network.transport(address.host).listen(address, serve));
  return { node, answeredIds, arrivedIds, arrivedStreams, close: () => listener.close() };
}

/** A WRITE_OBJ into data_vdi_id[] of an inode: the inode update. */
export function isInodeUpdate(request: RequestHeader): boolean {
  if (request.opcode !== SdOp.WRITE_OBJ || request.args.kind !== 'obj') return false;
  const { oid, offset } = request.args;
  return isVdiOid(oid) && offset >= SD_INODE_HEADER_SIZE && offset + request.dataLength <= SD_INODE_DATA_END;
}

/** A TGT-flagged object request (what the coherence check applies to). */
export function isTgtObjectIo(request: RequestHeader): boolean {
  return request.args.kind === 'obj' && (request.flags & SdFlag.TGT) !== 0;
}

/** `lengthBytes` bytes: a 512-byte block pattern naming `tag` and the block's offset. */
export function pattern(tag: number, offsetBytes: number, lengthBytes: number): Buffer {
  const bytes = Buffer.alloc(lengthBytes);
  for (let block = 0; block < lengthBytes / 512; block++) {
    bytes.fill(tag & 0xff, block * 512, (block + 1) * 512);
    bytes.writeUInt32LE(tag, block * 512);
    bytes.writeUInt32LE((offsetBytes + block * 512) / 512, block * 512 + 4);
  }
  return bytes;
}

/**
 * Where two byte strings first differ (-1 when equal). Deep equality on megabyte Buffers is slow
 * in the test runner; this is a memcmp plus a scan to report a useful offset.
 */
export function firstDifference(actual: Buffer, expected: Buffer): number {
  if (actual.length === expected.length && actual.equals(expected)) return -1;
  const length = Math.min(actual.length, expected.length);
  for (let offset = 0; offset < length; offset++) if (actual[offset] !== expected[offset]) return offset;
  return length;
}
