/**
 * Login key negotiation, target side (RFC 7143 §6.2 rules, §12/§13 keys; the table is keys.ts).
 *
 * Collie is always the responder: it answers what the initiator offers and never originates a
 * negotiated key, so it never has to wait for an answer before it may transit. It does declare
 * its own declarative keys: MaxRecvDataSegmentLength in the first operational-stage answer (tgt
 * forgets to, leaving the initiator at the 8 KiB default, which is why tgt's writes are slow), and
 * TargetPortalGroupTag (with TargetAlias when one is set) in the first answer of a normal session.
 *
 * Rules, per offered key=value (answers keep the order of the offers):
 * - Unknown keys, including X-/X# extension keys, are answered NotUnderstood (§6.2, §13.22).
 * - A key offered a second time in one login (in the same PDU or a later one) is a renegotiation:
 *   login fails with 0x0200 Initiator error (§6.3: "the target MUST respond with Login reject").
 * - A key outside its stage (an operational key during SecurityNegotiation, a security key after
 *   it, SendTargets during login) or a leading-only negotiated key on a non-leading connection
 *   fails with 0x0200.
 * - A malformed or out-of-range value, a target-only key sent by the initiator, a list with no
 *   value the target supports, or an offer of a reserved answer constant is answered Reject; the
 *   key then keeps its RFC default. Exceptions that fail the login instead: an AuthMethod list
 *   with nothing acceptable (0x0201), a digest the policy requires but the initiator did not offer
 *   (0x0200), an unknown SessionType (0x0209).
 * - Keys irrelevant to the session are answered Irrelevant: most operational keys in a discovery
 *   session, FirstBurstLength when InitialR2T=Yes and ImmediateData=No (§13.14).
 * - Within one offer, SessionType is settled first and FirstBurstLength last, so irrelevance and
 *   the FirstBurstLength <= MaxBurstLength cap see the values agreed in the same PDU.
 * - CHAP_* keys are not negotiated here: they are checked for stage and duplicates, then handed
 *   back in `authKeys` for the CHAP exchange (chap.ts).
 */
import { KEY_DEFINITIONS, type KeyDefinition, keyDefinition, RESERVED_ANSWERS } from './keys.js';
import { type LoginFailure, loginFailure } from './status.js';
import { formatBoolean, parseBoolean, parseList, parseNumberInRange, utf8Bytes } from './text-values.js';

export type DigestPolicy = 'none' | 'allow' | 'require';
export type DigestName = 'None' | 'CRC32C';
export type SessionType = 'Normal' | 'Discovery';
export type AuthMethodName = 'CHAP' | 'None';
export type NegotiationStage = 'security' | 'operational';

/** What this target accepts; the answers to the initiator's offers follow from it. */
export interface NegotiationConfig {
  readonly headerDigest: DigestPolicy;
  readonly dataDigest: DigestPolicy;
  /** Our side of the OR: No lets the initiator send its first burst unsolicited. */
  readonly initialR2T: boolean;
  /** Our side of the AND. */
  readonly immediateData: boolean;
  /** Declared, not negotiated: the largest data segment the initiator may send us. */
  readonly maxRecvDataSegmentLengthBytes: number;
  /** Upper bounds for the min-rule keys. */
  readonly maxBurstLengthBytes: number;
  readonly firstBurstLengthBytes: number;
  readonly maxOutstandingR2T: number;
  readonly maxConnections: number;
  readonly errorRecoveryLevel: number;
  /** Our side of the max rule (the result is never below it). */
  readonly defaultTime2WaitSeconds: number;
  /** Upper bound of the min rule. */
  readonly defaultTime2RetainSeconds: number;
  /** iSCSIProtocolLevel: 1 is RFC 7143 (§13.24). */
  readonly protocolLevel: number;
}

