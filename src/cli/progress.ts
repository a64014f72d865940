/**
 * Progress of long CLI work (`collie vdi read/write`, `collie sim swarm`) for a person at a
 * terminal: one line on stderr, redrawn in place (\r) at most every PROGRESS_INTERVAL_MS of the
 * real clock, with done/total, the rate and the time left:
 *
 *   vdi read: 1.2 GB / 10 GB (12%), 85 MB/s, 1m46s left
 *   swarm: 120/1000 seeds (12%), 8.1 seeds/s, 1m49s left, 2 failed
 *
 * It prints nothing when stderr is not a terminal (a pipe, a file, CI) or with --no-progress,
 * and nothing for work that ends within the first interval. finish() redraws the last state and
 * ends the line, so what follows (a summary, an error) starts on a line of its own.
 */
import { Option } from 'commander';
import type { Clock } from '../core/clock.js';
import { realClock } from '../core/real-clock.js';
import { formatSize } from './sizes.js';

/** Most redraws: 10 a second. */
export const PROGRESS_INTERVAL_MS = 100;

/** Where the line goes: stderr, or a fake terminal in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface ProgressOptions {
  /** What is running, the line's start: "vdi read", "swarm". */
  readonly label: string;
  /** bytes (shown as sizes) or a count of these things ("seeds"). */
  readonly unit: 'bytes' | string;
  /** Unknown (a pipe into vdi write): no percentage, no time left. */
  readonly total?: number;
  /** false (--no-progress) prints nothing even on a terminal. Default true. */
  readonly enabled?: boolean;
  readonly stream?: ProgressStream;
  /** Only now() is read: the CLI is a real-world adapter and passes the real clock. */
  readonly clock?: Pick<Clock, 'now'>;
}

/** `--no-progress`: add it with `.addOption(noProgressOption())`; the flag is `progress: boolean`. */
export function noProgressOption(): Option {
  return new Option('--no-progress', 'no progress line on stderr (it is shown only on a terminal)');
}

export class Progress {
  readonly #label: string;
  readonly #unit: string;
  readonly #stream: ProgressStream;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #active: boolean;
  readonly #startMs: number;
  #total: number | undefined;
  #done = 0;
  #note = '';
  #lastDrawMs: number;
  #drawn = false;
  #finished = false;

  constructor(options: ProgressOptions) {
    this.#label = options.label;
    this.#unit = options.unit;
    this.#total = options.total;
    this.#stream = options.stream ?? process.stderr;
    this.#clock = options.clock ?? realClock;
    this.#active = options.enabled !== false && this.#stream.isTTY === true;
    this.#startMs = this.#clock.now();
    // The first line waits one interval: quick work prints nothing.
    this.#lastDrawMs = this.#startMs;
  }

  /** Whether anything will be printed (a terminal, and not --no-progress). */
  get active(): boolean {
    return this.#active;
  }

  /** The total, once it is known. */
  setTotal(total: number): void {
    this.#total = total;
  }

  /** `amount` more done. */
  add(amount: number): void {
    this.update(this.#done + amount);
  }

  /** `done` so far; `note` ends the line ("2 failed"). */
  update(done: number, note = this.#note): void {
    this.#done = done;
    this.#note = note;
    if (!this.#active || this.#finished) return;
    const now = this.#clock.now();
    if (now - this.#lastDrawMs < PROGRESS_INTERVAL_MS) return;
    this.#draw(now);
  }

  /** Ends the line (after a last redraw) if one was drawn; later updates print nothing. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (!this.#drawn) return;
    this.#draw(this.#clock.now());
    this.#stream.write('\n');
  }

  /** The line as it would be drawn now (without \r). */
  line(now = this.#clock.now()): string {
    const total = this.#total;
    const elapsedSeconds = Math.max(0, now - this.#startMs) / 1000;
    // A source read ahead of what was written (vdi write) can pass the total: never show more.
    const done = total === undefined ? this.#done : Math.min(this.#done, total);
    const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
    const parts: string[] = [];
    if (total === undefined) {
      parts.push(this.#amount(done));
    } else {
      const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
      parts.push(
        this.#unit === 'bytes'
          ? `${this.#amount(done)} / ${this.#amount(total)} (${percent}%)`
          : `${done}/${total} ${this.#unit} (${percent}%)`,
      );
    }
    parts.push(this.#unit === 'bytes' ? `${formatSize(rate)}/s` : `${formatRate(rate)} ${this.#unit}/s`);
    if (total !== undefined && done < total && rate > 0) {
      parts.push(`${formatDuration((total - done) / rate)} left`);
    }
    if (this.#note !== '') parts.push(this.#note);
    return `${this.#label}: ${parts.join(', ')}`;
  }

  #amount(value: number): string {
    return this.#unit === 'bytes' ? formatSize(value) : `${value} ${this.#unit}`;
  }

  #draw(now: number): void {
    this.#lastDrawMs = now;
    this.#drawn = true;
    // \x1b[K clears what a longer earlier line left on the right.
    this.#stream.write(`\r${this.line(now)}\x1b[K`);
  }
}

function formatRate(rate: number): string {
  return rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}

/** 45s, 3m07s, 2h05m. */
export function formatDuration(seconds: number): string {
  const whole = Math.ceil(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
