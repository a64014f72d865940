/**
 * The event log one start (incarnation) of a simulated node writes to: the world's log, seen
 * through a view that knows whether this incarnation crashed.
 *
 * A crashed node's code may keep running in the heap (sim/world.ts), and everything shares one
 * log: a restarted node's actors have the same names as its previous incarnation's (its sheep
 * client's `sheepdog/<vdi>@<endpoint>/inode`, its io numbers), so the late chatter of the crashed
 * code would read as the new code's. So, once crash() was called, every event appended through
 * this view carries `zombie: "<node>#<incarnation>"` in its data (a plain-object data only), and
 * the inspector's projection (src/inspect/projection.ts) no longer moves the node's machines by it
 * once the node started again (`sim.node` names the new incarnation).
 *
 * Live machines (src/core/live-machines.ts): registrations made through this view go to the
 * world's registry; retire() drops those still held, when the node starts again (the crashed
 * code's actors are then no longer the node's).
 *
 * Only append and liveMachines are views of the world's log; the rest of this EventLog (sinks,
 * events$, lastSeq) is its own and unused: nothing a node runs reads the log back.
 */
import type { LogEvent } from '../src/core/event.js';
import { EventLog } from '../src/core/event-log.js';
import { type LiveMachine, LiveMachines } from '../src/core/live-machines.js';
import type { VirtualClock } from '../src/core/virtual-clock.js';

export class IncarnationLog extends EventLog {
  readonly #world: EventLog;
  readonly #machines: IncarnationMachines | null;
  #zombie: string | undefined;

  constructor(world: EventLog, clock: VirtualClock) {
    super(clock);
    this.#world = world;
    const registry = world.liveMachines;
    this.#machines = registry === null ? null : new IncarnationMachines(registry);
  }

  override append<D>(actor: string, type: string, data: D): LogEvent<D> {
    if (this.#zombie === undefined || !isPlainObject(data)) return this.#world.append(actor, type, data);
    return this.#world.append(actor, type, { ...data, zombie: this.#zombie }) as unknown as LogEvent<D>;
  }

  override get liveMachines(): LiveMachines | null {
    return this.#machines;
  }

  override trackLiveMachines(): LiveMachines {
    if (this.#machines === null) throw new Error('the world tracks no live machines');
    return this.#machines;
  }

  /** This incarnation (`<node>#<incarnation>`) crashed: what its code appends from now on is marked. */
  crash(name: string): void {
    this.#zombie ??= name;
  }

  /** The node starts again: the live machines this incarnation registered are no longer its own. */
  retire(): void {
    this.#machines?.retire();
  }
}

/** Forwards registrations to the world's registry and remembers them until retire(). */
class IncarnationMachines extends LiveMachines {
  readonly #world: LiveMachines;
  readonly #held = new Set<() => void>();

  constructor(world: LiveMachines) {
    super();
    this.#world = world;
  }

  override register(entry: LiveMachine): () => void {
    const unregister = this.#world.register(entry);
    this.#held.add(unregister);
    return () => {
      this.#held.delete(unregister);
      unregister();
    };
  }

  override get(key: string): LiveMachine | undefined {
    return this.#world.get(key);
  }

  override entries(): IterableIterator<LiveMachine> {
    return this.#world.entries();
  }

  override get size(): number {
    return this.#world.size;
  }

  retire(): void {
    for (const unregister of this.#held) unregister();
    this.#held.clear();
  }
}

function isPlainObject(data: unknown): data is Record<string, unknown> {
  return typeof data === 'object' && data !== null && !Array.isArray(data);
}
