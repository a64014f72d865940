/**
 * The decisions of one connection's login, target side, as a step function:
 * (state, Login Request) -> (state, Login Response, next stage). machines/login.ts drives it.
 * The state is immutable; the only effects go to the environment: CHAP challenges are drawn from
 * `challenges`, and `attempts` (login-rate-limit.ts, shared by every login of the node) is asked
 * whether the initiator is blocked and told about failed and successful logins.
 *
 * Per request, in this order (each refusal ends the login with the status named):
 * 1. Bounds: at most LOGIN_REQUESTS_MAX requests and LOGIN_TEXT_BYTES_MAX bytes of text per login
 *    (0x0200), so a peer cannot keep a login open forever or grow memory without limit.
 * 2. Version (§11.12): only version 0x00 exists; Version-min above it -> 0x0205. ISID, TSIH,
 *    CID, Version-max and Version-min must not change during the login (0x0200).
 * 3. Flags and stages (§11.12.2, §11.12.3, §6.3): CSG is 0 or 1 and equals the stage the target
 *    is in (the first request may start at 1, skipping security); C=1 with T=1, NSG 2, or an NSG
 *    not after CSG -> 0x0200.
 * 4. Continuation (§11.12.2): a request with C=1 only adds to the pending text and is answered
 *    with an empty response (T=0, C=0) of the same stage; the text is negotiated when the request
 *    with C=0 completes it.
 * 5. Identity, on the first complete text (§6.3.1, §13.4, §13.5, §13.21): InitiatorName missing ->
 *    0x0207, malformed -> 0x0200; an initiator name or address the login rate limit blocks ->
 *    0x0201 at once; SessionType other than Normal/Discovery -> 0x0209; a normal session needs
 *    TargetName (missing -> 0x0207) of a configured target (else 0x0203) whose ACL admits the
 *    initiator's name and address (else 0x0202, counted against the address). A discovery session
 *    needs no TargetName. Skipping the security stage when the target (or discovery) requires
 *    CHAP -> 0x0201.
 * 6. Keys: negotiate.ts answers them; CHAP keys go to chap.ts (security stage only). Before a
 *    CHAP response is verified the rate limit is asked again (a block may have begun since the
 *    challenge), and a failed proof is counted against the name and the address.
 * 7. Transit: the target transits only when the initiator set T (§11.13) and nothing is left
 *    to settle. From security it always goes to operational negotiation, even when NSG=3 was
 *    asked, so the target can declare its MaxRecvDataSegmentLength there; a target may stop at an
 *    earlier stage than requested. An unfinished CHAP exchange answers T=0 and continues; asking
 *    to leave security without the required authentication -> 0x0201. From operational it goes to
 *    Full Feature Phase once the negotiated parameters hold together (negotiate.ts
 *    finishNegotiation); reaching it clears the rate limit's count for the name and address.
 *
 * Session bookkeeping is not done here: the result says whether the session layer must create a
 * session and assign a TSIH (`needsTsih`) and what kind of session it is.
 */
import type {
  LoginCore,
  LoginRequest,
  LoginResponse,
  LoginStageName,
  LoginStep,
} from '../../../machines/login.js';
import { type InitiatorAccess, type InitiatorIdentity, isInitiatorAllowed } from './access.js';
import { type ChallengeSource, type ChapChallenge, type ChapSecrets, startChap, verifyChap } from './chap.js';
import type { LoginAttempts } from './login-rate-limit.js';
import {
  type AuthMethodName,
  enterStage,
  finishNegotiation,
  initialNegotiationState,
  type NegotiatedParameters,
  type NegotiationConfig,
  type NegotiationState,
  negotiate,
  type SessionType,
} from './negotiate.js';
import { type LoginFailure, LoginStatusCode, loginFailure, statusText } from './status.js';
import { isIscsiName, sameIscsiName, utf8Bytes } from './text-values.js';

/** One target as the login sees it. */
export interface LoginTarget {
  readonly name: string;
  readonly alias?: string;
  readonly access: InitiatorAccess;
  /** When set, logins to this target must authenticate with CHAP using these accounts. */
  readonly chap?: ChapSecrets;
}

