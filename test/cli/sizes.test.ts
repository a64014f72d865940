/**
 * Goal: command-line sizes parse and print the way dog's do, and bad input gets an error that
 * names the text and the fix instead of a silently different size.
 * Method: table cases for parse and format, plus a property that every whole number of units
 * parses back to exactly value << shift.
 */
import { fc, test as fcTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { formatSize, parseSizeBytes, SizeSyntaxError } from '../../src/cli/sizes.js';

describe('parseSizeBytes', () => {
  test.each([
    ['4096', 4096],
    ['0', 0],
    ['512b', 512],
    ['1K', 1024],
    ['1k', 1024],
    ['512M', 512 * 2 ** 20],
    ['10G', 10 * 2 ** 30],
    ['10g', 10 * 2 ** 30],
    ['4T', 4 * 2 ** 40],
    ['1P', 2 ** 50],
    ['1.5G', 1.5 * 2 ** 30],
    ['0.5K', 512],
    [' 8M ', 8 * 2 ** 20],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSizeBytes(text)).toBe(bytes);
  });

  test.each(['', 'G', '10GB', '10 G', '-1', '1e3', 'ten', '10X', '0.3K', '1.5', '99999999P'])(
    'rejects "%s" with a SizeSyntaxError that shows an example',
    (text) => {
      expect(() => parseSizeBytes(text, 'SIZE')).toThrow(SizeSyntaxError);
      expect(() => parseSizeBytes(text, 'SIZE')).toThrow(/SIZE/);
    },
  );

  test('a fraction that is not a whole byte count says so', () => {
    expect(() => parseSizeBytes('0.3K')).toThrow(/whole number of bytes/);
  });

  fcTest.prop([
    fc.integer({ min: 0, max: 4095 }),
    fc.constantFrom(['', 0], ['K', 10], ['M', 20], ['G', 30], ['T', 40]),
  ])('n<suffix> is n * 2^shift', (count, [suffix, shift]) => {
    expect(parseSizeBytes(`${count}${suffix}`)).toBe(count * 2 ** (shift as number));
  });
});

describe('formatSize', () => {
  test.each([
    [0, '0.0 MB'],
    [4096, '0.0 MB'],
    [4 * 2 ** 20, '4.0 MB'],
    [10 * 2 ** 20, '10 MB'],
    [1536 * 2 ** 20, '1.5 GB'],
    [10 * 2 ** 30, '10 GB'],
    [4 * 2 ** 40, '4.0 TB'],
    [2 ** 60, '1.0 EB'],
  ])('%d bytes prints as %s', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  test('accepts bigint and prints raw byte counts in raw mode', () => {
    expect(formatSize(10n * 2n ** 30n)).toBe('10 GB');
    expect(formatSize(10n * 2n ** 30n, true)).toBe('10737418240');
    expect(formatSize(4096, true)).toBe('4096');
  });
});
