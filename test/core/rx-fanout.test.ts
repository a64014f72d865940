/**
 * Goal: Fanout (core/rx-fanout.ts) behaves as a Subject's asObservable() does: hot, synchronous,
 * subscription order; unsubscribing (even during a push) stops delivery; complete() completes
 * everyone and later subscribers at once; rxjs operators compose on it.
 * Method: push values and record what each subscriber saw.
 */
import { filter, map } from 'rxjs';
import { describe, expect, test } from 'vitest';
import { Fanout } from '../../src/core/rx-fanout.js';

describe('Fanout', () => {
  test('hot and synchronous, in subscription order; operators compose', () => {
    const fanout = new Fanout<number>();
    const seen: string[] = [];
    fanout.push(0);
    fanout.stream$.subscribe((n) => seen.push(`a${n}`));
    fanout.stream$
      .pipe(
        filter((n) => n % 2 === 1),
        map((n) => n * 10),
      )
      .subscribe((n) => seen.push(`b${n}`));
    fanout.push(1);
    expect(seen).toEqual(['a1', 'b10']);
    fanout.push(2);
    expect(seen).toEqual(['a1', 'b10', 'a2']);
  });

  test('a subscriber that leaves during a push misses the rest; one that joins gets the next value', () => {
    const fanout = new Fanout<number>();
    const seen: string[] = [];
    const second = fanout.stream$.subscribe((n) => seen.push(`second${n}`));
    const first = fanout.stream$.subscribe((n) => {
      seen.push(`first${n}`);
      if (n === 1) {
        second.unsubscribe();
        fanout.stream$.subscribe((m) => seen.push(`late${m}`));
      }
    });
    // `second` subscribed first, so it has the value before `first` drops it.
    fanout.push(1);
    fanout.push(2);
    expect(seen).toEqual(['second1', 'first1', 'first2', 'late2']);
    first.unsubscribe();
    fanout.push(3);
    expect(seen).toEqual(['second1', 'first1', 'first2', 'late2', 'late3']);
  });

  test('complete() completes every subscriber, later ones at once; pushes after it go nowhere', () => {
    const fanout = new Fanout<number>();
    const seen: string[] = [];
    fanout.stream$.subscribe({ next: (n) => seen.push(`${n}`), complete: () => seen.push('done') });
    fanout.push(1);
    fanout.complete();
    fanout.push(2);
    fanout.stream$.subscribe({ next: (n) => seen.push(`late${n}`), complete: () => seen.push('late done') });
    expect(seen).toEqual(['1', 'done', 'late done']);
  });
});