/**
 * Collie's answers. Chosen so a libiscsi or open-iscsi login ends with the fast parameters:
 * - InitialR2T=No and ImmediateData=Yes: a write's first burst travels with the command.
 * - MaxRecvDataSegmentLength 262144 declared: Data-Out PDUs of 256 KiB, not tgt's 8 KiB.
 * - FirstBurstLength up to 256 KiB (what libiscsi and open-iscsi offer).
 * - MaxBurstLength up to 16776192: the RFC maximum (2^24 - 1) rounded down to a KiB, the value
 *   open-iscsi offers; the min rule then takes whatever the initiator asked (libiscsi: 256 KiB).
 * - MaxOutstandingR2T up to 16: R2Ts for a large write can be in flight together.
 * - ErrorRecoveryLevel 0 and MaxConnections 1: Collie implements neither recovery levels 1-2 nor
 *   multiple connections per session; multipath uses one session per path instead.
 * - DefaultTime2Wait 2 and DefaultTime2Retain 20: the RFC defaults (tgt's too).
 * - Digests: CRC32C when the initiator lists it first (the policy below lets an admin force or
 *   forbid it).
 */
export const COLLIE_NEGOTIATION_DEFAULTS: NegotiationConfig = {
  headerDigest: 'allow',
  dataDigest: 'allow',
  initialR2T: false,
  immediateData: true,
  maxRecvDataSegmentLengthBytes: 262144,
  maxBurstLengthBytes: 16776192,
  firstBurstLengthBytes: 262144,
  maxOutstandingR2T: 16,
  maxConnections: 1,
  errorRecoveryLevel: 0,
  defaultTime2WaitSeconds: 2,
  defaultTime2RetainSeconds: 20,
  protocolLevel: 1,
};

/** Everything negotiate() needs to know about this login besides the offer. */
export interface NegotiationTargetConfig {
  readonly negotiation: NegotiationConfig;
  /** AuthMethod values this login accepts, in the target's order of preference. */
  readonly authMethods: readonly AuthMethodName[];
  /** Declared in the first answer of a normal session; undefined for discovery sessions. */
  readonly portalGroupTag?: number;
  readonly targetAlias?: string;
}

export type AgreedValue = string | number | boolean;

export interface NegotiationState {
  readonly stage: NegotiationStage;
  /** TSIH was 0: this connection starts the session and may negotiate leading-only keys. */
  readonly leading: boolean;
  /** Every key the initiator has sent in this login (renegotiation check). */
  readonly keysSeen: readonly string[];
  /** Results and declarations so far, typed (numbers, booleans, strings). */
  readonly agreed: Readonly<Record<string, AgreedValue>>;
  readonly declaredMaxRecvDataSegmentLength: boolean;
  readonly declaredPortalGroupTag: boolean;
}

export interface NegotiationResult {
  readonly reply: Array<[string, string]>;
  readonly state: NegotiationState;
  /** CHAP_* pairs, in offer order, for the CHAP exchange. */
  readonly authKeys: Array<[string, string]>;
  readonly error?: LoginFailure;
}

export function initialNegotiationState(options: {
  readonly stage: NegotiationStage;
  readonly leading: boolean;
}): NegotiationState {
  return {
    stage: options.stage,
    leading: options.leading,
    keysSeen: [],
    agreed: {},
    declaredMaxRecvDataSegmentLength: false,
    declaredPortalGroupTag: false,
  };
}

export function enterStage(state: NegotiationState, stage: NegotiationStage): NegotiationState {
  return { ...state, stage };
}

/** The session type declared so far (Normal when none was: the RFC default). */
export function sessionTypeOf(state: NegotiationState): SessionType {
  return state.agreed.SessionType === 'Discovery' ? 'Discovery' : 'Normal';
}

/** Offered pairs past this fail the login: no real initiator sends more than about 30. */
export const OFFERED_PAIRS_MAX = 256;

/** Evaluation order within one offer: SessionType first, FirstBurstLength last. */
function priority(name: string): number {
  if (name === 'SessionType') return 0;
  if (name === 'FirstBurstLength') return 2;
  return 1;
}

type Answer =
  | { readonly kind: 'reply'; readonly value: string }
  | { readonly kind: 'silent' }
  | { readonly kind: 'auth' }
  | { readonly kind: 'fail'; readonly failure: LoginFailure };