export interface LoginTargetConfig {
  /** The tag of the portal group this connection arrived on, declared to normal sessions. */
  readonly portalGroupTag: number;
  readonly targets: readonly LoginTarget[];
  /** When set, discovery sessions must authenticate with CHAP using these accounts. */
  readonly discoveryChap?: ChapSecrets;
  readonly negotiation: NegotiationConfig;
}

/**
 * Turns login text into key=value pairs. Pass the PDU codec's text parser (src/iscsi/pdu/text.ts)
 * when wiring; a problem string becomes a 0x0200 answer.
 */
export type ParseLoginText = (
  data: Uint8Array,
) => { readonly pairs: ReadonlyArray<readonly [string, string]> } | { readonly problem: string };

export interface LoginEnvironment {
  readonly config: LoginTargetConfig;
  /**
   * CHAP challenges and identifiers come from here: unpredictable bytes in real runs
   * (src/core/real-entropy.ts), the seeded Rng in the simulator (chap.ts rngChallengeSource).
   */
  readonly challenges: ChallengeSource;
  /** The initiator's address as the socket reports it (ACLs, the rate limit). */
  readonly initiatorAddress: string;
  readonly parseText: ParseLoginText;
  /** The node's login rate limit (login-rate-limit.ts); absent: none. */
  readonly attempts?: LoginAttempts;
}

export interface LoginSuccess {
  readonly outcome: 'fullFeature';
  readonly sessionKind: 'normal' | 'discovery';
  /** TSIH was 0: the session layer must create the session and put its TSIH in the final response. */
  readonly needsTsih: boolean;
  readonly isid: string;
  readonly tsih: number;
  readonly cid: number;
  readonly initiatorName: string;
  readonly initiatorAlias: string | undefined;
  /** Undefined for discovery sessions. */
  readonly targetName: string | undefined;
  /** The CHAP user the initiator authenticated as; undefined without CHAP. */
  readonly authenticatedUser: string | undefined;
  readonly parameters: NegotiatedParameters;
}

export interface LoginRefused {
  readonly outcome: 'failed';
  readonly failure: LoginFailure;
}

export type LoginResult = LoginSuccess | LoginRefused;

/** Login requests per login; real logins take 2 to 5. */
export const LOGIN_REQUESTS_MAX = 64;
/** Text of one negotiation step, joined across continued PDUs. */
export const LOGIN_TEXT_BYTES_MAX = 64 * 1024;
/**
 * Largest answer: the initiator's MaxRecvDataSegmentLength is not in force during login, so its
 * default (8192, §13.12) bounds every Login Response data segment.
 */
export const LOGIN_RESPONSE_TEXT_BYTES_MAX = 8192;

const SECURITY = 0;
const OPERATIONAL = 1;
const FULL_FEATURE = 3;
/** The only iSCSI version (§11.12). */
const VERSION = 0x00;

type ChapProgress =
  | { readonly phase: 'idle' }
  | { readonly phase: 'challenged'; readonly challenge: ChapChallenge }
  | { readonly phase: 'done'; readonly user: string };

interface Identity {
  readonly initiatorName: string;
  readonly initiatorAlias: string | undefined;
  readonly sessionType: SessionType;
  readonly target: LoginTarget | undefined;
  /** CHAP accounts this login must authenticate against; undefined when none is required. */
  readonly requiredChap: ChapSecrets | undefined;
}

interface FirstFields {
  readonly isid: string;
  readonly tsih: number;
  readonly cid: number;
  readonly versionMax: number;
  readonly versionMin: number;
}

export interface LoginCoreState {
  readonly stage: LoginStageName;
  readonly first: FirstFields | undefined;
  readonly requestCount: number;
  /** Text of continued (C=1) requests not yet negotiated. */
  readonly pendingText: readonly Uint8Array[];
  readonly pendingBytes: number;
  readonly identity: Identity | undefined;
  readonly negotiation: NegotiationState | undefined;
  readonly chap: ChapProgress;
}

export function initialLoginState(): LoginCoreState {
  return {
    stage: 'securityNegotiation',
    first: undefined,
    requestCount: 0,
    pendingText: [],
    pendingBytes: 0,
    identity: undefined,
    negotiation: undefined,
    chap: { phase: 'idle' },
  };
}

export interface LoginDecision {
  readonly state: LoginCoreState;
  readonly response: LoginResponse;
  readonly next: LoginStageName;
  readonly note: string;
  readonly result?: LoginResult;
}

