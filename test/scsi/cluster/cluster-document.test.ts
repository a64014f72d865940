/**
 * Goal: the cluster document codec keeps every field through a round trip (bigint keys as hex
 * strings), reads an empty cell as the initial document, refuses damaged or foreign content with
 * an error naming the field, and stays within the cell: the oldest unit attention events go
 * first, and a document that cannot fit says what fills it.
 * Method: documents built by hand, encoded and decoded.
 */
import { describe, expect, test } from 'vitest';
import {
  type ClusterDocument,
  ClusterDocumentError,
  ClusterDocumentFull,
  decodeClusterDocument,
  EMPTY_CLUSTER_DOCUMENT,
  encodeClusterDocument,
} from '../../../src/scsi/cluster/cluster-document.js';
import {
  ALL,
  appendUnitAttentions,
  registrationsScope,
  uaEvent,
} from '../../../src/scsi/cluster/cluster-unit-attentions.js';
import type { Registration } from '../../../src/scsi/reservations/reservation-state.js';
import { SenseKey } from '../../../src/scsi/scsi-types.js';

const REGISTRATION: Registration = {
  key: 0xfedcba9876543210n,
  initiatorName: 'iqn.2026-01.org.example:host-1',
  isid: '23d000000001',
  relativeTargetPortId: 2,
};

const SENSE = { key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x03 };

function sample(): ClusterDocument {
  return {
    ...EMPTY_CLUSTER_DOCUMENT,
    reservationsVersion: 4,
    reservations: {
      generation: 7,
      registrations: [REGISTRATION],
      reservation: { type: 3, holder: 'iqn.2026-01.org.example:host-1,i,0x23d000000001@2' },
      aptpl: true,
      spc2: null,
    },
    ua: appendUnitAttentions(EMPTY_CLUSTER_DOCUMENT.ua, [
      uaEvent(SENSE, registrationsScope([REGISTRATION])),
      {
        ...uaEvent({ ...SENSE, ascq: 0x06 }, ALL),
        exceptNexus: { id: 'a|b', relativeTargetPortId: 1 },
      },
    ]),
    alua: {
      policy: 'single-owner',
      owner: 2,
      epoch: 3,
      nodes: [
        { nodeId: 1, targetPortGroup: 1, relativeTargetPortIds: [1], statusCode: 2, preferred: false },
        {
          nodeId: 2,
          targetPortGroup: 2,
          relativeTargetPortIds: [2, 4],
          statusCode: 1,
          preferred: true,
          state: 2,
        },
      ],
    },
    mode: { writeCacheEnabled: false, descriptorSense: true, softwareWriteProtect: false },
  };
}

describe('cluster document codec', () => {
  test('round-trips every field', () => {
    const document = sample();
    const bytes = encodeClusterDocument(document, 64 * 1024);
    expect(JSON.parse(bytes.toString('utf8')).v).toBe(1);
    expect(bytes.toString('utf8')).toContain('"fedcba9876543210"');
    expect(decodeClusterDocument(bytes)).toEqual(document);
  });

  test('an empty cell is the initial document', () => {
    expect(decodeClusterDocument(Buffer.alloc(0))).toEqual(EMPTY_CLUSTER_DOCUMENT);
  });

  test.each([
    ['not JSON', Buffer.from('{'), /not JSON/],
    ['another format', Buffer.from('{"v":2}'), /format v=2/],
    [
      'a bad reservation key',
      Buffer.from(
        JSON.stringify({
          ...JSON.parse(encode()),
          reservations: {
            ...JSON.parse(encode()).reservations,
            registrations: [{ key: 'zz', initiatorName: 'x', isid: null, relativeTargetPortId: null }],
          },
        }),
      ),
      /reservations: registrations\[0\]\.key/,
    ],
    ['a hole in the event seqs', Buffer.from(encode().replace('"seq":2', '"seq":5')), /ua\.events\[1\]\.seq/],
    [
      'an unknown ALUA state',
      Buffer.from(encode().replace('"state":2', '"state":9')),
      /alua\.nodes\[1\]\.state/,
    ],
  ])('refuses %s', (_name, bytes, message) => {
    expect(() => decodeClusterDocument(bytes)).toThrow(ClusterDocumentError);
    expect(() => decodeClusterDocument(bytes)).toThrow(message);
  });

  test('drops the oldest unit attention events to fit the cell', () => {
    let document = sample();
    for (let index = 0; index < 40; index++) {
      document = { ...document, ua: appendUnitAttentions(document.ua, [uaEvent(SENSE, ALL)]) };
    }
    const whole = encodeClusterDocument(document, 64 * 1024).length;
    const bytes = encodeClusterDocument(document, whole - 200);
    expect(bytes.length).toBeLessThanOrEqual(whole - 200);
    const decoded = decodeClusterDocument(bytes);
    expect(decoded.ua.nextSeq).toBe(document.ua.nextSeq);
    expect(decoded.ua.events.length).toBeLessThan(document.ua.events.length);
    expect(decoded.ua.events.at(-1)).toEqual(document.ua.events.at(-1));
  });

  test('a document that cannot fit even without events says what fills it', () => {
    expect(() => encodeClusterDocument(sample(), 100)).toThrow(ClusterDocumentFull);
    expect(() => encodeClusterDocument(sample(), 100)).toThrow(/1 registrations and 2 nodes fill it/);
  });
});

function encode(): string {
  return encodeClusterDocument(sample(), 64 * 1024).toString('utf8');
}
