/**
 * Login Response status (RFC 7143 §11.13.5) as the login modules use it: a class, a detail and a
 * reason worth logging. The reason names what went wrong and what the peer or the admin can do;
 * it never carries a secret, a CHAP challenge or a CHAP response.
 */

/** Status-Class and Status-Detail pairs this target sends (§11.13.5). */
export const LoginStatusCode = {
  SUCCESS: { statusClass: 0x00, statusDetail: 0x00 },
  /** 0x0200: a protocol error the other details do not name (bad stage, renegotiated key). */
  INITIATOR_ERROR: { statusClass: 0x02, statusDetail: 0x00 },
  /** 0x0201: the initiator could not be authenticated (or CHAP was required and skipped). */
  AUTHENTICATION_FAILURE: { statusClass: 0x02, statusDetail: 0x01 },
  /** 0x0202: authenticated, but not allowed to reach this target (ACL). */
  AUTHORIZATION_FAILURE: { statusClass: 0x02, statusDetail: 0x02 },
  /** 0x0203: no such TargetName here. */
  NOT_FOUND: { statusClass: 0x02, statusDetail: 0x03 },
  /** 0x0205: no version in Version-min..Version-max is one this target speaks (only 0x00). */
  UNSUPPORTED_VERSION: { statusClass: 0x02, statusDetail: 0x05 },
  /** 0x0207: a required key (InitiatorName, TargetName, CHAP_N...) is missing. */
  MISSING_PARAMETER: { statusClass: 0x02, statusDetail: 0x07 },
  /** 0x0209: SessionType is neither Normal nor Discovery. */
  SESSION_TYPE_NOT_SUPPORTED: { statusClass: 0x02, statusDetail: 0x09 },
  /** 0x0300: the target itself is at fault (for example a CHAP secret configured too short). */
  TARGET_ERROR: { statusClass: 0x03, statusDetail: 0x00 },
} as const;

export type LoginStatusName = keyof typeof LoginStatusCode;

/** Why a login (or one negotiation step) failed: the status to answer and a line for the log. */
export interface LoginFailure {
  readonly statusClass: number;
  readonly statusDetail: number;
  /** Names the problem and the fix; safe to log (no secrets, challenges or responses). */
  readonly reason: string;
}

export function loginFailure(status: LoginStatusName, reason: string): LoginFailure {
  const code = LoginStatusCode[status];
  return { statusClass: code.statusClass, statusDetail: code.statusDetail, reason };
}

/** "0x0201" style text for logs and test names. */
export function statusText(failure: { statusClass: number; statusDetail: number }): string {
  const value = ((failure.statusClass & 0xff) << 8) | (failure.statusDetail & 0xff);
  return `0x${value.toString(16).padStart(4, '0')}`;
}
