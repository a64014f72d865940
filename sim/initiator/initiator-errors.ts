/**
 * Why a request of the simulated initiator did not complete. Codes are stable strings; tests and
 * the simulator's checkers match on `code`, never on message text.
 */

export type InitiatorErrorCode =
  /** The connection closed (or was never usable) before the answer came. */
  | 'ISCSI_INIT_CLOSED'
  /** No answer within the request's timeout (the injected clock's time). */
  | 'ISCSI_INIT_TIMEOUT'
  /** Task management ended the task (ABORT TASK, LUN or target reset) before it had status. */
  | 'ISCSI_INIT_ABORTED'
  /** The target answered the request's PDU with a Reject (`rejectReason` says why). */
  | 'ISCSI_INIT_REJECTED'
  /** The SCSI Response carried a Response other than "command completed at target". */
  | 'ISCSI_INIT_TARGET_FAILURE'
  /** The target broke an RFC 7143 rule while answering this request (see `violations`). */
  | 'ISCSI_INIT_PROTOCOL'
  /** The initiator is logging out or closed: no new request is accepted. */
  | 'ISCSI_INIT_NOT_ACCEPTING';

export class IscsiInitiatorError extends Error {
  override readonly name = 'IscsiInitiatorError';
  readonly code: InitiatorErrorCode;
  /** The Reject reason (RFC 7143 §11.17.1) for ISCSI_INIT_REJECTED. */
  readonly rejectReason: number | undefined;

  constructor(code: InitiatorErrorCode, message: string, options: { rejectReason?: number } = {}) {
    super(message);
    this.code = code;
    this.rejectReason = options.rejectReason;
  }
}

export type LoginErrorCode =
  /** The target refused the login: `status` holds Status-Class << 8 | Status-Detail (§11.13.5). */
  | 'ISCSI_LOGIN_REFUSED'
  /** Mutual CHAP: the target did not prove it knows the secret (or did not answer the challenge). */
  | 'ISCSI_LOGIN_TARGET_NOT_AUTHENTICATED'
  /** The target answered outside the rules (a bad transition, a value the offer does not allow). */
  | 'ISCSI_LOGIN_PROTOCOL'
  /** The connection closed, failed to open, or the login took longer than its timeout. */
  | 'ISCSI_LOGIN_CONNECTION';

export class IscsiLoginError extends Error {
  override readonly name = 'IscsiLoginError';
  readonly code: LoginErrorCode;
  /** Status-Class << 8 | Status-Detail, e.g. 0x0203 for "not found"; 0 unless the target refused. */
  readonly status: number;

  constructor(code: LoginErrorCode, message: string, status = 0) {
    super(message);
    this.code = code;
    this.status = status;
  }
}
