/**
 * The live xstate actors of the long-lived machines (lock, participants, inode views, iSCSI
 * connections, sessions, logins), by the key the inspector's projection gives their instance
 * (src/inspect/projection.ts). It exists to prove that the projection, rebuilt from the event log
 * alone, equals what really runs (test/inspect/projection-live.test.ts).
 *
 * Owners reach it through their EventLog (`eventLog.liveMachines`), which is null unless someone
 * asked for it: when unused, registering costs one property read.
 *
 * Rules:
 * - A key may be registered twice (a crashed simulated node's code still sits in the heap when
 *   its restart registers the same key): the newest registration is the one `get` and `entries`
 *   give; unregistering it shows the older one again.
 * - `state()` is the actor's state path ("fullFeature", "parent.child"), null when it holds none.
 * - `busy()`, when given, is true while the actor is inside a step whose own log lines are
 *   appended before xstate publishes its new snapshot (actions run mid-step): its state is not
 *   observable then and must not be compared.
 */
import type { MachineId } from './machine-ids.js';

export interface LiveMachine {
  readonly key: string;
  readonly machine: MachineId;
  state(): string | null;
  busy?(): boolean;
}

export class LiveMachines {
  readonly #byKey = new Map<string, LiveMachine[]>();

  /** Adds `entry`; the returned function removes it (once; later calls do nothing). */
  register(entry: LiveMachine): () => void {
    let stack = this.#byKey.get(entry.key);
    if (stack === undefined) {
      stack = [];
      this.#byKey.set(entry.key, stack);
    }
    stack.push(entry);
    return () => {
      const current = this.#byKey.get(entry.key);
      const index = current?.indexOf(entry) ?? -1;
      if (current === undefined || index < 0) return;
      current.splice(index, 1);
      if (current.length === 0) this.#byKey.delete(entry.key);
    };
  }

  /** The newest registration of `key`. */
  get(key: string): LiveMachine | undefined {
    return this.#byKey.get(key)?.at(-1);
  }

  /** The newest registration of every key, in the order the keys were first registered. */
  *entries(): IterableIterator<LiveMachine> {
    for (const stack of this.#byKey.values()) yield stack.at(-1)!;
  }

  get size(): number {
    return this.#byKey.size;
  }
}

/**
 * An xstate state value as a path: "idle" stays "idle", {parent: "child"} becomes
 * "parent.child"; parallel regions are joined with ",". Null and undefined give null.
 */
export function stateValuePath(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value !== 'object') return String(value);
  const parts = Object.entries(value as Record<string, unknown>).map(([region, inner]) => {
    const rest = stateValuePath(inner);
    return rest === null || rest === '' ? region : `${region}.${rest}`;
  });
  return parts.join(',');
}
