/**
 * How the page writes an event's time `t`: the simulator's virtual clock starts at 0 and reads best
 * as milliseconds; a live process's real clock is milliseconds since 1970 and reads best as the
 * local time of day. Formatting a given time reads no clock.
 */

/** Anything from here on is a wall-clock time (1973), not a run's virtual milliseconds. */
const WALL_CLOCK_FROM_MS = 1e11;

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

export function formatTime(t: number): string {
  if (!Number.isFinite(t) || t < WALL_CLOCK_FROM_MS) return `${t} ms`;
  const date = new Date(t); // determinism-ok: browser page (formats a logged time, reads no clock)
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}
