/**
 * Operational keys, initiator side (RFC 7143 §6.2, §13): what the simulated initiator offers, and
 * the parameters that follow from the target's answers.
 *
 * The initiator is always the originator here: it offers every key once in the first
 * operational Login Request and checks each answer against the key's rule, so a target that
 * answers outside the rule fails the login instead of silently changing the session:
 *   list (digests)         the answer must be one of the offered values;
 *   AND (ImmediateData, DataPDUInOrder, DataSequenceInOrder)  an offered No must stay No;
 *   OR (InitialR2T)        an offered Yes must stay Yes;
 *   min (burst lengths, MaxOutstandingR2T, MaxConnections, ErrorRecoveryLevel, Time2Retain)
 *                          the answer must not exceed the offer;
 *   max (DefaultTime2Wait) the answer must not be below the offer.
 * Reject, NotUnderstood and Irrelevant leave the RFC default in force. A missing answer is a
 * violation, except where §6.2.2 makes it optional (AND offered No, OR offered Yes).
 * MaxRecvDataSegmentLength is declarative both ways: ours bounds what the target sends us, the
 * target's (8192 when it declares none, §13.12) bounds what we send.
 */
import type { TextPair } from '../../src/iscsi/pdu/text.js';

export interface OperationalOffer {
  readonly initialR2T: boolean;
  readonly immediateData: boolean;
  /** Declared: the largest data segment the target may send us. */
  readonly maxRecvDataSegmentLengthBytes: number;
  readonly maxBurstLengthBytes: number;
  readonly firstBurstLengthBytes: number;
  readonly maxOutstandingR2T: number;
  readonly maxConnections: number;
  readonly errorRecoveryLevel: number;
  readonly defaultTime2WaitSeconds: number;
  readonly defaultTime2RetainSeconds: number;
  readonly dataPduInOrder: boolean;
  readonly dataSequenceInOrder: boolean;
  /** Sent as they are after the keys above (unknown keys, odd values), answers only recorded. */
  readonly extraKeys: readonly TextPair[];
}

/** Close to what open-iscsi offers, with a smaller first burst so unsolicited Data-Out shows up. */
export const INITIATOR_OFFER_DEFAULTS: OperationalOffer = {
  initialR2T: false,
  immediateData: true,
  maxRecvDataSegmentLengthBytes: 262144,
  maxBurstLengthBytes: 262144,
  firstBurstLengthBytes: 65536,
  maxOutstandingR2T: 4,
  maxConnections: 1,
  errorRecoveryLevel: 0,
  defaultTime2WaitSeconds: 2,
  defaultTime2RetainSeconds: 0,
  dataPduInOrder: true,
  dataSequenceInOrder: true,
  extraKeys: [],
};

/** What the session runs with once login is over. */
export interface InitiatorParameters {
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  readonly initialR2T: boolean;
  readonly immediateData: boolean;
  readonly maxBurstLengthBytes: number;
  readonly firstBurstLengthBytes: number;
  readonly maxOutstandingR2T: number;
  readonly maxConnections: number;
  readonly errorRecoveryLevel: number;
  readonly defaultTime2WaitSeconds: number;
  readonly defaultTime2RetainSeconds: number;
  readonly dataPduInOrder: boolean;
  readonly dataSequenceInOrder: boolean;
  /** Our declaration: the largest data segment the target may send us. */
  readonly maxRecvDataSegmentLengthBytes: number;
  /** The target's declaration: the largest data segment we may send. */
  readonly maxSendDataSegmentLengthBytes: number;
}

type Rule = 'list' | 'and' | 'or' | 'min' | 'max';

interface KeySpec {
  readonly key: string;
  readonly rule: Rule;
  readonly rfcDefault: string;
  readonly field: keyof InitiatorParameters;
  /** Sent in discovery sessions too (the rest are irrelevant there, §13). */
  readonly discovery: boolean;
}

