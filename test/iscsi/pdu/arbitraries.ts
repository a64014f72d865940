/**
 * fast-check arbitraries for every PDU kind: random values for every field, random raw AHS, CDBs
 * of 16 to 260 bytes (so Extended CDB AHS appear) and data segments of every padding class.
 */
import { fc } from '@fast-check/vitest';
import type { AdditionalHeaderSegment, Pdu, PduKind } from '../../../src/iscsi/pdu/messages.js';
import { AhsType } from '../../../src/iscsi/pdu/opcodes.js';

const u8 = fc.nat(0xff);
const u16 = fc.nat(0xffff);
const u32 = fc.nat(0xffff_ffff);
const lun = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const isid = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Buffer.from(b).toString('hex'));
const data = fc.uint8Array({ maxLength: 70 }).map((b) => Buffer.from(b));
/** AHS of types the codec keeps raw (for a SCSI Command, not 1 or 2 which it lifts). */
const rawAhs = (forCommand: boolean): fc.Arbitrary<AdditionalHeaderSegment[]> =>
  fc.array(
    fc.record({
      ahsType: u8.filter(
        (t) =>
          !forCommand ||
          ((t & 0x3f) !== AhsType.EXTENDED_CDB && (t & 0x3f) !== AhsType.BIDIRECTIONAL_READ_LENGTH),
      ),
      ahsSpecific: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.from(b)),
    }),
    { maxLength: 4 },
  );
const target = { statSN: u32, expCmdSN: u32, maxCmdSN: u32 };
const common = { ahs: rawAhs(false), data };