export function negotiate(
  offered: ReadonlyArray<readonly [string, string]>,
  state: NegotiationState,
  targetConfig: NegotiationTargetConfig,
): NegotiationResult {
  if (offered.length > OFFERED_PAIRS_MAX) {
    return failed(
      state,
      loginFailure(
        'INITIATOR_ERROR',
        `the login text holds ${offered.length} keys, more than the ${OFFERED_PAIRS_MAX} Collie accepts in one request; send fewer keys`,
      ),
    );
  }
  const seen = new Set(state.keysSeen);
  const agreed: Record<string, AgreedValue> = { ...state.agreed };
  const answers = new Array<Answer>(offered.length);
  const order = offered.map((_, index) => index);
  order.sort((a, b) => priority(offered[a]![0]) - priority(offered[b]![0]) || a - b);
  for (const index of order) {
    const [name, value] = offered[index]!;
    const answer = answerOne(name, value, { state, seen, agreed, targetConfig });
    if (answer.kind === 'fail') return failed(state, answer.failure);
    answers[index] = answer;
  }
  const reply: Array<[string, string]> = [];
  const authKeys: Array<[string, string]> = [];
  offered.forEach(([name, value], index) => {
    const answer = answers[index]!;
    if (answer.kind === 'reply') reply.push([name, answer.value]);
    else if (answer.kind === 'auth') authKeys.push([name, value]);
  });
  const next = declareTargetKeys({ ...state, keysSeen: [...seen], agreed }, targetConfig, reply);
  return { reply, state: next, authKeys };
}

function failed(state: NegotiationState, failure: LoginFailure): NegotiationResult {
  return { reply: [], state, authKeys: [], error: failure };
}

interface AnswerContext {
  readonly state: NegotiationState;
  readonly seen: Set<string>;
  readonly agreed: Record<string, AgreedValue>;
  readonly targetConfig: NegotiationTargetConfig;
}

function answerOne(name: string, value: string, context: AnswerContext): Answer {
  const definition = keyDefinition(name);
  // Unknown keys, X-/X# extension keys among them (X#NodeArchitecture is in the table).
  if (definition === undefined) return reply('NotUnderstood');
  if (RESERVED_ANSWERS.has(value)) {
    // An initiator answering one of our declarations: nothing to do. Anything else is an offer of
    // a reserved constant, which §6.2 does not allow.
    if (definition.senders === 'target' || name === 'MaxRecvDataSegmentLength') return { kind: 'silent' };
    return reply('Reject');
  }
  if (context.seen.has(name)) {
    // libiscsi (and tgt accepts it) declares InitiatorName, SessionType and TargetName again in
    // the operational stage. Declaring the same value again renegotiates nothing: accept it
    // silently; a different value is the renegotiation §6.3 forbids.
    const previous = context.agreed[name];
    if (
      definition.rule.type === 'declarative' &&
      previous !== undefined &&
      String(previous).toLowerCase() === value.toLowerCase()
    ) {
      return { kind: 'silent' };
    }
    return fail(
      'INITIATOR_ERROR',
      `${name} was sent twice in one login; RFC 7143 §6.3 forbids renegotiating a key (send it once)`,
    );
  }
  context.seen.add(name);
  const placement = checkPlacement(definition, context.state);
  if (placement !== undefined) return { kind: 'fail', failure: placement };
  if (definition.senders === 'target') return reply('Reject');
  if (definition.rule.type === 'exchange' || name === 'CHAP_A') return { kind: 'auth' };
  if (utf8Bytes(value) > definition.valueBytesMax) return reply('Reject');
  if (isIrrelevant(definition, context.agreed)) return reply('Irrelevant');
  return applyRule(definition, value, context);
}

function checkPlacement(definition: KeyDefinition, state: NegotiationState): LoginFailure | undefined {
  const { name, phase } = definition;
  if (phase === 'full-feature') {
    return loginFailure(
      'INITIATOR_ERROR',
      `${name} is allowed only in a Text Request after login (RFC 7143 §13.3); send it in Full Feature Phase`,
    );
  }
  if (phase === 'security' && state.stage !== 'security') {
    return loginFailure(
      'INITIATOR_ERROR',
      `${name} is a security negotiation key (RFC 7143 §12) sent during operational negotiation; send it while CSG=0`,
    );
  }
  if (phase === 'operational' && state.stage !== 'operational') {
    return loginFailure(
      'INITIATOR_ERROR',
      `${name} is an operational key (RFC 7143 §13) sent during security negotiation; send it after moving to CSG=1`,
    );
  }
  // Declarations (SessionType and the like) may be repeated on a new connection of a session.
  if (definition.leadingOnly && !state.leading && definition.rule.type !== 'declarative') {
    return loginFailure(
      'INITIATOR_ERROR',
      `${name} may be negotiated only on the leading connection of a session (RFC 7143 §13, Use: LO); drop it from non-leading logins`,
    );
  }
  return undefined;
}

