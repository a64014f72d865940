/**
 * The seam between a connection and its login: one Login Request in, the Login Response's
 * negotiated content out. The connection owns numbering (StatSN, ExpCmdSN, MaxCmdSN) and TSIH;
 * the driver owns stages, keys, authentication and access decisions.
 */

import type { Observable } from 'rxjs';
import type { LoginEvent } from '../../../machines/login.js';
import type { NegotiatedParameters } from '../login/negotiate.js';
import type { LoginRequestPdu } from '../pdu/messages.js';
import type { TargetNode } from './target-node.js';

export interface LoginResult {
  readonly sessionType: 'Normal' | 'Discovery';
  readonly initiatorName: string;
  /** The target a normal session logs in to. */
  readonly target?: TargetNode;
  readonly parameters: NegotiatedParameters;
}

export interface LoginAnswer {
  readonly statusClass: number;
  readonly statusDetail: number;
  readonly transit: boolean;
  readonly continue: boolean;
  readonly csg: number;
  readonly nsg: number;
  /** Text keys of the response. */
  readonly data: Buffer;
  /** 'continue' = more login PDUs; 'failed' = close after this answer; 'done' = full feature phase. */
  readonly outcome: 'continue' | 'failed' | 'done';
  /** With outcome 'done'. */
  readonly result?: LoginResult;
}

export interface LoginDriver {
  handle(pdu: LoginRequestPdu): LoginAnswer;
  /** The login machine's inputs, when a machine drives the login (machine-login-driver.ts). */
  readonly inputs$?: Observable<LoginEvent>;
  /** The connection closed: the login is over, finished or not (it drops what it registered). */
  dispose?(): void;
}
