/**
 * Every login/text key this target understands (RFC 7143 §12 security keys, §13 operational
 * keys), with the facts the negotiator needs.
 *
 * Vocabulary (RFC 7143 §6.2 and the "Use" lines of §13):
 * - phase: where a key may appear. `security` keys only in SecurityNegotiation, `operational` keys
 *   only in LoginOperationalNegotiation (and, for Use=ALL keys, in Full Feature Phase text
 *   negotiation), `any-stage` keys (the declarative "Any-Stage" ones) in either login stage,
 *   `full-feature` keys (Use=FFPO) only in Text requests after login.
 * - scope: `session` keys bind every connection of the session (SW), `connection` keys one (CO).
 * - leadingOnly: Use=LO, the key may be sent only while logging in the session's first connection.
 * - rule: how the answer is computed.
 *     list          the responder picks the first offered value it supports (§6.2.1);
 *     boolean-and   result Yes only if both say Yes; boolean-or: Yes if either says Yes;
 *     number-min    result is the smaller value; number-max: the larger (§6.2.2);
 *     declarative   the sender states its value, nobody answers;
 *     exchange      CHAP_I/C/N/R: steps of an authentication exchange, not negotiations;
 *     inquiry       SendTargets: a question answered with other keys (Appendix C);
 *     obsolete      the marker keys RFC 7143 §13.25 retired: IFMarker/OFMarker may be answered
 *                   No (RFC 3720 peers expect it, tgt does it), IFMarkInt/OFMarkInt MUST be
 *                   answered Reject; never NotUnderstood.
 * - rfcDefault: the value in force when nobody negotiates the key, spelled as on the wire.
 * - valueBytesMax: 255 unless the key says otherwise (§6.1); iSCSI names 223 (§4.2.7);
 *   CHAP_C/CHAP_R carry up to 1024 binary bytes (§12.1.3), 2050 characters in hex.
 *
 * Keys not in this table are answered NotUnderstood, including the private "X-" and public "X#"
 * extension keys (§13.22) other than X#NodeArchitecture, which is declarative and only recorded.
 */

export type KeyPhase = 'security' | 'operational' | 'any-stage' | 'full-feature';
export type KeyScope = 'session' | 'connection';
export type KeySenders = 'initiator' | 'target' | 'both';

export interface NumberRange {
  readonly min: number;
  readonly max: number;
}

export type DeclarativeFormat =
  | { readonly kind: 'iscsi-name' }
  | { readonly kind: 'text' }
  | { readonly kind: 'number'; readonly range: NumberRange }
  | { readonly kind: 'enum'; readonly values: readonly string[] };

export type KeyRule =
  | { readonly type: 'list'; readonly values: readonly string[] }
  | { readonly type: 'boolean-and' }
  | { readonly type: 'boolean-or' }
  | { readonly type: 'number-min'; readonly range: NumberRange }
  | { readonly type: 'number-max'; readonly range: NumberRange }
  | { readonly type: 'declarative'; readonly format: DeclarativeFormat }
  | { readonly type: 'exchange' }
  | { readonly type: 'inquiry' }
  | { readonly type: 'obsolete'; readonly answer: 'No' | 'Reject' };

export interface KeyDefinition {
  readonly name: string;
  /** RFC 7143 section. */
  readonly section: string;
  readonly phase: KeyPhase;
  readonly scope: KeyScope;
  readonly leadingOnly: boolean;
  readonly senders: KeySenders;
  readonly rule: KeyRule;
  readonly rfcDefault: string | undefined;
  readonly irrelevantInDiscovery: boolean;
  readonly valueBytesMax: number;
}

/** 512 to 2^24 - 1 bytes: MaxRecvDataSegmentLength, MaxBurstLength, FirstBurstLength. */
export const DATA_LENGTH_RANGE: NumberRange = { min: 512, max: 0xff_ffff };
export const VALUE_BYTES_MAX_DEFAULT = 255;
/** "0x" and 2 hex digits for each of at most 1024 bytes (§12.1.3). */
export const CHAP_BINARY_VALUE_BYTES_MAX = 2 + 2 * 1024;
export const ISCSI_NAME_VALUE_BYTES_MAX = 223;

type Entry = Omit<KeyDefinition, 'valueBytesMax' | 'irrelevantInDiscovery' | 'leadingOnly'> &
  Partial<Pick<KeyDefinition, 'valueBytesMax' | 'irrelevantInDiscovery' | 'leadingOnly'>>;

function key(entry: Entry): KeyDefinition {
  return {
    valueBytesMax: VALUE_BYTES_MAX_DEFAULT,
    irrelevantInDiscovery: false,
    leadingOnly: false,
    ...entry,
  };
}

