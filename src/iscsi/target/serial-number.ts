/**
 * 32-bit serial number arithmetic (RFC 1982), as RFC 7143 §4.2.2.1 requires for CmdSN, StatSN
 * and DataSN comparisons: a window can wrap past 2^32 - 1.
 */
const HALF = 0x8000_0000;

export function serialAdd(value: number, delta: number): number {
  return (value + delta) >>> 0;
}

/** a < b in serial arithmetic. */
export function serialLess(a: number, b: number): boolean {
  return a !== b && ((a < b && b - a < HALF) || (a > b && a - b > HALF));
}

/** a <= b in serial arithmetic. */
export function serialLessOrEqual(a: number, b: number): boolean {
  return a === b || serialLess(a, b);
}

/** low <= value <= high in serial arithmetic. */
export function serialInWindow(value: number, low: number, high: number): boolean {
  return serialLessOrEqual(low, value) && serialLessOrEqual(value, high);
}
