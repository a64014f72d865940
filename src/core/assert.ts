/**
 * Assertions for Collie's own bugs (TigerBeetle style): a broken invariant becomes a loud crash
 * that the simulator can find and replay, instead of silent corruption. Errors caused by the
 * outside world (a peer, a disk, a user) are handled and answered, never asserted.
 */

/** Thrown only when Collie itself is wrong. Never catch it to carry on. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Throws AssertionError(message) unless `condition` holds; narrows the type when it does. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks a branch the type checker proves impossible (exhaustive switch); throws if reached anyway. */
export function unreachable(value: never, message = 'unreachable code reached'): never {
  throw new AssertionError(`${message}: ${describe(value)}`);
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
