/**
 * The timeline's state, without DOM or timers: which event is chosen (seq), the range held
 * (first..last: a live ring drops old events), whether it plays, and whether it follows the head
 * (live mode until the user pauses or moves it). The page renders from it; it only does arithmetic.
 */
import type { ViolationMark } from '../inspector-api.js';

export class Timeline {
  first: number;
  last: number;
  seq: number;
  playing = false;
  /** Live only: the chosen event is always the newest one. */
  following: boolean;

  constructor(
    first: number,
    last: number,
    readonly live: boolean,
  ) {
    this.first = first;
    this.last = Math.max(first, last);
    this.following = live;
    this.seq = live ? this.last : this.first;
  }

  /** New bounds (more events, or a ring that dropped old ones); a follower moves to the head. */
  setBounds(first: number, last: number): void {
    this.first = first;
    this.last = Math.max(first, last);
    this.seq = this.following ? this.last : this.clamp(this.seq);
  }

  /** The user chose seq: the timeline stops following (End / head() resumes it). */
  jump(seq: number): number {
    this.following = false;
    this.seq = this.clamp(seq);
    return this.seq;
  }

  step(delta: number): number {
    return this.jump(this.seq + delta);
  }

  /** The newest event; in live mode the timeline follows the head again. */
  head(): number {
    this.following = this.live;
    this.seq = this.last;
    return this.seq;
  }

  /** One step of playback: false when there is nothing after seq (yet). */
  advance(): boolean {
    if (this.seq >= this.last) return false;
    this.seq += 1;
    return true;
  }

  get atHead(): boolean {
    return this.seq >= this.last;
  }

  clamp(seq: number): number {
    if (!Number.isFinite(seq)) return this.seq;
    return Math.min(this.last, Math.max(this.first, Math.round(seq)));
  }
}

/** The first violation after seq, or the first of all when none is after it (wraps round). */
export function nextViolation(violations: readonly ViolationMark[], seq: number): ViolationMark | undefined {
  const sorted = [...violations].sort((a, b) => a.seq - b.seq);
  return sorted.find((mark) => mark.seq > seq) ?? sorted[0];
}

/** The last violation before seq, or the last of all when none is before it. */
export function previousViolation(
  violations: readonly ViolationMark[],
  seq: number,
): ViolationMark | undefined {
  const sorted = [...violations].sort((a, b) => a.seq - b.seq);
  return sorted.findLast((mark) => mark.seq < seq) ?? sorted.at(-1);
}
