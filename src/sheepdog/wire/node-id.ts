/**
 * `struct node_id` (40 bytes, section 7): how sheep names a node (lock owners, participants).
 *   addr[16]@0 port u16@16 io_addr[16]@18 io_port u16@34 pad[4]@36
 *
 * Address rule (verified on the wire): an IPv4 address is stored as 12 zero bytes followed by
 * its 4 bytes, which is *not* the ::ffff: mapped form; an IPv6 address is its 16 bytes. So
 * decoding treats "first 12 bytes zero" as IPv4 (as sheep's own printer does), and "::1"
 * therefore reads back as "0.0.0.1": that ambiguity is sheep's, not ours.
 *
 * Normalisation: Node reports IPv4 peers on dual-stack sockets as "::ffff:a.b.c.d"; encoding
 * stores those as plain IPv4, so the same endpoint gets the same node_id however it was seen.
 * IPv6 zone ids ("%eth0") are dropped (node_id has no room for them).
 *
 * `struct sd_node` (80 bytes each in a GET_NODE_LIST answer, sheep v0.8+ on x86-64):
 *   rb (struct rb_node: three pointers, 24 bytes)@0 nid (node_id)@24 nr_vnodes u16@64 (pad 2)
 *   zone u32@68 space u64@72
 * Layout read from sheepdog's include/internal_proto.h (v1.0 era, SD_NODE_SIZE 80) and
 * include/rbtree.h; v0.7 had no rb member and was 56 bytes. sheep sends its in-memory rb
 * pointers, which mean nothing to a peer: decoding ignores them and encoding writes zeros.
 */

// Only the pure literal validators of node:net; the codec opens no sockets.
import { isIPv4, isIPv6 } from 'node:net';
import { assert } from '../../core/assert.js';
import { SD_NODE_ID_SIZE, SD_NODE_SIZE } from './constants.js';
import { type DecodeResult, decoded, decodeFailed, shortBuffer } from './errors.js';
import { WireReader } from './reader.js';
import { FixedWriter } from './writer.js';

const ADDR_BYTES = 16;
const IPV4_PREFIX_BYTES = 12;

export interface NodeId {
  readonly host: string;
  readonly port: number;
  /** The separate I/O address, if the node has one (all-zero io_addr and io_port: none). */
  readonly ioHost?: string;
  readonly ioPort?: number;
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map((part) => Number.parseInt(part, 10));
}

/** The 16 address bytes sheep stores for `host`, or undefined if it is not an IP literal. */
export function hostToAddrBytes(host: string): Buffer | undefined {
  const out = Buffer.alloc(ADDR_BYTES);
  if (isIPv4(host)) {
    out.set(ipv4Bytes(host), IPV4_PREFIX_BYTES);
    return out;
  }
  const zoneStart = host.indexOf('%');
  const text = zoneStart === -1 ? host : host.slice(0, zoneStart);
  if (!isIPv6(text)) return undefined;
  const groups = ipv6Groups(text);
  assert(groups.length === 8, `IPv6 literal ${text} expanded to ${groups.length} groups`);
  groups.forEach((group, index) => {
    out.writeUInt16BE(group, index * 2);
  });
  // ::ffff:a.b.c.d (IPv4-mapped) -> sheep's IPv4 form.
  if (out.subarray(0, 10).every((byte) => byte === 0) && out[10] === 0xff && out[11] === 0xff) {
    out.fill(0, 10, 12);
  }
  return out;
}

