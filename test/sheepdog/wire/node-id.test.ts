/**
 * Goal: node_id and sd_node match what sheep sends (IPv4 as 12 zero bytes + 4 address bytes).
 * Method: the verified GET_VDI_COPIES vector for 127.0.0.1:7001, layouts built with the naive
 * builder from the header tables, and a property test over IPv6 addresses.
 */
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import {
  addrBytesToHost,
  decodeNodeId,
  decodeSdNode,
  decodeSdNodeList,
  encodeNodeId,
  encodeSdNode,
  hostToAddrBytes,
  nodeIdKey,
} from '../../../src/sheepdog/wire/node-id.js';
import { bytes, hex, layout, le16, le32, le64, zeros } from '../../support/bytes.js';

const LOCALHOST_7001 = bytes(hex('00 00 00 00 00 00 00 00 00 00 00 00 7f 00 00 01 59 1b'), zeros(22));

describe('node_id', () => {
  test('00x12 7f 00 00 01 59 1b = 127.0.0.1:7001 (verified vector)', () => {
    expect(decodeNodeId(LOCALHOST_7001)).toEqual({ ok: true, value: { host: '127.0.0.1', port: 7001 } });
    expect(encodeNodeId({ host: '127.0.0.1', port: 7001 })).toEqual(LOCALHOST_7001);
  });

  test('an IPv4-mapped host (::ffff:127.0.0.1, as Node reports it) encodes as plain IPv4', () => {
    expect(encodeNodeId({ host: '::ffff:127.0.0.1', port: 7001 })).toEqual(LOCALHOST_7001);
    expect(nodeIdKey({ host: '::ffff:127.0.0.1', port: 7001 })).toBe('127.0.0.1:7001');
  });

  test('IPv6 is stored as its 16 bytes and printed in RFC 5952 form', () => {
    const expected = layout(40, [
      [0, hex('20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01')],
      [16, le16(7000)],
    ]);
    expect(encodeNodeId({ host: '2001:DB8:0:0::1', port: 7000 })).toEqual(expected);
    expect(decodeNodeId(expected)).toEqual({ ok: true, value: { host: '2001:db8::1', port: 7000 } });
    expect(nodeIdKey({ host: '2001:db8::1', port: 7000 })).toBe('[2001:db8::1]:7000');
    expect(addrBytesToHost(hostToAddrBytes('fe80::1%eth0')!)).toBe('fe80::1');
    expect(addrBytesToHost(hostToAddrBytes('1:0:0:2:0:0:0:3')!)).toBe('1:0:0:2::3');
    expect(addrBytesToHost(hostToAddrBytes('64:ff9b::10.0.0.1')!)).toBe('64:ff9b::a00:1');
  });

  test('io_addr and io_port round-trip; all-zero io fields decode as absent', () => {
    const n = { host: '10.0.0.1', port: 7000, ioHost: '192.168.1.2', ioPort: 7002 };
    const encoded = encodeNodeId(n);
    expect(encoded).toEqual(
      layout(40, [
        [12, [10, 0, 0, 1]],
        [16, le16(7000)],
        [30, [192, 168, 1, 2]],
        [34, le16(7002)],
      ]),
    );
    expect(decodeNodeId(encoded)).toEqual({ ok: true, value: n });
  });

  test('a host that is not an IP literal has no address bytes', () => {
    expect(hostToAddrBytes('localhost')).toBeUndefined();
    expect(hostToAddrBytes('256.0.0.1')).toBeUndefined();
    expect(() => encodeNodeId({ host: 'localhost', port: 7000 })).toThrow();
  });

  test('a short buffer is a value', () => {
    expect(decodeNodeId(LOCALHOST_7001.subarray(0, 39))).toMatchObject({
      ok: false,
      error: { code: 'SD_ERR_SHORT_BUFFER' },
    });
  });

  propTest.prop([fc.ipV6(), fc.integer({ min: 0, max: 0xffff })])(
    'IPv6 addresses survive encode/decode',
    (host, port) => {
      const addr = hostToAddrBytes(host)!;
      const decodedHost = addrBytesToHost(addr);
      // Whatever text form came in, the 16 bytes are stable through the printed form.
      expect(hostToAddrBytes(decodedHost)).toEqual(addr);
      const back = decodeNodeId(encodeNodeId({ host, port }));
      expect(back).toEqual({ ok: true, value: { host: decodedHost, port } });
    },
  );
});

describe('sd_node (80 bytes: rb 24, nid@24, nr_vnodes@64, zone@68, space@72)', () => {
  const image = layout(80, [
    [0, hex('11 22 33 44 55 66 77 88')], // a stale rb pointer from sheep's memory: ignored
    [24, LOCALHOST_7001],
    [64, le16(128)],
    [68, le32(3)],
    [72, le64(100n * 1024n ** 3n)],
  ]);
  const node = { node: { host: '127.0.0.1', port: 7001 }, nrVnodes: 128, zone: 3, space: 100n * 1024n ** 3n };

  test('decodes the layout, ignoring the rb pointers', () => {
    expect(decodeSdNode(image)).toEqual({ ok: true, value: node });
  });

  test('encodes with zeroed rb pointers', () => {
    const expected = Buffer.from(image);
    expected.fill(0, 0, 24);
    expect(encodeSdNode(node)).toEqual(expected);
  });

  test('space defaults to 0 when encoding', () => {
    const { space: _space, ...rest } = node;
    expect(encodeSdNode(rest).subarray(72)).toEqual(Buffer.alloc(8));
  });

  test('a node list must be whole records', () => {
    const list = Buffer.concat([image, image]);
    expect(decodeSdNodeList(list)).toEqual({ ok: true, value: [node, node] });
    expect(decodeSdNodeList(list.subarray(0, 100))).toMatchObject({
      ok: false,
      error: { code: 'SD_ERR_BAD_FIELD' },
    });
  });
});
