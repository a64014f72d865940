/**
 * Sheep's answers as the io-request machine's abstract outcomes (machines/io-request.ts), shared
 * by the IO runner and the allocation claims: SUCCESS -> ok; INODE_INVALIDATED (0x1D) ->
 * invalidated; READONLY (0x1A) -> readonly; anything else -> error. When one round has several
 * answers, error beats invalidated beats readonly beats ok (rankOutcome).
 */
import type { IoOutcome } from '../../../machines/io-request.js';
import { SdRes } from '../wire/constants.js';

export function outcomeForResult(code: number): IoOutcome {
  switch (code) {
    case SdRes.SUCCESS:
      return 'ok';
    case SdRes.INODE_INVALIDATED:
      return 'invalidated';
    case SdRes.READONLY:
      return 'readonly';
    default:
      return 'error';
  }
}

export function rankOutcome(outcome: IoOutcome): number {
  switch (outcome) {
    case 'ok':
      return 0;
    case 'readonly':
      return 1;
    case 'invalidated':
      return 2;
    case 'error':
      return 3;
  }
}
