/**
 * One login, initiator side, sans-I/O (RFC 7143 §6.3, §11.12, §11.13): Login Responses in, the
 * next Login Request (or the outcome) out. The driver frames bytes and keeps the timer.
 *
 * The conversation, with T (transit) and the stages it asks for:
 *   security (CSG 0 → NSG 1, T=1): InitiatorName, SessionType, TargetName, AuthMethod
 *     AuthMethod=None answered with T=1          → operational
 *     AuthMethod=CHAP answered                    → CHAP_A (T=0) → challenge → CHAP_N, CHAP_R
 *                                                    [+ CHAP_I, CHAP_C for mutual] (T=1)
 *   operational (CSG 1 → NSG 3, T=1): every operational key once (operational-offer.ts)
 *     T=1 NSG=3 answered                          → full feature phase
 *     T=0 answered                                → an empty request with T=1 again
 * A Login Response with C=1 is followed by an empty request (T=0) to fetch the rest (§11.13.2).
 *
 * Rules the initiator keeps: ISID, TSIH, CID, CmdSN and the Initiator Task Tag stay the same for
 * the whole login; ExpStatSN follows each response's StatSN. Rules it checks on the target: a
 * non-zero status ends the login with that status; a transition must go forward to the stage we
 * asked for or stay; mutual CHAP must prove the target knows its secret; answers must follow their
 * keys' rules. At most LOGIN_ROUNDS_MAX requests are sent, so a target that never transits fails.
 */
import type { Rng } from '../../src/core/rng.js';
import type { LoginRequestPdu, LoginResponsePdu } from '../../src/iscsi/pdu/messages.js';
import { ISCSI_VERSION, LoginStage, LoginStatusClass } from '../../src/iscsi/pdu/opcodes.js';
import { encodeTextData, parseTextData, TextAccumulator, type TextPair } from '../../src/iscsi/pdu/text.js';
import {
  chapAnswer,
  drawChapChallenge,
  formatChapHex,
  isChapAlgorithm,
  parseChapBinary,
} from './chap-answer.js';
import { IscsiLoginError } from './initiator-errors.js';
import {
  type DigestChoice,
  type InitiatorParameters,
  OperationalAnswers,
  type OperationalOffer,
  offerPairs,
} from './operational-offer.js';

/** Requests per login; a good login takes 2 to 4. */
export const LOGIN_ROUNDS_MAX = 16;
/** Text of one response sequence joined across C=1 PDUs. */
const LOGIN_TEXT_BYTES_MAX = 64 * 1024;
/** The Initiator Task Tag of every Login Request (tags of the session start after it). */
export const LOGIN_TASK_TAG = 0;

export interface ChapCredentials {
  readonly user: string;
  readonly secret: string;
  /** The target's account for mutual CHAP: we challenge it and check its answer. */
  readonly mutual?: { readonly user: string; readonly secret: string };
  /** CHAP_A offer, in order of preference; default [5] (MD5, what every target has). */
  readonly algorithms?: readonly number[];
}

export interface LoginSettings {
  readonly initiatorName: string;
  readonly sessionType: 'Normal' | 'Discovery';
  /** Required for a normal session. */
  readonly targetName?: string;
  /** 12 hex digits. */
  readonly isid: string;
  /** 0 to start a new session (or reinstate one with the same ISID). */
  readonly tsih: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly chap?: ChapCredentials;
  readonly digests: DigestChoice;
  readonly offer: OperationalOffer;
  /** Draws the mutual CHAP challenge. */
  readonly rng: Rng;
}

export interface LoginOutcome {
  readonly tsih: number;
  /** StatSN of the final Login Response; the session's ExpStatSN is one more. */
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly parameters: InitiatorParameters;
  readonly targetPortalGroupTag: number | undefined;
  readonly targetAlias: string | undefined;
  /** Every key=value the target sent during the operational stage, in order. */
  readonly operationalAnswers: readonly TextPair[];
}

export type LoginStep =
  | { readonly kind: 'send'; readonly request: LoginRequestPdu }
  | { readonly kind: 'done'; readonly outcome: LoginOutcome }
  | { readonly kind: 'failed'; readonly error: IscsiLoginError };

type ChapState =
  | { readonly phase: 'none' }
  | { readonly phase: 'offered' }
  | { readonly phase: 'algorithm-sent' }
  | {
      readonly phase: 'answered';
      readonly mutual: { identifier: number; challenge: Buffer; algorithm: number } | undefined;
    }
  | { readonly phase: 'done' };

export class LoginExchange {
  readonly #settings: LoginSettings;
  readonly #accumulator = new TextAccumulator({ bytesMax: LOGIN_TEXT_BYTES_MAX });
  readonly #operationalOffer: TextPair[];
  readonly #answers: OperationalAnswers;
  #stage: number = LoginStage.SECURITY_NEGOTIATION;
  #chap: ChapState;
  #expStatSN = 0;
  #rounds = 0;