function isIrrelevant(definition: KeyDefinition, agreed: Readonly<Record<string, AgreedValue>>): boolean {
  if (definition.irrelevantInDiscovery && agreed.SessionType === 'Discovery') return true;
  if (definition.name === 'FirstBurstLength') {
    const initialR2T = agreed.InitialR2T ?? true;
    const immediateData = agreed.ImmediateData ?? true;
    return initialR2T === true && immediateData === false;
  }
  return false;
}

function applyRule(definition: KeyDefinition, value: string, context: AnswerContext): Answer {
  const { name, rule } = definition;
  const config = context.targetConfig.negotiation;
  switch (rule.type) {
    case 'list':
      return answerList(name, value, context);
    case 'boolean-and':
    case 'boolean-or': {
      const offer = parseBoolean(value);
      if (offer === undefined) return reply('Reject');
      const ours = booleanPreference(name, config);
      const result = rule.type === 'boolean-and' ? offer && ours : offer || ours;
      context.agreed[name] = result;
      return reply(formatBoolean(result));
    }
    case 'number-min':
    case 'number-max': {
      const parsed = parseNumberInRange(value, rule.range);
      if (!('value' in parsed)) return reply('Reject');
      const ours = numberPreference(name, config, context.agreed);
      const result = rule.type === 'number-min' ? Math.min(parsed.value, ours) : Math.max(parsed.value, ours);
      context.agreed[name] = result;
      return reply(String(result));
    }
    case 'declarative':
      return recordDeclaration(definition, value, context.agreed);
    case 'obsolete': {
      if (rule.answer === 'No' && parseBoolean(value) === undefined) return reply('Reject');
      return reply(rule.answer);
    }
    case 'exchange':
    case 'inquiry':
      // Handled before rules are applied (auth keys) or refused by placement (SendTargets).
      return reply('Reject');
  }
}

function answerList(name: string, value: string, context: AnswerContext): Answer {
  const offered = parseList(value);
  const supported = supportedValues(name, context.targetConfig);
  const chosen = offered?.find((item) => supported.includes(item));
  if (chosen !== undefined) {
    context.agreed[name] = chosen;
    return reply(chosen);
  }
  if (name === 'AuthMethod') {
    return fail(
      'AUTHENTICATION_FAILURE',
      `the initiator offered AuthMethod=${value} but this target accepts only ${supported.join(',')}; configure the initiator for ${supported.join(' or ')}`,
    );
  }
  if ((name === 'HeaderDigest' || name === 'DataDigest') && digestPolicy(name, context) === 'require') {
    return fail(
      'INITIATOR_ERROR',
      `${name}: this target requires CRC32C but the initiator offered ${value}; enable the ${name} on the initiator or set the target's policy to allow`,
    );
  }
  return reply('Reject');
}

function supportedValues(name: string, targetConfig: NegotiationTargetConfig): readonly string[] {
  switch (name) {
    case 'AuthMethod':
      return targetConfig.authMethods;
    case 'HeaderDigest':
      return digestValues(targetConfig.negotiation.headerDigest);
    case 'DataDigest':
      return digestValues(targetConfig.negotiation.dataDigest);
    case 'TaskReporting':
      // ResponseFence and FastAbort semantics are not implemented.
      return ['RFC3720'];
    default:
      return [];
  }
}

function digestValues(policy: DigestPolicy): readonly DigestName[] {
  if (policy === 'require') return ['CRC32C'];
  if (policy === 'allow') return ['CRC32C', 'None'];
  return ['None'];
}

function digestPolicy(name: 'HeaderDigest' | 'DataDigest', context: AnswerContext): DigestPolicy {
  const config = context.targetConfig.negotiation;
  return name === 'HeaderDigest' ? config.headerDigest : config.dataDigest;
}

function booleanPreference(name: string, config: NegotiationConfig): boolean {
  if (name === 'InitialR2T') return config.initialR2T;
  if (name === 'ImmediateData') return config.immediateData;
  // DataPDUInOrder and DataSequenceInOrder: Collie reassembles only in-order data (ERL 0).
  return true;
}

