/**
 * The login of one iSCSI connection, target side (RFC 7143 §6.3, §11.12, §11.13), as a small
 * xstate machine:
 *
 *   securityNegotiation ──T=1──▶ operationalNegotiation ──T=1, NSG=3──▶ fullFeature (final)
 *          │   (a first request with CSG=1 skips security)            │
 *          └──────────── any refusal, ABORT ─────────────▶ failed (final) ◀┘
 *
 * The machine only routes. Every decision (flags and stage checks, continuation, identity and
 * ACL, key negotiation, CHAP) is made by a pure `LoginCore` the caller passes in the input
 * (src/iscsi/login/login-core.ts builds it): the machine hands it each LOGIN_REQUEST, keeps the
 * core it gets back, sends the response through the `sendResponse` action (a no-op here; the
 * connection supplies the real one with `.provide()`) and moves to the stage the core names.
 * Keeping the core behind an interface lets this file import nothing above src/core/.
 *
 * Every step is appended to the event log as `login.stepped` {from, to, ...} by the actor
 * `iscsi/login/<connection id>`; the final states add `login.completed` or `login.failed`. A
 * LOGIN_REQUEST in a final state never arrives (the actor is done); any other unexpected event is
 * logged as `protocol.unexpected_event` and changes nothing.
 */
import { assertEvent, assign, setup } from 'xstate';
import type { EventLog } from '../src/core/event-log.js';

/** CSG/NSG codes (RFC 7143 §11.12.3): 2 is reserved. */
export const LoginStageCode = {
  SECURITY_NEGOTIATION: 0,
  LOGIN_OPERATIONAL_NEGOTIATION: 1,
  FULL_FEATURE_PHASE: 3,
} as const;

/** The fields of a Login Request the login decides on (the PDU codec decodes them). */
export interface LoginRequest {
  readonly transit: boolean;
  readonly continue: boolean;
  readonly csg: number;
  readonly nsg: number;
  readonly versionMax: number;
  readonly versionMin: number;
  /** 12 lowercase hex digits. */
  readonly isid: string;
  readonly tsih: number;
  readonly cid: number;
  readonly initiatorTaskTag: number;
  /** The data segment: login text, possibly only part of it when `continue` is set. */
  readonly data: Uint8Array;
}

/** The fields of the Login Response to send; StatSN and the CmdSN window are the connection's. */
export interface LoginResponse {
  readonly transit: boolean;
  /** Always false: Collie's answers fit one PDU. */
  readonly continue: boolean;
  readonly csg: number;
  /** Meaningful only with `transit`; 0 otherwise. */
  readonly nsg: number;
  readonly versionMax: number;
  readonly versionActive: number;
  readonly statusClass: number;
  readonly statusDetail: number;
  readonly keys: ReadonlyArray<readonly [string, string]>;
  readonly isid: string;
  /** The request's TSIH; the session layer puts the new session's TSIH in the final response. */
  readonly tsih: number;
  readonly initiatorTaskTag: number;
}

export type LoginStageName = 'securityNegotiation' | 'operationalNegotiation' | 'fullFeature' | 'failed';

/** What the core decided for one request. */
export interface LoginStep<TResult> {
  readonly core: LoginCore<TResult>;
  readonly response: LoginResponse;
  readonly next: LoginStageName;
  /** One line for the log; never a secret, challenge or response. */
  readonly note: string;
  /** Set when `next` is fullFeature or failed. */
  readonly result?: TResult;
}

/** The decision logic, immutable: `step` returns the core to use for the next request. */
export interface LoginCore<TResult> {
  step(request: LoginRequest): LoginStep<TResult>;
}

export type LoginEvent =
  | { readonly type: 'LOGIN_REQUEST'; readonly request: LoginRequest }
  /** The connection gave up (socket closed, login timeout): no response is sent. */
  | { readonly type: 'ABORT'; readonly reason: string };

export interface LoginMachineInput<TResult> {
  /** Stable id of the connection (never an xstate session id). */
  readonly connectionId: string;
  readonly eventLog: EventLog;
  readonly core: LoginCore<TResult>;
}

export interface LoginContext<TResult> {
  readonly actor: string;
  readonly eventLog: EventLog;
  readonly core: LoginCore<TResult>;
  readonly stage: LoginStageName;
  readonly from: LoginStageName;
  readonly last: LoginStep<TResult> | undefined;
  readonly abortReason: string | undefined;
}

export interface LoginOutput<TResult> {
  readonly stage: 'fullFeature' | 'failed';
  /** The core's result; undefined after ABORT. */
  readonly result: TResult | undefined;
  readonly abortReason: string | undefined;
}