  constructor(settings: LoginSettings) {
    this.#settings = settings;
    this.#chap = settings.chap ? { phase: 'offered' } : { phase: 'none' };
    this.#operationalOffer = offerPairs(settings.offer, settings.digests, settings.sessionType);
    this.#answers = new OperationalAnswers(this.#operationalOffer);
  }

  /** The first Login Request. */
  start(): LoginRequestPdu {
    const settings = this.#settings;
    const pairs: TextPair[] = [
      ['InitiatorName', settings.initiatorName],
      ['SessionType', settings.sessionType],
    ];
    if (settings.targetName !== undefined) pairs.push(['TargetName', settings.targetName]);
    pairs.push(['AuthMethod', settings.chap ? 'CHAP,None' : 'None']);
    return this.#request(pairs, { transit: true });
  }

  receive(response: LoginResponsePdu): LoginStep {
    if (response.statusClass !== LoginStatusClass.SUCCESS) {
      const status = (response.statusClass << 8) | response.statusDetail;
      return failed(
        'ISCSI_LOGIN_REFUSED',
        `the target refused the login with status 0x${status.toString(16).padStart(4, '0')}`,
        status,
      );
    }
    this.#expStatSN = (response.statSN + 1) >>> 0;
    const joined = this.#accumulator.push(response.data, response.continue);
    if (!joined.ok) return failed('ISCSI_LOGIN_PROTOCOL', joined.error.message);
    if (joined.value === undefined) {
      // §11.13.2: the rest of the text follows; an empty request (T=0) asks for it.
      return { kind: 'send', request: this.#request([], { transit: false }) };
    }
    const parsed = parseTextData(joined.value);
    if (!parsed.ok) return failed('ISCSI_LOGIN_PROTOCOL', `login text: ${parsed.error.message}`);
    if (response.csg !== this.#stage) {
      return failed(
        'ISCSI_LOGIN_PROTOCOL',
        `Login Response CSG ${response.csg} while in stage ${this.#stage}`,
      );
    }
    if (response.transit && response.nsg <= this.#stage) {
      return failed(
        'ISCSI_LOGIN_PROTOCOL',
        `Login Response T=1 with NSG ${response.nsg} from stage ${this.#stage}`,
      );
    }
    return this.#stage === LoginStage.SECURITY_NEGOTIATION
      ? this.#security(response, parsed.value.pairs)
      : this.#operational(response, parsed.value.pairs);
  }

  #security(response: LoginResponsePdu, pairs: readonly TextPair[]): LoginStep {
    const find = (key: string) => pairs.find(([name]) => name === key)?.[1];
    this.#answers.takeDeclarations(pairs);
    const chap = this.#chap;
    const method = find('AuthMethod');
    if (method !== undefined && method !== 'None' && method !== 'CHAP') {
      return failed('ISCSI_LOGIN_PROTOCOL', `the target chose AuthMethod=${method}, which was not offered`);
    }
    if (method === 'CHAP' && chap.phase === 'none') {
      return failed('ISCSI_LOGIN_PROTOCOL', 'the target chose AuthMethod=CHAP, which was not offered');
    }
    if (chap.phase === 'offered' && method === 'CHAP') {
      this.#chap = { phase: 'algorithm-sent' };
      const algorithms = this.#settings.chap?.algorithms ?? [5];
      return { kind: 'send', request: this.#request([['CHAP_A', algorithms.join(',')]], { transit: false }) };
    }
    if (chap.phase === 'algorithm-sent') return this.#answerChallenge(find);
    if (chap.phase === 'answered') {
      const problem = this.#checkMutual(chap.mutual, find);
      if (problem !== undefined) return problem;
      this.#chap = { phase: 'done' };
    }
    if (chap.phase === 'offered' && method === 'None') this.#chap = { phase: 'none' };
    if (!response.transit) {
      return this.#round(() => this.#request([], { transit: true }));
    }
    if (response.nsg !== LoginStage.LOGIN_OPERATIONAL_NEGOTIATION) {
      // We asked for NSG 1; the target may not skip past the stage it was asked for.
      return failed(
        'ISCSI_LOGIN_PROTOCOL',
        `the target moved to stage ${response.nsg}, not the operational stage`,
      );
    }
    if (this.#chap.phase !== 'none' && this.#chap.phase !== 'done') {
      return failed('ISCSI_LOGIN_PROTOCOL', 'the target left security negotiation before CHAP completed');
    }
    this.#stage = LoginStage.LOGIN_OPERATIONAL_NEGOTIATION;
    return { kind: 'send', request: this.#request(this.#operationalOffer, { transit: true }) };
  }

  #answerChallenge(find: (key: string) => string | undefined): LoginStep {
    const credentials = this.#settings.chap!;
    const algorithm = Number(find('CHAP_A'));
    const identifier = Number(find('CHAP_I'));
    const challenge = parseChapBinary(find('CHAP_C') ?? '');
    const offered = credentials.algorithms ?? [5];
    if (!isChapAlgorithm(algorithm) || !offered.includes(algorithm)) {
      return failed(
        'ISCSI_LOGIN_PROTOCOL',
        `the target chose CHAP_A=${find('CHAP_A')}, which was not offered`,
      );
    }
    if (!Number.isInteger(identifier) || identifier < 0 || identifier > 255 || challenge === undefined) {
      return failed('ISCSI_LOGIN_PROTOCOL', 'the target sent no usable CHAP_I and CHAP_C');
    }
    const answer = chapAnswer(algorithm, identifier, Buffer.from(credentials.secret, 'utf8'), challenge);
    const pairs: TextPair[] = [
      ['CHAP_N', credentials.user],
      ['CHAP_R', formatChapHex(answer)],
    ];
    let mutual: { identifier: number; challenge: Buffer; algorithm: number } | undefined;
    if (credentials.mutual) {
      const drawn = drawChapChallenge(this.#settings.rng, algorithm);
      mutual = { ...drawn, algorithm };
      pairs.push(['CHAP_I', String(drawn.identifier)], ['CHAP_C', formatChapHex(drawn.challenge)]);
    }
    this.#chap = { phase: 'answered', mutual };
    return { kind: 'send', request: this.#request(pairs, { transit: true }) };
  }

  #checkMutual(
    mutual: { identifier: number; challenge: Buffer; algorithm: number } | undefined,
    find: (key: string) => string | undefined,
  ): LoginStep | undefined {
    const expected = this.#settings.chap?.mutual;
    if (mutual === undefined || expected === undefined) return undefined;
    const name = find('CHAP_N');
    const response = parseChapBinary(find('CHAP_R') ?? '');
    const wanted = chapAnswer(
      mutual.algorithm,
      mutual.identifier,
      Buffer.from(expected.secret, 'utf8'),
      mutual.challenge,
    );
    if (name !== expected.user || response === undefined || !response.equals(wanted)) {
      return failed(
        'ISCSI_LOGIN_TARGET_NOT_AUTHENTICATED',
        `mutual CHAP: the target answered as "${name ?? '(no CHAP_N)'}" without proving it knows the secret of "${expected.user}"`,
      );
    }
    return undefined;
  }

  #operational(response: LoginResponsePdu, pairs: readonly TextPair[]): LoginStep {
    this.#answers.take(pairs);
    if (!response.transit) return this.#round(() => this.#request([], { transit: true }));
    if (response.nsg !== LoginStage.FULL_FEATURE_PHASE) {
      return failed(
        'ISCSI_LOGIN_PROTOCOL',
        `the target moved to stage ${response.nsg}, not full feature phase`,
      );
    }
    const parameters = this.#answers.finish(this.#settings.offer);
    if (typeof parameters === 'string') return failed('ISCSI_LOGIN_PROTOCOL', parameters);
    if (this.#settings.sessionType === 'Normal' && response.tsih === 0) {
      return failed('ISCSI_LOGIN_PROTOCOL', 'the final Login Response of a new session has TSIH 0');
    }
    const declarations = this.#answers.declarations;
    const tag = declarations.get('TargetPortalGroupTag');
    return {
      kind: 'done',
      outcome: {
        tsih: response.tsih,
        statSN: response.statSN,
        expCmdSN: response.expCmdSN,
        maxCmdSN: response.maxCmdSN,
        parameters,
        targetPortalGroupTag: tag === undefined ? undefined : Number(tag),
        targetAlias: declarations.get('TargetAlias'),
        operationalAnswers: this.#answers.received,
      },
    };
  }

  /** Another request, unless the login has gone on too long. */
  #round(build: () => LoginRequestPdu): LoginStep {
    if (this.#rounds >= LOGIN_ROUNDS_MAX) {
      return failed(
        'ISCSI_LOGIN_PROTOCOL',
        `the target did not finish the login in ${LOGIN_ROUNDS_MAX} requests`,
      );
    }
    return { kind: 'send', request: build() };
  }

  #request(pairs: readonly TextPair[], options: { transit: boolean }): LoginRequestPdu {
    this.#rounds += 1;
    const settings = this.#settings;
    const security = this.#stage === LoginStage.SECURITY_NEGOTIATION;
    return {
      kind: 'login-request',
      ahs: [],
      data: encodeTextData(pairs),
      transit: options.transit,
      continue: false,
      csg: this.#stage,
      nsg: options.transit
        ? security
          ? LoginStage.LOGIN_OPERATIONAL_NEGOTIATION
          : LoginStage.FULL_FEATURE_PHASE
        : 0,
      versionMax: ISCSI_VERSION,
      versionMin: ISCSI_VERSION,
      isid: settings.isid,
      tsih: settings.tsih,
      initiatorTaskTag: LOGIN_TASK_TAG,
      cid: settings.cid,
      cmdSN: settings.cmdSN,
      expStatSN: this.#expStatSN,
    };
  }
}

function failed(code: IscsiLoginError['code'], message: string, status = 0): LoginStep {
  return { kind: 'failed', error: new IscsiLoginError(code, message, status) };
}