function numberPreference(
  name: string,
  config: NegotiationConfig,
  agreed: Readonly<Record<string, AgreedValue>>,
): number {
  switch (name) {
    case 'MaxConnections':
      return config.maxConnections;
    case 'MaxBurstLength':
      return config.maxBurstLengthBytes;
    case 'FirstBurstLength': {
      // FirstBurstLength MUST NOT exceed MaxBurstLength (§13.14).
      const maxBurst = typeof agreed.MaxBurstLength === 'number' ? agreed.MaxBurstLength : 262144;
      return Math.min(config.firstBurstLengthBytes, maxBurst);
    }
    case 'DefaultTime2Wait':
      return config.defaultTime2WaitSeconds;
    case 'DefaultTime2Retain':
      return config.defaultTime2RetainSeconds;
    case 'MaxOutstandingR2T':
      return config.maxOutstandingR2T;
    case 'ErrorRecoveryLevel':
      return config.errorRecoveryLevel;
    case 'iSCSIProtocolLevel':
      return config.protocolLevel;
    default:
      return 0;
  }
}

function recordDeclaration(
  definition: KeyDefinition,
  value: string,
  agreed: Record<string, AgreedValue>,
): Answer {
  if (definition.rule.type !== 'declarative') return reply('Reject');
  const { format } = definition.rule;
  switch (format.kind) {
    case 'enum':
      if (!format.values.includes(value)) {
        return fail(
          'SESSION_TYPE_NOT_SUPPORTED',
          `${definition.name}=${value} is not one of ${format.values.join(', ')}; use SessionType=Normal or Discovery`,
        );
      }
      agreed[definition.name] = value;
      return { kind: 'silent' };
    case 'number': {
      const parsed = parseNumberInRange(value, format.range);
      // A bad declaration is refused and the default stays in force (MaxRecvDataSegmentLength:
      // 8192), which is always safe for the target to send.
      if (!('value' in parsed)) return reply('Reject');
      agreed[definition.name] = parsed.value;
      return { kind: 'silent' };
    }
    case 'iscsi-name':
    case 'text':
      agreed[definition.name] = value;
      return { kind: 'silent' };
  }
}

/** Appends the target's own declarations to `reply`; returns the state that remembers them. */
function declareTargetKeys(
  state: NegotiationState,
  targetConfig: NegotiationTargetConfig,
  reply: Array<[string, string]>,
): NegotiationState {
  let next = state;
  if (!next.declaredPortalGroupTag && targetConfig.portalGroupTag !== undefined) {
    if (targetConfig.targetAlias !== undefined) reply.push(['TargetAlias', targetConfig.targetAlias]);
    reply.push(['TargetPortalGroupTag', String(targetConfig.portalGroupTag)]);
    next = { ...next, declaredPortalGroupTag: true };
  }
  if (next.stage === 'operational' && !next.declaredMaxRecvDataSegmentLength) {
    const bytes = targetConfig.negotiation.maxRecvDataSegmentLengthBytes;
    reply.push(['MaxRecvDataSegmentLength', String(bytes)]);
    next = { ...next, declaredMaxRecvDataSegmentLength: true };
  }
  return next;
}

function reply(value: string): Answer {
  return { kind: 'reply', value };
}

function fail(status: Parameters<typeof loginFailure>[0], reason: string): Answer {
  return { kind: 'fail', failure: loginFailure(status, reason) };
}

/** Parameters every connection of the session shares, as negotiated (RFC defaults otherwise). */
export interface SessionParameters {
  readonly sessionType: SessionType;
  readonly maxConnections: number;
  readonly initialR2T: boolean;
  readonly immediateData: boolean;
  readonly maxBurstLengthBytes: number;
  readonly firstBurstLengthBytes: number;
  readonly defaultTime2WaitSeconds: number;
  readonly defaultTime2RetainSeconds: number;
  readonly maxOutstandingR2T: number;
  readonly dataPduInOrder: boolean;
  readonly dataSequenceInOrder: boolean;
  readonly errorRecoveryLevel: number;
  readonly taskReporting: string;
  readonly protocolLevel: number;
}

/** Parameters of this one connection. */
export interface ConnectionParameters {
  readonly headerDigest: DigestName;
  readonly dataDigest: DigestName;
  /** The largest data segment the target may send: the initiator's declaration (default 8192). */
  readonly maxSendDataSegmentLengthBytes: number;
  /** The largest data segment the initiator may send: the target's declaration (default 8192). */
  readonly maxRecvDataSegmentLengthBytes: number;
}