/** Microsteps per event: one transition, one eventless routing step, one entry. */
const MICROSTEPS_MAX = 16;

/** The response the core just decided, handed to the connection's `sendResponse`. */
const SEND_LAST_RESPONSE = {
  type: 'sendResponse',
  params: ({ context }: { context: { last?: { response: LoginResponse } } }) => ({
    response: context.last!.response,
  }),
} as const;

export function createLoginMachine<TResult>() {
  return setup({
    types: {
      context: {} as LoginContext<TResult>,
      events: {} as LoginEvent,
      input: {} as LoginMachineInput<TResult>,
      output: {} as LoginOutput<TResult>,
    },
    actions: {
      step: assign(({ context, event }) => {
        assertEvent(event, 'LOGIN_REQUEST');
        const step = context.core.step(event.request);
        return { core: step.core, last: step, from: context.stage, stage: step.next };
      }),
      recordAbort: assign(({ context, event }) => {
        assertEvent(event, 'ABORT');
        return { abortReason: event.reason, from: context.stage, stage: 'failed' as const };
      }),
      logStep: ({ context }) => {
        const step = context.last!;
        const response = step.response;
        context.eventLog.append(context.actor, 'login.stepped', {
          from: context.from,
          to: context.stage,
          csg: response.csg,
          nsg: response.nsg,
          transit: response.transit,
          statusClass: response.statusClass,
          statusDetail: response.statusDetail,
          keys: response.keys.map(([name]) => name),
          note: step.note,
        });
      },
      logAbort: ({ context }) => {
        context.eventLog.append(context.actor, 'login.aborted', {
          from: context.from,
          reason: context.abortReason,
        });
      },
      logCompleted: ({ context }) => {
        context.eventLog.append(context.actor, 'login.completed', { note: context.last?.note });
      },
      logFailed: ({ context }) => {
        const response = context.last?.response;
        context.eventLog.append(context.actor, 'login.failed', {
          statusClass: response?.statusClass,
          statusDetail: response?.statusDetail,
          note: context.abortReason ?? context.last?.note,
        });
      },
      logUnexpected: ({ context, event }) => {
        context.eventLog.append(context.actor, 'protocol.unexpected_event', {
          state: context.stage,
          event: event.type,
          message: `can't handle event type ${event.type} in login state ${context.stage}`,
        });
      },
      /** Supplied by the connection: encode and send the Login Response. */
      sendResponse: (_, _params: { response: LoginResponse }) => {},
    },
    guards: {
      nextIs: ({ context }, params: { stage: LoginStageName }) => context.stage === params.stage,
    },
  }).createMachine({
    id: 'login',
    options: { maxIterations: MICROSTEPS_MAX },
    context: ({ input }) => ({
      actor: `iscsi/login/${input.connectionId}`,
      eventLog: input.eventLog,
      core: input.core,
      stage: 'securityNegotiation',
      from: 'securityNegotiation',
      last: undefined,
      abortReason: undefined,
    }),
    initial: 'securityNegotiation',
    on: {
      '*': { actions: 'logUnexpected' },
    },
    states: {
      securityNegotiation: {
        on: {
          LOGIN_REQUEST: { target: 'deciding', actions: ['step', 'logStep', SEND_LAST_RESPONSE] },
          ABORT: { target: 'failed', actions: ['recordAbort', 'logAbort'] },
        },
      },
      operationalNegotiation: {
        on: {
          LOGIN_REQUEST: { target: 'deciding', actions: ['step', 'logStep', SEND_LAST_RESPONSE] },
          ABORT: { target: 'failed', actions: ['recordAbort', 'logAbort'] },
        },
      },
      // Transient: routes to the stage the core chose.
      deciding: {
        always: [
          { guard: { type: 'nextIs', params: { stage: 'failed' } }, target: 'failed' },
          { guard: { type: 'nextIs', params: { stage: 'fullFeature' } }, target: 'fullFeature' },
          {
            guard: { type: 'nextIs', params: { stage: 'operationalNegotiation' } },
            target: 'operationalNegotiation',
          },
          { target: 'securityNegotiation' },
        ],
      },
      fullFeature: { type: 'final', entry: 'logCompleted' },
      failed: { type: 'final', entry: 'logFailed' },
    },
    output: ({ context }) => ({
      stage: context.stage === 'fullFeature' ? 'fullFeature' : 'failed',
      result: context.last?.result,
      abortReason: context.abortReason,
    }),
  });
}