export function createLoginCore(env: LoginEnvironment, state = initialLoginState()): LoginCore<LoginResult> {
  return {
    step(request: LoginRequest): LoginStep<LoginResult> {
      const decision = stepLogin(state, request, env);
      return { ...decision, core: createLoginCore(env, decision.state) };
    },
  };
}

export function stepLogin(
  state: LoginCoreState,
  request: LoginRequest,
  env: LoginEnvironment,
): LoginDecision {
  if (state.stage === 'fullFeature' || state.stage === 'failed') {
    return refuse(
      state,
      request,
      loginFailure('INITIATOR_ERROR', `a Login Request after the login ended (${state.stage})`),
    );
  }
  const counted: LoginCoreState = { ...state, requestCount: state.requestCount + 1 };
  const problem = checkHeader(counted, request);
  if (problem !== undefined) return refuse(counted, request, problem);
  const first: FirstFields = counted.first ?? {
    isid: request.isid,
    tsih: request.tsih,
    cid: request.cid,
    versionMax: request.versionMax,
    versionMin: request.versionMin,
  };
  // The first request names the starting stage: 0, or 1 to skip security negotiation.
  const stage: LoginStageName =
    counted.first === undefined && request.csg === OPERATIONAL ? 'operationalNegotiation' : counted.stage;
  const current: LoginCoreState = { ...counted, first, stage };
  const pendingBytes = current.pendingBytes + request.data.length;
  if (pendingBytes > LOGIN_TEXT_BYTES_MAX) {
    return refuse(
      current,
      request,
      loginFailure(
        'INITIATOR_ERROR',
        `login text of ${pendingBytes} bytes exceeds ${LOGIN_TEXT_BYTES_MAX}; send less`,
      ),
    );
  }
  if (request.continue) {
    // Copied: decoded PDU data may alias the connection's receive buffer, which is reused.
    const held = Buffer.from(request.data);
    const pending = { ...current, pendingText: [...current.pendingText, held], pendingBytes };
    return answer(pending, request, { keys: [], transitTo: undefined, note: 'continued text held' });
  }
  const text = Buffer.concat([...current.pendingText, request.data]);
  const complete: LoginCoreState = { ...current, pendingText: [], pendingBytes: 0 };
  const parsed = env.parseText(text);
  if ('problem' in parsed) {
    return refuse(
      complete,
      request,
      loginFailure('INITIATOR_ERROR', `malformed login text: ${parsed.problem}`),
    );
  }
  return negotiateText(complete, request, parsed.pairs, env);
}

/** Steps 2-3: fields that must not change, version, flags and stage codes. */
function checkHeader(state: LoginCoreState, request: LoginRequest): LoginFailure | undefined {
  if (state.requestCount > LOGIN_REQUESTS_MAX) {
    return loginFailure(
      'INITIATOR_ERROR',
      `more than ${LOGIN_REQUESTS_MAX} Login Requests in one login; finish the login sooner`,
    );
  }
  if (request.versionMin > VERSION || request.versionMax < request.versionMin) {
    return loginFailure(
      'UNSUPPORTED_VERSION',
      `Version-min ${request.versionMin} / Version-max ${request.versionMax} excludes version 0, the only one this target speaks`,
    );
  }
  const first = state.first;
  if (first !== undefined) {
    for (const field of ['isid', 'tsih', 'cid', 'versionMax', 'versionMin'] as const) {
      if (request[field] !== first[field]) {
        return loginFailure(
          'INITIATOR_ERROR',
          `${field} changed during the login from ${first[field]} to ${request[field]}; keep it for every Login Request`,
        );
      }
    }
  }
  if (request.csg !== SECURITY && request.csg !== OPERATIONAL) {
    return loginFailure('INITIATOR_ERROR', `CSG ${request.csg} is not a login stage (0 or 1)`);
  }
  // The first request may start in either stage; later ones follow the target's transitions.
  const expected = stageCode(state.stage);
  if (first !== undefined && request.csg !== expected) {
    return loginFailure(
      'INITIATOR_ERROR',
      `CSG ${request.csg} does not match the current login stage ${expected}; follow the target's transitions`,
    );
  }
  if (request.continue && request.transit) {
    return loginFailure('INITIATOR_ERROR', 'a Login Request with C=1 must have T=0 (RFC 7143 §11.12.2)');
  }
  if (
    request.transit &&
    ((request.nsg !== OPERATIONAL && request.nsg !== FULL_FEATURE) || request.nsg <= request.csg)
  ) {
    return loginFailure(
      'INITIATOR_ERROR',
      `T=1 with CSG ${request.csg} and NSG ${request.nsg} is not a forward transition (0->1, 0->3 or 1->3)`,
    );
  }
  return undefined;
}