export interface NegotiatedParameters {
  readonly session: SessionParameters;
  readonly connection: ConnectionParameters;
}

/**
 * The parameters in force once login completes: agreed values, RFC defaults for the rest. Fails
 * when the result breaks a rule no single answer could catch: a digest the policy requires but the
 * initiator never negotiated, or FirstBurstLength above MaxBurstLength (offered in that order
 * across PDUs).
 */
export function finishNegotiation(
  state: NegotiationState,
  config: NegotiationConfig,
): { readonly parameters: NegotiatedParameters } | { readonly error: LoginFailure } {
  const value = (name: string): AgreedValue => state.agreed[name] ?? defaultOf(name);
  const sessionType = sessionTypeOf(state);
  const headerDigest = value('HeaderDigest') as DigestName;
  const dataDigest = value('DataDigest') as DigestName;
  for (const [name, digest, policy] of [
    ['HeaderDigest', headerDigest, config.headerDigest],
    ['DataDigest', dataDigest, config.dataDigest],
  ] as const) {
    if (policy === 'require' && digest !== 'CRC32C') {
      return {
        error: loginFailure(
          'INITIATOR_ERROR',
          `this target requires ${name}=CRC32C but the initiator never negotiated it; offer ${name}=CRC32C or set the target's policy to allow`,
        ),
      };
    }
  }
  const session: SessionParameters = {
    sessionType,
    maxConnections: value('MaxConnections') as number,
    initialR2T: value('InitialR2T') as boolean,
    immediateData: value('ImmediateData') as boolean,
    maxBurstLengthBytes: value('MaxBurstLength') as number,
    firstBurstLengthBytes: value('FirstBurstLength') as number,
    defaultTime2WaitSeconds: value('DefaultTime2Wait') as number,
    defaultTime2RetainSeconds: value('DefaultTime2Retain') as number,
    maxOutstandingR2T: value('MaxOutstandingR2T') as number,
    dataPduInOrder: value('DataPDUInOrder') as boolean,
    dataSequenceInOrder: value('DataSequenceInOrder') as boolean,
    errorRecoveryLevel: value('ErrorRecoveryLevel') as number,
    taskReporting: value('TaskReporting') as string,
    protocolLevel: value('iSCSIProtocolLevel') as number,
  };
  // With InitialR2T=Yes and ImmediateData=No there is no unsolicited data: FirstBurstLength is
  // irrelevant (§13.14), and its default must not be held against a small MaxBurstLength.
  const firstBurstMatters = session.initialR2T === false || session.immediateData === true;
  if (
    sessionType === 'Normal' &&
    firstBurstMatters &&
    session.firstBurstLengthBytes > session.maxBurstLengthBytes
  ) {
    return {
      error: loginFailure(
        'INITIATOR_ERROR',
        `FirstBurstLength ${session.firstBurstLengthBytes} exceeds MaxBurstLength ${session.maxBurstLengthBytes} (RFC 7143 §13.14); offer a FirstBurstLength no larger than MaxBurstLength`,
      ),
    };
  }
  const connection: ConnectionParameters = {
    headerDigest,
    dataDigest,
    maxSendDataSegmentLengthBytes: value('MaxRecvDataSegmentLength') as number,
    maxRecvDataSegmentLengthBytes: state.declaredMaxRecvDataSegmentLength
      ? config.maxRecvDataSegmentLengthBytes
      : DEFAULT_DATA_SEGMENT_BYTES,
  };
  return { parameters: { session, connection } };
}

const DEFAULT_DATA_SEGMENT_BYTES = 8192;

/** The RFC default of a key, typed the way `agreed` holds values. */
function defaultOf(name: string): AgreedValue {
  const definition = KEY_DEFINITIONS.find((d) => d.name === name);
  const text = definition?.rfcDefault;
  if (definition === undefined || text === undefined) return '';
  const rule = definition.rule;
  if (rule.type === 'boolean-and' || rule.type === 'boolean-or') return text === 'Yes';
  if (rule.type === 'number-min' || rule.type === 'number-max') return Number(text);
  if (rule.type === 'declarative' && rule.format.kind === 'number') return Number(text);
  return text;
}