/** Eight 16-bit groups of a valid IPv6 literal (with '::' and a trailing dotted quad expanded). */
function ipv6Groups(text: string): number[] {
  let body = text;
  const lastColon = body.lastIndexOf(':');
  const last = body.slice(lastColon + 1);
  if (last.includes('.')) {
    // Rewrite a trailing dotted quad as two hex groups, then parse uniformly.
    const [a = 0, b = 0, c = 0, d = 0] = ipv4Bytes(last);
    body = `${body.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parse = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16));
  const [headText = '', restText] = body.split('::');
  const head = parse(headText);
  if (restText === undefined) return head;
  const rest = parse(restText);
  return [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
}

/** The text form of 16 address bytes: dotted IPv4 if the first 12 are zero, else RFC 5952 IPv6. */
export function addrBytesToHost(addr: Uint8Array): string {
  assert(addr.length === ADDR_BYTES, `a node address is ${ADDR_BYTES} bytes, not ${addr.length}`);
  if (addr.subarray(0, IPV4_PREFIX_BYTES).every((byte) => byte === 0)) {
    return Array.from(addr.subarray(IPV4_PREFIX_BYTES)).join('.');
  }
  const groups: number[] = [];
  for (let index = 0; index < 8; index++)
    groups.push(((addr[index * 2] ?? 0) << 8) | (addr[index * 2 + 1] ?? 0));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > bestLength) {
      bestStart = start;
      bestLength = length;
    }
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export function encodeNodeId(n: NodeId): Buffer {
  const addr = hostToAddrBytes(n.host);
  assert(addr !== undefined, `node host "${n.host}" is not an IP literal (resolve names before encoding)`);
  const w = new FixedWriter(SD_NODE_ID_SIZE);
  w.bytes(addr).u16(n.port);
  if (n.ioHost !== undefined) {
    const ioAddr = hostToAddrBytes(n.ioHost);
    assert(ioAddr !== undefined, `node io host "${n.ioHost}" is not an IP literal`);
    w.bytes(ioAddr);
  } else {
    w.skip(ADDR_BYTES);
  }
  w.u16(n.ioPort ?? 0);
  return w.finish();
}

/** Decodes the 40 bytes at `offset`. Any content is accepted. */
export function decodeNodeId(buf: Buffer, offset = 0): DecodeResult<NodeId> {
  if (buf.length - offset < SD_NODE_ID_SIZE)
    return shortBuffer('node_id', offset + SD_NODE_ID_SIZE, buf.length);
  const r = new WireReader(buf, offset);
  const host = addrBytesToHost(r.bytes(ADDR_BYTES));
  const port = r.u16();
  const ioAddr = r.bytes(ADDR_BYTES);
  const ioPort = r.u16();
  if (ioPort === 0 && ioAddr.every((byte) => byte === 0)) return decoded({ host, port });
  return decoded({ host, port, ioHost: addrBytesToHost(ioAddr), ioPort });
}

/** A stable text key, "127.0.0.1:7001" or "[fe80::1]:7000", for maps and log lines. */
export function nodeIdKey(n: NodeId): string {
  const addr = hostToAddrBytes(n.host);
  const host = addr === undefined ? n.host : addrBytesToHost(addr);
  return host.includes(':') ? `[${host}]:${n.port}` : `${host}:${n.port}`;
}

// ---- struct sd_node ----------------------------------------------------------------------------

const SD_NODE_NID_OFFSET = 24;
const SD_NODE_NR_VNODES_OFFSET = 64;
const SD_NODE_ZONE_OFFSET = 68;
const SD_NODE_SPACE_OFFSET = 72;

export interface SdNode {
  readonly node: NodeId;
  readonly nrVnodes: number;
  readonly zone: number;
  /** Bytes of store space the node offers (0 = unknown). */
  readonly space: bigint;
}

/** `space` may be left out (0). */
export type SdNodeFields = Omit<SdNode, 'space'> & { readonly space?: bigint };

export function encodeSdNode(n: SdNodeFields): Buffer {
  const w = new FixedWriter(SD_NODE_SIZE);
  w.seek(SD_NODE_NID_OFFSET).bytes(encodeNodeId(n.node));
  w.seek(SD_NODE_NR_VNODES_OFFSET).u16(n.nrVnodes);
  w.seek(SD_NODE_ZONE_OFFSET).u32(n.zone);
  w.seek(SD_NODE_SPACE_OFFSET).u64(n.space ?? 0n);
  return w.finish();
}

export function decodeSdNode(buf: Buffer, offset = 0): DecodeResult<SdNode> {
  if (buf.length - offset < SD_NODE_SIZE) return shortBuffer('sd_node', offset + SD_NODE_SIZE, buf.length);
  const node = decodeNodeId(buf, offset + SD_NODE_NID_OFFSET);
  if (!node.ok) return node;
  const r = new WireReader(buf, offset);
  return decoded({
    node: node.value,
    nrVnodes: r.seek(offset + SD_NODE_NR_VNODES_OFFSET).u16(),
    zone: r.seek(offset + SD_NODE_ZONE_OFFSET).u32(),
    space: r.seek(offset + SD_NODE_SPACE_OFFSET).u64(),
  });
}

/** A GET_NODE_LIST payload: a whole number of 80-byte records. */
export function decodeSdNodeList(buf: Buffer): DecodeResult<SdNode[]> {
  if (buf.length % SD_NODE_SIZE !== 0) {
    return decodeFailed({
      code: 'SD_ERR_BAD_FIELD',
      message: `a node list of ${buf.length} bytes is not a whole number of ${SD_NODE_SIZE}-byte sd_node records`,
      offset: buf.length - (buf.length % SD_NODE_SIZE),
    });
  }
  const nodes: SdNode[] = [];
  for (let offset = 0; offset < buf.length; offset += SD_NODE_SIZE) {
    const node = decodeSdNode(buf, offset);
    if (!node.ok) return node;
    nodes.push(node.value);
  }
  return decoded(nodes);
}
