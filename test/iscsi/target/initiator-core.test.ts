/**
 * Goal: the simulated initiator that the target's tests rely on is itself right, and its checks
 * bite: it shapes Data-Out by the negotiated values, keeps to the CmdSN window, answers pings,
 * times requests out, and turns a target's broken rule into a violation (failing the command when
 * its data cannot be trusted). Otherwise "no violations" in the other tests would prove nothing.
 * Method: the sans-I/O InitiatorSessionCore alone, fed hand-made target PDUs; no network, no
 * clock (time is an argument).
 */
import { describe, expect, test } from 'vitest';
import type { IscsiInitiatorError } from '../../../sim/initiator/initiator-errors.js';
import {
  INITIATOR_OFFER_DEFAULTS,
  type InitiatorParameters,
} from '../../../sim/initiator/operational-offer.js';
import { read16Cdb, write16Cdb } from '../../../sim/initiator/scsi-commands.js';
import { type CoreEvent, InitiatorSessionCore } from '../../../sim/initiator/session-core.js';
import type { DataInPdu, InitiatorPdu, R2tPdu, ScsiResponsePdu } from '../../../src/iscsi/pdu/messages.js';
import { EMPTY_DATA } from '../../../src/iscsi/pdu/messages.js';
import { RESERVED_TAG, TmfFunction } from '../../../src/iscsi/pdu/opcodes.js';

const PARAMETERS: InitiatorParameters = {
  headerDigest: false,
  dataDigest: false,
  initialR2T: false,
  immediateData: true,
  maxBurstLengthBytes: 8192,
  firstBurstLengthBytes: 16384,
  maxOutstandingR2T: 1,
  maxConnections: 1,
  errorRecoveryLevel: 0,
  defaultTime2WaitSeconds: 2,
  defaultTime2RetainSeconds: 0,
  dataPduInOrder: true,
  dataSequenceInOrder: true,
  maxRecvDataSegmentLengthBytes: INITIATOR_OFFER_DEFAULTS.maxRecvDataSegmentLengthBytes,
  maxSendDataSegmentLengthBytes: 4096,
};

function core(
  options: { parameters?: Partial<InitiatorParameters>; maxCmdSN?: number; answerNopIn?: boolean } = {},
) {
  return new InitiatorSessionCore({
    parameters: { ...PARAMETERS, ...options.parameters },
    cmdSN: 10,
    expCmdSN: 10,
    maxCmdSN: options.maxCmdSN ?? 100,
    expStatSN: 50,
    commandTimeoutMs: 1000,
    requestTimeoutMs: 1000,
    answerNopIn: () => options.answerNopIn ?? true,
  });
}

function drain(session: InitiatorSessionCore): InitiatorPdu[] {
  const out: InitiatorPdu[] = [];
  for (let pdu = session.pollTransmit(); pdu; pdu = session.pollTransmit()) out.push(pdu);
  return out;
}

function events(session: InitiatorSessionCore): CoreEvent[] {
  const out: CoreEvent[] = [];
  for (let event = session.pollEvent(); event; event = session.pollEvent()) out.push(event);
  return out;
}

const numbers = { statSN: 50, expCmdSN: 11, maxCmdSN: 100 };

function dataIn(fields: Partial<DataInPdu> & { initiatorTaskTag: number; data: Buffer }): DataInPdu {
  return {
    kind: 'data-in',
    ahs: [],
    final: false,
    acknowledge: false,
    residualOverflow: false,
    residualUnderflow: false,
    statusPresent: false,
    status: 0,
    lun: 0n,
    targetTransferTag: RESERVED_TAG,
    dataSN: 0,
    bufferOffset: 0,
    residualCount: 0,
    ...numbers,
    ...fields,
  };
}

function response(fields: Partial<ScsiResponsePdu> & { initiatorTaskTag: number }): ScsiResponsePdu {
  return {
    kind: 'scsi-response',
    ahs: [],
    data: EMPTY_DATA,
    bidirectionalReadResidualOverflow: false,
    bidirectionalReadResidualUnderflow: false,
    residualOverflow: false,
    residualUnderflow: false,
    response: 0,
    status: 0,
    snackTag: 0,
    expDataSN: 0,
    bidirectionalReadResidualCount: 0,
    residualCount: 0,
    ...numbers,
    ...fields,
  };
}

function r2t(fields: Partial<R2tPdu> & { initiatorTaskTag: number }): R2tPdu {
  return {
    kind: 'r2t',
    ahs: [],
    data: EMPTY_DATA,
    lun: 0n,
    targetTransferTag: 0x55,
    r2tSN: 0,
    bufferOffset: 0,
    desiredDataTransferLength: 0,
    ...numbers,
    ...fields,
  };
}