export const PDU_ARBITRARIES: { [K in PduKind]: fc.Arbitrary<Extract<Pdu, { kind: K }>> } = {
  'scsi-command': fc
    .record({
      kind: fc.constant('scsi-command'),
      immediate: fc.boolean(),
      final: fc.boolean(),
      read: fc.boolean(),
      write: fc.boolean(),
      attr: fc.nat(7),
      lun,
      initiatorTaskTag: u32,
      expectedDataTransferLength: u32,
      cmdSN: u32,
      expStatSN: u32,
      cdb: fc.uint8Array({ minLength: 16, maxLength: 260 }).map((b) => Buffer.from(b)),
      bidirectionalReadLength: fc.option(u32, { nil: undefined }),
      ahs: rawAhs(true),
      data,
    })
    .map(({ bidirectionalReadLength, ...pdu }) =>
      bidirectionalReadLength === undefined
        ? pdu
        : { ...pdu, bidirectionalReadExpectedDataTransferLength: bidirectionalReadLength },
    ),
  'scsi-response': fc.record({
    kind: fc.constant('scsi-response'),
    bidirectionalReadResidualOverflow: fc.boolean(),
    bidirectionalReadResidualUnderflow: fc.boolean(),
    residualOverflow: fc.boolean(),
    residualUnderflow: fc.boolean(),
    response: u8,
    status: u8,
    initiatorTaskTag: u32,
    snackTag: u32,
    ...target,
    expDataSN: u32,
    bidirectionalReadResidualCount: u32,
    residualCount: u32,
    ...common,
  }),
  'data-out': fc.record({
    kind: fc.constant('data-out'),
    final: fc.boolean(),
    lun,
    initiatorTaskTag: u32,
    targetTransferTag: u32,
    expStatSN: u32,
    dataSN: u32,
    bufferOffset: u32,
    ...common,
  }),
  'data-in': fc.record({
    kind: fc.constant('data-in'),
    final: fc.boolean(),
    acknowledge: fc.boolean(),
    residualOverflow: fc.boolean(),
    residualUnderflow: fc.boolean(),
    statusPresent: fc.boolean(),
    status: u8,
    lun,
    initiatorTaskTag: u32,
    targetTransferTag: u32,
    ...target,
    dataSN: u32,
    bufferOffset: u32,
    residualCount: u32,
    ...common,
  }),
  r2t: fc.record({
    kind: fc.constant('r2t'),
    lun,
    initiatorTaskTag: u32,
    targetTransferTag: u32,
    ...target,
    r2tSN: u32,
    bufferOffset: u32,
    desiredDataTransferLength: u32,
    ...common,
  }),
  'login-request': fc.record({
    kind: fc.constant('login-request'),
    transit: fc.boolean(),
    continue: fc.boolean(),
    csg: fc.nat(3),
    nsg: fc.nat(3),
    versionMax: u8,
    versionMin: u8,
    isid,
    tsih: u16,
    initiatorTaskTag: u32,
    cid: u16,
    cmdSN: u32,
    expStatSN: u32,
    ...common,
  }),
  'login-response': fc.record({
    kind: fc.constant('login-response'),
    transit: fc.boolean(),
    continue: fc.boolean(),
    csg: fc.nat(3),
    nsg: fc.nat(3),
    versionMax: u8,
    versionActive: u8,
    isid,
    tsih: u16,
    initiatorTaskTag: u32,
    ...target,
    statusClass: u8,
    statusDetail: u8,
    ...common,
  }),
  'text-request': fc.record({
    kind: fc.constant('text-request'),
    immediate: fc.boolean(),
    final: fc.boolean(),
    continue: fc.boolean(),
    lun,
    initiatorTaskTag: u32,
    targetTransferTag: u32,
    cmdSN: u32,
    expStatSN: u32,
    ...common,
  }),
  'text-response': fc.record({
    kind: fc.constant('text-response'),
    final: fc.boolean(),
    continue: fc.boolean(),
    lun,
    initiatorTaskTag: u32,
    targetTransferTag: u32,
    ...target,
    ...common,
  }),
  'nop-out': fc.record({
    kind: fc.constant('nop-out'),
    immediate: fc.boolean(),
    lun,
    initiatorTaskTag: u32,
    targetTransferTag: u32,
    cmdSN: u32,
    expStatSN: u32,
    ...common,
  }),
  'nop-in': fc.record({
    kind: fc.constant('nop-in'),
    lun,
    initiatorTaskTag: u32,
    targetTransferTag: u32,
    ...target,
    ...common,
  }),
  'tmf-request': fc.record({
    kind: fc.constant('tmf-request'),
    immediate: fc.boolean(),
    function: fc.nat(0x7f),
    lun,
    initiatorTaskTag: u32,
    referencedTaskTag: u32,
    cmdSN: u32,
    expStatSN: u32,
    refCmdSN: u32,
    expDataSN: u32,
    ...common,
  }),
  'tmf-response': fc.record({
    kind: fc.constant('tmf-response'),
    response: u8,
    initiatorTaskTag: u32,
    ...target,
    ...common,
  }),
  'logout-request': fc.record({
    kind: fc.constant('logout-request'),
    immediate: fc.boolean(),
    reasonCode: fc.nat(0x7f),
    initiatorTaskTag: u32,
    cid: u16,
    cmdSN: u32,
    expStatSN: u32,
    ...common,
  }),
  'logout-response': fc.record({
    kind: fc.constant('logout-response'),
    response: u8,
    initiatorTaskTag: u32,
    ...target,
    time2Wait: u16,
    time2Retain: u16,
    ...common,
  }),
  reject: fc.record({
    kind: fc.constant('reject'),
    reason: u8,
    ...target,
    dataSN: u32,
    ...common,
  }),
  'async-message': fc.record({
    kind: fc.constant('async-message'),
    lun,
    ...target,
    asyncEvent: u8,
    asyncVCode: u8,
    parameter1: u16,
    parameter2: u16,
    parameter3: u16,
    ...common,
  }),
  snack: fc.record({
    kind: fc.constant('snack'),
    type: fc.nat(0x0f),
    lun,
    initiatorTaskTag: u32,
    targetTransferTag: u32,
    expStatSN: u32,
    begRun: u32,
    runLength: u32,
    ...common,
  }),
};

/** A PDU of any kind. */
export const ANY_PDU: fc.Arbitrary<Pdu> = fc.oneof(...Object.values(PDU_ARBITRARIES));