/** Session-wide, leading-only, negotiated operational keys share these facts. */
const LO_OPERATIONAL = {
  phase: 'operational',
  scope: 'session',
  leadingOnly: true,
  senders: 'both',
} as const;

const DIGEST_VALUES = ['CRC32C', 'None'] as const;

export const KEY_DEFINITIONS: readonly KeyDefinition[] = [
  // §12: security negotiation.
  key({
    name: 'AuthMethod',
    section: '12.1',
    phase: 'security',
    scope: 'connection',
    senders: 'both',
    rule: { type: 'list', values: ['KRB5', 'SRP', 'CHAP', 'None'] },
    rfcDefault: 'None',
  }),
  key({
    name: 'CHAP_A',
    section: '12.1.3',
    phase: 'security',
    scope: 'connection',
    senders: 'both',
    // Values are IANA "PPP Authentication Algorithms": 5 MD5, 6 SHA-1, 7 SHA-256, 8 SHA3-256.
    rule: { type: 'list', values: ['5', '6', '7', '8'] },
    rfcDefault: undefined,
  }),
  ...['CHAP_I', 'CHAP_N'].map((name) =>
    key({
      name,
      section: '12.1.3',
      phase: 'security',
      scope: 'connection',
      senders: 'both',
      rule: { type: 'exchange' },
      rfcDefault: undefined,
    }),
  ),
  ...['CHAP_C', 'CHAP_R'].map((name) =>
    key({
      name,
      section: '12.1.3',
      phase: 'security',
      scope: 'connection',
      senders: 'both',
      rule: { type: 'exchange' },
      rfcDefault: undefined,
      valueBytesMax: CHAP_BINARY_VALUE_BYTES_MAX,
    }),
  ),
  // §13: operational keys.
  ...['HeaderDigest', 'DataDigest'].map((name) =>
    key({
      name,
      section: '13.1',
      phase: 'operational',
      scope: 'connection',
      senders: 'both',
      rule: { type: 'list', values: DIGEST_VALUES },
      rfcDefault: 'None',
    }),
  ),
  key({
    name: 'MaxConnections',
    section: '13.2',
    ...LO_OPERATIONAL,
    rule: { type: 'number-min', range: { min: 1, max: 65535 } },
    rfcDefault: '1',
    irrelevantInDiscovery: true,
  }),
  key({
    name: 'SendTargets',
    section: '13.3',
    phase: 'full-feature',
    scope: 'session',
    senders: 'initiator',
    rule: { type: 'inquiry' },
    rfcDefault: undefined,
  }),
  key({
    name: 'TargetName',
    section: '13.4',
    phase: 'any-stage',
    scope: 'session',
    // The initiator declares it at login; the target returns it only in SendTargets answers.
    senders: 'both',
    rule: { type: 'declarative', format: { kind: 'iscsi-name' } },
    rfcDefault: undefined,
    valueBytesMax: ISCSI_NAME_VALUE_BYTES_MAX,
  }),
  key({
    name: 'InitiatorName',
    section: '13.5',
    phase: 'any-stage',
    scope: 'session',
    senders: 'initiator',
    rule: { type: 'declarative', format: { kind: 'iscsi-name' } },
    rfcDefault: undefined,
    valueBytesMax: ISCSI_NAME_VALUE_BYTES_MAX,
  }),
  key({
    name: 'TargetAlias',
    section: '13.6',
    phase: 'any-stage',
    scope: 'session',
    senders: 'target',
    rule: { type: 'declarative', format: { kind: 'text' } },
    rfcDefault: undefined,
  }),
  key({
    name: 'InitiatorAlias',
    section: '13.7',
    phase: 'any-stage',
    scope: 'session',
    senders: 'initiator',
    rule: { type: 'declarative', format: { kind: 'text' } },
    rfcDefault: undefined,
  }),
  key({
    name: 'TargetAddress',
    section: '13.8',
    phase: 'any-stage',
    scope: 'session',
    senders: 'target',
    rule: { type: 'declarative', format: { kind: 'text' } },
    rfcDefault: undefined,
  }),
  key({
    name: 'TargetPortalGroupTag',
    section: '13.9',
    phase: 'any-stage',
    scope: 'session',
    senders: 'target',
    rule: { type: 'declarative', format: { kind: 'number', range: { min: 0, max: 65535 } } },
    rfcDefault: undefined,
  }),
  key({
    name: 'InitialR2T',
    section: '13.10',
    ...LO_OPERATIONAL,
    rule: { type: 'boolean-or' },
    rfcDefault: 'Yes',
    irrelevantInDiscovery: true,
  }),
  key({
    name: 'ImmediateData',
    section: '13.11',
    ...LO_OPERATIONAL,
    rule: { type: 'boolean-and' },
    rfcDefault: 'Yes',
    irrelevantInDiscovery: true,
  }),
  key({
    name: 'MaxRecvDataSegmentLength',
    section: '13.12',
    phase: 'operational',
    scope: 'connection',
    senders: 'both',
    rule: { type: 'declarative', format: { kind: 'number', range: DATA_LENGTH_RANGE } },
    rfcDefault: '8192',
  }),
  key({
    name: 'MaxBurstLength',
    section: '13.13',
    ...LO_OPERATIONAL,
    rule: { type: 'number-min', range: DATA_LENGTH_RANGE },
    rfcDefault: '262144',
    irrelevantInDiscovery: true,
  }),
  key({
    name: 'FirstBurstLength',
    section: '13.14',
    ...LO_OPERATIONAL,
    // Also Irrelevant when InitialR2T=Yes and ImmediateData=No (negotiate.ts checks that).
    rule: { type: 'number-min', range: DATA_LENGTH_RANGE },
    rfcDefault: '65536',
    irrelevantInDiscovery: true,
  }),
  key({
    name: 'DefaultTime2Wait',
    section: '13.15',
    ...LO_OPERATIONAL,
    rule: { type: 'number-max', range: { min: 0, max: 3600 } },
    rfcDefault: '2',
  }),
  key({
    name: 'DefaultTime2Retain',
    section: '13.16',
    ...LO_OPERATIONAL,
    rule: { type: 'number-min', range: { min: 0, max: 3600 } },
    rfcDefault: '20',
  }),
  key({
    name: 'MaxOutstandingR2T',
    section: '13.17',
    ...LO_OPERATIONAL,
    rule: { type: 'number-min', range: { min: 1, max: 65535 } },
    rfcDefault: '1',
    irrelevantInDiscovery: true,
  }),
  key({
    name: 'DataPDUInOrder',
    section: '13.18',
    ...LO_OPERATIONAL,
    rule: { type: 'boolean-or' },
    rfcDefault: 'Yes',
    irrelevantInDiscovery: true,
  }),
  key({
    name: 'DataSequenceInOrder',
    section: '13.19',
    ...LO_OPERATIONAL,
    rule: { type: 'boolean-or' },
    rfcDefault: 'Yes',
    irrelevantInDiscovery: true,
  }),
  key({
    name: 'ErrorRecoveryLevel',
    section: '13.20',
    ...LO_OPERATIONAL,
    rule: { type: 'number-min', range: { min: 0, max: 2 } },
    rfcDefault: '0',
  }),
  key({
    name: 'SessionType',
    section: '13.21',
    phase: 'any-stage',
    scope: 'session',
    leadingOnly: true,
    senders: 'initiator',
    rule: { type: 'declarative', format: { kind: 'enum', values: ['Discovery', 'Normal'] } },
    rfcDefault: 'Normal',
  }),
  key({
    name: 'TaskReporting',
    section: '13.23',
    ...LO_OPERATIONAL,
    rule: { type: 'list', values: ['RFC3720', 'ResponseFence', 'FastAbort'] },
    rfcDefault: 'RFC3720',
    irrelevantInDiscovery: true,
  }),
  key({
    name: 'iSCSIProtocolLevel',
    section: '13.24',
    ...LO_OPERATIONAL,
    rule: { type: 'number-min', range: { min: 0, max: 31 } },
    rfcDefault: '0',
  }),
  ...['IFMarker', 'OFMarker'].map((name) =>
    key({
      name,
      section: '13.25',
      phase: 'operational',
      scope: 'connection',
      senders: 'both',
      rule: { type: 'obsolete', answer: 'No' },
      rfcDefault: 'No',
    }),
  ),
  ...['IFMarkInt', 'OFMarkInt'].map((name) =>
    key({
      name,
      section: '13.25',
      phase: 'operational',
      scope: 'connection',
      senders: 'both',
      rule: { type: 'obsolete', answer: 'Reject' },
      rfcDefault: undefined,
    }),
  ),
  key({
    name: 'X#NodeArchitecture',
    section: '13.26',
    ...LO_OPERATIONAL,
    rule: { type: 'declarative', format: { kind: 'text' } },
    rfcDefault: undefined,
  }),
];

const BY_NAME: ReadonlyMap<string, KeyDefinition> = new Map(KEY_DEFINITIONS.map((d) => [d.name, d]));

/** Key names are case-sensitive (§6.1). */
export function keyDefinition(name: string): KeyDefinition | undefined {
  return BY_NAME.get(name);
}

/** Private ("X-") and public ("X#") extension keys (§13.22). */
export function isExtensionKey(name: string): boolean {
  return name.startsWith('X-') || name.startsWith('X#');
}

/** The answers reserved by §6.2: never offers, never values of a key. */
export const RESERVED_ANSWERS: ReadonlySet<string> = new Set(['Reject', 'Irrelevant', 'NotUnderstood']);