/** Steps 5-7 for one complete text. */
function negotiateText(
  state: LoginCoreState,
  request: LoginRequest,
  pairs: ReadonlyArray<readonly [string, string]>,
  env: LoginEnvironment,
): LoginDecision {
  const stageName = state.stage === 'operationalNegotiation' ? 'operational' : 'security';
  let identity = state.identity;
  if (identity === undefined) {
    const established = establishIdentity(pairs, request, env);
    if ('failure' in established) return refuse(state, request, established.failure);
    identity = established.identity;
  }
  const target = identity.target;
  const negotiation =
    state.negotiation === undefined
      ? initialNegotiationState({ stage: stageName, leading: request.tsih === 0 })
      : enterStage(state.negotiation, stageName);
  const authMethods: AuthMethodName[] = identity.requiredChap !== undefined ? ['CHAP'] : ['None'];
  const negotiated = negotiate(pairs, negotiation, {
    negotiation: env.config.negotiation,
    authMethods,
    ...(target !== undefined ? { portalGroupTag: env.config.portalGroupTag } : {}),
    ...(target?.alias !== undefined ? { targetAlias: target.alias } : {}),
  });
  const withKeys: LoginCoreState = { ...state, identity, negotiation: negotiated.state };
  if (negotiated.error !== undefined) return refuse(withKeys, request, negotiated.error);
  if (stageName === 'security')
    return securityStep(withKeys, request, negotiated.reply, negotiated.authKeys, env);
  return operationalStep(withKeys, request, negotiated.reply, env);
}

function establishIdentity(
  pairs: ReadonlyArray<readonly [string, string]>,
  request: LoginRequest,
  env: LoginEnvironment,
): { readonly identity: Identity } | { readonly failure: LoginFailure } {
  const find = (name: string) => pairs.find(([key]) => key === name)?.[1];
  const initiatorName = find('InitiatorName');
  if (initiatorName === undefined) {
    return {
      failure: loginFailure(
        'MISSING_PARAMETER',
        'InitiatorName is missing from the first login text; every connection must send it',
      ),
    };
  }
  if (!isIscsiName(initiatorName)) {
    return {
      failure: loginFailure(
        'INITIATOR_ERROR',
        `InitiatorName "${initiatorName}" is not an iqn., eui. or naa. name`,
      ),
    };
  }
  const who: InitiatorIdentity = { name: initiatorName, address: env.initiatorAddress };
  const blocked = env.attempts?.refusal(who);
  if (blocked !== undefined) return { failure: loginFailure('AUTHENTICATION_FAILURE', blocked) };
  const sessionTypeText = find('SessionType') ?? 'Normal';
  if (sessionTypeText !== 'Normal' && sessionTypeText !== 'Discovery') {
    return {
      failure: loginFailure(
        'SESSION_TYPE_NOT_SUPPORTED',
        `SessionType=${sessionTypeText} is not supported; use Normal or Discovery`,
      ),
    };
  }
  const sessionType: SessionType = sessionTypeText;
  const initiatorAlias = find('InitiatorAlias');
  if (sessionType === 'Discovery') {
    const requiredChap = env.config.discoveryChap;
    if (requiredChap !== undefined && request.csg === OPERATIONAL) {
      return { failure: skippedSecurity('discovery sessions') };
    }
    return { identity: { initiatorName, initiatorAlias, sessionType, target: undefined, requiredChap } };
  }
  const targetName = find('TargetName');
  if (targetName === undefined) {
    return {
      failure: loginFailure(
        'MISSING_PARAMETER',
        'TargetName is missing; a normal session must name its target',
      ),
    };
  }
  const target = env.config.targets.find((candidate) => sameIscsiName(candidate.name, targetName));
  if (target === undefined) {
    return {
      failure: loginFailure(
        'NOT_FOUND',
        `target "${targetName}" does not exist here; check the name (SendTargets lists them)`,
      ),
    };
  }
  if (!isInitiatorAllowed(target.access, who)) {
    env.attempts?.failed(who, 'acl');
    return {
      failure: loginFailure(
        'AUTHORIZATION_FAILURE',
        `initiator "${initiatorName}" at ${env.initiatorAddress} is not in the ACL of target "${target.name}"; add it to the target's allowed initiators`,
      ),
    };
  }
  if (target.chap !== undefined && request.csg === OPERATIONAL) {
    return { failure: skippedSecurity(`target "${target.name}"`) };
  }
  return { identity: { initiatorName, initiatorAlias, sessionType, target, requiredChap: target.chap } };
}

