/**
 * The simulated iSCSI initiator: what the simulator and the target's tests build on. One
 * IscsiInitiator is one session of one connection (one multipath path); sendTargets discovers.
 */

export type { InitiatorErrorCode, LoginErrorCode } from './initiator-errors.js';
export { IscsiInitiatorError, IscsiLoginError } from './initiator-errors.js';
export {
  type CommandRequest,
  type CommandResult,
  type InitiatorClosed,
  type InitiatorHooks,
  type InitiatorOptions,
  IscsiInitiator,
  type LoginOptions,
} from './iscsi-initiator.js';
export type { ChapCredentials, LoginOutcome } from './login-exchange.js';
export {
  INITIATOR_OFFER_DEFAULTS,
  type InitiatorParameters,
  type OperationalOffer,
} from './operational-offer.js';
export * from './scsi-cluster-commands.js';
export * from './scsi-commands.js';
export { type DiscoveredPortal, type DiscoveredTarget, sendTargets } from './send-targets.js';
export type { Residual } from './session-core.js';