const KEY_SPECS: readonly KeySpec[] = [
  { key: 'HeaderDigest', rule: 'list', rfcDefault: 'None', field: 'headerDigest', discovery: true },
  { key: 'DataDigest', rule: 'list', rfcDefault: 'None', field: 'dataDigest', discovery: true },
  { key: 'MaxConnections', rule: 'min', rfcDefault: '1', field: 'maxConnections', discovery: false },
  { key: 'InitialR2T', rule: 'or', rfcDefault: 'Yes', field: 'initialR2T', discovery: false },
  { key: 'ImmediateData', rule: 'and', rfcDefault: 'Yes', field: 'immediateData', discovery: false },
  {
    key: 'MaxBurstLength',
    rule: 'min',
    rfcDefault: '262144',
    field: 'maxBurstLengthBytes',
    discovery: false,
  },
  {
    key: 'FirstBurstLength',
    rule: 'min',
    rfcDefault: '65536',
    field: 'firstBurstLengthBytes',
    discovery: false,
  },
  {
    key: 'DefaultTime2Wait',
    rule: 'max',
    rfcDefault: '2',
    field: 'defaultTime2WaitSeconds',
    discovery: false,
  },
  {
    key: 'DefaultTime2Retain',
    rule: 'min',
    rfcDefault: '20',
    field: 'defaultTime2RetainSeconds',
    discovery: false,
  },
  { key: 'MaxOutstandingR2T', rule: 'min', rfcDefault: '1', field: 'maxOutstandingR2T', discovery: false },
  { key: 'DataPDUInOrder', rule: 'and', rfcDefault: 'Yes', field: 'dataPduInOrder', discovery: false },
  {
    key: 'DataSequenceInOrder',
    rule: 'and',
    rfcDefault: 'Yes',
    field: 'dataSequenceInOrder',
    discovery: false,
  },
  { key: 'ErrorRecoveryLevel', rule: 'min', rfcDefault: '0', field: 'errorRecoveryLevel', discovery: false },
];

/** Answers that leave a key at its default (§6.2). */
const DEFAULTING_ANSWERS = new Set(['Reject', 'NotUnderstood', 'Irrelevant']);
/** Keys the target declares (never answers). */
const TARGET_DECLARATIONS = new Set([
  'MaxRecvDataSegmentLength',
  'TargetPortalGroupTag',
  'TargetAlias',
  'TargetAddress',
]);
const DEFAULT_DATA_SEGMENT_BYTES = 8192;

export interface DigestChoice {
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
}

/** The pairs of the first operational Login Request, in the order sent. */
export function offerPairs(
  offer: OperationalOffer,
  digests: DigestChoice,
  sessionType: 'Normal' | 'Discovery',
): TextPair[] {
  const values: Record<string, string> = {
    HeaderDigest: digests.headerDigest ? 'CRC32C,None' : 'None',
    DataDigest: digests.dataDigest ? 'CRC32C,None' : 'None',
    MaxConnections: String(offer.maxConnections),
    InitialR2T: yesNo(offer.initialR2T),
    ImmediateData: yesNo(offer.immediateData),
    MaxBurstLength: String(offer.maxBurstLengthBytes),
    FirstBurstLength: String(offer.firstBurstLengthBytes),
    DefaultTime2Wait: String(offer.defaultTime2WaitSeconds),
    DefaultTime2Retain: String(offer.defaultTime2RetainSeconds),
    MaxOutstandingR2T: String(offer.maxOutstandingR2T),
    DataPDUInOrder: yesNo(offer.dataPduInOrder),
    DataSequenceInOrder: yesNo(offer.dataSequenceInOrder),
    ErrorRecoveryLevel: String(offer.errorRecoveryLevel),
  };
  const pairs: TextPair[] = KEY_SPECS.filter((spec) => sessionType === 'Normal' || spec.discovery).map(
    (spec) => [spec.key, values[spec.key]!] as const,
  );
  pairs.push(['MaxRecvDataSegmentLength', String(offer.maxRecvDataSegmentLengthBytes)]);
  pairs.push(...offer.extraKeys);
  return pairs;
}

/**
 * Collects the target's operational answers (over one or more Login Responses) and turns them
 * into parameters, reporting the first answer that breaks its rule.
 */
