/**
 * Goal: the login machine routes whole logins through its stages (security -> operational ->
 * fullFeature; operational only; continued text; refusals; ABORT), hands every response to
 * `sendResponse`, logs each step under `iscsi/login/<connection id>`, and ignores (but logs)
 * unexpected events.
 * Method: run the machine as an actor with the real login core (createLoginCore) and an event log
 * on a virtual clock; check states, outputs, sent responses and log entries. One test steps the
 * machine with xstate's pure transition() to see the sendResponse action it returns.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { type AnyEventObject, createActor, initialTransition, transition } from 'xstate';
import { createLoginMachine, type LoginEvent, type LoginResponse } from '../../../machines/login.js';
import { EventLog } from '../../../src/core/event-log.js';
import { MemoryRingSink } from '../../../src/core/event-sinks.js';
import { VirtualClock } from '../../../src/core/virtual-clock.js';
import { chapAccount } from '../../../src/iscsi/login/chap.js';
import {
  createLoginCore,
  type LoginEnvironment,
  type LoginResult,
} from '../../../src/iscsi/login/login-core.js';
import { statusText } from '../../../src/iscsi/login/status.js';
import {
  environment,
  find,
  INITIATOR,
  INITIATOR_SECRET,
  LIBISCSI_OPERATIONAL_OFFER,
  loginRequest,
  OTHER_INITIATOR,
  securityRequest,
  TARGET_ACL,
  TARGET_CHAP,
  TARGET_OPEN,
  TEST_CONFIG,
  text,
} from './login-support.js';

const loginMachine = createLoginMachine<LoginResult>();

function harness(env: LoginEnvironment = environment()) {
  const eventLog = new EventLog(new VirtualClock());
  const ring = new MemoryRingSink(100);
  eventLog.addSink(ring);
  const sent: LoginResponse[] = [];
  const machine = loginMachine.provide({
    actions: { sendResponse: (_, params) => sent.push(params.response) },
  });
  const actor = createActor(machine, {
    input: { connectionId: 'conn-1', eventLog, core: createLoginCore(env) },
  });
  actor.start();
  return { actor, sent, events: () => ring.toArray() };
}

const operational = loginRequest({ csg: 1, nsg: 3, transit: true, keys: LIBISCSI_OPERATIONAL_OFFER });

describe('login machine', () => {
  test('security -> operational -> fullFeature, with every response sent and every step logged', () => {
    const { actor, sent, events } = harness();
    expect(actor.getSnapshot().value).toBe('securityNegotiation');
    actor.send({ type: 'LOGIN_REQUEST', request: securityRequest(TARGET_OPEN) });
    expect(actor.getSnapshot().value).toBe('operationalNegotiation');
    actor.send({ type: 'LOGIN_REQUEST', request: operational });
    const snapshot = actor.getSnapshot();
    expect(snapshot.value).toBe('fullFeature');
    expect(snapshot.status).toBe('done');
    expect(snapshot.output?.stage).toBe('fullFeature');
    expect(snapshot.output?.result).toMatchObject({
      outcome: 'fullFeature',
      sessionKind: 'normal',
      needsTsih: true,
    });
    expect(sent.map((r) => [r.csg, r.nsg, r.transit])).toEqual([
      [0, 1, true],
      [1, 3, true],
    ]);
    const log = events();
    expect(log.every((e) => e.actor === 'iscsi/login/conn-1')).toBe(true);
    expect(log.map((e) => e.type)).toEqual(['login.stepped', 'login.stepped', 'login.completed']);
    expect(log[0]!.data).toMatchObject({
      from: 'securityNegotiation',
      to: 'operationalNegotiation',
      statusClass: 0,
    });
    expect(log[1]!.data).toMatchObject({ from: 'operationalNegotiation', to: 'fullFeature', transit: true });
    expect((log[1]!.data as { keys: string[] }).keys).toContain('MaxRecvDataSegmentLength');
  });

  test('operational only: one request takes the login to fullFeature', () => {
    const { actor, sent } = harness();
    actor.send({
      type: 'LOGIN_REQUEST',
      request: loginRequest({
        csg: 1,
        nsg: 3,
        transit: true,
        keys: [['InitiatorName', INITIATOR], ['TargetName', TARGET_OPEN], ...LIBISCSI_OPERATIONAL_OFFER],
      }),
    });
    expect(actor.getSnapshot().value).toBe('fullFeature');
    expect(sent).toHaveLength(1);
  });

  test('continued text: empty answers while C=1, then the negotiated answer', () => {
    const { actor, sent, events } = harness();
    const whole = text([
      ['InitiatorName', INITIATOR],
      ['TargetName', TARGET_OPEN],
      ['AuthMethod', 'None'],
    ]);
    actor.send({
      type: 'LOGIN_REQUEST',
      request: loginRequest({ continue: true, data: whole.subarray(0, 17) }),
    });
    actor.send({
      type: 'LOGIN_REQUEST',
      request: loginRequest({ continue: true, data: whole.subarray(17, 40) }),
    });
    expect(actor.getSnapshot().value).toBe('securityNegotiation');
    actor.send({
      type: 'LOGIN_REQUEST',
      request: loginRequest({ transit: true, nsg: 1, data: whole.subarray(40) }),
    });
    expect(actor.getSnapshot().value).toBe('operationalNegotiation');
    expect(sent.map((r) => r.keys.length)).toEqual([0, 0, 2]);
    expect(sent.every((r) => r.continue === false && r.statusClass === 0)).toBe(true);
    expect(
      events()
        .map((e) => (e.data as { note: string }).note)
        .slice(0, 2),
    ).toEqual(['continued text held', 'continued text held']);
  });

  test('a refusal ends in failed, sends the status and logs login.failed', () => {
    const { actor, sent, events } = harness();
    actor.send({
      type: 'LOGIN_REQUEST',
      request: loginRequest({
        transit: true,
        nsg: 1,
        keys: [
          ['InitiatorName', INITIATOR],
          ['TargetName', 'iqn.2026-01.test:nope'],
        ],
      }),
    });
    const snapshot = actor.getSnapshot();
    expect(snapshot.value).toBe('failed');
    expect(snapshot.output?.result).toMatchObject({
      outcome: 'failed',
      failure: { statusClass: 2, statusDetail: 3 },
    });
    expect(sent[0]).toMatchObject({ statusClass: 2, statusDetail: 3, transit: false });
    const failed = events().at(-1)!;
    expect(failed.type).toBe('login.failed');
    expect(failed.data).toMatchObject({ statusClass: 2, statusDetail: 3 });
    expect((failed.data as { note: string }).note).toContain('does not exist');
  });

  test('ABORT fails the login without a response', () => {
    const { actor, sent, events } = harness();
    actor.send({ type: 'LOGIN_REQUEST', request: securityRequest(TARGET_OPEN) });
    actor.send({ type: 'ABORT', reason: 'login timeout' });
    const snapshot = actor.getSnapshot();
    expect(snapshot.value).toBe('failed');
    expect(snapshot.output).toMatchObject({
      stage: 'failed',
      abortReason: 'login timeout',
      result: undefined,
    });
    expect(sent).toHaveLength(1);
    expect(events().map((e) => e.type)).toEqual(['login.stepped', 'login.aborted', 'login.failed']);
  });

  test('an unexpected event is logged and changes nothing', () => {
    const { actor, sent, events } = harness();
    actor.send({ type: 'SCSI_COMMAND' } as unknown as LoginEvent);
    expect(actor.getSnapshot().value).toBe('securityNegotiation');
    expect(sent).toHaveLength(0);
    expect(events()[0]).toMatchObject({
      type: 'protocol.unexpected_event',
      data: { state: 'securityNegotiation', event: 'SCSI_COMMAND' },
    });
  });

  test('pure stepping: transition() returns the sendResponse action with the decided response', () => {
    const eventLog = new EventLog(new VirtualClock());
    const [initial] = initialTransition(loginMachine, {
      connectionId: 'conn-2',
      eventLog,
      core: createLoginCore(environment()),
    });
    expect(initial.value).toBe('securityNegotiation');
    const [next, actions] = transition(loginMachine, initial, {
      type: 'LOGIN_REQUEST',
      request: securityRequest(TARGET_OPEN),
    });
    expect(next.value).toBe('operationalNegotiation');
    const send = actions.find((a: AnyEventObject) => a.type === 'sendResponse') as
      | { params: { response: LoginResponse } }
      | undefined;
    expect(send?.params.response).toMatchObject({ transit: true, csg: 0, nsg: 1, statusClass: 0 });
  });

  test('one-way CHAP through the machine', () => {
    const { actor, sent } = harness();
    const send = (request: Parameters<typeof loginRequest>[0]) =>
      actor.send({ type: 'LOGIN_REQUEST', request: loginRequest(request) });
    send({
      keys: [
        ['InitiatorName', INITIATOR],
        ['TargetName', TARGET_CHAP],
        ['AuthMethod', 'CHAP,None'],
      ],
    });
    send({ keys: [['CHAP_A', '5']] });
    const challenge = sent[1]!.keys;
    const id = Number(find(challenge, 'CHAP_I'));
    const bytes = Buffer.from(find(challenge, 'CHAP_C')!.slice(2), 'hex');
    const hash = createHash('md5')
      .update(Buffer.from([id]))
      .update(INITIATOR_SECRET)
      .update(bytes)
      .digest('hex');
    expect(actor.getSnapshot().value).toBe('securityNegotiation');
    send({
      transit: true,
      nsg: 1,
      keys: [
        ['CHAP_N', 'alice'],
        ['CHAP_R', `0x${hash}`],
      ],
    });
    expect(actor.getSnapshot().value).toBe('operationalNegotiation');
    actor.send({ type: 'LOGIN_REQUEST', request: operational });
    expect(actor.getSnapshot().output?.result).toMatchObject({
      outcome: 'fullFeature',
      authenticatedUser: 'alice',
    });
  });

  const hello = (keys: ReadonlyArray<readonly [string, string]>, fields = {}) =>
    loginRequest({ transit: true, nsg: 1, keys, ...fields });
  const shortSecret = environment({
    config: {
      ...TEST_CONFIG,
      targets: [{ name: TARGET_CHAP, access: {}, chap: { incoming: [chapAccount('a', 'short')] } }],
    },
  });

  test.each([
    ['0x0200', [hello([['InitiatorName', INITIATOR]], { nsg: 2 })], environment()],
    [
      '0x0201',
      [
        hello([
          ['InitiatorName', INITIATOR],
          ['TargetName', TARGET_CHAP],
          ['AuthMethod', 'None'],
        ]),
      ],
      environment(),
    ],
    [
      '0x0202',
      [
        hello([
          ['InitiatorName', OTHER_INITIATOR],
          ['TargetName', TARGET_ACL],
        ]),
      ],
      environment(),
    ],
    [
      '0x0203',
      [
        hello([
          ['InitiatorName', INITIATOR],
          ['TargetName', 'iqn.2026-01.test:nope'],
        ]),
      ],
      environment(),
    ],
    ['0x0205', [hello([['InitiatorName', INITIATOR]], { versionMin: 2, versionMax: 2 })], environment()],
    ['0x0207', [hello([['TargetName', TARGET_OPEN]])], environment()],
    [
      '0x0209',
      [
        hello([
          ['InitiatorName', INITIATOR],
          ['SessionType', 'Admin'],
        ]),
      ],
      environment(),
    ],
    [
      '0x0300',
      [
        loginRequest({
          keys: [
            ['InitiatorName', INITIATOR],
            ['TargetName', TARGET_CHAP],
            ['AuthMethod', 'CHAP'],
          ],
        }),
        loginRequest({ keys: [['CHAP_A', '5']] }),
      ],
      shortSecret,
    ],
  ] as const)('status %s ends the machine in failed', (status, requests, env) => {
    const { actor, sent } = harness(env);
    for (const request of requests) actor.send({ type: 'LOGIN_REQUEST', request });
    expect(actor.getSnapshot().value).toBe('failed');
    expect(statusText(sent.at(-1)!)).toBe(status);
  });
});
