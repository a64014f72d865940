/**
 * Goal: assert() throws AssertionError with the given message and narrows types; unreachable()
 * names the impossible value. Method: call both with passing and failing inputs.
 */
import { describe, expect, test } from 'vitest';
import { AssertionError, assert, unreachable } from '../../src/core/assert.js';

describe('assert', () => {
  test('passes quietly, fails with AssertionError and the message', () => {
    const value: string | undefined = 'x';
    assert(value !== undefined, 'value must be set');
    expect(value.length).toBe(1);
    expect(() => assert(false, 'queue bound exceeded')).toThrow(new AssertionError('queue bound exceeded'));
    expect(() => assert(0, 'zero')).toThrow(AssertionError);
  });

  test('unreachable names the value', () => {
    const kind = 'weird' as never;
    expect(() => unreachable(kind)).toThrow(/unreachable code reached: "weird"/);
  });
});
