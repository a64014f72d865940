/**
 * Byte sizes on the command line, spelled the way dog spells them.
 *
 * Parsing: a number with an optional one-letter binary suffix, K/M/G/T/P (either case, powers
 * of 1024), or `b` for plain bytes: `4096`, `512M`, `10G`, `1.5G`. A fraction is allowed as long
 * as the result is a whole number of bytes (dog silently truncates; we refuse, because a size
 * that is not what the user typed is worse than an error).
 *
 * Formatting: dog's table style. Sizes are shown in MB and up (never KB or bytes); one decimal
 * below 10 of a unit, none from 10 on: `4.0 MB`, `10 GB`, `1.0 TB`. Raw mode prints the exact
 * byte count, as `dog -r` does.
 */

const SUFFIX_SHIFT: Readonly<Record<string, number>> = {
  b: 0,
  k: 10,
  m: 20,
  g: 30,
  t: 40,
  p: 50,
};

const SIZE_PATTERN = /^(\d+(?:\.\d+)?)([bkmgtp])?$/i;

/** Thrown for a size the user typed wrongly; the message names the text and the fix. */
export class SizeSyntaxError extends Error {
  override readonly name = 'SizeSyntaxError';
}

/**
 * Parses `text` (e.g. "10G") into bytes. `what` names the argument in the error ("SIZE",
 * "OFFSET"). Throws SizeSyntaxError for anything that is not a whole, safe-integer byte count.
 */
export function parseSizeBytes(text: string, what = 'size'): number {
  const match = SIZE_PATTERN.exec(text.trim());
  if (match === null) {
    throw new SizeSyntaxError(
      `${what} "${text}" is not a size; write a number with an optional K, M, G, T or P suffix (binary), e.g. 4096, 512M, 10G`,
    );
  }
  const digits = match[1] ?? '';
  const suffix = (match[2] ?? 'b').toLowerCase();
  const shift = SUFFIX_SHIFT[suffix] ?? 0;
  const bytes = Number(digits) * 2 ** shift;
  if (!Number.isSafeInteger(bytes)) {
    const reason = Number.isInteger(bytes)
      ? 'is too large'
      : `is ${bytes} bytes, not a whole number of bytes`;
    throw new SizeSyntaxError(`${what} "${text}" ${reason}; give a whole byte count up to 8 PiB (e.g. 10G)`);
  }
  return bytes;
}

const UNITS = ['MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'] as const;

/** dog's human form: "4.0 MB", "10 GB" (binary units, MB and up). `raw` gives the byte count. */
export function formatSize(bytes: number | bigint, raw = false): string {
  if (raw) return String(bytes);
  let size = Number(bytes) / (1024 * 1024);
  let unitIndex = 0;
  while (unitIndex < UNITS.length - 1 && size >= 1024) {
    unitIndex += 1;
    size /= 1024;
  }
  const unit = UNITS[unitIndex];
  return size >= 10 ? `${size.toFixed(0)} ${unit}` : `${size.toFixed(1)} ${unit}`;
}