export class OperationalAnswers {
  readonly #offered: ReadonlyMap<string, string>;
  readonly #answers = new Map<string, string>();
  readonly #declarations = new Map<string, string>();
  readonly #problems: string[] = [];
  /** Every pair the target sent, in order (for tests that look at NotUnderstood and the like). */
  readonly received: TextPair[] = [];

  constructor(offered: readonly TextPair[]) {
    this.#offered = new Map(offered);
  }

  get declarations(): ReadonlyMap<string, string> {
    return this.#declarations;
  }

  /** Security-stage answers: only the target's declarations matter here (TargetPortalGroupTag). */
  takeDeclarations(pairs: readonly TextPair[]): void {
    for (const [key, value] of pairs) if (TARGET_DECLARATIONS.has(key)) this.#declarations.set(key, value);
  }

  take(pairs: readonly TextPair[]): void {
    for (const [key, value] of pairs) {
      this.received.push([key, value]);
      if (TARGET_DECLARATIONS.has(key)) this.#declarations.set(key, value);
      else if (this.#offered.has(key)) this.#answers.set(key, value);
      else this.#problems.push(`the target sent ${key}=${value}, a key the initiator did not offer`);
    }
  }

  finish(offer: OperationalOffer): InitiatorParameters | string {
    const result: Record<string, number | boolean> = {};
    for (const spec of KEY_SPECS) {
      const offered = this.#offered.get(spec.key);
      const answer = offered === undefined ? undefined : this.#answers.get(spec.key);
      const value = offered === undefined ? spec.rfcDefault : this.#resolve(spec, offered, answer);
      result[spec.field] = spec.rule === 'list' ? value === 'CRC32C' : parseValue(value);
    }
    const declared = Number(this.#declarations.get('MaxRecvDataSegmentLength') ?? DEFAULT_DATA_SEGMENT_BYTES);
    if (!Number.isInteger(declared) || declared < 512 || declared > 0xff_ffff) {
      this.#problems.push(`the target declared MaxRecvDataSegmentLength=${declared}, outside 512..16777215`);
    }
    const problem = this.#problems[0];
    if (problem !== undefined) return problem;
    return {
      ...(result as unknown as InitiatorParameters),
      maxRecvDataSegmentLengthBytes: offer.maxRecvDataSegmentLengthBytes,
      maxSendDataSegmentLengthBytes: declared,
    };
  }

  #resolve(spec: KeySpec, offered: string, answer: string | undefined): string {
    if (answer === undefined) {
      if ((spec.rule === 'and' && offered === 'No') || (spec.rule === 'or' && offered === 'Yes'))
        return offered;
      this.#problems.push(
        `the target did not answer ${spec.key}=${offered} (RFC 7143 §6.2: answer every offer)`,
      );
      return spec.rfcDefault;
    }
    if (DEFAULTING_ANSWERS.has(answer)) return spec.rfcDefault;
    if (!allowedAnswer(spec.rule, offered, answer)) {
      this.#problems.push(
        `the target answered ${spec.key}=${answer} to the offer ${offered}, which the ${spec.rule} rule does not allow`,
      );
      return spec.rfcDefault;
    }
    return answer;
  }
}

function allowedAnswer(rule: Rule, offered: string, answer: string): boolean {
  switch (rule) {
    case 'list':
      return offered.split(',').includes(answer);
    case 'and':
      return answer === 'No' || (answer === 'Yes' && offered === 'Yes');
    case 'or':
      return answer === 'Yes' || (answer === 'No' && offered === 'No');
    case 'min':
      return isNumber(answer) && Number(answer) <= Number(offered);
    case 'max':
      return isNumber(answer) && Number(answer) >= Number(offered);
  }
}

function isNumber(text: string): boolean {
  return /^(0|[1-9][0-9]*)$/.test(text);
}

function parseValue(text: string): number | boolean {
  if (text === 'Yes') return true;
  if (text === 'No') return false;
  return Number(text);
}

function yesNo(value: boolean): string {
  return value ? 'Yes' : 'No';
}