function skippedSecurity(what: string): LoginFailure {
  return loginFailure(
    'AUTHENTICATION_FAILURE',
    `the initiator skipped security negotiation but CHAP is required for ${what}; configure CHAP on the initiator`,
  );
}

function securityStep(
  state: LoginCoreState,
  request: LoginRequest,
  reply: Array<[string, string]>,
  authKeys: Array<[string, string]>,
  env: LoginEnvironment,
): LoginDecision {
  const identity = state.identity!;
  const method = state.negotiation?.agreed.AuthMethod;
  let chap = state.chap;
  const keys = [...reply];
  if (authKeys.length > 0) {
    const secrets = identity.requiredChap;
    if (method !== 'CHAP' || secrets === undefined) {
      return refuse(
        state,
        request,
        loginFailure(
          'INITIATOR_ERROR',
          `${authKeys[0]![0]} sent without AuthMethod=CHAP agreed; offer AuthMethod=CHAP first`,
        ),
      );
    }
    const find = (name: string) => authKeys.find(([key]) => key === name)?.[1];
    if (chap.phase === 'idle') {
      const offered = find('CHAP_A');
      if (offered === undefined || authKeys.length > 1) {
        return refuse(
          state,
          request,
          loginFailure('INITIATOR_ERROR', 'the CHAP exchange starts with CHAP_A alone (RFC 7143 §12.1.3)'),
        );
      }
      const started = startChap({ offered, challenges: env.challenges, secrets });
      if (!started.ok) return refuse(state, request, started.failure);
      chap = { phase: 'challenged', challenge: started.challenge };
      keys.push(...started.reply);
    } else if (chap.phase === 'challenged') {
      const who: InitiatorIdentity = { name: identity.initiatorName, address: env.initiatorAddress };
      const blocked = env.attempts?.refusal(who);
      if (blocked !== undefined) {
        return refuse(state, request, loginFailure('AUTHENTICATION_FAILURE', blocked));
      }
      const verified = verifyChap(
        chap.challenge,
        {
          name: find('CHAP_N'),
          response: find('CHAP_R'),
          identifier: find('CHAP_I'),
          challenge: find('CHAP_C'),
        },
        secrets,
      );
      if (!verified.ok) {
        if (verified.wrongProof) env.attempts?.failed(who, 'credentials');
        return refuse(state, request, verified.failure);
      }
      chap = { phase: 'done', user: verified.user };
      keys.push(...verified.reply);
    } else {
      return refuse(
        state,
        request,
        loginFailure('INITIATOR_ERROR', `${authKeys[0]![0]} sent after CHAP completed`),
      );
    }
  }
  const next: LoginCoreState = { ...state, chap };
  const authenticated = chap.phase === 'done' || (identity.requiredChap === undefined && method !== 'CHAP');
  if (!request.transit || !authenticated) {
    if (request.transit && identity.requiredChap !== undefined && method === undefined) {
      return refuse(
        next,
        request,
        loginFailure(
          'AUTHENTICATION_FAILURE',
          'the initiator asked to leave security negotiation without offering AuthMethod=CHAP, which this target requires',
        ),
      );
    }
    return answer(next, request, { keys, transitTo: undefined, note: securityNote(chap, method) });
  }
  const moved: LoginCoreState = {
    ...next,
    stage: 'operationalNegotiation',
    negotiation: enterStage(next.negotiation!, 'operational'),
  };
  return answer(moved, request, {
    keys,
    transitTo: OPERATIONAL,
    note: `${securityNote(chap, method)}; to operational negotiation`,
  });
}

