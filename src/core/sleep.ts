/** Waits `ms` milliseconds of the given clock's time (virtual in the simulator, real otherwise). */
import type { Clock } from './clock.js';

export function sleepMs(clock: Clock, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    clock.setTimeout(resolve, ms);
  });
}