describe('the simulated initiator core', () => {
  test('a write goes out as immediate data, an unsolicited burst, then Data-Out per R2T', () => {
    const session = core();
    const data = Buffer.alloc(24576, 7);
    const tag = session.submitCommand(
      { lun: 0, cdb: write16Cdb(0, 48), dataOut: data, expectedLengthBytes: 24576 },
      0,
    );
    const first = drain(session);
    expect(first.map((pdu) => pdu.kind)).toEqual(['scsi-command', 'data-out', 'data-out', 'data-out']);
    const command = first[0] as Extract<InitiatorPdu, { kind: 'scsi-command' }>;
    expect(command.data.length).toBe(4096);
    expect(command.final).toBe(false);
    expect(command.cmdSN).toBe(10);
    expect(
      first.slice(1).map((pdu) => (pdu.kind === 'data-out' ? [pdu.bufferOffset, pdu.dataSN, pdu.final] : [])),
    ).toEqual([
      [4096, 0, false],
      [8192, 1, false],
      [12288, 2, true],
    ]);
    session.handlePdu(r2t({ initiatorTaskTag: tag, bufferOffset: 16384, desiredDataTransferLength: 8192 }));
    const solicited = drain(session);
    expect(
      solicited.map((pdu) => (pdu.kind === 'data-out' ? [pdu.targetTransferTag, pdu.bufferOffset] : [])),
    ).toEqual([
      [0x55, 16384],
      [0x55, 20480],
    ]);
    session.handlePdu(response({ initiatorTaskTag: tag, expDataSN: 1 }));
    expect(events(session)).toMatchObject([{ kind: 'command-done', tag, result: { status: 0 } }]);
    expect(session.violations).toEqual([]);
  });

  test('commands past MaxCmdSN wait until a target PDU opens the window', () => {
    const session = core({ maxCmdSN: 11 });
    const tags = [0, 1, 2].map((lba) =>
      session.submitCommand({ lun: 0, cdb: read16Cdb(lba, 1), expectedLengthBytes: 512 }, 0),
    );
    expect(drain(session)).toHaveLength(2);
    expect(session.queuedCount).toBe(1);
    session.handlePdu(response({ initiatorTaskTag: tags[0]!, expCmdSN: 12, maxCmdSN: 12, statSN: 50 }));
    const next = drain(session);
    expect(next).toHaveLength(1);
    expect(next[0]).toMatchObject({ kind: 'scsi-command', cmdSN: 12, initiatorTaskTag: tags[2] });
  });

  test('a Data-In with a DataSN gap fails the command and is reported as a violation', () => {
    const session = core();
    const tag = session.submitCommand({ lun: 0, cdb: read16Cdb(0, 2), expectedLengthBytes: 1024 }, 0);
    drain(session);
    session.handlePdu(dataIn({ initiatorTaskTag: tag, data: Buffer.alloc(512), dataSN: 0 }));
    session.handlePdu(
      dataIn({ initiatorTaskTag: tag, data: Buffer.alloc(512), dataSN: 2, bufferOffset: 512 }),
    );
    const [violation, failed] = events(session);
    expect(violation).toMatchObject({ kind: 'violation' });
    expect(failed).toMatchObject({ kind: 'failed', tag });
    expect((failed as { error: IscsiInitiatorError }).error.code).toBe('ISCSI_INIT_PROTOCOL');
  });

  test('an R2T beyond MaxBurstLength fails the write', () => {
    const session = core({ parameters: { immediateData: false, initialR2T: true } });
    const tag = session.submitCommand(
      { lun: 0, cdb: write16Cdb(0, 32), dataOut: Buffer.alloc(16384), expectedLengthBytes: 16384 },
      0,
    );
    drain(session);
    session.handlePdu(r2t({ initiatorTaskTag: tag, desiredDataTransferLength: 16384 }));
    expect(drain(session)).toEqual([]);
    expect(events(session).map((event) => event.kind)).toEqual(['violation', 'failed']);
  });

  test('a StatSN out of order and a residual that disagrees with the data are violations', () => {
    const session = core();
    const tag = session.submitCommand({ lun: 0, cdb: read16Cdb(0, 2), expectedLengthBytes: 1024 }, 0);
    drain(session);
    session.handlePdu(
      dataIn({
        initiatorTaskTag: tag,
        data: Buffer.alloc(512),
        final: true,
        statusPresent: true,
        statSN: 53,
      }),
    );
    const kinds = events(session).map((event) => event.kind);
    expect(kinds).toEqual(['violation', 'violation', 'command-done']);
    expect(session.sequence.expStatSN).toBe(54);
  });

  test('target pings are answered with their tag, unless the fault says not to', () => {
    const ping = {
      kind: 'nop-in',
      ahs: [],
      data: EMPTY_DATA,
      lun: 0n,
      initiatorTaskTag: RESERVED_TAG,
      targetTransferTag: 9,
      ...numbers,
    } as const;
    const answering = core();
    answering.handlePdu(ping);
    expect(drain(answering)).toMatchObject([
      { kind: 'nop-out', initiatorTaskTag: RESERVED_TAG, targetTransferTag: 9, immediate: true },
    ]);
    const silent = core({ answerNopIn: false });
    silent.handlePdu(ping);
    expect(drain(silent)).toEqual([]);
  });

  test('a command past its deadline fails with ISCSI_INIT_TIMEOUT and an ABORT TASK goes out', () => {
    const session = core();
    const tag = session.submitCommand({ lun: 3, cdb: read16Cdb(0, 1), expectedLengthBytes: 512 }, 0);
    drain(session);
    expect(session.pollTimeoutMs()).toBe(1000);
    session.handleTimeout(999);
    expect(events(session)).toEqual([]);
    session.handleTimeout(1000);
    expect(events(session)).toMatchObject([{ kind: 'failed', tag }]);
    expect(drain(session)).toMatchObject([
      { kind: 'tmf-request', function: TmfFunction.ABORT_TASK, referencedTaskTag: tag, refCmdSN: 10 },
    ]);
  });

  test('a Reject of a command fails it with the reason', () => {
    const session = core();
    const tag = session.submitCommand({ lun: 0, cdb: read16Cdb(0, 1), expectedLengthBytes: 512 }, 0);
    drain(session);
    const header = Buffer.alloc(48);
    header[0] = 0x01;
    header.writeUInt32BE(tag, 16);
    session.handlePdu({ kind: 'reject', ahs: [], data: header, reason: 0x09, dataSN: 0, ...numbers });
    const [reject, failed] = events(session);
    expect(reject).toMatchObject({ kind: 'reject', reason: 0x09, tag });
    expect((failed as { error: IscsiInitiatorError }).error.rejectReason).toBe(0x09);
  });
});