function securityNote(chap: ChapProgress, method: unknown): string {
  if (chap.phase === 'done') return `CHAP user "${chap.user}" authenticated`;
  if (chap.phase === 'challenged') return `CHAP ${chap.challenge.algorithm.name} challenge sent`;
  return method === undefined ? 'security negotiation' : `AuthMethod=${String(method)}`;
}

function operationalStep(
  state: LoginCoreState,
  request: LoginRequest,
  reply: Array<[string, string]>,
  env: LoginEnvironment,
): LoginDecision {
  if (!request.transit) {
    return answer(state, request, { keys: reply, transitTo: undefined, note: 'operational keys answered' });
  }
  const finished = finishNegotiation(state.negotiation!, env.config.negotiation);
  if ('error' in finished) return refuse(state, request, finished.error);
  const identity = state.identity!;
  const first = state.first!;
  const result: LoginSuccess = {
    outcome: 'fullFeature',
    sessionKind: identity.sessionType === 'Discovery' ? 'discovery' : 'normal',
    needsTsih: first.tsih === 0,
    isid: first.isid,
    tsih: first.tsih,
    cid: first.cid,
    initiatorName: identity.initiatorName,
    initiatorAlias: identity.initiatorAlias,
    targetName: identity.target?.name,
    authenticatedUser: state.chap.phase === 'done' ? state.chap.user : undefined,
    parameters: finished.parameters,
  };
  const done: LoginCoreState = { ...state, stage: 'fullFeature' };
  const note = `${result.sessionKind} session of "${identity.initiatorName}"${result.targetName ? ` to "${result.targetName}"` : ''} in full feature phase`;
  const decision = answer(done, request, { keys: reply, transitTo: FULL_FEATURE, note }, result);
  if (decision.next === 'fullFeature') {
    env.attempts?.succeeded({ name: identity.initiatorName, address: env.initiatorAddress });
  }
  return decision;
}

function answer(
  state: LoginCoreState,
  request: LoginRequest,
  what: {
    readonly keys: ReadonlyArray<readonly [string, string]>;
    readonly transitTo: number | undefined;
    readonly note: string;
  },
  result?: LoginResult,
): LoginDecision {
  const textBytes = what.keys.reduce((sum, [key, value]) => sum + utf8Bytes(key) + utf8Bytes(value) + 2, 0);
  if (textBytes > LOGIN_RESPONSE_TEXT_BYTES_MAX) {
    return refuse(
      state,
      request,
      loginFailure(
        'INITIATOR_ERROR',
        `the answer would take ${textBytes} bytes, more than the ${LOGIN_RESPONSE_TEXT_BYTES_MAX} a Login Response may carry; send fewer unknown keys`,
      ),
    );
  }
  const response: LoginResponse = {
    ...responseBase(request, state),
    transit: what.transitTo !== undefined,
    nsg: what.transitTo ?? 0,
    statusClass: LoginStatusCode.SUCCESS.statusClass,
    statusDetail: LoginStatusCode.SUCCESS.statusDetail,
    keys: what.keys,
  };
  return result === undefined
    ? { state, response, next: state.stage, note: what.note }
    : { state, response, next: state.stage, note: what.note, result };
}

function refuse(state: LoginCoreState, request: LoginRequest, failure: LoginFailure): LoginDecision {
  const failed: LoginCoreState = { ...state, stage: 'failed' };
  const response: LoginResponse = {
    ...responseBase(request, state),
    transit: false,
    nsg: 0,
    statusClass: failure.statusClass,
    statusDetail: failure.statusDetail,
    keys: [],
  };
  return {
    state: failed,
    response,
    next: 'failed',
    note: `${statusText(failure)}: ${failure.reason}`,
    result: { outcome: 'failed', failure },
  };
}

function responseBase(request: LoginRequest, state: LoginCoreState) {
  // The response's CSG is the stage the request was in (it is 0 or 1 once checkHeader passed).
  const csg = request.csg === OPERATIONAL || request.csg === SECURITY ? request.csg : stageCode(state.stage);
  return {
    continue: false,
    csg,
    versionMax: VERSION,
    versionActive: VERSION,
    isid: request.isid,
    tsih: request.tsih,
    initiatorTaskTag: request.initiatorTaskTag,
  };
}

function stageCode(stage: LoginStageName): number {
  return stage === 'operationalNegotiation' ? OPERATIONAL : SECURITY;
}
