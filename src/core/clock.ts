/**
 * Time, injected. Nothing in the simulated core reads the wall clock or starts a real timer:
 * it asks a Clock. The real clock (real-clock.ts) wraps Date.now and the global timers; the
 * virtual clock (virtual-clock.ts) runs a (time, sequence) ordered queue that the simulator
 * steps, so a run replays exactly from its seed.
 *
 * The shape is deliberately the one xstate accepts as `createActor(m, { clock })`, so machine
 * delays share the same clock as everything else.
 */
export type TimerId = number;

export interface Clock {
  /** Milliseconds. Real clock: since the Unix epoch. Virtual clock: since the world started. */
  now(): number;
  /** Runs `fn` once after `delayMs` (>= 0) milliseconds of this clock's time. */
  setTimeout(fn: () => void, delayMs: number): TimerId;
  /** Cancels a timer; unknown or already-fired ids are ignored. */
  clearTimeout(id: TimerId): void;
}
