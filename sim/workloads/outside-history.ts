/**
 * How writes by clients that are not multipath devices reach the History the checkers read: a
 * lock-less writer (`collie vdi write`) writing stamped blocks, and a DISCARD, which is a write
 * of zeros over a whole object as far as the checkers care. The History records both
 * (History.recordWrite, History.recordZeroing); this file says which failures of an outside
 * client are failures of its write (it may or may not have landed) and which are bugs.
 */
import type { History } from '../workload.js';

export interface OutsideClientHistory {
  /**
   * A write of consecutive `blocks` by `client` (not a device), each block a stamped write of
   * its own: `run` gets the stamped bytes of all of them, in block order. Acknowledged when
   * `run` resolves; open (indeterminate) when it fails. Resolves true when acknowledged.
   */
  recordWrite(
    client: string,
    blocks: readonly number[],
    run: (data: Buffer) => Promise<void>,
  ): Promise<boolean>;
  /** A write of zeros over `blocks` (any order) by `client`, recorded as recordWrite records. */
  recordZeroing(client: string, blocks: readonly number[], run: () => Promise<void>): Promise<boolean>;
}

export function outsideClientHistory(history: History): OutsideClientHistory {
  return {
    recordWrite: (client, blocks, run) => history.recordWrite(client, blocks, run, describeFailure),
    recordZeroing: (client, blocks, run) => history.recordZeroing(client, blocks, run, describeFailure),
  };
}

/** Errors an outside client meets as dog does: a connection or node that failed, a result, a refusal. */
const OUTSIDE_CLIENT_FAILURES = [
  'SheepConnectionError',
  'SheepResultError',
  'SheepAdminError',
  'BackendError',
];

/**
 * "Name: message" of a failure an outside client can meet. Anything else (an AssertionError, a
 * TypeError) is a bug in the simulator or the code under test: rethrown, never read as a write
 * of unknown outcome.
 */
export function describeFailure(error: unknown): string {
  if (!(error instanceof Error) || !OUTSIDE_CLIENT_FAILURES.includes(error.name)) throw error;
  return `${error.name}: ${error.message}`;
}
