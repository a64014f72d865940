/**
 * Whether a piece of work was given up (its SCSI task aborted). The code doing it polls `aborted`
 * before each step it could still skip; a test gate that holds work may also ask to hear of the
 * abort (`onAbort`). A task uses TaskAbort rather than an AbortController: one controller per
 * command cost ~5 % of a 4k IO's CPU (its allocation and collection) for an abort that almost
 * never comes.
 */
export interface AbortFlag {
  readonly aborted: boolean;
  /** Calls `listener` once when the work is aborted (at once if it already is). */
  onAbort?(listener: () => void): void;
}

/** The AbortFlag of one SCSI task: set once by abort(). */
export class TaskAbort implements AbortFlag {
  #aborted = false;
  #listeners: Array<() => void> | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  onAbort(listener: () => void): void {
    if (this.#aborted) {
      listener();
      return;
    }
    this.#listeners ??= [];
    this.#listeners.push(listener);
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    for (const listener of listeners ?? []) listener();
  }
}
